//! `CircuitBreaker` conformance: it trips after `max_fails` consecutive
//! failures, fails fast with the exact time left while open, goes
//! half-open after `reset` and closes on a probe success or re-opens on a
//! probe failure, and its state stream follows — on every executor,
//! exactly in virtual time. A stampede of 1 000 calls at the instant the
//! breaker goes half-open admits exactly `max_half_open_calls` probes, on
//! every runtime including the multi-thread one. A dropped call is checked
//! at every poll point to count as neither a success nor a failure and to
//! give its probe slot back; construction errors name their argument; the
//! audit events carry the catalog's arguments.

use core::time::Duration;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use asyncutils_core::audit;
use asyncutils_core::error::InvalidArgument;
use asyncutils_core::locks::{CallError, CallRejected, CircuitBreaker, CircuitState};
use asyncutils_core::time::{Clock, Instant, ManualClock};
use asyncutils_tests::cancel::{Subject, drop_at_every_poll_point};
use asyncutils_tests::{TestClock, TestRuntime, assert_elapsed, conformance, until};
use futures_lite::StreamExt;

const MS: Duration = Duration::from_millis(1);

async fn ok() -> Result<u32, &'static str> {
    Ok(1)
}

async fn err() -> Result<u32, &'static str> {
    Err("down")
}

// === the state machine ===

conformance!(clock: trips_fails_fast_and_recovers);
async fn trips_fails_fast_and_recovers<C: TestClock>(clock: C) {
    let breaker =
        CircuitBreaker::with_clock("svc", 3, 100 * MS, 1, clock.clone()).expect("valid arguments");
    assert_eq!(breaker.call_with(ok).await, Ok(1));
    for _ in 0..2 {
        assert_eq!(breaker.call_with(err).await, Err(CallError::Inner("down")));
    }
    assert_eq!(breaker.consecutive_failures(), 2);
    assert_eq!(
        breaker.call_with(ok).await,
        Ok(1),
        "a success resets the count"
    );
    for _ in 0..3 {
        assert_eq!(breaker.call_with(err).await, Err(CallError::Inner("down")));
    }
    let tripped = clock.now();
    assert_eq!(breaker.state(), CircuitState::Open, "{}", C::NAME);

    let Err(CallError::Open { retry_after }) = breaker.call_with(ok).await else {
        panic!("{}: an open breaker fails fast", C::NAME)
    };
    if C::VIRTUAL {
        assert_eq!(retry_after, 100 * MS);
    } else {
        assert!(retry_after <= 100 * MS && retry_after > Duration::ZERO);
    }
    clock.sleep(retry_after).await;
    assert_elapsed(&clock, tripped, 100 * MS);

    // Half-open: a probe failure re-opens with a fresh timer.
    assert_eq!(breaker.state(), CircuitState::HalfOpen);
    assert_eq!(breaker.call_with(err).await, Err(CallError::Inner("down")));
    let reopened = clock.now();
    assert_eq!(breaker.state(), CircuitState::Open);
    let Err(CallError::Open { retry_after }) = breaker.call_with(ok).await else {
        panic!("{}: re-opened", C::NAME)
    };
    if C::VIRTUAL {
        assert_eq!(retry_after, 100 * MS, "a fresh reset timer");
    }
    clock.sleep(retry_after).await;
    assert_elapsed(&clock, reopened, 100 * MS);
    // A probe success closes.
    assert_eq!(breaker.call_with(ok).await, Ok(1));
    assert_eq!(breaker.state(), CircuitState::Closed);
    assert_eq!(breaker.consecutive_failures(), 0);
}

conformance!(clock: state_changes_follow_the_state_machine);
async fn state_changes_follow_the_state_machine<C: TestClock>(clock: C) {
    let breaker =
        CircuitBreaker::with_clock("svc", 1, 50 * MS, 1, clock.clone()).expect("valid arguments");
    let mut changes = core::pin::pin!(breaker.state_changes());
    assert_eq!(changes.next().await, Some(CircuitState::Closed));
    let _ = breaker.call_with(err).await;
    let tripped = clock.now();
    assert_eq!(changes.next().await, Some(CircuitState::Open));
    // The stream sleeps until the reset time by itself.
    assert_eq!(changes.next().await, Some(CircuitState::HalfOpen));
    assert_elapsed(&clock, tripped, 50 * MS);
    assert_eq!(breaker.call_with(ok).await, Ok(1));
    assert_eq!(changes.next().await, Some(CircuitState::Closed));
}

// === the half-open stampede ===

conformance!(half_open_stampede_admits_exactly_the_probe_limit);
async fn half_open_stampede_admits_exactly_the_probe_limit<R: TestRuntime>(rt: R) {
    const CALLS: usize = 1000;
    const PROBES: u32 = 3;
    let breaker = Arc::new(
        CircuitBreaker::with_clock("stampede", 1, 20 * MS, PROBES, rt.clone())
            .expect("valid arguments"),
    );
    let _ = breaker.call_with(err).await;
    assert_eq!(breaker.state(), CircuitState::Open);
    // At or after the breaker's reset instant.
    let deadline = rt.now() + 20 * MS;
    let admitted = Arc::new(AtomicUsize::new(0));
    // The probes hold their slots until then: long after every other call
    // was refused (a sleep, not a spin: in virtual time spinning tasks
    // would starve the scenario's own task).
    let release = deadline + 500 * MS;
    let handles: Vec<_> = (0..CALLS)
        .map(|_| {
            let (breaker, admitted, rt2) = (breaker.clone(), admitted.clone(), rt.clone());
            rt.spawn(async move {
                rt2.sleep_until(deadline).await;
                breaker
                    .call(async {
                        admitted.fetch_add(1, Ordering::SeqCst);
                        rt2.sleep_until(release).await;
                        Ok::<(), ()>(())
                    })
                    .await
            })
        })
        .collect();
    // Every rejected call finishes; the probes wait for the release. (Sleep
    // first: in virtual time, time only moves while every task is idle.)
    rt.sleep_until(deadline).await;
    until(|| handles.iter().filter(|h| h.is_finished()).count() == CALLS - PROBES as usize).await;
    assert_eq!(
        admitted.load(Ordering::SeqCst),
        PROBES as usize,
        "{}",
        R::NAME
    );
    assert_eq!(breaker.probes_in_flight(), PROBES);
    let (mut ok, mut busy) = (0, 0);
    for h in handles {
        match h.await.expect("task") {
            Ok(()) => ok += 1,
            Err(CallError::HalfOpenBusy) => busy += 1,
            Err(other) => panic!("{}: unexpected {other:?}", R::NAME),
        }
    }
    // The first probe to finish closes the breaker; the later ones are
    // reports from a finished episode.
    assert_eq!((ok, busy), (PROBES as usize, CALLS - PROBES as usize));
    assert_eq!(breaker.state(), CircuitState::Closed);
}

conformance!(concurrent_calls_on_many_tasks_keep_the_count_consistent);
async fn concurrent_calls_on_many_tasks_keep_the_count_consistent<R: TestRuntime>(rt: R) {
    let breaker = Arc::new(
        CircuitBreaker::with_clock("many", 1_000_000, Duration::from_secs(60), 1, rt.clone())
            .expect("valid arguments"),
    );
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let breaker = breaker.clone();
            rt.spawn(async move {
                for _ in 0..100 {
                    let _ = breaker.call_with(err).await;
                    asyncutils_core::rt::yield_now().await;
                }
            })
        })
        .collect();
    for h in handles {
        h.await.expect("task");
    }
    assert_eq!(breaker.consecutive_failures(), 800, "{}", R::NAME);
}

// === cancellation ===

#[test]
fn dropped_probe_counts_as_neither_and_frees_its_slot() {
    let cuts = drop_at_every_poll_point(|cut| {
        let clock = ManualClock::new();
        let breaker =
            CircuitBreaker::with_clock("cancel", 1, 10 * MS, 1, clock.clone()).expect("valid");
        breaker.try_acquire().expect("closed").failure();
        clock.advance(10 * MS);
        let mut call = Subject::new(
            cut,
            breaker.call_with(|| async {
                ManualClock::new().sleep(Duration::ZERO).await;
                futures_lite::future::yield_now().await;
                futures_lite::future::yield_now().await;
                Err::<(), ()>(())
            }),
        );
        while !call.is_completed() && !call.is_dropped() {
            call.poll();
            call.checkpoint();
        }
        if call.is_dropped() {
            assert_eq!(breaker.state(), CircuitState::HalfOpen, "cut {cut}");
            assert_eq!(breaker.probes_in_flight(), 0, "cut {cut}");
            assert!(breaker.try_acquire().expect("a free slot").is_probe());
        } else {
            assert_eq!(call.output(), Some(&Err(CallError::Inner(()))));
            assert_eq!(breaker.state(), CircuitState::Open);
        }
        call.fate()
    });
    assert!(cuts >= 4, "dropped at {cuts} points");
}

#[test]
fn dropped_closed_call_leaves_the_failure_count_alone() {
    let cuts = drop_at_every_poll_point(|cut| {
        let breaker =
            CircuitBreaker::with_clock("cancel", 2, 10 * MS, 1, ManualClock::new()).expect("valid");
        breaker.try_acquire().expect("closed").failure();
        let mut call = Subject::new(
            cut,
            breaker.call(async {
                futures_lite::future::yield_now().await;
                Err::<(), ()>(())
            }),
        );
        while !call.is_completed() && !call.is_dropped() {
            call.poll();
        }
        if call.is_dropped() {
            assert_eq!(breaker.consecutive_failures(), 1, "cut {cut}");
            assert_eq!(breaker.state(), CircuitState::Closed);
        } else {
            assert_eq!(breaker.state(), CircuitState::Open);
        }
        call.fate()
    });
    assert!(cuts >= 3, "dropped at {cuts} points");
}

// === exact time, arguments, audit ===

#[test]
fn retry_after_is_exact_in_virtual_time() {
    let clock = ManualClock::starting_at(Instant::from_nanos(5));
    let breaker = CircuitBreaker::with_clock("t", 1, Duration::from_nanos(1_000), 2, clock.clone())
        .expect("valid");
    breaker.try_acquire().expect("closed").failure();
    clock.advance(Duration::from_nanos(999));
    assert_eq!(
        breaker.try_acquire().map(drop),
        Err(CallRejected::Open {
            retry_after: Duration::from_nanos(1)
        })
    );
    clock.advance(Duration::from_nanos(1));
    let a = breaker.try_acquire().expect("probe");
    let b = breaker.try_acquire().expect("probe");
    assert_eq!(
        breaker.try_acquire().map(drop),
        Err(CallRejected::HalfOpenBusy)
    );
    a.failure();
    drop(b);
    assert_eq!(
        breaker.try_acquire().map(drop),
        Err(CallRejected::Open {
            retry_after: Duration::from_nanos(1_000)
        })
    );
}

#[test]
fn invalid_arguments_are_errors_naming_the_argument() {
    let c = ManualClock::new();
    fn name(r: Result<CircuitBreaker<ManualClock>, InvalidArgument>) -> &'static str {
        r.map(drop).expect_err("invalid").name()
    }
    assert_eq!(
        name(CircuitBreaker::with_clock("x", 0, MS, 1, c.clone())),
        "max_fails"
    );
    assert_eq!(
        name(CircuitBreaker::with_clock(
            "x",
            1,
            Duration::ZERO,
            1,
            c.clone()
        )),
        "reset"
    );
    assert_eq!(
        name(CircuitBreaker::with_clock("x", 1, MS, 0, c.clone())),
        "max_half_open_calls"
    );
}

#[test]
fn raises_the_catalog_events() {
    for name in [
        "asyncutils.altlocks.CircuitBreaker",
        "asyncutils.altlocks.CircuitBreaker.__call__",
    ] {
        assert!(audit::catalog_entry(name).is_some(), "{name}");
    }
    let built = audit::extracting("asyncutils.altlocks.CircuitBreaker", |e| {
        (
            e.get("name").and_then(|v| v.as_str().map(String::from)),
            e.get("max_fails").and_then(|v| v.as_u64()),
        )
    });
    let called = audit::extracting("asyncutils.altlocks.CircuitBreaker.__call__", |e| {
        (
            e.get("name").and_then(|v| v.as_str().map(String::from)),
            e.get("fname").and_then(|v| v.as_str().map(String::from)),
        )
    });
    let breaker =
        CircuitBreaker::with_clock("conf-audit", 5, MS, 1, ManualClock::new()).expect("valid");
    assert_eq!(futures_lite::future::block_on(breaker.call_with(ok)), Ok(1));
    assert!(
        built
            .finish()
            .contains(&(Some("conf-audit".into()), Some(5)))
    );
    let called = called.finish();
    assert!(
        called
            .iter()
            .any(|(n, f)| n.as_deref() == Some("conf-audit")
                && f.as_deref() == Some(core::any::type_name_of_val(&ok))),
        "{called:?}"
    );
}
