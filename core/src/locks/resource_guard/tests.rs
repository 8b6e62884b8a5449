use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::*;

#[test]
fn hands_out_the_resource_exclusively_and_counts() {
    let guard = ResourceGuard::new(Vec::<u8>::new());
    assert_eq!(guard.success_ratio(), 1.0);
    {
        let mut held = guard.try_use().unwrap();
        held.push(1);
        assert!(guard.is_busy());
        assert_eq!(guard.try_use().unwrap_err(), Busy);
        assert_eq!(guard.try_use().unwrap_err(), Busy);
    }
    assert!(!guard.is_busy());
    assert_eq!(*guard.try_use().unwrap(), [1]);
    assert_eq!((guard.granted(), guard.refused()), (2, 2));
    assert_eq!(guard.success_ratio(), 0.5);
    assert_eq!(guard.into_inner().unwrap(), [1]);
}

#[test]
fn into_inner_refuses_while_in_use() {
    let guard = Arc::new(ResourceGuard::new(3));
    let g2 = guard.clone();
    let held = g2.try_use().unwrap();
    assert_eq!(*held, 3);
    drop(held);
    drop(g2);
    let guard = Arc::try_unwrap(guard).unwrap();
    assert_eq!(guard.into_inner().unwrap(), 3);
}

#[test]
fn exactly_one_thread_at_a_time_gets_it() {
    let guard = Arc::new(ResourceGuard::new(0u64));
    let rounds = if cfg!(miri) { 20 } else { 2_000 };
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let guard = guard.clone();
            std::thread::spawn(move || {
                for _ in 0..rounds {
                    if let Ok(mut n) = guard.try_use() {
                        *n += 1;
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let granted = guard.granted();
    assert_eq!(granted + guard.refused(), 4 * rounds);
    assert_eq!(
        *guard.try_use().unwrap(),
        granted,
        "every grant was exclusive"
    );
}

#[test]
fn unique_guards_are_shared_per_instance_and_audited() {
    let created = crate::audit::extracting("asyncutils.altlocks.UniqueResourceGuard", |e| {
        e.get("rtyp").and_then(|v| v.as_str().map(String::from))
    });
    let conn = Arc::new(String::from("conn-1"));
    let a = UniqueResourceGuard::for_resource(&conn);
    let b = UniqueResourceGuard::for_resource(&conn);
    assert!(Arc::ptr_eq(&a, &b));
    let other = UniqueResourceGuard::for_resource(&Arc::new(String::from("conn-1")));
    assert!(
        !Arc::ptr_eq(&a, &other),
        "equal values, different instances"
    );
    let held = b.try_use().unwrap();
    assert_eq!(held.as_str(), "conn-1");
    assert!(a.is_busy());
    drop(held);
    // Once every handle to the guard is gone, a new one is created.
    drop((a, b));
    let again = UniqueResourceGuard::for_resource(&conn);
    assert!(!again.is_busy());
    let rtyp = "alloc::string::String".to_string();
    let ours = created
        .finish()
        .into_iter()
        .filter(|r| r.as_ref() == Some(&rtyp))
        .count();
    assert!(
        ours >= 3,
        "raised for each new guard, not for the shared one"
    );
}
