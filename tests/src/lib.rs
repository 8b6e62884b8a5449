//! Conformance suite support for asyncutils.
//!
//! Every scenario is written once, generic over the runtime, and run on
//! every executor by [`conformance!`]:
//!
//! | test name | executor |
//! |---|---|
//! | `tokio_current_thread` | tokio, current-thread runtime |
//! | `tokio_multi_thread` | tokio, multi-thread runtime with 2 workers |
//! | `smol` | `smol::block_on`, tasks on smol's global executor |
//! | `async_std` | `async_std::task::block_on` |
//! | `virtual_time` | [`VirtualRuntime`]: deterministic, time jumps when idle |
//! | `manual_clock` | a bare [`ManualClock`] under `futures_lite::future::block_on`, no runtime at all (only for scenarios that do not spawn) |
//!
//! A scenario that spawns is `async fn name<R: TestRuntime>(rt: R)`; one that
//! only needs a clock is `async fn name<C: TestClock>(clock: C)` and also runs
//! on `manual_clock`. On real runtimes time assertions are lower bounds
//! (`elapsed >= expected`); in virtual time they are exact — see
//! [`assert_elapsed`].
//!
//! Besides the harness this crate holds the tools the integration tests
//! share: [`Manual`] polls a future by hand with a waker that counts wakes,
//! [`cancel`] drops a future at every poll point, [`Tracked`] values report
//! whether they were dropped, [`join_in_order`] drives many futures
//! from one task, recording the order they complete in, and [`queue`]
//! holds the scenarios every queue type runs.
//!
//! ```text
//! cargo test -p asyncutils-tests
//! ```

pub mod alloc;
pub mod cancel;
pub mod exec;
mod manual;
pub mod queue;
mod timing;
mod tracked;

pub use manual::Manual;
pub use timing::{Completion, assert_duration, assert_elapsed, join_in_order};
pub use tracked::{Tracked, Witness};

use asyncutils_async_std::AsyncStd;
use asyncutils_core::rt::{Runtime, SpawnBlocking, VirtualRuntime};
use asyncutils_core::time::{Clock, ManualClock};
use asyncutils_smol::Smol;
use asyncutils_tokio::Tokio;

/// A clock a scenario can run on: every adapter's runtime, the virtual
/// runtime, and a bare [`ManualClock`].
pub trait TestClock:
    Clock<Sleep: Send + 'static> + Clone + Send + Sync + core::fmt::Debug + 'static
{
    /// The executor family, for messages.
    const NAME: &'static str;
    /// Whether time is virtual, so durations can be asserted exactly.
    const VIRTUAL: bool;
}

/// A runtime a spawning scenario can run on: a [`TestClock`] that also
/// spawns tasks and blocking jobs.
pub trait TestRuntime: TestClock + Runtime + SpawnBlocking {}

impl<T: TestClock + Runtime + SpawnBlocking> TestRuntime for T {}

impl TestClock for Tokio {
    const NAME: &'static str = "tokio";
    const VIRTUAL: bool = false;
}

impl TestClock for Smol {
    const NAME: &'static str = "smol";
    const VIRTUAL: bool = false;
}

impl TestClock for AsyncStd {
    const NAME: &'static str = "async-std";
    const VIRTUAL: bool = false;
}

impl TestClock for VirtualRuntime {
    const NAME: &'static str = "virtual time";
    const VIRTUAL: bool = true;
}

impl TestClock for ManualClock {
    const NAME: &'static str = "manual clock";
    const VIRTUAL: bool = true;
}

/// Scales a stress size down under Miri, which runs code thousands of
/// times slower.
#[must_use]
pub const fn stress_size(normal: usize, miri: usize) -> usize {
    if cfg!(miri) { miri } else { normal }
}

/// Expands to a module named after the scenario with one `#[test]` per
/// executor, so `cargo test` lists `scenario::tokio_current_thread`,
/// `scenario::virtual_time`, ...
///
/// * `conformance!(name);` — `async fn name<R: TestRuntime>(rt: R)`, run on
///   the five runtimes.
/// * `conformance!(clock: name);` — `async fn name<C: TestClock>(clock: C)`,
///   run on the five runtimes and on a bare `ManualClock`.
///
/// Attributes written before the name (say `#[ignore = "..."]`) are put on
/// every generated test.
#[macro_export]
macro_rules! conformance {
    ($(#[$attr:meta])* $name:ident) => {
        mod $name {
            $crate::conformance!(@test $(#[$attr])* $name tokio_current_thread);
            $crate::conformance!(@test $(#[$attr])* $name tokio_multi_thread);
            $crate::conformance!(@test $(#[$attr])* $name smol);
            $crate::conformance!(@test $(#[$attr])* $name async_std);
            $crate::conformance!(@test $(#[$attr])* $name virtual_time);
        }
    };
    (clock: $(#[$attr:meta])* $name:ident) => {
        mod $name {
            $crate::conformance!(@test $(#[$attr])* $name tokio_current_thread);
            $crate::conformance!(@test $(#[$attr])* $name tokio_multi_thread);
            $crate::conformance!(@test $(#[$attr])* $name smol);
            $crate::conformance!(@test $(#[$attr])* $name async_std);
            $crate::conformance!(@test $(#[$attr])* $name virtual_time);
            $crate::conformance!(@test $(#[$attr])* $name manual_clock);
        }
    };
    (@test $(#[$attr:meta])* $name:ident $exec:ident) => {
        #[test]
        $(#[$attr])*
        fn $exec() {
            $crate::exec::$exec(stringify!($name), super::$name);
        }
    };
}

/// Yields to the executor until `condition` holds.
///
/// How a scenario waits for another task to reach a state it can observe —
/// registered as a waiter, say — without sleeping for a guessed duration.
///
/// Only for states other tasks reach *without the clock*: a task that
/// yields is never idle, so on `VirtualRuntime` (and with `ManualClock`)
/// time does not advance while `until` spins, and a condition that needs a
/// timer to fire never comes true. Wait for timer-driven states with a
/// sleep loop or the primitive's own wait (`wait_for_next`, ...) instead.
pub async fn until(mut condition: impl FnMut() -> bool) {
    while !condition() {
        asyncutils_core::rt::yield_now().await;
    }
}
