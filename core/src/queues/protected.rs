//! A queue whose getting and/or putting side needs a key.
//!
//! Keys are byte strings given at construction. They are compared in
//! constant time (the time depends only on the stored key's length), wiped
//! from memory when the queue is dropped, and never appear in audit
//! events, `Debug` output or error messages.

use alloc::boxed::Box;
use core::fmt;
#[cfg(feature = "std")]
use core::time::Duration;

use super::error::{TryGetError, TryPutError};
use super::order::{Fifo, Order};
use super::smart::{Get, Put, SmartQueue};
use crate::error::InvalidArgument;

#[cfg(feature = "std")]
use super::error::{ClosedError, GetTimeoutError, PutTimeoutError};

/// A secret key; wiped on drop, never printed.
struct Key(Box<[u8]>);

impl Key {
    fn new(bytes: &[u8]) -> Self {
        Key(bytes.into())
    }

    /// Constant-time comparison: every byte of the stored key is looked at
    /// whatever `given` is.
    fn matches(&self, given: &[u8]) -> bool {
        let mut diff = u8::from(self.0.len() != given.len());
        for (i, &b) in self.0.iter().enumerate() {
            diff |= b ^ given.get(i).copied().unwrap_or(!b);
        }
        core::hint::black_box(diff) == 0
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        for b in self.0.iter_mut() {
            // SAFETY: `b` is a valid, aligned, exclusive reference; the
            // volatile write only keeps the compiler from eliding the wipe.
            unsafe { core::ptr::write_volatile(b, 0) };
        }
    }
}

/// The key given for a protected side did not match (or none was given).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongKey;

impl fmt::Display for WrongKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("wrong or missing key for a protected queue")
    }
}

impl core::error::Error for WrongKey {}

/// A [`SmartQueue`] whose get side, put side or both require a key, the
/// seed library's `password_queue`.
///
/// Access is checked once per handle: [`getter`](Self::getter) and
/// [`putter`](Self::putter) check the key and return a [`Getter`] or
/// [`Putter`] through which the operations go. For a side that is not
/// protected, pass `None`. Inspection (`len`, `capacity`, ...) needs no
/// key.
///
/// Raises `asyncutils.queues.password_queue` at construction, with
/// `get_from` / `put_from` set to the name of the constructor argument
/// holding the key (`"get_key"`, `"put_key"`) for a protected side, or
/// unset for an open one — never the key.
///
/// # Examples
///
/// ```
/// use asyncutils_core::queues::{ProtectedQueue, SmartQueue, WrongKey};
///
/// let queue = ProtectedQueue::new(SmartQueue::<u32>::unbounded(), Some(b"reader"), None)?;
/// queue.putter(None)?.try_put(7)?; // the put side is open
/// assert_eq!(queue.getter(Some(b"nope")).err(), Some(WrongKey));
/// assert_eq!(queue.getter(Some(b"reader"))?.try_get(), Ok(7));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ProtectedQueue<T, O: Order<T> = Fifo> {
    queue: SmartQueue<T, O>,
    get_key: Option<Key>,
    put_key: Option<Key>,
}

impl<T, O: Order<T>> ProtectedQueue<T, O> {
    /// Protects `queue`: getting needs `get_key` if it is `Some`, putting
    /// needs `put_key` if it is `Some`.
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] naming `get_key` if both keys are `None`
    /// (nothing would be protected), or naming the key that is empty.
    pub fn new(
        queue: SmartQueue<T, O>,
        get_key: Option<&[u8]>,
        put_key: Option<&[u8]>,
    ) -> Result<Self, InvalidArgument> {
        if get_key.is_none() && put_key.is_none() {
            return Err(InvalidArgument::new(
                "get_key",
                "set, or `put_key` set: at least one side protected",
            ));
        }
        if get_key.is_some_and(<[u8]>::is_empty) {
            return Err(InvalidArgument::new("get_key", "non-empty"));
        }
        if put_key.is_some_and(<[u8]>::is_empty) {
            return Err(InvalidArgument::new("put_key", "non-empty"));
        }
        let name = |k: Option<&[u8]>, n: &'static str| k.map(|_| n);
        crate::emit!(
            "asyncutils.queues.password_queue",
            get_from = opt(name(get_key, "get_key")),
            put_from = opt(name(put_key, "put_key"))
        );
        Ok(ProtectedQueue {
            queue,
            get_key: get_key.map(Key::new),
            put_key: put_key.map(Key::new),
        })
    }

    fn check(key: Option<&Key>, given: Option<&[u8]>) -> Result<(), WrongKey> {
        match (key, given) {
            (None, _) => Ok(()),
            (Some(k), Some(g)) if k.matches(g) => Ok(()),
            (Some(_), _) => Err(WrongKey),
        }
    }

    /// A handle for getting, if `key` opens the get side (any key, or
    /// `None`, if it is not protected).
    ///
    /// # Errors
    ///
    /// [`WrongKey`] if the get side is protected and `key` does not match.
    pub fn getter(&self, key: Option<&[u8]>) -> Result<Getter<'_, T, O>, WrongKey> {
        Self::check(self.get_key.as_ref(), key)?;
        Ok(Getter { queue: &self.queue })
    }

    /// A handle for putting, if `key` opens the put side.
    ///
    /// # Errors
    ///
    /// [`WrongKey`] if the put side is protected and `key` does not match.
    pub fn putter(&self, key: Option<&[u8]>) -> Result<Putter<'_, T, O>, WrongKey> {
        Self::check(self.put_key.as_ref(), key)?;
        Ok(Putter { queue: &self.queue })
    }

    /// Whether getting needs a key.
    #[must_use]
    pub fn get_protected(&self) -> bool {
        self.get_key.is_some()
    }

    /// Whether putting needs a key.
    #[must_use]
    pub fn put_protected(&self) -> bool {
        self.put_key.is_some()
    }

    /// See [`SmartQueue::len`].
    #[must_use]
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// See [`SmartQueue::is_empty`].
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// See [`SmartQueue::capacity`].
    #[must_use]
    pub fn capacity(&self) -> Option<usize> {
        self.queue.capacity()
    }

    /// See [`SmartQueue::is_closed`].
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.queue.is_closed()
    }
}

fn opt(name: Option<&'static str>) -> crate::audit::Value<'static> {
    match name {
        Some(n) => crate::audit::Value::from(n),
        None => crate::audit::Value::from(()),
    }
}

impl<T, O: Order<T>> fmt::Debug for ProtectedQueue<T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProtectedQueue")
            .field("queue", &self.queue)
            .field("get_protected", &self.get_protected())
            .field("put_protected", &self.put_protected())
            .finish()
    }
}

/// The get side of a [`ProtectedQueue`], opened with its key.
pub struct Getter<'a, T, O: Order<T> = Fifo> {
    queue: &'a SmartQueue<T, O>,
}

impl<'a, T, O: Order<T>> Getter<'a, T, O> {
    /// See [`SmartQueue::get`].
    pub fn get(&self) -> Get<'a, T, O> {
        self.queue.get()
    }

    /// See [`SmartQueue::try_get`].
    ///
    /// # Errors
    ///
    /// As [`SmartQueue::try_get`].
    pub fn try_get(&self) -> Result<T, TryGetError> {
        self.queue.try_get()
    }

    /// See [`SmartQueue::blocking_get`].
    ///
    /// # Errors
    ///
    /// As [`SmartQueue::blocking_get`].
    #[cfg(feature = "std")]
    pub fn blocking_get(&self) -> Result<T, ClosedError> {
        self.queue.blocking_get()
    }

    /// See [`SmartQueue::blocking_get_timeout`].
    ///
    /// # Errors
    ///
    /// As [`SmartQueue::blocking_get_timeout`].
    #[cfg(feature = "std")]
    pub fn blocking_get_timeout(&self, timeout: Duration) -> Result<T, GetTimeoutError> {
        self.queue.blocking_get_timeout(timeout)
    }

    /// See [`SmartQueue::shutdown`] (it hands the items over, so it takes
    /// the get side's key).
    pub fn shutdown(&self) -> alloc::vec::Vec<T> {
        self.queue.shutdown()
    }
}

impl<T, O: Order<T>> fmt::Debug for Getter<'_, T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Getter").finish_non_exhaustive()
    }
}

/// The put side of a [`ProtectedQueue`], opened with its key. Puts take
/// the order's input: the item, or `(item, priority)` for
/// [`UserPriority`](super::UserPriority).
pub struct Putter<'a, T, O: Order<T> = Fifo> {
    queue: &'a SmartQueue<T, O>,
}

impl<'a, T, O: Order<T>> Putter<'a, T, O> {
    /// See [`SmartQueue::put`].
    pub fn put(&self, input: O::Input) -> Put<'a, T, O> {
        self.queue.put_input(input)
    }

    /// See [`SmartQueue::try_put`].
    ///
    /// # Errors
    ///
    /// As [`SmartQueue::try_put`].
    pub fn try_put(&self, input: O::Input) -> Result<(), TryPutError<O::Input>> {
        self.queue.try_put_input(input)
    }

    /// See [`SmartQueue::push`].
    ///
    /// # Errors
    ///
    /// As [`SmartQueue::push`].
    pub fn push(&self, input: O::Input) -> Result<Option<T>, TryPutError<O::Input>> {
        self.queue.push_input(input)
    }

    /// See [`SmartQueue::blocking_put_timeout`]; `None` waits forever.
    ///
    /// # Errors
    ///
    /// As [`SmartQueue::blocking_put_timeout`].
    #[cfg(feature = "std")]
    pub fn blocking_put(
        &self,
        input: O::Input,
        timeout: Option<Duration>,
    ) -> Result<(), PutTimeoutError<O::Input>> {
        self.queue.blocking_put_input(input, timeout)
    }

    /// See [`SmartQueue::close`] (it stops puts, so it takes the put
    /// side's key).
    pub fn close(&self) {
        self.queue.close();
    }
}

impl<T, O: Order<T>> fmt::Debug for Putter<'_, T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Putter").finish_non_exhaustive()
    }
}
