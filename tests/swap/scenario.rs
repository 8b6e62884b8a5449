//! The runtime-swap proof: one source file, written only against
//! `asyncutils::…`, that never names a runtime. Each crate under `swap/`
//! builds it as its `scenario` test with a different adapter behind the
//! `asyncutils` dependency (`package = "asyncutils-tokio"`, `-smol`,
//! `-async-std`) — that one line of `Cargo.toml` is the whole swap.

use std::sync::Arc;
use std::time::Duration;

use asyncutils::buckets::TokenBucket;
use asyncutils::channels::Rendezvous;
use asyncutils::rt::{spawn, spawn_blocking};
use asyncutils::time::{Elapsed, now, sleep, timeout};

const MS: Duration = Duration::from_millis(1);

#[test]
fn rendezvous_hands_values_between_tasks() {
    asyncutils::block_on(async {
        let rv = Arc::new(Rendezvous::new());
        let putter = spawn({
            let rv = rv.clone();
            async move {
                for i in 0..100 {
                    rv.put(i).await.expect("not reset");
                }
            }
        });
        let mut got = Vec::new();
        for _ in 0..100 {
            got.push(rv.get().await.expect("not reset"));
        }
        putter.await.expect("putter task");
        assert_eq!(got, (0..100).collect::<Vec<_>>());

        let partner = spawn({
            let rv = rv.clone();
            async move { rv.exchange(-1).await }
        });
        assert_eq!(rv.exchange(-2).await, Ok(-1));
        assert_eq!(partner.await.expect("partner task"), Ok(-2));
    });
}

#[test]
fn token_bucket_on_the_runtime_clock() {
    // The adapter's `TokenBucket` is bound to its runtime's clock.
    let bucket = TokenBucket::new(200.0, 2.0).expect("valid arguments");
    assert_eq!(bucket.refill_interval(), 5 * MS);
    asyncutils::block_on(async {
        let start = now();
        bucket.acquire(2).await.expect("fits");
        bucket.acquire(2).await.expect("fits");
        assert!(
            now() - start >= 10 * MS,
            "two tokens take two intervals to drip in"
        );
        let err = bucket.acquire(3).await.expect_err("over capacity");
        assert_eq!(err.name(), "n");
    });
    let err = TokenBucket::new(f64::NAN, 1.0).expect_err("NaN rate");
    assert_eq!(err.name(), "rate");
}

#[test]
fn sleep_and_timeout() {
    asyncutils::block_on(async {
        let start = now();
        sleep(10 * MS).await;
        assert!(now() - start >= 10 * MS);

        let start = now();
        assert_eq!(
            timeout(5 * MS, std::future::pending::<()>()).await,
            Err(Elapsed)
        );
        assert!(now() - start >= 5 * MS);
        assert_eq!(timeout(Duration::from_secs(5), async { 3 }).await, Ok(3));
    });
}

#[test]
fn tasks_and_blocking_jobs() {
    asyncutils::block_on(async {
        assert_eq!(spawn(async { 6 * 7 }).await, Ok(42));

        let stuck = spawn(std::future::pending::<()>());
        stuck.abort();
        assert!(stuck.await.expect_err("aborted").is_cancelled());

        let err = spawn(async { panic!("swap boom") })
            .await
            .expect_err("panicked");
        assert_eq!(err.panic_message(), Some("swap boom"));

        let here = std::thread::current().id();
        let there = spawn_blocking(|| std::thread::current().id())
            .await
            .expect("blocking job");
        assert_ne!(here, there);
    });
}

#[test]
fn audit_events_reach_listeners() {
    let raised = asyncutils::audit::extracting("asyncutils.buckets.TokenBucket", |event| {
        event.get("capacity").and_then(|v| v.as_f64())
    });
    let _bucket = TokenBucket::new(10.0, 4.5).expect("valid arguments");
    asyncutils::emit!("swap.custom", n = 1u32);
    assert!(raised.finish().contains(&Some(4.5)));
    assert!(asyncutils::audit::catalog_entry("asyncutils.buckets.TokenBucket").is_some());
}
