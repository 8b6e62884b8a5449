//! `RateLimiter::try_acquire` (then dropping the permit) against governor's
//! `check()`, both reading `std::time::Instant` (ours through the `Tokio`
//! clock, governor through its `MonotonicClock`), so the clock costs the
//! same on both sides.
//!
//! The two are different limits — ours is a sliding window of held permits,
//! governor a GCRA — so the allow case gives both room to spare and the
//! deny case exhausts both; what is compared is the cost of one admission
//! decision.
//!
//! * `allow, 8 tasks on tokio 2 workers`: the allow case shared by eight
//!   tasks on a two-worker multi-thread runtime; ns per call = wall time /
//!   calls.

use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use asyncutils_bench::{CountingAlloc, Table, on_tasks, time_loop};
use asyncutils_core::limit::RateLimiter;
use asyncutils_tokio::Tokio;
use governor::clock::MonotonicClock;
use governor::{Quota, RateLimiter as Governor};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).expect("non-zero")
}

fn main() {
    let mut t = Table::new(
        "RateLimiter::try_acquire + drop vs governor RateLimiter::direct().check()",
        "call",
    );
    {
        // Stamps leave the window a nanosecond after release: always room.
        let ours = RateLimiter::with_clock(64, Duration::from_nanos(1), Tokio).expect("valid");
        let gov = Governor::direct_with_clock(
            Quota::per_second(nz(1_000_000_000)).allow_burst(nz(1_000_000)),
            MonotonicClock,
        );
        t.compare(
            "allow, same clock (std Instant)",
            |n| {
                time_loop(n, |_| {
                    drop(black_box(ours.try_acquire()));
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
        let ours = RateLimiter::with_clock(1, Duration::from_secs(3600), Tokio).expect("valid");
        drop(ours.try_acquire().expect("room"));
        let gov = Governor::direct_with_clock(Quota::per_hour(nz(1)), MonotonicClock);
        gov.check().expect("room");
        t.compare(
            "deny, same clock (std Instant)",
            |n| {
                time_loop(n, |_| {
                    let _ = black_box(ours.try_acquire().is_err());
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
    let contended = "allow, 8 tasks on tokio 2 workers, same clock (std Instant)";
    if t.selected(contended) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .expect("tokio runtime");
        // Room for every task at once, and stamps leave after a nanosecond.
        let ours =
            Arc::new(RateLimiter::with_clock(64, Duration::from_nanos(1), Tokio).expect("valid"));
        let gov = Arc::new(Governor::direct_with_clock(
            Quota::per_second(nz(1_000_000_000)).allow_burst(nz(1_000_000)),
            MonotonicClock,
        ));
        let ours_op: Arc<dyn Fn() -> bool + Send + Sync> = {
            let l = ours.clone();
            Arc::new(move || l.try_acquire().is_ok())
        };
        let gov_op: Arc<dyn Fn() -> bool + Send + Sync> = {
            let g = gov.clone();
            Arc::new(move || g.check().is_ok())
        };
        t.compare(
            contended,
            |n| on_tasks(&rt, 8, n, ours_op.clone()),
            "governor",
            |n| on_tasks(&rt, 8, n, gov_op.clone()),
        );
        // Never ran dry: every call of the allow path was allowed.
        assert!(ours.try_acquire().is_ok() && gov.check().is_ok());
    }
    t.finish();
}
