use alloc::boxed::Box;
use alloc::string::ToString;
use alloc::vec::Vec;
use core::pin::pin;
use core::task::Poll;
use core::time::Duration;

use super::*;
use crate::test_util::Probe;

#[test]
fn instant_arithmetic_saturates_instead_of_panicking() {
    let t = Instant::from_nanos(10);
    assert_eq!(t + Duration::from_nanos(5), Instant::from_nanos(15));
    assert_eq!(t - Duration::from_nanos(50), Instant::ZERO);
    assert_eq!(Instant::MAX + Duration::from_secs(1), Instant::MAX);
    assert_eq!(Instant::ZERO - t, Duration::ZERO);
    assert_eq!(t.checked_sub(Duration::from_nanos(11)), None);
    assert_eq!(Instant::MAX.checked_add(Duration::from_nanos(1)), None);
    assert_eq!(
        t.checked_duration_since(Instant::from_nanos(4)),
        Some(Duration::from_nanos(6))
    );
    assert_eq!(Instant::ZERO.saturating_add(Duration::MAX), Instant::MAX);
}

#[test]
fn std_instants_round_trip_on_the_shared_epoch() {
    let _ = Instant::now_std(); // fixes the epoch before `now` is taken
    let now = std::time::Instant::now();
    let ours = Instant::from_std(now);
    let back = ours.to_std();
    let diff = if back > now { back - now } else { now - back };
    assert!(diff < Duration::from_micros(1));
    assert!(Instant::now_std() >= ours);
    // Before the epoch saturates to zero.
    let before = now.checked_sub(Duration::from_secs(3600));
    if let Some(before) = before {
        assert_eq!(Instant::from_std(before), Instant::ZERO);
    }
}

#[test]
fn manual_clock_wakes_sleepers_in_deadline_order() {
    let clock = ManualClock::new();
    let probes: Vec<Probe> = (0..3).map(|_| Probe::new()).collect();
    let mut sleeps: Vec<_> = [30u64, 10, 20]
        .iter()
        .map(|&ms| Box::pin(clock.sleep(Duration::from_millis(ms))))
        .collect();
    for (s, p) in sleeps.iter_mut().zip(&probes) {
        assert!(p.poll_pinned(s.as_mut()).is_pending());
    }
    assert_eq!(clock.sleepers(), 3);
    assert_eq!(clock.next_deadline(), Some(Instant::from_nanos(10_000_000)));
    clock.advance(Duration::from_millis(15));
    let woken: Vec<usize> = probes.iter().map(Probe::take_wakes).collect();
    assert_eq!(woken, [0, 1, 0]);
    assert!(clock.advance_to_next());
    assert_eq!(clock.now(), Instant::from_nanos(20_000_000));
    assert_eq!(probes[2].take_wakes(), 1);
    // Dropping a registered sleep removes it.
    drop(sleeps.remove(0));
    assert_eq!(clock.next_deadline(), None);
    assert!(!clock.advance_to_next());
}

#[test]
fn manual_clock_never_goes_backwards() {
    let clock = ManualClock::starting_at(Instant::from_nanos(100));
    clock.advance_to(Instant::from_nanos(50));
    assert_eq!(clock.now(), Instant::from_nanos(100));
    let p = Probe::new();
    // A deadline in the past completes at once.
    assert_eq!(
        p.poll_pinned(pin!(clock.sleep_until(Instant::ZERO))),
        Poll::Ready(())
    );
}

#[test]
fn timeout_prefers_the_future_at_the_deadline_and_elapses_after() {
    let clock = ManualClock::new();
    let p = Probe::new();
    let ready = timeout(&clock, Duration::ZERO, core::future::ready(1));
    assert_eq!(p.poll_pinned(pin!(ready)), Poll::Ready(Ok(1)));

    let mut slow = pin!(timeout(
        &clock,
        Duration::from_secs(1),
        core::future::pending::<()>()
    ));
    assert!(p.poll_pinned(slow.as_mut()).is_pending());
    clock.advance(Duration::from_millis(999));
    assert!(p.poll_pinned(slow.as_mut()).is_pending());
    clock.advance(Duration::from_millis(1));
    assert_eq!(p.poll_pinned(slow.as_mut()), Poll::Ready(Err(Elapsed)));
    assert_eq!(Elapsed.to_string(), "deadline has elapsed");
}

#[test]
fn timeout_at_uses_an_absolute_deadline() {
    let clock = ManualClock::starting_at(Instant::from_nanos(1_000));
    let p = Probe::new();
    let mut t = pin!(timeout_at(
        &clock,
        Instant::from_nanos(1_500),
        core::future::pending::<()>()
    ));
    assert!(p.poll_pinned(t.as_mut()).is_pending());
    clock.advance_to(Instant::from_nanos(1_500));
    assert_eq!(p.poll_pinned(t.as_mut()), Poll::Ready(Err(Elapsed)));
}
