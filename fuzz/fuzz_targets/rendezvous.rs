//! Fuzzes `Rendezvous<u32>` with an arbitrary interleaving of operations and
//! checks every result against a reference model.
//!
//! # What runs
//!
//! The input is a list of [`Op`]s over one rendezvous and a set of live
//! futures: create (and optionally poll at once) a `put`, `get` or
//! `exchange`; poll a live future; drop a live future at any point (the
//! cancellation check); `try_put`, `try_get`, `reset`; and `Settle`, which
//! plays an executor: it polls every future whose waker fired until none
//! did. Every value handed in is fresh (1, 2, 3, ...), so a value received
//! names exactly the operation that gave it.
//!
//! Each future polls with a waker of its own that only raises a flag, not
//! with a no-op waker, so that lost wake-ups are caught too; a poll may use
//! either of two wakers per future, which checks that a re-poll with a new
//! waker replaces the stored one.
//!
//! # The model
//!
//! * `vals`: values offered and not yet taken, in offer order: a put enters
//!   at its first poll, an accepted `try_put` at once.
//! * `gets`: getters registered and waiting, FIFO. `promised`: getters woken
//!   for a value (notified), in the order they waited; always
//!   `promised.len() <= vals.len()`. Whenever a value is offered, or a
//!   promised getter is dropped, the front waiting getter is promised (and
//!   must be woken) if values outnumber promises.
//! * Values go to getters in order: the i-th promised getter, whenever it is
//!   polled, takes the i-th value of `vals`. A fresh getter, or `try_get`,
//!   takes the first value beyond the promised ones, and only if there is
//!   one (`vals.len() > promised.len()`). So the first getter to wait gets
//!   the first value, whatever order the getters are polled in.
//! * A put withdrawn (dropped while offered) removes its value; if promises
//!   then outnumber values, the *last* promised getter goes back to the
//!   front of `gets`.
//! * `try_put` succeeds iff some getter is waiting and not promised.
//! * Exchanges pair in FIFO order with exchanges only; the second side
//!   completes at once, the first side completes at its next poll.
//! * `reset` fails every waiting put/get/exchange (and wakes it) and returns
//!   the accepted-but-untaken `try_put` values; taken-but-unpolled puts and
//!   paired-but-unpolled exchanges still complete `Ok`.
//! * Invariant after every step (no getter waits while a value is free):
//!   `gets` non-empty implies `vals.len() == promised.len()`.
//!
//! Independently of the model, the target also checks: a value is received
//! at most once, only after it was offered, never after the drop of its put
//! (or waiting exchange) returned; after `Settle`, no getter waits while a
//! value waits; and at the end, once every future is dropped and a last
//! `reset` collected the orphans, every value is accounted for exactly once:
//! received, given back (`ResetError`, `reset()`, a refused `try_put`), or
//! dropped with the future that held it (a withdrawn put or exchange, a
//! reset one never polled again, or the documented exchange window).
#![no_main]

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use arbitrary::Arbitrary;
use asyncutils_core::channels::{
    Exchange, Get, Put, Rendezvous, ResetError, TryGetError, TryPutError,
};
use asyncutils_fuzz::FlagWakers;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Op {
    /// Creates a put of a fresh value; polls it once if `poll`.
    Put {
        poll: bool,
    },
    Get {
        poll: bool,
    },
    Exchange {
        poll: bool,
    },
    /// Polls live future `idx % len` with waker `alt` (0 or 1).
    Poll {
        idx: u8,
        alt: bool,
    },
    /// Drops live future `idx % len`, whatever its state.
    Drop {
        idx: u8,
    },
    TryPut,
    TryGet,
    Reset,
    /// Polls woken futures until none is woken.
    Settle,
}

fuzz_target!(|ops: Vec<Op>| run(ops));

// === the futures under test ===

enum Handle<'a> {
    Put(Put<'a, u32>),
    Get(Get<'a, u32>),
    Exchange(Exchange<'a, u32>),
}

struct Live<'a> {
    id: usize,
    handle: Handle<'a>,
    wakers: FlagWakers,
}

/// A poll result, in a form both the real futures and the model produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Pending,
    PutOk,
    PutReset(u32),
    GetOk(u32),
    GetReset,
    ExchangeOk(u32),
    ExchangeReset(u32),
}

impl Live<'_> {
    fn poll(&mut self, alt: bool) -> Outcome {
        let waker = self.wakers.for_poll(alt);
        let mut cx = Context::from_waker(waker);
        match &mut self.handle {
            Handle::Put(f) => match Pin::new(f).poll(&mut cx) {
                Poll::Pending => Outcome::Pending,
                Poll::Ready(Ok(())) => Outcome::PutOk,
                Poll::Ready(Err(ResetError(v))) => Outcome::PutReset(v),
            },
            Handle::Get(f) => match Pin::new(f).poll(&mut cx) {
                Poll::Pending => Outcome::Pending,
                Poll::Ready(Ok(v)) => Outcome::GetOk(v),
                Poll::Ready(Err(ResetError(()))) => Outcome::GetReset,
            },
            Handle::Exchange(f) => match Pin::new(f).poll(&mut cx) {
                Poll::Pending => Outcome::Pending,
                Poll::Ready(Ok(v)) => Outcome::ExchangeOk(v),
                Poll::Ready(Err(ResetError(v))) => Outcome::ExchangeReset(v),
            },
        }
    }
}

// === the model ===

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PutState {
    Unpolled(u32),
    /// Its value is in `vals`.
    Offered(u32),
    /// A getter took its value; completes `Ok` at its next poll.
    Delivered,
    Reset(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GetState {
    Unpolled,
    Waiting,
    Promised,
    Reset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExchangeState {
    Unpolled(u32),
    /// In `exchanges`, holding its own value.
    Waiting(u32),
    /// Paired: holds the partner's value for its next poll.
    Done(u32),
    Reset(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Put(PutState),
    Get(GetState),
    Exchange(ExchangeState),
}

struct ModelFuture {
    state: State,
    /// The model woke it and it was not polled since: its current waker's
    /// flag must be up.
    must_be_woken: bool,
}

/// What became of a value. All but `Pending` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Pending,
    Received,
    /// Handed back: `ResetError`, `reset()`'s vec, or a refused `try_put`.
    Returned,
    /// Dropped together with the future that held it (withdrawn put or
    /// exchange, or a reset put/exchange dropped before being polled).
    DroppedWithOwner,
    /// The documented exchange window: the first side was paired, then
    /// dropped before its next poll, so the partner's value went with it.
    DroppedInExchange,
}

#[derive(Default)]
struct Model {
    futures: HashMap<usize, ModelFuture>,
    /// Offered, untaken values, oldest first, with the put that owns each
    /// (`None`: accepted by `try_put`).
    vals: VecDeque<(u32, Option<usize>)>,
    gets: VecDeque<usize>,
    promised: VecDeque<usize>,
    exchanges: VecDeque<usize>,
    fates: HashMap<u32, Fate>,
}

impl Model {
    fn state_mut(&mut self, id: usize) -> &mut State {
        &mut self
            .futures
            .get_mut(&id)
            .expect("model knows every future")
            .state
    }

    fn wake(&mut self, id: usize) {
        self.futures
            .get_mut(&id)
            .expect("model knows every future")
            .must_be_woken = true;
    }

    fn set_fate(&mut self, v: u32, fate: Fate) {
        let old = self.fates.insert(v, fate);
        assert_eq!(old, Some(Fate::Pending), "value {v} settled twice");
    }

    fn create(&mut self, id: usize, state: State) {
        if let State::Put(PutState::Unpolled(v)) | State::Exchange(ExchangeState::Unpolled(v)) =
            state
        {
            self.fates.insert(v, Fate::Pending);
        }
        self.futures.insert(
            id,
            ModelFuture {
                state,
                must_be_woken: false,
            },
        );
    }

    /// Promises the front waiting getter a value, if values outnumber the
    /// promises already made.
    fn promote(&mut self) {
        if self.vals.len() > self.promised.len()
            && let Some(g) = self.gets.pop_front()
        {
            *self.state_mut(g) = State::Get(GetState::Promised);
            self.promised.push_back(g);
            self.wake(g);
        }
    }

    fn position_promised(&self, id: usize) -> usize {
        self.promised
            .iter()
            .position(|&g| g == id)
            .expect("a promised getter is in `promised`")
    }

    /// Takes the i-th value (the caller checked there is one).
    fn take(&mut self, i: usize) -> u32 {
        let (v, owner) = self.vals.remove(i).expect("a value to take");
        if let Some(put) = owner {
            *self.state_mut(put) = State::Put(PutState::Delivered);
            self.wake(put);
        }
        self.set_fate(v, Fate::Received);
        v
    }

    fn offer(&mut self, v: u32, owner: Option<usize>) {
        self.vals.push_back((v, owner));
        self.promote();
    }

    fn poll(&mut self, id: usize) -> Outcome {
        let f = self.futures.get_mut(&id).expect("model knows every future");
        f.must_be_woken = false;
        let state = f.state;
        let outcome = match state {
            State::Put(PutState::Unpolled(v)) => {
                *self.state_mut(id) = State::Put(PutState::Offered(v));
                self.offer(v, Some(id));
                Outcome::Pending
            }
            State::Put(PutState::Offered(_)) => Outcome::Pending,
            State::Put(PutState::Delivered) => Outcome::PutOk,
            State::Put(PutState::Reset(v)) => {
                self.set_fate(v, Fate::Returned);
                Outcome::PutReset(v)
            }
            State::Get(GetState::Unpolled) => {
                if self.vals.len() > self.promised.len() {
                    Outcome::GetOk(self.take(self.promised.len()))
                } else {
                    *self.state_mut(id) = State::Get(GetState::Waiting);
                    self.gets.push_back(id);
                    Outcome::Pending
                }
            }
            State::Get(GetState::Waiting) => Outcome::Pending,
            State::Get(GetState::Promised) => {
                let i = self.position_promised(id);
                self.promised.remove(i);
                Outcome::GetOk(self.take(i))
            }
            State::Get(GetState::Reset) => Outcome::GetReset,
            State::Exchange(ExchangeState::Unpolled(mine)) => {
                if let Some(partner) = self.exchanges.pop_front() {
                    let State::Exchange(ExchangeState::Waiting(theirs)) = *self.state_mut(partner)
                    else {
                        unreachable!("only waiting exchanges are queued")
                    };
                    *self.state_mut(partner) = State::Exchange(ExchangeState::Done(mine));
                    self.wake(partner);
                    self.set_fate(theirs, Fate::Received);
                    Outcome::ExchangeOk(theirs)
                } else {
                    *self.state_mut(id) = State::Exchange(ExchangeState::Waiting(mine));
                    self.exchanges.push_back(id);
                    Outcome::Pending
                }
            }
            State::Exchange(ExchangeState::Waiting(_)) => Outcome::Pending,
            State::Exchange(ExchangeState::Done(theirs)) => {
                self.set_fate(theirs, Fate::Received);
                Outcome::ExchangeOk(theirs)
            }
            State::Exchange(ExchangeState::Reset(v)) => {
                self.set_fate(v, Fate::Returned);
                Outcome::ExchangeReset(v)
            }
        };
        if outcome != Outcome::Pending {
            self.futures.remove(&id);
        }
        outcome
    }

    fn drop_future(&mut self, id: usize) {
        let f = self.futures.remove(&id).expect("model knows every future");
        match f.state {
            State::Put(PutState::Unpolled(v) | PutState::Reset(v))
            | State::Exchange(ExchangeState::Unpolled(v) | ExchangeState::Reset(v)) => {
                self.set_fate(v, Fate::DroppedWithOwner);
            }
            State::Put(PutState::Offered(v)) => {
                self.vals.retain(|&(w, _)| w != v);
                self.set_fate(v, Fate::DroppedWithOwner);
                // One promise too many: the last promised getter waits again,
                // first in line.
                if self.promised.len() > self.vals.len() {
                    let g = self.promised.pop_back().expect("more promises than zero");
                    *self.state_mut(g) = State::Get(GetState::Waiting);
                    self.gets.push_front(g);
                }
            }
            State::Put(PutState::Delivered) | State::Get(GetState::Unpolled | GetState::Reset) => {}
            State::Get(GetState::Waiting) => self.gets.retain(|&g| g != id),
            State::Get(GetState::Promised) => {
                // Its turn passes on: the getters behind it move up one
                // value, and the last value goes to the next waiting getter.
                let i = self.position_promised(id);
                self.promised.remove(i);
                self.promote();
            }
            State::Exchange(ExchangeState::Waiting(v)) => {
                self.exchanges.retain(|&e| e != id);
                self.set_fate(v, Fate::DroppedWithOwner);
            }
            State::Exchange(ExchangeState::Done(theirs)) => {
                self.set_fate(theirs, Fate::DroppedInExchange);
            }
        }
    }

    fn try_put(&mut self, v: u32) -> bool {
        self.fates.insert(v, Fate::Pending);
        if self.gets.is_empty() {
            self.set_fate(v, Fate::Returned);
            return false;
        }
        self.offer(v, None);
        true
    }

    fn try_get(&mut self) -> Option<u32> {
        (self.vals.len() > self.promised.len()).then(|| self.take(self.promised.len()))
    }

    /// Returns the values `reset()` must hand back, sorted.
    fn reset(&mut self) -> Vec<u32> {
        let mut orphans = Vec::new();
        for (v, owner) in std::mem::take(&mut self.vals) {
            match owner {
                Some(put) => {
                    *self.state_mut(put) = State::Put(PutState::Reset(v));
                    self.wake(put);
                }
                None => {
                    self.set_fate(v, Fate::Returned);
                    orphans.push(v);
                }
            }
        }
        let gets: Vec<usize> = self.gets.drain(..).chain(self.promised.drain(..)).collect();
        for g in gets {
            *self.state_mut(g) = State::Get(GetState::Reset);
            self.wake(g);
        }
        for e in std::mem::take(&mut self.exchanges) {
            let State::Exchange(ExchangeState::Waiting(v)) = *self.state_mut(e) else {
                unreachable!("only waiting exchanges are queued")
            };
            *self.state_mut(e) = State::Exchange(ExchangeState::Reset(v));
            self.wake(e);
        }
        orphans.sort_unstable();
        orphans
    }

    fn check_invariants(&self) {
        assert!(
            self.promised.len() <= self.vals.len(),
            "model: more promises than values"
        );
        assert!(
            self.gets.is_empty() || self.vals.len() == self.promised.len(),
            "model: a getter waits unpromised while a value is free"
        );
    }
}

// === the driver ===

struct Harness<'a> {
    rv: &'a Rendezvous<u32>,
    live: Vec<Live<'a>>,
    model: Model,
    next_id: usize,
    next_value: u32,
    /// Model-independent bookkeeping.
    offered: HashSet<u32>,
    received: HashSet<u32>,
    withdrawn: HashSet<u32>,
}

impl<'a> Harness<'a> {
    fn fresh_value(&mut self) -> u32 {
        self.next_value += 1;
        self.next_value
    }

    fn receive(&mut self, v: u32) {
        assert!(
            self.offered.contains(&v),
            "received {v}, which was never offered"
        );
        assert!(
            !self.withdrawn.contains(&v),
            "received {v} after its put was dropped"
        );
        assert!(self.received.insert(v), "received {v} twice");
    }

    fn create(&mut self, handle: Handle<'a>, state: State) {
        let id = self.next_id;
        self.next_id += 1;
        self.model.create(id, state);
        self.live.push(Live {
            id,
            handle,
            wakers: FlagWakers::new(),
        });
    }

    fn poll(&mut self, index: usize, alt: bool) {
        let live = &mut self.live[index];
        let id = live.id;
        // A value enters the rendezvous at the first poll of its put or
        // exchange.
        match self.model.futures[&id].state {
            State::Put(PutState::Unpolled(v)) | State::Exchange(ExchangeState::Unpolled(v)) => {
                self.offered.insert(v);
            }
            _ => {}
        }
        let actual = live.poll(alt);
        let expected = self.model.poll(id);
        assert_eq!(actual, expected, "poll of future {id}");
        match actual {
            Outcome::GetOk(v) | Outcome::ExchangeOk(v) => self.receive(v),
            _ => {}
        }
        if actual != Outcome::Pending {
            // A completed future is never polled again.
            self.live.remove(index);
        }
    }

    fn drop_future(&mut self, index: usize) {
        let live = self.live.remove(index);
        if let State::Put(PutState::Offered(v) | PutState::Unpolled(v))
        | State::Exchange(ExchangeState::Waiting(v) | ExchangeState::Unpolled(v)) =
            self.model.futures[&live.id].state
        {
            self.withdrawn.insert(v);
        }
        self.model.drop_future(live.id);
        drop(live);
    }

    fn step(&mut self, op: Op) {
        match op {
            Op::Put { poll } => {
                let v = self.fresh_value();
                self.create(
                    Handle::Put(self.rv.put(v)),
                    State::Put(PutState::Unpolled(v)),
                );
                if poll {
                    self.poll(self.live.len() - 1, false);
                }
            }
            Op::Get { poll } => {
                self.create(Handle::Get(self.rv.get()), State::Get(GetState::Unpolled));
                if poll {
                    self.poll(self.live.len() - 1, false);
                }
            }
            Op::Exchange { poll } => {
                let v = self.fresh_value();
                self.create(
                    Handle::Exchange(self.rv.exchange(v)),
                    State::Exchange(ExchangeState::Unpolled(v)),
                );
                if poll {
                    self.poll(self.live.len() - 1, false);
                }
            }
            Op::Poll { idx, alt } => {
                if !self.live.is_empty() {
                    self.poll(usize::from(idx) % self.live.len(), alt);
                }
            }
            Op::Drop { idx } => {
                if !self.live.is_empty() {
                    self.drop_future(usize::from(idx) % self.live.len());
                }
            }
            Op::TryPut => {
                let v = self.fresh_value();
                let accepted = self.model.try_put(v);
                match self.rv.try_put(v) {
                    Ok(()) => {
                        assert!(accepted, "try_put({v}) accepted; the model refuses");
                        self.offered.insert(v);
                    }
                    Err(TryPutError::NoGetter(back)) => {
                        assert!(!accepted, "try_put({v}) refused; the model accepts");
                        assert_eq!(back, v, "try_put gave back another value");
                    }
                }
            }
            Op::TryGet => {
                let expected = self.model.try_get();
                match self.rv.try_get() {
                    Ok(v) => {
                        assert_eq!(Some(v), expected, "try_get");
                        self.receive(v);
                    }
                    Err(TryGetError::NoPutter) => assert_eq!(expected, None, "try_get"),
                }
            }
            Op::Reset => {
                let expected = self.model.reset();
                let mut orphans = self.rv.reset();
                orphans.sort_unstable();
                assert_eq!(orphans, expected, "reset() orphans");
            }
            Op::Settle => self.settle(),
        }
        self.check();
    }

    /// Plays an executor: polls woken futures until none is woken. Then no
    /// getter may be left promised (each was woken, so it ran), hence no
    /// getter may wait while a value waits.
    fn settle(&mut self) {
        for _ in 0..100_000 {
            let Some(index) = self.live.iter().position(|l| l.wakers.any_woken()) else {
                assert!(
                    self.model.promised.is_empty(),
                    "a promised getter was not woken"
                );
                let s = self.rv.state();
                assert!(
                    s.puts == 0 || s.gets == 0,
                    "settled, yet a getter waits while a value waits: {s:?}"
                );
                return;
            };
            let alt = self.live[index].wakers.current_is_alt();
            self.poll(index, alt);
        }
        panic!("settle did not converge: futures keep waking each other");
    }

    fn check(&self) {
        self.model.check_invariants();
        let s = self.rv.state();
        let m = &self.model;
        assert_eq!(
            (s.puts, s.gets, s.exchanges),
            (
                m.vals.len(),
                m.gets.len() + m.promised.len(),
                m.exchanges.len()
            ),
            "state() as (puts, gets, exchanges)"
        );
        for live in &self.live {
            if m.futures[&live.id].must_be_woken {
                assert!(
                    live.wakers.current_woken(),
                    "future {} should have been woken through its latest waker",
                    live.id
                );
            }
        }
    }

    /// Drops whatever is left, collects the orphans, and accounts for every
    /// value.
    fn finish(mut self) {
        while !self.live.is_empty() {
            self.drop_future(0);
            self.check();
        }
        let detached = self.model.vals.len();
        assert_eq!(self.rv.state().puts, detached);
        assert_eq!(self.model.reset(), {
            let mut o = self.rv.reset();
            o.sort_unstable();
            o
        });
        let s = self.rv.state();
        assert_eq!((s.puts, s.gets, s.exchanges), (0, 0, 0), "empty at the end");

        let mut received = 0;
        for (v, fate) in &self.model.fates {
            assert_ne!(*fate, Fate::Pending, "value {v} unaccounted for");
            if *fate == Fate::Received {
                received += 1;
                assert!(self.received.contains(v));
            }
        }
        assert_eq!(received, self.received.len(), "received values");
        assert_eq!(
            self.model.fates.len(),
            self.next_value as usize,
            "every value tracked"
        );
    }
}

fn run(ops: Vec<Op>) {
    let rv = Rendezvous::new();
    let mut h = Harness {
        rv: &rv,
        live: Vec::new(),
        model: Model::default(),
        next_id: 0,
        next_value: 0,
        offered: HashSet::new(),
        received: HashSet::new(),
        withdrawn: HashSet::new(),
    };
    for op in ops {
        h.step(op);
    }
    h.finish();
}
