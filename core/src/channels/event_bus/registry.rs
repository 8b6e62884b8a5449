//! Subscriber lists and the middleware chain.
//!
//! Every list a publication reads is an immutable `Arc<[Entry]>`: a
//! publication clones the `Arc` under the bus lock and walks the list with
//! no lock held; subscribing or unsubscribing builds a new list for that one
//! topic (copy-on-write), so the cost of a change is the size of the topic,
//! not of the bus.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::sync::Weak;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::pin::Pin;

use slab::Slab;

use super::stream::StreamQueue;
use crate::error::BoxError;
use crate::loom::Arc;

/// A synchronous subscriber, as stored: `(event_type, &data)`.
pub(super) type SyncFn<T> = dyn Fn(&str, &T) -> Result<(), BoxError> + Send + Sync;
/// The future of an asynchronous subscriber.
pub(super) type BoxFuture = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;
/// An asynchronous subscriber, as stored: `(event_type, data)`.
pub(super) type AsyncFn<T> = dyn Fn(&str, T) -> BoxFuture + Send + Sync;
/// A middleware: `(event_type, data) -> data`.
pub(super) type MiddlewareFn<T> = dyn Fn(&str, T) -> T + Send + Sync;

/// What a subscriber returns: `()` for callbacks that cannot fail, or
/// `Result<(), E>` for any error convertible into a [`BoxError`].
pub trait SubscriberResult {
    /// The outcome as a `Result`.
    ///
    /// # Errors
    ///
    /// The subscriber's error.
    fn into_result(self) -> Result<(), BoxError>;
}

impl SubscriberResult for () {
    #[inline]
    fn into_result(self) -> Result<(), BoxError> {
        Ok(())
    }
}

impl<E: Into<BoxError>> SubscriberResult for Result<(), E> {
    #[inline]
    fn into_result(self) -> Result<(), BoxError> {
        self.map_err(Into::into)
    }
}

pub(super) enum Callback<T> {
    Sync(Arc<SyncFn<T>>),
    Async(Arc<AsyncFn<T>>),
    /// An event stream's queue for one event type.
    Stream(Arc<StreamQueue<T>>),
    /// The catch-all event stream's queue.
    AllStream(Arc<StreamQueue<(Arc<str>, T)>>),
}

impl<T> Clone for Callback<T> {
    fn clone(&self) -> Self {
        match self {
            Callback::Sync(f) => Callback::Sync(f.clone()),
            Callback::Async(f) => Callback::Async(f.clone()),
            Callback::Stream(q) => Callback::Stream(q.clone()),
            Callback::AllStream(q) => Callback::AllStream(q.clone()),
        }
    }
}

impl<T> Callback<T> {
    fn is_stream(&self) -> bool {
        matches!(self, Callback::Stream(_) | Callback::AllStream(_))
    }
}

pub(super) struct Entry<T> {
    pub(super) id: u64,
    pub(super) callback: Callback<T>,
}

impl<T> Clone for Entry<T> {
    fn clone(&self) -> Self {
        Entry {
            id: self.id,
            callback: self.callback.clone(),
        }
    }
}

pub(super) type List<T> = Arc<[Entry<T>]>;

/// Where a subscription lives.
#[derive(Clone, PartialEq, Eq)]
pub(super) enum Topic {
    /// One event type.
    Exact(Arc<str>),
    /// Every event type starting with this prefix (which ends with `.`).
    Prefix(Arc<str>),
    /// Every event.
    Wildcard,
}

impl fmt::Debug for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topic::Exact(e) => write!(f, "{e:?}"),
            Topic::Prefix(p) => write!(f, "\"{p}*\""),
            Topic::Wildcard => f.write_str("\"*\""),
        }
    }
}

/// A selector as users write it: `"*"`, `"prefix.*"` or an event type.
pub(super) enum Selector<'s> {
    Exact(&'s str),
    Prefix(&'s str),
    Wildcard,
}

/// Parses `"*"`, `"a.b.*"` or a plain event type; `None` if it is none of
/// them (empty, or a `*` anywhere else).
pub(super) fn parse_selector(s: &str) -> Option<Selector<'_>> {
    if s == "*" {
        return Some(Selector::Wildcard);
    }
    if let Some(prefix) = s.strip_suffix('*') {
        if prefix.len() > 1 && prefix.ends_with('.') && !prefix.contains('*') {
            return Some(Selector::Prefix(prefix));
        }
        return None;
    }
    if s.is_empty() || s.contains('*') {
        return None;
    }
    Some(Selector::Exact(s))
}

/// All subscriber lists. Empty lists are removed, so a key present means
/// at least one subscriber.
pub(super) struct Registry<T> {
    exact: BTreeMap<Arc<str>, List<T>>,
    prefixes: BTreeMap<Arc<str>, List<T>>,
    wildcards: Option<List<T>>,
    total: usize,
}

fn with_entry<T>(list: Option<&List<T>>, entry: Entry<T>) -> List<T> {
    let mut v: Vec<Entry<T>> = list.map(|l| l.to_vec()).unwrap_or_default();
    v.push(entry);
    Arc::from(v)
}

/// The list without entry `id` (`None` if it becomes empty), and whether it
/// was there.
fn without<T>(
    list: &List<T>,
    mut remove: impl FnMut(&Entry<T>) -> bool,
) -> (Option<List<T>>, usize) {
    let kept: Vec<Entry<T>> = list.iter().filter(|e| !remove(e)).cloned().collect();
    let removed = list.len() - kept.len();
    if kept.is_empty() {
        (None, removed)
    } else {
        (Some(Arc::from(kept)), removed)
    }
}

impl<T> Registry<T> {
    pub(super) const fn new() -> Self {
        Registry {
            exact: BTreeMap::new(),
            prefixes: BTreeMap::new(),
            wildcards: None,
            total: 0,
        }
    }

    pub(super) fn insert(&mut self, topic: &Topic, entry: Entry<T>) {
        match topic {
            Topic::Exact(key) => {
                let list = with_entry(self.exact.get(&**key), entry);
                self.exact.insert(key.clone(), list);
            }
            Topic::Prefix(key) => {
                let list = with_entry(self.prefixes.get(&**key), entry);
                self.prefixes.insert(key.clone(), list);
            }
            Topic::Wildcard => self.wildcards = Some(with_entry(self.wildcards.as_ref(), entry)),
        }
        self.total += 1;
    }

    /// Removes the entries of `topic` that `remove` selects; how many.
    fn remove_where(&mut self, topic: &Topic, remove: impl FnMut(&Entry<T>) -> bool) -> usize {
        let (slot, map_key) = match topic {
            Topic::Exact(key) => (self.exact.get(&**key).cloned(), Some((true, key))),
            Topic::Prefix(key) => (self.prefixes.get(&**key).cloned(), Some((false, key))),
            Topic::Wildcard => (self.wildcards.clone(), None),
        };
        let Some(list) = slot else { return 0 };
        let (list, removed) = without(&list, remove);
        if removed == 0 {
            return 0;
        }
        match (map_key, list) {
            (Some((true, key)), Some(list)) => drop(self.exact.insert(key.clone(), list)),
            (Some((true, key)), None) => drop(self.exact.remove(&**key)),
            (Some((false, key)), Some(list)) => drop(self.prefixes.insert(key.clone(), list)),
            (Some((false, key)), None) => drop(self.prefixes.remove(&**key)),
            (None, list) => self.wildcards = list,
        }
        self.total -= removed;
        removed
    }

    pub(super) fn remove(&mut self, topic: &Topic, id: u64) -> bool {
        self.remove_where(topic, |e| e.id == id) > 0
    }

    /// Removes every subscriber of `topic` except event streams.
    pub(super) fn clear(&mut self, topic: &Topic) -> usize {
        self.remove_where(topic, |e| !e.callback.is_stream())
    }

    /// Removes every subscriber except event streams.
    pub(super) fn clear_all(&mut self) -> usize {
        let mut topics: Vec<Topic> = self.exact.keys().cloned().map(Topic::Exact).collect();
        topics.extend(self.prefixes.keys().cloned().map(Topic::Prefix));
        topics.push(Topic::Wildcard);
        topics.iter().map(|t| self.clear(t)).sum()
    }

    /// Every list, to drop outside the lock after a bulk removal.
    pub(super) fn all_lists(&self) -> Vec<List<T>> {
        let mut lists: Vec<List<T>> = self.exact.values().cloned().collect();
        lists.extend(self.prefixes.values().cloned());
        lists.extend(self.wildcards.clone());
        lists
    }

    pub(super) fn contains(&self, topic: &Topic, id: u64) -> bool {
        self.list(topic)
            .is_some_and(|l| l.iter().any(|e| e.id == id))
    }

    pub(super) fn list(&self, topic: &Topic) -> Option<&List<T>> {
        match topic {
            Topic::Exact(key) => self.exact.get(&**key),
            Topic::Prefix(key) => self.prefixes.get(&**key),
            Topic::Wildcard => self.wildcards.as_ref(),
        }
    }

    pub(super) fn count(&self, selector: &Selector<'_>) -> usize {
        match selector {
            Selector::Exact(e) => self.exact.get(*e).map_or(0, |l| l.len()),
            Selector::Prefix(p) => self.prefixes.get(*p).map_or(0, |l| l.len()),
            Selector::Wildcard => self.wildcards.as_ref().map_or(0, |l| l.len()),
        }
    }

    pub(super) fn exact(&self, event_type: &str) -> Option<List<T>> {
        self.exact.get(event_type).cloned()
    }

    pub(super) fn prefix(&self, prefix: &str) -> Option<List<T>> {
        self.prefixes.get(prefix).cloned()
    }

    pub(super) fn wildcards(&self) -> Option<List<T>> {
        self.wildcards.clone()
    }

    pub(super) fn has_prefixes(&self) -> bool {
        !self.prefixes.is_empty()
    }

    /// Whether publishing `event_type` reaches anyone.
    pub(super) fn reaches(&self, event_type: &str) -> bool {
        self.wildcards.is_some()
            || self.exact.contains_key(event_type)
            || prefixes_of(event_type).any(|p| self.prefixes.contains_key(p))
    }

    pub(super) fn event_names(&self) -> Vec<Arc<str>> {
        self.exact.keys().cloned().collect()
    }

    pub(super) fn total(&self) -> usize {
        self.total
    }
}

/// The prefixes of `event_type` a `prefix.*` pattern can match: every
/// prefix ending with a `.`, shortest first (`a.b.c` gives `a.`, `a.b.`).
pub(super) fn prefixes_of(event_type: &str) -> impl Iterator<Item = &str> {
    event_type
        .char_indices()
        .filter(|&(_, c)| c == '.')
        .map(move |(i, _)| &event_type[..=i])
}

// === middleware chain ===

/// Identifies a middleware added with
/// [`add_middleware`](super::EventBus::add_middleware), to remove it.
///
/// Cookies are never reused: removing with the cookie of a middleware that
/// was already removed does nothing, even if another middleware took its
/// place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MiddlewareCookie {
    key: usize,
    id: u64,
}

struct MwNode<T> {
    id: u64,
    f: Arc<MiddlewareFn<T>>,
    prev: Option<usize>,
    next: Option<usize>,
}

/// Middlewares in insertion order: a doubly linked list in a slab, so a
/// cookie removes its middleware in O(1). Publications read a snapshot,
/// rebuilt at the first publication after a change.
pub(super) struct Middlewares<T> {
    nodes: Slab<MwNode<T>>,
    head: Option<usize>,
    tail: Option<usize>,
    next_id: u64,
    snapshot: Option<Arc<[Arc<MiddlewareFn<T>>]>>,
}

impl<T> Middlewares<T> {
    pub(super) const fn new() -> Self {
        Middlewares {
            nodes: Slab::new(),
            head: None,
            tail: None,
            next_id: 0,
            snapshot: None,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.nodes.len()
    }

    pub(super) fn push(&mut self, f: Arc<MiddlewareFn<T>>) -> MiddlewareCookie {
        let id = self.next_id;
        self.next_id += 1;
        let key = self.nodes.insert(MwNode {
            id,
            f,
            prev: self.tail,
            next: None,
        });
        match self.tail {
            Some(t) => self.nodes[t].next = Some(key),
            None => self.head = Some(key),
        }
        self.tail = Some(key);
        self.snapshot = None;
        MiddlewareCookie { key, id }
    }

    /// Removes the middleware; `None` if the cookie is stale.
    pub(super) fn remove(&mut self, cookie: MiddlewareCookie) -> Option<Arc<MiddlewareFn<T>>> {
        if self.nodes.get(cookie.key).is_none_or(|n| n.id != cookie.id) {
            return None;
        }
        let node = self.nodes.remove(cookie.key);
        match node.prev {
            Some(p) => self.nodes[p].next = node.next,
            None => self.head = node.next,
        }
        match node.next {
            Some(n) => self.nodes[n].prev = node.prev,
            None => self.tail = node.prev,
        }
        self.snapshot = None;
        Some(node.f)
    }

    pub(super) fn clear(&mut self) -> Vec<Arc<MiddlewareFn<T>>> {
        let all = self.nodes.drain().map(|n| n.f).collect();
        self.head = None;
        self.tail = None;
        self.snapshot = None;
        all
    }

    /// The chain in order, or `None` when there is no middleware.
    pub(super) fn snapshot(&mut self) -> Option<Arc<[Arc<MiddlewareFn<T>>]>> {
        if self.nodes.is_empty() {
            return None;
        }
        if self.snapshot.is_none() {
            let mut chain = Vec::with_capacity(self.nodes.len());
            let mut cursor = self.head;
            while let Some(k) = cursor {
                chain.push(self.nodes[k].f.clone());
                cursor = self.nodes[k].next;
            }
            self.snapshot = Some(Arc::from(chain));
        }
        self.snapshot.clone()
    }
}

// === impl Subscription ===

/// What a [`Subscription`] needs of its bus, without its type parameters.
pub(super) trait Owner: Send + Sync {
    fn remove(&self, topic: &Topic, id: u64) -> bool;
    fn contains(&self, topic: &Topic, id: u64) -> bool;
}

/// A live subscription; dropping it unsubscribes.
///
/// Returned by the `subscribe*` methods of [`EventBus`](super::EventBus).
/// It does not borrow the bus (it holds a weak reference), so it can be
/// stored anywhere; once the bus is dropped it does nothing.
/// [`forget`](Subscription::forget) makes the subscription permanent.
#[must_use = "dropping a `Subscription` unsubscribes at once"]
pub struct Subscription {
    pub(super) owner: Weak<dyn Owner>,
    pub(super) topic: Topic,
    pub(super) id: u64,
    /// Cleared once unsubscribed or forgotten: nothing left to do on drop.
    pub(super) armed: bool,
}

impl Subscription {
    /// Unsubscribes now. Returns whether the subscriber was still
    /// subscribed (`false` if a [`clear`](super::EventBus::clear) removed it
    /// first, or the bus is gone).
    pub fn unsubscribe(mut self) -> bool {
        self.armed = false;
        self.owner
            .upgrade()
            .is_some_and(|o| o.remove(&self.topic, self.id))
    }

    /// Whether the subscriber is still subscribed.
    #[must_use]
    pub fn is_subscribed(&self) -> bool {
        self.owner
            .upgrade()
            .is_some_and(|o| o.contains(&self.topic, self.id))
    }

    /// Keeps the subscriber subscribed for as long as the bus lives (until
    /// a [`clear`](super::EventBus::clear)).
    pub fn forget(mut self) {
        self.armed = false;
    }

    /// The selector it was made for: the event type, `"prefix.*"` or `"*"`.
    #[must_use]
    pub fn selector(&self) -> alloc::string::String {
        use alloc::string::ToString;
        match &self.topic {
            Topic::Exact(e) => e.to_string(),
            Topic::Prefix(p) => alloc::format!("{p}*"),
            Topic::Wildcard => "*".to_string(),
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if self.armed {
            if let Some(owner) = self.owner.upgrade() {
                owner.remove(&self.topic, self.id);
            }
        }
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("topic", &self.topic)
            .field("id", &self.id)
            .finish()
    }
}
