//! Size-or-time batching with backpressure and a draining stop.
//!
//! Implementation notes: one mutex guards a ring buffer of at most
//! `capacity` items, preallocated, so a put that finds room is a lock, a
//! `push_back` and (for the first item of a batch) one clock read. Batches
//! are cut from the front of the buffer, `max_quantity` at a time; the
//! arrival instant of every item that starts a batch (the items at
//! positions `0, max_quantity, 2·max_quantity, ...`) is kept in a second
//! small ring, so each batch's deadline is exact. A batch shorter than
//! `max_quantity` is only ever cut when it is the whole buffer, so the
//! positions stay aligned.
//!
//! Putters that find the buffer full wait in a FIFO queue (`waitlist`)
//! holding their item. When the driver cuts a batch it moves the items of
//! the first waiting putters into the freed room, under the same lock, and
//! wakes them: the queue is an extension of the buffer, items enter it in
//! the order their puts were first polled, and a put that is dropped while
//! queued takes its item with it. Invariant: putters wait only while the
//! buffer is full.
//!
//! The driver is the only consumer. It wakes on the first item of a batch,
//! on a batch becoming full and on stop, not on every put. It never holds
//! the lock while running user code: the callback runs, and a cancelled
//! callback future or dropped items are dropped, after unlocking.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use pin_project_lite::pin_project;

use crate::error::{ErrorGroup, InvalidArgument};
use crate::loom::Mutex;
use crate::time::{Clock, Instant};
use crate::waitlist::{Queue, Slots, set_waker};

#[cfg(all(test, feature = "std"))]
mod tests;

/// Collects items from many producers and hands them to an async callback
/// in batches: a batch goes out as soon as `max_quantity` items are
/// waiting, or once `max_wait` has passed since its first item arrived,
/// whichever comes first.
///
/// Producers share the waterfall by reference (or in an `Arc`) and call
/// [`put`](Waterfall::put), which waits while the buffer is full, or
/// [`try_put`](Waterfall::try_put), which gives the item back instead. The
/// flushing is done by a [`Driver`] future, created by
/// [`driver`](Waterfall::driver) with the callback: the waterfall never
/// spawns, so spawn the driver on any executor or await it alongside the
/// producers. [`stop`](Waterfall::stop) refuses new items, makes the driver
/// deliver what is left (without waiting for `max_wait`) and finish, and
/// reports how many items were dropped because an optional finalize
/// deadline expired first.
///
/// The buffer holds up to `capacity` items (by default `max_quantity`: one
/// batch fills while the callback works on the previous one). An item
/// *arrives* when it enters the buffer: at once for a put that finds room,
/// when room is made for it for a put that waited.
///
/// # Delivery order
///
/// Batches are delivered in order and items within them in arrival order;
/// the callback runs for one batch at a time (the next batch is cut only
/// once the previous callback future has completed). A batch whose time is
/// up while the callback is still busy goes out as soon as it returns,
/// together with whatever arrived meanwhile, up to `max_quantity`.
///
/// # Errors from the callback
///
/// The callback returns `Result<(), E>`. A failed batch does not stop the
/// driver: the error is kept, in order, in the [`Report`] the driver
/// returns when it finishes, and the next batch is delivered as usual. The
/// items of a batch belong to the callback, so an error that needs them
/// must carry them. (Errors are kept until the driver finishes: a callback
/// of a long-lived waterfall that fails often should deal with its errors
/// itself.)
///
/// # Fairness
///
/// Putters waiting for room are served first come, first served (in the
/// order their `put` was first polled); while any putter waits, `try_put`
/// and new puts cannot overtake it.
///
/// # Cancellation
///
/// Every future is cancel-safe; see [`Put`], [`Driver`] and [`Stop`].
///
/// `Waterfall<T, C>` is `Send` and `Sync` when `T` is `Send` and the clock
/// is `Send` and `Sync`:
///
/// ```compile_fail
/// fn shareable<T: Sync>(_: &T) {}
/// let clock = asyncutils_core::time::ManualClock::new();
/// let wf = asyncutils_core::batch::Waterfall::<std::rc::Rc<u8>, _>::with_clock(
///     2, core::time::Duration::from_secs(1), clock,
/// ).unwrap();
/// shareable(&wf);
/// ```
///
/// # Examples
///
/// See the [module docs](crate::batch).
pub struct Waterfall<T, C> {
    clock: C,
    max_quantity: usize,
    max_wait: Duration,
    capacity: usize,
    inner: Mutex<Inner<T>>,
}

struct Inner<T> {
    /// Items that arrived and are not yet cut into a batch.
    buf: VecDeque<T>,
    /// Arrival instants of the items at positions `k · max_quantity`.
    starts: VecDeque<Instant>,
    state: State,
    /// The driver's waker, while it waits.
    driver_waker: Option<Waker>,
    /// The driver waits for items (not for its callback): wake it on the
    /// first item of a batch and on a batch becoming full.
    driver_idle: bool,
    /// A driver is running (polled and not yet dropped or finished).
    driver_claimed: bool,
    /// Putters waiting for room, holding their items.
    putters_slots: Slots<Waiter<T>>,
    putters: Queue,
    /// Stop futures waiting for the end, and drivers waiting for their turn.
    others: Slots<Option<Waker>>,
    stops: Queue,
    drivers: Queue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    Stopping { deadline: Option<Instant> },
    Finished { dropped: usize },
}

struct Waiter<T> {
    item: Option<T>,
    waker: Option<Waker>,
    status: PutStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PutStatus {
    Waiting,
    /// The item was moved into the buffer.
    Moved,
    /// Stop came first; the item is still in the slot.
    Stopped,
}

// === impl Waterfall ===

impl<T, C: Clock + Default> Waterfall<T, C> {
    /// A waterfall cutting batches of up to `max_quantity` items, each
    /// delivered at most `max_wait` after its first item arrived, on the
    /// default instance of clock `C`; it buffers one batch.
    ///
    /// # Errors
    ///
    /// See [`with_capacity`](Waterfall::with_capacity).
    pub fn new(max_quantity: usize, max_wait: Duration) -> Result<Self, InvalidArgument> {
        Self::with_capacity(max_quantity, max_wait, max_quantity, C::default())
    }
}

impl<T, C: Clock> Waterfall<T, C> {
    /// Like [`new`](Waterfall::new), on `clock`.
    ///
    /// # Errors
    ///
    /// See [`with_capacity`](Waterfall::with_capacity).
    pub fn with_clock(
        max_quantity: usize,
        max_wait: Duration,
        clock: C,
    ) -> Result<Self, InvalidArgument> {
        Self::with_capacity(max_quantity, max_wait, max_quantity, clock)
    }

    /// A waterfall cutting batches of up to `max_quantity` items, each
    /// delivered at most `max_wait` after its first item arrived, that
    /// buffers up to `capacity` items besides the batch being delivered.
    ///
    /// The buffer is allocated here, once.
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] naming `max_quantity` if it is zero, `max_wait`
    /// if it is zero, `capacity` if it is below `max_quantity`.
    pub fn with_capacity(
        max_quantity: usize,
        max_wait: Duration,
        capacity: usize,
        clock: C,
    ) -> Result<Self, InvalidArgument> {
        if max_quantity == 0 {
            return Err(InvalidArgument::new("max_quantity", "at least 1"));
        }
        if max_wait.is_zero() {
            return Err(InvalidArgument::new("max_wait", "greater than zero"));
        }
        if capacity < max_quantity {
            return Err(InvalidArgument::new("capacity", "at least max_quantity"));
        }
        Ok(Waterfall {
            clock,
            max_quantity,
            max_wait,
            capacity,
            inner: Mutex::new(Inner {
                buf: VecDeque::with_capacity(capacity),
                starts: VecDeque::with_capacity(capacity.div_ceil(max_quantity)),
                state: State::Open,
                driver_waker: None,
                driver_idle: false,
                driver_claimed: false,
                putters_slots: Slots::new(),
                putters: Queue::new(),
                others: Slots::new(),
                stops: Queue::new(),
                drivers: Queue::new(),
            }),
        })
    }

    /// The largest batch.
    #[must_use]
    pub fn max_quantity(&self) -> usize {
        self.max_quantity
    }

    /// The longest an item waits for its batch to fill, while the callback
    /// is free.
    #[must_use]
    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }

    /// How many items the buffer holds at most.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The clock the waterfall reads.
    #[must_use]
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// Items in the buffer now (not counting the batch being delivered or
    /// the items of waiting putters).
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner.lock().buf.len()
    }

    /// Whether the buffer is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Putters waiting for room.
    #[must_use]
    pub fn waiting_putters(&self) -> usize {
        self.inner.lock().putters.len()
    }

    /// Whether a stop was requested (new items are refused).
    #[must_use]
    pub fn is_stopped(&self) -> bool {
        !matches!(self.inner.lock().state, State::Open)
    }

    /// Whether the driver has finished: everything was delivered or
    /// dropped.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        matches!(self.inner.lock().state, State::Finished { .. })
    }

    /// Adds `item`, waiting while the buffer is full.
    ///
    /// Resolves to `Err(StoppedError(item))`, giving the item back, if the
    /// waterfall is stopped before the item arrives.
    pub fn put(&self, item: T) -> Put<'_, T, C> {
        Put {
            waterfall: self,
            item: Some(item),
            key: None,
        }
    }

    /// Adds `item` if the buffer has room now.
    ///
    /// # Errors
    ///
    /// Gives the item back in [`TryPutError::Full`] if the buffer is full
    /// (or putters are waiting for room, who come first), in
    /// [`TryPutError::Stopped`] if a stop was requested.
    pub fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
        let mut inner = self.inner.lock();
        if !matches!(inner.state, State::Open) {
            return Err(TryPutError::Stopped(item));
        }
        if inner.buf.len() >= self.capacity {
            return Err(TryPutError::Full(item));
        }
        let waker = self.arrive(&mut inner, item);
        drop(inner);
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Puts `item` in the buffer (the caller checked for room) and returns
    /// the driver's waker if the driver should look.
    fn arrive(&self, inner: &mut Inner<T>, item: T) -> Option<Waker> {
        if inner.buf.len() % self.max_quantity == 0 {
            let now = self.clock.now();
            inner.starts.push_back(now);
        }
        inner.buf.push_back(item);
        let len = inner.buf.len();
        if inner.driver_idle && (len == 1 || len == self.max_quantity) {
            inner.driver_idle = false;
            inner.driver_waker.take()
        } else {
            None
        }
    }

    /// Requests a stop without waiting for it: new items are refused,
    /// waiting putters get their items back, and the driver delivers what
    /// is left, without waiting for `max_wait`, then finishes.
    ///
    /// With a `finalize` duration, whatever is not delivered by then (the
    /// buffer, and the batch the callback is working on, whose callback
    /// future is dropped) is dropped and counted in
    /// [`Drained::dropped`] and [`Report::dropped`]. Without one the driver
    /// takes as long as the callbacks take.
    ///
    /// Requesting again can bring the deadline forward, never back.
    pub fn signal_stop(&self, finalize: Option<Duration>) {
        let now = self.clock.now();
        let deadline = finalize.map(|d| now.saturating_add(d));
        let mut wakers = Vec::new();
        {
            let mut inner = self.inner.lock();
            let inner = &mut *inner;
            match &mut inner.state {
                State::Finished { .. } => return,
                State::Stopping { deadline: old } => {
                    *old = match (*old, deadline) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
                state @ State::Open => *state = State::Stopping { deadline },
            }
            while let Some(key) = inner.putters_slots.pop_front(&mut inner.putters) {
                let waiter = inner.putters_slots.get_mut(key);
                waiter.status = PutStatus::Stopped;
                wakers.extend(waiter.waker.take());
            }
            inner.driver_idle = false;
            wakers.extend(inner.driver_waker.take());
        }
        for w in wakers {
            w.wake();
        }
    }

    /// Stops the waterfall (see [`signal_stop`](Waterfall::signal_stop))
    /// at the first poll, then waits until the driver has finished, and
    /// tells how many items were dropped.
    ///
    /// The driver must be running (or be started) for this to complete.
    pub fn stop(&self, finalize: Option<Duration>) -> Stop<'_, T, C> {
        Stop {
            waterfall: self,
            finalize: Some(finalize),
            key: None,
        }
    }

    /// The future that delivers the batches, calling `callback` with each.
    ///
    /// It runs until the waterfall is stopped and drained, and returns a
    /// [`Report`]. Spawn it, or await it alongside the producers.
    ///
    /// One driver runs at a time: a second driver polled while one runs
    /// waits, without delivering anything, until that one finishes or is
    /// dropped, and then takes over (or, if the first one finished,
    /// finishes at once with an empty report).
    pub fn driver<F, Fut, E>(&self, callback: F) -> Driver<'_, T, C, F, Fut>
    where
        F: FnMut(Vec<T>) -> Fut,
        Fut: Future<Output = Result<(), E>>,
    {
        Driver {
            waterfall: self,
            callback,
            in_flight: None,
            in_flight_len: 0,
            sleep: None,
            sleep_deadline: None,
            turn: Turn::New,
            spare: None,
            wakers: Vec::new(),
            batches: 0,
            items: 0,
            errors: Some(Vec::new()),
        }
    }
}

impl<T, C> fmt::Debug for Waterfall<T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.lock();
        f.debug_struct("Waterfall")
            .field("max_quantity", &self.max_quantity)
            .field("max_wait", &self.max_wait)
            .field("capacity", &self.capacity)
            .field("len", &inner.buf.len())
            .field("waiting_putters", &inner.putters.len())
            .field("state", &inner.state)
            .finish_non_exhaustive()
    }
}

impl<T> Inner<T> {
    /// Wakers of every stop future, once finished.
    fn finish(&mut self, dropped: usize) -> Vec<Waker> {
        self.state = State::Finished { dropped };
        let mut wakers = Vec::new();
        let mut cursor = self.stops.front();
        while let Some(key) = cursor {
            wakers.extend(self.others.get_mut(key).take());
            self.others.unlink(&mut self.stops, key);
            cursor = self.stops.front();
        }
        // Waiting drivers will find the waterfall finished.
        let mut cursor = self.drivers.front();
        while let Some(key) = cursor {
            wakers.extend(self.others.get_mut(key).take());
            self.others.unlink(&mut self.drivers, key);
            cursor = self.drivers.front();
        }
        wakers
    }
}

// === impl Put ===

/// Future returned by [`Waterfall::put`].
///
/// # Panics
///
/// If polled again after it completed.
///
/// # Cancellation
///
/// Dropping it before its item arrived withdraws the item (it is dropped
/// with the future); nothing of it reaches a batch. Once the item has
/// arrived (room was made for it), the put has in effect completed:
/// dropping the future before it reports `Ok` leaves the item in the
/// buffer, where it is delivered like any other. Either way the item is
/// never partly inserted and never lost.
#[must_use = "futures do nothing unless polled"]
pub struct Put<'a, T, C> {
    waterfall: &'a Waterfall<T, C>,
    item: Option<T>,
    key: Option<usize>,
}

impl<T, C> Unpin for Put<'_, T, C> {}

impl<T, C: Clock> Future for Put<'_, T, C> {
    type Output = Result<(), StoppedError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let wf = this.waterfall;
        let mut inner = wf.inner.lock();
        let Some(key) = this.key else {
            let item = this.item.take().expect("`Put` polled after completion");
            if !matches!(inner.state, State::Open) {
                return Poll::Ready(Err(StoppedError(item)));
            }
            if inner.buf.len() < wf.capacity && inner.putters.is_empty() {
                let waker = wf.arrive(&mut inner, item);
                drop(inner);
                if let Some(w) = waker {
                    w.wake();
                }
                return Poll::Ready(Ok(()));
            }
            let inner = &mut *inner;
            let key = inner.putters_slots.insert(Waiter {
                item: Some(item),
                waker: Some(cx.waker().clone()),
                status: PutStatus::Waiting,
            });
            inner.putters_slots.push_back(&mut inner.putters, key);
            this.key = Some(key);
            return Poll::Pending;
        };
        let inner = &mut *inner;
        let waiter = inner.putters_slots.get_mut(key);
        match waiter.status {
            PutStatus::Waiting => {
                set_waker(&mut waiter.waker, cx.waker());
                Poll::Pending
            }
            PutStatus::Moved => {
                inner.putters_slots.remove(&mut inner.putters, key);
                this.key = None;
                Poll::Ready(Ok(()))
            }
            PutStatus::Stopped => {
                let waiter = inner.putters_slots.remove(&mut inner.putters, key);
                this.key = None;
                let item = waiter.item.expect("a stopped put keeps its item");
                Poll::Ready(Err(StoppedError(item)))
            }
        }
    }
}

impl<T, C> Drop for Put<'_, T, C> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let withdrawn = {
            let mut inner = self.waterfall.inner.lock();
            let inner = &mut *inner;
            inner.putters_slots.remove(&mut inner.putters, key)
        };
        // The item, if it never arrived, is dropped here, outside the lock.
        drop(withdrawn);
    }
}

impl<T, C> fmt::Debug for Put<'_, T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Put")
            .field("waiting", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

// === impl Stop ===

/// Future returned by [`Waterfall::stop`].
///
/// The stop is requested at the first poll; the future then waits until
/// the driver has finished.
///
/// # Panics
///
/// If polled again after it completed.
///
/// # Cancellation
///
/// Dropping it never withdraws a stop already requested (the first poll
/// requests it); it only stops waiting for the end.
#[must_use = "futures do nothing unless polled"]
pub struct Stop<'a, T, C> {
    waterfall: &'a Waterfall<T, C>,
    /// The stop to request at the first poll; `None` once requested.
    finalize: Option<Option<Duration>>,
    key: Option<usize>,
}

impl<T, C: Clock> Future for Stop<'_, T, C> {
    type Output = Drained;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Drained> {
        let this = &mut *self;
        if let Some(finalize) = this.finalize.take() {
            this.waterfall.signal_stop(finalize);
        }
        let mut inner = this.waterfall.inner.lock();
        let inner = &mut *inner;
        if let State::Finished { dropped } = inner.state {
            if let Some(key) = this.key.take() {
                inner.others.remove(&mut inner.stops, key);
            }
            return Poll::Ready(Drained { dropped });
        }
        match this.key {
            Some(key) => set_waker(inner.others.get_mut(key), cx.waker()),
            None => {
                let key = inner.others.insert(Some(cx.waker().clone()));
                inner.others.push_back(&mut inner.stops, key);
                this.key = Some(key);
            }
        }
        Poll::Pending
    }
}

impl<T, C> Drop for Stop<'_, T, C> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut inner = self.waterfall.inner.lock();
            let inner = &mut *inner;
            inner.others.remove(&mut inner.stops, key);
        }
    }
}

impl<T, C> fmt::Debug for Stop<'_, T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stop")
            .field("requested", &self.finalize.is_none())
            .finish_non_exhaustive()
    }
}

/// How a stop ended, from [`Stop`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    dropped: usize,
}

impl Drained {
    /// Items put before the stop that were never delivered because the
    /// finalize deadline expired (0 when everything was delivered).
    #[must_use]
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    /// Whether every item was delivered.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.dropped == 0
    }
}

// === impl Driver ===

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Turn {
    /// Not polled yet.
    New,
    /// Waiting for another driver to finish or go away (slot key).
    Waiting(usize),
    /// This is the running driver.
    Running,
    /// Returned its report.
    Done,
}

pin_project! {
    /// Future returned by [`Waterfall::driver`]: delivers the batches and
    /// finishes, with a [`Report`], once the waterfall is stopped and
    /// drained (or its finalize deadline expired).
    ///
    /// It runs the callback for one batch at a time, in order, and never
    /// spawns.
    ///
    /// # Panics
    ///
    /// If polled again after it completed. A panic of the callback (or of
    /// its future) propagates out of `poll`.
    ///
    /// # Cancellation
    ///
    /// Dropping the driver drops the callback future of the batch being
    /// delivered, if any (those items belonged to the callback already);
    /// the items in the buffer stay there, and a new driver carries on
    /// with them.
    #[must_use = "futures do nothing unless polled"]
    pub struct Driver<'a, T, C: Clock, F, Fut: Future> {
        waterfall: &'a Waterfall<T, C>,
        callback: F,
        #[pin]
        in_flight: Option<Fut>,
        in_flight_len: usize,
        #[pin]
        sleep: Option<C::Sleep>,
        sleep_deadline: Option<Instant>,
        turn: Turn,
        // The Vec the next batch is cut into, allocated outside the lock.
        spare: Option<Vec<T>>,
        // Wakers of putters whose items were moved in, woken after unlocking.
        wakers: Vec<Waker>,
        batches: u64,
        items: u64,
        errors: Option<Vec<Fut::Output>>,
    }

    impl<T, C: Clock, F, Fut: Future> PinnedDrop for Driver<'_, T, C, F, Fut> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let waker = {
                let mut inner = this.waterfall.inner.lock();
                let inner = &mut *inner;
                match *this.turn {
                    Turn::Running => {
                        inner.driver_claimed = false;
                        inner.driver_idle = false;
                        inner.driver_waker = None;
                        inner.others.take_first_waker(&inner.drivers)
                    }
                    Turn::Waiting(key) => {
                        // If it was woken for its turn, pass the turn on.
                        let next = inner.others.leave(&mut inner.drivers, key);
                        next.filter(|_| !inner.driver_claimed)
                    }
                    Turn::New | Turn::Done => None,
                }
            };
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
}

/// What to do after looking at the waterfall with the lock held.
enum Step<T> {
    Deliver(Vec<T>),
    Sleep(Instant),
    Wait,
    Expire(VecDeque<T>, usize, Vec<Waker>),
    Finish(Vec<Waker>),
}

impl<T, C, F, Fut, E> Driver<'_, T, C, F, Fut>
where
    C: Clock,
    F: FnMut(Vec<T>) -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    /// Takes this driver's turn, or queues for it. `Ready(false)` if the
    /// waterfall already finished.
    fn claim(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        let this = self.project();
        let mut inner = this.waterfall.inner.lock();
        let inner = &mut *inner;
        if let Turn::Waiting(key) = *this.turn {
            if inner.driver_claimed && !matches!(inner.state, State::Finished { .. }) {
                set_waker(inner.others.get_mut(key), cx.waker());
                return Poll::Pending;
            }
            inner.others.remove(&mut inner.drivers, key);
            *this.turn = Turn::New;
        }
        if matches!(inner.state, State::Finished { .. }) {
            return Poll::Ready(false);
        }
        if inner.driver_claimed {
            let key = inner.others.insert(Some(cx.waker().clone()));
            inner.others.push_back(&mut inner.drivers, key);
            *this.turn = Turn::Waiting(key);
            return Poll::Pending;
        }
        inner.driver_claimed = true;
        *this.turn = Turn::Running;
        Poll::Ready(true)
    }

    fn report(self: Pin<&mut Self>, dropped: usize) -> Report<E> {
        let this = self.project();
        *this.turn = Turn::Done;
        let errors = this
            .errors
            .take()
            .expect("`Driver` polled after completion")
            .into_iter()
            .filter_map(Result::err)
            .collect();
        Report {
            batches: *this.batches,
            items: *this.items,
            dropped,
            errors: ErrorGroup::new("waterfall callback failed", errors),
        }
    }
}

impl<T, C, F, Fut, E> Future for Driver<'_, T, C, F, Fut>
where
    C: Clock,
    F: FnMut(Vec<T>) -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    type Output = Report<E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Report<E>> {
        assert!(self.turn != Turn::Done, "`Driver` polled after completion");
        if self.turn != Turn::Running {
            match self.as_mut().claim(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(false) => return Poll::Ready(self.report(0)),
                Poll::Ready(true) => {}
            }
        }
        loop {
            let mut this = self.as_mut().project();
            let wf = *this.waterfall;
            if let Some(fut) = this.in_flight.as_mut().as_pin_mut() {
                if let Poll::Ready(result) = fut.poll(cx) {
                    this.in_flight.set(None);
                    *this.in_flight_len = 0;
                    if result.is_err() {
                        this.errors
                            .as_mut()
                            .expect("a running driver has its errors")
                            .push(result);
                    }
                    continue;
                }
            }
            let in_flight = this.in_flight.is_some();
            if this.spare.is_none() {
                *this.spare = Some(Vec::with_capacity(wf.max_quantity));
            }
            let now = wf.clock.now();
            let step = {
                let mut inner = wf.inner.lock();
                let inner = &mut *inner;
                let finalize = match inner.state {
                    State::Stopping { deadline } => Some(deadline),
                    _ => None,
                };
                let expired = matches!(finalize, Some(Some(deadline)) if now >= deadline);
                if expired {
                    let dropped = inner.buf.len() + *this.in_flight_len;
                    let items = core::mem::take(&mut inner.buf);
                    inner.starts.clear();
                    let wakers = inner.finish(dropped);
                    Step::Expire(items, dropped, wakers)
                } else if in_flight {
                    // Only a stop matters until the callback returns.
                    inner.driver_idle = false;
                    set_waker(&mut inner.driver_waker, cx.waker());
                    match finalize {
                        Some(Some(deadline)) => Step::Sleep(deadline),
                        _ => Step::Wait,
                    }
                } else if inner.buf.is_empty() {
                    if finalize.is_some() {
                        Step::Finish(inner.finish(0))
                    } else {
                        inner.driver_idle = true;
                        set_waker(&mut inner.driver_waker, cx.waker());
                        Step::Wait
                    }
                } else {
                    let due = inner.starts[0].saturating_add(wf.max_wait);
                    if finalize.is_some() || inner.buf.len() >= wf.max_quantity || now >= due {
                        let n = inner.buf.len().min(wf.max_quantity);
                        let mut batch = this.spare.take().expect("allocated above");
                        batch.extend(inner.buf.drain(..n));
                        inner.starts.pop_front();
                        // Move waiting putters' items into the room made.
                        while inner.buf.len() < wf.capacity {
                            let Some(key) = inner.putters_slots.pop_front(&mut inner.putters)
                            else {
                                break;
                            };
                            let waiter = inner.putters_slots.get_mut(key);
                            let item = waiter.item.take().expect("a waiting put holds its item");
                            waiter.status = PutStatus::Moved;
                            this.wakers.extend(waiter.waker.take());
                            if inner.buf.len() % wf.max_quantity == 0 {
                                inner.starts.push_back(now);
                            }
                            inner.buf.push_back(item);
                        }
                        Step::Deliver(batch)
                    } else {
                        inner.driver_idle = true;
                        set_waker(&mut inner.driver_waker, cx.waker());
                        Step::Sleep(due)
                    }
                }
            };
            match step {
                Step::Deliver(batch) => {
                    for w in this.wakers.drain(..) {
                        w.wake();
                    }
                    *this.batches += 1;
                    *this.items += batch.len() as u64;
                    *this.in_flight_len = batch.len();
                    let fut = (this.callback)(batch);
                    this.in_flight.set(Some(fut));
                    // Loop: poll the callback future at once.
                }
                Step::Sleep(deadline) => {
                    if *this.sleep_deadline != Some(deadline) {
                        this.sleep.set(Some(wf.clock.sleep_until(deadline)));
                        *this.sleep_deadline = Some(deadline);
                    }
                    let sleep = this.sleep.as_mut().as_pin_mut().expect("set above");
                    if sleep.poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    this.sleep.set(None);
                    *this.sleep_deadline = None;
                }
                Step::Wait => {
                    // No deadline to watch: release the timer.
                    this.sleep.set(None);
                    *this.sleep_deadline = None;
                    return Poll::Pending;
                }
                Step::Expire(items, dropped, wakers) => {
                    // User code (the callback future, the items' drops)
                    // runs here, after unlocking.
                    this.in_flight.set(None);
                    *this.in_flight_len = 0;
                    this.sleep.set(None);
                    drop(items);
                    for w in wakers {
                        w.wake();
                    }
                    return Poll::Ready(self.report(dropped));
                }
                Step::Finish(wakers) => {
                    this.sleep.set(None);
                    for w in wakers {
                        w.wake();
                    }
                    return Poll::Ready(self.report(0));
                }
            }
        }
    }
}

impl<T, C: Clock, F, Fut: Future> fmt::Debug for Driver<'_, T, C, F, Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver")
            .field("batches", &self.batches)
            .field("items", &self.items)
            .field("delivering", &self.in_flight.is_some())
            .finish_non_exhaustive()
    }
}

/// What a [`Driver`] did, returned when it finishes.
#[must_use = "the report holds the callback's errors"]
pub struct Report<E> {
    batches: u64,
    items: u64,
    dropped: usize,
    errors: ErrorGroup<E>,
}

impl<E> Report<E> {
    /// Batches handed to the callback.
    pub fn batches(&self) -> u64 {
        self.batches
    }

    /// Items in those batches.
    pub fn items(&self) -> u64 {
        self.items
    }

    /// Items dropped because the finalize deadline of the stop expired:
    /// those still in the buffer and those of the batch whose callback
    /// future was cancelled.
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    /// The callback's errors, in the order of their batches.
    pub fn errors(&self) -> &ErrorGroup<E> {
        &self.errors
    }

    /// `Ok(())` if every callback succeeded and nothing was dropped.
    ///
    /// # Errors
    ///
    /// The report itself otherwise.
    pub fn into_result(self) -> Result<(), Self> {
        if self.errors.is_empty() && self.dropped == 0 {
            Ok(())
        } else {
            Err(self)
        }
    }

    /// The callback's errors, by value.
    pub fn into_errors(self) -> ErrorGroup<E> {
        self.errors
    }
}

impl<E: fmt::Debug> fmt::Debug for Report<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Report")
            .field("batches", &self.batches)
            .field("items", &self.items)
            .field("dropped", &self.dropped)
            .field("errors", &self.errors)
            .finish()
    }
}

// === errors ===

/// The waterfall was stopped before the item arrived; holds the item.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct StoppedError<T>(pub T);

impl<T> StoppedError<T> {
    /// The item given back.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for StoppedError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoppedError(..)")
    }
}

impl<T> fmt::Display for StoppedError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the waterfall is stopped")
    }
}

impl<T> core::error::Error for StoppedError<T> {}

/// Why [`Waterfall::try_put`] refused; holds the item.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TryPutError<T> {
    /// The buffer is full (or putters wait for room).
    Full(T),
    /// A stop was requested.
    Stopped(T),
}

impl<T> TryPutError<T> {
    /// The item given back.
    pub fn into_inner(self) -> T {
        match self {
            TryPutError::Full(v) | TryPutError::Stopped(v) => v,
        }
    }

    /// Whether the buffer was full (rather than the waterfall stopped).
    pub fn is_full(&self) -> bool {
        matches!(self, TryPutError::Full(_))
    }
}

impl<T> fmt::Debug for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryPutError::Full(_) => "Full(..)",
            TryPutError::Stopped(_) => "Stopped(..)",
        })
    }
}

impl<T> fmt::Display for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryPutError::Full(_) => "the waterfall's buffer is full",
            TryPutError::Stopped(_) => "the waterfall is stopped",
        })
    }
}

impl<T> core::error::Error for TryPutError<T> {}
