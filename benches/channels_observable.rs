//! `Observable<u64>` notifying sync observers, against the lower bound of a
//! hand-rolled `Vec<Box<dyn Fn(&u64)>>` called in a loop: nanoseconds per
//! notification.
//!
//! There is no runtime-agnostic observable crate to compare with (the
//! debounce/throttle peers, futures-time and tokio-stream, are stream
//! adapters tied to one runtime's timer), so the peer here is the cheapest
//! possible fan-out: what ours costs on top of calling the closures is the
//! bookkeeping (a lock, a snapshot `Arc`, idle/queue accounting).
//!
//! * `notify, 16 sync observers`: one notification reaching 16 closures
//!   that add the value to an atomic. Ours polls `notify(v)` once on the
//!   stack with a no-op waker (it completes in that poll).
//! * `notify through filter -> map, 1 observer`: a two-operator pipeline;
//!   the peer is the same two closures composed by hand.

use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};

use asyncutils_bench::{CountingAlloc, Table, time_loop};
use asyncutils_core::channels::{Observable, Observer};

/// The peer's observer list entry.
type Callback = Box<dyn Fn(&u64) + Send + Sync>;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn notify_now(obs: &Observable<u64>, v: u64) {
    let fut = pin!(obs.notify(v));
    match fut.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(r) => r.expect("no observer fails"),
        Poll::Pending => unreachable!("sync observers complete in the first poll"),
    }
}

fn main() {
    let mut table = Table::new("Observable: notifying sync observers", "notify");

    let sum = Arc::new(AtomicU64::new(0));
    let obs = Observable::new();
    let _handles: Vec<_> = (0..16)
        .map(|_| {
            let sum = sum.clone();
            obs.subscribe(Observer::sync(move |v: &u64| {
                sum.fetch_add(*v, Ordering::Relaxed);
            }))
        })
        .collect();
    let closures: Vec<Callback> = (0..16)
        .map(|_| {
            let sum = sum.clone();
            Box::new(move |v: &u64| {
                sum.fetch_add(*v, Ordering::Relaxed);
            }) as Callback
        })
        .collect();
    table.compare(
        "notify, 16 sync observers",
        |iters| time_loop(iters, |i| notify_now(&obs, black_box(i))),
        "hand-rolled Vec<Box<dyn Fn>>",
        |iters| {
            time_loop(iters, |i| {
                let v = black_box(i);
                for f in &closures {
                    f(&v);
                }
            })
        },
    );

    let source = Observable::new();
    let piped = source.filter(|v| v & 1 == 0).map(|v| v * 3);
    let s = sum.clone();
    let _h = piped.subscribe(Observer::sync(move |v: &u64| {
        s.fetch_add(*v, Ordering::Relaxed);
    }));
    let filter = |v: &u64| v & 1 == 0;
    let map = |v: &u64| v * 3;
    let s = sum.clone();
    let sink = move |v: &u64| {
        s.fetch_add(*v, Ordering::Relaxed);
    };
    table.compare(
        "notify through filter -> map, 1 observer",
        |iters| time_loop(iters, |i| notify_now(&source, black_box(i))),
        "hand-rolled closures",
        |iters| {
            time_loop(iters, |i| {
                let v = black_box(i);
                if filter(&v) {
                    sink(&map(&v));
                }
            })
        },
    );

    table.finish();
    black_box(sum.load(Ordering::Relaxed));
}
