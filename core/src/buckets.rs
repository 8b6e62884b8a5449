//! Rate limiting by buckets.
//!
//! * [`TokenBucket`]: a bucket that refills continuously at a fixed rate up
//!   to its capacity; acquiring waits, fairly, until enough tokens are in.
//! * [`LeakyBucket`]: a bucket that fills with each request and drains
//!   continuously, faster or slower as an adaptive factor follows its fill
//!   level.

mod leaky;
mod token;

pub use leaky::{AdaptiveFactor, LeakyAcquireError, LeakyBucket, WaitForTokens};
pub use token::{Acquire, TokenBucket, TryAcquireError};
