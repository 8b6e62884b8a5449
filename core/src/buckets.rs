//! Rate limiting by token buckets.
//!
//! * [`TokenBucket`]: a bucket that refills continuously at a fixed rate up
//!   to its capacity; acquiring waits, fairly, until enough tokens are in.

mod token;

pub use token::{Acquire, TokenBucket, TryAcquireError};
