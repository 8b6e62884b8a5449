//! `Lockout` against its definition: the gate's end is the maximum of
//! every `now + duration` asked for; an entrant is ready exactly when
//! `now >= end`; and an entrant that was pending is woken once the gate has
//! opened (no lost wake-up), including after extensions while it waited.

#![no_main]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use arbitrary::Arbitrary;
use asyncutils_core::limit::{Enter, Lockout};
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
    future: Pin<Box<Enter<'a, ManualClock>>>,
    wakers: FlagWakers,
    polled: bool,
}

fuzz_target!(|ops: Vec<Op>| {
    let clock = ManualClock::new();
    let lockout = Lockout::with_clock(clock.clone());
    let (mut now, mut until) = (0u64, 0u64);
    let mut live: Vec<Entrant<'_>> = Vec::new();
    for op in ops.into_iter().take(256) {
        match op {
            Op::LockoutFor(ms) => {
                lockout.lockout_for(Duration::from_millis(u64::from(ms)));
                until = until.max(now + u64::from(ms) * 1_000_000);
            }
            Op::Advance(ms) => {
                clock.advance(Duration::from_millis(u64::from(ms)));
                now += u64::from(ms) * 1_000_000;
            }
            Op::Enter => live.push(Entrant {
                future: Box::pin(lockout.enter()),
                wakers: FlagWakers::new(),
                polled: false,
            }),
            Op::Poll { index, alt } => {
                if live.is_empty() {
                    continue;
                }
                let i = usize::from(index) % live.len();
                let e = &mut live[i];
                e.polled = true;
                let waker = e.wakers.for_poll(alt).clone();
                let ready =
                    e.future.as_mut().poll(&mut Context::from_waker(&waker)) == Poll::Ready(());
                assert_eq!(ready, now >= until, "ready iff the gate is open");
                if ready {
                    live.remove(i);
                }
            }
            Op::Drop(index) => {
                if !live.is_empty() {
                    live.remove(usize::from(index) % live.len());
                }
            }
        }
        assert_eq!(lockout.is_locked(), now < until);
        if now >= until {
            for e in live.iter().filter(|e| e.polled) {
                assert!(
                    e.wakers.current_woken(),
                    "lost wake-up after the gate opened"
                );
            }
        }
    }
});
