//! A deterministic single-threaded executor over [`ManualClock`].

use alloc::collections::VecDeque;
use alloc::task::Wake;
use core::fmt;
use core::future::Future;
use core::pin::pin;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};
use std::sync::{Mutex, PoisonError};
use std::thread::{self, Thread};

use async_task::Runnable;

use super::{Spawn, SpawnBlocking};
use crate::time::{Clock, Instant, ManualClock, ManualSleep};

/// A runtime that runs in virtual time: a [`ManualClock`], a spawner, and a
/// [`block_on`](VirtualRuntime::block_on) that jumps the clock to the next
/// deadline whenever every task is waiting.
///
/// Programs that would sleep for hours finish in microseconds, and the same
/// program gives the same interleaving on every run, so time-based
/// behaviour can be asserted exactly. Spawned tasks run on the thread that
/// calls `block_on`, in the order they were woken.
///
/// Time never advances while a task spawned with
/// [`SpawnBlocking::spawn_blocking`] is still running, since it might be
/// about to wake someone; other wake-ups from outside threads are not
/// waited for: if everything is idle and a sleeper exists, time jumps.
///
/// Clones share the clock and the task queue.
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use asyncutils_core::rt::VirtualRuntime;
/// use asyncutils_core::time::{Clock, Instant};
///
/// let rt = VirtualRuntime::new();
/// let woke_at = rt.block_on(async {
///     rt.sleep(Duration::from_secs(3600)).await;
///     rt.now()
/// });
/// assert_eq!(woke_at, Instant::from_nanos(3_600_000_000_000));
/// ```
#[derive(Clone)]
pub struct VirtualRuntime {
    clock: ManualClock,
    shared: alloc::sync::Arc<Shared>,
}

struct Shared {
    queue: Mutex<VecDeque<Runnable>>,
    signal: alloc::sync::Arc<Signal>,
    blocking_running: AtomicUsize,
}

/// Wakes the thread inside `block_on`.
struct Signal {
    main_woken: AtomicBool,
    thread: Mutex<Option<Thread>>,
}

impl Signal {
    fn unpark(&self) {
        if let Some(t) = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            t.unpark();
        }
    }
}

impl Wake for Signal {
    fn wake(self: alloc::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &alloc::sync::Arc<Self>) {
        self.main_woken.store(true, Ordering::Release);
        self.unpark();
    }
}

impl Default for VirtualRuntime {
    fn default() -> Self {
        Self::new()
    }
}

impl VirtualRuntime {
    /// A runtime whose clock starts at [`Instant::ZERO`].
    #[must_use]
    pub fn new() -> Self {
        Self::with_clock(ManualClock::new())
    }

    /// A runtime driving an existing clock.
    #[must_use]
    pub fn with_clock(clock: ManualClock) -> Self {
        Self {
            clock,
            shared: alloc::sync::Arc::new(Shared {
                queue: Mutex::new(VecDeque::new()),
                signal: alloc::sync::Arc::new(Signal {
                    main_woken: AtomicBool::new(true),
                    thread: Mutex::new(None),
                }),
                blocking_running: AtomicUsize::new(0),
            }),
        }
    }

    /// The clock this runtime advances.
    #[must_use]
    pub fn clock(&self) -> &ManualClock {
        &self.clock
    }

    /// Runs `future` to completion, running spawned tasks alongside and
    /// advancing virtual time whenever all of them are waiting.
    ///
    /// Tasks still pending when `future` completes stay queued and run on
    /// the next `block_on`.
    ///
    /// # Panics
    ///
    /// If `future` waits for something that can never happen — no task is
    /// runnable, no sleeper is registered, no blocking job is running — the
    /// thread parks until another thread wakes it; it does not panic.
    /// A panic inside `future` propagates.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let signal = self.shared.signal.clone();
        *signal.thread.lock().unwrap_or_else(PoisonError::into_inner) = Some(thread::current());
        signal.main_woken.store(true, Ordering::Release);
        let waker = Waker::from(signal.clone());
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        loop {
            // One batch: the tasks queued now. Tasks they wake run in the
            // next batch, after the main future had its turn, so tasks that
            // keep yielding cannot starve it.
            let batch = self.queued();
            for _ in 0..batch {
                match self.pop() {
                    Some(runnable) => {
                        runnable.run();
                    }
                    None => break,
                }
            }
            if signal.main_woken.swap(false, Ordering::AcqRel) {
                if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                    return out;
                }
                continue;
            }
            if self.has_runnable() {
                continue;
            }
            if self.shared.blocking_running.load(Ordering::Acquire) == 0
                && self.clock.advance_to_next()
            {
                continue;
            }
            // Only another thread can make progress now.
            thread::park();
        }
    }

    fn pop(&self) -> Option<Runnable> {
        self.shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
    }

    fn queued(&self) -> usize {
        self.shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn has_runnable(&self) -> bool {
        self.queued() != 0
    }
}

impl fmt::Debug for VirtualRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtualRuntime")
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl Clock for VirtualRuntime {
    type Sleep = ManualSleep;

    fn now(&self) -> Instant {
        self.clock.now()
    }

    fn sleep_until(&self, deadline: Instant) -> ManualSleep {
        self.clock.sleep_until(deadline)
    }
}

impl Spawn for VirtualRuntime {
    fn spawn_detached<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let shared = alloc::sync::Arc::downgrade(&self.shared);
        let schedule = move |runnable: Runnable| {
            if let Some(shared) = shared.upgrade() {
                shared
                    .queue
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push_back(runnable);
                shared.signal.unpark();
            }
        };
        let (runnable, task) = async_task::spawn(future, schedule);
        task.detach();
        runnable.schedule();
    }
}

impl SpawnBlocking for VirtualRuntime {
    fn spawn_blocking_detached<F>(&self, f: F)
    where
        F: FnOnce() + Send + 'static,
    {
        let shared = self.shared.clone();
        shared.blocking_running.fetch_add(1, Ordering::AcqRel);
        thread::spawn(move || {
            struct Done(alloc::sync::Arc<Shared>);
            impl Drop for Done {
                fn drop(&mut self) {
                    self.0.blocking_running.fetch_sub(1, Ordering::AcqRel);
                    self.0.signal.unpark();
                }
            }
            let _done = Done(shared);
            f();
        });
    }
}
