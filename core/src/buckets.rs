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

/// Rounds a positive finite float to the nearest integer (half up); works
/// without `std`'s `f64::round`. Both buckets turn rates and sizes into
/// whole nanoseconds with it.
fn round_positive(x: f64) -> f64 {
    if x >= (1u64 << 52) as f64 {
        return x; // already integral
    }
    let whole = x as u64; // truncates
    // `x - whole` is exact below 2^52, unlike `x + 0.5`.
    if x - whole as f64 >= 0.5 {
        (whole + 1) as f64
    } else {
        whole as f64
    }
}
