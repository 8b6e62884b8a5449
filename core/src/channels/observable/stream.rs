//! [`Notifications`]: an observable as a `Stream`.
//!
//! Implementation notes: the stream subscribes an observer that pushes a
//! clone of each value into a bounded buffer. While the buffer has room the
//! push completes in the observer call; when it is full the observer call
//! becomes a future that waits (FIFO, in the `pushers` queue) for the
//! consumer to make room, so the notification waits for the stream:
//! backpressure, never loss.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use futures_core::Stream;

use super::{Observable, ObserverHandle, Step};
use crate::error::{BoxError, InvalidArgument};
use crate::loom::{Arc, Mutex};
use crate::waitlist::{Queue, Slots, set_waker};

struct Buffer<T> {
    values: VecDeque<T>,
    capacity: usize,
    consumer: Option<Waker>,
    pushers: Slots<Option<Waker>>,
    waiting: Queue,
    /// The observer is gone (the observable was dropped): no more values.
    source_closed: bool,
    /// The stream was dropped: pushes complete without storing.
    consumer_gone: bool,
}

impl<T> Buffer<T> {
    fn has_room(&self) -> bool {
        self.values.len() < self.capacity
    }
}

type Shared<T> = Arc<Mutex<Buffer<T>>>;

/// A [`Stream`] of every notification of an [`Observable`] from the moment
/// it was created, returned by [`Observable::stream`].
///
/// It buffers up to `capacity` values. When the buffer is full, the
/// notification that brings the next value waits (inside its `notify`)
/// until the stream is polled and makes room: the stream never drops a
/// value, and a stream nobody reads holds the observable's notifications
/// back once `capacity` values are waiting. Values come out in notification
/// order.
///
/// The stream ends once the observable is gone (every handle to it and
/// every future of it dropped) and the buffer is empty. Dropping the
/// stream unsubscribes it, and lets any notification waiting on it go on.
///
/// # Examples
///
/// ```
/// use asyncutils_core::channels::Observable;
/// use futures_lite::StreamExt;
///
/// # futures_lite::future::block_on(async {
/// let numbers = Observable::new();
/// let mut stream = numbers.stream(8)?;
/// for n in 1..=3 {
///     numbers.notify(n).await.unwrap();
/// }
/// drop(numbers);
/// assert_eq!(stream.collect::<Vec<u32>>().await, [1, 2, 3]);
/// # Ok::<(), asyncutils_core::error::InvalidArgument>(())
/// # }).unwrap();
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct Notifications<T> {
    buffer: Shared<T>,
    _handle: ObserverHandle<T>,
}

/// Owned by the observer: ends the stream when the observer is dropped.
struct Closer<T> {
    buffer: Shared<T>,
}

impl<T> Drop for Closer<T> {
    fn drop(&mut self) {
        let waker = {
            let mut buffer = self.buffer.lock();
            buffer.source_closed = true;
            buffer.consumer.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T: Clone + Send + 'static> Notifications<T> {
    pub(super) fn new(
        observable: &Observable<T>,
        capacity: usize,
    ) -> Result<Self, InvalidArgument> {
        if capacity == 0 {
            return Err(InvalidArgument::new("capacity", "at least 1"));
        }
        let buffer = Arc::new(Mutex::new(Buffer {
            values: VecDeque::with_capacity(capacity),
            capacity,
            consumer: None,
            pushers: Slots::new(),
            waiting: Queue::new(),
            source_closed: false,
            consumer_gone: false,
        }));
        let closer = Closer {
            buffer: buffer.clone(),
        };
        let handle =
            observable.subscribe_callback(Box::new(move |value: &T, _: &mut Context<'_>| {
                let value = value.clone();
                let mut buffer = closer.buffer.lock();
                if buffer.consumer_gone {
                    drop(buffer);
                    return Step::Done(Ok(()));
                }
                if buffer.waiting.is_empty() && buffer.has_room() {
                    buffer.values.push_back(value);
                    let waker = buffer.consumer.take();
                    drop(buffer);
                    if let Some(w) = waker {
                        w.wake();
                    }
                    return Step::Done(Ok(()));
                }
                drop(buffer);
                Step::Pending(Box::pin(Push {
                    buffer: closer.buffer.clone(),
                    value: Some(value),
                    key: None,
                }))
            }));
        Ok(Notifications {
            buffer,
            _handle: handle,
        })
    }
}

impl<T> Notifications<T> {
    /// Values buffered and not yet taken.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.buffer.lock().values.len()
    }
}

impl<T> Stream for Notifications<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut guard = self.buffer.lock();
        let buffer = &mut *guard;
        if let Some(value) = buffer.values.pop_front() {
            let waker = buffer.pushers.take_first_waker(&buffer.waiting);
            drop(guard);
            if let Some(w) = waker {
                w.wake();
            }
            return Poll::Ready(Some(value));
        }
        if buffer.source_closed {
            return Poll::Ready(None);
        }
        set_waker(&mut buffer.consumer, cx.waker());
        Poll::Pending
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.buffered(), None)
    }
}

impl<T> Drop for Notifications<T> {
    fn drop(&mut self) {
        let (values, wakers) = {
            let mut buffer = self.buffer.lock();
            let buffer = &mut *buffer;
            buffer.consumer_gone = true;
            let mut wakers = Vec::new();
            while let Some(key) = buffer.pushers.pop_front(&mut buffer.waiting) {
                wakers.extend(buffer.pushers.get_mut(key).take());
            }
            (core::mem::take(&mut buffer.values), wakers)
        };
        drop(values);
        for w in wakers {
            w.wake();
        }
    }
}

impl<T> fmt::Debug for Notifications<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let buffer = self.buffer.lock();
        f.debug_struct("Notifications")
            .field("buffered", &buffer.values.len())
            .field("capacity", &buffer.capacity)
            .field("closed", &buffer.source_closed)
            .finish()
    }
}

/// A value waiting for room in a full buffer (an observer's future).
struct Push<T> {
    buffer: Shared<T>,
    value: Option<T>,
    key: Option<usize>,
}

impl<T> Unpin for Push<T> {}

impl<T> Future for Push<T> {
    type Output = Result<(), BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut guard = this.buffer.lock();
        let buffer = &mut *guard;
        let first = match this.key {
            Some(key) => buffer.waiting.front() == Some(key),
            None => buffer.waiting.is_empty(),
        };
        if buffer.consumer_gone || (first && buffer.has_room()) {
            let mut wakers = [None, None];
            if let Some(key) = this.key.take() {
                // Unlinked already if the stream was dropped.
                buffer.pushers.remove(&mut buffer.waiting, key);
            }
            if !buffer.consumer_gone {
                let value = this.value.take().expect("polled after completion");
                buffer.values.push_back(value);
                wakers[0] = buffer.consumer.take();
                if buffer.has_room() {
                    wakers[1] = buffer.pushers.take_first_waker(&buffer.waiting);
                }
            }
            drop(guard);
            for w in wakers.into_iter().flatten() {
                w.wake();
            }
            return Poll::Ready(Ok(()));
        }
        match this.key {
            Some(key) => set_waker(buffer.pushers.get_mut(key), cx.waker()),
            None => {
                let key = buffer.pushers.insert(Some(cx.waker().clone()));
                buffer.pushers.push_back(&mut buffer.waiting, key);
                this.key = Some(key);
            }
        }
        Poll::Pending
    }
}

impl<T> Drop for Push<T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let waker = {
                let mut buffer = self.buffer.lock();
                let buffer = &mut *buffer;
                let waker = buffer.pushers.leave(&mut buffer.waiting, key);
                if buffer.has_room() { waker } else { None }
            };
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
}
