//! The named futures of [`Observable`] and [`ObserverHandle`], and the
//! error of `try_notify`.

use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use super::engine::Engine;
use super::{Observable, Observer, ObserverHandle, wake_all};
use crate::error::ErrorGroup;
use crate::loom::{Arc, Mutex};
use crate::waitlist::set_waker;

/// Future returned by [`Observable::notify`] and
/// [`Observable::notify_sequential`].
///
/// Resolves to the failures of the observers of every notification it
/// ran, as one [`ErrorGroup`].
///
/// # Panics
///
/// If polled again after it completed.
///
/// # Cancellation
///
/// Dropped before its first poll, or while waiting for room in a full
/// queue, it delivers nothing (the value is dropped with it). Once its
/// value is queued behind another notification, delivery is up to that
/// one. Dropped while running observers, it abandons the observer calls
/// under way (their futures are dropped) and the observers of the current
/// value not yet started in a sequential notification; values queued behind
/// it stay queued, and are run by whoever waits next for the observable
/// (`notify`, [`flush`](Observable::flush),
/// [`wait_until_idle`](Observable::wait_until_idle), ...).
#[must_use = "futures do nothing unless polled"]
pub struct Notify<T> {
    pub(super) engine: Engine<T>,
}

impl<T> Unpin for Notify<T> {}

impl<T> Future for Notify<T> {
    type Output = Result<(), ErrorGroup>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let engine = &mut self.engine;
        match engine.poll_engine(cx) {
            Poll::Ready(()) => Poll::Ready(engine.take_errors()),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> fmt::Debug for Notify<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notify")
            .field("running", &self.engine.run.is_some())
            .field("done", &self.engine.done)
            .finish_non_exhaustive()
    }
}

/// Future returned by [`Observable::flush`].
///
/// # Panics
///
/// If polled again after it completed.
///
/// # Cancellation
///
/// As for [`Notify`]: dropped while running queued notifications, it
/// abandons the observer calls under way; the rest stay queued.
#[must_use = "futures do nothing unless polled"]
pub struct Flush<T> {
    pub(super) engine: Engine<T>,
}

impl<T> Unpin for Flush<T> {}

impl<T> Future for Flush<T> {
    type Output = Result<(), ErrorGroup>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let engine = &mut self.engine;
        match engine.poll_engine(cx) {
            Poll::Ready(()) => Poll::Ready(engine.take_errors()),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> fmt::Debug for Flush<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flush").finish_non_exhaustive()
    }
}

/// Future returned by [`Observable::wait_until_idle`].
///
/// # Panics
///
/// If polled again after it completed.
///
/// # Cancellation
///
/// Dropping it while it waits changes nothing. Dropped while running
/// notifications left behind by a cancelled `notify`, it behaves like a
/// dropped [`Notify`].
#[must_use = "futures do nothing unless polled"]
pub struct WaitUntilIdle<T> {
    pub(super) engine: Engine<T>,
}

impl<T> Unpin for WaitUntilIdle<T> {}

impl<T> Future for WaitUntilIdle<T> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.engine.poll_engine(cx)
    }
}

impl<T> fmt::Debug for WaitUntilIdle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitUntilIdle").finish_non_exhaustive()
    }
}

/// Future returned by [`Observable::restart_accumulation`].
///
/// # Panics
///
/// If polled again after it completed.
///
/// # Cancellation
///
/// Dropped before it completes, it leaves accumulation as it was (queued
/// notifications it did not run stay queued).
#[must_use = "futures do nothing unless polled"]
pub struct RestartAccumulation<T> {
    pub(super) engine: Engine<T>,
    pub(super) flush: bool,
    pub(super) started: bool,
}

impl<T> Unpin for RestartAccumulation<T> {}

impl<T> Future for RestartAccumulation<T> {
    type Output = Result<(), ErrorGroup>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if !this.flush && !this.started {
            this.started = true;
            let (dropped, wakers) = {
                let mut state = this.engine.shared.state.lock();
                let dropped = core::mem::take(&mut state.queue);
                state.accumulating = true;
                let mut wakers = Vec::new();
                wakers.extend(state.wake_room());
                if state.running == 0 {
                    state.wake_idle(&mut wakers);
                }
                (dropped, wakers)
            };
            drop(dropped);
            wake_all(wakers);
            this.engine.done = true;
            return Poll::Ready(Ok(()));
        }
        match this.engine.poll_engine(cx) {
            Poll::Ready(()) => {
                this.engine.shared.state.lock().accumulating = true;
                Poll::Ready(this.engine.take_errors())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> fmt::Debug for RestartAccumulation<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestartAccumulation")
            .field("flush", &self.flush)
            .finish_non_exhaustive()
    }
}

/// Future returned by [`Observable::subscribe_when_idle`].
///
/// # Panics
///
/// If polled again after it completed.
///
/// # Cancellation
///
/// Dropped before it completes, it subscribes nothing (the observer is
/// dropped with it).
#[must_use = "futures do nothing unless polled"]
pub struct SubscribeWhenIdle<T> {
    pub(super) idle: Engine<T>,
    pub(super) observer: Option<Observer<T>>,
    pub(super) observable: Observable<T>,
}

impl<T> Unpin for SubscribeWhenIdle<T> {}

impl<T: Clone + Send + 'static> Future for SubscribeWhenIdle<T> {
    type Output = ObserverHandle<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        match this.idle.poll_engine(cx) {
            Poll::Ready(()) => {
                let observer = this.observer.take().expect("polled after completion");
                Poll::Ready(this.observable.subscribe(observer))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> fmt::Debug for SubscribeWhenIdle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscribeWhenIdle").finish_non_exhaustive()
    }
}

/// Future returned by [`ObserverHandle::unsubscribe_when_idle`].
///
/// # Panics
///
/// If polled again after it completed.
///
/// # Cancellation
///
/// Dropping it before it completes unsubscribes at once (it owns the
/// handle).
#[must_use = "futures do nothing unless polled"]
pub struct UnsubscribeWhenIdle<T> {
    pub(super) idle: Engine<T>,
    pub(super) handle: ObserverHandle<T>,
}

impl<T> Unpin for UnsubscribeWhenIdle<T> {}

impl<T> Future for UnsubscribeWhenIdle<T> {
    type Output = bool;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        let this = &mut *self;
        if this.idle.poll_engine(cx).is_pending() {
            return Poll::Pending;
        }
        Poll::Ready(this.handle.unsubscribe_now())
    }
}

impl<T> fmt::Debug for UnsubscribeWhenIdle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnsubscribeWhenIdle")
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

pub(super) struct NextSlot<T> {
    value: Option<T>,
    waker: Option<Waker>,
}

/// Future returned by [`Observable::wait_for_next`].
///
/// It subscribes a one-shot observer at its first poll; a notification
/// that starts after that (including one queued earlier) completes it.
///
/// # Panics
///
/// If polled again after it completed.
///
/// # Cancellation
///
/// Dropping it unsubscribes the one-shot observer; the observable and its
/// other observers are unaffected.
#[must_use = "futures do nothing unless polled"]
pub struct WaitForNext<T> {
    pub(super) observable: Observable<T>,
    pub(super) slot: Option<Arc<Mutex<NextSlot<T>>>>,
    pub(super) handle: Option<ObserverHandle<T>>,
}

impl<T> Unpin for WaitForNext<T> {}

impl<T: Clone + Send + 'static> Future for WaitForNext<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = &mut *self;
        let slot = match &this.slot {
            Some(slot) => slot.clone(),
            None => {
                let slot = Arc::new(Mutex::new(NextSlot {
                    value: None,
                    waker: Some(cx.waker().clone()),
                }));
                let inner = slot.clone();
                let observer = Observer::sync(move |value: &T| {
                    let value = value.clone();
                    let waker = {
                        let mut slot = inner.lock();
                        slot.value = Some(value);
                        slot.waker.take()
                    };
                    if let Some(w) = waker {
                        w.wake();
                    }
                });
                this.handle = Some(
                    this.observable
                        .ntimes(observer, 1)
                        .expect("1 is a valid count"),
                );
                this.slot = Some(slot);
                return Poll::Pending;
            }
        };
        let mut guard = slot.lock();
        match guard.value.take() {
            Some(value) => {
                drop(guard);
                this.handle = None;
                Poll::Ready(value)
            }
            None => {
                set_waker(&mut guard.waker, cx.waker());
                Poll::Pending
            }
        }
    }
}

impl<T> fmt::Debug for WaitForNext<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitForNext")
            .field("registered", &self.slot.is_some())
            .finish_non_exhaustive()
    }
}

// === errors ===

/// Why [`Observable::try_notify`] refused; holds the value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TryNotifyError<T> {
    /// No notification is running to deliver it; use
    /// [`notify`](Observable::notify).
    Idle(T),
    /// Accumulation is off.
    NotAccumulating(T),
    /// The queue is full (or others wait for room).
    Full(T),
}

impl<T> TryNotifyError<T> {
    /// The value given back.
    pub fn into_inner(self) -> T {
        match self {
            TryNotifyError::Idle(v)
            | TryNotifyError::NotAccumulating(v)
            | TryNotifyError::Full(v) => v,
        }
    }
}

impl<T> fmt::Debug for TryNotifyError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryNotifyError::Idle(_) => "Idle(..)",
            TryNotifyError::NotAccumulating(_) => "NotAccumulating(..)",
            TryNotifyError::Full(_) => "Full(..)",
        })
    }
}

impl<T> fmt::Display for TryNotifyError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryNotifyError::Idle(_) => "no notification is running to deliver the value",
            TryNotifyError::NotAccumulating(_) => {
                "the observable does not accumulate notifications"
            }
            TryNotifyError::Full(_) => "the notification queue is full",
        })
    }
}

impl<T> core::error::Error for TryNotifyError<T> {}
