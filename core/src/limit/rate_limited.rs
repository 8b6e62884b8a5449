//! An async function wrapped in a call-rate limit.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, ready};
use core::time::Duration;

use pin_project_lite::pin_project;

use super::rate_limiter::{AcquirePermit, RateLimiter, TryAcquirePermitError};
use crate::error::InvalidArgument;
use crate::time::Clock;

#[cfg(all(test, feature = "std"))]
mod tests;

/// What a [`RateLimited`] function does with a call over the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverLimit {
    /// Wait for a slot (first come, first served).
    Wait,
    /// Fail at once with a [`RateLimitError`] saying when to retry.
    Fail,
}

/// A call was refused: the limit was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitError {
    retry_after: Option<Duration>,
}

impl RateLimitError {
    /// When a call would next be admitted, if nobody takes the slot first
    /// (`None` while other calls are queued for it).
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Display for RateLimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.retry_after {
            Some(d) => write!(f, "rate limit reached; retry after {d:?}"),
            None => f.write_str("rate limit reached"),
        }
    }
}

impl core::error::Error for RateLimitError {}

/// An async function that starts at most `calls` times per sliding
/// `period`; further calls wait or fail, as [`OverLimit`] says.
///
/// A call counts from the moment it starts, however long it runs (see
/// [`RateLimiter`] for limiting how many run at once as well).
///
/// Raises `asyncutils.func.RateLimited` (`fname`, `calls`, `period` in
/// seconds) when built; `fname` is the function's type name.
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use asyncutils_core::limit::{OverLimit, RateLimited};
/// use asyncutils_core::time::ManualClock;
///
/// let clock = ManualClock::new();
/// let lookup = RateLimited::with_clock(
///     |id: u32| async move { id * 2 },
///     2,
///     Duration::from_secs(1),
///     OverLimit::Fail,
///     clock.clone(),
/// )?;
/// futures_lite::future::block_on(async {
///     assert_eq!(lookup.call(1).await, Ok(2));
///     assert_eq!(lookup.call(2).await, Ok(4));
///     let refused = lookup.call(3).await.unwrap_err();
///     assert_eq!(refused.retry_after(), Some(Duration::from_secs(1)));
///     clock.advance(Duration::from_secs(1));
///     assert_eq!(lookup.call(3).await, Ok(6));
/// });
/// # Ok::<(), asyncutils_core::error::InvalidArgument>(())
/// ```
pub struct RateLimited<F, C> {
    function: F,
    limiter: RateLimiter<C>,
    mode: OverLimit,
}

impl<F, C: Clock + Default> RateLimited<F, C> {
    /// Wraps `function` on the default instance of clock `C`.
    ///
    /// # Errors
    ///
    /// See [`with_clock`](RateLimited::with_clock).
    pub fn new(
        function: F,
        calls: usize,
        period: Duration,
        mode: OverLimit,
    ) -> Result<Self, InvalidArgument> {
        Self::with_clock(function, calls, period, mode, C::default())
    }
}

impl<F, C: Clock> RateLimited<F, C> {
    /// Wraps `function`: at most `calls` starts per sliding `period` on
    /// `clock`.
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] naming `calls` if it is zero, `period` if it is
    /// zero.
    pub fn with_clock(
        function: F,
        calls: usize,
        period: Duration,
        mode: OverLimit,
        clock: C,
    ) -> Result<Self, InvalidArgument> {
        let limiter = RateLimiter::with_clock(calls, period, clock).map_err(|e| {
            if e.name() == "limit" {
                InvalidArgument::new("calls", e.requirement())
            } else {
                e
            }
        })?;
        crate::emit!(
            "asyncutils.func.RateLimited",
            fname = core::any::type_name::<F>(),
            calls = calls,
            period = period.as_secs_f64()
        );
        Ok(RateLimited {
            function,
            limiter,
            mode,
        })
    }

    /// The limiter counting the calls.
    #[must_use]
    pub fn limiter(&self) -> &RateLimiter<C> {
        &self.limiter
    }

    /// Calls the function with `args` once the limit allows.
    ///
    /// The future resolves to the function's output, or (with
    /// [`OverLimit::Fail`]) to a [`RateLimitError`] at once if the limit is
    /// reached.
    pub fn call<A, Fut>(&self, args: A) -> Call<'_, F, C, A, Fut>
    where
        F: Fn(A) -> Fut,
        Fut: Future,
    {
        Call {
            wrapped: self,
            args: Some(args),
            stage: Stage::Start,
        }
    }
}

impl<F, C> fmt::Debug for RateLimited<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimited")
            .field("function", &core::any::type_name::<F>())
            .field("limiter", &self.limiter)
            .field("mode", &self.mode)
            .finish()
    }
}

pin_project! {
    /// Future returned by [`RateLimited::call`].
    ///
    /// # Cancellation
    ///
    /// Dropped while waiting for a slot, it takes none (see
    /// [`RateLimiter::acquire`]); dropped while the function runs, it drops
    /// the function's future, and the call still counts as made.
    #[must_use = "futures do nothing unless polled"]
    pub struct Call<'a, F, C: Clock, A, Fut> {
        wrapped: &'a RateLimited<F, C>,
        args: Option<A>,
        #[pin]
        stage: Stage<'a, C, Fut>,
    }
}

pin_project! {
    #[project = StageProj]
    enum Stage<'a, C: Clock, Fut> {
        Start,
        Waiting { #[pin] permit: AcquirePermit<'a, C> },
        Running { #[pin] call: Fut },
    }
}

impl<'a, F, C, A, Fut> Future for Call<'a, F, C, A, Fut>
where
    F: Fn(A) -> Fut,
    C: Clock,
    Fut: Future,
{
    type Output = Result<Fut::Output, RateLimitError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.stage.as_mut().project() {
                StageProj::Start => {
                    let wrapped: &'a RateLimited<F, C> = this.wrapped;
                    match wrapped.mode {
                        OverLimit::Wait => this.stage.set(Stage::Waiting {
                            permit: wrapped.limiter.acquire(),
                        }),
                        OverLimit::Fail => match wrapped.limiter.try_acquire() {
                            Ok(permit) => {
                                drop(permit); // stamps the start of the call
                                this.stage.set(Stage::Running {
                                    call: (wrapped.function)(
                                        this.args.take().expect("called once"),
                                    ),
                                });
                            }
                            Err(e) => {
                                let retry_after = match e {
                                    TryAcquirePermitError::WindowFull { retry_after } => {
                                        Some(retry_after)
                                    }
                                    TryAcquirePermitError::Busy => None,
                                };
                                return Poll::Ready(Err(RateLimitError { retry_after }));
                            }
                        },
                    }
                }
                StageProj::Waiting { permit } => {
                    drop(ready!(permit.poll(cx)));
                    let call = (this.wrapped.function)(this.args.take().expect("called once"));
                    this.stage.set(Stage::Running { call });
                }
                StageProj::Running { call } => return call.poll(cx).map(Ok),
            }
        }
    }
}

impl<F, C: Clock, A, Fut> fmt::Debug for Call<'_, F, C, A, Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call").finish_non_exhaustive()
    }
}
