//! Event streams: a bounded queue per event type (and one catch-all), fed
//! by publications while a stream reads it, and by
//! [`feed_event`](super::EventBus::feed_event) at any time.
//!
//! Implementation notes: a queue has a FIFO of pushers waiting for room
//! (the waitlist slab) and a set of attached readers. A push that finds the
//! queue full waits, which makes the publication that pushed wait too:
//! delivery to a stream is lossless, with backpressure. A reader woken for
//! an item that is dropped before taking it passes the wake-up on.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use pin_project_lite::pin_project;
use slab::Slab;

use super::Shared;
use crate::error::InvalidArgument;
use crate::loom::{Arc, Mutex};
use crate::time::{Clock, Instant};
use crate::waitlist::{Queue, Slots, set_waker};

/// How an event stream's queue was closed by a shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CloseMode {
    /// Readers take what is buffered, then end.
    Drain,
    /// Buffered items were dropped; readers end at once.
    Immediate,
}

pub(super) struct StreamQueue<I> {
    capacity: usize,
    state: Mutex<QueueState<I>>,
}

struct QueueState<I> {
    items: VecDeque<I>,
    /// Attached streams and their wakers (`None` once woken).
    readers: Slab<Option<Waker>>,
    pushers: Slots<Option<Waker>>,
    waiting: Queue,
    closed: Option<CloseMode>,
}

pub(super) enum TryPush<I> {
    Done,
    Full(I),
    /// Nobody reads (a published item) or the queue is closed.
    Dropped(I),
}

impl<I> StreamQueue<I> {
    pub(super) fn new(capacity: usize, closed: Option<CloseMode>) -> Self {
        StreamQueue {
            capacity,
            state: Mutex::new(QueueState {
                items: VecDeque::new(),
                readers: Slab::new(),
                pushers: Slots::new(),
                waiting: Queue::new(),
                closed,
            }),
        }
    }

    /// Pushes unless full or someone waits for room. A `published` item is
    /// dropped when no stream reads the queue.
    pub(super) fn try_push(&self, item: I, published: bool) -> TryPush<I> {
        let waker = {
            let mut s = self.state.lock();
            if s.closed.is_some() || (published && s.readers.is_empty()) {
                return TryPush::Dropped(item);
            }
            if !s.waiting.is_empty() || s.items.len() >= self.capacity {
                return TryPush::Full(item);
            }
            s.items.push_back(item);
            s.wake_reader()
        };
        if let Some(w) = waker {
            w.wake();
        }
        TryPush::Done
    }

    pub(super) fn len(&self) -> usize {
        self.state.lock().items.len()
    }

    pub(super) fn attach(&self, waker: Option<Waker>) -> usize {
        self.state.lock().readers.insert(waker)
    }

    /// Detaches reader `key`; returns how many readers remain, and the
    /// wakers to wake once the caller has released its locks. The last
    /// reader leaving releases pushers of published items.
    pub(super) fn detach(&self, key: usize) -> (usize, Vec<Waker>) {
        let mut wake = Vec::new();
        let remaining = {
            let mut s = self.state.lock();
            let had_waker = s.readers.remove(key).is_some();
            if !had_waker && !s.items.is_empty() {
                // It was woken for an item it will not take: pass it on.
                wake.extend(s.wake_reader());
            }
            if s.readers.is_empty() {
                let QueueState {
                    pushers, waiting, ..
                } = &mut *s;
                // Wake every waiting pusher: those of published items give up.
                for k in all_in(pushers, waiting) {
                    wake.extend(pushers.get_mut(k).take());
                }
            }
            s.readers.len()
        };
        (remaining, wake)
    }

    pub(super) fn close(&self, mode: CloseMode) -> Vec<I> {
        let mut wake = Vec::new();
        let dropped = {
            let mut s = self.state.lock();
            s.closed = Some(match (s.closed, mode) {
                (Some(CloseMode::Immediate), _) | (_, CloseMode::Immediate) => CloseMode::Immediate,
                _ => CloseMode::Drain,
            });
            let dropped = if mode == CloseMode::Immediate {
                s.items.drain(..).collect()
            } else {
                Vec::new()
            };
            for (_, w) in s.readers.iter_mut() {
                wake.extend(w.take());
            }
            let QueueState {
                pushers, waiting, ..
            } = &mut *s;
            for k in all_in(pushers, waiting) {
                wake.extend(pushers.get_mut(k).take());
            }
            dropped
        };
        for w in wake {
            w.wake();
        }
        dropped
    }

    /// Takes an item for reader `key`, or registers its waker.
    fn poll_pop(&self, key: usize, cx: &mut Context<'_>) -> Poll<Option<I>> {
        let (item, waker) = {
            let mut s = self.state.lock();
            match s.items.pop_front() {
                Some(item) => {
                    let QueueState {
                        pushers, waiting, ..
                    } = &mut *s;
                    // A slot opened: the first waiting pusher may go.
                    let pusher = pushers.take_first_waker(waiting);
                    // Re-arm so the next push wakes us.
                    s.readers[key] = Some(cx.waker().clone());
                    (Some(item), pusher)
                }
                None if s.closed.is_some() => return Poll::Ready(None),
                None => {
                    match &mut s.readers[key] {
                        slot @ None => *slot = Some(cx.waker().clone()),
                        Some(w) => w.clone_from(cx.waker()),
                    }
                    return Poll::Pending;
                }
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
        Poll::Ready(item)
    }
}

fn all_in<W>(slots: &Slots<W>, queue: &Queue) -> Vec<usize> {
    (0..queue.len())
        .filter_map(|i| slots.nth(queue, i))
        .collect()
}

impl<I> QueueState<I> {
    fn wake_reader(&mut self) -> Option<Waker> {
        self.readers.iter_mut().find_map(|(_, w)| w.take())
    }
}

// === Push ===

/// Waits for room in a queue, in FIFO order with other pushes.
pub(super) struct Push<I> {
    queue: Arc<StreamQueue<I>>,
    item: Option<I>,
    key: Option<usize>,
    published: bool,
}

impl<I> Unpin for Push<I> {}

impl<I> Push<I> {
    pub(super) fn new(queue: Arc<StreamQueue<I>>, item: I, published: bool) -> Self {
        Push {
            queue,
            item: Some(item),
            key: None,
            published,
        }
    }

    /// Takes the item back (before completion).
    fn withdraw(&mut self) -> Option<I> {
        self.cancel();
        self.item.take()
    }

    fn cancel(&mut self) {
        let Some(key) = self.key.take() else { return };
        let waker = {
            let mut s = self.queue.state.lock();
            let QueueState {
                pushers, waiting, ..
            } = &mut *s;
            pushers.leave(waiting, key)
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<I> Future for Push<I> {
    /// `Err(item)` if the queue was closed (or, for a published item, has no
    /// reader left).
    type Output = Result<(), I>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let item = this.item.take().expect("`Push` polled after completion");
        let mut wake = [None, None];
        let result = {
            let mut s = this.queue.state.lock();
            let s = &mut *s;
            if s.closed.is_some() || (this.published && s.readers.is_empty()) {
                if let Some(key) = this.key.take() {
                    wake[0] = s.pushers.leave(&mut s.waiting, key);
                }
                Poll::Ready(Err(item))
            } else {
                let first = match this.key {
                    Some(key) => s.waiting.front() == Some(key),
                    None => s.waiting.is_empty(),
                };
                if first && s.items.len() < this.queue.capacity {
                    s.items.push_back(item);
                    wake[0] = s.wake_reader();
                    if let Some(key) = this.key.take() {
                        s.pushers.remove(&mut s.waiting, key);
                        if s.items.len() < this.queue.capacity {
                            wake[1] = s.pushers.take_first_waker(&s.waiting);
                        }
                    }
                    Poll::Ready(Ok(()))
                } else {
                    match this.key {
                        Some(key) => set_waker(s.pushers.get_mut(key), cx.waker()),
                        None => {
                            let key = s.pushers.insert(Some(cx.waker().clone()));
                            s.pushers.push_back(&mut s.waiting, key);
                            this.key = Some(key);
                        }
                    }
                    this.item = Some(item);
                    Poll::Pending
                }
            }
        };
        for w in wake.into_iter().flatten() {
            w.wake();
        }
        result
    }
}

impl<I> Drop for Push<I> {
    fn drop(&mut self) {
        self.cancel();
    }
}

// === StreamOptions ===

/// Options of an event stream: see
/// [`EventBus::event_stream_with`](super::EventBus::event_stream_with).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamOptions {
    buffer: usize,
    timeout: Option<Duration>,
    item_timeout: Option<Duration>,
}

/// Default buffer of an event stream's queue.
pub const DEFAULT_STREAM_BUFFER: usize = 64;

impl Default for StreamOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamOptions {
    /// A buffer of [`DEFAULT_STREAM_BUFFER`] items, no timeouts.
    #[must_use]
    pub const fn new() -> Self {
        StreamOptions {
            buffer: DEFAULT_STREAM_BUFFER,
            timeout: None,
            item_timeout: None,
        }
    }

    /// The queue holds up to `n` items; publications wait for room beyond
    /// that. Applies when the stream creates the queue (the first stream or
    /// feed of an event type does); later streams share it as it is.
    #[must_use]
    pub const fn buffer(mut self, n: usize) -> Self {
        self.buffer = n;
        self
    }

    /// The stream ends this long after it was opened.
    #[must_use]
    pub const fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// The stream ends when no item arrives for this long (counted from
    /// the opening, then from each item).
    #[must_use]
    pub const fn item_timeout(mut self, d: Duration) -> Self {
        self.item_timeout = Some(d);
        self
    }

    pub(super) fn validate(&self) -> Result<(), InvalidArgument> {
        if self.buffer == 0 {
            return Err(InvalidArgument::new("buffer", "at least 1"));
        }
        Ok(())
    }

    pub(super) fn buffer_size(&self) -> usize {
        self.buffer
    }
}

// === EventStream ===

/// Why an [`EventStream`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamEnd {
    /// The overall [`timeout`](StreamOptions::timeout) passed.
    TimedOut,
    /// No item arrived within the
    /// [`item_timeout`](StreamOptions::item_timeout).
    ItemTimedOut,
    /// The bus was shut down (and, for a graceful shutdown, the buffered
    /// items were all taken).
    Closed,
}

pin_project! {
    /// A [`Stream`](futures_core::Stream) of the events of one type
    /// (`I = T`), or of every event (`I = (Arc<str>, T)`, the event type
    /// first), from [`EventBus::event_stream`](super::EventBus::event_stream)
    /// and [`EventBus::all_events`](super::EventBus::all_events).
    ///
    /// While at least one stream reads an event type's queue, every
    /// publication of that type pushes its (middleware-processed) data into
    /// the queue, waiting for room if it is full: no event is lost. Streams
    /// of the same event type share one queue, each item going to one of
    /// them. The queue outlives its streams (items buffered stay for the
    /// next stream); publications stop feeding it when the last stream is
    /// dropped.
    ///
    /// The stream ends at a timeout or a shutdown; [`end`](EventStream::end)
    /// says which.
    ///
    /// # Cancellation
    ///
    /// Dropping the stream (or a `next()` future) loses nothing: an item
    /// leaves the queue only in the poll that returns it.
    #[must_use = "streams do nothing unless polled"]
    pub struct EventStream<'a, T, C: Clock, I = T> {
        bus: &'a Shared<T, C>,
        queue: Arc<StreamQueue<I>>,
        key: Option<Arc<str>>,
        reader: Option<usize>,
        end: Option<StreamEnd>,
        item_timeout: Option<Duration>,
        // Boxed so the stream is `Unpin` whatever the clock's sleep is;
        // allocated only when a timeout is set.
        deadline: Option<Pin<Box<C::Sleep>>>,
        // When the current item timeout runs out, and the sleep armed for
        // that instant (re-armed only when the stream waits again after an
        // item).
        item_deadline: Option<Instant>,
        item_sleep: Option<(Instant, Pin<Box<C::Sleep>>)>,
    }

    impl<T, C: Clock, I> PinnedDrop for EventStream<'_, T, C, I> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(reader) = this.reader.take() {
                this.bus.detach_stream(this.key.as_ref(), reader);
            }
        }
    }
}

impl<'a, T, C: Clock, I> EventStream<'a, T, C, I> {
    pub(super) fn new(
        bus: &'a Shared<T, C>,
        queue: Arc<StreamQueue<I>>,
        key: Option<Arc<str>>,
        reader: usize,
        options: &StreamOptions,
    ) -> Self {
        let now = bus.clock.now();
        EventStream {
            bus,
            queue,
            key,
            reader: Some(reader),
            end: None,
            item_timeout: options.item_timeout,
            deadline: options
                .timeout
                .map(|d| Box::pin(bus.clock.sleep_until(now.saturating_add(d)))),
            item_deadline: options.item_timeout.map(|d| now.saturating_add(d)),
            item_sleep: None,
        }
    }

    /// Why the stream ended, once it has.
    #[must_use]
    pub fn end(&self) -> Option<StreamEnd> {
        self.end
    }

    /// Items buffered in the queue now.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.queue.len()
    }
}

impl<T, C: Clock, I> futures_core::Stream for EventStream<'_, T, C, I> {
    type Item = I;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<I>> {
        let this = self.project();
        if this.end.is_some() {
            return Poll::Ready(None);
        }
        let reader = this.reader.expect("a live stream is attached");
        let end = match this.queue.poll_pop(reader, cx) {
            Poll::Ready(Some(item)) => {
                if let Some(d) = *this.item_timeout {
                    *this.item_deadline = Some(this.bus.clock.now().saturating_add(d));
                }
                return Poll::Ready(Some(item));
            }
            Poll::Ready(None) => StreamEnd::Closed,
            Poll::Pending => {
                let item_sleep = this.item_deadline.map(|at| match this.item_sleep.take() {
                    Some((armed, sleep)) if armed == at => (armed, sleep),
                    _ => (at, Box::pin(this.bus.clock.sleep_until(at))),
                });
                *this.item_sleep = item_sleep;
                if this
                    .deadline
                    .as_mut()
                    .is_some_and(|s| s.as_mut().poll(cx).is_ready())
                {
                    StreamEnd::TimedOut
                } else if this
                    .item_sleep
                    .as_mut()
                    .is_some_and(|(_, s)| s.as_mut().poll(cx).is_ready())
                {
                    StreamEnd::ItemTimedOut
                } else {
                    return Poll::Pending;
                }
            }
        };
        *this.end = Some(end);
        *this.deadline = None;
        *this.item_sleep = None;
        if let Some(reader) = this.reader.take() {
            this.bus.detach_stream(this.key.as_ref(), reader);
        }
        Poll::Ready(None)
    }
}

fn poll_sleep<S: Future>(sleep: Pin<&mut Option<S>>, cx: &mut Context<'_>) -> bool {
    match sleep.as_pin_mut() {
        Some(s) => s.poll(cx).is_ready(),
        None => false,
    }
}

impl<T, C: Clock, I> fmt::Debug for EventStream<'_, T, C, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream")
            .field("event_type", &self.key)
            .field("end", &self.end)
            .finish_non_exhaustive()
    }
}

// === Feed ===

/// Why [`EventBus::feed_event`](super::EventBus::feed_event) failed; holds
/// the data.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum FeedError<I> {
    /// The bus was shut down.
    Closed(I),
    /// The queue stayed full until the timeout.
    TimedOut(I),
    /// The queue is full (only from
    /// [`try_feed_event`](super::EventBus::try_feed_event)).
    Full(I),
    /// The event type is empty or contains `*` (only from
    /// [`try_feed_event`](super::EventBus::try_feed_event)).
    InvalidEventType(I),
}

impl<I> FeedError<I> {
    /// The data given back.
    pub fn into_inner(self) -> I {
        match self {
            FeedError::Closed(i)
            | FeedError::TimedOut(i)
            | FeedError::Full(i)
            | FeedError::InvalidEventType(i) => i,
        }
    }
}

impl<I> fmt::Debug for FeedError<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FeedError::Closed(_) => "Closed(..)",
            FeedError::TimedOut(_) => "TimedOut(..)",
            FeedError::Full(_) => "Full(..)",
            FeedError::InvalidEventType(_) => "InvalidEventType(..)",
        })
    }
}

impl<I> fmt::Display for FeedError<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FeedError::Closed(_) => "the event bus is shut down",
            FeedError::TimedOut(_) => "the event stream's queue stayed full until the timeout",
            FeedError::Full(_) => "the event stream's queue is full",
            FeedError::InvalidEventType(_) => "the event type is empty or contains `*`",
        })
    }
}

impl<I> core::error::Error for FeedError<I> {}

pin_project! {
    /// Future returned by [`EventBus::feed_event`](super::EventBus::feed_event)
    /// and [`feed_all`](super::EventBus::feed_all).
    ///
    /// # Cancellation
    ///
    /// Dropping it before it completes withdraws the item: it never enters
    /// the queue.
    #[must_use = "futures do nothing unless polled"]
    pub struct Feed<'a, C: Clock, I> {
        clock: &'a C,
        push: Option<Push<I>>,
        timeout: Option<Duration>,
        #[pin]
        sleep: Option<C::Sleep>,
    }
}

impl<'a, C: Clock, I> Feed<'a, C, I> {
    pub(super) fn new(clock: &'a C, push: Push<I>) -> Self {
        Feed {
            clock,
            push: Some(push),
            timeout: None,
            sleep: None,
        }
    }

    /// Gives up after `d` (counted from the first poll) if the queue stays
    /// full, handing the item back in [`FeedError::TimedOut`].
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }
}

impl<C: Clock, I> Future for Feed<'_, C, I> {
    type Output = Result<(), FeedError<I>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let push = this.push.as_mut().expect("`Feed` polled after completion");
        if let Poll::Ready(r) = Pin::new(&mut *push).poll(cx) {
            *this.push = None;
            return Poll::Ready(r.map_err(FeedError::Closed));
        }
        if let Some(d) = this.timeout.take() {
            this.sleep.set(Some(this.clock.sleep(d)));
        }
        if poll_sleep(this.sleep.as_mut(), cx) {
            let mut push = this.push.take().expect("checked above");
            let item = push.withdraw().expect("a pending push holds its item");
            return Poll::Ready(Err(FeedError::TimedOut(item)));
        }
        Poll::Pending
    }
}

impl<C: Clock, I> fmt::Debug for Feed<'_, C, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Feed")
            .field("pending", &self.push.is_some())
            .finish_non_exhaustive()
    }
}
