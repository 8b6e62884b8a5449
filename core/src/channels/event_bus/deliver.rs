//! Delivering one publication: the inline pass and the concurrent pass.
//!
//! Implementation notes: a publication first takes one short lock to read
//! the middleware chain and the subscriber lists of its event type and of
//! the wildcards (clones of `Arc`s), then releases it. With no lock held it
//! runs the middlewares, then walks the lists in order: synchronous
//! subscribers are called right there, stream queues with room get their
//! item, and asynchronous subscribers (and pushes into full queues) are set
//! aside. Pattern subscribers are read one prefix at a time, each under its
//! own short lock. When every subscriber is synchronous that is the whole
//! publication: no allocation, no waiting.
//!
//! The set-aside asynchronous subscribers are then started as permits of
//! the bus-wide `max_concurrent` limit allow, and their futures polled from
//! the publication's own future (nothing is spawned). A permit is released
//! when its callback completes or is dropped.

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use pin_project_lite::pin_project;
use slab::Slab;

use super::registry::{AsyncFn, BoxFuture, Callback, Entry, prefixes_of};
use super::stream::{Push, TryPush};
use super::{Closed, PublishError, Shared};
use crate::error::{BoxError, ErrorGroup};
use crate::loom::{Arc, Mutex, Ordering};
use crate::time::Clock;

// === Watchers ===

/// Wakers of tasks waiting for a condition of the bus (a free permit, the
/// bus going idle or closed, work for a driver).
pub(super) struct Watchers(Mutex<Slab<Option<Waker>>>);

impl Watchers {
    pub(super) fn new() -> Self {
        Watchers(Mutex::new(Slab::new()))
    }

    pub(super) fn register(&self, key: &mut Option<usize>, waker: &Waker) {
        let mut slab = self.0.lock();
        match *key {
            Some(k) => match &mut slab[k] {
                Some(w) => w.clone_from(waker),
                slot @ None => *slot = Some(waker.clone()),
            },
            None => *key = Some(slab.insert(Some(waker.clone()))),
        }
    }

    /// Forgets `key`. With `pass_on`, a wake-up it received and did not act
    /// on goes to another watcher.
    pub(super) fn remove(&self, key: &mut Option<usize>, pass_on: bool) {
        let Some(k) = key.take() else { return };
        let waker = {
            let mut slab = self.0.lock();
            let had = slab.remove(k).is_some();
            if pass_on && !had {
                slab.iter_mut().find_map(|(_, w)| w.take())
            } else {
                None
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    pub(super) fn wake_one(&self) {
        let waker = self.0.lock().iter_mut().find_map(|(_, w)| w.take());
        if let Some(w) = waker {
            w.wake();
        }
    }

    pub(super) fn wake_all(&self) {
        loop {
            let mut batch: [Option<Waker>; 8] = Default::default();
            let mut n = 0;
            {
                let mut slab = self.0.lock();
                for (_, w) in slab.iter_mut() {
                    if n == batch.len() {
                        break;
                    }
                    if let Some(w) = w.take() {
                        batch[n] = Some(w);
                        n += 1;
                    }
                }
            }
            if n == 0 {
                return;
            }
            for w in batch.into_iter().flatten() {
                w.wake();
            }
        }
    }
}

// === permits ===

impl<T, C> Shared<T, C> {
    fn try_acquire(&self) -> bool {
        let max = self.max_concurrent;
        self.active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |a| {
                (a < max).then_some(a + 1)
            })
            .is_ok()
    }

    fn release(&self) {
        let before = self.active.fetch_sub(1, Ordering::AcqRel);
        self.permit_waiters.wake_one();
        if before == 1 {
            self.idle.wake_all();
        }
    }
}

// === Delivery ===

struct Running {
    future: BoxFuture,
    /// Holds a permit (asynchronous subscriber) or not (a stream push).
    permit: bool,
}

/// The part of a publication that may have to wait: asynchronous
/// subscribers not yet started, and futures running.
pub(super) struct Delivery<'a, T> {
    event: Cow<'a, str>,
    /// The data, kept while asynchronous subscribers remain to start.
    data: Option<T>,
    pending: VecDeque<Arc<AsyncFn<T>>>,
    running: Vec<Running>,
    waiter: Option<usize>,
}

/// Where the errors of subscribers go; returns whether to go on.
pub(super) type Sink<'s> = &'s mut dyn FnMut(BoxError) -> bool;

impl<'a, T: Clone + Send + 'static> Delivery<'a, T> {
    fn new(event: &'a str) -> Self {
        Delivery {
            event: Cow::Borrowed(event),
            data: None,
            pending: VecDeque::new(),
            running: Vec::new(),
            waiter: None,
        }
    }

    pub(super) fn is_done(&self) -> bool {
        self.pending.is_empty() && self.running.is_empty()
    }

    pub(super) fn into_owned(self) -> Delivery<'static, T> {
        let mut this = core::mem::ManuallyDrop::new(self);
        Delivery {
            event: Cow::Owned(core::mem::take(&mut this.event).into_owned()),
            data: this.data.take(),
            pending: core::mem::take(&mut this.pending),
            running: core::mem::take(&mut this.running),
            waiter: this.waiter.take(),
        }
    }

    /// Calls or sets aside each subscriber of `list`. `false` if the sink
    /// asked to stop.
    fn visit(&mut self, list: &[Entry<T>], data: &T, sink: Sink<'_>) -> bool {
        for entry in list {
            match &entry.callback {
                Callback::Sync(f) => {
                    if let Err(e) = f(&self.event, data) {
                        if !sink(e) {
                            return false;
                        }
                    }
                }
                Callback::Async(f) => {
                    if self.pending.capacity() == 0 {
                        self.pending.reserve(list.len());
                    }
                    self.pending.push_back(f.clone());
                }
                Callback::Stream(q) => {
                    if let TryPush::Full(item) = q.try_push(data.clone(), true) {
                        self.push_later(Push::new(q.clone(), item, true));
                    }
                }
                Callback::AllStream(q) => {
                    let item = (Arc::from(&*self.event), data.clone());
                    if let TryPush::Full(item) = q.try_push(item, true) {
                        self.push_later(Push::new(q.clone(), item, true));
                    }
                }
            }
        }
        true
    }

    fn push_later<I: Send + 'static>(&mut self, push: Push<I>) {
        self.running.push(Running {
            future: Box::pin(async move {
                // A push refused by a closed queue is dropped: nobody reads.
                let _ = push.await;
                Ok(())
            }),
            permit: false,
        });
    }

    /// Starts pending subscribers as permits allow and polls the running
    /// ones; `Ready` once all completed, or as soon as the sink says stop.
    pub(super) fn poll_run<C>(
        &mut self,
        bus: &Shared<T, C>,
        cx: &mut Context<'_>,
        sink: Sink<'_>,
    ) -> Poll<()> {
        if self.running.capacity() == 0 {
            self.running.reserve(self.pending.len());
        }
        loop {
            while !self.pending.is_empty() {
                if !bus.try_acquire() {
                    bus.permit_waiters.register(&mut self.waiter, cx.waker());
                    if !bus.try_acquire() {
                        break;
                    }
                }
                bus.permit_waiters.remove(&mut self.waiter, false);
                let f = self.pending.pop_front().expect("checked non-empty");
                let data = if self.pending.is_empty() {
                    self.data.take().expect("data kept for pending subscribers")
                } else {
                    self.data
                        .clone()
                        .expect("data kept for pending subscribers")
                };
                let future = f(&self.event, data);
                self.running.push(Running {
                    future,
                    permit: true,
                });
            }
            let mut freed = false;
            let mut i = 0;
            while i < self.running.len() {
                match self.running[i].future.as_mut().poll(cx) {
                    Poll::Ready(result) => {
                        let done = self.running.swap_remove(i);
                        if done.permit {
                            bus.release();
                            freed = true;
                        }
                        drop(done);
                        if let Err(e) = result {
                            if !sink(e) {
                                return Poll::Ready(());
                            }
                        }
                    }
                    Poll::Pending => i += 1,
                }
            }
            if self.is_done() {
                bus.permit_waiters.remove(&mut self.waiter, false);
                return Poll::Ready(());
            }
            if !freed || self.pending.is_empty() {
                return Poll::Pending;
            }
        }
    }
}

// === the inline pass ===

impl<T: Clone + Send + 'static, C> Shared<T, C> {
    /// Runs middlewares and synchronous subscribers; returns what is left.
    pub(super) fn begin<'e>(
        &self,
        event: &'e str,
        data: T,
        sink: Sink<'_>,
    ) -> Result<Delivery<'e, T>, Closed> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Closed);
        }
        let (chain, exact, wildcards, prefixes) = {
            let mut state = self.state.lock();
            if state.tracking {
                match state.stats.get_mut(event) {
                    Some(n) => *n += 1,
                    None => {
                        state.stats.insert(Arc::from(event), 1);
                    }
                }
            }
            (
                state.middlewares.snapshot(),
                state.registry.exact(event),
                state.registry.wildcards(),
                state.registry.has_prefixes(),
            )
        };
        let mut data = data;
        if let Some(chain) = chain {
            for mw in chain.iter() {
                data = mw(event, data);
            }
        }
        let mut delivery = Delivery::new(event);
        let mut go_on = true;
        if let Some(list) = exact {
            go_on = delivery.visit(&list, &data, sink);
        }
        if go_on && prefixes {
            for prefix in prefixes_of(event) {
                let list = self.state.lock().registry.prefix(prefix);
                if let Some(list) = list {
                    go_on = delivery.visit(&list, &data, sink);
                    if !go_on {
                        break;
                    }
                }
            }
        }
        if go_on {
            if let Some(list) = wildcards {
                delivery.visit(&list, &data, sink);
            }
        }
        if !delivery.pending.is_empty() {
            delivery.data = Some(data);
        }
        Ok(delivery)
    }

    /// Errors of a publication nobody awaits go to the handler.
    pub(super) fn handle(&self, error: BoxError) -> bool {
        if let Some(handler) = &self.handler {
            handler(error);
        }
        true
    }

    pub(super) fn start_publish(&self, event: &str, data: T) -> Result<(), Closed> {
        let delivery = self.begin(event, data, &mut |e| self.handle(e))?;
        if !delivery.is_done() {
            self.state.lock().detached.push(delivery.into_owned());
            self.drivers.wake_all();
        }
        Ok(())
    }
}

// === Publish ===

pin_project! {
    /// Future returned by [`EventBus::publish`](super::EventBus::publish):
    /// delivers one event and waits for every subscriber.
    ///
    /// Builder methods set the options before the first poll:
    /// [`timeout`](Publish::timeout), [`chaperone`](Publish::chaperone),
    /// [`fail_fast`](Publish::fail_fast).
    ///
    /// Resolves to `Ok(())` when every subscriber succeeded (or each error
    /// went to the chaperone), [`PublishError::Failed`] with the errors,
    /// flattened, otherwise.
    ///
    /// # Panics
    ///
    /// If polled again after it completed.
    ///
    /// # Cancellation
    ///
    /// The publication starts at the first poll: middlewares and
    /// synchronous subscribers run inside it. Dropping the future after
    /// that drops the asynchronous subscribers' futures still running
    /// (releasing their permits) and skips those not yet started; pushes
    /// into full stream queues are withdrawn. Dropping it before the first
    /// poll publishes nothing.
    #[must_use = "futures do nothing unless polled"]
    pub struct Publish<'a, T, C: Clock> {
        bus: &'a Shared<T, C>,
        event: &'a str,
        data: Option<T>,
        delivery: Option<Delivery<'a, T>>,
        errors: Vec<BoxError>,
        chaperone: Option<Box<dyn FnMut(BoxError) + Send + 'a>>,
        fail_fast: bool,
        timeout: Option<Duration>,
        done: bool,
        #[pin]
        sleep: Option<C::Sleep>,
    }

    impl<T, C: Clock> PinnedDrop for Publish<'_, T, C> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(mut d) = this.delivery.take() {
                d.cancel_erased(*this.bus);
            }
        }
    }
}

impl<T> Delivery<'_, T> {
    /// Drops what is still running, releasing its permits.
    pub(super) fn cancel_erased<C>(&mut self, bus: &Shared<T, C>) {
        for r in self.running.drain(..) {
            let permit = r.permit;
            drop(r);
            if permit {
                bus.release();
            }
        }
        self.pending.clear();
        self.data = None;
        bus.permit_waiters.remove(&mut self.waiter, true);
    }
}

impl<T> Drop for Delivery<'_, T> {
    fn drop(&mut self) {
        debug_assert!(
            self.running.iter().all(|r| !r.permit),
            "a delivery holding permits must be cancelled through its bus"
        );
    }
}

impl<'a, T, C: Clock> Publish<'a, T, C> {
    pub(super) fn new(bus: &'a Shared<T, C>, event: &'a str, data: T) -> Self {
        Publish {
            bus,
            event,
            data: Some(data),
            delivery: None,
            errors: Vec::new(),
            chaperone: None,
            fail_fast: false,
            timeout: None,
            done: false,
            sleep: None,
        }
    }

    /// Gives up after `d`, counted from the first poll: the subscribers'
    /// futures still running are dropped and the publication resolves to
    /// [`PublishError::TimedOut`] with the errors collected so far.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// Hands each subscriber error to `chaperone` as it happens instead of
    /// collecting them: the publication then resolves to `Ok(())` whatever
    /// the subscribers do.
    pub fn chaperone(mut self, chaperone: impl FnMut(BoxError) + Send + 'a) -> Self {
        self.chaperone = Some(Box::new(chaperone));
        self
    }

    /// Stops at the first subscriber error: subscribers not yet called are
    /// skipped, running ones dropped, and the publication resolves to
    /// [`PublishError::Failed`] with that one error. (The default collects
    /// every error and lets every subscriber run.) Ignored with a
    /// chaperone.
    pub fn fail_fast(mut self) -> Self {
        self.fail_fast = true;
        self
    }
}

impl<T: Clone + Send + 'static, C: Clock> Future for Publish<'_, T, C> {
    type Output = Result<(), PublishError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        assert!(!*this.done, "`Publish` polled after completion");
        let errors = &mut *this.errors;
        let chaperone = &mut *this.chaperone;
        let fail_fast = *this.fail_fast;
        let mut sink = |e: BoxError| match chaperone {
            Some(c) => {
                c(e);
                true
            }
            None => {
                errors.push(e);
                !fail_fast
            }
        };
        if let Some(data) = this.data.take() {
            match this.bus.begin(this.event, data, &mut sink) {
                Ok(d) => *this.delivery = Some(d),
                Err(Closed) => {
                    *this.done = true;
                    return Poll::Ready(Err(PublishError::Closed));
                }
            }
            if let Some(d) = *this.timeout {
                this.sleep.set(Some(this.bus.clock.sleep(d)));
            }
        }
        let delivery = this.delivery.as_mut().expect("started above");
        let stopped = fail_fast && this.chaperone.is_none() && !this.errors.is_empty();
        let finished = stopped || {
            let errors = &mut *this.errors;
            let chaperone = &mut *this.chaperone;
            let mut sink = |e: BoxError| match chaperone {
                Some(c) => {
                    c(e);
                    true
                }
                None => {
                    errors.push(e);
                    !fail_fast
                }
            };
            delivery.poll_run(this.bus, cx, &mut sink).is_ready()
        };
        let timed_out = !finished
            && this
                .sleep
                .as_mut()
                .as_pin_mut()
                .is_some_and(|s| s.poll(cx).is_ready());
        if !finished && !timed_out {
            return Poll::Pending;
        }
        let mut delivery = this.delivery.take().expect("started above");
        delivery.cancel_erased(this.bus);
        *this.done = true;
        this.sleep.set(None);
        let errors = core::mem::take(this.errors);
        if !timed_out && errors.is_empty() {
            return Poll::Ready(Ok(()));
        }
        let n = errors.len();
        let noun = if n == 1 { "subscriber" } else { "subscribers" };
        let group = ErrorGroup::new(
            alloc::format!("{n} {noun} of `{}` failed", this.event),
            errors,
        )
        .flatten();
        Poll::Ready(Err(if timed_out {
            PublishError::TimedOut(group)
        } else {
            PublishError::Failed(group)
        }))
    }
}

impl<T, C: Clock> fmt::Debug for Publish<'_, T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publish")
            .field("event_type", &self.event)
            .field("started", &self.data.is_none())
            .field("errors", &self.errors.len())
            .finish_non_exhaustive()
    }
}

// === Driver ===

/// Future returned by [`EventBus::driver`](super::EventBus::driver): runs
/// the asynchronous subscribers of publications nobody awaits
/// ([`start_publish`](super::EventBus::start_publish) and the audit
/// bridge), reporting their errors to the bus's error handler.
///
/// Completes once the bus is shut down and nothing is left to run. Spawn
/// it (an adapter may do so for you), or poll it alongside your own work.
/// Several drivers may run; each takes its share of the work.
///
/// # Cancellation
///
/// Dropping it drops the subscriber futures it was running (they do not
/// move to another driver); publications handed out after the drop wait
/// for the next driver.
#[must_use = "futures do nothing unless polled"]
pub struct Driver<'a, T, C> {
    bus: &'a Shared<T, C>,
    deliveries: Vec<Delivery<'static, T>>,
    key: Option<usize>,
}

impl<T, C> Unpin for Driver<'_, T, C> {}

impl<'a, T, C> Driver<'a, T, C> {
    pub(super) fn new(bus: &'a Shared<T, C>) -> Self {
        Driver {
            bus,
            deliveries: Vec::new(),
            key: None,
        }
    }

    /// Publications this driver is running now.
    #[must_use]
    pub fn in_progress(&self) -> usize {
        self.deliveries.len()
    }
}

impl<T: Clone + Send + 'static, C> Future for Driver<'_, T, C> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let bus = this.bus;
        bus.drivers.register(&mut this.key, cx.waker());
        {
            let mut state = bus.state.lock();
            this.deliveries.append(&mut state.detached);
        }
        let mut sink = |e| bus.handle(e);
        this.deliveries
            .retain_mut(|d| d.poll_run(bus, cx, &mut sink).is_pending());
        if this.deliveries.is_empty() && bus.closed.load(Ordering::Acquire) {
            bus.drivers.remove(&mut this.key, false);
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl<T, C> Drop for Driver<'_, T, C> {
    fn drop(&mut self) {
        for mut d in self.deliveries.drain(..) {
            d.cancel_erased(self.bus);
        }
        self.bus.drivers.remove(&mut self.key, true);
    }
}

impl<T, C> fmt::Debug for Driver<'_, T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver")
            .field("in_progress", &self.deliveries.len())
            .finish()
    }
}
