//! Fail-fast exclusive use of a resource.
//!
//! Implementation notes: [`ResourceGuard`] moves the resource out of its
//! slot while in use and back when the [`InUse`] handle drops, so exclusive
//! access needs no `unsafe` and the lock is held only for the move.
//! [`UniqueResourceGuard`] keeps a process-wide registry, keyed by the
//! resource's type and its `Arc`'s address, of weak references to the live
//! guards; the guard holds the `Arc`, so the address cannot be reused while
//! the guard lives.

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use core::any::{Any, TypeId};
use core::fmt;
use core::ops::{Deref, DerefMut};

use crate::loom::{AtomicU64, Mutex, Ordering, StaticMutex};

#[cfg(all(test, feature = "std"))]
mod tests;

/// Exclusive use of a resource that never waits: [`try_use`] either hands
/// the resource over or fails at once with [`Busy`], and the guard keeps
/// count of how often each happened.
///
/// Use it where waiting is the wrong answer: a single hardware device, a
/// connection that must not be shared, work that should be skipped rather
/// than queued when already in progress.
///
/// [`try_use`]: ResourceGuard::try_use
///
/// # Examples
///
/// ```
/// use asyncutils_core::locks::{Busy, ResourceGuard};
///
/// let printer = ResourceGuard::new(String::from("tray 1"));
/// let mut job = printer.try_use().unwrap();
/// job.push_str(": printing");
/// assert_eq!(printer.try_use().unwrap_err(), Busy);
/// drop(job);
/// assert_eq!(*printer.try_use().unwrap(), "tray 1: printing");
/// assert_eq!(printer.success_ratio(), 2.0 / 3.0);
/// ```
pub struct ResourceGuard<T> {
    slot: Mutex<Option<T>>,
    granted: AtomicU64,
    refused: AtomicU64,
}

/// The resource is in use by someone else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

impl fmt::Display for Busy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the resource is in use")
    }
}

impl core::error::Error for Busy {}

impl<T> ResourceGuard<T> {
    /// Guards `resource`.
    pub fn new(resource: T) -> Self {
        ResourceGuard {
            slot: Mutex::new(Some(resource)),
            granted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// Takes the resource for exclusive use until the returned handle drops.
    ///
    /// # Errors
    ///
    /// [`Busy`] if another handle is alive.
    pub fn try_use(&self) -> Result<InUse<'_, T>, Busy> {
        match self.slot.lock().take() {
            Some(resource) => {
                self.granted.fetch_add(1, Ordering::Relaxed);
                Ok(InUse {
                    guard: self,
                    resource: Some(resource),
                })
            }
            None => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                Err(Busy)
            }
        }
    }

    /// Whether the resource is in use now.
    #[must_use]
    pub fn is_busy(&self) -> bool {
        self.slot.lock().is_none()
    }

    /// How many `try_use` calls got the resource.
    #[must_use]
    pub fn granted(&self) -> u64 {
        self.granted.load(Ordering::Relaxed)
    }

    /// How many `try_use` calls were refused.
    #[must_use]
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// The share of `try_use` calls that got the resource (1.0 before any).
    #[must_use]
    pub fn success_ratio(&self) -> f64 {
        let (granted, refused) = (self.granted(), self.refused());
        match granted + refused {
            0 => 1.0,
            total => granted as f64 / total as f64,
        }
    }

    /// Gives the resource back, if it is not in use.
    ///
    /// # Errors
    ///
    /// [`Busy`], with the guard, while a handle is alive.
    pub fn into_inner(self) -> Result<T, (Self, Busy)> {
        let resource = self.slot.lock().take();
        match resource {
            Some(resource) => Ok(resource),
            None => Err((self, Busy)),
        }
    }
}

impl<T> fmt::Debug for ResourceGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceGuard")
            .field("busy", &self.is_busy())
            .field("granted", &self.granted())
            .field("refused", &self.refused())
            .finish()
    }
}

/// Exclusive use of a [`ResourceGuard`]'s resource; gives it back on drop.
#[must_use = "the resource is given back as soon as the handle is dropped"]
#[clippy::has_significant_drop]
pub struct InUse<'a, T> {
    guard: &'a ResourceGuard<T>,
    // Always `Some` until dropped.
    resource: Option<T>,
}

impl<T> Deref for InUse<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.resource.as_ref().expect("held until drop")
    }
}

impl<T> DerefMut for InUse<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.resource.as_mut().expect("held until drop")
    }
}

impl<T> Drop for InUse<'_, T> {
    fn drop(&mut self) {
        *self.guard.slot.lock() = self.resource.take();
    }
}

impl<T> fmt::Debug for InUse<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InUse").finish_non_exhaustive()
    }
}

type Registry = BTreeMap<(TypeId, usize), Weak<dyn Any + Send + Sync>>;

static REGISTRY: StaticMutex<Registry> = StaticMutex::new(BTreeMap::new());

/// A guard of which there is at most one per resource instance: asking for
/// a guard of a resource that already has one returns that guard.
///
/// Code that reaches the same shared resource by different paths (a
/// connection looked up by two subsystems) thereby shares one guard, so
/// "in use" means in use by anyone. Raises
/// `asyncutils.altlocks.UniqueResourceGuard` (`rtyp`: the resource's type
/// name) when a new guard is created.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use asyncutils_core::locks::UniqueResourceGuard;
///
/// let device = Arc::new(5u8);
/// let a = UniqueResourceGuard::for_resource(&device);
/// let b = UniqueResourceGuard::for_resource(&device);
/// assert!(Arc::ptr_eq(&a, &b));
/// let held = a.try_use().unwrap();
/// assert!(b.try_use().is_err());
/// drop(held);
/// assert!(!Arc::ptr_eq(&a, &UniqueResourceGuard::for_resource(&Arc::new(5u8))));
/// ```
pub struct UniqueResourceGuard<R> {
    guard: ResourceGuard<Arc<R>>,
}

impl<R: Send + Sync + 'static> UniqueResourceGuard<R> {
    /// The guard of `resource`, created if it has none.
    pub fn for_resource(resource: &Arc<R>) -> Arc<Self> {
        let key = (TypeId::of::<R>(), Arc::as_ptr(resource) as usize);
        let created = {
            let mut registry = REGISTRY.lock();
            if let Some(existing) = registry.get(&key).and_then(Weak::upgrade) {
                return existing
                    .downcast::<Self>()
                    .unwrap_or_else(|_| unreachable!("the key includes the type"));
            }
            // Forget guards that are gone before adding one.
            registry.retain(|_, guard| guard.strong_count() > 0);
            let guard = Arc::new(UniqueResourceGuard {
                guard: ResourceGuard::new(resource.clone()),
            });
            let erased: Arc<dyn Any + Send + Sync> = guard.clone();
            registry.insert(key, Arc::downgrade(&erased));
            guard
        };
        crate::emit!(
            "asyncutils.altlocks.UniqueResourceGuard",
            rtyp = core::any::type_name::<R>()
        );
        created
    }
}

impl<R> UniqueResourceGuard<R> {
    /// Takes the resource for exclusive use until the returned handle drops.
    ///
    /// # Errors
    ///
    /// [`Busy`] if another handle is alive.
    pub fn try_use(&self) -> Result<InUse<'_, Arc<R>>, Busy> {
        self.guard.try_use()
    }

    /// Whether the resource is in use now.
    #[must_use]
    pub fn is_busy(&self) -> bool {
        self.guard.is_busy()
    }

    /// The share of `try_use` calls that got the resource.
    #[must_use]
    pub fn success_ratio(&self) -> f64 {
        self.guard.success_ratio()
    }
}

impl<R> fmt::Debug for UniqueResourceGuard<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UniqueResourceGuard")
            .field("resource", &core::any::type_name::<R>())
            .field("guard", &self.guard)
            .finish()
    }
}
