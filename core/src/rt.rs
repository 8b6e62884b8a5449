//! The runtime seam: spawning, join handles, yielding.
//!
//! A runtime is anything that is both a [`Clock`] and a [`Spawn`]. Adapter
//! crates implement both for their runtime (`Tokio`, `Smol`, `AsyncStd`);
//! [`VirtualRuntime`] implements them in virtual time for tests.
//!
//! [`JoinHandle`] is built here, in the core, rather than borrowed from the
//! runtime, so awaiting, aborting and detaching a task, and what a panic in it
//! turns into, are the same on every runtime.
//!
//! Primitives never spawn on their own. Background work is handed to the
//! user as a driver future to spawn wherever it fits.
//!
//! # Examples
//!
//! ```
//! use asyncutils_core::rt::{Spawn, VirtualRuntime};
//!
//! let rt = VirtualRuntime::new();
//! let answer = rt.block_on(async {
//!     let handle = rt.spawn(async { 6 * 7 });
//!     handle.await
//! });
//! assert_eq!(answer.unwrap(), 42);
//! ```

mod join;
#[cfg(all(test, feature = "std"))]
mod tests;
#[cfg(feature = "std")]
mod virtual_runtime;

pub use join::{JoinError, JoinHandle, Task, joinable};
#[cfg(feature = "std")]
pub use virtual_runtime::VirtualRuntime;

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::time::Clock;

/// Starts futures in the background.
///
/// Implementors supply [`spawn_detached`](Spawn::spawn_detached); the
/// provided [`spawn`](Spawn::spawn) wraps the future so its output, abort and
/// panic travel through the core's [`JoinHandle`].
pub trait Spawn {
    /// Runs `future` to completion in the background; nothing observes it.
    fn spawn_detached<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static;

    /// Runs `future` in the background and returns a handle to its output.
    fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (task, handle) = joinable(future);
        self.spawn_detached(task);
        handle
    }
}

impl<S: Spawn + ?Sized> Spawn for &S {
    fn spawn_detached<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        (**self).spawn_detached(future);
    }
}

/// A runtime: a clock and a spawner. Implemented for every type that is both.
pub trait Runtime: Clock + Spawn {}

impl<T: Clock + Spawn + ?Sized> Runtime for T {}

/// Runs blocking closures off the async threads.
#[cfg(feature = "std")]
pub trait SpawnBlocking {
    /// Runs `f` on a thread where blocking is fine; nothing observes it.
    fn spawn_blocking_detached<F>(&self, f: F)
    where
        F: FnOnce() + Send + 'static;

    /// Runs `f` on a thread where blocking is fine and returns a handle to
    /// its result. Aborting the handle before `f` starts skips it; once it
    /// runs, it runs to the end.
    fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let (job, handle) = join::blocking_joinable(f);
        self.spawn_blocking_detached(job);
        handle
    }
}

/// Yields once to the executor, letting other tasks run.
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// asyncutils_core::rt::yield_now().await;
/// # });
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// Future returned by [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
