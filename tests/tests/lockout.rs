//! `limit::Lockout` and `limit::FifoLockout` on every executor: entrants
//! wait out the longest lockout, an extension while waiting is honoured,
//! and FIFO entrants leave in arrival order even across worker threads.

use core::time::Duration;
use std::sync::Arc;

use asyncutils_core::limit::{FifoLockout, Lockout};
use asyncutils_tests::{TestClock, TestRuntime, assert_elapsed, conformance};

const MS: Duration = Duration::from_millis(1);

conformance!(clock: entrants_wait_for_the_longest_lockout);
async fn entrants_wait_for_the_longest_lockout<C: TestClock>(clock: C) {
    let lockout = Lockout::with_clock(clock.clone());
    let start = clock.now();
    lockout.lockout_for(20 * MS);
    lockout.lockout_for(5 * MS);
    assert!(lockout.is_locked());
    lockout.enter().await;
    assert_elapsed(&clock, start, 20 * MS);
    assert!(!lockout.is_locked());
}

conformance!(an_extension_during_the_wait_is_honoured);
async fn an_extension_during_the_wait_is_honoured<R: TestRuntime>(rt: R) {
    let lockout = Arc::new(Lockout::with_clock(rt.clone()));
    let start = rt.now();
    lockout.lockout_for(5 * MS);
    let waiter = rt.spawn({
        let lockout = lockout.clone();
        async move { lockout.enter().await }
    });
    lockout.lockout_for(15 * MS);
    waiter.await.unwrap();
    assert_elapsed(&rt, start, 15 * MS);
}

conformance!(fifo_entrants_leave_in_arrival_order);
async fn fifo_entrants_leave_in_arrival_order<R: TestRuntime>(rt: R) {
    let lockout = Arc::new(FifoLockout::with_clock(rt.clone()));
    // Long enough for 16 tasks to queue on a loaded machine.
    lockout.lockout_for(200 * MS);
    let mut tasks = Vec::new();
    for i in 0..16 {
        // Each joins the queue before the next is spawned.
        while lockout.waiting() < i {
            assert!(
                lockout.is_locked(),
                "the lockout ended before the queue formed"
            );
            asyncutils_core::rt::yield_now().await;
        }
        let lockout = lockout.clone();
        tasks.push(rt.spawn(async move { lockout.enter().await }));
    }
    // The admission number is fixed under the lockout's lock as each one
    // passes, so it shows the pass order even across worker threads.
    let mut admitted = Vec::new();
    for t in tasks {
        admitted.push(t.await.unwrap());
    }
    assert_eq!(admitted, (0..16).collect::<Vec<u64>>());
}
