use alloc::boxed::Box;
use alloc::vec::Vec;
use core::pin::pin;
use core::task::Poll;
use core::time::Duration;

use super::*;
use crate::test_util::Probe;
use crate::time::ManualClock;

fn bucket(rate: f64, capacity: f64) -> (TokenBucket<ManualClock>, ManualClock) {
    let clock = ManualClock::new();
    (
        TokenBucket::with_clock(rate, capacity, clock.clone()).unwrap(),
        clock,
    )
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn starts_full_and_refills_exactly() {
    let (b, clock) = bucket(10.0, 5.0);
    assert_eq!(b.available(), 5.0);
    b.try_acquire(5).unwrap();
    assert_eq!(b.available(), 0.0);
    assert_eq!(
        b.try_acquire(2),
        Err(TryAcquireError::Insufficient {
            retry_after: ms(200)
        })
    );
    clock.advance(ms(150));
    assert_eq!(b.available(), 1.5);
    assert_eq!(
        b.try_acquire(2),
        Err(TryAcquireError::Insufficient {
            retry_after: ms(50)
        })
    );
    clock.advance(ms(50));
    b.try_acquire(2).unwrap();
    // Refill stops at capacity.
    clock.advance(Duration::from_secs(60));
    assert_eq!(b.available(), 5.0);
}

#[test]
fn zero_tokens_always_succeed() {
    let (b, _) = bucket(1.0, 1.0);
    b.try_acquire(1).unwrap();
    assert_eq!(b.try_acquire(0), Ok(()));
}

#[test]
fn invalid_arguments_are_errors_naming_the_argument() {
    let clock = ManualClock::new();
    for rate in [f64::NAN, 0.0, -1.0, f64::INFINITY, 2e9] {
        let err = TokenBucket::with_clock(rate, 1.0, clock.clone()).unwrap_err();
        assert_eq!(err.name(), "rate", "rate {rate}");
    }
    for capacity in [f64::NAN, 0.0, -3.0, f64::INFINITY, 1e30] {
        let err = TokenBucket::with_clock(1.0, capacity, clock.clone()).unwrap_err();
        assert_eq!(err.name(), "capacity", "capacity {capacity}");
    }
    let (b, _) = bucket(1.0, 3.0);
    match b.try_acquire(4) {
        Err(TryAcquireError::Invalid(e)) => assert_eq!(e.name(), "n"),
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(
        b.try_acquire(u64::MAX),
        Err(TryAcquireError::Invalid(_))
    ));
    let p = Probe::new();
    let mut acquire = pin!(b.acquire(4));
    match p.poll_pinned(acquire.as_mut()) {
        Poll::Ready(Err(e)) => assert_eq!(e.name(), "n"),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn acquire_waits_exactly_and_in_fifo_order() {
    let (b, clock) = bucket(10.0, 2.0);
    b.try_acquire(2).unwrap();
    let p = Probe::new();
    let mut waiters: Vec<_> = (0..3).map(|_| Box::pin(b.acquire(1))).collect();
    for w in &mut waiters {
        assert!(p.poll_pinned(w.as_mut()).is_pending());
    }
    // Reservations: 100 ms, 200 ms, 300 ms.
    assert_eq!(
        clock.next_deadline(),
        Some(Instant::from_nanos(100_000_000))
    );
    // A newcomer cannot jump the queue.
    assert!(matches!(
        b.try_acquire(1),
        Err(TryAcquireError::Insufficient { .. })
    ));
    for (i, expected_ms) in [100u64, 200, 300].into_iter().enumerate() {
        clock.advance_to(Instant::from_nanos(expected_ms * 1_000_000));
        for (j, w) in waiters.iter_mut().enumerate() {
            let ready = p.poll_pinned(w.as_mut()).is_ready();
            assert_eq!(ready, j <= i, "at {expected_ms} ms waiter {j}");
        }
    }
}

#[test]
fn acquire_with_tokens_available_is_immediate() {
    let (b, clock) = bucket(1.0, 3.0);
    let p = Probe::new();
    assert_eq!(p.poll_pinned(pin!(b.acquire(3))), Poll::Ready(Ok(())));
    assert_eq!(clock.sleepers(), 0);
}

#[test]
fn cancelled_acquire_refunds_its_tokens() {
    let (b, clock) = bucket(10.0, 1.0);
    b.try_acquire(1).unwrap();
    let p = Probe::new();
    {
        let mut w = Box::pin(b.acquire(1));
        assert!(p.poll_pinned(w.as_mut()).is_pending());
    }
    assert_eq!(clock.sleepers(), 0, "the dropped waiter deregistered");
    clock.advance(ms(100));
    // As if the cancelled acquire had never happened.
    assert_eq!(b.try_acquire(1), Ok(()));
}

#[test]
fn acquire_dropped_after_its_time_still_refunds() {
    let (b, clock) = bucket(10.0, 1.0);
    b.try_acquire(1).unwrap();
    let p = Probe::new();
    let mut w = Box::pin(b.acquire(1));
    assert!(p.poll_pinned(w.as_mut()).is_pending());
    clock.advance(ms(100));
    drop(w); // woken, never polled again: the token was not taken
    assert_eq!(b.try_acquire(1), Ok(()));
}

#[test]
fn fractional_rates_round_to_whole_nanoseconds() {
    let (b, clock) = bucket(3.0, 1.0);
    assert_eq!(b.refill_interval(), Duration::from_nanos(333_333_333));
    b.try_acquire(1).unwrap();
    clock.advance(Duration::from_nanos(333_333_332));
    assert_eq!(
        b.try_acquire(1),
        Err(TryAcquireError::Insufficient {
            retry_after: Duration::from_nanos(1)
        })
    );
    clock.advance(Duration::from_nanos(1));
    b.try_acquire(1).unwrap();
}

#[test]
fn raises_its_audit_event() {
    let seen = crate::audit::extracting("asyncutils.buckets.TokenBucket", |e| {
        (
            e.get("rate").and_then(|v| v.as_f64()),
            e.get("capacity").and_then(|v| v.as_f64()),
        )
    });
    let _ = bucket(4.5, 9.0);
    assert!(seen.finish().contains(&(Some(4.5), Some(9.0))));
}

#[test]
fn concurrent_try_acquire_never_over_grants() {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    let clock = ManualClock::new();
    let b = Arc::new(TokenBucket::with_clock(1.0, 100.0, clock).unwrap());
    let granted = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (b, granted) = (b.clone(), granted.clone());
            std::thread::spawn(move || {
                for _ in 0..60 {
                    if b.try_acquire(1).is_ok() {
                        granted.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(granted.load(core::sync::atomic::Ordering::Relaxed), 100);
}

#[test]
fn dropping_an_older_reservation_never_lets_a_burst_exceed_capacity() {
    let (b, clock) = bucket(1.0, 1.0);
    b.try_acquire(1).unwrap();
    let p = Probe::new();
    let mut older = Box::pin(b.acquire(1));
    let mut newer = Box::pin(b.acquire(1));
    assert!(p.poll_pinned(older.as_mut()).is_pending());
    assert!(p.poll_pinned(newer.as_mut()).is_pending());
    drop(older); // the newer waiter's deadline rests on it: no refund
    clock.advance(Duration::from_secs(2));
    assert_eq!(p.poll_pinned(newer.as_mut()), Poll::Ready(Ok(())));
    assert_eq!(
        b.try_acquire(1),
        Err(TryAcquireError::Insufficient {
            retry_after: Duration::from_secs(1)
        })
    );
}

#[test]
fn rounding_is_exact_near_one_half() {
    assert_eq!(round_positive(0.499_999_999_999_999_94), 0.0);
    assert_eq!(round_positive(0.5), 1.0);
    assert_eq!(round_positive(2.5), 3.0);
    assert_eq!(round_positive(333_333_333.3), 333_333_333.0);
}
