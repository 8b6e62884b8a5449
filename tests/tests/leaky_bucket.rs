//! `LeakyBucket` conformance: it starts empty, `try_acquire` reports why
//! and when a refused request would fit, `wait_for_tokens` waits exactly
//! as long as the leak takes and reports it, the adaptive factor follows
//! its documented rule, waiters are served first come first served (a
//! small late request never overtakes a large early one), invalid
//! arguments are errors naming the argument, and construction raises the
//! `asyncutils.buckets.LeakyBucket` audit event — on every executor,
//! exactly in virtual time. A dropped `WaitForTokens` is checked at every
//! poll point to leave nothing behind: afterwards the bucket behaves like
//! a twin that never saw it.

use core::future::Future;
use core::pin::Pin;
use core::time::Duration;
use std::sync::{Arc, Mutex};

use asyncutils_core::audit;
use asyncutils_core::buckets::{AdaptiveFactor, LeakyAcquireError, LeakyBucket};
use asyncutils_core::error::InvalidArgument;
use asyncutils_core::time::{Instant, ManualClock};
use asyncutils_tests::cancel::{Subject, drop_at_every_poll_point};
use asyncutils_tests::{
    Manual, TestClock, TestRuntime, assert_duration, assert_elapsed, conformance, join_in_order,
};

const MS: Duration = Duration::from_millis(1);

/// No adaptation: the factor stays 1.
const FIXED: AdaptiveFactor = AdaptiveFactor {
    initial: 1.0,
    min: 1.0,
    max: 1.0,
};

fn retry_after(result: Result<(), LeakyAcquireError>) -> Duration {
    match result {
        Err(LeakyAcquireError::Full { retry_after }) => retry_after,
        other => panic!("expected Full, got {other:?}"),
    }
}

fn manual_bucket(capacity: f64, leak: f64) -> (LeakyBucket<ManualClock>, ManualClock) {
    let clock = ManualClock::new();
    let bucket =
        LeakyBucket::with_factor(capacity, leak, FIXED, clock.clone()).expect("valid arguments");
    (bucket, clock)
}

// === try_acquire ===

conformance!(clock: starts_empty_and_reports_retry_after);
async fn starts_empty_and_reports_retry_after<C: TestClock>(clock: C) {
    // Leaks 10 units per second: one every 100 ms.
    let bucket = LeakyBucket::with_factor(2.0, 10.0, FIXED, clock.clone()).expect("valid");
    assert_eq!(
        bucket.available(),
        2.0,
        "{}: a new bucket is empty",
        C::NAME
    );
    let start = clock.now();
    assert_eq!(bucket.try_acquire(2), Ok(()));
    let one = retry_after(bucket.try_acquire(1));
    if C::VIRTUAL {
        assert_eq!(one, 100 * MS);
        assert_eq!(retry_after(bucket.try_acquire(2)), 200 * MS);
    } else {
        assert!(one > Duration::ZERO && one <= 100 * MS, "{one:?}");
    }
    // Refusals add nothing: after `retry_after` the same request fits.
    clock.sleep(one).await;
    assert_eq!(bucket.try_acquire(1), Ok(()));
    assert_elapsed(&clock, start, 100 * MS);
}

#[test]
fn leaks_exactly_in_virtual_time() {
    let (bucket, clock) = manual_bucket(4.0, 4.0); // 250 ms per unit
    assert_eq!(bucket.try_acquire(4), Ok(()));
    assert_eq!(retry_after(bucket.try_acquire(2)), 500 * MS);
    clock.advance(100 * MS);
    assert_eq!(bucket.level(), 3.6);
    assert_eq!(retry_after(bucket.try_acquire(1)), 150 * MS);
    clock.advance(150 * MS);
    assert_eq!(bucket.try_acquire(1), Ok(()));
    clock.advance(Duration::from_secs(3600));
    assert_eq!(bucket.level(), 0.0, "the level stops at zero");
    assert_eq!(bucket.try_acquire(0), Ok(()), "zero always fits");
}

#[test]
fn the_factor_follows_the_documented_rule() {
    // Capacity 8: marks at 2 and 6; factor 1 in [0.25, 4].
    let clock = ManualClock::new();
    let factor = AdaptiveFactor {
        initial: 1.0,
        min: 0.25,
        max: 4.0,
    };
    let bucket = LeakyBucket::with_factor(8.0, 1.0, factor, clock.clone()).expect("valid");
    let mut seen = Vec::new();
    for _ in 0..3 {
        assert_eq!(bucket.try_acquire(1), Ok(()));
        seen.push(bucket.factor());
        clock.advance(Duration::from_secs(1));
    }
    // Levels 1, 1 (2 leaked at 2), then empty and 1 again: below the low mark.
    assert_eq!(seen, [2.0, 4.0, 4.0]);
    assert_eq!(bucket.try_acquire(7), Ok(()));
    assert_eq!(bucket.factor(), 2.0);
    bucket.set_factor(0.3).expect("a number");
    assert_eq!(bucket.factor(), 0.3);
    bucket.reset_factor();
    assert_eq!(bucket.factor(), 1.0);
    assert_eq!(bucket.leak_rate(), 1.0);
}

// === wait_for_tokens ===

conformance!(clock: waits_until_the_amount_fits);
async fn waits_until_the_amount_fits<C: TestClock>(clock: C) {
    // 100 per second: 10 ms per unit.
    let bucket = LeakyBucket::with_factor(5.0, 100.0, FIXED, clock.clone()).expect("valid");
    let start = clock.now();
    assert_eq!(bucket.wait_for_tokens(5).await, Ok(Duration::ZERO));
    let waited = bucket.wait_for_tokens(3).await.expect("fits");
    assert_elapsed(&clock, start, 30 * MS);
    if C::VIRTUAL {
        assert_eq!(waited, 30 * MS);
    } else {
        // Counted from its own first poll, a little after `start`.
        assert!(waited > Duration::ZERO && waited <= clock.now() - start);
    }
    let err = bucket.wait_for_tokens(6).await.expect_err("over capacity");
    assert_eq!(err.name(), "amount");
}

#[test]
fn the_head_waiter_wakes_at_the_exact_instant() {
    let (bucket, clock) = manual_bucket(1.0, 4.0); // 250 ms per unit
    assert_eq!(bucket.try_acquire(1), Ok(()));
    let mut wait = Manual::new(bucket.wait_for_tokens(1));
    wait.pending();
    assert_eq!(
        clock.next_deadline(),
        Some(Instant::from_nanos(250_000_000))
    );
    clock.advance(249 * MS);
    assert_eq!(wait.wakes(), 0);
    wait.pending();
    clock.advance(MS);
    assert_eq!(wait.wakes(), 1);
    assert_eq!(wait.ready(), Ok(250 * MS));
    assert_eq!(bucket.level(), 1.0);
}

#[test]
fn try_acquire_never_overtakes_a_waiter() {
    let (bucket, clock) = manual_bucket(4.0, 1.0);
    assert_eq!(bucket.try_acquire(4), Ok(()));
    let mut big = Manual::new(bucket.wait_for_tokens(3));
    big.pending();
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        bucket.try_acquire(1),
        Err(LeakyAcquireError::Queued { waiters: 1 })
    );
    clock.advance(Duration::from_secs(2));
    assert_eq!(big.ready(), Ok(Duration::from_secs(3)));
    assert_eq!(retry_after(bucket.try_acquire(1)), Duration::from_secs(1));
}

// === fairness ===

conformance!(clock: a_small_late_request_does_not_overtake);
async fn a_small_late_request_does_not_overtake<C: TestClock>(clock: C) {
    // 200 per second: 5 ms per unit.
    let bucket = LeakyBucket::with_factor(10.0, 200.0, FIXED, clock.clone()).expect("valid");
    let start = clock.now();
    assert_eq!(bucket.try_acquire(10), Ok(()));
    let waiters = vec![
        Box::pin(bucket.wait_for_tokens(8)) as Pin<Box<dyn Future<Output = _>>>,
        Box::pin(bucket.wait_for_tokens(1)),
        Box::pin(bucket.wait_for_tokens(2)),
    ];
    let done = join_in_order(&clock, waiters).await;
    let order: Vec<usize> = done.iter().map(|c| c.index).collect();
    assert_eq!(order, [0, 1, 2], "{}: first come, first served", C::NAME);
    // Fits at 40 ms (8 units), 45 ms (1 more), 55 ms (2 more).
    for (c, turn) in done.iter().zip([40 * MS, 45 * MS, 55 * MS]) {
        assert_duration::<C>(c.at - start, turn);
        let waited = *c.output.as_ref().expect("fits");
        if C::VIRTUAL {
            assert_eq!(waited, turn);
        } else {
            // Counted from its own first poll, a little after `start`.
            assert!(waited <= c.at - start, "{waited:?}");
        }
    }
}

conformance!(fifty_waiting_tasks_are_served_first_come_first_served);
async fn fifty_waiting_tasks_are_served_first_come_first_served<R: TestRuntime>(rt: R) {
    const WAITERS: usize = 50;
    // 2000 per second: one unit every 500 µs; capacity one.
    let bucket = Arc::new(LeakyBucket::with_factor(1.0, 2000.0, FIXED, rt.clone()).expect("ok"));
    let start = rt.now();
    assert_eq!(bucket.try_acquire(1), Ok(()));
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for id in 0..WAITERS {
        let (task_bucket, task_order, clock) = (bucket.clone(), order.clone(), rt.clone());
        // Queue each in turn, so arrival order is `id`.
        let task = rt.spawn(async move {
            let waited = task_bucket.wait_for_tokens(1).await.expect("fits");
            task_order
                .lock()
                .expect("order")
                .push((id, clock.now(), waited));
        });
        let target = id + 1;
        asyncutils_tests::until(|| bucket.waiters() + order.lock().expect("order").len() >= target)
            .await;
        tasks.push(task);
    }
    for task in tasks {
        task.await.expect("waiter task");
    }
    let order = order.lock().expect("order").clone();
    assert_eq!(order.len(), WAITERS);
    if R::VIRTUAL {
        let ids: Vec<usize> = order.iter().map(|&(id, _, _)| id).collect();
        assert_eq!(ids, (0..WAITERS).collect::<Vec<_>>());
    }
    for &(id, at, _) in &order {
        let turn = Duration::from_micros(500) * u32::try_from(id + 1).expect("small");
        assert_duration::<R>(at - start, turn);
    }
}

// === invalid arguments, audit ===

#[test]
fn invalid_arguments_are_errors_naming_the_argument() {
    let clock = ManualClock::new();
    let named = |r: Result<LeakyBucket<ManualClock>, InvalidArgument>| match r {
        Err(e) => {
            assert!(e.to_string().contains(&format!("`{}`", e.name())), "{e}");
            e.name()
        }
        Ok(b) => panic!("accepted {b:?}"),
    };
    let with = |capacity, leak| LeakyBucket::with_clock(capacity, leak, clock.clone());
    for bad in [f64::NAN, 0.0, -0.0, -1.0, f64::INFINITY, f64::NEG_INFINITY] {
        assert_eq!(named(with(bad, 1.0)), "capacity", "{bad}");
        assert_eq!(named(with(1.0, bad)), "leak", "{bad}");
    }
    let factor = |initial, min, max| {
        LeakyBucket::with_factor(
            1.0,
            1.0,
            AdaptiveFactor { initial, min, max },
            clock.clone(),
        )
    };
    assert_eq!(named(factor(1.0, 2.0, 1.0)), "factor.max", "min > max");
    assert_eq!(named(factor(1.0, f64::NAN, 1.0)), "factor.min");
    assert_eq!(named(factor(1.0, -1.0, 1.0)), "factor.min");
    assert_eq!(named(factor(1.0, 0.5, f64::NAN)), "factor.max");
    assert_eq!(named(factor(f64::NAN, 0.5, 2.0)), "factor.initial");
    let (bucket, _clock) = manual_bucket(3.0, 1.0);
    match bucket.try_acquire(4) {
        Err(LeakyAcquireError::Invalid(e)) => assert_eq!(e.name(), "amount"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert_eq!(
        Manual::new(bucket.wait_for_tokens(4))
            .ready()
            .map_err(|e| e.name()),
        Err("amount")
    );
    assert_eq!(
        bucket.set_factor(f64::NAN).map_err(|e| e.name()),
        Err("factor")
    );
    assert_eq!(bucket.level(), 0.0, "the failed requests added nothing");
}

#[test]
fn construction_raises_the_audit_event_with_capacity_and_leak() {
    let raised = audit::extracting("asyncutils.buckets.LeakyBucket", |event| {
        let arg = |name| event.get(name).and_then(|v| v.as_f64());
        (arg("capacity"), arg("leak"))
    });
    let clock = ManualClock::new();
    let _bucket = LeakyBucket::with_clock(17.25, 3.5, clock.clone()).expect("valid");
    assert!(LeakyBucket::with_clock(19.75, f64::NAN, clock).is_err());
    let raised = raised.finish();
    assert_eq!(
        raised
            .iter()
            .filter(|&&e| e == (Some(17.25), Some(3.5)))
            .count(),
        1,
        "raised: {raised:?}"
    );
    assert!(!raised.iter().any(|&(c, _)| c == Some(19.75)));
    let entry = audit::catalog_entry("asyncutils.buckets.LeakyBucket").expect("in the catalog");
    assert_eq!(entry.args, ["capacity", "leak"]);
}

// === cancellation: drop each WaitForTokens at every poll point ===

/// A bucket and a twin that never saw the waiter under test.
struct Twins {
    real: LeakyBucket<ManualClock>,
    real_clock: ManualClock,
    twin: LeakyBucket<ManualClock>,
    twin_clock: ManualClock,
}

impl Twins {
    fn new(capacity: f64, leak: f64) -> Self {
        let (real, real_clock) = manual_bucket(capacity, leak);
        let (twin, twin_clock) = manual_bucket(capacity, leak);
        Twins {
            real,
            real_clock,
            twin,
            twin_clock,
        }
    }

    fn advance(&self, d: Duration) {
        self.real_clock.advance(d);
        self.twin_clock.advance(d);
    }

    fn both_take(&self, n: u64) {
        assert_eq!(self.real.try_acquire(n), Ok(()));
        assert_eq!(self.twin.try_acquire(n), Ok(()));
    }

    #[track_caller]
    fn assert_indistinguishable(&self, what: &str) {
        for step in 0..6 {
            assert_eq!(
                self.real.level(),
                self.twin.level(),
                "{what}, {step}: level"
            );
            for n in [2, 1] {
                assert_eq!(
                    self.real.try_acquire(n),
                    self.twin.try_acquire(n),
                    "{what}, step {step}: try_acquire({n})"
                );
            }
            self.advance(37 * MS);
        }
    }
}

#[test]
fn a_dropped_waiter_leaves_nothing_behind() {
    let cuts = drop_at_every_poll_point(|cut| {
        let t = Twins::new(2.0, 10.0); // 100 ms per unit
        t.both_take(2);
        let mut wait = Subject::new(cut, t.real.wait_for_tokens(1));
        wait.poll(); // fits at 100 ms
        t.advance(60 * MS);
        wait.checkpoint();
        wait.poll();
        t.advance(40 * MS);
        wait.checkpoint();
        wait.poll();
        if wait.is_completed() {
            assert_eq!(wait.output(), Some(&Ok(100 * MS)));
            // The twin takes the same room at the same instant.
            assert_eq!(t.twin.try_acquire(1), Ok(()));
        }
        t.assert_indistinguishable(&format!("cut {cut}"));
        wait.fate()
    });
    assert!(cuts >= 5, "dropped at {cuts} points");
}

#[test]
fn a_dropped_waiter_after_its_grant_and_others_took_room_leaves_nothing() {
    let cuts = drop_at_every_poll_point(|cut| {
        let t = Twins::new(2.0, 10.0);
        t.both_take(2);
        let mut wait = Subject::new(cut, t.real.wait_for_tokens(1));
        wait.poll(); // fits at 100 ms
        t.advance(350 * MS);
        wait.checkpoint();
        t.both_take(2); // empty again by now, with or without the grant
        wait.checkpoint();
        wait.poll();
        if wait.is_dropped() {
            t.assert_indistinguishable(&format!("cut {cut}"));
        }
        wait.fate()
    });
    assert!(cuts >= 3, "dropped at {cuts} points");
}

#[test]
fn a_dropped_waiter_lets_the_next_move_up() {
    let cuts = drop_at_every_poll_point(|cut| {
        let (bucket, clock) = manual_bucket(4.0, 10.0); // 100 ms per unit
        assert_eq!(bucket.try_acquire(4), Ok(()));
        let mut first = Subject::new(cut, bucket.wait_for_tokens(3)); // fits at 300 ms
        let mut dropped_at = None;
        let mut note = |first: &Subject<_>, clock: &ManualClock| {
            if first.is_dropped() && dropped_at.is_none() {
                dropped_at = Some(clock.now() - Instant::ZERO);
            }
        };
        first.poll();
        note(&first, &clock);
        let mut second = Manual::new(bucket.wait_for_tokens(1));
        second.pending();
        for _ in 0..2 {
            clock.advance(150 * MS);
            first.checkpoint();
            note(&first, &clock);
            first.poll();
            note(&first, &clock);
        }
        let waited = loop {
            match second.poll() {
                core::task::Poll::Ready(waited) => break waited,
                core::task::Poll::Pending => clock.advance(10 * MS),
            }
        };
        // Behind the first it fits at 400 ms; once the first is gone, as
        // soon as there is room for it (100 ms), but not before the drop.
        let expected = match dropped_at {
            None => 400 * MS,
            Some(at) => at.max(100 * MS),
        };
        assert_eq!(waited, Ok(expected), "cut {cut}");
        first.fate()
    });
    assert!(cuts >= 5, "dropped at {cuts} points");
}
