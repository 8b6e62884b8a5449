//! The macro adapter crates use to re-export the whole API with their
//! runtime filled in.

/// Re-exports the whole core API, binding every runtime parameter to `$rt`.
///
/// An adapter crate calls this once at its root (`bind_runtime!(crate::Tokio);`)
/// so that applications write `use asyncutils::buckets::TokenBucket;` and
/// `asyncutils::time::sleep(d)` without naming a runtime, and switch runtimes
/// by changing which adapter the `asyncutils` dependency points at.
///
/// `$rt` must implement [`Clock`](crate::time::Clock),
/// [`Spawn`](crate::rt::Spawn), `SpawnBlocking` and `Default`.
///
/// What it generates, per module: everything from the core module, plus
/// * `time`: `now`, `sleep`, `sleep_until`, `timeout(duration, future)` and
///   `timeout_at(deadline, future)` on `$rt`;
/// * `rt`: `spawn(future)` and `spawn_blocking(f)` on `$rt`, and the type
///   `DefaultRuntime = $rt`;
/// * `buckets`: `TokenBucket` and `LeakyBucket` on `$rt`;
/// * `limit`: `retry(backoff, operation)` sleeping on `$rt`; `Lockout`,
///   `FifoLockout`, `RateLimiter` and `RateLimited<F>` on `$rt`;
/// * `locks`: `CircuitBreaker<P>` on `$rt`;
/// * `batch`: `Waterfall<T>` on `$rt`;
/// * `channels`: `EventBus<T>` and `Debounce<T>` (an observable's debounce
///   driver) on `$rt`;
/// * `queues`: the core's queues as they are (they take no clock).
#[macro_export]
macro_rules! bind_runtime {
    ($rt:ty) => {
        pub use $crate::{audit, emit, error};

        /// The runtime this crate binds.
        pub type DefaultRuntime = $rt;

        /// Time on this crate's runtime; see the core's `time` module.
        pub mod time {
            pub use $crate::time::*;

            fn runtime() -> $rt {
                <$rt as ::core::default::Default>::default()
            }

            /// The current instant on this runtime's clock.
            #[must_use]
            pub fn now() -> $crate::time::Instant {
                $crate::time::Clock::now(&runtime())
            }

            /// Sleeps for `duration`.
            pub fn sleep(duration: ::core::time::Duration) -> <$rt as $crate::time::Clock>::Sleep {
                $crate::time::Clock::sleep(&runtime(), duration)
            }

            /// Sleeps until `deadline`.
            pub fn sleep_until(
                deadline: $crate::time::Instant,
            ) -> <$rt as $crate::time::Clock>::Sleep {
                $crate::time::Clock::sleep_until(&runtime(), deadline)
            }

            /// Runs `future` with a deadline `duration` from now; see the
            /// core's `time::timeout`.
            pub fn timeout<F: ::core::future::IntoFuture>(
                duration: ::core::time::Duration,
                future: F,
            ) -> $crate::time::Timeout<F::IntoFuture, <$rt as $crate::time::Clock>::Sleep> {
                $crate::time::timeout(&runtime(), duration, future)
            }

            /// Runs `future` with the absolute deadline `deadline`.
            pub fn timeout_at<F: ::core::future::IntoFuture>(
                deadline: $crate::time::Instant,
                future: F,
            ) -> $crate::time::Timeout<F::IntoFuture, <$rt as $crate::time::Clock>::Sleep> {
                $crate::time::timeout_at(&runtime(), deadline, future)
            }
        }

        /// Tasks on this crate's runtime; see the core's `rt` module.
        pub mod rt {
            pub use $crate::rt::*;

            /// Spawns `future` on this runtime.
            pub fn spawn<F>(future: F) -> $crate::rt::JoinHandle<F::Output>
            where
                F: ::core::future::Future + Send + 'static,
                F::Output: Send + 'static,
            {
                $crate::rt::Spawn::spawn(&<$rt as ::core::default::Default>::default(), future)
            }

            /// Runs `f` on this runtime's blocking pool.
            pub fn spawn_blocking<F, R>(f: F) -> $crate::rt::JoinHandle<R>
            where
                F: FnOnce() -> R + Send + 'static,
                R: Send + 'static,
            {
                $crate::rt::SpawnBlocking::spawn_blocking(
                    &<$rt as ::core::default::Default>::default(),
                    f,
                )
            }
        }

        /// Retrying and other limits on this crate's clock; see the core's
        /// `limit` module.
        pub mod limit {
            pub use $crate::limit::*;

            /// A [`Lockout`]($crate::limit::Lockout) on this crate's clock.
            pub type Lockout = $crate::limit::Lockout<$rt>;

            /// A [`FifoLockout`]($crate::limit::FifoLockout) on this crate's
            /// clock.
            pub type FifoLockout = $crate::limit::FifoLockout<$rt>;

            /// A [`RateLimiter`]($crate::limit::RateLimiter) on this crate's
            /// clock.
            pub type RateLimiter = $crate::limit::RateLimiter<$rt>;

            /// A [`RateLimited`]($crate::limit::RateLimited) function on this
            /// crate's clock.
            pub type RateLimited<F> = $crate::limit::RateLimited<F, $rt>;

            /// Retries `operation` with `backoff`, sleeping on this crate's
            /// runtime; see the core's `limit::retry`.
            pub fn retry<F, Fut, T, E>(
                backoff: &$crate::limit::Backoff,
                operation: F,
            ) -> $crate::limit::Retry<$rt, F, Fut, E>
            where
                F: FnMut() -> Fut,
                Fut: ::core::future::Future<Output = Result<T, E>>,
            {
                $crate::limit::retry(
                    <$rt as ::core::default::Default>::default(),
                    backoff,
                    operation,
                )
            }
        }

        /// Locks and guards on this crate's runtime; see the core's `locks`
        /// module.
        pub mod locks {
            pub use $crate::locks::*;

            /// A [`CircuitBreaker`]($crate::locks::CircuitBreaker) on this
            /// runtime's clock; `P` classifies errors (default: every error
            /// is a failure).
            pub type CircuitBreaker<P = $crate::locks::AnyError> =
                $crate::locks::CircuitBreaker<$rt, P>;
        }

        /// Smart queues; see the core's `queues` module.
        pub mod queues {
            pub use $crate::queues::*;
        }

        /// Batching on this crate's runtime clock; see the core's `batch`
        /// module.
        pub mod batch {
            pub use $crate::batch::*;

            /// A [`Waterfall`]($crate::batch::Waterfall) on this crate's
            /// runtime clock.
            pub type Waterfall<T> = $crate::batch::Waterfall<T, $rt>;
        }

        /// Rendezvous and other channels; see the core's `channels` module.
        pub mod channels {
            pub use $crate::channels::*;

            /// The driver of a debounced
            /// [`Observable`]($crate::channels::Observable) on this crate's
            /// runtime clock.
            pub type Debounce<T> = $crate::channels::Debounce<T, $rt>;

            /// An [`EventBus`]($crate::channels::EventBus) whose timeouts
            /// run on this crate's runtime clock.
            pub type EventBus<T> = $crate::channels::EventBus<T, $rt>;
        }

        /// Token buckets on this crate's clock; see the core's `buckets` module.
        pub mod buckets {
            pub use $crate::buckets::*;

            /// A [`TokenBucket`]($crate::buckets::TokenBucket) on this
            /// crate's runtime clock.
            pub type TokenBucket = $crate::buckets::TokenBucket<$rt>;

            /// A [`LeakyBucket`]($crate::buckets::LeakyBucket) on this
            /// crate's runtime clock.
            pub type LeakyBucket = $crate::buckets::LeakyBucket<$rt>;
        }
    };
}
