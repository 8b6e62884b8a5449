//! A sliding-window rate limiter whose permits are held.
//!
//! Implementation notes: one atomic word counts the slots in use (live
//! permits plus release stamps still inside the window) next to a `SLOW`
//! bit that is set while anyone waits. While nobody waits, taking a slot is
//! a compare-and-swap on that word, with no lock and no clock read.
//! Releasing reserves the next index of a ring of release stamps (sized
//! once to the limit, so steady-state use never allocates) with a
//! `fetch_add` and writes the instant there, again without the lock; only
//! a release that sees `SLOW` takes the lock, to wake the first in line.
//! Stamps leave the window lazily: whoever needs room (under the lock)
//! reads the clock and drops the expired stamps at the ring's head. Each
//! ring entry carries the index it was written for, so a reserved but not
//! yet written stamp is never mistaken for an old one. Waiters queue FIFO
//! in a slab (see `waitlist`); only the first in line watches the clock,
//! sleeping until the oldest stamp leaves the window.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use pin_project_lite::pin_project;

use crate::error::InvalidArgument;
use crate::loom::{AtomicU64, AtomicUsize, Mutex, Ordering};
use crate::time::{Clock, Instant};
use crate::waitlist::{Queue, Slots, set_waker};

#[cfg(all(test, feature = "std"))]
mod tests;

/// Set in `RateLimiter::used` while waiters are queued: the lock-free path
/// is closed, so nobody overtakes them.
const SLOW: usize = 1;
/// One slot in `RateLimiter::used` (the count sits above `SLOW`).
const ONE: usize = 2;
/// The largest limit the count can hold.
const MAX_LIMIT: usize = usize::MAX >> 2;

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
    /// Slots in use (`count * ONE`: live permits plus stamps not yet
    /// dropped from the ring), `| SLOW` while anyone waits. Never counts
    /// less than what is really in use.
    used: AtomicUsize,
    /// Index of the next stamp to reserve; only ever incremented.
    tail: AtomicUsize,
    /// Release stamps; entry `i % limit` holds stamp `i`.
    ring: Box<[Stamp]>,
    state: Mutex<State>,
}

/// One release stamp of the ring.
struct Stamp {
    /// The stamp's index plus one once `at` is written (so 0 is "never").
    seq: AtomicUsize,
    /// The release instant, in nanoseconds.
    at: AtomicU64,
}

struct State {
    /// Index of the oldest stamp still counted in `used`.
    head: usize,
    slots: Slots<Option<Waker>>,
    queue: Queue,
}

impl State {
    /// Wakes whoever is now first in line.
    fn wake_first(&mut self) -> Option<Waker> {
        self.slots.take_first_waker(&self.queue)
    }
}

/// The oldest stamp in the window, as the lock holder sees it.
enum Front {
    /// No stamps: every slot in use is a live permit.
    Empty,
    /// A release has reserved the stamp but not written it yet (it is
    /// about now).
    Unwritten,
    /// Released at this instant.
    At(Instant),
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
    /// [`InvalidArgument`] naming `limit` if it is zero or above
    /// `usize::MAX >> 2`, `period` if it is zero.
    pub fn with_clock(limit: usize, period: Duration, clock: C) -> Result<Self, InvalidArgument> {
        if limit == 0 || limit > MAX_LIMIT {
            return Err(InvalidArgument::new(
                "limit",
                "at least 1 and at most usize::MAX >> 2",
            ));
        }
        if period.is_zero() {
            return Err(InvalidArgument::new(
                "period",
                "a duration greater than zero",
            ));
        }
        let ring: Vec<Stamp> = (0..limit)
            .map(|_| Stamp {
                seq: AtomicUsize::new(0),
                at: AtomicU64::new(0),
            })
            .collect();
        Ok(RateLimiter {
            clock,
            limit,
            period,
            used: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
            ring: ring.into_boxed_slice(),
            state: Mutex::new(State {
                head: 0,
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
        let _ = self.prune(&mut state, self.clock.now());
        self.limit - self.used.load(Ordering::Acquire) / ONE
    }

    /// Takes a permit if a slot is free and nobody is waiting.
    ///
    /// # Errors
    ///
    /// [`TryAcquirePermitError::WindowFull`] with the time until a slot
    /// frees up, or [`TryAcquirePermitError::Busy`] if the slots are held by
    /// live permits or others wait.
    pub fn try_acquire(&self) -> Result<RatePermit<'_, C>, TryAcquirePermitError> {
        if self.take(false) {
            return Ok(RatePermit { limiter: self });
        }
        // Waiters queued, or the window looks full: look closer, locked.
        let mut state = self.state.lock();
        if !state.queue.is_empty() {
            return Err(TryAcquirePermitError::Busy);
        }
        let now = self.clock.now();
        // Room appears by dropping expired stamps, or because the queue
        // that closed the lock-free path emptied since the first try.
        if (self.prune(&mut state, now) || self.used.load(Ordering::Acquire) / ONE < self.limit)
            && self.take(false)
        {
            return Ok(RatePermit { limiter: self });
        }
        match self.front(&state) {
            Front::At(oldest) => Err(TryAcquirePermitError::WindowFull {
                retry_after: oldest.saturating_add(self.period) - now,
            }),
            Front::Unwritten => Err(TryAcquirePermitError::WindowFull {
                retry_after: self.period,
            }),
            Front::Empty => Err(TryAcquirePermitError::Busy),
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

    /// Takes a slot if the count allows; with `queued_first`, on behalf of
    /// the first waiter (who may pass `SLOW`), else only while nobody
    /// waits.
    #[inline]
    fn take(&self, queued_first: bool) -> bool {
        let mut used = self.used.load(Ordering::Acquire);
        loop {
            if (used & SLOW != 0 && !queued_first) || used / ONE >= self.limit {
                return false;
            }
            match self.used.compare_exchange_weak(
                used,
                used + ONE,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => used = actual,
            }
        }
    }

    /// Under the lock: drops the stamps that have left the window ending at
    /// `now`, oldest first, stopping at the first one still inside (or not
    /// yet written). Returns whether it dropped any.
    fn prune(&self, state: &mut State, now: Instant) -> bool {
        let tail = self.tail.load(Ordering::Acquire);
        let head = state.head;
        while state.head != tail {
            let stamp = &self.ring[state.head % self.limit];
            if stamp.seq.load(Ordering::Acquire) != state.head.wrapping_add(1) {
                break; // reserved, not yet written
            }
            let at = Instant::from_nanos(stamp.at.load(Ordering::Acquire));
            if at.saturating_add(self.period) > now {
                break;
            }
            state.head = state.head.wrapping_add(1);
            self.used.fetch_sub(ONE, Ordering::AcqRel);
        }
        state.head != head
    }

    /// Under the lock: the oldest stamp still counted.
    fn front(&self, state: &State) -> Front {
        if state.head == self.tail.load(Ordering::Acquire) {
            return Front::Empty;
        }
        let stamp = &self.ring[state.head % self.limit];
        if stamp.seq.load(Ordering::Acquire) == state.head.wrapping_add(1) {
            Front::At(Instant::from_nanos(stamp.at.load(Ordering::Acquire)))
        } else {
            Front::Unwritten
        }
    }

    /// Under the lock: marks the queue empty (the lock-free path reopens)
    /// if it is.
    fn reopen_if_idle(&self, state: &State) {
        if state.queue.is_empty() {
            self.used.fetch_and(!SLOW, Ordering::AcqRel);
        }
    }

    /// A permit is dropped: its slot becomes a stamp of now.
    pub(crate) fn release(&self) {
        let now = self.clock.now();
        let index = self.tail.fetch_add(1, Ordering::AcqRel);
        // The entry is free: the stamp `limit` before this one was dropped
        // from the ring before this permit's slot could be counted.
        let stamp = &self.ring[index % self.limit];
        stamp.at.store(now.as_nanos(), Ordering::Release);
        stamp.seq.store(index.wrapping_add(1), Ordering::Release);
        // A read-modify-write, so that either this release sees the `SLOW`
        // of a waiter that queued, or that waiter's check sees the stamp.
        if self.used.fetch_or(0, Ordering::AcqRel) & SLOW != 0 {
            let waker = self.state.lock().wake_first();
            if let Some(w) = waker {
                w.wake();
            }
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
                let limiter = *this.limiter;
                let waker = {
                    let mut state = limiter.state.lock();
                    let State { slots, queue, .. } = &mut *state;
                    let waker = slots.leave(queue, key);
                    limiter.reopen_if_idle(&state);
                    waker
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
        if this.key.is_none() && limiter.take(false) {
            return Poll::Ready(RatePermit { limiter });
        }
        loop {
            let (granted, next, wait_until) = {
                let mut state = limiter.state.lock();
                // Join the queue first: with `SLOW` set, the lock-free path
                // is closed and the count can only fall (by pruning, which
                // happens under this lock), so the check below is final.
                let key = match *this.key {
                    Some(key) => key,
                    None => {
                        let key = state.slots.insert(None);
                        let State { slots, queue, .. } = &mut *state;
                        slots.push_back(queue, key);
                        limiter.used.fetch_or(SLOW, Ordering::AcqRel);
                        *this.key = Some(key);
                        key
                    }
                };
                let first = state.queue.front() == Some(key);
                let mut room = first && limiter.take(true);
                if first && !room {
                    // Old stamps matter (and the clock is read) only when
                    // the first in line finds no room.
                    room = limiter.prune(&mut state, limiter.clock.now()) && limiter.take(true);
                }
                if room {
                    let State { slots, queue, .. } = &mut *state;
                    slots.remove(queue, key);
                    *this.key = None;
                    limiter.reopen_if_idle(&state);
                    // The next in line either takes a free slot or starts
                    // watching the clock.
                    (true, state.wake_first(), None)
                } else {
                    set_waker(state.slots.get_mut(key), cx.waker());
                    // Only the first in line watches the clock, and only
                    // when a written stamp (not a live permit, nor a
                    // release still writing, which wakes us) is in the way.
                    let until = match limiter.front(&state) {
                        Front::At(oldest) if first => Some(oldest.saturating_add(limiter.period)),
                        _ => None,
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
