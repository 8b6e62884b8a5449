use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;

use super::*;
use crate::rt::VirtualRuntime;
use crate::test_util::Probe;
use crate::time::ManualClock;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn waiting_calls_start_on_schedule() {
    let rt = VirtualRuntime::new();
    let f = RateLimited::with_clock(
        |x: u64| async move { x + 1 },
        2,
        ms(100),
        OverLimit::Wait,
        rt.clone(),
    )
    .unwrap();
    let starts = rt.block_on(async {
        let mut starts = Vec::new();
        for i in 0..5 {
            assert_eq!(f.call(i).await, Ok(i + 1));
            starts.push(rt.clock().now().as_nanos() / 1_000_000);
        }
        starts
    });
    assert_eq!(starts, [0, 0, 100, 100, 200]);
}

#[test]
fn failing_mode_reports_when_to_retry() {
    let clock = ManualClock::new();
    let f =
        RateLimited::with_clock(|()| async {}, 1, ms(100), OverLimit::Fail, clock.clone()).unwrap();
    futures_lite::future::block_on(async {
        assert_eq!(f.call(()).await, Ok(()));
        clock.advance(ms(40));
        let err = f.call(()).await.unwrap_err();
        assert_eq!(err.retry_after(), Some(ms(60)));
        assert_eq!(err.to_string(), "rate limit reached; retry after 60ms");
        clock.advance(ms(60));
        assert_eq!(f.call(()).await, Ok(()));
    });
}

#[test]
fn invalid_arguments_are_errors_naming_them() {
    let clock = ManualClock::new();
    let e = RateLimited::with_clock(|()| async {}, 0, ms(1), OverLimit::Wait, clock.clone())
        .unwrap_err();
    assert_eq!(e.name(), "calls");
    let e = RateLimited::with_clock(|()| async {}, 1, Duration::ZERO, OverLimit::Wait, clock)
        .unwrap_err();
    assert_eq!(e.name(), "period");
}

#[test]
fn raises_its_audit_event_with_the_function_type_name() {
    async fn fetch(_: ()) {}
    let seen = crate::audit::extracting("asyncutils.func.RateLimited", |e| {
        (
            e.get("fname").and_then(|v| v.as_str().map(String::from)),
            e.get("calls").and_then(|v| v.as_u64()),
            e.get("period").and_then(|v| v.as_f64()),
        )
    });
    let _f =
        RateLimited::with_clock(fetch, 3, ms(1500), OverLimit::Wait, ManualClock::new()).unwrap();
    // Other tests of this binary may raise the event meanwhile.
    let ours = seen
        .finish()
        .into_iter()
        .find(|(name, ..)| name.as_deref().is_some_and(|n| n.ends_with("::fetch")))
        .expect("raised with the function's type name");
    assert_eq!((ours.1, ours.2), (Some(3), Some(1.5)));
}

#[test]
fn a_call_dropped_while_waiting_takes_no_slot_and_never_runs() {
    let clock = ManualClock::new();
    let runs = core::cell::Cell::new(0);
    let f = RateLimited::with_clock(
        |()| {
            runs.set(runs.get() + 1);
            async {}
        },
        1,
        ms(100),
        OverLimit::Wait,
        clock.clone(),
    )
    .unwrap();
    let p = Probe::new();
    assert!(p.poll_pinned(core::pin::pin!(f.call(()))).is_ready());
    {
        let mut waiting = Box::pin(f.call(()));
        assert!(p.poll_pinned(waiting.as_mut()).is_pending());
    }
    assert_eq!(runs.get(), 1);
    clock.advance(ms(100));
    assert_eq!(f.limiter().available(), 1, "the dropped call took no slot");
}
