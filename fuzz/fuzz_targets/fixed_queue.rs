//! Fuzzes `FixedQueue<T, N, O>` in every order — [`Fifo`], [`Lifo`],
//! [`Priority`] and [`UserPriority<u8>`] — for capacities 1, 2, 3 and 5
//! (order and capacity chosen by the input), with an arbitrary interleaving
//! of waiting and non-waiting operations, and checks every result against
//! a reference model of that order.
//!
//! # What runs
//!
//! A list of [`Op`]s over one queue and a set of live futures: create (and
//! optionally poll at once) a `get` or a `put` (both `!Unpin`, kept as
//! `Pin<Box<_>>`); poll a live future with either of two recording wakers;
//! drop one at any point (the cancellation check); `try_put`, `push`,
//! `try_get`, `peek`, `drain_into`, `clear`, `close`, `shutdown_into`; and
//! `Settle`, which plays an executor: it polls every woken future until
//! none is. Puts go through the generic `put_input`, `try_put_input` and
//! `push_input`.
//!
//! Every item put is fresh: an [`Item`] has a unique `id`, so an item
//! received names exactly the put that gave it, and a `key` of 0..4 taken
//! from the op, so that keys collide often. [`Priority`] orders items by
//! their key alone (`Item`'s `Ord` ignores the id); [`UserPriority`] is
//! given the key as the priority (and must hand it back with a refused
//! item). Results are compared by id, so a tie broken the wrong way fails.
//!
//! # The model
//!
//! * `items`: at most `N` items in the order's own model ([`ModelStore`]):
//!   a `VecDeque` (FIFO), a `Vec` used as a stack (LIFO), or a `Vec` kept
//!   sorted by key, each new item inserted after every item of an equal
//!   key (both priority orders: smallest key first, ties in arrival order).
//!   "Next in line" is the front of that model.
//! * Getters wait in a FIFO line, whatever the order of the items.
//!   Whenever an item comes in and items outnumber the getters already
//!   served, the front waiting getter is served (taken off the line,
//!   counted in `served_gets`, woken). A fresh get or `try_get` takes only
//!   if items outnumber the served getters; a served getter takes the item
//!   next in line at its next poll (whichever that is by then), or goes
//!   back to the front of the line if there is none. A served getter that
//!   is dropped passes its turn on. Putters mirror this with free room.
//! * `push` never waits: on a full queue it displaces the item next in
//!   line (then inserts its own) and serves nobody; otherwise it takes free
//!   room even if promised to a served putter (who then goes back to the
//!   front of its line).
//! * `peek` shows the item next in line, promised or not.
//! * `drain_into` / `clear` take items as `try_get` does, one at a time, so
//!   `drain_into` yields them in the order's order.
//! * `close` fails every waiting putter at once (taken off the line,
//!   woken), and lets gets drain: waiting getters are released (woken, to
//!   fail) only once the closed queue is empty. A served waiter is not
//!   released: it fails (a putter) or takes (a getter) at its next poll.
//! * `shutdown_into` releases everyone and hands the items back in the
//!   order's order.
//!
//! Wake-ups are checked exactly: a future the model served or released
//! must have been woken through the waker of its latest poll, and no other
//! future may have been woken at all. After `Settle`, nobody may be left
//! served and not yet polled.
//!
//! Items count themselves alive: at every step the items alive are those in
//! the queue plus those held by live put futures, and once the queue is
//! dropped none is, so a slot the store forgets (a leak) or drops twice
//! fails the target. At the end every item is accounted for exactly once:
//! received (by a get, `try_get` or `drain_into`), given back (a refused or
//! failed put, `shutdown_into`), displaced by `push`, cleared, or dropped
//! with its put future.

#![no_main]

use std::cell::Cell;
use std::cmp::Ordering;
use std::collections::{HashMap, VecDeque};
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use arbitrary::Arbitrary;
use asyncutils_core::queues::{
    ClosedError, Fifo, FixedGet, FixedOrder, FixedPut, FixedQueue, Lifo, Priority, TryGetError,
    TryPutError, UserPriority,
};
use asyncutils_fuzz::FlagWakers;
use libfuzzer_sys::fuzz_target;

thread_local! {
    static ALIVE: Cell<i64> = const { Cell::new(0) };
}

/// An item that counts how many of its kind are alive. Its `Ord` (and so
/// its `Eq`) looks at `key` alone: `id` names it, and is what the checks
/// compare.
#[derive(Debug)]
struct Item {
    key: u8,
    id: u32,
}

impl Item {
    fn new(key: u8, id: u32) -> Self {
        ALIVE.with(|a| a.set(a.get() + 1));
        Item { key, id }
    }
}

impl Clone for Item {
    fn clone(&self) -> Self {
        Item::new(self.key, self.id)
    }
}

impl Drop for Item {
    fn drop(&mut self) {
        ALIVE.with(|a| a.set(a.get() - 1));
    }
}

impl PartialEq for Item {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Item {}

impl PartialOrd for Item {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Item {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key)
    }
}

fn alive() -> i64 {
    ALIVE.with(Cell::get)
}

/// Keys (and user priorities) are 0..4, so that they collide often.
const KEYS: u8 = 4;

#[derive(Debug, Arbitrary)]
enum Op {
    Put { poll: bool, key: u8 },
    Get { poll: bool },
    Poll { idx: u8, alt: bool },
    Drop { idx: u8 },
    TryPut { key: u8 },
    Push { key: u8 },
    TryGet,
    Peek,
    Drain,
    Clear,
    Close,
    Shutdown,
    Settle,
}

#[derive(Debug, Arbitrary)]
struct Input {
    /// The order (low two bits) and the capacity (the next two).
    shape: u8,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    ALIVE.with(|a| a.set(0));
    let capacity = input.shape >> 2;
    match input.shape % 4 {
        0 => run_order::<Fifo>(capacity, input.ops),
        1 => run_order::<Lifo>(capacity, input.ops),
        2 => run_order::<Priority>(capacity, input.ops),
        _ => run_order::<UserPriority<u8>>(capacity, input.ops),
    }
});

fn run_order<O: Checked>(capacity: u8, ops: Vec<Op>) {
    match capacity % 4 {
        0 => run::<O, 1>(ops),
        1 => run::<O, 2>(ops),
        2 => run::<O, 3>(ops),
        _ => run::<O, 5>(ops),
    }
}

// === the orders and their models ===

/// An order under test: how an item goes in (its `Input`), how a refused
/// input comes back, and the model of its item store.
trait Checked: FixedOrder<Item, Input: Debug> {
    type Model: ModelStore;

    /// The input a put of `item` takes (the item, or the item with its key
    /// as the priority).
    fn input(item: Item) -> Self::Input;

    /// The item of an input given back, checking that the input is whole.
    fn given_back(input: Self::Input) -> Item;
}

impl Checked for Fifo {
    type Model = VecDeque<u32>;

    fn input(item: Item) -> Item {
        item
    }

    fn given_back(item: Item) -> Item {
        item
    }
}

impl Checked for Lifo {
    type Model = Vec<u32>;

    fn input(item: Item) -> Item {
        item
    }

    fn given_back(item: Item) -> Item {
        item
    }
}

impl Checked for Priority {
    type Model = Sorted;

    fn input(item: Item) -> Item {
        item
    }

    fn given_back(item: Item) -> Item {
        item
    }
}

impl Checked for UserPriority<u8> {
    type Model = Sorted;

    fn input(item: Item) -> (Item, u8) {
        let key = item.key;
        (item, key)
    }

    fn given_back((item, priority): (Item, u8)) -> Item {
        assert_eq!(
            priority, item.key,
            "item {} given back with another priority",
            item.id
        );
        item
    }
}

/// The model of an order's items, by id ("next" means next in line).
trait ModelStore: Default {
    fn len(&self) -> usize;
    fn push(&mut self, key: u8, id: u32);
    fn pop(&mut self) -> Option<u32>;
    fn peek(&self) -> Option<u32>;
}

impl ModelStore for VecDeque<u32> {
    fn len(&self) -> usize {
        VecDeque::len(self)
    }

    fn push(&mut self, _key: u8, id: u32) {
        self.push_back(id);
    }

    fn pop(&mut self) -> Option<u32> {
        self.pop_front()
    }

    fn peek(&self) -> Option<u32> {
        self.front().copied()
    }
}

impl ModelStore for Vec<u32> {
    fn len(&self) -> usize {
        <[u32]>::len(self)
    }

    fn push(&mut self, _key: u8, id: u32) {
        Vec::push(self, id);
    }

    fn pop(&mut self) -> Option<u32> {
        Vec::pop(self)
    }

    fn peek(&self) -> Option<u32> {
        self.last().copied()
    }
}

/// `(key, id)` sorted by key, equal keys in arrival order: a new item goes
/// after every item whose key is not larger.
#[derive(Default)]
struct Sorted(Vec<(u8, u32)>);

impl ModelStore for Sorted {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn push(&mut self, key: u8, id: u32) {
        let at = self.0.partition_point(|&(k, _)| k <= key);
        self.0.insert(at, (key, id));
    }

    fn pop(&mut self) -> Option<u32> {
        if self.0.is_empty() {
            None
        } else {
            Some(self.0.remove(0).1)
        }
    }

    fn peek(&self) -> Option<u32> {
        self.0.first().map(|&(_, id)| id)
    }
}

// === the futures under test ===

enum Handle<'a, O: Checked, const N: usize> {
    Get(Pin<Box<FixedGet<'a, Item, N, O>>>),
    Put(Pin<Box<FixedPut<'a, Item, N, O>>>),
}

struct Live<'a, O: Checked, const N: usize> {
    id: usize,
    handle: Handle<'a, O, N>,
    wakers: FlagWakers,
}

/// What a poll gave, items by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Pending,
    GetOk(u32),
    GetClosed,
    PutOk,
    PutClosed(u32),
}

impl<O: Checked, const N: usize> Live<'_, O, N> {
    fn poll(&mut self, alt: bool) -> Outcome {
        let waker = self.wakers.for_poll(alt);
        let mut cx = Context::from_waker(waker);
        match &mut self.handle {
            Handle::Get(f) => match f.as_mut().poll(&mut cx) {
                Poll::Pending => Outcome::Pending,
                Poll::Ready(Ok(item)) => Outcome::GetOk(item.id),
                Poll::Ready(Err(ClosedError(()))) => Outcome::GetClosed,
            },
            Handle::Put(f) => match f.as_mut().poll(&mut cx) {
                Poll::Pending => Outcome::Pending,
                Poll::Ready(Ok(())) => Outcome::PutOk,
                Poll::Ready(Err(ClosedError(input))) => Outcome::PutClosed(O::given_back(input).id),
            },
        }
    }
}

// === the model ===

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FState {
    GetUnpolled,
    /// In the getters' line.
    GetQueued,
    /// Taken off the line for an item; counted in `served_gets`.
    GetServed,
    /// Taken off the line by a close: fails at its next poll.
    GetReleased,
    PutUnpolled(u32),
    PutQueued(u32),
    PutServed(u32),
    PutReleased(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QState {
    Open,
    Closed,
    Shutdown,
}

struct Model<S: ModelStore> {
    capacity: usize,
    items: S,
    /// The key of every item made, by id - 1.
    keys: Vec<u8>,
    state: QState,
    /// Per live future: its state and whether it must have been woken since
    /// its latest poll.
    futures: HashMap<usize, (FState, bool)>,
    gets: VecDeque<usize>,
    puts: VecDeque<usize>,
    served_gets: usize,
    served_puts: usize,
}

impl<S: ModelStore> Model<S> {
    fn state(&mut self, id: usize) -> &mut FState {
        &mut self.futures.get_mut(&id).expect("known future").0
    }

    fn wake(&mut self, id: usize) {
        self.futures.get_mut(&id).expect("known future").1 = true;
    }

    fn room(&self) -> usize {
        self.capacity - self.items.len()
    }

    fn closed_for_gets(&self) -> bool {
        match self.state {
            QState::Open => false,
            QState::Closed => self.items.len() == 0,
            QState::Shutdown => true,
        }
    }

    /// Stores `v` in its order, room or not (the caller checked).
    fn store(&mut self, v: u32) {
        let key = self.keys[v as usize - 1];
        self.items.push(key, v);
    }

    fn insert(&mut self, v: u32) {
        assert!(
            self.items.len() < self.capacity,
            "model: insert into a full queue"
        );
        self.store(v);
        self.serve_getter();
    }

    /// Takes the item next in line, serves a putter for the freed room,
    /// and releases the getters if a closed queue just ran dry.
    fn take(&mut self) -> u32 {
        let v = self.items.pop().expect("an item");
        self.serve_putter();
        if self.state == QState::Closed && self.items.len() == 0 {
            self.release_gets();
        }
        v
    }

    fn serve_getter(&mut self) {
        if self.items.len() <= self.served_gets {
            return;
        }
        let Some(g) = self.gets.pop_front() else {
            return;
        };
        *self.state(g) = FState::GetServed;
        self.served_gets += 1;
        self.wake(g);
    }

    fn serve_putter(&mut self) {
        if self.room() <= self.served_puts {
            return;
        }
        let Some(p) = self.puts.pop_front() else {
            return;
        };
        let FState::PutQueued(v) = *self.state(p) else {
            unreachable!("a queued putter")
        };
        *self.state(p) = FState::PutServed(v);
        self.served_puts += 1;
        self.wake(p);
    }

    fn release_gets(&mut self) {
        while let Some(g) = self.gets.pop_front() {
            *self.state(g) = FState::GetReleased;
            self.wake(g);
        }
    }

    fn release_puts(&mut self) {
        while let Some(p) = self.puts.pop_front() {
            let FState::PutQueued(v) = *self.state(p) else {
                unreachable!("a queued putter")
            };
            *self.state(p) = FState::PutReleased(v);
            self.wake(p);
        }
    }

    fn poll(&mut self, id: usize) -> Outcome {
        self.futures.get_mut(&id).expect("known").1 = false;
        let fstate = *self.state(id);
        let outcome = match fstate {
            FState::GetQueued | FState::PutQueued(_) => Outcome::Pending,
            FState::GetReleased => Outcome::GetClosed,
            FState::PutReleased(v) => Outcome::PutClosed(v),
            FState::GetUnpolled | FState::GetServed => {
                let fresh = fstate == FState::GetUnpolled;
                if !fresh {
                    self.served_gets -= 1;
                }
                let free = if fresh {
                    self.items.len() > self.served_gets
                } else {
                    self.items.len() > 0
                };
                if self.closed_for_gets() {
                    Outcome::GetClosed
                } else if free {
                    Outcome::GetOk(self.take())
                } else {
                    *self.state(id) = FState::GetQueued;
                    if fresh {
                        self.gets.push_back(id);
                    } else {
                        self.gets.push_front(id);
                    }
                    Outcome::Pending
                }
            }
            FState::PutUnpolled(v) | FState::PutServed(v) => {
                let fresh = matches!(fstate, FState::PutUnpolled(_));
                if !fresh {
                    self.served_puts -= 1;
                }
                let free = if fresh {
                    self.room() > self.served_puts
                } else {
                    self.room() > 0
                };
                if self.state != QState::Open {
                    Outcome::PutClosed(v)
                } else if free {
                    self.insert(v);
                    Outcome::PutOk
                } else {
                    *self.state(id) = FState::PutQueued(v);
                    if fresh {
                        self.puts.push_back(id);
                    } else {
                        self.puts.push_front(id);
                    }
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
            FState::GetQueued => self.gets.retain(|&g| g != id),
            FState::GetServed => {
                self.served_gets -= 1;
                self.serve_getter();
            }
            FState::PutQueued(_) => self.puts.retain(|&p| p != id),
            FState::PutServed(_) => {
                self.served_puts -= 1;
                self.serve_putter();
            }
            FState::GetUnpolled
            | FState::GetReleased
            | FState::PutUnpolled(_)
            | FState::PutReleased(_) => {}
        }
    }

    /// Model `try_get`.
    fn try_get(&mut self) -> Result<u32, TryGetError> {
        if self.closed_for_gets() {
            Err(TryGetError::Closed)
        } else if self.items.len() <= self.served_gets {
            Err(TryGetError::Empty)
        } else {
            Ok(self.take())
        }
    }

    /// Put futures alive (each holds its item).
    fn held_by_puts(&self) -> usize {
        self.futures
            .values()
            .filter(|(s, _)| {
                matches!(
                    s,
                    FState::PutUnpolled(_)
                        | FState::PutQueued(_)
                        | FState::PutServed(_)
                        | FState::PutReleased(_)
                )
            })
            .count()
    }
}

// === the driver ===

/// What became of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Taken by a get, `try_get` or `drain_into`.
    Received,
    /// Refused or failed put (never inserted).
    Refused,
    /// Handed back by `shutdown_into`.
    HandedBack,
    /// Displaced by `push`.
    Displaced,
    /// Dropped by `clear`.
    Cleared,
    /// Dropped with its put future before it was inserted.
    DroppedWithPut,
}

struct Harness<'a, O: Checked, const N: usize> {
    q: &'a FixedQueue<Item, N, O>,
    live: Vec<Live<'a, O, N>>,
    model: Model<O::Model>,
    next_id: usize,
    next_value: u32,
    /// Items that went into the queue, by id - 1.
    inserted: Vec<bool>,
    fates: HashMap<u32, Fate>,
}

impl<'a, O: Checked, const N: usize> Harness<'a, O, N> {
    /// A new item with `key % KEYS` and a fresh id.
    fn fresh(&mut self, key: u8) -> Item {
        self.next_value += 1;
        self.inserted.push(false);
        let key = key % KEYS;
        self.model.keys.push(key);
        Item::new(key, self.next_value)
    }

    fn inserted(&mut self, v: u32) {
        let slot = &mut self.inserted[v as usize - 1];
        assert!(!*slot, "{v} inserted twice");
        *slot = true;
    }

    fn fate(&mut self, v: u32, fate: Fate) {
        let was_inserted = self.inserted[v as usize - 1];
        match fate {
            Fate::Received | Fate::HandedBack | Fate::Displaced | Fate::Cleared => {
                assert!(
                    was_inserted,
                    "{v} came out ({fate:?}) but was never inserted"
                );
            }
            Fate::Refused | Fate::DroppedWithPut => {
                assert!(!was_inserted, "{v} inserted, then {fate:?}");
            }
        }
        if let Some(old) = self.fates.insert(v, fate) {
            panic!("item {v}: {old:?}, then {fate:?}");
        }
    }

    fn poll(&mut self, index: usize, alt: bool) {
        let id = self.live[index].id;
        let before = self.model.futures[&id].0;
        let actual = self.live[index].poll(alt);
        let expected = self.model.poll(id);
        assert_eq!(actual, expected, "poll of future {id} ({before:?})");
        match actual {
            Outcome::GetOk(v) => self.fate(v, Fate::Received),
            Outcome::PutOk => {
                let (FState::PutUnpolled(v) | FState::PutServed(v)) = before else {
                    unreachable!("the model agreed")
                };
                self.inserted(v);
            }
            Outcome::PutClosed(v) => self.fate(v, Fate::Refused),
            Outcome::Pending | Outcome::GetClosed => {}
        }
        if actual != Outcome::Pending {
            self.live.remove(index);
        }
    }

    fn drop_future(&mut self, index: usize) {
        let live = self.live.remove(index);
        if let FState::PutUnpolled(v)
        | FState::PutQueued(v)
        | FState::PutServed(v)
        | FState::PutReleased(v) = self.model.futures[&live.id].0
        {
            self.fate(v, Fate::DroppedWithPut);
        }
        self.model.drop_future(live.id);
        drop(live);
    }

    fn new_live(&mut self, handle: Handle<'a, O, N>, state: FState, poll: bool) {
        let id = self.next_id;
        self.next_id += 1;
        self.model.futures.insert(id, (state, false));
        self.live.push(Live {
            id,
            handle,
            wakers: FlagWakers::new(),
        });
        if poll {
            self.poll(self.live.len() - 1, false);
        }
    }

    fn step(&mut self, op: Op) {
        match op {
            Op::Put { poll, key } => {
                let item = self.fresh(key);
                let v = item.id;
                let handle = Handle::Put(Box::pin(self.q.put_input(O::input(item))));
                self.new_live(handle, FState::PutUnpolled(v), poll);
            }
            Op::Get { poll } => {
                let handle = Handle::Get(Box::pin(self.q.get()));
                self.new_live(handle, FState::GetUnpolled, poll);
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
            Op::TryPut { key } => {
                let item = self.fresh(key);
                let v = item.id;
                let result = self.q.try_put_input(O::input(item));
                let m = &mut self.model;
                match result {
                    Ok(()) => {
                        assert!(
                            m.state == QState::Open && m.room() > m.served_puts,
                            "try_put accepted {v}"
                        );
                        m.insert(v);
                        self.inserted(v);
                    }
                    Err(TryPutError::Closed(input)) => {
                        let back = O::given_back(input).id;
                        assert!(m.state != QState::Open && back == v, "try_put closed");
                        self.fate(v, Fate::Refused);
                    }
                    Err(TryPutError::Full(input)) => {
                        let back = O::given_back(input).id;
                        assert!(
                            m.state == QState::Open && m.room() <= m.served_puts && back == v,
                            "try_put full"
                        );
                        self.fate(v, Fate::Refused);
                    }
                    Err(e) => panic!("try_put: unexpected {e:?}"),
                }
            }
            Op::Push { key } => {
                let item = self.fresh(key);
                let v = item.id;
                let result = self.q.push_input(O::input(item));
                let m = &mut self.model;
                match result {
                    Ok(popped) => {
                        assert!(m.state == QState::Open, "push accepted {v} when closed");
                        let expected = if m.items.len() == m.capacity {
                            // Displace the item next in line, then store.
                            let p = m.items.pop();
                            m.store(v);
                            p
                        } else {
                            m.insert(v);
                            None
                        };
                        let popped = popped.map(|i| i.id);
                        assert_eq!(popped, expected, "push displaced");
                        self.inserted(v);
                        if let Some(p) = popped {
                            self.fate(p, Fate::Displaced);
                        }
                    }
                    Err(TryPutError::Closed(input)) => {
                        let back = O::given_back(input).id;
                        assert!(m.state != QState::Open && back == v, "push closed");
                        self.fate(v, Fate::Refused);
                    }
                    Err(e) => panic!("push: unexpected {e:?}"),
                }
            }
            Op::TryGet => {
                let expected = self.model.try_get();
                let actual = self.q.try_get().map(|i| i.id);
                assert_eq!(actual, expected, "try_get");
                if let Ok(v) = actual {
                    self.fate(v, Fate::Received);
                }
            }
            Op::Peek => {
                let m = &self.model;
                let expected = if m.closed_for_gets() {
                    Err(TryGetError::Closed)
                } else {
                    m.items.peek().ok_or(TryGetError::Empty)
                };
                let before = alive();
                let actual = self.q.peek().map(|i| i.id);
                assert_eq!(actual, expected, "peek");
                assert_eq!(alive(), before, "peek's clone was not dropped");
            }
            Op::Drain | Op::Clear => {
                let mut expected = Vec::new();
                while let Ok(v) = self.model.try_get() {
                    expected.push(v);
                }
                if matches!(op, Op::Drain) {
                    let mut out = Vec::new();
                    let n = self.q.drain_into(&mut out);
                    let got: Vec<u32> = out.iter().map(|i| i.id).collect();
                    assert_eq!(n, got.len(), "drain_into count");
                    assert_eq!(got, expected, "drain_into");
                    for v in got {
                        self.fate(v, Fate::Received);
                    }
                } else {
                    let before = alive();
                    let n = self.q.clear();
                    assert_eq!(n, expected.len(), "clear count");
                    assert_eq!(alive(), before - n as i64, "clear drops what it takes");
                    for v in expected {
                        self.fate(v, Fate::Cleared);
                    }
                }
            }
            Op::Close => {
                self.q.close();
                let m = &mut self.model;
                if m.state == QState::Open {
                    m.state = QState::Closed;
                }
                m.release_puts();
                if m.closed_for_gets() {
                    m.release_gets();
                }
            }
            Op::Shutdown => {
                let mut out = Vec::new();
                let n = self.q.shutdown_into(&mut out);
                let got: Vec<u32> = out.iter().map(|i| i.id).collect();
                let m = &mut self.model;
                m.state = QState::Shutdown;
                m.release_puts();
                m.release_gets();
                let expected: Vec<u32> = std::iter::from_fn(|| m.items.pop()).collect();
                assert_eq!(n, got.len(), "shutdown_into count");
                assert_eq!(got, expected, "shutdown_into");
                for v in got {
                    self.fate(v, Fate::HandedBack);
                }
            }
            Op::Settle => self.settle(),
        }
        self.check();
    }

    fn settle(&mut self) {
        for _ in 0..100_000 {
            let Some(index) = self.live.iter().position(|l| l.wakers.any_woken()) else {
                let m = &self.model;
                assert_eq!(m.served_gets, 0, "a served getter was not woken");
                assert_eq!(m.served_puts, 0, "a served putter was not woken");
                assert!(
                    !m.futures
                        .values()
                        .any(|(s, _)| matches!(s, FState::GetReleased | FState::PutReleased(_))),
                    "a released waiter was not woken"
                );
                return;
            };
            let alt = self.live[index].wakers.current_is_alt();
            self.poll(index, alt);
        }
        panic!("settle did not converge");
    }

    fn check(&self) {
        let m = &self.model;
        let len = m.items.len();
        assert_eq!(self.q.len(), len, "len");
        assert_eq!(self.q.is_empty(), len == 0, "is_empty");
        assert_eq!(self.q.is_full(), len == N, "is_full");
        assert_eq!(self.q.remaining_capacity(), N - len, "room");
        assert_eq!(self.q.is_closed(), m.state != QState::Open, "is_closed");
        assert_eq!(self.q.waiting_getters(), m.gets.len(), "waiting getters");
        assert_eq!(self.q.waiting_putters(), m.puts.len(), "waiting putters");
        // Model invariants: nobody waits in line for what is free.
        if m.state != QState::Shutdown {
            assert!(
                m.gets.is_empty() || len <= m.served_gets,
                "model: a getter waits while an item is free"
            );
            assert!(
                m.served_gets <= len,
                "model: more served getters than items"
            );
        }
        assert!(
            m.puts.is_empty() || m.room() <= m.served_puts,
            "model: a putter waits while room is free"
        );
        if m.state != QState::Open {
            assert!(m.puts.is_empty(), "model: a putter waits on a closed queue");
        }
        if m.closed_for_gets() {
            assert!(
                m.gets.is_empty(),
                "model: a getter waits on a drained queue"
            );
        }
        for live in &self.live {
            if m.futures[&live.id].1 {
                assert!(
                    live.wakers.current_woken(),
                    "future {} ({:?}) should have been woken through its latest waker",
                    live.id,
                    m.futures[&live.id].0
                );
            } else {
                assert!(
                    !live.wakers.any_woken(),
                    "future {} ({:?}) was woken for nothing",
                    live.id,
                    m.futures[&live.id].0
                );
            }
        }
        let held = i64::try_from(len + m.held_by_puts()).expect("small");
        assert_eq!(
            alive(),
            held,
            "items alive besides the queue's and the puts'"
        );
    }

    fn finish(mut self) {
        while !self.live.is_empty() {
            self.drop_future(0);
            self.check();
        }
        self.step(Op::Shutdown);
        for v in 1..=self.next_value {
            assert!(self.fates.contains_key(&v), "item {v} unaccounted for");
        }
    }
}

fn run<O: Checked, const N: usize>(ops: Vec<Op>) {
    let queue = FixedQueue::<Item, N, O>::new();
    let mut h = Harness {
        q: &queue,
        live: Vec::new(),
        model: Model {
            capacity: N,
            items: O::Model::default(),
            keys: Vec::new(),
            state: QState::Open,
            futures: HashMap::new(),
            gets: VecDeque::new(),
            puts: VecDeque::new(),
            served_gets: 0,
            served_puts: 0,
        },
        next_id: 0,
        next_value: 0,
        inserted: Vec::new(),
        fates: HashMap::new(),
    };
    for op in ops.into_iter().take(512) {
        h.step(op);
    }
    h.finish();
    drop(queue);
    assert_eq!(alive(), 0, "an item outlived its queue");
}
