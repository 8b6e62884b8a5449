//! `limit::RateLimiter` on every executor: many tasks sharing one limiter
//! never fit more than `limit` releases into any window of `period`, and
//! waiting is exact in virtual time.

use core::time::Duration;
use std::sync::{Arc, Mutex};

use asyncutils_core::limit::RateLimiter;
use asyncutils_tests::{TestRuntime, conformance};

const MS: Duration = Duration::from_millis(1);

conformance!(shared_limiter_holds_the_window_across_tasks);
async fn shared_limiter_holds_the_window_across_tasks<R: TestRuntime>(rt: R) {
    const LIMIT: usize = 4;
    let period = 20 * MS;
    let limiter = Arc::new(RateLimiter::with_clock(LIMIT, period, rt.clone()).unwrap());
    let releases = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (limiter, releases, clock) = (limiter.clone(), releases.clone(), rt.clone());
            rt.spawn(async move {
                for _ in 0..3 {
                    let permit = limiter.acquire().await;
                    // Taken just before the release, which stamps a little later.
                    releases.lock().unwrap().push(clock.now());
                    drop(permit);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let mut times = releases.lock().unwrap().clone();
    times.sort();
    assert_eq!(times.len(), 24);
    // A grant needs the stamp `LIMIT` releases back to have left the window.
    for pair in times.windows(LIMIT + 1) {
        let spread = pair[LIMIT].saturating_duration_since(pair[0]);
        assert!(spread >= period, "{} releases within {spread:?}", LIMIT + 1);
    }
    if R::VIRTUAL {
        // 24 entries, 4 per 20 ms, the first 4 at once: the last at 100 ms.
        assert_eq!(times[23].saturating_duration_since(times[0]), 100 * MS);
    }
}

conformance!(rate_limited_calls_wait_for_their_turn);
async fn rate_limited_calls_wait_for_their_turn<R: TestRuntime>(rt: R) {
    use asyncutils_core::limit::{OverLimit, RateLimited};
    let f = Arc::new(
        RateLimited::with_clock(
            |x: u32| async move { x * 2 },
            2,
            10 * MS,
            OverLimit::Wait,
            rt.clone(),
        )
        .unwrap(),
    );
    let start = rt.now();
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let f = f.clone();
            rt.spawn(async move { f.call(i).await })
        })
        .collect();
    let mut outputs = Vec::new();
    for t in tasks {
        outputs.push(t.await.unwrap().unwrap());
    }
    outputs.sort_unstable();
    assert_eq!(outputs, [0, 2, 4, 6, 8, 10]);
    // Six calls, two per 10 ms: the last starts at 20 ms at the earliest.
    asyncutils_tests::assert_elapsed(&rt, start, 20 * MS);
}
