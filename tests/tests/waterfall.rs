//! `Waterfall` conformance: batches leave by size at once and by time
//! `max_wait` after their first item, backpressure makes puts wait for room
//! and serves them in order, `stop` drains the rest, a finalize deadline
//! cancels a slow callback and reports how many items were dropped,
//! callback errors reach the report, the driver runs spawned on any
//! executor — exactly in virtual time; cancel safety of `Put`, `Driver`
//! and `Stop` by dropping each at every poll point; and a stress run with
//! many producers (`put` and `try_put`) accounting for every item.

use core::convert::Infallible;
use core::future::Future;
use core::time::Duration;
use std::sync::{Arc, Mutex};

use asyncutils_core::batch::{StoppedError, TryPutError, Waterfall};
use asyncutils_core::rt::{JoinHandle, yield_now};
use asyncutils_core::time::{Clock, Instant, ManualClock};
use asyncutils_tests::alloc::{CountingAlloc, allocations};
use asyncutils_tests::cancel::{Subject, drop_at_every_poll_point};
use asyncutils_tests::{
    Manual, TestClock, TestRuntime, Tracked, assert_duration, conformance, stress_size,
};
use futures_lite::future;

const MS: Duration = Duration::from_millis(1);

type Log<T> = Arc<Mutex<Vec<(Instant, Vec<T>)>>>;

async fn join_all<T>(handles: Vec<JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("task finished"));
    }
    out
}

// === flushing by size and by time ===

conformance!(clock: flushes_by_size_at_once_and_by_time_after_max_wait);
async fn flushes_by_size_at_once_and_by_time_after_max_wait<C: TestClock>(clock: C) {
    // Generous on real clocks: the 30 ms gap must stay well inside max_wait.
    let max_wait = 300 * MS;
    let wf = Waterfall::with_clock(3, max_wait, clock.clone()).expect("valid");
    let log: Log<u32> = Arc::default();
    let driver = wf.driver(|batch: Vec<u32>| {
        log.lock().unwrap().push((clock.now(), batch));
        async { Ok::<(), Infallible>(()) }
    });
    let producer = async {
        let start = clock.now();
        for i in 0..3 {
            wf.put(i).await.expect("open");
        }
        let first_of_second = clock.now();
        wf.put(3).await.expect("open");
        clock.sleep(30 * MS).await;
        wf.put(4).await.expect("open");
        clock.sleep(max_wait).await;
        let drained = wf.stop(None).await;
        (start, first_of_second, drained)
    };
    let (report, (start, first_of_second, drained)) = future::zip(driver, producer).await;
    assert!(drained.is_complete());
    assert_eq!((report.batches(), report.items()), (2, 5));
    let log = log.lock().unwrap();
    assert_eq!(log[0].1, [0, 1, 2], "{}", C::NAME);
    assert_eq!(log[1].1, [3, 4], "{}", C::NAME);
    assert_duration::<C>(log[0].0.saturating_duration_since(start), Duration::ZERO);
    assert_duration::<C>(
        log[1].0.saturating_duration_since(first_of_second),
        max_wait,
    );
}

// === spawned driver, backpressure, stop ===

conformance!(spawned_driver_delivers_in_order_with_backpressure);
async fn spawned_driver_delivers_in_order_with_backpressure<R: TestRuntime>(rt: R) {
    // Batches leave by size here; a long max_wait keeps a slow machine
    // from cutting one short.
    let wf = Arc::new(
        Waterfall::with_capacity(2, Duration::from_secs(1), 2, rt.clone()).expect("valid"),
    );
    let log: Log<u32> = Arc::default();
    let driver = rt.spawn({
        let (wf, log, rt) = (wf.clone(), log.clone(), rt.clone());
        async move {
            wf.driver(|batch: Vec<u32>| {
                log.lock().unwrap().push((rt.now(), batch));
                // Each batch takes 50 ms: the buffer fills meanwhile.
                let rt = rt.clone();
                async move {
                    rt.sleep(50 * MS).await;
                    Ok::<(), Infallible>(())
                }
            })
            .await
        }
    });
    let start = rt.now();
    for i in 0..10 {
        wf.put(i).await.expect("open");
    }
    let drained = wf.stop(None).await;
    assert!(drained.is_complete());
    let report = driver.await.expect("driver");
    assert_eq!((report.batches(), report.items()), (5, 10));
    let log = log.lock().unwrap();
    for (k, (at, batch)) in log.iter().enumerate() {
        let k32 = k as u32;
        assert_eq!(*batch, [2 * k32, 2 * k32 + 1], "{}: batch {k}", R::NAME);
        // Full batches leave as soon as the previous callback returns.
        assert_duration::<R>(at.saturating_duration_since(start), 50 * MS * k32);
    }
}

conformance!(finalize_deadline_drops_what_is_left_and_says_how_much);
async fn finalize_deadline_drops_what_is_left_and_says_how_much<R: TestRuntime>(rt: R) {
    let wf = Arc::new(
        Waterfall::with_capacity(2, Duration::from_secs(1), 4, rt.clone()).expect("valid"),
    );
    let calls = Arc::new(Mutex::new(0));
    let driver = rt.spawn({
        let (wf, rt, calls) = (wf.clone(), rt.clone(), calls.clone());
        async move {
            wf.driver(|_batch: Vec<u32>| {
                *calls.lock().unwrap() += 1;
                let rt = rt.clone();
                async move {
                    rt.sleep(Duration::from_secs(10)).await;
                    Ok::<(), Infallible>(())
                }
            })
            .await
        }
    });
    for i in 0..6 {
        wf.put(i).await.expect("open");
    }
    // One batch of 2 in the callback, 4 in the buffer.
    asyncutils_tests::until(|| wf.len() == 4 && *calls.lock().unwrap() == 1).await;
    let start = rt.now();
    let drained = wf.stop(Some(100 * MS)).await;
    assert_duration::<R>(rt.now().saturating_duration_since(start), 100 * MS);
    assert_eq!(drained.dropped(), 6);
    let report = driver.await.expect("driver");
    assert_eq!(report.dropped(), 6);
    assert_eq!((report.batches(), report.items()), (1, 2));
    assert!(matches!(wf.try_put(9), Err(TryPutError::Stopped(9))));
}

conformance!(clock: callback_errors_are_reported_not_lost);
async fn callback_errors_are_reported_not_lost<C: TestClock>(clock: C) {
    let wf = Waterfall::with_capacity(2, 10 * MS, 6, clock).expect("valid");
    for i in 0..6 {
        wf.try_put(i).expect("room");
    }
    let stop = wf.stop(None);
    let driver = wf.driver(|batch: Vec<u32>| async move {
        if batch[0] == 2 {
            Err(format!("batch starting at {} failed", batch[0]))
        } else {
            Ok(())
        }
    });
    let (drained, report) = future::zip(stop, driver).await;
    assert!(drained.is_complete());
    assert_eq!(report.batches(), 3);
    let errors: Vec<_> = report.errors().iter().cloned().collect();
    assert_eq!(errors, ["batch starting at 2 failed"]);
    assert!(report.into_result().is_err());
}

conformance!(clock: stop_returns_items_of_waiting_putters);
async fn stop_returns_items_of_waiting_putters<C: TestClock>(clock: C) {
    let wf = Waterfall::with_clock(1, 10 * MS, clock).expect("valid");
    wf.try_put(1).expect("room");
    let mut waiting = Manual::new(wf.put(2));
    waiting.pending();
    wf.signal_stop(None);
    assert_eq!(waiting.wakes(), 1);
    assert_eq!(waiting.ready(), Err(StoppedError(2)));
    let report = wf.driver(|b: Vec<u32>| async move {
        assert_eq!(b, [1]);
        Ok::<(), Infallible>(())
    });
    assert_eq!(
        report.await.items(),
        1,
        "what arrived before the stop is delivered"
    );
}

// === cancellation: drop each future at every poll point ===

#[test]
fn dropped_put_never_loses_or_duplicates_its_item() {
    let cuts = drop_at_every_poll_point(|cut| {
        let clock = ManualClock::new();
        let wf = Waterfall::with_clock(1, 10 * MS, clock).expect("valid");
        let got: Arc<Mutex<Vec<u32>>> = Arc::default();
        wf.try_put(Tracked::new(0).0).map_err(drop).expect("room");
        let (item, witness) = Tracked::new(1);
        let mut put = Subject::new(cut, wf.put(item));
        put.poll();
        let mut driver = Manual::new(wf.driver(|batch: Vec<Tracked<u32>>| {
            got.lock().unwrap().extend(batch.iter().map(|t| *t.value()));
            async { Ok::<(), Infallible>(()) }
        }));
        put.checkpoint();
        driver.pending();
        put.poll();
        put.poll();
        wf.signal_stop(None);
        let report = driver.ready();
        let got = got.lock().unwrap().clone();
        if got.contains(&1) {
            // Arrived: delivered exactly once, whether the put saw Ok or not.
            assert_eq!(got, [0, 1]);
            assert_eq!(report.items(), 2);
        } else {
            assert!(put.is_dropped(), "a completed put was not delivered");
            assert!(witness.is_dropped(), "the withdrawn item was kept");
            assert_eq!(got, [0]);
        }
        if put.is_completed() {
            assert!(matches!(put.output(), Some(Ok(()))));
        }
        put.fate()
    });
    assert!(cuts >= 2, "dropped at {cuts} points");
}

#[test]
fn dropped_driver_leaves_the_buffer_to_the_next_driver() {
    let cuts = drop_at_every_poll_point(|cut| {
        let clock = ManualClock::new();
        let wf = Waterfall::with_capacity(2, 10 * MS, 4, clock.clone()).expect("valid");
        let handed: Arc<Mutex<Vec<u32>>> = Arc::default();
        let callback = |batch: Vec<u32>| {
            handed.lock().unwrap().extend(&batch);
            let clock = clock.clone();
            async move {
                clock.sleep(5 * MS).await;
                Ok::<(), Infallible>(())
            }
        };
        let mut driver = Subject::new(cut, wf.driver(callback));
        for i in 0..4 {
            wf.try_put(i).expect("room");
            driver.poll();
        }
        clock.advance(5 * MS);
        driver.poll();
        wf.signal_stop(None);
        driver.poll();
        clock.advance(5 * MS);
        driver.poll();
        if driver.is_dropped() {
            // A new driver delivers whatever was not handed over yet.
            let mut next = Manual::new(wf.driver(callback));
            while next.poll().is_pending() {
                clock.advance(5 * MS);
            }
        }
        let mut handed = handed.lock().unwrap().clone();
        assert_eq!(
            handed,
            [0, 1, 2, 3],
            "items handed over once each, in order"
        );
        handed.clear();
        assert!(wf.is_finished());
        driver.fate()
    });
    assert!(cuts >= 4, "dropped at {cuts} points");
}

#[test]
fn dropped_stop_keeps_the_stop_requested() {
    let cuts = drop_at_every_poll_point(|cut| {
        let clock = ManualClock::new();
        let wf = Waterfall::with_clock(2, 10 * MS, clock).expect("valid");
        wf.try_put(1).expect("room");
        let mut stop = Subject::new(cut, wf.stop(None));
        stop.poll();
        let mut driver = Manual::new(wf.driver(|_b: Vec<u32>| async { Ok::<(), Infallible>(()) }));
        let report = if stop.is_dropped() && !wf.is_stopped() {
            // Dropped before its first poll: nothing was requested.
            driver.pending();
            wf.signal_stop(None);
            driver.ready()
        } else {
            driver.ready()
        };
        stop.poll();
        assert_eq!(report.items(), 1);
        assert!(wf.is_finished());
        stop.fate()
    });
    assert!(cuts >= 2, "dropped at {cuts} points");
}

// === stress ===

conformance!(many_producers_account_for_every_item);
async fn many_producers_account_for_every_item<R: TestRuntime>(rt: R) {
    const PRODUCERS: usize = 8;
    let per_producer = stress_size(5_000, 40);
    let total = PRODUCERS * per_producer;
    let wf = Arc::new(Waterfall::with_capacity(32, 2 * MS, 64, rt.clone()).expect("valid"));
    let received: Arc<Mutex<Vec<usize>>> = Arc::default();
    let driver = rt.spawn({
        let (wf, received) = (wf.clone(), received.clone());
        async move {
            wf.driver(|batch: Vec<usize>| {
                assert!(!batch.is_empty() && batch.len() <= 32);
                received.lock().unwrap().extend(batch);
                async {
                    yield_now().await;
                    Ok::<(), Infallible>(())
                }
            })
            .await
        }
    });
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let wf = wf.clone();
            rt.spawn(async move {
                for j in 0..per_producer {
                    let mut item = p * per_producer + j;
                    if p % 2 == 0 {
                        wf.put(item).await.expect("open");
                        continue;
                    }
                    // Odd producers spin on try_put.
                    loop {
                        match wf.try_put(item) {
                            Ok(()) => break,
                            Err(e) => {
                                assert!(e.is_full());
                                item = e.into_inner();
                                yield_now().await;
                            }
                        }
                    }
                }
            })
        })
        .collect();
    join_all(producers).await;
    assert!(wf.stop(None).await.is_complete());
    let report = driver.await.expect("driver");
    assert_eq!(report.items() as usize, total);
    let received = received.lock().unwrap();
    let mut last = [None::<usize>; PRODUCERS];
    let mut seen = vec![false; total];
    for &v in received.iter() {
        assert!(
            !std::mem::replace(&mut seen[v], true),
            "{v} delivered twice"
        );
        let p = v / per_producer;
        assert!(last[p] < Some(v), "producer {p}'s items out of order");
        last[p] = Some(v);
    }
    assert!(seen.iter().all(|&s| s), "some items were never delivered");
}

// === allocations ===

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

#[test]
fn steady_state_allocates_one_vec_per_batch_and_nothing_per_item() {
    const QUANTITY: usize = 16;
    const BATCHES: usize = 1_000;
    let clock = ManualClock::new();
    let wf =
        Waterfall::with_capacity(QUANTITY, Duration::from_secs(1), QUANTITY, clock).expect("valid");
    let delivered = std::cell::Cell::new(0usize);
    let mut driver = Manual::new(wf.driver(|batch: Vec<u64>| {
        delivered.set(delivered.get() + batch.len());
        async { Ok::<(), Infallible>(()) }
    }));
    driver.pending();
    let round = |driver: &mut Manual<_>| {
        for i in 0..QUANTITY as u64 {
            wf.try_put(i).expect("room");
        }
        driver.pending();
    };
    // Warm-up: the driver's scratch space reaches its size.
    for _ in 0..4 {
        round(&mut driver);
    }
    let n = allocations(|| {
        for _ in 0..BATCHES {
            round(&mut driver);
        }
    });
    assert_eq!(delivered.get(), (BATCHES + 4) * QUANTITY);
    // The Vec handed to the callback (allocated outside the lock): one per
    // batch, none per item.
    assert_eq!(n, BATCHES, "{BATCHES} full batches allocated {n} times");

    // try_put with room alone: no allocation at all.
    let n = allocations(|| {
        for i in 0..QUANTITY as u64 {
            wf.try_put(i).expect("room");
        }
    });
    assert_eq!(n, 0, "try_put allocated {n} times");
    driver.pending();

    // Putters that wait: after the waiter slab has grown, none either.
    let waker = std::task::Waker::from(Arc::new(Flag));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut waiting_round = |driver: &mut Manual<_>| {
        for i in 0..QUANTITY as u64 {
            wf.try_put(i).expect("room");
        }
        let mut puts: [_; QUANTITY] = core::array::from_fn(|i| wf.put(i as u64));
        for put in &mut puts {
            assert!(core::pin::Pin::new(put).poll(&mut cx).is_pending());
        }
        driver.pending();
        for put in &mut puts {
            let polled = core::pin::Pin::new(put).poll(&mut cx);
            assert_eq!(polled, core::task::Poll::Ready(Ok(())));
        }
    };
    waiting_round(&mut driver);
    let n = allocations(|| {
        for _ in 0..100 {
            waiting_round(&mut driver);
        }
    });
    // Two full batches a round: two handed-over Vecs.
    assert_eq!(n, 100 * 2, "waiting puts allocated");
}

/// A real (reference-counted) waker that does nothing.
struct Flag;

impl std::task::Wake for Flag {
    fn wake(self: Arc<Self>) {}
}
