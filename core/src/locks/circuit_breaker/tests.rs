use alloc::boxed::Box;
use alloc::vec::Vec;
use core::pin::pin;
use core::task::Poll;
use core::time::Duration;

use futures_core::Stream;

use super::*;
use crate::test_util::Probe;
use crate::time::ManualClock;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn breaker(
    max_fails: u32,
    reset: Duration,
    half: u32,
) -> (CircuitBreaker<ManualClock>, ManualClock) {
    let clock = ManualClock::new();
    (
        CircuitBreaker::with_clock("test", max_fails, reset, half, clock.clone()).unwrap(),
        clock,
    )
}

fn fail<C: Clock, P>(b: &CircuitBreaker<C, P>) {
    b.try_acquire().unwrap().failure();
}

fn open_retry_after<T>(r: Result<T, CallRejected>) -> Duration {
    match r {
        Err(CallRejected::Open { retry_after }) => retry_after,
        Err(other) => panic!("expected Open, got {other:?}"),
        Ok(_) => panic!("expected Open, got a permit"),
    }
}

fn next_state<S: Stream + Unpin>(p: &Probe, s: &mut S) -> Poll<Option<S::Item>> {
    Pin::new(s).poll_next(&mut Context::from_waker(&p_waker(p)))
}

fn p_waker(p: &Probe) -> Waker {
    // The probe's waker, through a poll_fn.
    let mut out = None;
    let _ = p.poll_pinned(pin!(futures_lite::future::poll_fn(|cx| {
        out = Some(cx.waker().clone());
        Poll::Ready(())
    })));
    out.unwrap()
}

#[test]
fn trips_after_max_fails_consecutive_failures() {
    let (b, clock) = breaker(3, ms(500), 1);
    fail(&b);
    fail(&b);
    assert_eq!(b.consecutive_failures(), 2);
    b.try_acquire().unwrap().success();
    assert_eq!(b.consecutive_failures(), 0, "a success resets the count");
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), CircuitState::Closed);
    clock.advance(ms(10));
    fail(&b);
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(b.consecutive_failures(), 0);
    assert_eq!(open_retry_after(b.try_acquire()), ms(500));
    clock.advance(ms(499));
    assert_eq!(open_retry_after(b.try_acquire()), ms(1));
    clock.advance(Duration::from_nanos(999_999));
    assert_eq!(open_retry_after(b.try_acquire()), Duration::from_nanos(1));
    clock.advance(Duration::from_nanos(1));
    let probe = b.try_acquire().unwrap();
    assert!(probe.is_probe());
    assert_eq!(b.state(), CircuitState::HalfOpen);
    probe.success();
    assert_eq!(b.state(), CircuitState::Closed);
}

#[test]
fn half_open_admits_exactly_max_half_open_calls() {
    let (b, clock) = breaker(1, ms(100), 3);
    fail(&b);
    clock.advance(ms(100));
    let probes: Vec<_> = (0..3).map(|_| b.try_acquire().unwrap()).collect();
    assert_eq!(b.probes_in_flight(), 3);
    for _ in 0..10 {
        assert!(matches!(b.try_acquire(), Err(CallRejected::HalfOpenBusy)));
    }
    drop(probes);
    assert_eq!(
        b.probes_in_flight(),
        0,
        "dropped probes give their slots back"
    );
    assert_eq!(b.state(), CircuitState::HalfOpen);
    let p = b.try_acquire().unwrap();
    assert!(p.is_probe());
}

#[test]
fn probe_failure_reopens_with_a_fresh_timer() {
    let (b, clock) = breaker(2, ms(100), 2);
    fail(&b);
    fail(&b);
    clock.advance(ms(150));
    let first = b.try_acquire().unwrap();
    let second = b.try_acquire().unwrap();
    clock.advance(ms(20));
    first.failure();
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(open_retry_after(b.try_acquire()), ms(100));
    // The other probe is from the previous episode: no effect.
    second.success();
    assert_eq!(b.state(), CircuitState::Open);
    clock.advance(ms(100));
    assert_eq!(b.state(), CircuitState::HalfOpen);
}

#[test]
fn stale_permits_from_before_a_trip_are_ignored() {
    let (b, clock) = breaker(1, ms(100), 1);
    let slow = b.try_acquire().unwrap();
    let slow_fail = b.try_acquire().unwrap();
    fail(&b);
    assert_eq!(b.state(), CircuitState::Open);
    slow.success();
    assert_eq!(
        b.state(),
        CircuitState::Open,
        "cannot close an open breaker"
    );
    clock.advance(ms(100));
    let probe = b.try_acquire().unwrap();
    probe.success();
    slow_fail.failure();
    assert_eq!(b.state(), CircuitState::Closed, "nor trip a later episode");
}

#[test]
fn ignored_errors_count_as_success() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::with_clock("p", 2, ms(10), 1, clock)
        .unwrap()
        .failure_if(|e: &i32| *e >= 500);
    assert!(b.try_acquire().unwrap().record(&Err::<(), i32>(503)));
    assert_eq!(b.consecutive_failures(), 1);
    assert!(!b.try_acquire().unwrap().record(&Err::<(), i32>(404)));
    assert_eq!(b.consecutive_failures(), 0);
    assert!(!b.try_acquire().unwrap().record(&Ok::<(), i32>(())));
    let p = Probe::new();
    for _ in 0..2 {
        assert_eq!(
            p.poll_pinned(pin!(b.call(async { Err::<(), i32>(500) }))),
            Poll::Ready(Err(CallError::Inner(500)))
        );
    }
    assert_eq!(b.state(), CircuitState::Open);
}

#[test]
fn invalid_arguments_are_errors_naming_the_argument() {
    let c = ManualClock::new();
    let err = CircuitBreaker::with_clock("x", 0, ms(1), 1, c.clone()).unwrap_err();
    assert_eq!(err.name(), "max_fails");
    let err = CircuitBreaker::with_clock("x", 1, Duration::ZERO, 1, c.clone()).unwrap_err();
    assert_eq!(err.name(), "reset");
    let err = CircuitBreaker::with_clock("x", 1, Duration::MAX, 1, c.clone()).unwrap_err();
    assert_eq!(err.name(), "reset");
    let err = CircuitBreaker::with_clock("x", 1, ms(1), 0, c.clone()).unwrap_err();
    assert_eq!(err.name(), "max_half_open_calls");
    let b: CircuitBreaker<ManualClock> =
        CircuitBreaker::new(alloc::string::String::from("owned"), 4, ms(3), 2).unwrap();
    assert_eq!(
        (
            b.name(),
            b.max_fails(),
            b.reset_timeout(),
            b.max_half_open_calls()
        ),
        ("owned", 4, ms(3), 2)
    );
}

#[test]
fn call_rejects_without_polling_and_reports_outcomes() {
    let (b, clock) = breaker(1, ms(100), 1);
    let p = Probe::new();
    assert_eq!(
        p.poll_pinned(pin!(b.call(async { Ok::<u8, ()>(1) }))),
        Poll::Ready(Ok(1))
    );
    assert_eq!(
        p.poll_pinned(pin!(b.call(async { Err::<u8, ()>(()) }))),
        Poll::Ready(Err(CallError::Inner(())))
    );
    let mut made = false;
    let r = p.poll_pinned(pin!(b.call_with(|| {
        made = true;
        async { Ok::<u8, ()>(1) }
    })));
    assert_eq!(
        r,
        Poll::Ready(Err(CallError::Open {
            retry_after: ms(100)
        }))
    );
    assert!(!made, "an open breaker does not call the function");
    clock.advance(ms(100));
    // A pending probe holds the only slot.
    let mut probe = Box::pin(b.call(futures_lite::future::pending::<Result<u8, ()>>()));
    assert!(p.poll_pinned(probe.as_mut()).is_pending());
    assert_eq!(
        p.poll_pinned(pin!(b.call(async { Ok::<u8, ()>(1) }))),
        Poll::Ready(Err(CallError::HalfOpenBusy))
    );
    drop(probe);
    assert_eq!(
        p.poll_pinned(pin!(b.call_with(|| async { Ok::<u8, ()>(2) }))),
        Poll::Ready(Ok(2))
    );
    assert_eq!(b.state(), CircuitState::Closed);
}

/// A future that is pending `n` times, then resolves to `out`.
struct PendingThen<T> {
    n: usize,
    out: Option<T>,
}

impl<T: Unpin> Future for PendingThen<T> {
    type Output = T;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if self.n == 0 {
            return Poll::Ready(self.out.take().expect("polled after completion"));
        }
        self.n -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[test]
fn dropped_calls_count_as_neither_at_every_poll_point() {
    for outcome in [Ok(()), Err(())] {
        for cut in 0..5 {
            let (b, clock) = breaker(2, ms(100), 1);
            fail(&b);
            // Closed: a dropped call leaves the count alone.
            {
                let mut call = Box::pin(b.call(PendingThen {
                    n: 3,
                    out: Some(outcome),
                }));
                let p = Probe::new();
                for _ in 0..cut {
                    let _ = p.poll_pinned(call.as_mut());
                }
                let done = cut > 3;
                drop(call);
                if !done {
                    assert_eq!(b.consecutive_failures(), 1, "cut {cut}");
                }
            }
            while b.state() == CircuitState::Closed {
                fail(&b);
            }
            clock.advance(ms(100));
            // Half-open: a dropped probe frees its slot, decides nothing.
            let mut call = Box::pin(b.call_with(|| PendingThen {
                n: 3,
                out: Some(outcome),
            }));
            let p = Probe::new();
            let mut done = false;
            for _ in 0..cut {
                done |= p.poll_pinned(call.as_mut()).is_ready();
            }
            drop(call);
            if !done {
                assert_eq!(b.state(), CircuitState::HalfOpen, "cut {cut}");
                assert_eq!(b.probes_in_flight(), 0, "cut {cut}");
                assert!(b.try_acquire().unwrap().is_probe());
            }
        }
    }
}

#[test]
fn state_changes_reports_every_transition_exactly_in_time() {
    let (b, clock) = breaker(1, ms(250), 1);
    let p = Probe::new();
    let mut changes = Box::pin(b.state_changes());
    assert_eq!(
        next_state(&p, &mut changes),
        Poll::Ready(Some(CircuitState::Closed))
    );
    assert!(next_state(&p, &mut changes).is_pending());
    fail(&b);
    assert_eq!(p.take_wakes(), 1);
    assert_eq!(
        next_state(&p, &mut changes),
        Poll::Ready(Some(CircuitState::Open))
    );
    assert!(next_state(&p, &mut changes).is_pending());
    assert_eq!(
        clock.next_deadline(),
        Some(Instant::from_nanos(250_000_000))
    );
    clock.advance(ms(249));
    assert_eq!(p.take_wakes(), 0);
    clock.advance(ms(1));
    assert_eq!(p.take_wakes(), 1);
    assert_eq!(
        next_state(&p, &mut changes),
        Poll::Ready(Some(CircuitState::HalfOpen))
    );
    b.try_acquire().unwrap().success();
    assert_eq!(
        next_state(&p, &mut changes),
        Poll::Ready(Some(CircuitState::Closed))
    );
    drop(changes);
    assert_eq!(clock.sleepers(), 0);
    assert!(
        b.watchers.lock().is_empty(),
        "the dropped stream deregistered"
    );
}

#[test]
fn many_streams_are_all_woken() {
    let (b, _clock) = breaker(1, ms(250), 1);
    let p = Probe::new();
    let mut streams: Vec<_> = (0..40).map(|_| Box::pin(b.state_changes())).collect();
    for s in &mut streams {
        assert!(next_state(&p, s).is_ready());
        assert!(next_state(&p, s).is_pending());
    }
    fail(&b);
    assert_eq!(p.take_wakes(), 40);
    for s in &mut streams {
        assert_eq!(next_state(&p, s), Poll::Ready(Some(CircuitState::Open)));
    }
}

#[test]
fn raises_its_audit_events() {
    let built = crate::audit::extracting("asyncutils.altlocks.CircuitBreaker", |e| {
        (
            e.get("name")
                .and_then(|v| v.as_str().map(alloc::string::String::from)),
            e.get("max_fails").and_then(|v| v.as_u64()),
        )
    });
    let called = crate::audit::extracting("asyncutils.altlocks.CircuitBreaker.__call__", |e| {
        (
            e.get("name")
                .and_then(|v| v.as_str().map(alloc::string::String::from)),
            e.get("fname")
                .and_then(|v| v.as_str().map(alloc::string::String::from)),
        )
    });
    let b = CircuitBreaker::with_clock("audited-cb", 7, ms(1), 1, ManualClock::new()).unwrap();
    async fn remote() -> Result<(), ()> {
        Ok(())
    }
    let _ = futures_lite::future::block_on(b.call_with(remote));
    assert!(
        built
            .finish()
            .contains(&(Some("audited-cb".into()), Some(7)))
    );
    let called = called.finish();
    assert!(
        called
            .iter()
            .any(|(n, f)| n.as_deref() == Some("audited-cb")
                && f.as_deref().is_some_and(|f| f.ends_with("remote"))),
        "{called:?}"
    );
}

#[test]
fn debug_does_not_need_debug_types() {
    struct Opaque;
    let (b, _) = breaker(1, ms(1), 1);
    let b = b.failure_if(|_: &Opaque| true);
    let s = alloc::format!("{b:?}");
    assert!(s.contains("Closed") && s.contains("test"), "{s}");
    let e: CallError<Opaque> = CallError::Inner(Opaque);
    assert_eq!(alloc::format!("{e:?}"), "Inner(..)");
    let _ = alloc::format!("{:?}", b.try_acquire().unwrap());
    let _ = alloc::format!("{:?}", b.state_changes());
}

// === concurrency models ===

mod models {
    use super::*;
    use crate::loom::Arc;
    use crate::loom::model::{model, thread};

    #[test]
    fn racing_failures_from_two_threads_trip_exactly_once() {
        model(|| {
            let clock = ManualClock::new();
            let b = Arc::new(CircuitBreaker::with_clock("m", 2, ms(10), 1, clock).unwrap());
            let b2 = b.clone();
            let t = thread::spawn(move || {
                b2.try_acquire().unwrap().failure();
            });
            b.try_acquire().unwrap().failure();
            t.join().unwrap();
            assert_eq!(
                CircuitState::of(b.word.load(Ordering::SeqCst)),
                CircuitState::Open
            );
            assert_eq!(b.changes.load(Ordering::SeqCst), 1, "tripped once");
            assert!(b.try_acquire().is_err());
        });
    }

    #[test]
    fn half_open_slots_never_exceed_the_limit() {
        model(|| {
            let clock = ManualClock::new();
            let b = Arc::new(CircuitBreaker::with_clock("m", 1, ms(10), 1, clock.clone()).unwrap());
            fail(&b);
            clock.advance(ms(10));
            let held = Arc::new(crate::loom::AtomicUsize::new(0));
            let worker = |b: Arc<CircuitBreaker<ManualClock>>,
                          held: Arc<crate::loom::AtomicUsize>| {
                if let Ok(p) = b.try_acquire() {
                    let n = held.fetch_add(1, Ordering::SeqCst);
                    assert_eq!(n, 0, "two probes at once");
                    held.fetch_sub(1, Ordering::SeqCst);
                    drop(p); // gives the slot back
                }
            };
            let (b2, h2) = (b.clone(), held.clone());
            let t = thread::spawn(move || worker(b2, h2));
            worker(b.clone(), held.clone());
            t.join().unwrap();
            assert_eq!(b.probes_in_flight(), 0);
            assert_eq!(b.state(), CircuitState::HalfOpen);
        });
    }

    #[test]
    fn stale_probe_release_never_frees_a_newer_slot() {
        model(|| {
            let clock = ManualClock::new();
            let b = Arc::new(CircuitBreaker::with_clock("m", 1, ms(10), 2, clock.clone()).unwrap());
            fail(&b);
            clock.advance(ms(10));
            let old = b.try_acquire().unwrap();
            let b2 = b.clone();
            let t = thread::spawn(move || {
                // Another probe of the episode fails: a new episode; after
                // its reset a new probe is admitted.
                b2.try_acquire().unwrap().failure();
                clock.advance(ms(10));
                let new = b2.try_acquire().unwrap();
                assert!(new.is_probe());
                core::mem::forget(new);
            });
            drop(old); // races with all of the above
            t.join().unwrap();
            // The new episode's probe still holds its slot.
            assert_eq!(b.probes_in_flight(), 1);
        });
    }
}

/// Users share breakers across threads and spawn their futures on
/// multi-threaded runtimes.
#[test]
fn breaker_and_its_futures_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    type Fut = core::future::Ready<Result<(), ()>>;
    send_sync::<CircuitBreaker<ManualClock>>();
    send_sync::<CircuitBreaker<ManualClock, fn(&u8) -> bool>>();
    send_sync::<CallPermit<'static, ManualClock>>();
    send::<Call<'static, ManualClock, AnyError, Fut>>();
    send::<CallWith<'static, ManualClock, AnyError, fn() -> Fut, Fut>>();
    send::<StateChanges<'static, ManualClock, AnyError>>();
}
