//! `FixedQueue<u64, N>` (no allocation, waiters linked inside their
//! futures) against `embassy-sync`'s `Channel<CriticalSectionRawMutex, u64,
//! N>`, the async fixed-capacity channel of embedded Rust, and against a
//! `Mutex<heapless::Deque>` for the non-waiting path. Nanoseconds per item.
//!
//! * `spsc cap N, tokio 2 workers`: one producer task, one consumer task,
//!   `N` = 1 and 16, async `put`/`get` against `send`/`receive`.
//! * `mpmc 4x4 cap 16, tokio 2 workers`: four producers, four consumers.
//! * `try_put + try_get, one thread`: a put and a get into a queue of 16
//!   holding 8 items: the lock and the ring, nothing waits. Peers:
//!   embassy's `try_send` / `try_receive` and a `std::sync::Mutex` around a
//!   `heapless::Deque`.
//!
//! On `std`, embassy's `CriticalSectionRawMutex` is the `critical-section`
//! crate's std implementation: one process-wide lock. It is what an
//! embassy channel shared between threads runs on off-target.
//!
//! The two do not promise the same thing: embassy's channel keeps one
//! waker per side, so of several waiting tasks only the last registered is
//! woken, and each registration wakes the one it replaces (they take turns
//! re-polling); ours links every waiter and serves them in arrival order,
//! waking only the one served. The 4x4 row is where that shows.

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asyncutils_bench::{Channel, CountingAlloc, Table, producers_consumers, time_loop};
use asyncutils_core::queues::FixedQueue;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use tokio::runtime::{Builder, Runtime};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// A fixed-capacity async queue shared by every task: both ends are the
/// same `Arc`.
struct Ours<const N: usize>;

impl<const N: usize> Channel for Ours<N> {
    type Tx = Arc<FixedQueue<u64, N>>;
    type Rx = Arc<FixedQueue<u64, N>>;

    async fn send(tx: &Self::Tx, v: u64) {
        tx.put(v).await.expect("open");
    }

    async fn recv(rx: &Self::Rx) -> u64 {
        rx.get().await.expect("open")
    }
}

struct Embassy<const N: usize>;

impl<const N: usize> Channel for Embassy<N> {
    type Tx = Arc<Channel_<N>>;
    type Rx = Arc<Channel_<N>>;

    async fn send(tx: &Self::Tx, v: u64) {
        tx.send(v).await;
    }

    async fn recv(rx: &Self::Rx) -> u64 {
        rx.receive().await
    }
}

type Channel_<const N: usize> = embassy_sync::channel::Channel<CriticalSectionRawMutex, u64, N>;

/// `producers` tasks put and `consumers` tasks get `n` items in all.
fn run<C: Channel<Tx = Arc<Q>, Rx = Arc<Q>>, Q>(
    rt: &Runtime,
    new: fn() -> Q,
    producers: u64,
    consumers: u64,
    n: u64,
) -> Duration {
    let q = Arc::new(new());
    producers_consumers::<C>(rt, (q.clone(), q), producers, consumers, n)
}

fn two_workers() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("tokio runtime")
}

const PRELOAD: u64 = 8;

fn main() {
    let mut t = Table::new(
        "FixedQueue<u64, N> vs embassy-sync Channel / Mutex<heapless::Deque>",
        "item",
    );
    let rt = two_workers();

    t.compare(
        "spsc cap 1, tokio 2 workers",
        |n| run::<Ours<1>, _>(&rt, FixedQueue::new, 1, 1, n),
        "embassy-sync",
        |n| run::<Embassy<1>, _>(&rt, Channel_::new, 1, 1, n),
    );
    t.compare(
        "spsc cap 16, tokio 2 workers",
        |n| run::<Ours<16>, _>(&rt, FixedQueue::new, 1, 1, n),
        "embassy-sync",
        |n| run::<Embassy<16>, _>(&rt, Channel_::new, 1, 1, n),
    );
    t.compare(
        "mpmc 4x4 cap 16, tokio 2 workers",
        |n| run::<Ours<16>, _>(&rt, FixedQueue::new, 4, 4, n),
        "embassy-sync",
        |n| run::<Embassy<16>, _>(&rt, Channel_::new, 4, 4, n),
    );

    let ours = FixedQueue::<u64, 16>::new();
    let embassy = Channel_::<16>::new();
    let deque = Mutex::new(heapless::Deque::<u64, 16>::new());
    for i in 0..PRELOAD {
        ours.try_put(i).expect("room");
        embassy.try_send(i).expect("room");
        deque
            .lock()
            .expect("unpoisoned")
            .push_back(i)
            .expect("room");
    }
    t.compare(
        "try_put + try_get, one thread (vs embassy-sync)",
        |n| {
            time_loop(n, |i| {
                ours.try_put(black_box(i)).expect("room");
                black_box(ours.try_get().expect("item"));
            })
        },
        "embassy-sync",
        |n| {
            time_loop(n, |i| {
                embassy.try_send(black_box(i)).expect("room");
                black_box(embassy.try_receive().expect("item"));
            })
        },
    );
    t.compare(
        "try_put + try_get, one thread (vs heapless)",
        |n| {
            time_loop(n, |i| {
                ours.try_put(black_box(i)).expect("room");
                black_box(ours.try_get().expect("item"));
            })
        },
        "Mutex<heapless::Deque>",
        |n| {
            time_loop(n, |i| {
                deque
                    .lock()
                    .expect("unpoisoned")
                    .push_back(black_box(i))
                    .expect("room");
                black_box(deque.lock().expect("unpoisoned").pop_front().expect("item"));
            })
        },
    );
    t.size(
        "size_of, capacity 16",
        &format!("{} B", size_of::<FixedQueue<u64, 16>>()),
        "embassy-sync",
        &format!("{} B", size_of::<Channel_<16>>()),
    );
    t.finish();
}
