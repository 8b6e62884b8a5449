//! FIFO queues of waiters stored in one slab, with O(1) removal from the
//! middle and no allocation once the slab has grown to the peak number of
//! concurrent waiters.
//!
//! Implementation notes: every waiter lives in a slab slot addressed by its
//! key, which the waiting future keeps. A slot links to its neighbours in the
//! queue it belongs to by key, so a future that is dropped can unlink itself
//! without searching. Several queues (say, putters and getters) can share
//! one slab; each `Queue` is just a head, a tail and a length. A slot that is
//! in no queue (a waiter that was handed its value and has not yet polled)
//! keeps `linked == false`. A slot is in at most one queue at a time.

use slab::Slab;

/// Stores `waker` in `slot`, cloning only if the stored one would not wake
/// the same task (`Waker::clone_from` checks `will_wake`).
pub(crate) fn set_waker(slot: &mut Option<core::task::Waker>, waker: &core::task::Waker) {
    match slot {
        Some(w) => w.clone_from(waker),
        None => *slot = Some(waker.clone()),
    }
}

pub(crate) struct Node<T> {
    pub(crate) value: T,
    prev: Option<usize>,
    next: Option<usize>,
    linked: bool,
}

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Queue {
    head: Option<usize>,
    tail: Option<usize>,
    len: usize,
}

pub(crate) struct Slots<T> {
    slab: Slab<Node<T>>,
}

impl<T> Slots<T> {
    pub(crate) const fn new() -> Self {
        Slots { slab: Slab::new() }
    }

    /// Stores `value` in a slot that is in no queue.
    pub(crate) fn insert(&mut self, value: T) -> usize {
        self.slab.insert(Node {
            value,
            prev: None,
            next: None,
            linked: false,
        })
    }

    /// Frees the slot (unlinking it from `queue` first if it is linked).
    pub(crate) fn remove(&mut self, queue: &mut Queue, key: usize) -> T {
        self.unlink(queue, key);
        self.slab.remove(key).value
    }

    pub(crate) fn get(&self, key: usize) -> &T {
        &self.slab[key].value
    }

    pub(crate) fn get_mut(&mut self, key: usize) -> &mut T {
        &mut self.slab[key].value
    }

    pub(crate) fn push_back(&mut self, queue: &mut Queue, key: usize) {
        debug_assert!(!self.slab[key].linked);
        let node = &mut self.slab[key];
        node.linked = true;
        node.prev = queue.tail;
        node.next = None;
        match queue.tail {
            Some(t) => self.slab[t].next = Some(key),
            None => queue.head = Some(key),
        }
        queue.tail = Some(key);
        queue.len += 1;
    }

    pub(crate) fn push_front(&mut self, queue: &mut Queue, key: usize) {
        debug_assert!(!self.slab[key].linked);
        let node = &mut self.slab[key];
        node.linked = true;
        node.prev = None;
        node.next = queue.head;
        match queue.head {
            Some(h) => self.slab[h].prev = Some(key),
            None => queue.tail = Some(key),
        }
        queue.head = Some(key);
        queue.len += 1;
    }

    /// Takes the front waiter out of `queue`; its slot stays allocated.
    pub(crate) fn pop_front(&mut self, queue: &mut Queue) -> Option<usize> {
        let key = queue.head?;
        self.unlink(queue, key);
        Some(key)
    }

    /// Takes the back waiter out of `queue`; its slot stays allocated.
    pub(crate) fn pop_back(&mut self, queue: &mut Queue) -> Option<usize> {
        let key = queue.tail?;
        self.unlink(queue, key);
        Some(key)
    }

    /// Position of `key` in `queue` (front is 0), walking from the front.
    pub(crate) fn position(&self, queue: &Queue, key: usize) -> Option<usize> {
        let mut cursor = queue.head;
        let mut i = 0;
        while let Some(k) = cursor {
            if k == key {
                return Some(i);
            }
            cursor = self.slab[k].next;
            i += 1;
        }
        None
    }

    /// The key at position `n` of `queue`.
    pub(crate) fn nth(&self, queue: &Queue, n: usize) -> Option<usize> {
        let mut cursor = queue.head;
        for _ in 0..n {
            cursor = self.slab[cursor?].next;
        }
        cursor
    }

    /// Takes `key` out of `queue` if it is linked; its slot stays allocated.
    pub(crate) fn unlink(&mut self, queue: &mut Queue, key: usize) {
        let node = &mut self.slab[key];
        if !node.linked {
            return;
        }
        node.linked = false;
        let (prev, next) = (node.prev.take(), node.next.take());
        match prev {
            Some(p) => self.slab[p].next = next,
            None => queue.head = next,
        }
        match next {
            Some(n) => self.slab[n].prev = prev,
            None => queue.tail = prev,
        }
        queue.len -= 1;
    }
}

impl Slots<Option<core::task::Waker>> {
    /// Takes the stored waker of whoever is first in `queue`, to wake them
    /// (say, because a slot opened up or they just became first).
    pub(crate) fn take_first_waker(&mut self, queue: &Queue) -> Option<core::task::Waker> {
        let key = queue.front()?;
        self.get_mut(key).take()
    }

    /// Frees `key`'s slot; if it was first in `queue`, returns the waker of
    /// the new first, who may now go ahead.
    pub(crate) fn leave(&mut self, queue: &mut Queue, key: usize) -> Option<core::task::Waker> {
        let was_first = queue.front() == Some(key);
        self.remove(queue, key);
        if was_first {
            self.take_first_waker(queue)
        } else {
            None
        }
    }
}

impl Queue {
    pub(crate) const fn new() -> Self {
        Queue {
            head: None,
            tail: None,
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn front(&self) -> Option<usize> {
        self.head
    }
}

impl<T> Slots<T> {
    /// Keys of every occupied slot, in any order (used by bulk resets).
    pub(crate) fn all_keys(&self) -> alloc::vec::Vec<usize> {
        self.slab.iter().map(|(k, _)| k).collect()
    }

    /// Frees a slot that the caller knows is in no queue (or whose queues
    /// it is about to clear with [`forget_links`](Slots::forget_links)).
    pub(crate) fn remove_unlinked(&mut self, key: usize) -> T {
        self.slab.remove(key).value
    }

    /// Marks every slot as in no queue; the caller resets its queues.
    pub(crate) fn forget_links(&mut self) {
        for (_, node) in self.slab.iter_mut() {
            node.linked = false;
            node.prev = None;
            node.next = None;
        }
    }
}
