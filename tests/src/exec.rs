//! The executors every scenario runs on.
//!
//! Each function builds its executor, hands the scenario its runtime (or
//! clock) and runs it to completion under a watchdog: a scenario that hangs
//! aborts the test process after [`WATCHDOG`] with a message naming it,
//! instead of hanging `cargo test`.

use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, Ordering};
use core::task::{Context, Poll, Waker};
use std::sync::Arc;
use std::sync::mpsc;
use std::task::Wake;
use std::time::Duration;

use asyncutils_async_std::AsyncStd;
use asyncutils_core::rt::VirtualRuntime;
use asyncutils_core::time::ManualClock;
use asyncutils_smol::Smol;
use asyncutils_tokio::Tokio;

/// How long one scenario may run before the watchdog aborts the process.
pub const WATCHDOG: Duration = Duration::from_secs(30);

/// Aborts the process if dropped later than [`WATCHDOG`] after creation.
#[derive(Debug)]
pub struct Watchdog {
    _disarm: mpsc::Sender<()>,
}

impl Watchdog {
    /// Starts watching `what`.
    #[must_use]
    pub fn start(what: String) -> Self {
        let (tx, rx) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            // Disconnected (the guard was dropped, also while unwinding) ends
            // the watch; only a timeout aborts.
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(WATCHDOG) {
                eprintln!("watchdog: {what} still running after {WATCHDOG:?}; aborting");
                std::process::abort();
            }
        });
        Watchdog { _disarm: tx }
    }
}

/// tokio's current-thread runtime: spawned tasks run on the test thread
/// whenever the scenario awaits.
pub fn tokio_current_thread<Fut: Future>(
    name: &str,
    scenario: impl FnOnce(Tokio) -> Fut,
) -> Fut::Output {
    let _watchdog = Watchdog::start(format!("{name} on tokio current-thread"));
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a current-thread tokio runtime")
        .block_on(scenario(Tokio))
}

/// tokio's multi-thread runtime with two workers; the scenario itself runs
/// on the test thread, its spawned tasks on the workers.
pub fn tokio_multi_thread<Fut: Future>(
    name: &str,
    scenario: impl FnOnce(Tokio) -> Fut,
) -> Fut::Output {
    let _watchdog = Watchdog::start(format!("{name} on tokio multi-thread"));
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("build a multi-thread tokio runtime")
        .block_on(scenario(Tokio))
}

/// `smol::block_on`; spawned tasks go to smol's global executor.
pub fn smol<Fut: Future>(name: &str, scenario: impl FnOnce(Smol) -> Fut) -> Fut::Output {
    let _watchdog = Watchdog::start(format!("{name} on smol"));
    smol::block_on(scenario(Smol))
}

/// `async_std::task::block_on`.
pub fn async_std<Fut: Future>(name: &str, scenario: impl FnOnce(AsyncStd) -> Fut) -> Fut::Output {
    let _watchdog = Watchdog::start(format!("{name} on async-std"));
    async_std::task::block_on(scenario(AsyncStd))
}

/// [`VirtualRuntime::block_on`]: one thread, time jumps to the next
/// deadline whenever every task waits.
pub fn virtual_time<Fut: Future>(
    name: &str,
    scenario: impl FnOnce(VirtualRuntime) -> Fut,
) -> Fut::Output {
    let _watchdog = Watchdog::start(format!("{name} in virtual time"));
    let rt = VirtualRuntime::new();
    rt.block_on(scenario(rt.clone()))
}

/// No runtime: `futures_lite::future::block_on` over the scenario, which
/// gets a bare [`ManualClock`]. Whenever the scenario is pending and nothing
/// woke it, the clock is advanced to the next sleeper's deadline (see
/// [`AutoAdvance`]).
pub fn manual_clock<Fut: Future>(
    name: &str,
    scenario: impl FnOnce(ManualClock) -> Fut,
) -> Fut::Output {
    let _watchdog = Watchdog::start(format!("{name} on a bare manual clock"));
    let clock = ManualClock::new();
    futures_lite::future::block_on(AutoAdvance::new(clock.clone(), scenario(clock)))
}

/// Drives a [`ManualClock`] for a single future: when the future returns
/// `Pending` without having been woken meanwhile, the clock jumps to the
/// earliest registered deadline and the future is polled again.
///
/// This is the test advancing the clock itself, written once. A future that
/// waits for something other than the clock (and is not woken from another
/// thread) stays pending.
#[derive(Debug)]
pub struct AutoAdvance<F> {
    clock: ManualClock,
    future: Pin<Box<F>>,
}

impl<F: Future> AutoAdvance<F> {
    /// Wraps `future`, advancing `clock` whenever it is idle.
    pub fn new(clock: ManualClock, future: F) -> Self {
        AutoAdvance {
            clock,
            future: Box::pin(future),
        }
    }
}

struct WakeFlag {
    woken: AtomicBool,
    outer: Waker,
}

impl Wake for WakeFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.outer.wake_by_ref();
    }
}

impl<F: Future> Future for AutoAdvance<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        loop {
            let flag = Arc::new(WakeFlag {
                woken: AtomicBool::new(false),
                outer: cx.waker().clone(),
            });
            let waker = Waker::from(flag.clone());
            if let Poll::Ready(out) = self.future.as_mut().poll(&mut Context::from_waker(&waker)) {
                return Poll::Ready(out);
            }
            if flag.woken.load(Ordering::SeqCst) || self.clock.advance_to_next() {
                continue;
            }
            return Poll::Pending;
        }
    }
}
