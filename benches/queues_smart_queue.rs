//! `SmartQueue<u64>` against async-channel, flume and tokio `mpsc`; the
//! priority queue against a `Mutex<BinaryHeap>` + `event-listener`
//! baseline; `push` on a full queue against a `Mutex<VecDeque>` doing the
//! same drop-oldest. Nanoseconds per item.
//!
//! * `fifo spsc cap N`: one producer task and one consumer task on a tokio
//!   runtime with two workers, bounded to `N` (1 and 64) on every side.
//!   Peers: `async_channel::bounded(N)`, `flume::bounded(N)` (async API)
//!   and `tokio::sync::mpsc::channel(N)`.
//! * `fifo mpmc 4x4 cap N`: four producers and four consumers, same
//!   runtime. tokio's `mpsc` has a single receiver, so it sits this one
//!   out. Capacities are never 0: flume's async `bounded(0)` deadlocks
//!   under this load (flume #140).
//! * `priority spsc`: one producer, one consumer task on two workers, both
//!   unbounded; the baseline is a `Mutex<BinaryHeap<Reverse<u64>>>` with an
//!   `event_listener::Event` to wait on. Every priority case runs twice:
//!   against that plain heap, whose equal keys come out in any order, and
//!   against the same heap over `(key, arrival number)`, which keeps ties in
//!   arrival order as ours does (and so carries entries of the same size).
//! * `priority put+get of 64, one thread`: 64 puts of scrambled keys, then
//!   64 gets, no waiting: the cost of the heap and the lock, per put or get.
//! * `priority put+get of 100 000, one thread`: the same with a heap too
//!   large for the fast caches (1.6 MB of entries on our side), where
//!   `pop`'s cache misses dominate.
//! * `push on full (drop oldest)`: `push` into a full capacity-64 queue,
//!   which removes and returns the oldest item, against `pop_front` +
//!   `push_back` under a `Mutex<VecDeque>`.
//!
//! Allocations per operation for every side go to stderr (the harness's
//! counting allocator); a bounded queue is expected to show 0.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use asyncutils_bench::{Channel, CountingAlloc, Table, producers_consumers, time_loop};
use asyncutils_core::queues::{SmartPriorityQueue, SmartQueue};
use tokio::runtime::{Builder, Runtime};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// A bounded FIFO channel, as the workloads use it.
trait Chan: Channel {
    fn pair(cap: usize) -> (Self::Tx, Self::Rx);
}

struct Ours;

impl Channel for Ours {
    type Tx = Arc<SmartQueue<u64>>;
    type Rx = Arc<SmartQueue<u64>>;

    async fn send(tx: &Self::Tx, v: u64) {
        tx.put(v).await.expect("open");
    }

    async fn recv(rx: &Self::Rx) -> u64 {
        rx.get().await.expect("open")
    }
}

impl Chan for Ours {
    fn pair(cap: usize) -> (Self::Tx, Self::Rx) {
        let q = Arc::new(SmartQueue::bounded(cap).expect("capacity"));
        (q.clone(), q)
    }
}

struct AsyncChannel;

impl Channel for AsyncChannel {
    type Tx = async_channel::Sender<u64>;
    type Rx = async_channel::Receiver<u64>;

    async fn send(tx: &Self::Tx, v: u64) {
        tx.send(v).await.expect("receiver alive");
    }

    async fn recv(rx: &Self::Rx) -> u64 {
        rx.recv().await.expect("sender alive")
    }
}

impl Chan for AsyncChannel {
    fn pair(cap: usize) -> (Self::Tx, Self::Rx) {
        async_channel::bounded(cap)
    }
}

struct Flume;

impl Channel for Flume {
    type Tx = flume::Sender<u64>;
    type Rx = flume::Receiver<u64>;

    async fn send(tx: &Self::Tx, v: u64) {
        tx.send_async(v).await.expect("receiver alive");
    }

    async fn recv(rx: &Self::Rx) -> u64 {
        rx.recv_async().await.expect("sender alive")
    }
}

impl Chan for Flume {
    fn pair(cap: usize) -> (Self::Tx, Self::Rx) {
        flume::bounded(cap)
    }
}

/// `producers` tasks send and `consumers` tasks receive `n` items in all.
fn run<C: Chan>(rt: &Runtime, cap: usize, producers: u64, consumers: u64, n: u64) -> Duration {
    producers_consumers::<C>(rt, C::pair(cap), producers, consumers, n)
}

/// tokio's `mpsc` in the single-producer, single-consumer workload.
fn run_tokio_mpsc(rt: &Runtime, cap: usize, n: u64) -> Duration {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(cap);
    let start = Instant::now();
    let sum = rt.block_on(async move {
        let receiver = tokio::spawn(async move {
            let mut sum = 0u64;
            for _ in 0..n {
                sum = sum.wrapping_add(rx.recv().await.expect("sender alive"));
            }
            sum
        });
        let sender = tokio::spawn(async move {
            for i in 0..n {
                tx.send(i).await.expect("receiver alive");
            }
        });
        sender.await.expect("producer panicked");
        receiver.await.expect("consumer panicked")
    });
    let took = start.elapsed();
    black_box(sum);
    took
}

// === the priority baseline ===

/// An entry of the baseline heap: the bare key, or the key with its
/// arrival number (the tie order our queue guarantees).
trait HeapEntry: Ord + Send + 'static {
    fn new(key: u64, seq: u64) -> Self;
    fn key(self) -> u64;
}

/// Equal keys come out in any order.
impl HeapEntry for Reverse<u64> {
    fn new(key: u64, _seq: u64) -> Self {
        Reverse(key)
    }
    fn key(self) -> u64 {
        self.0
    }
}

/// Equal keys come out in arrival order, as from ours.
impl HeapEntry for Reverse<(u64, u64)> {
    fn new(key: u64, seq: u64) -> Self {
        Reverse((key, seq))
    }
    fn key(self) -> u64 {
        self.0.0
    }
}

/// The textbook async priority queue: a locked heap (and the next arrival
/// number) and an event to wait on.
struct HeapBaseline<E> {
    heap: Mutex<(BinaryHeap<E>, u64)>,
    event: event_listener::Event,
}

/// The plain baseline; `StableHeap` keeps ties in arrival order.
type PlainHeap = HeapBaseline<Reverse<u64>>;
type StableHeap = HeapBaseline<Reverse<(u64, u64)>>;

impl<E: HeapEntry> HeapBaseline<E> {
    fn new() -> Self {
        Self {
            heap: Mutex::new((BinaryHeap::new(), 0)),
            event: event_listener::Event::new(),
        }
    }

    fn put(&self, v: u64) {
        let mut guard = self.heap.lock().expect("unpoisoned");
        let (heap, seq) = &mut *guard;
        heap.push(E::new(v, *seq));
        *seq += 1;
        drop(guard);
        self.event.notify(1);
    }

    fn try_get(&self) -> Option<u64> {
        self.heap.lock().expect("unpoisoned").0.pop().map(E::key)
    }

    async fn get(&self) -> u64 {
        loop {
            if let Some(v) = self.try_get() {
                return v;
            }
            let listener = self.event.listen();
            if let Some(v) = self.try_get() {
                return v;
            }
            listener.await;
        }
    }
}

fn run_priority_ours(rt: &Runtime, n: u64) -> Duration {
    let q = Arc::new(SmartPriorityQueue::<u64>::unbounded());
    let start = Instant::now();
    let sum = rt.block_on(async move {
        let consumer = tokio::spawn({
            let q = q.clone();
            async move {
                let mut sum = 0u64;
                for _ in 0..n {
                    sum = sum.wrapping_add(q.get().await.expect("open"));
                }
                sum
            }
        });
        let producer = tokio::spawn(async move {
            for i in 0..n {
                q.put(i.wrapping_mul(0x9E37_79B9) % 1024)
                    .await
                    .expect("open");
            }
        });
        producer.await.expect("producer panicked");
        consumer.await.expect("consumer panicked")
    });
    let took = start.elapsed();
    black_box(sum);
    took
}

fn run_priority_baseline<E: HeapEntry>(rt: &Runtime, n: u64) -> Duration {
    let q = Arc::new(HeapBaseline::<E>::new());
    let start = Instant::now();
    let sum = rt.block_on(async move {
        let consumer = tokio::spawn({
            let q = q.clone();
            async move {
                let mut sum = 0u64;
                for _ in 0..n {
                    sum = sum.wrapping_add(q.get().await);
                }
                sum
            }
        });
        let producer = tokio::spawn(async move {
            for i in 0..n {
                q.put(i.wrapping_mul(0x9E37_79B9) % 1024);
            }
        });
        producer.await.expect("producer panicked");
        consumer.await.expect("consumer panicked")
    });
    let took = start.elapsed();
    black_box(sum);
    took
}

/// `rounds` rounds of `BATCH` puts of scrambled keys followed by as many
/// gets; returns the time.
fn put_then_get_64(
    rounds: u64,
    mut put: impl FnMut(u64),
    mut get: impl FnMut() -> u64,
) -> Duration {
    time_loop(rounds, |r| {
        for i in 0..BATCH {
            put((r ^ i).wrapping_mul(0x9E37_79B9) % 97);
        }
        for _ in 0..BATCH {
            get();
        }
    })
}

/// `n` operations (half puts, half gets) in rounds of up to `BIG_BATCH`
/// puts of scrambled keys followed by as many gets; returns the time.
fn fill_then_drain(n: u64, mut put: impl FnMut(u64), mut get: impl FnMut() -> u64) -> Duration {
    let start = Instant::now();
    let mut left = n.div_ceil(2);
    let mut round = 0u64;
    while left > 0 {
        let k = left.min(BIG_BATCH);
        for i in 0..k {
            put((round ^ i).wrapping_mul(0x9E37_79B9) % 100_003);
        }
        for _ in 0..k {
            get();
        }
        left -= k;
        round += 1;
    }
    start.elapsed()
}

fn two_workers() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("tokio runtime")
}

const BATCH: u64 = 64;
const PLAIN: &str = "Mutex<BinaryHeap> + event-listener";
const STABLE: &str = "same, ties in arrival order";
const BIG_BATCH: u64 = 100_000;

fn main() {
    let mut t = Table::new(
        "SmartQueue<u64> vs async-channel / flume / tokio mpsc, priority and push",
        "item",
    );
    let rt = two_workers();

    for cap in [1usize, 64] {
        let spsc = format!("fifo spsc cap {cap}, tokio 2 workers");
        t.compare(
            &format!("{spsc} (vs async-channel)"),
            |n| run::<Ours>(&rt, cap, 1, 1, n),
            "async-channel",
            |n| run::<AsyncChannel>(&rt, cap, 1, 1, n),
        );
        t.compare(
            &format!("{spsc} (vs flume)"),
            |n| run::<Ours>(&rt, cap, 1, 1, n),
            "flume",
            |n| run::<Flume>(&rt, cap, 1, 1, n),
        );
        t.compare(
            &format!("{spsc} (vs tokio mpsc)"),
            |n| run::<Ours>(&rt, cap, 1, 1, n),
            "tokio mpsc",
            |n| run_tokio_mpsc(&rt, cap, n),
        );
        let mpmc = format!("fifo mpmc 4x4 cap {cap}, tokio 2 workers");
        t.compare(
            &format!("{mpmc} (vs async-channel)"),
            |n| run::<Ours>(&rt, cap, 4, 4, n),
            "async-channel",
            |n| run::<AsyncChannel>(&rt, cap, 4, 4, n),
        );
        t.compare(
            &format!("{mpmc} (vs flume)"),
            |n| run::<Ours>(&rt, cap, 4, 4, n),
            "flume",
            |n| run::<Flume>(&rt, cap, 4, 4, n),
        );
    }

    // Each priority case twice: against the plain heap, and against one
    // that pays for the same tie order as ours.
    t.compare(
        "priority spsc, tokio 2 workers (vs plain heap)",
        |n| run_priority_ours(&rt, n),
        PLAIN,
        |n| run_priority_baseline::<Reverse<u64>>(&rt, n),
    );
    t.compare(
        "priority spsc, tokio 2 workers (vs stable heap)",
        |n| run_priority_ours(&rt, n),
        STABLE,
        |n| run_priority_baseline::<Reverse<(u64, u64)>>(&rt, n),
    );

    let ours = SmartPriorityQueue::<u64>::bounded(BATCH as usize).expect("capacity");
    let rounds = |n: u64| n.div_ceil(2 * BATCH);
    let ours_64 = |n: u64| {
        put_then_get_64(
            rounds(n),
            |k| ours.try_put(k).expect("room"),
            || black_box(ours.try_get().expect("item")),
        )
    };
    fn base_64<E: HeapEntry>(base: &HeapBaseline<E>, rounds: u64) -> Duration {
        put_then_get_64(
            rounds,
            |k| base.put(k),
            || black_box(base.try_get().expect("item")),
        )
    }
    let plain = PlainHeap::new();
    let stable = StableHeap::new();
    t.compare(
        "priority put+get of 64, one thread (vs plain heap)",
        ours_64,
        PLAIN,
        |n| base_64(&plain, rounds(n)),
    );
    t.compare(
        "priority put+get of 64, one thread (vs stable heap)",
        ours_64,
        STABLE,
        |n| base_64(&stable, rounds(n)),
    );

    let ours = SmartPriorityQueue::<u64>::unbounded();
    let ours_big = |n: u64| {
        fill_then_drain(
            n,
            |k| ours.try_put(k).expect("room"),
            || black_box(ours.try_get().expect("item")),
        )
    };
    fn base_big<E: HeapEntry>(base: &HeapBaseline<E>, n: u64) -> Duration {
        fill_then_drain(
            n,
            |k| base.put(k),
            || black_box(base.try_get().expect("item")),
        )
    }
    t.compare(
        "priority put+get of 100 000, one thread (vs plain heap)",
        ours_big,
        PLAIN,
        |n| base_big(&plain, n),
    );
    t.compare(
        "priority put+get of 100 000, one thread (vs stable heap)",
        ours_big,
        STABLE,
        |n| base_big(&stable, n),
    );

    let full = SmartQueue::<u64>::bounded(BATCH as usize).expect("capacity");
    full.try_extend(0..BATCH).expect("room");
    let deque = Mutex::new((0..BATCH).collect::<VecDeque<u64>>());
    t.compare(
        "push on full cap 64 (drop oldest)",
        |n| {
            time_loop(n, |i| {
                black_box(full.push(i).expect("open"));
            })
        },
        "Mutex<VecDeque> pop_front+push_back",
        |n| {
            time_loop(n, |i| {
                let mut d = deque.lock().expect("unpoisoned");
                let old = d.pop_front();
                d.push_back(i);
                drop(d);
                black_box(old);
            })
        },
    );
    t.finish();
}
