//! A FIFO queue of fixed capacity `N` stored inline: no allocation, ever.
//!
//! For targets without a heap (or code that must not touch it): the items
//! live in an array inside the value, so a `FixedQueue` can sit in a
//! `static`. It offers the non-waiting half of [`SmartQueue`](super::SmartQueue):
//! `try_put`, `try_get`, drop-oldest `push`, `peek`, `close` and inspection.
//! Waiting (`put`/`get` futures, blocking calls) needs per-waiter storage
//! and is what `SmartQueue` is for.

use core::fmt;

use super::error::{TryGetError, TryPutError};
use crate::loom::Mutex;

/// A FIFO queue holding at most `N` items inline, without allocating.
///
/// Share it by reference (or in a `static`); every method takes `&self`
/// and holds an internal lock for a few loads and stores.
///
/// # Examples
///
/// ```
/// use asyncutils_core::queues::FixedQueue;
///
/// static EVENTS: FixedQueue<u16, 2> = FixedQueue::new();
///
/// EVENTS.try_put(1).unwrap();
/// EVENTS.try_put(2).unwrap();
/// assert!(EVENTS.try_put(3).unwrap_err().is_full());
/// assert_eq!(EVENTS.push(3), Ok(Some(1)), "the oldest makes room");
/// assert_eq!(EVENTS.try_get(), Ok(2));
/// ```
///
/// A zero capacity is refused when the program is compiled:
///
/// ```compile_fail
/// let q = asyncutils_core::queues::FixedQueue::<u8, 0>::new();
/// ```
pub struct FixedQueue<T, const N: usize> {
    inner: Mutex<Ring<T, N>>,
}

struct Ring<T, const N: usize> {
    slots: [Option<T>; N],
    head: usize,
    len: usize,
    closed: bool,
}

impl<T, const N: usize> Ring<T, N> {
    fn pop(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let item = self.slots[self.head].take();
        self.head = (self.head + 1) % N;
        self.len -= 1;
        item
    }

    fn push(&mut self, item: T) {
        debug_assert!(self.len < N);
        self.slots[(self.head + self.len) % N] = Some(item);
        self.len += 1;
    }
}

impl<T, const N: usize> FixedQueue<T, N> {
    /// An empty queue. `N` must be at least 1 (checked at compile time).
    #[must_use]
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        const { assert!(N > 0, "a FixedQueue needs a capacity of at least 1") };
        FixedQueue {
            inner: Mutex::new(Ring {
                slots: [const { None }; N],
                head: 0,
                len: 0,
                closed: false,
            }),
        }
    }

    /// Puts `item` at the back if there is room.
    ///
    /// # Errors
    ///
    /// With the item: [`TryPutError::Full`], or [`TryPutError::Closed`]
    /// after [`close`](Self::close).
    pub fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
        let mut ring = self.inner.lock();
        if ring.closed {
            return Err(TryPutError::Closed(item));
        }
        if ring.len == N {
            return Err(TryPutError::Full(item));
        }
        ring.push(item);
        Ok(())
    }

    /// Puts `item` at the back; if the queue is full, first removes the
    /// oldest item and returns it.
    ///
    /// Raises `asyncutils.queues.SmartQueue.push` (`addr`, and the item's
    /// type name as `pushed` and `popped`) when it displaces an item.
    ///
    /// # Errors
    ///
    /// [`TryPutError::Closed`] with the item after [`close`](Self::close).
    pub fn push(&self, item: T) -> Result<Option<T>, TryPutError<T>> {
        let popped = {
            let mut ring = self.inner.lock();
            if ring.closed {
                return Err(TryPutError::Closed(item));
            }
            let popped = if ring.len == N { ring.pop() } else { None };
            ring.push(item);
            popped
        };
        if popped.is_some() {
            let name = core::any::type_name::<T>();
            crate::emit!(
                "asyncutils.queues.SmartQueue.push",
                addr = crate::audit::Value::addr_of(self),
                pushed = name,
                popped = name
            );
        }
        Ok(popped)
    }

    /// Takes the oldest item.
    ///
    /// # Errors
    ///
    /// [`TryGetError::Empty`], or [`TryGetError::Closed`] once a closed
    /// queue is empty.
    pub fn try_get(&self) -> Result<T, TryGetError> {
        let mut ring = self.inner.lock();
        match ring.pop() {
            Some(item) => Ok(item),
            None if ring.closed => Err(TryGetError::Closed),
            None => Err(TryGetError::Empty),
        }
    }

    /// A clone of the oldest item.
    ///
    /// # Errors
    ///
    /// As [`try_get`](Self::try_get).
    pub fn peek(&self) -> Result<T, TryGetError>
    where
        T: Clone,
    {
        let ring = self.inner.lock();
        match &ring.slots[ring.head] {
            Some(item) if ring.len > 0 => Ok(item.clone()),
            _ if ring.closed => Err(TryGetError::Closed),
            _ => Err(TryGetError::Empty),
        }
    }

    /// Refuses further puts; gets drain what is left.
    pub fn close(&self) {
        self.inner.lock().closed = true;
    }

    /// Whether [`close`](Self::close) was called.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.inner.lock().closed
    }

    /// The number of items.
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner.lock().len
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the queue holds `N` items.
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.len() == N
    }

    /// `N`.
    #[must_use]
    pub const fn capacity(&self) -> usize {
        N
    }

    /// `N - len`.
    #[must_use]
    pub fn remaining_capacity(&self) -> usize {
        N - self.len()
    }

    /// Moves every item, oldest first, into `out`; returns how many.
    pub fn drain_into<C: Extend<T>>(&self, out: &mut C) -> usize {
        let mut n = 0;
        // One at a time: `out.extend` is user code and runs unlocked.
        loop {
            let next = self.inner.lock().pop();
            let Some(item) = next else { break };
            out.extend(core::iter::once(item));
            n += 1;
        }
        n
    }
}

#[cfg(not(loom))]
impl<T, const N: usize> Default for FixedQueue<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, const N: usize> fmt::Debug for FixedQueue<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ring = self.inner.lock();
        f.debug_struct("FixedQueue")
            .field("len", &ring.len)
            .field("capacity", &N)
            .field("closed", &ring.closed)
            .finish()
    }
}
