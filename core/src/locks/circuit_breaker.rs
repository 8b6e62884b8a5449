//! A circuit breaker: fails fast while a dependency is failing, probes it
//! carefully while it recovers.
//!
//! The breaker is **closed** while calls succeed. `max_fails` consecutive
//! failures trip it **open**: every call fails fast with
//! [`CallError::Open`] and the time left. Once the `reset` duration has
//! passed on the breaker's [`Clock`] it is **half-open**: at most
//! `max_half_open_calls` calls run at once as probes, every other call
//! fails fast with [`CallError::HalfOpenBusy`]. A probe that succeeds
//! closes the breaker; a probe that fails opens it again, with a fresh
//! reset timer.
//!
//! Which errors are failures is up to a predicate
//! ([`failure_if`](CircuitBreaker::failure_if)); by default every `Err` is.
//! An error the predicate does not count is treated as a success: the
//! dependency answered.
//!
//! Calls go through [`call`](CircuitBreaker::call) (a future),
//! [`call_with`](CircuitBreaker::call_with) (a function making the future,
//! called only if the breaker admits the call), or, without futures,
//! [`try_acquire`](CircuitBreaker::try_acquire) and a [`CallPermit`]
//! reported with [`success`](CallPermit::success) or
//! [`failure`](CallPermit::failure).
//!
//! Implementation notes: the whole state is one `AtomicU64` word — a tag
//! (closed, opening, open, half-open), a generation number bumped on every
//! trip, and a count (consecutive failures while closed, probes in flight
//! while half-open). Admitting a call in the closed state is one atomic
//! load; reporting a success with no failures pending is another. Every
//! transition is a compare-exchange on the word, so of two racing failures
//! exactly one trips the breaker. A permit remembers the generation it was
//! issued in and its report is ignored once the breaker has moved on, so a
//! slow call from before a trip cannot close or re-open a later episode,
//! nor free a probe slot of one. The instant the open state ends is in a
//! second atomic, written while the word says "opening" and published by
//! the store that says "open". The open → half-open transition happens
//! lazily, on the first call (or [`state`](CircuitBreaker::state) read)
//! after the reset time. State changes wake [`StateChanges`] streams; that
//! is the only lock, and only transitions and stream polls take it.
//!
//! # Examples
//!
//! ```
//! use core::time::Duration;
//! use asyncutils_core::locks::{CallError, CircuitBreaker, CircuitState};
//! use asyncutils_core::time::ManualClock;
//!
//! # futures_lite::future::block_on(async {
//! let clock = ManualClock::new();
//! // Trips after 2 consecutive failures, stays open 5 s, then lets 1 probe through.
//! let breaker = CircuitBreaker::with_clock("db", 2, Duration::from_secs(5), 1, clock.clone())?;
//!
//! let failing = || async { Err::<u32, &str>("timeout") };
//! assert_eq!(breaker.call_with(failing).await, Err(CallError::Inner("timeout")));
//! assert_eq!(breaker.call_with(failing).await, Err(CallError::Inner("timeout")));
//! assert_eq!(breaker.state(), CircuitState::Open);
//!
//! // Open: fails fast without running the call.
//! clock.advance(Duration::from_secs(2));
//! assert_eq!(
//!     breaker.call(async { Ok::<u32, &str>(1) }).await,
//!     Err(CallError::Open { retry_after: Duration::from_secs(3) })
//! );
//!
//! // Half-open after the reset time: one probe; its success closes the breaker.
//! clock.advance(Duration::from_secs(3));
//! assert_eq!(breaker.call(async { Ok::<u32, &str>(7) }).await, Ok(7));
//! assert_eq!(breaker.state(), CircuitState::Closed);
//! # Ok::<(), asyncutils_core::error::InvalidArgument>(())
//! # }).unwrap();
//! ```

use alloc::borrow::Cow;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use futures_core::Stream;
use pin_project_lite::pin_project;
use slab::Slab;

use crate::error::InvalidArgument;
use crate::loom::{AtomicU64, Mutex, Ordering};
use crate::time::{Clock, Instant};

#[cfg(all(test, feature = "std"))]
mod tests;

// === the state word ===

const TAG_SHIFT: u32 = 62;
const GEN_SHIFT: u32 = 32;
const GEN_MASK: u64 = (1 << 30) - 1;
const COUNT_MASK: u64 = u32::MAX as u64;

const CLOSED: u64 = 0;
/// Tripped; the winner of the trip is writing `open_until`.
const OPENING: u64 = 1;
const OPEN: u64 = 2;
const HALF_OPEN: u64 = 3;

/// Largest reset accepted, so `now + reset` cannot overflow in practice
/// (2^62 ns is about 146 years).
const MAX_RESET: u64 = 1 << 62;

/// Wakers woken per batch, outside the lock, without allocating.
const WAKE_BATCH: usize = 16;

#[inline]
const fn pack(tag: u64, generation: u64, count: u64) -> u64 {
    (tag << TAG_SHIFT) | ((generation & GEN_MASK) << GEN_SHIFT) | (count & COUNT_MASK)
}

#[inline]
const fn tag(word: u64) -> u64 {
    word >> TAG_SHIFT
}

#[inline]
const fn generation(word: u64) -> u64 {
    (word >> GEN_SHIFT) & GEN_MASK
}

#[inline]
const fn count(word: u64) -> u64 {
    word & COUNT_MASK
}

/// The state of a [`CircuitBreaker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CircuitState {
    /// Calls run; consecutive failures are counted.
    Closed,
    /// Calls fail fast until the reset time has passed.
    Open,
    /// A limited number of probe calls run; the others fail fast.
    HalfOpen,
}

impl CircuitState {
    fn of(word: u64) -> Self {
        match tag(word) {
            CLOSED => CircuitState::Closed,
            HALF_OPEN => CircuitState::HalfOpen,
            _ => CircuitState::Open,
        }
    }
}

impl fmt::Display for CircuitState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half-open",
        })
    }
}

// === classification ===

/// Decides which errors count as failures of the protected call.
///
/// Implemented for every `Fn(&E) -> bool` (returning `true` for a failure)
/// and for [`AnyError`], the default, which counts every error.
pub trait Classify<E: ?Sized> {
    /// Whether `error` counts as a failure. An error that does not count is
    /// treated as a success.
    fn is_failure(&self, error: &E) -> bool;
}

/// The default [`Classify`]: every error is a failure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnyError;

impl<E: ?Sized> Classify<E> for AnyError {
    #[inline]
    fn is_failure(&self, _: &E) -> bool {
        true
    }
}

impl<E: ?Sized, F: Fn(&E) -> bool> Classify<E> for F {
    #[inline]
    fn is_failure(&self, error: &E) -> bool {
        self(error)
    }
}

// === errors ===

/// Why the breaker refused a call without running it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallRejected {
    /// The breaker is open; it goes half-open after `retry_after`.
    Open {
        /// Time left until the breaker admits probes.
        retry_after: Duration,
    },
    /// The breaker is half-open and all its probe slots are taken.
    HalfOpenBusy,
}

impl fmt::Display for CallRejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallRejected::Open { retry_after } => {
                write!(f, "circuit breaker is open; retry after {retry_after:?}")
            }
            CallRejected::HalfOpenBusy => {
                f.write_str("circuit breaker is half-open and all probe slots are taken")
            }
        }
    }
}

impl core::error::Error for CallRejected {}

/// The error of a call through a [`CircuitBreaker`]: refused by the
/// breaker, or the call's own error.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum CallError<E> {
    /// The breaker is open: the call did not run. It goes half-open after
    /// `retry_after`.
    Open {
        /// Time left until the breaker admits probes.
        retry_after: Duration,
    },
    /// The breaker is half-open and all its probe slots are taken: the call
    /// did not run.
    HalfOpenBusy,
    /// The call ran and failed with this error.
    Inner(E),
}

impl<E> CallError<E> {
    /// The call's own error, if it ran.
    pub fn into_inner(self) -> Option<E> {
        match self {
            CallError::Inner(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the breaker refused the call (it did not run).
    pub fn is_rejected(&self) -> bool {
        !matches!(self, CallError::Inner(_))
    }
}

impl<E> From<CallRejected> for CallError<E> {
    fn from(r: CallRejected) -> Self {
        match r {
            CallRejected::Open { retry_after } => CallError::Open { retry_after },
            CallRejected::HalfOpenBusy => CallError::HalfOpenBusy,
        }
    }
}

impl<E> fmt::Debug for CallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Open { retry_after } => f
                .debug_struct("Open")
                .field("retry_after", retry_after)
                .finish(),
            CallError::HalfOpenBusy => f.write_str("HalfOpenBusy"),
            CallError::Inner(_) => f.debug_tuple("Inner").finish_non_exhaustive(),
        }
    }
}

impl<E: fmt::Display> fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Open { retry_after } => fmt::Display::fmt(
                &CallRejected::Open {
                    retry_after: *retry_after,
                },
                f,
            ),
            CallError::HalfOpenBusy => fmt::Display::fmt(&CallRejected::HalfOpenBusy, f),
            CallError::Inner(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl<E: core::error::Error + 'static> core::error::Error for CallError<E> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            CallError::Inner(e) => Some(e),
            _ => None,
        }
    }
}

// === impl CircuitBreaker ===

/// A circuit breaker on clock `C` whose predicate `P` classifies errors.
///
/// Closed while calls succeed; `max_fails` consecutive failures trip it
/// open, and every call fails fast with [`CallError::Open`] and the time
/// left. After `reset` on the clock it is half-open: at most
/// `max_half_open_calls` probes run at once, every other call fails fast
/// with [`CallError::HalfOpenBusy`]. A probe success closes it, a probe
/// failure opens it again with a fresh timer. By default every error is a
/// failure; [`failure_if`](CircuitBreaker::failure_if) chooses, and an
/// error that does not count is a success.
///
/// Calls go through [`call`](CircuitBreaker::call),
/// [`call_with`](CircuitBreaker::call_with) (the function runs only if
/// admitted) or [`try_acquire`](CircuitBreaker::try_acquire) and a
/// [`CallPermit`]. [`state_changes`](CircuitBreaker::state_changes) streams
/// the states. Admitting a call while closed is one atomic load.
///
/// # Fairness
///
/// None is needed: no call ever waits for the breaker. Calls are admitted
/// or refused at once; in the half-open state the first
/// `max_half_open_calls` to ask become the probes.
///
/// # Cancellation
///
/// A call dropped before it reported (a dropped [`Call`] future, a dropped
/// [`CallPermit`]) counts as neither a success nor a failure; a dropped
/// probe gives its half-open slot back.
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use asyncutils_core::locks::{CallError, CallRejected, CircuitBreaker, CircuitState};
/// use asyncutils_core::time::ManualClock;
///
/// # futures_lite::future::block_on(async {
/// let clock = ManualClock::new();
/// let breaker = CircuitBreaker::with_clock("db", 1, Duration::from_secs(5), 1, clock.clone())?;
/// let refused = breaker.call(async { Err::<(), _>("refused") }).await;
/// assert_eq!(refused, Err(CallError::Inner("refused")));
/// assert_eq!(breaker.state(), CircuitState::Open);
///
/// clock.advance(Duration::from_secs(5));
/// // Without futures: a permit, reported by hand. One probe at a time.
/// let probe = breaker.try_acquire().expect("half-open: a probe slot is free");
/// assert!(matches!(breaker.try_acquire(), Err(CallRejected::HalfOpenBusy)));
/// probe.success();
/// assert_eq!(breaker.state(), CircuitState::Closed);
/// # Ok::<(), asyncutils_core::error::InvalidArgument>(())
/// # }).unwrap();
/// ```
pub struct CircuitBreaker<C, P = AnyError> {
    /// Tag, generation and count; see the implementation notes.
    word: AtomicU64,
    /// Nanoseconds on `clock` at which the open state ends; meaningful
    /// while the word says open.
    open_until: AtomicU64,
    /// Bumped after every transition; [`StateChanges`] compares it.
    changes: AtomicU64,
    watchers: Mutex<Slab<Option<Waker>>>,
    clock: C,
    classify: P,
    name: Cow<'static, str>,
    max_fails: u32,
    max_half_open: u32,
    reset: u64,
}

impl<C: Clock + Default> CircuitBreaker<C> {
    /// A closed breaker named `name` on the default instance of clock `C`.
    ///
    /// # Errors
    ///
    /// See [`with_clock`](CircuitBreaker::with_clock).
    pub fn new(
        name: impl Into<Cow<'static, str>>,
        max_fails: u32,
        reset: Duration,
        max_half_open_calls: u32,
    ) -> Result<Self, InvalidArgument> {
        Self::with_clock(name, max_fails, reset, max_half_open_calls, C::default())
    }
}

impl<C: Clock> CircuitBreaker<C> {
    /// A closed breaker named `name` on `clock`: trips open after
    /// `max_fails` consecutive failures, stays open for `reset`, then lets
    /// at most `max_half_open_calls` concurrent probes through.
    ///
    /// Every error counts as a failure; see
    /// [`failure_if`](CircuitBreaker::failure_if) to choose.
    ///
    /// Raises the audit event `asyncutils.altlocks.CircuitBreaker` with
    /// `name` and `max_fails`.
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] naming `max_fails` or `max_half_open_calls` if it
    /// is zero, `reset` if it is zero or over 2⁶² ns (146 years).
    pub fn with_clock(
        name: impl Into<Cow<'static, str>>,
        max_fails: u32,
        reset: Duration,
        max_half_open_calls: u32,
        clock: C,
    ) -> Result<Self, InvalidArgument> {
        if max_fails == 0 {
            return Err(InvalidArgument::new("max_fails", "at least 1"));
        }
        if reset.is_zero() || reset.as_nanos() > u128::from(MAX_RESET) {
            return Err(InvalidArgument::new(
                "reset",
                "a duration greater than zero and at most 2^62 ns (146 years)",
            ));
        }
        if max_half_open_calls == 0 {
            return Err(InvalidArgument::new("max_half_open_calls", "at least 1"));
        }
        let name = name.into();
        crate::emit!(
            "asyncutils.altlocks.CircuitBreaker",
            name = &*name,
            max_fails = max_fails
        );
        Ok(CircuitBreaker {
            word: AtomicU64::new(pack(CLOSED, 0, 0)),
            open_until: AtomicU64::new(0),
            changes: AtomicU64::new(0),
            watchers: Mutex::new(Slab::new()),
            clock,
            classify: AnyError,
            name,
            max_fails,
            max_half_open: max_half_open_calls,
            // In range: checked above.
            reset: reset.as_nanos() as u64,
        })
    }
}

impl<C: Clock, P> CircuitBreaker<C, P> {
    /// The same breaker counting only the errors for which `predicate`
    /// returns `true` as failures; other errors count as successes.
    ///
    /// # Examples
    ///
    /// ```
    /// use core::time::Duration;
    /// use asyncutils_core::locks::{CircuitBreaker, CircuitState};
    /// use asyncutils_core::time::ManualClock;
    ///
    /// # futures_lite::future::block_on(async {
    /// // A 404 is the caller's problem, not the server's.
    /// let breaker = CircuitBreaker::with_clock("api", 1, Duration::from_secs(1), 1, ManualClock::new())?
    ///     .failure_if(|status: &u16| *status >= 500);
    /// let _ = breaker.call(async { Err::<(), u16>(404) }).await;
    /// assert_eq!(breaker.state(), CircuitState::Closed);
    /// let _ = breaker.call(async { Err::<(), u16>(503) }).await;
    /// assert_eq!(breaker.state(), CircuitState::Open);
    /// # Ok::<(), asyncutils_core::error::InvalidArgument>(())
    /// # }).unwrap();
    /// ```
    pub fn failure_if<Q>(self, predicate: Q) -> CircuitBreaker<C, Q> {
        CircuitBreaker {
            word: self.word,
            open_until: self.open_until,
            changes: self.changes,
            watchers: self.watchers,
            clock: self.clock,
            classify: predicate,
            name: self.name,
            max_fails: self.max_fails,
            max_half_open: self.max_half_open,
            reset: self.reset,
        }
    }

    /// The breaker's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Consecutive failures that trip the breaker.
    #[must_use]
    pub fn max_fails(&self) -> u32 {
        self.max_fails
    }

    /// Concurrent probes admitted while half-open.
    #[must_use]
    pub fn max_half_open_calls(&self) -> u32 {
        self.max_half_open
    }

    /// How long the breaker stays open.
    #[must_use]
    pub fn reset_timeout(&self) -> Duration {
        Duration::from_nanos(self.reset)
    }

    /// The clock the breaker reads.
    #[must_use]
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// The current state. An open breaker whose reset time has passed is
    /// half-open (reading the state performs that transition).
    #[must_use]
    pub fn state(&self) -> CircuitState {
        self.refresh();
        CircuitState::of(self.word.load(Ordering::Acquire))
    }

    /// Consecutive failures counted so far while closed; `0` in the other
    /// states.
    #[must_use]
    pub fn consecutive_failures(&self) -> u32 {
        let word = self.word.load(Ordering::Acquire);
        if tag(word) == CLOSED {
            count(word) as u32
        } else {
            0
        }
    }

    /// Probes running while half-open; `0` in the other states.
    #[must_use]
    pub fn probes_in_flight(&self) -> u32 {
        self.refresh();
        let word = self.word.load(Ordering::Acquire);
        if tag(word) == HALF_OPEN {
            count(word) as u32
        } else {
            0
        }
    }

    /// A stream of the breaker's states: the current state first, then the
    /// state after each change.
    ///
    /// Like a watch channel, it reports the latest state: changes that
    /// happen between two polls are coalesced (a slow reader of a breaker
    /// that went open and back to closed may see only `Closed`). The stream
    /// sleeps on the breaker's clock while open, so it reports `HalfOpen`
    /// exactly when the reset time has passed. It never ends.
    pub fn state_changes(&self) -> StateChanges<'_, C, P> {
        StateChanges {
            breaker: self,
            seen: None,
            key: None,
            sleeping_until: None,
            sleep: None,
        }
    }

    /// Admits a call now, if the breaker allows it.
    ///
    /// Report the outcome on the returned permit. Lock-free; while closed,
    /// one atomic load.
    ///
    /// # Errors
    ///
    /// * [`CallRejected::Open`] with the time left while open;
    /// * [`CallRejected::HalfOpenBusy`] while half-open with all
    ///   `max_half_open_calls` probe slots taken.
    #[inline]
    pub fn try_acquire(&self) -> Result<CallPermit<'_, C, P>, CallRejected> {
        let word = self.word.load(Ordering::Acquire);
        if tag(word) == CLOSED {
            return Ok(CallPermit {
                breaker: self,
                generation: generation(word),
                probe: false,
            });
        }
        self.try_acquire_slow(word)
    }

    #[cold]
    fn try_acquire_slow(&self, mut word: u64) -> Result<CallPermit<'_, C, P>, CallRejected> {
        loop {
            // `opened`: this call moves the breaker open → half-open.
            let (next, opened) = match tag(word) {
                CLOSED => {
                    return Ok(CallPermit {
                        breaker: self,
                        generation: generation(word),
                        probe: false,
                    });
                }
                OPENING => {
                    return Err(CallRejected::Open {
                        retry_after: Duration::from_nanos(self.reset),
                    });
                }
                OPEN => {
                    let until = self.open_until.load(Ordering::Acquire);
                    let now = self.clock.now().as_nanos();
                    if now < until {
                        return Err(CallRejected::Open {
                            retry_after: Duration::from_nanos(until - now),
                        });
                    }
                    (pack(HALF_OPEN, generation(word), 1), true)
                }
                _ => {
                    if count(word) >= u64::from(self.max_half_open) {
                        return Err(CallRejected::HalfOpenBusy);
                    }
                    (word + 1, false)
                }
            };
            match self
                .word
                .compare_exchange(word, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    if opened {
                        self.changed();
                    }
                    return Ok(CallPermit {
                        breaker: self,
                        generation: generation(word),
                        probe: true,
                    });
                }
                Err(current) => word = current,
            }
        }
    }

    /// Open → half-open (no probes yet) if the reset time has passed.
    fn refresh(&self) {
        let word = self.word.load(Ordering::Acquire);
        if tag(word) != OPEN {
            return;
        }
        let until = self.open_until.load(Ordering::Acquire);
        if self.clock.now().as_nanos() < until {
            return;
        }
        if self
            .word
            .compare_exchange(
                word,
                pack(HALF_OPEN, generation(word), 0),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
        {
            self.changed();
        }
    }

    /// Trips the breaker from `word` (closed or half-open, generation
    /// `generation`), if the word is still `word`.
    fn trip(&self, word: u64) -> Result<(), u64> {
        let next_gen = generation(word) + 1;
        self.word.compare_exchange(
            word,
            pack(OPENING, next_gen, 0),
            Ordering::AcqRel,
            Ordering::Acquire,
        )?;
        // Only the winner of the compare-exchange gets here, and nobody
        // else moves the word out of OPENING.
        let until = self.clock.now().as_nanos().saturating_add(self.reset);
        self.open_until.store(until, Ordering::Release);
        self.word.store(pack(OPEN, next_gen, 0), Ordering::Release);
        self.changed();
        Ok(())
    }

    fn report_closed(&self, gen_: u64, failure: bool) {
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            if tag(word) != CLOSED || generation(word) != gen_ {
                return; // stale: the breaker has tripped since
            }
            let result = if failure {
                if count(word) + 1 >= u64::from(self.max_fails) {
                    self.trip(word)
                } else {
                    self.word
                        .compare_exchange(word, word + 1, Ordering::AcqRel, Ordering::Acquire)
                        .map(drop)
                }
            } else {
                if count(word) == 0 {
                    return;
                }
                self.word
                    .compare_exchange(
                        word,
                        pack(CLOSED, gen_, 0),
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    )
                    .map(drop)
            };
            match result {
                Ok(()) => return,
                Err(current) => word = current,
            }
        }
    }

    /// A probe of generation `gen_` reports (`Some(failure)`) or gives its
    /// slot back (`None`).
    fn report_probe(&self, gen_: u64, outcome: Option<bool>) {
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            if tag(word) != HALF_OPEN || generation(word) != gen_ {
                return; // stale: another probe decided already
            }
            let result = match outcome {
                Some(true) => self.trip(word),
                Some(false) => self
                    .word
                    .compare_exchange(
                        word,
                        pack(CLOSED, gen_, 0),
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    )
                    .map(|_| self.changed()),
                None => {
                    debug_assert!(count(word) > 0, "a live probe holds a slot");
                    self.word
                        .compare_exchange(
                            word,
                            word.saturating_sub(1),
                            Ordering::AcqRel,
                            Ordering::Acquire,
                        )
                        .map(drop)
                }
            };
            match result {
                Ok(()) => return,
                Err(current) => word = current,
            }
        }
    }

    /// Records a transition and wakes the state streams, outside the lock.
    #[cold]
    fn changed(&self) {
        self.changes.fetch_add(1, Ordering::AcqRel);
        let mut start = 0;
        loop {
            let mut batch: [Option<Waker>; WAKE_BATCH] = Default::default();
            let mut n = 0;
            let mut more = false;
            {
                let mut watchers = self.watchers.lock();
                for (key, slot) in watchers.iter_mut() {
                    if key < start {
                        continue;
                    }
                    if let Some(waker) = slot.take() {
                        if n == WAKE_BATCH {
                            *slot = Some(waker);
                            start = key;
                            more = true;
                            break;
                        }
                        batch[n] = Some(waker);
                        n += 1;
                    }
                }
            }
            for waker in batch.iter_mut().take(n) {
                if let Some(waker) = waker.take() {
                    waker.wake();
                }
            }
            if !more {
                return;
            }
        }
    }

    /// Runs `future` through the breaker: resolves to its output if the
    /// breaker admits it, to [`CallError::Open`] or
    /// [`CallError::HalfOpenBusy`] (without polling it) if not.
    ///
    /// The breaker decides at the first poll.
    ///
    /// # Errors
    ///
    /// The future resolves to [`CallError::Open`] (with the time left) or
    /// [`CallError::HalfOpenBusy`] if the breaker refused the call, and to
    /// [`CallError::Inner`] if `future` failed.
    pub fn call<F, T, E>(&self, future: F) -> Call<'_, C, P, F>
    where
        F: Future<Output = Result<T, E>>,
        P: Classify<E>,
    {
        Call {
            breaker: self,
            permit: None,
            started: false,
            future,
        }
    }

    /// Calls `make` and runs the future it returns through the breaker;
    /// `make` is called only if the breaker admits the call (at the first
    /// poll).
    ///
    /// Raises the audit event `asyncutils.altlocks.CircuitBreaker.__call__`
    /// with `name` and `fname`, the type name of `make`.
    ///
    /// # Errors
    ///
    /// As for [`call`](CircuitBreaker::call).
    pub fn call_with<G, F, T, E>(&self, make: G) -> CallWith<'_, C, P, G, F>
    where
        G: FnOnce() -> F,
        F: Future<Output = Result<T, E>>,
        P: Classify<E>,
    {
        crate::emit!(
            "asyncutils.altlocks.CircuitBreaker.__call__",
            name = &*self.name,
            fname = core::any::type_name::<G>()
        );
        CallWith {
            breaker: self,
            permit: None,
            make: Some(make),
            future: None,
        }
    }
}

impl<C, P> fmt::Debug for CircuitBreaker<C, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = self.word.load(Ordering::Acquire);
        f.debug_struct("CircuitBreaker")
            .field("name", &self.name)
            .field("state", &CircuitState::of(word))
            .field("count", &count(word))
            .field("max_fails", &self.max_fails)
            .field("max_half_open_calls", &self.max_half_open)
            .field("reset", &Duration::from_nanos(self.reset))
            .finish_non_exhaustive()
    }
}

// === impl CallPermit ===

/// Permission to make one call through a [`CircuitBreaker`]; report how it
/// went with [`success`](CallPermit::success),
/// [`failure`](CallPermit::failure) or [`record`](CallPermit::record).
///
/// A report only counts while the breaker is still in the episode the
/// permit was issued in: a call admitted before the breaker tripped cannot
/// affect it afterwards.
///
/// # Cancellation
///
/// Dropping the permit without reporting counts as neither a success nor
/// a failure; a probe's half-open slot is given back.
#[must_use = "report the outcome with `success` or `failure`"]
#[clippy::has_significant_drop]
pub struct CallPermit<'a, C: Clock, P = AnyError> {
    breaker: &'a CircuitBreaker<C, P>,
    generation: u64,
    probe: bool,
}

impl<C: Clock, P> CallPermit<'_, C, P> {
    /// Whether this is a half-open probe (its outcome decides the state).
    #[must_use]
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// The call succeeded: resets the failure count, or closes a half-open
    /// breaker.
    #[inline]
    pub fn success(self) {
        self.report(false);
    }

    /// The call failed: counts a consecutive failure (the last one trips
    /// the breaker), or re-opens a half-open breaker.
    pub fn failure(self) {
        self.report(true);
    }

    /// Reports `result`: an `Err` the breaker's predicate counts is a
    /// failure, anything else a success.
    pub fn record<T, E>(self, result: &Result<T, E>) -> bool
    where
        P: Classify<E>,
    {
        let failure = match result {
            Ok(_) => false,
            Err(e) => self.breaker.classify.is_failure(e),
        };
        self.report(failure);
        failure
    }

    #[inline]
    fn report(self, failure: bool) {
        let this = core::mem::ManuallyDrop::new(self);
        if this.probe {
            this.breaker.report_probe(this.generation, Some(failure));
        } else {
            this.breaker.report_closed(this.generation, failure);
        }
    }
}

impl<C: Clock, P> Drop for CallPermit<'_, C, P> {
    fn drop(&mut self) {
        if self.probe {
            self.breaker.report_probe(self.generation, None);
        }
    }
}

impl<C: Clock, P> fmt::Debug for CallPermit<'_, C, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallPermit")
            .field("breaker", &self.breaker.name)
            .field("probe", &self.probe)
            .finish()
    }
}

// === impl Call ===

pin_project! {
    /// Future returned by [`CircuitBreaker::call`].
    ///
    /// # Panics
    ///
    /// If polled again after it completed.
    ///
    /// # Cancellation
    ///
    /// Dropping it drops the wrapped future. If the call was admitted and
    /// had not finished, it counts as neither a success nor a failure, and
    /// a probe's half-open slot is given back.
    #[must_use = "futures do nothing unless polled"]
    pub struct Call<'a, C: Clock, P, F> {
        breaker: &'a CircuitBreaker<C, P>,
        permit: Option<CallPermit<'a, C, P>>,
        started: bool,
        #[pin]
        future: F,
    }
}

impl<C, P, F, T, E> Future for Call<'_, C, P, F>
where
    C: Clock,
    P: Classify<E>,
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, CallError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if !*this.started {
            *this.started = true;
            match this.breaker.try_acquire() {
                Ok(permit) => *this.permit = Some(permit),
                Err(rejected) => return Poll::Ready(Err(rejected.into())),
            }
        }
        let Some(_) = this.permit else {
            panic!("`Call` polled after completion");
        };
        let result = core::task::ready!(this.future.poll(cx));
        finish(this.permit, result)
    }
}

fn finish<C: Clock, P: Classify<E>, T, E>(
    permit: &mut Option<CallPermit<'_, C, P>>,
    result: Result<T, E>,
) -> Poll<Result<T, CallError<E>>> {
    if let Some(permit) = permit.take() {
        permit.record(&result);
    }
    Poll::Ready(result.map_err(CallError::Inner))
}

impl<C: Clock, P, F> fmt::Debug for Call<'_, C, P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("breaker", &self.breaker.name)
            .field("admitted", &self.permit.is_some())
            .finish_non_exhaustive()
    }
}

// === impl CallWith ===

pin_project! {
    /// Future returned by [`CircuitBreaker::call_with`].
    ///
    /// # Panics
    ///
    /// If polled again after it completed.
    ///
    /// # Cancellation
    ///
    /// Dropping it drops the call's future, if it was made. If the call was
    /// admitted and had not finished, it counts as neither a success nor a
    /// failure, and a probe's half-open slot is given back.
    #[must_use = "futures do nothing unless polled"]
    pub struct CallWith<'a, C: Clock, P, G, F> {
        breaker: &'a CircuitBreaker<C, P>,
        permit: Option<CallPermit<'a, C, P>>,
        make: Option<G>,
        #[pin]
        future: Option<F>,
    }
}

impl<C, P, G, F, T, E> Future for CallWith<'_, C, P, G, F>
where
    C: Clock,
    P: Classify<E>,
    G: FnOnce() -> F,
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, CallError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some(make) = this.make.take() {
            match this.breaker.try_acquire() {
                Ok(permit) => {
                    *this.permit = Some(permit);
                    this.future.set(Some(make()));
                }
                Err(rejected) => return Poll::Ready(Err(rejected.into())),
            }
        }
        let Some(future) = this.future.as_mut().as_pin_mut() else {
            panic!("`CallWith` polled after completion");
        };
        let result = core::task::ready!(future.poll(cx));
        this.future.set(None);
        finish(this.permit, result)
    }
}

impl<C: Clock, P, G, F> fmt::Debug for CallWith<'_, C, P, G, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallWith")
            .field("breaker", &self.breaker.name)
            .field("admitted", &self.permit.is_some())
            .finish_non_exhaustive()
    }
}

// === impl StateChanges ===

pin_project! {
    /// Stream returned by [`CircuitBreaker::state_changes`]: the current
    /// state, then the latest state after each change (coalesced).
    ///
    /// # Cancellation
    ///
    /// Dropping the stream, or a `next()` future on it, loses nothing: the
    /// next poll reports the latest state if it changed since the last one
    /// reported.
    #[must_use = "streams do nothing unless polled"]
    pub struct StateChanges<'a, C: Clock, P> {
        breaker: &'a CircuitBreaker<C, P>,
        seen: Option<u64>,
        key: Option<usize>,
        sleeping_until: Option<u64>,
        #[pin]
        sleep: Option<C::Sleep>,
    }

    impl<C: Clock, P> PinnedDrop for StateChanges<'_, C, P> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(key) = this.key.take() {
                this.breaker.watchers.lock().remove(key);
            }
        }
    }
}

impl<C: Clock, P> Stream for StateChanges<'_, C, P> {
    type Item = CircuitState;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<CircuitState>> {
        let mut this = self.project();
        let breaker = *this.breaker;
        let mut registered = false;
        loop {
            breaker.refresh();
            let version = breaker.changes.load(Ordering::Acquire);
            if *this.seen != Some(version) {
                *this.seen = Some(version);
                let word = breaker.word.load(Ordering::Acquire);
                return Poll::Ready(Some(CircuitState::of(word)));
            }
            if registered {
                break;
            }
            {
                let mut watchers = breaker.watchers.lock();
                match *this.key {
                    Some(key) => match &mut watchers[key] {
                        Some(w) if w.will_wake(cx.waker()) => {}
                        slot => *slot = Some(cx.waker().clone()),
                    },
                    None => *this.key = Some(watchers.insert(Some(cx.waker().clone()))),
                }
            }
            // A change between the check and the registration: look again.
            registered = true;
        }
        // While open, sleep until the reset time to report half-open.
        let word = breaker.word.load(Ordering::Acquire);
        if tag(word) == OPEN {
            let until = breaker.open_until.load(Ordering::Acquire);
            if *this.sleeping_until != Some(until) {
                *this.sleeping_until = Some(until);
                this.sleep
                    .set(Some(breaker.clock.sleep_until(Instant::from_nanos(until))));
            }
            if let Some(sleep) = this.sleep.as_mut().as_pin_mut() {
                if sleep.poll(cx).is_ready() {
                    this.sleep.set(None);
                    breaker.refresh();
                    let version = breaker.changes.load(Ordering::Acquire);
                    if *this.seen != Some(version) {
                        *this.seen = Some(version);
                        let word = breaker.word.load(Ordering::Acquire);
                        return Poll::Ready(Some(CircuitState::of(word)));
                    }
                }
            }
        } else if this.sleeping_until.take().is_some() {
            this.sleep.set(None);
        }
        Poll::Pending
    }
}

impl<C: Clock, P> fmt::Debug for StateChanges<'_, C, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateChanges")
            .field("breaker", &self.breaker.name)
            .finish_non_exhaustive()
    }
}
