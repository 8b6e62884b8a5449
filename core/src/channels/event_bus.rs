//! A publish/subscribe event bus with middlewares, event streams,
//! statistics and an audit bridge.
//!
//! Implementation notes: the bus is an `Arc` of shared state, so
//! [`Subscription`] handles and the audit listener can hold a weak
//! reference. Subscriber lists are copy-on-write `Arc<[_]>` per topic:
//! publishing clones the `Arc`s it needs under one short lock and delivers
//! with no lock held (see `deliver`). Subscriber callbacks run inside the
//! publisher's future, never on a spawned task; the one piece of background
//! work — asynchronous subscribers of publications nobody awaits — is the
//! [`Driver`] future the bus hands out.
//!
//! # Examples
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use asyncutils_core::channels::EventBus;
//! use asyncutils_core::time::ManualClock;
//! use futures_lite::{StreamExt, future};
//!
//! # future::block_on(async {
//! let bus: EventBus<u32, ManualClock> = EventBus::new();
//! let seen = Arc::new(Mutex::new(Vec::new()));
//!
//! // A synchronous subscriber of one event type...
//! let log = seen.clone();
//! let _orders = bus.subscribe("shop.order", move |n: &u32| log.lock().unwrap().push(*n))?;
//! // ...and an asynchronous one for every `shop.*` event.
//! let _audit = bus.subscribe_pattern_async("shop.*", |event, n: u32| async move {
//!     if n > 100 { Err(format!("{event}: {n} is too many")) } else { Ok(()) }
//! })?;
//! // A middleware doubles every value before subscribers see it.
//! bus.add_middleware(|_event, n: u32| n * 2);
//!
//! bus.publish("shop.order", 3).await?;
//! assert_eq!(*seen.lock().unwrap(), [6]);
//!
//! // Subscriber errors come back to the publisher, as one group.
//! let err = bus.publish("shop.order", 60).await.unwrap_err();
//! assert_eq!(err.errors().unwrap().len(), 1);
//!
//! // An event stream sees what is published while it is open.
//! let mut orders = bus.event_stream("shop.order")?;
//! bus.publish("shop.order", 5).await?;
//! assert_eq!(orders.next().await, Some(10));
//!
//! bus.shutdown().await?;
//! assert!(bus.publish("shop.order", 1).await.is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::sync::Weak;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::marker::PhantomData;

use crate::audit::{SubscriptionId, Value};
use crate::error::{BoxError, InvalidArgument};
use crate::loom::{Arc, AtomicBool, AtomicUsize, Mutex, Ordering};
use crate::time::Clock;

mod deliver;
mod error;
mod observe;
mod registry;
mod stream;
mod stream_api;
mod wait;

#[cfg(all(test, feature = "std"))]
mod tests;

pub use deliver::{Driver, Publish};
pub use error::{Closed, PublishError};
pub use observe::{AuditScope, StatsScope};
pub use registry::{MiddlewareCookie, SubscriberResult, Subscription};
pub use stream::{DEFAULT_STREAM_BUFFER, EventStream, Feed, FeedError, StreamEnd, StreamOptions};
pub use wait::{MadePermanent, MiddlewareUntil, Shutdown, SubscribeUntil, WaitError, WaitForEvent};

use deliver::{Delivery, Watchers};
use registry::{
    AsyncFn, BoxFuture, Callback, Entry, MiddlewareFn, Middlewares, Owner, Registry, Selector,
    SyncFn, Topic, parse_selector,
};
use stream::{CloseMode, StreamQueue};
use wait::WaitSlot;

/// Default bus-wide limit on asynchronous subscriber callbacks running at
/// once.
pub const DEFAULT_MAX_CONCURRENT: usize = 128;

/// The catch-all [`EventStream`] from [`EventBus::all_events`]: items are
/// `(event_type, data)`.
pub type AllEvents<'a, T, C> = EventStream<'a, T, C, (Arc<str>, T)>;

/// Publication counts per event type, from the statistics methods.
pub type EventStats = BTreeMap<Arc<str>, u64>;

type Handler = Box<dyn Fn(BoxError) + Send + Sync>;

/// A publish/subscribe hub: data published under an event type (a string
/// such as `"shop.order"`) passes through the middlewares, then reaches
/// every subscriber of that type, of a matching pattern (`"shop.*"`) and of
/// every event (`"*"`).
///
/// * **Subscribers** are synchronous (`Fn(&T)`, called inline during the
///   publication, no allocation) or asynchronous (`Fn(T) -> impl Future`,
///   started up to the bus-wide
///   [`max_concurrent`](EventBusBuilder::max_concurrent) limit and polled
///   concurrently inside the publication's future). A subscriber returns
///   `()` or `Result<(), E>`; errors go back to the publisher as one
///   [`ErrorGroup`](crate::error::ErrorGroup). Subscribing returns a [`Subscription`]: drop it to
///   unsubscribe.
/// * **Data**: synchronous subscribers borrow the data, asynchronous ones
///   and streams each get a clone (use an `Arc` for costly data).
/// * **Middlewares** (`Fn(&str, T) -> T`) run in insertion order before
///   any subscriber; subscribers never see the original data.
/// * **Publishing** awaits every subscriber ([`publish`](EventBus::publish),
///   with timeout, chaperone and fail-fast options) or only starts the
///   publication from synchronous code ([`start_publish`](EventBus::start_publish);
///   its asynchronous part runs in the [`Driver`]).
/// * **Event streams** ([`event_stream`](EventBus::event_stream),
///   [`all_events`](EventBus::all_events)), one-shot waits
///   ([`wait_for_event`](EventBus::wait_for_event)), statistics,
///   the audit bridge and graceful [`shutdown`](EventBus::shutdown).
///
/// `C` is the clock timeouts are measured on.
///
/// # Order
///
/// Within a publication, subscribers are called (synchronous ones) or
/// started (asynchronous ones) in this order: subscribers of the event
/// type, then of matching patterns from the shortest prefix to the longest,
/// then wildcards; each group in subscription order. Asynchronous
/// subscribers run concurrently, so they may complete in any order.
/// Publications from one task reach a synchronous subscriber in publication
/// order. A subscriber added or removed while a publication is under way
/// may or may not receive that publication.
///
/// # Fairness
///
/// Publications waiting for a permit of the `max_concurrent` limit are
/// woken one per freed permit, in no guaranteed order.
pub struct EventBus<T, C> {
    shared: Arc<Shared<T, C>>,
}

struct Shared<T, C> {
    name: Option<Cow<'static, str>>,
    clock: C,
    max_concurrent: usize,
    handler: Option<Handler>,
    state: Mutex<State<T>>,
    closed: AtomicBool,
    active: AtomicUsize,
    permit_waiters: Watchers,
    idle: Watchers,
    close_watchers: Watchers,
    drivers: Watchers,
}

struct StreamSlot<I> {
    queue: Arc<StreamQueue<I>>,
    /// The subscription feeding it, while a stream reads it.
    subscription: Option<u64>,
}

struct State<T> {
    registry: Registry<T>,
    next_id: u64,
    middlewares: Middlewares<T>,
    tracking: bool,
    stats: EventStats,
    streams: BTreeMap<Arc<str>, StreamSlot<T>>,
    all_stream: Option<StreamSlot<(Arc<str>, T)>>,
    audit: Option<SubscriptionId>,
    detached: Vec<Delivery<'static, T>>,
}

impl<T> State<T> {
    fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }
}

// === builder ===

/// Configures an [`EventBus`]; from [`EventBus::builder`].
pub struct EventBusBuilder<T, C> {
    name: Option<Cow<'static, str>>,
    max_concurrent: usize,
    handler: Option<Handler>,
    track_stats: bool,
    _bus: PhantomData<fn() -> (T, C)>,
}

impl<T, C> Default for EventBusBuilder<T, C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, C> EventBusBuilder<T, C> {
    /// Default settings: unnamed, no handler, [`DEFAULT_MAX_CONCURRENT`],
    /// no statistics.
    #[must_use]
    pub fn new() -> Self {
        EventBusBuilder {
            name: None,
            max_concurrent: DEFAULT_MAX_CONCURRENT,
            handler: None,
            track_stats: false,
            _bus: PhantomData,
        }
    }

    /// The bus's name, shown in `Debug` and in its audit event.
    #[must_use]
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Receives the errors of subscribers of publications nobody awaits
    /// ([`start_publish`](EventBus::start_publish), the audit bridge). By
    /// default they are dropped.
    #[must_use]
    pub fn handler(mut self, handler: impl Fn(BoxError) + Send + Sync + 'static) -> Self {
        self.handler = Some(Box::new(handler));
        self
    }

    /// At most `n` asynchronous subscriber callbacks run at once on the
    /// bus, across all publications (default [`DEFAULT_MAX_CONCURRENT`]).
    #[must_use]
    pub fn max_concurrent(mut self, n: usize) -> Self {
        self.max_concurrent = n;
        self
    }

    /// Count publications per event type from the start.
    #[must_use]
    pub fn track_stats(mut self, on: bool) -> Self {
        self.track_stats = on;
        self
    }

    /// Builds the bus on the default instance of clock `C`.
    ///
    /// # Errors
    ///
    /// See [`build_with_clock`](EventBusBuilder::build_with_clock).
    pub fn build(self) -> Result<EventBus<T, C>, InvalidArgument>
    where
        C: Clock + Default,
    {
        self.build_with_clock(C::default())
    }

    /// Builds the bus on `clock`.
    ///
    /// Raises the audit event `asyncutils.channels.EventBus` with `name`
    /// and `addr`.
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] naming `max_concurrent` if it is zero.
    pub fn build_with_clock(self, clock: C) -> Result<EventBus<T, C>, InvalidArgument> {
        if self.max_concurrent == 0 {
            return Err(InvalidArgument::new("max_concurrent", "at least 1"));
        }
        let shared = Arc::new(Shared {
            name: self.name,
            clock,
            max_concurrent: self.max_concurrent,
            handler: self.handler,
            state: Mutex::new(State {
                registry: Registry::new(),
                next_id: 0,
                middlewares: Middlewares::new(),
                tracking: self.track_stats,
                stats: BTreeMap::new(),
                streams: BTreeMap::new(),
                all_stream: None,
                audit: None,
                detached: Vec::new(),
            }),
            closed: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            permit_waiters: Watchers::new(),
            idle: Watchers::new(),
            close_watchers: Watchers::new(),
            drivers: Watchers::new(),
        });
        crate::emit!(
            "asyncutils.channels.EventBus",
            name = shared.name.as_deref(),
            addr = Value::addr_of(&*shared)
        );
        Ok(EventBus { shared })
    }
}

impl<T, C> fmt::Debug for EventBusBuilder<T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventBusBuilder")
            .field("name", &self.name)
            .field("max_concurrent", &self.max_concurrent)
            .field("track_stats", &self.track_stats)
            .finish_non_exhaustive()
    }
}

// === impl EventBus ===

impl<T, C: Clock + Default> EventBus<T, C> {
    /// An unnamed bus with default settings on the default clock `C`.
    #[must_use]
    pub fn new() -> Self {
        Self::with_clock(C::default())
    }
}

impl<T, C: Clock + Default> Default for EventBus<T, C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, C: Clock> EventBus<T, C> {
    /// An unnamed bus with default settings on `clock`.
    #[must_use]
    pub fn with_clock(clock: C) -> Self {
        EventBusBuilder::new()
            .build_with_clock(clock)
            .expect("the default settings are valid")
    }
}

impl<T, C> EventBus<T, C> {
    /// A builder, to set a name, an error handler, the concurrency limit
    /// and statistics.
    #[must_use]
    pub fn builder() -> EventBusBuilder<T, C> {
        EventBusBuilder::new()
    }
}

impl<T, C> EventBus<T, C> {
    /// The bus's name, if it was given one.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.shared.name.as_deref()
    }

    /// The clock timeouts are measured on.
    #[must_use]
    pub fn clock(&self) -> &C {
        &self.shared.clock
    }

    /// The bus-wide limit on running asynchronous callbacks.
    #[must_use]
    pub fn max_concurrent(&self) -> usize {
        self.shared.max_concurrent
    }

    /// Asynchronous subscriber callbacks running now, across all
    /// publications (synchronous callbacks return before anyone could
    /// observe them).
    #[must_use]
    pub fn active_callbacks(&self) -> usize {
        self.shared.active.load(Ordering::Acquire)
    }

    /// Whether the bus was shut down.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// `Ok` while the bus accepts publications.
    ///
    /// # Errors
    ///
    /// [`Closed`] once [`shutdown`](EventBus::shutdown) has begun.
    pub fn ensure_open(&self) -> Result<(), Closed> {
        if self.is_closed() {
            Err(Closed)
        } else {
            Ok(())
        }
    }

    // --- queries ---

    /// Subscribers of `selector`: an event type, `"prefix.*"` or `"*"`.
    /// Counts only that exact selector (subscribers of `"a.*"` are not
    /// counted for `"a.b"`); an open event stream counts as one. Zero for
    /// an invalid selector.
    #[must_use]
    pub fn subscriber_count(&self, selector: &str) -> usize {
        parse_selector(selector).map_or(0, |s| self.shared.state.lock().registry.count(&s))
    }

    /// Whether publishing `event_type` would reach any subscriber (of the
    /// type, a matching pattern, or every event).
    #[must_use]
    pub fn has_subscribers(&self, event_type: &str) -> bool {
        self.shared.state.lock().registry.reaches(event_type)
    }

    /// The event types with at least one subscriber of their own, sorted.
    #[must_use]
    pub fn event_names(&self) -> Vec<Arc<str>> {
        self.shared.state.lock().registry.event_names()
    }

    /// Subscribers of every event (`"*"`).
    #[must_use]
    pub fn wildcard_count(&self) -> usize {
        self.subscriber_count("*")
    }

    /// Subscribers of any kind.
    #[must_use]
    pub fn total_subscribers(&self) -> usize {
        self.shared.state.lock().registry.total()
    }

    /// Whether `subscription` is a live subscription of this bus.
    #[must_use]
    pub fn is_subscribed(&self, subscription: &Subscription) -> bool {
        let ours =
            subscription.owner.as_ptr().cast::<()>() == Arc::as_ptr(&self.shared).cast::<()>();
        ours && self
            .shared
            .state
            .lock()
            .registry
            .contains(&subscription.topic, subscription.id)
    }

    /// Removes every subscriber of `selector` (an event type, `"prefix.*"`
    /// or `"*"`), except event streams; returns how many. Their
    /// [`Subscription`]s then report `false`.
    pub fn clear(&self, selector: &str) -> usize {
        let Some(topic) = parse_selector(selector).map(|s| to_topic(&s)) else {
            return 0;
        };
        let removed = {
            let mut state = self.shared.state.lock();
            let before = state.registry.list(&topic).cloned();
            let n = state.registry.clear(&topic);
            (n, before)
        };
        // The removed callbacks are dropped here, outside the lock.
        removed.0
    }

    /// Removes every subscriber except event streams; returns how many.
    pub fn clear_all(&self) -> usize {
        let (n, old) = {
            let mut state = self.shared.state.lock();
            let old = state.registry.all_lists();
            (state.registry.clear_all(), old)
        };
        // The removed callbacks are dropped here, outside the lock.
        drop(old);
        n
    }

    // --- middlewares ---

    /// Appends `middleware` to the chain every publication's data passes
    /// through, in insertion order, before reaching any subscriber. The
    /// same middleware may be added several times. Returns the cookie that
    /// removes it.
    pub fn add_middleware<F>(&self, middleware: F) -> MiddlewareCookie
    where
        F: Fn(&str, T) -> T + Send + Sync + 'static,
    {
        let f: Arc<MiddlewareFn<T>> = Arc::new(middleware);
        self.shared.state.lock().middlewares.push(f)
    }

    /// Removes the middleware of `cookie` in O(1); `false` if it was
    /// already removed. Publications under way keep the chain they
    /// started with.
    pub fn remove_middleware(&self, cookie: MiddlewareCookie) -> bool {
        self.shared.remove_middleware(cookie)
    }

    /// Middlewares in the chain.
    #[must_use]
    pub fn middleware_count(&self) -> usize {
        self.shared.state.lock().middlewares.len()
    }

    /// Adds `middleware` now and removes it when `until` completes; the
    /// returned future resolves to `until`'s output and must be polled for
    /// that to happen (spawn it, or await it).
    pub fn middleware_until<F, Fut>(
        &self,
        until: Fut,
        middleware: F,
    ) -> MiddlewareUntil<'_, T, C, Fut>
    where
        F: Fn(&str, T) -> T + Send + Sync + 'static,
        Fut: Future,
    {
        let cookie = self.add_middleware(middleware);
        MiddlewareUntil::new(&self.shared, cookie, until)
    }

    // --- shutdown ---

    /// Shuts the bus down; see [`Shutdown`] for what happens and its
    /// options.
    pub fn shutdown(&self) -> Shutdown<'_, T, C>
    where
        C: Clock,
    {
        Shutdown::new(&self.shared)
    }
}

/// The bounds every publishing method needs: the data is cloned for
/// asynchronous subscribers and streams and sent with their futures.
impl<T, C> EventBus<T, C>
where
    T: Clone + Send + 'static,
    C: Clock + Send + Sync + 'static,
{
    fn add(&self, topic: Topic, callback: Callback<T>) -> Subscription {
        let id = {
            let mut state = self.shared.state.lock();
            let id = state.next_id();
            state.registry.insert(&topic, Entry { id, callback });
            id
        };
        let owner: Weak<dyn Owner> = Arc::downgrade(&self.shared) as Weak<dyn Owner>;
        Subscription {
            owner,
            topic,
            id,
            armed: true,
        }
    }

    fn sync_callback<F, R>(f: F) -> Callback<T>
    where
        F: Fn(&str, &T) -> R + Send + Sync + 'static,
        R: SubscriberResult,
    {
        let f: Arc<SyncFn<T>> = Arc::new(move |e: &str, d: &T| f(e, d).into_result());
        Callback::Sync(f)
    }

    fn async_callback<F, Fut>(f: F) -> Callback<T>
    where
        F: Fn(&str, T) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: SubscriberResult,
    {
        let f: Arc<AsyncFn<T>> = Arc::new(move |e: &str, d: T| -> BoxFuture {
            let fut = f(e, d);
            Box::pin(async move { fut.await.into_result() })
        });
        Callback::Async(f)
    }

    /// Subscribes `subscriber` to `event_type`; it is called inline during
    /// each publication with the data. Returns `()` or a `Result`.
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] naming `event_type` if it is empty or contains
    /// `*` (see [`subscribe_pattern`](EventBus::subscribe_pattern)).
    pub fn subscribe<F, R>(
        &self,
        event_type: &str,
        subscriber: F,
    ) -> Result<Subscription, InvalidArgument>
    where
        F: Fn(&T) -> R + Send + Sync + 'static,
        R: SubscriberResult,
    {
        let topic = exact_topic(event_type)?;
        Ok(self.add(topic, Self::sync_callback(move |_, d| subscriber(d))))
    }

    /// Subscribes an asynchronous `subscriber` to `event_type`: each
    /// publication calls it with a clone of the data and awaits the future.
    ///
    /// # Errors
    ///
    /// As for [`subscribe`](EventBus::subscribe).
    pub fn subscribe_async<F, Fut>(
        &self,
        event_type: &str,
        subscriber: F,
    ) -> Result<Subscription, InvalidArgument>
    where
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: SubscriberResult,
    {
        let topic = exact_topic(event_type)?;
        Ok(self.add(topic, Self::async_callback(move |_, d| subscriber(d))))
    }

    /// Subscribes `subscriber` to every event; it receives the event type
    /// and the data.
    pub fn subscribe_all<F, R>(&self, subscriber: F) -> Subscription
    where
        F: Fn(&str, &T) -> R + Send + Sync + 'static,
        R: SubscriberResult,
    {
        self.add(Topic::Wildcard, Self::sync_callback(subscriber))
    }

    /// Subscribes an asynchronous `subscriber` to every event; it receives
    /// the event type and a clone of the data.
    pub fn subscribe_all_async<F, Fut>(&self, subscriber: F) -> Subscription
    where
        F: Fn(Arc<str>, T) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: SubscriberResult,
    {
        self.add(
            Topic::Wildcard,
            Self::async_callback(move |e, d| subscriber(Arc::from(e), d)),
        )
    }

    /// Subscribes `subscriber` to the events matching `pattern`: `"*"` for
    /// every event, or `"prefix.*"` for every event type starting with
    /// `prefix.` (at any depth: `"a.*"` matches `"a.b"` and `"a.b.c"`, not
    /// `"a"`). It receives the event type and the data.
    ///
    /// Matching costs one map lookup per `.` in the published event type,
    /// whatever the number of patterns.
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] naming `pattern` if it is neither.
    pub fn subscribe_pattern<F, R>(
        &self,
        pattern: &str,
        subscriber: F,
    ) -> Result<Subscription, InvalidArgument>
    where
        F: Fn(&str, &T) -> R + Send + Sync + 'static,
        R: SubscriberResult,
    {
        let topic = pattern_topic(pattern)?;
        Ok(self.add(topic, Self::sync_callback(subscriber)))
    }

    /// Asynchronous version of
    /// [`subscribe_pattern`](EventBus::subscribe_pattern).
    ///
    /// # Errors
    ///
    /// As for [`subscribe_pattern`](EventBus::subscribe_pattern).
    pub fn subscribe_pattern_async<F, Fut>(
        &self,
        pattern: &str,
        subscriber: F,
    ) -> Result<Subscription, InvalidArgument>
    where
        F: Fn(Arc<str>, T) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: SubscriberResult,
    {
        let topic = pattern_topic(pattern)?;
        Ok(self.add(
            topic,
            Self::async_callback(move |e, d| subscriber(Arc::from(e), d)),
        ))
    }

    /// Keeps `subscription` until `until` completes, then unsubscribes and
    /// resolves to its output; see [`SubscribeUntil`] (and its
    /// [`permanent_after`](SubscribeUntil::permanent_after) option).
    pub fn subscribe_until<Fut: Future>(
        &self,
        subscription: Subscription,
        until: Fut,
    ) -> SubscribeUntil<'_, Fut, C> {
        SubscribeUntil::new(&self.shared.clock, subscription, until)
    }

    /// Publishes `data` under `event_type` and waits for every subscriber;
    /// see [`Publish`] for the options and the outcome.
    pub fn publish<'a>(&'a self, event_type: &'a str, data: T) -> Publish<'a, T, C> {
        Publish::new(&self.shared, event_type, data)
    }

    /// Starts a publication from synchronous code, without waiting: the
    /// middlewares and synchronous subscribers run now, stream queues with
    /// room get their item now; asynchronous subscribers (and pushes into
    /// full queues) are handed to the [`Driver`]. Subscriber errors go to
    /// the bus's error handler.
    ///
    /// # Errors
    ///
    /// [`Closed`] if the bus was shut down.
    pub fn start_publish(&self, event_type: &str, data: T) -> Result<(), Closed> {
        self.shared.start_publish(event_type, data)
    }

    /// The future that runs what [`start_publish`](EventBus::start_publish)
    /// and the audit bridge hand over; see [`Driver`].
    pub fn driver(&self) -> Driver<'_, T, C> {
        Driver::new(&self.shared)
    }

    /// Publications handed to the driver and not yet picked up.
    #[must_use]
    pub fn queued_for_driver(&self) -> usize {
        self.shared.state.lock().detached.len()
    }

    /// Waits for the first event of `event_type` whose data satisfies
    /// `condition`, published after this call; see [`WaitForEvent`].
    ///
    /// # Errors
    ///
    /// As for [`subscribe`](EventBus::subscribe).
    pub fn wait_for_event<F>(
        &self,
        event_type: &str,
        condition: F,
    ) -> Result<WaitForEvent<'_, T, C>, InvalidArgument>
    where
        F: Fn(&T) -> bool + Send + Sync + 'static,
    {
        let topic = exact_topic(event_type)?;
        let slot = Arc::new(WaitSlot {
            state: Mutex::new((None, None)),
        });
        let theirs = slot.clone();
        let matched = AtomicBool::new(false);
        let callback = Self::sync_callback(move |_, data: &T| {
            if matched.load(Ordering::Acquire) || !condition(data) {
                return;
            }
            if matched.swap(true, Ordering::AcqRel) {
                return;
            }
            let waker = {
                let mut s = theirs.state.lock();
                s.0 = Some(data.clone());
                s.1.take()
            };
            if let Some(w) = waker {
                w.wake();
            }
        });
        Ok(WaitForEvent::new(
            &self.shared,
            slot,
            self.add(topic, callback),
        ))
    }
}

impl<T, C> Drop for EventBus<T, C> {
    fn drop(&mut self) {
        // The audit listener holds a weak reference; unsubscribe it so the
        // process-wide hook does not keep a dead listener.
        self.shared.stop_audit_quietly();
    }
}

impl<T, C> fmt::Debug for EventBus<T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventBus")
            .field("name", &self.shared.name)
            .field("subscribers", &self.shared.state.lock().registry.total())
            .field(
                "active_callbacks",
                &self.shared.active.load(Ordering::Relaxed),
            )
            .field("closed", &self.shared.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn exact_topic(event_type: &str) -> Result<Topic, InvalidArgument> {
    match parse_selector(event_type) {
        Some(Selector::Exact(e)) => Ok(Topic::Exact(Arc::from(e))),
        _ => Err(InvalidArgument::new(
            "event_type",
            "a non-empty event type without `*`",
        )),
    }
}

fn pattern_topic(pattern: &str) -> Result<Topic, InvalidArgument> {
    match parse_selector(pattern) {
        Some(Selector::Exact(_)) | None => Err(InvalidArgument::new(
            "pattern",
            "`*` or `prefix.*` (with no other `*`)",
        )),
        Some(s) => Ok(to_topic(&s)),
    }
}

fn to_topic(selector: &Selector<'_>) -> Topic {
    match selector {
        Selector::Exact(e) => Topic::Exact(Arc::from(*e)),
        Selector::Prefix(p) => Topic::Prefix(Arc::from(*p)),
        Selector::Wildcard => Topic::Wildcard,
    }
}

// === impl Shared ===

impl<T, C> Shared<T, C> {
    fn close_mode(&self) -> Option<CloseMode> {
        self.closed
            .load(Ordering::Acquire)
            .then_some(CloseMode::Drain)
    }

    pub(super) fn remove_middleware(&self, cookie: MiddlewareCookie) -> bool {
        let removed = self.state.lock().middlewares.remove(cookie);
        removed.is_some()
    }

    /// Closes the bus (idempotent).
    fn close(&self, immediate: bool, preserve_stats: bool) {
        self.closed.store(true, Ordering::Release);
        let mode = if immediate {
            CloseMode::Immediate
        } else {
            CloseMode::Drain
        };
        let (middlewares, stats, queues, all_queue) = {
            let mut state = self.state.lock();
            let middlewares = state.middlewares.clear();
            let stats = if preserve_stats {
                EventStats::new()
            } else {
                core::mem::take(&mut state.stats)
            };
            let queues: Vec<_> = state.streams.values().map(|s| s.queue.clone()).collect();
            let all_queue = state.all_stream.as_ref().map(|s| s.queue.clone());
            (middlewares, stats, queues, all_queue)
        };
        // User values (middlewares, queued items) are dropped outside the lock.
        drop((middlewares, stats));
        for q in queues {
            drop(q.close(mode));
        }
        if let Some(q) = all_queue {
            drop(q.close(mode));
        }
        self.stop_audit();
        self.close_watchers.wake_all();
        self.drivers.wake_all();
    }
}

impl<T: Send + 'static, C: Send + Sync + 'static> Owner for Shared<T, C> {
    fn remove(&self, topic: &Topic, id: u64) -> bool {
        let removed = {
            let mut state = self.state.lock();
            let before = state.registry.list(topic).cloned();
            (state.registry.remove(topic, id), before)
        };
        removed.0
    }

    fn contains(&self, topic: &Topic, id: u64) -> bool {
        self.state.lock().registry.contains(topic, id)
    }
}
