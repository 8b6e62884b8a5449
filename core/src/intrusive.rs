//! FIFO lists of waiters that live inside the waiting futures themselves,
//! so waiting costs no allocation at all (for the fixed-capacity, no-heap
//! primitives).
//!
//! Implementation notes: a waiting future embeds a [`Node`] and is
//! `!Unpin`. While the node is linked, a [`List`] holds its address. Every
//! access to a node — its links, its status, its waker — happens under the
//! one lock that guards the lists it is linked into; that lock is what
//! makes the raw pointers sound. Its future takes the same lock in `Drop`
//! and unlinks the node before the memory goes away, and pinning keeps the
//! address fixed until then. A future that is leaked rather than dropped
//! keeps its memory forever (the `Pin` contract), so a leaked node's
//! address stays valid too.
//!
//! A node is in at most one list. Being taken off a list by somebody else
//! is recorded in its [`Status`] (served or closed), which its owner reads
//! at its next poll or in `Drop`.

use core::cell::UnsafeCell;
use core::marker::PhantomPinned;
use core::ptr::{self, NonNull};
use core::task::Waker;

use crate::waitlist::set_waker;

/// Where a node stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// In no list, nothing owed: not queued yet, or finished.
    Idle,
    /// Linked in a list, waiting.
    Queued,
    /// Taken off its list to be served: its owner holds a turn, which it
    /// must use or pass on.
    Served,
    /// Taken off its list because the primitive closed.
    Closed,
}

/// The part of a waiting future a [`List`] points at, with `data` the
/// list may read (say, a priority): set at creation, never changed through
/// the list.
pub(crate) struct Node<D = ()> {
    cell: UnsafeCell<Links<D>>,
    data: D,
    _pinned: PhantomPinned,
}

// SAFETY: a node's links are only touched by holders of the lock that
// guards the list it is (or was last) linked into, whatever thread they run
// on; the waker in it is `Send + Sync`. Its data is read through the list
// from other threads while its owner may hold it, hence `D: Sync` too.
unsafe impl<D: Send + Sync> Send for Node<D> {}
// SAFETY: as for `Send`: a shared `&Node` gives access to nothing without
// that lock.
unsafe impl<D: Sync> Sync for Node<D> {}

struct Links<D> {
    prev: Option<NonNull<Node<D>>>,
    next: Option<NonNull<Node<D>>>,
    status: Status,
    waker: Option<Waker>,
}

impl Node {
    pub(crate) const fn new() -> Self {
        Node::with_data(())
    }
}

impl<D> Node<D> {
    pub(crate) const fn with_data(data: D) -> Self {
        Node {
            cell: UnsafeCell::new(Links {
                prev: None,
                next: None,
                status: Status::Idle,
                waker: None,
            }),
            data,
            _pinned: PhantomPinned,
        }
    }

    pub(crate) fn data(&self) -> &D {
        &self.data
    }

    /// The address of the data of the node at `node`, made without a
    /// reference to the node (so it can be used for a last access that
    /// its owner may answer by freeing the node).
    ///
    /// # Safety
    ///
    /// `node` is alive.
    pub(crate) unsafe fn data_ptr(node: NonNull<Node<D>>) -> NonNull<D> {
        // SAFETY: the caller's contract; `addr_of_mut!` reads nothing.
        unsafe { NonNull::new_unchecked(ptr::addr_of_mut!((*node.as_ptr()).data)) }
    }

    /// The node's fields, through its address.
    ///
    /// # Safety
    ///
    /// `node` is alive, the caller holds the lock guarding the node, and no
    /// other reference to its fields is in use.
    #[allow(clippy::mut_from_ref)]
    unsafe fn links<'a>(node: NonNull<Node<D>>) -> &'a mut Links<D> {
        // SAFETY: the caller's contract; no reference to the `Node` itself
        // is made, only to the cell's contents.
        unsafe { &mut *UnsafeCell::raw_get(ptr::addr_of!((*node.as_ptr()).cell)) }
    }

    /// # Safety
    ///
    /// The caller holds the lock guarding the node.
    pub(crate) unsafe fn status(&self) -> Status {
        // SAFETY: the caller's contract; `self` is alive.
        unsafe { Node::links(NonNull::from(self)) }.status
    }

    /// Marks a node that is in no list (served or closed) as idle again,
    /// once its owner has acted on it.
    ///
    /// # Safety
    ///
    /// The caller holds the lock guarding the node.
    pub(crate) unsafe fn reset(&self) {
        // SAFETY: the caller's contract.
        let links = unsafe { Node::links(NonNull::from(self)) };
        debug_assert!(links.status != Status::Queued, "reset of a linked node");
        links.status = Status::Idle;
    }

    /// Replaces the waker of a queued node.
    ///
    /// # Safety
    ///
    /// The caller holds the lock guarding the node.
    pub(crate) unsafe fn set_waker(&self, waker: &Waker) {
        // SAFETY: the caller's contract.
        set_waker(
            &mut unsafe { Node::links(NonNull::from(self)) }.waker,
            waker,
        );
    }
}

/// A list of [`Node`]s, FIFO or sorted on their data; lives inside the
/// lock that guards them.
pub(crate) struct List<D = ()> {
    head: Option<NonNull<Node<D>>>,
    tail: Option<NonNull<Node<D>>>,
    len: usize,
}

// SAFETY: the nodes are only touched by holders of the lock that guards the
// list (which is what owning or borrowing the `List` proves), whatever
// thread they run on; the wakers in them are `Send`.
unsafe impl<D: Sync> Send for List<D> {}

impl<D> List<D> {
    pub(crate) const fn new() -> Self {
        List {
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

    /// Links `node` at the back (`front == false`) or the front, waiting
    /// with `waker`.
    ///
    /// # Safety
    ///
    /// The caller holds the lock guarding this list; `node` is pinned, in no
    /// list, and its owner will, under that lock and before the node is
    /// dropped, [`remove`](Self::remove) it or see it taken off.
    pub(crate) unsafe fn link(&mut self, node: &Node<D>, waker: &Waker, front: bool) {
        let ptr = NonNull::from(node);
        // SAFETY: the caller's contract.
        let links = unsafe { Node::links(ptr) };
        debug_assert!(links.status != Status::Queued, "node linked twice");
        links.status = Status::Queued;
        set_waker(&mut links.waker, waker);
        if front {
            links.prev = None;
            links.next = self.head;
            match self.head {
                // SAFETY: linked nodes are alive (the contract of `link`).
                Some(h) => unsafe { Node::links(h) }.prev = Some(ptr),
                None => self.tail = Some(ptr),
            }
            self.head = Some(ptr);
        } else {
            links.next = None;
            links.prev = self.tail;
            match self.tail {
                // SAFETY: as above.
                Some(t) => unsafe { Node::links(t) }.next = Some(ptr),
                None => self.head = Some(ptr),
            }
            self.tail = Some(ptr);
        }
        self.len += 1;
    }

    /// Links `node` after every node whose data `goes_before` it, and
    /// before the rest; for a sort by priority with ties in arrival order,
    /// `goes_before` is "priority is the same or better". The head is
    /// checked first and the list walked from the tail, so joining at either
    /// end is O(1).
    ///
    /// # Safety
    ///
    /// As [`link`](Self::link).
    pub(crate) unsafe fn link_sorted(
        &mut self,
        node: &Node<D>,
        waker: &Waker,
        goes_before: impl Fn(&D) -> bool,
    ) {
        let first = match self.front() {
            None => true,
            Some(head) => !goes_before(head),
        };
        if first {
            // SAFETY: the caller's contract.
            return unsafe { self.link(node, waker, true) };
        }
        // Find the last node that goes before: one exists (the head).
        let mut after = self.tail.expect("non-empty");
        // SAFETY: linked nodes are alive; `data` is never written.
        while !goes_before(unsafe { &(*after.as_ptr()).data }) {
            // SAFETY: as above.
            after = unsafe { Node::links(after) }
                .prev
                .expect("the head goes before");
        }
        let ptr = NonNull::from(node);
        // SAFETY: the caller's contract.
        let links = unsafe { Node::links(ptr) };
        debug_assert!(links.status != Status::Queued, "node linked twice");
        links.status = Status::Queued;
        set_waker(&mut links.waker, waker);
        // SAFETY: `after` is linked, hence alive.
        let after_links = unsafe { Node::links(after) };
        let next = after_links.next.replace(ptr);
        links.prev = Some(after);
        links.next = next;
        match next {
            // SAFETY: as above.
            Some(n) => unsafe { Node::links(n) }.prev = Some(ptr),
            None => self.tail = Some(ptr),
        }
        self.len += 1;
    }

    /// Unlinks the first node, marks it `status`, and returns its waker;
    /// `None` if the list is empty.
    pub(crate) fn pop_front(&mut self, status: Status) -> Option<Waker> {
        self.pop_front_node(status).map(|(_, waker)| waker)
    }

    /// [`pop_front`](Self::pop_front), also giving the node's address: its
    /// owner may free it as soon as it learns (through `status`, or
    /// through its data) that it was taken off, so the caller's accesses
    /// through the address must stop there.
    pub(crate) fn pop_front_node(&mut self, status: Status) -> Option<(NonNull<Node<D>>, Waker)> {
        let ptr = self.head?;
        // SAFETY: linked nodes are alive and guarded by the lock our caller
        // holds (the contract of `link`).
        let links = unsafe { Node::links(ptr) };
        self.head = links.next;
        match self.head {
            // SAFETY: as above.
            Some(h) => unsafe { Node::links(h) }.prev = None,
            None => self.tail = None,
        }
        self.len -= 1;
        links.prev = None;
        links.next = None;
        links.status = status;
        let waker = links.waker.take().expect("a queued node holds a waker");
        Some((ptr, waker))
    }

    /// The data of the first node.
    pub(crate) fn front(&self) -> Option<&D> {
        // SAFETY: linked nodes are alive while linked, and `data` is never
        // written through the list.
        self.head.map(|h| unsafe { &(*h.as_ptr()).data })
    }

    /// Whether `node` is the first in the list.
    pub(crate) fn is_front(&self, node: &Node<D>) -> bool {
        self.head == Some(NonNull::from(node))
    }

    /// Unlinks `node` from anywhere in the list, marks it idle, and hands
    /// back its waker (to drop once the lock is released).
    ///
    /// # Safety
    ///
    /// The caller holds the lock guarding this list, and `node` is linked
    /// in this list.
    pub(crate) unsafe fn remove(&mut self, node: &Node<D>) -> Option<Waker> {
        let ptr = NonNull::from(node);
        // SAFETY: the caller's contract.
        let links = unsafe { Node::links(ptr) };
        debug_assert!(links.status == Status::Queued, "removing an unlinked node");
        let (prev, next) = (links.prev.take(), links.next.take());
        links.status = Status::Idle;
        let waker = links.waker.take();
        match prev {
            // SAFETY: neighbours in the list are alive.
            Some(p) => unsafe { Node::links(p) }.next = next,
            None => self.head = next,
        }
        match next {
            // SAFETY: as above.
            Some(n) => unsafe { Node::links(n) }.prev = prev,
            None => self.tail = prev,
        }
        self.len -= 1;
        waker
    }
}

/// Wakers gathered under a lock and woken after it, at most
/// [`WakeBatch::CAPACITY`] at a time, so waking never allocates. A caller
/// with more to wake unlocks, wakes the batch, and locks again.
pub(crate) struct WakeBatch {
    wakers: heapless::Vec<Waker, { WakeBatch::CAPACITY }>,
}

impl WakeBatch {
    pub(crate) const CAPACITY: usize = 8;

    pub(crate) const fn new() -> Self {
        WakeBatch {
            wakers: heapless::Vec::new(),
        }
    }

    pub(crate) fn is_full(&self) -> bool {
        self.wakers.is_full()
    }

    /// Adds `waker`; the caller checked [`is_full`](Self::is_full).
    pub(crate) fn push(&mut self, waker: Waker) {
        let pushed = self.wakers.push(waker);
        debug_assert!(pushed.is_ok(), "WakeBatch overfilled");
    }

    /// Wakes everything gathered; call with no lock held.
    pub(crate) fn wake(self) {
        for w in self.wakers {
            w.wake();
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::test_util::Probe;
    use alloc::vec::Vec;

    #[test]
    fn fifo_order_front_links_and_removal_from_the_middle() {
        let probe = Probe::new();
        let waker = probe.waker();
        let nodes = [Node::new(), Node::new(), Node::new(), Node::new()];
        let mut list = List::new();
        // SAFETY: single-threaded test; the nodes outlive the list's use.
        unsafe {
            list.link(&nodes[0], &waker, false);
            list.link(&nodes[1], &waker, false);
            list.link(&nodes[2], &waker, false);
            list.link(&nodes[3], &waker, true);
            assert_eq!(list.len(), 4);
            list.remove(&nodes[1]);
            assert_eq!(nodes[1].status(), Status::Idle);
        }
        let order: Vec<usize> = core::iter::from_fn(|| {
            let head = list.head?;
            let i = nodes
                .iter()
                .position(|n| ptr::eq(n, head.as_ptr()))
                .expect("a known node");
            assert!(list.pop_front(Status::Served).is_some());
            Some(i)
        })
        .collect();
        assert_eq!(order, [3, 0, 2]);
        assert!(list.is_empty());
        // SAFETY: as above.
        unsafe {
            assert_eq!(nodes[0].status(), Status::Served);
            nodes[0].reset();
            assert_eq!(nodes[0].status(), Status::Idle);
        }
        assert!(list.pop_front(Status::Served).is_none());
    }

    #[test]
    fn sorted_links_keep_ties_in_arrival_order() {
        let waker = Probe::new().waker();
        let priorities = [5, 1, 5, 3, 1, 9, 0, 9, 5];
        let nodes: Vec<Node<(i32, usize)>> = priorities
            .iter()
            .enumerate()
            .map(|(i, &p)| Node::with_data((p, i)))
            .collect();
        let mut list = List::new();
        for node in &nodes {
            let p = node.data().0;
            // SAFETY: single-threaded test; the nodes outlive the list's use.
            unsafe { list.link_sorted(node, &waker, |d| d.0 <= p) };
        }
        // SAFETY: as above.
        unsafe { list.remove(&nodes[3]) };
        let mut order = Vec::new();
        while let Some(&(p, i)) = list.front() {
            order.push((p, i));
            let (ptr, _) = list.pop_front_node(Status::Served).expect("non-empty");
            assert!(ptr::eq(ptr.as_ptr(), &nodes[i]));
        }
        assert_eq!(
            order,
            [
                (0, 6),
                (1, 1),
                (1, 4),
                (5, 0),
                (5, 2),
                (5, 8),
                (9, 5),
                (9, 7)
            ]
        );
    }

    #[test]
    fn a_wake_batch_wakes_what_it_gathered() {
        let probe = Probe::new();
        let mut batch = WakeBatch::new();
        for _ in 0..WakeBatch::CAPACITY {
            assert!(!batch.is_full());
            batch.push(probe.waker());
        }
        assert!(batch.is_full());
        batch.wake();
        assert_eq!(probe.take_wakes(), WakeBatch::CAPACITY);
    }
}
