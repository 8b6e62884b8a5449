//! Batching: gather items and hand them on in groups.
//!
//! * [`Waterfall`]: collects items from any number of producers and hands
//!   them to an async callback in batches, as soon as `max_quantity` items
//!   are waiting or `max_wait` has passed since the first item of the batch,
//!   whichever comes first. A [`Driver`] future, which the user spawns or
//!   awaits, does the flushing; [`stop`](Waterfall::stop) drains what is
//!   left within an optional deadline.
//!
//! # Examples
//!
//! A batch goes out when it is full, without waiting, or when its first
//! item has waited `max_wait`:
//!
//! ```
//! use core::time::Duration;
//! use std::sync::Mutex;
//! use asyncutils_core::batch::Waterfall;
//! use asyncutils_core::error::BoxError;
//! use asyncutils_core::time::{Clock, Instant, ManualClock};
//! use futures_lite::future;
//!
//! # future::block_on(async {
//! let clock = ManualClock::new();
//! let waterfall = Waterfall::with_clock(3, Duration::from_millis(100), clock.clone())?;
//! let delivered = Mutex::new(Vec::new());
//! let mut driver = Box::pin(waterfall.driver(|batch: Vec<u32>| {
//!     delivered.lock().unwrap().push((clock.now(), batch));
//!     async { Ok::<(), BoxError>(()) }
//! }));
//! let mut step = || future::block_on(future::poll_once(driver.as_mut()));
//!
//! // By size: the third item completes a batch, delivered at once.
//! for i in 1..=3 {
//!     waterfall.try_put(i).unwrap();
//! }
//! assert!(step().is_none());
//! // By time: 4 at t=0 and 5 at t=30 ms leave together at t=100 ms.
//! waterfall.try_put(4).unwrap();
//! assert!(step().is_none());
//! clock.advance(Duration::from_millis(30));
//! waterfall.try_put(5).unwrap();
//! clock.advance(Duration::from_millis(70));
//! assert!(step().is_none());
//!
//! // Stop: whatever is left is drained, then the driver finishes.
//! waterfall.try_put(6).unwrap();
//! let mut stop = Box::pin(waterfall.stop(None));
//! assert!(future::poll_once(stop.as_mut()).await.is_none());
//! let report = step().expect("the driver finishes once drained");
//! assert_eq!(stop.await.dropped(), 0);
//! assert_eq!((report.batches(), report.items()), (3, 6));
//! assert!(report.errors().is_empty());
//!
//! let ms = |n: u64| Instant::from_nanos(n * 1_000_000);
//! assert_eq!(
//!     *delivered.lock().unwrap(),
//!     [(ms(0), vec![1, 2, 3]), (ms(100), vec![4, 5]), (ms(100), vec![6])]
//! );
//! # Ok::<(), asyncutils_core::error::InvalidArgument>(())
//! # }).unwrap();
//! ```

mod waterfall;

pub use waterfall::{Drained, Driver, Put, Report, Stop, StoppedError, TryPutError, Waterfall};
