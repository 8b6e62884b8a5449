//! `ResourceGuard` against a one-bit model: the resource is either free or
//! held by exactly one live handle. `try_use` succeeds iff it is free;
//! dropping the handle frees it; `granted`, `refused`, `is_busy` and the
//! resource's contents (each holder increments it) match the model after
//! every step.

#![no_main]

use arbitrary::Arbitrary;
use asyncutils_core::locks::{Busy, InUse, ResourceGuard};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Op {
    TryUse,
    Release,
}

fuzz_target!(|ops: Vec<Op>| {
    let guard = ResourceGuard::new(0u32);
    let mut held: Option<InUse<'_, u32>> = None;
    let (mut granted, mut refused, mut uses) = (0u64, 0u64, 0u32);
    for op in ops.into_iter().take(512) {
        match op {
            Op::TryUse => match (guard.try_use(), held.is_some()) {
                (Ok(mut handle), false) => {
                    assert_eq!(*handle, uses, "the resource kept every holder's change");
                    *handle += 1;
                    uses += 1;
                    granted += 1;
                    held = Some(handle);
                }
                (Err(Busy), true) => refused += 1,
                (got, busy) => panic!("try_use: ok={} while busy={busy}", got.is_ok()),
            },
            Op::Release => held = None,
        }
        assert_eq!(guard.is_busy(), held.is_some());
        assert_eq!((guard.granted(), guard.refused()), (granted, refused));
    }
});
