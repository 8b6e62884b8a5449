//! `locks::ResourceGuard` and `locks::UniqueResourceGuard` on every
//! executor: tasks that hold the resource across await points never
//! overlap, refusals are immediate, and the counts add up.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use asyncutils_core::locks::{Busy, ResourceGuard, UniqueResourceGuard};
use asyncutils_core::rt::yield_now;
use asyncutils_tests::{TestRuntime, conformance};

conformance!(holders_never_overlap_and_refusals_are_immediate);
async fn holders_never_overlap_and_refusals_are_immediate<R: TestRuntime>(rt: R) {
    let guard = Arc::new(ResourceGuard::new(()));
    let inside = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (guard, inside) = (guard.clone(), inside.clone());
            rt.spawn(async move {
                let mut got = 0;
                for _ in 0..50 {
                    match guard.try_use() {
                        Ok(held) => {
                            assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "overlap");
                            yield_now().await; // hold it across an await
                            inside.fetch_sub(1, Ordering::SeqCst);
                            drop(held);
                            got += 1;
                        }
                        Err(Busy) => yield_now().await,
                    }
                }
                got
            })
        })
        .collect();
    let mut granted = 0;
    for t in tasks {
        granted += t.await.unwrap();
    }
    assert_eq!(guard.granted(), granted);
    assert_eq!(guard.granted() + guard.refused(), 8 * 50);
    assert!(guard.granted() >= 1);
}

conformance!(unique_guard_is_shared_by_every_task);
async fn unique_guard_is_shared_by_every_task<R: TestRuntime>(rt: R) {
    let device = Arc::new(String::from("device"));
    let held_by_main = UniqueResourceGuard::for_resource(&device);
    let held = held_by_main.try_use().unwrap();
    let device2 = device.clone();
    let refused = rt
        .spawn(async move {
            UniqueResourceGuard::for_resource(&device2)
                .try_use()
                .is_err()
        })
        .await
        .unwrap();
    assert!(refused, "another task's lookup finds the same, busy guard");
    drop(held);
    let device3 = device.clone();
    let granted = rt
        .spawn(async move {
            UniqueResourceGuard::for_resource(&device3)
                .try_use()
                .is_ok()
        })
        .await
        .unwrap();
    assert!(granted);
}
