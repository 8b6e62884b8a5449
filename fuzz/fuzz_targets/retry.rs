//! `Backoff` schedules and the `Retry` future, checked against their
//! definition.
//!
//! Schedule: exactly `max_retries` delays; without jitter the k-th is
//! `min(max_delay, initial · factor^(k-1))` (within a nanosecond of float
//! rounding), never decreasing and never above the cap; full jitter stays in
//! `[0, base]`, equal jitter in `[base/2, base]`; the same seed gives the
//! same schedule. `Retry`, driven by hand on a `ManualClock` with an
//! operation that fails as the input says: it makes one attempt plus one
//! per retry, sleeps exactly the schedule's delays, stops at the first
//! success, the first non-retryable error, or when the retries run out.

#![no_main]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use arbitrary::Arbitrary;
use asyncutils_core::limit::{Backoff, Jitter, retry};
use asyncutils_core::time::ManualClock;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    initial_us: u16,
    factor_tenths: u8,
    max_delay_ms: u16,
    max_retries: u8,
    jitter: u8,
    seed: u64,
    /// Per attempt: 0 = success, 1 = retryable error, 2 = fatal error.
    outcomes: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let initial = Duration::from_micros(u64::from(input.initial_us.max(1)));
    let factor = 1.0 + f64::from(input.factor_tenths % 40) / 10.0;
    let max_delay = Duration::from_millis(u64::from(input.max_delay_ms));
    let retries = u32::from(input.max_retries % 16);
    let jitter = match input.jitter % 3 {
        0 => Jitter::None,
        1 => Jitter::Full,
        _ => Jitter::Equal,
    };
    let plain = Backoff::exponential(initial)
        .unwrap()
        .with_factor(factor)
        .unwrap()
        .with_max_delay(max_delay)
        .with_max_retries(retries);
    let backoff = plain.with_jitter(jitter, input.seed);

    let bases: Vec<Duration> = plain.delays().collect();
    assert_eq!(bases.len(), retries as usize);
    let mut expected = initial.as_nanos() as f64;
    for (k, &base) in bases.iter().enumerate() {
        let model = expected.min(max_delay.as_nanos() as f64);
        assert!(
            (base.as_nanos() as f64 - model).abs() <= 1.0,
            "delay {k}: {base:?} vs {model}"
        );
        assert!(base <= max_delay.max(Duration::ZERO));
        if k > 0 {
            assert!(base >= bases[k - 1], "schedule decreased");
        }
        expected *= factor;
    }
    let delays: Vec<Duration> = backoff.delays().collect();
    assert_eq!(
        delays,
        backoff.delays().collect::<Vec<_>>(),
        "same seed, same schedule"
    );
    for (&d, &base) in delays.iter().zip(&bases) {
        match jitter {
            Jitter::None => assert_eq!(d, base),
            Jitter::Full => assert!(d <= base),
            _ => assert!(d >= base / 2 && d <= base),
        }
    }

    // Drive a Retry by hand.
    let clock = ManualClock::new();
    let mut attempts = 0usize;
    let outcomes = &input.outcomes;
    let fut = retry(clock.clone(), &backoff, || {
        let outcome = outcomes.get(attempts).copied().unwrap_or(1) % 3;
        attempts += 1;
        async move {
            match outcome {
                0 => Ok(()),
                1 => Err(true),
                _ => Err(false),
            }
        }
    })
    .when(|retryable: &bool| *retryable);
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    let result = loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(r) => break r,
            Poll::Pending => assert!(clock.advance_to_next(), "pending with no sleep"),
        }
    };
    // The model: attempt until success, a fatal error or no retries left.
    let mut model_attempts = 0;
    let mut slept = Duration::ZERO;
    let model = loop {
        let outcome = outcomes.get(model_attempts).copied().unwrap_or(1) % 3;
        model_attempts += 1;
        match outcome {
            0 => break Ok(()),
            2 => break Err(false),
            _ if model_attempts > delays.len() => break Err(true),
            _ => slept += delays[model_attempts - 1],
        }
    };
    assert_eq!(result, model);
    assert_eq!(attempts, model_attempts);
    assert_eq!(
        clock.now().as_nanos(),
        slept.as_nanos() as u64,
        "slept the schedule"
    );
});
