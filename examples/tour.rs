//! A tour of asyncutils: run it with `cargo run --example tour`.
//!
//! It runs on tokio through `asyncutils-tokio`, imported under the name
//! `asyncutils`; switching `examples/Cargo.toml` to `asyncutils-smol` or
//! `asyncutils-async-std` runs the same code on another runtime.

use std::sync::Arc;
use std::time::{Duration, Instant};

use asyncutils::audit;
use asyncutils::buckets::{LeakyBucket, TokenBucket};
use asyncutils::channels::Rendezvous;
use asyncutils::core_api::rt::VirtualRuntime;
use asyncutils::locks::{CallError, CircuitBreaker, PrioritySemaphore};
use asyncutils::time::Clock;

fn main() {
    asyncutils::block_on(async {
        rendezvous().await;
        observable_debounce().await;
        event_bus().await;
        token_bucket_under_load().await;
        leaky_bucket_adapts().await;
        retry_with_backoff().await;
        fifo_lockout().await;
        circuit_breaker().await;
        priority_semaphore().await;
        rate_limiters().await;
        resource_guard();
        smart_queue().await;
        fixed_queue().await;
        waterfall().await;
    });
    audit_listener();
    virtual_time();
}

/// A rendezvous is an unbuffered channel: a put completes only once a getter
/// has taken its value.
async fn rendezvous() {
    println!("== Rendezvous: unbuffered handoff");
    let rv = Arc::new(Rendezvous::new());
    let consumer = asyncutils::rt::spawn({
        let rv = rv.clone();
        async move {
            let mut got = Vec::new();
            for _ in 0..3 {
                got.push(rv.get().await.expect("not reset"));
            }
            got
        }
    });
    for word in ["ready", "steady", "go"] {
        rv.put(word).await.expect("not reset");
        println!("   put {word:?}: taken by the consumer");
    }
    println!("   consumer received {:?}", consumer.await.unwrap());

    // A get that times out is simply dropped; it consumed nothing.
    let r = asyncutils::time::timeout(Duration::from_millis(20), rv.get()).await;
    println!("   get with nobody putting, 20 ms timeout: {r:?}");
    // try_put succeeds only when a getter is already waiting.
    println!("   try_put with nobody getting: {:?}", rv.try_put("nope"));

    let rv2 = rv.clone();
    let other = asyncutils::rt::spawn(async move { rv2.exchange("left").await });
    let mine = rv.exchange("right").await.unwrap();
    println!(
        "   exchange: I got {mine:?}, the other side got {:?}",
        other.await.unwrap().unwrap()
    );
}

/// Eight tasks share a bucket of 10 tokens refilled at 50 per second: the
/// first burst passes at once, the rest queue fairly at the refill rate.
async fn token_bucket_under_load() {
    println!("== TokenBucket: 8 tasks x 5 requests, 50 tokens/s, burst 10");
    let bucket = Arc::new(TokenBucket::new(50.0, 10.0).expect("valid quota"));
    let start = Instant::now();
    let tasks: Vec<_> = (0..8)
        .map(|task| {
            let bucket = bucket.clone();
            asyncutils::rt::spawn(async move {
                for _ in 0..5 {
                    bucket.acquire(1).await.expect("1 <= capacity");
                }
                (task, start.elapsed())
            })
        })
        .collect();
    for t in tasks {
        let (task, took) = t.await.unwrap();
        println!("   task {task} done after {:>4} ms", took.as_millis());
    }
    // 40 tokens: 10 at once, 30 at 50/s = 600 ms.
    println!(
        "   40 tokens in {} ms (expected about 600)",
        start.elapsed().as_millis()
    );
    match bucket.try_acquire(5) {
        Ok(()) => println!("   try_acquire(5): granted"),
        Err(e) => println!("   try_acquire(5): {e}"),
    }
    println!(
        "   asking for more than the capacity: {}",
        bucket.try_acquire(11).unwrap_err()
    );
}

/// Retrying a flaky operation with exponential backoff and jitter.
async fn retry_with_backoff() {
    use asyncutils::limit::{Backoff, Jitter};
    println!("== retry: exponential backoff, equal jitter, retry only 'busy'");
    let backoff = Backoff::exponential(Duration::from_millis(10))
        .and_then(|b| b.with_factor(2.0))
        .expect("valid backoff")
        .with_max_retries(5)
        .with_jitter(Jitter::Equal, 7);
    let attempt = std::sync::atomic::AtomicU32::new(0);
    let start = Instant::now();
    let result = asyncutils::limit::retry(&backoff, || {
        let n = attempt.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        async move { if n < 4 { Err("busy") } else { Ok(n) } }
    })
    .when(|e: &&str| *e == "busy")
    .on_retry(|e, k, d| println!("   attempt failed ({e}); retry {k} in {d:?}"))
    .await;
    println!("   {result:?} after {} ms", start.elapsed().as_millis());
}

/// A lockout pauses every caller of a dependency until every lockout has
/// expired; the FIFO variant lets them through in arrival order when it
/// lifts.
async fn fifo_lockout() {
    println!("== Lockout: overlapping lockouts of 30 ms and 60 ms");
    let plain = asyncutils::limit::Lockout::new();
    plain.lockout_for(Duration::from_millis(30));
    plain.lockout_for(Duration::from_millis(60)); // the longer one wins
    let start = Instant::now();
    plain.enter().await;
    println!(
        "   entered after {} ms; locked now: {}",
        start.elapsed().as_millis(),
        plain.is_locked()
    );

    println!("== FifoLockout: a 50 ms pause, then callers pass in arrival order");
    let lockout = Arc::new(asyncutils::limit::FifoLockout::new());
    lockout.lockout_for(Duration::from_millis(50));
    let start = Instant::now();
    let callers: Vec<_> = (0..4)
        .map(|caller| {
            let lockout = lockout.clone();
            asyncutils::rt::spawn(async move { (caller, lockout.enter().await) })
        })
        .collect();
    for c in callers {
        let (caller, admitted) = c.await.unwrap();
        println!(
            "   caller {caller} admitted #{admitted} after {} ms",
            start.elapsed().as_millis()
        );
    }
}

/// A leaky bucket fills with each request and drains at `leak × factor`
/// units per second; the factor halves while the bucket runs above ¾ full
/// and doubles below ¼, within its bounds (default [0.5, 2]).
async fn leaky_bucket_adapts() {
    println!("== LeakyBucket: capacity 10, leaks 20/s, factor in [0.5, 2]");
    let bucket = LeakyBucket::new(10.0, 20.0).expect("valid bucket");
    let start = Instant::now();
    for request in 0..6 {
        let waited = bucket.wait_for_tokens(4).await.expect("4 <= capacity");
        println!(
            "   request {request}: waited {:>3} ms, level {:.1}, factor {}",
            waited.as_millis(),
            bucket.level(),
            bucket.factor()
        );
    }
    println!("   24 units in {} ms", start.elapsed().as_millis());
    match bucket.try_acquire(8) {
        Ok(()) => println!("   try_acquire(8): admitted"),
        Err(e) => println!("   try_acquire(8): {e}"),
    }
    bucket.reset_factor();
    println!("   factor reset to {}", bucket.factor());
}

/// A circuit breaker fails fast while a dependency is down, then lets one
/// probe through after the reset time.
async fn circuit_breaker() {
    println!("== CircuitBreaker: trips after 3 failures, open 200 ms, then 1 probe");
    let breaker =
        CircuitBreaker::new("flaky-db", 3, Duration::from_millis(200), 1).expect("valid settings");
    let down = || async { Err::<u32, &str>("connection refused") };
    for i in 1..=4 {
        match breaker.call_with(down).await {
            Err(CallError::Inner(e)) => println!("   call {i}: failed ({e})"),
            Err(CallError::Open { retry_after }) => {
                println!("   call {i}: refused at once, open for {retry_after:?} more");
            }
            other => println!("   call {i}: {other:?}"),
        }
    }
    asyncutils::time::sleep(Duration::from_millis(200)).await;
    println!("   after the reset: {}", breaker.state());
    let probe = breaker.call(async { Ok::<u32, &str>(42) }).await;
    println!("   probe: {probe:?}; the breaker is {}", breaker.state());
}

/// A priority semaphore serves its waiters by priority (lower first), ties
/// in arrival order, whatever order they arrived in; its size can change
/// at run time.
async fn priority_semaphore() {
    println!("== PrioritySemaphore: one permit, four waiters served by priority");
    let sem = Arc::new(PrioritySemaphore::new(1).expect("valid count"));
    let held = sem.try_acquire_owned().expect("a free permit");
    let mut tasks = Vec::new();
    for (name, priority) in [
        ("batch", 9),
        ("interactive", 0),
        ("report", 5),
        ("alert", -1),
    ] {
        let task_sem = sem.clone();
        tasks.push(asyncutils::rt::spawn(async move {
            let _permit = task_sem.acquire(priority).await.expect("open");
            println!("   {name} (priority {priority}) got the permit");
        }));
        // Let it queue before the next one arrives.
        while sem.waiters() < tasks.len() {
            asyncutils::rt::yield_now().await;
        }
    }
    drop(held);
    for t in tasks {
        t.await.unwrap();
    }
    sem.set_permits(3).expect("valid count");
    println!("   resized to {} permits", sem.available_permits());
}

/// A sliding-window limiter counts each permit until one period after it
/// is released; `RateLimited` wraps a function in such a limit.
async fn rate_limiters() {
    use asyncutils::limit::{OverLimit, RateLimited, RateLimiter};
    println!("== RateLimiter: 3 entries per 100 ms; RateLimited: 2 calls per 100 ms, else fail");
    let limiter = RateLimiter::new(3, Duration::from_millis(100)).expect("valid limit");
    let start = Instant::now();
    for i in 0..5 {
        let permit = limiter.acquire().await;
        println!("   entry {i} at {:>3} ms", start.elapsed().as_millis());
        drop(permit);
    }
    let lookup = RateLimited::new(
        |id: u32| async move { format!("user-{id}") },
        2,
        Duration::from_millis(100),
        OverLimit::Fail,
    )
    .expect("valid limit");
    for id in 1..=3 {
        match lookup.call(id).await {
            Ok(user) => println!("   lookup({id}) = {user}"),
            Err(e) => println!("   lookup({id}): {e}"),
        }
    }
}

/// A resource guard never waits: a second user is told "busy" at once.
fn resource_guard() {
    use asyncutils::locks::ResourceGuard;
    println!("== ResourceGuard: exclusive use that fails fast");
    let scanner = ResourceGuard::new(String::from("scanner"));
    let job = scanner.try_use().expect("free");
    match scanner.try_use() {
        Ok(_) => println!("   second user got it (unexpected)"),
        Err(busy) => println!("   second user: {busy}"),
    }
    drop(job);
    println!(
        "   after release: {:?}; success ratio {:.2}",
        scanner.try_use().map(|s| s.clone()),
        scanner.success_ratio()
    );

    // One guard per resource instance, however it is looked up.
    let device = Arc::new(String::from("/dev/ttyUSB0"));
    let from_setup = asyncutils::locks::UniqueResourceGuard::for_resource(&device);
    let from_worker = asyncutils::locks::UniqueResourceGuard::for_resource(&device);
    let held = from_setup.try_use().expect("free");
    println!(
        "   UniqueResourceGuard: same guard from both lookups: {}; worker while held: {:?}",
        Arc::ptr_eq(&from_setup, &from_worker),
        from_worker.try_use().map(|_| ())
    );
    drop(held);
}

/// Audit events: scoped listeners that cost nothing when absent.
fn audit_listener() {
    println!("== Audit events");
    let created = audit::extracting("asyncutils.buckets.TokenBucket", |e| {
        format!(
            "rate={} capacity={}",
            e.get("rate").unwrap(),
            e.get("capacity").unwrap()
        )
    });
    let _ = TokenBucket::new(100.0, 20.0);
    let _ = TokenBucket::new(2.5, 1.0);
    for line in created.finish() {
        println!("   caught asyncutils.buckets.TokenBucket({line})");
    }
    println!(
        "   listeners now: {} (emit! is one relaxed load and a branch)",
        audit::enabled()
    );
    println!("   the catalog lists {} events", audit::CATALOG.len());
}

/// Virtual time: an hour of rate limiting in microseconds, exactly.
fn virtual_time() {
    println!("== ManualClock / VirtualRuntime: deterministic time");
    let rt = VirtualRuntime::new();
    let wall = Instant::now();
    // The adapter's `TokenBucket` is bound to tokio; the core type takes any clock.
    let bucket =
        asyncutils::core_api::buckets::TokenBucket::with_clock(1.0, 1.0, rt.clone()).unwrap();
    let finished_at = rt.block_on(async {
        for _ in 0..3600 {
            bucket.acquire(1).await.unwrap();
        }
        rt.now()
    });
    println!(
        "   3600 tokens at 1/s: virtual clock reads {:?} (took {:?} of real time)",
        finished_at,
        wall.elapsed()
    );
    assert_eq!(finished_at.as_nanos(), 3_599 * 1_000_000_000);
}

/// A waterfall hands items to a callback in batches: at once when a batch
/// is full, or `max_wait` after a batch's first item, whichever comes first.
async fn waterfall() {
    println!("== Waterfall: batches by size or by time");
    let wf = Arc::new(asyncutils::batch::Waterfall::new(3, Duration::from_millis(50)).unwrap());
    let start = Instant::now();
    let driver = asyncutils::rt::spawn({
        let wf = wf.clone();
        async move {
            let deliver = move |batch: Vec<u32>| async move {
                println!("   {:>3} ms: batch {batch:?}", start.elapsed().as_millis());
                Ok::<(), std::convert::Infallible>(())
            };
            wf.driver(deliver).await
        }
    });
    for i in 1..=3 {
        wf.put(i).await.unwrap(); // the third fills the batch: it leaves at once
    }
    wf.put(4).await.unwrap();
    asyncutils::time::sleep(Duration::from_millis(20)).await;
    wf.put(5).await.unwrap(); // leaves with 4, 50 ms after 4 arrived
    asyncutils::time::sleep(Duration::from_millis(80)).await;
    wf.put(6).await.unwrap();
    // Stop: 6 leaves at once; whatever is not delivered within 1 s is dropped.
    let drained = wf.stop(Some(Duration::from_secs(1))).await;
    let report = driver.await.unwrap();
    let (batches, items, dropped) = (report.batches(), report.items(), drained.dropped());
    println!("   stopped: {batches} batches, {items} items delivered, {dropped} dropped");
}

/// An observable runs its observers inside `notify`; operators derive new
/// observables, and `debounce` turns a burst into one late notification
/// through a driver future (spawned here; nothing spawns behind your back).
async fn observable_debounce() {
    use asyncutils::channels::{Observable, Observer};
    println!("== Observable: observers, operators, debounce");
    let keys = Observable::new();
    let echo = keys.subscribe(Observer::sync(|k: &char| print!("{k}")));
    let (settled, driver) = keys
        .map(|k: &char| k.to_ascii_uppercase())
        .debounce(
            asyncutils::DefaultRuntime::default(),
            Duration::from_millis(50),
        )
        .expect("a positive delay");
    let driver = asyncutils::rt::spawn(driver);
    let next = settled.wait_for_next();
    let typing = async {
        print!("   typed: ");
        for k in "rust".chars() {
            keys.notify(k).await.expect("observers never fail");
            asyncutils::time::sleep(Duration::from_millis(10)).await;
        }
        println!();
    };
    let start = Instant::now();
    let (last, ()) = futures_lite::future::zip(next, typing).await;
    println!(
        "   debounced (50 ms quiet): {last:?} after {:?}",
        start.elapsed()
    );
    drop((echo, keys)); // the source closes: the driver finishes
    driver
        .await
        .expect("driver task")
        .expect("observers never fail");
}

/// An event bus delivers each publication to the subscribers of its event
/// type, of a matching pattern and of every event (`subscribe_all`);
/// middlewares transform the data first; the audit bridge republishes the
/// library's own audit events on a bus.
async fn event_bus() {
    use asyncutils::channels::EventBus;
    println!("== EventBus: patterns, a wildcard, middleware, the audit bridge");
    let bus = Arc::new(
        EventBus::<u32>::builder()
            .name("shop")
            .build()
            .expect("valid"),
    );
    let _orders = bus
        .subscribe("shop.order", |n: &u32| println!("   order of {n}"))
        .expect("valid event type");
    let _everything =
        bus.subscribe_all(|event: &str, n: &u32| println!("   [wildcard] {event}: {n}"));
    let _checks = bus
        .subscribe_pattern_async("shop.*", |event, n: u32| async move {
            asyncutils::time::sleep(Duration::from_millis(5)).await;
            if n > 100 {
                Err(format!("{event}: {n} looks wrong"))
            } else {
                Ok(())
            }
        })
        .expect("valid pattern");
    bus.add_middleware(|_, n| n * 2); // subscribers only see doubled amounts
    bus.publish("shop.order", 3)
        .await
        .expect("every subscriber succeeded");
    let err = bus.publish("shop.order", 60).await.unwrap_err();
    println!("   the publisher gets the subscribers' errors: {err}");
    // Wait for an event another task publishes.
    let refund = bus
        .wait_for_event("shop.refund", |n| *n > 0)
        .expect("valid");
    let other = bus.clone();
    asyncutils::rt::spawn(async move { other.publish("shop.refund", 7).await })
        .await
        .expect("task ran")
        .expect("published");
    println!("   refund of {}", refund.await.expect("arrived"));
    bus.shutdown().await.expect("no callback left running");

    // The audit bridge: every audit event becomes a publication.
    let audit_bus = EventBus::<String>::new();
    let _log = audit_bus.subscribe_all(|event: &str, line: &String| {
        println!("   [audit on the bus] {event}: {line}")
    });
    audit_bus.start_audit_with(|e| format!("{} argument(s)", e.args().len()));
    let _bucket = TokenBucket::new(5.0, 5.0).expect("valid");
    audit_bus.stop_audit();
}

/// A bounded smart queue: `push` on a full queue hands back the oldest
/// item instead of losing it, and a transaction dropped on an error path
/// leaves the queue exactly as it was.
/// A queue in a `static` that never allocates, not even for the tasks and
/// threads waiting on it: a task fills it, a plain thread drains it.
async fn fixed_queue() {
    use asyncutils::queues::FixedQueue;
    static READINGS: FixedQueue<u32, 4> = FixedQueue::new();
    println!("== FixedQueue: a static queue shared by a task and a thread");
    let reader = std::thread::spawn(|| {
        let mut got = Vec::new();
        // Blocks the thread until the task puts, and learns when it is over.
        while let Ok(r) = READINGS.blocking_get() {
            got.push(r);
        }
        got
    });
    for r in 0..10 {
        // Waits (without allocating) whenever the 4 slots are taken.
        READINGS.put(r * 10).await.expect("open");
    }
    READINGS.close();
    let got = asyncutils::rt::spawn_blocking(move || reader.join().expect("reader"))
        .await
        .expect("joined");
    println!("   the thread received {got:?} through 4 slots");
}

async fn smart_queue() {
    use asyncutils::queues::SmartQueue;
    println!("== SmartQueue: drop-oldest push and a rolled-back transaction");
    let queue: SmartQueue<&str> = SmartQueue::bounded(3).expect("valid capacity");
    for job in ["a", "b", "c"] {
        queue.put(job).await.expect("open");
    }
    let displaced = queue.push("d").expect("open");
    println!("   push(\"d\") on a full queue displaced {displaced:?}");

    let result: Result<(), &str> = async {
        let mut txn = queue.transaction().await;
        let first = *txn.get().map_err(|_| "empty")?;
        txn.put("retry-b").map_err(|_| "full")?;
        println!(
            "   in the transaction: took {first:?}, put \"retry-b\"; others see {} items",
            queue.len()
        );
        Err("the handler failed") // dropped without commit: rolled back
    }
    .await;
    println!("   transaction ended with {result:?}");
    println!(
        "   the queue is untouched: {:?}",
        queue.drain().expect("no transaction")
    );
}
