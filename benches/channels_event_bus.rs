//! `EventBus<u64>` fan-out against tokio `broadcast` and `async-broadcast`
//! 0.7: nanoseconds per *delivery* (one message reaching one subscriber),
//! so a publish to 16 subscribers counts 16 deliveries. (The peer figure
//! "send + 16 receivers ≈ 509 ns" is ≈ 32 ns per delivery.)
//!
//! Every case runs on a tokio current-thread runtime built once per case;
//! the time covers spawning the receiver tasks (peers), moving `iters`
//! messages to every subscriber, and joining; it is divided by
//! `iters × subscribers`.
//!
//! * `publish to k sync subscribers`: ours calls `k` synchronous
//!   subscribers (each adds the value to its own counter) inside
//!   `bus.publish(..).await`. The peers' `k` receiver tasks each `recv()`
//!   every message and add it up; the sender yields every 256 messages so
//!   the receivers keep up (capacity 1024: nothing is lost).
//! * `publish to 16 async subscribers`: ours with asynchronous subscribers
//!   (one boxed future per delivery, polled inside the publication).
//! * `pattern match, 10 000 pattern subscriptions`: a publish reaching one
//!   `svcN.*` subscriber among 10 000 others, against a linear scan of the
//!   same 10 000 prefixes (no peer crate has pattern subscriptions), per
//!   publish.
//!
//! After the table, a second one counts **messages lost** with one slow
//! subscriber among 16 (it yields to the executor after every message):
//! tokio `broadcast` (capacity 64) reports `Lagged` and drops messages;
//! `async-broadcast` and ours make the publisher wait instead.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use asyncutils_bench::{CountingAlloc, Table};
use asyncutils_core::channels::EventBus;
use asyncutils_core::time::ManualClock;
use tokio::runtime::{Builder, Runtime};
use tokio::sync::broadcast;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

type Bus = EventBus<u64, ManualClock>;

const CAPACITY: usize = 1024;

fn rt() -> Runtime {
    Builder::new_current_thread()
        .build()
        .expect("tokio runtime")
}

/// Ours: `k` synchronous subscribers; `n` publishes.
fn ours_sync(rt: &Runtime, bus: &Bus, n: u64) -> Duration {
    let start = Instant::now();
    rt.block_on(async {
        for i in 0..n {
            bus.publish("tick", i).await.expect("no subscriber fails");
        }
    });
    start.elapsed()
}

fn sync_bus(k: usize) -> (Bus, Vec<Arc<AtomicU64>>) {
    let bus = Bus::new();
    let sums: Vec<_> = (0..k).map(|_| Arc::new(AtomicU64::new(0))).collect();
    for s in &sums {
        let s = s.clone();
        bus.subscribe("tick", move |v: &u64| {
            s.fetch_add(*v, Ordering::Relaxed);
        })
        .expect("valid")
        .forget();
    }
    (bus, sums)
}

fn async_bus(k: usize) -> Bus {
    let bus = Bus::new();
    for _ in 0..k {
        let s = Arc::new(AtomicU64::new(0));
        bus.subscribe_async("tick", move |v: u64| {
            let s = s.clone();
            async move {
                s.fetch_add(v, Ordering::Relaxed);
            }
        })
        .expect("valid")
        .forget();
    }
    bus
}

/// tokio broadcast: `k` receiver tasks, one sender; returns (time, lost).
fn tokio_broadcast(rt: &Runtime, k: usize, n: u64, capacity: usize, slow: bool) -> (Duration, u64) {
    let start = Instant::now();
    let lost = rt.block_on(async {
        let (tx, _) = broadcast::channel::<u64>(capacity);
        let receivers: Vec<_> = (0..k)
            .map(|i| {
                let mut rx = tx.subscribe();
                tokio::spawn(async move {
                    let (mut sum, mut lost) = (0u64, 0u64);
                    loop {
                        match rx.recv().await {
                            Ok(v) => sum = sum.wrapping_add(v),
                            Err(broadcast::error::RecvError::Lagged(m)) => lost += m,
                            Err(broadcast::error::RecvError::Closed) => break,
                        }
                        if slow && i == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                    black_box(sum);
                    lost
                })
            })
            .collect();
        for i in 0..n {
            let _ = tx.send(i);
            if i % 256 == 255 {
                tokio::task::yield_now().await;
            }
        }
        drop(tx);
        let mut lost = 0;
        for r in receivers {
            lost += r.await.expect("receiver panicked");
        }
        lost
    });
    (start.elapsed(), lost)
}

/// async-broadcast: `k` receiver tasks; a full channel makes the sender
/// wait. Returns (time, lost).
fn async_broadcast(rt: &Runtime, k: usize, n: u64, capacity: usize, slow: bool) -> (Duration, u64) {
    let start = Instant::now();
    let lost = rt.block_on(async {
        let (tx, rx) = async_broadcast::broadcast::<u64>(capacity);
        let mut rxs: Vec<_> = (1..k).map(|_| rx.clone()).collect();
        rxs.push(rx);
        let receivers: Vec<_> = rxs
            .into_iter()
            .enumerate()
            .map(|(i, mut rx)| {
                tokio::spawn(async move {
                    let (mut sum, mut got) = (0u64, 0u64);
                    while let Ok(v) = rx.recv().await {
                        sum = sum.wrapping_add(v);
                        got += 1;
                        if slow && i == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                    black_box(sum);
                    got
                })
            })
            .collect();
        for i in 0..n {
            tx.broadcast(i).await.expect("receivers alive");
            if i % 256 == 255 {
                tokio::task::yield_now().await;
            }
        }
        drop(tx);
        let mut lost = 0;
        for r in receivers {
            lost += n - r.await.expect("receiver panicked");
        }
        lost
    });
    (start.elapsed(), lost)
}

/// Ours with one slow asynchronous subscriber among `k` synchronous ones;
/// returns (time, lost).
fn ours_slow(rt: &Runtime, k: usize, n: u64) -> (Duration, u64) {
    let bus = Bus::new();
    let slow = Arc::new(AtomicU64::new(0));
    let s = slow.clone();
    bus.subscribe_async("tick", move |_| {
        let s = s.clone();
        async move {
            tokio::task::yield_now().await;
            s.fetch_add(1, Ordering::Relaxed);
        }
    })
    .expect("valid")
    .forget();
    let counts: Vec<_> = (0..k - 1).map(|_| Arc::new(AtomicU64::new(0))).collect();
    for c in &counts {
        let c = c.clone();
        bus.subscribe("tick", move |_| {
            c.fetch_add(1, Ordering::Relaxed);
        })
        .expect("valid")
        .forget();
    }
    let took = ours_sync(rt, &bus, n);
    let lost = (n - slow.load(Ordering::Relaxed))
        + counts
            .iter()
            .map(|c| n - c.load(Ordering::Relaxed))
            .sum::<u64>();
    (took, lost)
}

fn per_delivery(d: Duration, k: usize) -> Duration {
    // The harness divides by `iters`; scale so it divides by deliveries.
    d / u32::try_from(k).expect("small k")
}

fn main() {
    let mut t = Table::new(
        "EventBus<u64> fan-out vs tokio broadcast / async-broadcast 0.7",
        "delivery",
    );
    let rt = rt();
    for k in [1usize, 16, 64] {
        let (bus, sums) = sync_bus(k);
        let case = format!("publish to {k} sync subscribers, current-thread (vs tokio broadcast)");
        t.compare(
            &case,
            |n| per_delivery(ours_sync(&rt, &bus, n), k),
            "tokio broadcast",
            |n| per_delivery(tokio_broadcast(&rt, k, n, CAPACITY, false).0, k),
        );
        let case = format!("publish to {k} sync subscribers, current-thread (vs async-broadcast)");
        t.compare(
            &case,
            |n| per_delivery(ours_sync(&rt, &bus, n), k),
            "async-broadcast",
            |n| per_delivery(async_broadcast(&rt, k, n, CAPACITY, false).0, k),
        );
        black_box(&sums);
    }
    let bus = async_bus(16);
    t.compare(
        "publish to 16 async subscribers, current-thread (vs tokio broadcast)",
        |n| per_delivery(ours_sync(&rt, &bus, n), 16),
        "tokio broadcast",
        |n| per_delivery(tokio_broadcast(&rt, 16, n, CAPACITY, false).0, 16),
    );

    // Pattern matching: 10 000 `svcN.*` subscriptions, one reached.
    let patterns = Bus::new();
    let hits = Arc::new(AtomicU64::new(0));
    let prefixes: Vec<String> = (0..10_000).map(|i| format!("svc{i}.")).collect();
    for p in &prefixes {
        let h = hits.clone();
        patterns
            .subscribe_pattern(&format!("{p}*"), move |_: &str, v: &u64| {
                h.fetch_add(*v, Ordering::Relaxed);
            })
            .expect("valid")
            .forget();
    }
    let scan: Vec<(String, Arc<AtomicU64>)> =
        prefixes.iter().map(|p| (p.clone(), hits.clone())).collect();
    t.compare(
        "pattern match, 10 000 pattern subscriptions, 1 reached (vs linear scan)",
        |n| {
            let start = Instant::now();
            rt.block_on(async {
                for i in 0..n {
                    patterns
                        .publish("svc4242.orders.created", i)
                        .await
                        .expect("ok");
                }
            });
            start.elapsed()
        },
        "Vec scan",
        |n| {
            let start = Instant::now();
            for i in 0..n {
                let event = black_box("svc4242.orders.created");
                for (p, h) in &scan {
                    if event.starts_with(p.as_str()) {
                        h.fetch_add(i, Ordering::Relaxed);
                    }
                }
            }
            start.elapsed()
        },
    );
    let quick = t.config().quick;
    t.finish();

    // Messages lost with one slow subscriber among 16.
    let n: u64 = if quick { 2_000 } else { 20_000 };
    let (ours_t, ours_lost) = ours_slow(&rt, 16, n);
    let (tok_t, tok_lost) = tokio_broadcast(&rt, 16, n, 64, true);
    let (ab_t, ab_lost) = async_broadcast(&rt, 16, n, 64, true);
    let row = |name: &str, t: Duration, lost: u64| {
        format!(
            "| {name} | {:.0} | {lost} | {:.2}% |",
            t.as_nanos() as f64 / (n * 16) as f64,
            lost as f64 * 100.0 / (n * 16) as f64
        )
    };
    println!(
        "\n### Messages lost: {n} messages, 16 subscribers, one slow (yields after each message), capacity 64\n"
    );
    println!("| side | ns/delivery | deliveries lost | lost |");
    println!("|---|---:|---:|---:|");
    println!(
        "{}",
        row("ours (EventBus, publish awaits)", ours_t, ours_lost)
    );
    println!("{}", row("tokio broadcast", tok_t, tok_lost));
    println!("{}", row("async-broadcast (send waits)", ab_t, ab_lost));
    assert_eq!(ours_lost, 0, "EventBus must not lose messages");
}
