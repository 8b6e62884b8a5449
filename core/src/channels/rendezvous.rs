//! A Go-style unbuffered channel.
//!
//! Implementation notes: every pending operation owns a slot in one slab
//! (see `waitlist`); putters, waiting getters and exchangers each form a FIFO
//! queue through those slots. A put's value stays in the putter's slot until
//! a getter, *in its own poll and under the lock*, takes it and marks the
//! putter done. So a getter that is dropped has taken nothing, and a putter
//! that is dropped removes its value before any getter can see it.
//!
//! A putter arriving while getters wait moves the first waiting getter to
//! the `notified` queue and wakes it. Invariant: `notified.len() <=
//! puts.len()`, and values are matched to notified getters by position:
//! the i-th notified getter takes the i-th waiting value, so the first
//! getter to wait gets the first value whatever order an executor polls
//! them in, and nobody waits for a slower getter ahead. (Finding the
//! position walks the queues; both are bounded by the values in flight.)
//! A fresh getter or `try_get` only takes a value beyond those promised. A
//! notified getter that is dropped passes its turn on; a putter that
//! withdraws sends the *last* notified getter back to the front of the
//! waiting queue.

use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use crate::loom::Mutex;
use crate::waitlist::{Queue, Slots, set_waker};

#[cfg(all(test, feature = "std"))]
mod tests;

/// An unbuffered channel: a [`put`](Rendezvous::put) completes only once a
/// [`get`](Rendezvous::get) has taken its value, like a send on a Go channel
/// without buffer. Two [`exchange`](Rendezvous::exchange)s pair up and swap
/// values.
///
/// Share it by reference or in an `Arc`; every method takes `&self`.
///
/// # Fairness
///
/// Putters are served in arrival order, and so are getters and exchangers:
/// the first getter to wait receives the first value put.
///
/// # Cancellation
///
/// Every future is cancel-safe. A dropped [`Get`] never consumes a value.
/// Once the drop of a [`Put`] has returned, no getter can receive its value
/// (a put that completed before it was dropped did deliver it). See
/// [`Exchange`] for the one window an exchange has.
///
/// `Rendezvous<T>` is `Send` and `Sync` when `T` is `Send`, and not
/// otherwise:
///
/// ```compile_fail
/// fn shareable<T: Sync>(_: &T) {}
/// let rv = asyncutils_core::channels::Rendezvous::<std::rc::Rc<u8>>::new();
/// shareable(&rv);
/// ```
///
/// # Examples
///
/// ```
/// use asyncutils_core::channels::Rendezvous;
/// use futures_lite::future;
///
/// # future::block_on(async {
/// let rv = Rendezvous::new();
/// let (put, got) = future::zip(rv.put("ping"), rv.get()).await;
/// assert_eq!(put, Ok(()));
/// assert_eq!(got, Ok("ping"));
///
/// // Nobody is waiting, so the non-blocking variants refuse.
/// assert!(rv.try_put("pong").is_err());
/// assert!(rv.try_get().is_err());
///
/// let (a, b) = future::zip(rv.exchange("left"), rv.exchange("right")).await;
/// assert_eq!((a, b), (Ok("right"), Ok("left")));
/// # });
/// ```
pub struct Rendezvous<T> {
    inner: Mutex<Inner<T>>,
}

struct Inner<T> {
    slots: Slots<Waiter<T>>,
    /// Values waiting for a getter (putters, and values given by `try_put`).
    puts: Queue,
    /// Getters waiting and not yet notified.
    gets: Queue,
    /// Exchangers waiting for a partner.
    exchanges: Queue,
    /// Getters woken for a value, in arrival order; the i-th takes the i-th
    /// value of `puts`.
    notified: Queue,
}

struct Waiter<T> {
    /// Put: the value to hand over. Exchange: its own value, then the
    /// partner's. Get: unused.
    value: Option<T>,
    waker: Option<Waker>,
    state: State,
    /// A value left by `try_put`: nobody waits on it.
    detached: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Notified,
    Done,
    Reset,
}

/// How many operations are pending, from [`Rendezvous::state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RendezvousState {
    /// Values waiting to be taken (by pending puts, or accepted by
    /// [`try_put`](Rendezvous::try_put) and not yet taken).
    pub puts: usize,
    /// Pending gets.
    pub gets: usize,
    /// Exchanges waiting for a partner.
    pub exchanges: usize,
}

impl<T> Default for Rendezvous<T> {
    fn default() -> Self {
        Self::new()
    }
}

// === impl Rendezvous ===

impl<T> Rendezvous<T> {
    /// An empty rendezvous.
    #[must_use]
    pub fn new() -> Self {
        Rendezvous {
            inner: Mutex::new(Inner {
                slots: Slots::new(),
                puts: Queue::new(),
                gets: Queue::new(),
                exchanges: Queue::new(),
                notified: Queue::new(),
            }),
        }
    }

    /// Hands `value` to a getter; completes once a getter has taken it.
    ///
    /// Resolves to `Err(ResetError(value))`, giving the value back, if
    /// [`reset`](Rendezvous::reset) is called first.
    pub fn put(&self, value: T) -> Put<'_, T> {
        Put {
            rendezvous: self,
            value: Some(value),
            key: None,
        }
    }

    /// Takes a value from a putter, waiting for one if needed.
    ///
    /// Resolves to `Err(ResetError(()))` if [`reset`](Rendezvous::reset) is
    /// called first.
    pub fn get(&self) -> Get<'_, T> {
        Get {
            rendezvous: self,
            key: None,
            done: false,
        }
    }

    /// Pairs with another exchanger and swaps values with it.
    ///
    /// Exchanges pair only with exchanges, never with puts or gets.
    pub fn exchange(&self, value: T) -> Exchange<'_, T> {
        Exchange {
            rendezvous: self,
            value: Some(value),
            key: None,
        }
    }

    /// Hands `value` to a getter that is already waiting.
    ///
    /// # Errors
    ///
    /// [`TryPutError::NoGetter`], with the value, if no getter is waiting.
    /// On success the value belongs to the rendezvous: the woken getter
    /// takes it, or if that getter is dropped, the next get does.
    pub fn try_put(&self, value: T) -> Result<(), TryPutError<T>> {
        let waker = {
            let mut inner = self.inner.lock();
            if inner.gets.is_empty() {
                return Err(TryPutError::NoGetter(value));
            }
            let key = inner.slots.insert(Waiter {
                value: Some(value),
                waker: None,
                state: State::Waiting,
                detached: true,
            });
            let Inner { slots, puts, .. } = &mut *inner;
            slots.push_back(puts, key);
            inner.notify_getter()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Takes a value from a putter that is already waiting.
    ///
    /// # Errors
    ///
    /// [`TryGetError::NoPutter`] if no value is waiting for a getter.
    pub fn try_get(&self) -> Result<T, TryGetError> {
        let (value, waker) = {
            let mut inner = self.inner.lock();
            if inner.puts.len() <= inner.notified.len() {
                return Err(TryGetError::NoPutter);
            }
            inner.take_unpromised()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(value)
    }

    /// Fails every pending operation: pending puts and exchanges resolve to
    /// a [`ResetError`] holding their value, pending gets to
    /// `ResetError(())`.
    ///
    /// Returns the values accepted by [`try_put`](Rendezvous::try_put) that
    /// no getter took yet (usually none), since nobody waits to get them
    /// back.
    pub fn reset(&self) -> Vec<T> {
        let mut wakers = Vec::new();
        let mut orphans = Vec::new();
        {
            let mut inner = self.inner.lock();
            let inner = &mut *inner;
            for key in inner.slots.all_keys() {
                let waiter = inner.slots.get_mut(key);
                if !matches!(waiter.state, State::Waiting | State::Notified) {
                    continue;
                }
                if waiter.detached {
                    orphans.extend(inner.slots.remove_unlinked(key).value);
                    continue;
                }
                waiter.state = State::Reset;
                // Notified getters that have not polled since hold no waker.
                wakers.extend(waiter.waker.take());
            }
            // Every waiting slot was reset above: empty the queues at once.
            inner.slots.forget_links();
            inner.puts = Queue::new();
            inner.gets = Queue::new();
            inner.exchanges = Queue::new();
            inner.notified = Queue::new();
        }
        for w in wakers {
            w.wake();
        }
        orphans
    }

    /// How many operations are pending right now.
    #[must_use]
    pub fn state(&self) -> RendezvousState {
        let inner = self.inner.lock();
        RendezvousState {
            puts: inner.puts.len(),
            gets: inner.gets.len() + inner.notified.len(),
            exchanges: inner.exchanges.len(),
        }
    }
}

impl<T> fmt::Debug for Rendezvous<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rendezvous")
            .field("state", &self.state())
            .finish()
    }
}

impl<T> Inner<T> {
    /// Wakes the first waiting getter if some value is not yet promised to a
    /// notified getter.
    fn notify_getter(&mut self) -> Option<Waker> {
        if self.puts.len() <= self.notified.len() {
            return None;
        }
        let key = self.slots.pop_front(&mut self.gets)?;
        self.slots.push_back(&mut self.notified, key);
        let getter = self.slots.get_mut(key);
        getter.state = State::Notified;
        getter.waker.take()
    }

    /// After a value was withdrawn: keep `notified.len() <= puts.len()` by
    /// sending the last notified getter back to the front of the waiting
    /// queue (it keeps its waker, if any, for the next notification).
    fn demote_notified(&mut self) {
        if self.notified.len() > self.puts.len() {
            if let Some(key) = self.slots.pop_back(&mut self.notified) {
                self.slots.get_mut(key).state = State::Waiting;
                self.slots.push_front(&mut self.gets, key);
            }
        }
    }

    /// Takes the first value not promised to a notified getter, completing
    /// its putter. The caller has checked `puts.len() > notified.len()`.
    fn take_unpromised(&mut self) -> (T, Option<Waker>) {
        let key = self
            .slots
            .nth(&self.puts, self.notified.len())
            .expect("caller checked for an unpromised value");
        self.slots.unlink(&mut self.puts, key);
        self.complete_put(key)
    }

    /// Takes the value of the putter `key`, already unlinked from `puts`.
    fn complete_put(&mut self, key: usize) -> (T, Option<Waker>) {
        let putter = self.slots.get_mut(key);
        let value = putter.value.take().expect("a waiting put holds its value");
        if putter.detached {
            // A `try_put` value: nobody to tell, free the slot.
            self.slots.remove(&mut self.puts, key);
            return (value, None);
        }
        putter.state = State::Done;
        (value, putter.waker.take())
    }
}

// === impl Put ===

/// Future returned by [`Rendezvous::put`].
///
/// # Panics
///
/// If polled again after it completed.
///
/// # Cancellation
///
/// Dropping it before it completes withdraws the value (it is dropped with
/// the future); no getter receives it after the drop returns.
#[must_use = "futures do nothing unless polled"]
pub struct Put<'a, T> {
    rendezvous: &'a Rendezvous<T>,
    value: Option<T>,
    key: Option<usize>,
}

impl<T> Unpin for Put<'_, T> {}

impl<T> Future for Put<'_, T> {
    type Output = Result<(), ResetError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut inner = this.rendezvous.inner.lock();
        let Some(key) = this.key else {
            let value = this.value.take().expect("`Put` polled after completion");
            let key = inner.slots.insert(Waiter {
                value: Some(value),
                waker: Some(cx.waker().clone()),
                state: State::Waiting,
                detached: false,
            });
            let Inner { slots, puts, .. } = &mut *inner;
            slots.push_back(puts, key);
            this.key = Some(key);
            let waker = inner.notify_getter();
            drop(inner);
            if let Some(w) = waker {
                w.wake();
            }
            return Poll::Pending;
        };
        let putter = inner.slots.get_mut(key);
        match putter.state {
            State::Done => {
                let Inner { slots, puts, .. } = &mut *inner;
                slots.remove(puts, key);
                this.key = None;
                Poll::Ready(Ok(()))
            }
            State::Reset => {
                let Inner { slots, puts, .. } = &mut *inner;
                let waiter = slots.remove(puts, key);
                this.key = None;
                let value = waiter.value.expect("a reset put keeps its value");
                Poll::Ready(Err(ResetError(value)))
            }
            State::Waiting | State::Notified => {
                set_waker(&mut putter.waker, cx.waker());
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for Put<'_, T> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let withdrawn = {
            let mut inner = self.rendezvous.inner.lock();
            let Inner { slots, puts, .. } = &mut *inner;
            let withdrawn = slots.remove(puts, key);
            inner.demote_notified();
            withdrawn
        };
        // The value (if still there) is dropped here, outside the lock.
        drop(withdrawn);
    }
}

impl<T> fmt::Debug for Put<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Put")
            .field("registered", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

// === impl Get ===

/// Future returned by [`Rendezvous::get`].
///
/// # Panics
///
/// If polled again after it completed.
///
/// # Cancellation
///
/// Dropping it never consumes a value: values move only inside the poll that
/// returns them. If it had been woken for a value, that turn passes to the
/// next waiting getter.
#[must_use = "futures do nothing unless polled"]
pub struct Get<'a, T> {
    rendezvous: &'a Rendezvous<T>,
    key: Option<usize>,
    done: bool,
}

impl<T> Future for Get<'_, T> {
    type Output = Result<T, ResetError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        assert!(!this.done, "`Get` polled after completion");
        let mut inner = this.rendezvous.inner.lock();
        let Some(key) = this.key else {
            if inner.puts.len() > inner.notified.len() {
                let (value, waker) = inner.take_unpromised();
                this.done = true;
                drop(inner);
                if let Some(w) = waker {
                    w.wake();
                }
                return Poll::Ready(Ok(value));
            }
            let key = inner.slots.insert(Waiter {
                value: None,
                waker: Some(cx.waker().clone()),
                state: State::Waiting,
                detached: false,
            });
            let Inner { slots, gets, .. } = &mut *inner;
            slots.push_back(gets, key);
            this.key = Some(key);
            return Poll::Pending;
        };
        match inner.slots.get(key).state {
            State::Notified => {
                let state = &mut *inner;
                let position = state
                    .slots
                    .position(&state.notified, key)
                    .expect("a notified getter is in the notified queue");
                let putter = state
                    .slots
                    .nth(&state.puts, position)
                    .expect("every notified getter has a value waiting");
                state.slots.unlink(&mut state.puts, putter);
                state.slots.remove(&mut state.notified, key);
                this.key = None;
                this.done = true;
                let (value, waker) = state.complete_put(putter);
                drop(inner);
                if let Some(w) = waker {
                    w.wake();
                }
                Poll::Ready(Ok(value))
            }
            State::Reset => {
                let Inner { slots, gets, .. } = &mut *inner;
                slots.remove(gets, key);
                this.key = None;
                this.done = true;
                Poll::Ready(Err(ResetError(())))
            }
            State::Waiting | State::Done => {
                set_waker(&mut inner.slots.get_mut(key).waker, cx.waker());
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for Get<'_, T> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let waker = {
            let mut inner = self.rendezvous.inner.lock();
            let inner = &mut *inner;
            if inner.slots.get(key).state == State::Notified {
                inner.slots.remove(&mut inner.notified, key);
                // Pass the turn on: the freed value goes to the next waiter.
                inner.notify_getter()
            } else {
                inner.slots.remove(&mut inner.gets, key);
                None
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> fmt::Debug for Get<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Get")
            .field("registered", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

// === impl Exchange ===

/// Future returned by [`Rendezvous::exchange`].
///
/// # Panics
///
/// If polled again after it completed.
///
/// # Cancellation
///
/// Dropped while waiting for a partner, it withdraws its value. The exchange
/// completes in the poll of whichever side arrives second: that side returns
/// the first side's value at once and leaves its own in the first side's
/// future. If the first side is dropped after that and before it is polled
/// again, the value left for it is dropped with it — the second side has
/// already returned, so there is nobody to give it back to.
#[must_use = "futures do nothing unless polled"]
pub struct Exchange<'a, T> {
    rendezvous: &'a Rendezvous<T>,
    value: Option<T>,
    key: Option<usize>,
}

impl<T> Unpin for Exchange<'_, T> {}

impl<T> Future for Exchange<'_, T> {
    type Output = Result<T, ResetError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut inner = this.rendezvous.inner.lock();
        let Some(key) = this.key else {
            let Inner {
                slots, exchanges, ..
            } = &mut *inner;
            let ours = this
                .value
                .take()
                .expect("`Exchange` polled after completion");
            if let Some(partner) = slots.pop_front(exchanges) {
                let partner = slots.get_mut(partner);
                let theirs = partner
                    .value
                    .take()
                    .expect("a waiting exchange holds its value");
                partner.value = Some(ours);
                partner.state = State::Done;
                let waker = partner.waker.take();
                drop(inner);
                if let Some(w) = waker {
                    w.wake();
                }
                return Poll::Ready(Ok(theirs));
            }
            let key = slots.insert(Waiter {
                value: Some(ours),
                waker: Some(cx.waker().clone()),
                state: State::Waiting,
                detached: false,
            });
            slots.push_back(exchanges, key);
            this.key = Some(key);
            return Poll::Pending;
        };
        let Inner {
            slots, exchanges, ..
        } = &mut *inner;
        match slots.get(key).state {
            State::Done | State::Reset => {
                let reset = slots.get(key).state == State::Reset;
                let waiter = slots.remove(exchanges, key);
                this.key = None;
                let value = waiter.value.expect("a finished exchange holds a value");
                Poll::Ready(if reset {
                    Err(ResetError(value))
                } else {
                    Ok(value)
                })
            }
            State::Waiting | State::Notified => {
                set_waker(&mut slots.get_mut(key).waker, cx.waker());
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for Exchange<'_, T> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let dropped = {
            let mut inner = self.rendezvous.inner.lock();
            let Inner {
                slots, exchanges, ..
            } = &mut *inner;
            slots.remove(exchanges, key)
        };
        drop(dropped);
    }
}

impl<T> fmt::Debug for Exchange<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exchange")
            .field("registered", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

// === errors ===

/// The rendezvous was [`reset`](Rendezvous::reset) while the operation was
/// pending. Holds the value the operation gave, if any, to hand it back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ResetError<T = ()>(pub T);

impl<T> ResetError<T> {
    /// The value given back.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for ResetError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResetError(..)")
    }
}

impl<T> fmt::Display for ResetError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the rendezvous was reset")
    }
}

impl<T> core::error::Error for ResetError<T> {}

/// Why [`Rendezvous::try_put`] refused; holds the value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TryPutError<T> {
    /// No getter was waiting.
    NoGetter(T),
}

impl<T> TryPutError<T> {
    /// The value given back.
    pub fn into_inner(self) -> T {
        match self {
            TryPutError::NoGetter(v) => v,
        }
    }
}

impl<T> fmt::Debug for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NoGetter(..)")
    }
}

impl<T> fmt::Display for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no getter is waiting")
    }
}

impl<T> core::error::Error for TryPutError<T> {}

/// Why [`Rendezvous::try_get`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryGetError {
    /// No putter was waiting with a value.
    NoPutter,
}

impl fmt::Display for TryGetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no putter is waiting")
    }
}

impl core::error::Error for TryGetError {}
