//! `Waterfall` against futures-batch 0.7 (`chunks_timeout` over a tokio
//! `mpsc` channel, the usual way to batch items from many producers).
//!
//! **Table: ns per item delivered, unthrottled.** Producer tasks put `n`
//! items as fast as they can (ours: `put(v).await`; the peer:
//! `send(v).await` on a bounded tokio channel); one consumer receives the
//! batches (ours: the driver's callback; the peer: a task looping on the
//! `chunks_timeout` stream) and sums them. Batches of up to 128, `max_wait`
//! 10 ms, room for 512 items in flight on both sides. Timed from spawning
//! to the last batch received; divided by `n`.
//!
//! * `1 producer, tokio current-thread`;
//! * `4 producers, tokio 2 workers`.
//!
//! **Second table: offered load of 1 M items/s.** A producer task on a
//! 2-worker tokio runtime puts 1 000 items every millisecond (a tokio
//! interval), each carrying the instant it was put, for one second (0.2 s
//! in quick mode). The consumer records, for each batch, the time from its
//! first item's put to the batch's delivery: the flush latency, shown as
//! p50 and p99 beside `max_wait`. Also shown: items per second delivered
//! (items / time from the first put to the last delivery), the mean batch
//! size, and heap allocations per item over the whole run (process-wide:
//! the runtime's timers and wakers included, for both sides alike). Two
//! settings: batches of up to 256 with `max_wait` 5 ms (most batches leave
//! by size), and batches of up to 100 000 with `max_wait` 2 ms (every
//! batch leaves by time). Ours runs twice: on the `Tokio` clock (tokio's
//! timer wheel, whose sleeps end on a whole-millisecond tick at or after
//! the deadline) and on a clock whose sleeps are futures-timer `Delay`s,
//! the timer futures-batch uses, so the flush latency of the two designs
//! can be compared on the same timer.

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use asyncutils_bench::{CountingAlloc, Table, count_allocs, split};
use asyncutils_core::batch::Waterfall;
use asyncutils_core::time::Clock;
use asyncutils_tokio::Tokio;
use futures::StreamExt;
use futures_batch::ChunksTimeoutStreamExt;
use tokio::runtime::{Builder, Runtime};
use tokio::sync::mpsc;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const BATCH: usize = 128;
const IN_FLIGHT: usize = 512;
const MAX_WAIT: Duration = Duration::from_millis(10);

fn current_thread() -> Runtime {
    Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn two_workers() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

// === unthrottled ===

fn ours(rt: &Runtime, producers: u64, n: u64) -> Duration {
    let start = Instant::now();
    let sum = rt.block_on(async move {
        let wf =
            Arc::new(Waterfall::with_capacity(BATCH, MAX_WAIT, IN_FLIGHT, Tokio).expect("valid"));
        let driver = tokio::spawn({
            let wf = wf.clone();
            async move {
                let mut sum = 0u64;
                let report = wf
                    .driver(|batch: Vec<u64>| {
                        sum = batch.iter().fold(sum, |s, v| s.wrapping_add(*v));
                        std::future::ready(Ok::<(), std::convert::Infallible>(()))
                    })
                    .await;
                assert_eq!(report.dropped(), 0);
                sum
            }
        });
        let handles: Vec<_> = split(n, producers)
            .map(|count| {
                let wf = wf.clone();
                tokio::spawn(async move {
                    for i in 0..count {
                        wf.put(i).await.expect("open");
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.expect("producer");
        }
        assert!(wf.stop(None).await.is_complete());
        driver.await.expect("driver")
    });
    let took = start.elapsed();
    black_box(sum);
    took
}

fn peer(rt: &Runtime, producers: u64, n: u64) -> Duration {
    let start = Instant::now();
    let sum = rt.block_on(async move {
        let (tx, mut rx) = mpsc::channel::<u64>(IN_FLIGHT);
        let consumer = tokio::spawn(async move {
            let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
            let mut batches = std::pin::pin!(stream.chunks_timeout(BATCH, MAX_WAIT));
            let mut sum = 0u64;
            while let Some(batch) = batches.next().await {
                sum = batch.iter().fold(sum, |s, v| s.wrapping_add(*v));
            }
            sum
        });
        let handles: Vec<_> = split(n, producers)
            .map(|count| {
                let tx = tx.clone();
                tokio::spawn(async move {
                    for i in 0..count {
                        tx.send(i).await.expect("receiver alive");
                    }
                })
            })
            .collect();
        drop(tx);
        for h in handles {
            h.await.expect("producer");
        }
        consumer.await.expect("consumer")
    });
    let took = start.elapsed();
    black_box(sum);
    took
}

// === offered load ===

const PER_TICK: usize = 1_000;
const TICK: Duration = Duration::from_millis(1);

#[derive(Debug, Default)]
struct Paced {
    items: usize,
    batches: usize,
    /// From the first put to the last delivery.
    span: Duration,
    latencies: Vec<Duration>,
    allocs: u64,
}

/// Records one delivered batch.
fn record(log: &Mutex<(Vec<Duration>, usize, Option<Instant>)>, batch: &[Instant]) {
    let now = Instant::now();
    let mut log = log.lock().unwrap();
    log.0.push(now - batch[0]);
    log.1 += batch.len();
    log.2 = Some(now);
}

type Shared = Arc<Mutex<(Vec<Duration>, usize, Option<Instant>)>>;

fn shared(ticks: usize) -> Shared {
    // Room for every latency up front, so recording does not allocate.
    Arc::new(Mutex::new((Vec::with_capacity(ticks * PER_TICK), 0, None)))
}

/// Puts `PER_TICK` stamped items every `TICK`, `ticks` times.
async fn pace<F, Fut>(ticks: usize, mut put: F) -> Instant
where
    F: FnMut(Instant) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut interval = tokio::time::interval(TICK);
    let mut first = None;
    for _ in 0..ticks {
        interval.tick().await;
        for _ in 0..PER_TICK {
            let now = Instant::now();
            first.get_or_insert(now);
            put(now).await;
        }
    }
    first.expect("at least one tick")
}

fn finish(log: &Shared, first: Instant, allocs: u64) -> Paced {
    let mut log = log.lock().unwrap();
    let latencies = std::mem::take(&mut log.0);
    Paced {
        items: log.1,
        batches: latencies.len(),
        span: log.2.expect("delivered") - first,
        latencies,
        allocs,
    }
}

/// A clock on the system time whose sleeps are futures-timer `Delay`s (a
/// timer thread of its own), as futures-batch's batches use.
#[derive(Debug, Clone, Copy, Default)]
struct TimerThreadClock;

impl Clock for TimerThreadClock {
    type Sleep = futures_timer::Delay;

    fn now(&self) -> asyncutils_core::time::Instant {
        asyncutils_core::time::Instant::now_std()
    }

    fn sleep_until(&self, deadline: asyncutils_core::time::Instant) -> futures_timer::Delay {
        futures_timer::Delay::new(deadline.saturating_duration_since(self.now()))
    }
}

fn ours_paced<C>(rt: &Runtime, clock: C, ticks: usize, quantity: usize, max_wait: Duration) -> Paced
where
    C: Clock<Sleep: Send> + Send + Sync + 'static,
{
    let log = shared(ticks);
    let capacity = quantity.max(4 * PER_TICK);
    let (first, allocs, _) = count_allocs(|| {
        rt.block_on(async {
            let wf = Arc::new(
                Waterfall::with_capacity(quantity, max_wait, capacity, clock).expect("valid"),
            );
            let driver = tokio::spawn({
                let (wf, log) = (wf.clone(), log.clone());
                async move {
                    wf.driver(|batch: Vec<Instant>| {
                        record(&log, &batch);
                        std::future::ready(Ok::<(), std::convert::Infallible>(()))
                    })
                    .await
                }
            });
            let producer = tokio::spawn({
                let wf = wf.clone();
                async move {
                    pace(ticks, |at| {
                        let wf = &wf;
                        async move { wf.put(at).await.expect("open") }
                    })
                    .await
                }
            });
            let first = producer.await.expect("producer");
            assert!(wf.stop(None).await.is_complete());
            let report = driver.await.expect("driver");
            assert_eq!(report.items() as usize, ticks * PER_TICK);
            first
        })
    });
    finish(&log, first, allocs)
}

fn peer_paced(rt: &Runtime, ticks: usize, quantity: usize, max_wait: Duration) -> Paced {
    let log = shared(ticks);
    let capacity = quantity.max(4 * PER_TICK);
    let (first, allocs, _) = count_allocs(|| {
        rt.block_on(async {
            let (tx, mut rx) = mpsc::channel::<Instant>(capacity);
            let consumer = tokio::spawn({
                let log = log.clone();
                async move {
                    let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
                    let mut batches = std::pin::pin!(stream.chunks_timeout(quantity, max_wait));
                    while let Some(batch) = batches.next().await {
                        record(&log, &batch);
                    }
                }
            });
            let producer = tokio::spawn(async move {
                pace(ticks, |at| {
                    let tx = &tx;
                    async move { tx.send(at).await.expect("receiver alive") }
                })
                .await
            });
            let first = producer.await.expect("producer");
            consumer.await.expect("consumer");
            first
        })
    });
    finish(&log, first, allocs)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

fn row(config: &str, side: &str, max_wait: Duration, mut r: Paced) -> String {
    r.latencies.sort_unstable();
    let secs = r.span.as_secs_f64();
    format!(
        "| {config} | {side} | {:.0} | {:.1} | {} | {} | {} | {:.4} |",
        r.items as f64 / secs,
        r.items as f64 / r.batches as f64,
        ms(percentile(&r.latencies, 0.5)),
        ms(percentile(&r.latencies, 0.99)),
        ms(max_wait),
        r.allocs as f64 / r.items as f64,
    )
}

fn main() {
    let mut t = Table::new(
        "Waterfall<u64> vs futures-batch 0.7 (tokio mpsc + chunks_timeout), unthrottled",
        "item",
    );
    type Setup = (&'static str, fn() -> Runtime, u64);
    let setups: [Setup; 2] = [
        ("1 producer, tokio current-thread", current_thread, 1),
        ("4 producers, tokio 2 workers", two_workers, 4),
    ];
    for (name, runtime, producers) in setups {
        if !t.selected(name) {
            continue;
        }
        let rt = runtime();
        t.compare(
            name,
            |n| ours(&rt, producers, n),
            "futures-batch",
            |n| peer(&rt, producers, n),
        );
    }
    let quick = t.config().quick;
    let filters_ok = t.selected("offered 1M items/s");
    t.finish();
    if !filters_ok {
        return;
    }

    let ticks = if quick { 200 } else { 1_000 };
    let rt = two_workers();
    let mut out = String::new();
    out.push_str(&format!(
        "\n### Offered load: 1 000 items every 1 ms (1 M items/s) for {ticks} ms, tokio 2 workers\n\n"
    ));
    out.push_str(
        "| batching | impl | delivered items/s | mean batch | flush latency p50 (ms) | p99 (ms) | max_wait (ms) | allocs/item |\n",
    );
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|\n");
    let configs: [(&str, usize, Duration); 2] = [
        ("up to 256, by size", 256, Duration::from_millis(5)),
        ("up to 100 000, by time", 100_000, Duration::from_millis(2)),
    ];
    for (config, quantity, max_wait) in configs {
        // Interleaved, warm-up first.
        let _ = ours_paced(&rt, Tokio, ticks / 10, quantity, max_wait);
        let _ = ours_paced(&rt, TimerThreadClock, ticks / 10, quantity, max_wait);
        let _ = peer_paced(&rt, ticks / 10, quantity, max_wait);
        let o = ours_paced(&rt, Tokio, ticks, quantity, max_wait);
        let t = ours_paced(&rt, TimerThreadClock, ticks, quantity, max_wait);
        let p = peer_paced(&rt, ticks, quantity, max_wait);
        out.push_str(&row(config, "Waterfall (Tokio clock)", max_wait, o));
        out.push('\n');
        out.push_str(&row(config, "Waterfall (futures-timer clock)", max_wait, t));
        out.push('\n');
        out.push_str(&row(config, "futures-batch", max_wait, p));
        out.push('\n');
    }
    print!("{out}");
}
