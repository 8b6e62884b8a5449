//! Helpers for the unit tests: a waker that counts its wake-ups, so tests
//! can assert exactly who was woken, and one-shot polling.

use alloc::sync::Arc;
use alloc::task::Wake;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};

#[derive(Default)]
pub(crate) struct CountingWaker {
    wakes: AtomicUsize,
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

/// A waker and its wake counter.
pub(crate) struct Probe {
    counter: Arc<CountingWaker>,
    waker: Waker,
}

impl Probe {
    pub(crate) fn new() -> Self {
        let counter = Arc::new(CountingWaker::default());
        let waker = Waker::from(counter.clone());
        Probe { counter, waker }
    }

    /// A waker counted by this probe.
    pub(crate) fn waker(&self) -> Waker {
        self.waker.clone()
    }

    /// Wake-ups since the last call.
    pub(crate) fn take_wakes(&self) -> usize {
        self.counter.wakes.swap(0, Ordering::SeqCst)
    }

    pub(crate) fn poll<F: Future + Unpin>(&self, fut: &mut F) -> Poll<F::Output> {
        Pin::new(fut).poll(&mut Context::from_waker(&self.waker))
    }

    pub(crate) fn poll_pinned<F: Future>(&self, fut: Pin<&mut F>) -> Poll<F::Output> {
        fut.poll(&mut Context::from_waker(&self.waker))
    }
}
