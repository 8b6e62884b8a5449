use alloc::string::ToString;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use core::task::Poll;
use core::time::Duration;

use super::*;
use crate::test_util::Probe;
use crate::time::Instant;

#[test]
fn join_handle_delivers_output() {
    let rt = VirtualRuntime::new();
    let out = rt.block_on(async { rt.spawn(async { 1 + 1 }).await });
    assert_eq!(out, Ok(2));
}

#[test]
fn abort_cancels_a_pending_task_and_drops_its_future() {
    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicBool::new(false));
    let rt = VirtualRuntime::new();
    let guard = SetOnDrop(dropped.clone());
    let result = rt.block_on(async {
        let handle = rt.spawn(async move {
            let _guard = guard;
            core::future::pending::<()>().await;
        });
        yield_now().await;
        handle.abort();
        handle.await
    });
    assert!(result.unwrap_err().is_cancelled());
    assert!(dropped.load(Ordering::SeqCst));
}

#[test]
fn abort_after_completion_keeps_the_output() {
    let (task, handle) = joinable(async { 5 });
    let p = Probe::new();
    let mut task = core::pin::pin!(task);
    assert_eq!(p.poll_pinned(task.as_mut()), Poll::Ready(()));
    handle.abort();
    assert!(handle.is_finished());
    let mut handle = handle;
    assert_eq!(p.poll(&mut handle), Poll::Ready(Ok(5)));
}

#[test]
fn a_panicking_task_reports_its_message() {
    let rt = VirtualRuntime::new();
    let result = rt.block_on(async {
        rt.spawn(async {
            panic!("task blew up");
        })
        .await
    });
    let err = result.unwrap_err();
    assert!(err.is_panic());
    assert_eq!(err.panic_message(), Some("task blew up"));
    assert_eq!(err.to_string(), "task panicked: task blew up");
}

#[test]
fn a_task_dropped_by_its_executor_reports_cancellation() {
    let (task, mut handle) = joinable(core::future::pending::<u8>());
    let p = Probe::new();
    assert!(p.poll(&mut handle).is_pending());
    drop(task);
    assert_eq!(p.take_wakes(), 1);
    assert!(matches!(p.poll(&mut handle), Poll::Ready(Err(e)) if e.is_cancelled()));
}

#[test]
fn detached_tasks_keep_running() {
    let rt = VirtualRuntime::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    rt.block_on(async {
        rt.spawn(async move {
            r.fetch_add(1, Ordering::SeqCst);
        })
        .detach();
        rt.sleep(Duration::from_millis(1)).await;
    });
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

#[test]
fn virtual_runtime_advances_time_only_when_idle_and_exactly() {
    let rt = VirtualRuntime::new();
    let log = rt.block_on(async {
        let a = rt.spawn({
            let rt = rt.clone();
            async move {
                rt.sleep(Duration::from_secs(2)).await;
                rt.now()
            }
        });
        let b = rt.spawn({
            let rt = rt.clone();
            async move {
                rt.sleep(Duration::from_secs(1)).await;
                rt.now()
            }
        });
        Vec::from([a.await.unwrap(), b.await.unwrap()])
    });
    assert_eq!(
        log,
        [
            Instant::from_nanos(2_000_000_000),
            Instant::from_nanos(1_000_000_000)
        ]
    );
    assert_eq!(rt.now(), Instant::from_nanos(2_000_000_000));
}

#[test]
fn virtual_runtime_waits_for_blocking_jobs_before_jumping_time() {
    let rt = VirtualRuntime::new();
    let (out, t) = rt.block_on(async {
        let job = rt.spawn_blocking(|| {
            std::thread::sleep(Duration::from_millis(if cfg!(miri) { 1 } else { 20 }));
            7
        });
        let timer = crate::time::timeout(&rt, Duration::from_secs(5), job);
        (timer.await, rt.now())
    });
    assert_eq!(
        out,
        Ok(Ok(7)),
        "time did not jump past the deadline while the job ran"
    );
    assert_eq!(t, Instant::ZERO);
}

#[test]
fn blocking_job_aborted_before_start_is_skipped() {
    let (job, mut handle) = join::blocking_joinable(|| 1);
    handle.abort();
    job();
    let p = Probe::new();
    assert!(matches!(p.poll(&mut handle), Poll::Ready(Err(e)) if e.is_cancelled()));
}

#[test]
fn yield_now_yields_exactly_once() {
    let p = Probe::new();
    let mut y = yield_now();
    assert!(p.poll(&mut y).is_pending());
    assert_eq!(p.take_wakes(), 1);
    assert!(p.poll(&mut y).is_ready());
}
