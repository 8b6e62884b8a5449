//! An async semaphore whose waiters are served by priority.
//!
//! A [`PrioritySemaphore`] holds a number of permits. A task takes one (or
//! several) with [`acquire`](PrioritySemaphore::acquire) or
//! [`acquire_many`](PrioritySemaphore::acquire_many), giving a *priority*:
//! when permits are short, the waiter with the **lowest** priority value is
//! served first, ties in arrival order. Permits come back when the
//! [`Permit`] is dropped. The number of permits can change at run time
//! ([`add_permits`](PrioritySemaphore::add_permits),
//! [`forget_permits`](PrioritySemaphore::forget_permits),
//! [`set_permits`](PrioritySemaphore::set_permits)), and
//! [`close`](PrioritySemaphore::close) fails every waiter.
//!
//! # Examples
//!
//! Three tasks wait for the single permit; they get it in priority order,
//! not in the order they asked:
//!
//! ```
//! use asyncutils_core::locks::PrioritySemaphore;
//! use futures_lite::future;
//! use std::cell::RefCell;
//! use std::pin::pin;
//!
//! # future::block_on(async {
//! let sem = PrioritySemaphore::new(1).unwrap();
//! let order = RefCell::new(Vec::new());
//! let held = sem.acquire(0).await.unwrap();
//!
//! let task = |name: &'static str, priority: i32| {
//!     let (sem, order) = (&sem, &order);
//!     async move {
//!         let _permit = sem.acquire(priority).await.unwrap();
//!         order.borrow_mut().push(name);
//!     }
//! };
//! let mut low = pin!(task("low", 10));
//! let mut high = pin!(task("high", 1));
//! let mut mid = pin!(task("mid", 5));
//! // Let all three start waiting (the permit is held).
//! for fut in [low.as_mut(), high.as_mut(), mid.as_mut()] {
//!     assert!(future::poll_once(fut).await.is_none());
//! }
//! assert_eq!(sem.waiters(), 3);
//!
//! drop(held);
//! future::zip(low, future::zip(high, mid)).await;
//! assert_eq!(*order.borrow(), ["high", "mid", "low"]);
//! assert_eq!(sem.available_permits(), 1);
//! # });
//! ```
//!
//! Implementation notes: the permit count lives in one atomic word,
//! `permits << 2 | CLOSED | SLOW`. `SLOW` is set, always under the lock,
//! exactly while a waiter is queued or a shrink still owes permits (see
//! [`set_permits`](PrioritySemaphore::set_permits)). While it is clear,
//! acquiring is one compare-and-swap and releasing one `fetch_add`: no lock,
//! no allocation. While it is set, nobody takes permits from the word
//! except under the lock, in queue order; a release still adds its permits
//! with a `fetch_add` and, seeing `SLOW` in the value it replaced, takes the
//! lock to hand them out. Because `SLOW` is set with a read-modify-write on
//! the same word, a release either lands before it (the waiter sees the
//! permits) or sees it (and serves the waiter): no wake-up is lost.
//!
//! Waiters form one doubly linked list sorted by `(priority, arrival)`,
//! whose nodes live inside the waiting futures (hence `!Unpin`): waiting
//! never allocates. Insertion checks the head first and otherwise walks
//! from the tail, so a waiter of the best or of the worst priority present
//! (and all FIFO use) is O(1); removal is O(1). A waiter taken off the
//! list is told through an atomic in its node, so a served future
//! completes without taking the lock. Permits are handed to the head waiter only when *all* it asked
//! for are there; they are never split between waiters, so a new waiter of
//! better priority is not stuck behind permits a worse one had half
//! collected.

use core::fmt;
use core::future::Future;
use core::ops::DerefMut;
use core::pin::Pin;
use core::ptr::NonNull;
use core::task::{Context, Poll, Waker};

use crate::error::InvalidArgument;
use crate::intrusive::{self, List, Status};
use crate::loom::{Arc, AtomicUsize, Mutex, Ordering};

#[cfg(all(test, feature = "std"))]
mod tests;

const CLOSED: usize = 0b01;
const SLOW: usize = 0b10;
const SHIFT: u32 = 2;

/// The most permits a semaphore can hold, and the most one call may ask
/// for: `usize::MAX >> 2` (two bits of the state word are flags).
pub const MAX_PERMITS: usize = usize::MAX >> SHIFT;

/// A semaphore whose waiters are served by priority (lowest value first,
/// ties in arrival order), with permits that can be added and removed at
/// run time.
///
/// Share it by reference, or in an [`Arc`](alloc::sync::Arc) to get
/// [`OwnedPermit`]s that are `'static`.
///
/// # Fairness
///
/// Waiters are served strictly in order of `(priority, arrival)`: the head
/// waiter (lowest priority value, then oldest) gets its permits first. A
/// waiter asking for more permits than are free blocks every waiter behind
/// it, even ones asking for fewer that would fit (as in tokio's
/// semaphore): permits accumulate until the head is served. A waiter of
/// better priority arriving later goes ahead of it, and is served at once
/// if the accumulated permits are enough.
///
/// [`try_acquire`](Self::try_acquire) and the first poll of an acquire
/// never jump ahead of queued waiters: while anyone waits, they fail or
/// queue even if enough permits are free for them.
///
/// # Cancellation
///
/// Dropping an [`Acquire`] (or [`AcquireOwned`]) never loses permits: if
/// permits had already been assigned to it, they go to the next waiter (or
/// back to the pool) in the drop.
pub struct PrioritySemaphore {
    /// `available << 2 | CLOSED | SLOW`.
    state: AtomicUsize,
    /// Permits the semaphore has once every debt is paid: what it was
    /// created with, plus additions, minus removals and forgotten permits.
    /// Written only under the lock. Invariant: free + held = total + debt.
    total: AtomicUsize,
    inner: Mutex<Inner>,
}

struct Inner {
    /// The waiters, sorted by `(priority, arrival)`.
    queue: List<Wait>,
    /// Permits a shrink still has to take as they come back.
    debt: usize,
}

/// What the queue knows of a waiter: set when it queues, read under the
/// lock, except `status`.
struct Wait {
    priority: i32,
    permits: usize,
    /// Whether it was served or the semaphore closed: written under the
    /// lock as the waiter is taken off the queue, read by its future
    /// without the lock.
    status: AtomicUsize,
}

/// A node's status: still queued.
const NODE_QUEUED: usize = 0;
/// Its permits were taken from the pool for it; the future owns them.
const NODE_GRANTED: usize = 1;
/// The semaphore was closed while it waited.
const NODE_CLOSED: usize = 2;

/// A waiter's node, inside its (pinned) future.
type Node = intrusive::Node<Wait>;

/// Under the lock, as a waiter is taken off the queue: tells its future,
/// the last access to the node through the queue (the future may finish
/// and free it at once).
///
/// # Safety
///
/// `node` was just taken off the queue (so its future is still alive: its
/// drop would have taken the lock first).
unsafe fn settle(node: NonNull<Node>, status: usize) {
    // SAFETY: the caller's contract; no reference to the node outlives the
    // store.
    unsafe { Node::data_ptr(node).as_ref() }
        .status
        .store(status, Ordering::Release);
}

/// Wakers collected under the lock, woken after it; fixed capacity so
/// waking never allocates. Only the pushed slots are initialised and
/// dropped: a serve that wakes one waiter touches one slot.
struct WakeList {
    wakers: heapless::Vec<Waker, { WakeList::CAPACITY }>,
}

impl WakeList {
    const CAPACITY: usize = 4;

    fn new() -> Self {
        WakeList {
            wakers: heapless::Vec::new(),
        }
    }

    fn is_full(&self) -> bool {
        self.wakers.is_full()
    }

    fn push(&mut self, waker: Option<Waker>) {
        if let Some(w) = waker {
            // Callers check `is_full` first; were it full anyway, waking at
            // once (under the lock) is slower but loses nothing.
            if let Err(w) = self.wakers.push(w) {
                w.wake();
            }
        }
    }

    /// Wakes them all (the last served first: they are all served
    /// already, so the order only decides which task the executor hears
    /// of first).
    fn wake_all(&mut self) {
        while let Some(w) = self.wakers.pop() {
            w.wake();
        }
    }
}

// === impl PrioritySemaphore ===

impl PrioritySemaphore {
    /// A semaphore with `permits` permits (zero is allowed: nothing can be
    /// acquired until [`add_permits`](Self::add_permits)).
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] naming `permits` if it exceeds [`MAX_PERMITS`].
    pub fn new(permits: usize) -> Result<Self, InvalidArgument> {
        if permits > MAX_PERMITS {
            return Err(InvalidArgument::new(
                "permits",
                "at most MAX_PERMITS (usize::MAX >> 2)",
            ));
        }
        Ok(PrioritySemaphore {
            state: AtomicUsize::new(permits << SHIFT),
            total: AtomicUsize::new(permits),
            inner: Mutex::new(Inner {
                queue: List::new(),
                debt: 0,
            }),
        })
    }

    /// Waits for one permit, served by `priority` (lower first).
    ///
    /// Resolves to [`AcquireError::Closed`] if the semaphore is closed.
    #[inline]
    pub fn acquire(&self, priority: i32) -> Acquire<'_> {
        self.acquire_many(1, priority)
    }

    /// Waits for `n` permits at once, served by `priority` (lower first).
    ///
    /// `n == 0` resolves at once, to an empty permit (or to
    /// [`AcquireError::Closed`] if the semaphore is closed).
    /// Resolves to [`AcquireError::Invalid`] if `n` exceeds
    /// [`MAX_PERMITS`], [`AcquireError::Closed`] if the semaphore is closed.
    /// Asking for more permits than the semaphore has waits until enough
    /// are added.
    #[inline]
    pub fn acquire_many(&self, n: usize, priority: i32) -> Acquire<'_> {
        Acquire {
            sem: self,
            wait: WaitState::new(n, priority),
        }
    }

    /// [`acquire`](Self::acquire) for a semaphore in an `Arc`: the permit
    /// keeps the semaphore alive and is `'static`.
    pub fn acquire_owned(self: &Arc<Self>, priority: i32) -> AcquireOwned {
        self.acquire_many_owned(1, priority)
    }

    /// [`acquire_many`](Self::acquire_many) for a semaphore in an `Arc`.
    pub fn acquire_many_owned(self: &Arc<Self>, n: usize, priority: i32) -> AcquireOwned {
        AcquireOwned {
            sem: self.clone(),
            wait: WaitState::new(n, priority),
        }
    }

    /// Takes one permit if one is free and nobody is waiting.
    ///
    /// # Errors
    ///
    /// [`TryAcquireError::Closed`] if the semaphore is closed,
    /// [`TryAcquireError::NoPermits`] if no permit is free or waiters are
    /// queued (it never jumps ahead of them).
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit<'_>, TryAcquireError> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits if they are free and nobody is waiting.
    ///
    /// # Errors
    ///
    /// [`TryAcquireError::Invalid`] naming `n` if it exceeds
    /// [`MAX_PERMITS`]; otherwise as [`try_acquire`](Self::try_acquire).
    #[inline]
    pub fn try_acquire_many(&self, n: usize) -> Result<Permit<'_>, TryAcquireError> {
        self.try_take(n)?;
        Ok(Permit { sem: self, n })
    }

    /// [`try_acquire`](Self::try_acquire) giving an [`OwnedPermit`].
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](Self::try_acquire).
    pub fn try_acquire_owned(self: &Arc<Self>) -> Result<OwnedPermit, TryAcquireError> {
        self.try_acquire_many_owned(1)
    }

    /// [`try_acquire_many`](Self::try_acquire_many) giving an
    /// [`OwnedPermit`].
    ///
    /// # Errors
    ///
    /// As [`try_acquire_many`](Self::try_acquire_many).
    pub fn try_acquire_many_owned(
        self: &Arc<Self>,
        n: usize,
    ) -> Result<OwnedPermit, TryAcquireError> {
        self.try_take(n)?;
        Ok(OwnedPermit {
            sem: self.clone(),
            n,
        })
    }

    /// Adds `n` permits. If a shrink still owes permits (see
    /// [`set_permits`](Self::set_permits)), the addition cancels that debt
    /// first and only the rest becomes free. Free permits go to waiters in
    /// priority order.
    ///
    /// Permits can be added to a closed semaphore (they only show in
    /// [`available_permits`](Self::available_permits)).
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] naming `n` if the total would exceed
    /// [`MAX_PERMITS`]; nothing changes then.
    pub fn add_permits(&self, n: usize) -> Result<(), InvalidArgument> {
        let inner = self.inner.lock();
        let total = self.total.load(Ordering::Acquire);
        if n > MAX_PERMITS - total.min(MAX_PERMITS) {
            return Err(InvalidArgument::new(
                "n",
                "such that the total stays at most MAX_PERMITS",
            ));
        }
        self.grow_locked(inner, n);
        Ok(())
    }

    /// Removes up to `n` permits from the semaphore for good and returns
    /// how many it will remove (`min(n, total_permits())`).
    ///
    /// Free permits are removed at once; the rest are removed as held
    /// permits come back, before any waiter is served (until then the
    /// semaphore is *in debt*: more permits are out than
    /// [`total_permits`](Self::total_permits) says). Waiters queue behind
    /// the debt, and [`try_acquire`](Self::try_acquire) fails while it
    /// lasts.
    pub fn forget_permits(&self, n: usize) -> usize {
        let mut inner = self.inner.lock();
        let total = self.total.load(Ordering::Acquire);
        let n = n.min(total);
        self.total.fetch_sub(n, Ordering::AcqRel);
        self.shrink_locked(&mut inner, n);
        n
    }

    /// Sets the total number of permits to `n`: grows as
    /// [`add_permits`](Self::add_permits) would, or shrinks as
    /// [`forget_permits`](Self::forget_permits) would (free permits at once,
    /// held ones as they come back).
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] naming `n` if it exceeds [`MAX_PERMITS`].
    pub fn set_permits(&self, n: usize) -> Result<(), InvalidArgument> {
        if n > MAX_PERMITS {
            return Err(InvalidArgument::new(
                "n",
                "at most MAX_PERMITS (usize::MAX >> 2)",
            ));
        }
        let mut inner = self.inner.lock();
        let total = self.total.load(Ordering::Acquire);
        if n >= total {
            self.grow_locked(inner, n - total);
        } else {
            self.total.fetch_sub(total - n, Ordering::AcqRel);
            self.shrink_locked(&mut inner, total - n);
        }
        Ok(())
    }

    /// Closes the semaphore: every waiter resolves to
    /// [`AcquireError::Closed`], and so does every later acquire; `try_*`
    /// fail with [`TryAcquireError::Closed`]. Held permits stay valid and
    /// still come back when dropped. Returns `false` if it was already
    /// closed.
    pub fn close(&self) -> bool {
        let mut wakers = WakeList::new();
        let mut inner = self.inner.lock();
        let was_closed = self.state.fetch_or(CLOSED, Ordering::AcqRel) & CLOSED != 0;
        loop {
            while !wakers.is_full() {
                let Some((node, waker)) = inner.queue.pop_front_node(Status::Closed) else {
                    break;
                };
                wakers.push(Some(waker));
                // SAFETY: just taken off the queue, under the lock.
                unsafe { settle(node, NODE_CLOSED) };
            }
            if inner.queue.is_empty() {
                break;
            }
            drop(inner);
            wakers.wake_all();
            inner = self.inner.lock();
        }
        // The queue is empty; keep `SLOW` only for a debt.
        if inner.debt == 0 {
            self.state.fetch_and(!SLOW, Ordering::AcqRel);
        }
        drop(inner);
        wakers.wake_all();
        !was_closed
    }

    /// Whether [`close`](Self::close) was called.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Permits free right now. While a large waiter blocks the queue (see
    /// *Fairness*), permits may be free and still not acquirable.
    #[must_use]
    pub fn available_permits(&self) -> usize {
        self.state.load(Ordering::Acquire) >> SHIFT
    }

    /// The number of permits the semaphore has once every pending shrink
    /// is complete: the initial count, plus additions, minus removals and
    /// [`forget`](Permit::forget)-ten permits.
    #[must_use]
    pub fn total_permits(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }

    /// Tasks waiting for permits right now.
    #[must_use]
    pub fn waiters(&self) -> usize {
        self.inner.lock().queue.len()
    }

    /// Takes `n` permits from the word if nobody waits: the lock-free path.
    #[inline]
    fn try_take(&self, n: usize) -> Result<(), TryAcquireError> {
        if n == 0 {
            return if self.is_closed() {
                Err(TryAcquireError::Closed)
            } else {
                Ok(())
            };
        }
        if n > MAX_PERMITS {
            return Err(TryAcquireError::Invalid(InvalidArgument::new(
                "n",
                "at most MAX_PERMITS (usize::MAX >> 2)",
            )));
        }
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if state & CLOSED != 0 {
                return Err(TryAcquireError::Closed);
            }
            if state & SLOW != 0 || state >> SHIFT < n {
                return Err(TryAcquireError::NoPermits);
            }
            match self.state.compare_exchange_weak(
                state,
                state - (n << SHIFT),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => state = actual,
            }
        }
    }

    /// Gives `n` permits back: lock-free unless someone waits or a shrink
    /// is owed.
    #[inline]
    fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        let prev = self.state.fetch_add(n << SHIFT, Ordering::AcqRel);
        if prev & SLOW != 0 {
            let inner = self.inner.lock();
            self.serve(inner);
        }
    }

    /// Adds `n` permits to the pool while holding the lock, then serves.
    fn release_locked(&self, inner: impl DerefMut<Target = Inner>, n: usize) {
        self.state.fetch_add(n << SHIFT, Ordering::AcqRel);
        self.serve(inner);
    }

    /// Raises the total by `n` (checked by the caller), cancelling debt
    /// first.
    fn grow_locked(&self, mut inner: impl DerefMut<Target = Inner>, n: usize) {
        self.total.fetch_add(n, Ordering::AcqRel);
        let cancelled = inner.debt.min(n);
        inner.debt -= cancelled;
        self.release_locked(inner, n - cancelled);
    }

    /// A held permit of `n` is forgotten: it pays debt first, the rest
    /// leaves the total (free + held = total + debt holds again).
    fn forget_held(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut inner = self.inner.lock();
        let pay = inner.debt.min(n);
        inner.debt -= pay;
        self.total.fetch_sub(n - pay, Ordering::AcqRel);
        if pay > 0 {
            // The debt may be gone: let the queue move or clear `SLOW`.
            self.serve(inner);
        }
    }

    /// Takes `n` permits out: free ones now, the rest as a debt.
    fn shrink_locked(&self, inner: &mut Inner, n: usize) {
        inner.debt += n;
        if inner.debt > 0 {
            self.state.fetch_or(SLOW, Ordering::AcqRel);
        }
        let mut wakers = WakeList::new();
        self.serve_some(inner, &mut wakers);
        // Paying a debt grants nobody: nothing to wake.
        debug_assert!(wakers.wakers.is_empty());
    }

    /// Hands free permits to the queue (debt first) and wakes those served,
    /// outside the lock.
    fn serve(&self, mut inner: impl DerefMut<Target = Inner>) {
        let mut wakers = WakeList::new();
        let mut more = self.serve_some(&mut inner, &mut wakers);
        drop(inner);
        wakers.wake_all();
        while more {
            let mut inner = self.inner.lock();
            more = self.serve_some(&mut inner, &mut wakers);
            drop(inner);
            wakers.wake_all();
        }
    }

    /// Under the lock: pays the debt, then grants head waiters while their
    /// whole request is free, until `wakers` is full. Clears `SLOW` when
    /// nothing is left to wait for. Returns whether it stopped only because
    /// `wakers` filled up.
    fn serve_some(&self, inner: &mut Inner, wakers: &mut WakeList) -> bool {
        if inner.queue.is_empty() && inner.debt == 0 {
            if self.state.load(Ordering::Acquire) & SLOW != 0 {
                self.state.fetch_and(!SLOW, Ordering::AcqRel);
            }
            return false;
        }
        // `SLOW` is set (queue or debt), so nobody else takes from the word.
        loop {
            let free = self.state.load(Ordering::Acquire) >> SHIFT;
            if inner.debt > 0 {
                let pay = inner.debt.min(free);
                if pay > 0 {
                    self.state.fetch_sub(pay << SHIFT, Ordering::AcqRel);
                    inner.debt -= pay;
                }
                if inner.debt > 0 {
                    return false;
                }
                continue;
            }
            let Some(head) = inner.queue.front() else {
                // Nobody waits, no debt: back to the lock-free path.
                self.state.fetch_and(!SLOW, Ordering::AcqRel);
                return false;
            };
            if wakers.is_full() {
                return true;
            }
            let want = head.permits;
            if free < want {
                return false;
            }
            self.state.fetch_sub(want << SHIFT, Ordering::AcqRel);
            let (node, waker) = inner
                .queue
                .pop_front_node(Status::Served)
                .expect("the head");
            wakers.push(Some(waker));
            // SAFETY: just taken off the queue, under the lock.
            unsafe { settle(node, NODE_GRANTED) };
        }
    }
}

impl fmt::Debug for PrioritySemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrioritySemaphore")
            .field("available", &self.available_permits())
            .field("total", &self.total_permits())
            .field("waiters", &self.waiters())
            .field("closed", &self.is_closed())
            .finish()
    }
}

// === impl WaitState ===

/// The part of an acquire future shared by the borrowed and owned kinds.
///
/// Its methods are called only on a pinned future (see the `Future` impls):
/// once queued, `node`'s address is in the queue.
struct WaitState {
    /// Whether `node` went into the queue (it may have left it since).
    queued: bool,
    done: bool,
    node: Node,
}

impl WaitState {
    /// The permits asked for.
    #[inline]
    fn n(&self) -> usize {
        self.node.data().permits
    }

    fn new(n: usize, priority: i32) -> Self {
        WaitState {
            queued: false,
            done: false,
            node: Node::with_data(Wait {
                priority,
                permits: n,
                status: AtomicUsize::new(NODE_QUEUED),
            }),
        }
    }

    #[inline]
    fn poll(
        &mut self,
        sem: &PrioritySemaphore,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), AcquireError>> {
        assert!(!self.done, "acquire future polled after completion");
        if !self.queued {
            return self.poll_first(sem, cx);
        }
        // Served or closed: known without the lock.
        if let Some(ready) = self.settled() {
            return Poll::Ready(ready);
        }
        let _locked = sem.inner.lock();
        // Granting and closing happen under the lock: this look is final.
        if let Some(ready) = self.settled() {
            return Poll::Ready(ready);
        }
        // SAFETY: the lock is held, and the node is in the queue (not
        // settled); its future is pinned and leaves the queue under the lock.
        unsafe { self.node.set_waker(cx.waker()) };
        Poll::Pending
    }

    /// The outcome, if the queue has settled it (the entry is gone then).
    #[inline]
    fn settled(&mut self) -> Option<Result<(), AcquireError>> {
        let ready = match self.node.data().status.load(Ordering::Acquire) {
            NODE_GRANTED => Ok(()),
            NODE_CLOSED => Err(AcquireError::Closed),
            _ => return None,
        };
        self.queued = false;
        self.done = true;
        Some(ready)
    }

    #[inline]
    fn poll_first(
        &mut self,
        sem: &PrioritySemaphore,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), AcquireError>> {
        match sem.try_take(self.n()) {
            Ok(()) => {
                self.done = true;
                return Poll::Ready(Ok(()));
            }
            Err(TryAcquireError::Closed) => {
                self.done = true;
                return Poll::Ready(Err(AcquireError::Closed));
            }
            Err(TryAcquireError::Invalid(e)) => {
                self.done = true;
                return Poll::Ready(Err(AcquireError::Invalid(e)));
            }
            Err(TryAcquireError::NoPermits) => {}
        }
        self.poll_queue(sem, cx)
    }

    /// The first poll found no permits for it: queue (under the lock).
    fn poll_queue(
        &mut self,
        sem: &PrioritySemaphore,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), AcquireError>> {
        let mut inner = sem.inner.lock();
        // Closing happens under the lock: checking here is final.
        if sem.state.load(Ordering::Acquire) & CLOSED != 0 {
            self.done = true;
            return Poll::Ready(Err(AcquireError::Closed));
        }
        let priority = self.node.data().priority;
        // SAFETY: the lock is held; the node is pinned inside this future,
        // in no list, and the future's drop takes it out under the lock.
        unsafe {
            inner
                .queue
                .link_sorted(&self.node, cx.waker(), |w| w.priority <= priority);
        }
        self.queued = true;
        let prev = sem.state.fetch_or(SLOW, Ordering::AcqRel);
        if prev >> SHIFT == 0 {
            // No permit is free: nothing to serve. Any release from now on
            // sees `SLOW` and serves under the lock.
            return Poll::Pending;
        }
        let mut wakers = WakeList::new();
        // Permits are free (released before `SLOW` was set, or accumulated
        // behind a larger waiter we now precede). If they go to us, our own
        // waker is among those woken: one spurious poll, on a rare path.
        let more = sem.serve_some(&mut inner, &mut wakers);
        let ready = self.settled();
        if more {
            sem.serve(inner);
        } else {
            drop(inner);
        }
        wakers.wake_all();
        match ready {
            Some(ready) => Poll::Ready(ready),
            None => Poll::Pending,
        }
    }

    fn fmt_as(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("permits", &self.n())
            .field("priority", &self.node.data().priority)
            .field("queued", &self.queued)
            .field("done", &self.done)
            .finish()
    }

    /// On drop: leave the queue, giving back permits assigned to us.
    #[inline]
    fn cancel(&mut self, sem: &PrioritySemaphore) {
        if !core::mem::take(&mut self.queued) {
            return;
        }
        match self.node.data().status.load(Ordering::Acquire) {
            // Assigned but never seen: the permits go to the next waiter.
            NODE_GRANTED => return sem.release(self.n()),
            NODE_CLOSED => return,
            _ => {}
        }
        let mut inner = sem.inner.lock();
        match self.node.data().status.load(Ordering::Acquire) {
            NODE_GRANTED => sem.release_locked(inner, self.n()),
            NODE_CLOSED => {}
            _ => {
                let was_head = inner.queue.is_front(&self.node);
                // SAFETY: the lock is held and the node is still queued
                // (settling happens under the lock).
                let waker = unsafe { inner.queue.remove(&self.node) };
                // The head may have been blocking smaller waiters behind
                // it, or been the last one keeping `SLOW` set.
                if was_head {
                    sem.serve(inner);
                } else {
                    drop(inner);
                }
                // The waker is dropped here, outside the lock.
                drop(waker);
            }
        }
    }
}

// === impl Acquire ===

/// Future returned by [`PrioritySemaphore::acquire`] and
/// [`acquire_many`](PrioritySemaphore::acquire_many).
///
/// # Fairness
///
/// Served in `(priority, arrival)` order; see [`PrioritySemaphore`]. Its
/// arrival is its first poll.
///
/// # Cancellation
///
/// Cancel-safe. Dropped while queued, it leaves the queue (and if it was
/// the head, the waiters it was blocking are served). Dropped after its
/// permits were assigned but before it saw them, it gives them back in the
/// drop: the next waiter gets them.
///
/// # Pinning
///
/// The future is `!Unpin`: while it waits, the queue points into it, so a
/// served waiter learns it was served without taking the lock. `.await`
/// pins it for you; to poll it by hand or in a `select!`, pin it first
/// (`core::pin::pin!` or `Box::pin`).
///
/// # Panics
///
/// If polled after it completed.
#[must_use = "futures do nothing unless polled"]
pub struct Acquire<'a> {
    sem: &'a PrioritySemaphore,
    wait: WaitState,
}

impl<'a> Future for Acquire<'a> {
    type Output = Result<Permit<'a>, AcquireError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: nothing is moved out of the pinned future; the queue
        // holds the address of `wait.node`, which stays where it is.
        let this = unsafe { self.get_unchecked_mut() };
        this.wait.poll(this.sem, cx).map_ok(|()| Permit {
            sem: this.sem,
            n: this.wait.n(),
        })
    }
}

impl Drop for Acquire<'_> {
    #[inline]
    fn drop(&mut self) {
        self.wait.cancel(self.sem);
    }
}

/// Future returned by [`PrioritySemaphore::acquire_owned`] and
/// [`acquire_many_owned`](PrioritySemaphore::acquire_many_owned).
///
/// # Fairness
///
/// As [`Acquire`].
///
/// # Cancellation
///
/// As [`Acquire`]: dropping it never loses permits.
///
/// # Pinning
///
/// `!Unpin`, as [`Acquire`].
///
/// # Panics
///
/// If polled after it completed.
#[must_use = "futures do nothing unless polled"]
pub struct AcquireOwned {
    sem: Arc<PrioritySemaphore>,
    wait: WaitState,
}

impl Future for AcquireOwned {
    type Output = Result<OwnedPermit, AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: as for `Acquire`: nothing moves out of the pinned future.
        let this = unsafe { self.get_unchecked_mut() };
        this.wait.poll(&this.sem, cx).map_ok(|()| OwnedPermit {
            sem: this.sem.clone(),
            n: this.wait.n(),
        })
    }
}

impl Drop for AcquireOwned {
    fn drop(&mut self) {
        self.wait.cancel(&self.sem);
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.wait.fmt_as("Acquire", f)
    }
}

impl fmt::Debug for AcquireOwned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.wait.fmt_as("AcquireOwned", f)
    }
}

// === impl Permit ===

/// Permits taken from a [`PrioritySemaphore`]; they go back when it is
/// dropped.
#[must_use = "dropping the permit releases it at once"]
#[clippy::has_significant_drop]
pub struct Permit<'a> {
    sem: &'a PrioritySemaphore,
    n: usize,
}

impl Permit<'_> {
    /// How many permits this holds.
    #[must_use]
    pub fn num_permits(&self) -> usize {
        self.n
    }

    /// Drops the permits without giving them back: the semaphore's
    /// [`total_permits`](PrioritySemaphore::total_permits) shrinks by them.
    pub fn forget(mut self) {
        let n = core::mem::take(&mut self.n);
        self.sem.forget_held(n);
    }
}

impl Drop for Permit<'_> {
    #[inline]
    fn drop(&mut self) {
        self.sem.release(self.n);
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").field("n", &self.n).finish()
    }
}

/// Permits taken from a [`PrioritySemaphore`] in an `Arc`; they go back
/// when it is dropped.
#[must_use = "dropping the permit releases it at once"]
#[clippy::has_significant_drop]
pub struct OwnedPermit {
    sem: Arc<PrioritySemaphore>,
    n: usize,
}

impl OwnedPermit {
    /// How many permits this holds.
    #[must_use]
    pub fn num_permits(&self) -> usize {
        self.n
    }

    /// The semaphore the permits came from.
    #[must_use]
    pub fn semaphore(&self) -> &Arc<PrioritySemaphore> {
        &self.sem
    }

    /// Drops the permits without giving them back: the semaphore's
    /// [`total_permits`](PrioritySemaphore::total_permits) shrinks by them.
    pub fn forget(mut self) {
        let n = core::mem::take(&mut self.n);
        self.sem.forget_held(n);
    }
}

impl Drop for OwnedPermit {
    #[inline]
    fn drop(&mut self) {
        self.sem.release(self.n);
    }
}

impl fmt::Debug for OwnedPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPermit").field("n", &self.n).finish()
    }
}

// === errors ===

/// Why an [`Acquire`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcquireError {
    /// The semaphore was closed.
    Closed,
    /// More permits were asked for than a semaphore can hold.
    Invalid(InvalidArgument),
}

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcquireError::Closed => f.write_str("the semaphore is closed"),
            AcquireError::Invalid(e) => e.fmt(f),
        }
    }
}

impl core::error::Error for AcquireError {}

/// Why a `try_acquire*` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryAcquireError {
    /// The semaphore was closed.
    Closed,
    /// Not enough permits were free, or waiters were queued ahead.
    NoPermits,
    /// More permits were asked for than a semaphore can hold.
    Invalid(InvalidArgument),
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::Closed => f.write_str("the semaphore is closed"),
            TryAcquireError::NoPermits => {
                f.write_str("no permits available without jumping the queue")
            }
            TryAcquireError::Invalid(e) => e.fmt(f),
        }
    }
}

impl core::error::Error for TryAcquireError {}
