//! Operators: observables derived from others.
//!
//! Implementation notes: a derived observable is an ordinary `Observable`
//! fed by a *forwarder* subscribed to its source. The forwarder holds the
//! derived observable weakly, and the derived observable holds the
//! forwarder's handle, so dropping the derived observable unsubscribes it
//! and nothing keeps a cycle alive. The forwarder notifies the derived
//! observable from inside the source's notification: its failures become
//! the source notification's failures. Only [`debounce`](Observable::debounce)
//! needs time to pass without a notification, so it alone hands out a
//! driver future.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use pin_project_lite::pin_project;

use super::{Engine, Feeder, Mode, Notify, Observable, Purpose, Shared, Step};
use crate::error::{BoxError, ErrorGroup, InvalidArgument};
use crate::loom::{Arc, Mutex};
use crate::time::{Clock, Instant};
use crate::waitlist::set_waker;

/// Notifies the observable behind `shared` of `value` from inside an
/// observer call: inline if that completes at once, else as a boxed future.
fn forward<U: Send + 'static>(shared: Arc<Shared<U>>, value: U, cx: &mut Context<'_>) -> Step {
    let mut notify = Notify {
        engine: Engine::new(shared, Some((value, Mode::Concurrent)), Purpose::Notify),
    };
    match Pin::new(&mut notify).poll(cx) {
        Poll::Ready(result) => Step::Done(result.map_err(BoxError::from)),
        Poll::Pending => Step::Pending(Box::pin(Forwarded(notify))),
    }
}

/// A derived notification still running, as an observer's future.
struct Forwarded<U>(Notify<U>);

impl<U> Future for Forwarded<U> {
    type Output = Result<(), BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.map_err(BoxError::from))
    }
}

/// Subscribes to `source` a forwarder that notifies `derived` of `f(value)`
/// whenever that is `Some`.
fn link<S, U, F>(source: &Observable<S>, derived: &Observable<U>, f: F)
where
    S: Clone + Send + 'static,
    U: Clone + Send + 'static,
    F: Fn(&S) -> Option<U> + Send + Sync + 'static,
{
    let feeder = Feeder::new(derived);
    let handle = source.subscribe_callback(Box::new(move |value: &S, cx: &mut Context<'_>| {
        let Some(shared) = feeder.upgrade() else {
            return Step::Done(Ok(()));
        };
        match f(value) {
            Some(out) => forward(shared, out, cx),
            None => Step::Done(Ok(())),
        }
    }));
    derived.hold_upstream(Box::new(handle));
}

impl<T: Clone + Send + 'static> Observable<T> {
    fn derive<U, F>(&self, f: F) -> Observable<U>
    where
        U: Clone + Send + 'static,
        F: Fn(&T) -> Option<U> + Send + Sync + 'static,
    {
        let derived = Observable::new();
        link(self, &derived, f);
        derived
    }

    /// A new observable notified of the values of this one for which
    /// `pred` holds.
    ///
    /// Like every operator, the new observable is notified from inside this
    /// one's notifications (its observers' failures are reported by this
    /// one's `notify`, nested), and dropping every handle to it
    /// unsubscribes it.
    pub fn filter<P>(&self, pred: P) -> Observable<T>
    where
        P: Fn(&T) -> bool + Send + Sync + 'static,
    {
        self.derive(move |v: &T| pred(v).then(|| v.clone()))
    }

    /// A new observable notified of `f(value)` for each value of this one.
    pub fn map<U, F>(&self, f: F) -> Observable<U>
    where
        U: Clone + Send + 'static,
        F: Fn(&T) -> U + Send + Sync + 'static,
    {
        self.derive(move |v: &T| Some(f(v)))
    }

    /// A new observable notified of every value of this one.
    #[must_use]
    pub fn fork(&self) -> Observable<T> {
        self.derive(|v: &T| Some(v.clone()))
    }

    /// A new observable notified of every value of this one and of each of
    /// `others`.
    pub fn merge<'a, I>(&self, others: I) -> Observable<T>
    where
        I: IntoIterator<Item = &'a Observable<T>>,
    {
        let derived = self.fork();
        for other in others {
            link(other, &derived, |v: &T| Some(v.clone()));
        }
        derived
    }

    /// A new observable notified of a value of this one only when
    /// `key(value)` differs from the key of the previous value (the first
    /// value always passes).
    pub fn at_change<K, F>(&self, key: F) -> Observable<T>
    where
        K: PartialEq + Send + 'static,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        let last: Mutex<Option<K>> = Mutex::new(None);
        self.derive(move |v: &T| {
            let k = key(v);
            // The comparison is user code: not under the lock.
            let previous = last.lock().take();
            let changed = previous.as_ref() != Some(&k);
            *last.lock() = Some(k);
            drop(previous);
            changed.then(|| v.clone())
        })
    }

    /// A new observable notified of this one's values in batches: every
    /// `count` values, one notification carrying them in order. A partial
    /// batch waits for more values.
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] naming `count` if it is zero.
    pub fn buffer(&self, count: usize) -> Result<Observable<Vec<T>>, InvalidArgument> {
        if count == 0 {
            return Err(InvalidArgument::new("count", "at least 1"));
        }
        let batch: Mutex<Vec<T>> = Mutex::new(Vec::new());
        Ok(self.derive(move |v: &T| {
            let v = v.clone();
            let mut batch = batch.lock();
            batch.push(v);
            (batch.len() >= count).then(|| core::mem::take(&mut *batch))
        }))
    }

    /// A new observable notified of a value of this one only if at least
    /// `interval` has passed on `clock` since the last value it let
    /// through (the first passes). Values inside the interval are dropped,
    /// not delayed (a leading-edge throttle); it needs no timer, so it runs
    /// entirely inside this observable's notifications.
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] naming `interval` if it is zero.
    pub fn throttle<C>(
        &self,
        clock: C,
        interval: Duration,
    ) -> Result<Observable<T>, InvalidArgument>
    where
        C: Clock + Send + Sync + 'static,
    {
        if interval.is_zero() {
            return Err(InvalidArgument::new("interval", "greater than zero"));
        }
        let last: Mutex<Option<Instant>> = Mutex::new(None);
        Ok(self.derive(move |v: &T| {
            let now = clock.now();
            let mut last = last.lock();
            let pass = last.is_none_or(|l| now.saturating_duration_since(l) >= interval);
            if pass {
                *last = Some(now);
            }
            drop(last);
            pass.then(|| v.clone())
        }))
    }

    /// A new observable notified of the latest value of this one once
    /// `delay` has passed on `clock` without another value: a burst of
    /// values becomes one notification of its last value, `delay` after it.
    ///
    /// The waiting happens in the returned [`Debounce`] driver, which
    /// notifies the new observable: nothing is emitted unless it is polled
    /// (spawn it, or join it with your other work). It completes once this
    /// observable is gone (or the new one is dropped) and the last pending
    /// value has been emitted.
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] naming `delay` if it is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use core::time::Duration;
    /// use std::sync::{Arc, Mutex};
    /// use asyncutils_core::channels::{Observable, Observer};
    /// use asyncutils_core::time::ManualClock;
    ///
    /// # futures_lite::future::block_on(async {
    /// let clock = ManualClock::new();
    /// let keys = Observable::new();
    /// let (settled, driver) = keys.debounce(clock.clone(), Duration::from_millis(100))?;
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// let at = clock.clone();
    /// settled
    ///     .subscribe(Observer::sync(move |k: &char| log.lock().unwrap().push((*k, at.now()))))
    ///     .forget();
    /// let mut driver = Box::pin(driver);
    ///
    /// for (t, key) in [(0, 'a'), (50, 'b'), (120, 'c')] {
    ///     clock.advance_to(asyncutils_core::time::Instant::from_nanos(t * 1_000_000));
    ///     keys.notify(key).await.unwrap();
    ///     futures_lite::future::poll_once(driver.as_mut()).await;
    /// }
    /// clock.advance(Duration::from_millis(100));
    /// futures_lite::future::poll_once(driver.as_mut()).await;
    /// let expected = asyncutils_core::time::Instant::from_nanos(220_000_000);
    /// assert_eq!(*seen.lock().unwrap(), [('c', expected)]);
    /// # Ok::<(), asyncutils_core::error::InvalidArgument>(())
    /// # }).unwrap();
    /// ```
    pub fn debounce<C>(
        &self,
        clock: C,
        delay: Duration,
    ) -> Result<(Observable<T>, Debounce<T, C>), InvalidArgument>
    where
        C: Clock + Clone + Send + Sync + 'static,
    {
        if delay.is_zero() {
            return Err(InvalidArgument::new("delay", "greater than zero"));
        }
        let derived = Observable::new();
        let state = Arc::new(Mutex::new(DebounceState {
            latest: None,
            deadline: Instant::ZERO,
            waker: None,
            closed: false,
        }));
        let feed = Feed {
            state: state.clone(),
        };
        let feed_clock = clock.clone();
        let handle = self.subscribe_callback(Box::new(move |value: &T, _: &mut Context<'_>| {
            let value = value.clone();
            let deadline = feed_clock.now().saturating_add(delay);
            let (old, waker) = {
                let mut state = feed.state.lock();
                state.deadline = deadline;
                (state.latest.replace(value), state.waker.take())
            };
            drop(old);
            if let Some(w) = waker {
                w.wake();
            }
            Step::Done(Ok(()))
        }));
        derived.hold_upstream(Box::new(handle));
        let driver = Debounce {
            state,
            target: Feeder::new(&derived),
            clock,
            emitting: None,
            errors: Vec::new(),
            sleeping_until: None,
            sleep: None,
        };
        Ok((derived, driver))
    }
}

// === debounce ===

struct DebounceState<T> {
    /// The value waiting to be emitted.
    latest: Option<T>,
    /// When it is due.
    deadline: Instant,
    /// The driver, waiting for a value.
    waker: Option<Waker>,
    /// The forwarder is gone: no more values will come.
    closed: bool,
}

/// Owned by the forwarder: tells the driver when the source is gone.
struct Feed<T> {
    state: Arc<Mutex<DebounceState<T>>>,
}

impl<T> Drop for Feed<T> {
    fn drop(&mut self) {
        let waker = {
            let mut state = self.state.lock();
            state.closed = true;
            state.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

pin_project! {
    /// The driver of a debounced observable, returned by
    /// [`Observable::debounce`]: it waits out the delay and notifies the
    /// debounced observable, inside its own poll. Poll it (spawn it, or
    /// join it with other work) for the debounced observable to emit
    /// anything.
    ///
    /// It resolves, once the source observable is gone (or the debounced one
    /// was dropped) and no value is pending, to the failures of the
    /// debounced observable's observers over its whole life. Polling it
    /// again after that returns `Ok(())`.
    ///
    /// # Cancellation
    ///
    /// Dropping it stops the emissions: a value waiting for its delay is
    /// dropped, and a notification of the debounced observable under way is
    /// abandoned as a dropped [`Notify`] is. The source observable is not
    /// affected.
    #[must_use = "the debounced observable emits nothing unless its driver is polled"]
    pub struct Debounce<T, C: Clock> {
        state: Arc<Mutex<DebounceState<T>>>,
        target: Feeder<T>,
        clock: C,
        emitting: Option<Notify<T>>,
        errors: Vec<BoxError>,
        sleeping_until: Option<Instant>,
        #[pin]
        sleep: Option<C::Sleep>,
    }
}

impl<T: Send + 'static, C: Clock> Future for Debounce<T, C> {
    type Output = Result<(), ErrorGroup>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            if let Some(notify) = this.emitting.as_mut() {
                match Pin::new(notify).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(result) => {
                        *this.emitting = None;
                        if let Err(group) = result {
                            this.errors.push(Box::new(group));
                        }
                    }
                }
            }
            let finish = |errors: &mut Vec<BoxError>| {
                if errors.is_empty() {
                    Poll::Ready(Ok(()))
                } else {
                    Poll::Ready(Err(ErrorGroup::new(super::FAILED, core::mem::take(errors))))
                }
            };
            let Some(target) = this.target.upgrade() else {
                return finish(this.errors);
            };
            let now = this.clock.now();
            let (due, wait_until) = {
                let mut state = this.state.lock();
                match state.latest {
                    None if state.closed => {
                        drop(state);
                        return finish(this.errors);
                    }
                    None => {
                        set_waker(&mut state.waker, cx.waker());
                        (None, None)
                    }
                    Some(_) if now >= state.deadline => (state.latest.take(), None),
                    Some(_) => {
                        set_waker(&mut state.waker, cx.waker());
                        (None, Some(state.deadline))
                    }
                }
            };
            if let Some(value) = due {
                this.sleep.set(None);
                *this.sleeping_until = None;
                *this.emitting = Some(Notify {
                    engine: Engine::new(target, Some((value, Mode::Concurrent)), Purpose::Notify),
                });
                continue;
            }
            drop(target);
            let Some(deadline) = wait_until else {
                this.sleep.set(None);
                *this.sleeping_until = None;
                return Poll::Pending;
            };
            if *this.sleeping_until != Some(deadline) {
                this.sleep.set(Some(this.clock.sleep_until(deadline)));
                *this.sleeping_until = Some(deadline);
            }
            let sleep = this.sleep.as_mut().as_pin_mut().expect("sleep set above");
            match sleep.poll(cx) {
                Poll::Ready(_) => {
                    this.sleep.set(None);
                    *this.sleeping_until = None;
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<T, C: Clock> fmt::Debug for Debounce<T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Debounce")
            .field("sleeping_until", &self.sleeping_until)
            .field("emitting", &self.emitting.is_some())
            .finish_non_exhaustive()
    }
}
