//! `FixedQueue<T, N>` against a `VecDeque` model, for capacities 1, 2, 3
//! and 5.
//!
//! The model: a FIFO of at most `N` items and a closed flag. `try_put`
//! fails `Closed` once closed, else `Full` at `N` items; `push` fails
//! `Closed` once closed, else displaces the oldest item when full;
//! `try_get` and `peek` fail `Closed` once closed and empty, else `Empty`
//! when empty; `drain_into` moves everything, oldest first.
//!
//! Items count themselves alive: every item handed back (refused, displaced,
//! got, drained) is checked and dropped, and once the queue is dropped no
//! item may still be alive, so a slot the ring forgets (a leak) or drops
//! twice fails the target.

#![no_main]

use std::cell::Cell;
use std::collections::VecDeque;

use arbitrary::Arbitrary;
use asyncutils_core::queues::{FixedQueue, TryGetError, TryPutError};
use libfuzzer_sys::fuzz_target;

thread_local! {
    static ALIVE: Cell<i64> = const { Cell::new(0) };
}

/// An item that counts how many of its kind are alive.
#[derive(Debug, PartialEq, Eq)]
struct Item(u32);

impl Item {
    fn new(v: u32) -> Self {
        ALIVE.with(|a| a.set(a.get() + 1));
        Item(v)
    }
}

impl Clone for Item {
    fn clone(&self) -> Self {
        Item::new(self.0)
    }
}

impl Drop for Item {
    fn drop(&mut self) {
        ALIVE.with(|a| a.set(a.get() - 1));
    }
}

#[derive(Debug, Arbitrary)]
enum Op {
    TryPut(u32),
    Push(u32),
    TryGet,
    Peek,
    Close,
    Drain,
}

#[derive(Debug, Arbitrary)]
struct Input {
    capacity: u8,
    ops: Vec<Op>,
}

fn run<const N: usize>(ops: Vec<Op>) {
    let queue = FixedQueue::<Item, N>::new();
    let mut model: VecDeque<u32> = VecDeque::new();
    let mut closed = false;
    for op in ops.into_iter().take(512) {
        match op {
            Op::TryPut(v) => match queue.try_put(Item::new(v)) {
                Ok(()) => {
                    assert!(!closed && model.len() < N, "try_put accepted {v}");
                    model.push_back(v);
                }
                Err(TryPutError::Closed(item)) => assert!(closed && item.0 == v),
                Err(TryPutError::Full(item)) => {
                    assert!(!closed && model.len() == N && item.0 == v);
                }
                Err(e) => panic!("try_put: unexpected {e:?}"),
            },
            Op::Push(v) => match queue.push(Item::new(v)) {
                Ok(popped) => {
                    assert!(!closed, "push accepted {v} on a closed queue");
                    let expected = (model.len() == N).then(|| model.pop_front()).flatten();
                    assert_eq!(popped.map(|i| i.0), expected, "push displaced");
                    model.push_back(v);
                }
                Err(TryPutError::Closed(item)) => assert!(closed && item.0 == v),
                Err(e) => panic!("push: unexpected {e:?}"),
            },
            Op::TryGet => {
                let expected = match model.pop_front() {
                    Some(v) => Ok(v),
                    None if closed => Err(TryGetError::Closed),
                    None => Err(TryGetError::Empty),
                };
                assert_eq!(queue.try_get().map(|i| i.0), expected, "try_get");
            }
            Op::Peek => {
                let expected = match model.front() {
                    Some(&v) => Ok(v),
                    None if closed => Err(TryGetError::Closed),
                    None => Err(TryGetError::Empty),
                };
                assert_eq!(queue.peek().map(|i| i.0), expected, "peek");
            }
            Op::Close => {
                queue.close();
                closed = true;
            }
            Op::Drain => {
                let mut out = Vec::new();
                assert_eq!(queue.drain_into(&mut out), model.len());
                let got: Vec<u32> = out.iter().map(|i| i.0).collect();
                assert_eq!(got, model.drain(..).collect::<Vec<_>>(), "drain order");
            }
        }
        assert_eq!(queue.len(), model.len(), "len");
        assert_eq!(queue.is_closed(), closed, "is_closed");
        assert_eq!(queue.remaining_capacity(), N - model.len());
        let alive = ALIVE.with(Cell::get);
        assert_eq!(alive, model.len() as i64, "items alive besides the queue's");
    }
    drop(queue);
    assert_eq!(ALIVE.with(Cell::get), 0, "an item outlived its queue");
}

fuzz_target!(|input: Input| {
    ALIVE.with(|a| a.set(0));
    match input.capacity % 4 {
        0 => run::<1>(input.ops),
        1 => run::<2>(input.ops),
        2 => run::<3>(input.ops),
        _ => run::<5>(input.ops),
    }
});
