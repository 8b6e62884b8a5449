//! The orders a [`SmartQueue`](super::SmartQueue) can serve items in, and
//! the storage behind each.
//!
//! Every store keeps an arrival number with each item where the order needs
//! it, so equal priorities come out in arrival order and a transaction can
//! put an item back exactly where it was.

use alloc::collections::{BinaryHeap, VecDeque};
use alloc::vec::Vec;
use core::cmp::Ordering;
use core::marker::PhantomData;

/// The audit event names of one queue family (the seed's type name).
#[doc(hidden)]
#[derive(Debug)]
pub struct Events {
    pub(crate) push: &'static str,
    pub(crate) transaction_start: &'static str,
    pub(crate) transaction_end: &'static str,
    pub(crate) map: &'static str,
    pub(crate) starmap: &'static str,
    pub(crate) filter: &'static str,
    pub(crate) enumerate: &'static str,
}

/// How a [`SmartQueue`](super::SmartQueue) orders its items: [`Fifo`],
/// [`Lifo`], [`Priority`] (the item's own `Ord`, smallest first) or
/// [`UserPriority`] (a priority given with each put, smallest first).
///
/// Sealed: the storage it selects is an implementation detail.
pub trait Order<T>: sealed::Sealed + 'static {
    /// What a put takes: the item, or for [`UserPriority`] the item and its
    /// priority. Errors that give a put's value back give this back.
    type Input;
    #[doc(hidden)]
    type Store: Store<T, Self::Input>;
    #[doc(hidden)]
    const EVENTS: Events;
}

mod sealed {
    pub trait Sealed {}
}

/// First in, first out: items come out in the order they were put.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fifo;

/// Last in, first out: the newest item comes out first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lifo;

/// By the item's own [`Ord`], **smallest first** (like a min-heap); equal
/// items in arrival order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Priority;

/// By a priority `P` given with each put, **smallest first**; equal
/// priorities in arrival order. The item type needs no `Ord`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserPriority<P>(PhantomData<fn() -> P>);

impl sealed::Sealed for Fifo {}
impl sealed::Sealed for Lifo {}
impl sealed::Sealed for Priority {}
impl<P> sealed::Sealed for UserPriority<P> {}

impl<T> Order<T> for Fifo {
    type Input = T;
    type Store = FifoStore<T>;
    const EVENTS: Events = Events {
        push: "asyncutils.queues.SmartQueue.push",
        transaction_start: "asyncutils.queues.SmartQueue.transaction/start",
        transaction_end: "asyncutils.queues.SmartQueue.transaction/end",
        map: "asyncutils.queues.SmartQueue.map",
        starmap: "asyncutils.queues.SmartQueue.starmap",
        filter: "asyncutils.queues.SmartQueue.filter",
        enumerate: "asyncutils.queues.SmartQueue.enumerate",
    };
}

impl<T> Order<T> for Lifo {
    type Input = T;
    type Store = LifoStore<T>;
    const EVENTS: Events = Events {
        push: "asyncutils.queues.SmartLifoQueue.push",
        transaction_start: "asyncutils.queues.SmartLifoQueue.transaction/start",
        transaction_end: "asyncutils.queues.SmartLifoQueue.transaction/end",
        map: "asyncutils.queues.SmartLifoQueue.map",
        starmap: "asyncutils.queues.SmartLifoQueue.starmap",
        filter: "asyncutils.queues.SmartLifoQueue.filter",
        enumerate: "asyncutils.queues.SmartLifoQueue.enumerate",
    };
}

impl<T: Ord> Order<T> for Priority {
    type Input = T;
    type Store = PriorityStore<T>;
    const EVENTS: Events = Events {
        push: "asyncutils.queues.SmartPriorityQueue.push",
        transaction_start: "asyncutils.queues.SmartPriorityQueue.transaction/start",
        transaction_end: "asyncutils.queues.SmartPriorityQueue.transaction/end",
        map: "asyncutils.queues.SmartPriorityQueue.map",
        starmap: "asyncutils.queues.SmartPriorityQueue.starmap",
        filter: "asyncutils.queues.SmartPriorityQueue.filter",
        enumerate: "asyncutils.queues.SmartPriorityQueue.enumerate",
    };
}

impl<T, P: Ord + 'static> Order<T> for UserPriority<P> {
    type Input = (T, P);
    type Store = UserPriorityStore<T, P>;
    const EVENTS: Events = Events {
        push: "asyncutils.queues.UserPriorityQueue.push",
        transaction_start: "asyncutils.queues.UserPriorityQueue.transaction/start",
        transaction_end: "asyncutils.queues.UserPriorityQueue.transaction/end",
        map: "asyncutils.queues.UserPriorityQueue.map",
        starmap: "asyncutils.queues.UserPriorityQueue.starmap",
        filter: "asyncutils.queues.UserPriorityQueue.filter",
        enumerate: "asyncutils.queues.UserPriorityQueue.enumerate",
    };
}

/// What the store of order `O` keeps per item.
pub(crate) type Entry<T, O> = <<O as Order<T>>::Store as Store<T, <O as Order<T>>::Input>>::Entry;

/// The storage of one order. Every method runs under the queue's lock.
#[doc(hidden)]
pub trait Store<T, In> {
    /// What is stored per item (the item plus whatever ordering needs).
    type Entry;
    fn with_capacity(n: usize) -> Self;
    fn len(&self) -> usize;
    /// Inserts an item that arrived as number `seq`.
    fn push(&mut self, input: In, seq: u64);
    /// Removes the item next in line.
    fn pop(&mut self) -> Option<Self::Entry>;
    /// The item next in line.
    fn peek(&self) -> Option<&T>;
    /// Undoes a `pop` that returned `entry` (the state is as right after it).
    fn restore(&mut self, entry: Self::Entry);
    /// Undoes the `push` numbered `seq` (the state is as right after it).
    fn unpush(&mut self, seq: u64) -> Option<Self::Entry>;
    fn item(entry: &Self::Entry) -> &T;
    fn into_item(entry: Self::Entry) -> T;
    /// Removes the first item in line for which `pred` holds.
    fn take_matching(&mut self, pred: &mut dyn FnMut(&T) -> bool) -> Option<Self::Entry>;
}

// === FIFO ===

#[doc(hidden)]
#[derive(Debug)]
pub struct FifoStore<T>(VecDeque<T>);

impl<T> Store<T, T> for FifoStore<T> {
    type Entry = T;
    fn with_capacity(n: usize) -> Self {
        FifoStore(VecDeque::with_capacity(n))
    }
    #[inline]
    fn len(&self) -> usize {
        self.0.len()
    }
    #[inline]
    fn push(&mut self, input: T, _seq: u64) {
        self.0.push_back(input);
    }
    #[inline]
    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }
    fn peek(&self) -> Option<&T> {
        self.0.front()
    }
    fn restore(&mut self, entry: T) {
        self.0.push_front(entry);
    }
    fn unpush(&mut self, _seq: u64) -> Option<T> {
        self.0.pop_back()
    }
    fn item(entry: &T) -> &T {
        entry
    }
    #[inline]
    fn into_item(entry: T) -> T {
        entry
    }
    fn take_matching(&mut self, pred: &mut dyn FnMut(&T) -> bool) -> Option<T> {
        let i = self.0.iter().position(pred)?;
        self.0.remove(i)
    }
}

// === LIFO ===

#[doc(hidden)]
#[derive(Debug)]
pub struct LifoStore<T>(Vec<T>);

impl<T> Store<T, T> for LifoStore<T> {
    type Entry = T;
    fn with_capacity(n: usize) -> Self {
        LifoStore(Vec::with_capacity(n))
    }
    #[inline]
    fn len(&self) -> usize {
        self.0.len()
    }
    #[inline]
    fn push(&mut self, input: T, _seq: u64) {
        self.0.push(input);
    }
    #[inline]
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
    fn peek(&self) -> Option<&T> {
        self.0.last()
    }
    fn restore(&mut self, entry: T) {
        self.0.push(entry);
    }
    fn unpush(&mut self, _seq: u64) -> Option<T> {
        self.0.pop()
    }
    fn item(entry: &T) -> &T {
        entry
    }
    #[inline]
    fn into_item(entry: T) -> T {
        entry
    }
    fn take_matching(&mut self, pred: &mut dyn FnMut(&T) -> bool) -> Option<T> {
        let i = self.0.iter().rposition(pred)?;
        Some(self.0.remove(i))
    }
}

// === priority (the item's Ord) ===

/// An item with its arrival number, ordered so that `BinaryHeap` (a
/// max-heap) pops the smallest item, then the earliest arrival.
#[doc(hidden)]
#[derive(Debug)]
pub struct Ranked<K, T> {
    pub(crate) key: K,
    pub(crate) seq: u64,
    pub(crate) item: T,
}

impl<K: Ord, T> PartialEq for Ranked<K, T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl<K: Ord, T> Eq for Ranked<K, T> {}
impl<K: Ord, T> PartialOrd for Ranked<K, T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<K: Ord, T> Ord for Ranked<K, T> {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .key
            .cmp(&self.key)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

/// The item is its own key.
#[doc(hidden)]
#[derive(Debug)]
pub struct SelfKey<T>(pub(crate) T);

impl<T: Ord> PartialEq for SelfKey<T> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl<T: Ord> Eq for SelfKey<T> {}
impl<T: Ord> PartialOrd for SelfKey<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T: Ord> Ord for SelfKey<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

#[doc(hidden)]
#[derive(Debug)]
pub struct PriorityStore<T>(BinaryHeap<Ranked<SelfKey<T>, ()>>);

impl<T: Ord> Store<T, T> for PriorityStore<T> {
    type Entry = Ranked<SelfKey<T>, ()>;
    fn with_capacity(n: usize) -> Self {
        PriorityStore(BinaryHeap::with_capacity(n))
    }
    #[inline]
    fn len(&self) -> usize {
        self.0.len()
    }
    #[inline]
    fn push(&mut self, input: T, seq: u64) {
        self.0.push(Ranked {
            key: SelfKey(input),
            seq,
            item: (),
        });
    }
    #[inline]
    fn pop(&mut self) -> Option<Self::Entry> {
        self.0.pop()
    }
    fn peek(&self) -> Option<&T> {
        self.0.peek().map(|e| &e.key.0)
    }
    fn restore(&mut self, entry: Self::Entry) {
        self.0.push(entry);
    }
    fn unpush(&mut self, seq: u64) -> Option<Self::Entry> {
        take_seq(&mut self.0, seq)
    }
    fn item(entry: &Self::Entry) -> &T {
        &entry.key.0
    }
    #[inline]
    fn into_item(entry: Self::Entry) -> T {
        entry.key.0
    }
    fn take_matching(&mut self, pred: &mut dyn FnMut(&T) -> bool) -> Option<Self::Entry> {
        take_best_matching(&mut self.0, |e| pred(&e.key.0))
    }
}

/// Removes the entry numbered `seq` from `heap` (rare: undoing a
/// transaction's put), rebuilding the heap.
fn take_seq<K: Ord, T>(heap: &mut BinaryHeap<Ranked<K, T>>, seq: u64) -> Option<Ranked<K, T>> {
    let mut entries = core::mem::take(heap).into_vec();
    let found = entries.iter().position(|e| e.seq == seq);
    let taken = found.map(|i| entries.swap_remove(i));
    *heap = BinaryHeap::from(entries);
    taken
}

/// Removes the entry first in line among those matching `pred` (rare: a
/// filter driver), rebuilding the heap if one is found.
fn take_best_matching<K: Ord, T>(
    heap: &mut BinaryHeap<Ranked<K, T>>,
    mut pred: impl FnMut(&Ranked<K, T>) -> bool,
) -> Option<Ranked<K, T>> {
    // The heap's greatest entry is first in line.
    let best = heap
        .iter()
        .enumerate()
        .filter(|(_, e)| pred(e))
        .max_by(|(_, a), (_, b)| a.cmp(b))
        .map(|(i, _)| i)?;
    let mut entries = core::mem::take(heap).into_vec();
    let taken = entries.swap_remove(best);
    *heap = BinaryHeap::from(entries);
    Some(taken)
}

// === user priority ===

#[doc(hidden)]
#[derive(Debug)]
pub struct UserPriorityStore<T, P>(BinaryHeap<Ranked<P, T>>);

impl<T, P: Ord> Store<T, (T, P)> for UserPriorityStore<T, P> {
    type Entry = Ranked<P, T>;
    fn with_capacity(n: usize) -> Self {
        UserPriorityStore(BinaryHeap::with_capacity(n))
    }
    #[inline]
    fn len(&self) -> usize {
        self.0.len()
    }
    #[inline]
    fn push(&mut self, (item, key): (T, P), seq: u64) {
        self.0.push(Ranked { key, seq, item });
    }
    #[inline]
    fn pop(&mut self) -> Option<Self::Entry> {
        self.0.pop()
    }
    fn peek(&self) -> Option<&T> {
        self.0.peek().map(|e| &e.item)
    }
    fn restore(&mut self, entry: Self::Entry) {
        self.0.push(entry);
    }
    fn unpush(&mut self, seq: u64) -> Option<Self::Entry> {
        take_seq(&mut self.0, seq)
    }
    fn item(entry: &Self::Entry) -> &T {
        &entry.item
    }
    #[inline]
    fn into_item(entry: Self::Entry) -> T {
        entry.item
    }
    fn take_matching(&mut self, pred: &mut dyn FnMut(&T) -> bool) -> Option<Self::Entry> {
        take_best_matching(&mut self.0, |e| pred(&e.item))
    }
}
