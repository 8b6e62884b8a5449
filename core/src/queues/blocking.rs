//! Blocking access from plain threads (`std`).
//!
//! A blocking call drives the same [`Get`](super::Get) / [`Put`](super::Put)
//! future as an async caller, with a waker that unparks the calling thread,
//! and parks between polls (`std::thread::park_timeout` when there is a
//! deadline). So blocking and async callers wait in the same FIFO lines and
//! a timed-out call is an ordinary cancellation: nothing is lost. The waker
//! is made once per thread, so steady-state calls do not allocate.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;
use std::sync::Arc;
use std::task::Wake;
use std::thread::{self, Thread};
use std::time::Instant;

use super::error::{ClosedError, GetTimeoutError, PutTimeoutError};
use super::order::{Fifo, Lifo, Priority};
use super::order::{Order, UserPriority};
use super::smart::SmartQueue;

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

std::thread_local! {
    static THREAD_WAKER: Waker = Waker::from(Arc::new(Unpark(thread::current())));
}

/// Polls `future` on this thread until it is ready or `deadline` passes
/// (`None`: the future is handed back, pending, for the caller to cancel).
pub(crate) fn block_until<F: Future>(
    mut future: Pin<&mut F>,
    deadline: Option<Instant>,
) -> Option<F::Output> {
    THREAD_WAKER.with(|waker| {
        let mut cx = Context::from_waker(waker);
        loop {
            if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return Some(out);
            }
            match deadline {
                None => thread::park(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return None;
                    }
                    thread::park_timeout(deadline - now);
                }
            }
        }
    })
}

pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    // A timeout too long to represent waits forever.
    Instant::now().checked_add(timeout)
}

impl<T, O: Order<T>> SmartQueue<T, O> {
    /// [`get`](Self::get), blocking the thread until an item comes.
    ///
    /// Must not be called from inside an async task (it would block the
    /// executor's thread).
    ///
    /// # Errors
    ///
    /// [`ClosedError`] as for [`get`](Self::get).
    pub fn blocking_get(&self) -> Result<T, ClosedError> {
        let mut get = self.get();
        block_until(Pin::new(&mut get), None).expect("no deadline")
    }

    /// [`blocking_get`](Self::blocking_get) giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// [`GetTimeoutError::Timeout`] if no item came in time (nothing was
    /// taken), [`GetTimeoutError::Closed`] as for [`get`](Self::get).
    pub fn blocking_get_timeout(&self, timeout: Duration) -> Result<T, GetTimeoutError> {
        let mut get = self.get();
        match block_until(Pin::new(&mut get), deadline_after(timeout)) {
            Some(Ok(item)) => Ok(item),
            Some(Err(ClosedError(()))) => Err(GetTimeoutError::Closed),
            None => Err(GetTimeoutError::Timeout),
        }
    }

    /// [`blocking_put`](SmartQueue::blocking_put) and
    /// [`blocking_put_timeout`](SmartQueue::blocking_put_timeout) (`timeout`
    /// `None`: no deadline) for code generic over the order.
    ///
    /// # Errors
    ///
    /// As `blocking_put_timeout`.
    pub fn blocking_put_input(
        &self,
        input: O::Input,
        timeout: Option<Duration>,
    ) -> Result<(), PutTimeoutError<O::Input>> {
        let mut put = self.put_input(input);
        let deadline = timeout.and_then(deadline_after);
        match block_until(Pin::new(&mut put), deadline) {
            Some(Ok(())) => Ok(()),
            Some(Err(ClosedError(v))) => Err(PutTimeoutError::Closed(v)),
            None => Err(PutTimeoutError::Timeout(
                put.withdraw().expect("a pending put holds its item"),
            )),
        }
    }
}

fn closed_only<I>(result: Result<(), PutTimeoutError<I>>) -> Result<(), ClosedError<I>> {
    result.map_err(|e| match e {
        PutTimeoutError::Closed(v) => ClosedError(v),
        PutTimeoutError::Timeout(_) => unreachable!("no deadline was set"),
    })
}

macro_rules! item_blocking_puts {
    ($order:ty, $($bound:tt)*) => {
        impl<T $($bound)*> SmartQueue<T, $order> {
    /// [`put`](Self::put), blocking the thread until there is room.
    ///
    /// Must not be called from inside an async task.
    ///
    /// # Errors
    ///
    /// [`ClosedError`] with the item if the queue is closed first.
    pub fn blocking_put(&self, item: T) -> Result<(), ClosedError<T>> {
        closed_only(self.blocking_put_input(item, None))
    }

    /// [`blocking_put`](Self::blocking_put) giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// With the item (which was not inserted): [`PutTimeoutError::Timeout`]
    /// if no room opened in time, [`PutTimeoutError::Closed`].
    pub fn blocking_put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutTimeoutError<T>> {
        self.blocking_put_input(item, Some(timeout))
    }
}
    };
}

item_blocking_puts!(Fifo,);
item_blocking_puts!(Lifo,);
item_blocking_puts!(Priority, : Ord);

impl<T, P: Ord + 'static> SmartQueue<T, UserPriority<P>> {
    /// [`put`](Self::put) with a priority, blocking the thread until there
    /// is room.
    ///
    /// # Errors
    ///
    /// [`ClosedError`] with `(item, priority)` if the queue is closed first.
    pub fn blocking_put(&self, item: T, priority: P) -> Result<(), ClosedError<(T, P)>> {
        closed_only(self.blocking_put_input((item, priority), None))
    }

    /// [`blocking_put`](Self::blocking_put) giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// As [`SmartQueue::blocking_put_timeout`], with `(item, priority)`.
    pub fn blocking_put_timeout(
        &self,
        item: T,
        priority: P,
        timeout: Duration,
    ) -> Result<(), PutTimeoutError<(T, P)>> {
        self.blocking_put_input((item, priority), Some(timeout))
    }
}
