use alloc::boxed::Box;
use alloc::vec::Vec;
use core::pin::pin;
use core::task::Poll;
use core::time::Duration;

use super::*;
use crate::test_util::Probe;
use crate::time::ManualClock;

/// A factor pinned at 1: no adaptation.
const FIXED: AdaptiveFactor = AdaptiveFactor {
    initial: 1.0,
    min: 1.0,
    max: 1.0,
};

fn fixed(capacity: f64, leak: f64) -> (LeakyBucket<ManualClock>, ManualClock) {
    let clock = ManualClock::new();
    (
        LeakyBucket::with_factor(capacity, leak, FIXED, clock.clone()).unwrap(),
        clock,
    )
}

fn adaptive(capacity: f64, leak: f64) -> (LeakyBucket<ManualClock>, ManualClock) {
    let clock = ManualClock::new();
    (
        LeakyBucket::with_clock(capacity, leak, clock.clone()).unwrap(),
        clock,
    )
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn full(retry_after: Duration) -> Result<(), LeakyAcquireError> {
    Err(LeakyAcquireError::Full { retry_after })
}

#[test]
fn starts_empty_fills_and_leaks_exactly() {
    let (b, clock) = fixed(10.0, 2.0);
    assert_eq!((b.level(), b.available()), (0.0, 10.0));
    b.try_acquire(4).unwrap();
    clock.advance(ms(500));
    assert_eq!(b.level(), 3.0);
    b.try_acquire(7).unwrap();
    assert_eq!(b.try_acquire(1), full(ms(500)));
    assert_eq!(b.try_acquire(3), full(ms(1500)));
    clock.advance(ms(250));
    assert_eq!(b.level(), 9.5);
    assert_eq!(b.try_acquire(1), full(ms(250)));
    clock.advance(ms(250));
    b.try_acquire(1).unwrap();
    // The level stops at zero and does not store up leakage.
    clock.advance(Duration::from_secs(3600));
    assert_eq!(b.level(), 0.0);
    b.try_acquire(10).unwrap();
    assert_eq!(b.try_acquire(1), full(ms(500)));
}

#[test]
fn zero_always_succeeds() {
    let (b, _) = fixed(1.0, 1.0);
    b.try_acquire(1).unwrap();
    assert_eq!(b.try_acquire(0), Ok(()));
    let p = Probe::new();
    let mut w = Box::pin(b.wait_for_tokens(1));
    assert!(p.poll_pinned(w.as_mut()).is_pending());
    assert_eq!(b.try_acquire(0), Ok(()));
    assert_eq!(
        p.poll_pinned(pin!(b.wait_for_tokens(0))),
        Poll::Ready(Ok(Duration::ZERO))
    );
}

#[test]
fn fractional_rates_carry_their_remainder() {
    // 3 units per second: one unit every 333 333 333.3 ns.
    let (b, clock) = fixed(1.0, 3.0);
    b.try_acquire(1).unwrap();
    assert_eq!(b.try_acquire(1), full(Duration::from_nanos(333_333_334)));
    clock.advance(Duration::from_nanos(333_333_333));
    assert_eq!(b.try_acquire(1), full(Duration::from_nanos(1)));
    clock.advance(Duration::from_nanos(1));
    b.try_acquire(1).unwrap();
    // Three units leak in exactly one second however often it is read.
    let (b, clock) = fixed(3.0, 3.0);
    b.try_acquire(3).unwrap();
    for _ in 0..1000 {
        clock.advance(ms(1));
        let _ = b.level();
    }
    assert_eq!(b.level(), 0.0);
    let (c, clock2) = fixed(3.0, 3.0);
    c.try_acquire(3).unwrap();
    clock2.advance(ms(999));
    assert_eq!(c.level(), 0.003);
}

#[test]
fn the_factor_adapts_to_the_level() {
    // Marks at 2 (low) and 6 (high) units; factor 1 in [0.5, 2].
    let (b, clock) = adaptive(8.0, 1.0);
    b.try_acquire(1).unwrap();
    assert_eq!(b.factor(), 2.0, "level 1 < 2: doubled");
    assert_eq!(b.leak_rate(), 2.0);
    b.try_acquire(1).unwrap();
    assert_eq!(b.factor(), 2.0, "level 2 is not below the mark; at max");
    b.try_acquire(5).unwrap();
    assert_eq!(b.factor(), 1.0, "level 7 > 6: halved");
    b.try_acquire(1).unwrap();
    assert_eq!(b.factor(), 0.5, "level 8 > 6: halved");
    assert_eq!(b.try_acquire(1), full(Duration::from_secs(2)));
    clock.advance(Duration::from_secs(2));
    b.try_acquire(1).unwrap();
    assert_eq!(b.factor(), 0.5, "clamped at min");
    // Refusals and reads do not adapt.
    let _ = b.try_acquire(8);
    assert_eq!(b.factor(), 0.5);
}

#[test]
fn set_and_reset_factor() {
    let (b, clock) = adaptive(10.0, 2.0);
    b.try_acquire(5).unwrap(); // between the marks
    assert_eq!(b.set_factor(10.0), Ok(2.0), "clamped to max");
    assert_eq!(b.set_factor(f64::NEG_INFINITY), Ok(0.5), "clamped to min");
    assert_eq!(b.set_factor(f64::NAN).unwrap_err().name(), "factor");
    assert_eq!(b.factor(), 0.5);
    clock.advance(Duration::from_secs(1)); // leaks 1 at 0.5 × 2
    assert_eq!(b.set_factor(1.5), Ok(1.5));
    assert_eq!(b.level(), 4.0, "drained at the old rate until the change");
    clock.advance(Duration::from_secs(1)); // leaks 3
    assert_eq!(b.level(), 1.0);
    b.reset_factor();
    assert_eq!(b.factor(), 1.0);
    assert_eq!(b.factor_bounds(), AdaptiveFactor::default());
}

#[test]
fn invalid_arguments_are_errors_naming_the_argument() {
    let clock = ManualClock::new();
    let with = |capacity, leak, factor| {
        LeakyBucket::with_factor(capacity, leak, factor, clock.clone())
            .map(drop)
            .unwrap_err()
            .name()
    };
    let d = AdaptiveFactor::default();
    for capacity in [f64::NAN, 0.0, -1.0, f64::INFINITY, 1e-12, 1e10] {
        assert_eq!(with(capacity, 1.0, d), "capacity", "{capacity}");
    }
    for leak in [f64::NAN, 0.0, -1.0, f64::INFINITY, 2e9] {
        assert_eq!(with(1.0, leak, d), "leak", "{leak}");
    }
    let f = |initial, min, max| AdaptiveFactor { initial, min, max };
    for min in [f64::NAN, 0.0, -1.0, f64::INFINITY] {
        assert_eq!(with(1.0, 1.0, f(1.0, min, 2.0)), "factor.min", "{min}");
    }
    for max in [f64::NAN, 0.0, -1.0, f64::INFINITY, 0.5, 1e10] {
        assert_eq!(with(1.0, 1.0, f(1.0, 1.0, max)), "factor.max", "{max}");
    }
    assert_eq!(with(1.0, 1e-6, f(1e-6, 1e-6, 1.0)), "factor.min");
    for initial in [f64::NAN, 0.1, 3.0] {
        assert_eq!(with(1.0, 1.0, f(initial, 0.5, 2.0)), "factor.initial");
    }
    let (b, _) = fixed(3.5, 1.0);
    for amount in [4, u64::MAX] {
        match b.try_acquire(amount) {
            Err(LeakyAcquireError::Invalid(e)) => assert_eq!(e.name(), "amount"),
            other => panic!("unexpected {other:?}"),
        }
    }
    b.try_acquire(3).unwrap();
    let p = Probe::new();
    match p.poll_pinned(pin!(b.wait_for_tokens(4))) {
        Poll::Ready(Err(e)) => assert_eq!(e.name(), "amount"),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn waiters_are_fifo_and_wait_exactly() {
    let (b, clock) = fixed(10.0, 1.0);
    b.try_acquire(10).unwrap();
    let p = Probe::new();
    let mut big = Box::pin(b.wait_for_tokens(8));
    let mut small = Box::pin(b.wait_for_tokens(1));
    assert!(p.poll_pinned(big.as_mut()).is_pending());
    assert!(p.poll_pinned(small.as_mut()).is_pending());
    assert_eq!(b.waiters(), 2);
    // Only the head sleeps on the clock.
    assert_eq!(clock.next_deadline(), Some(Instant::from_nanos(8 * NANO)));
    assert_eq!(clock.sleepers(), 1);
    assert_eq!(
        b.try_acquire(1),
        Err(LeakyAcquireError::Queued { waiters: 2 })
    );
    clock.advance(Duration::from_secs(1));
    assert!(p.poll_pinned(small.as_mut()).is_pending(), "no overtaking");
    clock.advance(Duration::from_secs(7));
    assert_eq!(
        p.poll_pinned(big.as_mut()),
        Poll::Ready(Ok(Duration::from_secs(8)))
    );
    // The small one was woken as the new head and fits a second later.
    assert!(p.take_wakes() >= 1);
    assert!(p.poll_pinned(small.as_mut()).is_pending());
    assert_eq!(clock.next_deadline(), Some(Instant::from_nanos(9 * NANO)));
    // Polled late: still granted at the exact instant it fit.
    clock.advance(Duration::from_secs(5));
    assert_eq!(
        p.poll_pinned(small.as_mut()),
        Poll::Ready(Ok(Duration::from_secs(9)))
    );
    assert_eq!(b.level(), 6.0, "10 at 9 s, minus 4 leaked");
    // Completed futures repeat their result.
    assert_eq!(
        p.poll_pinned(small.as_mut()),
        Poll::Ready(Ok(Duration::from_secs(9)))
    );
    assert_eq!(b.level(), 6.0);
}

#[test]
fn grants_do_not_wait_for_polls() {
    let (b, clock) = fixed(2.0, 1.0);
    b.try_acquire(2).unwrap();
    let p = Probe::new();
    let mut waiters: Vec<_> = (0..3).map(|_| Box::pin(b.wait_for_tokens(1))).collect();
    for w in &mut waiters {
        assert!(p.poll_pinned(w.as_mut()).is_pending());
    }
    clock.advance(Duration::from_secs(10));
    // A try_acquire replays the queue first: granted at 1 s, 2 s, 3 s.
    assert_eq!(b.try_acquire(2), Ok(()), "level 2 - 10 + 3 clamps to 0");
    assert_eq!(b.waiters(), 0);
    for (i, w) in waiters.iter_mut().enumerate() {
        let secs = u64::try_from(i).unwrap() + 1;
        assert_eq!(
            p.poll_pinned(w.as_mut()),
            Poll::Ready(Ok(Duration::from_secs(secs)))
        );
    }
}

#[test]
fn set_factor_moves_the_head_deadline() {
    let (b, clock) = adaptive(4.0, 1.0);
    b.try_acquire(2).unwrap(); // between the marks: factor 1
    b.try_acquire(2).unwrap(); // 4 > 3: factor 0.5
    let p = Probe::new();
    let mut w = Box::pin(b.wait_for_tokens(2));
    assert!(p.poll_pinned(w.as_mut()).is_pending());
    assert_eq!(clock.next_deadline(), Some(Instant::from_nanos(4 * NANO)));
    b.set_factor(2.0).unwrap();
    assert_eq!(p.take_wakes(), 1, "the head re-plans");
    assert!(p.poll_pinned(w.as_mut()).is_pending());
    assert_eq!(clock.next_deadline(), Some(Instant::from_nanos(NANO)));
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        p.poll_pinned(w.as_mut()),
        Poll::Ready(Ok(Duration::from_secs(1)))
    );
}

#[test]
fn dropped_head_lets_the_next_move_up() {
    let (b, clock) = fixed(4.0, 1.0);
    b.try_acquire(4).unwrap();
    let p = Probe::new();
    let mut big = Box::pin(b.wait_for_tokens(4));
    let mut small = Box::pin(b.wait_for_tokens(1));
    assert!(p.poll_pinned(big.as_mut()).is_pending());
    assert!(p.poll_pinned(small.as_mut()).is_pending());
    let _ = p.take_wakes();
    drop(big);
    assert_eq!(clock.sleepers(), 0, "the dropped head deregistered");
    assert_eq!(p.take_wakes(), 1, "the new head was woken");
    assert_eq!(b.waiters(), 1);
    assert!(p.poll_pinned(small.as_mut()).is_pending());
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        p.poll_pinned(small.as_mut()),
        Poll::Ready(Ok(Duration::from_secs(1)))
    );
}

#[test]
fn dropped_after_its_grant_takes_its_amount_back() {
    let (b, clock) = fixed(2.0, 1.0);
    b.try_acquire(2).unwrap();
    let p = Probe::new();
    let mut w = Box::pin(b.wait_for_tokens(2));
    assert!(p.poll_pinned(w.as_mut()).is_pending());
    clock.advance(Duration::from_secs(2));
    assert_eq!(b.level(), 2.0, "granted at 2 s");
    drop(w);
    assert_eq!(b.level(), 0.0, "as if never granted");
    assert_eq!(b.waiters(), 0);
    b.try_acquire(2).unwrap();
}

#[test]
fn a_dropped_middle_waiter_leaves_no_gap() {
    let (b, clock) = fixed(3.0, 1.0);
    b.try_acquire(3).unwrap();
    let p = Probe::new();
    let mut ws: Vec<_> = (0..3)
        .map(|_| Some(Box::pin(b.wait_for_tokens(1))))
        .collect();
    for w in ws.iter_mut().flatten() {
        assert!(p.poll_pinned(w.as_mut()).is_pending());
    }
    ws[1] = None;
    clock.advance(Duration::from_secs(2));
    let mut first = ws[0].take().unwrap();
    let mut last = ws[2].take().unwrap();
    assert_eq!(
        p.poll_pinned(first.as_mut()),
        Poll::Ready(Ok(Duration::from_secs(1)))
    );
    assert_eq!(
        p.poll_pinned(last.as_mut()),
        Poll::Ready(Ok(Duration::from_secs(2)))
    );
}

#[test]
fn raises_its_audit_event() {
    let seen = crate::audit::extracting("asyncutils.buckets.LeakyBucket", |e| {
        (
            e.get("capacity").and_then(|v| v.as_f64()),
            e.get("leak").and_then(|v| v.as_f64()),
        )
    });
    let _ = fixed(7.5, 2.25);
    assert!(seen.finish().contains(&(Some(7.5), Some(2.25))));
}

#[test]
fn concurrent_try_acquire_never_over_fills() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (b, _clock) = fixed(100.0, 1.0);
    let b = Arc::new(b);
    let granted = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (b, granted) = (b.clone(), granted.clone());
            std::thread::spawn(move || {
                for _ in 0..60 {
                    if b.try_acquire(1).is_ok() {
                        granted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(granted.load(Ordering::Relaxed), 100);
}

#[test]
fn wake_list_overflow_is_handled() {
    // More grants at once than the wake list holds.
    let (b, clock) = fixed(1.0, 1.0);
    b.try_acquire(1).unwrap();
    let p = Probe::new();
    let mut ws: Vec<_> = (0..40).map(|_| Box::pin(b.wait_for_tokens(1))).collect();
    for w in &mut ws {
        assert!(p.poll_pinned(w.as_mut()).is_pending());
    }
    clock.advance(Duration::from_secs(100));
    assert_eq!(b.waiters(), 0);
    for (i, w) in ws.iter_mut().enumerate() {
        let secs = u64::try_from(i).unwrap() + 1;
        assert_eq!(
            p.poll_pinned(w.as_mut()),
            Poll::Ready(Ok(Duration::from_secs(secs)))
        );
    }
}

#[test]
fn debug_does_not_need_debug_clock() {
    let (b, _) = fixed(1.0, 1.0);
    let s = alloc::format!("{b:?}");
    assert!(s.contains("LeakyBucket"));
    let w = b.wait_for_tokens(1);
    assert!(alloc::format!("{w:?}").contains("WaitForTokens"));
}

#[test]
fn rounding_is_exact_near_one_half() {
    assert_eq!(round_positive(0.5), 1.0);
    assert_eq!(round_positive(0.499_999_999_999_999_94), 0.0);
}

#[test]
fn a_stale_grant_dropped_late_gives_back_only_what_has_not_leaked() {
    let (b, clock) = fixed(2.0, 10.0);
    b.try_acquire(2).unwrap();
    let p = Probe::new();
    let mut stale = Box::pin(b.wait_for_tokens(1));
    assert!(p.poll_pinned(stale.as_mut()).is_pending());
    clock.advance(Duration::from_secs(10)); // granted at 100 ms, leaked since
    b.try_acquire(2).unwrap();
    drop(stale);
    assert_eq!(b.level(), 2.0, "nothing to give back");
    assert_eq!(b.try_acquire(1), full(ms(100)));
}

#[test]
fn a_grant_dropped_part_leaked_gives_back_the_rest() {
    let (b, clock) = fixed(4.0, 1.0);
    b.try_acquire(4).unwrap();
    let p = Probe::new();
    let mut w = Box::pin(b.wait_for_tokens(2));
    assert!(p.poll_pinned(w.as_mut()).is_pending());
    clock.advance(Duration::from_secs(2)); // granted at 2 s: level 4
    clock.advance(Duration::from_secs(3)); // level 1: one unit of the grant leaked
    drop(w);
    assert_eq!(b.level(), 0.0);
    // A twin that never saw the waiter: 4 units leaked by 4 s, empty at 5 s.
    clock.advance(Duration::from_secs(1));
    b.try_acquire(4).unwrap();
}
