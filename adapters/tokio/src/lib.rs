//! asyncutils on [tokio](https://docs.rs/tokio).
//!
//! This crate re-exports the whole of `asyncutils-core` with the [`Tokio`]
//! runtime filled in wherever a clock or spawner is needed, so code written
//! against it builds unchanged on `asyncutils-smol` or `asyncutils-async-std`:
//!
//! ```toml
//! [dependencies]
//! asyncutils = { package = "asyncutils-tokio", version = "0.1" }
//! # asyncutils = { package = "asyncutils-smol", version = "0.1" }  # the one-line swap
//! ```
//!
//! # Examples
//!
//! ```
//! use core::time::Duration;
//! use asyncutils_tokio::buckets::TokenBucket;
//!
//! asyncutils_tokio::block_on(async {
//!     let bucket = TokenBucket::new(1000.0, 1.0).unwrap();
//!     bucket.acquire(1).await.unwrap();
//!     bucket.acquire(1).await.unwrap(); // waits about a millisecond
//!     asyncutils_tokio::time::sleep(Duration::from_millis(1)).await;
//! });
//! ```
#![warn(missing_docs, unreachable_pub)]

use core::future::Future;

use asyncutils_core::rt::{Spawn, SpawnBlocking};
use asyncutils_core::time::{Clock, Instant};

pub use asyncutils_core as core_api;

asyncutils_core::bind_runtime!(crate::Tokio);

/// The tokio runtime, as an asyncutils [`Runtime`](asyncutils_core::rt::Runtime).
///
/// Its clock is tokio's (so `tokio::time::pause` applies); spawning uses the
/// runtime of the calling context and, like `tokio::spawn`, panics outside
/// one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokio;

impl Clock for Tokio {
    type Sleep = tokio::time::Sleep;

    fn now(&self) -> Instant {
        Instant::from_std(tokio::time::Instant::now().into_std())
    }

    fn sleep_until(&self, deadline: Instant) -> Self::Sleep {
        tokio::time::sleep_until(tokio::time::Instant::from_std(deadline.to_std()))
    }
}

impl Spawn for Tokio {
    fn spawn_detached<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(tokio::spawn(future));
    }
}

impl SpawnBlocking for Tokio {
    fn spawn_blocking_detached<F>(&self, f: F)
    where
        F: FnOnce() + Send + 'static,
    {
        drop(tokio::task::spawn_blocking(f));
    }
}

/// Runs `future` to completion on a new multi-threaded tokio runtime with
/// all drivers enabled.
///
/// # Panics
///
/// If the runtime cannot be built (the OS refused threads), or if called
/// from inside another tokio runtime.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("failed to build a tokio runtime")
        .block_on(future)
}
