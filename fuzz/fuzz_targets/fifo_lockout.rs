//! `FifoLockout` against a queue model.
//!
//! The model: the lockout's end `until` (the maximum of every
//! `now + duration`), a FIFO of queued entrants, and an admission counter.
//! An entrant polled for the first time passes at once iff nobody is queued
//! and `now >= until`, else it joins the back of the queue. A queued
//! entrant passes iff it is at the front and `now >= until`; passing takes
//! the next admission number. Dropping a queued entrant removes it.
//!
//! Checked after every step: every poll result and admission number
//! matches the model, `waiting()` and `is_locked()` match, and no wake-up is
//! lost: an entrant that could now pass (front of the queue, gate open) was
//! woken since its last poll.

#![no_main]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use arbitrary::Arbitrary;
use asyncutils_core::limit::{FifoEnter, FifoLockout};
use asyncutils_core::time::ManualClock;
use asyncutils_fuzz::FlagWakers;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Op {
    LockoutFor(u8),
    Advance(u8),
    Enter,
    Poll { index: u8, alt: bool },
    Drop(u8),
}

struct Entrant<'a> {
    id: usize,
    future: Pin<Box<FifoEnter<'a, ManualClock>>>,
    wakers: FlagWakers,
    polled: bool,
}

struct Model {
    now: u64,
    until: u64,
    queue: Vec<usize>,
    admitted: u64,
}

fuzz_target!(|ops: Vec<Op>| {
    let clock = ManualClock::new();
    let lockout = FifoLockout::with_clock(clock.clone());
    let mut model = Model {
        now: 0,
        until: 0,
        queue: Vec::new(),
        admitted: 0,
    };
    let mut live: Vec<Entrant<'_>> = Vec::new();
    let mut next_id = 0;
    for op in ops.into_iter().take(256) {
        match op {
            Op::LockoutFor(ms) => {
                lockout.lockout_for(Duration::from_millis(u64::from(ms)));
                model.until = model.until.max(model.now + u64::from(ms) * 1_000_000);
            }
            Op::Advance(ms) => {
                clock.advance(Duration::from_millis(u64::from(ms)));
                model.now += u64::from(ms) * 1_000_000;
            }
            Op::Enter => {
                live.push(Entrant {
                    id: next_id,
                    future: Box::pin(lockout.enter()),
                    wakers: FlagWakers::new(),
                    polled: false,
                });
                next_id += 1;
            }
            Op::Poll { index, alt } => {
                if live.is_empty() {
                    continue;
                }
                let i = usize::from(index) % live.len();
                let e = &mut live[i];
                let open = model.now >= model.until;
                let expected = if !e.polled {
                    if model.queue.is_empty() && open {
                        Some(model.admitted)
                    } else {
                        model.queue.push(e.id);
                        None
                    }
                } else if model.queue.first() == Some(&e.id) && open {
                    model.queue.remove(0);
                    Some(model.admitted)
                } else {
                    None
                };
                e.polled = true;
                let waker = e.wakers.for_poll(alt).clone();
                let got = e.future.as_mut().poll(&mut Context::from_waker(&waker));
                match (got, expected) {
                    (Poll::Ready(n), Some(m)) => {
                        assert_eq!(n, m, "admission number");
                        model.admitted += 1;
                        live.remove(i);
                    }
                    (Poll::Pending, None) => {}
                    (got, expected) => panic!("entrant {i}: got {got:?}, model {expected:?}"),
                }
            }
            Op::Drop(index) => {
                if live.is_empty() {
                    continue;
                }
                let e = live.remove(usize::from(index) % live.len());
                model.queue.retain(|&id| id != e.id);
            }
        }
        assert_eq!(lockout.waiting(), model.queue.len(), "waiting()");
        assert_eq!(lockout.is_locked(), model.now < model.until, "is_locked()");
        if model.now >= model.until
            && let Some(&front) = model.queue.first()
        {
            let e = live.iter().find(|e| e.id == front).expect("front is live");
            assert!(
                e.wakers.current_woken(),
                "lost wake-up: entrant {front} may pass"
            );
        }
    }
});
