//! Limits on how often, and when, work runs.
//!
//! * [`retry`]: runs an async operation again after failures, with
//!   exponential [`Backoff`], a cap, and deterministic jitter.

mod retry;

pub use retry::{Backoff, Delays, Jitter, Retry, retry};
