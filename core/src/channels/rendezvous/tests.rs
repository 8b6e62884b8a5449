use alloc::vec;
use alloc::vec::Vec;
use core::task::Poll;

use super::*;
use crate::test_util::Probe;

#[test]
fn put_then_get_hands_over_and_completes_put() {
    let rv = Rendezvous::new();
    let p = Probe::new();
    let mut put = rv.put(1);
    assert!(p.poll(&mut put).is_pending());
    assert_eq!(rv.state().puts, 1);
    assert_eq!(rv.try_get(), Ok(1));
    assert_eq!(
        p.take_wakes(),
        1,
        "the putter is woken once its value is taken"
    );
    assert_eq!(p.poll(&mut put), Poll::Ready(Ok(())));
    assert_eq!(rv.state(), RendezvousState::default());
}

#[test]
fn get_then_put_wakes_getter_which_takes_value() {
    let rv = Rendezvous::new();
    let (pg, pp) = (Probe::new(), Probe::new());
    let mut get = rv.get();
    assert!(pg.poll(&mut get).is_pending());
    let mut put = rv.put("x");
    assert!(
        pp.poll(&mut put).is_pending(),
        "put completes only once taken"
    );
    assert_eq!(pg.take_wakes(), 1);
    assert_eq!(pg.poll(&mut get), Poll::Ready(Ok("x")));
    assert_eq!(pp.take_wakes(), 1);
    assert_eq!(pp.poll(&mut put), Poll::Ready(Ok(())));
}

#[test]
fn putters_and_getters_are_served_fifo() {
    let rv = Rendezvous::new();
    let p = Probe::new();
    let mut puts: Vec<_> = (0..4).map(|i| rv.put(i)).collect();
    for put in &mut puts {
        assert!(p.poll(put).is_pending());
    }
    let got: Vec<_> = (0..4).map(|_| rv.try_get().unwrap()).collect();
    assert_eq!(got, vec![0, 1, 2, 3]);

    let mut gets: Vec<_> = (0..3).map(|_| rv.get()).collect();
    for get in &mut gets {
        assert!(p.poll(get).is_pending());
    }
    for v in [10, 11, 12] {
        rv.try_put(v).unwrap();
    }
    let got: Vec<_> = gets
        .iter_mut()
        .map(|g| match p.poll(g) {
            Poll::Ready(Ok(v)) => v,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(got, vec![10, 11, 12]);
}

#[test]
fn try_ops_need_a_waiting_counterpart() {
    let rv = Rendezvous::<u8>::new();
    assert_eq!(rv.try_put(3), Err(TryPutError::NoGetter(3)));
    assert_eq!(rv.try_get(), Err(TryGetError::NoPutter));
    assert_eq!(TryPutError::NoGetter(4).into_inner(), 4);
}

#[test]
fn dropped_get_consumes_nothing_and_passes_its_turn() {
    let rv = Rendezvous::new();
    let (p1, p2, pp) = (Probe::new(), Probe::new(), Probe::new());
    let mut first = rv.get();
    let mut second = rv.get();
    assert!(p1.poll(&mut first).is_pending());
    assert!(p2.poll(&mut second).is_pending());
    let mut put = rv.put(7);
    assert!(pp.poll(&mut put).is_pending());
    assert_eq!((p1.take_wakes(), p2.take_wakes()), (1, 0));
    // The notified getter is dropped before it polls: its turn passes on.
    drop(first);
    assert_eq!(p2.take_wakes(), 1);
    assert_eq!(p2.poll(&mut second), Poll::Ready(Ok(7)));
    assert_eq!(pp.poll(&mut put), Poll::Ready(Ok(())));
}

#[test]
fn dropped_notified_get_with_no_other_getter_leaves_value_with_putter() {
    let rv = Rendezvous::new();
    let p = Probe::new();
    let mut get = rv.get();
    assert!(p.poll(&mut get).is_pending());
    let mut put = rv.put(5);
    assert!(p.poll(&mut put).is_pending());
    drop(get);
    assert_eq!(rv.state().gets, 0);
    assert_eq!(
        rv.try_get(),
        Ok(5),
        "the value is still there for the next getter"
    );
    assert_eq!(p.poll(&mut put), Poll::Ready(Ok(())));
}

#[test]
fn dropped_put_withdraws_value_and_notified_getter_waits_again() {
    let rv = Rendezvous::new();
    let (pg, pp) = (Probe::new(), Probe::new());
    let mut get = rv.get();
    assert!(pg.poll(&mut get).is_pending());
    let mut put = rv.put(9);
    assert!(pp.poll(&mut put).is_pending());
    drop(put);
    assert_eq!(rv.state().puts, 0);
    // Woken for a value that was withdrawn: pending again, still first.
    assert!(pg.poll(&mut get).is_pending());
    let mut later = rv.get();
    assert!(pg.poll(&mut later).is_pending());
    rv.try_put(1).unwrap();
    assert_eq!(pg.poll(&mut get), Poll::Ready(Ok(1)));
    assert!(pg.poll(&mut later).is_pending());
}

#[test]
fn exchange_swaps_values_in_pairs() {
    let rv = Rendezvous::new();
    let p = Probe::new();
    let mut a = rv.exchange('a');
    assert!(p.poll(&mut a).is_pending());
    assert_eq!(rv.state().exchanges, 1);
    let mut b = rv.exchange('b');
    assert_eq!(p.poll(&mut b), Poll::Ready(Ok('a')));
    assert_eq!(p.take_wakes(), 1);
    assert_eq!(p.poll(&mut a), Poll::Ready(Ok('b')));
    // Exchanges do not pair with gets or puts.
    let mut c = rv.exchange('c');
    assert!(p.poll(&mut c).is_pending());
    assert_eq!(rv.try_get(), Err(TryGetError::NoPutter));
    drop(c);
    assert_eq!(rv.state(), RendezvousState::default());
}

#[test]
fn reset_fails_everything_pending_and_returns_values() {
    let rv = Rendezvous::new();
    let p = Probe::new();
    let mut put = rv.put(1);
    let mut ex = rv.exchange(2);
    assert!(p.poll(&mut put).is_pending());
    assert!(p.poll(&mut ex).is_pending());
    let orphans = rv.reset();
    assert!(orphans.is_empty());
    assert_eq!(p.take_wakes(), 2);
    assert_eq!(p.poll(&mut put), Poll::Ready(Err(ResetError(1))));
    assert_eq!(p.poll(&mut ex), Poll::Ready(Err(ResetError(2))));

    // A getter notified by try_put, not yet polled, fails too, and the
    // try_put value is handed back by reset.
    let mut get = rv.get();
    assert!(p.poll(&mut get).is_pending());
    rv.try_put(3).unwrap();
    assert_eq!(rv.reset(), vec![3]);
    assert_eq!(p.poll(&mut get), Poll::Ready(Err(ResetError(()))));
    assert_eq!(rv.state(), RendezvousState::default());

    // Usable afterwards.
    let mut put = rv.put(4);
    assert!(p.poll(&mut put).is_pending());
    assert_eq!(rv.try_get(), Ok(4));
}

#[test]
fn completed_put_is_unaffected_by_reset() {
    let rv = Rendezvous::new();
    let p = Probe::new();
    let mut put = rv.put(1);
    assert!(p.poll(&mut put).is_pending());
    assert_eq!(rv.try_get(), Ok(1));
    rv.reset();
    assert_eq!(p.poll(&mut put), Poll::Ready(Ok(())));
}

#[test]
fn concurrent_put_get_on_threads_delivers_every_value_once() {
    use std::sync::Arc;
    let rv = Arc::new(Rendezvous::new());
    let n: u32 = if cfg!(miri) { 20 } else { 2_000 };
    let producers: Vec<_> = (0..2)
        .map(|t| {
            let rv = rv.clone();
            std::thread::spawn(move || {
                for i in 0..n {
                    futures_lite::future::block_on(rv.put(t * n + i)).unwrap();
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let rv = rv.clone();
            std::thread::spawn(move || {
                (0..n)
                    .map(|_| futures_lite::future::block_on(rv.get()).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let mut all: Vec<u32> = consumers
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..2 * n).collect::<Vec<_>>());
}

#[test]
#[should_panic(expected = "`Put` polled after completion")]
fn polling_a_completed_put_panics_instead_of_corrupting_state() {
    let rv = Rendezvous::new();
    let p = Probe::new();
    let mut put = rv.put(1);
    assert!(p.poll(&mut put).is_pending());
    rv.try_get().unwrap();
    assert!(p.poll(&mut put).is_ready());
    let _ = p.poll(&mut put);
}

#[test]
#[should_panic(expected = "`Get` polled after completion")]
fn polling_a_completed_get_panics() {
    let rv = Rendezvous::new();
    let p = Probe::new();
    let mut put = rv.put(1);
    assert!(p.poll(&mut put).is_pending());
    let mut get = rv.get();
    assert!(p.poll(&mut get).is_ready());
    let _ = p.poll(&mut get);
}

#[test]
fn woken_getters_receive_values_in_arrival_order_whatever_the_poll_order() {
    let rv = Rendezvous::new();
    let (p1, p2) = (Probe::new(), Probe::new());
    let mut first = rv.get();
    let mut second = rv.get();
    assert!(p1.poll(&mut first).is_pending());
    assert!(p2.poll(&mut second).is_pending());
    rv.try_put('a').unwrap();
    rv.try_put('b').unwrap();
    assert_eq!((p1.take_wakes(), p2.take_wakes()), (1, 1));
    // Polled first, the second getter still takes the second value, at once.
    assert_eq!(p2.poll(&mut second), Poll::Ready(Ok('b')));
    assert_eq!(p1.poll(&mut first), Poll::Ready(Ok('a')));
}

#[test]
fn a_fresh_getter_takes_only_values_nobody_was_woken_for() {
    let rv = Rendezvous::new();
    let p = Probe::new();
    let mut waiting = rv.get();
    assert!(p.poll(&mut waiting).is_pending());
    let mut put_a = rv.put('a');
    let mut put_b = rv.put('b');
    assert!(p.poll(&mut put_a).is_pending());
    assert!(p.poll(&mut put_b).is_pending());
    // 'a' is promised to the waiting getter; a newcomer gets 'b'.
    assert_eq!(rv.try_get(), Ok('b'));
    assert_eq!(rv.try_get(), Err(TryGetError::NoPutter));
    assert_eq!(p.poll(&mut waiting), Poll::Ready(Ok('a')));
    assert_eq!(p.poll(&mut put_a), Poll::Ready(Ok(())));
    assert_eq!(p.poll(&mut put_b), Poll::Ready(Ok(())));
}

#[test]
fn dropping_a_notified_getter_passes_its_value_on_in_order() {
    let rv = Rendezvous::new();
    let (p1, p2, p3) = (Probe::new(), Probe::new(), Probe::new());
    let mut g1 = rv.get();
    let mut g2 = rv.get();
    let mut g3 = rv.get();
    for (g, p) in [(&mut g1, &p1), (&mut g2, &p2), (&mut g3, &p3)] {
        assert!(p.poll(g).is_pending());
    }
    rv.try_put(1).unwrap();
    rv.try_put(2).unwrap();
    assert_eq!(
        (p1.take_wakes(), p2.take_wakes(), p3.take_wakes()),
        (1, 1, 0)
    );
    drop(g1);
    // g3 is woken for the freed value; g2 moves up to the first value.
    assert_eq!(p3.take_wakes(), 1);
    assert_eq!(p3.poll(&mut g3), Poll::Ready(Ok(2)));
    assert_eq!(p2.poll(&mut g2), Poll::Ready(Ok(1)));
}
