//! An observable: a value source that observers subscribe to.
//!
//! Implementation notes: the active observers live in an `Arc<Vec<_>>`
//! that is rebuilt (copy on write) whenever the set changes, so starting a
//! notification takes a snapshot by cloning one `Arc`, and observers are
//! called from that snapshot with no lock held: they may subscribe,
//! unsubscribe and notify freely. A notification is run *inside* the
//! future of the `notify` call that started it (the *runner*); a `notify`
//! arriving while a runner is busy (and accumulation is on) leaves its value
//! in a queue that the runner works through before it returns. `running`
//! counts runners; the invariant is "values are queued only while a runner
//! exists", and a runner that is dropped with values still queued wakes the
//! futures waiting for the observable, which take the queue over.
//!
//! Observer calls are type-erased as `Fn(&T, &mut Context) -> Step`: a sync
//! observer completes in the call (`Step::Done`), an async one hands back a
//! boxed future the runner polls. Operators forward into their derived
//! observable by polling its `Notify` inline with the runner's context and
//! boxing it only if it does not complete at once, so a pipeline of sync
//! observers notifies without allocating.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::sync::Weak;
use alloc::vec::Vec;
use core::any::Any;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Waker};
use core::time::Duration;

use crate::error::{BoxError, InvalidArgument};
use crate::loom::{Arc, AtomicBool, AtomicUsize, Mutex, Ordering};
use crate::time::{Clock, Timeout};
use crate::waitlist::{Queue, Slots};

mod engine;
mod futures;
mod observer;
mod operators;
mod stream;
#[cfg(all(test, feature = "std"))]
mod tests;

use engine::{Engine, Purpose};
pub use futures::{
    Flush, Notify, RestartAccumulation, SubscribeWhenIdle, TryNotifyError, UnsubscribeWhenIdle,
    WaitForNext, WaitUntilIdle,
};
pub use observer::{Observer, ObserverHandle, ObserverResult};
pub use operators::Debounce;
pub use stream::Notifications;

/// An observer's pending work.
type BoxFuture = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send + 'static>>;

/// What calling an observer gave.
pub(crate) enum Step {
    /// It finished in the call.
    Done(Result<(), BoxError>),
    /// It goes on in this future.
    Pending(BoxFuture),
}

type Callback<T> = dyn Fn(&T, &mut Context<'_>) -> Step + Send + Sync;

/// The message of the [`ErrorGroup`] a notification fails with.
const FAILED: &str = "observers failed";

// === shared state ===

struct Entry<T> {
    id: u64,
    /// Unsubscribed: calls not yet started are skipped.
    removed: AtomicBool,
    callback: Box<Callback<T>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Active,
    /// Subscribed "eventually" while a notification ran: active from the
    /// next boundary between notifications.
    PendingAdd,
    /// Unsubscribed "eventually": active until the next boundary.
    PendingRemove,
}

struct Record<T> {
    entry: Arc<Entry<T>>,
    /// Notifications left before it removes itself (`ntimes`).
    countdown: Option<usize>,
    status: Status,
}

/// How a notification calls its observers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Concurrent,
    Sequential,
}

struct Waiter {
    waker: Option<Waker>,
    /// Linked in its queue (a woken idle waiter is unlinked until it
    /// waits again).
    queued: bool,
}

type Snapshot<T> = Arc<Vec<Arc<Entry<T>>>>;

struct State<T> {
    /// Every subscription, in subscription order.
    records: Vec<Record<T>>,
    /// The observers a notification starting now calls.
    active: Snapshot<T>,
    next_id: u64,
    /// Records with a countdown.
    counted: usize,
    /// Records with a pending status.
    pending: usize,
    /// Futures currently running notifications.
    running: usize,
    accumulating: bool,
    maxsize: Option<usize>,
    queue: VecDeque<(T, Mode)>,
    waiters: Slots<Waiter>,
    /// `notify` calls waiting for room in a full queue, FIFO.
    room: Queue,
    /// Futures waiting for the observable to be idle.
    idle: Queue,
}

pub(crate) struct Shared<T> {
    state: Mutex<State<T>>,
    /// Subscriptions to the observables this one derives from: dropped
    /// with it, which unsubscribes it upstream.
    upstream: Mutex<Vec<Box<dyn Any + Send + Sync>>>,
    /// `Observable` handles plus feeders (forwarders of the observables it
    /// derives from, a debounce driver): what can still notify it. At zero
    /// the observable closes.
    openers: AtomicUsize,
}

impl<T> Shared<T> {
    fn open(&self) {
        self.openers.fetch_add(1, Ordering::Relaxed);
    }

    /// Drops one opener; the last one closes the observable: every
    /// subscription is removed, and its observer dropped (ending streams
    /// and debounce drivers fed by it).
    fn release(&self) {
        if self.openers.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        let (records, garbage) = {
            let mut state = self.state.lock();
            let records = core::mem::take(&mut state.records);
            for record in &records {
                record.entry.removed.store(true, Ordering::Release);
            }
            state.counted = 0;
            state.pending = 0;
            (records, state.rebuild())
        };
        drop((records, garbage));
    }
}

/// Something that can notify an observable (a forwarder, a driver): keeps
/// it open while it lives.
pub(crate) struct Feeder<T>(Weak<Shared<T>>);

impl<T> Feeder<T> {
    pub(crate) fn new(observable: &Observable<T>) -> Self {
        observable.shared.open();
        Feeder(Arc::downgrade(&observable.shared))
    }

    pub(crate) fn upgrade(&self) -> Option<Arc<Shared<T>>> {
        self.0.upgrade()
    }
}

impl<T> Drop for Feeder<T> {
    fn drop(&mut self) {
        if let Some(shared) = self.0.upgrade() {
            shared.release();
        }
    }
}

/// Garbage collected under the lock and dropped after it: observers are
/// user code and must not run (or be dropped) while a lock is held.
type Garbage<T> = Option<Snapshot<T>>;

impl<T> State<T> {
    fn has_room(&self) -> bool {
        self.maxsize.is_none_or(|max| self.queue.len() < max)
    }

    /// Rebuilds `active` from the records; returns the old snapshot.
    fn rebuild(&mut self) -> Garbage<T> {
        let active: Vec<_> = self
            .records
            .iter()
            .filter(|r| r.status != Status::PendingAdd)
            .map(|r| r.entry.clone())
            .collect();
        Some(core::mem::replace(&mut self.active, Arc::new(active)))
    }

    fn add(
        &mut self,
        callback: Box<Callback<T>>,
        countdown: Option<usize>,
        eventually: bool,
    ) -> (u64, Garbage<T>) {
        let id = self.next_id;
        self.next_id += 1;
        let status = if eventually && self.running > 0 {
            self.pending += 1;
            Status::PendingAdd
        } else {
            Status::Active
        };
        self.counted += usize::from(countdown.is_some());
        self.records.push(Record {
            entry: Arc::new(Entry {
                id,
                removed: AtomicBool::new(false),
                callback,
            }),
            countdown,
            status,
        });
        let garbage = if status == Status::Active {
            self.rebuild()
        } else {
            None
        };
        (id, garbage)
    }

    fn forget_record(&mut self, index: usize) -> Record<T> {
        let record = self.records.remove(index);
        self.counted -= usize::from(record.countdown.is_some());
        self.pending -= usize::from(record.status != Status::Active);
        record
    }

    /// Removes subscription `id` now; `None` if it was not there.
    fn remove(&mut self, id: u64) -> Option<(Record<T>, Garbage<T>)> {
        let index = self.records.iter().position(|r| r.entry.id == id)?;
        let record = self.forget_record(index);
        record.entry.removed.store(true, Ordering::Release);
        let garbage = if record.status == Status::PendingAdd {
            None
        } else {
            self.rebuild()
        };
        Some((record, garbage))
    }

    /// Marks `id` to be removed at the next boundary (now if idle).
    fn remove_eventually(&mut self, id: u64) -> Option<(Record<T>, Garbage<T>)> {
        if self.running == 0 {
            return self.remove(id);
        }
        let index = self.records.iter().position(|r| r.entry.id == id)?;
        match self.records[index].status {
            Status::PendingAdd => self.remove(id),
            Status::Active => {
                self.records[index].status = Status::PendingRemove;
                self.pending += 1;
                None
            }
            Status::PendingRemove => None,
        }
    }

    /// Between two notifications: applies pending additions and removals.
    fn boundary(&mut self) -> (Vec<Record<T>>, Garbage<T>) {
        if self.pending == 0 {
            return (Vec::new(), None);
        }
        let mut removed = Vec::new();
        let mut i = 0;
        while i < self.records.len() {
            match self.records[i].status {
                Status::Active => i += 1,
                Status::PendingAdd => {
                    self.records[i].status = Status::Active;
                    self.pending -= 1;
                    i += 1;
                }
                Status::PendingRemove => {
                    let record = self.forget_record(i);
                    record.entry.removed.store(true, Ordering::Release);
                    removed.push(record);
                }
            }
        }
        (removed, self.rebuild())
    }

    /// The observers of a notification starting now; counts `ntimes`
    /// observers down, removing those whose count runs out (they still see
    /// this notification).
    fn start_value(&mut self) -> (Snapshot<T>, Vec<Record<T>>, Garbage<T>) {
        let snapshot = self.active.clone();
        if self.counted == 0 {
            return (snapshot, Vec::new(), None);
        }
        let mut expired = Vec::new();
        let mut i = 0;
        while i < self.records.len() {
            let record = &mut self.records[i];
            if record.status != Status::PendingAdd {
                if let Some(n) = record.countdown.as_mut() {
                    *n -= 1;
                    if *n == 0 {
                        expired.push(self.forget_record(i));
                        continue;
                    }
                }
            }
            i += 1;
        }
        let garbage = if expired.is_empty() {
            None
        } else {
            self.rebuild()
        };
        (snapshot, expired, garbage)
    }

    /// Wakes the front `notify` waiting for room, keeping its place.
    fn wake_room(&mut self) -> Option<Waker> {
        let key = self.room.front()?;
        self.waiters.get_mut(key).waker.take()
    }

    /// Wakes every idle waiter (they re-check and wait again if needed).
    fn wake_idle(&mut self, wakers: &mut Vec<Waker>) {
        while let Some(key) = self.waiters.pop_front(&mut self.idle) {
            let waiter = self.waiters.get_mut(key);
            waiter.queued = false;
            wakers.extend(waiter.waker.take());
        }
    }
}

fn wake_all(wakers: Vec<Waker>) {
    for w in wakers {
        w.wake();
    }
}

// === Observable ===

/// A source of values of type `T` that observers subscribe to.
///
/// [`notify`](Observable::notify) hands a value to every observer and runs
/// them concurrently inside its own future (nothing is spawned); the future
/// completes once all of them have. Observers are [`sync`](Observer::sync)
/// closures called in the notifier's poll, or [`async`](Observer::new)
/// closures whose futures the notifier polls.
///
/// A `notify` that arrives while another is running is *accumulated*: its
/// value joins a queue and the call returns at once; the running call works
/// through the queue, in order, before it completes. So observers see
/// notifications one at a time and in order. The queue may be bounded
/// ([`with_maxsize`](Observable::with_maxsize)): a `notify` finding it full
/// waits for room. Accumulation can be switched off
/// ([`without_accumulation`](Observable::without_accumulation),
/// [`stop_accumulation`](Observable::stop_accumulation)); concurrent
/// notifications then run independently.
///
/// Subscribing returns an [`ObserverHandle`]; dropping it unsubscribes.
/// Operators ([`filter`](Observable::filter), [`map`](Observable::map),
/// [`debounce`](Observable::debounce), ...) return new observables fed by
/// this one.
///
/// `Observable` is a handle: clones share the same observers and queue.
///
/// # Errors of observers
///
/// An observer may fail (return `Err`). The failures of every notification
/// a `notify` call ran are returned from it as one [`ErrorGroup`](crate::error::ErrorGroup); the
/// other observers run regardless. A derived observable's failures appear
/// as a nested group ([`ErrorGroup::flatten`](crate::error::ErrorGroup::flatten) unnests them).
///
/// # Fairness
///
/// Notifications are delivered in the order their `notify` calls were
/// first polled (with accumulation). Observers are called in subscription
/// order (concurrently, but started in that order). Calls waiting for room
/// in a full queue get it first come, first served.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use asyncutils_core::channels::{Observable, Observer};
///
/// # futures_lite::future::block_on(async {
/// let prices = Observable::new();
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = seen.clone();
/// let handle = prices.subscribe(Observer::sync(move |p: &u32| log.lock().unwrap().push(*p)));
///
/// // A derived observable: only the even prices, doubled.
/// let doubled = prices.filter(|p| p % 2 == 0).map(|p| p * 2);
/// let notifications = async {
///     prices.notify(3).await.unwrap();
///     prices.notify(4).await.unwrap();
/// };
/// // `zip` polls `wait_for_next` first, so it is waiting before 3 and 4 come.
/// let (next, ()) = futures_lite::future::zip(doubled.wait_for_next(), notifications).await;
/// assert_eq!(next, 8);
/// assert_eq!(*seen.lock().unwrap(), [3, 4]);
///
/// assert!(handle.unsubscribe());
/// prices.notify(5).await.unwrap();
/// assert_eq!(*seen.lock().unwrap(), [3, 4]);
/// # });
/// ```
pub struct Observable<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Drop for Observable<T> {
    fn drop(&mut self) {
        self.shared.release();
    }
}

impl<T> Clone for Observable<T> {
    fn clone(&self) -> Self {
        self.shared.open();
        Observable {
            shared: self.shared.clone(),
        }
    }
}

impl<T: Clone + Send + 'static> Default for Observable<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Clone + Send + 'static> Observable<T> {
    /// An observable with no observers that accumulates notifications in
    /// an unbounded queue.
    ///
    /// Raises the audit event `asyncutils.channels.Observable` with
    /// `maxsize` unset.
    #[must_use]
    pub fn new() -> Self {
        Self::build(true, None)
    }

    /// An observable that accumulates at most `maxsize` notifications
    /// behind the running one; a `notify` finding the queue full waits.
    ///
    /// Raises the audit event `asyncutils.channels.Observable` with
    /// `maxsize`.
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] naming `maxsize` if it is zero.
    pub fn with_maxsize(maxsize: usize) -> Result<Self, InvalidArgument> {
        if maxsize == 0 {
            return Err(InvalidArgument::new("maxsize", "at least 1"));
        }
        Ok(Self::build(true, Some(maxsize)))
    }

    /// An observable that does not accumulate: a `notify` arriving while
    /// another runs runs its observers at the same time.
    /// [`start_accumulation`](Observable::start_accumulation) turns
    /// accumulation on (unbounded).
    ///
    /// Raises the audit event `asyncutils.channels.Observable` with
    /// `maxsize` unset.
    #[must_use]
    pub fn without_accumulation() -> Self {
        Self::build(false, None)
    }

    fn build(accumulating: bool, maxsize: Option<usize>) -> Self {
        crate::emit!("asyncutils.channels.Observable", maxsize = maxsize);
        Observable {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    records: Vec::new(),
                    active: Arc::new(Vec::new()),
                    next_id: 0,
                    counted: 0,
                    pending: 0,
                    running: 0,
                    accumulating,
                    maxsize,
                    queue: VecDeque::new(),
                    waiters: Slots::new(),
                    room: Queue::new(),
                    idle: Queue::new(),
                }),
                upstream: Mutex::new(Vec::new()),
                openers: AtomicUsize::new(1),
            }),
        }
    }

    // --- subscribing ---

    fn add(
        &self,
        observer: Observer<T>,
        countdown: Option<usize>,
        eventually: bool,
    ) -> ObserverHandle<T> {
        let (id, garbage) = self
            .shared
            .state
            .lock()
            .add(observer.callback, countdown, eventually);
        drop(garbage);
        ObserverHandle {
            shared: self.shared.clone(),
            id: Some(id),
        }
    }

    /// Subscribes `observer` now. A notification already under way does
    /// not call it; queued and later ones do.
    pub fn subscribe(&self, observer: Observer<T>) -> ObserverHandle<T> {
        self.add(observer, None, false)
    }

    /// Subscribes `observer` at the next boundary between notifications:
    /// now if the observable is idle, else once the notification under way
    /// has completed (before the next queued one starts). Returns at once.
    pub fn subscribe_eventually(&self, observer: Observer<T>) -> ObserverHandle<T> {
        self.add(observer, None, true)
    }

    /// Waits until the observable [is idle](Observable::wait_until_idle),
    /// then subscribes `observer`.
    pub fn subscribe_when_idle(&self, observer: Observer<T>) -> SubscribeWhenIdle<T> {
        SubscribeWhenIdle {
            idle: Engine::new(self.shared.clone(), None, Purpose::Idle),
            observer: Some(observer),
            observable: self.clone(),
        }
    }

    /// Subscribes `observer` now for the next `n` notifications; it removes
    /// itself once the `n`-th starts (and still sees that one).
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] naming `n` if it is zero.
    pub fn ntimes(
        &self,
        observer: Observer<T>,
        n: usize,
    ) -> Result<ObserverHandle<T>, InvalidArgument> {
        if n == 0 {
            return Err(InvalidArgument::new("n", "at least 1"));
        }
        Ok(self.add(observer, Some(n), false))
    }

    pub(crate) fn subscribe_callback(&self, callback: Box<Callback<T>>) -> ObserverHandle<T> {
        self.add(Observer::from_callback(callback), None, false)
    }

    // --- notifying ---

    /// Notifies every observer of `value`, concurrently; see the type docs
    /// for accumulation.
    ///
    /// The future resolves once every notification it ran has completed:
    /// its own, and the ones queued behind it meanwhile. If it found another
    /// notification running (and accumulation on), it queues `value` and
    /// resolves at once with `Ok(())`; the running call reports that
    /// notification's failures.
    pub fn notify(&self, value: T) -> Notify<T> {
        Notify {
            engine: Engine::new(
                self.shared.clone(),
                Some((value, Mode::Concurrent)),
                Purpose::Notify,
            ),
        }
    }

    /// Like [`notify`](Observable::notify), but calls the observers one
    /// after another, in subscription order, each completing before the
    /// next starts. A failing observer does not stop the others.
    pub fn notify_sequential(&self, value: T) -> Notify<T> {
        Notify {
            engine: Engine::new(
                self.shared.clone(),
                Some((value, Mode::Sequential)),
                Purpose::Notify,
            ),
        }
    }

    /// Queues `value` behind the notification under way, without waiting.
    ///
    /// # Errors
    ///
    /// Gives the value back in a [`TryNotifyError`] saying why: nothing is
    /// running to deliver it ([`Idle`](TryNotifyError::Idle): use
    /// [`notify`](Observable::notify)), accumulation is off, or the queue
    /// is full.
    pub fn try_notify(&self, value: T) -> Result<(), TryNotifyError<T>> {
        let mut state = self.shared.state.lock();
        if !state.accumulating {
            return Err(TryNotifyError::NotAccumulating(value));
        }
        if state.running == 0 {
            return Err(TryNotifyError::Idle(value));
        }
        if !state.room.is_empty() || !state.has_room() {
            return Err(TryNotifyError::Full(value));
        }
        state.queue.push_back((value, Mode::Concurrent));
        Ok(())
    }

    /// Runs the queued notifications that nobody is running (left behind by
    /// a cancelled `notify`) and waits until the observable is idle.
    /// Resolves to the failures of the notifications it ran.
    pub fn flush(&self) -> Flush<T> {
        Flush {
            engine: Engine::new(self.shared.clone(), None, Purpose::Flush),
        }
    }

    /// Waits until the observable is idle: no notification running or
    /// queued. Queued notifications that nobody is running (left behind by
    /// a cancelled `notify`) are run by this future.
    ///
    /// Bound the wait with [`time::timeout`](crate::time::timeout).
    pub fn wait_until_idle(&self) -> WaitUntilIdle<T> {
        WaitUntilIdle {
            engine: Engine::new(self.shared.clone(), None, Purpose::Idle),
        }
    }

    /// Waits for the next notification to start after this future is
    /// first polled, and resolves to (a clone of) its value.
    pub fn wait_for_next(&self) -> WaitForNext<T> {
        WaitForNext {
            observable: self.clone(),
            slot: None,
            handle: None,
        }
    }

    /// [`wait_for_next`](Observable::wait_for_next) with a deadline
    /// `timeout` from now on `clock`: resolves to `Err(Elapsed)` if no
    /// notification starts in time.
    pub fn wait_for_next_timeout<C: Clock + ?Sized>(
        &self,
        clock: &C,
        timeout: Duration,
    ) -> Timeout<WaitForNext<T>, C::Sleep> {
        crate::time::timeout(clock, timeout, self.wait_for_next())
    }

    /// A stream of every notification from now on, buffering up to
    /// `capacity` values; see [`Notifications`].
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] naming `capacity` if it is zero.
    pub fn stream(&self, capacity: usize) -> Result<Notifications<T>, InvalidArgument> {
        Notifications::new(self, capacity)
    }

    // --- accumulation ---

    /// Turns accumulation on; `false` if it already was.
    pub fn start_accumulation(&self) -> bool {
        let mut state = self.shared.state.lock();
        !core::mem::replace(&mut state.accumulating, true)
    }

    /// Turns accumulation off; `false` if it already was. Notifications
    /// already queued still run.
    pub fn stop_accumulation(&self) -> bool {
        let (was, waker) = {
            let mut state = self.shared.state.lock();
            // Whoever waits for room may now run at once.
            let waker = state.wake_room();
            (core::mem::replace(&mut state.accumulating, false), waker)
        };
        if let Some(w) = waker {
            w.wake();
        }
        was
    }

    /// Restarts accumulation. With `flush`, first completes every queued
    /// notification (as [`flush`](Observable::flush) does, reporting the
    /// failures of those it ran); without, drops the queued notifications.
    /// Then turns accumulation on.
    pub fn restart_accumulation(&self, flush: bool) -> RestartAccumulation<T> {
        RestartAccumulation {
            engine: Engine::new(self.shared.clone(), None, Purpose::Flush),
            flush,
            started: false,
        }
    }

    // --- introspection ---

    /// No notification is running or queued.
    #[must_use]
    pub fn is_idle(&self) -> bool {
        let state = self.shared.state.lock();
        state.running == 0 && state.queue.is_empty()
    }

    /// A notification is running or queued (the opposite of
    /// [`is_idle`](Observable::is_idle)).
    #[must_use]
    pub fn is_notifying(&self) -> bool {
        !self.is_idle()
    }

    /// Whether accumulation is on.
    #[must_use]
    pub fn is_accumulating(&self) -> bool {
        self.shared.state.lock().accumulating
    }

    /// The bound of the queue, if any.
    #[must_use]
    pub fn maxsize(&self) -> Option<usize> {
        self.shared.state.lock().maxsize
    }

    /// Notifications queued behind the running one.
    #[must_use]
    pub fn queued(&self) -> usize {
        self.shared.state.lock().queue.len()
    }

    /// Subscribed observers, including those waiting for the next boundary
    /// to be added.
    #[must_use]
    pub fn observer_count(&self) -> usize {
        self.shared.state.lock().records.len()
    }

    /// Keeps `handle` alive as long as this observable.
    pub(crate) fn hold_upstream(&self, handle: Box<dyn Any + Send + Sync>) {
        self.shared.upstream.lock().push(handle);
    }
}

impl<T> fmt::Debug for Observable<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state.lock();
        f.debug_struct("Observable")
            .field("observers", &state.records.len())
            .field("running", &state.running)
            .field("queued", &state.queue.len())
            .field("accumulating", &state.accumulating)
            .field("maxsize", &state.maxsize)
            .finish()
    }
}
