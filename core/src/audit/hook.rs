use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};

use super::{Arg, Event};
use crate::loom::StaticMutex;

type Listener = Arc<dyn Fn(&Event<'_>) + Send + Sync>;

/// A registry of audit listeners.
///
/// The process-wide one ([`global`]) is where primitives raise events; make
/// your own `Hook` for an event stream that nothing else shares.
///
/// Dispatch takes a snapshot of the listener lists (one lock, one reference
/// count increment) and calls the listeners with no lock held; subscribing
/// builds a new snapshot. That favours raising events over changing
/// listeners, which is the usual balance.
pub struct Hook {
    /// Number of live subscriptions: the whole disabled fast path.
    active: AtomicUsize,
    registry: StaticMutex<Registry>,
}

struct Registry {
    next_id: u64,
    snapshot: Option<Arc<Snapshot>>,
}

#[derive(Clone, Default)]
struct Snapshot {
    named: BTreeMap<Box<str>, Vec<(u64, Listener)>>,
    all: Vec<(u64, Listener)>,
}

/// Identifies one subscription, for [`Hook::unsubscribe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionId(u64);

static GLOBAL: Hook = Hook::new();

/// The process-wide hook, on which primitives raise their events.
#[must_use]
pub fn global() -> &'static Hook {
    &GLOBAL
}

/// Whether anyone listens on the process-wide hook: one relaxed load.
#[inline(always)]
#[must_use]
pub fn enabled() -> bool {
    GLOBAL.active.load(Ordering::Relaxed) != 0
}

/// Raises `name` with `args` on the process-wide hook.
///
/// When nobody listens this is one relaxed atomic load and a branch, but the
/// caller has already built `args`; the [`emit!`](crate::emit) macro checks
/// first and builds nothing, which is what primitives use.
#[inline]
pub fn emit(name: &str, args: &[Arg<'_>]) {
    GLOBAL.emit(name, args);
}

/// Subscribes `listener` to `event` on the process-wide hook until
/// [`unsubscribe`] is called with the returned id.
pub fn subscribe<F>(event: &str, listener: F) -> SubscriptionId
where
    F: Fn(&Event<'_>) + Send + Sync + 'static,
{
    GLOBAL.subscribe(event, listener)
}

/// Subscribes `listener` to every event on the process-wide hook.
pub fn subscribe_all<F>(listener: F) -> SubscriptionId
where
    F: Fn(&Event<'_>) + Send + Sync + 'static,
{
    GLOBAL.subscribe_all(listener)
}

/// Removes a subscription from the process-wide hook; `false` if it was not
/// there (already removed).
pub fn unsubscribe(id: SubscriptionId) -> bool {
    GLOBAL.unsubscribe(id)
}

/// Listens to `event` on the process-wide hook while the guard lives.
pub fn listening<F>(event: &str, listener: F) -> Listening<'static>
where
    F: Fn(&Event<'_>) + Send + Sync + 'static,
{
    GLOBAL.listening(event, listener)
}

/// Listens to every event on the process-wide hook while the guard lives.
pub fn listening_all<F>(listener: F) -> Listening<'static>
where
    F: Fn(&Event<'_>) + Send + Sync + 'static,
{
    GLOBAL.listening_all(listener)
}

/// Collects `extractor(event)` for each `event` raised on the process-wide
/// hook while the guard lives.
pub fn extracting<T, F>(event: &str, extractor: F) -> Extracting<'static, T>
where
    T: Send + 'static,
    F: Fn(&Event<'_>) -> T + Send + Sync + 'static,
{
    GLOBAL.extracting(event, extractor)
}

impl Default for Hook {
    fn default() -> Self {
        Self::new()
    }
}

impl Hook {
    /// An empty registry.
    #[must_use]
    pub const fn new() -> Self {
        Hook {
            active: AtomicUsize::new(0),
            registry: StaticMutex::new(Registry {
                next_id: 0,
                snapshot: None,
            }),
        }
    }

    /// Whether any listener is subscribed.
    #[inline(always)]
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.active.load(Ordering::Relaxed) != 0
    }

    /// Raises `name` with `args`: calls every listener of `name`, then every
    /// all-events listener, each in subscription order.
    #[inline]
    pub fn emit(&self, name: &str, args: &[Arg<'_>]) {
        if self.is_enabled() {
            self.dispatch(name, args);
        }
    }

    #[cold]
    #[inline(never)]
    fn dispatch(&self, name: &str, args: &[Arg<'_>]) {
        let Some(snapshot) = self.registry.lock().snapshot.clone() else {
            return;
        };
        let event = Event { name, args };
        if let Some(listeners) = snapshot.named.get(name) {
            for (_, listener) in listeners {
                listener(&event);
            }
        }
        for (_, listener) in &snapshot.all {
            listener(&event);
        }
    }

    /// Subscribes `listener` to `event` until [`Hook::unsubscribe`].
    pub fn subscribe<F>(&self, event: &str, listener: F) -> SubscriptionId
    where
        F: Fn(&Event<'_>) + Send + Sync + 'static,
    {
        self.insert(Some(event), Arc::new(listener))
    }

    /// Subscribes `listener` to every event until [`Hook::unsubscribe`].
    pub fn subscribe_all<F>(&self, listener: F) -> SubscriptionId
    where
        F: Fn(&Event<'_>) + Send + Sync + 'static,
    {
        self.insert(None, Arc::new(listener))
    }

    fn insert(&self, event: Option<&str>, listener: Listener) -> SubscriptionId {
        let mut registry = self.registry.lock();
        let id = registry.next_id;
        registry.next_id += 1;
        let mut snapshot = registry.snapshot.as_deref().cloned().unwrap_or_default();
        match event {
            Some(name) => snapshot
                .named
                .entry(Box::from(name))
                .or_default()
                .push((id, listener)),
            None => snapshot.all.push((id, listener)),
        }
        registry.snapshot = Some(Arc::new(snapshot));
        self.active.fetch_add(1, Ordering::Relaxed);
        SubscriptionId(id)
    }

    /// Removes a subscription; `false` if it was not there.
    pub fn unsubscribe(&self, id: SubscriptionId) -> bool {
        let mut registry = self.registry.lock();
        let Some(current) = registry.snapshot.as_deref() else {
            return false;
        };
        let mut snapshot = current.clone();
        let mut removed = false;
        snapshot.named.retain(|_, listeners| {
            listeners.retain(|(i, _)| {
                let keep = *i != id.0;
                removed |= !keep;
                keep
            });
            !listeners.is_empty()
        });
        snapshot.all.retain(|(i, _)| {
            let keep = *i != id.0;
            removed |= !keep;
            keep
        });
        if removed {
            registry.snapshot = Some(Arc::new(snapshot));
            self.active.fetch_sub(1, Ordering::Relaxed);
        }
        removed
    }

    /// Listens to `event` while the returned guard lives.
    pub fn listening<F>(&self, event: &str, listener: F) -> Listening<'_>
    where
        F: Fn(&Event<'_>) + Send + Sync + 'static,
    {
        Listening {
            hook: self,
            id: self.subscribe(event, listener),
        }
    }

    /// Listens to every event while the returned guard lives.
    pub fn listening_all<F>(&self, listener: F) -> Listening<'_>
    where
        F: Fn(&Event<'_>) + Send + Sync + 'static,
    {
        Listening {
            hook: self,
            id: self.subscribe_all(listener),
        }
    }

    /// Collects `extractor(event)` for each `event` raised while the
    /// returned guard lives.
    pub fn extracting<T, F>(&self, event: &str, extractor: F) -> Extracting<'_, T>
    where
        T: Send + 'static,
        F: Fn(&Event<'_>) -> T + Send + Sync + 'static,
    {
        let extracts = Arc::new(StaticMutex::new(Vec::new()));
        let sink = extracts.clone();
        let guard = self.listening(event, move |e| {
            let value = extractor(e);
            sink.lock().push(value);
        });
        Extracting { guard, extracts }
    }
}

impl fmt::Debug for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hook")
            .field("subscriptions", &self.active.load(Ordering::Relaxed))
            .finish()
    }
}

/// Keeps a listener subscribed; unsubscribes it when dropped.
#[must_use = "the listener is unsubscribed when the guard is dropped"]
pub struct Listening<'h> {
    hook: &'h Hook,
    id: SubscriptionId,
}

impl Listening<'_> {
    /// The subscription's id.
    #[must_use]
    pub fn id(&self) -> SubscriptionId {
        self.id
    }
}

impl Drop for Listening<'_> {
    fn drop(&mut self) {
        self.hook.unsubscribe(self.id);
    }
}

impl fmt::Debug for Listening<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listening").field("id", &self.id).finish()
    }
}

/// Owns the values extracted from events while it lives; unsubscribes when
/// dropped or [`finish`](Extracting::finish)ed.
#[must_use = "the extractor is unsubscribed when the guard is dropped"]
pub struct Extracting<'h, T> {
    guard: Listening<'h>,
    extracts: Arc<StaticMutex<Vec<T>>>,
}

impl<T> Extracting<'_, T> {
    /// How many values were extracted so far.
    #[must_use]
    pub fn len(&self) -> usize {
        self.extracts.lock().len()
    }

    /// Whether nothing was extracted yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes the values extracted so far, leaving the list empty; keeps
    /// listening.
    pub fn take(&self) -> Vec<T> {
        core::mem::take(&mut *self.extracts.lock())
    }

    /// A copy of the values extracted so far; keeps listening.
    #[must_use]
    pub fn extracts(&self) -> Vec<T>
    where
        T: Clone,
    {
        self.extracts.lock().clone()
    }

    /// Stops listening and returns everything extracted.
    #[must_use]
    pub fn finish(self) -> Vec<T> {
        let Extracting { guard, extracts } = self;
        drop(guard);
        core::mem::take(&mut *extracts.lock())
    }
}

impl<T> fmt::Debug for Extracting<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Extracting")
            .field("id", &self.guard.id)
            .field("extracted", &self.len())
            .finish()
    }
}
