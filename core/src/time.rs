//! Time, as the core sees it: a monotonic [`Instant`] of its own, the
//! [`Clock`] trait every time-based primitive is generic over, [`timeout`],
//! and [`ManualClock`] for virtual time.
//!
//! The core never reads a system clock. An adapter crate supplies a clock
//! backed by its runtime's timer; an embedded user implements [`Clock`] over
//! a hardware timer; tests use [`ManualClock`], where time moves only when
//! told to, so every time-based behaviour can be checked exactly.
//!
//! # Examples
//!
//! ```
//! use core::time::Duration;
//! use asyncutils_core::time::{timeout, Clock, Elapsed, ManualClock};
//!
//! # futures_lite::future::block_on(async {
//! let clock = ManualClock::new();
//! let slow = clock.sleep(Duration::from_secs(10));
//! let mut guarded = core::pin::pin!(timeout(&clock, Duration::from_secs(1), slow));
//!
//! // Nothing has elapsed yet.
//! assert!(futures_lite::future::poll_once(guarded.as_mut()).await.is_none());
//! clock.advance(Duration::from_secs(1));
//! assert_eq!(guarded.await, Err(Elapsed));
//! # });
//! ```

mod instant;
mod manual;
mod timeout;

#[cfg(all(test, feature = "std"))]
mod tests;

pub use instant::Instant;
pub(crate) use instant::duration_to_nanos;
pub use manual::{ManualClock, ManualSleep};
pub use timeout::{Elapsed, Timeout, timeout, timeout_at};

use core::future::Future;
use core::time::Duration;

/// A source of monotonic time that can also put a task to sleep.
///
/// Implementations must be monotonic: `now()` never goes backwards. The
/// `Sleep` future completes once `now() >= deadline` (its output, if any, is
/// ignored, so a runtime's own timer future can serve as it is); it must be
/// cancel-safe (dropping it releases whatever it registered) and, like every
/// future, may be polled again after it was woken spuriously.
///
/// Primitives take the clock by value; implement it for a cheap handle
/// (a unit struct, an `Arc`, a reference).
pub trait Clock {
    /// The future returned by [`sleep_until`](Clock::sleep_until).
    type Sleep: Future;

    /// The current instant.
    fn now(&self) -> Instant;

    /// A future that completes at `deadline` (at once if it has passed).
    fn sleep_until(&self, deadline: Instant) -> Self::Sleep;

    /// A future that completes after `duration` has passed.
    ///
    /// A duration too large to represent sleeps until [`Instant::MAX`].
    fn sleep(&self, duration: Duration) -> Self::Sleep {
        self.sleep_until(self.now().saturating_add(duration))
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    type Sleep = C::Sleep;

    fn now(&self) -> Instant {
        (**self).now()
    }

    fn sleep_until(&self, deadline: Instant) -> Self::Sleep {
        (**self).sleep_until(deadline)
    }
}

impl<C: Clock + ?Sized> Clock for alloc::sync::Arc<C> {
    type Sleep = C::Sleep;

    fn now(&self) -> Instant {
        (**self).now()
    }

    fn sleep_until(&self, deadline: Instant) -> Self::Sleep {
        (**self).sleep_until(deadline)
    }
}
