//! Lockouts: gates that close for a while whenever someone says so.
//!
//! Implementation notes: a lockout is one number, the instant the last
//! lockout expires. [`Lockout`] keeps it in an atomic (`fetch_max`, so
//! overlapping lockouts never shorten each other) and its entrants simply
//! sleep until it, re-reading it when they wake in case it was extended.
//! [`FifoLockout`] adds a FIFO queue of entrants in a slab (see
//! `waitlist`): only the head may pass, and each one that passes wakes the
//! next, so entrants leave in arrival order.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use pin_project_lite::pin_project;

use crate::loom::{AtomicU64, Mutex, Ordering};
use crate::time::{Clock, Instant};
use crate::waitlist::{Queue, Slots, set_waker};

#[cfg(all(test, feature = "std"))]
mod tests;

/// A gate that [`lockout_for`](Lockout::lockout_for) closes for a while;
/// [`enter`](Lockout::enter) waits until every lockout has expired.
///
/// Lockouts overlap: the gate opens when the one ending last has ended.
/// Use it to back off from a dependency that asked for a pause (a rate
/// limit response, a maintenance window) across every task that uses it.
///
/// # Fairness
///
/// None among entrants: when the gate opens they all pass, in whatever
/// order the executor runs them. [`FifoLockout`] admits them in arrival
/// order.
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use asyncutils_core::limit::Lockout;
/// use asyncutils_core::rt::VirtualRuntime;
///
/// let rt = VirtualRuntime::new();
/// let lockout = Lockout::with_clock(rt.clone());
/// lockout.lockout_for(Duration::from_secs(30));
/// lockout.lockout_for(Duration::from_secs(10)); // shorter: changes nothing
/// assert!(lockout.is_locked());
/// rt.block_on(lockout.enter());
/// assert_eq!(rt.clock().now().as_nanos(), 30_000_000_000);
/// ```
pub struct Lockout<C> {
    clock: C,
    /// Nanoseconds on `clock` at which the last lockout expires.
    until: AtomicU64,
}

impl<C: Clock + Default> Default for Lockout<C> {
    fn default() -> Self {
        Self::with_clock(C::default())
    }
}

impl<C: Clock + Default> Lockout<C> {
    /// An open lockout on the default instance of clock `C`.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl<C: Clock> Lockout<C> {
    /// An open lockout on `clock`.
    pub fn with_clock(clock: C) -> Self {
        Lockout {
            clock,
            until: AtomicU64::new(0),
        }
    }

    /// Closes the gate for `duration` from now, unless it is already closed
    /// for longer.
    pub fn lockout_for(&self, duration: Duration) {
        let until = self.clock.now().saturating_add(duration);
        self.until.fetch_max(until.as_nanos(), Ordering::AcqRel);
    }

    /// When the gate opens (in the past if it is open).
    #[must_use]
    pub fn locked_until(&self) -> Instant {
        Instant::from_nanos(self.until.load(Ordering::Acquire))
    }

    /// Whether the gate is closed now.
    #[must_use]
    pub fn is_locked(&self) -> bool {
        self.locked_until() > self.clock.now()
    }

    /// Waits until every lockout has expired.
    pub fn enter(&self) -> Enter<'_, C> {
        Enter {
            lockout: self,
            armed_for: Instant::ZERO,
            sleep: None,
        }
    }

    /// The clock the lockout reads.
    #[must_use]
    pub fn clock(&self) -> &C {
        &self.clock
    }
}

impl<C> fmt::Debug for Lockout<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lockout")
            .field(
                "until",
                &Instant::from_nanos(self.until.load(Ordering::Acquire)),
            )
            .finish_non_exhaustive()
    }
}

/// Waits for the gate: sleeps until the lockout's end, re-arming the sleep
/// whenever the end has moved since it was armed.
fn poll_gate<C: Clock>(
    lockout: &Lockout<C>,
    mut sleep: Pin<&mut Option<C::Sleep>>,
    armed_for: &mut Instant,
    cx: &mut Context<'_>,
) -> Poll<()> {
    loop {
        let until = lockout.locked_until();
        if lockout.clock.now() >= until {
            sleep.set(None);
            return Poll::Ready(());
        }
        if sleep.is_none() || *armed_for != until {
            sleep.set(Some(lockout.clock.sleep_until(until)));
            *armed_for = until;
        }
        let armed = sleep.as_mut().as_pin_mut().expect("armed above");
        if armed.poll(cx).is_pending() {
            return Poll::Pending;
        }
        // Woken: the lockout may have been extended meanwhile; check again.
    }
}

pin_project! {
    /// Future returned by [`Lockout::enter`].
    ///
    /// # Cancellation
    ///
    /// Holds nothing but its sleep: dropping it is always safe.
    #[must_use = "futures do nothing unless polled"]
    pub struct Enter<'a, C: Clock> {
        lockout: &'a Lockout<C>,
        armed_for: Instant,
        #[pin]
        sleep: Option<C::Sleep>,
    }
}

impl<C: Clock> Future for Enter<'_, C> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        poll_gate(this.lockout, this.sleep, this.armed_for, cx)
    }
}

impl<C: Clock> fmt::Debug for Enter<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Enter").finish_non_exhaustive()
    }
}

/// A [`Lockout`] whose entrants pass in arrival order.
///
/// While the gate is closed entrants queue; when it opens the first in line
/// passes and lets the next one go, and so on. An entrant arriving while
/// others queue lines up behind them even if the gate is open.
///
/// # Fairness
///
/// First come, first served.
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use asyncutils_core::limit::FifoLockout;
/// use asyncutils_core::rt::{Spawn, VirtualRuntime};
/// use std::sync::{Arc, Mutex};
///
/// let rt = VirtualRuntime::new();
/// let lockout = Arc::new(FifoLockout::with_clock(rt.clone()));
/// lockout.lockout_for(Duration::from_secs(1));
/// let order = Arc::new(Mutex::new(Vec::new()));
/// let tasks: Vec<_> = (0..3)
///     .map(|i| {
///         let (lockout, order) = (lockout.clone(), order.clone());
///         rt.spawn(async move {
///             let admitted = lockout.enter().await;
///             order.lock().unwrap().push((i, admitted));
///         })
///     })
///     .collect();
/// rt.block_on(async {
///     for t in tasks {
///         t.await.unwrap();
///     }
/// });
/// assert_eq!(*order.lock().unwrap(), [(0, 0), (1, 1), (2, 2)]);
/// ```
pub struct FifoLockout<C> {
    gate: Lockout<C>,
    queue: Mutex<Waiters>,
}

struct Waiters {
    slots: Slots<Option<Waker>>,
    queue: Queue,
    /// How many entrants have passed.
    admitted: u64,
}

impl Waiters {
    fn admit(&mut self) -> u64 {
        self.admitted += 1;
        self.admitted - 1
    }
}

impl<C: Clock + Default> Default for FifoLockout<C> {
    fn default() -> Self {
        Self::with_clock(C::default())
    }
}

impl<C: Clock + Default> FifoLockout<C> {
    /// An open lockout on the default instance of clock `C`.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl<C: Clock> FifoLockout<C> {
    /// An open lockout on `clock`.
    pub fn with_clock(clock: C) -> Self {
        FifoLockout {
            gate: Lockout::with_clock(clock),
            queue: Mutex::new(Waiters {
                slots: Slots::new(),
                queue: Queue::new(),
                admitted: 0,
            }),
        }
    }

    /// Closes the gate for `duration` from now, unless it is already closed
    /// for longer.
    pub fn lockout_for(&self, duration: Duration) {
        self.gate.lockout_for(duration);
    }

    /// When the gate opens (in the past if it is open).
    #[must_use]
    pub fn locked_until(&self) -> Instant {
        self.gate.locked_until()
    }

    /// Whether the gate is closed now.
    #[must_use]
    pub fn is_locked(&self) -> bool {
        self.gate.is_locked()
    }

    /// How many entrants are queued.
    #[must_use]
    pub fn waiting(&self) -> usize {
        self.queue.lock().queue.len()
    }

    /// Waits for every earlier entrant to pass and every lockout to expire.
    ///
    /// Resolves to the entrant's admission number: 0 for the first entrant
    /// ever to pass, 1 for the next, and so on, in the order they passed.
    pub fn enter(&self) -> FifoEnter<'_, C> {
        FifoEnter {
            lockout: self,
            key: None,
            armed_for: Instant::ZERO,
            sleep: None,
        }
    }
}

impl<C> fmt::Debug for FifoLockout<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FifoLockout")
            .field("gate", &self.gate)
            .field("waiting", &self.queue.lock().queue.len())
            .finish()
    }
}

impl Waiters {
    /// Removes `key`; if it was first in line, returns the new first's waker.
    fn leave(&mut self, key: usize) -> Option<Waker> {
        self.slots.leave(&mut self.queue, key)
    }
}

pin_project! {
    /// Future returned by [`FifoLockout::enter`].
    ///
    /// # Cancellation
    ///
    /// Dropping it leaves the queue; if it was first in line, the next
    /// entrant is woken to take its place.
    #[must_use = "futures do nothing unless polled"]
    pub struct FifoEnter<'a, C: Clock> {
        lockout: &'a FifoLockout<C>,
        key: Option<usize>,
        armed_for: Instant,
        #[pin]
        sleep: Option<C::Sleep>,
    }

    impl<C: Clock> PinnedDrop for FifoEnter<'_, C> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(key) = this.key.take() {
                let next = this.lockout.queue.lock().leave(key);
                if let Some(w) = next {
                    w.wake();
                }
            }
        }
    }
}

impl<C: Clock> Future for FifoEnter<'_, C> {
    type Output = u64;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u64> {
        let this = self.project();
        let gate = &this.lockout.gate;
        let (key, first_in_line) = {
            let mut waiters = this.lockout.queue.lock();
            let waiters = &mut *waiters;
            match *this.key {
                None if waiters.queue.is_empty() && !gate.is_locked() => {
                    return Poll::Ready(waiters.admit());
                }
                None => {
                    let key = waiters.slots.insert(Some(cx.waker().clone()));
                    waiters.slots.push_back(&mut waiters.queue, key);
                    *this.key = Some(key);
                    (key, waiters.queue.front() == Some(key))
                }
                Some(key) => {
                    set_waker(waiters.slots.get_mut(key), cx.waker());
                    (key, waiters.queue.front() == Some(key))
                }
            }
        };
        if !first_in_line {
            return Poll::Pending; // the entrant ahead wakes us when it passes
        }
        // First in line: wait for the gate itself.
        if poll_gate(gate, this.sleep, this.armed_for, cx).is_pending() {
            return Poll::Pending;
        }
        *this.key = None;
        let (admission, next) = {
            let mut waiters = this.lockout.queue.lock();
            (waiters.admit(), waiters.leave(key))
        };
        if let Some(w) = next {
            w.wake();
        }
        Poll::Ready(admission)
    }
}

impl<C: Clock> fmt::Debug for FifoEnter<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FifoEnter")
            .field("queued", &self.key.is_some())
            .finish_non_exhaustive()
    }
}
