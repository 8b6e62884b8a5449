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
use std::time::Duration;

use asyncutils_core::queues::{
    ClosedError, FixedLifoQueue, FixedPriorityQueue, FixedQueue, FixedUserPriorityQueue,
    TryGetError,
};
use asyncutils_core::rt::JoinHandle;
use asyncutils_tests::alloc::{CountingAlloc, allocations};
use asyncutils_tests::cancel::{Subject, drop_at_every_poll_point};
use asyncutils_tests::{
    Manual, TestClock, TestRuntime, Tracked, assert_elapsed, conformance, stress_size, until,
};

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
    let getter = rt.spawn({
        let q = q.clone();
        async move { q.get().await }
    });
    until(|| q.waiting_getters() == 1).await;
    q.put(1).await.expect("open");
    assert_eq!(getter.await.expect("getter"), Ok(1));

    q.put(2).await.expect("open");
    let putter = rt.spawn({
        let q = q.clone();
        async move { q.put(3).await }
    });
    until(|| q.waiting_putters() == 1).await;
    assert_eq!(q.get().await, Ok(2));
    assert_eq!(putter.await.expect("putter"), Ok(()));
    assert_eq!(q.get().await, Ok(3));
}

conformance!(waiting_getters_are_served_in_arrival_order);
async fn waiting_getters_are_served_in_arrival_order<R: TestRuntime>(rt: R) {
    const N: usize = 6;
    let q = Arc::new(FixedQueue::<usize, 2>::new());
    let mut getters = Vec::new();
    for i in 0..N {
        let task_q = q.clone();
        getters.push(rt.spawn(async move { task_q.get().await }));
        until(|| q.waiting_getters() == i + 1).await;
    }
    for i in 0..N {
        q.put(i).await.expect("open");
        // Let the served getter take its item before the next put, so the
        // assignment of items to getters is observable.
        until(|| q.is_empty()).await;
    }
    let got: Vec<_> = join_all(getters)
        .await
        .into_iter()
        .map(|r| r.expect("item"))
        .collect();
    assert_eq!(got, (0..N).collect::<Vec<_>>());
}

conformance!(waiting_putters_are_served_in_arrival_order);
async fn waiting_putters_are_served_in_arrival_order<R: TestRuntime>(rt: R) {
    const N: usize = 6;
    let q = Arc::new(FixedQueue::<usize, 1>::new());
    q.put(100).await.expect("open");
    let mut putters = Vec::new();
    for i in 0..N {
        let task_q = q.clone();
        putters.push(rt.spawn(async move { task_q.put(i).await }));
        until(|| q.waiting_putters() == i + 1).await;
    }
    let mut got = Vec::new();
    for _ in 0..=N {
        got.push(q.get().await.expect("item"));
    }
    assert!(join_all(putters).await.iter().all(Result::is_ok));
    assert_eq!(got, [100, 0, 1, 2, 3, 4, 5]);
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
    let q = FixedQueue::<u32, 1>::new();
    let start = clock.now();
    let got = asyncutils_core::time::timeout(&clock, Duration::from_millis(30), q.get()).await;
    assert!(got.is_err(), "nothing arrived");
    assert_elapsed(&clock, start, Duration::from_millis(30));
    q.put(1).await.expect("open");
    let put = asyncutils_core::time::timeout(&clock, Duration::from_millis(10), q.put(2)).await;
    assert!(put.is_err(), "no room opened");
    assert_eq!(q.try_get(), Ok(1), "the timed-out put inserted nothing");
    assert_eq!((q.waiting_getters(), q.waiting_putters()), (0, 0));
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
    let q = Arc::new(FixedQueue::<u32, 2>::new());
    let producer = rt.spawn_blocking({
        let q = q.clone();
        move || {
            for i in 0..50 {
                q.blocking_put(i).expect("open");
            }
        }
    });
    let consumer = rt.spawn_blocking({
        let q = q.clone();
        move || {
            let mut got = Vec::new();
            while let Ok(v) = q.blocking_get_timeout(Duration::from_secs(30)) {
                got.push(v);
                if got.len() == 25 {
                    break;
                }
            }
            got
        }
    });
    let async_producer = rt.spawn({
        let q = q.clone();
        async move {
            for i in 50..75 {
                q.put(i).await.expect("open");
            }
        }
    });
    let mut mine = Vec::new();
    while mine.len() + 25 < 75 {
        mine.push(q.get().await.expect("item"));
    }
    producer.await.expect("producer");
    async_producer.await.expect("async producer");
    let mut all = consumer.await.expect("consumer");
    all.extend(mine);
    all.sort_unstable();
    assert_eq!(all, (0..75).collect::<Vec<_>>());
}

// === stress ===

conformance!(stress_mixed_async_and_blocking_producers_and_consumers);
async fn stress_mixed_async_and_blocking_producers_and_consumers<R: TestRuntime>(rt: R) {
    const PRODUCERS: usize = 4; // two tasks, two threads
    const CONSUMERS: usize = 4;
    let per_producer = stress_size(5_000, 40);
    let total = PRODUCERS * per_producer;
    let q = Arc::new(FixedQueue::<usize, 4>::new());

    let mut producers = Vec::new();
    for p in 0..PRODUCERS {
        let q = q.clone();
        let values = (p * per_producer)..((p + 1) * per_producer);
        producers.push(if p % 2 == 0 {
            rt.spawn(async move {
                for v in values {
                    q.put(v).await.expect("open");
                }
            })
        } else {
            rt.spawn_blocking(move || {
                for v in values {
                    q.blocking_put(v).expect("open");
                }
            })
        });
    }
    let mut consumers = Vec::new();
    for c in 0..CONSUMERS {
        let q = q.clone();
        consumers.push(if c % 2 == 0 {
            rt.spawn(async move {
                let mut got = Vec::new();
                while let Ok(v) = q.get().await {
                    got.push(v);
                }
                got
            })
        } else {
            rt.spawn_blocking(move || {
                let mut got = Vec::new();
                while let Ok(v) = q.blocking_get() {
                    got.push(v);
                }
                got
            })
        });
    }
    join_all(producers).await;
    // Everything is in; consumers drain the rest, then learn it is over.
    q.close();
    let mut seen = vec![false; total];
    for got in join_all(consumers).await {
        let mut last = [None::<usize>; PRODUCERS];
        for v in got {
            assert!(!std::mem::replace(&mut seen[v], true), "{v} received twice");
            let p = v / per_producer;
            assert!(last[p] < Some(v), "producer {p}'s items out of order");
            last[p] = Some(v);
        }
    }
    assert!(seen.iter().all(|&s| s), "some items were never received");
    assert!(q.is_empty());
}

// === cancellation: drop each future at every poll point ===

#[test]
fn dropped_get_never_consumes_an_item() {
    let cuts = drop_at_every_poll_point(|cut| {
        let q = FixedQueue::<Tracked<u32>, 2>::new();
        let mut get = Subject::new(cut, q.get());
        get.poll();
        let (item, witness) = Tracked::new(7);
        q.try_put(item).map_err(|_| ()).expect("room");
        get.checkpoint();
        get.poll();
        if get.is_completed() {
            let got = get.take_output().expect("output").expect("open");
            assert_eq!(*got.value(), 7);
        } else {
            let got = q.try_get().expect("the item is still there");
            assert_eq!(*got.value(), 7);
            assert!(!witness.is_dropped());
        }
        assert_eq!(q.waiting_getters(), 0);
        get.fate()
    });
    assert!(cuts >= 3, "dropped at {cuts} points");
}

#[test]
fn dropped_served_get_passes_its_turn() {
    let cuts = drop_at_every_poll_point(|cut| {
        let q = FixedQueue::<u32, 2>::new();
        let mut get = Subject::new(cut, q.get());
        get.poll();
        let mut next = Manual::new(q.get());
        next.pending();
        q.try_put(1).expect("room");
        get.checkpoint();
        get.poll();
        if get.is_completed() {
            assert_eq!(get.output(), Some(&Ok(1)));
            assert_eq!(next.wakes(), 0);
            next.pending();
        } else {
            assert_eq!(next.wakes(), 1, "the next getter was not woken");
            assert_eq!(next.ready(), Ok(1));
        }
        get.fate()
    });
    assert!(cuts >= 3, "dropped at {cuts} points");
}

#[test]
fn dropped_put_never_inserts() {
    let cuts = drop_at_every_poll_point(|cut| {
        let q = FixedQueue::<Tracked<u32>, 1>::new();
        let (first, _) = Tracked::new(0);
        q.try_put(first).map_err(|_| ()).expect("room");
        let (item, witness) = Tracked::new(1);
        let mut put = Subject::new(cut, q.put(item));
        put.poll();
        let mut next = Manual::new(q.put(Tracked::new(2).0));
        next.pending();
        assert_eq!(*q.try_get().expect("item").value(), 0);
        put.checkpoint();
        put.poll();
        if put.is_completed() {
            assert!(matches!(put.output(), Some(Ok(()))));
            assert_eq!(*q.try_get().expect("inserted").value(), 1);
        } else {
            assert!(witness.is_dropped(), "the item went with the future");
            assert_eq!(next.wakes(), 1, "the turn passed on");
            assert!(matches!(next.poll(), Poll::Ready(Ok(()))));
            assert_eq!(*q.try_get().expect("next's item").value(), 2);
        }
        put.fate()
    });
    assert!(cuts >= 3, "dropped at {cuts} points");
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
    q.blocking_put(1).expect("open");
    assert_eq!(q.blocking_get(), Ok(1));
    let n = allocations(|| {
        for i in 0..1_000 {
            q.blocking_put(i).expect("open");
            assert_eq!(q.blocking_get_timeout(Duration::from_secs(1)), Ok(i));
        }
    });
    assert_eq!(n, 0, "1000 blocking put/get pairs allocated {n} times");
}

#[test]
fn the_counter_counts() {
    let n = allocations(|| drop(std::hint::black_box(Box::new(1_u64))));
    assert_eq!(n, 1);
}
