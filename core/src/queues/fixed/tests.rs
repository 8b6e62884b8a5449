use alloc::vec::Vec;
use core::pin::pin;
use core::task::Poll;

use super::*;
use crate::queues::error::{GetTimeoutError, PutTimeoutError};
use crate::test_util::Probe;

type Q = FixedQueue<u32, 2>;

#[test]
fn a_waiting_get_is_served_by_the_next_put() {
    let q = Q::new();
    let p = Probe::new();
    let mut get = pin!(q.get());
    assert!(p.poll_pinned(get.as_mut()).is_pending());
    assert_eq!(q.waiting_getters(), 1);
    q.try_put(7).unwrap();
    assert_eq!(p.take_wakes(), 1);
    assert_eq!(q.waiting_getters(), 0, "served, off the line");
    // The item is promised: nobody arriving later takes it.
    assert_eq!(q.try_get(), Err(TryGetError::Empty));
    let mut late = pin!(q.get());
    assert!(p.poll_pinned(late.as_mut()).is_pending());
    assert_eq!(p.poll_pinned(get.as_mut()), Poll::Ready(Ok(7)));
    q.try_put(8).unwrap();
    assert_eq!(p.poll_pinned(late.as_mut()), Poll::Ready(Ok(8)));
}

#[test]
fn getters_are_served_in_arrival_order() {
    let q = Q::new();
    let probes: Vec<Probe> = (0..3).map(|_| Probe::new()).collect();
    let mut a = pin!(q.get());
    let mut b = pin!(q.get());
    let mut c = pin!(q.get());
    assert!(probes[0].poll_pinned(a.as_mut()).is_pending());
    assert!(probes[1].poll_pinned(b.as_mut()).is_pending());
    assert!(probes[2].poll_pinned(c.as_mut()).is_pending());
    q.try_put(1).unwrap();
    let wakes: Vec<usize> = probes.iter().map(Probe::take_wakes).collect();
    assert_eq!(wakes, [1, 0, 0]);
    q.try_put(2).unwrap();
    let wakes: Vec<usize> = probes.iter().map(Probe::take_wakes).collect();
    assert_eq!(wakes, [0, 1, 0]);
    assert_eq!(probes[0].poll_pinned(a.as_mut()), Poll::Ready(Ok(1)));
    assert_eq!(probes[1].poll_pinned(b.as_mut()), Poll::Ready(Ok(2)));
    assert!(probes[2].poll_pinned(c.as_mut()).is_pending());
}

#[test]
fn a_waiting_put_gets_the_freed_room_before_later_putters() {
    let q = Q::new();
    q.try_put(1).unwrap();
    q.try_put(2).unwrap();
    let p = Probe::new();
    let mut put = pin!(q.put(3));
    assert!(p.poll_pinned(put.as_mut()).is_pending());
    assert_eq!(q.waiting_putters(), 1);
    assert_eq!(q.try_get(), Ok(1));
    assert_eq!(p.take_wakes(), 1);
    assert!(q.try_put(9).unwrap_err().is_full(), "the room is promised");
    assert_eq!(p.poll_pinned(put.as_mut()), Poll::Ready(Ok(())));
    assert_eq!(q.try_get(), Ok(2));
    assert_eq!(q.try_get(), Ok(3));
}

#[test]
fn dropping_a_served_getter_passes_its_turn_on() {
    let q = Q::new();
    let (p1, p2) = (Probe::new(), Probe::new());
    let mut second = pin!(q.get());
    {
        let mut first = pin!(q.get());
        assert!(p1.poll_pinned(first.as_mut()).is_pending());
        assert!(p2.poll_pinned(second.as_mut()).is_pending());
        q.try_put(5).unwrap();
        assert_eq!((p1.take_wakes(), p2.take_wakes()), (1, 0));
    }
    assert_eq!(p2.take_wakes(), 1, "the turn moved to the next getter");
    assert_eq!(q.len(), 1, "nothing was consumed");
    assert_eq!(p2.poll_pinned(second.as_mut()), Poll::Ready(Ok(5)));
}

#[test]
fn dropping_a_queued_getter_leaves_the_line() {
    let q = Q::new();
    let p = Probe::new();
    {
        let mut get = pin!(q.get());
        assert!(p.poll_pinned(get.as_mut()).is_pending());
        assert_eq!(q.waiting_getters(), 1);
    }
    assert_eq!(q.waiting_getters(), 0);
    q.try_put(1).unwrap();
    assert_eq!(p.take_wakes(), 0);
    assert_eq!(q.try_get(), Ok(1));
}

#[test]
fn dropping_a_put_never_inserts_and_passes_a_served_turn_on() {
    let q = Q::new();
    q.try_put(1).unwrap();
    q.try_put(2).unwrap();
    let (p1, p2) = (Probe::new(), Probe::new());
    let mut second = pin!(q.put(4));
    {
        let mut first = pin!(q.put(3));
        assert!(p1.poll_pinned(first.as_mut()).is_pending());
        assert!(p2.poll_pinned(second.as_mut()).is_pending());
        assert_eq!(q.try_get(), Ok(1));
        assert_eq!((p1.take_wakes(), p2.take_wakes()), (1, 0));
    }
    assert_eq!(p2.take_wakes(), 1);
    assert_eq!(p2.poll_pinned(second.as_mut()), Poll::Ready(Ok(())));
    let mut rest = Vec::new();
    q.drain_into(&mut rest);
    assert_eq!(rest, [2, 4], "3 was never inserted");
}

#[test]
fn push_on_a_full_queue_keeps_a_served_getters_promise() {
    let q = FixedQueue::<u32, 1>::new();
    let (p1, p2) = (Probe::new(), Probe::new());
    let mut first = pin!(q.get());
    let mut second = pin!(q.get());
    assert!(p1.poll_pinned(first.as_mut()).is_pending());
    assert!(p2.poll_pinned(second.as_mut()).is_pending());
    q.try_put(1).unwrap();
    assert_eq!(p1.take_wakes(), 1);
    // Full: push displaces the promised item, but the count stays.
    assert_eq!(q.push(2), Ok(Some(1)));
    assert_eq!(p1.poll_pinned(first.as_mut()), Poll::Ready(Ok(2)));
    q.try_put(3).unwrap();
    assert_eq!(p2.take_wakes(), 1);
    // A shutdown empties the queue past the promise: the served getter
    // learns it is closed.
    let mut left = Vec::new();
    assert_eq!(q.shutdown_into(&mut left), 1);
    assert_eq!(left, [3]);
    assert_eq!(
        p2.poll_pinned(second.as_mut()),
        Poll::Ready(Err(ClosedError(())))
    );
}

#[test]
fn a_served_putter_robbed_by_push_goes_back_to_the_front() {
    let q = FixedQueue::<u32, 1>::new();
    q.try_put(1).unwrap();
    let (pa, pb) = (Probe::new(), Probe::new());
    let mut a = pin!(q.put(2));
    let mut b = pin!(q.put(3));
    assert!(pa.poll_pinned(a.as_mut()).is_pending());
    assert!(pb.poll_pinned(b.as_mut()).is_pending());
    assert_eq!(q.try_get(), Ok(1));
    assert_eq!((pa.take_wakes(), pb.take_wakes()), (1, 0));
    // `push` never waits: it takes the room promised to `a`.
    assert_eq!(q.push(9), Ok(None));
    assert!(pa.poll_pinned(a.as_mut()).is_pending());
    assert_eq!(q.waiting_putters(), 2);
    // The next room goes to `a` again, not to `b`.
    assert_eq!(q.try_get(), Ok(9));
    assert_eq!((pa.take_wakes(), pb.take_wakes()), (1, 0));
    assert_eq!(pa.poll_pinned(a.as_mut()), Poll::Ready(Ok(())));
    assert_eq!(q.try_get(), Ok(2));
    assert_eq!(pb.take_wakes(), 1);
    assert_eq!(pb.poll_pinned(b.as_mut()), Poll::Ready(Ok(())));
    assert_eq!(q.try_get(), Ok(3));
}

#[test]
fn close_fails_putters_and_lets_getters_drain() {
    let q = Q::new();
    q.try_put(1).unwrap();
    q.try_put(2).unwrap();
    let p = Probe::new();
    let mut put = pin!(q.put(3));
    assert!(p.poll_pinned(put.as_mut()).is_pending());
    q.close();
    assert_eq!(p.take_wakes(), 1);
    assert_eq!(
        p.poll_pinned(put.as_mut()),
        Poll::Ready(Err(ClosedError(3)))
    );
    assert_eq!(q.push(4), Err(TryPutError::Closed(4)));
    assert_eq!(q.peek(), Ok(1));
    assert_eq!(q.try_get(), Ok(1));
    let mut get = pin!(q.get());
    assert_eq!(p.poll_pinned(get.as_mut()), Poll::Ready(Ok(2)));
    assert_eq!(q.try_get(), Err(TryGetError::Closed));
    assert_eq!(q.peek(), Err(TryGetError::Closed));
    assert!(q.is_closed());
}

#[test]
fn getters_waiting_on_a_closed_queue_fail_when_it_runs_dry() {
    let q = Q::new();
    // More waiters than one wake batch holds.
    let probes: Vec<Probe> = (0..WakeBatch::CAPACITY * 2 + 3)
        .map(|_| Probe::new())
        .collect();
    let mut gets: Vec<Pin<alloc::boxed::Box<FixedGet<'_, u32, 2>>>> = probes
        .iter()
        .map(|_| alloc::boxed::Box::pin(q.get()))
        .collect();
    for (p, g) in probes.iter().zip(&mut gets) {
        assert!(p.poll_pinned(g.as_mut()).is_pending());
    }
    q.try_put(1).unwrap();
    q.close();
    // One getter is owed the last item; the rest wait until it is taken.
    assert_eq!(probes.iter().map(Probe::take_wakes).sum::<usize>(), 1);
    assert_eq!(probes[0].poll_pinned(gets[0].as_mut()), Poll::Ready(Ok(1)));
    for (p, g) in probes.iter().zip(&mut gets).skip(1) {
        assert_eq!(p.take_wakes(), 1);
        assert_eq!(p.poll_pinned(g.as_mut()), Poll::Ready(Err(ClosedError(()))));
    }
    assert_eq!(q.waiting_getters(), 0);
}

#[test]
fn shutdown_hands_back_the_items_and_fails_everyone() {
    let q = Q::new();
    q.try_put(1).unwrap();
    q.try_put(2).unwrap();
    let p = Probe::new();
    let mut puts: Vec<_> = (0..WakeBatch::CAPACITY + 1)
        .map(|i| alloc::boxed::Box::pin(q.put(10 + i as u32)))
        .collect();
    for put in &mut puts {
        assert!(p.poll_pinned(put.as_mut()).is_pending());
    }
    let mut left = Vec::new();
    assert_eq!(q.shutdown_into(&mut left), 2);
    assert_eq!(left, [1, 2]);
    assert_eq!(p.take_wakes(), puts.len());
    for (i, put) in puts.iter_mut().enumerate() {
        assert_eq!(
            p.poll_pinned(put.as_mut()),
            Poll::Ready(Err(ClosedError(10 + i as u32)))
        );
    }
    let mut get = pin!(q.get());
    assert_eq!(
        p.poll_pinned(get.as_mut()),
        Poll::Ready(Err(ClosedError(())))
    );
    assert_eq!(q.try_put(5), Err(TryPutError::Closed(5)));
}

#[test]
fn inspection() {
    let q = FixedQueue::<&str, 4>::new();
    assert_eq!((q.capacity(), q.remaining_capacity()), (4, 4));
    assert!(q.is_empty() && !q.is_full());
    q.try_put("a").unwrap();
    assert!((q.utilisation() - 0.25).abs() < f64::EPSILON);
    assert_eq!(q.peek(), Ok("a"));
    assert_eq!(q.len(), 1, "peek takes nothing");
    let debug = alloc::format!("{q:?}");
    assert!(
        debug.contains("len: 1") && !debug.contains("\"a\""),
        "{debug}"
    );
    assert_eq!(q.peek(), Ok("a"));
}

#[test]
fn blocking_threads_and_tasks_share_the_lines() {
    static Q: FixedQueue<u32, 1> = FixedQueue::new();
    std::thread::scope(|s| {
        let consumer = s.spawn(|| (0..100).map(|_| Q.blocking_get().unwrap()).sum::<u32>());
        futures_lite::future::block_on(async {
            for i in 0..100 {
                Q.put(i).await.unwrap();
            }
        });
        assert_eq!(consumer.join().unwrap(), (0..100).sum());
    });
    let q = FixedQueue::<u32, 1>::new();
    let timeout = core::time::Duration::from_millis(5);
    assert_eq!(
        q.blocking_get_timeout(timeout),
        Err(GetTimeoutError::Timeout)
    );
    q.blocking_put(1).unwrap();
    assert_eq!(
        q.blocking_put_timeout(2, timeout),
        Err(PutTimeoutError::Timeout(2))
    );
    assert_eq!(q.waiting_putters(), 0, "the timed-out put left the line");
    assert_eq!(q.blocking_get_timeout(timeout), Ok(1));
    q.close();
    assert_eq!(q.blocking_get(), Err(ClosedError(())));
    assert_eq!(q.blocking_put(3), Err(ClosedError(3)));
}

#[test]
fn futures_are_send_and_sync_for_send_items() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<FixedQueue<alloc::string::String, 4>>();
    send_sync::<FixedGet<'static, alloc::string::String, 4>>();
    send_sync::<FixedPut<'static, alloc::string::String, 4>>();
}

#[test]
fn every_order() {
    let fifo = FixedQueue::<u32, 4>::new();
    let lifo = FixedLifoQueue::<u32, 4>::new();
    let prio = FixedPriorityQueue::<u32, 4>::new();
    for v in [3, 1, 2] {
        fifo.try_put(v).unwrap();
        lifo.try_put(v).unwrap();
        prio.try_put(v).unwrap();
    }
    let drain = |f: &dyn Fn() -> Result<u32, TryGetError>| -> Vec<u32> {
        core::iter::from_fn(|| f().ok()).collect()
    };
    assert_eq!(fifo.peek(), Ok(3));
    assert_eq!(lifo.peek(), Ok(2));
    assert_eq!(prio.peek(), Ok(1));
    assert_eq!(drain(&|| fifo.try_get()), [3, 1, 2]);
    assert_eq!(drain(&|| lifo.try_get()), [2, 1, 3]);
    assert_eq!(drain(&|| prio.try_get()), [1, 2, 3]);

    // User priorities: smallest first, ties in arrival order; the item
    // type needs no `Ord`.
    struct Job(&'static str);
    let user = FixedUserPriorityQueue::<Job, u8, 4>::new();
    user.try_put(Job("late"), 2).unwrap();
    user.try_put(Job("first"), 1).unwrap();
    user.try_put(Job("second"), 1).unwrap();
    assert!(matches!(user.try_put(Job("x"), 0), Ok(())));
    let got: Vec<&str> = core::iter::from_fn(|| user.try_get().ok().map(|j| j.0)).collect();
    assert_eq!(got, ["x", "first", "second", "late"]);
}

#[test]
fn equal_priorities_come_out_in_arrival_order() {
    #[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
    struct Key(u8);
    let q = FixedUserPriorityQueue::<u32, Key, 8>::new();
    for i in 0..8 {
        q.try_put(i, Key((i % 2) as u8)).unwrap();
    }
    let got: Vec<u32> = core::iter::from_fn(|| q.try_get().ok()).collect();
    assert_eq!(got, [0, 2, 4, 6, 1, 3, 5, 7]);
}

#[test]
fn push_displaces_the_item_next_in_line_in_every_order() {
    let lifo = FixedLifoQueue::<u32, 2>::new();
    lifo.try_put(1).unwrap();
    lifo.try_put(2).unwrap();
    assert_eq!(lifo.push(3), Ok(Some(2)), "the newest is next in line");
    let prio = FixedPriorityQueue::<u32, 2>::new();
    prio.try_put(5).unwrap();
    prio.try_put(1).unwrap();
    assert_eq!(prio.push(3), Ok(Some(1)));
    assert_eq!((prio.try_get(), prio.try_get()), (Ok(3), Ok(5)));
    let user = FixedUserPriorityQueue::<&str, u8, 1>::new();
    user.try_put("a", 9).unwrap();
    assert_eq!(user.push("b", 1), Ok(Some("a")));
    assert_eq!(user.push("c", 0), Ok(Some("b")));
    assert_eq!(
        user.try_put("d", 0),
        Err(TryPutError::Full(("d", 0))),
        "the input comes back whole"
    );
}

#[test]
fn waiting_puts_and_gets_in_a_priority_order() {
    let q = FixedUserPriorityQueue::<&str, u8, 1>::new();
    let p = Probe::new();
    let mut get = pin!(q.get());
    assert!(p.poll_pinned(get.as_mut()).is_pending());
    q.try_put("only", 3).unwrap();
    assert_eq!(p.poll_pinned(get.as_mut()), Poll::Ready(Ok("only")));
    q.try_put("low", 9).unwrap();
    let mut put = pin!(q.put("high", 0));
    assert!(p.poll_pinned(put.as_mut()).is_pending());
    assert_eq!(q.try_get(), Ok("low"));
    assert_eq!(p.poll_pinned(put.as_mut()), Poll::Ready(Ok(())));
    q.close();
    let mut late = pin!(q.put("late", 0));
    assert_eq!(
        p.poll_pinned(late.as_mut()),
        Poll::Ready(Err(ClosedError(("late", 0))))
    );
    assert_eq!(q.try_get(), Ok("high"));
    assert_eq!(
        q.blocking_put_timeout("t", 1, core::time::Duration::from_millis(1)),
        Err(PutTimeoutError::Closed(("t", 1)))
    );
}

#[test]
fn push_raises_the_event_of_its_order() {
    let names = crate::audit::extracting("asyncutils.queues.SmartPriorityQueue.push", |e| {
        e.get("popped")
            .and_then(|v| v.as_str().map(alloc::string::String::from))
    });
    let q = FixedPriorityQueue::<u16, 1>::new();
    q.try_put(1).unwrap();
    assert_eq!(q.push(2), Ok(Some(1)));
    let seen = names.finish();
    assert!(seen.iter().any(|n| n.as_deref() == Some("u16")), "{seen:?}");
}

#[test]
#[should_panic(expected = "polled after completion")]
fn a_get_polled_after_completion_panics() {
    let q = Q::new();
    q.try_put(1).unwrap();
    let p = Probe::new();
    let mut get = pin!(q.get());
    assert_eq!(p.poll_pinned(get.as_mut()), Poll::Ready(Ok(1)));
    q.try_put(2).unwrap();
    let _ = p.poll_pinned(get.as_mut());
}
