//! Retrying with exponential backoff.
//!
//! Implementation notes: the delays come from [`Delays`], an iterator the
//! policy hands out, so the schedule can be inspected and tested on its own.
//! Jitter is drawn from a splitmix64 generator seeded by the policy: the
//! same policy gives the same schedule on every run, which keeps retries
//! exactly testable on a [`ManualClock`](crate::time::ManualClock). Seed it
//! differently per caller (say from a task id) to spread retries apart.

use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll, ready};
use core::time::Duration;

use pin_project_lite::pin_project;

use crate::error::InvalidArgument;
use crate::time::Clock;
use crate::time::duration_to_nanos;

#[cfg(all(test, feature = "std"))]
mod tests;

/// How a retry delay is randomised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Jitter {
    /// The delay as computed.
    #[default]
    None,
    /// Uniform between zero and the delay ("full jitter"): spreads a crowd
    /// of clients the most.
    Full,
    /// Half the delay plus uniform between zero and the other half: never
    /// retries sooner than half the computed delay.
    Equal,
}

/// A retry schedule: the first delay, a growth factor, a cap, how many
/// retries, and jitter.
///
/// The delay before retry `k` (1-based) is `initial · factor^(k-1)`, capped
/// at `max_delay`, then jittered.
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use asyncutils_core::limit::Backoff;
///
/// let backoff = Backoff::exponential(Duration::from_millis(100))?
///     .with_factor(2.0)?
///     .with_max_delay(Duration::from_millis(500))
///     .with_max_retries(4);
/// let ms: Vec<u128> = backoff.delays().map(|d| d.as_millis()).collect();
/// assert_eq!(ms, [100, 200, 400, 500]);
/// # Ok::<(), asyncutils_core::error::InvalidArgument>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    initial: Duration,
    factor: f64,
    max_delay: Duration,
    max_retries: u32,
    jitter: Jitter,
    seed: u64,
}

impl Backoff {
    /// Delays starting at `initial` and doubling, capped at one minute,
    /// three retries, no jitter.
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] naming `initial` if it is zero.
    pub fn exponential(initial: Duration) -> Result<Self, InvalidArgument> {
        if initial.is_zero() {
            return Err(InvalidArgument::new(
                "initial",
                "a duration greater than zero",
            ));
        }
        Ok(Backoff {
            initial,
            factor: 2.0,
            max_delay: Duration::from_secs(60).max(initial),
            max_retries: 3,
            jitter: Jitter::None,
            seed: 0,
        })
    }

    /// Sets the growth factor (1.0 gives a constant delay).
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] naming `factor` if it is NaN, infinite or below 1.
    pub fn with_factor(self, factor: f64) -> Result<Self, InvalidArgument> {
        if !(factor.is_finite() && factor >= 1.0) {
            return Err(InvalidArgument::new(
                "factor",
                "a finite number of at least 1",
            ));
        }
        Ok(Backoff { factor, ..self })
    }

    /// Caps every delay (before jitter) at `max_delay`.
    #[must_use]
    pub fn with_max_delay(self, max_delay: Duration) -> Self {
        Backoff { max_delay, ..self }
    }

    /// How many times to retry after the first attempt (0: never retry).
    #[must_use]
    pub fn with_max_retries(self, max_retries: u32) -> Self {
        Backoff {
            max_retries,
            ..self
        }
    }

    /// Randomises the delays with `jitter`, drawing from a generator seeded
    /// with `seed`.
    #[must_use]
    pub fn with_jitter(self, jitter: Jitter, seed: u64) -> Self {
        Backoff {
            jitter,
            seed,
            ..self
        }
    }

    /// How many retries the schedule allows.
    #[must_use]
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// The delays before each retry, in order; as many as `max_retries`.
    #[must_use]
    pub fn delays(&self) -> Delays {
        Delays {
            next_ns: duration_to_nanos(self.initial) as f64,
            factor: self.factor,
            max_ns: duration_to_nanos(self.max_delay),
            remaining: self.max_retries,
            jitter: self.jitter,
            rng: self.seed,
        }
    }
}

/// The delays of a [`Backoff`], from [`Backoff::delays`].
#[derive(Debug, Clone)]
pub struct Delays {
    next_ns: f64,
    factor: f64,
    max_ns: u64,
    remaining: u32,
    jitter: Jitter,
    rng: u64,
}

impl Delays {
    /// splitmix64: small, fast, and good enough to spread retries.
    fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..=ns`, exactly, in integers.
    fn uniform_up_to(&mut self, ns: u64) -> u64 {
        ((u128::from(self.next_random()) * (u128::from(ns) + 1)) >> 64) as u64
    }
}

impl ExactSizeIterator for Delays {}

impl Iterator for Delays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.remaining = self.remaining.checked_sub(1)?;
        // Float only for growth; the cap and the jitter are integers.
        let base = if self.next_ns >= self.max_ns as f64 {
            self.max_ns
        } else {
            self.next_ns as u64
        };
        self.next_ns *= self.factor;
        let ns = match self.jitter {
            Jitter::None => base,
            Jitter::Full => self.uniform_up_to(base),
            Jitter::Equal => base / 2 + self.uniform_up_to(base - base / 2),
        };
        Some(Duration::from_nanos(ns))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.remaining as usize;
        (n, Some(n))
    }
}

/// Runs `operation` until it succeeds, sleeping on `clock` between
/// attempts as `backoff` says; resolves to the first `Ok`, or the last
/// `Err` once the retries run out or an error is not retryable.
///
/// Refine it before awaiting: [`when`](Retry::when) decides which errors
/// are worth retrying (default: all), [`on_retry`](Retry::on_retry) and
/// [`on_success`](Retry::on_success) observe progress.
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use std::cell::Cell;
/// use asyncutils_core::limit::{retry, Backoff};
/// use asyncutils_core::rt::VirtualRuntime;
///
/// let rt = VirtualRuntime::new();
/// let calls = Cell::new(0);
/// let backoff = Backoff::exponential(Duration::from_secs(1))?.with_max_retries(5);
/// let result = rt.block_on(
///     retry(&rt, &backoff, || {
///         calls.set(calls.get() + 1);
///         let n = calls.get();
///         async move { if n < 3 { Err("busy") } else { Ok(n) } }
///     })
///     .when(|e: &&str| *e == "busy"),
/// );
/// assert_eq!(result, Ok(3));
/// // Slept 1 s, then 2 s, in virtual time.
/// assert_eq!(rt.clock().now().as_nanos(), 3_000_000_000);
/// # Ok::<(), asyncutils_core::error::InvalidArgument>(())
/// ```
pub fn retry<C, F, Fut, T, E>(clock: C, backoff: &Backoff, operation: F) -> Retry<C, F, Fut, E>
where
    C: Clock,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    Retry {
        clock,
        operation,
        delays: backoff.delays(),
        retryable: |_| true,
        on_retry: |_, _, _| {},
        on_success: |_| {},
        attempts: 0,
        error: PhantomData,
        state: State::Start,
    }
}

pin_project! {
    /// Future returned by [`retry`].
    ///
    /// # Panics
    ///
    /// If polled again after it completed.
    ///
    /// # Cancellation
    ///
    /// Dropping it drops the attempt in flight (or the sleep before the next
    /// one); no further attempt starts. Whether the dropped attempt had an
    /// effect is up to that operation's own cancellation rules.
    #[must_use = "futures do nothing unless polled"]
    pub struct Retry<
        C: Clock,
        F,
        Fut,
        E,
        P = fn(&E) -> bool,
        R = fn(&E, u32, Duration),
        S = fn(u32),
    > {
        clock: C,
        operation: F,
        delays: Delays,
        retryable: P,
        on_retry: R,
        on_success: S,
        attempts: u32,
        // The error type the predicate and hooks see.
        error: PhantomData<fn(&E)>,
        #[pin]
        state: State<Fut, C::Sleep>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<Fut, S> {
        Start,
        Running { #[pin] attempt: Fut },
        Sleeping { #[pin] sleep: S },
        Done,
    }
}

impl<C: Clock, F, Fut, E, P, R, S> Retry<C, F, Fut, E, P, R, S> {
    /// Retries only errors for which `retryable` returns `true`; others are
    /// returned at once.
    pub fn when<P2>(self, retryable: P2) -> Retry<C, F, Fut, E, P2, R, S>
    where
        P2: FnMut(&E) -> bool,
    {
        Retry {
            clock: self.clock,
            operation: self.operation,
            delays: self.delays,
            retryable,
            on_retry: self.on_retry,
            on_success: self.on_success,
            attempts: self.attempts,
            error: PhantomData,
            state: self.state,
        }
    }

    /// Calls `hook(error, retry_number, delay)` before sleeping for each
    /// retry (retry numbers start at 1).
    pub fn on_retry<R2>(self, hook: R2) -> Retry<C, F, Fut, E, P, R2, S>
    where
        R2: FnMut(&E, u32, Duration),
    {
        Retry {
            clock: self.clock,
            operation: self.operation,
            delays: self.delays,
            retryable: self.retryable,
            on_retry: hook,
            on_success: self.on_success,
            attempts: self.attempts,
            error: PhantomData,
            state: self.state,
        }
    }

    /// Calls `hook(attempts)` when an attempt succeeds, with the number of
    /// attempts made (1 if the first succeeded).
    pub fn on_success<S2>(self, hook: S2) -> Retry<C, F, Fut, E, P, R, S2>
    where
        S2: FnMut(u32),
    {
        Retry {
            clock: self.clock,
            operation: self.operation,
            delays: self.delays,
            retryable: self.retryable,
            on_retry: self.on_retry,
            on_success: hook,
            attempts: self.attempts,
            error: PhantomData,
            state: self.state,
        }
    }
}

impl<C, F, Fut, T, E, P, R, S> Future for Retry<C, F, Fut, E, P, R, S>
where
    C: Clock,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    P: FnMut(&E) -> bool,
    R: FnMut(&E, u32, Duration),
    S: FnMut(u32),
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Start => {
                    let attempt = (this.operation)();
                    *this.attempts += 1;
                    this.state.set(State::Running { attempt });
                }
                StateProj::Running { attempt } => {
                    let result = ready!(attempt.poll(cx));
                    this.state.set(State::Done);
                    let error = match result {
                        Ok(value) => {
                            (this.on_success)(*this.attempts);
                            return Poll::Ready(Ok(value));
                        }
                        Err(error) => error,
                    };
                    if !(this.retryable)(&error) {
                        return Poll::Ready(Err(error));
                    }
                    let Some(delay) = this.delays.next() else {
                        return Poll::Ready(Err(error));
                    };
                    (this.on_retry)(&error, *this.attempts, delay);
                    let sleep = this.clock.sleep(delay);
                    this.state.set(State::Sleeping { sleep });
                }
                StateProj::Sleeping { sleep } => {
                    ready!(sleep.poll(cx));
                    this.state.set(State::Start);
                }
                StateProj::Done => panic!("`Retry` polled after completion"),
            }
        }
    }
}

impl<C: Clock, F, Fut, E, P, R, S> fmt::Debug for Retry<C, F, Fut, E, P, R, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}
