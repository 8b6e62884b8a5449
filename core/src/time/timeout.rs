use core::fmt;
use core::future::{Future, IntoFuture};
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use pin_project_lite::pin_project;

use super::{Clock, Instant};

/// Runs `future` with a deadline `duration` from now on `clock`.
///
/// Resolves to `Ok(output)` if the future finishes first, `Err(Elapsed)`
/// otherwise. The inner future is polled before the timer, so one that is
/// ready exactly at the deadline still wins.
///
/// # Cancellation
///
/// When the deadline passes the inner future is dropped. Every future in this
/// crate is cancel-safe, so that loses nothing: a value not yet received
/// stays where it was, a permit or token not yet handed over stays in its
/// primitive.
pub fn timeout<C, F>(clock: &C, duration: Duration, future: F) -> Timeout<F::IntoFuture, C::Sleep>
where
    C: Clock + ?Sized,
    F: IntoFuture,
{
    Timeout {
        future: future.into_future(),
        sleep: clock.sleep(duration),
    }
}

/// Like [`timeout`], with an absolute deadline.
pub fn timeout_at<C, F>(clock: &C, deadline: Instant, future: F) -> Timeout<F::IntoFuture, C::Sleep>
where
    C: Clock + ?Sized,
    F: IntoFuture,
{
    Timeout {
        future: future.into_future(),
        sleep: clock.sleep_until(deadline),
    }
}

pin_project! {
    /// Future returned by [`timeout`] and [`timeout_at`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct Timeout<F, S> {
        #[pin]
        future: F,
        #[pin]
        sleep: S,
    }
}

impl<F, S> Timeout<F, S> {
    /// Gives back the inner future.
    pub fn into_inner(self) -> F {
        self.future
    }
}

impl<F: Future, S: Future> Future for Timeout<F, S> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(v) = this.future.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match this.sleep.poll(cx) {
            Poll::Ready(_) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The deadline of a [`timeout`] passed before its future finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl core::error::Error for Elapsed {}
