//! The runtime seam on every executor: `sleep` and `sleep_until`,
//! `timeout` and `timeout_at` (elapsed, inner future wins, cancel-safe on a
//! primitive), `JoinHandle` output, abort, panic turned into `JoinError`,
//! detaching, `yield_now`, and `spawn_blocking`. Where a runtime cannot
//! control the order of events, a hand-written spawner pins down the
//! core's join semantics (abort before start, task dropped by its runtime).

use core::future::Future;
use core::task::Poll;
use core::time::Duration;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use asyncutils_core::channels::Rendezvous;
use asyncutils_core::rt::{Spawn, SpawnBlocking, VirtualRuntime, yield_now};
use asyncutils_core::time::{Elapsed, Instant, timeout, timeout_at};
use asyncutils_tests::{
    Manual, TestClock, TestRuntime, assert_duration, assert_elapsed, conformance, until,
};
use futures_lite::future;

const MS: Duration = Duration::from_millis(1);

/// Sets its flag when dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

// === sleep ===

conformance!(clock: sleep_waits_at_least_its_duration);
async fn sleep_waits_at_least_its_duration<C: TestClock>(clock: C) {
    let start = clock.now();
    clock.sleep(15 * MS).await;
    assert_elapsed(&clock, start, 15 * MS);

    let start = clock.now();
    clock.sleep_until(start + 10 * MS).await;
    assert_elapsed(&clock, start, 10 * MS);

    // A deadline in the past, or no duration, completes at once.
    let start = clock.now();
    clock.sleep_until(start - 5 * MS).await;
    clock.sleep(Duration::ZERO).await;
    if C::VIRTUAL {
        assert_eq!(clock.now(), start);
    }
}

conformance!(clock: sleepers_wake_in_deadline_order);
async fn sleepers_wake_in_deadline_order<C: TestClock>(clock: C) {
    let start = clock.now();
    let woke = Mutex::new(Vec::new());
    let nap = |ms: u32| {
        let (clock, woke) = (&clock, &woke);
        async move {
            clock.sleep(ms * MS).await;
            woke.lock().expect("woke").push((ms, clock.now() - start));
        }
    };
    future::zip(future::zip(nap(30), nap(10)), nap(20)).await;
    let woke = woke.lock().expect("woke").clone();
    if C::VIRTUAL {
        assert_eq!(woke, vec![(10, 10 * MS), (20, 20 * MS), (30, 30 * MS)]);
    } else {
        // A real executor may be late enough to find several due at once.
        assert_eq!(woke.len(), 3);
        for (ms, elapsed) in woke {
            assert_duration::<C>(elapsed, ms * MS);
        }
    }
    assert_elapsed(&clock, start, 30 * MS);
}

// === timeout ===

conformance!(clock: timeout_elapses_on_a_future_that_never_completes);
async fn timeout_elapses_on_a_future_that_never_completes<C: TestClock>(clock: C) {
    let start = clock.now();
    let result = timeout(&clock, 20 * MS, future::pending::<()>()).await;
    assert_eq!(result, Err(Elapsed));
    assert_elapsed(&clock, start, 20 * MS);
    assert_eq!(Elapsed.to_string(), "deadline has elapsed");

    let start = clock.now();
    let result = timeout_at(&clock, start + 10 * MS, future::pending::<()>()).await;
    assert_eq!(result, Err(Elapsed));
    assert_elapsed(&clock, start, 10 * MS);
}

conformance!(clock: timeout_returns_the_output_of_a_future_that_finishes_in_time);
async fn timeout_returns_the_output_of_a_future_that_finishes_in_time<C: TestClock>(clock: C) {
    let start = clock.now();
    assert_eq!(
        timeout(&clock, Duration::from_secs(5), async { 5 }).await,
        Ok(5)
    );
    if C::VIRTUAL {
        assert_eq!(clock.now(), start, "a ready future does not wait");
    }

    let start = clock.now();
    let result = timeout(&clock, Duration::from_secs(5), clock.sleep(10 * MS)).await;
    assert!(result.is_ok());
    assert_elapsed(&clock, start, 10 * MS);

    // Ready exactly at the deadline: the inner future is polled first and
    // wins. (Only virtual time makes two deadlines arrive in one instant; a
    // real timer may fire the two entries separately.)
    if C::VIRTUAL {
        let start = clock.now();
        let inner = clock.sleep(10 * MS);
        let result = timeout(&clock, 10 * MS, inner).await;
        assert!(
            result.is_ok(),
            "{}: the inner future must win a tie",
            C::NAME
        );
        assert_elapsed(&clock, start, 10 * MS);
    }
}

conformance!(clock: timeout_on_a_primitive_loses_nothing);
async fn timeout_on_a_primitive_loses_nothing<C: TestClock>(clock: C) {
    let rv = Rendezvous::new();
    assert_eq!(timeout(&clock, 5 * MS, rv.get()).await, Err(Elapsed));
    assert_eq!(
        rv.state().gets,
        0,
        "the timed-out get left no waiter behind"
    );
    assert!(matches!(
        timeout(&clock, 5 * MS, rv.put(1)).await,
        Err(Elapsed)
    ));
    assert_eq!(rv.state().puts, 0, "the timed-out put withdrew its value");
    let (put, got) = future::zip(rv.put(2), rv.get()).await;
    assert_eq!((put, got), (Ok(()), Ok(2)));
}

// === JoinHandle ===

conformance!(join_handle_gives_the_output);
async fn join_handle_gives_the_output<R: TestRuntime>(rt: R) {
    assert_eq!(rt.spawn(async { 6 * 7 }).await, Ok(42));
    let clock = rt.clone();
    let start = rt.now();
    let handle = rt.spawn(async move {
        clock.sleep(10 * MS).await;
        "slept"
    });
    assert_eq!(handle.await, Ok("slept"));
    assert_elapsed(&rt, start, 10 * MS);
}

conformance!(join_handle_abort_cancels_a_waiting_task);
async fn join_handle_abort_cancels_a_waiting_task<R: TestRuntime>(rt: R) {
    let dropped = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicBool::new(false));
    let handle = rt.spawn({
        let guard = DropFlag(dropped.clone());
        let started = started.clone();
        async move {
            let _guard = guard;
            started.store(true, Ordering::SeqCst);
            // Nothing ever wakes this task: only abort can end it.
            future::pending::<()>().await;
        }
    });
    until(|| started.load(Ordering::SeqCst)).await;
    assert!(!handle.is_finished());
    handle.abort();
    let err = handle.await.expect_err("aborted");
    assert!(err.is_cancelled() && !err.is_panic(), "{err:?}");
    assert_eq!(err.to_string(), "task was cancelled");
    assert!(
        dropped.load(Ordering::SeqCst),
        "the aborted future was dropped"
    );
}

conformance!(join_handle_abort_after_finish_keeps_the_output);
async fn join_handle_abort_after_finish_keeps_the_output<R: TestRuntime>(rt: R) {
    let handle = rt.spawn(async { 7 });
    until(|| handle.is_finished()).await;
    handle.abort();
    assert_eq!(handle.await, Ok(7));
}

conformance!(join_handle_reports_a_panic);
async fn join_handle_reports_a_panic<R: TestRuntime>(rt: R) {
    let err = rt
        .spawn(async { panic!("boom") })
        .await
        .expect_err("panicked");
    assert!(err.is_panic() && !err.is_cancelled());
    assert_eq!(err.panic_message(), Some("boom"));
    assert_eq!(err.to_string(), "task panicked: boom");

    let n = 3;
    let err = rt
        .spawn(async move { panic!("formatted {n}") })
        .await
        .expect_err("panicked");
    assert_eq!(err.panic_message(), Some("formatted 3"));

    // The runtime survives its task's panic.
    assert_eq!(rt.spawn(async { 1 }).await, Ok(1));
}

conformance!(detached_and_dropped_handles_leave_the_task_running);
async fn detached_and_dropped_handles_leave_the_task_running<R: TestRuntime>(rt: R) {
    let rv = Arc::new(Rendezvous::new());
    rt.spawn({
        let rv = rv.clone();
        async move { rv.put("detached").await }
    })
    .detach();
    assert_eq!(rv.get().await, Ok("detached"));

    let handle = rt.spawn({
        let rv = rv.clone();
        async move { rv.put("dropped handle").await }
    });
    drop(handle);
    assert_eq!(rv.get().await, Ok("dropped handle"));
}

// === yield_now ===

conformance!(yield_now_lets_other_tasks_run);
async fn yield_now_lets_other_tasks_run<R: TestRuntime>(rt: R) {
    let ran = Arc::new(AtomicBool::new(false));
    let handle = rt.spawn({
        let ran = ran.clone();
        async move { ran.store(true, Ordering::SeqCst) }
    });
    // On a single-threaded executor only yielding lets the task run: this
    // loop ends only if `yield_now` gives the executor a turn.
    while !ran.load(Ordering::SeqCst) {
        yield_now().await;
    }
    assert_eq!(handle.await, Ok(()));
}

#[test]
fn yield_now_is_pending_once_and_wakes_itself() {
    let mut y = Manual::new(yield_now());
    assert!(y.poll().is_pending());
    assert_eq!(y.wakes(), 1, "it asks to be polled again at once");
    assert_eq!(y.poll(), Poll::Ready(()));
}

// === spawn_blocking ===

conformance!(spawn_blocking_runs_off_the_async_thread);
async fn spawn_blocking_runs_off_the_async_thread<R: TestRuntime>(rt: R) {
    let here = std::thread::current().id();
    let (there, answer) = rt
        .spawn_blocking(|| (std::thread::current().id(), 6 * 7))
        .await
        .expect("blocking job");
    assert_eq!(answer, 42);
    assert_ne!(
        there,
        here,
        "{}: the blocking job ran on the async thread",
        R::NAME
    );

    let err = rt
        .spawn_blocking(|| -> u8 { panic!("blocking boom") })
        .await
        .expect_err("panicked");
    assert_eq!(err.panic_message(), Some("blocking boom"));
}

conformance!(spawn_blocking_aborted_while_running_runs_to_the_end);
async fn spawn_blocking_aborted_while_running_runs_to_the_end<R: TestRuntime>(rt: R) {
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let finished = Arc::new(AtomicBool::new(false));
    let handle = rt.spawn_blocking({
        let finished = finished.clone();
        move || {
            started_tx.send(()).expect("test waits");
            release_rx.recv().expect("test releases");
            finished.store(true, Ordering::SeqCst);
            "done"
        }
    });
    // Waiting on a std channel blocks this thread; the job runs on another.
    started_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the job started");
    handle.abort();
    release_tx.send(()).expect("job waits");
    assert_eq!(
        handle.await,
        Ok("done"),
        "once running, a blocking job runs to the end"
    );
    assert!(finished.load(Ordering::SeqCst));
}

#[test]
fn virtual_time_stands_still_while_a_blocking_job_runs() {
    let rt = VirtualRuntime::new();
    let result = rt.block_on(async {
        let job = rt.spawn_blocking(|| {
            // Real time passes; virtual time must not.
            std::thread::sleep(Duration::from_millis(20));
            1
        });
        timeout(&rt, MS, job).await
    });
    assert_eq!(
        result,
        Ok(Ok(1)),
        "time jumped past the timeout while the job ran"
    );
    assert_eq!(rt.clock().now(), Instant::ZERO);
}

// === join semantics under a hand-driven spawner ===

type Job = Box<dyn FnOnce() + Send>;
type Pinned = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// A spawner that only queues: the test decides when (and whether) tasks
/// and blocking jobs run.
#[derive(Default)]
struct Deferred {
    tasks: Mutex<Vec<Pinned>>,
    jobs: Mutex<Vec<Job>>,
}

impl Spawn for Deferred {
    fn spawn_detached<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tasks.lock().expect("tasks").push(Box::pin(future));
    }
}

impl SpawnBlocking for Deferred {
    fn spawn_blocking_detached<F>(&self, f: F)
    where
        F: FnOnce() + Send + 'static,
    {
        self.jobs.lock().expect("jobs").push(Box::new(f));
    }
}

#[test]
fn blocking_job_aborted_before_it_starts_is_skipped() {
    let spawner = Deferred::default();
    let ran = Arc::new(AtomicUsize::new(0));
    let handle = spawner.spawn_blocking({
        let ran = ran.clone();
        move || ran.fetch_add(1, Ordering::SeqCst)
    });
    handle.abort();
    for job in spawner.jobs.lock().expect("jobs").drain(..) {
        job();
    }
    assert_eq!(ran.load(Ordering::SeqCst), 0, "the aborted job ran");
    let err = future::block_on(handle).expect_err("skipped");
    assert!(err.is_cancelled());
}

#[test]
fn task_dropped_by_its_runtime_reports_cancellation() {
    let spawner = Deferred::default();
    let mut handle = Manual::new(spawner.spawn(async { 1 }));
    assert!(handle.poll().is_pending());
    // The runtime shuts down without ever polling the task.
    spawner.tasks.lock().expect("tasks").clear();
    assert_eq!(handle.wakes(), 1, "the handle was woken");
    let err = handle.ready().expect_err("cancelled");
    assert!(err.is_cancelled());
}

#[test]
fn task_aborted_before_its_first_poll_never_runs() {
    let spawner = Deferred::default();
    let ran = Arc::new(AtomicBool::new(false));
    let handle = spawner.spawn({
        let ran = ran.clone();
        async move { ran.store(true, Ordering::SeqCst) }
    });
    handle.abort();
    for mut task in spawner.tasks.lock().expect("tasks").drain(..) {
        assert!(
            Manual::new(task.as_mut()).poll().is_ready(),
            "an aborted task ends at its next poll"
        );
    }
    assert!(!ran.load(Ordering::SeqCst));
    assert!(
        future::block_on(handle)
            .expect_err("aborted")
            .is_cancelled()
    );
}
