//! Fuzzes `PrioritySemaphore` against a simple model: a free-permit count,
//! a total, a debt (permits a shrink still has to take back), and the
//! waiters in a `BTreeMap` keyed by `(priority, arrival)`.
//!
//! # The model
//!
//! After every operation the model is *served*: the debt is paid from the
//! free permits first; then, while the first waiter of the map asks for no
//! more than is free, it is granted (its permits leave the free count) and
//! taken out of the map. Nobody behind a waiter that does not fit is served.
//!
//! * `acquire(n, priority)`, first poll: closed → `Closed`; `n == 0` →
//!   ready; if nobody waits, no debt and `n <= free` → ready, `free -= n`;
//!   else it enters the map and the model is served (a waiter of better
//!   priority may be served at once).
//! * later polls: ready with a permit if granted, `Closed` if closed while
//!   queued, pending otherwise. A granted or closed waiter must have been
//!   woken, through the waker of its latest poll.
//! * dropping a future: a queued one leaves the map; a granted one that
//!   never saw its permits gives them back (`free += n`).
//! * `try_acquire(n)`: as a first poll, but `NoPermits` instead of queueing.
//! * dropping a permit: `free += n`; forgetting one: it pays the debt
//!   first, the rest leaves the total.
//! * `add_permits(n)`: `total += n`, cancelling debt first, the rest is
//!   free. `forget_permits(n)`: `k = min(n, total)` leaves the total and
//!   becomes debt; returns `k`. `set_permits(n)`: add or forget the
//!   difference. `close`: every waiter is failed.
//!
//! Checked after every step: `available_permits`, `total_permits`,
//! `waiters`, `is_closed` agree with the model, and permits are conserved:
//! `free + held + granted-but-unseen = total + debt`.
#![no_main]

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use arbitrary::Arbitrary;
use asyncutils_core::locks::{Acquire, AcquireError, Permit, PrioritySemaphore, TryAcquireError};
use asyncutils_fuzz::FlagWakers;
use libfuzzer_sys::fuzz_target;

const SLOTS: usize = 8;

#[derive(Arbitrary, Debug)]
struct Input {
    initial: u8,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// Creates (if the slot is empty) and polls an acquire.
    Acquire {
        slot: u8,
        n: u8,
        priority: i8,
        alt: bool,
    },
    /// Polls the future in the slot again.
    Poll {
        slot: u8,
        alt: bool,
    },
    /// Drops the future in the slot.
    DropFuture {
        slot: u8,
    },
    TryAcquire {
        n: u8,
    },
    /// Drops (or forgets) a held permit.
    Release {
        index: u8,
        forget: bool,
    },
    Add {
        n: u8,
    },
    Forget {
        n: u8,
    },
    Set {
        n: u8,
    },
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Queued,
    Granted,
    Closed,
}

struct Slot<'a> {
    future: Pin<Box<Acquire<'a>>>,
    wakers: FlagWakers,
    n: usize,
    /// `None` before its first poll.
    status: Option<Status>,
    key: (i8, u64),
}

#[derive(Default)]
struct Model {
    free: usize,
    total: usize,
    debt: usize,
    closed: bool,
    queue: BTreeMap<(i8, u64), usize>,
    seq: u64,
}

impl Model {
    /// Pays the debt, then grants head waiters while they fit.
    fn serve(&mut self, slots: &mut [Option<Slot<'_>>]) {
        let pay = self.debt.min(self.free);
        self.debt -= pay;
        self.free -= pay;
        if self.debt > 0 {
            return;
        }
        while let Some((&key, &slot)) = self.queue.iter().next() {
            let s = slots[slot].as_mut().expect("queued slot exists");
            if s.n > self.free {
                break;
            }
            self.free -= s.n;
            s.status = Some(Status::Granted);
            self.queue.remove(&key);
        }
    }
}

fn poll<'a>(slot: &mut Slot<'a>, alt: bool) -> Poll<Result<Permit<'a>, AcquireError>> {
    let waker = slot.wakers.for_poll(alt).clone();
    slot.future.as_mut().poll(&mut Context::from_waker(&waker))
}

fuzz_target!(|input: Input| {
    let sem = PrioritySemaphore::new(usize::from(input.initial)).expect("small count");
    let mut model = Model {
        free: usize::from(input.initial),
        total: usize::from(input.initial),
        ..Model::default()
    };
    let mut slots: Vec<Option<Slot<'_>>> = (0..SLOTS).map(|_| None).collect();
    let mut held: Vec<Permit<'_>> = Vec::new();

    for op in input.ops.into_iter().take(256) {
        match op {
            Op::Acquire {
                slot,
                n,
                priority,
                alt,
            } => {
                let i = usize::from(slot) % SLOTS;
                let n = usize::from(n % 6);
                if slots[i].is_none() {
                    slots[i] = Some(Slot {
                        future: Box::pin(sem.acquire_many(n, i32::from(priority))),
                        wakers: FlagWakers::new(),
                        n,
                        status: None,
                        key: (priority, 0),
                    });
                }
                poll_slot(&mut model, &mut slots, &mut held, i, alt);
            }
            Op::Poll { slot, alt } => {
                let i = usize::from(slot) % SLOTS;
                if slots[i].is_some() {
                    poll_slot(&mut model, &mut slots, &mut held, i, alt);
                }
            }
            Op::DropFuture { slot } => {
                let i = usize::from(slot) % SLOTS;
                if let Some(s) = slots[i].take() {
                    match s.status {
                        Some(Status::Queued) => {
                            model.queue.remove(&s.key);
                        }
                        Some(Status::Granted) => model.free += s.n,
                        _ => {}
                    }
                    drop(s);
                    model.serve(&mut slots);
                }
            }
            Op::TryAcquire { n } => {
                let n = usize::from(n % 6);
                let expected = if model.closed {
                    Err(TryAcquireError::Closed)
                } else if n == 0 {
                    Ok(())
                } else if !model.queue.is_empty() || model.debt > 0 || model.free < n {
                    Err(TryAcquireError::NoPermits)
                } else {
                    model.free -= n;
                    Ok(())
                };
                match sem.try_acquire_many(n) {
                    Ok(p) => {
                        assert_eq!(expected, Ok(()));
                        held.push(p);
                    }
                    Err(e) => assert_eq!(expected, Err(e)),
                }
            }
            Op::Release { index, forget } => {
                if !held.is_empty() {
                    let p = held.swap_remove(usize::from(index) % held.len());
                    let n = p.num_permits();
                    if forget {
                        p.forget();
                        let pay = model.debt.min(n);
                        model.debt -= pay;
                        model.total -= n - pay;
                    } else {
                        drop(p);
                        model.free += n;
                    }
                    model.serve(&mut slots);
                }
            }
            Op::Add { n } => {
                let n = usize::from(n);
                sem.add_permits(n).expect("small");
                add(&mut model, n);
                model.serve(&mut slots);
            }
            Op::Forget { n } => {
                let n = usize::from(n % 8);
                let expected = forget(&mut model, n);
                assert_eq!(sem.forget_permits(n), expected);
                model.serve(&mut slots);
            }
            Op::Set { n } => {
                let n = usize::from(n % 16);
                sem.set_permits(n).expect("small");
                let total = model.total;
                if n >= total {
                    add(&mut model, n - total);
                } else {
                    forget(&mut model, total - n);
                }
                model.serve(&mut slots);
            }
            Op::Close => {
                assert_eq!(sem.close(), !model.closed);
                model.closed = true;
                for (_, slot) in std::mem::take(&mut model.queue) {
                    slots[slot].as_mut().expect("queued").status = Some(Status::Closed);
                }
            }
        }
        check(&sem, &model, &slots, &held);
    }
});

fn add(model: &mut Model, n: usize) {
    model.total += n;
    let cancel = model.debt.min(n);
    model.debt -= cancel;
    model.free += n - cancel;
}

fn forget(model: &mut Model, n: usize) -> usize {
    let k = n.min(model.total);
    model.total -= k;
    model.debt += k;
    k
}

fn poll_slot<'a>(
    model: &mut Model,
    slots: &mut [Option<Slot<'a>>],
    held: &mut Vec<Permit<'a>>,
    i: usize,
    alt: bool,
) {
    let s = slots[i].as_mut().expect("slot");
    let prior = s.status;
    // A granted or closed waiter must have been woken at its latest poll's
    // waker.
    if matches!(prior, Some(Status::Granted | Status::Closed)) {
        assert!(s.wakers.current_woken(), "lost wake-up for slot {i}");
    }
    let got = poll(s, alt);
    let expected_ready = match prior {
        None => {
            if model.closed {
                Some(false)
            } else if s.n == 0 || (model.queue.is_empty() && model.debt == 0 && model.free >= s.n) {
                model.free -= s.n;
                Some(true)
            } else {
                model.seq += 1;
                s.key = (s.key.0, model.seq);
                s.status = Some(Status::Queued);
                model.queue.insert(s.key, i);
                model.serve(slots);
                let s = slots[i].as_mut().expect("slot");
                if s.status == Some(Status::Granted) {
                    Some(true)
                } else {
                    None
                }
            }
        }
        Some(Status::Queued) => None,
        Some(Status::Granted) => Some(true),
        Some(Status::Closed) => Some(false),
    };
    match (got, expected_ready) {
        (Poll::Pending, None) => {}
        (Poll::Ready(Ok(p)), Some(true)) => {
            assert_eq!(p.num_permits(), slots[i].as_ref().expect("slot").n);
            held.push(p);
            slots[i] = None;
        }
        (Poll::Ready(Err(AcquireError::Closed)), Some(false)) => slots[i] = None,
        (got, expected) => panic!("slot {i}: got {got:?}, model expected {expected:?}"),
    }
}

fn check(sem: &PrioritySemaphore, model: &Model, slots: &[Option<Slot<'_>>], held: &[Permit<'_>]) {
    assert_eq!(sem.available_permits(), model.free, "available");
    assert_eq!(sem.total_permits(), model.total, "total");
    assert_eq!(sem.waiters(), model.queue.len(), "waiters");
    assert_eq!(sem.is_closed(), model.closed, "closed");
    let held_n: usize = held.iter().map(Permit::num_permits).sum();
    let granted: usize = slots
        .iter()
        .flatten()
        .filter(|s| s.status == Some(Status::Granted))
        .map(|s| s.n)
        .sum();
    assert_eq!(
        model.free + held_n + granted,
        model.total + model.debt,
        "permits are conserved"
    );
}
