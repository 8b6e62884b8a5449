use alloc::vec;
use alloc::vec::Vec;
use core::task::Poll;
use core::time::Duration;
use std::sync::Arc;

use super::*;
use crate::audit::{self, OwnedValue, Value};
use crate::error::InvalidArgument;
use crate::test_util::Probe;
use crate::time::{ManualClock, timeout};

fn fill<O: Order<u32, Input = u32>>(q: &SmartQueue<u32, O>, items: &[u32]) {
    for &i in items {
        q.try_put_input(i).expect("room");
    }
}

fn drain_all<T, O: Order<T>>(q: &SmartQueue<T, O>) -> Vec<T> {
    let mut out = Vec::new();
    while let Ok(v) = q.try_get() {
        out.push(v);
    }
    out
}

/// A pending get and the probe it was polled with.
type WaitingGet<'q, T, O> = (Probe, Get<'q, T, O>);

/// Two gets on `q`, each polled once (with its own probe), so they wait
/// in that order.
fn two_waiting_gets<T, O: Order<T>>(
    q: &SmartQueue<T, O>,
) -> (WaitingGet<'_, T, O>, WaitingGet<'_, T, O>) {
    let (p1, p2) = (Probe::new(), Probe::new());
    let mut g1 = q.get();
    let mut g2 = q.get();
    assert!(p1.poll(&mut g1).is_pending());
    assert!(p2.poll(&mut g2).is_pending());
    ((p1, g1), (p2, g2))
}

// === orders ===

#[test]
fn fifo_lifo_and_priority_orders() {
    let fifo = SmartQueue::<u32>::unbounded();
    fill(&fifo, &[3, 1, 2]);
    assert_eq!(drain_all(&fifo), vec![3, 1, 2]);

    let lifo = SmartLifoQueue::<u32>::unbounded();
    fill(&lifo, &[3, 1, 2]);
    assert_eq!(drain_all(&lifo), vec![2, 1, 3]);

    let prio = SmartPriorityQueue::<u32>::unbounded();
    fill(&prio, &[3, 1, 2, 1]);
    assert_eq!(drain_all(&prio), vec![1, 1, 2, 3]);
}

/// Equal under `Ord`, told apart by the second field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Job(u8, char);
impl PartialOrd for Job {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Job {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

#[test]
fn priority_ties_come_out_in_arrival_order() {
    let q = SmartPriorityQueue::unbounded();
    for job in [
        Job(2, 'a'),
        Job(1, 'b'),
        Job(2, 'c'),
        Job(1, 'd'),
        Job(2, 'e'),
    ] {
        q.try_put(job).unwrap();
    }
    let order: Vec<char> = drain_all(&q).into_iter().map(|j| j.1).collect();
    assert_eq!(order, vec!['b', 'd', 'a', 'c', 'e']);
}

#[test]
fn user_priority_smallest_first_ties_fifo() {
    let q = UserPriorityQueue::<&str, i32>::unbounded();
    q.try_put("low", 5).unwrap();
    q.try_put("high", -1).unwrap();
    q.try_put("mid-1", 2).unwrap();
    q.try_put("mid-2", 2).unwrap();
    assert_eq!(q.peek(), Ok("high"));
    assert_eq!(drain_all(&q), vec!["high", "mid-1", "mid-2", "low"]);
    let back = q.try_put("x", 1);
    assert!(back.is_ok());
    assert!(matches!(q.push("y", 0), Ok(None)));
}

// === construction and inspection ===

#[test]
fn zero_capacity_is_an_invalid_argument() {
    let err = SmartQueue::<u8>::bounded(0).unwrap_err();
    assert_eq!(err.name(), "capacity");
    let _: InvalidArgument = err;
}

#[test]
fn inspection_counts() {
    let q = SmartQueue::<u32>::bounded(4).unwrap();
    assert_eq!(
        (q.len(), q.capacity(), q.remaining_capacity()),
        (0, Some(4), Some(4))
    );
    assert_eq!(q.utilisation(), Some(0.0));
    fill(&q, &[1, 2, 3]);
    assert_eq!((q.len(), q.remaining_capacity()), (3, Some(1)));
    assert_eq!(q.utilisation(), Some(0.75));
    assert!(!q.is_full() && !q.is_empty());
    assert_eq!(q.peek(), Ok(1));
    q.try_put(4).unwrap();
    assert!(q.is_full());
    assert_eq!(q.try_put(5), Err(TryPutError::Full(5)));

    let u = SmartQueue::<u32>::unbounded();
    assert_eq!(
        (u.capacity(), u.remaining_capacity(), u.utilisation()),
        (None, None, None)
    );
    assert_eq!(u.peek(), Err(TryGetError::Empty));
    let dbg = alloc::format!("{q:?}");
    assert!(
        dbg.contains("len: 4") && dbg.contains("capacity: Some(4)"),
        "{dbg}"
    );
}

#[test]
fn extend_drain_and_clear() {
    let q = SmartQueue::<u32>::bounded(3).unwrap();
    let mut items = 1..=5;
    assert_eq!(q.try_extend(&mut items), Err(TryPutError::Full(4)));
    assert_eq!(items.next(), Some(5), "the rest stays in the iterator");
    let mut out = Vec::new();
    assert_eq!(q.drain_into(&mut out), Ok(3));
    assert_eq!(out, vec![1, 2, 3]);
    q.try_extend([7, 8]).unwrap();
    assert_eq!(q.clear(), Ok(2));
    assert!(q.is_empty());
    let lifo = SmartLifoQueue::<u32>::unbounded();
    lifo.try_extend([1, 2, 3]).unwrap();
    assert_eq!(
        lifo.drain(),
        Ok(vec![3, 2, 1]),
        "drain is next-in-line first"
    );
}

// === waiting ===

#[test]
fn get_waits_for_a_put_and_getters_are_served_fifo() {
    let q = SmartQueue::<u32>::unbounded();
    let ((p1, mut g1), (p2, mut g2)) = two_waiting_gets(&q);
    assert_eq!(q.waiting_getters(), 2);
    q.try_put(10).unwrap();
    assert_eq!((p1.take_wakes(), p2.take_wakes()), (1, 0));
    // A newcomer cannot take the item promised to the first getter.
    assert_eq!(q.try_get(), Err(TryGetError::Empty));
    let mut late = q.get();
    assert!(p2.poll(&mut late).is_pending());
    assert_eq!(p1.poll(&mut g1), Poll::Ready(Ok(10)));
    q.try_put(11).unwrap();
    assert_eq!(p2.take_wakes(), 1);
    assert_eq!(p2.poll(&mut g2), Poll::Ready(Ok(11)));
    drop(late);
    assert_eq!(q.waiting_getters(), 0);
}

#[test]
fn put_waits_for_room_and_putters_are_served_fifo() {
    let q = SmartQueue::<u32>::bounded(1).unwrap();
    q.try_put(0).unwrap();
    let (p1, p2) = (Probe::new(), Probe::new());
    let mut a = q.put(1);
    let mut b = q.put(2);
    assert!(p1.poll(&mut a).is_pending());
    assert!(p2.poll(&mut b).is_pending());
    assert_eq!(q.waiting_putters(), 2);
    assert_eq!(q.try_get(), Ok(0));
    assert_eq!((p1.take_wakes(), p2.take_wakes()), (1, 0));
    assert_eq!(q.try_put(9), Err(TryPutError::Full(9)), "room is promised");
    assert_eq!(p2.poll(&mut b), Poll::Pending, "b is not first");
    assert_eq!(p1.poll(&mut a), Poll::Ready(Ok(())));
    assert_eq!(q.try_get(), Ok(1));
    assert_eq!(p2.take_wakes(), 1);
    assert_eq!(p2.poll(&mut b), Poll::Ready(Ok(())));
    assert_eq!(q.try_get(), Ok(2));
}

#[test]
fn dropped_notified_get_passes_its_turn_and_loses_nothing() {
    let q = SmartQueue::<u32>::unbounded();
    let ((p1, g1), (p2, mut g2)) = two_waiting_gets(&q);
    q.try_put(5).unwrap();
    assert_eq!(p1.take_wakes(), 1);
    drop(g1);
    assert_eq!(p2.take_wakes(), 1, "the turn passed on");
    assert_eq!(p2.poll(&mut g2), Poll::Ready(Ok(5)));
}

#[test]
fn an_item_for_a_waiting_getter_leaves_the_queue_at_once() {
    let q = SmartQueue::<u32>::bounded(1).unwrap();
    let p = Probe::new();
    let mut g = q.get();
    assert!(p.poll(&mut g).is_pending());
    q.try_put(1).unwrap();
    assert_eq!(p.take_wakes(), 1);
    assert_eq!(
        (q.len(), q.waiting_getters()),
        (0, 1),
        "handed over, not yet run"
    );
    q.try_put(2).expect("its room is free again");
    assert_eq!(q.try_put(3), Err(TryPutError::Full(3)));
    assert_eq!(p.poll(&mut g), Poll::Ready(Ok(1)));
    assert_eq!(q.try_get(), Ok(2));
}

#[test]
fn a_handed_over_item_frees_room_for_the_next_waiting_putter() {
    let q = SmartQueue::<u32>::bounded(1).unwrap();
    q.try_put(0).unwrap();
    let (pa, pb, pg) = (Probe::new(), Probe::new(), Probe::new());
    let mut a = q.put(1);
    let mut b = q.put(2);
    assert!(pa.poll(&mut a).is_pending());
    assert!(pb.poll(&mut b).is_pending());
    assert_eq!(q.try_get(), Ok(0));
    let mut g = q.get();
    assert!(pg.poll(&mut g).is_pending());
    // `a` inserts straight into `g`'s hands, so the room is free for `b`.
    assert_eq!(pa.poll(&mut a), Poll::Ready(Ok(())));
    assert_eq!((pg.take_wakes(), pb.take_wakes()), (1, 1));
    assert_eq!(pb.poll(&mut b), Poll::Ready(Ok(())));
    assert_eq!(pg.poll(&mut g), Poll::Ready(Ok(1)));
    assert_eq!(q.try_get(), Ok(2));
}

#[test]
fn a_dropped_served_get_gives_its_item_back_first_in_line() {
    let q = SmartQueue::<u32>::bounded(1).unwrap();
    let (pg, pp) = (Probe::new(), Probe::new());
    let mut g = q.get();
    assert!(pg.poll(&mut g).is_pending());
    q.try_put(1).unwrap();
    q.try_put(2).unwrap();
    let mut put = q.put(3);
    assert!(pp.poll(&mut put).is_pending());
    drop(g);
    assert_eq!(q.len(), 2, "overfilled by the item given back");
    assert_eq!(q.utilisation(), Some(2.0));
    assert_eq!(q.try_put(4), Err(TryPutError::Full(4)));
    assert_eq!(q.try_get(), Ok(1));
    assert_eq!(pp.take_wakes(), 0, "still full");
    assert_eq!(q.try_get(), Ok(2));
    assert_eq!(pp.take_wakes(), 1);
    assert_eq!(pp.poll(&mut put), Poll::Ready(Ok(())));
    assert_eq!(q.try_get(), Ok(3));
}

#[test]
fn items_given_back_by_dropped_gets_never_overtake_each_other() {
    let q = SmartQueue::<u32>::unbounded();
    let ((_, g1), (p2, mut g2)) = two_waiting_gets(&q);
    fill(&q, &[1, 2, 3]);
    drop(g1);
    // `g2` now holds 1, the oldest, as if `g1` had never waited.
    assert_eq!(p2.poll(&mut g2), Poll::Ready(Ok(1)));
    assert_eq!(drain_all(&q), vec![2, 3]);
}

#[test]
fn a_priority_item_given_back_keeps_its_rank_among_ties() {
    let q = SmartPriorityQueue::unbounded();
    let p = Probe::new();
    let mut g = q.get();
    assert!(p.poll(&mut g).is_pending());
    q.try_put(Job(5, 'a')).unwrap();
    q.try_put(Job(5, 'b')).unwrap();
    q.try_put(Job(3, 'c')).unwrap();
    drop(g);
    assert_eq!(drain_all(&q), vec![Job(3, 'c'), Job(5, 'a'), Job(5, 'b')]);
}

#[test]
fn transactions_and_shutdown_take_handed_items_back() {
    let q = SmartQueue::<u32>::unbounded();
    let ((p1, mut g1), (p2, mut g2)) = two_waiting_gets(&q);
    fill(&q, &[1, 2, 3]);
    assert_eq!((p1.take_wakes(), p2.take_wakes()), (1, 1));
    assert_eq!(q.len(), 1);
    futures_lite::future::block_on(async {
        let mut txn = q.transaction().await;
        assert_eq!(txn.len(), 3, "the transaction sees every item");
        assert_eq!(txn.get(), Ok(&1));
        txn.rollback();
    });
    // The getters waited again, first in line, and are served in order
    // (their first wake-up still stands: neither has run since).
    assert_eq!((p1.take_wakes(), p2.take_wakes()), (0, 0));
    assert_eq!(p2.poll(&mut g2), Poll::Ready(Ok(2)));
    assert_eq!(p1.poll(&mut g1), Poll::Ready(Ok(1)));
    assert_eq!(q.try_get(), Ok(3));

    let mut g3 = q.get();
    assert!(p1.poll(&mut g3).is_pending());
    q.try_put(4).unwrap();
    q.try_put(5).unwrap();
    assert_eq!(
        q.shutdown(),
        vec![4, 5],
        "shutdown takes the handed item back"
    );
    assert_eq!(p1.poll(&mut g3), Poll::Ready(Err(ClosedError(()))));
}

#[test]
fn dropped_put_never_inserts_and_passes_its_turn() {
    let q = SmartQueue::<u32>::bounded(1).unwrap();
    q.try_put(0).unwrap();
    let (p1, p2) = (Probe::new(), Probe::new());
    let mut a = q.put(1);
    let mut b = q.put(2);
    assert!(p1.poll(&mut a).is_pending());
    assert!(p2.poll(&mut b).is_pending());
    drop(a);
    assert_eq!(q.try_get(), Ok(0));
    assert_eq!(p2.take_wakes(), 1, "the next putter was woken");
    let mut c = q.put(3);
    assert!(p1.poll(&mut c).is_pending(), "b was promised the room");
    assert_eq!(p2.poll(&mut b), Poll::Ready(Ok(())));
    // b took the room; now drop c after a get notifies it.
    assert_eq!(q.try_get(), Ok(2));
    assert_eq!(p1.take_wakes(), 1);
    drop(c);
    assert_eq!(q.len(), 0, "a dropped put inserts nothing");
    assert_eq!(q.try_put(4), Ok(()));
}

#[test]
fn async_timeout_is_exact_on_a_manual_clock_and_takes_nothing() {
    let clock = ManualClock::new();
    let q = SmartQueue::<u32>::bounded(1).unwrap();
    let p = Probe::new();
    {
        let mut get = core::pin::pin!(timeout(&clock, Duration::from_millis(250), q.get()));
        assert!(p.poll_pinned(get.as_mut()).is_pending());
        clock.advance(Duration::from_millis(249));
        assert!(p.poll_pinned(get.as_mut()).is_pending());
        clock.advance(Duration::from_millis(1));
        assert!(matches!(p.poll_pinned(get.as_mut()), Poll::Ready(Err(_))));
    }
    assert_eq!(clock.now().as_nanos(), 250_000_000);
    q.try_put(1).unwrap();
    assert_eq!(q.waiting_getters(), 0);
    {
        let mut put = core::pin::pin!(timeout(&clock, Duration::from_secs(1), q.put(2)));
        assert!(p.poll_pinned(put.as_mut()).is_pending());
        clock.advance(Duration::from_secs(1));
        assert!(matches!(p.poll_pinned(put.as_mut()), Poll::Ready(Err(_))));
    }
    assert_eq!(drain_all(&q), vec![1], "the timed-out put inserted nothing");
}

// === push ===

#[test]
fn push_displaces_the_item_next_in_line_and_reports_it() {
    let q = SmartQueue::<u32>::bounded(2).unwrap();
    let events = audit::extracting("asyncutils.queues.SmartQueue.push", |e| {
        (
            e.get("addr").map(|v| v.to_owned_value()),
            e.get("pushed")
                .and_then(|v| v.as_str().map(alloc::string::String::from)),
            e.get("popped")
                .and_then(|v| v.as_str().map(alloc::string::String::from)),
        )
    });
    assert_eq!(q.push(1), Ok(None));
    assert_eq!(q.push(2), Ok(None));
    assert_eq!(q.push(3), Ok(Some(1)));
    assert_eq!(drain_all(&q), vec![2, 3]);
    let mine = OwnedValue::Addr(match Value::addr_of(&q) {
        Value::Addr(a) => a,
        _ => unreachable!(),
    });
    let raised: Vec<_> = events
        .finish()
        .into_iter()
        .filter(|(addr, _, _)| addr.as_ref() == Some(&mine))
        .collect();
    assert_eq!(raised.len(), 1, "raised only when an item was displaced");
    assert_eq!(raised[0].1.as_deref(), Some("u32"));
    assert_eq!(raised[0].2.as_deref(), Some("u32"));

    let lifo = SmartLifoQueue::<u32>::bounded(2).unwrap();
    fill(&lifo, &[1, 2]);
    assert_eq!(
        lifo.push(3),
        Ok(Some(2)),
        "LIFO: the newest is next in line"
    );
    let prio = SmartPriorityQueue::<u32>::bounded(2).unwrap();
    fill(&prio, &[5, 1]);
    assert_eq!(prio.push(3), Ok(Some(1)));
    assert_eq!(drain_all(&prio), vec![3, 5]);
}

#[test]
fn push_wakes_a_waiting_getter() {
    let q = SmartQueue::<u32>::bounded(1).unwrap();
    let p = Probe::new();
    let mut g = q.get();
    assert!(p.poll(&mut g).is_pending());
    assert_eq!(q.push(1), Ok(None));
    assert_eq!(p.take_wakes(), 1);
    assert_eq!(p.poll(&mut g), Poll::Ready(Ok(1)));
}

#[test]
fn push_takes_room_a_woken_putter_expected_and_it_waits_again_first() {
    let q = SmartQueue::<u32>::bounded(1).unwrap();
    q.try_put(0).unwrap();
    let p = Probe::new();
    let mut a = q.put(1);
    assert!(p.poll(&mut a).is_pending());
    assert_eq!(q.try_get(), Ok(0));
    assert_eq!(p.take_wakes(), 1);
    assert_eq!(q.push(7), Ok(None));
    assert!(p.poll(&mut a).is_pending(), "the room went to push");
    assert_eq!(q.waiting_putters(), 1);
    assert_eq!(q.try_get(), Ok(7));
    assert_eq!(p.take_wakes(), 1);
    assert_eq!(p.poll(&mut a), Poll::Ready(Ok(())));
}

// === close and shutdown ===

#[test]
fn close_fails_puts_and_lets_gets_drain() {
    let q = SmartQueue::<u32>::bounded(1).unwrap();
    q.try_put(1).unwrap();
    let (pp, pg) = (Probe::new(), Probe::new());
    let mut put = q.put(2);
    assert!(pp.poll(&mut put).is_pending());
    q.close();
    assert_eq!(pp.take_wakes(), 1);
    assert_eq!(pp.poll(&mut put), Poll::Ready(Err(ClosedError(2))));
    assert_eq!(q.try_put(3), Err(TryPutError::Closed(3)));
    assert_eq!(q.push(3), Err(TryPutError::Closed(3)));
    assert_eq!(q.try_get(), Ok(1));
    assert_eq!(q.try_get(), Err(TryGetError::Closed));
    let mut get = q.get();
    assert_eq!(pg.poll(&mut get), Poll::Ready(Err(ClosedError(()))));
    assert!(q.is_closed());
}

#[test]
fn close_wakes_waiting_getters_once_the_queue_is_empty() {
    let q = SmartQueue::<u32>::unbounded();
    let ((p1, mut g1), (p2, mut g2)) = two_waiting_gets(&q);
    q.try_put(1).unwrap();
    q.close();
    assert_eq!(p1.poll(&mut g1), Poll::Ready(Ok(1)));
    assert!(p2.take_wakes() >= 1);
    assert_eq!(p2.poll(&mut g2), Poll::Ready(Err(ClosedError(()))));
}

#[test]
fn shutdown_fails_everyone_and_returns_the_items() {
    let q = SmartQueue::<u32>::bounded(2).unwrap();
    fill(&q, &[1, 2]);
    let (pp, pg) = (Probe::new(), Probe::new());
    let mut put = q.put(3);
    assert!(pp.poll(&mut put).is_pending());
    assert_eq!(q.shutdown(), vec![1, 2]);
    assert_eq!(pp.poll(&mut put), Poll::Ready(Err(ClosedError(3))));
    let mut get = q.get();
    assert_eq!(pg.poll(&mut get), Poll::Ready(Err(ClosedError(()))));
    assert_eq!(q.peek(), Err(TryGetError::Closed));
    assert_eq!(q.try_get(), Err(TryGetError::Closed));
}

// === transactions ===

#[test]
fn committed_transaction_hands_over_its_gets_and_keeps_its_puts() {
    futures_lite::future::block_on(async {
        let q = SmartQueue::<u32>::bounded(3).unwrap();
        fill(&q, &[1, 2]);
        let mut txn = q.transaction().await;
        assert_eq!(txn.get(), Ok(&1));
        txn.put(3).unwrap();
        txn.put(4).unwrap();
        assert_eq!(txn.put(5), Err(TryPutError::Full(5)));
        assert_eq!(txn.len(), 3);
        assert_eq!(txn.taken().copied().collect::<Vec<_>>(), vec![1]);
        assert_eq!(txn.commit(), vec![1]);
        assert_eq!(drain_all(&q), vec![2, 3, 4]);
    });
}

#[test]
fn rolled_back_transaction_leaves_every_order_exactly_as_before() {
    fn check<O: Order<u32, Input = u32>>(items: &[u32]) {
        let q = SmartQueue::<u32, O>::unbounded();
        fill(&q, items);
        let before = {
            let mut txn = q.try_transaction().unwrap();
            let mut seen = Vec::new();
            while let Ok(v) = txn.get() {
                seen.push(*v);
            }
            seen
        };
        let mut txn = q.try_transaction().unwrap();
        txn.get().unwrap();
        txn.put_input(0).unwrap();
        txn.put_input(99).unwrap();
        txn.get().unwrap();
        txn.get().unwrap();
        txn.put_input(50).unwrap();
        txn.rollback();
        assert_eq!(drain_all(&q), before);
    }
    check::<Fifo>(&[4, 2, 9, 2, 7]);
    check::<Lifo>(&[4, 2, 9, 2, 7]);
    check::<Priority>(&[4, 2, 9, 2, 7]);
}

#[test]
fn user_priority_transaction_rolls_back_ties_in_place() {
    let q = UserPriorityQueue::<char, u8>::unbounded();
    for (c, p) in [('a', 1), ('b', 1), ('c', 0), ('d', 1)] {
        q.try_put(c, p).unwrap();
    }
    {
        let mut txn = q.try_transaction().unwrap();
        assert_eq!(txn.get(), Ok(&'c'));
        assert_eq!(txn.get(), Ok(&'a'));
        txn.put('z', 0).unwrap();
        assert_eq!(txn.get(), Ok(&'z'));
    }
    assert_eq!(drain_all(&q), vec!['c', 'a', 'b', 'd']);
}

#[test]
fn others_never_see_a_half_done_transaction() {
    let q = SmartQueue::<u32>::bounded(4).unwrap();
    fill(&q, &[1, 2]);
    let p = Probe::new();
    let mut txn = q.try_transaction().unwrap();
    txn.get().unwrap();
    txn.put(3).unwrap();
    txn.put(4).unwrap();
    assert_eq!(q.len(), 2, "len from before the transaction");
    assert_eq!(q.try_get(), Err(TryGetError::InTransaction));
    assert_eq!(q.try_put(9), Err(TryPutError::InTransaction(9)));
    assert_eq!(q.push(9), Err(TryPutError::InTransaction(9)));
    assert_eq!(q.peek(), Err(TryGetError::InTransaction));
    assert_eq!(q.drain(), Err(TryGetError::InTransaction));
    assert!(q.try_transaction().is_err());
    let mut get = q.get();
    let mut put = q.put(5);
    assert!(p.poll(&mut get).is_pending(), "waits for the transaction");
    assert!(p.poll(&mut put).is_pending());
    let mut second = q.transaction();
    assert!(p.poll(&mut second).is_pending());
    p.take_wakes();
    assert_eq!(txn.commit(), vec![1]);
    assert!(p.take_wakes() >= 2);
    assert_eq!(p.poll(&mut get), Poll::Ready(Ok(2)));
    assert_eq!(p.poll(&mut put), Poll::Ready(Ok(())));
    let Poll::Ready(txn2) = p.poll(&mut second) else {
        panic!("the second transaction begins once the first ended")
    };
    assert_eq!(txn2.len(), 3);
    drop(txn2);
    assert_eq!(drain_all(&q), vec![3, 4, 5]);
}

#[test]
fn transaction_events_pair_up() {
    let q = SmartLifoQueue::<u8>::unbounded();
    let mine = match Value::addr_of(&q) {
        Value::Addr(a) => a,
        _ => unreachable!(),
    };
    let addr_of = |e: &audit::Event<'_>| match e.get("addr") {
        Some(Value::Addr(a)) => a,
        _ => 0,
    };
    let starts = audit::extracting(
        "asyncutils.queues.SmartLifoQueue.transaction/start",
        addr_of,
    );
    let ends = audit::extracting("asyncutils.queues.SmartLifoQueue.transaction/end", addr_of);
    q.try_transaction().unwrap().commit();
    drop(q.try_transaction().unwrap());
    let count = |v: Vec<usize>| v.into_iter().filter(|&a| a == mine).count();
    assert_eq!(count(starts.finish()), 2);
    assert_eq!(count(ends.finish()), 2);
}

#[test]
fn dropped_transaction_waiter_passes_its_turn() {
    let q = SmartQueue::<u32>::unbounded();
    let (p1, p2) = (Probe::new(), Probe::new());
    let first = q.try_transaction().unwrap();
    let mut a = q.transaction();
    let mut b = q.transaction();
    assert!(p1.poll(&mut a).is_pending());
    assert!(p2.poll(&mut b).is_pending());
    drop(first);
    assert_eq!((p1.take_wakes(), p2.take_wakes()), (1, 0));
    drop(a);
    assert_eq!(p2.take_wakes(), 1);
    assert!(matches!(p2.poll(&mut b), Poll::Ready(_)));
}

// === blocking, with threads ===

#[test]
#[cfg_attr(miri, ignore)]
fn blocking_and_async_callers_share_one_queue() {
    let q = Arc::new(SmartQueue::<u32>::bounded(2).unwrap());
    let producer = {
        let q = q.clone();
        std::thread::spawn(move || {
            for i in 0..100 {
                q.blocking_put(i).unwrap();
            }
        })
    };
    let got: Vec<u32> = futures_lite::future::block_on(async {
        let mut got = Vec::new();
        for _ in 0..100 {
            got.push(q.get().await.unwrap());
        }
        got
    });
    producer.join().unwrap();
    assert_eq!(got, (0..100).collect::<Vec<_>>());
}

#[test]
fn blocking_timeouts_give_up_and_lose_nothing() {
    let q = SmartQueue::<u32>::bounded(1).unwrap();
    let start = std::time::Instant::now();
    assert_eq!(
        q.blocking_get_timeout(Duration::from_millis(20)),
        Err(GetTimeoutError::Timeout)
    );
    assert!(start.elapsed() >= Duration::from_millis(20));
    q.blocking_put(1).unwrap();
    assert_eq!(
        q.blocking_put_timeout(2, Duration::from_millis(5)),
        Err(PutTimeoutError::Timeout(2))
    );
    assert_eq!((q.waiting_getters(), q.waiting_putters()), (0, 0));
    assert_eq!(q.blocking_get(), Ok(1));
    q.close();
    assert_eq!(q.blocking_get(), Err(ClosedError(())));
    assert_eq!(q.blocking_put(3), Err(ClosedError(3)));
}

#[test]
#[cfg_attr(miri, ignore)]
fn close_wakes_a_blocked_thread() {
    let q = Arc::new(SmartQueue::<u32>::unbounded());
    let getter = {
        let q = q.clone();
        std::thread::spawn(move || q.blocking_get())
    };
    while q.waiting_getters() == 0 {
        std::thread::yield_now();
    }
    q.close();
    assert_eq!(getter.join().unwrap(), Err(ClosedError(())));
}

#[test]
fn errors_print_without_the_item() {
    #[allow(dead_code)]
    struct Secret(u8);
    let e = TryPutError::Full(Secret(1));
    assert_eq!(
        alloc::format!("{e:?} / {e}"),
        "Full(..) / the queue is full"
    );
    assert_eq!(
        alloc::format!("{:?}", ClosedError(Secret(2))),
        "ClosedError(..)"
    );
    assert_eq!(
        alloc::format!("{:?}", PutTimeoutError::Timeout(Secret(3))),
        "Timeout(..)"
    );
}

// === derived queues ===

#[test]
fn map_starmap_and_enumerate_feed_new_queues_until_the_source_closes() {
    let src = Arc::new(SmartQueue::<u32>::unbounded());
    src.try_extend([1, 2, 3]).unwrap();
    let (doubled, drive) = src.map(8, |x| x * 2).unwrap();
    src.close();
    futures_lite::future::block_on(drive);
    assert_eq!(doubled.drain(), Ok(vec![2, 4, 6]));
    assert!(doubled.is_closed(), "the driver closes the new queue");

    let pairs = Arc::new(SmartQueue::<(u32, u32)>::unbounded());
    pairs.try_extend([(1, 2), (3, 4)]).unwrap();
    pairs.close();
    let (sums, drive) = pairs.starmap(4, |a, b| a + b).unwrap();
    futures_lite::future::block_on(drive);
    assert_eq!(sums.drain(), Ok(vec![3, 7]));

    let lifo = Arc::new(SmartLifoQueue::<char>::unbounded());
    lifo.try_extend(['a', 'b']).unwrap();
    lifo.close();
    let (numbered, drive) = lifo.enumerate(4).unwrap();
    futures_lite::future::block_on(drive);
    assert_eq!(numbered.drain(), Ok(vec![(0, 'b'), (1, 'a')]));
    assert!(src.map(0, |x| x).is_err(), "zero capacity");
}

#[test]
fn a_derived_queue_applies_backpressure() {
    let src = Arc::new(SmartQueue::<u32>::unbounded());
    src.try_extend(0..10).unwrap();
    let (out, drive) = src.map(2, |x| x + 100).unwrap();
    let p = Probe::new();
    let mut drive = core::pin::pin!(drive);
    assert!(p.poll_pinned(drive.as_mut()).is_pending());
    // Two in the new queue, one in flight, the rest still in the source.
    assert_eq!((out.len(), src.len()), (2, 7));
    assert_eq!(out.try_get(), Ok(100));
    assert_eq!(p.take_wakes(), 1, "room wakes the driver");
    assert!(p.poll_pinned(drive.as_mut()).is_pending());
    assert_eq!((out.len(), src.len()), (2, 6));
    // Closing the new queue ends the driver.
    out.close();
    assert_eq!(p.poll_pinned(drive.as_mut()), Poll::Ready(()));
}

#[test]
fn filter_moves_matches_and_leaves_the_rest_in_order() {
    let src = Arc::new(SmartQueue::<u32>::unbounded());
    src.try_extend([1, 2, 3, 4, 5, 6]).unwrap();
    let (evens, drive) = src.filter(8, |x| x % 2 == 0).unwrap();
    let p = Probe::new();
    let mut drive = core::pin::pin!(drive);
    assert!(p.poll_pinned(drive.as_mut()).is_pending());
    assert_eq!(evens.drain(), Ok(vec![2, 4, 6]));
    assert_eq!(src.len(), 3);
    // New matching items wake the driver.
    src.try_put(8).unwrap();
    assert_eq!(p.take_wakes(), 1);
    src.try_put(9).unwrap();
    assert!(p.poll_pinned(drive.as_mut()).is_pending());
    assert_eq!(evens.try_get(), Ok(8));
    src.close();
    assert_eq!(p.poll_pinned(drive.as_mut()), Poll::Ready(()));
    assert!(evens.is_closed());
    assert_eq!(
        src.drain(),
        Ok(vec![1, 3, 5, 9]),
        "the rest stayed, in order"
    );

    let prio = Arc::new(SmartPriorityQueue::<u32>::unbounded());
    prio.try_extend([9, 4, 7, 2]).unwrap();
    let (big, drive) = prio.filter(8, |&x| x > 5).unwrap();
    prio.close();
    futures_lite::future::block_on(drive);
    assert_eq!(big.drain(), Ok(vec![7, 9]), "moved in priority order");
    assert_eq!(prio.drain(), Ok(vec![2, 4]));
}

#[test]
fn derived_queues_raise_their_events() {
    let src = Arc::new(SmartQueue::<u32>::unbounded());
    let mine = match Value::addr_of(&*src) {
        Value::Addr(a) => a,
        _ => unreachable!(),
    };
    let names = audit::extracting("asyncutils.queues.SmartQueue.map", move |e| {
        (e.get("addr") == Some(Value::Addr(mine)))
            .then(|| {
                e.get("fname")
                    .and_then(|v| v.as_str().map(alloc::string::String::from))
            })
            .flatten()
    });
    let enumerated = audit::extracting("asyncutils.queues.SmartQueue.enumerate", move |e| {
        e.get("addr") == Some(Value::Addr(mine))
    });
    fn triple(x: u32) -> u32 {
        x * 3
    }
    let _ = src.map(1, triple).unwrap();
    let _ = src.enumerate(1).unwrap();
    let names: Vec<_> = names.finish().into_iter().flatten().collect();
    assert_eq!(names.len(), 1);
    assert!(names[0].ends_with("triple"), "{}", names[0]);
    assert!(enumerated.finish().into_iter().any(|hit| hit));
}

#[test]
fn shutdown_during_a_transaction_leaves_the_items_to_it() {
    let q = SmartQueue::<u32>::unbounded();
    q.try_extend([1, 2]).unwrap();
    let mut txn = q.try_transaction().unwrap();
    txn.get().unwrap();
    let p = Probe::new();
    let mut waiting = q.get();
    assert!(p.poll(&mut waiting).is_pending());
    assert!(q.shutdown().is_empty());
    txn.rollback();
    // Nothing is handed to a getter after a shutdown: it fails, and the
    // items wait for the next `shutdown`.
    assert_eq!(p.poll(&mut waiting), Poll::Ready(Err(ClosedError(()))));
    assert_eq!(q.shutdown(), vec![1, 2]);
}

// === protected queue ===

#[test]
fn protected_queue_checks_keys_and_never_shows_them() {
    let names = audit::extracting("asyncutils.queues.password_queue", |e| {
        (
            e.get("get_from").map(|v| v.to_owned_value()),
            e.get("put_from").map(|v| v.to_owned_value()),
        )
    });
    let q = ProtectedQueue::new(
        SmartQueue::<u32>::bounded(2).unwrap(),
        None,
        Some(b"s3cret"),
    )
    .unwrap();
    assert!(!q.get_protected() && q.put_protected());
    assert_eq!(q.putter(None).err(), Some(WrongKey));
    assert_eq!(q.putter(Some(b"s3cre")).err(), Some(WrongKey));
    assert_eq!(q.putter(Some(b"s3cret!")).err(), Some(WrongKey));
    let putter = q.putter(Some(b"s3cret")).unwrap();
    putter.try_put(1).unwrap();
    assert_eq!(putter.push(2), Ok(None));
    assert_eq!(q.getter(None).unwrap().try_get(), Ok(1));
    let shown = alloc::format!("{q:?} {putter:?} {}", WrongKey);
    assert!(!shown.contains("s3cret"), "{shown}");
    let events = names.finish();
    assert!(events.iter().any(|(g, p)| {
        *g == Some(OwnedValue::None)
            && p.as_ref()
                .and_then(|p| p.as_value().as_str().map(alloc::string::String::from))
                == Some("put_key".into())
    }));
    for (g, p) in &events {
        for v in [g, p].into_iter().flatten() {
            assert!(!alloc::format!("{v:?}").contains("s3cret"));
        }
    }
    assert!(ProtectedQueue::new(SmartQueue::<u32>::unbounded(), None, None).is_err());
    assert_eq!(
        ProtectedQueue::new(SmartQueue::<u32>::unbounded(), Some(b""), None)
            .unwrap_err()
            .name(),
        "get_key"
    );
}

#[test]
fn protected_user_priority_queue_takes_pairs() {
    let q = ProtectedQueue::new(
        UserPriorityQueue::<&str, u8>::unbounded(),
        Some(b"k"),
        Some(b"k"),
    )
    .unwrap();
    let putter = q.putter(Some(b"k")).unwrap();
    putter.try_put(("later", 2)).unwrap();
    putter.try_put(("first", 1)).unwrap();
    let getter = q.getter(Some(b"k")).unwrap();
    assert_eq!(getter.blocking_get(), Ok("first"));
    assert_eq!(getter.shutdown(), vec!["later"]);
}

#[test]
fn chained_drivers_in_one_task() {
    let src = Arc::new(SmartQueue::<u32>::bounded(4).unwrap());
    let (squares, drive) = src.map(16, |x| u64::from(x) * u64::from(x)).unwrap();
    let (evens, filter) = squares.filter(2, |x| x % 2 == 0).unwrap();
    let producer = async {
        for i in 0..20 {
            src.put(i).await.unwrap();
        }
        src.close();
    };
    let consumer = async {
        let mut got = Vec::new();
        while let Ok(v) = evens.get().await {
            got.push(v);
        }
        got
    };
    let (got, _) = futures_lite::future::block_on(futures_lite::future::zip(
        consumer,
        futures_lite::future::zip(producer, futures_lite::future::zip(drive, filter)),
    ));
    assert_eq!(got.len(), 10);
}

// === fixed-capacity queue ===

// `FixedQueue::new` is a `const fn`, which loom's mutex cannot offer.
#[cfg(not(loom))]
#[test]
fn fixed_queue_matches_a_vecdeque_model() {
    let q = FixedQueue::<u32, 3>::new();
    let mut model = std::collections::VecDeque::new();
    // A deterministic pseudo-random op sequence.
    let mut x = 12345u32;
    for i in 0..2_000u32 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        match x % 4 {
            0 => {
                let expected = if model.len() == 3 {
                    Err(TryPutError::Full(i))
                } else {
                    model.push_back(i);
                    Ok(())
                };
                assert_eq!(q.try_put(i), expected);
            }
            1 => {
                let popped = if model.len() == 3 {
                    model.pop_front()
                } else {
                    None
                };
                model.push_back(i);
                assert_eq!(q.push(i), Ok(popped));
            }
            2 => assert_eq!(q.try_get().ok(), model.pop_front()),
            _ => assert_eq!(q.peek().ok(), model.front().copied()),
        }
        assert_eq!(q.len(), model.len());
    }
    let mut rest = Vec::new();
    assert_eq!(q.drain_into(&mut rest), model.len());
    assert_eq!(rest, Vec::from(model));
    q.close();
    assert_eq!(q.try_put(1), Err(TryPutError::Closed(1)));
    assert_eq!(q.try_get(), Err(TryGetError::Closed));
    assert_eq!((q.capacity(), q.remaining_capacity()), (3, 3));
}

#[test]
fn queues_and_their_futures_are_send_and_sync_for_send_items() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<SmartQueue<alloc::string::String>>();
    send_sync::<UserPriorityQueue<alloc::string::String, u8>>();
    send_sync::<FixedQueue<alloc::string::String, 4>>();
    send_sync::<ProtectedQueue<alloc::string::String>>();
    send::<Get<'static, alloc::string::String>>();
    send::<Put<'static, alloc::string::String>>();
    send::<Transaction<'static, alloc::string::String>>();
    send::<Derive<u32, Fifo, EnumerateStep>>();
}

#[test]
fn close_during_a_transaction_does_not_fail_getters_early() {
    let q = SmartQueue::<u32>::unbounded();
    q.try_put(1).unwrap();
    let p = Probe::new();
    let mut txn = q.try_transaction().unwrap();
    assert_eq!(txn.get(), Ok(&1));
    q.close();
    // The store is empty only because of the open transaction.
    let mut get = q.get();
    assert!(p.poll(&mut get).is_pending());
    assert_eq!(q.try_get(), Err(TryGetError::InTransaction));
    txn.rollback();
    assert_eq!(p.poll(&mut get), Poll::Ready(Ok(1)));
    assert_eq!(q.try_get(), Err(TryGetError::Closed));
}
