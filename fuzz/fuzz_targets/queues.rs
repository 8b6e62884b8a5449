//! Fuzzes `SmartQueue<u32, O>` in each order (FIFO, LIFO, priority, user
//! priority), bounded or not, with an arbitrary interleaving of operations,
//! and checks every result against a reference model.
//!
//! # What runs
//!
//! The first input bytes pick the order and the capacity (1 to 4, or
//! unbounded). Then a list of [`Op`]s over one queue and a set of live
//! futures: create (and optionally poll at once) a `get` or a `put`; poll a
//! live future with either of two wakers; drop one at any point (the
//! cancellation check); `try_put`, `try_get`, `push`, `peek`, `drain`,
//! `close`, `shutdown`; open a transaction (`try_transaction`), get and put
//! in it, commit or roll it back; and `Settle`, which plays an executor:
//! it polls every woken future until none is. Every value put is fresh, so
//! a value received names exactly the put that gave it.
//!
//! # The model
//!
//! * `items`: `(key, seq, value)`; the next in line is the smallest `seq`
//!   (FIFO), the largest `seq` (LIFO), the smallest `(value, seq)`
//!   (priority) or the smallest `(priority, seq)` (user priority).
//! * Getters wait in a FIFO line, and only while the queue is empty
//!   (outside transactions): an item that arrives is handed at once to the
//!   front waiting getter ("served", and must be woken), leaving the queue
//!   and its room free (which may wake a putter). A served getter returns
//!   its item at its next poll, whatever happened since. A fresh get or
//!   `try_get` takes any item in the queue. When a served getter is
//!   dropped, or a transaction opens, or on `shutdown`, every handed item
//!   goes back ("reclaim": in its place by arrival; on top for LIFO, newest
//!   handed first) and its getter back to the front of the line, not woken
//!   again; then the line is served again (not for a transaction).
//! * Putters wait in a FIFO line; when room exceeds the putters already
//!   woken ("notified"), the front waiting putter is notified (and must be
//!   woken). A fresh put or `try_put` takes only room beyond the notified
//!   putters. A notified putter inserts at its next poll if there is room,
//!   and otherwise goes back to the front of the line; one that is dropped
//!   passes its turn on.
//! * `push` never waits: on a full queue it removes the next item and
//!   returns it. `close` fails puts and lets gets drain; `shutdown` fails
//!   everything and returns the items; both wake every waiter.
//! * A transaction (while open, others get `InTransaction`, waiters stay
//!   waiting, `len` shows the length from before) gets and puts directly
//!   and keeps an undo log; commit hands over what it took, rollback puts
//!   everything back exactly.
//!
//! The target also checks, independently of the model: a value is received
//! at most once and only after it was put; a put dropped before it
//! completed never delivers its value; and at the end every value is
//! accounted for exactly once (received, given back, or dropped with its
//! put or its rolled-back transaction).
#![no_main]

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use arbitrary::{Arbitrary, Unstructured};
use asyncutils_core::queues::{
    ClosedError, Fifo, Get, Lifo, Order, Priority, Put, SmartQueue, Transaction, TryGetError,
    TryPutError, UserPriority,
};
use asyncutils_fuzz::FlagWakers;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Op {
    Put { poll: bool, prio: u8 },
    Get { poll: bool },
    Poll { idx: u8, alt: bool },
    Drop { idx: u8 },
    TryPut { prio: u8 },
    TryGet,
    Push { prio: u8 },
    Peek,
    Drain,
    Close,
    Shutdown,
    TxnBegin,
    TxnGet,
    TxnPut { prio: u8 },
    TxnCommit,
    TxnRollback,
    Settle,
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(kind) = u.int_in_range(0..=3u8) else {
        return;
    };
    let Ok(cap) = u.int_in_range(0..=4usize) else {
        return;
    };
    let Ok(ops) = Vec::<Op>::arbitrary_take_rest(u) else {
        return;
    };
    match kind {
        0 => run::<Fifo>(cap, ops),
        1 => run::<Lifo>(cap, ops),
        2 => run::<Priority>(cap, ops),
        _ => run::<UserPriority<u8>>(cap, ops),
    }
});

/// How the target builds a put's input and ranks items, per order.
trait FuzzOrder: Order<u32> + Sized {
    fn input(value: u32, prio: u8) -> Self::Input;
    fn value(input: &Self::Input) -> u32;
    /// The key stored with the item: the priority for user priority.
    fn key(value: u32, prio: u8) -> u32;
    /// Index of the next item in line.
    fn next(items: &[(u32, u64, u32)]) -> Option<usize>;
    /// The arrival number an item handed back is ranked by: its own, except
    /// for LIFO, whose store puts it back on top.
    fn given_back(seq: u64, next_seq: &mut u64) -> u64 {
        let _ = next_seq;
        seq
    }
}

fn min_by<K: Ord>(items: &[(u32, u64, u32)], f: impl Fn(&(u32, u64, u32)) -> K) -> Option<usize> {
    (0..items.len()).min_by_key(|&i| f(&items[i]))
}

impl FuzzOrder for Fifo {
    fn input(value: u32, _: u8) -> u32 {
        value
    }
    fn value(input: &u32) -> u32 {
        *input
    }
    fn key(value: u32, _: u8) -> u32 {
        value
    }
    fn next(items: &[(u32, u64, u32)]) -> Option<usize> {
        min_by(items, |e| e.1)
    }
}

impl FuzzOrder for Lifo {
    fn input(value: u32, _: u8) -> u32 {
        value
    }
    fn value(input: &u32) -> u32 {
        *input
    }
    fn key(value: u32, _: u8) -> u32 {
        value
    }
    fn next(items: &[(u32, u64, u32)]) -> Option<usize> {
        min_by(items, |e| std::cmp::Reverse(e.1))
    }
    fn given_back(_: u64, next_seq: &mut u64) -> u64 {
        *next_seq += 1;
        *next_seq - 1
    }
}

impl FuzzOrder for Priority {
    // The value's own `Ord`; values are fresh, so there are no ties here
    // (the user-priority order and the unit tests cover ties).
    fn input(value: u32, _: u8) -> u32 {
        value
    }
    fn value(input: &u32) -> u32 {
        *input
    }
    fn key(value: u32, _: u8) -> u32 {
        value
    }
    fn next(items: &[(u32, u64, u32)]) -> Option<usize> {
        min_by(items, |e| (e.0, e.1))
    }
}

impl FuzzOrder for UserPriority<u8> {
    fn input(value: u32, prio: u8) -> (u32, u8) {
        // Few priorities, so ties are common.
        (value, prio % 4)
    }
    fn value(input: &(u32, u8)) -> u32 {
        input.0
    }
    fn key(_: u32, prio: u8) -> u32 {
        u32::from(prio % 4)
    }
    fn next(items: &[(u32, u64, u32)]) -> Option<usize> {
        min_by(items, |e| (e.0, e.1))
    }
}

// === the futures under test ===

enum Handle<'a, O: Order<u32>> {
    Get(Get<'a, u32, O>),
    Put(Put<'a, u32, O>),
}

struct Live<'a, O: Order<u32>> {
    id: usize,
    handle: Handle<'a, O>,
    wakers: FlagWakers,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Pending,
    GetOk(u32),
    GetClosed,
    PutOk,
    PutClosed(u32),
}

impl<O: FuzzOrder> Live<'_, O> {
    fn poll(&mut self, alt: bool) -> Outcome {
        let waker = self.wakers.for_poll(alt);
        let mut cx = Context::from_waker(waker);
        match &mut self.handle {
            Handle::Get(f) => match Pin::new(f).poll(&mut cx) {
                Poll::Pending => Outcome::Pending,
                Poll::Ready(Ok(v)) => Outcome::GetOk(v),
                Poll::Ready(Err(ClosedError(()))) => Outcome::GetClosed,
            },
            Handle::Put(f) => match Pin::new(f).poll(&mut cx) {
                Poll::Pending => Outcome::Pending,
                Poll::Ready(Ok(())) => Outcome::PutOk,
                Poll::Ready(Err(ClosedError(input))) => Outcome::PutClosed(O::value(&input)),
            },
        }
    }
}

// === the model ===

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FState {
    GetUnpolled,
    GetWaiting,
    /// Holds the `(key, seq, value)` handed to it.
    GetServed((u32, u64, u32)),
    /// `(key, value)`.
    PutUnpolled(u32, u32),
    PutWaiting(u32, u32),
    PutNotified(u32, u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QState {
    Open,
    Closed,
    Shutdown,
}

enum Undo {
    Took((u32, u64, u32)),
    Put(u64),
}

struct Model<O> {
    capacity: usize,
    items: Vec<(u32, u64, u32)>,
    seq: u64,
    state: QState,
    futures: HashMap<usize, (FState, bool)>,
    gets: VecDeque<usize>,
    /// Served getters, in the order they were served.
    served: VecDeque<usize>,
    puts: VecDeque<usize>,
    notified_gets: usize,
    notified_puts: usize,
    txn: Option<(Vec<Undo>, usize)>,
    _order: std::marker::PhantomData<O>,
}

impl<O: FuzzOrder> Model<O> {
    fn state(&mut self, id: usize) -> &mut FState {
        &mut self.futures.get_mut(&id).expect("known future").0
    }

    fn wake(&mut self, id: usize) {
        self.futures.get_mut(&id).expect("known future").1 = true;
    }

    fn room(&self) -> usize {
        self.capacity.saturating_sub(self.items.len())
    }

    fn insert(&mut self, key: u32, value: u32) {
        self.items.push((key, self.seq, value));
        self.seq += 1;
        if self.notify_getter() {
            self.notify_putter();
        }
    }

    fn pop_next(&mut self) -> Option<(u32, u64, u32)> {
        O::next(&self.items).map(|i| self.items.remove(i))
    }

    fn take(&mut self) -> u32 {
        let (_, _, v) = self.pop_next().expect("an item");
        self.notify_putter();
        if self.state == QState::Closed && self.items.is_empty() {
            self.wake_everyone();
        }
        v
    }

    /// Hands the next item to the front waiting getter.
    fn notify_getter(&mut self) -> bool {
        if self.txn.is_some()
            || self.gets.is_empty()
            || self.items.is_empty()
            || self.state == QState::Shutdown
        {
            return false;
        }
        let g = self.gets.pop_front().expect("non-empty");
        let item = self.pop_next().expect("non-empty");
        *self.state(g) = FState::GetServed(item);
        self.served.push_back(g);
        self.notified_gets += 1;
        self.wake(g);
        true
    }

    /// Every handed item back, newest handed first; the getters back to the
    /// front of the line (already woken: not woken again).
    fn reclaim(&mut self) {
        while let Some(g) = self.served.pop_back() {
            let FState::GetServed((k, seq, v)) = *self.state(g) else {
                unreachable!()
            };
            let seq = O::given_back(seq, &mut self.seq);
            self.items.push((k, seq, v));
            *self.state(g) = FState::GetWaiting;
            self.notified_gets -= 1;
            self.gets.push_front(g);
        }
    }

    fn notify_putter(&mut self) -> bool {
        if self.txn.is_some() || self.room() <= self.notified_puts {
            return false;
        }
        let Some(p) = self.puts.pop_front() else {
            return false;
        };
        let FState::PutWaiting(k, v) = *self.state(p) else {
            unreachable!()
        };
        *self.state(p) = FState::PutNotified(k, v);
        self.notified_puts += 1;
        self.wake(p);
        true
    }

    fn rebalance(&mut self) {
        while self.notify_getter() {}
        while self.notify_putter() {}
    }

    fn wake_everyone(&mut self) {
        let ids: Vec<usize> = self.gets.iter().chain(self.puts.iter()).copied().collect();
        for id in ids {
            self.wake(id);
        }
    }

    /// Gets fail after a shutdown, or once closed and empty — but not while
    /// a transaction is open (its rollback may refill the queue).
    fn closed_for_gets(&self) -> bool {
        match self.state {
            QState::Shutdown => true,
            QState::Closed => self.txn.is_none() && self.items.is_empty(),
            QState::Open => false,
        }
    }

    fn poll(&mut self, id: usize) -> Outcome {
        self.futures.get_mut(&id).expect("known").1 = false;
        let fstate = *self.state(id);
        let outcome = match fstate {
            FState::GetUnpolled => {
                if self.closed_for_gets() {
                    Outcome::GetClosed
                } else if self.txn.is_none() && !self.items.is_empty() {
                    Outcome::GetOk(self.take())
                } else {
                    *self.state(id) = FState::GetWaiting;
                    self.gets.push_back(id);
                    Outcome::Pending
                }
            }
            FState::GetWaiting => {
                if self.closed_for_gets() {
                    self.gets.retain(|&g| g != id);
                    Outcome::GetClosed
                } else {
                    Outcome::Pending
                }
            }
            FState::GetServed((_, _, v)) => {
                self.notified_gets -= 1;
                self.served.retain(|&g| g != id);
                Outcome::GetOk(v)
            }
            FState::PutUnpolled(k, v) | FState::PutWaiting(k, v) | FState::PutNotified(k, v)
                if self.state != QState::Open =>
            {
                match fstate {
                    FState::PutWaiting(..) => self.puts.retain(|&p| p != id),
                    FState::PutNotified(..) => self.notified_puts -= 1,
                    _ => {}
                }
                let _ = k;
                Outcome::PutClosed(v)
            }
            FState::PutUnpolled(k, v) => {
                if self.txn.is_none() && self.room() > self.notified_puts {
                    self.insert(k, v);
                    Outcome::PutOk
                } else {
                    *self.state(id) = FState::PutWaiting(k, v);
                    self.puts.push_back(id);
                    Outcome::Pending
                }
            }
            FState::PutWaiting(..) => Outcome::Pending,
            FState::PutNotified(k, v) => {
                self.notified_puts -= 1;
                if self.txn.is_none() && self.room() > 0 {
                    self.insert(k, v);
                    Outcome::PutOk
                } else {
                    *self.state(id) = FState::PutWaiting(k, v);
                    self.puts.push_front(id);
                    Outcome::Pending
                }
            }
        };
        if outcome != Outcome::Pending {
            self.futures.remove(&id);
        }
        outcome
    }

    fn drop_future(&mut self, id: usize) {
        let (state, _) = self.futures.remove(&id).expect("known");
        match state {
            FState::GetWaiting => self.gets.retain(|&g| g != id),
            FState::GetServed(_) => {
                // Back in the model's books first (it was removed above).
                self.futures.insert(id, (state, false));
                self.reclaim();
                self.futures.remove(&id);
                self.gets.retain(|&g| g != id);
                self.rebalance();
            }
            FState::PutWaiting(..) => self.puts.retain(|&p| p != id),
            FState::PutNotified(..) => {
                self.notified_puts -= 1;
                self.notify_putter();
            }
            FState::GetUnpolled | FState::PutUnpolled(..) => {}
        }
    }

    fn end_txn(&mut self) {
        self.txn = None;
        self.rebalance();
        if self.state != QState::Open {
            self.wake_everyone();
        }
    }

    fn len(&self) -> usize {
        match &self.txn {
            Some((_, base)) => *base,
            None => self.items.len(),
        }
    }
}

// === the driver ===

struct Harness<'a, O: FuzzOrder> {
    q: &'a SmartQueue<u32, O>,
    txn: Option<Transaction<'a, u32, O>>,
    live: Vec<Live<'a, O>>,
    model: Model<O>,
    next_id: usize,
    next_value: u32,
    /// Values that went into the queue (accepted puts).
    inserted: HashSet<u32>,
    received: HashSet<u32>,
    /// Values handed back or dropped without ever being inserted.
    never_inserted: HashSet<u32>,
    /// Values whose insertion a rollback undid (dropped).
    undone: HashSet<u32>,
    /// Values taken by the open transaction, not yet committed.
    txn_taken: Vec<u32>,
}

impl<'a, O: FuzzOrder> Harness<'a, O> {
    fn fresh(&mut self) -> u32 {
        self.next_value += 1;
        self.next_value
    }

    fn receive(&mut self, v: u32) {
        assert!(self.inserted.contains(&v), "received {v}, never inserted");
        assert!(self.received.insert(v), "received {v} twice");
    }

    fn poll(&mut self, index: usize, alt: bool) {
        let id = self.live[index].id;
        let actual = self.live[index].poll(alt);
        if let Some((FState::PutUnpolled(_, v) | FState::PutNotified(_, v), _)) =
            self.model.futures.get(&id)
            && actual == Outcome::PutOk
        {
            self.inserted.insert(*v);
        }
        let expected = self.model.poll(id);
        assert_eq!(actual, expected, "poll of future {id}");
        match actual {
            Outcome::GetOk(v) => self.receive(v),
            Outcome::PutClosed(v) => {
                self.never_inserted.insert(v);
            }
            _ => {}
        }
        if actual != Outcome::Pending {
            self.live.remove(index);
        }
    }

    fn drop_future(&mut self, index: usize) {
        let live = self.live.remove(index);
        if let FState::PutUnpolled(_, v) | FState::PutWaiting(_, v) | FState::PutNotified(_, v) =
            self.model.futures[&live.id].0
        {
            self.never_inserted.insert(v);
        }
        self.model.drop_future(live.id);
        drop(live);
    }

    fn new_put(&mut self, prio: u8) -> (u32, u32, O::Input) {
        let v = self.fresh();
        (O::key(v, prio), v, O::input(v, prio))
    }

    fn check_try_put(&mut self, result: Result<(), TryPutError<O::Input>>, key: u32, v: u32) {
        let m = &mut self.model;
        let expected = if m.state != QState::Open {
            Err("closed")
        } else if m.txn.is_some() {
            Err("txn")
        } else if m.room() <= m.notified_puts {
            Err("full")
        } else {
            Ok(())
        };
        match (result, expected) {
            (Ok(()), Ok(())) => {
                m.insert(key, v);
                self.inserted.insert(v);
            }
            (Err(TryPutError::Closed(i)), Err("closed"))
            | (Err(TryPutError::InTransaction(i)), Err("txn"))
            | (Err(TryPutError::Full(i)), Err("full")) => {
                assert_eq!(O::value(&i), v, "the value comes back");
                self.never_inserted.insert(v);
            }
            (r, e) => panic!("try_put({v}): got {:?}, model {e:?}", r.map_err(|_| ())),
        }
    }

    fn step(&mut self, op: Op) {
        match op {
            Op::Put { poll, prio } => {
                let (k, v, input) = self.new_put(prio);
                let id = self.next_id;
                self.next_id += 1;
                self.model
                    .futures
                    .insert(id, (FState::PutUnpolled(k, v), false));
                self.live.push(Live {
                    id,
                    handle: Handle::Put(self.q.put_input(input)),
                    wakers: FlagWakers::new(),
                });
                if poll {
                    self.poll(self.live.len() - 1, false);
                }
            }
            Op::Get { poll } => {
                let id = self.next_id;
                self.next_id += 1;
                self.model.futures.insert(id, (FState::GetUnpolled, false));
                self.live.push(Live {
                    id,
                    handle: Handle::Get(self.q.get()),
                    wakers: FlagWakers::new(),
                });
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
            Op::TryPut { prio } => {
                let (k, v, input) = self.new_put(prio);
                let result = self.q.try_put_input(input);
                self.check_try_put(result, k, v);
            }
            Op::TryGet => {
                let m = &mut self.model;
                let expected = if m.state == QState::Shutdown {
                    Err(TryGetError::Closed)
                } else if m.txn.is_some() {
                    Err(TryGetError::InTransaction)
                } else if m.state == QState::Closed && m.items.is_empty() {
                    Err(TryGetError::Closed)
                } else if m.items.is_empty() {
                    Err(TryGetError::Empty)
                } else {
                    Ok(m.take())
                };
                let actual = self.q.try_get();
                assert_eq!(actual, expected, "try_get");
                if let Ok(v) = actual {
                    self.receive(v);
                }
            }
            Op::Push { prio } => {
                let (k, v, input) = self.new_put(prio);
                let actual = self.q.push_input(input).map_err(|e| match e {
                    TryPutError::Closed(i) => ("closed", O::value(&i)),
                    TryPutError::InTransaction(i) => ("txn", O::value(&i)),
                    TryPutError::Full(i) => ("full", O::value(&i)),
                });
                let m = &mut self.model;
                let expected = if m.state != QState::Open {
                    Err(("closed", v))
                } else if m.txn.is_some() {
                    Err(("txn", v))
                } else {
                    let popped = if m.items.len() >= m.capacity {
                        m.pop_next().map(|e| e.2)
                    } else {
                        None
                    };
                    m.insert(k, v);
                    Ok(popped)
                };
                assert_eq!(actual, expected, "push({v})");
                match actual {
                    Ok(popped) => {
                        self.inserted.insert(v);
                        if let Some(p) = popped {
                            self.receive(p);
                        }
                    }
                    Err(_) => {
                        self.never_inserted.insert(v);
                    }
                }
            }
            Op::Peek => {
                let m = &self.model;
                let expected = if m.state == QState::Shutdown {
                    Err(TryGetError::Closed)
                } else if m.txn.is_some() {
                    Err(TryGetError::InTransaction)
                } else {
                    match O::next(&m.items) {
                        Some(i) => Ok(m.items[i].2),
                        None if m.state == QState::Closed => Err(TryGetError::Closed),
                        None => Err(TryGetError::Empty),
                    }
                };
                assert_eq!(self.q.peek(), expected, "peek");
            }
            Op::Drain => {
                let actual = self.q.drain();
                let m = &mut self.model;
                if m.txn.is_some() {
                    assert_eq!(actual, Err(TryGetError::InTransaction));
                } else {
                    let mut expected = Vec::new();
                    while let Some(e) = m.pop_next() {
                        expected.push(e.2);
                    }
                    m.rebalance();
                    assert_eq!(actual.as_ref(), Ok(&expected), "drain");
                    for v in expected {
                        self.receive(v);
                    }
                }
            }
            Op::Close => {
                self.q.close();
                let m = &mut self.model;
                if m.state == QState::Open {
                    m.state = QState::Closed;
                }
                m.wake_everyone();
            }
            Op::Shutdown => {
                let actual = self.q.shutdown();
                let m = &mut self.model;
                m.state = QState::Shutdown;
                let mut expected = Vec::new();
                if m.txn.is_none() {
                    m.reclaim();
                    while let Some(e) = m.pop_next() {
                        expected.push(e.2);
                    }
                }
                m.wake_everyone();
                assert_eq!(actual, expected, "shutdown");
                for v in expected {
                    self.receive(v);
                }
            }
            Op::TxnBegin => {
                let actual = self.q.try_transaction();
                let m = &mut self.model;
                assert_eq!(actual.is_ok(), m.txn.is_none(), "try_transaction");
                if let Ok(txn) = actual {
                    m.reclaim();
                    m.txn = Some((Vec::new(), m.items.len()));
                    self.txn = Some(txn);
                    self.txn_taken.clear();
                }
            }
            Op::TxnGet => {
                let Some(txn) = self.txn.as_mut() else { return };
                let actual = txn.get().copied();
                let m = &mut self.model;
                let expected = if m.state == QState::Shutdown {
                    Err(TryGetError::Closed)
                } else {
                    match m.pop_next() {
                        Some(e) => {
                            m.txn.as_mut().expect("open").0.push(Undo::Took(e));
                            Ok(e.2)
                        }
                        None if m.state == QState::Closed => Err(TryGetError::Closed),
                        None => Err(TryGetError::Empty),
                    }
                };
                assert_eq!(actual, expected, "transaction get");
                if let Ok(v) = actual {
                    self.txn_taken.push(v);
                }
            }
            Op::TxnPut { prio } => {
                if self.txn.is_none() {
                    return;
                }
                let (k, v, input) = self.new_put(prio);
                let actual = self.txn.as_mut().expect("open").put_input(input);
                let m = &mut self.model;
                let expected = if m.state != QState::Open {
                    Err("closed")
                } else if m.items.len() >= m.capacity {
                    Err("full")
                } else {
                    Ok(())
                };
                match (actual, expected) {
                    (Ok(()), Ok(())) => {
                        m.items.push((k, m.seq, v));
                        m.txn.as_mut().expect("open").0.push(Undo::Put(m.seq));
                        m.seq += 1;
                        self.inserted.insert(v);
                    }
                    (Err(TryPutError::Closed(i)), Err("closed"))
                    | (Err(TryPutError::Full(i)), Err("full")) => {
                        assert_eq!(O::value(&i), v);
                        self.never_inserted.insert(v);
                    }
                    (r, e) => panic!("txn put: got {:?}, model {e:?}", r.map_err(|_| ())),
                }
            }
            Op::TxnCommit => {
                let Some(txn) = self.txn.take() else { return };
                let got = txn.commit();
                assert_eq!(got, self.txn_taken, "commit returns what was taken");
                for v in std::mem::take(&mut self.txn_taken) {
                    self.receive(v);
                }
                self.model.end_txn();
            }
            Op::TxnRollback => self.rollback(),
            Op::Settle => self.settle(),
        }
        self.check();
    }

    fn rollback(&mut self) {
        let Some(txn) = self.txn.take() else { return };
        txn.rollback();
        let m = &mut self.model;
        let (log, _) = m.txn.take().expect("open");
        m.txn = Some((Vec::new(), 0));
        for op in log.into_iter().rev() {
            match op {
                Undo::Took(e) => m.items.push(e),
                Undo::Put(seq) => {
                    let i = m.items.iter().position(|e| e.1 == seq).expect("its put");
                    let (_, _, v) = m.items.remove(i);
                    self.undone.insert(v);
                }
            }
        }
        m.end_txn();
        self.txn_taken.clear();
    }

    fn settle(&mut self) {
        for _ in 0..100_000 {
            let Some(index) = self.live.iter().position(|l| l.wakers.any_woken()) else {
                if self.model.txn.is_none() {
                    assert_eq!(self.model.notified_gets, 0, "a served getter was not woken");
                    assert_eq!(
                        self.model.notified_puts, 0,
                        "a notified putter was not woken"
                    );
                }
                return;
            };
            let alt = self.live[index].wakers.current_is_alt();
            self.poll(index, alt);
        }
        panic!("settle did not converge");
    }

    fn check(&self) {
        let m = &self.model;
        assert_eq!(self.q.len(), m.len(), "len");
        assert_eq!(
            self.q.waiting_getters(),
            m.gets.len() + m.notified_gets,
            "waiting getters"
        );
        assert_eq!(
            self.q.waiting_putters(),
            m.puts.len() + m.notified_puts,
            "waiting putters"
        );
        // (After a shutdown, items a transaction left behind wait for the
        // next `shutdown` call; every getter was woken to fail.)
        if m.txn.is_none() && m.state != QState::Shutdown {
            assert!(
                m.gets.is_empty() || m.items.is_empty(),
                "model: a getter waits while an item is free"
            );
        }
        for live in &self.live {
            if m.futures[&live.id].1 {
                assert!(
                    live.wakers.current_woken(),
                    "future {} should have been woken through its latest waker",
                    live.id
                );
            }
        }
    }

    fn finish(mut self) {
        self.rollback();
        while !self.live.is_empty() {
            self.drop_future(0);
            self.check();
        }
        let rest = self.q.shutdown();
        let mut m_rest = Vec::new();
        while let Some(e) = self.model.pop_next() {
            m_rest.push(e.2);
        }
        assert_eq!(rest, m_rest, "final shutdown");
        for v in rest {
            self.receive(v);
        }
        for v in 1..=self.next_value {
            let fates = [
                self.received.contains(&v),
                self.never_inserted.contains(&v),
                self.undone.contains(&v),
            ];
            assert_eq!(
                fates.iter().filter(|&&f| f).count(),
                1,
                "value {v}: received/never inserted/undone = {fates:?}"
            );
        }
    }
}

fn run<O: FuzzOrder>(cap: usize, ops: Vec<Op>) {
    let q = if cap == 0 {
        SmartQueue::<u32, O>::unbounded()
    } else {
        SmartQueue::<u32, O>::bounded(cap).expect("valid capacity")
    };
    let mut h = Harness {
        q: &q,
        txn: None,
        live: Vec::new(),
        model: Model {
            capacity: if cap == 0 { usize::MAX } else { cap },
            items: Vec::new(),
            seq: 0,
            state: QState::Open,
            futures: HashMap::new(),
            gets: VecDeque::new(),
            served: VecDeque::new(),
            puts: VecDeque::new(),
            notified_gets: 0,
            notified_puts: 0,
            txn: None,
            _order: std::marker::PhantomData,
        },
        next_id: 0,
        next_value: 0,
        inserted: HashSet::new(),
        received: HashSet::new(),
        never_inserted: HashSet::new(),
        undone: HashSet::new(),
        txn_taken: Vec::new(),
    };
    for op in ops {
        h.step(op);
    }
    h.finish();
}
