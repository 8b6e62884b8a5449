//! `PrioritySemaphore` conformance: waiters in other tasks are served by
//! priority then arrival, a large head waiter blocks smaller ones behind it,
//! `close` fails every waiter, permits added or removed at run time reach
//! the waiters, an acquire under `timeout` gives up exactly at its deadline
//! in virtual time, and a stress run never lets more tasks in than there
//! are permits — on every executor. A dropped `Acquire` is checked at every
//! poll point never to lose a permit, including one already assigned to it.
//! (That the hot paths allocate nothing is checked in `alloc_free.rs`.)

use core::time::Duration;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use asyncutils_core::locks::{AcquireError, PrioritySemaphore, TryAcquireError};
use asyncutils_core::rt::{JoinHandle, yield_now};
use asyncutils_core::time::timeout;
use asyncutils_tests::cancel::{Subject, drop_at_every_poll_point};
use asyncutils_tests::{
    Manual, TestClock, TestRuntime, assert_elapsed, conformance, stress_size, until,
};

async fn join_all<T>(handles: Vec<JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("task finished"));
    }
    out
}

/// Spawns one waiter per `(name, n, priority)`, each starting only once
/// the previous one waits; each records its name while holding permits.
fn spawn_waiters<R: TestRuntime>(
    rt: &R,
    sem: &Arc<PrioritySemaphore>,
    order: &Arc<Mutex<Vec<&'static str>>>,
    who: &[(&'static str, usize, i32)],
) -> impl core::future::Future<Output = Vec<JoinHandle<()>>> {
    let (rt, sem, order, who) = (rt.clone(), sem.clone(), order.clone(), who.to_vec());
    async move {
        let mut handles = Vec::new();
        for (i, &(name, n, priority)) in who.iter().enumerate() {
            let (task_sem, order) = (sem.clone(), order.clone());
            handles.push(rt.spawn(async move {
                let permit = task_sem.acquire_many(n, priority).await.expect("open");
                order.lock().unwrap().push(name);
                yield_now().await;
                drop(permit);
            }));
            let before = i + 1;
            until(|| sem.waiters() == before).await;
        }
        handles
    }
}

// === ordering ===

conformance!(waiters_are_served_by_priority_then_arrival);
async fn waiters_are_served_by_priority_then_arrival<R: TestRuntime>(rt: R) {
    let sem = Arc::new(PrioritySemaphore::new(1).expect("valid"));
    let order = Arc::new(Mutex::new(Vec::new()));
    let held = sem.try_acquire().expect("free");
    let handles = spawn_waiters(
        &rt,
        &sem,
        &order,
        &[
            ("c5", 1, 5),
            ("a1", 1, 1),
            ("d5", 1, 5),
            ("urgent", 1, -10),
            ("b1", 1, 1),
            ("last", 1, 99),
        ],
    )
    .await;
    assert_eq!(
        sem.try_acquire().unwrap_err(),
        TryAcquireError::NoPermits,
        "{}",
        R::NAME
    );
    drop(held);
    join_all(handles).await;
    assert_eq!(
        *order.lock().unwrap(),
        ["urgent", "a1", "b1", "c5", "d5", "last"],
        "{}",
        R::NAME
    );
    assert_eq!(sem.available_permits(), 1);
    assert_eq!(sem.waiters(), 0);
}

conformance!(large_head_blocks_smaller_waiters_behind_it);
async fn large_head_blocks_smaller_waiters_behind_it<R: TestRuntime>(rt: R) {
    let sem = Arc::new(PrioritySemaphore::new(3).expect("valid"));
    let order = Arc::new(Mutex::new(Vec::new()));
    let held = sem.try_acquire_many(2).expect("free");
    let handles = spawn_waiters(&rt, &sem, &order, &[("big", 3, 0), ("small", 1, 0)]).await;
    // One permit is free, but the head wants three: the small one waits.
    assert_eq!(sem.available_permits(), 1);
    yield_now().await;
    assert!(order.lock().unwrap().is_empty(), "{}", R::NAME);
    drop(held);
    join_all(handles).await;
    assert_eq!(*order.lock().unwrap(), ["big", "small"]);
}

// === close, resize ===

conformance!(close_fails_every_waiter);
async fn close_fails_every_waiter<R: TestRuntime>(rt: R) {
    let sem = Arc::new(PrioritySemaphore::new(0).expect("valid"));
    let mut handles = Vec::new();
    for i in 0..4 {
        let task_sem = sem.clone();
        handles.push(rt.spawn(async move { task_sem.acquire(i).await.map(|p| p.num_permits()) }));
    }
    until(|| sem.waiters() == 4).await;
    assert!(sem.close());
    let results = join_all(handles).await;
    assert!(
        results.iter().all(|r| *r == Err(AcquireError::Closed)),
        "{results:?}"
    );
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
    assert_eq!(sem.acquire(0).await.unwrap_err(), AcquireError::Closed);
}

conformance!(resizing_at_run_time_reaches_waiters);
async fn resizing_at_run_time_reaches_waiters<R: TestRuntime>(rt: R) {
    let sem = Arc::new(PrioritySemaphore::new(2).expect("valid"));
    let held = sem.try_acquire_many(2).expect("free");
    // Shrink to one while both are out: one is owed.
    sem.set_permits(1).expect("valid");
    let order = Arc::new(Mutex::new(Vec::new()));
    let handles = spawn_waiters(&rt, &sem, &order, &[("a", 1, 0), ("b", 1, 0)]).await;
    drop(held);
    // Two came back: one paid the debt, one served `a`; `b` follows `a`.
    join_all(handles).await;
    assert_eq!(*order.lock().unwrap(), ["a", "b"]);
    assert_eq!((sem.total_permits(), sem.available_permits()), (1, 1));
    // Growing wakes a waiter that needs more than there were.
    let task_sem = sem.clone();
    let wide = rt.spawn(async move { task_sem.acquire_many(3, 0).await.map(|p| p.num_permits()) });
    until(|| sem.waiters() == 1).await;
    sem.add_permits(2).expect("valid");
    assert_eq!(wide.await.expect("task"), Ok(3));
    assert_eq!(sem.available_permits(), 3);
}

// === time ===

conformance!(clock: timeout_gives_up_exactly_and_leaks_nothing);
async fn timeout_gives_up_exactly_and_leaks_nothing<C: TestClock>(clock: C) {
    let sem = PrioritySemaphore::new(1).expect("valid");
    let held = sem.try_acquire().expect("free");
    let start = clock.now();
    let waited = timeout(&clock, Duration::from_millis(40), sem.acquire(0)).await;
    assert!(waited.is_err(), "{}", C::NAME);
    assert_elapsed(&clock, start, Duration::from_millis(40));
    assert_eq!(sem.waiters(), 0);
    drop(held);
    assert_eq!(sem.available_permits(), 1);
    let got = timeout(&clock, Duration::from_millis(40), sem.acquire(0)).await;
    assert!(matches!(got, Ok(Ok(_))));
}

// === stress ===

conformance!(never_more_holders_than_permits);
async fn never_more_holders_than_permits<R: TestRuntime>(rt: R) {
    const PERMITS: usize = 3;
    let tasks = stress_size(16, 4);
    let rounds = stress_size(50, 5);
    let sem = Arc::new(PrioritySemaphore::new(PERMITS).expect("valid"));
    let inside = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (sem, inside, peak) = (sem.clone(), inside.clone(), peak.clone());
        handles.push(rt.spawn(async move {
            for r in 0..rounds {
                let n = 1 + (t + r) % 2;
                let permit = sem
                    .acquire_many(n, i32::try_from(t % 4).expect("small"))
                    .await
                    .expect("open");
                let now = inside.fetch_add(n, Ordering::SeqCst) + n;
                peak.fetch_max(now, Ordering::SeqCst);
                yield_now().await;
                inside.fetch_sub(n, Ordering::SeqCst);
                drop(permit);
            }
        }));
    }
    join_all(handles).await;
    assert!(peak.load(Ordering::SeqCst) <= PERMITS, "{}", R::NAME);
    assert_eq!(sem.available_permits(), PERMITS);
    assert_eq!(sem.waiters(), 0);
}

// === cancellation ===

/// The subject waits behind a held permit, with a second waiter behind it;
/// the holder releases (assigning the permit to the subject); the subject
/// completes. Dropped at any point, the permit goes to the second waiter.
#[test]
fn dropped_acquire_never_loses_a_permit() {
    let cuts = drop_at_every_poll_point(|cut| {
        let sem = PrioritySemaphore::new(1).expect("valid");
        let held = sem.try_acquire().expect("free");
        let mut subject = Subject::new(cut, sem.acquire(0));
        subject.poll();
        let mut second = Manual::new(sem.acquire(0));
        second.pending();
        subject.checkpoint();
        drop(held);
        subject.checkpoint();
        subject.poll();
        let fate = subject.fate();
        if subject.is_completed() {
            let permit = subject.take_output().expect("output").expect("permit");
            second.pending();
            drop(permit);
        }
        assert!(second.wakes() >= 1);
        let permit = second
            .ready()
            .expect("the permit reached the second waiter");
        assert_eq!(sem.available_permits(), 0);
        drop(permit);
        assert_eq!(sem.available_permits(), 1);
        assert_eq!(sem.waiters(), 0);
        fate
    });
    assert!(cuts >= 4, "{cuts}");
}

/// Same, with a head asking for more than is free: dropping it lets the
/// smaller waiter behind it through.
#[test]
fn dropped_large_head_unblocks_the_queue() {
    drop_at_every_poll_point(|cut| {
        let sem = PrioritySemaphore::new(2).expect("valid");
        let held = sem.try_acquire().expect("free");
        let mut subject = Subject::new(cut, sem.acquire_many(2, 0));
        subject.poll();
        let mut small = Manual::new(sem.acquire(1));
        if subject.is_pending() {
            small.pending();
        }
        subject.checkpoint();
        drop(held);
        subject.poll();
        let fate = subject.fate();
        if subject.is_completed() {
            drop(subject.take_output());
        }
        let permit = small.ready().expect("served");
        drop(permit);
        assert_eq!(sem.available_permits(), 2);
        fate
    });
}
