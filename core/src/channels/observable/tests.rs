use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::pin::pin;
use core::task::Poll;
use core::time::Duration;
use std::sync::Mutex as StdMutex;

use futures_core::Stream;

use super::*;
use crate::error::ErrorGroup;
use crate::test_util::Probe;
use crate::time::{Elapsed, Instant, ManualClock};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn at(n: u64) -> Instant {
    Instant::from_nanos(n * 1_000_000)
}

type Log<T> = Arc<StdMutex<Vec<T>>>;

fn log<T>() -> Log<T> {
    Arc::new(StdMutex::new(Vec::new()))
}

fn taken<T: Clone>(log: &Log<T>) -> Vec<T> {
    core::mem::take(&mut *log.lock().unwrap())
}

/// A sync observer appending every value to `log`.
fn recorder<T: Clone + Send + 'static>(log: &Log<T>) -> Observer<T> {
    let log = log.clone();
    Observer::sync(move |v: &T| log.lock().unwrap().push(v.clone()))
}

/// An async observer that logs `(name, value)` when called and again
/// (`name` uppercased) after sleeping `d` on `clock`.
fn sleeper(
    clock: &ManualClock,
    d: Duration,
    name: &'static str,
    log: &Log<(String, u32)>,
) -> Observer<u32> {
    let (clock, log) = (clock.clone(), log.clone());
    Observer::new(move |v: u32| {
        let (clock, log) = (clock.clone(), log.clone());
        log.lock().unwrap().push((name.into(), v));
        async move {
            clock.sleep(d).await;
            log.lock().unwrap().push((name.to_uppercase(), v));
        }
    })
}

fn entry(name: &str, v: u32) -> (String, u32) {
    (name.into(), v)
}

#[derive(Debug)]
struct Failed(u32);

impl core::fmt::Display for Failed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "observer failed on {}", self.0)
    }
}

impl core::error::Error for Failed {}

// === subscribing and notifying ===

#[test]
fn sync_observers_see_every_value_in_subscription_order() {
    let obs = Observable::new();
    let seen = log();
    let a = {
        let seen = seen.clone();
        obs.subscribe(Observer::sync(move |v: &u32| {
            seen.lock().unwrap().push(('a', *v))
        }))
    };
    let b = {
        let seen = seen.clone();
        obs.subscribe(Observer::sync(move |v: &u32| {
            seen.lock().unwrap().push(('b', *v))
        }))
    };
    let p = Probe::new();
    assert!(matches!(
        p.poll_pinned(pin!(obs.notify(1))),
        Poll::Ready(Ok(()))
    ));
    assert_eq!(taken(&seen), [('a', 1), ('b', 1)]);
    assert_eq!(obs.observer_count(), 2);
    assert!(a.unsubscribe());
    assert!(matches!(
        p.poll_pinned(pin!(obs.notify(2))),
        Poll::Ready(Ok(()))
    ));
    assert_eq!(taken(&seen), [('b', 2)]);
    drop(b);
    assert_eq!(obs.observer_count(), 0);
    assert!(obs.is_idle());
}

#[test]
fn async_observers_run_concurrently_inside_notify() {
    let clock = ManualClock::new();
    let obs = Observable::new();
    let seen = log();
    let _a = obs.subscribe(sleeper(&clock, ms(10), "a", &seen));
    let _b = obs.subscribe(sleeper(&clock, ms(20), "b", &seen));
    let p = Probe::new();
    let mut notify = pin!(obs.notify(7));
    assert!(p.poll_pinned(notify.as_mut()).is_pending());
    // Both started at once: concurrent, not one after the other.
    assert_eq!(taken(&seen), [entry("a", 7), entry("b", 7)]);
    assert!(obs.is_notifying());
    clock.advance(ms(10));
    assert!(p.poll_pinned(notify.as_mut()).is_pending());
    assert_eq!(taken(&seen), [entry("A", 7)]);
    clock.advance(ms(10));
    assert!(matches!(
        p.poll_pinned(notify.as_mut()),
        Poll::Ready(Ok(()))
    ));
    assert_eq!(taken(&seen), [entry("B", 7)]);
    assert!(obs.is_idle());
}

#[test]
fn notify_sequential_runs_one_observer_after_another() {
    let clock = ManualClock::new();
    let obs = Observable::new();
    let seen = log();
    let _a = obs.subscribe(sleeper(&clock, ms(10), "a", &seen));
    let _b = obs.subscribe(sleeper(&clock, ms(10), "b", &seen));
    let p = Probe::new();
    let mut notify = pin!(obs.notify_sequential(3));
    assert!(p.poll_pinned(notify.as_mut()).is_pending());
    assert_eq!(taken(&seen), [entry("a", 3)]);
    clock.advance(ms(10));
    assert!(p.poll_pinned(notify.as_mut()).is_pending());
    assert_eq!(taken(&seen), [entry("A", 3), entry("b", 3)]);
    clock.advance(ms(10));
    assert!(p.poll_pinned(notify.as_mut()).is_ready());
    assert_eq!(taken(&seen), [entry("B", 3)]);
    assert_eq!(clock.now(), at(20));
}

#[test]
fn a_notification_during_another_is_queued_and_completed_by_it() {
    let clock = ManualClock::new();
    let obs = Observable::new();
    let seen = log();
    let _a = obs.subscribe(sleeper(&clock, ms(10), "a", &seen));
    let p = Probe::new();
    let mut first = pin!(obs.notify(1));
    assert!(p.poll_pinned(first.as_mut()).is_pending());
    // Queued: returns at once.
    assert!(matches!(
        p.poll_pinned(pin!(obs.notify(2))),
        Poll::Ready(Ok(()))
    ));
    assert!(matches!(
        p.poll_pinned(pin!(obs.notify(3))),
        Poll::Ready(Ok(()))
    ));
    assert_eq!(obs.queued(), 2);
    assert_eq!(taken(&seen), [entry("a", 1)]);
    for t in [10, 20] {
        clock.advance_to(at(t));
        assert!(p.poll_pinned(first.as_mut()).is_pending());
    }
    clock.advance_to(at(30));
    assert!(p.poll_pinned(first.as_mut()).is_ready());
    assert_eq!(
        taken(&seen),
        [
            entry("A", 1),
            entry("a", 2),
            entry("A", 2),
            entry("a", 3),
            entry("A", 3)
        ]
    );
    assert!(obs.is_idle());
}

#[test]
fn a_full_queue_makes_notify_wait_first_come_first_served() {
    let clock = ManualClock::new();
    let obs = Observable::with_maxsize(1).unwrap();
    assert_eq!(obs.maxsize(), Some(1));
    let seen = log();
    let _a = obs.subscribe(sleeper(&clock, ms(10), "a", &seen));
    let p = Probe::new();
    let mut runner = pin!(obs.notify(1));
    assert!(p.poll_pinned(runner.as_mut()).is_pending());
    assert!(p.poll_pinned(pin!(obs.notify(2))).is_ready());
    let mut third = Box::pin(obs.notify(3));
    let mut fourth = Box::pin(obs.notify(4));
    assert!(p.poll_pinned(third.as_mut()).is_pending());
    assert!(p.poll_pinned(fourth.as_mut()).is_pending());
    assert!(matches!(obs.try_notify(9), Err(TryNotifyError::Full(9))));
    // The runner finishes 1 and takes 2: room for one, the third is first.
    p.take_wakes();
    clock.advance(ms(10));
    assert!(p.poll_pinned(runner.as_mut()).is_pending());
    assert!(p.take_wakes() >= 1);
    assert!(
        p.poll_pinned(fourth.as_mut()).is_pending(),
        "the fourth waits its turn"
    );
    assert!(p.poll_pinned(third.as_mut()).is_ready());
    assert!(p.poll_pinned(fourth.as_mut()).is_pending());
    clock.advance_to(at(20));
    assert!(p.poll_pinned(runner.as_mut()).is_pending());
    assert!(p.poll_pinned(fourth.as_mut()).is_ready(), "room again");
    clock.advance_to(at(30));
    assert!(p.poll_pinned(runner.as_mut()).is_pending());
    clock.advance_to(at(40));
    assert!(p.poll_pinned(runner.as_mut()).is_ready());
    let values: Vec<u32> = taken(&seen)
        .into_iter()
        .filter(|(n, _)| n == "a")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(values, [1, 2, 3, 4]);
}

#[test]
fn without_accumulation_notifications_run_side_by_side() {
    let clock = ManualClock::new();
    let obs = Observable::without_accumulation();
    assert!(!obs.is_accumulating());
    let seen = log();
    let _a = obs.subscribe(sleeper(&clock, ms(10), "a", &seen));
    let p = Probe::new();
    let mut one = pin!(obs.notify(1));
    let mut two = pin!(obs.notify(2));
    assert!(p.poll_pinned(one.as_mut()).is_pending());
    assert!(p.poll_pinned(two.as_mut()).is_pending());
    assert_eq!(taken(&seen), [entry("a", 1), entry("a", 2)]);
    assert!(matches!(
        obs.try_notify(3),
        Err(TryNotifyError::NotAccumulating(3))
    ));
    clock.advance(ms(10));
    assert!(p.poll_pinned(one.as_mut()).is_ready());
    assert!(p.poll_pinned(two.as_mut()).is_ready());
    assert!(obs.start_accumulation());
    assert!(!obs.start_accumulation());
    assert!(obs.stop_accumulation());
    assert!(!obs.stop_accumulation());
}

#[test]
fn try_notify_queues_only_behind_a_running_notification() {
    let clock = ManualClock::new();
    let obs = Observable::new();
    let seen = log();
    let _a = obs.subscribe(sleeper(&clock, ms(10), "a", &seen));
    assert!(matches!(obs.try_notify(1), Err(TryNotifyError::Idle(1))));
    assert_eq!(TryNotifyError::Idle(5).into_inner(), 5);
    let p = Probe::new();
    let mut runner = pin!(obs.notify(1));
    assert!(p.poll_pinned(runner.as_mut()).is_pending());
    assert_eq!(obs.try_notify(2), Ok(()));
    clock.advance(ms(10));
    assert!(p.poll_pinned(runner.as_mut()).is_pending());
    clock.advance(ms(10));
    assert!(p.poll_pinned(runner.as_mut()).is_ready());
    assert_eq!(taken(&seen).len(), 4);
}

// === errors ===

#[test]
fn failures_are_collected_and_the_others_still_run() {
    let obs = Observable::new();
    let seen = log();
    let _ok = obs.subscribe(recorder(&seen));
    let _bad = obs.subscribe(Observer::sync(|v: &u32| {
        if v % 2 == 1 { Err(Failed(*v)) } else { Ok(()) }
    }));
    let _bad_async = obs.subscribe(Observer::new(|v: u32| async move {
        if v == 3 { Err(Failed(v + 100)) } else { Ok(()) }
    }));
    let _after = obs.subscribe(recorder(&seen));
    let p = Probe::new();
    let Poll::Ready(Err(group)) = p.poll_pinned(pin!(obs.notify(3))) else {
        panic!("expected failures")
    };
    assert_eq!(group.message(), "observers failed");
    let mut msgs: Vec<String> = group.iter().map(|e| alloc::format!("{e}")).collect();
    msgs.sort();
    assert_eq!(msgs, ["observer failed on 103", "observer failed on 3"]);
    assert_eq!(taken(&seen), [3, 3]);
    assert!(matches!(
        p.poll_pinned(pin!(obs.notify(2))),
        Poll::Ready(Ok(()))
    ));
}

#[test]
fn failures_of_a_derived_observable_are_nested_in_the_source_result() {
    let obs = Observable::new();
    let doubled = obs.map(|v: &u32| v * 2);
    let _bad = doubled.subscribe(Observer::sync(|v: &u32| Err::<(), _>(Failed(*v))));
    let p = Probe::new();
    let Poll::Ready(Err(group)) = p.poll_pinned(pin!(obs.notify(4))) else {
        panic!("expected failures")
    };
    assert_eq!(group.len(), 1);
    assert!(group.errors()[0].is::<ErrorGroup>());
    let flat = group.flatten();
    assert_eq!(flat.len(), 1);
    assert_eq!(
        alloc::format!("{}", flat.errors()[0]),
        "observer failed on 8"
    );
}

// === subscription timing ===

#[test]
fn ntimes_removes_the_observer_after_n_notifications() {
    let obs = Observable::new();
    let seen = log();
    let handle = obs.ntimes(recorder(&seen), 2).unwrap();
    let p = Probe::new();
    for v in 1..=4 {
        assert!(p.poll_pinned(pin!(obs.notify(v))).is_ready());
    }
    assert_eq!(taken(&seen), [1, 2]);
    assert!(!handle.is_subscribed());
    assert!(!handle.unsubscribe(), "already removed itself");
    assert_eq!(obs.ntimes(recorder(&seen), 0).unwrap_err().name(), "n");
}

#[test]
fn subscribe_now_misses_the_running_notification_but_sees_queued_ones() {
    let clock = ManualClock::new();
    let obs = Observable::new();
    let seen = log();
    let _a = obs.subscribe(sleeper(&clock, ms(10), "a", &seen));
    let p = Probe::new();
    let mut runner = pin!(obs.notify(1));
    assert!(p.poll_pinned(runner.as_mut()).is_pending());
    assert!(p.poll_pinned(pin!(obs.notify(2))).is_ready());
    let late = log();
    let now = obs.subscribe(recorder(&late));
    let eventually = obs.subscribe_eventually(recorder(&late));
    assert!(eventually.is_subscribed());
    clock.advance(ms(10));
    assert!(p.poll_pinned(runner.as_mut()).is_pending());
    clock.advance(ms(10));
    assert!(p.poll_pinned(runner.as_mut()).is_ready());
    // `now` saw 2 (queued); `eventually` was added at the boundary after 1,
    // so it saw 2 as well.
    assert_eq!(taken(&late), [2, 2]);
    drop((now, eventually));
}

#[test]
fn unsubscribe_eventually_waits_for_the_boundary() {
    let clock = ManualClock::new();
    let obs = Observable::new();
    let seen = log();
    let _a = obs.subscribe(sleeper(&clock, ms(10), "a", &seen));
    let watcher = log();
    let handle = obs.subscribe(recorder(&watcher));
    let p = Probe::new();
    let mut runner = pin!(obs.notify(1));
    assert!(p.poll_pinned(runner.as_mut()).is_pending());
    assert!(p.poll_pinned(pin!(obs.notify(2))).is_ready());
    handle.unsubscribe_eventually();
    assert_eq!(obs.observer_count(), 2, "still there until the boundary");
    clock.advance(ms(10));
    assert!(p.poll_pinned(runner.as_mut()).is_pending());
    assert_eq!(obs.observer_count(), 1);
    clock.advance(ms(10));
    assert!(p.poll_pinned(runner.as_mut()).is_ready());
    assert_eq!(taken(&watcher), [1]);
    // Idle: eventually means now.
    let handle = obs.subscribe(recorder(&watcher));
    handle.unsubscribe_eventually();
    assert_eq!(obs.observer_count(), 1);
}

#[test]
fn unsubscribe_now_stops_calls_not_yet_started() {
    let clock = ManualClock::new();
    let obs = Observable::new();
    let seen = log();
    let _a = obs.subscribe(sleeper(&clock, ms(10), "a", &seen));
    let later = log();
    let b = obs.subscribe(recorder(&later));
    let p = Probe::new();
    let mut runner = pin!(obs.notify_sequential(1));
    assert!(p.poll_pinned(runner.as_mut()).is_pending());
    assert!(b.unsubscribe());
    clock.advance(ms(10));
    assert!(p.poll_pinned(runner.as_mut()).is_ready());
    assert!(taken(&later).is_empty());
}

#[test]
fn subscribe_and_unsubscribe_when_idle_wait_for_idleness() {
    let clock = ManualClock::new();
    let obs = Observable::new();
    let seen = log();
    let a = obs.subscribe(sleeper(&clock, ms(10), "a", &seen));
    let p = Probe::new();
    let mut runner = pin!(obs.notify(1));
    assert!(p.poll_pinned(runner.as_mut()).is_pending());
    let late = log();
    let mut sub = pin!(obs.subscribe_when_idle(recorder(&late)));
    assert!(p.poll_pinned(sub.as_mut()).is_pending());
    let mut unsub = pin!(a.unsubscribe_when_idle());
    assert!(p.poll_pinned(unsub.as_mut()).is_pending());
    assert_eq!(obs.observer_count(), 1);
    p.take_wakes();
    clock.advance(ms(10));
    assert!(p.poll_pinned(runner.as_mut()).is_ready());
    assert!(p.take_wakes() >= 2, "the idle waiters were woken");
    let Poll::Ready(handle) = p.poll_pinned(sub.as_mut()) else {
        panic!("subscribed once idle")
    };
    assert_eq!(p.poll_pinned(unsub.as_mut()), Poll::Ready(true));
    assert!(p.poll_pinned(pin!(obs.notify(2))).is_ready());
    assert_eq!(taken(&late), [2]);
    drop(handle);
}

// === waiting ===

#[test]
fn wait_for_next_resolves_to_the_next_value_with_an_exact_timeout() {
    let clock = ManualClock::new();
    let obs: Observable<u32> = Observable::new();
    let p = Probe::new();
    let mut next = pin!(obs.wait_for_next_timeout(&clock, ms(100)));
    assert!(p.poll_pinned(next.as_mut()).is_pending());
    assert_eq!(obs.observer_count(), 1);
    clock.advance(ms(99));
    assert!(p.poll_pinned(next.as_mut()).is_pending());
    clock.advance(ms(1));
    assert_eq!(p.poll_pinned(next.as_mut()), Poll::Ready(Err(Elapsed)));
    let mut next = pin!(obs.wait_for_next_timeout(&clock, ms(100)));
    assert!(p.poll_pinned(next.as_mut()).is_pending());
    clock.advance(ms(30));
    assert!(p.poll_pinned(pin!(obs.notify(5))).is_ready());
    assert_eq!(p.poll_pinned(next.as_mut()), Poll::Ready(Ok(5)));
    assert_eq!(obs.observer_count(), 0, "the one-shot observer is gone");
}

#[test]
fn dropped_wait_for_next_unsubscribes() {
    let obs: Observable<u32> = Observable::new();
    let p = Probe::new();
    {
        let mut next = Box::pin(obs.wait_for_next());
        assert!(p.poll_pinned(next.as_mut()).is_pending());
        assert_eq!(obs.observer_count(), 1);
    }
    assert_eq!(obs.observer_count(), 0);
}

#[test]
fn wait_until_idle_waits_for_the_queue_too() {
    let clock = ManualClock::new();
    let obs = Observable::new();
    let seen = log();
    let _a = obs.subscribe(sleeper(&clock, ms(10), "a", &seen));
    let p = Probe::new();
    assert!(p.poll_pinned(pin!(obs.wait_until_idle())).is_ready());
    let mut runner = pin!(obs.notify(1));
    assert!(p.poll_pinned(runner.as_mut()).is_pending());
    assert!(p.poll_pinned(pin!(obs.notify(2))).is_ready());
    let mut idle = pin!(obs.wait_until_idle());
    assert!(p.poll_pinned(idle.as_mut()).is_pending());
    clock.advance(ms(10));
    assert!(p.poll_pinned(runner.as_mut()).is_pending());
    assert!(p.poll_pinned(idle.as_mut()).is_pending());
    clock.advance(ms(10));
    assert!(p.poll_pinned(runner.as_mut()).is_ready());
    assert!(p.poll_pinned(idle.as_mut()).is_ready());
}

// === cancellation ===

#[test]
fn a_dropped_runner_leaves_its_queue_to_the_next_waiter() {
    let clock = ManualClock::new();
    let obs = Observable::new();
    let seen = log();
    let _a = obs.subscribe(sleeper(&clock, ms(10), "a", &seen));
    let p = Probe::new();
    let mut runner = Box::pin(obs.notify(1));
    assert!(p.poll_pinned(runner.as_mut()).is_pending());
    assert!(p.poll_pinned(pin!(obs.notify(2))).is_ready());
    let mut idle = pin!(obs.wait_until_idle());
    assert!(p.poll_pinned(idle.as_mut()).is_pending());
    p.take_wakes();
    drop(runner);
    assert_eq!(p.take_wakes(), 1, "the idle waiter is told");
    assert_eq!(
        clock.sleepers(),
        0,
        "the abandoned observer call is dropped"
    );
    // The idle waiter runs the orphaned value.
    assert!(p.poll_pinned(idle.as_mut()).is_pending());
    clock.advance(ms(10));
    assert!(p.poll_pinned(idle.as_mut()).is_ready());
    assert_eq!(taken(&seen), [entry("a", 1), entry("a", 2), entry("A", 2)]);
    assert!(obs.is_idle());
}

#[test]
fn a_new_notify_runs_orphaned_values_first() {
    let clock = ManualClock::new();
    let obs = Observable::new();
    let seen = log();
    let _a = obs.subscribe(sleeper(&clock, ms(10), "a", &seen));
    let p = Probe::new();
    let mut runner = Box::pin(obs.notify(1));
    assert!(p.poll_pinned(runner.as_mut()).is_pending());
    assert!(p.poll_pinned(pin!(obs.notify(2))).is_ready());
    drop(runner);
    let mut next = pin!(obs.notify(3));
    assert!(p.poll_pinned(next.as_mut()).is_pending());
    clock.advance(ms(10));
    assert!(p.poll_pinned(next.as_mut()).is_pending());
    clock.advance(ms(10));
    assert!(p.poll_pinned(next.as_mut()).is_ready());
    let order: Vec<u32> = taken(&seen)
        .into_iter()
        .filter(|(n, _)| n == "a")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(order, [1, 2, 3]);
}

#[test]
fn notify_dropped_at_every_poll_point_keeps_the_observable_consistent() {
    for cut in 0..6 {
        let clock = ManualClock::new();
        let obs = Observable::with_maxsize(1).unwrap();
        let seen = log();
        let _a = obs.subscribe(sleeper(&clock, ms(10), "a", &seen));
        let p = Probe::new();
        let mut runner = Some(Box::pin(obs.notify(1)));
        let mut waiting = Some(Box::pin(obs.notify(2)));
        let mut polls = 0;
        let mut step = |f: &mut Option<Pin<Box<Notify<u32>>>>| {
            if polls == cut {
                *f = None;
            }
            polls += 1;
            if let Some(fut) = f.as_mut() {
                if p.poll_pinned(fut.as_mut()).is_ready() {
                    *f = None;
                }
            }
        };
        step(&mut runner);
        step(&mut waiting);
        clock.advance(ms(10));
        step(&mut runner);
        step(&mut waiting);
        clock.advance(ms(10));
        step(&mut runner);
        drop((runner, waiting));
        // Whatever was dropped where, a flush finishes what was accepted and
        // the observable ends idle and usable.
        let mut flush = pin!(obs.flush());
        while p.poll_pinned(flush.as_mut()).is_pending() {
            assert!(clock.advance_to_next(), "cut {cut}: the flush is stuck");
        }
        assert!(obs.is_idle(), "cut {cut}");
        assert!(p.poll_pinned(pin!(obs.wait_until_idle())).is_ready());
        let calls = taken(&seen);
        let started: Vec<u32> = calls
            .iter()
            .filter(|(n, _)| n == "a")
            .map(|(_, v)| *v)
            .collect();
        assert!(
            started.windows(2).all(|w| w[0] < w[1]),
            "cut {cut}: in order"
        );
    }
}

// === accumulation control ===

#[test]
fn restart_accumulation_flushes_or_drops_the_queue() {
    let clock = ManualClock::new();
    let obs = Observable::new();
    let seen = log();
    let _a = obs.subscribe(sleeper(&clock, ms(10), "a", &seen));
    let p = Probe::new();
    let mut runner = Box::pin(obs.notify(1));
    assert!(p.poll_pinned(runner.as_mut()).is_pending());
    assert!(p.poll_pinned(pin!(obs.notify(2))).is_ready());
    obs.stop_accumulation();
    // Without flush: the queued value is dropped, accumulation is back on.
    assert!(matches!(
        p.poll_pinned(pin!(obs.restart_accumulation(false))),
        Poll::Ready(Ok(()))
    ));
    assert!(obs.is_accumulating());
    assert_eq!(obs.queued(), 0);
    assert!(p.poll_pinned(pin!(obs.notify(3))).is_ready());
    // With flush: waits for the queue to drain.
    let mut restart = pin!(obs.restart_accumulation(true));
    assert!(p.poll_pinned(restart.as_mut()).is_pending());
    clock.advance(ms(10));
    assert!(p.poll_pinned(runner.as_mut()).is_pending());
    clock.advance(ms(10));
    assert!(p.poll_pinned(runner.as_mut()).is_ready());
    assert!(matches!(
        p.poll_pinned(restart.as_mut()),
        Poll::Ready(Ok(()))
    ));
    let order: Vec<u32> = taken(&seen)
        .into_iter()
        .filter(|(n, _)| n == "a")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(order, [1, 3]);
}

// === operators ===

fn notify_now<T: Clone + Send + 'static>(obs: &Observable<T>, v: T) {
    let p = Probe::new();
    assert!(matches!(
        p.poll_pinned(pin!(obs.notify(v))),
        Poll::Ready(Ok(()))
    ));
}

#[test]
fn filter_map_fork_and_merge() {
    let a = Observable::new();
    let b = Observable::new();
    let evens = log();
    let _e = a.filter(|v: &u32| v % 2 == 0).subscribe(recorder(&evens));
    let strings = log();
    let mapped = a.map(|v: &u32| alloc::format!("#{v}"));
    let _s = mapped.subscribe(recorder(&strings));
    let forked = log();
    let fork = a.fork();
    let _f = fork.subscribe(recorder(&forked));
    let merged = log();
    let both = a.merge([&b]);
    let _m = both.subscribe(recorder(&merged));
    for v in 1..=4 {
        notify_now(&a, v);
        notify_now(&b, v * 10);
    }
    assert_eq!(taken(&evens), [2, 4]);
    assert_eq!(taken(&strings), ["#1", "#2", "#3", "#4"]);
    assert_eq!(taken(&forked), [1, 2, 3, 4]);
    assert_eq!(taken(&merged), [1, 10, 2, 20, 3, 30, 4, 40]);
    // Dropping a derived observable unsubscribes it from its sources.
    assert_eq!(a.observer_count(), 4);
    drop(fork);
    drop(_f);
    assert_eq!(a.observer_count(), 3);
    drop((both, _m));
    assert_eq!((a.observer_count(), b.observer_count()), (2, 0));
}

#[test]
fn at_change_and_buffer() {
    let obs = Observable::new();
    let changes = log();
    let _c = obs
        .at_change(|v: &u32| v / 10)
        .subscribe(recorder(&changes));
    let batches = log();
    let _b = obs.buffer(3).unwrap().subscribe(recorder(&batches));
    for v in [1, 2, 11, 12, 13, 3, 4] {
        notify_now(&obs, v);
    }
    assert_eq!(taken(&changes), [1, 11, 3]);
    assert_eq!(taken(&batches), [vec![1, 2, 11], vec![12, 13, 3]]);
    assert_eq!(obs.buffer(0).unwrap_err().name(), "count");
}

#[test]
fn throttle_lets_one_value_through_per_interval_exactly() {
    let clock = ManualClock::new();
    let obs = Observable::new();
    let passed = log();
    let throttled = obs.throttle(clock.clone(), ms(100)).unwrap();
    let _t = throttled.subscribe(recorder(&passed));
    for t in [0, 50, 99, 100, 150, 199, 200, 350] {
        clock.advance_to(at(t));
        notify_now(&obs, t);
    }
    assert_eq!(taken(&passed), [0, 100, 200, 350]);
    assert_eq!(
        obs.throttle(clock, Duration::ZERO).unwrap_err().name(),
        "interval"
    );
}

#[test]
fn debounce_emits_the_last_value_of_a_burst_after_the_delay_exactly() {
    let clock = ManualClock::new();
    let obs = Observable::new();
    let (debounced, driver) = obs.debounce(clock.clone(), ms(100)).unwrap();
    let emitted = log();
    let stamp = clock.clone();
    let em = emitted.clone();
    let _d = debounced.subscribe(Observer::sync(move |v: &u64| {
        em.lock().unwrap().push((*v, stamp.now()));
    }));
    let p = Probe::new();
    let mut driver = pin!(driver);
    assert!(p.poll_pinned(driver.as_mut()).is_pending());
    for t in [0, 50, 120] {
        clock.advance_to(at(t));
        notify_now(&obs, t);
        assert!(p.poll_pinned(driver.as_mut()).is_pending());
    }
    assert_eq!(clock.next_deadline(), Some(at(220)));
    clock.advance_to(at(219));
    assert!(p.poll_pinned(driver.as_mut()).is_pending());
    assert!(taken(&emitted).is_empty());
    clock.advance_to(at(220));
    assert!(p.poll_pinned(driver.as_mut()).is_pending());
    assert_eq!(taken(&emitted), [(120, at(220))]);
    // A lone value later: emitted `delay` after it.
    clock.advance_to(at(500));
    notify_now(&obs, 500);
    assert!(p.poll_pinned(driver.as_mut()).is_pending());
    clock.advance_to_next();
    assert!(p.poll_pinned(driver.as_mut()).is_pending());
    assert_eq!(taken(&emitted), [(500, at(600))]);
    // The source gone and nothing pending: the driver completes.
    drop(obs);
    assert!(matches!(
        p.poll_pinned(driver.as_mut()),
        Poll::Ready(Ok(()))
    ));
}

#[test]
fn debounce_driver_finishes_the_pending_value_after_the_source_is_gone() {
    let clock = ManualClock::new();
    let obs = Observable::new();
    let (debounced, driver) = obs.debounce(clock.clone(), ms(10)).unwrap();
    let emitted = log();
    let _d = debounced.subscribe(recorder(&emitted));
    notify_now(&obs, 1);
    drop(obs);
    let p = Probe::new();
    let mut driver = pin!(driver);
    assert!(p.poll_pinned(driver.as_mut()).is_pending());
    clock.advance(ms(10));
    assert!(p.poll_pinned(driver.as_mut()).is_ready());
    assert_eq!(taken(&emitted), [1]);
    let obs: Observable<u8> = Observable::new();
    assert_eq!(
        obs.debounce(clock, Duration::ZERO).unwrap_err().name(),
        "delay"
    );
}

#[test]
fn debounce_reports_observer_failures_when_it_completes() {
    let clock = ManualClock::new();
    let obs = Observable::new();
    let (debounced, driver) = obs.debounce(clock.clone(), ms(10)).unwrap();
    let _d = debounced.subscribe(Observer::sync(|v: &u32| Err::<(), _>(Failed(*v))));
    notify_now(&obs, 1);
    let p = Probe::new();
    let mut driver = pin!(driver);
    assert!(p.poll_pinned(driver.as_mut()).is_pending());
    clock.advance(ms(10));
    assert!(p.poll_pinned(driver.as_mut()).is_pending());
    drop(obs);
    let Poll::Ready(Err(group)) = p.poll_pinned(driver.as_mut()) else {
        panic!("expected the failure")
    };
    assert_eq!(group.flatten().len(), 1);
}

// === stream ===

#[test]
fn stream_is_lossless_with_backpressure() {
    let obs = Observable::new();
    let mut stream = Box::pin(obs.stream(2).unwrap());
    let p = Probe::new();
    assert!(p.poll_pinned(pin!(obs.notify(1))).is_ready());
    assert!(p.poll_pinned(pin!(obs.notify(2))).is_ready());
    assert_eq!(stream.buffered(), 2);
    // Full: the third notification waits for the stream.
    let mut third = pin!(obs.notify(3));
    assert!(p.poll_pinned(third.as_mut()).is_pending());
    assert_eq!(stream.size_hint(), (2, None));
    let next = |s: &mut Pin<Box<Notifications<u32>>>| {
        s.as_mut().poll_next(&mut Context::from_waker(&p_waker()))
    };
    assert_eq!(next(&mut stream), Poll::Ready(Some(1)));
    assert!(matches!(p.poll_pinned(third.as_mut()), Poll::Ready(Ok(()))));
    assert_eq!(next(&mut stream), Poll::Ready(Some(2)));
    assert_eq!(next(&mut stream), Poll::Ready(Some(3)));
    assert!(next(&mut stream).is_pending());
    drop(obs);
    assert_eq!(next(&mut stream), Poll::Ready(None));
}

fn p_waker() -> core::task::Waker {
    core::task::Waker::noop().clone()
}

#[test]
fn a_dropped_stream_releases_a_waiting_notification() {
    let obs = Observable::new();
    let stream = obs.stream(1).unwrap();
    let p = Probe::new();
    assert!(p.poll_pinned(pin!(obs.notify(1))).is_ready());
    let mut second = pin!(obs.notify(2));
    assert!(p.poll_pinned(second.as_mut()).is_pending());
    p.take_wakes();
    drop(stream);
    assert_eq!(p.take_wakes(), 1);
    assert!(p.poll_pinned(second.as_mut()).is_ready());
    assert_eq!(obs.observer_count(), 0);
    assert_eq!(obs.stream(0).unwrap_err().name(), "capacity");
}

// === construction ===

#[test]
fn invalid_maxsize_is_an_error_naming_it() {
    assert_eq!(
        Observable::<u8>::with_maxsize(0).unwrap_err().name(),
        "maxsize"
    );
}

#[test]
fn raises_its_audit_event_with_maxsize() {
    let seen = crate::audit::extracting("asyncutils.channels.Observable", |e| {
        e.get("maxsize").map(|v| v.as_u64())
    });
    let _a = Observable::<u8>::with_maxsize(7).unwrap();
    let _b = Observable::<u8>::new();
    let events = seen.finish();
    assert!(events.contains(&Some(Some(7))));
    assert!(events.contains(&Some(None)));
}

#[test]
fn debug_needs_no_debug_bound() {
    struct Opaque;
    impl Clone for Opaque {
        fn clone(&self) -> Self {
            Opaque
        }
    }
    let obs = Observable::<Opaque>::new();
    let handle = obs.subscribe(Observer::sync(|_: &Opaque| ()));
    let s = alloc::format!(
        "{obs:?} {handle:?} {:?} {:?}",
        obs.notify(Opaque),
        obs.wait_for_next()
    );
    assert!(s.contains("Observable"));
}

#[test]
fn observers_may_subscribe_and_notify_from_inside_a_notification() {
    let obs = Observable::new();
    let inner = obs.clone();
    let seen = log();
    let seen2 = seen.clone();
    let _reentrant = obs.subscribe(Observer::new(move |v: u32| {
        let inner = inner.clone();
        let seen = seen2.clone();
        async move {
            if v < 3 {
                // Queued behind the running notification: no deadlock.
                inner.notify(v + 1).await.unwrap();
                inner
                    .subscribe(Observer::sync(move |w: &u32| seen.lock().unwrap().push(*w)))
                    .forget();
            }
        }
    }));
    notify_now(&obs, 1);
    assert_eq!(taken(&seen), [2, 3, 3]);
}
