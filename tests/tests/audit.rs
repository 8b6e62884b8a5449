//! Audit events: scoped listeners see events only while their guard lives,
//! `emit!` builds nothing when nobody listens, `extracting` collects in
//! order, the catalog is sorted and searchable — and the catalog coverage
//! report: a representative tour of every primitive on every executor
//! under `listening_all`, checking each raised event against the catalog
//! and printing `audit catalog coverage: N of M catalog events raised`.
//!
//! The listeners are process-wide, so the tests of this file take turns
//! (`serial`): none of them may see another's events.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use asyncutils_core::audit::{self, CATALOG, OwnedValue};
use asyncutils_core::buckets::TokenBucket;
use asyncutils_core::channels::Rendezvous;
use asyncutils_core::emit;
use asyncutils_core::limit;
use asyncutils_core::time::{ManualClock, timeout};
use asyncutils_tests::{TestRuntime, exec};
use futures_lite::future;

fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The events the primitives that exist today are documented to raise.
const DOCUMENTED: &[&str] = &[
    "asyncutils.buckets.TokenBucket",
    "asyncutils.func.RateLimited",
    "asyncutils.buckets.LeakyBucket",
    "asyncutils.altlocks.CircuitBreaker",
    "asyncutils.altlocks.CircuitBreaker.__call__",
    "asyncutils.altlocks.UniqueResourceGuard",
    "asyncutils.channels.EventBus",
    "asyncutils.channels.EventBus.event_stream",
    "asyncutils.channels.EventBus.start_audit",
    "asyncutils.channels.EventBus.stop_audit",
    "asyncutils.channels.Observable",
    "asyncutils.queues.SmartQueue.push",
    "asyncutils.queues.SmartQueue.transaction/start",
    "asyncutils.queues.SmartQueue.transaction/end",
    "asyncutils.queues.SmartQueue.map",
    "asyncutils.queues.SmartLifoQueue.push",
    "asyncutils.queues.password_queue",
];

#[test]
fn listener_sees_events_only_while_its_guard_lives() {
    let _serial = serial();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let guard = audit::listening("test.audit.ping", {
        let seen = seen.clone();
        move |event| seen.lock().expect("seen").push(event.to_owned_event())
    });
    assert!(audit::enabled());
    emit!("test.audit.ping", n = 1u32, who = "me");
    emit!("test.audit.other", n = 2u32);
    drop(guard);
    emit!("test.audit.ping", n = 3u32);
    let seen = seen.lock().expect("seen");
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].name, "test.audit.ping");
    assert_eq!(
        seen[0].args,
        vec![
            ("n", OwnedValue::UInt(1)),
            ("who", OwnedValue::Str("me".into()))
        ]
    );
    assert!(!audit::enabled(), "the guard unsubscribed");
}

#[test]
fn emit_builds_no_arguments_when_nobody_listens() {
    let _serial = serial();
    let built = AtomicUsize::new(0);
    let arg = || {
        built.fetch_add(1, Ordering::SeqCst);
        1u32
    };
    assert!(!audit::enabled());
    emit!("test.audit.lazy", n = arg());
    assert_eq!(
        built.load(Ordering::SeqCst),
        0,
        "arguments built with nobody listening"
    );
    let _guard = audit::listening_all(|_| {});
    emit!("test.audit.lazy", n = arg());
    assert_eq!(built.load(Ordering::SeqCst), 1);
}

#[test]
fn extracting_collects_in_order_and_listeners_nest() {
    let _serial = serial();
    let all = audit::extracting("test.audit.count", |e| e.get("i").and_then(|v| v.as_u64()));
    let everything = Arc::new(AtomicUsize::new(0));
    let _all_guard = audit::listening_all({
        let everything = everything.clone();
        move |_| {
            everything.fetch_add(1, Ordering::SeqCst);
        }
    });
    for i in 0..3u64 {
        emit!("test.audit.count", i = i);
    }
    assert_eq!(all.take(), vec![Some(0), Some(1), Some(2)]);
    {
        let inner = audit::extracting("test.audit.count", |e| e.name().len());
        emit!("test.audit.count", i = 3u64);
        assert_eq!(inner.finish(), vec!["test.audit.count".len()]);
    }
    emit!("test.audit.unrelated");
    emit!("test.audit.count", i = 4u64);
    assert_eq!(all.finish(), vec![Some(3), Some(4)]);
    assert_eq!(
        everything.load(Ordering::SeqCst),
        6,
        "the catch-all listener sees every event"
    );
}

#[test]
fn catalog_is_sorted_unique_and_searchable() {
    assert!(!CATALOG.is_empty());
    assert!(
        CATALOG.windows(2).all(|w| w[0].name < w[1].name),
        "CATALOG must be sorted by name without duplicates"
    );
    for entry in CATALOG {
        assert_eq!(audit::catalog_entry(entry.name), Some(entry));
        assert!(
            !entry.description.is_empty(),
            "{} has no description",
            entry.name
        );
    }
    assert_eq!(audit::catalog_entry("asyncutils.no.such.event"), None);
    for name in DOCUMENTED {
        assert!(
            audit::catalog_entry(name).is_some(),
            "{name} is not in the catalog"
        );
    }
}

/// Every primitive and the runtime seam, once, on a runtime.
async fn tour<R: TestRuntime>(rt: R) {
    let bucket = TokenBucket::with_clock(1000.0, 2.0, rt.clone()).expect("valid arguments");
    bucket.acquire(2).await.expect("fits");
    bucket.acquire(1).await.expect("fits");
    assert!(bucket.try_acquire(3).is_err());
    assert!(TokenBucket::with_clock(f64::NAN, 1.0, rt.clone()).is_err());

    let rv = Arc::new(Rendezvous::new());
    let putter = rt.spawn({
        let rv = rv.clone();
        async move { rv.put(1).await }
    });
    assert_eq!(rv.get().await, Ok(1));
    assert_eq!(putter.await, Ok(Ok(())));
    let (a, b) = future::zip(rv.exchange(2), rv.exchange(3)).await;
    assert_eq!((a, b), (Ok(3), Ok(2)));
    assert!(rv.try_put(4).is_err() && rv.try_get().is_err());
    assert!(rv.reset().is_empty());

    assert!(
        timeout(
            &rt,
            std::time::Duration::from_millis(1),
            future::pending::<()>()
        )
        .await
        .is_err()
    );
    assert_eq!(rt.spawn_blocking(|| 5).await, Ok(5));
    let aborted = rt.spawn(future::pending::<()>());
    aborted.abort();
    assert!(aborted.await.is_err());

    let ms = std::time::Duration::from_millis(1);
    let backoff = limit::Backoff::exponential(ms).expect("valid");
    let mut failures = 1;
    let retried = limit::retry(rt.clone(), &backoff, || {
        failures -= 1;
        let failed = failures >= 0;
        async move { if failed { Err(()) } else { Ok(()) } }
    });
    assert_eq!(retried.await, Ok(()));
    let lockout = limit::FifoLockout::with_clock(rt.clone());
    lockout.lockout_for(ms);
    lockout.enter().await;
    let limiter = limit::RateLimiter::with_clock(1, ms, rt.clone()).expect("valid");
    drop(limiter.acquire().await);
    let limited = limit::RateLimited::with_clock(
        |x: u8| async move { x },
        1,
        ms,
        limit::OverLimit::Wait,
        rt.clone(),
    )
    .expect("valid");
    assert_eq!(limited.call(7).await, Ok(7));

    let leaky =
        asyncutils_core::buckets::LeakyBucket::with_clock(4.0, 1000.0, rt.clone()).expect("valid");
    leaky.wait_for_tokens(2).await.expect("fits");
    let breaker =
        asyncutils_core::locks::CircuitBreaker::with_clock("audited", 2, ms, 1, rt.clone())
            .expect("valid");
    assert_eq!(breaker.call_with(|| async { Ok::<u8, ()>(1) }).await, Ok(1));
    let semaphore = asyncutils_core::locks::PrioritySemaphore::new(1).expect("valid");
    drop(semaphore.acquire(0).await.expect("open"));
    let resource = Arc::new(0u8);
    let guard = asyncutils_core::locks::UniqueResourceGuard::for_resource(&resource);
    assert!(guard.try_use().is_ok());

    let bus = asyncutils_core::channels::EventBus::<u8, _>::with_clock(rt.clone());
    let stream = bus
        .event_stream("audited.stream")
        .expect("valid event type");
    assert!(bus.start_audit_with(|e| u8::try_from(e.args().len()).unwrap_or(u8::MAX)));
    assert!(bus.stop_audit());
    drop(stream);
    let observable = asyncutils_core::channels::Observable::<u8>::with_maxsize(4).expect("valid");
    assert!(observable.notify(1).await.is_ok());

    use asyncutils_core::queues::{ProtectedQueue, SmartLifoQueue, SmartQueue};
    let queue = Arc::new(SmartQueue::<u8>::bounded(1).expect("valid"));
    queue.put(1).await.expect("open");
    assert_eq!(queue.push(2), Ok(Some(1)));
    let txn = queue.transaction().await;
    assert_eq!(txn.commit(), Vec::<u8>::new());
    let doubled = queue.map(1, |x: u8| x * 2).expect("valid");
    drop(doubled);
    let lifo = SmartLifoQueue::<u8>::bounded(1).expect("valid");
    lifo.put(1).await.expect("open");
    assert_eq!(lifo.push(2), Ok(Some(1)));
    let protected =
        ProtectedQueue::new(SmartQueue::<u8>::unbounded(), Some(b"k"), None).expect("valid");
    assert!(protected.get_protected());
}

#[test]
fn audit_catalog_coverage() {
    let _serial = serial();
    let raised: Arc<Mutex<BTreeMap<String, Vec<&'static str>>>> = Arc::default();
    let guard = audit::listening_all({
        let raised = raised.clone();
        move |event| {
            let args = event.args().iter().map(|a| a.name).collect();
            raised
                .lock()
                .expect("raised")
                .entry(event.name().to_owned())
                .or_insert(args);
        }
    });

    exec::tokio_current_thread("tour", tour);
    exec::tokio_multi_thread("tour", tour);
    exec::smol("tour", tour);
    exec::async_std("tour", tour);
    exec::virtual_time("tour", tour);
    let clock = ManualClock::new();
    let bucket = TokenBucket::with_clock(10.0, 1.0, clock.clone()).expect("valid arguments");
    assert!(bucket.try_acquire(1).is_ok());
    // The adapters' bound aliases.
    asyncutils_tokio::buckets::TokenBucket::new(1.0, 1.0).expect("valid arguments");
    asyncutils_smol::buckets::TokenBucket::new(1.0, 1.0).expect("valid arguments");
    asyncutils_async_std::buckets::TokenBucket::new(1.0, 1.0).expect("valid arguments");
    drop(guard);

    let raised = raised.lock().expect("raised").clone();
    for (name, args) in &raised {
        let entry = audit::catalog_entry(name)
            .unwrap_or_else(|| panic!("raised event `{name}` is not in the audit CATALOG"));
        assert_eq!(
            args.as_slice(),
            entry.args,
            "`{name}` raised with other arguments than catalogued"
        );
    }
    eprintln!(
        "audit catalog coverage: {} of {} catalog events raised",
        raised.len(),
        CATALOG.len()
    );
    for name in raised.keys() {
        eprintln!("  raised: {name}");
    }
    for name in DOCUMENTED {
        assert!(
            raised.contains_key(*name),
            "documented event `{name}` was not raised"
        );
    }
    assert!(raised.len() >= DOCUMENTED.len());
}
