//! `SmartQueue`: the one generic queue behind every order.
//!
//! Implementation notes: one lock guards the store, the waiter slab and the
//! counters. Putters waiting for room and getters waiting for an item form
//! two FIFO queues in one slab (see `waitlist`).
//!
//! An item that arrives while getters wait is *handed over*: it leaves the
//! store for the first waiting getter's slot, and that getter moves to the
//! `served` queue (counted in `notified_gets`) until it runs and returns the
//! item. So the store has room again at once, and a producer and a consumer
//! trading items need one wake-up per item or less, not one each way.
//! `reclaim` takes every handed item back, so the store and the line are as
//! if nothing had been handed over: a transaction and `shutdown` start with
//! it, and a served getter that is dropped triggers it and the getters left
//! are served again (so items given back keep their order).
//!
//! Putters are *notified* instead: a putter woken for free room is taken
//! off its queue and counted in `notified_puts`, and inserts at its next
//! poll (its item stays in its future until then, so a dropped put never
//! inserts it). A fresh put (or `try_put`) takes room only beyond what the
//! notified putters are promised. A notified putter that is dropped passes
//! its turn on; one that finds no room (a `push` or a returned item took
//! it) goes back to the front of its queue.
//!
//! Invariants outside transactions: `gets` non-empty implies an empty
//! store, and `puts` non-empty implies `room <= notified_puts`.

use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use super::error::{ClosedError, TryGetError, TryPutError};
use super::order::{Entry, Fifo, Lifo, Order, Priority, Store, UserPriority};
use crate::audit::Value;
use crate::error::InvalidArgument;
use crate::loom::Mutex;
use crate::waitlist::{Queue, Slots, set_waker};

/// How many slots a bounded queue reserves up front at most; beyond that
/// the store grows on demand (and then keeps its size).
const PREALLOCATE: usize = 1024;

/// An async queue usable from tasks and (with `std`) plain threads at once,
/// in the order `O`: [`Fifo`] (the default), [`Lifo`], [`Priority`] or
/// [`UserPriority`]. See the [module docs](super) for the whole family.
///
/// Share it by reference or in an `Arc`; every method takes `&self`.
///
/// # Fairness
///
/// Getters waiting for an item are served in arrival order, and so are
/// putters waiting for room; async and blocking callers wait in the same
/// queues. An item that arrives while getters wait is handed to the first
/// of them at once: it leaves the queue (so [`len`](Self::len) no longer
/// counts it and its room is free for the next put), and nobody arriving
/// later can take it. When room frees up for waiting putters, the first
/// ones in line are woken and no new [`put`](Self::put) or
/// [`try_put`](Self::try_put) takes that room first. [`push`](Self::push)
/// is the exception: it never waits, so it takes free room even if a
/// woken putter was about to.
///
/// # Cancellation
///
/// A dropped [`Put`] never inserts its item (it is dropped with the
/// future). A dropped [`Get`] consumes nothing: if an item had already been
/// handed to it, the item goes back to the queue in its place in line (to
/// the next waiting getter, if any), even if the queue has filled up
/// meanwhile — so `len` can exceed the capacity until gets catch up; puts
/// wait while it does. A woken putter that is dropped passes its turn to
/// the next in line. Opening a [`transaction`](Self::transaction) or
/// calling [`shutdown`](Self::shutdown) first takes back every item handed
/// to a getter that has not run yet (that getter waits again, or fails
/// after a shutdown), so both see those items in the queue.
///
/// `SmartQueue<T, O>` is `Send` and `Sync` when `T` (and the priority
/// type) is `Send`, and not otherwise:
///
/// ```compile_fail
/// fn shareable<T: Sync>(_: &T) {}
/// let q = asyncutils_core::queues::SmartQueue::<std::rc::Rc<u8>>::unbounded();
/// shareable(&q);
/// ```
///
/// # Audit events
///
/// `asyncutils.queues.<Type>.push` (only when `push` displaces an item) and
/// `.transaction/start`, `.transaction/end`, where `<Type>` is
/// `SmartQueue`, `SmartLifoQueue`, `SmartPriorityQueue` or
/// `UserPriorityQueue` by order. `addr` is the queue's address; `pushed`
/// and `popped` carry the item's type name (`core::any::type_name`), never
/// the item itself.
pub struct SmartQueue<T, O: Order<T> = Fifo> {
    inner: Mutex<Inner<T, O>>,
    /// `usize::MAX` when unbounded.
    capacity: usize,
}

/// A LIFO [`SmartQueue`]: the newest item comes out first.
pub type SmartLifoQueue<T> = SmartQueue<T, Lifo>;

/// A [`SmartQueue`] ordered by the item's `Ord`, smallest first, equal
/// items in arrival order.
pub type SmartPriorityQueue<T> = SmartQueue<T, Priority>;

/// A [`SmartQueue`] ordered by a priority given with each put, smallest
/// first, equal priorities in arrival order.
pub type UserPriorityQueue<T, P> = SmartQueue<T, UserPriority<P>>;

pub(crate) struct Inner<T, O: Order<T>> {
    pub(crate) store: O::Store,
    /// Arrival counter: ties in priority orders, transaction undo.
    pub(crate) seq: u64,
    slots: Slots<Waiter<Entry<T, O>>>,
    gets: Queue,
    /// Getters that were handed an item and have not run yet, in the order
    /// they were served.
    served: Queue,
    puts: Queue,
    txns: Queue,
    notified_gets: usize,
    notified_puts: usize,
    notified_txns: usize,
    pub(crate) state: State,
    /// A transaction is open: nobody else changes the store.
    pub(crate) txn: bool,
    /// The length when the open transaction began (what others see).
    pub(crate) txn_base_len: usize,
    /// Filter drivers waiting for any new item (see `derived`).
    pub(crate) watchers: Vec<Waker>,
}

struct Waiter<E> {
    waker: Option<Waker>,
    notified: bool,
    /// The item handed to a served getter.
    item: Option<E>,
}

impl<E> Waiter<E> {
    fn new(waker: &Waker) -> Self {
        Waiter {
            waker: Some(waker.clone()),
            notified: false,
            item: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Open,
    /// Closed for puts; gets drain what is left.
    Closed,
    /// Closed for everything.
    Shutdown,
}

/// Wakers gathered under the lock and woken after it.
pub(crate) type Wakers = Vec<Waker>;

/// Whom an insert woke, to wake after the lock.
pub(crate) struct Inserted {
    getter: Option<Waker>,
    putter: Option<Waker>,
    watchers: Wakers,
}

impl Inserted {
    /// Nobody to wake.
    const NOBODY: Inserted = Inserted {
        getter: None,
        putter: None,
        watchers: Wakers::new(),
    };

    #[inline]
    pub(crate) fn wake(self) {
        if let Some(w) = self.getter {
            w.wake();
        }
        if let Some(w) = self.putter {
            w.wake();
        }
        wake_all(self.watchers);
    }
}

/// Wakes `wakers`; the empty list of the hot paths costs one branch.
#[inline(always)]
pub(crate) fn wake_all(wakers: Wakers) {
    if !wakers.is_empty() {
        wake_each(wakers);
    }
}

#[inline(never)]
fn wake_each(wakers: Wakers) {
    for w in wakers {
        w.wake();
    }
}

// === impl SmartQueue: construction and inspection ===

impl<T, O: Order<T>> SmartQueue<T, O> {
    /// A queue holding at most `capacity` items; puts wait for room.
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] naming `capacity` if it is zero (for a handoff
    /// without buffer, see [`Rendezvous`](crate::channels::Rendezvous)).
    pub fn bounded(capacity: usize) -> Result<Self, InvalidArgument> {
        if capacity == 0 || capacity == usize::MAX {
            return Err(InvalidArgument::new(
                "capacity",
                "at least 1 and less than usize::MAX (use `unbounded` for no limit)",
            ));
        }
        Ok(Self::with_limit(capacity, capacity.min(PREALLOCATE)))
    }

    /// A queue without capacity limit: puts never wait.
    #[must_use]
    pub fn unbounded() -> Self {
        Self::with_limit(usize::MAX, 0)
    }

    fn with_limit(capacity: usize, reserve: usize) -> Self {
        SmartQueue {
            inner: Mutex::new(Inner {
                store: O::Store::with_capacity(reserve),
                seq: 0,
                slots: Slots::new(),
                gets: Queue::new(),
                served: Queue::new(),
                puts: Queue::new(),
                txns: Queue::new(),
                notified_gets: 0,
                notified_puts: 0,
                notified_txns: 0,
                state: State::Open,
                txn: false,
                txn_base_len: 0,
                watchers: Vec::new(),
            }),
            capacity,
        }
    }

    pub(crate) fn lock(&self) -> impl core::ops::DerefMut<Target = Inner<T, O>> + '_ {
        self.inner.lock()
    }

    pub(crate) fn addr(&self) -> Value<'static> {
        Value::addr_of(self)
    }

    /// The number of items in the queue. While a [`Transaction`](super::Transaction)
    /// is open, the number from before it began.
    #[must_use]
    pub fn len(&self) -> usize {
        let inner = self.inner.lock();
        if inner.txn {
            inner.txn_base_len
        } else {
            inner.store.len()
        }
    }

    /// Whether [`len`](Self::len) is zero.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether [`len`](Self::len) has reached the capacity (never for an
    /// unbounded queue).
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.len() >= self.capacity
    }

    /// The capacity, or `None` if unbounded.
    #[must_use]
    pub fn capacity(&self) -> Option<usize> {
        (self.capacity != usize::MAX).then_some(self.capacity)
    }

    /// Free room (`capacity - len`), or `None` if unbounded.
    #[must_use]
    pub fn remaining_capacity(&self) -> Option<usize> {
        self.capacity().map(|c| c.saturating_sub(self.len()))
    }

    /// `len / capacity`, or `None` if unbounded: between 0.0 and 1.0, above
    /// 1.0 only while items given back by dropped gets overfill the queue
    /// (see *Cancellation* on [`SmartQueue`]).
    #[must_use]
    pub fn utilisation(&self) -> Option<f64> {
        self.capacity().map(|c| self.len() as f64 / c as f64)
    }

    /// Whether [`close`](Self::close) or [`shutdown`](Self::shutdown) was
    /// called.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.inner.lock().state != State::Open
    }

    /// How many getters wait (including ones handed an item that have not
    /// run yet).
    #[must_use]
    pub fn waiting_getters(&self) -> usize {
        let inner = self.inner.lock();
        inner.gets.len() + inner.notified_gets
    }

    /// How many putters wait for room (including woken ones that have not
    /// run yet).
    #[must_use]
    pub fn waiting_putters(&self) -> usize {
        let inner = self.inner.lock();
        inner.puts.len() + inner.notified_puts
    }

    /// A clone of the item next in line, without taking it.
    ///
    /// # Errors
    ///
    /// [`TryGetError::Empty`] if there is none, [`TryGetError::Closed`]
    /// after [`shutdown`](Self::shutdown) or once a closed queue is empty,
    /// [`TryGetError::InTransaction`] while a transaction is open (its
    /// partial changes are never shown).
    pub fn peek(&self) -> Result<T, TryGetError>
    where
        T: Clone,
    {
        let inner = self.inner.lock();
        if inner.state == State::Shutdown {
            return Err(TryGetError::Closed);
        }
        if inner.txn {
            return Err(TryGetError::InTransaction);
        }
        match inner.store.peek() {
            Some(item) => Ok(item.clone()),
            None if inner.state == State::Closed => Err(TryGetError::Closed),
            None => Err(TryGetError::Empty),
        }
    }

    // === closing ===

    /// Closes the queue for puts: pending and later puts fail with their
    /// item given back, [`push`](Self::push) too; gets go on taking what is
    /// left and fail with [`ClosedError`] once the queue is empty. Every
    /// waiter is woken. Idempotent; does not undo a [`shutdown`](Self::shutdown).
    pub fn close(&self) {
        let wakers = {
            let mut inner = self.inner.lock();
            if inner.state == State::Open {
                inner.state = State::Closed;
            }
            inner.wake_everyone()
        };
        wake_all(wakers);
    }

    /// Closes the queue at once: every pending and later put and get fails
    /// with [`ClosedError`], and the items still in the queue are returned
    /// (next in line first), so nothing is lost silently.
    ///
    /// If a transaction is open, the items are left to it and nothing is
    /// returned: once it commits or rolls back, a further `shutdown` call
    /// collects what is left.
    pub fn shutdown(&self) -> Vec<T> {
        let (items, wakers) = {
            let mut inner = self.inner.lock();
            inner.state = State::Shutdown;
            let mut items = Vec::new();
            if !inner.txn {
                inner.reclaim();
                items.reserve_exact(inner.store.len());
                while let Some(e) = inner.store.pop() {
                    items.push(O::Store::into_item(e));
                }
            }
            (items, inner.wake_everyone())
        };
        wake_all(wakers);
        items
    }

    // === taking ===

    /// Takes the item next in line, waiting for one if needed.
    ///
    /// Resolves to [`ClosedError`] after [`shutdown`](Self::shutdown), or
    /// after [`close`](Self::close) once the queue is empty.
    pub fn get(&self) -> Get<'_, T, O> {
        Get {
            queue: self,
            key: None,
        }
    }

    /// Takes the item next in line if one is there for the taking.
    ///
    /// # Errors
    ///
    /// [`TryGetError::Empty`] if the queue is empty (items that came while
    /// getters waited went straight to them); [`TryGetError::Closed`] after
    /// [`shutdown`](Self::shutdown), or after [`close`](Self::close) once
    /// empty; [`TryGetError::InTransaction`] while a transaction is open.
    #[inline]
    pub fn try_get(&self) -> Result<T, TryGetError> {
        let (item, waker, done) = {
            let mut inner = self.inner.lock();
            if inner.state == State::Shutdown {
                return Err(TryGetError::Closed);
            }
            if inner.txn {
                return Err(TryGetError::InTransaction);
            }
            if inner.state == State::Closed && inner.store.len() == 0 {
                return Err(TryGetError::Closed);
            }
            if inner.store.len() == 0 {
                return Err(TryGetError::Empty);
            }
            inner.take(self.capacity)
        };
        if let Some(w) = waker {
            w.wake();
        }
        wake_all(done);
        Ok(item)
    }

    /// Takes every item (next in line first) into `out`; returns how many.
    /// Frees room for waiting putters.
    ///
    /// # Errors
    ///
    /// [`TryGetError::InTransaction`] while a transaction is open (nothing
    /// is taken). A closed queue can be drained.
    pub fn drain_into<C: Extend<T>>(&self, out: &mut C) -> Result<usize, TryGetError> {
        let (items, wakers) = {
            let mut inner = self.inner.lock();
            if inner.txn {
                return Err(TryGetError::InTransaction);
            }
            let mut items = Vec::with_capacity(inner.store.len());
            while let Some(e) = inner.store.pop() {
                items.push(O::Store::into_item(e));
            }
            let mut wakers = Wakers::new();
            inner.rebalance(self.capacity, &mut wakers);
            (items, wakers)
        };
        wake_all(wakers);
        let n = items.len();
        out.extend(items);
        Ok(n)
    }

    /// Takes every item, next in line first.
    ///
    /// # Errors
    ///
    /// As [`drain_into`](Self::drain_into).
    pub fn drain(&self) -> Result<Vec<T>, TryGetError> {
        let mut out = Vec::new();
        self.drain_into(&mut out)?;
        Ok(out)
    }

    /// Drops every item (outside the lock); returns how many.
    ///
    /// # Errors
    ///
    /// As [`drain_into`](Self::drain_into).
    pub fn clear(&self) -> Result<usize, TryGetError> {
        self.drain().map(|items| items.len())
    }

    // === putting, for every order (the public wrappers pick the input) ===

    /// [`put`](SmartQueue::put) for code generic over the order: `input`
    /// is the item, or `(item, priority)` for [`UserPriority`].
    pub fn put_input(&self, input: O::Input) -> Put<'_, T, O> {
        Put {
            queue: self,
            input: Some(input),
            key: None,
        }
    }

    /// [`try_put`](SmartQueue::try_put) for code generic over the order.
    ///
    /// # Errors
    ///
    /// As `try_put`.
    #[inline]
    pub fn try_put_input(&self, input: O::Input) -> Result<(), TryPutError<O::Input>> {
        let waker = {
            let mut inner = self.inner.lock();
            if inner.state != State::Open {
                return Err(TryPutError::Closed(input));
            }
            if inner.txn {
                return Err(TryPutError::InTransaction(input));
            }
            if self.room(&inner) <= inner.notified_puts {
                return Err(TryPutError::Full(input));
            }
            inner.insert(input, self.capacity)
        };
        waker.wake();
        Ok(())
    }

    /// [`push`](SmartQueue::push) for code generic over the order.
    ///
    /// # Errors
    ///
    /// As `push`.
    #[inline]
    pub fn push_input(&self, input: O::Input) -> Result<Option<T>, TryPutError<O::Input>> {
        let (popped, waker) = {
            let mut inner = self.inner.lock();
            if inner.state != State::Open {
                return Err(TryPutError::Closed(input));
            }
            if inner.txn {
                return Err(TryPutError::InTransaction(input));
            }
            let popped = if inner.store.len() >= self.capacity {
                inner.store.pop().map(O::Store::into_item)
            } else {
                None
            };
            (popped, inner.insert(input, self.capacity))
        };
        waker.wake();
        if popped.is_some() {
            let name = core::any::type_name::<T>();
            crate::emit!(
                O::EVENTS.push,
                addr = self.addr(),
                pushed = name,
                popped = name
            );
        }
        Ok(popped)
    }

    /// [`try_extend`](SmartQueue::try_extend) for code generic over the
    /// order.
    ///
    /// # Errors
    ///
    /// As `try_extend`.
    pub fn try_extend_input<I>(&self, items: I) -> Result<(), TryPutError<O::Input>>
    where
        I: IntoIterator<Item = O::Input>,
    {
        for item in items {
            self.try_put_input(item)?;
        }
        Ok(())
    }

    fn room(&self, inner: &Inner<T, O>) -> usize {
        self.capacity.saturating_sub(inner.store.len())
    }

    // === the waiting operations, by key (the futures are thin wrappers) ===

    pub(crate) fn poll_get(
        &self,
        cx: &mut Context<'_>,
        key: &mut Option<usize>,
    ) -> Poll<Result<T, ClosedError>> {
        let mut guard = self.inner.lock();
        let inner = &mut *guard;
        let Some(k) = *key else {
            // A fresh get.
            if inner.closed_for_gets() {
                return Poll::Ready(Err(ClosedError(())));
            }
            if !inner.txn && inner.store.len() > 0 {
                let (item, waker, done) = inner.take(self.capacity);
                drop(guard);
                if let Some(w) = waker {
                    w.wake();
                }
                wake_all(done);
                return Poll::Ready(Ok(item));
            }
            let k = inner.slots.insert(Waiter::new(cx.waker()));
            inner.slots.push_back(&mut inner.gets, k);
            *key = Some(k);
            return Poll::Pending;
        };
        let waiter = inner.slots.get_mut(k);
        if waiter.notified {
            // Served: the item is ours (taken back only by `reclaim`, which
            // also un-serves).
            let entry = waiter.item.take().expect("a served getter holds its item");
            inner.notified_gets -= 1;
            inner.slots.remove(&mut inner.served, k);
            *key = None;
            return Poll::Ready(Ok(O::Store::into_item(entry)));
        }
        if inner.closed_for_gets() {
            inner.slots.remove(&mut inner.gets, k);
            *key = None;
            return Poll::Ready(Err(ClosedError(())));
        }
        set_waker(&mut inner.slots.get_mut(k).waker, cx.waker());
        Poll::Pending
    }

    pub(crate) fn cancel_get(&self, key: &mut Option<usize>) {
        let Some(k) = key.take() else { return };
        let wakers = {
            let mut guard = self.inner.lock();
            let inner = &mut *guard;
            if inner.slots.get(k).notified {
                // Its item was not consumed. Take every handed item back and
                // serve the getters left again, so no item overtakes another
                // (the served ones were woken already and are not woken
                // twice). Rare, so the walk over the served is fine.
                inner.reclaim();
                inner.slots.remove(&mut inner.gets, k);
                let mut wakers = inner.take_watchers();
                inner.rebalance(self.capacity, &mut wakers);
                wakers
            } else {
                inner.slots.remove(&mut inner.gets, k);
                Wakers::new()
            }
        };
        wake_all(wakers);
    }

    pub(crate) fn poll_put(
        &self,
        cx: &mut Context<'_>,
        key: &mut Option<usize>,
        input: &mut Option<O::Input>,
    ) -> Poll<Result<(), ClosedError<O::Input>>> {
        let mut guard = self.inner.lock();
        let inner = &mut *guard;
        if inner.state != State::Open {
            if let Some(k) = key.take() {
                if inner.slots.get(k).notified {
                    inner.notified_puts -= 1;
                }
                inner.slots.remove(&mut inner.puts, k);
            }
            let item = input.take().expect("`Put` polled after completion");
            return Poll::Ready(Err(ClosedError(item)));
        }
        let Some(k) = *key else {
            let room = self.room(inner);
            if !inner.txn && room > inner.notified_puts {
                let item = input.take().expect("`Put` polled after completion");
                let woken = inner.insert(item, self.capacity);
                drop(guard);
                woken.wake();
                return Poll::Ready(Ok(()));
            }
            assert!(input.is_some(), "`Put` polled after completion");
            let k = inner.slots.insert(Waiter::new(cx.waker()));
            inner.slots.push_back(&mut inner.puts, k);
            *key = Some(k);
            return Poll::Pending;
        };
        let room = self.room(inner);
        let waiter = inner.slots.get_mut(k);
        if waiter.notified {
            waiter.notified = false;
            inner.notified_puts -= 1;
            if !inner.txn && room > 0 {
                inner.slots.remove(&mut inner.puts, k);
                *key = None;
                let item = input.take().expect("a waiting put holds its item");
                let woken = inner.insert(item, self.capacity);
                drop(guard);
                woken.wake();
                return Poll::Ready(Ok(()));
            }
            set_waker(&mut inner.slots.get_mut(k).waker, cx.waker());
            inner.slots.push_front(&mut inner.puts, k);
            return Poll::Pending;
        }
        set_waker(&mut waiter.waker, cx.waker());
        Poll::Pending
    }

    pub(crate) fn cancel_put(&self, key: &mut Option<usize>) {
        let Some(k) = key.take() else { return };
        let waker = {
            let mut guard = self.inner.lock();
            let inner = &mut *guard;
            if inner.slots.get(k).notified {
                inner.notified_puts -= 1;
                inner.slots.remove(&mut inner.puts, k);
                inner.notify_putter(self.capacity)
            } else {
                inner.slots.remove(&mut inner.puts, k);
                None
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Opens a transaction for the waiter `key`, or queues it.
    pub(crate) fn poll_begin(&self, cx: &mut Context<'_>, key: &mut Option<usize>) -> Poll<()> {
        let mut guard = self.inner.lock();
        let inner = &mut *guard;
        if let Some(k) = *key {
            let waiter = inner.slots.get_mut(k);
            if waiter.notified {
                waiter.notified = false;
                inner.notified_txns -= 1;
                if inner.txn {
                    set_waker(&mut inner.slots.get_mut(k).waker, cx.waker());
                    inner.slots.push_front(&mut inner.txns, k);
                    return Poll::Pending;
                }
            } else {
                set_waker(&mut waiter.waker, cx.waker());
                return Poll::Pending;
            }
            inner.slots.remove(&mut inner.txns, k);
            *key = None;
        } else if inner.txn || !inner.txns.is_empty() || inner.notified_txns > 0 {
            let k = inner.slots.insert(Waiter::new(cx.waker()));
            inner.slots.push_back(&mut inner.txns, k);
            *key = Some(k);
            return Poll::Pending;
        }
        inner.begin();
        Poll::Ready(())
    }

    pub(crate) fn try_begin(&self) -> bool {
        let mut inner = self.inner.lock();
        if inner.txn || !inner.txns.is_empty() || inner.notified_txns > 0 {
            return false;
        }
        inner.begin();
        true
    }

    pub(crate) fn cancel_begin(&self, key: &mut Option<usize>) {
        let Some(k) = key.take() else { return };
        let waker = {
            let mut guard = self.inner.lock();
            let inner = &mut *guard;
            if inner.slots.get(k).notified {
                inner.notified_txns -= 1;
                inner.slots.remove(&mut inner.txns, k);
                if inner.txn { None } else { inner.notify_txn() }
            } else {
                inner.slots.remove(&mut inner.txns, k);
                None
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Ends the open transaction: serves whoever waited meanwhile.
    pub(crate) fn end_transaction(&self, inner: &mut Inner<T, O>) -> Wakers {
        inner.txn = false;
        let mut wakers = inner.take_watchers();
        wakers.extend(inner.notify_txn());
        inner.rebalance(self.capacity, &mut wakers);
        if inner.state != State::Open {
            wakers.extend(inner.wake_everyone());
        }
        wakers
    }

    pub(crate) fn capacity_raw(&self) -> usize {
        self.capacity
    }
}

// === impl Inner ===

impl<T, O: Order<T>> Inner<T, O> {
    /// Whether gets fail now: after a shutdown, or closed and empty — but
    /// not while a transaction is open, whose rollback may refill it.
    #[inline]
    pub(crate) fn closed_for_gets(&self) -> bool {
        match self.state {
            State::Shutdown => true,
            State::Closed => !self.txn && self.store.len() == 0,
            State::Open => false,
        }
    }

    /// Inserts, handing the item over to the first waiting getter if there
    /// is one. A handed item leaves its room free, which may be a putter's
    /// turn; an item that stays wakes the filter drivers watching.
    #[inline]
    pub(crate) fn insert(&mut self, input: O::Input, capacity: usize) -> Inserted {
        let seq = self.seq;
        self.seq = seq.wrapping_add(1);
        self.store.push(input, seq);
        if self.gets.is_empty() && self.watchers.is_empty() {
            // No getter to hand the item to and no filter driver to tell:
            // the usual case while items are queued, kept small to inline.
            return Inserted::NOBODY;
        }
        self.wake_for_insert(capacity)
    }

    /// The rest of [`insert`](Self::insert), when somebody may be waiting.
    #[inline(never)]
    fn wake_for_insert(&mut self, capacity: usize) -> Inserted {
        match self.hand_over() {
            Some(getter) => Inserted {
                getter: Some(getter),
                putter: self.notify_putter(capacity),
                watchers: Wakers::new(),
            },
            None => Inserted {
                getter: None,
                putter: None,
                watchers: self.take_watchers(),
            },
        }
    }

    /// Takes the next item; returns the waker of a putter if room is now
    /// free for it, and, if a closed queue ran empty, every waiting getter's
    /// (to tell them; an empty `Vec` does not allocate).
    #[inline]
    pub(crate) fn take(&mut self, capacity: usize) -> (T, Option<Waker>, Wakers) {
        let entry = self.store.pop().expect("caller checked for an item");
        let waker = self.notify_putter(capacity);
        let done = if self.state == State::Closed && self.store.len() == 0 {
            self.wake_everyone()
        } else {
            Wakers::new()
        };
        (O::Store::into_item(entry), waker, done)
    }

    /// The wakers of filter drivers waiting for a new item (none, without
    /// allocating, in the common case of no filter).
    #[inline]
    pub(crate) fn take_watchers(&mut self) -> Wakers {
        if self.watchers.is_empty() {
            Wakers::new()
        } else {
            core::mem::take(&mut self.watchers)
        }
    }

    /// Whether the first waiting getter can be handed an item: there are
    /// both, outside transactions, and never after a shutdown (the getters
    /// fail, and the items wait for the next `shutdown` call).
    #[inline]
    fn can_hand_over(&self) -> bool {
        !self.gets.is_empty() && !self.txn && self.store.len() > 0 && self.state != State::Shutdown
    }

    /// Moves the item next in line to the first waiting getter if it
    /// [can](Self::can_hand_over); returns its waker.
    #[inline]
    fn hand_over(&mut self) -> Option<Waker> {
        if !self.can_hand_over() {
            return None;
        }
        let entry = self.store.pop()?;
        let k = self
            .slots
            .pop_front(&mut self.gets)
            .expect("checked non-empty");
        self.slots.push_back(&mut self.served, k);
        self.notified_gets += 1;
        let waiter = self.slots.get_mut(k);
        waiter.notified = true;
        waiter.item = Some(entry);
        waiter.waker.take()
    }

    /// Takes every handed item back, newest first, so the store and the
    /// getters' line are as if none had been handed over. The getters were
    /// woken already; they find themselves waiting again at their next poll.
    fn reclaim(&mut self) {
        while let Some(k) = self.slots.pop_back(&mut self.served) {
            let waiter = self.slots.get_mut(k);
            waiter.notified = false;
            let entry = waiter.item.take().expect("a served getter holds its item");
            self.store.restore(entry);
            self.notified_gets -= 1;
            self.slots.push_front(&mut self.gets, k);
        }
    }

    #[inline]
    pub(crate) fn notify_putter(&mut self, capacity: usize) -> Option<Waker> {
        if self.txn || capacity.saturating_sub(self.store.len()) <= self.notified_puts {
            return None;
        }
        let k = self.slots.pop_front(&mut self.puts)?;
        self.notified_puts += 1;
        let waiter = self.slots.get_mut(k);
        waiter.notified = true;
        waiter.waker.take()
    }

    fn notify_txn(&mut self) -> Option<Waker> {
        if self.notified_txns > 0 {
            return None;
        }
        let k = self.slots.pop_front(&mut self.txns)?;
        self.notified_txns += 1;
        let waiter = self.slots.get_mut(k);
        waiter.notified = true;
        waiter.waker.take()
    }

    /// Restores the invariant after a bulk change.
    fn rebalance(&mut self, capacity: usize, wakers: &mut Wakers) {
        while let Some(w) = self.notify_getter_checked() {
            wakers.extend(w);
        }
        while let Some(w) = self.notify_putter_checked(capacity) {
            wakers.extend(w);
        }
    }

    /// `Some(waker)` if a getter was served (its waker may be absent).
    fn notify_getter_checked(&mut self) -> Option<Option<Waker>> {
        self.can_hand_over().then(|| self.hand_over())
    }

    fn notify_putter_checked(&mut self, capacity: usize) -> Option<Option<Waker>> {
        if self.puts.is_empty()
            || self.txn
            || capacity.saturating_sub(self.store.len()) <= self.notified_puts
        {
            return None;
        }
        Some(self.notify_putter(capacity))
    }

    /// Wakes every waiter (without notifying it), so it looks at the
    /// queue's state again. Rare: closing, or a closed queue running empty.
    pub(crate) fn wake_everyone(&mut self) -> Wakers {
        let mut wakers = Wakers::new();
        for k in self.slots.all_keys() {
            wakers.extend(self.slots.get_mut(k).waker.take());
        }
        wakers.append(&mut self.watchers);
        wakers
    }

    fn begin(&mut self) {
        self.reclaim();
        self.txn = true;
        self.txn_base_len = self.store.len();
    }
}

impl<T, O: Order<T>> fmt::Debug for SmartQueue<T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.lock();
        f.debug_struct("SmartQueue")
            .field("order", &core::any::type_name::<O>())
            .field(
                "len",
                &if inner.txn {
                    inner.txn_base_len
                } else {
                    inner.store.len()
                },
            )
            .field("capacity", &self.capacity())
            .field("state", &inner.state)
            .field("in_transaction", &inner.txn)
            .field("waiting_getters", &(inner.gets.len() + inner.notified_gets))
            .field("waiting_putters", &(inner.puts.len() + inner.notified_puts))
            .finish()
    }
}

impl<T, O: Order<T>> Default for SmartQueue<T, O> {
    /// An unbounded queue.
    fn default() -> Self {
        Self::unbounded()
    }
}

// === the public put family, per kind of input ===

/// The put family of the orders whose put takes just the item.
macro_rules! item_puts {
    ($order:ty, $($bound:tt)*) => {
        impl<T $($bound)*> SmartQueue<T, $order> {
    /// Puts `item`, waiting for room if the queue is full.
    ///
    /// Resolves to [`ClosedError`], giving the item back, if the queue is
    /// closed before the item went in.
    pub fn put(&self, item: T) -> Put<'_, T, $order> {
        self.put_input(item)
    }

    /// Puts `item` if there is room for it now.
    ///
    /// # Errors
    ///
    /// With the item given back: [`TryPutError::Full`] if the queue is full
    /// (or its free room is promised to putters that waited);
    /// [`TryPutError::Closed`]; [`TryPutError::InTransaction`].
    pub fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
        self.try_put_input(item)
    }

    /// Puts `item` without ever waiting: if the queue is full, the item
    /// next in line is removed first and returned, so nothing is lost
    /// silently. `Ok(None)` if there was room.
    ///
    /// Raises `asyncutils.queues.<Type>.push` when it displaces an item
    /// (see [Audit events](SmartQueue#audit-events)).
    ///
    /// # Errors
    ///
    /// [`TryPutError::Closed`] or [`TryPutError::InTransaction`], with the
    /// item; never `Full`.
    pub fn push(&self, item: T) -> Result<Option<T>, TryPutError<T>> {
        self.push_input(item)
    }

    /// [`try_put`](Self::try_put)s each item in turn, stopping at the first
    /// refused (pass `&mut iter` to keep the rest).
    ///
    /// # Errors
    ///
    /// As [`try_put`](Self::try_put), with the refused item.
    pub fn try_extend<I: IntoIterator<Item = T>>(&self, items: I) -> Result<(), TryPutError<T>> {
        self.try_extend_input(items)
    }
}
    };
}

item_puts!(Fifo,);
item_puts!(Lifo,);
item_puts!(Priority, : Ord);

impl<T, P: Ord + 'static> SmartQueue<T, UserPriority<P>> {
    /// Puts `item` with `priority` (smaller first), waiting for room if
    /// the queue is full.
    ///
    /// Resolves to [`ClosedError`] giving `(item, priority)` back if the
    /// queue is closed first.
    pub fn put(&self, item: T, priority: P) -> Put<'_, T, UserPriority<P>> {
        self.put_input((item, priority))
    }

    /// Puts `item` with `priority` if there is room now.
    ///
    /// # Errors
    ///
    /// As [`SmartQueue::try_put`], giving `(item, priority)` back.
    pub fn try_put(&self, item: T, priority: P) -> Result<(), TryPutError<(T, P)>> {
        self.try_put_input((item, priority))
    }

    /// Puts `item` with `priority` without waiting, displacing the item
    /// next in line (the best priority) if the queue is full; see
    /// [`SmartQueue::push`].
    ///
    /// # Errors
    ///
    /// As [`SmartQueue::push`], giving `(item, priority)` back.
    pub fn push(&self, item: T, priority: P) -> Result<Option<T>, TryPutError<(T, P)>> {
        self.push_input((item, priority))
    }

    /// [`try_put`](Self::try_put)s each `(item, priority)` in turn,
    /// stopping at the first refused.
    ///
    /// # Errors
    ///
    /// As [`try_put`](Self::try_put), with the refused pair.
    pub fn try_extend<I: IntoIterator<Item = (T, P)>>(
        &self,
        items: I,
    ) -> Result<(), TryPutError<(T, P)>> {
        self.try_extend_input(items)
    }
}

// === impl Get ===

/// Future returned by [`SmartQueue::get`].
///
/// Polled again after it completed, it starts a new get.
///
/// # Cancellation
///
/// Dropping it never consumes an item. If an item had already been handed
/// to it, the item goes back to the queue in its place in line, and the
/// getters still waiting are served again (see *Cancellation* on
/// [`SmartQueue`]).
#[must_use = "futures do nothing unless polled"]
pub struct Get<'a, T, O: Order<T> = Fifo> {
    queue: &'a SmartQueue<T, O>,
    key: Option<usize>,
}

impl<T, O: Order<T>> Unpin for Get<'_, T, O> {}

impl<T, O: Order<T>> Future for Get<'_, T, O> {
    type Output = Result<T, ClosedError>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        this.queue.poll_get(cx, &mut this.key)
    }
}

impl<T, O: Order<T>> Drop for Get<'_, T, O> {
    fn drop(&mut self) {
        self.queue.cancel_get(&mut self.key);
    }
}

impl<T, O: Order<T>> fmt::Debug for Get<'_, T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Get")
            .field("waiting", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

// === impl Put ===

/// Future returned by [`SmartQueue::put`].
///
/// # Panics
///
/// If polled again after it completed.
///
/// # Cancellation
///
/// Dropping it before it completes never inserts the item (it is dropped
/// with the future). If it had been woken for free room, the next waiting
/// putter is woken in its place.
#[must_use = "futures do nothing unless polled"]
pub struct Put<'a, T, O: Order<T> = Fifo> {
    queue: &'a SmartQueue<T, O>,
    input: Option<O::Input>,
    key: Option<usize>,
}

impl<T, O: Order<T>> Put<'_, T, O> {
    /// Withdraws a pending put, giving its value back (`None` once it
    /// completed).
    #[cfg(feature = "std")]
    pub(crate) fn withdraw(&mut self) -> Option<O::Input> {
        self.queue.cancel_put(&mut self.key);
        self.input.take()
    }
}

impl<T, O: Order<T>> Unpin for Put<'_, T, O> {}

impl<T, O: Order<T>> Future for Put<'_, T, O> {
    type Output = Result<(), ClosedError<O::Input>>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        this.queue.poll_put(cx, &mut this.key, &mut this.input)
    }
}

impl<T, O: Order<T>> Drop for Put<'_, T, O> {
    fn drop(&mut self) {
        self.queue.cancel_put(&mut self.key);
    }
}

impl<T, O: Order<T>> fmt::Debug for Put<'_, T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Put")
            .field("waiting", &self.key.is_some())
            .finish_non_exhaustive()
    }
}
