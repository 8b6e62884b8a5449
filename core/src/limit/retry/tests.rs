use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::time::Duration;

use super::*;
use crate::rt::VirtualRuntime;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn delays_grow_by_the_factor_and_stop_at_the_cap() {
    let b = Backoff::exponential(ms(100))
        .unwrap()
        .with_factor(3.0)
        .unwrap()
        .with_max_delay(ms(1000))
        .with_max_retries(5);
    assert_eq!(
        b.delays().collect::<Vec<_>>(),
        [ms(100), ms(300), ms(900), ms(1000), ms(1000)]
    );
    assert_eq!(b.delays().len(), 5);
    let constant = Backoff::exponential(ms(7))
        .unwrap()
        .with_factor(1.0)
        .unwrap();
    assert_eq!(constant.delays().collect::<Vec<_>>(), [ms(7); 3]);
    assert_eq!(constant.with_max_retries(0).delays().next(), None);
}

#[test]
fn invalid_arguments_are_errors_naming_them() {
    assert_eq!(
        Backoff::exponential(Duration::ZERO).unwrap_err().name(),
        "initial"
    );
    let b = Backoff::exponential(ms(1)).unwrap();
    for f in [f64::NAN, f64::INFINITY, 0.5, -2.0] {
        assert_eq!(b.with_factor(f).unwrap_err().name(), "factor", "factor {f}");
    }
}

#[test]
fn jitter_is_deterministic_per_seed_and_within_bounds() {
    let b = Backoff::exponential(ms(100)).unwrap().with_max_retries(8);
    let full = |seed| {
        b.with_jitter(Jitter::Full, seed)
            .delays()
            .collect::<Vec<_>>()
    };
    assert_eq!(full(42), full(42));
    assert_ne!(full(42), full(43));
    for (jittered, base) in full(7).into_iter().zip(b.delays()) {
        assert!(jittered <= base);
    }
    let equal = b.with_jitter(Jitter::Equal, 9).delays().collect::<Vec<_>>();
    for (jittered, base) in equal.into_iter().zip(b.delays()) {
        assert!(
            jittered >= base / 2 && jittered <= base,
            "{jittered:?} vs {base:?}"
        );
    }
}

#[test]
fn retries_until_success_sleeping_exactly_the_schedule() {
    let rt = VirtualRuntime::new();
    let backoff = Backoff::exponential(ms(100)).unwrap().with_max_retries(5);
    let calls = Cell::new(0u32);
    let retried = RefCell::new(Vec::new());
    let succeeded = Cell::new(0);
    let out = rt.block_on(
        retry(&rt, &backoff, || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move { if n <= 3 { Err(n) } else { Ok(n * 10) } }
        })
        .on_retry(|e, k, d| retried.borrow_mut().push((*e, k, d)))
        .on_success(|attempts| succeeded.set(attempts)),
    );
    assert_eq!(out, Ok(40));
    assert_eq!(
        *retried.borrow(),
        [(1, 1, ms(100)), (2, 2, ms(200)), (3, 3, ms(400))]
    );
    assert_eq!(succeeded.get(), 4);
    assert_eq!(rt.clock().now().as_nanos(), 700_000_000);
}

#[test]
fn gives_up_with_the_last_error_after_the_retries() {
    let rt = VirtualRuntime::new();
    let backoff = Backoff::exponential(ms(10)).unwrap().with_max_retries(2);
    let calls = Cell::new(0u32);
    let out: Result<(), u32> = rt.block_on(retry(&rt, &backoff, || {
        calls.set(calls.get() + 1);
        let n = calls.get();
        async move { Err(n) }
    }));
    assert_eq!(out, Err(3), "one attempt plus two retries");
    assert_eq!(rt.clock().now().as_nanos(), 30_000_000);
}

#[test]
fn errors_that_are_not_retryable_return_at_once() {
    let rt = VirtualRuntime::new();
    let backoff = Backoff::exponential(ms(10)).unwrap();
    let calls = Cell::new(0u32);
    let out: Result<(), &str> = rt.block_on(
        retry(&rt, &backoff, || {
            calls.set(calls.get() + 1);
            async { Err("fatal") }
        })
        .when(|e: &&str| *e != "fatal"),
    );
    assert_eq!(out, Err("fatal"));
    assert_eq!(calls.get(), 1);
    assert_eq!(rt.clock().now().as_nanos(), 0);
}

#[test]
fn dropping_it_while_sleeping_starts_no_further_attempt() {
    use crate::test_util::Probe;
    use crate::time::ManualClock;
    let clock = ManualClock::new();
    let backoff = Backoff::exponential(ms(50)).unwrap();
    let calls = Cell::new(0u32);
    let p = Probe::new();
    {
        let mut r = core::pin::pin!(retry(&clock, &backoff, || {
            calls.set(calls.get() + 1);
            async { Err::<(), _>(()) }
        }));
        assert!(p.poll_pinned(r.as_mut()).is_pending());
        assert_eq!((calls.get(), clock.sleepers()), (1, 1));
    }
    assert_eq!(clock.sleepers(), 0, "the sleep was deregistered");
    clock.advance(ms(1000));
    assert_eq!(calls.get(), 1);
}
