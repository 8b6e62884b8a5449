//! [`Observer`]s and the [`ObserverHandle`]s subscribing returns.

use alloc::boxed::Box;
use core::fmt;
use core::future::Future;
use core::task::Context;

use super::engine::{Engine, Purpose};
use super::{Callback, Shared, Step, UnsubscribeWhenIdle};
use crate::error::BoxError;
use crate::loom::Arc;

// === Observer ===

/// What an observer returns: `()` for an observer that cannot fail, or a
/// `Result<(), E>` whose error is collected into the notifier's
/// [`ErrorGroup`](crate::error::ErrorGroup).
pub trait ObserverResult {
    /// The outcome as a type-erased result.
    ///
    /// # Errors
    ///
    /// The observer's failure.
    fn into_result(self) -> Result<(), BoxError>;
}

impl ObserverResult for () {
    fn into_result(self) -> Result<(), BoxError> {
        Ok(())
    }
}

impl<E: Into<BoxError>> ObserverResult for Result<(), E> {
    fn into_result(self) -> Result<(), BoxError> {
        self.map_err(Into::into)
    }
}

/// A callback to subscribe to an [`Observable`](super::Observable): synchronous
/// ([`Observer::sync`]) or asynchronous ([`Observer::new`]).
pub struct Observer<T> {
    pub(super) callback: Box<Callback<T>>,
}

impl<T: Clone + Send + 'static> Observer<T> {
    /// An asynchronous observer: each notification calls `f` with a clone of
    /// the value and the notifier awaits the returned future, concurrently
    /// with the other observers (or after the previous one, for
    /// [`notify_sequential`](super::Observable::notify_sequential)).
    ///
    /// The future is boxed, one allocation per call; prefer
    /// [`Observer::sync`] for work that does not wait.
    pub fn new<F, Fut>(f: F) -> Self
    where
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: ObserverResult,
    {
        Observer::from_callback(Box::new(move |value: &T, _: &mut Context<'_>| {
            let fut = f(value.clone());
            Step::Pending(Box::pin(async move { fut.await.into_result() }))
        }))
    }

    /// A synchronous observer: each notification calls `f` with a reference
    /// to the value, in the notifier's poll. It should not block.
    pub fn sync<F, R>(f: F) -> Self
    where
        F: Fn(&T) -> R + Send + Sync + 'static,
        R: ObserverResult,
    {
        Observer::from_callback(Box::new(move |value: &T, _: &mut Context<'_>| {
            Step::Done(f(value).into_result())
        }))
    }
}

impl<T> Observer<T> {
    pub(crate) fn from_callback(callback: Box<Callback<T>>) -> Self {
        Observer { callback }
    }
}

impl<T> fmt::Debug for Observer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observer").finish_non_exhaustive()
    }
}

// === ObserverHandle ===

/// A subscription to an [`Observable`](super::Observable); dropping it unsubscribes.
///
/// Holds the observable weakly: it does not keep it alive.
#[must_use = "dropping the handle unsubscribes the observer at once"]
pub struct ObserverHandle<T> {
    pub(super) shared: Arc<Shared<T>>,
    /// `None` once consumed.
    pub(super) id: Option<u64>,
}

impl<T> ObserverHandle<T> {
    fn take(&mut self) -> Option<(&Shared<T>, u64)> {
        Some((&self.shared, self.id.take()?))
    }

    /// Unsubscribes now: no call of the observer starts after this returns
    /// (calls under way finish). Returns whether the observer was still
    /// subscribed (`false` after an [`ntimes`](super::Observable::ntimes) count
    /// ran out, or once the observable is gone).
    pub fn unsubscribe(mut self) -> bool {
        self.unsubscribe_now()
    }

    pub(super) fn unsubscribe_now(&mut self) -> bool {
        let Some((shared, id)) = self.take() else {
            return false;
        };
        let removed = shared.state.lock().remove(id);
        // The observer is dropped here, outside the lock.
        removed.is_some()
    }

    /// Unsubscribes at the next boundary between notifications: now if the
    /// observable is idle, else once the notification under way has
    /// completed.
    pub fn unsubscribe_eventually(mut self) {
        if let Some((shared, id)) = self.take() {
            let removed = shared.state.lock().remove_eventually(id);
            drop(removed);
        }
    }

    /// Waits until the observable is idle, then unsubscribes; resolves to
    /// whether the observer was still subscribed.
    pub fn unsubscribe_when_idle(mut self) -> UnsubscribeWhenIdle<T> {
        UnsubscribeWhenIdle {
            idle: Engine::new(self.shared.clone(), None, Purpose::Idle),
            handle: ObserverHandle {
                shared: self.shared.clone(),
                id: self.id.take(),
            },
        }
    }

    /// Leaves the observer subscribed for as long as the observable lives
    /// (or its `ntimes` count lasts).
    pub fn forget(mut self) {
        self.id = None;
    }

    /// Whether the observer is still subscribed (or waiting to be added at
    /// the next boundary).
    #[must_use]
    pub fn is_subscribed(&self) -> bool {
        let Some(id) = self.id else {
            return false;
        };
        let state = self.shared.state.lock();
        state.records.iter().any(|r| r.entry.id == id)
    }
}

impl<T> Drop for ObserverHandle<T> {
    fn drop(&mut self) {
        self.unsubscribe_now();
    }
}

impl<T> fmt::Debug for ObserverHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObserverHandle")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}
