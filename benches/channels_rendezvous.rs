//! `Rendezvous<u64>` against kanal `bounded_async(0)` and flume `bounded(0)`:
//! nanoseconds per message handed over.
//!
//! Every case runs all three channels on the same executor setup, built once
//! per case: producer and consumer tasks are `tokio::spawn`ed and the main
//! thread `block_on`s their join handles. The time covers spawning the tasks,
//! moving `iters` messages and joining; it is divided by `iters`.
//!
//! * `spsc, tokio current-thread`: one producer task and one consumer task on
//!   a current-thread runtime (every handoff is a task switch on one thread).
//! * `spsc, tokio 2 workers`: the same on a multi-thread runtime with two
//!   workers (the tasks may run on different threads and wake each other).
//! * `mpmc 4x4, tokio 2 workers`: four producers and four consumers on a
//!   two-worker runtime, each producer sending `iters/4` messages and each
//!   consumer receiving `iters/4`. Against kanal only: flume's async
//!   `bounded(0)` deadlocks under this load (flume issue #140; measured
//!   here: flume 0.12 hung after ~2,900 rounds of this workload, while ours
//!   ran 82,000 rounds in the same two minutes), which stalled a CI run.
//!
//! Ours is shared through an `Arc`; its futures borrow it
//! (`rv.put(v).await`, `rv.get().await`). The peers use their async handles
//! (`send(v).await` / `recv().await` for kanal, `send_async` / `recv_async`
//! for flume), cloned per task.
//!
//! The memory section gives `size_of` of the handles a task holds and the
//! heap bytes allocated to create one channel.

use std::hint::black_box;
use std::mem::size_of;
use std::sync::Arc;
use std::time::Duration;

use asyncutils_bench::{Channel, CountingAlloc, Table, count_allocs, producers_consumers};
use asyncutils_core::channels::Rendezvous;
use tokio::runtime::{Builder, Runtime};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// A zero-capacity channel, as the workloads use it.
trait Chan: Channel {
    fn pair() -> (Self::Tx, Self::Rx);
}

struct Ours;

impl Channel for Ours {
    type Tx = Arc<Rendezvous<u64>>;
    type Rx = Arc<Rendezvous<u64>>;

    async fn send(tx: &Self::Tx, v: u64) {
        tx.put(v).await.expect("never reset");
    }

    async fn recv(rx: &Self::Rx) -> u64 {
        rx.get().await.expect("never reset")
    }
}

impl Chan for Ours {
    fn pair() -> (Self::Tx, Self::Rx) {
        let rv = Arc::new(Rendezvous::new());
        (rv.clone(), rv)
    }
}

struct Kanal;

impl Channel for Kanal {
    type Tx = kanal::AsyncSender<u64>;
    type Rx = kanal::AsyncReceiver<u64>;

    async fn send(tx: &Self::Tx, v: u64) {
        tx.send(v).await.expect("receiver alive");
    }

    async fn recv(rx: &Self::Rx) -> u64 {
        rx.recv().await.expect("sender alive")
    }
}

impl Chan for Kanal {
    fn pair() -> (Self::Tx, Self::Rx) {
        kanal::bounded_async(0)
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
    fn pair() -> (Self::Tx, Self::Rx) {
        flume::bounded(0)
    }
}

/// `producers` tasks send and `consumers` tasks receive `n` messages in all.
fn run<C: Chan>(rt: &Runtime, producers: u64, consumers: u64, n: u64) -> Duration {
    producers_consumers::<C>(rt, C::pair(), producers, consumers, n)
}

fn current_thread() -> Runtime {
    Builder::new_current_thread()
        .build()
        .expect("tokio runtime")
}

fn two_workers() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("tokio runtime")
}

fn main() {
    let mut t = Table::new(
        "Rendezvous<u64> vs kanal bounded_async(0) / flume bounded(0)",
        "msg",
    );

    // The last field: whether flume can run the case (see the module docs).
    type Setup = (&'static str, fn() -> Runtime, u64, u64, bool);
    let setups: [Setup; 3] = [
        ("spsc, tokio current-thread", current_thread, 1, 1, true),
        ("spsc, tokio 2 workers", two_workers, 1, 1, true),
        ("mpmc 4x4, tokio 2 workers", two_workers, 4, 4, false),
    ];
    for (name, runtime, producers, consumers, with_flume) in setups {
        let (vs_kanal, vs_flume) = (format!("{name} (vs kanal)"), format!("{name} (vs flume)"));
        if !t.selected(&vs_kanal) && !t.selected(&vs_flume) {
            continue;
        }
        let rt = runtime();
        t.compare(
            &vs_kanal,
            |n| run::<Ours>(&rt, producers, consumers, n),
            "kanal",
            |n| run::<Kanal>(&rt, producers, consumers, n),
        );
        if !with_flume {
            continue;
        }
        t.compare(
            &vs_flume,
            |n| run::<Ours>(&rt, producers, consumers, n),
            "flume",
            |n| run::<Flume>(&rt, producers, consumers, n),
        );
    }

    let ((), ours_allocs, ours_bytes) = count_allocs(|| drop(black_box(Ours::pair())));
    let ((), kanal_allocs, kanal_bytes) = count_allocs(|| drop(black_box(Kanal::pair())));
    let ((), flume_allocs, flume_bytes) = count_allocs(|| drop(black_box(Flume::pair())));
    t.size(
        "handles one task holds, size_of",
        &format!(
            "Arc<Rendezvous<u64>>: {}",
            size_of::<Arc<Rendezvous<u64>>>()
        ),
        "kanal AsyncSender / AsyncReceiver",
        &format!(
            "{} / {}",
            size_of::<kanal::AsyncSender<u64>>(),
            size_of::<kanal::AsyncReceiver<u64>>()
        ),
    );
    t.size(
        "handles one task holds, size_of",
        &format!(
            "Arc<Rendezvous<u64>>: {}",
            size_of::<Arc<Rendezvous<u64>>>()
        ),
        "flume Sender / Receiver",
        &format!(
            "{} / {}",
            size_of::<flume::Sender<u64>>(),
            size_of::<flume::Receiver<u64>>()
        ),
    );
    t.size(
        "heap to create one channel",
        &format!(
            "{ours_bytes} in {ours_allocs} alloc (Rendezvous<u64> is {})",
            size_of::<Rendezvous<u64>>()
        ),
        "kanal",
        &format!("{kanal_bytes} in {kanal_allocs} alloc"),
    );
    t.size(
        "heap to create one channel",
        &format!("{ours_bytes} in {ours_allocs} alloc"),
        "flume",
        &format!("{flume_bytes} in {flume_allocs} alloc"),
    );
    t.finish();
}
