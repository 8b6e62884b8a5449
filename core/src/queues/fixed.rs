//! A queue of fixed capacity `N` stored inline, in any of the four orders:
//! no allocation, ever — not for the items, not for the waiters.
//!
//! For targets without a heap (or code that must not touch it): the items
//! live in an array inside the value, so a `FixedQueue` can sit in a
//! `static`, and a task waiting in [`get`](FixedQueue::get) or
//! [`put`](FixedQueue::put) is linked into the queue through a node inside
//! its own (pinned) future.
//!
//! Implementation notes: the waiting discipline is `SmartQueue`'s. Items
//! move only inside the poll of the operation that returns them. Serving a
//! waiter takes it off its line and counts it in `served_gets` (or
//! `served_puts`); a fresh operation uses an item (or free room) only if
//! there are more than the served waiters are owed, so nobody barges ahead
//! of a waiter. A served waiter that is dropped passes its turn on; one that
//! finds nothing (a `push` took it) goes back to the front of its line.
//! Closing takes every waiter that must fail off its line, a few at a time
//! so that the wakers gathered under the lock fit in a fixed-size batch.

use core::fmt;
use core::future::Future;
use core::marker::PhantomPinned;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use super::error::{ClosedError, TryGetError, TryPutError};
use super::order::{Fifo, Lifo, Priority, UserPriority};
use crate::intrusive::{List, Node, Status, WakeBatch};

mod store;
use crate::loom::Mutex;
pub use store::FixedOrder;
use store::FixedStore;

/// A queue holding at most `N` items inline, without allocating, in the
/// order `O`: [`Fifo`] (the default), [`Lifo`], [`Priority`] or
/// [`UserPriority`] ([`FixedLifoQueue`], [`FixedPriorityQueue`],
/// [`FixedUserPriorityQueue`]). The items live in `heapless` collections.
///
/// Share it by reference (or in a `static`); every method takes `&self`
/// and holds an internal lock for a few loads and stores (a spin lock
/// without `std`). Tasks wait in [`get`](Self::get) and [`put`](Self::put);
/// with `std`, threads wait in [`blocking_get`](Self::blocking_get) and
/// [`blocking_put`](Self::blocking_put), in the same lines.
///
/// What [`SmartQueue`](super::SmartQueue) has beyond this: transactions
/// (their undo log would need the heap), derived queues, capacity chosen
/// at run time, unbounded queues.
///
/// # Fairness
///
/// Getters waiting for an item are served in arrival order, and so are
/// putters waiting for room; once an item is promised to a waiting getter,
/// no later [`get`](Self::get) or [`try_get`](Self::try_get) takes it.
/// [`push`](Self::push) never waits and takes free room regardless.
///
/// # Examples
///
/// ```
/// use asyncutils_core::queues::FixedQueue;
///
/// static EVENTS: FixedQueue<u16, 2> = FixedQueue::new();
///
/// EVENTS.try_put(1).unwrap();
/// EVENTS.try_put(2).unwrap();
/// assert!(EVENTS.try_put(3).unwrap_err().is_full());
/// assert_eq!(EVENTS.push(3), Ok(Some(1)), "the oldest makes room");
/// assert_eq!(EVENTS.try_get(), Ok(2));
///
/// futures_lite::future::block_on(async {
///     assert_eq!(EVENTS.get().await, Ok(3));
///     EVENTS.put(4).await.unwrap();
///     EVENTS.close();
///     assert_eq!(EVENTS.get().await, Ok(4), "closing lets gets drain");
///     assert!(EVENTS.get().await.is_err());
/// });
///
/// // The other orders: here, urgent work first.
/// use asyncutils_core::queues::FixedUserPriorityQueue;
/// let work = FixedUserPriorityQueue::<&str, u8, 4>::new();
/// work.try_put("tidy up", 9).unwrap();
/// work.try_put("fire", 0).unwrap();
/// assert_eq!(work.try_get(), Ok("fire"));
/// ```
///
/// A zero capacity is refused when the program is compiled:
///
/// ```compile_fail
/// let q = asyncutils_core::queues::FixedQueue::<u8, 0>::new();
/// ```
pub struct FixedQueue<T, const N: usize, O: FixedOrder<T> = Fifo> {
    inner: Mutex<Ring<T, N, O>>,
}

/// A LIFO [`FixedQueue`]: the newest item comes out first.
pub type FixedLifoQueue<T, const N: usize> = FixedQueue<T, N, Lifo>;

/// A [`FixedQueue`] ordered by the item's `Ord`, smallest first, equal
/// items in arrival order.
pub type FixedPriorityQueue<T, const N: usize> = FixedQueue<T, N, Priority>;

/// A [`FixedQueue`] ordered by a priority given with each put, smallest
/// first, equal priorities in arrival order.
pub type FixedUserPriorityQueue<T, P, const N: usize> = FixedQueue<T, N, UserPriority<P>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    /// Closed for puts; gets drain what is left.
    Closed,
    /// Closed for everything.
    Shutdown,
}

struct Ring<T, const N: usize, O: FixedOrder<T>> {
    items: O::Fixed<N>,
    /// Arrival counter: ties in the priority orders.
    seq: u64,
    phase: Phase,
    gets: List,
    puts: List,
    /// Getters taken off `gets` for an item they have not taken yet.
    served_gets: usize,
    /// Putters taken off `puts` for room they have not used yet.
    served_puts: usize,
}

impl<T, const N: usize, O: FixedOrder<T>> Ring<T, N, O> {
    const fn new() -> Self {
        Ring {
            items: <O::Fixed<N> as FixedStore<T, O::Input>>::EMPTY,
            seq: 0,
            phase: Phase::Open,
            gets: List::new(),
            puts: List::new(),
            served_gets: 0,
            served_puts: 0,
        }
    }

    #[inline]
    fn len(&self) -> usize {
        self.items.len()
    }

    #[inline]
    fn closed_for_gets(&self) -> bool {
        match self.phase {
            Phase::Open => false,
            Phase::Closed => self.len() == 0,
            Phase::Shutdown => true,
        }
    }

    #[inline]
    fn pop(&mut self) -> Option<T> {
        self.items.pop()
    }

    #[inline]
    fn push(&mut self, input: O::Input) {
        debug_assert!(self.len() < N, "caller checked for room");
        let seq = self.seq;
        self.seq = seq.wrapping_add(1);
        self.items.push(input, seq);
    }

    /// Puts `item` in and serves the first waiting getter if the item is
    /// free for it.
    #[inline]
    fn insert(&mut self, input: O::Input) -> Option<Waker> {
        self.push(input);
        self.serve_getter()
    }

    /// Takes the next item. Returns with it the waker of a putter the
    /// freed room was given to, and whether a closed queue just ran dry
    /// (its waiting getters must then be told).
    #[inline]
    fn take(&mut self) -> (T, Option<Waker>, bool) {
        let item = self.pop().expect("caller checked for an item");
        let waker = self.serve_putter();
        (item, waker, self.phase == Phase::Closed && self.len() == 0)
    }

    #[inline]
    fn serve_getter(&mut self) -> Option<Waker> {
        if self.len() <= self.served_gets {
            return None;
        }
        let waker = self.gets.pop_front(Status::Served)?;
        self.served_gets += 1;
        Some(waker)
    }

    #[inline]
    fn serve_putter(&mut self) -> Option<Waker> {
        if N - self.len() <= self.served_puts {
            return None;
        }
        let waker = self.puts.pop_front(Status::Served)?;
        self.served_puts += 1;
        Some(waker)
    }
}

/// Which waiting line.
#[derive(Clone, Copy)]
enum Line {
    Gets,
    Puts,
}

#[inline]
fn wake(waker: Option<Waker>) {
    if let Some(w) = waker {
        w.wake();
    }
}

impl<T, const N: usize, O: FixedOrder<T>> FixedQueue<T, N, O> {
    /// An empty queue. `N` must be at least 1 (checked at compile time).
    #[must_use]
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        const { assert!(N > 0, "a FixedQueue needs a capacity of at least 1") };
        FixedQueue {
            inner: Mutex::new(Ring::new()),
        }
    }

    /// An empty queue (loom's lock cannot be built in a `const fn`).
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        FixedQueue {
            inner: Mutex::new(Ring::new()),
        }
    }

    // === non-waiting operations ===

    /// `try_put` for code generic over the order: `input` is the item, or
    /// `(item, priority)` for [`UserPriority`].
    ///
    /// # Errors
    ///
    /// With the input: [`TryPutError::Full`] (also when the free room is
    /// promised to putters that waited), or [`TryPutError::Closed`] after
    /// [`close`](Self::close) or [`shutdown_into`](Self::shutdown_into).
    pub fn try_put_input(&self, input: O::Input) -> Result<(), TryPutError<O::Input>> {
        let waker = {
            let mut ring = self.inner.lock();
            if ring.phase != Phase::Open {
                return Err(TryPutError::Closed(input));
            }
            if N - ring.len() <= ring.served_puts {
                return Err(TryPutError::Full(input));
            }
            ring.insert(input)
        };
        wake(waker);
        Ok(())
    }

    /// `push` for code generic over the order (see
    /// [`try_put_input`](Self::try_put_input)).
    ///
    /// Raises `asyncutils.queues.<Type>.push` (`addr`, and the item's type
    /// name as `pushed` and `popped`) when it displaces an item; `<Type>`
    /// as for [`SmartQueue`](super::SmartQueue) of the same order.
    ///
    /// # Errors
    ///
    /// [`TryPutError::Closed`] with the input once closed.
    pub fn push_input(&self, input: O::Input) -> Result<Option<T>, TryPutError<O::Input>> {
        let (popped, waker) = {
            let mut ring = self.inner.lock();
            if ring.phase != Phase::Open {
                return Err(TryPutError::Closed(input));
            }
            if ring.len() == N {
                // The count stays the same: nobody new to serve.
                let popped = ring.pop();
                ring.push(input);
                (popped, None)
            } else {
                (None, ring.insert(input))
            }
        };
        wake(waker);
        if popped.is_some() {
            let name = core::any::type_name::<T>();
            crate::emit!(
                O::EVENTS.push,
                addr = crate::audit::Value::addr_of(self),
                pushed = name,
                popped = name
            );
        }
        Ok(popped)
    }

    /// Takes the item next in line, if one is there for the taking.
    ///
    /// # Errors
    ///
    /// [`TryGetError::Empty`] (also when every item is promised to a getter
    /// that waited), or [`TryGetError::Closed`] once a closed queue is
    /// empty, and after [`shutdown_into`](Self::shutdown_into).
    pub fn try_get(&self) -> Result<T, TryGetError> {
        let (item, waker, ran_dry) = {
            let mut ring = self.inner.lock();
            if ring.closed_for_gets() {
                return Err(TryGetError::Closed);
            }
            if ring.len() <= ring.served_gets {
                return Err(TryGetError::Empty);
            }
            ring.take()
        };
        self.after_take(waker, ran_dry);
        Ok(item)
    }

    /// A clone of the item next in line, even one already promised to a
    /// served getter (so `peek` may show an item that
    /// [`try_get`](Self::try_get) would not hand out).
    ///
    /// # Errors
    ///
    /// [`TryGetError::Empty`] if there is none, [`TryGetError::Closed`]
    /// once a closed queue is empty.
    pub fn peek(&self) -> Result<T, TryGetError>
    where
        T: Clone,
    {
        let ring = self.inner.lock();
        if ring.closed_for_gets() {
            return Err(TryGetError::Closed);
        }
        ring.items.peek().cloned().ok_or(TryGetError::Empty)
    }

    /// Moves every item there for the taking, in order, into `out`;
    /// returns how many. Putters waiting for room are served as it frees.
    pub fn drain_into<C: Extend<T>>(&self, out: &mut C) -> usize {
        let mut n = 0;
        // One at a time: `out.extend` is user code and runs unlocked.
        while let Ok(item) = self.try_get() {
            out.extend(core::iter::once(item));
            n += 1;
        }
        n
    }

    /// Drops every item there for the taking; returns how many.
    pub fn clear(&self) -> usize {
        let mut n = 0;
        while let Ok(item) = self.try_get() {
            drop(item);
            n += 1;
        }
        n
    }

    // === closing ===

    /// Closes the queue for puts: pending and later puts fail with their
    /// item given back, `push` too; gets go on taking what is left and fail
    /// with [`ClosedError`] once the queue is empty. Idempotent.
    pub fn close(&self) {
        let dry = {
            let mut ring = self.inner.lock();
            if ring.phase == Phase::Open {
                ring.phase = Phase::Closed;
            }
            ring.closed_for_gets()
        };
        self.release(Line::Puts);
        if dry {
            self.release(Line::Gets);
        }
    }

    /// Closes the queue at once: every pending and later put and get fails
    /// with [`ClosedError`]. The items still in the queue move into `out`,
    /// in order, so nothing is lost silently; returns how many.
    pub fn shutdown_into<C: Extend<T>>(&self, out: &mut C) -> usize {
        self.inner.lock().phase = Phase::Shutdown;
        self.release(Line::Puts);
        self.release(Line::Gets);
        let mut n = 0;
        // Nobody else takes items now; `out.extend` runs unlocked.
        loop {
            let next = self.inner.lock().pop();
            let Some(item) = next else { break };
            out.extend(core::iter::once(item));
            n += 1;
        }
        n
    }

    /// Whether [`close`](Self::close) or
    /// [`shutdown_into`](Self::shutdown_into) was called.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.inner.lock().phase != Phase::Open
    }

    // === inspection ===

    /// The number of items.
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner.lock().len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the queue holds `N` items.
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.len() == N
    }

    /// `N`.
    #[must_use]
    pub const fn capacity(&self) -> usize {
        N
    }

    /// `N - len`.
    #[must_use]
    pub fn remaining_capacity(&self) -> usize {
        N - self.len()
    }

    /// `len / N`, from 0.0 (empty) to 1.0 (full).
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn utilisation(&self) -> f64 {
        self.len() as f64 / N as f64
    }

    /// Tasks and threads waiting in line for an item (not counting those
    /// already served and about to take theirs).
    #[must_use]
    pub fn waiting_getters(&self) -> usize {
        self.inner.lock().gets.len()
    }

    /// Tasks and threads waiting in line for room.
    #[must_use]
    pub fn waiting_putters(&self) -> usize {
        self.inner.lock().puts.len()
    }

    // === waiting operations ===

    /// Takes the item next in line, waiting for one if needed.
    ///
    /// Resolves to [`ClosedError`] after
    /// [`shutdown_into`](Self::shutdown_into), or after
    /// [`close`](Self::close) once the queue is empty.
    pub fn get(&self) -> FixedGet<'_, T, N, O> {
        FixedGet {
            queue: self,
            node: Node::new(),
            linked: false,
            done: false,
            _pinned: PhantomPinned,
        }
    }

    /// `put` for code generic over the order (see
    /// [`try_put_input`](Self::try_put_input)).
    ///
    /// Resolves to [`ClosedError`] with the input if the queue is closed
    /// first.
    pub fn put_input(&self, input: O::Input) -> FixedPut<'_, T, N, O> {
        FixedPut {
            queue: self,
            item: Some(input),
            node: Node::new(),
            linked: false,
            _pinned: PhantomPinned,
        }
    }

    fn poll_get(
        &self,
        node: &Node,
        linked: &mut bool,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, ClosedError>> {
        let mut guard = self.inner.lock();
        let ring = &mut *guard;
        // The `unsafe` calls below touch `node` under the lock it is guarded
        // by; it sits in a pinned future whose `Drop` settles it under that
        // lock before it goes away.
        let status = if *linked {
            // SAFETY: the lock is held; the node settles under it (`poll_get`).
            unsafe { node.status() }
        } else {
            Status::Idle
        };
        let fresh = match status {
            Status::Queued => {
                // SAFETY: the lock is held; the node settles under it (`poll_get`).
                unsafe { node.set_waker(cx.waker()) };
                return Poll::Pending;
            }
            Status::Closed => {
                // SAFETY: the lock is held; the node settles under it (`poll_get`).
                unsafe { node.reset() };
                *linked = false;
                return Poll::Ready(Err(ClosedError(())));
            }
            Status::Served => {
                // SAFETY: the lock is held; the node settles under it (`poll_get`).
                unsafe { node.reset() };
                *linked = false;
                ring.served_gets -= 1;
                false
            }
            Status::Idle => true,
        };
        if ring.closed_for_gets() {
            return Poll::Ready(Err(ClosedError(())));
        }
        // A fresh get leaves the items promised to served getters alone;
        // a served one may take any.
        let free = if fresh {
            ring.len() > ring.served_gets
        } else {
            ring.len() > 0
        };
        if free {
            let (item, waker, ran_dry) = ring.take();
            drop(guard);
            self.after_take(waker, ran_dry);
            return Poll::Ready(Ok(item));
        }
        // Wait. A served getter that found nothing would keep its place at
        // the front (`served_gets` never exceeds the items, so it does not
        // happen; the putters' side below needs it).
        // SAFETY: the lock is held; `node` is in no list, pinned, and its
        // future's `Drop` unlinks it under this lock.
        unsafe { ring.gets.link(node, cx.waker(), !fresh) };
        *linked = true;
        Poll::Pending
    }

    fn cancel_get(&self, node: &Node) {
        let waker = {
            let mut ring = self.inner.lock();
            // SAFETY: the lock is held; the node settles under it (`poll_get`).
            match unsafe { node.status() } {
                Status::Queued => {
                    // SAFETY: the lock is held; the node settles under it (`poll_get`).
                    unsafe { ring.gets.remove(node) };
                    None
                }
                Status::Served => {
                    // SAFETY: the lock is held; the node settles under it (`poll_get`).
                    unsafe { node.reset() };
                    ring.served_gets -= 1;
                    // Pass the turn on.
                    ring.serve_getter()
                }
                Status::Closed => {
                    // SAFETY: the lock is held; the node settles under it (`poll_get`).
                    unsafe { node.reset() };
                    None
                }
                Status::Idle => None,
            }
        };
        wake(waker);
    }

    fn poll_put(
        &self,
        node: &Node,
        linked: &mut bool,
        item: &mut Option<O::Input>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), ClosedError<O::Input>>> {
        let mut guard = self.inner.lock();
        let ring = &mut *guard;
        let status = if *linked {
            // SAFETY: the lock is held; the node settles under it (`poll_get`).
            unsafe { node.status() }
        } else {
            Status::Idle
        };
        let fresh = match status {
            Status::Queued => {
                // SAFETY: the lock is held; the node settles under it (`poll_get`).
                unsafe { node.set_waker(cx.waker()) };
                return Poll::Pending;
            }
            Status::Closed => {
                // SAFETY: the lock is held; the node settles under it (`poll_get`).
                unsafe { node.reset() };
                *linked = false;
                true
            }
            Status::Served => {
                // SAFETY: the lock is held; the node settles under it (`poll_get`).
                unsafe { node.reset() };
                *linked = false;
                ring.served_puts -= 1;
                false
            }
            Status::Idle => true,
        };
        if ring.phase != Phase::Open {
            let item = item.take().expect("`FixedPut` polled after completion");
            return Poll::Ready(Err(ClosedError(item)));
        }
        let room = N - ring.len();
        let free = if fresh {
            room > ring.served_puts
        } else {
            room > 0
        };
        if free {
            let item = item.take().expect("`FixedPut` polled after completion");
            let waker = ring.insert(item);
            drop(guard);
            wake(waker);
            return Poll::Ready(Ok(()));
        }
        assert!(item.is_some(), "`FixedPut` polled after completion");
        // Wait; a served putter whose room `push` took goes back to the front.
        // SAFETY: as in `poll_get`.
        unsafe { ring.puts.link(node, cx.waker(), !fresh) };
        *linked = true;
        Poll::Pending
    }

    fn cancel_put(&self, node: &Node) {
        let waker = {
            let mut ring = self.inner.lock();
            // SAFETY: the lock is held; the node settles under it (`poll_get`).
            match unsafe { node.status() } {
                Status::Queued => {
                    // SAFETY: the lock is held; the node settles under it (`poll_get`).
                    unsafe { ring.puts.remove(node) };
                    None
                }
                Status::Served => {
                    // SAFETY: the lock is held; the node settles under it (`poll_get`).
                    unsafe { node.reset() };
                    ring.served_puts -= 1;
                    ring.serve_putter()
                }
                Status::Closed => {
                    // SAFETY: the lock is held; the node settles under it (`poll_get`).
                    unsafe { node.reset() };
                    None
                }
                Status::Idle => None,
            }
        };
        wake(waker);
    }

    #[inline]
    fn after_take(&self, waker: Option<Waker>, ran_dry: bool) {
        wake(waker);
        if ran_dry {
            self.release(Line::Gets);
        }
    }

    /// Takes every waiter off `line`, marked closed, and wakes them — a
    /// batch at a time, unlocked in between.
    #[cold]
    fn release(&self, line: Line) {
        loop {
            let mut batch = WakeBatch::new();
            let more = {
                let mut ring = self.inner.lock();
                let list = match line {
                    Line::Gets => &mut ring.gets,
                    Line::Puts => &mut ring.puts,
                };
                loop {
                    if batch.is_full() {
                        break !list.is_empty();
                    }
                    match list.pop_front(Status::Closed) {
                        Some(w) => batch.push(w),
                        None => break false,
                    }
                }
            };
            batch.wake();
            if !more {
                return;
            }
        }
    }
}

#[cfg(not(loom))]
impl<T, const N: usize, O: FixedOrder<T>> Default for FixedQueue<T, N, O> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, const N: usize, O: FixedOrder<T>> fmt::Debug for FixedQueue<T, N, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ring = self.inner.lock();
        f.debug_struct("FixedQueue")
            .field("len", &ring.len())
            .field("capacity", &N)
            .field("closed", &(ring.phase != Phase::Open))
            .field("waiting_getters", &ring.gets.len())
            .field("waiting_putters", &ring.puts.len())
            .finish()
    }
}

// === puts by order: the item alone, or with its priority ===

macro_rules! item_puts {
    ($order:ty, $($bound:tt)*) => {
        impl<T $($bound)*, const N: usize> FixedQueue<T, N, $order> {
            /// Puts `item` in if there is room.
            ///
            /// # Errors
            ///
            /// With the item: [`TryPutError::Full`] (also when the free
            /// room is promised to putters that waited), or
            /// [`TryPutError::Closed`] once closed.
            pub fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
                self.try_put_input(item)
            }

            /// Puts `item` in; if the queue is full, first removes the item
            /// next in line and returns it. Never waits.
            ///
            /// Raises `asyncutils.queues.<Type>.push` (`addr`, and the
            /// item's type name as `pushed` and `popped`) when it displaces
            /// an item.
            ///
            /// # Errors
            ///
            /// [`TryPutError::Closed`] with the item once closed.
            pub fn push(&self, item: T) -> Result<Option<T>, TryPutError<T>> {
                self.push_input(item)
            }

            /// Puts `item` in, waiting for room if needed.
            ///
            /// Resolves to [`ClosedError`] with the item if the queue is
            /// closed first.
            pub fn put(&self, item: T) -> FixedPut<'_, T, N, $order> {
                self.put_input(item)
            }

            /// [`put`](Self::put), blocking the thread until there is room.
            ///
            /// Must not be called from inside an async task.
            ///
            /// # Errors
            ///
            /// [`ClosedError`] with the item if the queue is closed first.
            #[cfg(feature = "std")]
            pub fn blocking_put(&self, item: T) -> Result<(), ClosedError<T>> {
                closed_only(self.blocking_put_input(item, None))
            }

            /// [`blocking_put`](Self::blocking_put) giving up after
            /// `timeout`.
            ///
            /// # Errors
            ///
            /// With the item (which was not inserted):
            /// [`PutTimeoutError::Timeout`](super::PutTimeoutError::Timeout)
            /// if no room opened in time,
            /// [`PutTimeoutError::Closed`](super::PutTimeoutError::Closed).
            #[cfg(feature = "std")]
            pub fn blocking_put_timeout(
                &self,
                item: T,
                timeout: core::time::Duration,
            ) -> Result<(), super::PutTimeoutError<T>> {
                self.blocking_put_input(item, Some(timeout))
            }
        }
    };
}

item_puts!(Fifo,);
item_puts!(Lifo,);
item_puts!(Priority, : Ord);

impl<T, P: Ord + 'static, const N: usize> FixedQueue<T, N, UserPriority<P>> {
    /// Puts `item` in with `priority` if there is room.
    ///
    /// # Errors
    ///
    /// With `(item, priority)`: as [`FixedQueue::try_put`].
    pub fn try_put(&self, item: T, priority: P) -> Result<(), TryPutError<(T, P)>> {
        self.try_put_input((item, priority))
    }

    /// Puts `item` in with `priority`; if the queue is full, first removes
    /// the item next in line (the smallest priority) and returns it.
    ///
    /// # Errors
    ///
    /// [`TryPutError::Closed`] with `(item, priority)` once closed.
    pub fn push(&self, item: T, priority: P) -> Result<Option<T>, TryPutError<(T, P)>> {
        self.push_input((item, priority))
    }

    /// Puts `item` in with `priority`, waiting for room if needed.
    pub fn put(&self, item: T, priority: P) -> FixedPut<'_, T, N, UserPriority<P>> {
        self.put_input((item, priority))
    }

    /// [`put`](Self::put), blocking the thread until there is room.
    ///
    /// # Errors
    ///
    /// [`ClosedError`] with `(item, priority)` if the queue is closed first.
    #[cfg(feature = "std")]
    pub fn blocking_put(&self, item: T, priority: P) -> Result<(), ClosedError<(T, P)>> {
        closed_only(self.blocking_put_input((item, priority), None))
    }

    /// [`blocking_put`](Self::blocking_put) giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// As [`FixedQueue::blocking_put_timeout`], with `(item, priority)`.
    #[cfg(feature = "std")]
    pub fn blocking_put_timeout(
        &self,
        item: T,
        priority: P,
        timeout: core::time::Duration,
    ) -> Result<(), super::PutTimeoutError<(T, P)>> {
        self.blocking_put_input((item, priority), Some(timeout))
    }
}

#[cfg(feature = "std")]
fn closed_only<I>(result: Result<(), super::PutTimeoutError<I>>) -> Result<(), ClosedError<I>> {
    result.map_err(|e| match e {
        super::PutTimeoutError::Closed(v) => ClosedError(v),
        super::PutTimeoutError::Timeout(_) => unreachable!("no deadline was set"),
    })
}

// === the futures ===

/// Future returned by [`FixedQueue::get`].
///
/// # Cancellation
///
/// Dropping it never consumes an item: items move only inside the poll
/// that returns them. If it had been served an item, the next waiting
/// getter is served in its place.
///
/// # Pinning
///
/// The future is `!Unpin`: while it waits, the queue links to a node inside
/// it, which is how waiting needs no allocation. `.await` pins it for you;
/// to poll it by hand or in a `select!`, pin it first (`core::pin::pin!`).
///
/// # Panics
///
/// If polled again after it completed.
#[must_use = "futures do nothing unless polled"]
pub struct FixedGet<'a, T, const N: usize, O: FixedOrder<T> = Fifo> {
    queue: &'a FixedQueue<T, N, O>,
    node: Node,
    /// Whether the queue may know `node` (linked, or taken off since):
    /// only then do poll and drop read its status.
    linked: bool,
    done: bool,
    _pinned: PhantomPinned,
}

impl<T, const N: usize, O: FixedOrder<T>> Future for FixedGet<'_, T, N, O> {
    type Output = Result<T, ClosedError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: nothing is moved out of the pinned future; the queue may
        // hold the address of `node`, which stays where it is.
        let this = unsafe { self.get_unchecked_mut() };
        assert!(!this.done, "`FixedGet` polled after completion");
        let poll = this.queue.poll_get(&this.node, &mut this.linked, cx);
        this.done = poll.is_ready();
        poll
    }
}

impl<T, const N: usize, O: FixedOrder<T>> Drop for FixedGet<'_, T, N, O> {
    fn drop(&mut self) {
        if self.linked {
            self.queue.cancel_get(&self.node);
        }
    }
}

impl<T, const N: usize, O: FixedOrder<T>> fmt::Debug for FixedGet<'_, T, N, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedGet")
            .field("waiting", &self.linked)
            .finish_non_exhaustive()
    }
}

/// Future returned by [`FixedQueue::put`].
///
/// # Cancellation
///
/// Dropping it before it completes never inserts the item (it is dropped
/// with the future). If it had been served room, the next waiting putter
/// is served in its place.
///
/// # Pinning
///
/// `!Unpin`, as [`FixedGet`].
///
/// # Panics
///
/// If polled again after it completed.
#[must_use = "futures do nothing unless polled"]
pub struct FixedPut<'a, T, const N: usize, O: FixedOrder<T> = Fifo> {
    queue: &'a FixedQueue<T, N, O>,
    item: Option<O::Input>,
    node: Node,
    /// As in [`FixedGet`].
    linked: bool,
    _pinned: PhantomPinned,
}

impl<T, const N: usize, O: FixedOrder<T>> FixedPut<'_, T, N, O> {
    /// Withdraws a pending put, giving its item back (`None` once it
    /// completed).
    #[cfg(feature = "std")]
    fn withdraw(self: Pin<&mut Self>) -> Option<O::Input> {
        // SAFETY: as in `poll`; only the item moves, which is not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        if this.linked {
            this.queue.cancel_put(&this.node);
            this.linked = false;
        }
        this.item.take()
    }
}

impl<T, const N: usize, O: FixedOrder<T>> Future for FixedPut<'_, T, N, O> {
    type Output = Result<(), ClosedError<O::Input>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: nothing pinned is moved out (only the item, which the
        // queue does not point at); `node` stays where it is.
        let this = unsafe { self.get_unchecked_mut() };
        this.queue
            .poll_put(&this.node, &mut this.linked, &mut this.item, cx)
    }
}

impl<T, const N: usize, O: FixedOrder<T>> Drop for FixedPut<'_, T, N, O> {
    fn drop(&mut self) {
        if self.linked {
            self.queue.cancel_put(&self.node);
        }
    }
}

impl<T, const N: usize, O: FixedOrder<T>> fmt::Debug for FixedPut<'_, T, N, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedPut")
            .field("waiting", &self.linked)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, feature = "std"))]
mod loom_models;
#[cfg(all(test, feature = "std", not(loom)))]
mod tests;

// === blocking access ===

#[cfg(feature = "std")]
mod blocking {
    use core::pin::pin;
    use core::time::Duration;

    use super::{FixedOrder, FixedQueue};
    use crate::queues::blocking::{block_until, deadline_after};
    use crate::queues::error::{ClosedError, GetTimeoutError, PutTimeoutError};

    impl<T, const N: usize, O: FixedOrder<T>> FixedQueue<T, N, O> {
        /// [`get`](Self::get), blocking the thread until an item comes.
        /// Blocking and async getters wait in one line.
        ///
        /// Must not be called from inside an async task (it would block
        /// the executor's thread).
        ///
        /// # Errors
        ///
        /// [`ClosedError`] as for [`get`](Self::get).
        pub fn blocking_get(&self) -> Result<T, ClosedError> {
            block_until(pin!(self.get()), None).expect("no deadline")
        }

        /// [`blocking_get`](Self::blocking_get) giving up after `timeout`.
        ///
        /// # Errors
        ///
        /// [`GetTimeoutError::Timeout`] if no item came in time (nothing
        /// was taken), [`GetTimeoutError::Closed`] as for
        /// [`get`](Self::get).
        pub fn blocking_get_timeout(&self, timeout: Duration) -> Result<T, GetTimeoutError> {
            match block_until(pin!(self.get()), deadline_after(timeout)) {
                Some(Ok(item)) => Ok(item),
                Some(Err(ClosedError(()))) => Err(GetTimeoutError::Closed),
                None => Err(GetTimeoutError::Timeout),
            }
        }

        /// `blocking_put` and `blocking_put_timeout` (`timeout` `None`: no
        /// deadline) for code generic over the order.
        ///
        /// # Errors
        ///
        /// With the input (which was not inserted):
        /// [`PutTimeoutError::Timeout`] if no room opened in time,
        /// [`PutTimeoutError::Closed`].
        pub fn blocking_put_input(
            &self,
            input: O::Input,
            timeout: Option<Duration>,
        ) -> Result<(), PutTimeoutError<O::Input>> {
            let mut put = pin!(self.put_input(input));
            match block_until(put.as_mut(), timeout.and_then(deadline_after)) {
                Some(Ok(())) => Ok(()),
                Some(Err(ClosedError(input))) => Err(PutTimeoutError::Closed(input)),
                None => Err(PutTimeoutError::Timeout(
                    put.withdraw().expect("a pending put holds its input"),
                )),
            }
        }
    }
}
