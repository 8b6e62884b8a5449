//! Statistics and the audit bridge: watching what goes through the bus.

use core::fmt;

use super::{EventBus, EventStats, Shared};
use crate::audit::{self, OwnedEvent, Value};
use crate::loom::Arc;
use crate::time::Clock;

impl<T, C> EventBus<T, C> {
    // --- statistics ---

    /// Starts counting publications per event type (counts kept so far
    /// stay).
    pub fn start_tracking(&self) {
        self.shared.state.lock().tracking = true;
    }

    /// Stops counting and returns the counts so far (they stay readable).
    pub fn stop_tracking(&self) -> EventStats {
        let mut state = self.shared.state.lock();
        state.tracking = false;
        state.stats.clone()
    }

    /// Whether publications are being counted.
    #[must_use]
    pub fn is_tracking(&self) -> bool {
        self.shared.state.lock().tracking
    }

    /// A copy of the publication counts.
    #[must_use]
    pub fn event_stats(&self) -> EventStats {
        self.shared.state.lock().stats.clone()
    }

    /// Forgets the publication counts.
    pub fn clear_stats(&self) {
        let old = core::mem::take(&mut self.shared.state.lock().stats);
        drop(old);
    }

    /// Counts publications while the returned scope lives;
    /// [`finish`](StatsScope::finish) gives the counts made during the
    /// scope. Tracking returns to its previous state at the end.
    pub fn tracking_scope(&self) -> StatsScope<'_, T, C> {
        let mut state = self.shared.state.lock();
        let was_tracking = core::mem::replace(&mut state.tracking, true);
        StatsScope {
            bus: self,
            baseline: state.stats.clone(),
            was_tracking,
        }
    }

    /// Whether the audit bridge is on.
    #[must_use]
    pub fn is_auditing(&self) -> bool {
        self.shared.state.lock().audit.is_some()
    }

    /// Stops the audit bridge; `false` if it was off.
    ///
    /// Raises `asyncutils.channels.EventBus.stop_audit` with `addr` after
    /// the bridge is off.
    pub fn stop_audit(&self) -> bool {
        self.shared.stop_audit()
    }
}

/// The audit bridge publishes, so it needs the publishing bounds.
impl<T, C> EventBus<T, C>
where
    T: Clone + Send + 'static,
    C: Clock + Send + Sync + 'static,
{
    // --- audit bridge ---

    /// Publishes every audit event on this bus from now on (until
    /// [`stop_audit`](EventBus::stop_audit)): the event type is the audit
    /// event's name, the data `T::from` its owned copy. See
    /// [`start_audit_with`](EventBus::start_audit_with). Returns `false`
    /// if the bridge was already on.
    pub fn start_audit(&self) -> bool
    where
        T: From<OwnedEvent>,
    {
        self.start_audit_with(|e| T::from(e.to_owned_event()))
    }

    /// Publishes every audit event on this bus from now on, converting it
    /// with `convert`. Returns `false` (and keeps the current bridge) if the
    /// bridge was already on.
    ///
    /// The bridge listens on the process-wide audit hook; each audit event
    /// is published as by [`start_publish`](EventBus::start_publish) on the
    /// thread that raised it (synchronous subscribers run there; the
    /// asynchronous ones in the [`Driver`](super::Driver)). A subscriber
    /// that itself raises an audit event on every delivery recurses without
    /// end: don't.
    ///
    /// Raises `asyncutils.channels.EventBus.start_audit` with `addr` before
    /// the bridge is on (so the bus does not receive it).
    pub fn start_audit_with<F>(&self, convert: F) -> bool
    where
        F: Fn(&audit::Event<'_>) -> T + Send + Sync + 'static,
    {
        if self.is_closed() || self.is_auditing() {
            return false;
        }
        crate::emit!(
            "asyncutils.channels.EventBus.start_audit",
            addr = Value::addr_of(&*self.shared)
        );
        let weak = Arc::downgrade(&self.shared);
        let id = audit::subscribe_all(move |event| {
            if let Some(bus) = weak.upgrade() {
                // A closed bus refuses: nothing to report.
                let _ = bus.start_publish(event.name(), convert(event));
            }
        });
        let previous = {
            let mut state = self.shared.state.lock();
            state.audit.replace(id)
        };
        if let Some(previous) = previous {
            // Lost a race with another `start_audit`: keep one bridge.
            let mut state = self.shared.state.lock();
            state.audit = Some(previous);
            drop(state);
            audit::unsubscribe(id);
            return false;
        }
        true
    }

    /// Turns the audit bridge on (with `T::from`) for as long as the
    /// returned scope lives.
    pub fn audit_scope(&self) -> AuditScope<'_, T, C>
    where
        T: From<OwnedEvent>,
    {
        AuditScope {
            bus: self,
            started: self.start_audit(),
        }
    }
}

impl<T, C> Shared<T, C> {
    pub(super) fn stop_audit(&self) -> bool {
        let id = self.state.lock().audit.take();
        let Some(id) = id else { return false };
        audit::unsubscribe(id);
        crate::emit!(
            "asyncutils.channels.EventBus.stop_audit",
            addr = Value::addr_of(self)
        );
        true
    }

    pub(super) fn stop_audit_quietly(&self) {
        let id = self.state.lock().audit.take();
        if let Some(id) = id {
            audit::unsubscribe(id);
        }
    }
}

// === scopes ===

/// Counts publications while it lives; from
/// [`EventBus::tracking_scope`].
#[must_use = "the scope ends when dropped"]
pub struct StatsScope<'a, T, C> {
    bus: &'a EventBus<T, C>,
    baseline: EventStats,
    was_tracking: bool,
}

impl<T, C> StatsScope<'_, T, C> {
    /// Ends the scope: the publications per event type counted since it
    /// began.
    #[must_use]
    pub fn finish(self) -> EventStats {
        let now = self.bus.event_stats();
        now.into_iter()
            .filter_map(|(k, n)| {
                let before = self.baseline.get(&k).copied().unwrap_or(0);
                (n > before).then(|| (k, n - before))
            })
            .collect()
    }
}

impl<T, C> Drop for StatsScope<'_, T, C> {
    fn drop(&mut self) {
        self.bus.shared.state.lock().tracking = self.was_tracking;
    }
}

impl<T, C> fmt::Debug for StatsScope<'_, T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatsScope").finish_non_exhaustive()
    }
}

/// Keeps the audit bridge on while it lives; from
/// [`EventBus::audit_scope`].
#[must_use = "the bridge stops when the scope is dropped"]
pub struct AuditScope<'a, T, C> {
    bus: &'a EventBus<T, C>,
    started: bool,
}

impl<T, C> AuditScope<'_, T, C> {
    /// Whether this scope turned the bridge on (`false` if it was already
    /// on: then it stays on after the scope).
    #[must_use]
    pub fn started(&self) -> bool {
        self.started
    }
}

impl<T, C> Drop for AuditScope<'_, T, C> {
    fn drop(&mut self) {
        if self.started {
            self.bus.shared.stop_audit();
        }
    }
}

impl<T, C> fmt::Debug for AuditScope<'_, T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditScope")
            .field("started", &self.started)
            .finish()
    }
}
