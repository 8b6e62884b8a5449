//! Smart queues: one async queue type in four orders, usable from tasks and
//! plain threads at once, with drop-oldest `push` and transactions.
//!
//! [`SmartQueue<T, O>`](SmartQueue) is generic over its [`Order`]:
//!
//! | type | order | put |
//! |---|---|---|
//! | [`SmartQueue<T>`](SmartQueue) | [`Fifo`]: first in, first out | `put(item)` |
//! | [`SmartLifoQueue<T>`] | [`Lifo`]: newest first | `put(item)` |
//! | [`SmartPriorityQueue<T>`] | [`Priority`]: smallest `T` first, ties in arrival order | `put(item)` |
//! | [`UserPriorityQueue<T, P>`] | [`UserPriority`]: smallest `P` first, ties in arrival order | `put(item, priority)` |
//!
//! Each is [bounded](SmartQueue::bounded) (puts wait for room) or
//! [unbounded](SmartQueue::unbounded). Every operation comes in three
//! flavours over the same waiting lines:
//!
//! * async: [`put`](SmartQueue::put) / [`get`](SmartQueue::get) return
//!   cancel-safe named futures;
//! * non-waiting: [`try_put`](SmartQueue::try_put) /
//!   [`try_get`](SmartQueue::try_get) say full, empty, closed or "in a
//!   transaction", giving the item back;
//! * blocking (`std`): [`blocking_put`](SmartQueue::blocking_put) /
//!   [`blocking_get`](SmartQueue::blocking_get) and their `_timeout`
//!   variants park the thread; async and blocking callers are served in one
//!   FIFO line.
//!
//! [`push`](SmartQueue::push) never waits: on a full queue it removes the
//! item next in line and returns it. [`transaction`](SmartQueue::transaction)
//! groups gets and puts that all take effect or none do.
//! [`close`](SmartQueue::close) stops puts and lets gets drain;
//! [`shutdown`](SmartQueue::shutdown) stops everything and returns what was
//! left. Inspection: [`len`](SmartQueue::len), [`capacity`](SmartQueue::capacity),
//! [`remaining_capacity`](SmartQueue::remaining_capacity),
//! [`utilisation`](SmartQueue::utilisation), [`peek`](SmartQueue::peek);
//! bulk: [`try_extend`](SmartQueue::try_extend), [`drain`](SmartQueue::drain),
//! [`clear`](SmartQueue::clear).
//!
//! Derived queues ([`map`](SmartQueue::map), [`starmap`](SmartQueue::starmap),
//! [`filter`](SmartQueue::filter), [`enumerate`](SmartQueue::enumerate))
//! are fed by a driver future the caller runs. [`ProtectedQueue`] puts a
//! key on either side. [`FixedQueue`] has a const-generic capacity and the
//! same four orders, and never allocates, not even for its waiters: async,
//! non-waiting and (with `std`) blocking access, for `no_std` targets and
//! `static`s.
//!
//! Timeouts on async operations use [`time::timeout`](crate::time::timeout)
//! like any other future; every future here is cancel-safe, so a timed-out
//! `get` takes nothing and a timed-out `put` inserts nothing.
//!
//! # Examples
//!
//! ```
//! use core::time::Duration;
//! use asyncutils_core::queues::{SmartQueue, TryGetError};
//! use asyncutils_core::time::{timeout, ManualClock};
//! use futures_lite::future;
//!
//! # future::block_on(async {
//! let queue: SmartQueue<&str> = SmartQueue::bounded(2)?;
//! queue.put("a").await?;
//! queue.put("b").await?;
//!
//! // Full: `push` makes room by handing back the oldest item.
//! assert_eq!(queue.push("c"), Ok(Some("a")));
//!
//! // A transaction that is dropped without `commit` changes nothing.
//! {
//!     let mut txn = queue.transaction().await;
//!     assert_eq!(txn.get(), Ok(&"b"));
//!     txn.put("d")?;
//!     // Dropped here without `commit`: rolled back.
//! }
//! assert_eq!(queue.len(), 2);
//!
//! assert_eq!(queue.get().await, Ok("b"));
//! assert_eq!(queue.try_get(), Ok("c"));
//! assert_eq!(queue.try_get(), Err(TryGetError::Empty));
//!
//! // Waiting for an item, with a deadline in virtual time.
//! let clock = ManualClock::new();
//! let mut get = core::pin::pin!(timeout(&clock, Duration::from_secs(1), queue.get()));
//! assert!(future::poll_once(get.as_mut()).await.is_none());
//! clock.advance(Duration::from_secs(1));
//! assert!(get.await.is_err(), "timed out, and took nothing");
//!
//! queue.close();
//! assert!(queue.try_put("late").unwrap_err().is_closed());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

#[cfg(feature = "std")]
mod blocking;
mod derived;
mod error;
mod fixed;
mod order;
mod protected;
mod smart;
mod transaction;

#[cfg(all(test, feature = "std"))]
mod tests;

pub use derived::{Derive, EnumerateStep, Filter, MapStep, SpreadFn, StarMapStep, Step};
pub use error::{
    ClosedError, GetTimeoutError, PutTimeoutError, TransactionBusy, TryGetError, TryPutError,
};
pub use fixed::{
    FixedGet, FixedLifoQueue, FixedOrder, FixedPriorityQueue, FixedPut, FixedQueue,
    FixedUserPriorityQueue,
};
pub use order::{Fifo, Lifo, Order, Priority, UserPriority};
pub use protected::{Getter, ProtectedQueue, Putter, WrongKey};
pub use smart::{Get, Put, SmartLifoQueue, SmartPriorityQueue, SmartQueue, UserPriorityQueue};
pub use transaction::{BeginTransaction, Transaction};
