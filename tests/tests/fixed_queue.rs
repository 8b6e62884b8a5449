//! `FixedQueue` conformance: the waiting lines (async tasks and blocking
//! threads in one line each), arrival order, close and shutdown waking
//! every waiter, timeouts taking nothing — on every executor; cancel safety
//! of `FixedGet` and `FixedPut` by dropping each at every poll point; a
//! stress run of mixed async and blocking producers and consumers that
//! accounts for every item; and no allocation at all, waiting included
//! (this binary installs a per-thread counting allocator).

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use asyncutils_core::queues::{
    ClosedError, FixedLifoQueue, FixedPriorityQueue, FixedQueue, FixedUserPriorityQueue,
    TryGetError,
};
use asyncutils_core::rt::JoinHandle;
use asyncutils_tests::alloc::{CountingAlloc, allocations};
use asyncutils_tests::queue;
use asyncutils_tests::{TestClock, TestRuntime, Tracked, conformance, stress_size, until};

async fn join_all<T>(handles: Vec<JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("task finished"));
    }
    out
}

// === waiting in both directions ===

conformance!(handoff_across_tasks_both_ways);
async fn handoff_across_tasks_both_ways<R: TestRuntime>(rt: R) {
    let q = Arc::new(FixedQueue::<u32, 1>::new());
    queue::handoff_across_tasks_both_ways(rt, q).await;
}

conformance!(waiting_getters_are_served_in_arrival_order);
async fn waiting_getters_are_served_in_arrival_order<R: TestRuntime>(rt: R) {
    let q = Arc::new(FixedQueue::<usize, 2>::new());
    queue::waiting_getters_are_served_in_arrival_order(rt, q).await;
}

conformance!(waiting_putters_are_served_in_arrival_order);
async fn waiting_putters_are_served_in_arrival_order<R: TestRuntime>(rt: R) {
    let q = Arc::new(FixedQueue::<usize, 1>::new());
    queue::waiting_putters_are_served_in_arrival_order(rt, q).await;
}

conformance!(every_order_across_tasks_and_threads);
async fn every_order_across_tasks_and_threads<R: TestRuntime>(rt: R) {
    let user = Arc::new(FixedUserPriorityQueue::<&str, u8, 2>::new());
    // A thread puts while the queue is full; a task waits to take.
    user.put("routine", 5).await.expect("open");
    user.put("urgent", 0).await.expect("open");
    let late = rt.spawn_blocking({
        let q = user.clone();
        move || q.blocking_put("late but first", 0)
    });
    until(|| user.waiting_putters() == 1).await;
    assert_eq!(user.get().await, Ok("urgent"));
    late.await.expect("thread").expect("open");
    assert_eq!(user.get().await, Ok("late but first"));
    assert_eq!(user.get().await, Ok("routine"));

    let lifo = Arc::new(FixedLifoQueue::<u32, 4>::new());
    let prio = Arc::new(FixedPriorityQueue::<u32, 4>::new());
    let filler = rt.spawn({
        let (lifo, prio) = (lifo.clone(), prio.clone());
        async move {
            for v in [3, 1, 4, 2] {
                lifo.put(v).await.expect("open");
                prio.put(v).await.expect("open");
            }
        }
    });
    filler.await.expect("filler");
    let mut got = (Vec::new(), Vec::new());
    for _ in 0..4 {
        got.0.push(lifo.get().await.expect("item"));
        got.1.push(prio.get().await.expect("item"));
    }
    assert_eq!(got, (vec![2, 4, 1, 3], vec![1, 2, 3, 4]));
}

// === timeouts ===

conformance!(clock: a_timed_out_get_or_put_changes_nothing);
async fn a_timed_out_get_or_put_changes_nothing<C: TestClock>(clock: C) {
    queue::a_timed_out_get_or_put_changes_nothing(clock, FixedQueue::<u32, 1>::new()).await;
}

// === close and shutdown ===

conformance!(close_wakes_every_task_and_lets_gets_drain);
async fn close_wakes_every_task_and_lets_gets_drain<R: TestRuntime>(rt: R) {
    // More waiters than one wake batch (8), on both sides.
    const WAITERS: usize = 20;
    let q = Arc::new(FixedQueue::<usize, 1>::new());
    q.put(0).await.expect("open");
    let putters: Vec<_> = (1..=WAITERS)
        .map(|i| {
            let q = q.clone();
            rt.spawn(async move { q.put(i).await })
        })
        .collect();
    until(|| q.waiting_putters() == WAITERS).await;
    q.close();
    for (i, r) in join_all(putters).await.into_iter().enumerate() {
        assert_eq!(r, Err(ClosedError(i + 1)), "the item comes back");
    }
    assert_eq!(q.get().await, Ok(0), "gets drain what is left");
    let getters: Vec<_> = (0..WAITERS)
        .map(|_| {
            let q = q.clone();
            rt.spawn(async move { q.get().await })
        })
        .collect();
    for r in join_all(getters).await {
        assert_eq!(r, Err(ClosedError(())));
    }
}

conformance!(shutdown_fails_waiting_tasks_and_hands_back_the_items);
async fn shutdown_fails_waiting_tasks_and_hands_back_the_items<R: TestRuntime>(rt: R) {
    let q = Arc::new(FixedQueue::<u32, 2>::new());
    let getters: Vec<_> = (0..12)
        .map(|_| {
            let q = q.clone();
            rt.spawn(async move { q.get().await })
        })
        .collect();
    until(|| q.waiting_getters() == 12).await;
    assert_eq!(q.shutdown_into(&mut Vec::new()), 0);
    for r in join_all(getters).await {
        assert_eq!(r, Err(ClosedError(())));
    }
    assert_eq!(q.try_get(), Err(TryGetError::Closed));
}

// === blocking threads mixed with tasks ===

conformance!(blocking_threads_and_tasks_share_the_queue);
async fn blocking_threads_and_tasks_share_the_queue<R: TestRuntime>(rt: R) {
    let q = Arc::new(FixedQueue::<usize, 2>::new());
    queue::blocking_threads_and_tasks_share(rt, q).await;
}

// === stress ===

conformance!(stress_mixed_async_and_blocking_producers_and_consumers);
async fn stress_mixed_async_and_blocking_producers_and_consumers<R: TestRuntime>(rt: R) {
    let q = Arc::new(FixedQueue::<usize, 4>::new());
    queue::stress_mixed_async_and_blocking(rt, q, stress_size(5_000, 40)).await;
}

// === cancellation: drop each future at every poll point ===

#[test]
fn dropped_get_never_consumes_an_item() {
    queue::dropped_get_never_consumes_an_item(FixedQueue::<Tracked<u32>, 2>::new);
}

#[test]
fn dropped_served_get_passes_its_turn() {
    queue::dropped_served_get_passes_its_turn(FixedQueue::<u32, 2>::new);
}

#[test]
fn dropped_put_never_inserts() {
    queue::dropped_put_never_inserts(FixedQueue::<Tracked<u32>, 1>::new);
}

// === no allocation, waiting included ===

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

struct Flag;

impl Wake for Flag {
    fn wake(self: Arc<Self>) {}
}

fn poll<F: Future>(f: std::pin::Pin<&mut F>, cx: &mut Context<'_>) -> Poll<F::Output> {
    f.poll(cx)
}

#[test]
fn waiting_puts_and_gets_never_allocate() {
    let waker = Waker::from(Arc::new(Flag));
    let mut cx = Context::from_waker(&waker);
    let q = FixedQueue::<u64, 2>::new();
    let n = allocations(|| {
        for i in 0..1_000 {
            let mut get = pin!(q.get());
            assert!(poll(get.as_mut(), &mut cx).is_pending());
            q.try_put(i).expect("room");
            assert_eq!(poll(get.as_mut(), &mut cx), Poll::Ready(Ok(i)));
            q.try_put(i).expect("room");
            q.try_put(i + 1).expect("room");
            let mut put = pin!(q.put(i + 2));
            assert!(poll(put.as_mut(), &mut cx).is_pending());
            assert_eq!(q.try_get(), Ok(i));
            assert_eq!(poll(put.as_mut(), &mut cx), Poll::Ready(Ok(())));
            assert_eq!(q.push(i + 3), Ok(Some(i + 1)));
            assert_eq!(q.try_get(), Ok(i + 2));
            assert_eq!(q.try_get(), Ok(i + 3));
        }
    });
    assert_eq!(n, 0, "1000 rounds allocated {n} times");
    // Blocking calls reuse one waker per thread.
    queue::blocking_put_get_do_not_allocate(&q);
}

#[test]
fn the_counter_counts() {
    let n = allocations(|| drop(std::hint::black_box(Box::new(1_u64))));
    assert_eq!(n, 1);
}
