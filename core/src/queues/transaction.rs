//! All-or-nothing groups of gets and puts.
//!
//! Design: a transaction holds the queue's "transaction open" flag, set
//! and cleared under the queue's lock. While it is set, nobody else changes
//! the store: other gets and puts (async and blocking) wait, `try_*`,
//! `push`, `peek` and `drain` report [`InTransaction`](super::TryGetError::InTransaction),
//! and `len` reports the length from before the transaction. The
//! transaction works on the store directly and keeps an undo log; the items
//! it gets stay in the transaction (so they can go back) and are handed
//! over by [`commit`](Transaction::commit). Rolling back replays the log
//! backwards: each put is removed, each get is put back exactly where it
//! was. Other tasks therefore see the queue either as it was before the
//! transaction or as the commit left it, never in between.

use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::error::{TransactionBusy, TryGetError, TryPutError};
use super::order::{Fifo, Lifo, Order, Priority, Store, UserPriority};
use super::smart::{SmartQueue, State};

type Entry<T, O> = <<O as Order<T>>::Store as Store<T, <O as Order<T>>::Input>>::Entry;

enum Undo {
    Took,
    Put(u64),
}

impl<T, O: Order<T>> SmartQueue<T, O> {
    /// Waits until no other transaction is open, then opens one: a scope in
    /// which gets and puts all take effect at [`commit`](Transaction::commit)
    /// or none do.
    ///
    /// While it is open, other operations on the queue wait (async and
    /// blocking ones) or report [`TryGetError::InTransaction`] /
    /// [`TryPutError::InTransaction`] (non-waiting ones); see
    /// [`Transaction`].
    ///
    /// Transactions are served in the order they asked; an operation
    /// waiting for a transaction to end may run before or after the next
    /// transaction begins.
    pub fn transaction(&self) -> BeginTransaction<'_, T, O> {
        BeginTransaction {
            queue: self,
            key: None,
            done: false,
        }
    }

    /// Opens a transaction if none is open or waiting.
    ///
    /// # Errors
    ///
    /// [`TransactionBusy`] if another transaction is open or queued.
    pub fn try_transaction(&self) -> Result<Transaction<'_, T, O>, TransactionBusy> {
        if self.try_begin() {
            Ok(Transaction::started(self))
        } else {
            Err(TransactionBusy)
        }
    }
}

// === impl BeginTransaction ===

/// Future returned by [`SmartQueue::transaction`].
///
/// # Panics
///
/// If polled again after it completed.
///
/// # Cancellation
///
/// Dropping it before it completes gives up its place in line (if it had
/// been woken to begin, the next waiting transaction is woken instead);
/// the queue is untouched.
#[must_use = "futures do nothing unless polled"]
pub struct BeginTransaction<'a, T, O: Order<T> = Fifo> {
    queue: &'a SmartQueue<T, O>,
    key: Option<usize>,
    done: bool,
}

impl<T, O: Order<T>> Unpin for BeginTransaction<'_, T, O> {}

impl<'a, T, O: Order<T>> Future for BeginTransaction<'a, T, O> {
    type Output = Transaction<'a, T, O>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        assert!(!this.done, "`BeginTransaction` polled after completion");
        match this.queue.poll_begin(cx, &mut this.key) {
            Poll::Ready(()) => {
                this.done = true;
                Poll::Ready(Transaction::started(this.queue))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T, O: Order<T>> Drop for BeginTransaction<'_, T, O> {
    fn drop(&mut self) {
        self.queue.cancel_begin(&mut self.key);
    }
}

impl<T, O: Order<T>> fmt::Debug for BeginTransaction<'_, T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BeginTransaction")
            .field("waiting", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

// === impl Transaction ===

/// An open transaction on a [`SmartQueue`], from
/// [`transaction`](SmartQueue::transaction).
///
/// Its [`get`](Self::get)s and [`put`](Self::put)s never wait (nobody else
/// can change the queue while it is open, so waiting could only deadlock):
/// they succeed or fail at once, like `try_get` / `try_put`. Items it gets
/// stay with it — look at them with [`taken`](Self::taken) — until
/// [`commit`](Self::commit) hands them over. Dropping it without committing
/// (an early `?` return, a panic, a cancelled task) or calling
/// [`rollback`](Self::rollback) leaves the queue exactly as it was before:
/// same items, same order.
///
/// Raises `asyncutils.queues.<Type>.transaction/start` when it opens and
/// `.transaction/end` when it commits or rolls back (`addr` only).
///
/// Keep it short: every other user of the queue waits for it.
#[must_use = "a transaction rolls back when dropped; call `commit`"]
pub struct Transaction<'a, T, O: Order<T> = Fifo> {
    queue: &'a SmartQueue<T, O>,
    taken: Vec<Entry<T, O>>,
    log: Vec<Undo>,
    finished: bool,
}

impl<'a, T, O: Order<T>> Transaction<'a, T, O> {
    fn started(queue: &'a SmartQueue<T, O>) -> Self {
        crate::emit!(O::EVENTS.transaction_start, addr = queue.addr());
        Transaction {
            queue,
            taken: Vec::new(),
            log: Vec::new(),
            finished: false,
        }
    }

    /// Takes the item next in line into the transaction and returns a
    /// reference to it.
    ///
    /// # Errors
    ///
    /// [`TryGetError::Empty`] if the queue (as the transaction has left it)
    /// is empty, [`TryGetError::Closed`] after a shutdown, or if closed and
    /// empty.
    pub fn get(&mut self) -> Result<&T, TryGetError> {
        let mut inner = self.queue.lock();
        if inner.state == State::Shutdown {
            return Err(TryGetError::Closed);
        }
        let Some(entry) = inner.store.pop() else {
            return Err(if inner.state == State::Closed {
                TryGetError::Closed
            } else {
                TryGetError::Empty
            });
        };
        drop(inner);
        self.log.push(Undo::Took);
        self.taken.push(entry);
        Ok(O::Store::item(self.taken.last().expect("just pushed")))
    }

    /// [`put`](Transaction::put) for code generic over the order.
    ///
    /// # Errors
    ///
    /// As `put`.
    pub fn put_input(&mut self, input: O::Input) -> Result<(), TryPutError<O::Input>> {
        let mut inner = self.queue.lock();
        if inner.state != State::Open {
            return Err(TryPutError::Closed(input));
        }
        if inner.store.len() >= self.queue.capacity_raw() {
            return Err(TryPutError::Full(input));
        }
        let seq = inner.seq;
        inner.seq = seq.wrapping_add(1);
        inner.store.push(input, seq);
        drop(inner);
        self.log.push(Undo::Put(seq));
        Ok(())
    }

    /// The items taken so far, in the order taken.
    pub fn taken(&self) -> impl ExactSizeIterator<Item = &T> + '_ {
        self.taken.iter().map(O::Store::item)
    }

    /// The queue's length as the transaction has left it so far.
    #[must_use]
    pub fn len(&self) -> usize {
        self.queue.lock().store.len()
    }

    /// Whether [`len`](Self::len) is zero.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes every get and put take effect; returns the items gotten, in
    /// the order taken. Waiters that can now proceed are woken.
    pub fn commit(mut self) -> Vec<T> {
        self.finished = true;
        let wakers = {
            let mut inner = self.queue.lock();
            self.queue.end_transaction(&mut inner)
        };
        for w in wakers {
            w.wake();
        }
        crate::emit!(O::EVENTS.transaction_end, addr = self.queue.addr());
        core::mem::take(&mut self.taken)
            .into_iter()
            .map(O::Store::into_item)
            .collect()
    }

    /// Undoes every get and put (what dropping does).
    pub fn rollback(self) {}

    fn undo(&mut self) {
        let mut removed = Vec::new();
        let wakers = {
            let mut inner = self.queue.lock();
            while let Some(op) = self.log.pop() {
                match op {
                    Undo::Took => {
                        let entry = self.taken.pop().expect("one entry per get");
                        inner.store.restore(entry);
                    }
                    Undo::Put(seq) => removed.extend(inner.store.unpush(seq)),
                }
            }
            self.queue.end_transaction(&mut inner)
        };
        for w in wakers {
            w.wake();
        }
        // The items this transaction put are dropped outside the lock.
        drop(removed);
        crate::emit!(O::EVENTS.transaction_end, addr = self.queue.addr());
    }
}

macro_rules! item_transaction_puts {
    ($order:ty, $($bound:tt)*) => {
        impl<T $($bound)*> Transaction<'_, T, $order> {
    /// Puts `item` into the queue, as part of the transaction.
    ///
    /// # Errors
    ///
    /// With the item: [`TryPutError::Full`] if the queue (as the
    /// transaction has left it) is full, [`TryPutError::Closed`] if closed.
    pub fn put(&mut self, item: T) -> Result<(), TryPutError<T>> {
        self.put_input(item)
    }
}
    };
}

item_transaction_puts!(Fifo,);
item_transaction_puts!(Lifo,);
item_transaction_puts!(Priority, : Ord);

impl<T, P: Ord + 'static> Transaction<'_, T, UserPriority<P>> {
    /// Puts `item` with `priority`, as part of the transaction.
    ///
    /// # Errors
    ///
    /// As [`Transaction::put`], giving `(item, priority)` back.
    pub fn put(&mut self, item: T, priority: P) -> Result<(), TryPutError<(T, P)>> {
        self.put_input((item, priority))
    }
}

impl<T, O: Order<T>> Drop for Transaction<'_, T, O> {
    fn drop(&mut self) {
        if !self.finished {
            self.finished = true;
            self.undo();
        }
    }
}

impl<T, O: Order<T>> fmt::Debug for Transaction<'_, T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let puts = self
            .log
            .iter()
            .filter(|op| matches!(op, Undo::Put(_)))
            .count();
        f.debug_struct("Transaction")
            .field("taken", &self.taken.len())
            .field("put", &puts)
            .finish_non_exhaustive()
    }
}
