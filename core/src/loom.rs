//! The one place atomics, cells and the blocking lock come from.
//!
//! Under `cfg(loom)` everything is loom's model-checked version; with `std`
//! the lock is `parking_lot`'s (it spins briefly before parking, which suits
//! the short critical sections here, and its unlock is one atomic when nobody
//! is parked); without `std` it is a small spin lock (the critical sections
//! guarded here are a handful of loads and stores, never user code, so
//! spinning is bounded).

#[cfg(all(not(loom), target_has_atomic = "64"))]
pub(crate) use core::sync::atomic::AtomicU64;
#[cfg(not(loom))]
#[allow(unused_imports)]
pub(crate) use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
#[cfg(loom)]
#[allow(unused_imports)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(all(not(loom), not(target_has_atomic = "64")))]
pub(crate) use portable_atomic::AtomicU64;

pub(crate) use alloc::sync::Arc;

#[cfg(loom)]
pub(crate) use loom_mutex::Mutex;
#[cfg(all(not(loom), feature = "std"))]
pub(crate) use parked::ParkingMutex as Mutex;
#[cfg(all(not(loom), not(feature = "std")))]
pub(crate) use spin::SpinMutex as Mutex;

/// A lock usable in a `static` (loom's is not const, so process-wide
/// registries such as the audit hook use this one even under loom).
#[cfg(feature = "std")]
pub(crate) use parked::ParkingMutex as StaticMutex;
#[cfg(not(feature = "std"))]
pub(crate) use spin::SpinMutex as StaticMutex;

#[cfg(loom)]
mod loom_mutex {
    /// loom's mutex behind the same small API as the others.
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }
    }
}

#[cfg(feature = "std")]
mod parked {
    /// `parking_lot`'s mutex behind the same small API as the others. It
    /// does not poison, which suits us: no user code runs while one of our
    /// locks is held, so a panic elsewhere never leaves the state half-done.
    #[derive(Debug)]
    pub(crate) struct ParkingMutex<T>(parking_lot::Mutex<T>);

    impl<T> ParkingMutex<T> {
        pub(crate) const fn new(value: T) -> Self {
            Self(parking_lot::Mutex::new(value))
        }

        #[inline]
        pub(crate) fn lock(&self) -> parking_lot::MutexGuard<'_, T> {
            self.0.lock()
        }
    }
}

/// A test-and-test-and-set spin lock for targets without an OS.
#[cfg_attr(feature = "std", allow(dead_code))]
pub(crate) mod spin {
    use core::cell::UnsafeCell;
    use core::ops::{Deref, DerefMut};
    use core::sync::atomic::{AtomicBool, Ordering};

    pub(crate) struct SpinMutex<T> {
        locked: AtomicBool,
        value: UnsafeCell<T>,
    }

    // SAFETY: the lock hands out at most one `&mut T` at a time, so sharing the
    // mutex between threads is sound whenever `T` may be sent between them.
    unsafe impl<T: Send> Sync for SpinMutex<T> {}
    // SAFETY: moving the mutex moves the `T` it owns.
    unsafe impl<T: Send> Send for SpinMutex<T> {}

    impl<T> SpinMutex<T> {
        pub(crate) const fn new(value: T) -> Self {
            Self {
                locked: AtomicBool::new(false),
                value: UnsafeCell::new(value),
            }
        }

        pub(crate) fn lock(&self) -> SpinMutexGuard<'_, T> {
            loop {
                if self
                    .locked
                    .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return SpinMutexGuard { mutex: self };
                }
                while self.locked.load(Ordering::Relaxed) {
                    core::hint::spin_loop();
                }
            }
        }
    }

    impl<T> core::fmt::Debug for SpinMutex<T> {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.debug_struct("SpinMutex").finish_non_exhaustive()
        }
    }

    pub(crate) struct SpinMutexGuard<'a, T> {
        mutex: &'a SpinMutex<T>,
    }

    impl<T> Deref for SpinMutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            // SAFETY: holding the guard means holding the lock, so no `&mut T`
            // exists elsewhere.
            unsafe { &*self.mutex.value.get() }
        }
    }

    impl<T> DerefMut for SpinMutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            // SAFETY: holding the guard means holding the lock exclusively.
            unsafe { &mut *self.mutex.value.get() }
        }
    }

    impl<T> Drop for SpinMutexGuard<'_, T> {
        fn drop(&mut self) {
            self.mutex.locked.store(false, Ordering::Release);
        }
    }
}

/// Runs a concurrency model: exhaustively under loom, once with real
/// threads otherwise, so the models double as ordinary tests.
#[cfg(all(test, feature = "std"))]
pub(crate) mod model {
    #[cfg(loom)]
    pub(crate) use loom::thread;
    #[cfg(not(loom))]
    pub(crate) use std::thread;

    pub(crate) fn model<F: Fn() + Sync + Send + 'static>(f: F) {
        #[cfg(loom)]
        {
            let mut builder = loom::model::Builder::new();
            builder.preemption_bound = Some(3);
            builder.check(f);
        }
        #[cfg(not(loom))]
        f();
    }

    pub(crate) fn block_on<F: core::future::Future>(f: F) -> F::Output {
        #[cfg(loom)]
        {
            loom::future::block_on(f)
        }
        #[cfg(not(loom))]
        {
            futures_lite::future::block_on(f)
        }
    }
}
