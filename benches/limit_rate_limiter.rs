//! `RateLimiter::try_acquire` (then dropping the permit) against governor's
//! `check()`, both reading `std::time::Instant` (ours through the `Tokio`
//! clock, governor through its `MonotonicClock`), so the clock costs the
//! same on both sides.
//!
//! The two are different limits — ours is a sliding window of held permits,
//! governor a GCRA — so the allow case gives both room to spare and the
//! deny case exhausts both; what is compared is the cost of one admission
//! decision.

use std::hint::black_box;
use std::num::NonZeroU32;
use std::time::Duration;

use asyncutils_bench::{CountingAlloc, Table, time_loop};
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
    t.finish();
}
