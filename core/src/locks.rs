//! Locks and guards for resilience.
//!
//! * [`CircuitBreaker`]: fails fast while a dependency is failing, probes it
//!   carefully while it recovers.
//! * [`PrioritySemaphore`]: permits handed out by priority, ties first come,
//!   first served.
//! * [`ResourceGuard`] and [`UniqueResourceGuard`]: exclusive use of a
//!   resource that fails fast instead of waiting.

mod circuit_breaker;
mod priority_semaphore;
mod resource_guard;

pub use circuit_breaker::{
    AnyError, Call, CallError, CallPermit, CallRejected, CallWith, CircuitBreaker, CircuitState,
    Classify, StateChanges,
};
pub use priority_semaphore::{
    Acquire, AcquireError, AcquireOwned, MAX_PERMITS, OwnedPermit, Permit, PrioritySemaphore,
    TryAcquireError,
};
pub use resource_guard::{Busy, InUse, ResourceGuard, UniqueResourceGuard};
