//! Concurrency models of the lock-free and lock-based cores. Under
//! `RUSTFLAGS="--cfg loom"` loom explores every interleaving (bounded
//! preemption); otherwise each model runs once on real threads.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::buckets::{TokenBucket, TryAcquireError};
use crate::channels::Rendezvous;
use crate::limit::RateLimiter;
use crate::locks::PrioritySemaphore;
use crate::loom::model::{block_on, model, thread};
use crate::time::{Clock, Instant};

/// A clock stuck at one instant whose sleeps never end: the models check
/// the atomic bookkeeping, not time.
#[derive(Clone, Copy)]
struct FrozenClock;

struct Never;

impl Future for Never {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

impl Clock for FrozenClock {
    type Sleep = Never;
    fn now(&self) -> Instant {
        Instant::from_nanos(1_000)
    }
    fn sleep_until(&self, _: Instant) -> Never {
        Never
    }
}

#[test]
fn token_bucket_concurrent_takes_never_over_grant() {
    model(|| {
        let bucket = Arc::new(TokenBucket::with_clock(1.0, 1.0, FrozenClock).unwrap());
        let b2 = bucket.clone();
        let other = thread::spawn(move || b2.try_acquire(1).is_ok());
        let here = bucket.try_acquire(1).is_ok();
        let there = other.join().unwrap();
        assert!(
            here ^ there,
            "exactly one of two takes of the last token wins"
        );
    });
}

#[test]
fn token_bucket_refund_races_with_take() {
    model(|| {
        let bucket = Arc::new(TokenBucket::with_clock(1.0, 1.0, FrozenClock).unwrap());
        bucket.try_acquire(1).unwrap();
        let b2 = bucket.clone();
        // Reserve a token that is not there, then cancel: a refund.
        let canceller = thread::spawn(move || {
            let mut acquire = core::pin::pin!(b2.acquire(1));
            let waker = futures_lite::future::block_on(futures_lite::future::poll_fn(|cx| {
                Poll::Ready(cx.waker().clone())
            }));
            assert!(
                acquire
                    .as_mut()
                    .poll(&mut Context::from_waker(&waker))
                    .is_pending()
            );
        });
        let taken = bucket.try_acquire(1);
        canceller.join().unwrap();
        // Whatever the interleaving, the bucket is empty at the end: the
        // frozen clock never refills it, the refund restores the debt.
        assert!(matches!(taken, Err(TryAcquireError::Insufficient { .. })));
        assert!(matches!(
            bucket.try_acquire(1),
            Err(TryAcquireError::Insufficient { .. })
        ));
    });
}

#[test]
fn rendezvous_hands_each_value_to_one_getter() {
    model(|| {
        let rv = Arc::new(Rendezvous::new());
        let producer = {
            let rv = rv.clone();
            thread::spawn(move || {
                block_on(rv.put(1u8)).unwrap();
                block_on(rv.put(2u8)).unwrap();
            })
        };
        let consumer = {
            let rv = rv.clone();
            thread::spawn(move || block_on(rv.get()).unwrap())
        };
        let here = block_on(rv.get()).unwrap();
        let there = consumer.join().unwrap();
        producer.join().unwrap();
        let mut got = Vec::from([here, there]);
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
    });
}

#[test]
fn rendezvous_try_put_races_with_cancelled_get() {
    model(|| {
        let rv = Arc::new(Rendezvous::new());
        let waker = futures_lite::future::block_on(futures_lite::future::poll_fn(|cx| {
            Poll::Ready(cx.waker().clone())
        }));
        let mut get = alloc::boxed::Box::pin(rv.get());
        assert!(
            get.as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        let rv2 = rv.clone();
        let putter = thread::spawn(move || rv2.try_put(5u8).is_ok());
        drop(get);
        let accepted = putter.join().unwrap();
        // If the put was accepted, the value must still be there.
        assert_eq!(rv.try_get().ok(), accepted.then_some(5));
    });
}

/// The auto traits users rely on to share primitives across threads and
/// spawn their futures on multi-threaded runtimes.
#[test]
fn primitives_and_their_futures_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Rendezvous<u8>>();
    send::<crate::channels::Put<'static, u8>>();
    send::<crate::channels::Get<'static, u8>>();
    send::<crate::channels::Exchange<'static, u8>>();
    send_sync::<TokenBucket<crate::time::ManualClock>>();
    send::<crate::buckets::Acquire<'static, crate::time::ManualClock>>();
    send_sync::<crate::audit::Hook>();
    send_sync::<crate::time::ManualClock>();
    send_sync::<crate::rt::JoinHandle<u8>>();
    #[cfg(not(loom))]
    send_sync::<crate::loom::spin::SpinMutex<u8>>();
}

#[test]
fn token_bucket_refund_never_slips_beneath_a_later_reservation() {
    model(|| {
        let bucket = Arc::new(TokenBucket::with_clock(1.0, 1.0, FrozenClock).unwrap());
        bucket.try_acquire(1).unwrap();
        let b2 = bucket.clone();
        // Another waiter reserves while ours is cancelled.
        let other = thread::spawn(move || b2.reserve(1_000_000_000));
        let ours = bucket.reserve(1_000_000_000);
        bucket.refund(ours);
        let theirs = other.join().unwrap();
        // Whatever the interleaving, the live reservation stays covered:
        // `tat` never drops below its end.
        assert!(bucket.tat.load(crate::loom::Ordering::SeqCst) >= theirs.end);
    });
}

/// A clock whose every reading is a nanosecond after the previous one and
/// whose sleeps end at once: with a one-nanosecond period, a release stamp
/// has left the window by the next reading, so the rate limiter models
/// check its atomics and wake-ups rather than time.
#[derive(Clone)]
struct TickClock(Arc<crate::loom::AtomicU64>);

impl TickClock {
    fn new() -> Self {
        TickClock(Arc::new(crate::loom::AtomicU64::new(0)))
    }
}

impl Clock for TickClock {
    type Sleep = core::future::Ready<()>;
    fn now(&self) -> Instant {
        Instant::from_nanos(self.0.fetch_add(1, crate::loom::Ordering::SeqCst) + 1)
    }
    fn sleep_until(&self, _: Instant) -> Self::Sleep {
        core::future::ready(())
    }
}

fn tick_limiter(limit: usize) -> Arc<RateLimiter<TickClock>> {
    Arc::new(
        RateLimiter::with_clock(limit, core::time::Duration::from_nanos(1), TickClock::new())
            .unwrap(),
    )
}

#[test]
fn rate_limiter_release_wakes_a_waiter_that_queued_meanwhile() {
    model(|| {
        let limiter = tick_limiter(1);
        // The only slot is held; the other thread releases it (the permit
        // borrows the limiter, so release by hand).
        core::mem::forget(limiter.try_acquire().unwrap());
        let l2 = limiter.clone();
        let releaser = thread::spawn(move || l2.release());
        // A lost wake-up leaves this waiting forever: loom reports it.
        drop(block_on(limiter.acquire()));
        releaser.join().unwrap();
        assert_eq!(limiter.available(), 1);
    });
}

#[test]
fn rate_limiter_lock_free_takes_never_over_grant() {
    model(|| {
        let limiter = tick_limiter(1);
        let l2 = limiter.clone();
        let other = thread::spawn(move || {
            let got = l2.try_acquire().ok().map(core::mem::forget).is_some();
            if got {
                l2.release();
            }
            got
        });
        let here = limiter.try_acquire().ok().map(core::mem::forget).is_some();
        if here {
            limiter.release();
        }
        let there = other.join().unwrap();
        assert!(here || there, "one of two takes of a free slot wins");
        assert_eq!(limiter.available(), 1, "every slot came back");
    });
}

#[test]
fn priority_semaphore_release_serves_a_waiter_polling_lock_free() {
    model(|| {
        let sem = Arc::new(PrioritySemaphore::new(1).unwrap());
        let held = sem.try_acquire_owned().unwrap();
        let releaser = thread::spawn(move || drop(held));
        // A lost wake-up, or a grant the waiter misses, hangs here.
        drop(block_on(sem.acquire(0)).unwrap());
        releaser.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn priority_semaphore_grant_races_with_a_dropped_waiter() {
    model(|| {
        let sem = Arc::new(PrioritySemaphore::new(1).unwrap());
        let held = sem.try_acquire_owned().unwrap();
        let waker = futures_lite::future::block_on(futures_lite::future::poll_fn(|cx| {
            Poll::Ready(cx.waker().clone())
        }));
        let mut acquire = alloc::boxed::Box::pin(sem.acquire(0));
        assert!(
            acquire
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        // The release grants the queued waiter while it is dropped: either
        // way the permit must come back.
        let releaser = thread::spawn(move || drop(held));
        drop(acquire);
        releaser.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
        assert_eq!(sem.waiters(), 0);
    });
}
