//! `TokenBucket::try_acquire(1)` against governor 0.10's direct
//! `RateLimiter::check()`: nanoseconds per call.
//!
//! Both are GCRA over one `AtomicU64` and both read a real clock on every
//! call, so the clock's cost is part of the figure. Clocks:
//!
//! * ours `Tokio`: `asyncutils_tokio::Tokio`, i.e. `tokio::time::Instant::now()`
//!   (a `std::time::Instant`, `clock_gettime(CLOCK_MONOTONIC)` through the
//!   vDSO) mapped to the process-wide epoch;
//! * ours `quanta`: a clock defined here that reads `quanta::Clock` (TSC)
//!   exactly as governor's default clock does;
//! * governor `DefaultClock`: `QuantaClock` (governor's default features);
//! * governor `MonotonicClock`: `std::time::Instant`.
//!
//! Rows say which pair ran; the "same clock" rows isolate the algorithm.
//!
//! * allow: rate 10⁹/s, burst 10⁶: every call is allowed (a call takes far
//!   longer than the 1 ns a token needs to drip in).
//! * deny: rate one per hour, burst 1, emptied before timing: every call is
//!   refused (ours computes `retry_after`, governor a `NotUntil`).
//! * contended allow: 8 tasks on a tokio multi-thread runtime with 2 workers,
//!   and 8 OS threads, hammering one bucket; ns per call = wall time / calls
//!   (throughput of the 2 cores). Ours on `Tokio` against governor's default,
//!   then both on quanta.
//! * clock read: the cost of the two clocks alone, for reference.

use std::hint::black_box;
use std::mem::size_of;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use asyncutils_bench::{CountingAlloc, Table, count_allocs, on_tasks, on_threads, time_loop};
use asyncutils_core::buckets::TokenBucket;
use asyncutils_core::time::{Clock, Instant};
use asyncutils_tokio::Tokio;
use governor::clock::{Clock as _, DefaultClock, MonotonicClock, QuantaClock};
use governor::{Quota, RateLimiter};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Our [`Clock`] over `quanta::Clock`, reading it the way governor's
/// `QuantaClock` does. Sleeps go through tokio (unused here: only
/// `try_acquire` runs).
#[derive(Clone, Debug)]
struct Quanta(quanta::Clock);

impl Clock for Quanta {
    type Sleep = tokio::time::Sleep;

    fn now(&self) -> Instant {
        Instant::from_nanos(self.0.delta_as_nanos(0, self.0.raw()))
    }

    fn sleep_until(&self, deadline: Instant) -> Self::Sleep {
        Tokio.sleep(deadline.saturating_duration_since(self.now()))
    }
}

const ALLOW_RATE: u32 = 1_000_000_000;
const ALLOW_BURST: u32 = 1_000_000;

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).expect("non-zero")
}

fn ours_allow<C: Clock>(clock: C) -> TokenBucket<C> {
    TokenBucket::with_clock(f64::from(ALLOW_RATE), f64::from(ALLOW_BURST), clock)
        .expect("valid bucket")
}

fn ours_deny<C: Clock>(clock: C) -> TokenBucket<C> {
    let b = TokenBucket::with_clock(1.0 / 3600.0, 1.0, clock).expect("valid bucket");
    b.try_acquire(1).expect("full bucket");
    assert!(b.try_acquire(1).is_err());
    b
}

fn allow_quota() -> Quota {
    Quota::per_second(nz(ALLOW_RATE)).allow_burst(nz(ALLOW_BURST))
}

fn deny_quota() -> Quota {
    Quota::per_hour(nz(1))
}

/// governor's direct (un-keyed) limiter on clock `C`.
type Direct<C> = RateLimiter<
    governor::state::NotKeyed,
    governor::state::InMemoryState,
    C,
    governor::middleware::NoOpMiddleware<<C as governor::clock::Clock>::Instant>,
>;

fn gov_with<C: governor::clock::Clock>(quota: Quota, clock: C, exhaust: bool) -> Direct<C> {
    let l = RateLimiter::direct_with_clock(quota, clock);
    if exhaust {
        l.check().expect("full bucket");
        assert!(l.check().is_err());
    }
    l
}

fn main() {
    let mut t = Table::new(
        "TokenBucket::try_acquire(1) vs governor RateLimiter::direct().check()",
        "call",
    );
    let quanta = Quanta(quanta::Clock::new());

    // --- single thread ---
    {
        let ours = ours_allow(Tokio);
        let gov = RateLimiter::direct(allow_quota());
        t.compare(
            "allow, ours Tokio clock vs governor DefaultClock (quanta)",
            |n| {
                time_loop(n, |_| {
                    let _ = black_box(ours.try_acquire(black_box(1)));
                })
            },
            "governor",
            |n| {
                time_loop(n, |_| {
                    let _ = black_box(gov.check());
                })
            },
        );
    }
    {
        let ours = ours_allow(Tokio);
        let gov = gov_with(allow_quota(), MonotonicClock, false);
        t.compare(
            "allow, same clock: std Instant (ours Tokio, governor MonotonicClock)",
            |n| {
                time_loop(n, |_| {
                    let _ = black_box(ours.try_acquire(black_box(1)));
                })
            },
            "governor",
            |n| {
                time_loop(n, |_| {
                    let _ = black_box(gov.check());
                })
            },
        );
    }
    {
        let ours = ours_allow(quanta.clone());
        let gov = RateLimiter::direct(allow_quota());
        t.compare(
            "allow, same clock: quanta (ours Quanta, governor DefaultClock)",
            |n| {
                time_loop(n, |_| {
                    let _ = black_box(ours.try_acquire(black_box(1)));
                })
            },
            "governor",
            |n| {
                time_loop(n, |_| {
                    let _ = black_box(gov.check());
                })
            },
        );
    }
    {
        let ours = ours_deny(Tokio);
        let gov = gov_with(deny_quota(), DefaultClock::default(), true);
        t.compare(
            "deny, ours Tokio clock vs governor DefaultClock (quanta)",
            |n| {
                time_loop(n, |_| {
                    let _ = black_box(ours.try_acquire(black_box(1)));
                })
            },
            "governor",
            |n| {
                time_loop(n, |_| {
                    let _ = black_box(gov.check());
                })
            },
        );
    }
    {
        let ours = ours_deny(Tokio);
        let gov = gov_with(deny_quota(), MonotonicClock, true);
        t.compare(
            "deny, same clock: std Instant (ours Tokio, governor MonotonicClock)",
            |n| {
                time_loop(n, |_| {
                    let _ = black_box(ours.try_acquire(black_box(1)));
                })
            },
            "governor",
            |n| {
                time_loop(n, |_| {
                    let _ = black_box(gov.check());
                })
            },
        );
    }
    {
        let ours = ours_deny(quanta.clone());
        let gov = gov_with(deny_quota(), DefaultClock::default(), true);
        t.compare(
            "deny, same clock: quanta (ours Quanta, governor DefaultClock)",
            |n| {
                time_loop(n, |_| {
                    let _ = black_box(ours.try_acquire(black_box(1)));
                })
            },
            "governor",
            |n| {
                time_loop(n, |_| {
                    let _ = black_box(gov.check());
                })
            },
        );
    }

    // --- contended: 8 callers on 2 cores ---
    let contended_tasks =
        "allow contended, 8 tasks on tokio 2 workers (Tokio clock vs DefaultClock)";
    let contended_threads = "allow contended, 8 OS threads (Tokio clock vs DefaultClock)";
    let contended_same_clock = "allow contended, 8 OS threads, same clock: quanta";
    if t.selected(contended_tasks)
        || t.selected(contended_threads)
        || t.selected(contended_same_clock)
    {
        let ours = Arc::new(ours_allow(Tokio));
        let gov = Arc::new(RateLimiter::direct(allow_quota()));
        let ours_op: Arc<dyn Fn() -> bool + Send + Sync> = {
            let b = ours.clone();
            Arc::new(move || b.try_acquire(1).is_ok())
        };
        let gov_op: Arc<dyn Fn() -> bool + Send + Sync> = {
            let l = gov.clone();
            Arc::new(move || l.check().is_ok())
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .expect("tokio runtime");
        t.compare(
            contended_tasks,
            |n| on_tasks(&rt, 8, n, ours_op.clone()),
            "governor",
            |n| on_tasks(&rt, 8, n, gov_op.clone()),
        );
        t.compare(
            contended_threads,
            |n| on_threads(8, n, &*ours_op),
            "governor",
            |n| on_threads(8, n, &*gov_op),
        );
        let (ours_q, gov_q) = (
            ours_allow(quanta.clone()),
            RateLimiter::direct(allow_quota()),
        );
        let ours_q_op = || ours_q.try_acquire(1).is_ok();
        let gov_q_op = || gov_q.check().is_ok();
        t.compare(
            contended_same_clock,
            |n| on_threads(8, n, &ours_q_op),
            "governor",
            |n| on_threads(8, n, &gov_q_op),
        );
        // Never ran dry: every call of the allow path was allowed.
        assert!(ours.try_acquire(1).is_ok() && gov.check().is_ok());
        assert!(ours_q.try_acquire(1).is_ok() && gov_q.check().is_ok());
    }

    // --- the clocks alone ---
    {
        let gov_clock = DefaultClock::default();
        t.compare(
            "clock read only: ours Tokio::now vs governor DefaultClock::now",
            |n| {
                time_loop(n, |_| {
                    let _ = black_box(Tokio.now());
                })
            },
            "governor",
            |n| {
                time_loop(n, |_| {
                    let _ = black_box(gov_clock.now());
                })
            },
        );
    }

    let (_, ours_allocs, ours_bytes) = count_allocs(|| ours_allow(Tokio));
    let (_, gov_allocs, gov_bytes) = count_allocs(|| RateLimiter::direct(allow_quota()));
    t.size(
        "limiter, size_of",
        &format!("TokenBucket<Tokio>: {}", size_of::<TokenBucket<Tokio>>()),
        "governor DefaultDirectRateLimiter",
        &size_of::<governor::DefaultDirectRateLimiter>().to_string(),
    );
    t.size(
        "limiter, same clock type, size_of",
        &format!("TokenBucket<Quanta>: {}", size_of::<TokenBucket<Quanta>>()),
        "governor RateLimiter<.., QuantaClock>",
        &size_of::<Direct<QuantaClock>>().to_string(),
    );
    t.size(
        "heap to create one limiter",
        &format!("{ours_bytes} in {ours_allocs} alloc"),
        "governor",
        &format!("{gov_bytes} in {gov_allocs} alloc"),
    );
    t.finish();
    fairness(quick_mode());
}

fn quick_mode() -> bool {
    std::env::var("ASYNCUTILS_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Waiters queued on one bucket must be served in arrival order: each of
/// `n` waiters reserves in turn (its first poll, made here in order), then
/// finishes on its own task of a 2-worker tokio runtime. Prints how many
/// were served before someone who arrived earlier (goal 0) and how late
/// each was against the ideal schedule (waiter i at (i+1)/rate). The
/// conformance suite asserts the order itself, exactly, in virtual time.
fn fairness(quick: bool) {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Waker};

    // 100 tokens/s as the issue asks: 10 ms apart, well above tokio's 1 ms
    // timer resolution, so the order observed is the order served.
    let (n, rate) = if quick { (20, 100.0) } else { (1_000, 100.0) };
    // 'static so the spawned tasks can hold the futures that borrow it.
    let bucket: &'static TokenBucket<Tokio> = Box::leak(Box::new(
        TokenBucket::with_clock(rate, 1.0, Tokio).expect("valid"),
    ));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let served = std::sync::Arc::new(AtomicUsize::new(0));
    let results = std::sync::Arc::new(Mutex::new(vec![(0usize, Duration::ZERO); n]));
    runtime.block_on(async {
        bucket.try_acquire(1).expect("starts full");
        let start = std::time::Instant::now();
        let mut tasks = Vec::with_capacity(n);
        for i in 0..n {
            let mut acquire = Box::pin(bucket.acquire(1));
            // Reserve now, in arrival order.
            let _ = acquire
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop()));
            let (served, results) = (served.clone(), results.clone());
            tasks.push(tokio::spawn(async move {
                acquire.await.expect("1 <= capacity");
                let order = served.fetch_add(1, Ordering::SeqCst);
                results.lock().unwrap()[i] = (order, start.elapsed());
            }));
        }
        for t in tasks {
            t.await.expect("waiter task");
        }
    });
    let results = results.lock().unwrap();
    let mut latest = 0;
    let mut violations = 0;
    for &(order, _) in results.iter() {
        if order < latest {
            violations += 1;
        }
        latest = latest.max(order);
    }
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut lateness: Vec<Duration> = results
        .iter()
        .enumerate()
        .map(|(i, &(_, at))| at.saturating_sub(interval * (i as u32 + 1)))
        .collect();
    lateness.sort();
    let waits: Vec<Duration> = results.iter().map(|&(_, at)| at).collect();
    println!(
        "\n### TokenBucket fairness: {n} waiters, {rate} tokens/s, capacity 1, tokio 2 workers\n"
    );
    println!("| waiters | order violations | last served after | lateness p50 | lateness p99 |");
    println!("|---:|---:|---:|---:|---:|");
    println!(
        "| {n} | {violations} | {:.3} s (ideal {:.3} s) | {:?} | {:?} |",
        waits.iter().max().expect("n > 0").as_secs_f64(),
        (interval * n as u32).as_secs_f64(),
        lateness[n / 2],
        lateness[n * 99 / 100],
    );
}
