//! Derived queues: a new FIFO queue fed from a source queue by a *driver*
//! future that the caller runs (spawned on any runtime, or polled by hand;
//! nothing here spawns).
//!
//! [`map`](SmartQueue::map), [`starmap`](SmartQueue::starmap) and
//! [`enumerate`](SmartQueue::enumerate) take every item of the source (as a
//! getter, in line with the others) and put the result into the new queue;
//! [`filter`](SmartQueue::filter) moves only the items that match and
//! leaves the rest where they are. The new queue is bounded, so a slow
//! consumer slows the driver down (backpressure): it holds at most one item
//! in flight. When the source is closed and has nothing more to give, the
//! driver closes the new queue and completes; if the new queue is closed
//! first, the driver completes too.

use alloc::sync::Arc;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::order::{Fifo, Order, Store};
use super::smart::{SmartQueue, State, wake_all};
use crate::error::InvalidArgument;

/// What a [`Derive`] driver does to each item.
pub trait Step<T> {
    /// The item type of the new queue.
    type Output;
    /// Transforms one item.
    fn apply(&mut self, item: T) -> Self::Output;
}

/// The step of [`SmartQueue::map`].
#[derive(Debug, Clone)]
pub struct MapStep<F>(F);

impl<T, U, F: FnMut(T) -> U> Step<T> for MapStep<F> {
    type Output = U;
    fn apply(&mut self, item: T) -> U {
        (self.0)(item)
    }
}

/// The step of [`SmartQueue::starmap`]: calls the function with the
/// tuple's fields as arguments.
#[derive(Debug, Clone)]
pub struct StarMapStep<F>(F);

/// A function callable with the fields of the tuple `Args` (arity 1 to 4),
/// for [`SmartQueue::starmap`].
pub trait SpreadFn<Args> {
    /// What the function returns.
    type Output;
    /// Calls it with `args` spread.
    fn call_spread(&mut self, args: Args) -> Self::Output;
}

macro_rules! spread {
    ($($a:ident),+) => {
        impl<Func, Ret, $($a),+> SpreadFn<($($a,)+)> for Func
        where
            Func: FnMut($($a),+) -> Ret,
        {
            type Output = Ret;
            #[allow(non_snake_case)]
            fn call_spread(&mut self, ($($a,)+): ($($a,)+)) -> Ret {
                self($($a),+)
            }
        }
    };
}

spread!(A);
spread!(A, B);
spread!(A, B, C);
spread!(A, B, C, D);

impl<T, F: SpreadFn<T>> Step<T> for StarMapStep<F> {
    type Output = F::Output;
    fn apply(&mut self, item: T) -> F::Output {
        self.0.call_spread(item)
    }
}

/// The step of [`SmartQueue::enumerate`]: pairs each item with its index,
/// counting from 0 in the order taken.
#[derive(Debug, Clone, Default)]
pub struct EnumerateStep(u64);

impl<T> Step<T> for EnumerateStep {
    type Output = (u64, T);
    fn apply(&mut self, item: T) -> (u64, T) {
        let i = self.0;
        self.0 += 1;
        (i, item)
    }
}

type Derived<T, O, S> = (Arc<SmartQueue<<S as Step<T>>::Output>>, Derive<T, O, S>);

type Filtered<T, O, P> = (Arc<SmartQueue<T>>, Filter<T, O, P>);

impl<T, O: Order<T>> SmartQueue<T, O> {
    fn derive<S: Step<T>>(
        self: &Arc<Self>,
        capacity: usize,
        step: S,
    ) -> Result<Derived<T, O, S>, InvalidArgument> {
        let out = Arc::new(SmartQueue::bounded(capacity)?);
        Ok((
            out.clone(),
            Derive {
                src: self.clone(),
                dst: out,
                step,
                get: None,
                put: None,
                pending: None,
                done: false,
            },
        ))
    }

    /// A new FIFO queue of capacity `capacity` holding `f(item)` for each
    /// item taken from this one, and the driver future that feeds it.
    ///
    /// Raises `asyncutils.queues.<Type>.map` with `addr` and `fname` (the
    /// type name of `f`).
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] naming `capacity` if it is zero.
    pub fn map<U, F: FnMut(T) -> U>(
        self: &Arc<Self>,
        capacity: usize,
        f: F,
    ) -> Result<Derived<T, O, MapStep<F>>, InvalidArgument> {
        let derived = self.derive(capacity, MapStep(f))?;
        crate::emit!(
            O::EVENTS.map,
            addr = self.addr(),
            fname = core::any::type_name::<F>()
        );
        Ok(derived)
    }

    /// [`map`](Self::map) for tuple items: `f` is called with the tuple's
    /// fields as arguments (tuples of 1 to 4 fields).
    ///
    /// Raises `asyncutils.queues.<Type>.starmap` with `addr` and `fname`.
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] naming `capacity` if it is zero.
    pub fn starmap<F: SpreadFn<T>>(
        self: &Arc<Self>,
        capacity: usize,
        f: F,
    ) -> Result<Derived<T, O, StarMapStep<F>>, InvalidArgument> {
        let derived = self.derive(capacity, StarMapStep(f))?;
        crate::emit!(
            O::EVENTS.starmap,
            addr = self.addr(),
            fname = core::any::type_name::<F>()
        );
        Ok(derived)
    }

    /// A new FIFO queue of `(index, item)` pairs, indices counting from 0
    /// in the order items are taken from this queue.
    ///
    /// Raises `asyncutils.queues.<Type>.enumerate` with `addr`.
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] naming `capacity` if it is zero.
    pub fn enumerate(
        self: &Arc<Self>,
        capacity: usize,
    ) -> Result<Derived<T, O, EnumerateStep>, InvalidArgument> {
        let derived = self.derive(capacity, EnumerateStep(0))?;
        crate::emit!(O::EVENTS.enumerate, addr = self.addr());
        Ok(derived)
    }

    /// A new FIFO queue to which the driver moves the items of this queue
    /// for which `pred` holds, first in line first; the others stay where
    /// they are, in order.
    ///
    /// `pred` runs under this queue's lock (it must not use this queue) and
    /// may run more than once per item.
    ///
    /// Raises `asyncutils.queues.<Type>.filter` with `addr` and `fname`
    /// (the type name of `pred`).
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] naming `capacity` if it is zero.
    pub fn filter<P: FnMut(&T) -> bool>(
        self: &Arc<Self>,
        capacity: usize,
        pred: P,
    ) -> Result<Filtered<T, O, P>, InvalidArgument> {
        let out = Arc::new(SmartQueue::bounded(capacity)?);
        crate::emit!(
            O::EVENTS.filter,
            addr = self.addr(),
            fname = core::any::type_name::<P>()
        );
        Ok((
            out.clone(),
            Filter {
                src: self.clone(),
                dst: out,
                pred,
                put: None,
                pending: None,
                done: false,
            },
        ))
    }
}

// === impl Derive ===

pin_project! {
    /// The driver of a [`map`](SmartQueue::map),
    /// [`starmap`](SmartQueue::starmap) or
    /// [`enumerate`](SmartQueue::enumerate) queue: run it (spawn it, or
    /// `.await` it) for items to flow. Completes once the source is closed
    /// and drained (it then closes the new queue), or the new queue is
    /// closed.
    ///
    /// # Cancellation
    ///
    /// Dropping it stops the flow. It takes an item from the source only
    /// when it can hold it, and holds at most one transformed item waiting
    /// for room: dropping the driver then drops that one item.
    #[must_use = "the derived queue is fed only while its driver runs"]
    pub struct Derive<T, O: Order<T>, S: Step<T>> {
        src: Arc<SmartQueue<T, O>>,
        dst: Arc<SmartQueue<S::Output, Fifo>>,
        step: S,
        get: Option<usize>,
        put: Option<usize>,
        pending: Option<S::Output>,
        done: bool,
    }

    impl<T, O: Order<T>, S: Step<T>> PinnedDrop for Derive<T, O, S> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            this.src.cancel_get(this.get);
            this.dst.cancel_put(this.put);
        }
    }
}

impl<T, O: Order<T>, S: Step<T>> Future for Derive<T, O, S> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        if *this.done {
            return Poll::Ready(());
        }
        loop {
            if this.pending.is_some() {
                match this.dst.poll_put(cx, this.put, this.pending) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(_closed)) => {
                        *this.done = true;
                        return Poll::Ready(());
                    }
                    Poll::Pending => return Poll::Pending,
                }
            }
            match this.src.poll_get(cx, this.get) {
                Poll::Ready(Ok(item)) => *this.pending = Some(this.step.apply(item)),
                Poll::Ready(Err(_closed)) => {
                    this.dst.close();
                    *this.done = true;
                    return Poll::Ready(());
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<T, O: Order<T>, S: Step<T>> fmt::Debug for Derive<T, O, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Derive")
            .field("in_flight", &self.pending.is_some())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

// === impl Filter ===

pin_project! {
    /// The driver of a [`filter`](SmartQueue::filter) queue. Completes once
    /// the source is closed and holds no matching item (it then closes the
    /// new queue), or the new queue is closed.
    ///
    /// # Cancellation
    ///
    /// As [`Derive`]: at most one matching item is in flight, and dropping
    /// the driver then drops it.
    #[must_use = "the filtered queue is fed only while its driver runs"]
    pub struct Filter<T, O: Order<T>, P> {
        src: Arc<SmartQueue<T, O>>,
        dst: Arc<SmartQueue<T, Fifo>>,
        pred: P,
        put: Option<usize>,
        pending: Option<T>,
        done: bool,
    }

    impl<T, O: Order<T>, P> PinnedDrop for Filter<T, O, P> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            this.dst.cancel_put(this.put);
        }
    }
}

impl<T, O: Order<T>, P: FnMut(&T) -> bool> Future for Filter<T, O, P> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        if *this.done {
            return Poll::Ready(());
        }
        loop {
            if this.pending.is_some() {
                match this.dst.poll_put(cx, this.put, this.pending) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(_closed)) => {
                        *this.done = true;
                        return Poll::Ready(());
                    }
                    Poll::Pending => return Poll::Pending,
                }
            }
            let capacity = this.src.capacity().unwrap_or(usize::MAX);
            let mut inner = this.src.lock();
            if inner.state == State::Shutdown {
                drop(inner);
                this.dst.close();
                *this.done = true;
                return Poll::Ready(());
            }
            let found = if inner.txn {
                None
            } else {
                inner.store.take_matching(this.pred)
            };
            match found {
                Some(entry) => {
                    *this.pending = Some(O::Store::into_item(entry));
                    let waker = inner.notify_putter(capacity);
                    let done = if inner.state == State::Closed && inner.store.len() == 0 {
                        inner.wake_everyone()
                    } else {
                        super::smart::Wakers::new()
                    };
                    drop(inner);
                    if let Some(w) = waker {
                        w.wake();
                    }
                    wake_all(done);
                }
                None if inner.state == State::Closed && !inner.txn => {
                    drop(inner);
                    this.dst.close();
                    *this.done = true;
                    return Poll::Ready(());
                }
                None => {
                    // Wait for any new item (or the end of a transaction).
                    if !inner.watchers.iter().any(|w| w.will_wake(cx.waker())) {
                        inner.watchers.push(cx.waker().clone());
                    }
                    drop(inner);
                    return Poll::Pending;
                }
            }
        }
    }
}

impl<T, O: Order<T>, P> fmt::Debug for Filter<T, O, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filter")
            .field("in_flight", &self.pending.is_some())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
