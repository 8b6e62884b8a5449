//! `LeakyBucket::try_acquire(1)` against leaky-bucket 1.1's
//! `RateLimiter::try_acquire(1)`: nanoseconds per call.
//!
//! Ours takes a short lock and reads the clock (`asyncutils_tokio::Tokio`,
//! i.e. `tokio::time::Instant::now()`) on every call: the level drains
//! continuously. The peer is a token bucket refilled in whole intervals;
//! while it holds enough permits its allow path is one atomic update with
//! no clock read, and otherwise it locks and reads `tokio::time::Instant`.
//! The parameters are chosen for the same verdict on every call, not the
//! same internal arithmetic.
//!
//! * allow: ours capacity 10⁹, leak 10⁹/s (a unit per nanosecond, factor
//!   pinned at 1); the peer max 10⁹, refilling 10⁶ every millisecond:
//!   every call is allowed.
//! * deny: ours capacity 1, filled, leaking one unit per hour; the peer max
//!   1, empty, refilling one per hour: every call is refused (ours also
//!   computes `retry_after`).
//! * contended allow: 8 tasks on a tokio multi-thread runtime with 2
//!   workers hammering one bucket; ns per call = wall time / calls.

use std::hint::black_box;
use std::mem::size_of;
use std::sync::Arc;
use std::time::Duration;

use asyncutils_bench::{CountingAlloc, Table, count_allocs, on_tasks, time_loop};
use asyncutils_core::buckets::{AdaptiveFactor, LeakyBucket};
use asyncutils_tokio::Tokio;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const FIXED: AdaptiveFactor = AdaptiveFactor {
    initial: 1.0,
    min: 1.0,
    max: 1.0,
};

fn ours_allow() -> LeakyBucket<Tokio> {
    LeakyBucket::with_factor(1e9, 1e9, FIXED, Tokio).expect("valid bucket")
}

fn ours_deny() -> LeakyBucket<Tokio> {
    let b = LeakyBucket::with_factor(1.0, 1.0 / 3600.0, FIXED, Tokio).expect("valid bucket");
    b.try_acquire(1).expect("empty bucket");
    assert!(b.try_acquire(1).is_err());
    b
}

fn peer_allow() -> leaky_bucket::RateLimiter {
    leaky_bucket::RateLimiter::builder()
        .max(1_000_000_000)
        .initial(1_000_000_000)
        .refill(1_000_000)
        .interval(Duration::from_millis(1))
        .build()
}

fn peer_deny() -> leaky_bucket::RateLimiter {
    let l = leaky_bucket::RateLimiter::builder()
        .max(1)
        .initial(0)
        .refill(1)
        .interval(Duration::from_secs(3600))
        .build();
    assert!(!l.try_acquire(1));
    l
}

fn main() {
    let mut t = Table::new(
        "LeakyBucket::try_acquire(1) vs leaky-bucket RateLimiter::try_acquire(1)",
        "call",
    );
    // The peer reads tokio's clock, which needs no runtime for `now()`,
    // but enter one anyway so both sides run as they would in an app.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("tokio runtime");
    let _guard = rt.enter();

    {
        let ours = ours_allow();
        let peer = peer_allow();
        t.compare(
            "uncontended allow",
            |n| {
                time_loop(n, |_| {
                    let _ = black_box(ours.try_acquire(black_box(1)));
                })
            },
            "leaky-bucket",
            |n| {
                time_loop(n, |_| {
                    let _ = black_box(peer.try_acquire(black_box(1)));
                })
            },
        );
    }
    {
        let ours = ours_deny();
        let peer = peer_deny();
        t.compare(
            "uncontended deny",
            |n| {
                time_loop(n, |_| {
                    let _ = black_box(ours.try_acquire(black_box(1)));
                })
            },
            "leaky-bucket",
            |n| {
                time_loop(n, |_| {
                    let _ = black_box(peer.try_acquire(black_box(1)));
                })
            },
        );
    }

    let contended = "contended allow, 8 tasks on tokio 2 workers";
    if t.selected(contended) {
        let ours = Arc::new(ours_allow());
        let peer = Arc::new(peer_allow());
        let ours_op: Arc<dyn Fn() -> bool + Send + Sync> = {
            let b = ours.clone();
            Arc::new(move || b.try_acquire(1).is_ok())
        };
        let peer_op: Arc<dyn Fn() -> bool + Send + Sync> = {
            let l = peer.clone();
            Arc::new(move || l.try_acquire(1))
        };
        t.compare(
            contended,
            |n| on_tasks(&rt, 8, n, ours_op.clone()),
            "leaky-bucket",
            |n| on_tasks(&rt, 8, n, peer_op.clone()),
        );
        // Never ran dry: every call of the allow path was allowed.
        assert!(ours.try_acquire(1).is_ok() && peer.try_acquire(1));
    }

    // Steady state allocates nothing.
    let ours = ours_allow();
    let (_, steady_allocs, _) = count_allocs(|| {
        for _ in 0..1000 {
            let _ = black_box(ours.try_acquire(1));
        }
    });
    assert_eq!(steady_allocs, 0, "try_acquire allocated");

    let (_, ours_allocs, ours_bytes) = count_allocs(ours_allow);
    let (_, peer_allocs, peer_bytes) = count_allocs(peer_allow);
    t.size(
        "limiter, size_of",
        &format!("LeakyBucket<Tokio>: {}", size_of::<LeakyBucket<Tokio>>()),
        "leaky-bucket RateLimiter",
        &size_of::<leaky_bucket::RateLimiter>().to_string(),
    );
    t.size(
        "heap to create one limiter",
        &format!("{ours_bytes} in {ours_allocs} alloc"),
        "leaky-bucket",
        &format!("{peer_bytes} in {peer_allocs} alloc"),
    );
    t.finish();
}
