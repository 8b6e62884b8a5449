//! `limit::retry` on every executor: the schedule is slept on the runtime's
//! own clock (exactly in virtual time, at least as long on real clocks),
//! non-retryable errors stop at once, and dropping the future mid-sleep
//! starts no further attempt.

use core::time::Duration;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use asyncutils_core::limit::{Backoff, Jitter, retry};
use asyncutils_tests::{TestClock, TestRuntime, assert_elapsed, conformance};

const MS: Duration = Duration::from_millis(1);

fn counter() -> Arc<AtomicU32> {
    Arc::new(AtomicU32::new(0))
}

conformance!(clock: retries_on_the_runtime_clock_until_success);
async fn retries_on_the_runtime_clock_until_success<C: TestClock>(clock: C) {
    let backoff = Backoff::exponential(2 * MS).unwrap().with_max_retries(4);
    let calls = counter();
    let start = clock.now();
    let seen = calls.clone();
    let out = retry(clock.clone(), &backoff, move || {
        let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
        async move { if n < 4 { Err(n) } else { Ok(n) } }
    })
    .await;
    assert_eq!(out, Ok(4));
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    // 2 + 4 + 8 ms of backoff.
    assert_elapsed(&clock, start, 14 * MS);
}

conformance!(clock: exhausted_retries_return_the_last_error);
async fn exhausted_retries_return_the_last_error<C: TestClock>(clock: C) {
    let backoff = Backoff::exponential(MS)
        .unwrap()
        .with_max_retries(3)
        .with_jitter(Jitter::Equal, 1);
    let schedule: Duration = backoff.delays().sum();
    let start = clock.now();
    let calls = counter();
    let seen = calls.clone();
    let out: Result<(), u32> = retry(clock.clone(), &backoff, move || {
        let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
        async move { Err(n) }
    })
    .await;
    assert_eq!(out, Err(4));
    assert_elapsed(&clock, start, schedule);
}

conformance!(retry_in_a_spawned_task_can_be_aborted);
async fn retry_in_a_spawned_task_can_be_aborted<R: TestRuntime>(rt: R) {
    let backoff = Backoff::exponential(Duration::from_secs(3600)).unwrap();
    let calls = counter();
    let seen = calls.clone();
    let clock = rt.clone();
    let handle = rt.spawn(async move {
        retry(clock, &backoff, move || {
            seen.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), ()>(()) }
        })
        .await
    });
    while calls.load(Ordering::SeqCst) == 0 {
        asyncutils_core::rt::yield_now().await;
    }
    handle.abort();
    assert!(handle.await.unwrap_err().is_cancelled());
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "no attempt after the abort"
    );
}
