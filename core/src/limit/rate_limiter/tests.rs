use alloc::boxed::Box;
use alloc::vec::Vec;
use core::time::Duration;

use super::*;
use crate::test_util::Probe;
use crate::time::ManualClock;

fn limiter(limit: usize, period_ms: u64) -> (RateLimiter<ManualClock>, ManualClock) {
    let clock = ManualClock::new();
    let l =
        RateLimiter::with_clock(limit, Duration::from_millis(period_ms), clock.clone()).unwrap();
    (l, clock)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn invalid_arguments_are_errors_naming_them() {
    let clock = ManualClock::new();
    assert_eq!(
        RateLimiter::with_clock(0, ms(1), clock.clone())
            .unwrap_err()
            .name(),
        "limit"
    );
    assert_eq!(
        RateLimiter::with_clock(1, Duration::ZERO, clock)
            .unwrap_err()
            .name(),
        "period"
    );
}

#[test]
fn released_permits_count_for_one_period_after_release() {
    let (l, clock) = limiter(2, 100);
    let a = l.try_acquire().unwrap();
    let b = l.try_acquire().unwrap();
    assert_eq!(l.try_acquire().unwrap_err(), TryAcquirePermitError::Busy);
    clock.advance(ms(30));
    drop(a); // stamped at 30 ms
    assert_eq!(
        l.try_acquire().unwrap_err(),
        TryAcquirePermitError::WindowFull {
            retry_after: ms(100)
        }
    );
    clock.advance(ms(99));
    assert_eq!(l.available(), 0);
    clock.advance(ms(1));
    assert_eq!(l.available(), 1);
    let c = l.try_acquire().unwrap();
    drop((b, c));
    assert_eq!(l.available(), 0, "both stamped now");
}

#[test]
fn waiters_are_served_in_order_at_exact_instants() {
    let (l, clock) = limiter(1, 100);
    drop(l.try_acquire().unwrap()); // stamped at 0
    let probes: Vec<Probe> = (0..3).map(|_| Probe::new()).collect();
    let mut waiters: Vec<_> = (0..3).map(|_| Box::pin(l.acquire())).collect();
    for (w, p) in waiters.iter_mut().zip(&probes) {
        assert!(p.poll_pinned(w.as_mut()).is_pending());
    }
    assert_eq!(
        clock.sleepers(),
        1,
        "only the first in line watches the clock"
    );
    assert_eq!(
        clock.next_deadline(),
        Some(Instant::from_nanos(100_000_000))
    );
    // try_acquire may not jump the queue.
    assert_eq!(l.try_acquire().unwrap_err(), TryAcquirePermitError::Busy);
    clock.advance(ms(100));
    assert_eq!(probes[0].take_wakes(), 1);
    assert!(
        probes[1].poll_pinned(waiters[1].as_mut()).is_pending(),
        "not first"
    );
    let Poll::Ready(first) = probes[0].poll_pinned(waiters[0].as_mut()) else {
        panic!("first waiter not served at 100 ms");
    };
    assert_eq!(
        probes[1].take_wakes(),
        1,
        "the next in line is woken to watch"
    );
    assert!(
        probes[1].poll_pinned(waiters[1].as_mut()).is_pending(),
        "slot held"
    );
    drop(first); // stamped at 100 ms
    assert_eq!(probes[1].take_wakes(), 1);
    assert!(probes[1].poll_pinned(waiters[1].as_mut()).is_pending());
    assert_eq!(
        clock.next_deadline(),
        Some(Instant::from_nanos(200_000_000))
    );
    clock.advance(ms(100));
    assert!(probes[1].poll_pinned(waiters[1].as_mut()).is_ready());
}

#[test]
fn a_dropped_first_waiter_passes_its_turn() {
    let (l, clock) = limiter(1, 100);
    drop(l.try_acquire().unwrap());
    let (p0, p1) = (Probe::new(), Probe::new());
    let mut first = Box::pin(l.acquire());
    let mut second = Box::pin(l.acquire());
    assert!(p0.poll_pinned(first.as_mut()).is_pending());
    assert!(p1.poll_pinned(second.as_mut()).is_pending());
    drop(first);
    assert_eq!(p1.take_wakes(), 1);
    assert_eq!(clock.sleepers(), 0);
    assert!(p1.poll_pinned(second.as_mut()).is_pending());
    assert_eq!(clock.sleepers(), 1, "the new first watches the clock");
    clock.advance(ms(100));
    assert!(p1.poll_pinned(second.as_mut()).is_ready());
}

#[test]
fn a_dropped_waiter_takes_nothing() {
    let (l, clock) = limiter(1, 100);
    drop(l.try_acquire().unwrap());
    let p = Probe::new();
    let mut w = Box::pin(l.acquire());
    assert!(p.poll_pinned(w.as_mut()).is_pending());
    clock.advance(ms(100));
    drop(w); // woken, never polled again
    assert_eq!(l.available(), 1);
    assert!(l.try_acquire().is_ok());
}

#[test]
fn the_window_allows_bursts_up_to_the_limit_and_no_more() {
    let rt = crate::rt::VirtualRuntime::new();
    let l = RateLimiter::with_clock(3, ms(1000), rt.clone()).unwrap();
    let times = rt.block_on(async {
        let mut times = Vec::new();
        for _ in 0..7 {
            drop(l.acquire().await);
            times.push(rt.clock().now().as_nanos() / 1_000_000);
        }
        times
    });
    assert_eq!(times, [0, 0, 0, 1000, 1000, 1000, 2000]);
}
