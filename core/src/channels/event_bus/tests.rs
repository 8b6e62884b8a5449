use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::pin::pin;
use core::sync::atomic::{AtomicUsize, Ordering as O};
use core::task::Poll;
use core::time::Duration;
use std::sync::Mutex as StdMutex;

use futures_core::Stream;
use futures_lite::future::block_on;

use super::*;
use crate::channels::Rendezvous;
use crate::error::{BoxError, ErrorGroup, InvalidArgument};
use crate::test_util::Probe;
use crate::time::{Clock, ManualClock};

type Bus = EventBus<u32, ManualClock>;

fn bus() -> (Bus, ManualClock) {
    let clock = ManualClock::new();
    (EventBus::with_clock(clock.clone()), clock)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A log subscribers push into.
fn log() -> Arc<StdMutex<Vec<String>>> {
    Arc::new(StdMutex::new(Vec::new()))
}

fn taken(log: &StdMutex<Vec<String>>) -> Vec<String> {
    core::mem::take(&mut *log.lock().unwrap())
}

#[derive(Debug)]
struct Boom(u32);

impl core::fmt::Display for Boom {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "boom {}", self.0)
    }
}

impl core::error::Error for Boom {}

/// An async subscriber that waits for a `()` put into `gate`.
fn gated(
    gate: &Arc<Rendezvous<()>>,
    counter: &Arc<AtomicUsize>,
) -> impl Fn(u32) -> BoxFuture + Send + Sync + 'static {
    let gate = gate.clone();
    let counter = counter.clone();
    move |_| {
        let gate = gate.clone();
        let counter = counter.clone();
        Box::pin(async move {
            gate.get().await.unwrap();
            counter.fetch_add(1, O::SeqCst);
            Ok(())
        })
    }
}

// === construction ===

#[test]
fn builder_validates_and_emits() {
    let events = crate::audit::extracting("asyncutils.channels.EventBus", |e| {
        (
            e.get("name").and_then(|v| v.as_str().map(String::from)),
            e.get("addr").is_some(),
        )
    });
    let err = EventBus::<u32, ManualClock>::builder()
        .max_concurrent(0)
        .build()
        .unwrap_err();
    assert_eq!(err, InvalidArgument::new("max_concurrent", "at least 1"));
    let bus: Bus = EventBus::builder()
        .name("orders")
        .max_concurrent(3)
        .build()
        .unwrap();
    assert_eq!(bus.name(), Some("orders"));
    assert_eq!(bus.max_concurrent(), 3);
    let seen: Vec<_> = events.finish();
    assert!(
        seen.contains(&(Some("orders".to_string()), true)),
        "{seen:?}"
    );
    assert!(format!("{bus:?}").contains("orders"));
}

#[test]
fn invalid_selectors_are_errors() {
    let (bus, _) = bus();
    for bad in ["", "a*", "*.a", "a.*.b", "a.**"] {
        assert_eq!(
            bus.subscribe(bad, |_| ()).unwrap_err().name(),
            "event_type",
            "{bad:?}"
        );
    }
    for bad in ["", "a", "a*", ".*", "a.*.*"] {
        assert_eq!(
            bus.subscribe_pattern(bad, |_, _| ()).unwrap_err().name(),
            "pattern",
            "{bad:?}"
        );
    }
    assert_eq!(bus.event_stream("x*").unwrap_err().name(), "event_type");
    assert_eq!(
        bus.event_stream_with("x", StreamOptions::new().buffer(0))
            .unwrap_err()
            .name(),
        "buffer"
    );
    assert!(matches!(
        bus.try_feed_event("", 1),
        Err(FeedError::InvalidEventType(1))
    ));
}

// === subscribing ===

#[test]
fn exact_pattern_and_wildcard_subscribers_in_order() {
    let (bus, _) = bus();
    let seen = log();
    let l = seen.clone();
    let _a = bus
        .subscribe("a.b.c", move |n| {
            l.lock().unwrap().push(format!("exact {n}"))
        })
        .unwrap();
    let l = seen.clone();
    let _w =
        bus.subscribe_all(move |e: &str, n: &u32| l.lock().unwrap().push(format!("all {e} {n}")));
    let l = seen.clone();
    let _p2 = bus
        .subscribe_pattern("a.b.*", move |e: &str, n: &u32| {
            l.lock().unwrap().push(format!("a.b.* {e} {n}"))
        })
        .unwrap();
    let l = seen.clone();
    let _p1 = bus
        .subscribe_pattern("a.*", move |e: &str, n: &u32| {
            l.lock().unwrap().push(format!("a.* {e} {n}"))
        })
        .unwrap();
    let l = seen.clone();
    let _star = bus
        .subscribe_pattern("*", move |e: &str, _: &u32| {
            l.lock().unwrap().push(format!("star {e}"))
        })
        .unwrap();

    block_on(bus.publish("a.b.c", 1)).unwrap();
    assert_eq!(
        taken(&seen),
        [
            "exact 1",
            "a.* a.b.c 1",
            "a.b.* a.b.c 1",
            "all a.b.c 1",
            "star a.b.c"
        ]
    );
    block_on(bus.publish("a.x", 2)).unwrap();
    assert_eq!(taken(&seen), ["a.* a.x 2", "all a.x 2", "star a.x"]);
    block_on(bus.publish("a", 3)).unwrap();
    assert_eq!(taken(&seen), ["all a 3", "star a"]);

    assert_eq!(bus.subscriber_count("a.b.c"), 1);
    assert_eq!(bus.subscriber_count("a.*"), 1);
    assert_eq!(bus.subscriber_count("*"), 2);
    assert_eq!(bus.wildcard_count(), 2);
    assert_eq!(bus.total_subscribers(), 5);
    assert_eq!(bus.subscriber_count("**"), 0);
    assert_eq!(bus.event_names(), vec![Arc::<str>::from("a.b.c")]);
}

#[test]
fn dropping_or_unsubscribing_a_handle_removes_the_subscriber() {
    let (bus, _) = bus();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let a = bus
        .subscribe("x", move |_| {
            h.fetch_add(1, O::SeqCst);
        })
        .unwrap();
    let h = hits.clone();
    let b = bus
        .subscribe("x", move |_| {
            h.fetch_add(1, O::SeqCst);
        })
        .unwrap();
    assert!(bus.is_subscribed(&a) && a.is_subscribed());
    assert!(bus.has_subscribers("x"));
    block_on(bus.publish("x", 0)).unwrap();
    assert_eq!(hits.swap(0, O::SeqCst), 2);

    drop(a);
    block_on(bus.publish("x", 0)).unwrap();
    assert_eq!(hits.swap(0, O::SeqCst), 1);
    assert_eq!(bus.subscriber_count("x"), 1);

    assert!(b.unsubscribe(), "it was subscribed");
    assert!(!bus.has_subscribers("x"));
    assert!(bus.event_names().is_empty());

    // A cleared subscription reports `false`.
    let c = bus.subscribe("y", |_| ()).unwrap();
    let d = bus.subscribe_all(|_, _| ());
    assert_eq!(bus.clear("y"), 1);
    assert!(!c.is_subscribed());
    assert!(!c.unsubscribe());
    assert_eq!(bus.clear_all(), 1);
    assert!(!d.is_subscribed());
    assert_eq!(bus.total_subscribers(), 0);

    // Forgotten: permanent.
    bus.subscribe("z", |_| ()).unwrap().forget();
    assert_eq!(bus.subscriber_count("z"), 1);

    // A handle of another bus is not subscribed to this one.
    let (other, _) = self::bus();
    let e = other.subscribe("z", |_| ()).unwrap();
    assert!(!bus.is_subscribed(&e));
    drop(other);
    assert!(!e.is_subscribed(), "the bus is gone");
}

#[test]
fn subscribers_never_see_the_data_before_the_middlewares() {
    let (bus, _) = bus();
    let seen = log();
    let l = seen.clone();
    let _s = bus
        .subscribe("x", move |n| l.lock().unwrap().push(n.to_string()))
        .unwrap();
    let add = bus.add_middleware(|_, n| n + 1);
    let double = bus.add_middleware(|_, n| n * 2);
    let add_again = bus.add_middleware(|e, n| if e == "x" { n + 1 } else { n });
    assert_eq!(bus.middleware_count(), 3);
    block_on(bus.publish("x", 1)).unwrap();
    assert_eq!(taken(&seen), ["5"], "(1 + 1) * 2 + 1");

    assert!(bus.remove_middleware(double));
    assert!(!bus.remove_middleware(double), "stale cookie");
    block_on(bus.publish("x", 1)).unwrap();
    assert_eq!(taken(&seen), ["3"]);

    // The slot of a removed middleware is reused; its old cookie stays dead.
    let triple = bus.add_middleware(|_, n| n * 3);
    assert!(!bus.remove_middleware(double));
    block_on(bus.publish("x", 1)).unwrap();
    assert_eq!(taken(&seen), ["9"], "(1 + 1 + 1) * 3");
    for c in [add, add_again, triple] {
        assert!(bus.remove_middleware(c));
    }
    assert_eq!(bus.middleware_count(), 0);
}

#[test]
fn middleware_until_lives_until_the_future_completes() {
    let (bus, _) = bus();
    let seen = log();
    let l = seen.clone();
    let _s = bus
        .subscribe("x", move |n| l.lock().unwrap().push(n.to_string()))
        .unwrap();
    let gate = Rendezvous::<u8>::new();
    let p = Probe::new();
    let mut until = pin!(bus.middleware_until(gate.get(), |_, n| n + 100));
    assert!(p.poll_pinned(until.as_mut()).is_pending());
    block_on(bus.publish("x", 1)).unwrap();
    assert_eq!(taken(&seen), ["101"]);
    gate.try_put(7).unwrap();
    assert_eq!(p.poll_pinned(until.as_mut()), Poll::Ready(Ok(7)));
    assert_eq!(bus.middleware_count(), 0);
    block_on(bus.publish("x", 1)).unwrap();
    assert_eq!(taken(&seen), ["1"]);

    // Dropped early: removed too.
    let until = bus.middleware_until(core::future::pending::<()>(), |_, n| n);
    assert_eq!(bus.middleware_count(), 1);
    drop(until);
    assert_eq!(bus.middleware_count(), 0);
}

// === publishing ===

#[test]
fn subscriber_errors_come_back_flattened() {
    let (bus, _) = bus();
    let _a = bus.subscribe("x", |n: &u32| Err(Boom(*n))).unwrap();
    let _ok = bus.subscribe("x", |_| ()).unwrap();
    let _b = bus
        .subscribe_async("x", |n| async move {
            let inner: ErrorGroup = ErrorGroup::new(
                "inner",
                vec![Box::new(Boom(n + 1)) as BoxError, Box::new(Boom(n + 2))],
            );
            Err::<(), _>(inner)
        })
        .unwrap();
    let err = block_on(bus.publish("x", 1)).unwrap_err();
    let PublishError::Failed(group) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(group.message(), "2 subscribers of `x` failed");
    let shown: Vec<String> = group.iter().map(|e| e.to_string()).collect();
    assert_eq!(shown, ["boom 1", "boom 2", "boom 3"], "flattened");
    assert!(err.to_string().contains("boom 3"));

    // A chaperone takes them instead.
    let mut got = Vec::new();
    block_on(bus.publish("x", 10).chaperone(|e| got.push(e.to_string()))).unwrap();
    assert_eq!(got.len(), 2);

    // Fail fast: the first error ends the publication.
    let err = block_on(bus.publish("x", 20).fail_fast()).unwrap_err();
    assert_eq!(err.errors().unwrap().len(), 1);
    assert_eq!(bus.active_callbacks(), 0);
}

#[test]
fn async_subscribers_respect_the_bus_wide_limit() {
    let clock = ManualClock::new();
    let bus: Bus = EventBus::builder()
        .max_concurrent(2)
        .build_with_clock(clock)
        .unwrap();
    let gate = Arc::new(Rendezvous::new());
    let done = Arc::new(AtomicUsize::new(0));
    let subs: Vec<_> = (0..3)
        .map(|_| bus.subscribe_async("x", gated(&gate, &done)).unwrap())
        .collect();
    let (p1, p2) = (Probe::new(), Probe::new());
    let mut first = pin!(bus.publish("x", 0));
    let mut second = pin!(bus.publish("x", 0));
    assert!(p1.poll_pinned(first.as_mut()).is_pending());
    assert_eq!(
        bus.active_callbacks(),
        2,
        "two started, one waits for a permit"
    );
    assert!(p2.poll_pinned(second.as_mut()).is_pending());
    assert_eq!(bus.active_callbacks(), 2, "the second publication waits");

    // One callback completes: its permit goes to a waiting publication.
    gate.try_put(()).unwrap();
    assert_eq!(p1.take_wakes(), 1);
    assert!(p1.poll_pinned(first.as_mut()).is_pending());
    assert_eq!(done.load(O::SeqCst), 1);
    assert_eq!(bus.active_callbacks(), 2);
    // Run everything to completion.
    let (mut first_done, mut second_done) = (false, false);
    for _ in 0..8 {
        while gate.try_put(()).is_ok() {}
        if !first_done {
            first_done = p1.poll_pinned(first.as_mut()).is_ready();
        }
        if !second_done {
            second_done = p2.poll_pinned(second.as_mut()).is_ready();
        }
        assert!(bus.active_callbacks() <= 2);
    }
    assert!(first_done && second_done);
    drop(subs);
    assert_eq!(done.load(O::SeqCst), 6);
    assert_eq!(bus.active_callbacks(), 0);
}

#[test]
fn publish_timeout_is_exact_and_releases_permits() {
    let (bus, clock) = bus();
    let c = clock.clone();
    let _slow = bus
        .subscribe_async("x", move |_| {
            let c = c.clone();
            async move { c.sleep(ms(100)).await }
        })
        .unwrap();
    let _bad = bus.subscribe("x", |_| Err("early")).unwrap();
    let p = Probe::new();
    let mut publish = pin!(bus.publish("x", 0).timeout(ms(40)));
    assert!(p.poll_pinned(publish.as_mut()).is_pending());
    assert_eq!(bus.active_callbacks(), 1);
    clock.advance(ms(39));
    assert!(p.poll_pinned(publish.as_mut()).is_pending());
    clock.advance(ms(1));
    let Poll::Ready(Err(PublishError::TimedOut(errors))) = p.poll_pinned(publish.as_mut()) else {
        panic!("times out at exactly 40 ms")
    };
    assert_eq!(errors.len(), 1, "the error collected before the timeout");
    assert_eq!(bus.active_callbacks(), 0);

    // Without the timeout it takes exactly 100 ms.
    let start = clock.now();
    let mut publish = pin!(bus.publish("x", 0).chaperone(drop));
    assert!(p.poll_pinned(publish.as_mut()).is_pending());
    clock.advance(ms(100));
    assert!(p.poll_pinned(publish.as_mut()).is_ready());
    assert_eq!(clock.now().saturating_duration_since(start), ms(100));
}

#[test]
fn dropping_a_publish_at_every_poll_point_releases_everything() {
    for cut in 0..4 {
        let clock = ManualClock::new();
        let bus: Bus = EventBus::builder()
            .max_concurrent(1)
            .build_with_clock(clock.clone())
            .unwrap();
        let gate = Arc::new(Rendezvous::new());
        let done = Arc::new(AtomicUsize::new(0));
        let _a = bus.subscribe_async("x", gated(&gate, &done)).unwrap();
        let _b = bus.subscribe_async("x", gated(&gate, &done)).unwrap();
        let mut waiting = pin!(bus.publish("x", 1));
        let p = Probe::new();
        let mut publish = Box::pin(bus.publish("x", 0));
        for step in 0..cut {
            if step == 1 {
                gate.try_put(()).unwrap();
            }
            let _ = p.poll_pinned(publish.as_mut());
            if step == 0 {
                // The other publication waits for the only permit.
                assert!(p.poll_pinned(waiting.as_mut()).is_pending());
            }
        }
        drop(publish);
        assert_eq!(bus.active_callbacks(), 0, "cut {cut}");
        // The waiting publication is not stranded.
        let mut rounds = 0;
        while p.poll_pinned(waiting.as_mut()).is_pending() {
            let _ = gate.try_put(());
            rounds += 1;
            assert!(rounds < 10, "cut {cut}: stranded");
        }
        assert_eq!(bus.active_callbacks(), 0);
    }
}

#[test]
fn start_publish_runs_sync_now_and_async_in_the_driver() {
    let errors = log();
    let e = errors.clone();
    let bus: Bus = EventBus::builder()
        .handler(move |err| e.lock().unwrap().push(err.to_string()))
        .build_with_clock(ManualClock::new())
        .unwrap();
    let seen = log();
    let l = seen.clone();
    let _s = bus
        .subscribe("x", move |n| l.lock().unwrap().push(format!("sync {n}")))
        .unwrap();
    let _f = bus.subscribe("x", |n: &u32| Err(Boom(*n))).unwrap();
    let l = seen.clone();
    let _a = bus
        .subscribe_async("x", move |n| {
            let l = l.clone();
            async move {
                l.lock().unwrap().push(format!("async {n}"));
                Err(Boom(n + 100))
            }
        })
        .unwrap();
    bus.start_publish("x", 1).unwrap();
    assert_eq!(taken(&seen), ["sync 1"]);
    assert_eq!(taken(&errors), ["boom 1"]);
    assert_eq!(bus.queued_for_driver(), 1);

    let p = Probe::new();
    let mut driver = bus.driver();
    assert!(p.poll(&mut driver).is_pending());
    assert_eq!(taken(&seen), ["async 1"]);
    assert_eq!(taken(&errors), ["boom 101"]);
    assert_eq!(driver.in_progress(), 0);

    // New work wakes the driver.
    bus.start_publish("x", 2).unwrap();
    assert_eq!(p.take_wakes(), 1);
    assert!(p.poll(&mut driver).is_pending());
    assert_eq!(taken(&seen), ["sync 2", "async 2"]);

    // After shutdown the driver finishes.
    block_on(bus.shutdown()).unwrap();
    assert_eq!(p.poll(&mut driver), Poll::Ready(()));
    assert_eq!(bus.start_publish("x", 3), Err(Closed));
}

// === streams ===

#[test]
fn event_stream_is_lossless_with_backpressure() {
    let (bus, _) = bus();
    let mut stream = pin!(
        bus.event_stream_with("x", StreamOptions::new().buffer(1))
            .unwrap()
    );
    assert_eq!(bus.subscriber_count("x"), 1, "an open stream subscribes");
    let p = Probe::new();
    block_on(bus.publish("x", 1)).unwrap();
    let mut second = pin!(bus.publish("x", 2));
    assert!(
        p.poll_pinned(second.as_mut()).is_pending(),
        "buffer full: waits"
    );
    assert_eq!(
        stream
            .as_mut()
            .poll_next(&mut core::task::Context::from_waker(&futures_waker())),
        Poll::Ready(Some(1))
    );
    assert_eq!(p.take_wakes(), 1, "room again");
    assert!(p.poll_pinned(second.as_mut()).is_ready());
    assert_eq!(
        block_on(futures_lite::StreamExt::next(&mut stream)),
        Some(2)
    );
    assert_eq!(stream.buffered(), 0);
}

fn futures_waker() -> core::task::Waker {
    core::task::Waker::noop().clone()
}

#[test]
fn streams_share_a_queue_that_outlives_them() {
    let (bus, _) = bus();
    // Fed before any stream: waits in the queue.
    block_on(bus.feed_event("x", 1).unwrap()).unwrap();
    // Published with no stream: not queued.
    block_on(bus.publish("x", 2)).unwrap();
    let mut s = bus.event_stream("x").unwrap();
    block_on(bus.publish("x", 3)).unwrap();
    assert_eq!(block_on(futures_lite::StreamExt::next(&mut s)), Some(1));
    assert_eq!(block_on(futures_lite::StreamExt::next(&mut s)), Some(3));
    drop(s);
    assert_eq!(bus.subscriber_count("x"), 0, "the last stream unsubscribes");

    bus.try_feed_event("y", 1).unwrap();
    let mut full = 0;
    for i in 0..DEFAULT_STREAM_BUFFER as u32 {
        if let Err(FeedError::Full(v)) = bus.try_feed_event("y", i) {
            assert_eq!(v, i);
            full += 1;
        }
    }
    assert_eq!(full, 1);
}

#[test]
fn all_events_stream_yields_types_and_data() {
    let (bus, _) = bus();
    let events = crate::audit::extracting("asyncutils.channels.EventBus.event_stream", |e| {
        (
            e.get("event_type")
                .and_then(|v| v.as_str().map(String::from)),
            e.get("addr").is_some(),
        )
    });
    let mut all = bus.all_events(StreamOptions::new()).unwrap();
    let _one = bus.event_stream("b").unwrap();
    block_on(bus.publish("a", 1)).unwrap();
    block_on(bus.publish("b", 2)).unwrap();
    block_on(bus.feed_all("c", 3)).unwrap();
    let got: Vec<(String, u32)> = (0..3)
        .map(|_| {
            let (e, n) = block_on(futures_lite::StreamExt::next(&mut all)).unwrap();
            (e.to_string(), n)
        })
        .collect();
    assert_eq!(got, [("a".into(), 1), ("b".into(), 2), ("c".into(), 3)]);
    let seen = events.finish();
    assert!(seen.contains(&(None, true)), "{seen:?}");
    assert!(seen.contains(&(Some("b".to_string()), true)), "{seen:?}");
}

#[test]
fn stream_timeouts_are_exact() {
    let (bus, clock) = bus();
    let p = Probe::new();
    let mut s = pin!(
        bus.event_stream_with(
            "x",
            StreamOptions::new().timeout(ms(100)).item_timeout(ms(30))
        )
        .unwrap()
    );
    let next = |s: core::pin::Pin<&mut EventStream<'_, u32, ManualClock>>| {
        s.poll_next(&mut core::task::Context::from_waker(&futures_waker()))
    };
    assert_eq!(next(s.as_mut()), Poll::Pending);
    clock.advance(ms(20));
    block_on(bus.publish("x", 1)).unwrap();
    assert_eq!(next(s.as_mut()), Poll::Ready(Some(1)));
    clock.advance(ms(29));
    assert_eq!(
        next(s.as_mut()),
        Poll::Pending,
        "item timeout restarts at each item"
    );
    clock.advance(ms(1));
    assert_eq!(next(s.as_mut()), Poll::Ready(None));
    assert_eq!(s.end(), Some(StreamEnd::ItemTimedOut));
    assert_eq!(bus.subscriber_count("x"), 0, "an ended stream unsubscribes");
    let _ = &p;

    let mut s = pin!(
        bus.event_stream_with("y", StreamOptions::new().timeout(ms(50)))
            .unwrap()
    );
    clock.advance(ms(49));
    assert_eq!(
        s.as_mut()
            .poll_next(&mut core::task::Context::from_waker(&futures_waker())),
        Poll::Pending
    );
    clock.advance(ms(1));
    assert_eq!(
        s.as_mut()
            .poll_next(&mut core::task::Context::from_waker(&futures_waker())),
        Poll::Ready(None)
    );
    assert_eq!(s.end(), Some(StreamEnd::TimedOut));
}

#[test]
fn feed_timeout_gives_the_item_back() {
    let (bus, clock) = bus();
    let _s = bus
        .event_stream_with("x", StreamOptions::new().buffer(1))
        .unwrap();
    bus.try_feed_event("x", 1).unwrap();
    let p = Probe::new();
    let mut feed = pin!(bus.feed_event("x", 2).unwrap().timeout(ms(10)));
    assert!(p.poll_pinned(feed.as_mut()).is_pending());
    clock.advance(ms(10));
    match p.poll_pinned(feed.as_mut()) {
        Poll::Ready(Err(FeedError::TimedOut(2))) => {}
        other => panic!("{other:?}"),
    }
}

// === waiting ===

#[test]
fn wait_for_event_matches_the_condition() {
    let (bus, clock) = bus();
    let p = Probe::new();
    let mut wait = pin!(bus.wait_for_event("x", |n| *n > 5).unwrap());
    assert_eq!(bus.subscriber_count("x"), 1, "subscribed at the call");
    block_on(bus.publish("x", 3)).unwrap();
    assert!(p.poll_pinned(wait.as_mut()).is_pending());
    block_on(bus.publish("x", 7)).unwrap();
    block_on(bus.publish("x", 8)).unwrap();
    assert_eq!(p.poll_pinned(wait.as_mut()), Poll::Ready(Ok(7)));
    assert_eq!(bus.subscriber_count("x"), 0);

    let mut wait = pin!(bus.wait_for_event("x", |_| true).unwrap().timeout(ms(25)));
    assert!(p.poll_pinned(wait.as_mut()).is_pending());
    clock.advance(ms(24));
    assert!(p.poll_pinned(wait.as_mut()).is_pending());
    clock.advance(ms(1));
    assert_eq!(
        p.poll_pinned(wait.as_mut()),
        Poll::Ready(Err(WaitError::TimedOut))
    );

    let mut wait = pin!(bus.wait_for_event("x", |_| true).unwrap());
    assert!(p.poll_pinned(wait.as_mut()).is_pending());
    p.take_wakes();
    block_on(bus.shutdown()).unwrap();
    assert_eq!(p.take_wakes(), 1);
    assert_eq!(
        p.poll_pinned(wait.as_mut()),
        Poll::Ready(Err(WaitError::Closed))
    );
}

#[test]
fn subscribe_until_removes_or_makes_permanent() {
    let (bus, clock) = bus();
    let gate = Rendezvous::<&str>::new();
    let p = Probe::new();
    let sub = bus.subscribe("x", |_| ()).unwrap();
    let mut until = pin!(bus.subscribe_until(sub, gate.get()));
    assert!(p.poll_pinned(until.as_mut()).is_pending());
    assert_eq!(bus.subscriber_count("x"), 1);
    gate.try_put("done").unwrap();
    assert_eq!(p.poll_pinned(until.as_mut()), Poll::Ready(Ok(Ok("done"))));
    assert_eq!(bus.subscriber_count("x"), 0);

    let sub = bus.subscribe("x", |_| ()).unwrap();
    let mut until = pin!(
        bus.subscribe_until(sub, core::future::pending::<()>())
            .permanent_after(ms(60))
    );
    assert!(p.poll_pinned(until.as_mut()).is_pending());
    clock.advance(ms(59));
    assert!(p.poll_pinned(until.as_mut()).is_pending());
    clock.advance(ms(1));
    assert_eq!(
        p.poll_pinned(until.as_mut()),
        Poll::Ready(Err(MadePermanent))
    );
    assert_eq!(bus.subscriber_count("x"), 1, "left subscribed");
}

// === statistics ===

#[test]
fn statistics_count_publications() {
    let bus: Bus = EventBus::builder()
        .track_stats(true)
        .build_with_clock(ManualClock::new())
        .unwrap();
    block_on(bus.publish("a", 0)).unwrap();
    block_on(bus.publish("a", 0)).unwrap();
    let stats = bus.stop_tracking();
    assert_eq!(stats.get("a"), Some(&2));
    block_on(bus.publish("a", 0)).unwrap();
    assert_eq!(bus.event_stats().get("a"), Some(&2), "not tracking");

    let scope = bus.tracking_scope();
    assert!(bus.is_tracking());
    block_on(bus.publish("a", 0)).unwrap();
    block_on(bus.publish("b", 0)).unwrap();
    let delta = scope.finish();
    assert_eq!(delta.get("a"), Some(&1));
    assert_eq!(delta.get("b"), Some(&1));
    assert!(!bus.is_tracking(), "restored");
    assert_eq!(bus.event_stats().get("a"), Some(&3));
    bus.clear_stats();
    assert!(bus.event_stats().is_empty());

    bus.start_tracking();
    block_on(bus.publish("c", 0)).unwrap();
    block_on(bus.shutdown().preserve_stats()).unwrap();
    assert_eq!(bus.event_stats().get("c"), Some(&1));
}

#[test]
fn shutdown_clears_stats_by_default() {
    let bus: Bus = EventBus::builder()
        .track_stats(true)
        .build_with_clock(ManualClock::new())
        .unwrap();
    block_on(bus.publish("c", 0)).unwrap();
    block_on(bus.shutdown()).unwrap();
    assert!(bus.event_stats().is_empty());
}

// === audit bridge ===

#[test]
fn audit_bridge_publishes_audit_events() {
    let bus: EventBus<String, ManualClock> = EventBus::new();
    let seen = log();
    let l = seen.clone();
    let _s = bus
        .subscribe("test.event_bus.bridge", move |s: &String| {
            l.lock().unwrap().push(s.clone())
        })
        .unwrap();
    let marks = crate::audit::extracting("asyncutils.channels.EventBus.start_audit", |e| {
        e.get("addr").is_some()
    });
    let stops = crate::audit::extracting("asyncutils.channels.EventBus.stop_audit", |e| {
        e.get("addr").is_some()
    });
    assert!(bus.start_audit_with(|e| e.to_string()));
    assert!(!bus.start_audit_with(|e| e.to_string()), "already on");
    assert!(bus.is_auditing());
    crate::emit!("test.event_bus.bridge", n = 5u32);
    assert_eq!(taken(&seen), ["test.event_bus.bridge(n=5)"]);
    assert!(bus.stop_audit());
    assert!(!bus.stop_audit());
    crate::emit!("test.event_bus.bridge", n = 6u32);
    assert!(taken(&seen).is_empty());
    assert_eq!(marks.finish(), [true]);
    assert_eq!(stops.finish(), [true]);

    // Scoped, with `From<OwnedEvent>`.
    let owned: EventBus<Wrapped, ManualClock> = EventBus::new();
    let got = Arc::new(AtomicUsize::new(0));
    let g = got.clone();
    let _s = owned
        .subscribe("test.event_bus.scoped", move |w: &Wrapped| {
            g.fetch_add(w.0.args.len(), O::SeqCst);
        })
        .unwrap();
    {
        let scope = owned.audit_scope();
        assert!(scope.started());
        crate::emit!("test.event_bus.scoped", a = 1u32, b = 2u32);
    }
    crate::emit!("test.event_bus.scoped", a = 1u32);
    assert_eq!(got.load(O::SeqCst), 2);
    assert!(!owned.is_auditing());
}

#[derive(Clone)]
struct Wrapped(crate::audit::OwnedEvent);

impl From<crate::audit::OwnedEvent> for Wrapped {
    fn from(e: crate::audit::OwnedEvent) -> Self {
        Wrapped(e)
    }
}

// === shutdown ===

#[test]
fn graceful_shutdown_waits_for_callbacks_within_the_timeout() {
    let (bus, clock) = bus();
    let c = clock.clone();
    let _slow = bus
        .subscribe_async("x", move |_| {
            let c = c.clone();
            async move { c.sleep(ms(100)).await }
        })
        .unwrap();
    let mut s = bus.event_stream("x").unwrap();
    let p = Probe::new();
    let mut publish = pin!(bus.publish("x", 1));
    assert!(p.poll_pinned(publish.as_mut()).is_pending());
    assert_eq!(bus.ensure_open(), Ok(()));

    let ps = Probe::new();
    let mut shutdown = pin!(bus.shutdown().timeout(ms(30)));
    assert!(ps.poll_pinned(shutdown.as_mut()).is_pending());
    assert_eq!(bus.ensure_open(), Err(Closed));
    assert!(matches!(
        block_on(bus.publish("x", 2)),
        Err(PublishError::Closed)
    ));
    clock.advance(ms(30));
    assert_eq!(
        ps.poll_pinned(shutdown.as_mut()),
        Poll::Ready(Err(crate::time::Elapsed))
    );

    let mut again = pin!(bus.shutdown());
    assert!(ps.poll_pinned(again.as_mut()).is_pending());
    clock.advance(ms(70));
    assert!(p.poll_pinned(publish.as_mut()).is_ready());
    assert!(ps.take_wakes() >= 1, "idle wakes the shutdown");
    assert_eq!(ps.poll_pinned(again.as_mut()), Poll::Ready(Ok(())));

    // Graceful: the stream drains its buffer, then ends.
    assert_eq!(block_on(futures_lite::StreamExt::next(&mut s)), Some(1));
    assert_eq!(block_on(futures_lite::StreamExt::next(&mut s)), None);
    assert_eq!(s.end(), Some(StreamEnd::Closed));
    assert!(
        bus.feed_event("x", 1)
            .is_ok_and(|f| matches!(block_on(f), Err(FeedError::Closed(1))))
    );
}

#[test]
fn immediate_shutdown_ends_streams_at_once() {
    let (bus, _) = bus();
    let mut s = bus.event_stream("x").unwrap();
    block_on(bus.publish("x", 1)).unwrap();
    block_on(bus.shutdown().immediate()).unwrap();
    assert_eq!(block_on(futures_lite::StreamExt::next(&mut s)), None);
    assert_eq!(bus.middleware_count(), 0);
}

#[test]
fn shutdown_clears_middlewares_and_keeps_subscribers() {
    let (bus, _) = bus();
    bus.add_middleware(|_, n| n);
    let s = bus.subscribe("x", |_| ()).unwrap();
    block_on(bus.shutdown()).unwrap();
    assert_eq!(bus.middleware_count(), 0);
    assert!(s.is_subscribed());
}

// === concurrency ===

#[test]
#[cfg_attr(miri, ignore)]
fn publishing_from_many_threads_counts_every_delivery() {
    let bus: Arc<Bus> = Arc::new(EventBus::new());
    let hits = Arc::new(AtomicUsize::new(0));
    let subs: Vec<_> = (0..8)
        .map(|_| {
            let h = hits.clone();
            bus.subscribe("x", move |n| {
                h.fetch_add(*n as usize, O::SeqCst);
            })
            .unwrap()
        })
        .collect();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let bus = bus.clone();
            std::thread::spawn(move || {
                for _ in 0..500 {
                    block_on(bus.publish("x", 1)).unwrap();
                    // Churn subscriptions while others publish.
                    let s = bus.subscribe("x", |_| ()).unwrap();
                    drop(s);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(hits.load(O::SeqCst), 4 * 500 * 8);
    drop(subs);
    assert_eq!(bus.total_subscribers(), 0);
}

// === concurrency models (loom under `--cfg loom`, real threads otherwise) ===

mod models {
    use alloc::sync::Arc;
    use core::future::Future;
    use core::pin::Pin;
    use core::task::{Context, Poll};

    use crate::channels::EventBus;
    use crate::loom::model::{block_on, model, thread};
    use crate::loom::{AtomicUsize, Ordering};
    use crate::time::{Clock, Instant};

    #[derive(Clone, Copy, Default)]
    struct FrozenClock;

    impl Clock for FrozenClock {
        type Sleep = core::future::Pending<()>;
        fn now(&self) -> Instant {
            Instant::from_nanos(0)
        }
        fn sleep_until(&self, _: Instant) -> Self::Sleep {
            core::future::pending()
        }
    }

    /// Pending once (waking itself), then ready: holds its permit across
    /// two polls.
    struct YieldOnce(bool);

    impl Future for YieldOnce {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                return Poll::Ready(());
            }
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    #[test]
    fn permit_handoff_loses_no_wakeup() {
        model(|| {
            let bus: Arc<EventBus<u8, FrozenClock>> = Arc::new(
                EventBus::builder()
                    .max_concurrent(1)
                    .build_with_clock(FrozenClock)
                    .unwrap(),
            );
            let runs = Arc::new(AtomicUsize::new(0));
            let r = runs.clone();
            bus.subscribe_async("x", move |_| {
                let r = r.clone();
                async move {
                    YieldOnce(false).await;
                    r.fetch_add(1, Ordering::SeqCst);
                }
            })
            .unwrap()
            .forget();
            let other = {
                let bus = bus.clone();
                thread::spawn(move || block_on(bus.publish("x", 1)).unwrap())
            };
            block_on(bus.publish("x", 2)).unwrap();
            other.join().unwrap();
            assert_eq!(runs.load(Ordering::SeqCst), 2);
            assert_eq!(bus.active_callbacks(), 0);
        });
    }

    #[test]
    fn unsubscribe_races_publish() {
        model(|| {
            let bus: Arc<EventBus<u8, FrozenClock>> = Arc::new(EventBus::with_clock(FrozenClock));
            let kept = Arc::new(AtomicUsize::new(0));
            let dropped = Arc::new(AtomicUsize::new(0));
            let k = kept.clone();
            let _keep = bus
                .subscribe("x", move |_| {
                    k.fetch_add(1, Ordering::SeqCst);
                })
                .unwrap();
            let d = dropped.clone();
            let gone = bus
                .subscribe("x", move |_| {
                    d.fetch_add(1, Ordering::SeqCst);
                })
                .unwrap();
            let publisher = {
                let bus = bus.clone();
                thread::spawn(move || block_on(bus.publish("x", 1)).unwrap())
            };
            assert!(gone.unsubscribe());
            publisher.join().unwrap();
            assert_eq!(kept.load(Ordering::SeqCst), 1);
            assert!(dropped.load(Ordering::SeqCst) <= 1);
            assert_eq!(bus.subscriber_count("x"), 1);
        });
    }
}
