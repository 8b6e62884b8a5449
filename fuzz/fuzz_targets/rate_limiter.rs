//! `RateLimiter` against a model of stamps, live permits and a FIFO queue.
//!
//! The model: release instants inside the window (a stamp leaves once
//! `stamp + period <= now`), the number of live permits, and a FIFO of
//! queued waiters. A waiter polled is granted iff it is first (at the front
//! of the queue, or the queue is empty and it is not yet queued) and
//! `stamps + live < limit`; otherwise it joins the back of the queue.
//! `try_acquire` fails `Busy` while anyone is queued or every slot is a live
//! permit, else `WindowFull` with the exact time until the oldest stamp
//! leaves. Dropping a permit stamps `now`.
//!
//! Checked after every step: results match the model exactly, `available()`
//! matches, and no wake-up is lost: if the first waiter could now be granted
//! it was woken since its last poll.

#![no_main]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use arbitrary::Arbitrary;
use asyncutils_core::limit::{AcquirePermit, RateLimiter, RatePermit, TryAcquirePermitError};
use asyncutils_core::time::ManualClock;
use asyncutils_fuzz::FlagWakers;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    limit: u8,
    period_ms: u8,
    ops: Vec<Op>,
}

#[derive(Debug, Arbitrary)]
enum Op {
    Advance(u8),
    TryAcquire,
    Acquire,
    Poll { index: u8, alt: bool },
    DropWaiter(u8),
    DropPermit(u8),
}

struct Waiter<'a> {
    id: usize,
    future: Pin<Box<AcquirePermit<'a, ManualClock>>>,
    wakers: FlagWakers,
    queued: bool,
}

fuzz_target!(|input: Input| {
    let limit = usize::from(input.limit % 5) + 1;
    let period = u64::from(input.period_ms.max(1)) * 1_000_000;
    let clock = ManualClock::new();
    let limiter =
        RateLimiter::with_clock(limit, Duration::from_nanos(period), clock.clone()).unwrap();
    let mut now = 0u64;
    let mut stamps: Vec<u64> = Vec::new();
    let mut queue: Vec<usize> = Vec::new();
    let mut permits: Vec<RatePermit<'_, ManualClock>> = Vec::new();
    let mut waiters: Vec<Waiter<'_>> = Vec::new();
    let mut next_id = 0;
    for op in input.ops.into_iter().take(256) {
        stamps.retain(|&s| s + period > now);
        match op {
            Op::Advance(ms) => {
                clock.advance(Duration::from_millis(u64::from(ms)));
                now += u64::from(ms) * 1_000_000;
            }
            Op::TryAcquire => {
                let expected = if !queue.is_empty() {
                    Err(TryAcquirePermitError::Busy)
                } else if stamps.len() + permits.len() < limit {
                    Ok(())
                } else if let Some(&oldest) = stamps.first() {
                    Err(TryAcquirePermitError::WindowFull {
                        retry_after: Duration::from_nanos(oldest + period - now),
                    })
                } else {
                    Err(TryAcquirePermitError::Busy)
                };
                match (limiter.try_acquire(), expected) {
                    (Ok(p), Ok(())) => permits.push(p),
                    (Err(got), Err(want)) => assert_eq!(got, want),
                    (got, want) => panic!("try_acquire: got {got:?}, model {want:?}"),
                }
            }
            Op::Acquire => {
                waiters.push(Waiter {
                    id: next_id,
                    future: Box::pin(limiter.acquire()),
                    wakers: FlagWakers::new(),
                    queued: false,
                });
                next_id += 1;
            }
            Op::Poll { index, alt } => {
                if waiters.is_empty() {
                    continue;
                }
                let i = usize::from(index) % waiters.len();
                let w = &mut waiters[i];
                let first = if w.queued {
                    queue.first() == Some(&w.id)
                } else {
                    queue.is_empty()
                };
                let grant = first && stamps.len() + permits.len() < limit;
                let waker = w.wakers.for_poll(alt).clone();
                let got = w.future.as_mut().poll(&mut Context::from_waker(&waker));
                match (got, grant) {
                    (Poll::Ready(permit), true) => {
                        if w.queued {
                            queue.remove(0);
                        }
                        waiters.remove(i);
                        permits.push(permit);
                    }
                    (Poll::Pending, false) => {
                        if !w.queued {
                            w.queued = true;
                            queue.push(w.id);
                        }
                    }
                    (got, grant) => panic!("poll: ready={} model grant={grant}", got.is_ready()),
                }
            }
            Op::DropWaiter(index) => {
                if waiters.is_empty() {
                    continue;
                }
                let w = waiters.remove(usize::from(index) % waiters.len());
                queue.retain(|&id| id != w.id);
            }
            Op::DropPermit(index) => {
                if permits.is_empty() {
                    continue;
                }
                drop(permits.remove(usize::from(index) % permits.len()));
                stamps.push(now);
            }
        }
        stamps.retain(|&s| s + period > now);
        assert_eq!(
            limiter.available(),
            limit - stamps.len() - permits.len(),
            "available()"
        );
        if let Some(&front) = queue.first()
            && stamps.len() + permits.len() < limit
        {
            let w = waiters
                .iter()
                .find(|w| w.id == front)
                .expect("front is live");
            assert!(
                w.wakers.current_woken(),
                "lost wake-up: waiter {front} could go"
            );
        }
    }
});
