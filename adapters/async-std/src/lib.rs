//! asyncutils on [async-std](https://docs.rs/async-std).
//!
//! async-std is deprecated upstream in favour of smol; this adapter stays
//! thin for applications that still run on it. It re-exports the whole of
//! `asyncutils-core` with the [`AsyncStd`] runtime filled in, so code
//! written against it builds unchanged on `asyncutils-tokio` or
//! `asyncutils-smol`.
//!
//! # Examples
//!
//! ```
//! use core::time::Duration;
//!
//! asyncutils_async_std::block_on(async {
//!     let r = asyncutils_async_std::time::timeout(Duration::from_secs(1), async { 5 }).await;
//!     assert_eq!(r, Ok(5));
//! });
//! ```
#![warn(missing_docs, unreachable_pub)]

use core::future::Future;

use asyncutils_core::rt::{Spawn, SpawnBlocking};
use asyncutils_core::time::{Clock, Instant};

pub use asyncutils_core as core_api;

asyncutils_core::bind_runtime!(crate::AsyncStd);

/// The async-std runtime, as an asyncutils [`Runtime`](asyncutils_core::rt::Runtime).
///
/// Timers are async-io's (the reactor async-std itself runs on).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AsyncStd;

impl Clock for AsyncStd {
    type Sleep = async_io::Timer;

    fn now(&self) -> Instant {
        Instant::now_std()
    }

    fn sleep_until(&self, deadline: Instant) -> Self::Sleep {
        async_io::Timer::at(deadline.to_std())
    }
}

impl Spawn for AsyncStd {
    fn spawn_detached<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(async_std::task::spawn(future));
    }
}

impl SpawnBlocking for AsyncStd {
    fn spawn_blocking_detached<F>(&self, f: F)
    where
        F: FnOnce() + Send + 'static,
    {
        drop(async_std::task::spawn_blocking(f));
    }
}

/// Runs `future` to completion on async-std's executor.
pub fn block_on<F: Future>(future: F) -> F::Output {
    async_std::task::block_on(future)
}
