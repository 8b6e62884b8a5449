//! The fixed-capacity storage of each order, for [`FixedQueue`](super::FixedQueue):
//! `heapless` collections, so nothing is allocated and an empty store is a
//! constant (which keeps `FixedQueue::new` a `const fn`).

use heapless::binary_heap::{BinaryHeap, Max};
use heapless::{Deque, Vec};

use crate::queues::order::{Fifo, Lifo, Order, Priority, Ranked, SelfKey, UserPriority};

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

// The priority entries are the alloc stores' `Ranked`, ordered so that a
// max-heap pops the smallest key first, ties in arrival order.

impl<T: Ord> FixedOrder<T> for Priority {
    type Fixed<const N: usize> = BinaryHeap<Ranked<SelfKey<T>, ()>, Max, N>;
}

impl<T: Ord, const N: usize> FixedStore<T, T> for BinaryHeap<Ranked<SelfKey<T>, ()>, Max, N> {
    const EMPTY: Self = BinaryHeap::new();

    #[inline]
    fn len(&self) -> usize {
        BinaryHeap::len(self)
    }

    #[inline]
    fn push(&mut self, input: T, seq: u64) {
        let entry = Ranked {
            key: SelfKey(input),
            seq,
            item: (),
        };
        let pushed = BinaryHeap::push(self, entry);
        debug_assert!(pushed.is_ok(), "caller checked for room");
    }

    #[inline]
    fn pop(&mut self) -> Option<T> {
        BinaryHeap::pop(self).map(|e| e.key.0)
    }

    fn peek(&self) -> Option<&T> {
        BinaryHeap::peek(self).map(|e| &e.key.0)
    }
}

impl<T, P: Ord + 'static> FixedOrder<T> for UserPriority<P> {
    type Fixed<const N: usize> = BinaryHeap<Ranked<P, T>, Max, N>;
}

impl<T, P: Ord, const N: usize> FixedStore<T, (T, P)> for BinaryHeap<Ranked<P, T>, Max, N> {
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
