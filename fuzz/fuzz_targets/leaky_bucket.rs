//! Fuzzes `LeakyBucket<ManualClock>` against a reference model written from
//! the documentation, not from the bucket's code.
//!
//! # The model
//!
//! Integers throughout: the level in nano-units (10⁻⁹ units, `i128`), time
//! in nanoseconds, the leak rate `round(leak × factor × 10⁹)` nano-units per
//! second (at least 1). Draining from `last` to `t` removes
//! `⌊((t − last)·rate + carry) / 10⁹⌋` nano-units and keeps the remainder
//! as `carry`; a level that would go below zero is zero with no carry.
//!
//! * *Sync to `now`* (before every operation): while a waiter is queued,
//!   find the first instant its amount fits — by **bisection** over the
//!   drain function, independently of the bucket's closed form — and if
//!   that is not after `now`, drain to it, add the amount, adapt, and move
//!   the waiter to the granted list with `share = amount`. Then drain to
//!   `now`. After every decrease of the level, each granted share becomes
//!   `min(share, level)`.
//! * *Adapt* after each admitted amount: level > ⌊3·capacity/4⌋ halves the
//!   factor (not below `min`), level < ⌊capacity/4⌋ doubles it (not above
//!   `max`).
//! * `try_acquire(a)`: `Ok` if `a = 0`; `Invalid` naming `amount` if above
//!   the capacity; `Queued { waiters }` if anyone waits; `Ok` (adding and
//!   adapting) if it fits; else `Full { retry_after }` with the bisected
//!   fit instant minus `now`.
//! * `wait_for_tokens(a)`, first poll: `Ok(0)` if `a = 0`; `Err(amount)` if
//!   above the capacity; `Ok(0)` adding at once if nobody waits and it
//!   fits; else queued (pending) since `now`. Later polls: `Ok(granted_at −
//!   since)` once granted, pending before; the same result after that.
//! * Dropping a queued waiter removes it; a granted one not yet polled
//!   takes its share back out of the level.
//! * `set_factor(f)`: `Err(factor)` on NaN, else the factor clamped.
//!
//! Besides the values, the target checks wake-ups: whenever the model says
//! a pending future could make progress, some pending future has been woken
//! since its last poll (a lost wake-up would hang a real executor).
#![no_main]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use arbitrary::Arbitrary;
use asyncutils_core::buckets::{AdaptiveFactor, LeakyAcquireError, LeakyBucket, WaitForTokens};
use asyncutils_core::time::ManualClock;
use asyncutils_fuzz::FlagWakers;
use libfuzzer_sys::fuzz_target;

const NANO: i128 = 1_000_000_000;

#[derive(Arbitrary, Debug)]
struct Input {
    /// Capacity in quarter units, plus one.
    capacity_quarters: u8,
    /// Leak rate: `num / den` units per second.
    leak_num: u16,
    leak_den: u8,
    /// Factor bounds as powers of two around 1 (`min = 2^-a`, `max = 2^b`).
    min_exp: u8,
    max_exp: u8,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    AdvanceMillis(u16),
    AdvanceNanos(u16),
    AdvanceToNext,
    TryAcquire(u8),
    Create(u8),
    Poll { idx: u8, alt: bool },
    Drop { idx: u8 },
    SetFactor(FactorArg),
    ResetFactor,
    Check,
}

#[derive(Arbitrary, Debug)]
enum FactorArg {
    Quarters(u8),
    Nan,
    Inf,
    NegInf,
    Raw(f64),
}

fuzz_target!(|input: Input| run(input));

fn run(input: Input) {
    let capacity = f64::from(input.capacity_quarters % 40 + 1) / 4.0;
    let leak = f64::from(input.leak_num % 2000 + 1) / f64::from(input.leak_den % 16 + 1);
    let min = 1.0 / f64::from(1u32 << (input.min_exp % 4));
    let max = f64::from(1u32 << (input.max_exp % 4));
    let factor = AdaptiveFactor {
        initial: 1.0,
        min,
        max,
    };
    let clock = ManualClock::new();
    let bucket =
        LeakyBucket::with_factor(capacity, leak, factor, clock.clone()).expect("valid parameters");
    let mut model = Model::new(capacity, leak, factor);
    let mut live: Vec<Live<'_>> = Vec::new();
    for op in input.ops.iter().take(256) {
        step(&bucket, &clock, &mut model, &mut live, op);
        check_progress(&clock, &mut model, &live);
    }
    let now = i128::from(clock.now().as_nanos());
    for l in live {
        model.drop_future(l.id, now);
        drop(l);
    }
    model.sync(now);
    assert_eq!(bucket.waiters(), 0);
    assert_eq!(bucket.level(), model.level_units());
}

struct Live<'a> {
    future: Pin<Box<WaitForTokens<'a, ManualClock>>>,
    wakers: FlagWakers,
    id: usize,
}

fn step<'a>(
    bucket: &'a LeakyBucket<ManualClock>,
    clock: &ManualClock,
    model: &mut Model,
    live: &mut Vec<Live<'a>>,
    op: &Op,
) {
    let now = || i128::from(clock.now().as_nanos());
    match *op {
        Op::AdvanceMillis(ms) => clock.advance(Duration::from_millis(u64::from(ms))),
        Op::AdvanceNanos(ns) => clock.advance(Duration::from_nanos(u64::from(ns))),
        Op::AdvanceToNext => {
            clock.advance_to_next();
        }
        Op::TryAcquire(a) => {
            let expected = model.try_acquire(i128::from(a), now());
            assert_eq!(
                bucket.try_acquire(u64::from(a)),
                expected,
                "try_acquire({a})"
            );
        }
        Op::Create(a) => {
            let id = model.create(i128::from(a));
            live.push(Live {
                future: Box::pin(bucket.wait_for_tokens(u64::from(a))),
                wakers: FlagWakers::new(),
                id,
            });
        }
        Op::Poll { idx, alt } => {
            if live.is_empty() {
                return;
            }
            let i = usize::from(idx) % live.len();
            let l = &mut live[i];
            let expected = model.poll(l.id, now());
            let mut cx = Context::from_waker(l.wakers.for_poll(alt));
            let got = l
                .future
                .as_mut()
                .poll(&mut cx)
                .map(|r| r.map_err(|e| e.name()));
            assert_eq!(got, expected, "poll of future {}", l.id);
        }
        Op::Drop { idx } => {
            if live.is_empty() {
                return;
            }
            let i = usize::from(idx) % live.len();
            let l = live.remove(i);
            model.drop_future(l.id, now());
            drop(l);
        }
        Op::SetFactor(ref arg) => {
            let f = match *arg {
                FactorArg::Quarters(q) => f64::from(q) / 4.0,
                FactorArg::Nan => f64::NAN,
                FactorArg::Inf => f64::INFINITY,
                FactorArg::NegInf => f64::NEG_INFINITY,
                FactorArg::Raw(f) => f,
            };
            let expected = model.set_factor(f, now());
            assert_eq!(bucket.set_factor(f).map_err(|e| e.name()), expected);
        }
        Op::ResetFactor => {
            model.sync(now());
            model.factor = model.bounds.initial;
            bucket.reset_factor();
        }
        Op::Check => {
            model.sync(now());
            assert_eq!(bucket.level(), model.level_units(), "level");
            assert_eq!(bucket.factor(), model.factor, "factor");
            assert_eq!(bucket.waiters(), model.queue.len(), "waiters");
        }
    }
}

/// If the model says some pending future could complete now, one of the
/// pending futures must have been woken since its last poll.
fn check_progress(clock: &ManualClock, model: &mut Model, live: &[Live<'_>]) {
    let mut probe = model.clone();
    probe.sync(clock.now().as_nanos().into());
    let ready_possible = live.iter().any(|l| {
        matches!(probe.futures[l.id], FState::Granted { .. })
            && matches!(
                model.futures[l.id],
                FState::Queued { .. } | FState::Granted { .. }
            )
    });
    if ready_possible {
        assert!(
            live.iter().any(|l| matches!(
                model.futures[l.id],
                FState::Queued { .. } | FState::Granted { .. }
            ) && l.wakers.current_woken()),
            "a future could complete but nobody was woken"
        );
    }
}

#[derive(Clone, Debug)]
enum FState {
    Unpolled { amount: i128 },
    Queued { amount: i128, since: i128 },
    Granted { since: i128, at: i128, share: i128 },
    Done(Result<Duration, &'static str>),
    Gone,
}

#[derive(Clone)]
struct Model {
    capacity: i128,
    leak: f64,
    bounds: AdaptiveFactor,
    factor: f64,
    level: i128,
    carry: i128,
    last: i128,
    futures: Vec<FState>,
    /// Ids of queued futures, first come first.
    queue: Vec<usize>,
}

impl Model {
    fn new(capacity: f64, leak: f64, bounds: AdaptiveFactor) -> Self {
        Model {
            capacity: (capacity * 1e9).round() as i128,
            leak,
            bounds,
            factor: bounds.initial,
            level: 0,
            carry: 0,
            last: 0,
            futures: Vec::new(),
            queue: Vec::new(),
        }
    }

    fn rate(&self) -> i128 {
        ((self.leak * self.factor * 1e9).round() as i128).max(1)
    }

    fn level_units(&self) -> f64 {
        self.level as f64 / 1e9
    }

    /// Level and carry after draining from `last` to `t`.
    fn drained(&self, t: i128) -> (i128, i128) {
        let total = (t - self.last) * self.rate() + self.carry;
        let level = self.level - total / NANO;
        if level <= 0 {
            (0, 0)
        } else {
            (level, total % NANO)
        }
    }

    fn drain(&mut self, t: i128) {
        if t <= self.last {
            return;
        }
        (self.level, self.carry) = self.drained(t);
        self.last = t;
        self.shrink_shares();
    }

    fn shrink_shares(&mut self) {
        let level = self.level;
        for f in &mut self.futures {
            if let FState::Granted { share, .. } = f {
                *share = (*share).min(level);
            }
        }
    }

    /// First instant, not before `last`, at which `amount` fits: bisection.
    fn fit_at(&self, amount: i128) -> i128 {
        let fits = |t: i128| self.drained(t).0 + amount <= self.capacity;
        if fits(self.last) {
            return self.last;
        }
        let (mut lo, mut hi) = (self.last, self.last + 1);
        while !fits(hi) {
            lo = hi;
            hi = self.last + (hi - self.last) * 2;
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if fits(mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        hi
    }

    fn admit(&mut self, amount: i128) {
        self.level += amount;
        if self.level > self.capacity * 3 / 4 {
            self.factor = (self.factor / 2.0).max(self.bounds.min);
        } else if self.level < self.capacity / 4 {
            self.factor = (self.factor * 2.0).min(self.bounds.max);
        }
    }

    fn sync(&mut self, now: i128) {
        while let Some(&id) = self.queue.first() {
            let FState::Queued { amount, since } = self.futures[id] else {
                unreachable!("queued futures are Queued")
            };
            let at = self.fit_at(amount);
            if at > now {
                break;
            }
            self.drain(at);
            self.admit(amount);
            self.queue.remove(0);
            self.futures[id] = FState::Granted {
                since,
                at,
                share: amount,
            };
        }
        self.drain(now);
    }

    fn valid(&self, amount: i128) -> bool {
        amount * NANO <= self.capacity
    }

    fn try_acquire(&mut self, amount: i128, now: i128) -> Result<(), LeakyAcquireError> {
        if amount == 0 {
            return Ok(());
        }
        if !self.valid(amount) {
            return Err(LeakyAcquireError::Invalid(
                asyncutils_core::error::InvalidArgument::new(
                    "amount",
                    "at most the bucket's capacity",
                ),
            ));
        }
        self.sync(now);
        if !self.queue.is_empty() {
            return Err(LeakyAcquireError::Queued {
                waiters: self.queue.len(),
            });
        }
        let at = self.fit_at(amount * NANO);
        if at > now {
            return Err(LeakyAcquireError::Full {
                retry_after: Duration::from_nanos((at - now) as u64),
            });
        }
        self.admit(amount * NANO);
        Ok(())
    }

    fn create(&mut self, amount: i128) -> usize {
        self.futures.push(FState::Unpolled { amount });
        self.futures.len() - 1
    }

    fn poll(&mut self, id: usize, now: i128) -> Poll<Result<Duration, &'static str>> {
        self.sync(now);
        match self.futures[id].clone() {
            FState::Unpolled { amount: 0 } => {
                self.futures[id] = FState::Done(Ok(Duration::ZERO));
                Poll::Ready(Ok(Duration::ZERO))
            }
            FState::Unpolled { amount } if !self.valid(amount) => Poll::Ready(Err("amount")),
            FState::Unpolled { amount } => {
                let amount = amount * NANO;
                if self.queue.is_empty() && self.fit_at(amount) <= now {
                    self.admit(amount);
                    self.futures[id] = FState::Done(Ok(Duration::ZERO));
                    return Poll::Ready(Ok(Duration::ZERO));
                }
                self.futures[id] = FState::Queued { amount, since: now };
                self.queue.push(id);
                Poll::Pending
            }
            FState::Queued { .. } => Poll::Pending,
            FState::Granted { since, at, .. } => {
                let waited = Ok(Duration::from_nanos((at - since) as u64));
                self.futures[id] = FState::Done(waited);
                Poll::Ready(waited)
            }
            FState::Done(r) => Poll::Ready(r),
            FState::Gone => unreachable!("polled a dropped future"),
        }
    }

    fn drop_future(&mut self, id: usize, now: i128) {
        self.sync(now);
        match std::mem::replace(&mut self.futures[id], FState::Gone) {
            FState::Queued { .. } => self.queue.retain(|&q| q != id),
            FState::Granted { share, .. } => {
                self.level -= share;
                self.shrink_shares();
            }
            _ => {}
        }
        self.sync(now);
    }

    fn set_factor(&mut self, f: f64, now: i128) -> Result<f64, &'static str> {
        if f.is_nan() {
            return Err("factor");
        }
        self.sync(now);
        self.factor = f.clamp(self.bounds.min, self.bounds.max);
        Ok(self.factor)
    }
}
