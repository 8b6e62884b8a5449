//! Time assertions that are exact in virtual time and lower bounds on real
//! clocks, and a joiner that records completion order.

use core::future::Future;
use core::pin::Pin;
use core::task::Poll;
use core::time::Duration;

use asyncutils_core::time::Instant;

use crate::TestClock;

/// Asserts that `expected` has passed on `clock` since `since`: exactly in
/// virtual time, at least on a real clock.
///
/// # Panics
///
/// If the assertion fails.
#[track_caller]
pub fn assert_elapsed<C: TestClock>(clock: &C, since: Instant, expected: Duration) {
    assert_duration::<C>(clock.now().saturating_duration_since(since), expected);
}

/// Asserts that a measured `elapsed` time on a `C` clock matches
/// `expected`: exactly in virtual time, as a lower bound on a real clock.
///
/// # Panics
///
/// If the assertion fails.
#[track_caller]
pub fn assert_duration<C: TestClock>(elapsed: Duration, expected: Duration) {
    if C::VIRTUAL {
        assert_eq!(elapsed, expected, "{}: virtual time must be exact", C::NAME);
    } else {
        assert!(
            elapsed >= expected,
            "{}: only {elapsed:?} passed, expected at least {expected:?}",
            C::NAME
        );
    }
}

/// One future's completion, recorded by [`join_in_order`].
#[derive(Debug, Clone, PartialEq)]
pub struct Completion<T> {
    /// The future's index in the input (its arrival order).
    pub index: usize,
    /// The pass of the joiner that saw it complete (1 = the first poll).
    pub pass: usize,
    /// The clock when it completed.
    pub at: Instant,
    /// Its output.
    pub output: T,
}

/// Drives `futures` from one task and returns their completions in the
/// order they happened.
///
/// Every pass polls the pending futures in index order, so the first pass
/// is their arrival, in index order. Two futures that complete in the same
/// pass are recorded in index order; a later future completing in an
/// *earlier pass* than an earlier one is an observable overtaking.
pub async fn join_in_order<'a, C, T>(
    clock: &C,
    futures: Vec<Pin<Box<dyn Future<Output = T> + 'a>>>,
) -> Vec<Completion<T>>
where
    C: TestClock,
{
    let mut pending: Vec<_> = futures.into_iter().map(Some).collect();
    let mut done = Vec::with_capacity(pending.len());
    let mut pass = 0;
    core::future::poll_fn(|cx| {
        pass += 1;
        for (index, slot) in pending.iter_mut().enumerate() {
            if let Some(future) = slot {
                if let Poll::Ready(output) = future.as_mut().poll(cx) {
                    *slot = None;
                    done.push(Completion {
                        index,
                        pass,
                        at: clock.now(),
                        output,
                    });
                }
            }
        }
        if pending.iter().all(Option::is_none) {
            Poll::Ready(core::mem::take(&mut done))
        } else {
            Poll::Pending
        }
    })
    .await
}
