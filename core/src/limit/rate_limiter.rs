//! A sliding-window rate limiter whose permits are held.
//!
//! Implementation notes: the window is a ring of release instants, sized
//! once to the limit, so steady-state use never allocates. A permit counts
//! against the limit from the moment it is granted (`in_flight`) and, once
//! dropped, for one more `period` from its release (its stamp). Waiters
//! queue FIFO in a slab (see `waitlist`); only the first in line watches the
//! clock, sleeping until the oldest stamp leaves the window, and every
//! release or grant wakes the new first in line.

use alloc::collections::VecDeque;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use pin_project_lite::pin_project;

use crate::error::InvalidArgument;
use crate::loom::Mutex;
use crate::time::{Clock, Instant};
use crate::waitlist::{Queue, Slots, set_waker};

#[cfg(all(test, feature = "std"))]
mod tests;

/// At most `limit` entries per sliding `period`, as permits you hold.
///
/// An entry is a [`RatePermit`]: it counts against the limit while held and
/// for `period` after it is dropped. So `limit` operations may run at once,
/// and no more than `limit` may finish within any window of `period` — a
/// slow operation cannot be used to burst past the limit.
///
/// # Fairness
///
/// Waiters are served first come, first served; [`try_acquire`] never
/// takes a slot while someone waits.
///
/// [`try_acquire`]: RateLimiter::try_acquire
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use asyncutils_core::limit::RateLimiter;
/// use asyncutils_core::rt::VirtualRuntime;
///
/// let rt = VirtualRuntime::new();
/// // Two entries per second.
/// let limiter = RateLimiter::with_clock(2, Duration::from_secs(1), rt.clone())?;
/// let finished = rt.block_on(async {
///     for _ in 0..5 {
///         let permit = limiter.acquire().await;
///         drop(permit); // released at once: stamped now
///     }
///     rt.clock().now()
/// });
/// // Entries at 0 s, 0 s, 1 s, 1 s, 2 s.
/// assert_eq!(finished.as_nanos(), 2_000_000_000);
/// # Ok::<(), asyncutils_core::error::InvalidArgument>(())
/// ```
pub struct RateLimiter<C> {
    clock: C,
    limit: usize,
    period: Duration,
    state: Mutex<State>,
}

struct State {
    /// Release instants still inside the window, oldest first.
    stamps: VecDeque<Instant>,
    /// Permits granted and not yet dropped.
    in_flight: usize,
    slots: Slots<Option<Waker>>,
    queue: Queue,
}

impl State {
    /// Forgets stamps that have left the window ending at `now`.
    fn prune(&mut self, now: Instant, period: Duration) {
        while self
            .stamps
            .front()
            .is_some_and(|&s| s.saturating_add(period) <= now)
        {
            self.stamps.pop_front();
        }
    }

    fn used(&self) -> usize {
        self.stamps.len() + self.in_flight
    }

    /// Wakes whoever is now first in line.
    fn wake_first(&mut self) -> Option<Waker> {
        self.slots.take_first_waker(&self.queue)
    }
}

/// Why [`RateLimiter::try_acquire`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryAcquirePermitError {
    /// The window is full; a slot frees up after `retry_after` unless
    /// others take it first.
    WindowFull {
        /// Time until the oldest entry leaves the window.
        retry_after: Duration,
    },
    /// Every slot is held by a permit not yet dropped (or waiters are
    /// queued); no time can be predicted.
    Busy,
}

impl fmt::Display for TryAcquirePermitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquirePermitError::WindowFull { retry_after } => {
                write!(f, "rate limit reached; a slot frees up in {retry_after:?}")
            }
            TryAcquirePermitError::Busy => f.write_str("every slot is in use or awaited"),
        }
    }
}

impl core::error::Error for TryAcquirePermitError {}

impl<C: Clock + Default> RateLimiter<C> {
    /// At most `limit` entries per `period` on the default instance of
    /// clock `C`.
    ///
    /// # Errors
    ///
    /// See [`with_clock`](RateLimiter::with_clock).
    pub fn new(limit: usize, period: Duration) -> Result<Self, InvalidArgument> {
        Self::with_clock(limit, period, C::default())
    }
}

impl<C: Clock> RateLimiter<C> {
    /// At most `limit` entries per `period` on `clock`.
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] naming `limit` if it is zero, `period` if it is
    /// zero.
    pub fn with_clock(limit: usize, period: Duration, clock: C) -> Result<Self, InvalidArgument> {
        if limit == 0 {
            return Err(InvalidArgument::new("limit", "at least 1"));
        }
        if period.is_zero() {
            return Err(InvalidArgument::new(
                "period",
                "a duration greater than zero",
            ));
        }
        Ok(RateLimiter {
            clock,
            limit,
            period,
            state: Mutex::new(State {
                stamps: VecDeque::with_capacity(limit),
                in_flight: 0,
                slots: Slots::new(),
                queue: Queue::new(),
            }),
        })
    }

    /// The most entries per period.
    #[must_use]
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The length of the sliding window.
    #[must_use]
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Slots free right now (ignoring queued waiters).
    #[must_use]
    pub fn available(&self) -> usize {
        let mut state = self.state.lock();
        state.prune(self.clock.now(), self.period);
        self.limit - state.used()
    }

    /// Takes a permit if a slot is free and nobody is waiting.
    ///
    /// # Errors
    ///
    /// [`TryAcquirePermitError::WindowFull`] with the time until a slot
    /// frees up, or [`TryAcquirePermitError::Busy`] if the slots are held by
    /// live permits or others wait.
    pub fn try_acquire(&self) -> Result<RatePermit<'_, C>, TryAcquirePermitError> {
        let mut state = self.state.lock();
        if !state.queue.is_empty() {
            return Err(TryAcquirePermitError::Busy);
        }
        // Room without forgetting old stamps needs no clock read.
        if state.used() < self.limit {
            state.in_flight += 1;
            return Ok(RatePermit { limiter: self });
        }
        let now = self.clock.now();
        state.prune(now, self.period);
        if state.used() < self.limit {
            state.in_flight += 1;
            return Ok(RatePermit { limiter: self });
        }
        match state.stamps.front() {
            Some(&oldest) => Err(TryAcquirePermitError::WindowFull {
                retry_after: oldest.saturating_add(self.period) - now,
            }),
            None => Err(TryAcquirePermitError::Busy),
        }
    }

    /// Waits for a slot and takes a permit.
    pub fn acquire(&self) -> AcquirePermit<'_, C> {
        AcquirePermit {
            limiter: self,
            key: None,
            armed_for: None,
            sleep: None,
        }
    }

    fn release(&self) {
        let waker = {
            let mut state = self.state.lock();
            state.in_flight -= 1;
            // Room is guaranteed: stamps + in_flight never exceed the limit,
            // so old stamps are forgotten only when a caller needs room.
            state.stamps.push_back(self.clock.now());
            state.wake_first()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<C> fmt::Debug for RateLimiter<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("limit", &self.limit)
            .field("period", &self.period)
            .finish_non_exhaustive()
    }
}

/// A slot of a [`RateLimiter`], held until dropped; the drop stamps the
/// window.
#[must_use = "the slot is released (and stamped) as soon as the permit is dropped"]
#[clippy::has_significant_drop]
pub struct RatePermit<'a, C: Clock> {
    limiter: &'a RateLimiter<C>,
}

impl<C: Clock> Drop for RatePermit<'_, C> {
    fn drop(&mut self) {
        self.limiter.release();
    }
}

impl<C: Clock> fmt::Debug for RatePermit<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RatePermit").finish_non_exhaustive()
    }
}

pin_project! {
    /// Future returned by [`RateLimiter::acquire`].
    ///
    /// # Cancellation
    ///
    /// A slot is only taken in the poll that returns the permit, so
    /// dropping the future takes nothing; it leaves the queue, and if it
    /// was first in line the next waiter is woken.
    #[must_use = "futures do nothing unless polled"]
    pub struct AcquirePermit<'a, C: Clock> {
        limiter: &'a RateLimiter<C>,
        key: Option<usize>,
        armed_for: Option<Instant>,
        #[pin]
        sleep: Option<C::Sleep>,
    }

    impl<C: Clock> PinnedDrop for AcquirePermit<'_, C> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(key) = this.key.take() {
                let waker = {
                    let mut state = this.limiter.state.lock();
                    let State { slots, queue, .. } = &mut *state;
                    slots.leave(queue, key)
                };
                if let Some(w) = waker {
                    w.wake();
                }
            }
        }
    }
}

impl<'a, C: Clock> Future for AcquirePermit<'a, C> {
    type Output = RatePermit<'a, C>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let limiter = *this.limiter;
        loop {
            let (granted, next, wait_until) = {
                let mut state = limiter.state.lock();
                let first = match *this.key {
                    None => state.queue.is_empty(),
                    Some(key) => state.queue.front() == Some(key),
                };
                // Old stamps matter (and the clock is read) only when the
                // first in line finds no room; the sleep below then starts
                // from a pruned window.
                if first && state.used() >= limiter.limit {
                    state.prune(limiter.clock.now(), limiter.period);
                }
                if first && state.used() < limiter.limit {
                    state.in_flight += 1;
                    let next = match this.key.take() {
                        Some(key) => {
                            let State { slots, queue, .. } = &mut *state;
                            slots.remove(queue, key);
                            // The next in line either takes a free slot or
                            // starts watching the clock.
                            state.wake_first()
                        }
                        None => None,
                    };
                    (true, next, None)
                } else {
                    let key = match *this.key {
                        Some(key) => key,
                        None => {
                            let key = state.slots.insert(None);
                            let State { slots, queue, .. } = &mut *state;
                            slots.push_back(queue, key);
                            *this.key = Some(key);
                            key
                        }
                    };
                    set_waker(state.slots.get_mut(key), cx.waker());
                    // (A newcomer queued onto an empty queue is now its
                    // front, so `first` still holds.) Only the first in
                    // line watches the clock, and only
                    // when a stamp (not a live permit) is in the way.
                    let until = if first && state.in_flight < limiter.limit {
                        state
                            .stamps
                            .front()
                            .map(|&s| s.saturating_add(limiter.period))
                    } else {
                        None
                    };
                    (false, None, until)
                }
            };
            if granted {
                this.sleep.set(None);
                if let Some(w) = next {
                    w.wake();
                }
                return Poll::Ready(RatePermit { limiter });
            }
            let Some(until) = wait_until else {
                this.sleep.set(None);
                return Poll::Pending; // a release wakes us
            };
            if this.sleep.is_none() || *this.armed_for != Some(until) {
                this.sleep.set(Some(limiter.clock.sleep_until(until)));
                *this.armed_for = Some(until);
            }
            let sleep = this.sleep.as_mut().as_pin_mut().expect("armed above");
            if sleep.poll(cx).is_pending() {
                return Poll::Pending;
            }
            // The oldest stamp has left the window: try again.
        }
    }
}

impl<C: Clock> fmt::Debug for AcquirePermit<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcquirePermit")
            .field("queued", &self.key.is_some())
            .finish_non_exhaustive()
    }
}
