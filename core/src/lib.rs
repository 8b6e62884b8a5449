//! Runtime-agnostic async concurrency primitives.
//!
//! `asyncutils-core` is the `no_std + alloc` heart of asyncutils: every
//! primitive is written against [`core::task::Waker`], a pluggable
//! [`Clock`](time::Clock) and a pluggable [`Spawn`](rt::Spawn)er, so the same
//! code runs on tokio, smol, async-std, an embedded executor, or in virtual
//! time. Applications normally depend on an adapter crate
//! (`asyncutils-tokio`, `asyncutils-smol`, `asyncutils-async-std`), which
//! re-exports all of this with its runtime filled in.
//!
//! | module | holds |
//! |---|---|
//! | [`time`] | [`Instant`](time::Instant), [`Clock`](time::Clock), [`timeout`](time::timeout), [`ManualClock`](time::ManualClock) |
//! | [`rt`] | [`Spawn`](rt::Spawn), [`JoinHandle`](rt::JoinHandle), [`yield_now`](rt::yield_now), `VirtualRuntime` (std) |
//! | [`audit`] | audit events: [`emit!`], listening, extracting, the [`CATALOG`](audit::CATALOG) |
//! | [`batch`] | [`Waterfall`](batch::Waterfall) (size-or-time batching) |
//! | [`buckets`] | [`TokenBucket`](buckets::TokenBucket), [`LeakyBucket`](buckets::LeakyBucket) |
//! | [`channels`] | [`Rendezvous`](channels::Rendezvous), [`EventBus`](channels::EventBus), [`Observable`](channels::Observable) |
//! | [`limit`] | [`RateLimiter`](limit::RateLimiter), [`RateLimited`](limit::RateLimited), [`Lockout`](limit::Lockout), [`FifoLockout`](limit::FifoLockout), [`retry`](limit::retry) |
//! | [`locks`] | [`CircuitBreaker`](locks::CircuitBreaker), [`PrioritySemaphore`](locks::PrioritySemaphore), [`ResourceGuard`](locks::ResourceGuard), [`UniqueResourceGuard`](locks::UniqueResourceGuard) |
//! | [`queues`] | [`SmartQueue`](queues::SmartQueue) (FIFO, LIFO, priority, user priority; async, `try_*` and blocking; drop-oldest `push`; transactions; derived queues), [`ProtectedQueue`](queues::ProtectedQueue), [`FixedQueue`](queues::FixedQueue) |
//! | [`error`] | [`InvalidArgument`](error::InvalidArgument), [`ErrorGroup`](error::ErrorGroup) |
//!
//! # Rules every primitive follows
//!
//! * **Cancel-safe**: dropping any future at any await point loses nothing;
//!   each future documents its `# Cancellation` behaviour.
//! * **No panics on input**: bad arguments are an [`InvalidArgument`](error::InvalidArgument)
//!   error naming the argument.
//! * **Allocation-free hot path**, **fair** (FIFO unless documented),
//!   **audited** (see [`audit::CATALOG`]).
//!
//! # Features
//!
//! * `std` (default): a parking mutex (`parking_lot`) instead of a spin lock,
//!   `VirtualRuntime`, `SpawnBlocking`, conversions from `std::time::Instant`.
//!   Without it the crate needs only `alloc` and atomics with
//!   compare-and-swap.
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs, unreachable_pub)]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub(crate) mod intrusive;
pub(crate) mod loom;
#[cfg(all(test, feature = "std"))]
mod loom_models;
#[cfg(all(test, feature = "std"))]
pub(crate) mod test_util;
pub(crate) mod waitlist;

pub mod audit;
pub mod batch;
pub mod buckets;
pub mod channels;
pub mod error;
pub mod limit;
pub mod locks;
pub mod queues;
pub mod rt;
pub mod time;

mod bind;
