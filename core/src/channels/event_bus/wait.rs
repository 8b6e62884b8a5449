//! Futures that wait on the bus: for an event, for a future to end a
//! subscription or a middleware, for a shutdown to drain.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use pin_project_lite::pin_project;

use super::registry::{MiddlewareCookie, Subscription};
use super::{Closed, Shared};
use crate::loom::{Arc, Mutex, Ordering};
use crate::time::{Clock, Elapsed};

// === WaitForEvent ===

pub(super) struct WaitSlot<T> {
    pub(super) state: Mutex<(Option<T>, Option<Waker>)>,
}

/// Why [`EventBus::wait_for_event`](super::EventBus::wait_for_event)
/// gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitError {
    /// The bus was shut down first.
    Closed,
    /// The timeout passed first.
    TimedOut,
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WaitError::Closed => "the event bus was shut down while waiting for an event",
            WaitError::TimedOut => "no matching event before the timeout",
        })
    }
}

impl core::error::Error for WaitError {}

pin_project! {
    /// Future returned by
    /// [`EventBus::wait_for_event`](super::EventBus::wait_for_event):
    /// resolves to the data of the first matching event published after
    /// the call (not the first poll: the subscription is made at once).
    ///
    /// # Cancellation
    ///
    /// Dropping it unsubscribes; an event it matched but did not return is
    /// dropped with it (the event was delivered to every other subscriber
    /// regardless).
    #[must_use = "futures do nothing unless polled"]
    pub struct WaitForEvent<'a, T, C: Clock> {
        bus: &'a Shared<T, C>,
        slot: Arc<WaitSlot<T>>,
        subscription: Option<Subscription>,
        close_key: Option<usize>,
        timeout: Option<Duration>,
        #[pin]
        sleep: Option<C::Sleep>,
    }

    impl<T, C: Clock> PinnedDrop for WaitForEvent<'_, T, C> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            this.bus.close_watchers.remove(this.close_key, false);
        }
    }
}

impl<'a, T, C: Clock> WaitForEvent<'a, T, C> {
    pub(super) fn new(bus: &'a Shared<T, C>, slot: Arc<WaitSlot<T>>, sub: Subscription) -> Self {
        WaitForEvent {
            bus,
            slot,
            subscription: Some(sub),
            close_key: None,
            timeout: None,
            sleep: None,
        }
    }

    /// Gives up with [`WaitError::TimedOut`] after `d`, counted from the
    /// first poll.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }
}

impl<T, C: Clock> Future for WaitForEvent<'_, T, C> {
    type Output = Result<T, WaitError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let sub = this
            .subscription
            .as_ref()
            .expect("`WaitForEvent` polled after completion");
        let _ = sub;
        let found = {
            let mut s = this.slot.state.lock();
            match s.0.take() {
                Some(v) => Some(v),
                None => {
                    crate::waitlist::set_waker(&mut s.1, cx.waker());
                    None
                }
            }
        };
        let outcome = if let Some(v) = found {
            Ok(v)
        } else if this.bus.closed.load(Ordering::Acquire) {
            Err(WaitError::Closed)
        } else {
            this.bus.close_watchers.register(this.close_key, cx.waker());
            if this.bus.closed.load(Ordering::Acquire) {
                Err(WaitError::Closed)
            } else {
                if let Some(d) = this.timeout.take() {
                    this.sleep.set(Some(this.bus.clock.sleep(d)));
                }
                match this.sleep.as_mut().as_pin_mut().map(|s| s.poll(cx)) {
                    Some(Poll::Ready(_)) => Err(WaitError::TimedOut),
                    _ => return Poll::Pending,
                }
            }
        };
        if let Some(sub) = this.subscription.take() {
            sub.unsubscribe();
        }
        this.bus.close_watchers.remove(this.close_key, false);
        this.sleep.set(None);
        Poll::Ready(outcome)
    }
}

impl<T, C: Clock> fmt::Debug for WaitForEvent<'_, T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitForEvent")
            .field("subscription", &self.subscription)
            .finish_non_exhaustive()
    }
}

// === SubscribeUntil ===

/// The subscription of a
/// [`subscribe_until`](super::EventBus::subscribe_until) was made
/// permanent because its time ran out before the future completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MadePermanent;

impl fmt::Display for MadePermanent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the future did not complete in time; the subscription was made permanent")
    }
}

impl core::error::Error for MadePermanent {}

pin_project! {
    /// Future returned by
    /// [`EventBus::subscribe_until`](super::EventBus::subscribe_until).
    ///
    /// Resolves to the output of the future it watches, after removing the
    /// subscription; or, if [`permanent_after`](SubscribeUntil::permanent_after)
    /// runs out first, to `Err(MadePermanent)` leaving the subscriber
    /// subscribed (the watched future is dropped).
    ///
    /// # Cancellation
    ///
    /// Dropping it drops the watched future and unsubscribes (unless the
    /// subscription was already made permanent).
    #[must_use = "futures do nothing unless polled"]
    pub struct SubscribeUntil<'a, F, C: Clock> {
        clock: &'a C,
        subscription: Option<Subscription>,
        permanent_after: Option<Duration>,
        #[pin]
        until: F,
        #[pin]
        sleep: Option<C::Sleep>,
    }
}

impl<'a, F, C: Clock> SubscribeUntil<'a, F, C> {
    pub(super) fn new(clock: &'a C, sub: Subscription, until: F) -> Self {
        SubscribeUntil {
            clock,
            subscription: Some(sub),
            permanent_after: None,
            until,
            sleep: None,
        }
    }

    /// If the future has not completed `d` after the first poll, keep the
    /// subscription for good and resolve to `Err(MadePermanent)`.
    pub fn permanent_after(mut self, d: Duration) -> Self {
        self.permanent_after = Some(d);
        self
    }
}

impl<F: Future, C: Clock> Future for SubscribeUntil<'_, F, C> {
    type Output = Result<F::Output, MadePermanent>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        assert!(
            this.subscription.is_some(),
            "`SubscribeUntil` polled after completion"
        );
        if let Poll::Ready(out) = this.until.poll(cx) {
            if let Some(sub) = this.subscription.take() {
                sub.unsubscribe();
            }
            this.sleep.set(None);
            return Poll::Ready(Ok(out));
        }
        if let Some(d) = this.permanent_after.take() {
            this.sleep.set(Some(this.clock.sleep(d)));
        }
        if let Some(Poll::Ready(_)) = this.sleep.as_mut().as_pin_mut().map(|s| s.poll(cx)) {
            if let Some(sub) = this.subscription.take() {
                sub.forget();
            }
            this.sleep.set(None);
            return Poll::Ready(Err(MadePermanent));
        }
        Poll::Pending
    }
}

impl<F, C: Clock> fmt::Debug for SubscribeUntil<'_, F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscribeUntil")
            .field("subscription", &self.subscription)
            .finish_non_exhaustive()
    }
}

// === MiddlewareUntil ===

pin_project! {
    /// Future returned by
    /// [`EventBus::middleware_until`](super::EventBus::middleware_until):
    /// the middleware is in the chain from the call until the watched
    /// future completes; resolves to that future's output.
    ///
    /// # Cancellation
    ///
    /// Dropping it removes the middleware and drops the watched future.
    #[must_use = "futures do nothing unless polled"]
    pub struct MiddlewareUntil<'a, T, C, F> {
        bus: &'a Shared<T, C>,
        cookie: Option<MiddlewareCookie>,
        #[pin]
        until: F,
    }

    impl<T, C, F> PinnedDrop for MiddlewareUntil<'_, T, C, F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(cookie) = this.cookie.take() {
                this.bus.remove_middleware(cookie);
            }
        }
    }
}

impl<'a, T, C, F> MiddlewareUntil<'a, T, C, F> {
    pub(super) fn new(bus: &'a Shared<T, C>, cookie: MiddlewareCookie, until: F) -> Self {
        MiddlewareUntil {
            bus,
            cookie: Some(cookie),
            until,
        }
    }

    /// The middleware's cookie, while it is in the chain.
    #[must_use]
    pub fn cookie(&self) -> Option<MiddlewareCookie> {
        self.cookie
    }
}

impl<T, C, F: Future> Future for MiddlewareUntil<'_, T, C, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let out = core::task::ready!(this.until.poll(cx));
        if let Some(cookie) = this.cookie.take() {
            this.bus.remove_middleware(cookie);
        }
        Poll::Ready(out)
    }
}

impl<T, C, F> fmt::Debug for MiddlewareUntil<'_, T, C, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MiddlewareUntil")
            .field("cookie", &self.cookie)
            .finish_non_exhaustive()
    }
}

// === Shutdown ===

pin_project! {
    /// Future returned by [`EventBus::shutdown`](super::EventBus::shutdown).
    ///
    /// At its first poll the bus closes: publishing fails fast with
    /// [`Closed`], middlewares are removed, the audit bridge stops, event
    /// streams end (after their buffered items, unless
    /// [`immediate`](Shutdown::immediate)), waiters of
    /// [`wait_for_event`](super::EventBus::wait_for_event) fail, and the
    /// statistics are cleared (unless
    /// [`preserve_stats`](Shutdown::preserve_stats)). Subscribers stay
    /// subscribed. It then waits until no subscriber callback is running
    /// (they run in the futures of their publications, which must still be
    /// polled), within the [`timeout`](Shutdown::timeout) if one is set.
    ///
    /// # Cancellation
    ///
    /// Dropping it stops the waiting only; once polled, the bus stays
    /// closed.
    #[must_use = "futures do nothing unless polled"]
    pub struct Shutdown<'a, T, C: Clock> {
        bus: &'a Shared<T, C>,
        immediate: bool,
        preserve_stats: bool,
        timeout: Option<Duration>,
        started: bool,
        key: Option<usize>,
        #[pin]
        sleep: Option<C::Sleep>,
    }

    impl<T, C: Clock> PinnedDrop for Shutdown<'_, T, C> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            this.bus.idle.remove(this.key, false);
        }
    }
}

impl<'a, T, C: Clock> Shutdown<'a, T, C> {
    pub(super) fn new(bus: &'a Shared<T, C>) -> Self {
        Shutdown {
            bus,
            immediate: false,
            preserve_stats: false,
            timeout: None,
            started: false,
            key: None,
            sleep: None,
        }
    }

    /// Event streams end at once, dropping what they buffered (the default
    /// lets them drain first).
    pub fn immediate(mut self) -> Self {
        self.immediate = true;
        self
    }

    /// Keep the statistics readable with
    /// [`event_stats`](super::EventBus::event_stats) after the shutdown.
    pub fn preserve_stats(mut self) -> Self {
        self.preserve_stats = true;
        self
    }

    /// Stop waiting for running callbacks after `d` (the bus stays closed;
    /// the callbacks go on in their publications).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }
}

impl<T: Send + 'static, C: Clock> Future for Shutdown<'_, T, C> {
    /// `Err(Elapsed)` if callbacks were still running at the timeout.
    type Output = Result<(), Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if !*this.started {
            *this.started = true;
            this.bus.close(*this.immediate, *this.preserve_stats);
            if let Some(d) = *this.timeout {
                this.sleep.set(Some(this.bus.clock.sleep(d)));
            }
        }
        if this.bus.active.load(Ordering::Acquire) == 0 {
            this.bus.idle.remove(this.key, false);
            return Poll::Ready(Ok(()));
        }
        this.bus.idle.register(this.key, cx.waker());
        if this.bus.active.load(Ordering::Acquire) == 0 {
            this.bus.idle.remove(this.key, false);
            return Poll::Ready(Ok(()));
        }
        if let Some(Poll::Ready(_)) = this.sleep.as_mut().as_pin_mut().map(|s| s.poll(cx)) {
            this.bus.idle.remove(this.key, false);
            return Poll::Ready(Err(Elapsed));
        }
        Poll::Pending
    }
}

impl<T, C: Clock> fmt::Debug for Shutdown<'_, T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown")
            .field("immediate", &self.immediate)
            .field("started", &self.started)
            .finish_non_exhaustive()
    }
}

impl From<Closed> for WaitError {
    fn from(_: Closed) -> Self {
        WaitError::Closed
    }
}
