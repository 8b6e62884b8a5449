//! Errors of the queue operations. Those of operations that hand a value
//! in give it back (`into_inner`); none needs `T: Debug` to be printed.

use core::fmt;

/// The queue is closed: an async [`put`](super::SmartQueue::put) or
/// [`blocking_put`](super::SmartQueue::blocking_put) was refused (the value
/// is given back), or a [`get`](super::SmartQueue::get) found nothing left
/// to take (`ClosedError<()>`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ClosedError<T = ()>(pub T);

impl<T> ClosedError<T> {
    /// The value given back.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for ClosedError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClosedError(..)")
    }
}

impl<T> fmt::Display for ClosedError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the queue is closed")
    }
}

impl<T> core::error::Error for ClosedError<T> {}

/// Why [`try_put`](super::SmartQueue::try_put) (or a transaction's put,
/// or [`push`](super::SmartQueue::push)) refused; holds the value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TryPutError<T> {
    /// The queue is at capacity (or its free room is promised to putters
    /// that waited first).
    Full(T),
    /// The queue is closed.
    Closed(T),
    /// A [`Transaction`](super::Transaction) is open on the queue; its
    /// changes are not visible yet, so nothing else may change it.
    InTransaction(T),
}

impl<T> TryPutError<T> {
    /// The value given back.
    pub fn into_inner(self) -> T {
        match self {
            TryPutError::Full(v) | TryPutError::Closed(v) | TryPutError::InTransaction(v) => v,
        }
    }

    /// Whether the queue was full.
    pub fn is_full(&self) -> bool {
        matches!(self, TryPutError::Full(_))
    }

    /// Whether the queue was closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, TryPutError::Closed(_))
    }
}

impl<T> fmt::Debug for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryPutError::Full(_) => "Full(..)",
            TryPutError::Closed(_) => "Closed(..)",
            TryPutError::InTransaction(_) => "InTransaction(..)",
        })
    }
}

impl<T> fmt::Display for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryPutError::Full(_) => "the queue is full",
            TryPutError::Closed(_) => "the queue is closed",
            TryPutError::InTransaction(_) => "a transaction is open on the queue",
        })
    }
}

impl<T> core::error::Error for TryPutError<T> {}

/// Why [`try_get`](super::SmartQueue::try_get) (or a transaction's get,
/// or [`peek`](super::SmartQueue::peek)) found nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryGetError {
    /// No item is there (or every item is promised to a getter that waited
    /// first).
    Empty,
    /// The queue is closed and has nothing left to give.
    Closed,
    /// A [`Transaction`](super::Transaction) is open on the queue.
    InTransaction,
}

impl fmt::Display for TryGetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryGetError::Empty => "the queue is empty",
            TryGetError::Closed => "the queue is closed and empty",
            TryGetError::InTransaction => "a transaction is open on the queue",
        })
    }
}

impl core::error::Error for TryGetError {}

/// Why a [`blocking_put_timeout`](super::SmartQueue::blocking_put_timeout)
/// failed; holds the value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PutTimeoutError<T> {
    /// No room opened up in time.
    Timeout(T),
    /// The queue is closed.
    Closed(T),
}

impl<T> PutTimeoutError<T> {
    /// The value given back.
    pub fn into_inner(self) -> T {
        match self {
            PutTimeoutError::Timeout(v) | PutTimeoutError::Closed(v) => v,
        }
    }
}

impl<T> fmt::Debug for PutTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PutTimeoutError::Timeout(_) => "Timeout(..)",
            PutTimeoutError::Closed(_) => "Closed(..)",
        })
    }
}

impl<T> fmt::Display for PutTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PutTimeoutError::Timeout(_) => "timed out waiting for room in the queue",
            PutTimeoutError::Closed(_) => "the queue is closed",
        })
    }
}

impl<T> core::error::Error for PutTimeoutError<T> {}

/// Why a [`blocking_get_timeout`](super::SmartQueue::blocking_get_timeout)
/// failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetTimeoutError {
    /// No item arrived in time.
    Timeout,
    /// The queue is closed and has nothing left to give.
    Closed,
}

impl fmt::Display for GetTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GetTimeoutError::Timeout => "timed out waiting for an item",
            GetTimeoutError::Closed => "the queue is closed and empty",
        })
    }
}

impl core::error::Error for GetTimeoutError {}

/// Why [`try_transaction`](super::SmartQueue::try_transaction) refused:
/// another transaction is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransactionBusy;

impl fmt::Display for TransactionBusy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("another transaction is open on the queue")
    }
}

impl core::error::Error for TransactionBusy {}
