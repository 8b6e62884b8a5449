//! `TokenBucket` conformance: it starts full, `try_acquire` reports the
//! exact `retry_after`, `acquire` waits exactly as long as the tokens take
//! to drip in, a hundred waiters are served first come first served,
//! invalid arguments are errors naming the argument, and construction
//! raises the `asyncutils.buckets.TokenBucket` audit event — on every
//! executor, exactly in virtual time. A dropped `Acquire` is checked at
//! every poll point to refund its tokens: afterwards the bucket behaves
//! like a twin bucket that never saw the cancelled acquire.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;
use std::sync::{Arc, Mutex};

use asyncutils_core::audit;
use asyncutils_core::buckets::{TokenBucket, TryAcquireError};
use asyncutils_core::error::InvalidArgument;
use asyncutils_core::time::{Instant, ManualClock};
use asyncutils_tests::cancel::{Subject, drop_at_every_poll_point};
use asyncutils_tests::{
    Manual, TestClock, TestRuntime, assert_duration, assert_elapsed, conformance, join_in_order,
};

const MS: Duration = Duration::from_millis(1);

fn retry_after(result: Result<(), TryAcquireError>) -> Duration {
    match result {
        Err(TryAcquireError::Insufficient { retry_after }) => retry_after,
        other => panic!("expected Insufficient, got {other:?}"),
    }
}

fn manual_bucket(rate: f64, capacity: f64) -> (TokenBucket<ManualClock>, ManualClock) {
    let clock = ManualClock::new();
    let bucket = TokenBucket::with_clock(rate, capacity, clock.clone()).expect("valid arguments");
    (bucket, clock)
}

// === starting full, try_acquire ===

conformance!(clock: starts_full_and_reports_retry_after);
async fn starts_full_and_reports_retry_after<C: TestClock>(clock: C) {
    // 10 tokens per second: one every 100 ms (long enough that a busy
    // machine does not refill the bucket between two statements); bursts
    // of 2.
    let bucket = TokenBucket::with_clock(10.0, 2.0, clock.clone()).expect("valid arguments");
    assert_eq!(bucket.refill_interval(), 100 * MS);
    assert_eq!(bucket.available(), 2.0, "{}: a new bucket is full", C::NAME);
    let start = clock.now();
    assert_eq!(bucket.try_acquire(2), Ok(()));

    let one = retry_after(bucket.try_acquire(1));
    let two = retry_after(bucket.try_acquire(2));
    if C::VIRTUAL {
        assert_eq!((one, two), (100 * MS, 200 * MS));
    } else {
        assert!(one > Duration::ZERO && one <= 100 * MS, "{one:?}");
        assert!(two > Duration::ZERO && two <= 200 * MS, "{two:?}");
    }
    // Failed attempts take nothing: after `retry_after` the same request
    // succeeds.
    clock.sleep(one).await;
    assert_eq!(bucket.try_acquire(1), Ok(()));
    assert_elapsed(&clock, start, 100 * MS);
}

#[test]
fn try_acquire_retry_after_is_exact_in_virtual_time() {
    let (bucket, clock) = manual_bucket(4.0, 2.0); // 250 ms per token
    assert_eq!(bucket.try_acquire(2), Ok(()));
    assert_eq!(retry_after(bucket.try_acquire(2)), 500 * MS);
    assert_eq!(retry_after(bucket.try_acquire(1)), 250 * MS);
    clock.advance(100 * MS);
    assert_eq!(retry_after(bucket.try_acquire(1)), 150 * MS);
    assert_eq!(bucket.available(), 0.4);
    clock.advance(150 * MS);
    assert_eq!(bucket.try_acquire(1), Ok(()));
    assert_eq!(retry_after(bucket.try_acquire(1)), 250 * MS);
    // Refill stops at the capacity.
    clock.advance(Duration::from_secs(3600));
    assert_eq!(bucket.available(), 2.0);
    assert_eq!(bucket.try_acquire(2), Ok(()));
    assert_eq!(bucket.try_acquire(0), Ok(()), "zero tokens always succeed");
}

#[test]
fn rate_is_rounded_to_whole_nanoseconds_and_then_exact() {
    let (bucket, clock) = manual_bucket(3.0, 1.0);
    assert_eq!(bucket.refill_interval(), Duration::from_nanos(333_333_333));
    assert_eq!((bucket.rate(), bucket.capacity()), (3.0, 1.0));
    assert_eq!(bucket.try_acquire(1), Ok(()));
    assert_eq!(
        retry_after(bucket.try_acquire(1)),
        Duration::from_nanos(333_333_333)
    );
    clock.advance(Duration::from_nanos(333_333_332));
    assert_eq!(retry_after(bucket.try_acquire(1)), Duration::from_nanos(1));
    clock.advance(Duration::from_nanos(1));
    assert_eq!(bucket.try_acquire(1), Ok(()));
}

// === acquire ===

conformance!(clock: acquire_waits_until_the_tokens_are_in);
async fn acquire_waits_until_the_tokens_are_in<C: TestClock>(clock: C) {
    // 100 per second: 10 ms per token.
    let bucket = TokenBucket::with_clock(100.0, 5.0, clock.clone()).expect("valid arguments");
    let start = clock.now();
    assert_eq!(
        bucket.acquire(5).await,
        Ok(()),
        "a full bucket grants at once"
    );
    if C::VIRTUAL {
        assert_eq!(clock.now(), start);
    }
    assert_eq!(bucket.acquire(3).await, Ok(()));
    assert_elapsed(&clock, start, 30 * MS);
    if C::VIRTUAL {
        assert_eq!(bucket.available(), 0.0);
    }
    let err = bucket.acquire(6).await.expect_err("more than the capacity");
    assert_eq!(err.name(), "n");
}

#[test]
fn acquire_completes_at_the_exact_instant() {
    let (bucket, clock) = manual_bucket(4.0, 1.0); // 250 ms per token
    assert_eq!(bucket.try_acquire(1), Ok(()));
    let mut acquire = Manual::new(bucket.acquire(1));
    acquire.pending();
    assert_eq!(
        clock.next_deadline(),
        Some(Instant::from_nanos(250_000_000))
    );
    clock.advance(249 * MS);
    assert_eq!(acquire.wakes(), 0);
    acquire.pending();
    clock.advance(MS);
    assert_eq!(acquire.wakes(), 1);
    assert_eq!(acquire.ready(), Ok(()));
    assert_eq!(bucket.available(), 0.0);
}

#[test]
fn try_acquire_never_takes_tokens_a_waiter_reserved() {
    let (bucket, clock) = manual_bucket(10.0, 2.0); // 100 ms per token
    assert_eq!(bucket.try_acquire(2), Ok(()));
    let mut waiter = Manual::new(bucket.acquire(2));
    waiter.pending();
    assert_eq!(bucket.available(), 0.0, "reserved tokens are not available");
    clock.advance(100 * MS);
    assert!(bucket.try_acquire(1).is_err(), "the waiter's first token");
    clock.advance(100 * MS);
    assert!(bucket.try_acquire(1).is_err(), "the waiter's second token");
    assert_eq!(waiter.ready(), Ok(()));
    clock.advance(100 * MS);
    assert_eq!(bucket.try_acquire(1), Ok(()));
}

/// `try_acquire` documents "Taking zero tokens always succeeds", but with a
/// waiter's reservation outstanding it reports `Insufficient`.
#[test]
fn zero_tokens_succeed_even_while_waiters_hold_reservations() {
    let (bucket, _clock) = manual_bucket(1.0, 1.0);
    assert_eq!(bucket.try_acquire(1), Ok(()));
    let mut waiter = Manual::new(bucket.acquire(1));
    waiter.pending();
    assert_eq!(bucket.try_acquire(0), Ok(()));
    assert_eq!(Manual::new(bucket.acquire(0)).poll(), Poll::Ready(Ok(())));
}

// === fairness ===

conformance!(clock: hundred_waiters_complete_in_arrival_order);
/// One task, a hundred `acquire(1)`s polled in index order, so arrival
/// order is index order. In virtual time the completion order and each
/// instant are asserted exactly. On a real clock, which of two timers due
/// within the same millisecond fires first is up to the timer, so there the
/// check is that waiter `i` is never served before its turn:
/// `start + (i + 1) · interval`.
async fn hundred_waiters_complete_in_arrival_order<C: TestClock>(clock: C) {
    const WAITERS: usize = 100;
    // 2000 per second: one token every 500 µs; bursts of one.
    let bucket = TokenBucket::with_clock(2000.0, 1.0, clock.clone()).expect("valid arguments");
    let interval = bucket.refill_interval();
    let start = clock.now();
    assert_eq!(bucket.try_acquire(1), Ok(()));
    let waiters = (0..WAITERS)
        .map(|_| Box::pin(bucket.acquire(1)) as Pin<Box<dyn Future<Output = _>>>)
        .collect();
    let done = join_in_order(&clock, waiters).await;
    assert_eq!(done.len(), WAITERS);
    if C::VIRTUAL {
        let order: Vec<usize> = done.iter().map(|c| c.index).collect();
        assert_eq!(
            order,
            (0..WAITERS).collect::<Vec<_>>(),
            "completion order == arrival order"
        );
    }
    for c in &done {
        assert_eq!(c.output, Ok(()));
        let slot = interval * u32::try_from(c.index + 1).expect("small");
        assert_duration::<C>(c.at - start, slot);
    }
}

/// Records its inner future's first poll in an arrival log, under the log's
/// lock, so the log order is the order the inner futures were first polled.
struct Arrival<F> {
    inner: Pin<Box<F>>,
    id: usize,
    log: Arc<Mutex<Vec<usize>>>,
    arrived: bool,
}

impl<F: Future> Future for Arrival<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        if self.arrived {
            return self.inner.as_mut().poll(cx);
        }
        self.arrived = true;
        let log = self.log.clone();
        let mut log = log.lock().expect("arrival log");
        log.push(self.id);
        self.inner.as_mut().poll(cx)
    }
}

conformance!(hundred_waiting_tasks_are_served_first_come_first_served);
async fn hundred_waiting_tasks_are_served_first_come_first_served<R: TestRuntime>(rt: R) {
    const WAITERS: usize = 100;
    let bucket =
        Arc::new(TokenBucket::with_clock(2000.0, 1.0, rt.clone()).expect("valid arguments"));
    let interval = bucket.refill_interval();
    let start = rt.now();
    assert_eq!(bucket.try_acquire(1), Ok(()));
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let completions = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..WAITERS)
        .map(|id| {
            let bucket = bucket.clone();
            let completions = completions.clone();
            let clock = rt.clone();
            let acquire = Arrival {
                inner: Box::pin(async move { bucket.acquire(1).await }),
                id,
                log: arrivals.clone(),
                arrived: false,
            };
            rt.spawn(async move {
                acquire.await.expect("one token fits");
                completions
                    .lock()
                    .expect("completions")
                    .push((id, clock.now()));
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("waiter task");
    }
    let arrivals = arrivals.lock().expect("arrivals").clone();
    let completions = completions.lock().expect("completions").clone();
    assert_eq!(arrivals.len(), WAITERS);
    if R::VIRTUAL {
        let order: Vec<usize> = completions.iter().map(|&(id, _)| id).collect();
        assert_eq!(order, arrivals, "completion order == arrival order");
    }
    for &(id, at) in &completions {
        let rank = arrivals.iter().position(|&a| a == id).expect("arrived");
        let slot = interval * u32::try_from(rank + 1).expect("small");
        assert_duration::<R>(at - start, slot);
    }
}

// === invalid arguments ===

#[test]
fn invalid_arguments_are_errors_naming_the_argument() {
    let named = |r: Result<TokenBucket<ManualClock>, InvalidArgument>| match r {
        Err(e) => {
            assert!(e.to_string().contains(&format!("`{}`", e.name())), "{e}");
            e.name()
        }
        Ok(b) => panic!("accepted {b:?}"),
    };
    let clock = ManualClock::new();
    let with = |rate, capacity| TokenBucket::with_clock(rate, capacity, clock.clone());
    for rate in [
        f64::NAN,
        0.0,
        -0.0,
        -1.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        1.5e9,
        2e9,
        3e9,
    ] {
        assert_eq!(named(with(rate, 1.0)), "rate", "rate {rate}");
    }
    for capacity in [
        f64::NAN,
        0.0,
        -0.0,
        -1.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        1e12,
    ] {
        assert_eq!(
            named(with(1.0, capacity)),
            "capacity",
            "capacity {capacity}"
        );
    }
    // The largest accepted rate: one token per nanosecond.
    assert_eq!(
        with(1e9, 1.0).map(|b| b.refill_interval()),
        Ok(Duration::from_nanos(1))
    );
    // Rate is checked first.
    assert_eq!(named(with(f64::NAN, f64::NAN)), "rate");

    let (bucket, _clock) = manual_bucket(10.0, 3.0);
    match bucket.try_acquire(4) {
        Err(TryAcquireError::Invalid(e)) => assert_eq!(e.name(), "n"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    match bucket.try_acquire(u64::MAX) {
        Err(TryAcquireError::Invalid(e)) => assert_eq!(e.name(), "n"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert_eq!(
        Manual::new(bucket.acquire(4)).ready().map_err(|e| e.name()),
        Err("n")
    );
    // The failed requests took nothing.
    assert_eq!(bucket.available(), 3.0);
}

// === audit ===

#[test]
fn construction_raises_the_audit_event_with_rate_and_capacity() {
    let raised = audit::extracting("asyncutils.buckets.TokenBucket", |event| {
        let arg = |name| event.get(name).and_then(|v| v.as_f64());
        (arg("rate"), arg("capacity"))
    });
    let clock = ManualClock::new();
    // Distinctive values: tests in this binary run in parallel and may
    // build buckets of their own meanwhile.
    let _bucket = TokenBucket::with_clock(123.25, 7.5, clock.clone()).expect("valid arguments");
    let rejected = TokenBucket::with_clock(f64::NAN, 9.75, clock);
    assert!(rejected.is_err());
    let raised = raised.finish();
    assert_eq!(
        raised
            .iter()
            .filter(|&&e| e == (Some(123.25), Some(7.5)))
            .count(),
        1,
        "raised: {raised:?}"
    );
    assert!(
        !raised.iter().any(|&(_, capacity)| capacity == Some(9.75)),
        "a rejected construction raised the event"
    );
    let entry = audit::catalog_entry("asyncutils.buckets.TokenBucket").expect("in the catalog");
    assert_eq!(entry.args, ["rate", "capacity"]);
}

// === cancellation: drop each Acquire at every poll point ===

/// A bucket and a twin that never saw the acquire under test; counterpart
/// operations that succeed on the real bucket are replayed on the twin.
struct Twins {
    real: TokenBucket<ManualClock>,
    real_clock: ManualClock,
    twin: TokenBucket<ManualClock>,
    twin_clock: ManualClock,
}

impl Twins {
    fn new(rate: f64, capacity: f64) -> Self {
        let (real, real_clock) = manual_bucket(rate, capacity);
        let (twin, twin_clock) = manual_bucket(rate, capacity);
        Twins {
            real,
            real_clock,
            twin,
            twin_clock,
        }
    }

    fn advance(&self, d: Duration) {
        self.real_clock.advance(d);
        self.twin_clock.advance(d);
    }

    /// Someone else's `try_acquire(n)`: if the real bucket grants it, so
    /// must the twin (it never holds more reservations).
    fn other_takes(&self, n: u64) -> bool {
        let granted = self.real.try_acquire(n).is_ok();
        if granted {
            assert_eq!(
                self.twin.try_acquire(n),
                Ok(()),
                "the twin must grant what the bucket granted"
            );
        }
        granted
    }

    /// From now on the two buckets must be indistinguishable.
    #[track_caller]
    fn assert_indistinguishable(&self, what: &str) {
        for step in 0..6 {
            assert_eq!(
                self.real.available(),
                self.twin.available(),
                "{what}, step {step}: available"
            );
            for n in [2, 1] {
                assert_eq!(
                    self.real.try_acquire(n),
                    self.twin.try_acquire(n),
                    "{what}, step {step}: try_acquire({n})"
                );
            }
            self.advance(37 * MS);
        }
    }
}

#[test]
fn dropped_acquire_refunds_its_tokens() {
    let cuts = drop_at_every_poll_point(|cut| {
        let t = Twins::new(10.0, 2.0); // 100 ms per token
        assert!(t.other_takes(2));
        let mut acquire = Subject::new(cut, t.real.acquire(1));
        acquire.poll(); // reserves the token due at 100 ms
        t.advance(60 * MS);
        acquire.checkpoint();
        acquire.poll();
        t.advance(40 * MS);
        acquire.checkpoint();
        acquire.poll();
        if acquire.is_completed() {
            assert_eq!(acquire.output(), Some(&Ok(())));
            assert_eq!(t.real_clock.now(), Instant::from_nanos(100_000_000));
            // Completed exactly at its turn: the twin takes the same token
            // at the same instant by other means.
            assert_eq!(t.twin.try_acquire(1), Ok(()));
        }
        t.assert_indistinguishable(&format!("cut {cut}"));
        acquire.fate()
    });
    assert!(cuts >= 5, "dropped at {cuts} points");
}

#[test]
fn dropped_acquire_of_several_tokens_refunds_them_all() {
    let cuts = drop_at_every_poll_point(|cut| {
        let t = Twins::new(4.0, 3.0); // 250 ms per token
        assert!(t.other_takes(2));
        let mut acquire = Subject::new(cut, t.real.acquire(3));
        acquire.poll(); // one token in, two to go: due at 500 ms
        for _ in 0..4 {
            t.advance(125 * MS);
            acquire.checkpoint();
            acquire.poll();
        }
        if acquire.is_completed() {
            assert_eq!(
                t.real_clock.now(),
                Instant::from_nanos(500_000_000),
                "completed at its turn"
            );
            assert_eq!(t.twin.try_acquire(3), Ok(()));
        }
        t.assert_indistinguishable(&format!("cut {cut}"));
        acquire.fate()
    });
    assert!(cuts >= 9, "dropped at {cuts} points");
}

#[test]
fn dropped_acquire_leaves_later_waiters_their_place_and_wake_up_time() {
    let cuts = drop_at_every_poll_point(|cut| {
        let (bucket, clock) = manual_bucket(10.0, 1.0); // 100 ms per token
        assert_eq!(bucket.try_acquire(1), Ok(()));
        let mut first = Subject::new(cut, bucket.acquire(1));
        first.poll();
        let first_arrived = !first.is_dropped();
        let mut second = Manual::new(bucket.acquire(1));
        second.pending();
        clock.advance(50 * MS);
        first.checkpoint();
        first.poll();
        clock.advance(50 * MS);
        first.checkpoint();
        first.poll();
        // The second waiter's turn was fixed when it arrived.
        let turn = if first_arrived { 200 * MS } else { 100 * MS };
        while second.poll().is_pending() {
            clock.advance(10 * MS);
        }
        assert_eq!(
            clock.now(),
            Instant::ZERO + turn,
            "cut {cut}: served at its turn"
        );
        // Whatever the first waiter did, the bucket is then empty: had it
        // taken its token, the second took the next; had it never come, the
        // second took the first; dropped after the second had reserved
        // behind it, it refunds nothing, because the second waiter's
        // wake-up time rests on it (a refund would let a newcomer and the
        // second waiter take the same token).
        assert_eq!(bucket.available(), 0.0, "cut {cut}");
        first.fate()
    });
    assert!(cuts >= 5, "dropped at {cuts} points");
}

/// Time passes beyond the acquire's turn, someone else takes tokens, and
/// only then is the acquire dropped (say it lost a `select`). The refund
/// gives back tokens that the elapsed time had already absorbed, so the
/// bucket briefly holds more than a bucket that never saw the acquire —
/// more than its capacity allows at that instant.
#[test]
fn dropped_acquire_after_its_turn_and_others_took_tokens_refunds_nothing_extra() {
    let cuts = drop_at_every_poll_point(|cut| {
        let t = Twins::new(10.0, 2.0); // 100 ms per token
        assert!(t.other_takes(2));
        let mut acquire = Subject::new(cut, t.real.acquire(1));
        acquire.poll(); // due at 100 ms
        t.advance(250 * MS);
        acquire.checkpoint();
        t.other_takes(1);
        acquire.checkpoint();
        acquire.poll();
        if acquire.is_dropped() {
            t.assert_indistinguishable(&format!("cut {cut}"));
        }
        acquire.fate()
    });
    assert!(cuts >= 3, "dropped at {cuts} points");
}

/// The smallest form of the bug above: a burst larger than the capacity.
#[test]
fn dropped_stale_acquire_cannot_raise_a_burst_above_capacity() {
    let (bucket, clock) = manual_bucket(10.0, 2.0); // 100 ms per token, bursts of 2
    assert_eq!(bucket.try_acquire(2), Ok(()));
    let mut stale = Manual::new(bucket.acquire(1));
    stale.pending(); // reserves the token due at 100 ms
    clock.advance(Duration::from_secs(10)); // its turn passes; it is not polled again
    assert_eq!(
        bucket.try_acquire(2),
        Ok(()),
        "refilled: someone takes a full burst"
    );
    drop(stale); // say it lost a `select`
    assert!(
        bucket.try_acquire(1).is_err(),
        "a third token in the same instant: a burst of 3 from a bucket of capacity 2"
    );
}
