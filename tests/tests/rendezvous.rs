//! `Rendezvous` conformance: the handoff in both orders, FIFO service of
//! putters and of getters, exchange pairing, `try_put`/`try_get` only with a
//! waiting counterpart, `reset` failing pending operations and handing
//! values back, `state` counts — on every executor; cancel safety of `Put`,
//! `Get` and `Exchange` by dropping each at every poll point; and a
//! 4 producers × 4 consumers stress run checking every value arrives
//! exactly once.

use std::sync::Arc;

use asyncutils_core::channels::{Rendezvous, ResetError, TryGetError, TryPutError};
use asyncutils_core::rt::JoinHandle;
use asyncutils_tests::cancel::{Subject, drop_at_every_poll_point};
use asyncutils_tests::{Manual, TestClock, TestRuntime, Tracked, conformance, stress_size, until};
use futures_lite::future;

/// `(puts, gets, exchanges)` from [`Rendezvous::state`].
fn counts<T>(rv: &Rendezvous<T>) -> (usize, usize, usize) {
    let s = rv.state();
    (s.puts, s.gets, s.exchanges)
}

async fn join_all<T>(handles: Vec<JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("task finished"));
    }
    out
}

// === handoff ===

conformance!(clock: handoff_within_one_task);
async fn handoff_within_one_task<C: TestClock>(_clock: C) {
    let rv = Rendezvous::new();
    // `zip` polls its left side first: the put waits, the get takes.
    let (put, got) = future::zip(rv.put(1), rv.get()).await;
    assert_eq!((put, got), (Ok(()), Ok(1)));
    // And the other way round: the get waits, the put hands over.
    let (got, put) = future::zip(rv.get(), rv.put(2)).await;
    assert_eq!((put, got), (Ok(()), Ok(2)));
    assert_eq!(counts(&rv), (0, 0, 0));
}

conformance!(handoff_across_tasks);
async fn handoff_across_tasks<R: TestRuntime>(rt: R) {
    let rv = Arc::new(Rendezvous::new());

    // Put first: the putter waits until a getter takes its value.
    let putter = rt.spawn({
        let rv = rv.clone();
        async move { rv.put("first").await }
    });
    until(|| rv.state().puts == 1).await;
    assert!(
        !putter.is_finished(),
        "a put completes only once its value is taken"
    );
    assert_eq!(rv.get().await, Ok("first"));
    assert_eq!(putter.await.expect("putter"), Ok(()));

    // Get first: the getter waits until a value arrives.
    let getter = rt.spawn({
        let rv = rv.clone();
        async move { rv.get().await }
    });
    until(|| rv.state().gets == 1).await;
    assert_eq!(rv.put("second").await, Ok(()));
    assert_eq!(getter.await.expect("getter"), Ok("second"));
    assert_eq!(counts(&rv), (0, 0, 0));
}

// === fairness ===

conformance!(putters_are_served_in_arrival_order);
async fn putters_are_served_in_arrival_order<R: TestRuntime>(rt: R) {
    const N: usize = 8;
    let rv = Arc::new(Rendezvous::new());
    let mut putters = Vec::new();
    for i in 0..N {
        let task_rv = rv.clone();
        putters.push(rt.spawn(async move { task_rv.put(i).await }));
        // The next putter arrives only once this one waits.
        until(|| rv.state().puts == i + 1).await;
    }
    let mut got = Vec::new();
    for _ in 0..N {
        got.push(rv.get().await.expect("get"));
    }
    assert_eq!(got, (0..N).collect::<Vec<_>>());
    assert!(join_all(putters).await.iter().all(Result::is_ok));
}

conformance!(getters_are_served_in_arrival_order);
async fn getters_are_served_in_arrival_order<R: TestRuntime>(rt: R) {
    const N: usize = 8;
    let rv = Arc::new(Rendezvous::new());
    let mut getters = Vec::new();
    for i in 0..N {
        let task_rv = rv.clone();
        getters.push(rt.spawn(async move { task_rv.get().await }));
        until(|| rv.state().gets == i + 1).await;
    }
    for i in 0..N {
        assert_eq!(rv.put(i).await, Ok(()));
    }
    let got: Vec<_> = join_all(getters)
        .await
        .into_iter()
        .map(|r| r.expect("get"))
        .collect();
    assert_eq!(
        got,
        (0..N).collect::<Vec<_>>(),
        "getter i receives the i-th value"
    );
}

#[test]
fn getters_in_one_task_are_served_in_arrival_order() {
    let rv = Rendezvous::new();
    let mut first = Manual::new(rv.get());
    let mut second = Manual::new(rv.get());
    first.pending();
    second.pending();
    let mut put_a = Manual::new(rv.put('a'));
    put_a.pending();
    assert_eq!(
        (first.wakes(), second.wakes()),
        (1, 0),
        "the first getter is woken first"
    );
    assert_eq!(first.ready(), Ok('a'));
    assert_eq!(put_a.ready(), Ok(()));
    let mut put_b = Manual::new(rv.put('b'));
    put_b.pending();
    assert_eq!(second.wakes(), 1);
    assert_eq!(second.ready(), Ok('b'));
    assert_eq!(put_b.ready(), Ok(()));
}

/// Two getters wait, two values arrive before either getter runs again,
/// and the executor happens to poll the second getter first. The type
/// documents "the first getter to wait receives the first value put".
#[test]
fn first_getter_receives_first_value_whatever_the_poll_order() {
    let rv = Rendezvous::new();
    let mut first = Manual::new(rv.get());
    let mut second = Manual::new(rv.get());
    first.pending();
    second.pending();
    let mut put_a = Manual::new(rv.put('a'));
    let mut put_b = Manual::new(rv.put('b'));
    put_a.pending();
    put_b.pending();
    assert_eq!((first.wakes(), second.wakes()), (1, 1));
    // A multi-threaded executor may well run the second getter first.
    assert_eq!(
        second.ready(),
        Ok('b'),
        "the second getter must receive the second value"
    );
    assert_eq!(first.ready(), Ok('a'));
}

// === exchange ===

conformance!(exchange_pairs_swap_values);
async fn exchange_pairs_swap_values<R: TestRuntime>(rt: R) {
    let rv = Arc::new(Rendezvous::new());
    let mut exchangers = Vec::new();
    for i in 0..6_usize {
        let task_rv = rv.clone();
        exchangers.push(rt.spawn(async move { task_rv.exchange(i).await }));
        // Even arrivals wait for a partner; odd ones complete the pair.
        let waiting = if i % 2 == 0 { 1 } else { 0 };
        until(|| rv.state().exchanges == waiting).await;
    }
    let got: Vec<_> = join_all(exchangers)
        .await
        .into_iter()
        .map(|r| r.expect("exchange"))
        .collect();
    // Arrivals (0,1), (2,3), (4,5) pair up and swap.
    assert_eq!(got, vec![1, 0, 3, 2, 5, 4]);
    // Exchanges pair only with exchanges.
    let mut lone = Manual::new(rv.exchange(9));
    lone.pending();
    assert_eq!(rv.try_get(), Err(TryGetError::NoPutter));
    assert!(rv.try_put(10).is_err());
    assert_eq!(counts(&rv), (0, 0, 1));
    let (mine, theirs) = future::zip(rv.exchange(11), future::poll_fn(|_| lone.poll())).await;
    assert_eq!((mine, theirs), (Ok(9), Ok(11)));
}

// === try_put / try_get ===

conformance!(try_ops_succeed_only_with_a_waiting_counterpart);
async fn try_ops_succeed_only_with_a_waiting_counterpart<R: TestRuntime>(rt: R) {
    let rv = Arc::new(Rendezvous::new());
    match rv.try_put(1) {
        Err(e @ TryPutError::NoGetter(_)) => assert_eq!(e.into_inner(), 1, "the value comes back"),
        Ok(()) => panic!("try_put succeeded with no getter"),
    }
    assert_eq!(rv.try_get(), Err(TryGetError::NoPutter));

    let getter = rt.spawn({
        let rv = rv.clone();
        async move { rv.get().await }
    });
    until(|| rv.state().gets == 1).await;
    assert_eq!(
        rv.try_get(),
        Err(TryGetError::NoPutter),
        "a waiting getter is no putter"
    );
    assert!(rv.try_put(2).is_ok());
    assert_eq!(getter.await.expect("getter"), Ok(2));

    let putter = rt.spawn({
        let rv = rv.clone();
        async move { rv.put(3).await }
    });
    until(|| rv.state().puts == 1).await;
    assert!(
        matches!(rv.try_put(4), Err(TryPutError::NoGetter(4))),
        "a waiting putter is no getter"
    );
    assert_eq!(rv.try_get(), Ok(3));
    assert_eq!(putter.await.expect("putter"), Ok(()));
    assert_eq!(counts(&rv), (0, 0, 0));
}

// === reset ===

conformance!(reset_fails_pending_operations);
async fn reset_fails_pending_operations<R: TestRuntime>(rt: R) {
    let rv = Arc::new(Rendezvous::new());
    let mut puts = Vec::new();
    for v in [10, 11] {
        let task_rv = rv.clone();
        puts.push(rt.spawn(async move { task_rv.put(v).await }));
    }
    let exchanger = rt.spawn({
        let rv = rv.clone();
        async move { rv.exchange(12).await }
    });
    until(|| counts(&rv) == (2, 0, 1)).await;
    assert!(rv.reset().is_empty(), "no try_put values were pending");
    assert_eq!(counts(&rv), (0, 0, 0));
    let put_results = join_all(puts).await;
    assert_eq!(put_results, vec![Err(ResetError(10)), Err(ResetError(11))]);
    assert_eq!(exchanger.await.expect("exchanger"), Err(ResetError(12)));

    let mut gets = Vec::new();
    for _ in 0..2 {
        let task_rv = rv.clone();
        gets.push(rt.spawn(async move { task_rv.get().await }));
    }
    until(|| rv.state().gets == 2).await;
    assert!(rv.reset().is_empty());
    assert_eq!(
        join_all(gets).await,
        vec![Err(ResetError(())), Err(ResetError(()))]
    );

    // Still usable afterwards.
    let (put, got) = future::zip(rv.put(13), rv.get()).await;
    assert_eq!((put, got), (Ok(()), Ok(13)));
}

#[test]
fn reset_returns_try_put_values_nobody_took() {
    let rv = Rendezvous::new();
    let mut get = Manual::new(rv.get());
    get.pending();
    assert!(rv.try_put("orphan").is_ok());
    assert_eq!(get.wakes(), 1, "try_put wakes the getter");
    assert_eq!(rv.reset(), vec!["orphan"], "the getter never took it");
    assert_eq!(get.ready(), Err(ResetError(())));
    assert_eq!(counts(&rv), (0, 0, 0));
}

#[test]
fn reset_fails_a_notified_getter_and_a_completed_put_keeps_its_success() {
    let rv = Rendezvous::new();
    let mut get = Manual::new(rv.get());
    get.pending();
    let mut put = Manual::new(rv.put(1));
    put.pending();
    // Reset between the notification and the getter's next poll.
    assert!(rv.reset().is_empty());
    assert_eq!(get.ready(), Err(ResetError(())));
    assert_eq!(
        put.ready(),
        Err(ResetError(1)),
        "the put gets its value back"
    );

    // A put whose value was taken before the reset has succeeded.
    let mut put = Manual::new(rv.put(2));
    put.pending();
    assert_eq!(rv.try_get(), Ok(2));
    assert!(rv.reset().is_empty());
    assert_eq!(put.ready(), Ok(()));
}

// === state ===

#[test]
fn state_counts_pending_operations() {
    let rv = Rendezvous::new();
    assert_eq!(counts(&rv), (0, 0, 0));
    let mut p1 = Manual::new(rv.put(1));
    let mut p2 = Manual::new(rv.put(2));
    p1.pending();
    p2.pending();
    let mut e1 = Manual::new(rv.exchange(3));
    e1.pending();
    assert_eq!(counts(&rv), (2, 0, 1));
    assert_eq!(rv.try_get(), Ok(1));
    assert_eq!(counts(&rv), (1, 0, 1));
    drop(p2);
    assert_eq!(counts(&rv), (0, 0, 1), "a dropped put withdraws");
    assert_eq!(p1.ready(), Ok(()));

    let mut g1 = Manual::new(rv.get());
    let mut g2 = Manual::new(rv.get());
    g1.pending();
    g2.pending();
    assert_eq!(counts(&rv), (0, 2, 1));
    assert!(rv.try_put(4).is_ok());
    // The try_put value waits for the notified getter; both still count.
    assert_eq!(counts(&rv), (1, 2, 1));
    assert_eq!(g1.ready(), Ok(4));
    assert_eq!(counts(&rv), (0, 1, 1));
    drop(g2);
    drop(e1);
    assert_eq!(counts(&rv), (0, 0, 0));
}

// === cancellation: drop each future at every poll point ===

#[test]
fn dropped_get_never_consumes_a_value() {
    let cuts = drop_at_every_poll_point(|cut| {
        let rv = Rendezvous::new();
        let mut get = Subject::new(cut, rv.get());
        get.poll();
        let (value, witness) = Tracked::new(7);
        let mut put = Manual::new(rv.put(value));
        put.pending();
        get.poll();
        if get.is_completed() {
            let got = get.take_output().expect("output").expect("not reset");
            assert_eq!(*got.value(), 7);
            assert_eq!(put.ready(), Ok(()));
        } else {
            // Nothing was consumed: a later get receives the put's value.
            let mut later = Manual::new(rv.get());
            let got = later.ready().expect("not reset");
            assert_eq!(*got.value(), 7);
            assert!(!witness.is_dropped());
            assert_eq!(put.ready(), Ok(()));
        }
        assert_eq!(counts(&rv), (0, 0, 0));
        get.fate()
    });
    assert!(cuts >= 3, "dropped at {cuts} points");
}

#[test]
fn dropped_notified_get_passes_its_turn_to_the_next_getter() {
    let cuts = drop_at_every_poll_point(|cut| {
        let rv = Rendezvous::new();
        let mut get = Subject::new(cut, rv.get());
        get.poll();
        let mut next = Manual::new(rv.get());
        next.pending();
        let mut put = Manual::new(rv.put(1));
        put.pending();
        get.checkpoint();
        get.poll();
        if get.is_completed() {
            assert_eq!(get.output(), Some(&Ok(1)));
            assert_eq!(next.wakes(), 0);
            next.pending();
        } else {
            // Whenever the first getter left, the value's turn passed on and
            // the next getter was woken to take it: no lost wake-up.
            assert_eq!(next.wakes(), 1, "the next getter was not woken");
            assert_eq!(next.ready(), Ok(1));
        }
        assert_eq!(put.ready(), Ok(()));
        get.fate()
    });
    assert!(cuts >= 3, "dropped at {cuts} points");
}

#[test]
fn dropped_get_with_a_try_put_value_leaves_it_for_the_next_get() {
    let cuts = drop_at_every_poll_point(|cut| {
        let rv = Rendezvous::new();
        let mut get = Subject::new(cut, rv.get());
        get.poll();
        let accepted = match rv.try_put(5) {
            Ok(()) => true,
            Err(TryPutError::NoGetter(v)) => {
                assert_eq!(v, 5);
                assert!(
                    get.is_dropped(),
                    "a getter was waiting, yet try_put refused"
                );
                false
            }
        };
        get.poll();
        if get.is_completed() {
            assert_eq!(get.output(), Some(&Ok(5)));
        } else if accepted {
            // The rendezvous owns the value now: the next get takes it.
            assert_eq!(Manual::new(rv.get()).ready(), Ok(5));
        }
        assert_eq!(counts(&rv), (0, 0, 0));
        assert_eq!(rv.try_get(), Err(TryGetError::NoPutter));
        get.fate()
    });
    assert!(cuts >= 3, "dropped at {cuts} points");
}

#[test]
fn dropped_put_value_is_never_received_after_the_drop() {
    let cuts = drop_at_every_poll_point(|cut| {
        let rv = Rendezvous::new();
        let mut get = Manual::new(rv.get());
        get.pending();
        let (value, witness) = Tracked::new(1);
        let mut put = Subject::new(cut, rv.put(value));
        put.poll();
        let was_dropped_before_get = put.is_dropped();
        let got = get.poll();
        put.poll();
        match (put.is_dropped(), was_dropped_before_get) {
            (false, _) => {
                assert_eq!(put.output(), Some(&Ok(())));
                assert!(got.is_ready(), "a completed put delivered its value");
            }
            (true, false) => {
                // Dropped after the getter took the value: delivered once.
                let std::task::Poll::Ready(Ok(v)) = got else {
                    panic!("the getter polled before the drop should have the value")
                };
                assert_eq!(*v.value(), 1);
            }
            (true, true) => {
                // Dropped before: the value was withdrawn and dropped with
                // the future; nobody can receive it any more.
                assert!(got.is_pending());
                assert!(witness.is_dropped(), "the withdrawn value was dropped");
                assert_eq!(rv.try_get().map(|_| ()), Err(TryGetError::NoPutter));
                assert!(get.poll().is_pending());
                assert_eq!(counts(&rv), (0, 1, 0));
            }
        }
        put.fate()
    });
    assert!(cuts >= 3, "dropped at {cuts} points");
}

#[test]
fn dropped_put_keeps_fifo_for_the_putters_behind_it() {
    let cuts = drop_at_every_poll_point(|cut| {
        let rv = Rendezvous::new();
        let mut put = Subject::new(cut, rv.put("first"));
        put.poll();
        let mut behind = Manual::new(rv.put("second"));
        behind.pending();
        put.checkpoint();
        let got = rv.try_get().expect("a value is waiting");
        put.poll();
        if put.is_dropped() && got == "second" {
            // The first put left before the getter came: the next in line
            // was served, and the first value went nowhere.
            assert_eq!(behind.ready(), Ok(()));
        } else {
            assert_eq!(got, "first");
            assert_eq!(rv.try_get(), Ok("second"));
            assert_eq!(behind.ready(), Ok(()));
        }
        assert_eq!(counts(&rv), (0, 0, 0));
        put.fate()
    });
    assert!(cuts >= 3, "dropped at {cuts} points");
}

#[test]
fn dropped_waiting_exchange_withdraws_its_value() {
    let cuts = drop_at_every_poll_point(|cut| {
        let rv = Rendezvous::new();
        let (mine, my_witness) = Tracked::new("mine");
        let mut ex = Subject::new(cut, rv.exchange(mine));
        ex.poll();
        let (theirs, their_witness) = Tracked::new("theirs");
        let mut partner = Manual::new(rv.exchange(theirs));
        let partner_result = partner.poll();
        ex.poll();
        if ex.is_completed() {
            let got = ex.take_output().expect("output").expect("not reset");
            assert_eq!(*got.value(), "theirs");
        }
        match partner_result {
            std::task::Poll::Ready(got) => {
                // Paired: the partner has our value. If we were dropped
                // after that, its value was dropped with us (documented).
                assert_eq!(*got.expect("not reset").value(), "mine");
                if ex.is_dropped() {
                    assert!(their_witness.is_dropped());
                }
            }
            std::task::Poll::Pending => {
                // We left while waiting: our value was withdrawn, the
                // partner waits alone and reset gives it its own value back.
                assert!(ex.is_dropped());
                assert!(my_witness.is_dropped(), "the withdrawn value was dropped");
                assert_eq!(counts(&rv), (0, 0, 1));
                assert!(rv.reset().is_empty());
                let Err(ResetError(back)) = partner.ready() else {
                    panic!("the lone partner should be reset")
                };
                assert_eq!(*back.value(), "theirs");
            }
        }
        assert_eq!(counts(&rv), (0, 0, 0));
        ex.fate()
    });
    assert!(cuts >= 3, "dropped at {cuts} points");
}

#[test]
fn dropped_exchange_arriving_second_takes_nothing() {
    let cuts = drop_at_every_poll_point(|cut| {
        let rv = Rendezvous::new();
        let mut first = Manual::new(rv.exchange(1));
        first.pending();
        let mut ex = Subject::new(cut, rv.exchange(2));
        ex.poll();
        if ex.is_completed() {
            assert_eq!(ex.output(), Some(&Ok(1)));
            assert_eq!(first.ready(), Ok(2));
        } else {
            // Dropped before pairing: the first exchanger still waits with
            // its value.
            assert_eq!(first.wakes(), 0);
            assert_eq!(counts(&rv), (0, 0, 1));
            let (got, theirs) = futures_lite::future::block_on(future::zip(
                rv.exchange(3),
                future::poll_fn(|_| first.poll()),
            ));
            assert_eq!((got, theirs), (Ok(1), Ok(3)));
        }
        ex.fate()
    });
    assert_eq!(
        cuts, 1,
        "an exchange arriving second completes in its first poll"
    );
}

// === stress ===

conformance!(stress_four_producers_four_consumers);
async fn stress_four_producers_four_consumers<R: TestRuntime>(rt: R) {
    const PRODUCERS: usize = 4;
    const CONSUMERS: usize = 4;
    let per_producer = stress_size(10_000, 50);
    let total = PRODUCERS * per_producer;
    let rv = Arc::new(Rendezvous::<usize>::new());

    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let rv = rv.clone();
            rt.spawn(async move {
                for j in 0..per_producer {
                    rv.put(p * per_producer + j).await.expect("no reset");
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            let rv = rv.clone();
            rt.spawn(async move {
                let mut got = Vec::with_capacity(total / CONSUMERS);
                for _ in 0..total / CONSUMERS {
                    got.push(rv.get().await.expect("no reset"));
                }
                got
            })
        })
        .collect();

    join_all(producers).await;
    let mut seen = vec![false; total];
    for got in join_all(consumers).await {
        // A producer's puts complete one after another, so any one
        // consumer sees each producer's values in increasing order.
        let mut last = [None::<usize>; PRODUCERS];
        for v in got {
            assert!(!std::mem::replace(&mut seen[v], true), "{v} received twice");
            let p = v / per_producer;
            assert!(last[p] < Some(v), "producer {p}'s values out of order");
            last[p] = Some(v);
        }
    }
    assert!(seen.iter().all(|&s| s), "some values were never received");
    assert_eq!(counts(&rv), (0, 0, 0));
}
