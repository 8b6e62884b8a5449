use alloc::collections::BTreeMap;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use super::{Clock, Instant};
use crate::loom::{Arc, Mutex};

/// Virtual time: a clock that moves only when told to.
///
/// Starts at [`Instant::ZERO`]. [`advance`](ManualClock::advance) moves it
/// forward and wakes every sleeper whose deadline has been reached, earliest
/// deadline first (ties in the order they went to sleep). No executor is
/// needed: the clock is plain shared state, usable from
/// `futures_lite::future::block_on`, from any runtime, or by polling futures
/// by hand. [`crate::rt::VirtualRuntime`] builds on it to run whole programs
/// in virtual time.
///
/// Clones share the same time.
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use asyncutils_core::time::{Clock, Instant, ManualClock};
///
/// let clock = ManualClock::new();
/// let mut nap = Box::pin(clock.sleep(Duration::from_millis(5)));
/// assert_eq!(clock.next_deadline(), None); // not polled yet, not registered
///
/// let waker = futures_lite::future::block_on(futures_lite::future::poll_fn(|cx| {
///     std::task::Poll::Ready(cx.waker().clone())
/// }));
/// let mut cx = std::task::Context::from_waker(&waker);
/// assert!(nap.as_mut().poll(&mut cx).is_pending());
/// assert_eq!(clock.next_deadline(), Some(Instant::from_nanos(5_000_000)));
///
/// clock.advance(Duration::from_millis(5));
/// assert!(nap.as_mut().poll(&mut cx).is_ready());
/// # use std::future::Future;
/// ```
#[derive(Clone)]
pub struct ManualClock {
    shared: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    now: Instant,
    next_id: u64,
    // Keyed by (deadline, registration order): iteration is wake order.
    sleepers: BTreeMap<(Instant, u64), Waker>,
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl ManualClock {
    /// A clock at [`Instant::ZERO`] with no sleepers.
    #[must_use]
    pub fn new() -> Self {
        Self::starting_at(Instant::ZERO)
    }

    /// A clock that starts at `now`.
    #[must_use]
    pub fn starting_at(now: Instant) -> Self {
        Self {
            shared: Arc::new(Mutex::new(State {
                now,
                ..State::default()
            })),
        }
    }

    /// The current virtual time.
    #[must_use]
    pub fn now(&self) -> Instant {
        self.shared.lock().now
    }

    /// Moves time forward by `duration` and wakes, in deadline order, every
    /// sleeper due by then. Saturates at [`Instant::MAX`].
    pub fn advance(&self, duration: Duration) {
        let target = self.now().saturating_add(duration);
        self.advance_to(target);
    }

    /// Moves time forward to `target` (no-op if it is not later than now)
    /// and wakes, in deadline order, every sleeper due by then.
    pub fn advance_to(&self, target: Instant) {
        let due = {
            let mut state = self.shared.lock();
            if target > state.now {
                state.now = target;
            }
            let now = state.now;
            // Split at the first key past `now`; what stays in front is due.
            let later = state.sleepers.split_off(&(now, u64::MAX));
            core::mem::replace(&mut state.sleepers, later)
        };
        // Wake after unlocking: a waker may poll inline and re-enter.
        for waker in due.into_values() {
            waker.wake();
        }
    }

    /// Jumps to the earliest pending deadline and wakes the sleepers due
    /// then. Returns `false` (and does nothing) if nobody is sleeping.
    pub fn advance_to_next(&self) -> bool {
        match self.next_deadline() {
            Some(deadline) => {
                self.advance_to(deadline);
                true
            }
            None => false,
        }
    }

    /// The earliest deadline of a registered (polled, not yet woken) sleeper.
    #[must_use]
    pub fn next_deadline(&self) -> Option<Instant> {
        self.shared
            .lock()
            .sleepers
            .keys()
            .next()
            .map(|&(deadline, _)| deadline)
    }

    /// How many sleepers are registered and not yet woken.
    #[must_use]
    pub fn sleepers(&self) -> usize {
        self.shared.lock().sleepers.len()
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("ManualClock")
            .field("now", &state.now)
            .field("sleepers", &state.sleepers.len())
            .finish()
    }
}

impl Clock for ManualClock {
    type Sleep = ManualSleep;

    fn now(&self) -> Instant {
        ManualClock::now(self)
    }

    fn sleep_until(&self, deadline: Instant) -> ManualSleep {
        ManualSleep {
            clock: self.clone(),
            deadline,
            key: None,
        }
    }
}

/// Future returned by [`ManualClock`]'s [`Clock::sleep_until`].
///
/// # Cancellation
///
/// Dropping it removes its registration; nothing else is affected.
#[must_use = "futures do nothing unless polled"]
pub struct ManualSleep {
    clock: ManualClock,
    deadline: Instant,
    key: Option<(Instant, u64)>,
}

impl ManualSleep {
    /// The instant this sleep completes at.
    #[must_use]
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

impl fmt::Debug for ManualSleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualSleep")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl Future for ManualSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let mut state = this.clock.shared.lock();
        if state.now >= this.deadline {
            if let Some(key) = this.key.take() {
                state.sleepers.remove(&key);
            }
            return Poll::Ready(());
        }
        match this.key {
            Some(key) => match state.sleepers.get_mut(&key) {
                Some(waker) => waker.clone_from(cx.waker()),
                // Woken by `advance_to` but not yet due (cannot happen with a
                // monotonic clock, but re-register rather than hang).
                None => {
                    state.sleepers.insert(key, cx.waker().clone());
                }
            },
            None => {
                let key = (this.deadline, state.next_id);
                state.next_id += 1;
                state.sleepers.insert(key, cx.waker().clone());
                this.key = Some(key);
            }
        }
        Poll::Pending
    }
}

impl Drop for ManualSleep {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.clock.shared.lock().sleepers.remove(&key);
        }
    }
}
