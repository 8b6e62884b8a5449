//! Helpers shared by the fuzz targets.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Wake, Waker};

/// A waker that only records that it was woken.
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Two recording wakers for one future under test.
///
/// The targets poll with these rather than a no-op waker so that a lost
/// wake-up is a failure, not a silent hang. Polling alternately with either
/// checks that a future replaces its stored waker when re-polled with a new
/// one: a wake must reach the waker of the *latest* poll.
pub struct FlagWakers {
    flags: [Arc<Flag>; 2],
    wakers: [Waker; 2],
    current: usize,
}

impl Default for FlagWakers {
    fn default() -> Self {
        Self::new()
    }
}

impl FlagWakers {
    /// Two fresh, unwoken wakers; the first counts as current.
    pub fn new() -> Self {
        let flags = [
            Arc::new(Flag(AtomicBool::new(false))),
            Arc::new(Flag(AtomicBool::new(false))),
        ];
        let wakers = [Waker::from(flags[0].clone()), Waker::from(flags[1].clone())];
        FlagWakers {
            flags,
            wakers,
            current: 0,
        }
    }

    /// Whether either waker was woken since the last poll.
    pub fn any_woken(&self) -> bool {
        self.flags.iter().any(|f| f.0.load(Ordering::SeqCst))
    }

    /// Whether the waker of the latest poll was woken since that poll.
    pub fn current_woken(&self) -> bool {
        self.flags[self.current].0.load(Ordering::SeqCst)
    }

    /// Whether the latest poll used the second waker.
    pub fn current_is_alt(&self) -> bool {
        self.current == 1
    }

    /// Clears both flags, as an executor does before it polls, and returns
    /// the waker to poll with (the second one if `alt`).
    pub fn for_poll(&mut self, alt: bool) -> &Waker {
        for f in &self.flags {
            f.0.store(false, Ordering::SeqCst);
        }
        self.current = usize::from(alt);
        &self.wakers[self.current]
    }
}
