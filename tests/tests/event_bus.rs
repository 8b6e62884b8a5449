//! `EventBus` conformance: synchronous, asynchronous, pattern and wildcard
//! subscribers with middlewares; timeouts of publications, streams and
//! waits measured on every executor's clock; event streams read by another
//! task with backpressure; the driver spawned as a task running the
//! asynchronous part of `start_publish`; graceful shutdown; cancel safety
//! of `Publish`, `Feed` and `WaitForEvent` by dropping each at every poll
//! point; a multi-thread stress run counting every delivery; and the
//! allocation-free publish to synchronous subscribers.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use asyncutils_core::channels::{
    EventBus, FeedError, PublishError, StreamEnd, StreamOptions, WaitError,
};
use asyncutils_core::time::{Clock, ManualClock};
use asyncutils_tests::alloc::{CountingAlloc, allocations};
use asyncutils_tests::cancel::{Subject, drop_at_every_poll_point};
use asyncutils_tests::{
    Manual, TestClock, TestRuntime, assert_elapsed, conformance, stress_size, until,
};
use futures_lite::StreamExt;

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// === delivery ===

conformance!(clock: every_kind_of_subscriber_sees_processed_data);
async fn every_kind_of_subscriber_sees_processed_data<C: TestClock>(clock: C) {
    let bus: EventBus<u64, C> = EventBus::with_clock(clock.clone());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let l = seen.clone();
    let _exact = bus
        .subscribe("shop.order", move |n: &u64| {
            l.lock().unwrap().push(format!("exact {n}"))
        })
        .unwrap();
    let l = seen.clone();
    let c = clock.clone();
    let _async = bus
        .subscribe_async("shop.order", move |n: u64| {
            let l = l.clone();
            let c = c.clone();
            async move {
                c.sleep(ms(5)).await;
                l.lock().unwrap().push(format!("async {n}"));
            }
        })
        .unwrap();
    let l = seen.clone();
    let _pattern = bus
        .subscribe_pattern("shop.*", move |e: &str, n: &u64| {
            l.lock().unwrap().push(format!("pattern {e} {n}"))
        })
        .unwrap();
    let l = seen.clone();
    let _all = bus.subscribe_all_async(move |e, n: u64| {
        let l = l.clone();
        async move {
            l.lock().unwrap().push(format!("all {e} {n}"));
            Ok::<(), std::io::Error>(())
        }
    });
    bus.add_middleware(|_, n| n * 10);
    let start = clock.now();
    bus.publish("shop.order", 4).await.unwrap();
    assert_elapsed(&clock, start, ms(5));
    let mut got = seen.lock().unwrap().clone();
    got.sort();
    assert_eq!(
        got,
        [
            "all shop.order 40",
            "async 40",
            "exact 40",
            "pattern shop.order 40"
        ]
    );
}

conformance!(clock: timeouts_are_measured_on_the_bus_clock);
async fn timeouts_are_measured_on_the_bus_clock<C: TestClock>(clock: C) {
    let bus: EventBus<u64, C> = EventBus::with_clock(clock.clone());
    let c = clock.clone();
    let _slow = bus
        .subscribe_async("x", move |_| {
            let c = c.clone();
            async move {
                c.sleep(ms(1000)).await;
            }
        })
        .unwrap();
    let start = clock.now();
    let err = bus.publish("x", 1).timeout(ms(20)).await.unwrap_err();
    assert!(matches!(err, PublishError::TimedOut(ref g) if g.is_empty()));
    assert_elapsed(&clock, start, ms(20));
    assert_eq!(bus.active_callbacks(), 0);

    let start = clock.now();
    let err = bus
        .wait_for_event("never", |_| true)
        .unwrap()
        .timeout(ms(15))
        .await;
    assert_eq!(err, Err(WaitError::TimedOut));
    assert_elapsed(&clock, start, ms(15));

    let start = clock.now();
    let mut stream = bus
        .event_stream_with("quiet", StreamOptions::new().item_timeout(ms(10)))
        .unwrap();
    assert_eq!(stream.next().await, None);
    assert_eq!(stream.end(), Some(StreamEnd::ItemTimedOut));
    assert_elapsed(&clock, start, ms(10));
}

// === across tasks ===

conformance!(stream_reader_in_another_task_gets_everything);
async fn stream_reader_in_another_task_gets_everything<R: TestRuntime>(rt: R) {
    const N: u64 = 200;
    let bus: Arc<EventBus<u64, R>> = Arc::new(EventBus::with_clock(rt.clone()));
    let opened = Arc::new(AtomicUsize::new(0));
    let reader = rt.spawn({
        let bus = bus.clone();
        let opened = opened.clone();
        async move {
            // A small buffer: publishers wait for this reader.
            let mut s = bus
                .event_stream_with("tick", StreamOptions::new().buffer(4))
                .unwrap();
            opened.store(1, Ordering::SeqCst);
            let mut sum = 0;
            for _ in 0..N {
                sum += s.next().await.unwrap();
            }
            sum
        }
    });
    until(|| opened.load(Ordering::SeqCst) == 1).await;
    for i in 0..N {
        bus.publish("tick", i).await.unwrap();
    }
    assert_eq!(reader.await.unwrap(), N * (N - 1) / 2, "lossless");
}

conformance!(spawned_driver_runs_started_publications);
async fn spawned_driver_runs_started_publications<R: TestRuntime>(rt: R) {
    let errors = Arc::new(AtomicUsize::new(0));
    let e = errors.clone();
    let bus: Arc<EventBus<u64, R>> = Arc::new(
        EventBus::builder()
            .handler(move |_| {
                e.fetch_add(1, Ordering::SeqCst);
            })
            .max_concurrent(3)
            .build_with_clock(rt.clone())
            .unwrap(),
    );
    let done = Arc::new(AtomicUsize::new(0));
    let d = done.clone();
    let r = rt.clone();
    let _sub = bus
        .subscribe_async("job", move |n: u64| {
            let d = d.clone();
            let r = r.clone();
            async move {
                r.sleep(ms(1)).await;
                d.fetch_add(1, Ordering::SeqCst);
                if n % 5 == 0 {
                    Err("multiple of five")
                } else {
                    Ok(())
                }
            }
        })
        .unwrap();
    let driver = rt.spawn({
        let bus = bus.clone();
        async move { bus.driver().await }
    });
    for n in 0..20 {
        bus.start_publish("job", n).unwrap();
    }
    // Sleep rather than spin, so virtual time can advance.
    while done.load(Ordering::SeqCst) < 20 {
        rt.sleep(ms(1)).await;
    }
    assert_eq!(errors.load(Ordering::SeqCst), 4);
    bus.shutdown().await.unwrap();
    driver.await.unwrap();
}

conformance!(graceful_shutdown_drains_running_callbacks);
async fn graceful_shutdown_drains_running_callbacks<R: TestRuntime>(rt: R) {
    let bus: Arc<EventBus<u64, R>> = Arc::new(EventBus::with_clock(rt.clone()));
    let finished = Arc::new(AtomicUsize::new(0));
    let f = finished.clone();
    let r = rt.clone();
    let _sub = bus
        .subscribe_async("x", move |_| {
            let f = f.clone();
            let r = r.clone();
            async move {
                r.sleep(ms(30)).await;
                f.fetch_add(1, Ordering::SeqCst);
            }
        })
        .unwrap();
    let publisher = rt.spawn({
        let bus = bus.clone();
        async move { bus.publish("x", 1).await }
    });
    until(|| bus.active_callbacks() == 1).await;
    bus.shutdown().await.unwrap();
    assert_eq!(
        finished.load(Ordering::SeqCst),
        1,
        "drained before returning"
    );
    assert!(publisher.await.unwrap().is_ok());
    assert!(matches!(
        bus.publish("x", 2).await,
        Err(PublishError::Closed)
    ));
}

// === stress ===

conformance!(many_publishers_every_delivery_counted);
async fn many_publishers_every_delivery_counted<R: TestRuntime>(rt: R) {
    let per_task = stress_size(300, 20) as u64;
    const TASKS: u64 = 4;
    let bus: Arc<EventBus<u64, R>> = Arc::new(
        EventBus::builder()
            .max_concurrent(4)
            .build_with_clock(rt.clone())
            .unwrap(),
    );
    let sync_sum = Arc::new(AtomicUsize::new(0));
    let async_sum = Arc::new(AtomicUsize::new(0));
    let mut subs = Vec::new();
    for _ in 0..4 {
        let s = sync_sum.clone();
        subs.push(
            bus.subscribe("load", move |n: &u64| {
                s.fetch_add(*n as usize, Ordering::SeqCst);
            })
            .unwrap(),
        );
    }
    for _ in 0..2 {
        let s = async_sum.clone();
        subs.push(
            bus.subscribe_async("load", move |n: u64| {
                let s = s.clone();
                async move {
                    asyncutils_core::rt::yield_now().await;
                    s.fetch_add(n as usize, Ordering::SeqCst);
                }
            })
            .unwrap(),
        );
    }
    let opened = Arc::new(AtomicUsize::new(0));
    let reader = rt.spawn({
        let bus = bus.clone();
        let opened = opened.clone();
        async move {
            let mut s = bus.all_events(StreamOptions::new().buffer(8)).unwrap();
            opened.store(1, Ordering::SeqCst);
            let mut sum = 0u64;
            for _ in 0..TASKS * per_task {
                let (event, n) = s.next().await.unwrap();
                assert_eq!(&*event, "load");
                sum += n;
            }
            sum
        }
    });
    until(|| opened.load(Ordering::SeqCst) == 1).await;
    let publishers: Vec<_> = (0..TASKS)
        .map(|t| {
            let bus = bus.clone();
            rt.spawn(async move {
                for i in 0..per_task {
                    bus.publish("load", t * 1000 + i).await.unwrap();
                }
            })
        })
        .collect();
    for p in publishers {
        p.await.unwrap();
    }
    let one_pass: u64 = (0..TASKS)
        .map(|t| (0..per_task).map(|i| t * 1000 + i).sum::<u64>())
        .sum();
    assert_eq!(reader.await.unwrap(), one_pass, "every event streamed once");
    assert_eq!(sync_sum.load(Ordering::SeqCst) as u64, 4 * one_pass);
    assert_eq!(async_sum.load(Ordering::SeqCst) as u64, 2 * one_pass);
    assert_eq!(bus.active_callbacks(), 0);
}

// === cancellation: drop each future at every poll point ===

#[test]
fn dropped_publish_releases_permits_and_withdraws_pushes() {
    let cuts = drop_at_every_poll_point(|cut| {
        let clock = ManualClock::new();
        let bus: EventBus<u32, ManualClock> = EventBus::builder()
            .max_concurrent(1)
            .build_with_clock(clock.clone())
            .unwrap();
        let c = clock.clone();
        let _slow = bus
            .subscribe_async("x", move |_| {
                let c = c.clone();
                async move {
                    c.sleep(ms(10)).await;
                }
            })
            .unwrap();
        let mut stream = bus
            .event_stream_with("x", StreamOptions::new().buffer(1))
            .unwrap();
        bus.try_feed_event("x", 100).unwrap(); // the queue is full
        let mut publish = Subject::new(cut, bus.publish("x", 1));
        publish.poll();
        clock.advance(ms(10));
        publish.poll();
        // Reading makes room for the publication's push.
        let mut first = Manual::new(stream.next());
        assert_eq!(first.ready(), Some(100));
        drop(first);
        publish.poll();
        publish.poll();
        assert_eq!(bus.active_callbacks(), 0, "cut {cut}: permit released");
        if publish.is_completed() {
            assert!(publish.take_output().unwrap().is_ok());
            assert_eq!(stream.buffered(), 1);
        } else {
            // Either the push happened before the drop, or it was withdrawn.
            assert!(stream.buffered() <= 1);
        }
        publish.fate()
    });
    assert!(cuts >= 3, "{cuts}");
}

#[test]
fn dropped_feed_never_enters_the_queue() {
    let cuts = drop_at_every_poll_point(|cut| {
        let bus: EventBus<u32, ManualClock> = EventBus::new();
        let mut stream = bus
            .event_stream_with("x", StreamOptions::new().buffer(1))
            .unwrap();
        bus.try_feed_event("x", 1).unwrap();
        let mut feed = Subject::new(cut, bus.feed_event("x", 2).unwrap());
        feed.poll();
        let mut next = Manual::new(stream.next());
        assert_eq!(next.ready(), Some(1));
        drop(next);
        feed.poll();
        if feed.is_completed() {
            assert_eq!(stream.buffered(), 1);
        } else {
            assert_eq!(stream.buffered(), 0, "cut {cut}: withdrawn");
            assert!(matches!(bus.try_feed_event("x", 3), Ok(())), "room left");
        }
        feed.fate()
    });
    assert!(cuts >= 2, "{cuts}");
}

#[test]
fn dropped_wait_for_event_unsubscribes() {
    let cuts = drop_at_every_poll_point(|cut| {
        let bus: EventBus<u32, ManualClock> = EventBus::new();
        let mut wait = Subject::new(cut, bus.wait_for_event("x", |n| *n == 2).unwrap());
        wait.poll();
        let mut p = Manual::new(bus.publish("x", 1));
        assert!(p.ready().is_ok());
        drop(p);
        wait.poll();
        let mut p = Manual::new(bus.publish("x", 2));
        assert!(p.ready().is_ok());
        drop(p);
        wait.poll();
        if wait.is_completed() {
            assert_eq!(wait.take_output(), Some(Ok(2)));
        }
        if !wait.is_pending() {
            assert_eq!(bus.subscriber_count("x"), 0, "cut {cut}");
        }
        wait.fate()
    });
    assert!(cuts >= 2, "{cuts}");
}

#[test]
fn feed_to_a_closed_bus_gives_the_data_back() {
    let bus: EventBus<u32, ManualClock> = EventBus::new();
    futures_lite::future::block_on(bus.shutdown()).unwrap();
    let mut feed = Manual::new(bus.feed_event("x", 5).unwrap());
    assert!(matches!(feed.ready(), Err(FeedError::Closed(5))));
}

// === allocation-free hot path ===

#[test]
#[cfg_attr(miri, ignore)]
fn publish_to_sync_subscribers_does_not_allocate() {
    let bus: EventBus<u64, ManualClock> = EventBus::new();
    let hits = Arc::new(AtomicUsize::new(0));
    let subs: Vec<_> = (0..16)
        .map(|_| {
            let h = hits.clone();
            bus.subscribe("hot", move |n: &u64| {
                h.fetch_add(*n as usize, Ordering::Relaxed);
            })
            .unwrap()
        })
        .collect();
    let _all = bus.subscribe_all(|_, _| ());
    let _mw = bus.add_middleware(|_, n| n + 1);
    let mut cx = Context::from_waker(Waker::noop());
    let mut publish = |n| {
        let publish = pin!(bus.publish("hot", n));
        assert!(matches!(publish.poll(&mut cx), Poll::Ready(Ok(()))));
    };
    // Warm-up: builds the middleware snapshot.
    publish(0);
    let n = allocations(|| {
        for _ in 0..1000 {
            publish(0);
            bus.start_publish("hot", 0).unwrap();
        }
    });
    assert_eq!(n, 0, "publishing allocated");
    assert_eq!(hits.load(Ordering::Relaxed), 16 * 2001);
    drop(subs);
}
