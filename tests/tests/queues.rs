//! `SmartQueue` conformance: every order across tasks, bounded waiting in
//! both directions, `push` displacing the next item, `close` and `shutdown`
//! waking every task, transactions that commit or roll back while other
//! tasks wait, spawned drivers feeding derived queues, the protected queue,
//! blocking threads mixed with async tasks — on every executor;
//! cancel safety of `Get`, `Put` and `BeginTransaction` by dropping each at
//! every poll point; a stress run of mixed async and blocking producers and
//! consumers that accounts for every item; and zero allocations per
//! put/get in steady state (this binary installs a per-thread counting
//! allocator).

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use asyncutils_core::queues::{
    ClosedError, ProtectedQueue, SmartLifoQueue, SmartPriorityQueue, SmartQueue, TryGetError,
    TryPutError, UserPriorityQueue, WrongKey,
};
use asyncutils_core::rt::JoinHandle;
use asyncutils_tests::alloc::{CountingAlloc, allocations};
use asyncutils_tests::cancel::{Subject, drop_at_every_poll_point};
use asyncutils_tests::queue;
use asyncutils_tests::{Manual, TestClock, TestRuntime, Tracked, conformance, stress_size, until};
use futures_lite::future;

async fn join_all<T>(handles: Vec<JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("task finished"));
    }
    out
}

// === orders and handoff ===

conformance!(clock: every_order_within_one_task);
async fn every_order_within_one_task<C: TestClock>(_clock: C) {
    let fifo = SmartQueue::<u32>::unbounded();
    let lifo = SmartLifoQueue::<u32>::unbounded();
    let prio = SmartPriorityQueue::<u32>::unbounded();
    let user = UserPriorityQueue::<char, u8>::unbounded();
    for (i, v) in [3, 1, 2].into_iter().enumerate() {
        fifo.put(v).await.expect("open");
        lifo.put(v).await.expect("open");
        prio.put(v).await.expect("open");
        user.put(char::from(b'a' + i as u8), v as u8 % 2)
            .await
            .expect("open");
    }
    let mut got = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        got.0.push(fifo.get().await.expect("item"));
        got.1.push(lifo.get().await.expect("item"));
        got.2.push(prio.get().await.expect("item"));
        got.3.push(user.get().await.expect("item"));
    }
    assert_eq!(got.0, [3, 1, 2]);
    assert_eq!(got.1, [2, 1, 3]);
    assert_eq!(got.2, [1, 2, 3]);
    // Priorities 1, 1, 0: 'c' first, then 'a' and 'b' in arrival order.
    assert_eq!(got.3, ['c', 'a', 'b']);
}

conformance!(handoff_across_tasks_both_ways);
async fn handoff_across_tasks_both_ways<R: TestRuntime>(rt: R) {
    let q = Arc::new(SmartQueue::<u32>::bounded(1).expect("capacity"));
    queue::handoff_across_tasks_both_ways(rt, q).await;
}

conformance!(waiting_getters_are_served_in_arrival_order);
async fn waiting_getters_are_served_in_arrival_order<R: TestRuntime>(rt: R) {
    let q = Arc::new(SmartQueue::<usize>::unbounded());
    queue::waiting_getters_are_served_in_arrival_order(rt, q).await;
}

conformance!(waiting_putters_are_served_in_arrival_order);
async fn waiting_putters_are_served_in_arrival_order<R: TestRuntime>(rt: R) {
    let q = Arc::new(SmartQueue::<usize>::bounded(1).expect("capacity"));
    queue::waiting_putters_are_served_in_arrival_order(rt, q).await;
}

// === timeouts ===

conformance!(clock: a_timed_out_get_takes_nothing);
async fn a_timed_out_get_takes_nothing<C: TestClock>(clock: C) {
    queue::a_timed_out_get_or_put_changes_nothing(
        clock,
        SmartQueue::<u32>::bounded(1).expect("capacity"),
    )
    .await;
}

// === push ===

conformance!(clock: push_displaces_the_next_item_and_says_so);
async fn push_displaces_the_next_item_and_says_so<C: TestClock>(_clock: C) {
    let q = SmartQueue::<u32>::bounded(2).expect("capacity");
    let events = asyncutils_core::audit::extracting("asyncutils.queues.SmartQueue.push", |e| {
        e.get("popped").and_then(|v| v.as_str().map(String::from))
    });
    for i in 0..5 {
        let popped = q.push(i).expect("open");
        assert_eq!(popped, i.checked_sub(2), "push {i}");
    }
    assert_eq!(q.get().await, Ok(3));
    assert_eq!(q.get().await, Ok(4));
    // Other tests may raise the event concurrently; ours are among them.
    let names = events.finish();
    assert!(names.iter().filter(|n| n.as_deref() == Some("u32")).count() >= 3);
}

// === close and shutdown ===

conformance!(close_wakes_every_task_and_lets_gets_drain);
async fn close_wakes_every_task_and_lets_gets_drain<R: TestRuntime>(rt: R) {
    let q = Arc::new(SmartQueue::<u32>::bounded(1).expect("capacity"));
    q.put(1).await.expect("open");
    let putter = rt.spawn({
        let q = q.clone();
        async move { q.put(2).await }
    });
    until(|| q.waiting_putters() == 1).await;
    q.close();
    assert_eq!(putter.await.expect("putter"), Err(ClosedError(2)));
    assert_eq!(q.get().await, Ok(1), "gets drain what is left");
    let getters: Vec<_> = (0..3)
        .map(|_| {
            let q = q.clone();
            rt.spawn(async move { q.get().await })
        })
        .collect();
    for r in join_all(getters).await {
        assert_eq!(r, Err(ClosedError(())));
    }
}

conformance!(shutdown_fails_waiting_tasks_and_returns_the_items);
async fn shutdown_fails_waiting_tasks_and_returns_the_items<R: TestRuntime>(rt: R) {
    let q = Arc::new(SmartQueue::<u32>::unbounded());
    let getters: Vec<_> = (0..2)
        .map(|_| {
            let q = q.clone();
            rt.spawn(async move { q.get().await })
        })
        .collect();
    until(|| q.waiting_getters() == 2).await;
    assert!(q.shutdown().is_empty());
    for r in join_all(getters).await {
        assert_eq!(r, Err(ClosedError(())));
    }
    let q = SmartQueue::<u32>::unbounded();
    q.try_extend([1, 2, 3]).expect("room");
    assert_eq!(q.shutdown(), [1, 2, 3]);
    assert_eq!(q.try_get(), Err(TryGetError::Closed));
}

// === transactions ===

conformance!(a_transaction_is_invisible_until_it_commits);
async fn a_transaction_is_invisible_until_it_commits<R: TestRuntime>(rt: R) {
    let q = Arc::new(SmartQueue::<u32>::bounded(4).expect("capacity"));
    q.try_extend([1, 2]).expect("room");
    let mut txn = q.transaction().await;
    assert_eq!(txn.get(), Ok(&1));
    txn.put(3).expect("room");
    // Other tasks wait for the transaction, whatever they do.
    let getter = rt.spawn({
        let q = q.clone();
        async move { q.get().await }
    });
    let putter = rt.spawn({
        let q = q.clone();
        async move { q.put(9).await }
    });
    until(|| q.waiting_getters() == 1 && q.waiting_putters() == 1).await;
    assert_eq!(q.len(), 2, "others see the length from before");
    assert_eq!(q.try_get(), Err(TryGetError::InTransaction));
    assert_eq!(txn.commit(), [1]);
    assert_eq!(getter.await.expect("getter"), Ok(2));
    assert_eq!(putter.await.expect("putter"), Ok(()));
    assert_eq!(q.drain().expect("no transaction"), [3, 9]);
}

conformance!(a_dropped_transaction_rolls_back);
async fn a_dropped_transaction_rolls_back<R: TestRuntime>(rt: R) {
    let q = Arc::new(SmartPriorityQueue::<u32>::unbounded());
    q.try_extend([5, 1, 3]).expect("room");
    let task = rt.spawn({
        let q = q.clone();
        async move {
            let mut txn = q.transaction().await;
            let first = *txn.get().expect("item");
            txn.put(0).expect("room");
            let again = *txn.get().expect("item");
            // An error path: the transaction is dropped, not committed.
            Err::<(), _>((first, again))
        }
    });
    assert_eq!(task.await.expect("task"), Err((1, 0)));
    assert_eq!(q.drain().expect("no transaction"), [1, 3, 5]);
}

// === derived queues and the protected queue ===

conformance!(a_spawned_driver_feeds_a_mapped_queue_with_backpressure);
async fn a_spawned_driver_feeds_a_mapped_queue_with_backpressure<R: TestRuntime>(rt: R) {
    let src = Arc::new(SmartQueue::<u32>::bounded(4).expect("capacity"));
    // The odd squares stay in `squares`, so it must hold all ten of them.
    let (squares, drive) = src
        .map(16, |x| u64::from(x) * u64::from(x))
        .expect("capacity");
    let (evens, filter) = squares.filter(2, |x| x % 2 == 0).expect("capacity");
    let drivers = [rt.spawn(drive), rt.spawn(filter)];
    let producer = rt.spawn({
        let src = src.clone();
        async move {
            for i in 0..20 {
                src.put(i).await.expect("open");
            }
            src.close();
        }
    });
    let mut got = Vec::new();
    while let Ok(v) = evens.get().await {
        got.push(v);
    }
    producer.await.expect("producer");
    for d in drivers {
        d.await.expect("driver");
    }
    assert_eq!(
        got,
        (0..20u64).step_by(2).map(|x| x * x).collect::<Vec<_>>()
    );
    // The odd squares stayed in the mapped queue, in order.
    assert_eq!(
        squares.drain().expect("no transaction"),
        (1..20u64).step_by(2).map(|x| x * x).collect::<Vec<_>>()
    );
}

conformance!(a_protected_queue_serves_key_holders_across_tasks);
async fn a_protected_queue_serves_key_holders_across_tasks<R: TestRuntime>(rt: R) {
    let q = Arc::new(
        ProtectedQueue::new(
            SmartQueue::<u32>::bounded(1).expect("capacity"),
            Some(b"r"),
            Some(b"w"),
        )
        .expect("keys"),
    );
    assert_eq!(q.putter(Some(b"r")).err(), Some(WrongKey));
    let producer = rt.spawn({
        let q = q.clone();
        async move {
            let putter = q.putter(Some(b"w")).expect("key");
            for i in 0..10 {
                putter.put(i).await.expect("open");
            }
            putter.close();
        }
    });
    let getter = q.getter(Some(b"r")).expect("key");
    let mut got = Vec::new();
    while let Ok(v) = getter.get().await {
        got.push(v);
    }
    producer.await.expect("producer");
    assert_eq!(got, (0..10).collect::<Vec<_>>());
}

// === blocking threads mixed with tasks ===

conformance!(blocking_threads_and_tasks_share_the_queue);
async fn blocking_threads_and_tasks_share_the_queue<R: TestRuntime>(rt: R) {
    let q = Arc::new(SmartQueue::<usize>::bounded(2).expect("capacity"));
    queue::blocking_threads_and_tasks_share(rt, q).await;
}

// === stress ===

conformance!(stress_mixed_async_and_blocking_producers_and_consumers);
async fn stress_mixed_async_and_blocking_producers_and_consumers<R: TestRuntime>(rt: R) {
    let q = Arc::new(SmartQueue::<usize>::bounded(8).expect("capacity"));
    queue::stress_mixed_async_and_blocking(rt, q, stress_size(5_000, 40)).await;
}

// === cancellation: drop each future at every poll point ===

#[test]
fn dropped_get_never_consumes_an_item() {
    queue::dropped_get_never_consumes_an_item(SmartQueue::<Tracked<u32>>::unbounded);
}

#[test]
fn dropped_notified_get_passes_its_turn() {
    queue::dropped_served_get_passes_its_turn(SmartQueue::<u32>::unbounded);
}

#[test]
fn dropped_put_never_inserts() {
    queue::dropped_put_never_inserts(|| SmartQueue::<Tracked<u32>>::bounded(1).expect("capacity"));
}

#[test]
fn dropped_begin_transaction_leaves_the_queue_alone() {
    let cuts = drop_at_every_poll_point(|cut| {
        let q = SmartQueue::<u32>::unbounded();
        q.try_put(1).expect("room");
        let first = q.try_transaction().expect("free");
        let mut begin = Subject::new(cut, q.transaction());
        begin.poll();
        let mut next = Manual::new(q.transaction());
        next.pending();
        drop(first);
        begin.checkpoint();
        begin.poll();
        if begin.is_completed() {
            let txn = begin.take_output().expect("output");
            assert_eq!(txn.len(), 1);
            drop(txn);
            assert_eq!(next.wakes(), 1);
        } else {
            assert_eq!(next.wakes(), 1, "the next transaction was woken");
        }
        assert!(matches!(next.poll(), Poll::Ready(_)));
        assert_eq!(q.try_get(), Ok(1));
        begin.fate()
    });
    assert!(cuts >= 3, "dropped at {cuts} points");
}

#[test]
fn full_bounded_put_errors_give_the_item_back() {
    let q = SmartQueue::<String>::bounded(1).expect("capacity");
    q.try_put("a".into()).expect("room");
    match q.try_put("b".into()) {
        Err(e @ TryPutError::Full(_)) => assert_eq!(e.into_inner(), "b"),
        other => panic!("unexpected {other:?}"),
    }
}

// === zero allocations per put/get in steady state ===

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

struct Flag;

impl Wake for Flag {
    fn wake(self: Arc<Self>) {}
}

fn poll<F: Future>(f: std::pin::Pin<&mut F>, cx: &mut Context<'_>) -> Poll<F::Output> {
    f.poll(cx)
}

/// Fills a capacity-2 queue, waits one put and one get on it, and
/// empties it again: every waiting path once.
fn round(q: &SmartQueue<u64>, p: &SmartPriorityQueue<u64>, cx: &mut Context<'_>, i: u64) {
    let mut get = pin!(q.get());
    assert!(poll(get.as_mut(), cx).is_pending());
    q.try_put(i).expect("room");
    assert_eq!(poll(get.as_mut(), cx), Poll::Ready(Ok(i)));
    q.try_put(i).expect("room");
    let mut put = pin!(q.put(i + 1));
    assert!(poll(put.as_mut(), cx).is_ready());
    let mut blocked = pin!(q.put(i + 2));
    assert!(poll(blocked.as_mut(), cx).is_pending());
    assert_eq!(q.try_get(), Ok(i));
    assert_eq!(poll(blocked.as_mut(), cx), Poll::Ready(Ok(())));
    assert_eq!(q.push(i + 3), Ok(Some(i + 1)));
    assert_eq!(q.try_get(), Ok(i + 2));
    assert_eq!(q.try_get(), Ok(i + 3));
    for v in [i % 7, i % 3, i % 5] {
        p.try_put(v).expect("room");
    }
    for _ in 0..3 {
        p.try_get().expect("item");
    }
}

#[test]
fn bounded_put_get_do_not_allocate_in_steady_state() {
    let waker = Waker::from(Arc::new(Flag));
    let mut cx = Context::from_waker(&waker);
    let q = SmartQueue::<u64>::bounded(2).expect("capacity");
    let p = SmartPriorityQueue::<u64>::bounded(4).expect("capacity");
    // Warm-up: the waiter slab grows to its peak.
    for i in 0..4 {
        round(&q, &p, &mut cx, i);
    }
    let n = allocations(|| {
        for i in 0..1_000 {
            round(&q, &p, &mut cx, i);
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

#[test]
fn blocking_get_on_an_empty_queue_waits_for_a_thread() {
    let q = Arc::new(SmartQueue::<u32>::unbounded());
    let t = std::thread::spawn({
        let q = q.clone();
        move || q.blocking_get()
    });
    while q.waiting_getters() == 0 {
        std::thread::yield_now();
    }
    q.try_put(5).expect("room");
    assert_eq!(t.join().expect("thread"), Ok(5));
    let _ = future::block_on(async { q.is_empty() });
}
