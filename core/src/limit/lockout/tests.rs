use alloc::boxed::Box;
use alloc::vec::Vec;
use core::task::Poll;
use core::time::Duration;

use super::*;
use crate::test_util::Probe;
use crate::time::ManualClock;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn overlapping_lockouts_end_with_the_last() {
    let clock = ManualClock::new();
    let lockout = Lockout::with_clock(clock.clone());
    assert!(!lockout.is_locked());
    let p = Probe::new();
    assert_eq!(
        p.poll_pinned(core::pin::pin!(lockout.enter())),
        Poll::Ready(())
    );
    lockout.lockout_for(secs(5));
    lockout.lockout_for(secs(2));
    assert_eq!(lockout.locked_until(), Instant::from_nanos(5_000_000_000));
    let mut entering = Box::pin(lockout.enter());
    assert!(p.poll_pinned(entering.as_mut()).is_pending());
    clock.advance(secs(4));
    assert!(p.poll_pinned(entering.as_mut()).is_pending());
    clock.advance(secs(1));
    assert_eq!(p.poll_pinned(entering.as_mut()), Poll::Ready(()));
}

#[test]
fn an_extension_while_waiting_is_honoured() {
    let clock = ManualClock::new();
    let lockout = Lockout::with_clock(clock.clone());
    lockout.lockout_for(secs(1));
    let p = Probe::new();
    let mut entering = Box::pin(lockout.enter());
    assert!(p.poll_pinned(entering.as_mut()).is_pending());
    lockout.lockout_for(secs(3));
    clock.advance(secs(1));
    assert_eq!(p.take_wakes(), 1, "woken at the old end");
    assert!(
        p.poll_pinned(entering.as_mut()).is_pending(),
        "re-armed for the new end"
    );
    assert_eq!(
        clock.next_deadline(),
        Some(Instant::from_nanos(3_000_000_000))
    );
    clock.advance(secs(2));
    assert_eq!(p.poll_pinned(entering.as_mut()), Poll::Ready(()));
}

#[test]
fn fifo_entrants_pass_in_arrival_order_one_after_another() {
    let clock = ManualClock::new();
    let lockout = FifoLockout::with_clock(clock.clone());
    lockout.lockout_for(secs(1));
    let probes: Vec<Probe> = (0..3).map(|_| Probe::new()).collect();
    let mut entrants: Vec<_> = (0..3).map(|_| Box::pin(lockout.enter())).collect();
    for (e, p) in entrants.iter_mut().zip(&probes) {
        assert!(p.poll_pinned(e.as_mut()).is_pending());
    }
    assert_eq!(lockout.waiting(), 3);
    assert_eq!(
        clock.sleepers(),
        1,
        "only the first in line watches the clock"
    );
    clock.advance(secs(1));
    // Polled out of order: the second may not pass before the first.
    assert!(probes[1].poll_pinned(entrants[1].as_mut()).is_pending());
    assert_eq!(probes[0].poll_pinned(entrants[0].as_mut()), Poll::Ready(0));
    assert_eq!(probes[1].take_wakes(), 1, "the first wakes the second");
    assert_eq!(probes[1].poll_pinned(entrants[1].as_mut()), Poll::Ready(1));
    assert_eq!(probes[2].poll_pinned(entrants[2].as_mut()), Poll::Ready(2));
    assert_eq!(lockout.waiting(), 0);
}

#[test]
fn a_newcomer_queues_behind_waiting_entrants_even_when_open() {
    let clock = ManualClock::new();
    let lockout = FifoLockout::with_clock(clock.clone());
    lockout.lockout_for(secs(1));
    let p = Probe::new();
    let mut first = Box::pin(lockout.enter());
    assert!(p.poll_pinned(first.as_mut()).is_pending());
    clock.advance(secs(1));
    let mut late = Box::pin(lockout.enter());
    assert!(p.poll_pinned(late.as_mut()).is_pending());
    assert_eq!(p.poll_pinned(first.as_mut()), Poll::Ready(0));
    assert_eq!(p.poll_pinned(late.as_mut()), Poll::Ready(1));
    // Nobody waiting and open: passes at once, without queueing.
    assert_eq!(
        p.poll_pinned(core::pin::pin!(lockout.enter())),
        Poll::Ready(2)
    );
}

#[test]
fn dropping_the_first_in_line_wakes_the_next() {
    let clock = ManualClock::new();
    let lockout = FifoLockout::with_clock(clock.clone());
    lockout.lockout_for(secs(1));
    let (p0, p1) = (Probe::new(), Probe::new());
    let mut first = Box::pin(lockout.enter());
    let mut second = Box::pin(lockout.enter());
    assert!(p0.poll_pinned(first.as_mut()).is_pending());
    assert!(p1.poll_pinned(second.as_mut()).is_pending());
    drop(first);
    assert_eq!(p1.take_wakes(), 1);
    assert_eq!(clock.sleepers(), 0, "the dropped entrant's sleep is gone");
    assert!(
        p1.poll_pinned(second.as_mut()).is_pending(),
        "now first, still locked"
    );
    assert_eq!(clock.sleepers(), 1);
    clock.advance(secs(1));
    assert_eq!(
        p1.poll_pinned(second.as_mut()),
        Poll::Ready(0),
        "the first never passed"
    );
    assert_eq!(lockout.waiting(), 0);
}

#[test]
fn dropping_a_later_entrant_leaves_the_order_intact() {
    let clock = ManualClock::new();
    let lockout = FifoLockout::with_clock(clock.clone());
    lockout.lockout_for(secs(1));
    let p = Probe::new();
    let mut entrants: Vec<_> = (0..3).map(|_| Box::pin(lockout.enter())).collect();
    for e in &mut entrants {
        assert!(p.poll_pinned(e.as_mut()).is_pending());
    }
    drop(entrants.remove(1));
    assert_eq!(lockout.waiting(), 2);
    clock.advance(secs(1));
    assert_eq!(p.poll_pinned(entrants[0].as_mut()), Poll::Ready(0));
    assert_eq!(p.poll_pinned(entrants[1].as_mut()), Poll::Ready(1));
}
