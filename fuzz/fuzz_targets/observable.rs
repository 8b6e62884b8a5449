//! Fuzzes `Observable<u16>` pipelines with an arbitrary sequence of
//! operations and checks what every observer receives against a reference
//! model.
//!
//! # What runs
//!
//! One source observable and a growing list of *nodes*: the source and
//! observables derived from earlier nodes by `filter`, `map`, `buffer`
//! (mapped back to a sum, so every node carries `u16`), `at_change` and
//! `fork`. Sinks are sync observers that record what they receive,
//! subscribed to any node now, "eventually" or with an `ntimes` count, and
//! unsubscribed now or "eventually". Node handles may be dropped (a derived
//! node stays fed by its source). A *gate* observer on the source is async:
//! while the gate is closed, a notification stays running after it starts,
//! so later `notify` calls queue behind it; the running future may be
//! polled, or dropped (leaving its queue behind for the next `notify` or
//! `flush`). Each future polls with recording wakers, so a lost wake-up
//! (the gate opened and the runner not woken) is a failure.
//!
//! # The model
//!
//! * A value is delivered when it *starts*: the sync observers of a
//!   notification are called at its start, and the derived nodes are
//!   notified inline, so a value's whole pipeline runs at its start.
//! * `running`: whether a runner exists. `notify(v)` with a runner queues
//!   `v` (and completes at once); without one it becomes the runner, runs
//!   orphaned queued values first (FIFO), then `v`. A value started while
//!   the gate is closed keeps the runner pending; once the gate is open, a
//!   poll finishes it and runs the queue to the end.
//! * Dropping the runner abandons the value under way (already delivered)
//!   and leaves the queue; `flush` with no runner runs the queue.
//! * At every boundary (a value finished, before the next starts)
//!   subscriptions added "eventually" become active and those removed
//!   "eventually" go; with no runner both happen at once. A dropped runner
//!   crosses no boundary.
//! * `ntimes(n)`: counted down at each value start it is active for; it
//!   sees the n-th and is then removed. `unsubscribe` reports whether the
//!   sink was still there.
//! * Derived nodes: `filter` passes `v % (k + 2) != 0`, `map` adds `k`,
//!   `buffer(c)` emits the wrapping sum of each `c` values, `at_change`
//!   emits when `v / (k + 1)` differs from the previous value's key.
//! * `notify_sequential` calls the gate first, so it is only issued when it
//!   runs to its end at once (gate open, no runner).
//!
//! After every operation: each sink's record equals the model's,
//! `is_idle`/`queued` match, and (at the end) nothing is left running.
#![no_main]

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use arbitrary::Arbitrary;
use asyncutils_core::channels::{Flush, Notify, Observable, Observer, ObserverHandle};
use asyncutils_fuzz::FlagWakers;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Derive {
    Filter(u8),
    Map(u8),
    Buffer(u8),
    AtChange(u8),
    Fork,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Derive { parent: u8, how: Derive },
    DropNode { node: u8 },
    Subscribe { node: u8 },
    SubscribeEventually { node: u8 },
    Ntimes { node: u8, n: u8 },
    Unsubscribe { sink: u8 },
    UnsubscribeEventually { sink: u8 },
    Notify,
    NotifySequential,
    OpenGate,
    CloseGate,
    PollRunner { alt: bool },
    DropRunner,
    Flush,
}

fuzz_target!(|ops: Vec<Op>| run(ops));

// === the gate ===

#[derive(Default)]
struct Gate {
    closed: bool,
    wakers: Vec<Waker>,
}

struct GateWait(Arc<Mutex<Gate>>);

impl Future for GateWait {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut gate = self.0.lock().unwrap();
        if gate.closed {
            gate.wakers.push(cx.waker().clone());
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
}

// === the model ===

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Active,
    PendingAdd,
    PendingRemove,
}

struct ModelSink {
    node: usize,
    countdown: Option<usize>,
    status: Status,
    /// Still subscribed (not removed by anything).
    live: bool,
    received: Vec<u16>,
}

struct ModelNode {
    /// `None` for the source.
    parent: Option<(usize, Derive)>,
    /// `buffer`: values so far; `at_change`: the last key.
    batch: Vec<u16>,
    last_key: Option<u16>,
}

struct Model {
    nodes: Vec<ModelNode>,
    sinks: Vec<ModelSink>,
    running: bool,
    queue: VecDeque<u16>,
    gate_closed: bool,
}

impl Model {
    /// Delivers `v` to node `node` and everything downstream.
    fn deliver(&mut self, node: usize, v: u16) {
        for sink in self.sinks.iter_mut().filter(|s| s.live && s.node == node) {
            if sink.status == Status::PendingAdd {
                continue;
            }
            sink.received.push(v);
            if let Some(n) = sink.countdown.as_mut() {
                *n -= 1;
                if *n == 0 {
                    sink.live = false;
                }
            }
        }
        for child in 0..self.nodes.len() {
            let Some((parent, how)) = self.nodes[child].parent else {
                continue;
            };
            if parent != node {
                continue;
            }
            let out = match how {
                Derive::Filter(k) => (!v.is_multiple_of(u16::from(k) + 2)).then_some(v),
                Derive::Map(k) => Some(v.wrapping_add(u16::from(k))),
                Derive::Fork => Some(v),
                Derive::Buffer(c) => {
                    let c = usize::from(c % 4) + 1;
                    let node = &mut self.nodes[child];
                    node.batch.push(v);
                    (node.batch.len() >= c)
                        .then(|| node.batch.drain(..).fold(0u16, |a, b| a.wrapping_add(b)))
                }
                Derive::AtChange(k) => {
                    let key = v / (u16::from(k) + 1);
                    let node = &mut self.nodes[child];
                    let changed = node.last_key != Some(key);
                    node.last_key = Some(key);
                    changed.then_some(v)
                }
            };
            if let Some(out) = out {
                self.deliver(child, out);
            }
        }
    }

    fn boundary(&mut self) {
        for sink in &mut self.sinks {
            if !sink.live {
                continue;
            }
            match sink.status {
                Status::PendingAdd => sink.status = Status::Active,
                Status::PendingRemove => sink.live = false,
                Status::Active => {}
            }
        }
    }

    /// A runner starts `v`; returns whether the runner completes (gate
    /// open), running the queue to the end.
    fn start(&mut self, v: u16) -> bool {
        self.running = true;
        self.deliver(0, v);
        self.drain()
    }

    /// The runner's current value finishes if the gate is open, then the
    /// queue runs; `true` when the runner is done.
    fn drain(&mut self) -> bool {
        loop {
            if self.gate_closed {
                return false;
            }
            self.boundary();
            match self.queue.pop_front() {
                Some(next) => self.deliver(0, next),
                None => {
                    self.running = false;
                    return true;
                }
            }
        }
    }
}

// === the real thing ===

enum Runner {
    Notify(Notify<u16>),
    Flush(Flush<u16>),
}

struct LiveRunner {
    runner: Runner,
    wakers: FlagWakers,
}

impl LiveRunner {
    fn poll(&mut self, alt: bool) -> bool {
        let mut cx = Context::from_waker(self.wakers.for_poll(alt));
        match &mut self.runner {
            Runner::Notify(f) => match Pin::new(f).poll(&mut cx) {
                Poll::Ready(r) => {
                    r.expect("no observer fails");
                    true
                }
                Poll::Pending => false,
            },
            Runner::Flush(f) => match Pin::new(f).poll(&mut cx) {
                Poll::Ready(r) => {
                    r.expect("no observer fails");
                    true
                }
                Poll::Pending => false,
            },
        }
    }
}

struct Sink {
    handle: Option<ObserverHandle<u16>>,
    received: Arc<Mutex<Vec<u16>>>,
}

fn recorder(received: &Arc<Mutex<Vec<u16>>>) -> Observer<u16> {
    let received = received.clone();
    Observer::sync(move |v: &u16| received.lock().unwrap().push(*v))
}

fn run(ops: Vec<Op>) {
    let source: Observable<u16> = Observable::new();
    let gate = Arc::new(Mutex::new(Gate::default()));
    let gate_observer = {
        let gate = gate.clone();
        Observer::new(move |_: u16| GateWait(gate.clone()))
    };
    let _gate_handle = source.subscribe(gate_observer);
    // Handles of the nodes (index 0 is the source, kept apart).
    let mut nodes: Vec<Option<Observable<u16>>> = vec![Some(source.clone())];
    let mut sinks: Vec<Sink> = Vec::new();
    let mut runner: Option<LiveRunner> = None;
    let mut next_value: u16 = 0;
    let mut model = Model {
        nodes: vec![ModelNode {
            parent: None,
            batch: Vec::new(),
            last_key: None,
        }],
        sinks: Vec::new(),
        running: false,
        queue: VecDeque::new(),
        gate_closed: false,
    };

    for op in ops.into_iter().take(256) {
        match op {
            Op::Derive { parent, how } => {
                if nodes.len() >= 12 {
                    continue;
                }
                let p = usize::from(parent) % nodes.len();
                let Some(parent_obs) = nodes[p].as_ref() else {
                    continue;
                };
                let derived = match how {
                    Derive::Filter(k) => parent_obs.filter(move |v| v % (u16::from(k) + 2) != 0),
                    Derive::Map(k) => parent_obs.map(move |v| v.wrapping_add(u16::from(k))),
                    Derive::Fork => parent_obs.fork(),
                    Derive::Buffer(c) => parent_obs
                        .buffer(usize::from(c % 4) + 1)
                        .expect("count is positive")
                        .map(|batch| batch.iter().fold(0u16, |a, b| a.wrapping_add(*b))),
                    Derive::AtChange(k) => parent_obs.at_change(move |v| v / (u16::from(k) + 1)),
                };
                nodes.push(Some(derived));
                model.nodes.push(ModelNode {
                    parent: Some((p, how)),
                    batch: Vec::new(),
                    last_key: None,
                });
            }
            Op::DropNode { node } => {
                let n = usize::from(node) % nodes.len();
                if n != 0 {
                    nodes[n] = None;
                }
            }
            Op::Subscribe { node } | Op::SubscribeEventually { node } | Op::Ntimes { node, .. } => {
                if sinks.len() >= 32 {
                    continue;
                }
                let n = usize::from(node) % nodes.len();
                let Some(obs) = nodes[n].as_ref() else {
                    continue;
                };
                let received = Arc::new(Mutex::new(Vec::new()));
                let (handle, countdown, status) = match op {
                    Op::Subscribe { .. } => {
                        (obs.subscribe(recorder(&received)), None, Status::Active)
                    }
                    Op::SubscribeEventually { .. } => {
                        // Only the source runs across operations.
                        let status = if n == 0 && model.running {
                            Status::PendingAdd
                        } else {
                            Status::Active
                        };
                        (obs.subscribe_eventually(recorder(&received)), None, status)
                    }
                    Op::Ntimes { n: count, .. } => {
                        let count = usize::from(count % 4) + 1;
                        let handle = obs
                            .ntimes(recorder(&received), count)
                            .expect("count is positive");
                        (handle, Some(count), Status::Active)
                    }
                    _ => unreachable!(),
                };
                sinks.push(Sink {
                    handle: Some(handle),
                    received,
                });
                model.sinks.push(ModelSink {
                    node: n,
                    countdown,
                    status,
                    live: true,
                    received: Vec::new(),
                });
            }
            Op::Unsubscribe { sink } => {
                if sinks.is_empty() {
                    continue;
                }
                let s = usize::from(sink) % sinks.len();
                let Some(handle) = sinks[s].handle.take() else {
                    continue;
                };
                let removed = handle.unsubscribe();
                assert_eq!(removed, model.sinks[s].live, "sink {s}: unsubscribe");
                model.sinks[s].live = false;
            }
            Op::UnsubscribeEventually { sink } => {
                if sinks.is_empty() {
                    continue;
                }
                let s = usize::from(sink) % sinks.len();
                let Some(handle) = sinks[s].handle.take() else {
                    continue;
                };
                handle.unsubscribe_eventually();
                let m = &mut model.sinks[s];
                if m.live {
                    if m.node == 0 && model.running && m.status != Status::PendingAdd {
                        m.status = Status::PendingRemove;
                    } else {
                        m.live = false;
                    }
                }
            }
            Op::Notify | Op::NotifySequential => {
                // A sequential notification calls the gate (subscribed
                // first) before the sinks: the model's "delivered at start"
                // holds only if it runs to the end at once.
                if matches!(op, Op::NotifySequential) && (model.running || model.gate_closed) {
                    continue;
                }
                next_value = next_value.wrapping_add(1);
                let v = next_value;
                let fut = if matches!(op, Op::Notify) {
                    source.notify(v)
                } else {
                    source.notify_sequential(v)
                };
                let mut live = LiveRunner {
                    runner: Runner::Notify(fut),
                    wakers: FlagWakers::new(),
                };
                let ready = live.poll(false);
                if model.running {
                    model.queue.push_back(v);
                    assert!(ready, "a notify behind a runner is queued at once");
                } else {
                    // Orphans first.
                    model.queue.push_back(v);
                    let first = model.queue.pop_front().expect("just pushed");
                    let done = model.start(first);
                    assert_eq!(ready, done, "notify {v}");
                    if !done {
                        assert!(runner.is_none());
                        runner = Some(live);
                    }
                }
            }
            Op::OpenGate => {
                let wakers = {
                    let mut g = gate.lock().unwrap();
                    g.closed = false;
                    core::mem::take(&mut g.wakers)
                };
                for w in wakers {
                    w.wake();
                }
                model.gate_closed = false;
                if let Some(live) = &runner {
                    assert!(live.wakers.current_woken(), "the runner was not woken");
                }
            }
            Op::CloseGate => {
                gate.lock().unwrap().closed = true;
                model.gate_closed = true;
            }
            Op::PollRunner { alt } => {
                if let Some(live) = runner.as_mut() {
                    let done = live.poll(alt);
                    assert_eq!(done, model.drain(), "poll of the runner");
                    if done {
                        runner = None;
                    }
                }
            }
            Op::DropRunner => {
                if runner.take().is_some() {
                    model.running = false;
                    // The gate futures of the abandoned value are gone.
                    gate.lock().unwrap().wakers.clear();
                }
            }
            Op::Flush => {
                let mut live = LiveRunner {
                    runner: Runner::Flush(source.flush()),
                    wakers: FlagWakers::new(),
                };
                let ready = live.poll(false);
                if model.running {
                    assert!(!ready, "a flush waits for the runner");
                    continue;
                }
                match model.queue.pop_front() {
                    None => assert!(ready, "nothing to flush"),
                    Some(first) => {
                        let done = model.start(first);
                        assert_eq!(ready, done, "flush");
                        if !done {
                            runner = Some(live);
                        }
                    }
                }
            }
        }
        check(&source, &sinks, &model);
    }

    // Open the gate and let everything finish.
    gate.lock().unwrap().closed = false;
    for w in core::mem::take(&mut gate.lock().unwrap().wakers) {
        w.wake();
    }
    model.gate_closed = false;
    if let Some(mut live) = runner.take() {
        assert!(
            live.poll(false),
            "the runner finishes once the gate is open"
        );
        assert!(model.drain());
    }
    let mut flush = LiveRunner {
        runner: Runner::Flush(source.flush()),
        wakers: FlagWakers::new(),
    };
    assert!(flush.poll(false));
    if let Some(first) = model.queue.pop_front() {
        // Orphans, run by the flush: no boundary before the first.
        assert!(model.start(first));
    }
    check(&source, &sinks, &model);
    assert!(source.is_idle());
}

fn check(source: &Observable<u16>, sinks: &[Sink], model: &Model) {
    for (i, (sink, m)) in sinks.iter().zip(&model.sinks).enumerate() {
        assert_eq!(*sink.received.lock().unwrap(), m.received, "sink {i}");
    }
    assert_eq!(source.queued(), model.queue.len());
    assert_eq!(source.is_idle(), !model.running && model.queue.is_empty());
}
