//! The fixed-capacity storage of each order, for [`FixedQueue`](super::FixedQueue):
//! `heapless` collections, so nothing is allocated and an empty store is a
//! constant (which keeps `FixedQueue::new` a `const fn`).

use core::cmp::Ordering;

use heapless::binary_heap::{BinaryHeap, Min};
use heapless::{Deque, Vec};

use crate::queues::order::{Fifo, Lifo, Order, Priority, UserPriority};

/// The orders a [`FixedQueue`](super::FixedQueue) can serve items in: the
/// same [`Fifo`], [`Lifo`], [`Priority`] and [`UserPriority`] as
/// [`SmartQueue`](crate::queues::SmartQueue), stored inline.
///
/// Implemented for those four only (it extends the sealed [`Order`]).
pub trait FixedOrder<T>: Order<T> {
    #[doc(hidden)]
    type Fixed<const N: usize>: FixedStore<T, Self::Input>;
}

/// The storage of one order, holding at most `N` entries. Every method runs
/// under the queue's lock.
#[doc(hidden)]
pub trait FixedStore<T, In> {
    /// The empty store.
    const EMPTY: Self;
    fn len(&self) -> usize;
    /// Inserts an item that arrived as number `seq`; the caller checked
    /// for room.
    fn push(&mut self, input: In, seq: u64);
    /// Removes the item next in line.
    fn pop(&mut self) -> Option<T>;
    /// The item next in line.
    fn peek(&self) -> Option<&T>;
}

impl<T> FixedOrder<T> for Fifo {
    type Fixed<const N: usize> = Deque<T, N>;
}

impl<T, const N: usize> FixedStore<T, T> for Deque<T, N> {
    const EMPTY: Self = Deque::new();

    #[inline]
    fn len(&self) -> usize {
        Deque::len(self)
    }

    #[inline]
    fn push(&mut self, input: T, _seq: u64) {
        let pushed = self.push_back(input);
        debug_assert!(pushed.is_ok(), "caller checked for room");
    }

    #[inline]
    fn pop(&mut self) -> Option<T> {
        self.pop_front()
    }

    fn peek(&self) -> Option<&T> {
        self.front()
    }
}

impl<T> FixedOrder<T> for Lifo {
    type Fixed<const N: usize> = Vec<T, N>;
}

impl<T, const N: usize> FixedStore<T, T> for Vec<T, N> {
    const EMPTY: Self = Vec::new();

    #[inline]
    fn len(&self) -> usize {
        self.as_slice().len()
    }

    #[inline]
    fn push(&mut self, input: T, _seq: u64) {
        let pushed = Vec::push(self, input);
        debug_assert!(pushed.is_ok(), "caller checked for room");
    }

    #[inline]
    fn pop(&mut self) -> Option<T> {
        Vec::pop(self)
    }

    fn peek(&self) -> Option<&T> {
        self.last()
    }
}

/// An entry ordered by `key`, then by arrival: the heap pops the smallest
/// key first, ties in arrival order.
#[doc(hidden)]
#[derive(Debug)]
pub struct Ranked<K, T> {
    key: K,
    seq: u64,
    item: T,
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
        self.key.cmp(&other.key).then(self.seq.cmp(&other.seq))
    }
}

/// The item is its own key.
#[doc(hidden)]
#[derive(Debug)]
pub struct ByItem<T> {
    item: T,
    seq: u64,
}

impl<T: Ord> PartialEq for ByItem<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<T: Ord> Eq for ByItem<T> {}

impl<T: Ord> PartialOrd for ByItem<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T: Ord> Ord for ByItem<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.item.cmp(&other.item).then(self.seq.cmp(&other.seq))
    }
}

impl<T: Ord> FixedOrder<T> for Priority {
    type Fixed<const N: usize> = BinaryHeap<ByItem<T>, Min, N>;
}

impl<T: Ord, const N: usize> FixedStore<T, T> for BinaryHeap<ByItem<T>, Min, N> {
    const EMPTY: Self = BinaryHeap::new();

    #[inline]
    fn len(&self) -> usize {
        BinaryHeap::len(self)
    }

    #[inline]
    fn push(&mut self, input: T, seq: u64) {
        let pushed = BinaryHeap::push(self, ByItem { item: input, seq });
        debug_assert!(pushed.is_ok(), "caller checked for room");
    }

    #[inline]
    fn pop(&mut self) -> Option<T> {
        BinaryHeap::pop(self).map(|e| e.item)
    }

    fn peek(&self) -> Option<&T> {
        BinaryHeap::peek(self).map(|e| &e.item)
    }
}

impl<T, P: Ord + 'static> FixedOrder<T> for UserPriority<P> {
    type Fixed<const N: usize> = BinaryHeap<Ranked<P, T>, Min, N>;
}

impl<T, P: Ord, const N: usize> FixedStore<T, (T, P)> for BinaryHeap<Ranked<P, T>, Min, N> {
    const EMPTY: Self = BinaryHeap::new();

    #[inline]
    fn len(&self) -> usize {
        BinaryHeap::len(self)
    }

    #[inline]
    fn push(&mut self, (item, key): (T, P), seq: u64) {
        let pushed = BinaryHeap::push(self, Ranked { key, seq, item });
        debug_assert!(pushed.is_ok(), "caller checked for room");
    }

    #[inline]
    fn pop(&mut self) -> Option<T> {
        BinaryHeap::pop(self).map(|e| e.item)
    }

    fn peek(&self) -> Option<&T> {
        BinaryHeap::peek(self).map(|e| &e.item)
    }
}
