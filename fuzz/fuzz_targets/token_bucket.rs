//! Fuzzes `TokenBucket<ManualClock>` against an exact reference model that
//! counts tokens as a *level*, written independently of the GCRA state
//! (`tat`) the bucket keeps.
//!
//! # Construction
//!
//! `(rate, capacity)` come from the input (as ratios of integers, or as raw
//! `f64`s). Following `with_clock`'s documentation: `rate` must be finite,
//! positive and at most 1e9 per second, else `Err` naming `rate`; then
//! `interval = round(1e9 / rate)` nanoseconds per token; `capacity` must be
//! finite and positive and `tau = round(capacity * interval)` at most 2^62 ns
//! (146 years), else `Err` naming `capacity`. Nothing may panic.
//!
//! # The model
//!
//! All in integer nanoseconds. `level` (an `i128`) is how many nanoseconds
//! worth of tokens are in the bucket; it starts at `tau` (full). Writing
//! `cost(n) = n * interval`:
//!
//! * time advancing by `e` refills: `level = min(tau, level + e)`;
//! * `try_acquire(n)`: `Ok` if `n == 0` (documented: zero tokens are always
//!   granted); `Invalid` (naming `n`) if `cost > tau`; `Ok` and
//!   `level -= cost` if `level >= cost`; else `Insufficient { retry_after:
//!   cost - level }` exactly, and nothing changes;
//! * `acquire(n)`: ready at its first poll if `n == 0`, `Invalid` then if
//!   `cost > tau`; else it reserves: `level -= cost` (it may go negative:
//!   the debt of the queued reservations). If the level is still `>= 0` it
//!   is ready at once; otherwise it is ready at `ready_at = now - level`
//!   (when the refill has paid the debt back), is pending exactly until
//!   then, and its sleep is registered with the clock (so `next_deadline()`
//!   and `sleepers()` are predicted too). Its reservation *ends* at
//!   `end = ready_at + tau`;
//! * dropping a reserved, unfinished acquire: if no `acquire` has reserved
//!   since (every reserving `acquire` counts, even one ready at once; plain
//!   `try_acquire` takes do not) it gives back `level += min(cost, end -
//!   now)` (only the part time has not overtaken comes back). Otherwise it
//!   gives nothing back: the waiters behind it keep their deadlines, and
//!   their tokens were counted as following it, so handing its share back
//!   would let a later request take tokens at the same instant as those
//!   waiters (see the conformance check below);
//! * `available() = max(0, level) / interval` tokens.
//!
//! Equivalence with GCRA: the bucket's `tat` relates to the level by
//! `max(tat, now) = now + tau - level`. Then GCRA's admission test
//! `max(tat, now) + cost <= now + tau` is `cost <= level`, its retry time
//! `max(tat, now) + cost - (now + tau)` is `cost - level`, a reservation's
//! wake time `max(tat, now) + cost - tau` is `now - level_after`, its end is
//! the new `tat`. A refund subtracts from `tat`, which is then at least
//! `now + refund`, so the level rises by exactly the refund.
//! Time passing only matters through `max(tat, now)`, i.e.
//! `min(tau, level + e)`.
//!
//! # Conformance, independently of the model
//!
//! Every grant is logged at the instant the tokens became the caller's:
//! `try_acquire` and an immediate `acquire` at `now`, a reserved `acquire`
//! that completes at its `ready_at`. At the end the log, in time order, must
//! pass a plain bucket of capacity `tau` refilling one nanosecond per
//! nanosecond from the bucket's creation: no burst ever exceeds the
//! capacity, whatever the reservations and refunds did.
//!
//! The bucket computes with `u64` and saturates at `u64::MAX` (about 584
//! years after the clock's epoch). That is outside what it promises, so the
//! target skips any step after which `max(tat, now) + tau` could exceed
//! `u64::MAX`.
#![no_main]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use arbitrary::Arbitrary;
use asyncutils_core::buckets::{Acquire, TokenBucket, TryAcquireError};
use asyncutils_core::time::{Instant, ManualClock};
use asyncutils_fuzz::FlagWakers;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Params {
    /// `rate = rate_num / rate_den`, `capacity = cap_num / cap_den`: mostly
    /// sensible buckets (a zero gives an invalid one).
    Ratio {
        rate_num: u32,
        rate_den: u16,
        cap_num: u32,
        cap_den: u16,
    },
    /// Any floats at all: NaN, infinities, negatives, subnormals.
    Raw { rate: f64, capacity: f64 },
}

#[derive(Arbitrary, Debug)]
enum Op {
    AdvanceNanos(u16),
    /// Advances by `k` refill intervals.
    AdvanceIntervals(u8),
    AdvanceRaw(u64),
    /// `ManualClock::advance_to_next`: lands exactly on a wake-up instant.
    AdvanceToNext,
    /// Advances by the last `retry_after` reported (less one nanosecond if
    /// `short`), to probe it to the nanosecond.
    AdvanceByRetry {
        short: bool,
    },
    TryAcquire(u8),
    TryAcquireRaw(u64),
    /// Creates an acquire; polls it once if `poll`.
    Acquire {
        n: u8,
        poll: bool,
    },
    AcquireRaw(u64),
    /// Polls live acquire `idx % len` with waker `alt`.
    Poll {
        idx: u8,
        alt: bool,
    },
    /// Drops live acquire `idx % len`, whatever its state.
    Drop {
        idx: u8,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    params: Params,
    /// Where the clock starts (shifted down to stay far from overflow).
    start: u64,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| run(input));

const MAX_TAU: f64 = (1u64 << 62) as f64;

/// What `with_clock` must do with `(rate, capacity)`: `(interval, tau)` in
/// nanoseconds, or the name of the argument it must reject.
fn expected_params(rate: f64, capacity: f64) -> Result<(u64, u64), &'static str> {
    if !(rate.is_finite() && rate > 0.0 && rate <= 1e9) {
        return Err("rate");
    }
    // `rate <= 1e9` makes this at least 1.
    let interval = (1e9 / rate).round();
    if !(capacity.is_finite() && capacity > 0.0) {
        return Err("capacity");
    }
    let tau = (capacity * interval).round();
    if tau > MAX_TAU {
        return Err("capacity");
    }
    Ok((interval as u64, tau as u64))
}

/// The reference model; see the module docs.
struct Model {
    interval: u64,
    tau: u64,
    now: u64,
    level: i128,
    /// The last `retry_after` reported, in nanoseconds.
    last_retry: u64,
    /// Every grant as `(instant, cost)`, for the conformance check.
    grants: Vec<(u64, u64)>,
    /// What the last drop did, for failure messages.
    last_drop: &'static str,
    /// End (`tat` right after) of the newest reservation by an `acquire`.
    newest_end: i128,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AcqState {
    Unpolled {
        n: u64,
    },
    /// Reserved `cost`, ready at `ready_at`; `registered` while its sleep
    /// is registered with the clock and not yet woken.
    Reserved {
        cost: u64,
        ready_at: u64,
        registered: bool,
    },
}

/// A poll result, as both the real future and the model give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Pending,
    Ready,
    Invalid,
}

impl Model {
    /// `max(tat, now)` of the real bucket.
    fn tat(&self) -> i128 {
        i128::from(self.now) + i128::from(self.tau) - self.level
    }

    /// Whether, at `tat` and `now`, any later request of at most `tau`
    /// stays clear of `u64` saturation.
    fn in_domain(&self, tat: i128, now: u64) -> bool {
        tat.max(i128::from(now)) + i128::from(self.tau) <= i128::from(u64::MAX)
    }

    fn cost(&self, n: u64) -> Option<u64> {
        n.checked_mul(self.interval).filter(|&c| c <= self.tau)
    }

    /// Moves to `now + d` if that stays in the domain; false if skipped.
    /// Sleeps that fall due are woken.
    fn advance(&mut self, d: u64, live: &mut [Waiter<'_>]) -> bool {
        let Some(now) = self.now.checked_add(d) else {
            return false;
        };
        if !self.in_domain(self.tat(), now) {
            return false;
        }
        self.now = now;
        self.level = (self.level + i128::from(d)).min(i128::from(self.tau));
        for w in live {
            if let AcqState::Reserved {
                ready_at,
                registered,
                ..
            } = &mut w.state
                && *registered
                && *ready_at <= now
            {
                *registered = false;
                w.must_be_woken = true;
            }
        }
        true
    }

    fn try_acquire(&mut self, n: u64) -> Result<(), Option<Duration>> {
        if n == 0 {
            return Ok(());
        }
        let Some(cost) = self.cost(n) else {
            return Err(None);
        };
        let wide = i128::from(cost);
        if self.level >= wide {
            self.level -= wide;
            self.grants.push((self.now, cost));
            Ok(())
        } else {
            let retry = u64::try_from(wide - self.level).expect("retry fits in u64 in the domain");
            self.last_retry = retry;
            Err(Some(Duration::from_nanos(retry)))
        }
    }

    /// Whether polling `state` now stays in the domain.
    fn poll_in_domain(&self, state: AcqState) -> bool {
        match state {
            AcqState::Unpolled { n } => self
                .cost(n)
                .is_none_or(|c| self.in_domain(self.tat() + i128::from(c), self.now)),
            AcqState::Reserved { .. } => true,
        }
    }

    fn poll(&mut self, w: &mut Waiter<'_>) -> Outcome {
        w.must_be_woken = false;
        match w.state {
            AcqState::Unpolled { n: 0 } => Outcome::Ready,
            AcqState::Unpolled { n } => {
                let Some(cost) = self.cost(n) else {
                    return Outcome::Invalid;
                };
                self.level -= i128::from(cost);
                self.newest_end = self.tat();
                if self.level >= 0 {
                    self.grants.push((self.now, cost));
                    return Outcome::Ready;
                }
                let ready_at = u64::try_from(i128::from(self.now) - self.level)
                    .expect("deadline fits in u64 in the domain");
                w.state = AcqState::Reserved {
                    cost,
                    ready_at,
                    registered: true,
                };
                Outcome::Pending
            }
            AcqState::Reserved { cost, ready_at, .. } => {
                if self.now >= ready_at {
                    // The tokens were the waiter's from `ready_at` on.
                    self.grants.push((ready_at, cost));
                    Outcome::Ready
                } else {
                    w.state = AcqState::Reserved {
                        cost,
                        ready_at,
                        registered: true,
                    };
                    Outcome::Pending
                }
            }
        }
    }

    /// A live acquire was dropped: give back what is unexpired of its
    /// reservation if no `acquire` has reserved since.
    fn drop_acquire(&mut self, state: AcqState) {
        let AcqState::Reserved { cost, ready_at, .. } = state else {
            return;
        };
        let end = i128::from(ready_at) + i128::from(self.tau);
        if end == self.newest_end {
            let unexpired = (end - i128::from(self.now)).clamp(0, i128::from(cost));
            self.level += unexpired;
            self.last_drop = "refunded the newest reservation";
        } else {
            self.last_drop = "dropped an older reservation: nothing may come back";
        }
    }

    /// The conformance check (see the module docs).
    fn check_conformance(&mut self, created: u64) {
        self.grants.sort_by_key(|&(at, _)| at);
        let tau = i128::from(self.tau);
        let (mut level, mut t) = (tau, created);
        for (i, &(at, cost)) in self.grants.iter().enumerate() {
            level = (level + i128::from(at - t)).min(tau);
            t = at;
            assert!(
                level >= i128::from(cost),
                "burst beyond capacity: grant {i} of {cost} ns at {at} ns finds only {level} \
                 ns of tokens (tau {tau}); grants: {:?}",
                self.grants
            );
            level -= i128::from(cost);
        }
    }
}

/// A live acquire future with its model state.
struct Waiter<'a> {
    future: Pin<Box<Acquire<'a, ManualClock>>>,
    wakers: FlagWakers,
    state: AcqState,
    /// The clock woke it and it was not polled since.
    must_be_woken: bool,
}

fn run(input: Input) {
    let (rate, capacity) = match input.params {
        Params::Ratio {
            rate_num,
            rate_den,
            cap_num,
            cap_den,
        } => (
            f64::from(rate_num) / f64::from(rate_den),
            f64::from(cap_num) / f64::from(cap_den),
        ),
        Params::Raw { rate, capacity } => (rate, capacity),
    };
    let clock = ManualClock::starting_at(Instant::from_nanos(input.start >> 2));
    let built = TokenBucket::with_clock(rate, capacity, clock);
    match (expected_params(rate, capacity), built) {
        (Ok(params), Ok(bucket)) => check_bucket(&bucket, params, &input.ops),
        (Err(name), Err(e)) => {
            assert_eq!(e.name(), name, "rate {rate:?}, capacity {capacity:?}: {e}");
        }
        (Ok(_), Err(e)) => panic!("rate {rate:?}, capacity {capacity:?} refused: {e}"),
        (Err(name), Ok(_)) => {
            panic!("rate {rate:?}, capacity {capacity:?} accepted; `{name}` is out of range")
        }
    }
}

fn check_bucket(bucket: &TokenBucket<ManualClock>, (interval, tau): (u64, u64), ops: &[Op]) {
    assert_eq!(bucket.refill_interval(), Duration::from_nanos(interval));
    let clock = bucket.clock().clone();
    let created = clock.now().as_nanos();
    let mut model = Model {
        interval,
        tau,
        now: created,
        level: i128::from(tau),
        last_retry: 0,
        grants: Vec::new(),
        last_drop: "",
        newest_end: 0,
    };
    let mut live: Vec<Waiter<'_>> = Vec::new();
    for op in ops {
        step(bucket, &clock, &mut model, &mut live, op);
        check(bucket, &clock, &model, &live, op);
    }
    // Dropping everything left undoes what can be undone.
    while let Some(w) = live.pop() {
        drop_waiter(&mut model, w);
        check(bucket, &clock, &model, &live, &Op::Drop { idx: u8::MAX });
    }
    model.check_conformance(created);
}

fn drop_waiter(model: &mut Model, w: Waiter<'_>) {
    let state = w.state;
    drop(w);
    model.drop_acquire(state);
}

fn step<'a>(
    bucket: &'a TokenBucket<ManualClock>,
    clock: &ManualClock,
    model: &mut Model,
    live: &mut Vec<Waiter<'a>>,
    op: &Op,
) {
    let advance = |model: &mut Model, live: &mut Vec<Waiter<'a>>, d: u64| {
        if model.advance(d, live) {
            clock.advance(Duration::from_nanos(d));
        }
    };
    match *op {
        Op::AdvanceNanos(d) => advance(model, live, u64::from(d)),
        Op::AdvanceIntervals(k) => {
            advance(model, live, u64::from(k).saturating_mul(model.interval));
        }
        Op::AdvanceRaw(d) => advance(model, live, d),
        Op::AdvanceByRetry { short } => {
            advance(
                model,
                live,
                model.last_retry.saturating_sub(u64::from(short)),
            );
        }
        Op::AdvanceToNext => {
            if let Some(deadline) = clock.next_deadline() {
                let d = deadline.as_nanos() - model.now;
                if model.advance(d, live) {
                    assert!(clock.advance_to_next());
                    assert_eq!(clock.now(), deadline);
                }
            }
        }
        Op::TryAcquire(n) => try_acquire(bucket, model, u64::from(n)),
        Op::TryAcquireRaw(n) => try_acquire(bucket, model, n),
        Op::Acquire { n, poll } => {
            live.push(Waiter {
                future: Box::pin(bucket.acquire(u64::from(n))),
                wakers: FlagWakers::new(),
                state: AcqState::Unpolled { n: u64::from(n) },
                must_be_woken: false,
            });
            if poll {
                poll_acquire(model, live, live.len() - 1, false);
            }
        }
        Op::AcquireRaw(n) => {
            live.push(Waiter {
                future: Box::pin(bucket.acquire(n)),
                wakers: FlagWakers::new(),
                state: AcqState::Unpolled { n },
                must_be_woken: false,
            });
            poll_acquire(model, live, live.len() - 1, false);
        }
        Op::Poll { idx, alt } => {
            if !live.is_empty() {
                poll_acquire(model, live, usize::from(idx) % live.len(), alt);
            }
        }
        Op::Drop { idx } => {
            if !live.is_empty() {
                let w = live.remove(usize::from(idx) % live.len());
                drop_waiter(model, w);
            }
        }
    }
}

fn try_acquire(bucket: &TokenBucket<ManualClock>, model: &mut Model, n: u64) {
    if let Some(cost) = model.cost(n)
        && !model.in_domain(model.tat() + i128::from(cost), model.now)
    {
        return;
    }
    let expected = model.try_acquire(n);
    let actual = bucket.try_acquire(n);
    match (expected, actual) {
        (Ok(()), Ok(())) => {}
        (Err(None), Err(TryAcquireError::Invalid(e))) => assert_eq!(e.name(), "n"),
        (Err(Some(want)), Err(TryAcquireError::Insufficient { retry_after })) => {
            assert_eq!(retry_after, want, "try_acquire({n}) retry_after");
        }
        (expected, actual) => panic!(
            "try_acquire({n}) at level {} of tau {}: expected {expected:?}, got {actual:?}",
            model.level, model.tau
        ),
    }
}

fn poll_acquire(model: &mut Model, live: &mut Vec<Waiter<'_>>, index: usize, alt: bool) {
    let w = &mut live[index];
    if !model.poll_in_domain(w.state) {
        return;
    }
    let before = w.state;
    let mut cx = Context::from_waker(w.wakers.for_poll(alt));
    let actual = match w.future.as_mut().poll(&mut cx) {
        Poll::Pending => Outcome::Pending,
        Poll::Ready(Ok(())) => Outcome::Ready,
        Poll::Ready(Err(e)) => {
            assert_eq!(e.name(), "n");
            Outcome::Invalid
        }
    };
    let expected = model.poll(w);
    assert_eq!(
        actual, expected,
        "poll of acquire ({before:?}) at {} ns, level {}",
        model.now, model.level
    );
    if actual != Outcome::Pending {
        // Finished: not polled again, nothing to refund.
        live.remove(index);
    }
}

fn check(
    bucket: &TokenBucket<ManualClock>,
    clock: &ManualClock,
    model: &Model,
    live: &[Waiter<'_>],
    after: &Op,
) {
    assert_eq!(clock.now().as_nanos(), model.now);
    assert!(
        model.level <= i128::from(model.tau),
        "model: level above capacity"
    );

    let expected = model.level.max(0) as f64 / model.interval as f64;
    let available = bucket.available();
    assert!(
        (available - expected).abs() <= 1e-9 * expected.max(1.0),
        "after {after:?} (last drop: {}): available() = {available}, model {expected} \
         (level {} ns, tau {} ns)",
        model.last_drop,
        model.level,
        model.tau
    );

    // The level to the nanosecond, debt included: a request for the most
    // the bucket holds fails (without side effects) while the level is
    // below its cost, and says by how much.
    let max_n = model.tau / model.interval;
    let probe = i128::from(max_n * model.interval);
    if max_n > 0 && model.level < probe {
        match bucket.try_acquire(max_n) {
            Err(TryAcquireError::Insufficient { retry_after }) => assert_eq!(
                probe - i128::try_from(retry_after.as_nanos()).unwrap(),
                model.level,
                "after {after:?} (last drop: {}): level in ns, from try_acquire({max_n})",
                model.last_drop
            ),
            other => panic!(
                "after {after:?}: try_acquire({max_n}) = {other:?} at level {} ns",
                model.level
            ),
        }
    }

    // Every pending reservation sleeps until exactly its model deadline.
    let registered = live.iter().filter_map(|w| match w.state {
        AcqState::Reserved {
            ready_at,
            registered: true,
            ..
        } => Some(ready_at),
        _ => None,
    });
    assert_eq!(
        clock.sleepers(),
        registered.clone().count(),
        "registered sleeps"
    );
    assert_eq!(
        clock.next_deadline().map(Instant::as_nanos),
        registered.min(),
        "next deadline"
    );

    for w in live {
        if w.must_be_woken {
            assert!(w.wakers.current_woken(), "a due acquire was not woken");
        }
    }
}
