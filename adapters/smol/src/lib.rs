//! asyncutils on [smol](https://docs.rs/smol).
//!
//! This crate re-exports the whole of `asyncutils-core` with the [`Smol`]
//! runtime filled in wherever a clock or spawner is needed, so code written
//! against it builds unchanged on `asyncutils-tokio` or
//! `asyncutils-async-std`:
//!
//! ```toml
//! [dependencies]
//! asyncutils = { package = "asyncutils-smol", version = "0.1" }
//! ```
//!
//! # Examples
//!
//! ```
//! use asyncutils_smol::channels::Rendezvous;
//!
//! let rv = Rendezvous::new();
//! let got = asyncutils_smol::block_on(async {
//!     let (_, got) = futures_lite::future::zip(rv.put(7), rv.get()).await;
//!     got
//! });
//! assert_eq!(got, Ok(7));
//! ```
#![warn(missing_docs, unreachable_pub)]

use core::future::Future;

use asyncutils_core::rt::{Spawn, SpawnBlocking};
use asyncutils_core::time::{Clock, Instant};

pub use asyncutils_core as core_api;

asyncutils_core::bind_runtime!(crate::Smol);

/// The smol runtime, as an asyncutils [`Runtime`](asyncutils_core::rt::Runtime).
///
/// Timers are async-io's; tasks go to smol's global executor, blocking
/// closures to its blocking pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Smol;

impl Clock for Smol {
    type Sleep = async_io::Timer;

    fn now(&self) -> Instant {
        Instant::now_std()
    }

    fn sleep_until(&self, deadline: Instant) -> Self::Sleep {
        async_io::Timer::at(deadline.to_std())
    }
}

impl Spawn for Smol {
    fn spawn_detached<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        smol::spawn(future).detach();
    }
}

impl SpawnBlocking for Smol {
    fn spawn_blocking_detached<F>(&self, f: F)
    where
        F: FnOnce() + Send + 'static,
    {
        smol::unblock(f).detach();
    }
}

/// Runs `future` to completion on the current thread, driving smol's
/// reactor; spawned tasks run on smol's global executor.
pub fn block_on<F: Future>(future: F) -> F::Output {
    smol::block_on(future)
}
