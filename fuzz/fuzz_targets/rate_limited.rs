//! `RateLimited` (both `OverLimit` modes) against a model of call starts and
//! a FIFO of waiting calls.
//!
//! The model: the start instants of admitted calls inside the window (a
//! start leaves once `start + period <= now`) and, in `Wait` mode, a FIFO of
//! queued calls. The wrapped function doubles its argument and is ready at
//! once, so an admitted call resolves in the poll that admits it.
//!
//! * `Fail` mode: a call is admitted iff fewer than `calls` starts are in
//!   the window; otherwise it fails with `retry_after` = the exact time
//!   until the oldest start leaves.
//! * `Wait` mode: a polled call is admitted iff it is first in line (the
//!   queue's front, or the queue is empty and it is not queued yet) and the
//!   window has room; otherwise it joins the back of the queue. Dropping a
//!   call leaves the queue.
//!
//! Checked after every step: each result matches the model, the function
//! ran exactly once per admitted call, and no wake-up is lost: if the first
//! queued call could now be admitted, it was woken since its last poll.

#![no_main]

use std::cell::Cell;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use arbitrary::Arbitrary;
use asyncutils_core::limit::{Call, OverLimit, RateLimited};
use asyncutils_core::time::ManualClock;
use asyncutils_fuzz::FlagWakers;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    calls: u8,
    period_ms: u8,
    fail_fast: bool,
    ops: Vec<Op>,
}

#[derive(Debug, Arbitrary)]
enum Op {
    Advance(u8),
    Call,
    Poll { index: u8, alt: bool },
    Drop(u8),
}

type Function<'c> = Box<dyn Fn(u64) -> Ready<u64> + 'c>;
type DoubleCall<'a, 'c> = Call<'a, Function<'c>, ManualClock, u64, Ready<u64>>;

struct Pending<'a, 'c> {
    id: u64,
    future: Pin<Box<DoubleCall<'a, 'c>>>,
    wakers: FlagWakers,
    queued: bool,
}

fuzz_target!(|input: Input| {
    let calls = usize::from(input.calls % 5) + 1;
    let period = u64::from(input.period_ms.max(1)) * 1_000_000;
    let mode = if input.fail_fast {
        OverLimit::Fail
    } else {
        OverLimit::Wait
    };
    let ran = Cell::new(0usize);
    let clock = ManualClock::new();
    let function: Function<'_> = Box::new(|x| {
        ran.set(ran.get() + 1);
        ready(x * 2)
    });
    let limited = RateLimited::with_clock(
        function,
        calls,
        Duration::from_nanos(period),
        mode,
        clock.clone(),
    )
    .unwrap();
    let mut now = 0u64;
    let mut starts: Vec<u64> = Vec::new();
    let mut queue: Vec<u64> = Vec::new();
    let mut pending: Vec<Pending<'_, '_>> = Vec::new();
    let mut admitted = 0usize;
    let mut next_id = 0u64;
    for op in input.ops.into_iter().take(256) {
        starts.retain(|&s| s + period > now);
        match op {
            Op::Advance(ms) => {
                clock.advance(Duration::from_millis(u64::from(ms)));
                now += u64::from(ms) * 1_000_000;
            }
            Op::Call => {
                pending.push(Pending {
                    id: next_id,
                    future: Box::pin(limited.call(next_id)),
                    wakers: FlagWakers::new(),
                    queued: false,
                });
                next_id += 1;
            }
            Op::Poll { index, alt } => {
                if pending.is_empty() {
                    continue;
                }
                let i = usize::from(index) % pending.len();
                let p = &mut pending[i];
                let first = if p.queued {
                    queue.first() == Some(&p.id)
                } else {
                    queue.is_empty()
                };
                let room = starts.len() < calls;
                let waker = p.wakers.for_poll(alt).clone();
                let got = p.future.as_mut().poll(&mut Context::from_waker(&waker));
                match (mode, got) {
                    (_, Poll::Ready(Ok(doubled))) => {
                        assert!(first && room, "call {} admitted without room", p.id);
                        assert_eq!(doubled, p.id * 2);
                        if p.queued {
                            queue.remove(0);
                        }
                        pending.remove(i);
                        starts.push(now);
                        admitted += 1;
                    }
                    (OverLimit::Fail, Poll::Ready(Err(e))) => {
                        assert!(!room, "call {} refused with room", p.id);
                        let oldest = starts[0];
                        assert_eq!(
                            e.retry_after(),
                            Some(Duration::from_nanos(oldest + period - now))
                        );
                        pending.remove(i);
                    }
                    (OverLimit::Wait, Poll::Pending) => {
                        assert!(!(first && room), "call {} kept waiting with room", p.id);
                        if !p.queued {
                            p.queued = true;
                            queue.push(p.id);
                        }
                    }
                    (mode, got) => panic!("{mode:?}: unexpected {:?}", got.map(|r| r.is_ok())),
                }
            }
            Op::Drop(index) => {
                if pending.is_empty() {
                    continue;
                }
                let p = pending.remove(usize::from(index) % pending.len());
                queue.retain(|&id| id != p.id);
            }
        }
        starts.retain(|&s| s + period > now);
        assert_eq!(
            ran.get(),
            admitted,
            "the function ran once per admitted call"
        );
        assert_eq!(
            limited.limiter().available(),
            calls - starts.len(),
            "available()"
        );
        if let Some(&front) = queue.first()
            && starts.len() < calls
        {
            let p = pending
                .iter()
                .find(|p| p.id == front)
                .expect("front is live");
            assert!(
                p.wakers.current_woken(),
                "lost wake-up: call {front} could go"
            );
        }
    }
});
