//! `Observable` conformance: sync and async observers notified inside the
//! `notify` future, accumulation (queued notifications completed in order
//! by the running one), a bounded queue, sequential notification,
//! `wait_for_next` with an exact timeout, the stream view across tasks,
//! `throttle`, and `debounce` with its driver both joined with the producer
//! and spawned on the runtime — on every executor; dropping a `Notify` at
//! every poll point; a multi-thread stress run counting every delivery; and
//! the allocation-free notification of sync observers and sync pipelines.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use asyncutils_core::channels::{Notify, Observable, Observer};
use asyncutils_core::time::{Clock, Elapsed, Instant, ManualClock};
use asyncutils_tests::alloc::{CountingAlloc, allocations};
use asyncutils_tests::cancel::{Subject, drop_at_every_poll_point};
use asyncutils_tests::{
    Manual, TestClock, TestRuntime, assert_duration, assert_elapsed, conformance, stress_size,
    until,
};
use futures_lite::{StreamExt, future};

type Log<T> = Arc<Mutex<Vec<T>>>;

fn log<T>() -> Log<T> {
    Arc::new(Mutex::new(Vec::new()))
}

fn recorder<T: Clone + Send + 'static>(log: &Log<T>) -> Observer<T> {
    let log = log.clone();
    Observer::sync(move |v: &T| log.lock().unwrap().push(v.clone()))
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// === notifying ===

conformance!(clock: notify_runs_sync_and_async_observers_inside_the_future);
async fn notify_runs_sync_and_async_observers_inside_the_future<C: TestClock>(clock: C) {
    let obs = Observable::new();
    let sync_seen = log();
    let _s = obs.subscribe(recorder(&sync_seen));
    let async_seen = log();
    let (c, l) = (clock.clone(), async_seen.clone());
    let _a = obs.subscribe(Observer::new(move |v: u32| {
        let (c, l) = (c.clone(), l.clone());
        async move {
            c.sleep(ms(20)).await;
            l.lock().unwrap().push(v);
        }
    }));
    let start = clock.now();
    obs.notify(1).await.unwrap();
    // Completed only once the async observer has.
    assert_elapsed(&clock, start, ms(20));
    assert_eq!(*sync_seen.lock().unwrap(), [1]);
    assert_eq!(*async_seen.lock().unwrap(), [1]);
    assert!(obs.is_idle());
}

conformance!(clock: queued_notifications_are_completed_in_order_by_the_running_one);
async fn queued_notifications_are_completed_in_order_by_the_running_one<C: TestClock>(clock: C) {
    let obs = Observable::new();
    let seen = log();
    let (c, l) = (clock.clone(), seen.clone());
    let _a = obs.subscribe(Observer::new(move |v: u32| {
        let (c, l) = (c.clone(), l.clone());
        async move {
            c.sleep(ms(10)).await;
            l.lock().unwrap().push(v);
        }
    }));
    let start = clock.now();
    let later = async {
        until(|| obs.is_notifying()).await;
        for v in 2..=4 {
            // Queued: returns at once.
            obs.notify(v).await.unwrap();
        }
        assert_eq!(obs.queued(), 3);
    };
    let (first, ()) = future::zip(obs.notify(1), later).await;
    first.unwrap();
    assert_elapsed(&clock, start, ms(40));
    assert_eq!(*seen.lock().unwrap(), [1, 2, 3, 4]);
}

conformance!(clock: a_bounded_queue_holds_notifiers_back);
async fn a_bounded_queue_holds_notifiers_back<C: TestClock>(clock: C) {
    let obs = Observable::with_maxsize(1).unwrap();
    let seen = log();
    let (c, l) = (clock.clone(), seen.clone());
    let _a = obs.subscribe(Observer::new(move |v: u32| {
        let (c, l) = (c.clone(), l.clone());
        async move {
            c.sleep(ms(10)).await;
            l.lock().unwrap().push(v);
        }
    }));
    let start = clock.now();
    let producer = async {
        until(|| obs.is_notifying()).await;
        obs.notify(2).await.unwrap(); // fits
        obs.notify(3).await.unwrap(); // waits until 1 is done and 2 starts
        assert_elapsed(&clock, start, ms(10));
    };
    let (first, ()) = future::zip(obs.notify(1), producer).await;
    first.unwrap();
    assert_elapsed(&clock, start, ms(30));
    assert_eq!(*seen.lock().unwrap(), [1, 2, 3]);
}

conformance!(clock: notify_sequential_awaits_each_observer_in_turn);
async fn notify_sequential_awaits_each_observer_in_turn<C: TestClock>(clock: C) {
    let obs = Observable::new();
    let seen = log();
    let mut handles = Vec::new();
    for name in ["a", "b", "c"] {
        let (c, l) = (clock.clone(), seen.clone());
        handles.push(obs.subscribe(Observer::new(move |_: ()| {
            let (c, l) = (c.clone(), l.clone());
            async move {
                l.lock().unwrap().push((name, c.now()));
                c.sleep(ms(10)).await;
            }
        })));
    }
    let start = clock.now();
    obs.notify_sequential(()).await.unwrap();
    assert_elapsed(&clock, start, ms(30));
    let seen = seen.lock().unwrap();
    let names: Vec<_> = seen.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["a", "b", "c"]);
    for pair in seen.windows(2) {
        assert_duration::<C>(pair[1].1.saturating_duration_since(pair[0].1), ms(10));
    }
}

conformance!(clock: wait_for_next_with_a_timeout);
async fn wait_for_next_with_a_timeout<C: TestClock>(clock: C) {
    let obs: Observable<u32> = Observable::new();
    let start = clock.now();
    assert_eq!(
        obs.wait_for_next_timeout(&clock, ms(50)).await,
        Err(Elapsed)
    );
    assert_elapsed(&clock, start, ms(50));
    let producer = async {
        until(|| obs.observer_count() == 1).await;
        clock.sleep(ms(10)).await;
        obs.notify(7).await.unwrap();
    };
    let (got, ()) = future::zip(obs.wait_for_next_timeout(&clock, ms(1000)), producer).await;
    assert_eq!(got, Ok(7));
    assert_eq!(obs.observer_count(), 0);
}

// === operators ===

conformance!(clock: throttle_on_the_runtime_clock);
async fn throttle_on_the_runtime_clock<C: TestClock>(clock: C) {
    let obs = Observable::new();
    let passed = log();
    let _t = obs
        .throttle(clock.clone(), ms(100))
        .unwrap()
        .subscribe(recorder(&passed));
    obs.notify(1).await.unwrap();
    obs.notify(2).await.unwrap(); // inside the interval: dropped
    clock.sleep(ms(100)).await;
    obs.notify(3).await.unwrap();
    assert_eq!(*passed.lock().unwrap(), [1, 3]);
}

// The example: debounce 100 ms, values at 0, 50 and 120 ms, one
// emission of the last at 220 ms. Driver joined with the producer.
conformance!(clock: debounce_with_the_driver_joined);
async fn debounce_with_the_driver_joined<C: TestClock>(clock: C) {
    let obs = Observable::new();
    let (debounced, driver) = obs.debounce(clock.clone(), ms(100)).unwrap();
    let emitted = log();
    let (c, e) = (clock.clone(), emitted.clone());
    let _d = debounced.subscribe(Observer::sync(move |v: &char| {
        e.lock().unwrap().push((*v, c.now()))
    }));
    let start = clock.now();
    let producer = {
        let clock = clock.clone();
        let debounced = debounced.clone();
        async move {
            let values = async {
                obs.notify('a').await.unwrap();
                clock.sleep_until(start.saturating_add(ms(50))).await;
                obs.notify('b').await.unwrap();
                clock.sleep_until(start.saturating_add(ms(120))).await;
                obs.notify('c').await.unwrap();
            };
            let (next, ()) = future::zip(debounced.wait_for_next(), values).await;
            assert_eq!(next, 'c');
            drop(obs); // closes the source: the driver finishes
        }
    };
    let (done, ()) = future::zip(driver, producer).await;
    done.unwrap();
    let emitted = emitted.lock().unwrap();
    assert_eq!(emitted.len(), 1, "one emission: {emitted:?}");
    assert_eq!(emitted[0].0, 'c');
    assert_duration::<C>(emitted[0].1.saturating_duration_since(start), ms(220));
}

conformance!(debounce_with_the_driver_spawned);
async fn debounce_with_the_driver_spawned<R: TestRuntime>(rt: R) {
    let obs = Observable::new();
    let (debounced, driver) = obs.debounce(rt.clone(), ms(30)).unwrap();
    let emitted = log();
    let _d = debounced.subscribe(recorder(&emitted));
    let driver = rt.spawn(driver);
    for burst in 0..3u32 {
        for i in 0..4 {
            obs.notify(burst * 10 + i).await.unwrap();
        }
        let next = debounced.wait_for_next();
        assert_eq!(next.await, burst * 10 + 3);
    }
    drop(obs);
    driver.await.expect("driver task").unwrap();
    assert_eq!(*emitted.lock().unwrap(), [3, 13, 23]);
}

// === stream ===

conformance!(stream_across_tasks_is_lossless);
async fn stream_across_tasks_is_lossless<R: TestRuntime>(rt: R) {
    let n = stress_size(500, 20) as u32;
    let obs = Observable::new();
    let stream = obs.stream(4).unwrap();
    let consumer = rt.spawn(async move { stream.collect::<Vec<u32>>().await });
    for v in 0..n {
        obs.notify(v).await.unwrap();
    }
    drop(obs);
    let got = consumer.await.expect("consumer");
    assert_eq!(got, (0..n).collect::<Vec<_>>());
}

// === stress ===

conformance!(many_tasks_notifying_deliver_every_value_exactly_once);
async fn many_tasks_notifying_deliver_every_value_exactly_once<R: TestRuntime>(rt: R) {
    const TASKS: usize = 4;
    let per_task = stress_size(400, 10);
    let obs = Observable::new();
    let count = Arc::new(AtomicUsize::new(0));
    let sum = Arc::new(AtomicUsize::new(0));
    let (c, s) = (count.clone(), sum.clone());
    let _sync = obs.subscribe(Observer::sync(move |v: &usize| {
        c.fetch_add(1, Ordering::SeqCst);
        s.fetch_add(*v, Ordering::SeqCst);
    }));
    let async_count = Arc::new(AtomicUsize::new(0));
    let ac = async_count.clone();
    let _async = obs.subscribe(Observer::new(move |_: usize| {
        let ac = ac.clone();
        async move {
            asyncutils_core::rt::yield_now().await;
            ac.fetch_add(1, Ordering::SeqCst);
        }
    }));
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let obs = obs.clone();
        tasks.push(rt.spawn(async move {
            for i in 0..per_task {
                obs.notify(t * per_task + i).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.expect("notifier");
    }
    obs.wait_until_idle().await;
    let total = TASKS * per_task;
    assert_eq!(count.load(Ordering::SeqCst), total);
    assert_eq!(async_count.load(Ordering::SeqCst), total);
    assert_eq!(sum.load(Ordering::SeqCst), total * (total - 1) / 2);
}

// === cancellation ===

/// A `Notify` dropped at any point: whatever it had accepted is delivered
/// at most once, values queued behind it are not lost (the next flush
/// runs them), and the observable ends idle.
#[test]
fn notify_dropped_at_every_poll_point() {
    let cuts = drop_at_every_poll_point(|cut| {
        let clock = ManualClock::new();
        let obs = Observable::new();
        let started = log();
        let finished = log();
        let (c, s, f) = (clock.clone(), started.clone(), finished.clone());
        let _a = obs.subscribe(Observer::new(move |v: u32| {
            let (c, f) = (c.clone(), f.clone());
            s.lock().unwrap().push(v);
            async move {
                c.sleep(ms(10)).await;
                f.lock().unwrap().push(v);
            }
        }));
        let mut runner: Subject<Notify<u32>> = Subject::new(cut, obs.notify(1));
        runner.poll();
        // Queued at once behind a running `runner`; a runner itself if
        // `runner` was dropped before it started.
        let mut queued = Manual::new(obs.notify(2));
        let _ = queued.poll();
        runner.checkpoint();
        clock.advance(ms(10));
        runner.poll();
        clock.advance(ms(10));
        runner.poll();
        let fate = runner.fate();
        while !queued.is_done() {
            if queued.poll().is_pending() {
                assert!(
                    clock.advance_to_next(),
                    "cut {cut}: the queued notify is stuck"
                );
            }
        }
        let mut flush = Manual::new(obs.flush());
        while flush.poll().is_pending() {
            assert!(clock.advance_to_next(), "cut {cut}: stuck");
        }
        assert!(obs.is_idle());
        let started = started.lock().unwrap().clone();
        let finished = finished.lock().unwrap().clone();
        // The queued value is never lost (it starts exactly once: run by
        // the runner, or by whoever took the queue over) and no value is
        // delivered twice; only a call under way when its runner was
        // dropped is abandoned.
        assert_eq!(
            started.iter().filter(|v| **v == 2).count(),
            1,
            "cut {cut}: {started:?}"
        );
        assert!(started.iter().filter(|v| **v == 1).count() <= 1);
        assert!(finished.iter().all(|v| started.contains(v)));
        // 2 starts in the runner's second poll (at 10 ms): only a runner
        // dropped after that can have abandoned it.
        assert!(
            finished.contains(&2) || (runner.is_dropped() && runner.polls() >= 2),
            "cut {cut}: {finished:?}"
        );
        if runner.is_completed() {
            assert_eq!(finished, [1, 2]);
        }
        fate
    });
    assert!(cuts >= 3);
}

// === allocations ===

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Polls `f` once on the stack with a no-op waker; it must be ready.
fn ready_now<F: Future>(f: F) -> F::Output {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("expected the future to be ready"),
    }
}

#[test]
fn notifying_sync_observers_and_sync_pipelines_does_not_allocate() {
    let obs = Observable::new();
    let total = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for _ in 0..16 {
        let t = total.clone();
        handles.push(obs.subscribe(Observer::sync(move |v: &usize| {
            t.fetch_add(*v, Ordering::Relaxed);
        })));
    }
    let t = total.clone();
    let derived = obs.filter(|v| v % 2 == 0).map(|v| v * 10);
    handles.push(obs.subscribe(Observer::sync(|_: &usize| ())));
    let _d = derived.subscribe(Observer::sync(move |v: &usize| {
        t.fetch_add(*v, Ordering::Relaxed);
    }));
    // Warm-up.
    for v in 0..4 {
        assert!(ready_now(obs.notify(v)).is_ok());
    }
    let n = allocations(|| {
        for v in 0..1000 {
            assert!(ready_now(obs.notify(v)).is_ok());
        }
    });
    assert_eq!(n, 0);
    let values = (0..4).chain(0..1000);
    let expected: usize = values
        .map(|v| 16 * v + if v % 2 == 0 { 10 * v } else { 0 })
        .sum();
    assert_eq!(total.load(Ordering::Relaxed), expected);
}

#[test]
fn timings_are_exact_in_virtual_time() {
    // The debounce example, polled by hand on a bare ManualClock.
    let clock = ManualClock::new();
    let obs = Observable::new();
    let (debounced, driver) = obs.debounce(clock.clone(), ms(100)).unwrap();
    let emitted = log();
    let (c, e) = (clock.clone(), emitted.clone());
    let _d = debounced.subscribe(Observer::sync(move |v: &u64| {
        e.lock().unwrap().push((*v, c.now()))
    }));
    let mut driver = Manual::new(driver);
    driver.pending();
    for t in [0, 50, 120] {
        clock.advance_to(Instant::from_nanos(t * 1_000_000));
        assert!(Manual::new(obs.notify(t)).ready().is_ok());
        driver.pending();
    }
    clock.advance_to(Instant::from_nanos(220_000_000 - 1));
    driver.pending();
    assert!(emitted.lock().unwrap().is_empty());
    clock.advance_to(Instant::from_nanos(220_000_000));
    driver.pending();
    assert_eq!(
        *emitted.lock().unwrap(),
        [(120, Instant::from_nanos(220_000_000))]
    );
}
