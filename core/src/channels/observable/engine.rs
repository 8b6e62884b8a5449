//! The engine behind every future that runs notifications: [`Notify`],
//! [`Flush`], [`WaitUntilIdle`] and the futures built on them.
//!
//! Implementation notes: an engine either delivers its own value (queues
//! it behind a running notification, or becomes a runner) or, without a
//! value, waits until no runner is left and then runs whatever is still
//! queued. A runner runs one value at a time from a snapshot of the
//! observers, then at the boundary applies pending (un)subscriptions and
//! takes the next queued value, until the queue is empty.
//!
//! [`Notify`]: super::Notify
//! [`Flush`]: super::Flush
//! [`WaitUntilIdle`]: super::WaitUntilIdle

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::task::{Context, Poll, Waker};

use super::{
    BoxFuture, FAILED, Garbage, Mode, Record, Shared, Snapshot, State, Step, Waiter, wake_all,
};
use crate::error::{BoxError, ErrorGroup};
use crate::loom::Ordering;
use crate::waitlist::set_waker;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    /// Deliver our own value (queue it, or run it).
    Notify,
    /// Run orphaned queued values, collecting failures, until idle.
    Flush,
    /// Same, failures discarded.
    Idle,
}

pub(super) struct Running<T> {
    value: T,
    mode: Mode,
    observers: Snapshot<T>,
    /// Next observer to start.
    next: usize,
}

pub(super) struct Engine<T> {
    pub(super) shared: Arc<Shared<T>>,
    pub(super) own: Option<(T, Mode)>,
    pub(super) purpose: Purpose,
    /// Key of our waiter slot, if we have one.
    pub(super) waiter: Option<usize>,
    /// Counted in `running`.
    pub(super) runner: bool,
    pub(super) run: Option<Running<T>>,
    pub(super) in_flight: Vec<Option<BoxFuture>>,
    pub(super) errors: Vec<BoxError>,
    pub(super) done: bool,
}

impl<T> Engine<T> {
    pub(super) fn new(shared: Arc<Shared<T>>, own: Option<(T, Mode)>, purpose: Purpose) -> Self {
        Engine {
            shared,
            own,
            purpose,
            waiter: None,
            runner: false,
            run: None,
            in_flight: Vec::new(),
            errors: Vec::new(),
            done: false,
        }
    }

    fn record(&mut self, result: Result<(), BoxError>) {
        if let Err(e) = result {
            if self.purpose != Purpose::Idle {
                self.errors.push(e);
            }
        }
    }

    /// Leaves our waiter slot (if any), under the lock.
    fn leave(waiter: &mut Option<usize>, purpose: Purpose, state: &mut State<T>) {
        if let Some(key) = waiter.take() {
            let State {
                waiters,
                room,
                idle,
                ..
            } = state;
            let queue = if purpose == Purpose::Notify {
                room
            } else {
                idle
            };
            if waiters.get(key).queued {
                waiters.remove(queue, key);
            } else {
                waiters.remove_unlinked(key);
            }
        }
    }

    /// Stores our waker in our slot, queueing it if needed.
    fn wait(waiter: &mut Option<usize>, purpose: Purpose, state: &mut State<T>, waker: &Waker) {
        let State {
            waiters,
            room,
            idle,
            ..
        } = state;
        let queue = if purpose == Purpose::Notify {
            room
        } else {
            idle
        };
        let key = *waiter.get_or_insert_with(|| {
            waiters.insert(Waiter {
                waker: None,
                queued: false,
            })
        });
        let waiter = waiters.get_mut(key);
        set_waker(&mut waiter.waker, waker);
        if !waiter.queued {
            waiter.queued = true;
            waiters.push_back(queue, key);
        }
    }

    /// Starts running `value` (we are a runner; called under the lock).
    fn start(
        run: &mut Option<Running<T>>,
        state: &mut State<T>,
        value: T,
        mode: Mode,
    ) -> (Vec<Record<T>>, Garbage<T>) {
        let (observers, expired, garbage) = state.start_value();
        *run = Some(Running {
            value,
            mode,
            observers,
            next: 0,
        });
        (expired, garbage)
    }

    /// Decides, under the lock, whether to queue our value, run, or wait.
    /// `Ready` when done without running anything.
    fn begin(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut guard = self.shared.state.lock();
        let state = &mut *guard;
        let mut wake = None;
        let garbage;
        if let Some((value, mode)) = self.own.take() {
            if state.running > 0 && state.accumulating {
                let my_turn = match self.waiter {
                    Some(key) => state.room.front() == Some(key),
                    None => state.room.is_empty(),
                };
                if my_turn && state.has_room() {
                    state.queue.push_back((value, mode));
                    Self::leave(&mut self.waiter, self.purpose, state);
                    if state.has_room() {
                        wake = state.wake_room();
                    }
                    drop(guard);
                    if let Some(w) = wake {
                        w.wake();
                    }
                    return Poll::Ready(());
                }
                self.own = Some((value, mode));
                Self::wait(&mut self.waiter, self.purpose, state, cx.waker());
                return Poll::Pending;
            }
            Self::leave(&mut self.waiter, self.purpose, state);
            // Whoever waited behind us for room may now have it (or may
            // now run, if accumulation was switched off).
            wake = state.wake_room();
            state.running += 1;
            self.runner = true;
            let (value, mode) = if state.queue.is_empty() {
                (value, mode)
            } else {
                // Orphaned values go first.
                state.queue.push_back((value, mode));
                state.queue.pop_front().expect("not empty")
            };
            garbage = Self::start(&mut self.run, state, value, mode);
        } else {
            if state.running > 0 {
                Self::wait(&mut self.waiter, self.purpose, state, cx.waker());
                return Poll::Pending;
            }
            Self::leave(&mut self.waiter, self.purpose, state);
            let Some((value, mode)) = state.queue.pop_front() else {
                return Poll::Ready(());
            };
            state.running += 1;
            self.runner = true;
            wake = state.wake_room();
            garbage = Self::start(&mut self.run, state, value, mode);
        }
        drop(guard);
        drop(garbage);
        if let Some(w) = wake {
            w.wake();
        }
        Poll::Pending
    }

    /// Polls the value being run; `Ready` once every observer is done.
    fn poll_run(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let run = self.run.as_mut().expect("running");
        match run.mode {
            Mode::Concurrent => {
                while run.next < run.observers.len() {
                    let entry = run.observers[run.next].clone();
                    run.next += 1;
                    if entry.removed.load(Ordering::Acquire) {
                        continue;
                    }
                    match (entry.callback)(&run.value, cx) {
                        Step::Done(Err(e)) if self.purpose != Purpose::Idle => self.errors.push(e),
                        Step::Done(_) => {}
                        Step::Pending(f) => self.in_flight.push(Some(f)),
                    }
                }
                let mut pending = false;
                for slot in &mut self.in_flight {
                    if let Some(f) = slot {
                        match f.as_mut().poll(cx) {
                            Poll::Ready(Err(e)) => {
                                if self.purpose != Purpose::Idle {
                                    self.errors.push(e);
                                }
                                *slot = None;
                            }
                            Poll::Ready(Ok(())) => *slot = None,
                            Poll::Pending => pending = true,
                        }
                    }
                }
                if pending {
                    return Poll::Pending;
                }
                self.in_flight.clear();
                Poll::Ready(())
            }
            Mode::Sequential => loop {
                if let Some(Some(f)) = self.in_flight.first_mut() {
                    match f.as_mut().poll(cx) {
                        Poll::Ready(r) => {
                            self.in_flight.clear();
                            self.record(r);
                        }
                        Poll::Pending => return Poll::Pending,
                    }
                }
                let run = self.run.as_mut().expect("running");
                let Some(entry) = run.observers.get(run.next).cloned() else {
                    return Poll::Ready(());
                };
                run.next += 1;
                if entry.removed.load(Ordering::Acquire) {
                    continue;
                }
                match (entry.callback)(&run.value, cx) {
                    Step::Done(r) => self.record(r),
                    Step::Pending(f) => self.in_flight.push(Some(f)),
                }
            },
        }
    }

    /// After a value completed: the boundary, then the next queued value or
    /// the end of our run. `Ready` at the end.
    fn next_value(&mut self) -> Poll<()> {
        let finished = self.run.take();
        let mut wakers = Vec::new();
        let (removed, garbage, more) = {
            let mut state = self.shared.state.lock();
            let state = &mut *state;
            let (removed, garbage) = state.boundary();
            match state.queue.pop_front() {
                Some((value, mode)) => {
                    wakers.extend(state.wake_room());
                    let more = Self::start(&mut self.run, state, value, mode);
                    (removed, garbage, Some(more))
                }
                None => {
                    state.running -= 1;
                    self.runner = false;
                    if state.running == 0 {
                        state.wake_idle(&mut wakers);
                    }
                    (removed, garbage, None)
                }
            }
        };
        drop((finished, removed, garbage));
        wake_all(wakers);
        match more {
            Some(more) => {
                drop(more);
                Poll::Pending
            }
            None => Poll::Ready(()),
        }
    }

    pub(super) fn poll_engine(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        assert!(!self.done, "observable future polled after completion");
        loop {
            if self.run.is_none() {
                if self.begin(cx).is_ready() {
                    self.done = true;
                    return Poll::Ready(());
                }
                if self.run.is_none() {
                    return Poll::Pending;
                }
            }
            if self.poll_run(cx).is_pending() {
                return Poll::Pending;
            }
            if self.next_value().is_ready() {
                self.done = true;
                return Poll::Ready(());
            }
        }
    }

    pub(super) fn take_errors(&mut self) -> Result<(), ErrorGroup> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ErrorGroup::new(FAILED, core::mem::take(&mut self.errors)))
        }
    }
}

impl<T> Drop for Engine<T> {
    fn drop(&mut self) {
        if self.waiter.is_none() && !self.runner {
            return;
        }
        let mut wakers = Vec::new();
        {
            let mut state = self.shared.state.lock();
            let state = &mut *state;
            let was_front = self.waiter.is_some_and(|k| state.room.front() == Some(k));
            Self::leave(&mut self.waiter, self.purpose, state);
            if was_front && state.has_room() {
                wakers.extend(state.wake_room());
            }
            if self.runner {
                self.runner = false;
                state.running -= 1;
                if state.running == 0 {
                    // Left behind: whoever waits for the observable takes
                    // the queue over.
                    wakers.extend(state.wake_room());
                    state.wake_idle(&mut wakers);
                }
            }
        }
        wake_all(wakers);
        // The value under way and the observers' futures are dropped with
        // the fields, after the lock.
    }
}
