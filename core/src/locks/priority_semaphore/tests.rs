use alloc::boxed::Box;
use alloc::vec::Vec;
use core::pin::Pin;
use core::task::Poll;
use core::time::Duration;

use super::*;
use crate::test_util::Probe;
use crate::time::{Instant, ManualClock, timeout};

type Waiting<'a> = Pin<Box<Acquire<'a>>>;

fn sem(n: usize) -> PrioritySemaphore {
    PrioritySemaphore::new(n).unwrap()
}

/// Starts `acquire_many(n, priority)` and asserts it waits.
fn wait<'a>(p: &Probe, s: &'a PrioritySemaphore, n: usize, priority: i32) -> Waiting<'a> {
    let mut fut = Box::pin(s.acquire_many(n, priority));
    assert!(p.poll_pinned(fut.as_mut()).is_pending());
    fut
}

fn ready<'a>(p: &Probe, fut: &mut Waiting<'a>) -> Permit<'a> {
    match p.poll_pinned(fut.as_mut()) {
        Poll::Ready(Ok(permit)) => permit,
        other => panic!("expected a permit, got {other:?}"),
    }
}

fn pending(p: &Probe, fut: &mut Waiting<'_>) {
    assert!(p.poll_pinned(fut.as_mut()).is_pending());
}

#[test]
fn uncontended_acquire_and_release() {
    let s = sem(2);
    let p = Probe::new();
    let a = match p.poll_pinned(core::pin::pin!(s.acquire(0))) {
        Poll::Ready(Ok(permit)) => permit,
        other => panic!("{other:?}"),
    };
    assert_eq!(a.num_permits(), 1);
    assert_eq!(s.available_permits(), 1);
    let b = s.try_acquire().unwrap();
    assert_eq!(s.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    drop((a, b));
    assert_eq!(s.available_permits(), 2);
    assert_eq!(s.total_permits(), 2);
    assert_eq!(s.waiters(), 0);
}

#[test]
fn waiters_are_served_by_priority_then_arrival() {
    let s = sem(1);
    let p = Probe::new();
    let held = s.try_acquire().unwrap();
    let prios = [5, 1, 5, -3, 1, 9];
    let mut futs: Vec<_> = prios.iter().map(|&pr| wait(&p, &s, 1, pr)).collect();
    assert_eq!(s.waiters(), 6);
    drop(held);
    // Expected order: -3 (idx 3), 1 (idx 1), 1 (idx 4), 5 (idx 0), 5 (idx 2), 9.
    let mut order = Vec::new();
    for _ in 0..prios.len() {
        let mut served = None;
        for (i, f) in futs.iter_mut().enumerate() {
            if order.contains(&i) {
                continue;
            }
            if let Poll::Ready(r) = p.poll_pinned(f.as_mut()) {
                assert!(served.is_none(), "two waiters hold the single permit");
                served = Some((i, r.unwrap()));
            }
        }
        let (i, permit) = served.expect("one waiter is served");
        order.push(i);
        drop(permit);
    }
    assert_eq!(order, [3, 1, 4, 0, 2, 5]);
    assert_eq!(s.available_permits(), 1);
    assert_eq!(s.waiters(), 0);
}

#[test]
fn release_wakes_exactly_the_head() {
    let s = sem(1);
    let (p1, p2) = (Probe::new(), Probe::new());
    let held = s.try_acquire().unwrap();
    let mut low = wait(&p1, &s, 1, 7);
    let mut high = wait(&p2, &s, 1, 2);
    drop(held);
    assert_eq!((p1.take_wakes(), p2.take_wakes()), (0, 1));
    pending(&p1, &mut low);
    let permit = ready(&p2, &mut high);
    drop(permit);
    assert_eq!(p1.take_wakes(), 1);
    drop(ready(&p1, &mut low));
}

#[test]
fn try_acquire_never_jumps_the_queue() {
    let s = sem(3);
    let p = Probe::new();
    let _held = s.try_acquire_many(2).unwrap();
    // Head wants 2, one is free: it waits, and the free one stays put.
    let mut big = wait(&p, &s, 2, 0);
    assert_eq!(s.available_permits(), 1);
    assert_eq!(s.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    // A later acquire of one, same priority, queues behind the big one.
    let mut small = wait(&p, &s, 1, 0);
    drop(_held);
    let big_permit = ready(&p, &mut big);
    assert_eq!(big_permit.num_permits(), 2);
    drop(ready(&p, &mut small));
}

#[test]
fn large_head_blocks_smaller_waiters_but_not_better_priority() {
    let s = sem(4);
    let p = Probe::new();
    let held = s.try_acquire_many(3).unwrap();
    let mut big = wait(&p, &s, 4, 5);
    let mut small_behind = wait(&p, &s, 1, 5);
    let mut small_worse = wait(&p, &s, 1, 9);
    // One is free, but the head wants four.
    assert_eq!(s.available_permits(), 1);
    pending(&p, &mut small_behind);
    pending(&p, &mut small_worse);
    // A better-priority waiter goes ahead and takes the free one at once.
    let urgent = ready(&p, &mut Box::pin(s.acquire(1)));
    assert_eq!(s.available_permits(), 0);
    drop(urgent);
    drop(held);
    let big_permit = ready(&p, &mut big);
    pending(&p, &mut small_behind);
    drop(big_permit);
    drop(ready(&p, &mut small_behind));
    drop(ready(&p, &mut small_worse));
}

#[test]
fn closed_versus_no_permits() {
    let s = sem(1);
    let p = Probe::new();
    let held = s.try_acquire().unwrap();
    assert_eq!(s.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    let mut a = wait(&p, &s, 1, 0);
    let mut b = wait(&p, &s, 2, 3);
    assert!(s.close());
    assert!(!s.close());
    assert!(s.is_closed());
    assert_eq!(p.take_wakes(), 2);
    assert_eq!(s.waiters(), 0);
    assert_eq!(
        p.poll_pinned(a.as_mut()).map(|r| r.err()),
        Poll::Ready(Some(AcquireError::Closed))
    );
    assert_eq!(
        p.poll_pinned(b.as_mut()).map(|r| r.err()),
        Poll::Ready(Some(AcquireError::Closed))
    );
    assert_eq!(s.try_acquire().unwrap_err(), TryAcquireError::Closed);
    assert_eq!(s.try_acquire_many(0).unwrap_err(), TryAcquireError::Closed);
    let mut late = Box::pin(s.acquire(0));
    assert!(matches!(
        p.poll_pinned(late.as_mut()),
        Poll::Ready(Err(AcquireError::Closed))
    ));
    // Held permits still come back.
    drop(held);
    assert_eq!(s.available_permits(), 1);
    assert_eq!(
        alloc::format!("{}", TryAcquireError::Closed),
        "the semaphore is closed"
    );
}

#[test]
fn close_wakes_more_waiters_than_one_wake_batch() {
    let s = sem(0);
    let p = Probe::new();
    let mut futs: Vec<_> = (0..40).map(|i| wait(&p, &s, 1, i % 3)).collect();
    s.close();
    assert_eq!(p.take_wakes(), 40);
    for f in &mut futs {
        assert!(matches!(
            p.poll_pinned(f.as_mut()),
            Poll::Ready(Err(AcquireError::Closed))
        ));
    }
}

#[test]
fn add_permits_serves_more_waiters_than_one_wake_batch() {
    let s = sem(0);
    let p = Probe::new();
    let mut futs: Vec<_> = (0..40).map(|_| wait(&p, &s, 1, 0)).collect();
    s.add_permits(40).unwrap();
    assert_eq!(p.take_wakes(), 40);
    assert_eq!(s.waiters(), 0);
    let permits: Vec<_> = futs.iter_mut().map(|f| ready(&p, f)).collect();
    assert_eq!(s.available_permits(), 0);
    drop(permits);
    assert_eq!(s.available_permits(), 40);
}

#[test]
fn invalid_arguments_are_errors_naming_the_argument() {
    assert_eq!(
        PrioritySemaphore::new(MAX_PERMITS + 1).unwrap_err().name(),
        "permits"
    );
    assert!(PrioritySemaphore::new(MAX_PERMITS).is_ok());
    let s = sem(1);
    match s.try_acquire_many(usize::MAX) {
        Err(TryAcquireError::Invalid(e)) => assert_eq!(e.name(), "n"),
        other => panic!("{other:?}"),
    }
    let p = Probe::new();
    match p.poll_pinned(core::pin::pin!(s.acquire_many(MAX_PERMITS + 1, 0))) {
        Poll::Ready(Err(AcquireError::Invalid(e))) => assert_eq!(e.name(), "n"),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.add_permits(MAX_PERMITS).unwrap_err().name(), "n");
    assert_eq!(s.set_permits(MAX_PERMITS + 1).unwrap_err().name(), "n");
    assert_eq!(s.total_permits(), 1);
    assert_eq!(s.available_permits(), 1);
}

#[test]
fn zero_permits_are_immediate() {
    let s = sem(0);
    let p = Probe::new();
    let permit = ready(&p, &mut Box::pin(s.acquire_many(0, 0)));
    assert_eq!(permit.num_permits(), 0);
    drop(permit);
    assert_eq!(s.try_acquire_many(0).unwrap().num_permits(), 0);
    assert_eq!(s.available_permits(), 0);
}

#[test]
fn dropped_granted_waiter_passes_permits_to_the_next() {
    let s = sem(1);
    let (p1, p2) = (Probe::new(), Probe::new());
    let held = s.try_acquire().unwrap();
    let first = wait(&p1, &s, 1, 0);
    let mut second = wait(&p2, &s, 1, 0);
    drop(held);
    // Assigned to `first`, which is dropped before it sees it.
    assert_eq!((p1.take_wakes(), p2.take_wakes()), (1, 0));
    assert_eq!(s.available_permits(), 0);
    drop(first);
    assert_eq!(p2.take_wakes(), 1);
    drop(ready(&p2, &mut second));
}

#[test]
fn dropped_granted_waiter_with_nobody_behind_returns_permits() {
    let s = sem(2);
    let p = Probe::new();
    let held = s.try_acquire_many(2).unwrap();
    let first = wait(&p, &s, 2, 0);
    drop(held);
    drop(first);
    assert_eq!(s.available_permits(), 2);
    // Back on the lock-free path.
    assert!(s.try_acquire_many(2).is_ok());
}

#[test]
fn dropped_head_unblocks_smaller_waiters() {
    let s = sem(2);
    let p = Probe::new();
    let held = s.try_acquire().unwrap();
    let big = wait(&p, &s, 2, 0);
    let mut small = wait(&p, &s, 1, 0);
    p.take_wakes();
    drop(big);
    assert_eq!(p.take_wakes(), 1);
    drop(ready(&p, &mut small));
    drop(held);
    assert_eq!(s.waiters(), 0);
}

#[test]
fn dropped_middle_waiter_keeps_the_order() {
    let s = sem(1);
    let p = Probe::new();
    let held = s.try_acquire().unwrap();
    let mut a = wait(&p, &s, 1, 0);
    let b = wait(&p, &s, 1, 1);
    let mut c = wait(&p, &s, 1, 2);
    drop(b);
    assert_eq!(s.waiters(), 2);
    drop(held);
    drop(ready(&p, &mut a));
    drop(ready(&p, &mut c));
}

#[test]
fn add_permits_serves_waiters_in_order() {
    let s = sem(0);
    let p = Probe::new();
    let mut a = wait(&p, &s, 2, 1);
    let mut b = wait(&p, &s, 1, 2);
    s.add_permits(1).unwrap();
    pending(&p, &mut a);
    pending(&p, &mut b);
    s.add_permits(2).unwrap();
    drop(ready(&p, &mut a));
    drop(ready(&p, &mut b));
    assert_eq!(s.total_permits(), 3);
}

#[test]
fn shrinking_takes_free_permits_now_and_held_ones_as_they_return() {
    let s = sem(4);
    let p = Probe::new();
    let a = s.try_acquire_many(3).unwrap();
    // One free: taken now; two owed.
    assert_eq!(s.forget_permits(3), 3);
    assert_eq!((s.total_permits(), s.available_permits()), (1, 0));
    // While in debt, nothing can be taken even when permits come back.
    let mut w = wait(&p, &s, 1, 0);
    assert_eq!(s.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    drop(a);
    // Three came back: two pay the debt, one goes to the waiter.
    let got = ready(&p, &mut w);
    assert_eq!(s.available_permits(), 0);
    drop(got);
    assert_eq!(s.available_permits(), 1);
    assert!(s.try_acquire().is_ok());
    // More than the total: clamped.
    assert_eq!(s.forget_permits(10), 1);
    assert_eq!((s.total_permits(), s.available_permits()), (0, 0));
}

#[test]
fn set_permits_grows_and_shrinks_and_growth_cancels_debt() {
    let s = sem(3);
    let held = s.try_acquire_many(3).unwrap();
    s.set_permits(1).unwrap();
    assert_eq!(s.total_permits(), 1);
    // Growing back cancels the debt instead of adding free permits.
    s.set_permits(2).unwrap();
    assert_eq!((s.total_permits(), s.available_permits()), (2, 0));
    drop(held);
    assert_eq!(s.available_permits(), 2);
    s.set_permits(5).unwrap();
    assert_eq!(s.available_permits(), 5);
    s.set_permits(0).unwrap();
    assert_eq!((s.total_permits(), s.available_permits()), (0, 0));
    assert_eq!(s.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
}

#[test]
fn forgetting_a_permit_shrinks_the_total_or_pays_debt() {
    let s = sem(3);
    let a = s.try_acquire_many(2).unwrap();
    a.forget();
    assert_eq!((s.total_permits(), s.available_permits()), (1, 1));
    let b = s.try_acquire().unwrap();
    assert_eq!(s.forget_permits(1), 1);
    assert_eq!(s.total_permits(), 0);
    // `b` is owed to the shrink: forgetting it pays the debt.
    b.forget();
    assert_eq!((s.total_permits(), s.available_permits()), (0, 0));
    s.add_permits(1).unwrap();
    assert!(s.try_acquire().is_ok(), "back on the fast path");
}

#[test]
fn owned_permits() {
    let s = Arc::new(sem(2));
    let p = Probe::new();
    let a = s.try_acquire_owned().unwrap();
    let mut fut = Box::pin(s.acquire_many_owned(2, 0));
    assert!(p.poll_pinned(fut.as_mut()).is_pending());
    drop(a);
    let permit = match p.poll_pinned(fut.as_mut()) {
        Poll::Ready(Ok(permit)) => permit,
        other => panic!("{other:?}"),
    };
    assert_eq!(permit.num_permits(), 2);
    assert!(Arc::ptr_eq(permit.semaphore(), &s));
    assert_eq!(
        s.try_acquire_many_owned(1).unwrap_err(),
        TryAcquireError::NoPermits
    );
    drop(permit);
    let b = s.try_acquire_many_owned(2).unwrap();
    b.forget();
    assert_eq!(s.total_permits(), 0);
    // A dropped owned acquire leaves the queue.
    let fut = {
        let mut f = Box::pin(s.acquire_owned(3));
        assert!(p.poll_pinned(f.as_mut()).is_pending());
        f
    };
    assert_eq!(s.waiters(), 1);
    drop(fut);
    assert_eq!(s.waiters(), 0);
}

#[test]
fn debug_output_needs_no_bounds() {
    let s = sem(2);
    let permit = s.try_acquire().unwrap();
    let text = alloc::format!("{s:?} {permit:?} {:?}", s.acquire(4));
    assert!(text.contains("available: 1"), "{text}");
    assert!(text.contains("Permit { n: 1 }"), "{text}");
    assert!(text.contains("priority: 4"), "{text}");
}

/// Timing out an acquire (on the manual clock) at exactly its deadline
/// leaves no trace: no permit lost, no waiter left.
#[test]
fn timeout_expires_exactly_and_leaks_nothing() {
    let clock = ManualClock::new();
    let s = sem(1);
    let p = Probe::new();
    let held = s.try_acquire().unwrap();
    let mut fut = Box::pin(timeout(&clock, Duration::from_millis(250), s.acquire(0)));
    assert!(p.poll_pinned(fut.as_mut()).is_pending());
    assert_eq!(
        clock.next_deadline(),
        Some(Instant::from_nanos(250_000_000))
    );
    clock.advance(Duration::from_nanos(249_999_999));
    assert!(p.poll_pinned(fut.as_mut()).is_pending());
    clock.advance(Duration::from_nanos(1));
    assert!(matches!(p.poll_pinned(fut.as_mut()), Poll::Ready(Err(_))));
    drop(fut);
    assert_eq!(s.waiters(), 0);
    drop(held);
    assert_eq!(s.available_permits(), 1);
    assert!(s.try_acquire().is_ok());
}

#[test]
fn cancellation_at_every_poll_point_never_leaks_permits() {
    // Scenario: one permit held; the subject waits; a second waiter waits
    // behind; the holder releases; the subject is polled to completion.
    // Dropping the subject at any step must leave the permit with the
    // second waiter, or free.
    for cut in 0..6 {
        let s = sem(1);
        let (p, q) = (Probe::new(), Probe::new());
        let held = s.try_acquire().unwrap();
        let mut subject: Option<Waiting<'_>> = Some(Box::pin(s.acquire(0)));
        let mut step = 0;
        let mut got = None;
        let mut checkpoint = |subject: &mut Option<Waiting<'_>>| {
            if step == cut {
                *subject = None;
            }
            step += 1;
        };
        checkpoint(&mut subject);
        if let Some(f) = subject.as_mut() {
            assert!(p.poll_pinned(f.as_mut()).is_pending());
        }
        checkpoint(&mut subject);
        let mut other = Box::pin(s.acquire(0));
        assert!(q.poll_pinned(other.as_mut()).is_pending());
        checkpoint(&mut subject);
        drop(held);
        checkpoint(&mut subject);
        if let Some(f) = subject.as_mut() {
            got = Some(ready(&p, f));
        }
        checkpoint(&mut subject);
        let subject_won = got.is_some();
        drop(got);
        // Whoever was left gets the permit; it is never lost.
        let second = ready(&q, &mut other);
        assert_eq!(s.available_permits(), 0, "cut {cut}");
        drop(second);
        assert_eq!(s.available_permits(), 1, "cut {cut}");
        assert_eq!(s.waiters(), 0, "cut {cut}");
        assert_eq!(subject_won, cut >= 4, "cut {cut}");
    }
}

// === loom models ===

mod models {
    use super::*;
    use crate::loom::model::{block_on, model, thread};

    /// The lock-free fast path: two takers race for the last permit while
    /// it is released; nothing is lost or doubled.
    #[test]
    fn fast_path_take_and_release_conserve_permits() {
        model(|| {
            let s = Arc::new(PrioritySemaphore::new(1).unwrap());
            let s2 = s.clone();
            let t = thread::spawn(move || s2.try_acquire().map(|p| p.num_permits()).is_ok());
            let here = s.try_acquire().map(|p| p.num_permits()).is_ok();
            let there = t.join().unwrap();
            assert!(here || there);
            assert_eq!(s.available_permits(), 1);
        });
    }

    /// A release racing with a waiter registering: the waiter is always
    /// served (no lost wake-up).
    #[test]
    fn release_racing_with_a_waiter_never_loses_the_wakeup() {
        model(|| {
            let s = Arc::new(PrioritySemaphore::new(1).unwrap());
            let held = s.try_acquire_owned().unwrap();
            let t = thread::spawn(move || drop(held));
            let permit = block_on(s.acquire(0)).unwrap();
            drop(permit);
            t.join().unwrap();
            assert_eq!(s.available_permits(), 1);
            assert_eq!(s.waiters(), 0);
        });
    }

    /// Two waiters and a releaser: both are served, one after the other.
    #[test]
    fn two_waiters_share_one_permit() {
        model(|| {
            let s = Arc::new(PrioritySemaphore::new(1).unwrap());
            let s2 = s.clone();
            let t = thread::spawn(move || {
                let p = block_on(s2.acquire(1)).unwrap();
                drop(p);
            });
            let p = block_on(s.acquire(0)).unwrap();
            drop(p);
            t.join().unwrap();
            assert_eq!(s.available_permits(), 1);
        });
    }
}

#[test]
fn semaphore_and_futures_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<PrioritySemaphore>();
    send::<Acquire<'static>>();
    send::<AcquireOwned>();
    send_sync::<Permit<'static>>();
    send_sync::<OwnedPermit>();
}
