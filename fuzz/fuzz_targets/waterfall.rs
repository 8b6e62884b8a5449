//! Fuzzes `Waterfall<u32, ManualClock>` with arbitrary sequences of puts,
//! `try_put`s, clock advances, stops and driver drops, and checks the exact
//! batches and the instants they are delivered at against a reference
//! model.
//!
//! # What runs
//!
//! The input picks `max_quantity` (1–4), the capacity (up to 3 more),
//! `max_wait` (1–64 ms), how long the callback takes on each batch (0–15
//! ms: a sleep on the same manual clock) and a list of [`Op`]s: `try_put`
//! of a fresh value; create a `put` of a fresh value (polled at once or
//! not); poll or drop a live put; advance the clock; request a stop (with
//! or without a finalize deadline); drop the driver, make a new one, or
//! poll it spuriously. After every op the target plays an executor: it
//! polls the driver and every put whose waker fired, until none did, so
//! the model can run the driver at the same instants. Every value is
//! fresh (1, 2, 3, ...), so a delivered value names the put that gave it.
//!
//! # The model
//!
//! * `buf`: values that arrived, in order; `starts`: the arrival instant
//!   of every value at a position that is a multiple of `max_quantity`;
//!   `putters`: queued puts, FIFO. A put (at its first poll) or `try_put`
//!   arrives at once iff the waterfall is open, the buffer has room and no
//!   put is queued; a put queues otherwise (`try_put` answers `Full`); both
//!   are refused with the value once stopped.
//! * The driver, whenever it is polled at `now`: first, if the callback is
//!   busy and its end `<= now`, it completes. Then, if stopping with a
//!   deadline `<= now`: everything left (buffer and busy batch) is dropped
//!   and counted, and the driver finishes. Otherwise, with the callback
//!   busy, nothing happens. With the buffer empty: a stopping driver
//!   finishes. Otherwise a batch is cut — the first `min(len,
//!   max_quantity)` values — if stopping, if the buffer holds a full
//!   batch, or if `now >= starts[0] + max_wait`: it is delivered at `now`,
//!   the first queued puts move into the freed room (arriving at `now`,
//!   and to be woken), and the callback becomes busy until `now + cb`
//!   (with `cb == 0` it completes at once and the driver loops).
//! * A stop fails (and must wake) every queued put; a second stop only
//!   brings the deadline forward.
//! * No lost wake-ups: after the executor settles, the model driver would
//!   do nothing more at `now`, and no put that the model says has
//!   completed is still pending.
//!
//! At the end the target stops the waterfall, keeps a driver running and
//! advances to the next deadline until it finishes, then checks that every
//! value is accounted for exactly once: delivered, given back (`Full`,
//! `Stopped`), dropped with a withdrawn put, or dropped by an expired
//! finalize deadline (the count the driver and the model report).
#![no_main]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use arbitrary::Arbitrary;
use asyncutils_core::batch::{Driver, Put, Report, StoppedError, TryPutError, Waterfall};
use asyncutils_core::time::{Clock, Instant, ManualClock};
use asyncutils_fuzz::FlagWakers;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    max_quantity: u8,
    extra_capacity: u8,
    max_wait_ms: u8,
    callback_ms: u8,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    TryPut,
    /// Creates a put of a fresh value; polls it once if `poll`.
    Put {
        poll: bool,
    },
    /// Polls live put `idx % len` with waker `alt`.
    PollPut {
        idx: u8,
        alt: bool,
    },
    /// Drops live put `idx % len`.
    DropPut {
        idx: u8,
    },
    /// Advances the clock by `ms` milliseconds.
    Advance {
        ms: u8,
    },
    /// Requests a stop; with `Some(ms)` a finalize deadline `ms` from now.
    Stop {
        finalize_ms: Option<u8>,
    },
    DropDriver,
    NewDriver,
    /// Polls the driver though nothing woke it.
    PollDriver {
        alt: bool,
    },
}

fuzz_target!(|input: Input| run(input));

const MS: u64 = 1_000_000;

type Log = Rc<RefCell<Vec<(Instant, Vec<u32>)>>>;
type Callback = Box<dyn FnMut(Vec<u32>) -> Pin<Box<dyn Future<Output = Result<(), ()>>>>>;

fn callback(clock: &ManualClock, log: &Log, cb_ns: u64) -> Callback {
    let (clock, log) = (clock.clone(), log.clone());
    Box::new(move |batch| {
        log.borrow_mut().push((clock.now(), batch));
        let clock = clock.clone();
        Box::pin(async move {
            if cb_ns > 0 {
                clock.sleep(Duration::from_nanos(cb_ns)).await;
            }
            Ok(())
        })
    })
}

// === the model ===

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PutState {
    Unpolled,
    Queued,
    /// Moved into the buffer; completes `Ok` at its next poll.
    Moved,
    /// Failed by a stop; completes with its value at its next poll.
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    Stopping(Option<u64>),
    Finished(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Pending,
    Ok,
    Stopped(u32),
}

struct Model {
    max_q: usize,
    cap: usize,
    max_wait: u64,
    cb: u64,
    now: u64,
    buf: VecDeque<u32>,
    starts: VecDeque<u64>,
    /// Queued puts: (put id, value).
    putters: VecDeque<(usize, u32)>,
    phase: Phase,
    /// End of the busy callback and the size of its batch.
    busy: Option<(u64, usize)>,
    log: Vec<(u64, Vec<u32>)>,
    /// Counters of the current driver.
    batches: u64,
    items: u64,
    /// Puts the model has completed or failed: must have been woken.
    to_wake: Vec<usize>,
}

impl Model {
    fn arrive(&mut self, value: u32) {
        if self.buf.len().is_multiple_of(self.max_q) {
            self.starts.push_back(self.now);
        }
        self.buf.push_back(value);
    }

    fn try_put(&mut self, value: u32) -> Result<(), TryPutError<u32>> {
        if self.phase != Phase::Open {
            return Err(TryPutError::Stopped(value));
        }
        if self.buf.len() >= self.cap {
            return Err(TryPutError::Full(value));
        }
        assert!(self.putters.is_empty(), "putters wait only while full");
        self.arrive(value);
        Ok(())
    }

    /// The first poll of put `id`.
    fn first_poll(&mut self, id: usize, value: u32) -> (Outcome, PutState) {
        if self.phase != Phase::Open {
            return (Outcome::Stopped(value), PutState::Stopped);
        }
        if self.buf.len() < self.cap && self.putters.is_empty() {
            self.arrive(value);
            return (Outcome::Ok, PutState::Moved);
        }
        self.putters.push_back((id, value));
        (Outcome::Pending, PutState::Queued)
    }

    fn withdraw(&mut self, id: usize) {
        self.putters.retain(|&(i, _)| i != id);
    }

    fn stop(&mut self, finalize: Option<u64>, states: &mut [LivePut<'_>]) {
        let deadline = finalize.map(|d| self.now + d);
        self.phase = match self.phase {
            Phase::Finished(d) => Phase::Finished(d),
            Phase::Open => Phase::Stopping(deadline),
            Phase::Stopping(old) => Phase::Stopping(match (old, deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }),
        };
        if matches!(self.phase, Phase::Finished(_)) {
            return;
        }
        for (id, _) in self.putters.drain(..) {
            let put = states
                .iter_mut()
                .find(|p| p.id == id)
                .expect("queued put is live");
            put.state = PutState::Stopped;
            self.to_wake.push(id);
        }
    }

    /// One poll of the driver at `now`. `Some(dropped)` when it finishes.
    fn drive(&mut self, states: &mut [LivePut<'_>]) -> Option<usize> {
        loop {
            if let Some((end, _)) = self.busy
                && end <= self.now
            {
                self.busy = None;
                continue;
            }
            if let Phase::Finished(_) = self.phase {
                return Some(0);
            }
            if let Phase::Stopping(Some(deadline)) = self.phase
                && self.now >= deadline
            {
                let dropped = self.buf.len() + self.busy.map_or(0, |(_, n)| n);
                self.buf.clear();
                self.starts.clear();
                self.busy = None;
                self.phase = Phase::Finished(dropped);
                return Some(dropped);
            }
            if self.busy.is_some() {
                return None;
            }
            let stopping = matches!(self.phase, Phase::Stopping(_));
            if self.buf.is_empty() {
                if stopping {
                    self.phase = Phase::Finished(0);
                    return Some(0);
                }
                return None;
            }
            let due = self.starts[0].saturating_add(self.max_wait);
            if !(stopping || self.buf.len() >= self.max_q || self.now >= due) {
                return None;
            }
            let n = self.buf.len().min(self.max_q);
            let batch: Vec<u32> = self.buf.drain(..n).collect();
            self.starts.pop_front();
            while self.buf.len() < self.cap {
                let Some((id, value)) = self.putters.pop_front() else {
                    break;
                };
                let put = states
                    .iter_mut()
                    .find(|p| p.id == id)
                    .expect("queued put is live");
                put.state = PutState::Moved;
                self.to_wake.push(id);
                self.arrive(value);
            }
            self.log.push((self.now, batch));
            self.batches += 1;
            self.items += n as u64;
            self.busy = Some((self.now + self.cb, n));
        }
    }

    /// Whether a poll of the driver now would change anything.
    fn driver_would_act(&self) -> bool {
        let mut copy = Model {
            buf: self.buf.clone(),
            starts: self.starts.clone(),
            putters: self.putters.clone(),
            log: Vec::new(),
            to_wake: Vec::new(),
            ..*self
        };
        let before = (copy.buf.len(), copy.phase, copy.busy);
        let mut none: Vec<LivePut<'_>> = Vec::new();
        // Queued puts are not touched unless a batch is cut, which shows in
        // the buffer or the phase anyway; give the copy fake entries.
        for &(id, _) in &copy.putters {
            none.push(LivePut::fake(id));
        }
        let finished = copy.drive(&mut none).is_some();
        finished || (copy.buf.len(), copy.phase, copy.busy) != before || !copy.log.is_empty()
    }
}

// === the futures under test ===

struct LivePut<'a> {
    id: usize,
    value: u32,
    fut: Option<Put<'a, u32, ManualClock>>,
    wakers: Option<FlagWakers>,
    state: PutState,
}

impl LivePut<'_> {
    fn fake(id: usize) -> Self {
        LivePut {
            id,
            value: 0,
            fut: None,
            wakers: None,
            state: PutState::Queued,
        }
    }

    fn poll(&mut self, alt: bool) -> Outcome {
        let wakers = self.wakers.as_mut().expect("a real put");
        let mut cx = Context::from_waker(wakers.for_poll(alt));
        match Pin::new(self.fut.as_mut().expect("a real put")).poll(&mut cx) {
            Poll::Pending => Outcome::Pending,
            Poll::Ready(Ok(())) => Outcome::Ok,
            Poll::Ready(Err(StoppedError(v))) => Outcome::Stopped(v),
        }
    }
}

/// Expected outcome of polling a put the model says is in `state`, and
/// the state after.
fn model_poll(model: &mut Model, put: &mut LivePut<'_>) -> Outcome {
    match put.state {
        PutState::Unpolled => {
            let (out, state) = model.first_poll(put.id, put.value);
            put.state = state;
            out
        }
        PutState::Queued => Outcome::Pending,
        PutState::Moved => Outcome::Ok,
        PutState::Stopped => Outcome::Stopped(put.value),
    }
}

type TheDriver<'a> =
    Driver<'a, u32, ManualClock, Callback, Pin<Box<dyn Future<Output = Result<(), ()>>>>>;

struct Harness<'a> {
    wf: &'a Waterfall<u32, ManualClock>,
    clock: ManualClock,
    model: Model,
    puts: Vec<LivePut<'a>>,
    driver: Option<(Pin<Box<TheDriver<'a>>>, FlagWakers, bool)>,
    driver_log: Log,
    report: Option<Report<()>>,
    next_value: u32,
    next_id: usize,
    /// Values given back or dropped with their put.
    returned: Vec<u32>,
    withdrawn: Vec<u32>,
}

impl<'a> Harness<'a> {
    fn fresh(&mut self) -> u32 {
        self.next_value += 1;
        self.next_value
    }

    fn new_driver(&mut self) {
        if self.driver.is_some() || self.report.is_some() {
            return;
        }
        let cb = callback(&self.clock, &self.driver_log, self.model.cb);
        self.driver = Some((Box::pin(self.wf.driver(cb)), FlagWakers::new(), true));
        self.model.batches = 0;
        self.model.items = 0;
    }

    fn drop_driver(&mut self) {
        if self.driver.take().is_some() {
            self.model.busy = None;
        }
    }

    fn poll_driver(&mut self, alt: bool) {
        let Some((driver, wakers, _)) = self.driver.as_mut() else {
            return;
        };
        let mut cx = Context::from_waker(wakers.for_poll(alt));
        let real = driver.as_mut().poll(&mut cx);
        let expected = self.model.drive(&mut self.puts);
        match (real, expected) {
            (Poll::Pending, None) => {}
            (Poll::Ready(report), Some(dropped)) => {
                assert_eq!(report.dropped(), dropped, "dropped count");
                assert_eq!(
                    (report.batches(), report.items()),
                    (self.model.batches, self.model.items),
                    "driver counters"
                );
                assert!(report.errors().is_empty());
                self.driver = None;
                self.report = Some(report);
            }
            (real, expected) => panic!(
                "driver: real {:?} vs model {expected:?} at {}",
                real.map(|r| r.dropped()),
                self.model.now
            ),
        }
        self.check_log();
    }

    fn check_log(&self) {
        let real = self.driver_log.borrow();
        assert_eq!(
            real.len(),
            self.model.log.len(),
            "batch count: {:?} vs {:?}",
            *real,
            self.model.log
        );
        for ((at, batch), (m_at, m_batch)) in real.iter().zip(&self.model.log) {
            assert_eq!(
                (at.as_nanos(), batch),
                (*m_at, m_batch),
                "batch and delivery instant"
            );
        }
    }

    fn poll_put(&mut self, i: usize, alt: bool) {
        let put = &mut self.puts[i];
        let real = put.poll(alt);
        let expected = model_poll(&mut self.model, put);
        assert_eq!(real, expected, "put {} (value {})", put.id, put.value);
        self.model.to_wake.retain(|&id| id != put.id);
        if real != Outcome::Pending {
            if let Outcome::Stopped(v) = real {
                self.returned.push(v);
            }
            self.puts.remove(i);
        }
    }

    /// Polls whatever was woken until nothing is; then checks that nothing
    /// that should have been woken was missed.
    fn settle(&mut self) {
        for _ in 0..1_000 {
            let mut progressed = false;
            if let Some((_, wakers, fresh)) = self.driver.as_mut()
                && (*fresh || wakers.any_woken())
            {
                *fresh = false;
                let alt = wakers.current_is_alt();
                self.poll_driver(alt);
                progressed = true;
            }
            let mut i = 0;
            while i < self.puts.len() {
                let put = &self.puts[i];
                let woken = put.state != PutState::Unpolled
                    && put.wakers.as_ref().is_some_and(FlagWakers::any_woken);
                if woken {
                    let before = self.puts.len();
                    self.poll_put(i, false);
                    progressed = true;
                    if self.puts.len() < before {
                        continue;
                    }
                }
                i += 1;
            }
            if !progressed {
                break;
            }
        }
        if self.driver.is_some() {
            assert!(
                !self.model.driver_would_act(),
                "lost wake-up: the driver should have acted at {} ms; busy {:?} buf {:?} phase {:?}",
                self.model.now / MS,
                self.model.busy,
                self.model.buf,
                self.model.phase
            );
        }
        assert!(
            self.model.to_wake.is_empty(),
            "lost wake-up: puts {:?} were never woken",
            self.model.to_wake
        );
    }

    fn step(&mut self, op: Op) {
        match op {
            Op::TryPut => {
                let v = self.fresh();
                let real = self.wf.try_put(v);
                let expected = self.model.try_put(v);
                assert_eq!(format!("{real:?}"), format!("{expected:?}"), "try_put");
                if let Err(e) = real {
                    self.returned.push(e.into_inner());
                }
                // A waterfall that finished refuses items without a driver.
            }
            Op::Put { poll } => {
                let value = self.fresh();
                self.next_id += 1;
                self.puts.push(LivePut {
                    id: self.next_id,
                    value,
                    fut: Some(self.wf.put(value)),
                    wakers: Some(FlagWakers::new()),
                    state: PutState::Unpolled,
                });
                if poll {
                    self.poll_put(self.puts.len() - 1, false);
                }
            }
            Op::PollPut { idx, alt } => {
                if !self.puts.is_empty() {
                    let i = usize::from(idx) % self.puts.len();
                    self.poll_put(i, alt);
                }
            }
            Op::DropPut { idx } => {
                if !self.puts.is_empty() {
                    let i = usize::from(idx) % self.puts.len();
                    let put = self.puts.remove(i);
                    match put.state {
                        // Arrived: it stays in the buffer.
                        PutState::Moved => {}
                        PutState::Unpolled | PutState::Queued | PutState::Stopped => {
                            self.model.withdraw(put.id);
                            self.withdrawn.push(put.value);
                        }
                    }
                    self.model.to_wake.retain(|&id| id != put.id);
                    drop(put);
                }
            }
            Op::Advance { ms } => {
                let d = u64::from(ms) * MS;
                self.clock.advance(Duration::from_nanos(d));
                self.model.now += d;
            }
            Op::Stop { finalize_ms } => {
                let finalize = finalize_ms.map(|ms| u64::from(ms) * MS);
                self.wf.signal_stop(finalize.map(Duration::from_nanos));
                self.model.stop(finalize, &mut self.puts);
            }
            Op::DropDriver => self.drop_driver(),
            Op::NewDriver => self.new_driver(),
            Op::PollDriver { alt } => self.poll_driver(alt),
        }
        self.settle();
    }
}

fn run(input: Input) {
    let max_q = usize::from(input.max_quantity % 4) + 1;
    let cap = max_q + usize::from(input.extra_capacity % 4);
    let max_wait = (u64::from(input.max_wait_ms % 64) + 1) * MS;
    let cb = u64::from(input.callback_ms % 16) * MS;
    let clock = ManualClock::new();
    let wf = Waterfall::with_capacity(max_q, Duration::from_nanos(max_wait), cap, clock.clone())
        .expect("valid arguments");
    let mut h = Harness {
        wf: &wf,
        clock: clock.clone(),
        model: Model {
            max_q,
            cap,
            max_wait,
            cb,
            now: 0,
            buf: VecDeque::new(),
            starts: VecDeque::new(),
            putters: VecDeque::new(),
            phase: Phase::Open,
            busy: None,
            log: Vec::new(),
            batches: 0,
            items: 0,
            to_wake: Vec::new(),
        },
        puts: Vec::new(),
        driver: None,
        driver_log: Rc::default(),
        report: None,
        next_value: 0,
        next_id: 0,
        returned: Vec::new(),
        withdrawn: Vec::new(),
    };
    h.new_driver();
    for op in input.ops.into_iter().take(256) {
        h.step(op);
    }

    // Wind down: stop, keep a driver running, let time pass.
    h.step(Op::Stop { finalize_ms: None });
    h.new_driver();
    h.settle();
    while h.report.is_none() {
        assert!(
            clock.advance_to_next(),
            "the driver hangs with no timer set"
        );
        h.model.now = clock.now().as_nanos();
        h.settle();
    }
    // Puts still alive were failed by the stop; poll them out.
    while !h.puts.is_empty() {
        h.poll_put(0, false);
    }
    let dropped = match h.model.phase {
        Phase::Finished(d) => d,
        other => panic!("model not finished: {other:?}"),
    };
    assert!(h.wf.is_finished());

    // Accounting: every value exactly once.
    let mut seen = vec![0u8; h.next_value as usize + 1];
    for (_, batch) in h.driver_log.borrow().iter() {
        for &v in batch {
            seen[v as usize] += 1;
        }
    }
    for &v in h.returned.iter().chain(&h.withdrawn) {
        seen[v as usize] += 1;
    }
    let missing = seen[1..].iter().filter(|&&n| n == 0).count();
    assert!(seen.iter().all(|&n| n <= 1), "a value was accounted twice");
    // Values neither delivered nor given back were dropped by the finalize
    // deadline: those never handed to a callback.
    let undelivered_drops = missing;
    assert!(
        undelivered_drops <= dropped,
        "{undelivered_drops} values lost, {dropped} dropped"
    );
}
