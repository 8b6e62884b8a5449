//! Concurrency models of `FixedQueue`'s waiting lines: the nodes linked
//! into the queue live in the futures, so every race between serving,
//! polling, closing and dropping a waiter is checked here (exhaustively
//! under `--cfg loom`, once on real threads otherwise).

use alloc::sync::Arc;
use core::pin::pin;

use futures_lite::future::poll_once;

use super::FixedQueue;
use crate::loom::model::{block_on, model, thread};
use crate::queues::error::ClosedError;

#[test]
fn a_waiting_get_receives_a_put_from_another_thread() {
    model(|| {
        let q = Arc::new(FixedQueue::<u32, 1>::new());
        let q2 = q.clone();
        let putter = thread::spawn(move || q2.try_put(7).is_ok());
        assert_eq!(block_on(q.get()), Ok(7));
        assert!(putter.join().unwrap());
    });
}

#[test]
fn a_waiting_put_gets_room_freed_on_another_thread() {
    model(|| {
        let q = Arc::new(FixedQueue::<u32, 1>::new());
        q.try_put(1).unwrap();
        let q2 = q.clone();
        let getter = thread::spawn(move || block_on(q2.get()));
        assert_eq!(block_on(q.put(2)), Ok(()));
        assert_eq!(getter.join().unwrap(), Ok(1));
        assert_eq!(q.try_get(), Ok(2));
    });
}

#[test]
fn a_get_dropped_while_served_loses_nothing() {
    model(|| {
        let q = Arc::new(FixedQueue::<u32, 1>::new());
        let q2 = q.clone();
        // Polls once (maybe queueing, maybe served meanwhile), then drops.
        let getter = thread::spawn(move || {
            block_on(async {
                let mut get = pin!(q2.get());
                poll_once(get.as_mut()).await
            })
        });
        q.try_put(5).unwrap();
        match getter.join().unwrap() {
            Some(got) => assert_eq!(got, Ok(5)),
            None => assert_eq!(q.try_get(), Ok(5), "the dropped get took nothing"),
        }
        assert_eq!(q.len(), 0);
    });
}

#[test]
fn close_races_with_a_waiting_put_and_get() {
    model(|| {
        let q = Arc::new(FixedQueue::<u32, 1>::new());
        q.try_put(1).unwrap();
        let (qp, qg) = (q.clone(), q.clone());
        let putter = thread::spawn(move || block_on(qp.put(2)));
        let closer = thread::spawn(move || qg.close());
        // Drain until closed: every item put is got exactly once.
        let mut got = alloc::vec::Vec::new();
        while let Ok(v) = block_on(q.get()) {
            got.push(v);
        }
        closer.join().unwrap();
        match putter.join().unwrap() {
            Ok(()) => assert_eq!(got, [1, 2]),
            Err(ClosedError(v)) => {
                assert_eq!(v, 2);
                assert_eq!(got, [1]);
            }
        }
    });
}
