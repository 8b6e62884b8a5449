//! Polling a future by hand, with a waker that counts how often it was
//! woken — for pending/ready assertions and lost-wakeup checks.

use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};
use std::sync::Arc;
use std::task::Wake;

#[derive(Debug, Default)]
struct WakeCounter(AtomicUsize);

impl Wake for WakeCounter {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A future polled by hand with its own counting waker.
///
/// ```
/// use asyncutils_tests::Manual;
///
/// let mut nap = Manual::new(asyncutils_core::rt::yield_now());
/// assert!(nap.poll().is_pending());
/// assert_eq!(nap.wakes(), 1); // yield_now wakes itself at once
/// assert!(nap.poll().is_ready());
/// ```
pub struct Manual<F: Future> {
    future: Pin<Box<F>>,
    counter: Arc<WakeCounter>,
    waker: Waker,
    done: bool,
}

impl<F: Future> Manual<F> {
    /// Wraps `future`; nothing is polled yet.
    pub fn new(future: F) -> Self {
        let counter = Arc::new(WakeCounter::default());
        Manual {
            future: Box::pin(future),
            waker: Waker::from(counter.clone()),
            counter,
            done: false,
        }
    }

    /// Polls once.
    ///
    /// # Panics
    ///
    /// If the future already completed.
    #[track_caller]
    pub fn poll(&mut self) -> Poll<F::Output> {
        assert!(!self.done, "polled a Manual future after it completed");
        let polled = self
            .future
            .as_mut()
            .poll(&mut Context::from_waker(&self.waker));
        self.done = polled.is_ready();
        polled
    }

    /// Polls once and returns the output.
    ///
    /// # Panics
    ///
    /// If the future is still pending.
    #[track_caller]
    pub fn ready(&mut self) -> F::Output {
        match self.poll() {
            Poll::Ready(out) => out,
            Poll::Pending => panic!("expected the future to be ready"),
        }
    }

    /// Polls once and asserts the future is still pending.
    ///
    /// # Panics
    ///
    /// If the future completed.
    #[track_caller]
    pub fn pending(&mut self) {
        assert!(
            self.poll().is_pending(),
            "expected the future to be pending"
        );
    }

    /// Whether a poll returned `Ready`.
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// How many times the waker handed to the future was woken.
    #[must_use]
    pub fn wakes(&self) -> usize {
        self.counter.0.load(Ordering::SeqCst)
    }
}

impl<F: Future> core::fmt::Debug for Manual<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Manual")
            .field("done", &self.done)
            .field("wakes", &self.wakes())
            .finish_non_exhaustive()
    }
}
