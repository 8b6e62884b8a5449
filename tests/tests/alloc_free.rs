//! The allocation-free hot path: after warm-up, a thousand `Rendezvous`
//! put/get handoffs (both orders), exchanges and `try_put`/`try_get`
//! pairs, a thousand `TokenBucket::try_acquire` calls (and immediate
//! `acquire`s), `PrioritySemaphore` acquires and releases (uncontended and
//! with waiters queued), `LeakyBucket` admissions, `RateLimiter` and
//! `FifoLockout` entries, closed-state `CircuitBreaker` calls, and `emit!`
//! with nobody listening perform zero heap allocations.
//!
//! This binary installs a counting global allocator. Counts are per
//! thread, so the test harness and tests running in parallel do not
//! disturb each other; every operation measured here runs on the test's
//! own thread, polled by hand.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use std::time::Duration;

use asyncutils_core::buckets::{LeakyBucket, TokenBucket};
use asyncutils_core::channels::Rendezvous;
use asyncutils_core::emit;
use asyncutils_core::limit::{FifoLockout, RateLimiter};
use asyncutils_core::locks::{CircuitBreaker, PrioritySemaphore};
use asyncutils_core::time::ManualClock;
use asyncutils_tests::alloc::{CountingAlloc, allocations};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// A real (reference-counted) waker, so waker clones and wakes are the
/// ones a runtime would see, not the no-op waker's.
struct Flag;

impl Wake for Flag {
    fn wake(self: Arc<Self>) {}
}

const ROUNDS: usize = 1_000;

fn poll<F: Future>(f: std::pin::Pin<&mut F>, cx: &mut Context<'_>) -> Poll<F::Output> {
    f.poll(cx)
}

fn put_then_get(rv: &Rendezvous<u64>, cx: &mut Context<'_>, i: u64) {
    let mut put = pin!(rv.put(i));
    let mut get = pin!(rv.get());
    assert!(poll(put.as_mut(), cx).is_pending());
    assert_eq!(poll(get.as_mut(), cx), Poll::Ready(Ok(i)));
    assert_eq!(poll(put.as_mut(), cx), Poll::Ready(Ok(())));
}

fn get_then_put(rv: &Rendezvous<u64>, cx: &mut Context<'_>, i: u64) {
    let mut get = pin!(rv.get());
    let mut put = pin!(rv.put(i));
    assert!(poll(get.as_mut(), cx).is_pending());
    assert!(poll(put.as_mut(), cx).is_pending());
    assert_eq!(poll(get.as_mut(), cx), Poll::Ready(Ok(i)));
    assert_eq!(poll(put.as_mut(), cx), Poll::Ready(Ok(())));
}

fn exchange_and_try(rv: &Rendezvous<u64>, cx: &mut Context<'_>, i: u64) {
    let mut a = pin!(rv.exchange(i));
    let mut b = pin!(rv.exchange(i + 1));
    assert!(poll(a.as_mut(), cx).is_pending());
    assert_eq!(poll(b.as_mut(), cx), Poll::Ready(Ok(i)));
    assert_eq!(poll(a.as_mut(), cx), Poll::Ready(Ok(i + 1)));

    let mut get = pin!(rv.get());
    assert!(poll(get.as_mut(), cx).is_pending());
    assert!(rv.try_put(i).is_ok());
    assert_eq!(poll(get.as_mut(), cx), Poll::Ready(Ok(i)));

    let mut put = pin!(rv.put(i));
    assert!(poll(put.as_mut(), cx).is_pending());
    assert_eq!(rv.try_get(), Ok(i));
    assert_eq!(poll(put.as_mut(), cx), Poll::Ready(Ok(())));
}

#[test]
fn rendezvous_handoffs_do_not_allocate() {
    let waker = Waker::from(Arc::new(Flag));
    let mut cx = Context::from_waker(&waker);
    let rv = Rendezvous::new();
    // Warm-up: the waiter slab grows to the peak number of waiters.
    for i in 0..8 {
        put_then_get(&rv, &mut cx, i);
        get_then_put(&rv, &mut cx, i);
        exchange_and_try(&rv, &mut cx, i);
    }
    let n = allocations(|| {
        for i in 0..ROUNDS as u64 {
            put_then_get(&rv, &mut cx, i);
        }
    });
    assert_eq!(n, 0, "{ROUNDS} put-then-get handoffs allocated {n} times");
    let n = allocations(|| {
        for i in 0..ROUNDS as u64 {
            get_then_put(&rv, &mut cx, i);
        }
    });
    assert_eq!(n, 0, "{ROUNDS} get-then-put handoffs allocated {n} times");
    let n = allocations(|| {
        for i in 0..ROUNDS as u64 {
            exchange_and_try(&rv, &mut cx, i);
        }
    });
    assert_eq!(
        n, 0,
        "{ROUNDS} exchanges and try_put/try_get allocated {n} times"
    );
}

#[test]
fn rendezvous_handoffs_with_the_noop_waker_do_not_allocate() {
    let mut cx = Context::from_waker(Waker::noop());
    let rv = Rendezvous::new();
    put_then_get(&rv, &mut cx, 0);
    let n = allocations(|| {
        for i in 0..ROUNDS as u64 {
            put_then_get(&rv, &mut cx, i);
        }
    });
    assert_eq!(n, 0);
}

#[test]
fn token_bucket_try_acquire_does_not_allocate() {
    let clock = ManualClock::new();
    let bucket = TokenBucket::with_clock(1e6, 10.0, clock.clone()).expect("valid arguments");
    let tokio_bucket =
        asyncutils_tokio::buckets::TokenBucket::new(1e6, 10.0).expect("valid arguments");
    let smol_bucket =
        asyncutils_smol::buckets::TokenBucket::new(1e6, 10.0).expect("valid arguments");
    let mut cx = Context::from_waker(Waker::noop());
    // Warm-up: the std clocks fix their process-wide epoch on first use.
    let _ = (
        tokio_bucket.try_acquire(1),
        smol_bucket.try_acquire(1),
        bucket.try_acquire(1),
    );
    let n = allocations(|| {
        for i in 0..ROUNDS {
            if i % 10 == 0 {
                clock.advance(std::time::Duration::from_micros(10));
            }
            assert!(bucket.try_acquire(1).is_ok());
            let _ = tokio_bucket.try_acquire(1);
            let _ = smol_bucket.try_acquire(1);
        }
    });
    assert_eq!(n, 0, "{ROUNDS} try_acquire calls allocated {n} times");
    assert!(
        bucket.try_acquire(1).is_err(),
        "the bucket was really drained"
    );
    // An acquire that is granted at once does not allocate either.
    clock.advance(std::time::Duration::from_secs(1));
    let n = allocations(|| {
        for _ in 0..ROUNDS {
            clock.advance(std::time::Duration::from_micros(1));
            let acquire = pin!(bucket.acquire(1));
            assert_eq!(acquire.poll(&mut cx), Poll::Ready(Ok(())));
        }
    });
    assert_eq!(n, 0, "{ROUNDS} immediate acquires allocated {n} times");
}

#[test]
fn emit_without_listeners_does_not_allocate() {
    assert!(
        !asyncutils_core::audit::enabled(),
        "nothing in this binary listens"
    );
    let name = String::from("test.alloc.dynamic");
    let n = allocations(|| {
        for i in 0..ROUNDS {
            emit!("asyncutils.buckets.TokenBucket", rate = 1.0, capacity = 2.0);
            emit!(
                name.as_str(),
                i = i as u64,
                who = "me",
                ratio = 0.5,
                flag = true
            );
        }
    });
    assert_eq!(
        n, 0,
        "{ROUNDS} emits with nobody listening allocated {n} times"
    );
}

#[test]
fn the_counter_counts() {
    let n = allocations(|| drop(std::hint::black_box(Box::new(1_u64))));
    assert_eq!(
        n, 1,
        "the counting allocator must see allocations on this thread"
    );
}

/// One round: take every permit, queue `waiters` acquires of mixed
/// priorities, release, and let each waiter take its turn.
fn priority_round(sem: &PrioritySemaphore, cx: &mut Context<'_>) {
    let held = sem.try_acquire().expect("free");
    let mut a = pin!(sem.acquire(3));
    let mut b = pin!(sem.acquire(1));
    let mut c = pin!(sem.acquire(2));
    assert!(poll(a.as_mut(), cx).is_pending());
    assert!(poll(b.as_mut(), cx).is_pending());
    assert!(poll(c.as_mut(), cx).is_pending());
    drop(held);
    let Poll::Ready(Ok(pb)) = poll(b.as_mut(), cx) else {
        panic!("the best priority is served first")
    };
    drop(pb);
    let Poll::Ready(Ok(pc)) = poll(c.as_mut(), cx) else {
        panic!("then the next")
    };
    drop(pc);
    let Poll::Ready(Ok(pa)) = poll(a.as_mut(), cx) else {
        panic!("then the last")
    };
    drop(pa);
}

#[test]
fn priority_semaphore_hot_paths_do_not_allocate() {
    let sem = PrioritySemaphore::new(1).expect("valid");
    let waker = Waker::from(Arc::new(Flag));
    let mut cx = Context::from_waker(&waker);
    // Warm-up grows the waiter slab to its peak.
    priority_round(&sem, &mut cx);
    let uncontended = allocations(|| {
        for _ in 0..1000 {
            drop(sem.try_acquire().expect("free"));
            let Poll::Ready(Ok(p)) = poll(pin!(sem.acquire(0)), &mut cx) else {
                panic!("a permit is free")
            };
            drop(p);
        }
    });
    assert_eq!(uncontended, 0, "uncontended acquire and release");
    let waiting = allocations(|| {
        for _ in 0..1000 {
            priority_round(&sem, &mut cx);
        }
    });
    assert_eq!(waiting, 0, "waiting in steady state");
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn leaky_bucket_hot_paths_do_not_allocate() {
    let clock = ManualClock::new();
    let bucket = LeakyBucket::with_clock(1e6, 1e6, clock.clone()).expect("valid");
    let mut cx = Context::from_waker(Waker::noop());
    let _ = bucket.try_acquire(1);
    let n = allocations(|| {
        for i in 0..ROUNDS {
            clock.advance(Duration::from_micros(1));
            assert_eq!(bucket.try_acquire(1), Ok(()));
            let wait = pin!(bucket.wait_for_tokens(1));
            assert_eq!(poll(wait, &mut cx), Poll::Ready(Ok(Duration::ZERO)));
            // Refusals build their error without allocating too.
            if i % 100 == 0 {
                let _ = bucket.try_acquire(1_000_000);
            }
        }
    });
    assert_eq!(n, 0, "{ROUNDS} admitted requests allocated {n} times");
    assert!(bucket.level() > 0.0, "the bucket really filled");
}

#[test]
fn rate_limiter_and_lockout_hot_paths_do_not_allocate() {
    let clock = ManualClock::new();
    let limiter =
        RateLimiter::with_clock(4, Duration::from_millis(1), clock.clone()).expect("valid");
    let lockout = FifoLockout::with_clock(clock.clone());
    let mut cx = Context::from_waker(Waker::noop());
    let n = allocations(|| {
        for _ in 0..ROUNDS {
            clock.advance(Duration::from_millis(1));
            drop(limiter.try_acquire().expect("room after a period"));
            let Poll::Ready(permit) = poll(pin!(limiter.acquire()), &mut cx) else {
                panic!("room for a second entry")
            };
            drop(permit);
            let Poll::Ready(_) = poll(pin!(lockout.enter()), &mut cx) else {
                panic!("no lockout is active")
            };
        }
    });
    assert_eq!(n, 0, "{ROUNDS} rounds allocated {n} times");
}

#[test]
fn circuit_breaker_closed_calls_do_not_allocate() {
    let clock = ManualClock::new();
    let breaker =
        CircuitBreaker::with_clock("alloc", 3, Duration::from_secs(1), 1, clock).expect("valid");
    let mut cx = Context::from_waker(Waker::noop());
    let n = allocations(|| {
        for i in 0..ROUNDS {
            let call = pin!(breaker.call(async move { if i % 2 == 0 { Ok(i) } else { Err(i) } }));
            let Poll::Ready(result) = poll(call, &mut cx) else {
                panic!("a closed breaker runs the call at once")
            };
            assert_eq!(result.is_ok(), i % 2 == 0);
            breaker.try_acquire().expect("closed").success();
        }
    });
    assert_eq!(n, 0, "{ROUNDS} closed-state calls allocated {n} times");
    assert_eq!(breaker.consecutive_failures(), 0);
}
