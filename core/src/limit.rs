//! Limits on how often, and when, work runs.
//!
//! * [`retry`]: runs an async operation again after failures, with
//!   exponential [`Backoff`], a cap, and deterministic jitter.
//! * [`Lockout`] and [`FifoLockout`]: gates closed for a while by
//!   [`lockout_for`](Lockout::lockout_for); entrants wait until every
//!   lockout has expired.
//! * [`RateLimiter`]: at most N entries per sliding period, as permits you
//!   hold.
//! * [`RateLimited`]: an async function whose calls beyond a rate wait or
//!   fail with the time to retry.

mod lockout;
mod rate_limited;
mod rate_limiter;
mod retry;

pub use lockout::{Enter, FifoEnter, FifoLockout, Lockout};
pub use rate_limited::{Call, OverLimit, RateLimitError, RateLimited};
pub use rate_limiter::{AcquirePermit, RateLimiter, RatePermit, TryAcquirePermitError};
pub use retry::{Backoff, Delays, Jitter, Retry, retry};
