//! Fuzzes `EventBus<(u32, u32), ManualClock>` with arbitrary sequences of
//! subscribe / unsubscribe / clear / middleware / publish / poll / drop /
//! start_publish / time steps, and checks every delivery against a model.
//!
//! # What runs
//!
//! The data is `(publication id, value)`: middlewares transform the value
//! and never the id, so a delivery names its publication. Subscribers are
//! synchronous or asynchronous (an asynchronous one sleeps 0–3 ms on the
//! manual clock), of an exact event type, a `prefix.*` pattern or `*`; any
//! of them may fail. Publications are awaited futures kept in a live set
//! (polled with flag wakers, dropped at any point) or started with
//! `start_publish`, whose asynchronous part one driver future runs.
//! `Settle` plays the executor: polls whatever was woken until nothing is.
//!
//! # The model
//!
//! * Subscribers: id → (selector, sync?, fails?), kept in subscription
//!   order. `selector` matches an event type as the bus documents: equal,
//!   `prefix.*` for any type starting with `prefix.`, `*` for all.
//! * Middlewares: an ordered list of `v → v * 3 + k`; a publication's value
//!   is the chain applied in insertion order to the value published.
//! * At a publication's first poll (or `start_publish`) its expected
//!   recipients are the subscribers matching at that moment. Synchronous
//!   recipients must have been called exactly once with the processed
//!   value right after that poll; asynchronous ones exactly once by the
//!   time the publication completes, and never more than once even if it
//!   is dropped. A completed publication reports exactly the failing
//!   recipients' errors (flattened), or `Ok` when none failed.
//! * Counts: `subscriber_count` of every selector, `total_subscribers`,
//!   `wildcard_count`, `has_subscribers`, `is_subscribed`, the return of
//!   `unsubscribe` and `clear` all agree with the model after every step.
//! * `active_callbacks` never exceeds `max_concurrent`, nor does the number
//!   of asynchronous bodies running at once; after everything is dropped or
//!   drained it is zero.
//! * At the end every live publication is dropped and the driver is run to
//!   completion (time advanced as needed): every started publication's
//!   asynchronous recipients have run exactly once.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use arbitrary::Arbitrary;
use asyncutils_core::channels::{
    Driver, EventBus, MiddlewareCookie, Publish, PublishError, Subscription,
};
use asyncutils_core::time::{Clock, ManualClock};
use asyncutils_fuzz::FlagWakers;
use libfuzzer_sys::fuzz_target;

const EVENTS: [&str; 4] = ["a", "a.b", "a.b.c", "b"];
const SELECTORS: [&str; 7] = ["a", "a.b", "a.b.c", "b", "a.*", "a.b.*", "*"];

#[derive(Arbitrary, Debug)]
enum Op {
    Subscribe {
        selector: u8,
        asynchronous: bool,
        fails: bool,
        sleep_ms: u8,
    },
    /// Drops handle `idx % len` (or calls `unsubscribe` if `explicit`).
    Unsubscribe {
        idx: u8,
        explicit: bool,
    },
    Clear {
        selector: u8,
    },
    AddMiddleware {
        k: u8,
    },
    RemoveMiddleware {
        idx: u8,
    },
    Publish {
        event: u8,
        value: u8,
        poll: bool,
    },
    Poll {
        idx: u8,
        alt: bool,
    },
    Drop {
        idx: u8,
    },
    StartPublish {
        event: u8,
        value: u8,
    },
    Advance {
        ms: u8,
    },
    Settle,
}

#[derive(Arbitrary, Debug)]
struct Input {
    max_concurrent: u8,
    ops: Vec<Op>,
}

#[derive(Clone)]
struct SubModel {
    selector: &'static str,
    sync: bool,
    fails: bool,
}

fn matches(selector: &str, event: &str) -> bool {
    if selector == "*" {
        return true;
    }
    match selector.strip_suffix('*') {
        Some(prefix) => event.starts_with(prefix),
        None => selector == event,
    }
}

struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What a subscriber records: (subscriber id, publication id, value).
type Log = Arc<Mutex<Vec<(u64, u32, u32)>>>;

struct Expected {
    value: u32,
    sync: BTreeSet<u64>,
    asynchronous: BTreeSet<u64>,
    failing: usize,
}

struct Live<'a> {
    id: u32,
    event: &'static str,
    value: u32,
    future: Pin<Box<Publish<'a, (u32, u32), ManualClock>>>,
    wakers: FlagWakers,
    started: bool,
}

struct Harness<'a> {
    bus: &'a EventBus<(u32, u32), ManualClock>,
    clock: ManualClock,
    max: usize,
    log: Log,
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    next_sub: u64,
    subs: BTreeMap<u64, SubModel>,
    handles: Vec<(u64, Subscription)>,
    middlewares: Vec<(u32, MiddlewareCookie)>,
    next_pub: u32,
    expected: BTreeMap<u32, Expected>,
    /// Publications whose async recipients must all have run by the end.
    must_complete: BTreeSet<u32>,
    live: Vec<Live<'a>>,
    driver: Pin<Box<Driver<'a, (u32, u32), ManualClock>>>,
    driver_wakers: FlagWakers,
}

impl<'a> Harness<'a> {
    fn process(&self, mut v: u32) -> u32 {
        for (k, _) in &self.middlewares {
            v = v.wrapping_mul(3).wrapping_add(*k);
        }
        v
    }

    fn expect(&mut self, event: &str, value: u32) -> u32 {
        let id = self.next_pub;
        self.next_pub += 1;
        self.set_expectation(id, event, value);
        id
    }

    /// Fixes the expectation of publication `id` from the model as it is now.
    fn set_expectation(&mut self, id: u32, event: &str, value: u32) {
        let mut e = Expected {
            value: self.process(value),
            sync: BTreeSet::new(),
            asynchronous: BTreeSet::new(),
            failing: 0,
        };
        for (sid, s) in &self.subs {
            if matches(s.selector, event) {
                if s.sync {
                    e.sync.insert(*sid);
                } else {
                    e.asynchronous.insert(*sid);
                }
                e.failing += usize::from(s.fails);
            }
        }
        self.expected.insert(id, e);
    }

    fn deliveries(&self, publication: u32) -> Vec<(u64, u32)> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, p, _)| *p == publication)
            .map(|(s, _, v)| (*s, *v))
            .collect()
    }

    /// After the inline pass: every sync recipient exactly once; async
    /// ones at most once; all with the processed value.
    fn check_partial(&self, publication: u32) {
        let e = &self.expected[&publication];
        let got = self.deliveries(publication);
        let mut seen = BTreeSet::new();
        for (s, v) in &got {
            assert_eq!(*v, e.value, "subscriber {s} saw unprocessed data");
            assert!(
                seen.insert(*s),
                "subscriber {s} called twice for {publication}"
            );
            assert!(
                e.sync.contains(s) || e.asynchronous.contains(s),
                "subscriber {s} was not a recipient of {publication}"
            );
        }
        for s in &e.sync {
            assert!(seen.contains(s), "sync subscriber {s} missed {publication}");
        }
    }

    fn check_complete(&self, publication: u32) {
        self.check_partial(publication);
        let e = &self.expected[&publication];
        let got: BTreeSet<u64> = self
            .deliveries(publication)
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        for s in &e.asynchronous {
            assert!(got.contains(s), "async subscriber {s} missed {publication}");
        }
    }

    fn check_counts(&self) {
        for sel in SELECTORS {
            let model = self.subs.values().filter(|s| s.selector == sel).count();
            assert_eq!(self.bus.subscriber_count(sel), model, "count of {sel}");
        }
        assert_eq!(self.bus.total_subscribers(), self.subs.len());
        assert_eq!(
            self.bus.wildcard_count(),
            self.subs.values().filter(|s| s.selector == "*").count()
        );
        for ev in EVENTS {
            let model = self.subs.values().any(|s| matches(s.selector, ev));
            assert_eq!(self.bus.has_subscribers(ev), model, "has_subscribers({ev})");
        }
        for (id, h) in &self.handles {
            assert_eq!(self.bus.is_subscribed(h), self.subs.contains_key(id));
        }
        assert!(self.bus.active_callbacks() <= self.max);
        assert!(self.peak.load(Ordering::SeqCst) <= self.max);
    }

    fn subscribe(&mut self, selector: &'static str, asynchronous: bool, fails: bool, sleep_ms: u8) {
        let id = self.next_sub;
        self.next_sub += 1;
        let log = self.log.clone();
        let handle = if asynchronous {
            let clock = self.clock.clone();
            let running = self.running.clone();
            let peak = self.peak.clone();
            let sleep = Duration::from_millis(u64::from(sleep_ms % 4));
            let f = move |_: Arc<str>, (p, v): (u32, u32)| {
                let log = log.clone();
                let clock = clock.clone();
                let running = running.clone();
                let peak = peak.clone();
                async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    // Counts down when the body ends or is dropped.
                    let _running = Running(running);
                    clock.sleep(sleep).await;
                    log.lock().unwrap().push((id, p, v));
                    if fails { Err("async failure") } else { Ok(()) }
                }
            };
            if selector.ends_with('*') {
                self.bus.subscribe_pattern_async(selector, f).unwrap()
            } else {
                self.bus
                    .subscribe_async(selector, move |d| f(Arc::from(""), d))
                    .unwrap()
            }
        } else {
            let f = move |_: &str, &(p, v): &(u32, u32)| {
                log.lock().unwrap().push((id, p, v));
                if fails { Err("sync failure") } else { Ok(()) }
            };
            if selector.ends_with('*') {
                self.bus.subscribe_pattern(selector, f).unwrap()
            } else {
                self.bus.subscribe(selector, move |d| f("", d)).unwrap()
            }
        };
        self.subs.insert(
            id,
            SubModel {
                selector,
                sync: !asynchronous,
                fails,
            },
        );
        self.handles.push((id, handle));
    }

    /// Polls live publication `i`; returns whether it completed.
    fn poll_live(&mut self, i: usize, alt: bool) -> bool {
        if !self.live[i].started {
            // The publication begins at its first poll: that is when the
            // recipients and the middleware chain are fixed.
            let (id, event, value) = (self.live[i].id, self.live[i].event, self.live[i].value);
            self.set_expectation(id, event, value);
        }
        let live = &mut self.live[i];
        let waker = live.wakers.for_poll(alt).clone();
        let poll = live.future.as_mut().poll(&mut Context::from_waker(&waker));
        live.started = true;
        let id = live.id;
        self.check_partial(id);
        match poll {
            Poll::Pending => false,
            Poll::Ready(result) => {
                self.check_complete(id);
                let failing = self.expected[&id].failing;
                match result {
                    Ok(()) => assert_eq!(failing, 0, "errors lost for {id}"),
                    Err(PublishError::Failed(group)) => assert_eq!(group.len(), failing),
                    Err(e) => panic!("unexpected {e:?}"),
                }
                self.live.swap_remove(i);
                true
            }
        }
    }

    fn poll_driver(&mut self) {
        let waker = self.driver_wakers.for_poll(false).clone();
        assert!(
            self.driver
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
    }

    fn settle(&mut self) {
        for _ in 0..64 {
            let mut any = false;
            let mut i = 0;
            while i < self.live.len() {
                if self.live[i].wakers.any_woken() {
                    any = true;
                    if self.poll_live(i, false) {
                        continue;
                    }
                }
                i += 1;
            }
            if self.driver_wakers.any_woken() {
                any = true;
                self.poll_driver();
            }
            if !any {
                return;
            }
        }
        panic!("settle did not converge");
    }
}

fuzz_target!(|input: Input| {
    let clock = ManualClock::new();
    let max = usize::from(input.max_concurrent % 4) + 1;
    let bus: EventBus<(u32, u32), ManualClock> = EventBus::builder()
        .max_concurrent(max)
        .build_with_clock(clock.clone())
        .unwrap();
    let mut h = Harness {
        bus: &bus,
        clock: clock.clone(),
        max,
        log: Arc::new(Mutex::new(Vec::new())),
        running: Arc::new(AtomicUsize::new(0)),
        peak: Arc::new(AtomicUsize::new(0)),
        next_sub: 0,
        subs: BTreeMap::new(),
        handles: Vec::new(),
        middlewares: Vec::new(),
        next_pub: 0,
        expected: BTreeMap::new(),
        must_complete: BTreeSet::new(),
        live: Vec::new(),
        driver: Box::pin(bus.driver()),
        driver_wakers: FlagWakers::new(),
    };
    h.poll_driver();
    for op in input.ops.into_iter().take(200) {
        match op {
            Op::Subscribe {
                selector,
                asynchronous,
                fails,
                sleep_ms,
            } => {
                let sel = SELECTORS[usize::from(selector) % SELECTORS.len()];
                h.subscribe(sel, asynchronous, fails, sleep_ms);
            }
            Op::Unsubscribe { idx, explicit } => {
                if h.handles.is_empty() {
                    continue;
                }
                let (id, handle) = h.handles.swap_remove(usize::from(idx) % h.handles.len());
                let present = h.subs.remove(&id).is_some();
                if explicit {
                    assert_eq!(handle.unsubscribe(), present);
                } else {
                    drop(handle);
                }
            }
            Op::Clear { selector } => {
                let sel = SELECTORS[usize::from(selector) % SELECTORS.len()];
                let before = h.subs.len();
                h.subs.retain(|_, s| s.selector != sel);
                assert_eq!(h.bus.clear(sel), before - h.subs.len());
            }
            Op::AddMiddleware { k } => {
                let k = u32::from(k);
                let cookie = h.bus.add_middleware(move |_, (p, v): (u32, u32)| {
                    (p, v.wrapping_mul(3).wrapping_add(k))
                });
                h.middlewares.push((k, cookie));
            }
            Op::RemoveMiddleware { idx } => {
                if h.middlewares.is_empty() {
                    continue;
                }
                let (_, cookie) = h.middlewares.remove(usize::from(idx) % h.middlewares.len());
                assert!(h.bus.remove_middleware(cookie));
                assert!(!h.bus.remove_middleware(cookie));
            }
            Op::Publish { event, value, poll } => {
                let ev = EVENTS[usize::from(event) % EVENTS.len()];
                let id = h.next_pub;
                h.next_pub += 1;
                let value = u32::from(value);
                let future = Box::pin(h.bus.publish(ev, (id, value)));
                h.live.push(Live {
                    id,
                    event: ev,
                    value,
                    future,
                    wakers: FlagWakers::new(),
                    started: false,
                });
                if poll {
                    let i = h.live.len() - 1;
                    h.poll_live(i, false);
                }
            }
            Op::Poll { idx, alt } => {
                if h.live.is_empty() {
                    continue;
                }
                let i = usize::from(idx) % h.live.len();
                h.poll_live(i, alt);
            }
            Op::Drop { idx } => {
                if h.live.is_empty() {
                    continue;
                }
                let live = h.live.swap_remove(usize::from(idx) % h.live.len());
                let id = live.id;
                let started = live.started;
                drop(live);
                if started {
                    h.check_partial(id);
                } else {
                    assert!(h.deliveries(id).is_empty(), "an unpolled publish delivered");
                }
            }
            Op::StartPublish { event, value } => {
                let ev = EVENTS[usize::from(event) % EVENTS.len()];
                let id = h.expect(ev, u32::from(value));
                h.bus.start_publish(ev, (id, u32::from(value))).unwrap();
                h.check_partial(id);
                h.must_complete.insert(id);
            }
            Op::Advance { ms } => clock.advance(Duration::from_millis(u64::from(ms % 5))),
            Op::Settle => h.settle(),
        }
        h.check_counts();
    }
    // Drop every live publication, then drain the driver.
    let live: Vec<_> = h.live.drain(..).collect();
    for l in live {
        let (id, started) = (l.id, l.started);
        drop(l);
        if started {
            h.check_partial(id);
        }
    }
    // Each round completes at least one callback (every sleep is at most
    // 3 ms), and there are at most 200 publications of 200 subscribers.
    for _ in 0..50_000 {
        h.poll_driver();
        let mut spins = 0;
        while h.driver_wakers.any_woken() {
            h.poll_driver();
            spins += 1;
            assert!(spins < 10_000, "the driver keeps waking itself");
        }
        if h.driver.in_progress() == 0 && h.bus.queued_for_driver() == 0 {
            break;
        }
        clock.advance(Duration::from_millis(4));
    }
    assert_eq!(h.driver.in_progress(), 0, "the driver did not drain");
    for id in h.must_complete.clone() {
        h.check_complete(id);
    }
    assert_eq!(h.bus.active_callbacks(), 0);
    drop(h);
});
