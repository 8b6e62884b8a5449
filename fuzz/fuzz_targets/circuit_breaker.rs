//! Fuzzes `CircuitBreaker<ManualClock>` against a plain state machine.
//!
//! # Construction
//!
//! `max_fails`, `max_half_open_calls` and the reset (whole milliseconds)
//! come from the input; zero in any of them must be an `Err` naming that
//! argument (checked in the documented order), and nothing may panic.
//!
//! # The model
//!
//! A state (`Closed(consecutive failures)`, `Open(until)`,
//! `HalfOpen(probes in flight)`) and an *episode* number, bumped on every
//! trip. An open state whose `until` has passed is half-open with no
//! probes. Every admitted call remembers the episode it was admitted in
//! and whether it is a probe:
//!
//! * admitting: closed → a plain call; open → refused with `retry_after =
//!   until - now` exactly; half-open → a probe if fewer than
//!   `max_half_open_calls` are in flight, else refused as busy;
//! * a report counts only in the episode the call was admitted in, and
//!   only in the state it was admitted in: a plain call's failure counts
//!   one (the `max_fails`-th trips: open until `now + reset`, new episode),
//!   its success resets the count; a probe's failure trips, its success
//!   closes; an error the predicate ignores (`Err(0)`) is a success;
//! * dropping an unreported call (a permit, or a call future at any poll
//!   point) changes nothing, except that a probe of the current half-open
//!   episode gives its slot back.
//!
//! After every operation `state()`, `consecutive_failures()` and
//! `probes_in_flight()` must match the model.
#![no_main]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use arbitrary::Arbitrary;
use asyncutils_core::locks::{CallError, CallPermit, CallRejected, CircuitBreaker, CircuitState};
use asyncutils_core::time::ManualClock;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Outcome {
    Ok,
    /// An error the predicate counts as a failure.
    Fail,
    /// An error the predicate ignores.
    Ignored,
}

impl Outcome {
    fn result(self) -> Result<(), u8> {
        match self {
            Outcome::Ok => Ok(()),
            Outcome::Fail => Err(1),
            Outcome::Ignored => Err(0),
        }
    }
    fn is_failure(self) -> bool {
        matches!(self, Outcome::Fail)
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    Acquire,
    Report {
        index: u8,
        outcome: Outcome,
    },
    DropPermit {
        index: u8,
    },
    /// A call future pending `pending` times, then resolving to `outcome`;
    /// polled once at once.
    StartCall {
        pending: u8,
        outcome: Outcome,
        lazy: bool,
    },
    PollCall {
        index: u8,
    },
    DropCall {
        index: u8,
    },
    Advance {
        ms: u16,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    max_fails: u8,
    max_half_open: u8,
    reset_ms: u16,
    ops: Vec<Op>,
}

/// A future pending `n` times, then ready with `out`.
struct PendingThen {
    n: u8,
    out: Result<(), u8>,
}

impl Future for PendingThen {
    type Output = Result<(), u8>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.n == 0 {
            return Poll::Ready(self.out);
        }
        self.n -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum S {
    Closed(u32),
    Open(u64),
    Half(u32),
}

struct Model {
    state: S,
    episode: u64,
    now: u64,
    max_fails: u32,
    max_half: u32,
    reset: u64,
}

/// An admitted call as the model sees it.
#[derive(Debug, Clone, Copy)]
struct Admitted {
    episode: u64,
    probe: bool,
}

impl Model {
    fn normalize(&mut self) {
        if let S::Open(until) = self.state
            && self.now >= until
        {
            self.state = S::Half(0);
        }
    }

    fn admit(&mut self) -> Result<Admitted, CallRejected> {
        self.normalize();
        match self.state {
            S::Closed(_) => Ok(Admitted {
                episode: self.episode,
                probe: false,
            }),
            S::Open(until) => Err(CallRejected::Open {
                retry_after: Duration::from_nanos(until - self.now),
            }),
            S::Half(n) if n < self.max_half => {
                self.state = S::Half(n + 1);
                Ok(Admitted {
                    episode: self.episode,
                    probe: true,
                })
            }
            S::Half(_) => Err(CallRejected::HalfOpenBusy),
        }
    }

    fn trip(&mut self) {
        self.episode += 1;
        self.state = S::Open(self.now + self.reset);
    }

    /// `failure`: `Some(true)` failed, `Some(false)` succeeded, `None`
    /// dropped unreported.
    fn report(&mut self, a: Admitted, failure: Option<bool>) {
        if a.episode != self.episode {
            return;
        }
        match (self.state, a.probe, failure) {
            (S::Half(n), true, None) => self.state = S::Half(n - 1),
            (S::Half(_), true, Some(true)) => self.trip(),
            (S::Half(_), true, Some(false)) => self.state = S::Closed(0),
            (S::Closed(f), false, Some(true)) => {
                if f + 1 >= self.max_fails {
                    self.trip();
                } else {
                    self.state = S::Closed(f + 1);
                }
            }
            (S::Closed(_), false, Some(false)) => self.state = S::Closed(0),
            _ => {}
        }
    }

    fn check(&mut self, b: &Breaker) {
        self.normalize();
        let (state, fails, probes) = match self.state {
            S::Closed(f) => (CircuitState::Closed, f, 0),
            S::Open(_) => (CircuitState::Open, 0, 0),
            S::Half(n) => (CircuitState::HalfOpen, 0, n),
        };
        assert_eq!(b.state(), state);
        assert_eq!(b.consecutive_failures(), fails);
        assert_eq!(b.probes_in_flight(), probes);
    }
}

type Breaker = CircuitBreaker<ManualClock, fn(&u8) -> bool>;

fn is_failure(e: &u8) -> bool {
    *e != 0
}

type Permit<'a> = CallPermit<'a, ManualClock, fn(&u8) -> bool>;
type BoxedCall<'a> = Pin<Box<dyn Future<Output = Result<(), CallError<u8>>> + 'a>>;

fn run(input: Input) {
    let clock = ManualClock::new();
    let max_fails = u32::from(input.max_fails % 8);
    let max_half = u32::from(input.max_half_open % 4);
    let reset = u64::from(input.reset_ms % 1000);
    let built = CircuitBreaker::with_clock(
        "fuzz",
        max_fails,
        Duration::from_millis(reset),
        max_half,
        clock.clone(),
    );
    let expected_err = if max_fails == 0 {
        Some("max_fails")
    } else if reset == 0 {
        Some("reset")
    } else if max_half == 0 {
        Some("max_half_open_calls")
    } else {
        None
    };
    let breaker = match (built, expected_err) {
        (Err(e), Some(name)) => {
            assert_eq!(e.name(), name);
            return;
        }
        (Ok(b), None) => b.failure_if(is_failure as fn(&u8) -> bool),
        (Err(e), None) => panic!("valid arguments refused: {e}"),
        (Ok(_), Some(name)) => panic!("invalid `{name}` accepted"),
    };
    let mut model = Model {
        state: S::Closed(0),
        episode: 0,
        now: 0,
        max_fails,
        max_half,
        reset: reset * 1_000_000,
    };
    let mut cx = Context::from_waker(Waker::noop());
    let mut permits: Vec<(Permit<'_>, Admitted)> = Vec::new();
    let mut calls: Vec<(BoxedCall<'_>, Admitted, Outcome)> = Vec::new();

    for op in input.ops.into_iter().take(256) {
        match op {
            Op::Acquire => {
                let expected = model.admit();
                match (breaker.try_acquire(), expected) {
                    (Ok(p), Ok(a)) => {
                        assert_eq!(p.is_probe(), a.probe);
                        permits.push((p, a));
                    }
                    (Err(e), Err(m)) => assert_eq!(e, m),
                    (got, want) => panic!("try_acquire: got {got:?}, model {want:?}"),
                }
            }
            Op::Report { index, outcome } => {
                if permits.is_empty() {
                    continue;
                }
                let (p, a) = permits.swap_remove(usize::from(index) % permits.len());
                assert_eq!(p.record(&outcome.result()), outcome.is_failure());
                model.report(a, Some(outcome.is_failure()));
            }
            Op::DropPermit { index } => {
                if permits.is_empty() {
                    continue;
                }
                let (p, a) = permits.swap_remove(usize::from(index) % permits.len());
                drop(p);
                model.report(a, None);
            }
            Op::StartCall {
                pending,
                outcome,
                lazy,
            } => {
                let pending = pending % 4;
                let inner = PendingThen {
                    n: pending,
                    out: outcome.result(),
                };
                let mut call: BoxedCall<'_> = if lazy {
                    Box::pin(breaker.call_with(move || inner))
                } else {
                    Box::pin(breaker.call(inner))
                };
                let expected = model.admit();
                let polled = call.as_mut().poll(&mut cx);
                match (polled, expected) {
                    (Poll::Ready(Err(got)), Err(want)) => {
                        assert_eq!(got, CallError::from(want));
                    }
                    (Poll::Ready(got), Ok(a)) => {
                        assert_eq!(pending, 0);
                        assert_eq!(got, outcome.result().map_err(CallError::Inner));
                        model.report(a, Some(outcome.is_failure()));
                    }
                    (Poll::Pending, Ok(a)) => calls.push((call, a, outcome)),
                    (got, want) => panic!("call: got {got:?}, model {want:?}"),
                }
            }
            Op::PollCall { index } => {
                if calls.is_empty() {
                    continue;
                }
                let i = usize::from(index) % calls.len();
                if let Poll::Ready(got) = calls[i].0.as_mut().poll(&mut cx) {
                    let (_, a, outcome) = calls.swap_remove(i);
                    assert_eq!(got, outcome.result().map_err(CallError::Inner));
                    model.report(a, Some(outcome.is_failure()));
                }
            }
            Op::DropCall { index } => {
                if calls.is_empty() {
                    continue;
                }
                let (call, a, _) = calls.swap_remove(usize::from(index) % calls.len());
                drop(call);
                model.report(a, None);
            }
            Op::Advance { ms } => {
                let d = u64::from(ms % 2000) * 1_000_000;
                clock.advance(Duration::from_nanos(d));
                model.now += d;
            }
        }
        model.check(&breaker);
    }
}

fuzz_target!(|input: Input| run(input));
