//! Channels between producers and consumers.
//!
//! * [`Rendezvous`]: Go-style unbuffered handoff, with value exchange.
//! * [`EventBus`]: publish/subscribe by event type and pattern, with
//!   middlewares, event streams, statistics and an audit bridge.
//! * [`Observable`]: observers notified of each value, with operators
//!   (`filter`, `map`, `debounce`, `throttle`, ...) and a `Stream` view.

mod event_bus;
mod observable;
mod rendezvous;

pub use event_bus::{
    AllEvents, AuditScope, Closed, DEFAULT_MAX_CONCURRENT, DEFAULT_STREAM_BUFFER, Driver, EventBus,
    EventBusBuilder, EventStats, EventStream, Feed, FeedError, MadePermanent, MiddlewareCookie,
    MiddlewareUntil, Publish, PublishError, Shutdown, StatsScope, StreamEnd, StreamOptions,
    SubscribeUntil, SubscriberResult, Subscription, WaitError, WaitForEvent,
};
pub use observable::{
    Debounce, Flush, Notifications, Notify, Observable, Observer, ObserverHandle, ObserverResult,
    RestartAccumulation, SubscribeWhenIdle, TryNotifyError, UnsubscribeWhenIdle, WaitForNext,
    WaitUntilIdle,
};
pub use rendezvous::{
    Exchange, Get, Put, Rendezvous, RendezvousState, ResetError, TryGetError, TryPutError,
};
