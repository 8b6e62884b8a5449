//! A token bucket as a generic cell rate algorithm (GCRA).
//!
//! Implementation notes: instead of a token count the bucket stores one
//! number, the *theoretical arrival time* `tat`: the instant at which the
//! bucket would be full again. Taking `n` tokens at `now` moves it to
//! `max(tat, now) + n·interval`, and is allowed when that is at most `tau =
//! capacity·interval` ahead of `now`. One `AtomicU64` and a compare-exchange
//! loop, no lock. An awaiting `acquire` *reserves*: it moves `tat` even past
//! `now + tau` and sleeps until its tokens have dripped in. Reservations are
//! made in arrival order, so waiters are served first come, first served,
//! and a `try_acquire` cannot jump the queue because the reserved debt
//! leaves it no room. A cancelled reservation hands its tokens back by
//! moving `tat` back by its cost.
//!
//! Time is integer nanoseconds: the rate is rounded to a whole number of
//! nanoseconds per token, which makes every computation exact.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use pin_project_lite::pin_project;

use super::round_positive;
use crate::error::InvalidArgument;
use crate::loom::{AtomicU64, Mutex, Ordering};
use crate::time::{Clock, Instant};

#[cfg(all(test, feature = "std"))]
mod tests;

/// Largest `tau` accepted, so `tat` arithmetic cannot overflow in practice
/// (2^62 ns is about 146 years).
const MAX_TAU: f64 = (1u64 << 62) as f64;

/// A token bucket: holds up to `capacity` tokens, refills at `rate` tokens
/// per second, starts full.
///
/// [`try_acquire`](TokenBucket::try_acquire) takes tokens if they are there
/// and otherwise says how long until they will be;
/// [`acquire`](TokenBucket::acquire) waits for them. `try_acquire` is
/// lock-free, a compare-exchange on one atomic; an `acquire` that has to
/// wait also takes a short lock to record its reservation.
///
/// # Fairness
///
/// Waiters are served in the order their `acquire` was first polled, each
/// at the earliest instant its tokens are available. `try_acquire` never
/// takes tokens that a waiter has reserved.
///
/// # Precision
///
/// The rate is rounded to a whole number of nanoseconds per token (a rate
/// of 3 per second refills one token every 333 333 333 ns). With that
/// rounding, all arithmetic is exact: on a [`ManualClock`](crate::time::ManualClock)
/// results can be asserted to the nanosecond.
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use asyncutils_core::buckets::{TokenBucket, TryAcquireError};
/// use asyncutils_core::time::ManualClock;
///
/// let clock = ManualClock::new();
/// // 10 tokens per second, bursts of up to 5.
/// let bucket = TokenBucket::with_clock(10.0, 5.0, clock.clone())?;
///
/// assert!(bucket.try_acquire(5).is_ok());
/// let Err(TryAcquireError::Insufficient { retry_after }) = bucket.try_acquire(1) else {
///     unreachable!()
/// };
/// assert_eq!(retry_after, Duration::from_millis(100));
///
/// clock.advance(retry_after);
/// assert!(bucket.try_acquire(1).is_ok());
///
/// // Asking for more than the bucket can ever hold is an error, not a wait.
/// assert!(matches!(bucket.try_acquire(6), Err(TryAcquireError::Invalid(_))));
/// # Ok::<(), asyncutils_core::error::InvalidArgument>(())
/// ```
pub struct TokenBucket<C> {
    clock: C,
    /// Theoretical arrival time, nanoseconds on `clock`.
    pub(crate) tat: AtomicU64,
    /// End of the newest reservation. Reservations and refunds take this
    /// lock (they are the slow path: the caller is about to sleep), so
    /// "no reservation since mine" is exact; `try_acquire` never takes it.
    newest_reservation: Mutex<u64>,
    /// Nanoseconds per token.
    interval: u64,
    /// Burst tolerance: `capacity · interval` nanoseconds.
    tau: u64,
    rate: f64,
    capacity: f64,
}

// === impl TokenBucket ===

impl<C: Clock + Default> TokenBucket<C> {
    /// A full bucket of `capacity` tokens refilling at `rate` tokens per
    /// second, on the default instance of clock `C`.
    ///
    /// # Errors
    ///
    /// See [`with_clock`](TokenBucket::with_clock).
    pub fn new(rate: f64, capacity: f64) -> Result<Self, InvalidArgument> {
        Self::with_clock(rate, capacity, C::default())
    }
}

impl<C: Clock> TokenBucket<C> {
    /// A full bucket of `capacity` tokens refilling at `rate` tokens per
    /// second on `clock`.
    ///
    /// Raises the audit event `asyncutils.buckets.TokenBucket` with `rate`
    /// and `capacity`.
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] naming `rate` if it is NaN, infinite, not
    /// positive, above 10⁹ per second (finer than a nanosecond per token);
    /// naming `capacity` if it is NaN, not positive, or so large that
    /// refilling it would take over a century.
    pub fn with_clock(rate: f64, capacity: f64, clock: C) -> Result<Self, InvalidArgument> {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(InvalidArgument::new(
                "rate",
                "a finite number of tokens per second greater than zero",
            ));
        }
        let interval = round_positive(1e9 / rate);
        if rate > 1e9 {
            return Err(InvalidArgument::new(
                "rate",
                "at most 1e9 tokens per second",
            ));
        }
        if !(capacity.is_finite() && capacity > 0.0) {
            return Err(InvalidArgument::new(
                "capacity",
                "a finite number of tokens greater than zero",
            ));
        }
        let tau = round_positive(capacity * interval);
        if tau > MAX_TAU {
            return Err(InvalidArgument::new(
                "capacity",
                "small enough to refill (capacity / rate) within 146 years",
            ));
        }
        crate::emit!(
            "asyncutils.buckets.TokenBucket",
            rate = rate,
            capacity = capacity
        );
        let now = clock.now().as_nanos();
        Ok(TokenBucket {
            clock,
            tat: AtomicU64::new(now),
            newest_reservation: Mutex::new(0),
            // Both in range: checked above.
            interval: interval as u64,
            tau: tau as u64,
            rate,
            capacity,
        })
    }

    /// The refill rate, tokens per second.
    #[must_use]
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The capacity, tokens.
    #[must_use]
    pub fn capacity(&self) -> f64 {
        self.capacity
    }

    /// The clock the bucket reads.
    #[must_use]
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// The time one token takes to drip in (the rate, rounded to whole
    /// nanoseconds).
    #[must_use]
    pub fn refill_interval(&self) -> Duration {
        Duration::from_nanos(self.interval)
    }

    /// Tokens available now, fractional; `0.0` while waiters hold
    /// reservations.
    #[must_use]
    pub fn available(&self) -> f64 {
        let now = self.clock.now().as_nanos();
        let tat = self.tat.load(Ordering::Acquire).max(now);
        let room = (now + self.tau).saturating_sub(tat);
        room as f64 / self.interval as f64
    }

    /// Cost of `n` tokens in nanoseconds, if `n` fits the bucket.
    fn cost(&self, n: u64) -> Result<u64, InvalidArgument> {
        match n.checked_mul(self.interval) {
            Some(cost) if cost <= self.tau => Ok(cost),
            _ => Err(InvalidArgument::new("n", "at most the bucket's capacity")),
        }
    }

    /// Takes `n` tokens if they are available now.
    ///
    /// Taking zero tokens always succeeds, even while others wait.
    ///
    /// # Errors
    ///
    /// * [`TryAcquireError::Insufficient`] with the time after which the
    ///   same request would succeed, if no new reservations arrive;
    /// * [`TryAcquireError::Invalid`] if `n` exceeds the capacity (it never
    ///   could succeed).
    pub fn try_acquire(&self, n: u64) -> Result<(), TryAcquireError> {
        if n == 0 {
            return Ok(());
        }
        let cost = self.cost(n).map_err(TryAcquireError::Invalid)?;
        let now = self.clock.now().as_nanos();
        let limit = now.saturating_add(self.tau);
        self.tat
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| {
                let next = tat.max(now).saturating_add(cost);
                (next <= limit).then_some(next)
            })
            .map(drop)
            .map_err(|tat| TryAcquireError::Insufficient {
                retry_after: Duration::from_nanos(tat.max(now).saturating_add(cost) - limit),
            })
    }

    /// Waits until `n` tokens are available and takes them. Zero tokens
    /// are granted at once, even while others wait.
    ///
    /// The future resolves to an [`InvalidArgument`] error at once if `n`
    /// exceeds the capacity.
    pub fn acquire(&self, n: u64) -> Acquire<'_, C> {
        Acquire {
            bucket: self,
            n,
            reserved: None,
            done: false,
            sleep: None,
        }
    }

    /// Reserves `cost` at the back of the queue. The tokens are in at
    /// `end - tau`.
    pub(crate) fn reserve(&self, cost: u64) -> Reservation {
        let mut newest = self.newest_reservation.lock();
        let now = self.clock.now().as_nanos();
        let next = |tat: u64| tat.max(now).saturating_add(cost);
        let previous = self
            .tat
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| Some(next(tat)))
            // Infallible: the closure always returns `Some`.
            .unwrap_or_else(|previous| previous);
        let end = next(previous);
        *newest = end;
        Reservation { cost, end }
    }

    /// Gives back a reservation of `cost` ending at `end` that was never
    /// used: the part still ahead of `now` (the part time has passed was
    /// absorbed by `max(tat, now)` — the bucket would have refilled anyway).
    ///
    /// Only if no reservation was made after this one: a later waiter's
    /// wake-up time was computed on top of it, and moving `tat` back beneath
    /// that waiter would let it and a newcomer take the same tokens. Takes
    /// made since are fine: they were granted with less room than the
    /// refund leaves.
    pub(crate) fn refund(&self, reservation: Reservation) {
        let Reservation { cost, end } = reservation;
        let newest = self.newest_reservation.lock();
        // Ends of live reservations are distinct, so this is "mine is the
        // newest". (After the newest is refunded, older ones stay
        // unrefundable: that errs on the side of never over-granting.)
        if *newest != end {
            return;
        }
        let now = self.clock.now().as_nanos();
        let refund = cost.min(end.saturating_sub(now));
        // Infallible: the closure always returns `Some`.
        let _ = self
            .tat
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| {
                Some(tat.saturating_sub(refund))
            });
        drop(newest);
    }
}

impl<C> fmt::Debug for TokenBucket<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenBucket")
            .field("rate", &self.rate)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

/// A reservation made by an `acquire` that is still waiting.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reservation {
    /// Nanoseconds of tokens reserved.
    cost: u64,
    /// `tat` right after reserving.
    pub(crate) end: u64,
}

// === impl Acquire ===

pin_project! {
    /// Future returned by [`TokenBucket::acquire`].
    ///
    /// Polling it again after it completed returns `Ok(())` again and takes
    /// no more tokens.
    ///
    /// # Cancellation
    ///
    /// The reservation is made at the first poll. Dropping the future before
    /// it completes gives the reserved tokens back to the bucket (the part
    /// of the reservation not yet overtaken by time) — unless another
    /// `acquire` has reserved since: that waiter's wake-up time counts on
    /// this reservation, so nothing is given back and the bucket never
    /// exceeds its capacity. Waiters queued behind keep their place and
    /// their wake-up time.
    #[must_use = "futures do nothing unless polled"]
    pub struct Acquire<'a, C: Clock> {
        bucket: &'a TokenBucket<C>,
        n: u64,
        // The reservation, once made.
        reserved: Option<Reservation>,
        // Completed: polling again takes nothing more.
        done: bool,
        #[pin]
        sleep: Option<C::Sleep>,
    }

    impl<C: Clock> PinnedDrop for Acquire<'_, C> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(reservation) = this.reserved.take() {
                this.bucket.refund(reservation);
            }
        }
    }
}

impl<C: Clock> Future for Acquire<'_, C> {
    type Output = Result<(), InvalidArgument>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if *this.done {
            return Poll::Ready(Ok(()));
        }
        if this.reserved.is_none() {
            let cost = match this.bucket.cost(*this.n) {
                Ok(0) => {
                    *this.done = true;
                    return Poll::Ready(Ok(()));
                }
                Ok(cost) => cost,
                Err(e) => return Poll::Ready(Err(e)),
            };
            let reservation = this.bucket.reserve(cost);
            let ready_at = reservation.end.saturating_sub(this.bucket.tau);
            if ready_at <= this.bucket.clock.now().as_nanos() {
                *this.done = true;
                return Poll::Ready(Ok(()));
            }
            *this.reserved = Some(reservation);
            this.sleep.set(Some(
                this.bucket.clock.sleep_until(Instant::from_nanos(ready_at)),
            ));
        }
        let sleep = this
            .sleep
            .as_mut()
            .as_pin_mut()
            .expect("a reserved acquire has a sleep");
        match sleep.poll(cx) {
            Poll::Ready(_) => {
                // The tokens are ours now: nothing to refund on drop.
                *this.reserved = None;
                *this.done = true;
                this.sleep.set(None);
                Poll::Ready(Ok(()))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<C: Clock> fmt::Debug for Acquire<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("n", &self.n)
            .field("reserved", &self.reserved.is_some())
            .finish()
    }
}

/// Why [`TokenBucket::try_acquire`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryAcquireError {
    /// Not enough tokens now; the request would succeed after
    /// `retry_after`, if nobody else takes or reserves tokens meanwhile.
    Insufficient {
        /// How long until enough tokens are in.
        retry_after: Duration,
    },
    /// The request can never succeed (more tokens than the capacity).
    Invalid(InvalidArgument),
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::Insufficient { retry_after } => {
                write!(f, "not enough tokens; retry after {retry_after:?}")
            }
            TryAcquireError::Invalid(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl core::error::Error for TryAcquireError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            TryAcquireError::Invalid(e) => Some(e),
            TryAcquireError::Insufficient { .. } => None,
        }
    }
}
