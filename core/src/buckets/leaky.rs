//! A leaky bucket with an adaptive leak rate.
//!
//! A [`LeakyBucket`] fills by the amount of every admitted request and
//! drains ("leaks") continuously at `leak × factor` units per second. A
//! request fits while the level plus its amount stays within the capacity.
//! The drain is computed from the clock on each call: there is no
//! background task.
//!
//! The *adaptive factor* reacts to the fill level, once per admitted
//! request, right after its amount was added:
//!
//! * above the high-water mark (level > ¾ of the capacity) the factor is
//!   halved, down to `min`: a bucket kept nearly full leaks slower, which
//!   throttles harder;
//! * below the low-water mark (level < ¼ of the capacity) the factor is
//!   doubled, up to `max`;
//! * in between it stays.
//!
//! [`set_factor`](LeakyBucket::set_factor) overrides it (clamped to
//! `[min, max]`), [`reset_factor`](LeakyBucket::reset_factor) goes back to
//! the initial one.
//!
//! # Examples
//!
//! ```
//! use core::pin::pin;
//! use core::time::Duration;
//! use asyncutils_core::buckets::{AdaptiveFactor, LeakyBucket, LeakyAcquireError};
//! use asyncutils_core::time::ManualClock;
//!
//! # futures_lite::future::block_on(async {
//! let clock = ManualClock::new();
//! // Holds 10 units, leaks 2 per second; the factor starts at 1 in [0.5, 2].
//! let bucket = LeakyBucket::with_clock(10.0, 2.0, clock.clone())?;
//!
//! // 8 units: above the high-water mark, so the factor halves.
//! assert_eq!(bucket.try_acquire(8), Ok(()));
//! assert_eq!(bucket.factor(), 0.5);
//! // Now it leaks 1 unit per second: 3 more fit after one second.
//! assert_eq!(
//!     bucket.try_acquire(3),
//!     Err(LeakyAcquireError::Full { retry_after: Duration::from_secs(1) })
//! );
//! clock.advance(Duration::from_secs(1));
//! assert_eq!(bucket.level(), 7.0);
//!
//! // Back to the initial factor, then wait for room.
//! bucket.reset_factor();
//! let mut wait = pin!(bucket.wait_for_tokens(6));
//! assert!(futures_lite::future::poll_once(wait.as_mut()).await.is_none());
//! clock.advance(Duration::from_millis(1500)); // 3 units leaked at 2 per second
//! assert_eq!(wait.await, Ok(Duration::from_millis(1500)));
//! # Ok::<(), asyncutils_core::error::InvalidArgument>(())
//! # }).unwrap();
//! ```
//!
//! Implementation notes: one short lock guards the level and the FIFO of
//! waiters (a slab wait queue, so no allocation once it has grown to the
//! peak number of waiters). Levels are integers in nano-units (10⁻⁹ of a
//! unit) and time is integer nanoseconds; the leak rate is an integer
//! number of nano-units per second, and draining carries its sub-nano-unit
//! remainder, so the level never depends on how often it is read. Waiters
//! are granted *lazily and exactly*: whoever next takes the lock (a poll,
//! a `try_acquire`, a getter) first replays the queue, granting each head
//! waiter at the very instant its amount fit, with the drain and factor
//! changes in between. Only the head waiter sleeps on the clock, until its
//! computed instant; the others sleep until they are granted or become the
//! head.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use pin_project_lite::pin_project;

use super::round_positive;
use crate::error::InvalidArgument;
use crate::loom::Mutex;
use crate::time::{Clock, Instant};
use crate::waitlist::{Queue, Slots};

#[cfg(all(test, feature = "std"))]
mod tests;

/// Nano-units per unit, and nanoseconds per second.
const NANO: u64 = 1_000_000_000;

/// Largest level or rate accepted, in nano-units (per second), so sums
/// cannot overflow a `u64`.
const MAX_NANO: f64 = (1u64 << 62) as f64;

/// The adaptive factor's starting value and bounds.
///
/// The default starts at `1.0` and moves within `[0.5, 2.0]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptiveFactor {
    /// The factor a new bucket starts with, and that
    /// [`reset_factor`](LeakyBucket::reset_factor) restores.
    pub initial: f64,
    /// The lowest the factor goes.
    pub min: f64,
    /// The highest the factor goes.
    pub max: f64,
}

impl Default for AdaptiveFactor {
    fn default() -> Self {
        AdaptiveFactor {
            initial: 1.0,
            min: 0.5,
            max: 2.0,
        }
    }
}

/// The bucket's fixed parameters, in integers where the state needs them.
#[derive(Debug, Clone, Copy)]
struct Params {
    /// Capacity in nano-units.
    capacity: u64,
    /// High-water mark: the factor halves when the level exceeds it.
    high: u64,
    /// Low-water mark: the factor doubles when the level is below it.
    low: u64,
    leak: f64,
    factor: AdaptiveFactor,
}

impl Params {
    /// The leak rate at `factor`, nano-units per second (at least 1).
    fn rate(&self, factor: f64) -> u64 {
        (round_positive(self.leak * factor * NANO as f64) as u64).max(1)
    }
}

/// A leaky bucket: holds up to `capacity` units, leaks `leak × factor`
/// units per second, starts empty.
///
/// [`try_acquire`](LeakyBucket::try_acquire) adds an amount if it fits now
/// and otherwise says why not and when it would;
/// [`wait_for_tokens`](LeakyBucket::wait_for_tokens) waits until it fits.
///
/// # Adaptive factor
///
/// Once per admitted request, right after its amount was added: if the
/// level is above ¾ of the capacity (in nano-units, rounded down) the
/// factor is halved, but not below `min`; if it is below ¼ of the capacity
/// it is doubled, but not above `max`; otherwise it stays. Refused
/// requests, reads and the passage of time do not change it.
/// [`set_factor`](LeakyBucket::set_factor) overrides it (clamped),
/// [`reset_factor`](LeakyBucket::reset_factor) restores the initial one.
///
/// # Fairness
///
/// Waiters are served first come, first served (in the order of their
/// first poll): a later small request never overtakes an earlier large
/// one, and `try_acquire` fails while anyone waits. Each waiter is granted
/// at the exact instant its amount fits after the ones ahead of it.
///
/// # Precision
///
/// The level is kept in whole nano-units (10⁻⁹ of a unit) and the leak
/// rate `leak × factor` is rounded to a whole number of nano-units per
/// second. With that rounding everything is exact integer arithmetic:
/// after `dt` nanoseconds the level drops by `⌊(dt·rate + carry) / 10⁹⌋`
/// nano-units, where `carry` is what earlier drains left over, so on a
/// [`ManualClock`](crate::time::ManualClock) results can be asserted to the
/// nanosecond. Halving and doubling the factor are exact in floating point.
pub struct LeakyBucket<C> {
    clock: C,
    params: Params,
    capacity: f64,
    state: Mutex<State>,
}

/// Everything that changes, under the bucket's lock.
struct State {
    /// Nano-units in the bucket.
    level: u64,
    /// Sub-nano-unit part of the drain so far, in 10⁻⁹ nano-units.
    carry: u64,
    /// The instant (nanoseconds) `level` is as of.
    last: u64,
    factor: f64,
    /// Leak rate at `factor`, nano-units per second.
    rate: u64,
    slots: Slots<Waiter>,
    /// Waiting, first come first served.
    queue: Queue,
    /// Granted but not yet polled (so a drop can take the grant back).
    granted: Queue,
}

struct Waiter {
    /// Nano-units wanted.
    amount: u64,
    waker: Option<Waker>,
    /// When it was granted (nanoseconds); it is then in `granted`.
    granted_at: Option<u64>,
    /// Once granted: how much of the level is still due to its amount, the
    /// least the level has been since the grant (capped at `amount`). A
    /// bucket that never saw the grant would be this much lower now.
    share: u64,
}

/// Wakers collected under the lock, woken after it is released; fixed
/// size, so collecting never allocates. The array is only set up once a
/// waker is pushed: most calls wake nobody, and building and dropping it
/// is a visible part of a `try_acquire`.
struct WakeList {
    wakers: Option<[Option<Waker>; WakeList::CAPACITY]>,
    len: usize,
}

impl WakeList {
    const CAPACITY: usize = 8;

    fn new() -> Self {
        WakeList {
            wakers: None,
            len: 0,
        }
    }

    fn room(&self) -> usize {
        Self::CAPACITY - self.len
    }

    fn push(&mut self, waker: Option<Waker>) {
        if let Some(waker) = waker {
            let wakers = self
                .wakers
                .get_or_insert([const { None }; WakeList::CAPACITY]);
            wakers[self.len] = Some(waker);
            self.len += 1;
        }
    }

    fn wake_all(&mut self) {
        if let Some(wakers) = &mut self.wakers {
            for waker in &mut wakers[..self.len] {
                if let Some(waker) = waker.take() {
                    waker.wake();
                }
            }
        }
        self.len = 0;
    }
}

// === impl State ===

impl State {
    /// Drains up to `t` (no-op for instants not after `last`).
    fn drain_to(&mut self, t: u64) {
        if t <= self.last {
            return;
        }
        // The hot path (a short `dt`) stays in `u64`: 128-bit division is
        // a slow library call.
        let (drained, carry) = match (t - self.last)
            .checked_mul(self.rate)
            .and_then(|x| x.checked_add(self.carry))
        {
            Some(total) => (u128::from(total / NANO), total % NANO),
            None => {
                let total =
                    u128::from(t - self.last) * u128::from(self.rate) + u128::from(self.carry);
                // The remainder is below NANO.
                (total / u128::from(NANO), (total % u128::from(NANO)) as u64)
            }
        };
        if drained >= u128::from(self.level) {
            // Empty: a bucket does not store up leakage.
            self.level = 0;
            self.carry = 0;
        } else {
            // Fits: `drained < level`.
            self.level -= drained as u64;
            self.carry = carry;
        }
        self.last = t;
        self.note_level();
    }

    /// Lowers the share of every granted, unpolled waiter to the level:
    /// where the level has been, a bucket without that grant would have
    /// been empty. Called after every decrease of the level; the granted
    /// list is short (its waiters are about to poll).
    fn note_level(&mut self) {
        for i in 0..self.granted.len() {
            if let Some(key) = self.slots.nth(&self.granted, i) {
                let waiter = self.slots.get_mut(key);
                waiter.share = waiter.share.min(self.level);
            }
        }
    }

    /// The earliest instant, not before `last`, at which `amount` fits.
    fn fit_time(&self, amount: u64, p: &Params) -> u64 {
        let need = (self.level + amount).saturating_sub(p.capacity);
        if need == 0 {
            return self.last;
        }
        // `carry < NANO <= need · NANO`: no underflow.
        let dt = match need.checked_mul(NANO) {
            Some(numerator) => (numerator - self.carry).div_ceil(self.rate),
            None => {
                let numerator = u128::from(need) * u128::from(NANO) - u128::from(self.carry);
                u64::try_from(numerator.div_ceil(u128::from(self.rate))).unwrap_or(u64::MAX)
            }
        };
        self.last.saturating_add(dt)
    }

    /// Adds an admitted `amount` and adapts the factor to the new level.
    fn fill(&mut self, amount: u64, p: &Params) {
        self.level += amount;
        let factor = if self.level > p.high {
            (self.factor * 0.5).max(p.factor.min)
        } else if self.level < p.low {
            (self.factor * 2.0).min(p.factor.max)
        } else {
            return;
        };
        // Mostly the factor sits at a bound: keep the rate computed for it.
        if factor != self.factor {
            self.set_factor(factor, p);
        }
    }

    fn set_factor(&mut self, factor: f64, p: &Params) {
        self.factor = factor;
        self.rate = p.rate(factor);
    }

    fn head(&self) -> Option<usize> {
        self.slots.nth(&self.queue, 0)
    }

    /// Grants, in order, every head waiter whose amount fits by `now`, each
    /// at the instant it fits, then drains to `now`. Returns `false` if it
    /// stopped early because `wakes` is full: call again after waking them.
    fn advance(&mut self, now: u64, p: &Params, wakes: &mut WakeList) -> bool {
        while let Some(key) = self.head() {
            let amount = self.slots.get(key).amount;
            let at = self.fit_time(amount, p);
            if at > now {
                break;
            }
            if wakes.room() < 2 {
                return false;
            }
            self.drain_to(at);
            self.fill(amount, p);
            self.slots.unlink(&mut self.queue, key);
            self.slots.push_back(&mut self.granted, key);
            let waiter = self.slots.get_mut(key);
            waiter.granted_at = Some(at);
            waiter.share = amount;
            wakes.push(waiter.waker.take());
            // The new head has to start its own sleep.
            self.wake_head(wakes);
        }
        self.drain_to(now);
        true
    }

    fn wake_head(&mut self, wakes: &mut WakeList) {
        if let Some(head) = self.head() {
            wakes.push(self.slots.get_mut(head).waker.take());
        }
    }
}

// === impl LeakyBucket ===

impl<C: Clock + Default> LeakyBucket<C> {
    /// An empty bucket of `capacity` units leaking `leak` units per second
    /// (times the default [`AdaptiveFactor`]), on the default instance of
    /// clock `C`.
    ///
    /// # Errors
    ///
    /// See [`with_factor`](LeakyBucket::with_factor).
    pub fn new(capacity: f64, leak: f64) -> Result<Self, InvalidArgument> {
        Self::with_factor(capacity, leak, AdaptiveFactor::default(), C::default())
    }
}

impl<C: Clock> LeakyBucket<C> {
    /// An empty bucket of `capacity` units leaking `leak` units per second
    /// (times the default [`AdaptiveFactor`]) on `clock`.
    ///
    /// # Errors
    ///
    /// See [`with_factor`](LeakyBucket::with_factor).
    pub fn with_clock(capacity: f64, leak: f64, clock: C) -> Result<Self, InvalidArgument> {
        Self::with_factor(capacity, leak, AdaptiveFactor::default(), clock)
    }

    /// An empty bucket of `capacity` units leaking `leak × factor` units
    /// per second on `clock`, the factor adapting within `factor`'s bounds.
    ///
    /// Raises the audit event `asyncutils.buckets.LeakyBucket` with
    /// `capacity` and `leak`.
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] naming
    /// * `capacity` if it is NaN, infinite, not positive, below 10⁻⁹ or
    ///   above 4.6·10⁹ units;
    /// * `leak` if it is NaN, infinite, not positive or above 10⁹ units per
    ///   second;
    /// * `factor.min` / `factor.max` if one is NaN, infinite or not
    ///   positive, `factor.max` if it is below `factor.min` or makes the rate
    ///   exceed 4.6·10⁹ units per second, `factor.min` if it makes the rate
    ///   round to zero nano-units per second;
    /// * `factor.initial` if it is NaN or outside `[min, max]`.
    pub fn with_factor(
        capacity: f64,
        leak: f64,
        factor: AdaptiveFactor,
        clock: C,
    ) -> Result<Self, InvalidArgument> {
        let capacity_nano = round_positive(capacity * NANO as f64);
        if !(capacity.is_finite() && capacity > 0.0) || capacity_nano < 1.0 {
            return Err(InvalidArgument::new(
                "capacity",
                "a finite number of units, at least 1e-9",
            ));
        }
        if capacity_nano > MAX_NANO {
            return Err(InvalidArgument::new("capacity", "at most 4.6e9 units"));
        }
        if !(leak.is_finite() && leak > 0.0 && leak <= 1e9) {
            return Err(InvalidArgument::new(
                "leak",
                "a finite number of units per second, greater than zero and at most 1e9",
            ));
        }
        let AdaptiveFactor { initial, min, max } = factor;
        if !(min.is_finite() && min > 0.0) {
            return Err(InvalidArgument::new(
                "factor.min",
                "a finite number greater than zero",
            ));
        }
        if !(max.is_finite() && max > 0.0) {
            return Err(InvalidArgument::new(
                "factor.max",
                "a finite number greater than zero",
            ));
        }
        if max < min {
            return Err(InvalidArgument::new("factor.max", "at least factor.min"));
        }
        if leak * max * NANO as f64 > MAX_NANO {
            return Err(InvalidArgument::new(
                "factor.max",
                "small enough that leak × factor.max is at most 4.6e9 units per second",
            ));
        }
        if round_positive(leak * min * NANO as f64) < 1.0 {
            return Err(InvalidArgument::new(
                "factor.min",
                "large enough that leak × factor.min is at least 1e-9 units per second",
            ));
        }
        if !(min..=max).contains(&initial) {
            return Err(InvalidArgument::new(
                "factor.initial",
                "within [factor.min, factor.max]",
            ));
        }
        crate::emit!(
            "asyncutils.buckets.LeakyBucket",
            capacity = capacity,
            leak = leak
        );
        // In range: checked above.
        let capacity_nano = capacity_nano as u64;
        let params = Params {
            capacity: capacity_nano,
            // Below 2^62: times 3 fits.
            high: capacity_nano * 3 / 4,
            low: capacity_nano / 4,
            leak,
            factor,
        };
        let now = clock.now().as_nanos();
        Ok(LeakyBucket {
            clock,
            capacity,
            state: Mutex::new(State {
                level: 0,
                carry: 0,
                last: now,
                factor: initial,
                rate: params.rate(initial),
                slots: Slots::new(),
                queue: Queue::new(),
                granted: Queue::new(),
            }),
            params,
        })
    }

    /// The capacity, units.
    #[must_use]
    pub fn capacity(&self) -> f64 {
        self.capacity
    }

    /// The base leak rate, units per second (before the factor).
    #[must_use]
    pub fn leak(&self) -> f64 {
        self.params.leak
    }

    /// The factor's initial value and bounds.
    #[must_use]
    pub fn factor_bounds(&self) -> AdaptiveFactor {
        self.params.factor
    }

    /// The clock the bucket reads.
    #[must_use]
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// Runs `f` on the state brought up to now (waiters granted, drained)
    /// and wakes whoever has to be woken once the lock is released.
    fn with_state<R>(&self, f: impl FnOnce(&mut State, u64, &mut WakeList) -> R) -> R {
        self.with_state_then(false, f)
    }

    /// [`with_state`](Self::with_state); if `made_room`, `f` may have
    /// lowered the level, so waiters are granted again afterwards.
    fn with_state_then<R>(
        &self,
        made_room: bool,
        f: impl FnOnce(&mut State, u64, &mut WakeList) -> R,
    ) -> R {
        let mut wakes = WakeList::new();
        let now = self.clock.now().as_nanos();
        let mut state = self.state.lock();
        // Another thread may have read a later instant and locked first.
        let mut now = now.max(state.last);
        while !state.advance(now, &self.params, &mut wakes) {
            drop(state);
            wakes.wake_all();
            state = self.state.lock();
            now = now.max(state.last);
        }
        let result = f(&mut state, now, &mut wakes);
        while made_room && !state.advance(now, &self.params, &mut wakes) {
            drop(state);
            wakes.wake_all();
            state = self.state.lock();
            now = now.max(state.last);
        }
        drop(state);
        wakes.wake_all();
        result
    }

    /// The current factor.
    #[must_use]
    pub fn factor(&self) -> f64 {
        self.with_state(|s, _, _| s.factor)
    }

    /// The current leak rate, `leak × factor` rounded to whole nano-units
    /// per second, in units per second.
    #[must_use]
    pub fn leak_rate(&self) -> f64 {
        self.with_state(|s, _, _| s.rate as f64 / NANO as f64)
    }

    /// Units in the bucket now (to 10⁻⁹).
    #[must_use]
    pub fn level(&self) -> f64 {
        self.with_state(|s, _, _| s.level as f64 / NANO as f64)
    }

    /// Room left now, units (to 10⁻⁹); waiters may be about to take it.
    #[must_use]
    pub fn available(&self) -> f64 {
        self.with_state(|s, _, _| (self.params.capacity - s.level) as f64 / NANO as f64)
    }

    /// Waiters of [`wait_for_tokens`](LeakyBucket::wait_for_tokens) still
    /// queued.
    #[must_use]
    pub fn waiters(&self) -> usize {
        self.with_state(|s, _, _| s.queue.len())
    }

    /// Sets the factor, clamped to `[min, max]`, and returns the value
    /// applied. The level up to now drained at the old rate.
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] naming `factor` if it is NaN.
    pub fn set_factor(&self, factor: f64) -> Result<f64, InvalidArgument> {
        if factor.is_nan() {
            return Err(InvalidArgument::new("factor", "a number (not NaN)"));
        }
        let factor = factor.clamp(self.params.factor.min, self.params.factor.max);
        self.with_state(|s, _, wakes| {
            s.set_factor(factor, &self.params);
            // The head waiter's wake-up instant moved.
            s.wake_head(wakes);
        });
        Ok(factor)
    }

    /// Puts the factor back to its initial value.
    pub fn reset_factor(&self) {
        let initial = self.params.factor.initial;
        self.with_state(|s, _, wakes| {
            s.set_factor(initial, &self.params);
            s.wake_head(wakes);
        });
    }

    /// `amount` in nano-units, if it fits the bucket at all.
    fn amount(&self, amount: u64) -> Result<u64, InvalidArgument> {
        match amount.checked_mul(NANO) {
            Some(nano) if nano <= self.params.capacity => Ok(nano),
            _ => Err(InvalidArgument::new(
                "amount",
                "at most the bucket's capacity",
            )),
        }
    }

    /// Adds `amount` units if they fit now; never waits.
    ///
    /// An amount of zero always succeeds and changes nothing. An admitted
    /// amount adapts the factor (see [`LeakyBucket`]).
    ///
    /// # Errors
    ///
    /// * [`LeakyAcquireError::Full`] with the time after which the same
    ///   request would fit, at the current leak rate, if nothing else is
    ///   added meanwhile;
    /// * [`LeakyAcquireError::Queued`] if waiters are queued: taking room
    ///   now would overtake them;
    /// * [`LeakyAcquireError::Invalid`] naming `amount` if it exceeds the
    ///   capacity (it never could fit).
    pub fn try_acquire(&self, amount: u64) -> Result<(), LeakyAcquireError> {
        if amount == 0 {
            return Ok(());
        }
        let amount = self.amount(amount).map_err(LeakyAcquireError::Invalid)?;
        let now = self.clock.now().as_nanos();
        let mut state = self.state.lock();
        if state.queue.is_empty() && state.granted.is_empty() {
            // Nobody waits, so nobody is owed a grant or a wake-up: drain
            // and decide under the lock, without the waiter machinery.
            let s = &mut *state;
            let now = now.max(s.last);
            s.drain_to(now);
            let at = s.fit_time(amount, &self.params);
            if at > now {
                return Err(LeakyAcquireError::Full {
                    retry_after: Duration::from_nanos(at - now),
                });
            }
            s.fill(amount, &self.params);
            return Ok(());
        }
        drop(state);
        self.with_state(|s, now, _| {
            if !s.queue.is_empty() {
                return Err(LeakyAcquireError::Queued {
                    waiters: s.queue.len(),
                });
            }
            let at = s.fit_time(amount, &self.params);
            if at > now {
                return Err(LeakyAcquireError::Full {
                    retry_after: Duration::from_nanos(at - now),
                });
            }
            s.fill(amount, &self.params);
            Ok(())
        })
    }

    /// Waits until `amount` units fit, adds them, and resolves to how long
    /// it waited (zero if they fit at once).
    ///
    /// The future resolves to an [`InvalidArgument`] naming `amount` at
    /// once if it exceeds the capacity. Zero units are granted at once,
    /// even while others wait.
    pub fn wait_for_tokens(&self, amount: u64) -> WaitForTokens<'_, C> {
        WaitForTokens {
            bucket: self,
            amount,
            stage: Stage::Start,
            deadline: 0,
            sleep: None,
        }
    }

    /// Removes waiter `key` (a `WaitForTokens` dropped before it saw its
    /// grant). A granted amount is taken back out of the bucket.
    fn cancel(&self, key: usize) {
        self.with_state_then(true, |s, _, wakes| {
            let was_head = s.head() == Some(key);
            let queue = if s.slots.get(key).granted_at.is_some() {
                &mut s.granted
            } else {
                &mut s.queue
            };
            let waiter = s.slots.remove(queue, key);
            if waiter.granted_at.is_some() {
                debug_assert!(waiter.share <= s.level);
                s.level = s.level.saturating_sub(waiter.share);
                s.note_level();
            } else if was_head {
                s.wake_head(wakes);
            }
        });
    }
}

impl<C> fmt::Debug for LeakyBucket<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeakyBucket")
            .field("capacity", &self.capacity)
            .field("leak", &self.params.leak)
            .field("factor", &self.params.factor)
            .finish_non_exhaustive()
    }
}

// === impl WaitForTokens ===

#[derive(Debug, Clone, Copy)]
enum Stage {
    Start,
    /// Queued as waiter `key` since `since` (nanoseconds).
    Waiting {
        key: usize,
        since: u64,
    },
    Done(Duration),
}

enum Step {
    Granted(u64),
    Head(u64),
    Behind,
}

pin_project! {
    /// Future returned by [`LeakyBucket::wait_for_tokens`].
    ///
    /// Polling it again after it completed returns the same result and adds
    /// nothing more.
    ///
    /// # Fairness
    ///
    /// Queued at the first poll, behind every earlier waiter.
    ///
    /// # Cancellation
    ///
    /// Dropping it before it completed leaves nothing behind: a queued
    /// waiter leaves the queue (the one behind moves up and is woken), and
    /// one already granted but not yet polled takes its amount back out of
    /// the bucket — only the part not yet leaked away, so the level is what
    /// it would be had the grant never happened (the drain rate aside: a
    /// factor change its grant caused stays).
    #[must_use = "futures do nothing unless polled"]
    pub struct WaitForTokens<'a, C: Clock> {
        bucket: &'a LeakyBucket<C>,
        amount: u64,
        stage: Stage,
        // Deadline of `sleep`, nanoseconds.
        deadline: u64,
        #[pin]
        sleep: Option<C::Sleep>,
    }

    impl<C: Clock> PinnedDrop for WaitForTokens<'_, C> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Stage::Waiting { key, .. } = *this.stage {
                this.bucket.cancel(key);
            }
        }
    }
}

impl<C: Clock> Future for WaitForTokens<'_, C> {
    type Output = Result<Duration, InvalidArgument>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let bucket = *this.bucket;
        let (key, since) = match *this.stage {
            Stage::Done(waited) => return Poll::Ready(Ok(waited)),
            Stage::Waiting { key, since } => (key, since),
            Stage::Start => {
                if *this.amount == 0 {
                    *this.stage = Stage::Done(Duration::ZERO);
                    return Poll::Ready(Ok(Duration::ZERO));
                }
                let amount = bucket.amount(*this.amount)?;
                let queued = bucket.with_state(|s, now, _| {
                    if s.queue.is_empty() && s.fit_time(amount, &bucket.params) <= now {
                        s.fill(amount, &bucket.params);
                        return None;
                    }
                    let key = s.slots.insert(Waiter {
                        amount,
                        waker: None,
                        granted_at: None,
                        share: 0,
                    });
                    s.slots.push_back(&mut s.queue, key);
                    Some((key, now))
                });
                let Some((key, since)) = queued else {
                    *this.stage = Stage::Done(Duration::ZERO);
                    return Poll::Ready(Ok(Duration::ZERO));
                };
                *this.stage = Stage::Waiting { key, since };
                (key, since)
            }
        };
        // Twice at most: once more if the sleep was already over.
        for _ in 0..2 {
            let step = bucket.with_state(|s, _, _| {
                let waiter = s.slots.get_mut(key);
                if let Some(at) = waiter.granted_at {
                    s.slots.remove(&mut s.granted, key);
                    return Step::Granted(at);
                }
                match &waiter.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => waiter.waker = Some(cx.waker().clone()),
                }
                if s.head() == Some(key) {
                    let amount = s.slots.get(key).amount;
                    Step::Head(s.fit_time(amount, &bucket.params))
                } else {
                    Step::Behind
                }
            });
            match step {
                Step::Granted(at) => {
                    let waited = Duration::from_nanos(at.saturating_sub(since));
                    *this.stage = Stage::Done(waited);
                    this.sleep.set(None);
                    return Poll::Ready(Ok(waited));
                }
                Step::Behind => {
                    this.sleep.set(None);
                    return Poll::Pending;
                }
                Step::Head(deadline) => {
                    if this.sleep.is_none() || *this.deadline != deadline {
                        *this.deadline = deadline;
                        this.sleep.set(Some(
                            bucket.clock.sleep_until(Instant::from_nanos(deadline)),
                        ));
                    }
                    let sleep = this
                        .sleep
                        .as_mut()
                        .as_pin_mut()
                        .expect("the head waiter has a sleep");
                    if sleep.poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    this.sleep.set(None);
                }
            }
        }
        // The clock said the deadline passed but the bucket has not seen
        // it yet: try again soon.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl<C: Clock> fmt::Debug for WaitForTokens<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitForTokens")
            .field("amount", &self.amount)
            .field("stage", &self.stage)
            .finish()
    }
}

/// Why [`LeakyBucket::try_acquire`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeakyAcquireError {
    /// Not enough room now; the request would fit after `retry_after` at
    /// the current leak rate, if nothing else is added meanwhile.
    Full {
        /// How long until enough has leaked out.
        retry_after: Duration,
    },
    /// Waiters are queued; the request would overtake them. Use
    /// [`LeakyBucket::wait_for_tokens`] to queue behind them.
    Queued {
        /// How many waiters are ahead.
        waiters: usize,
    },
    /// The request can never fit (more than the capacity).
    Invalid(InvalidArgument),
}

impl fmt::Display for LeakyAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeakyAcquireError::Full { retry_after } => {
                write!(f, "leaky bucket full; retry after {retry_after:?}")
            }
            LeakyAcquireError::Queued { waiters } => {
                write!(f, "{waiters} waiters are queued ahead")
            }
            LeakyAcquireError::Invalid(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl core::error::Error for LeakyAcquireError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            LeakyAcquireError::Invalid(e) => Some(e),
            _ => None,
        }
    }
}
