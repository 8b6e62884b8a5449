//! Raising an audit event nobody listens to, against a disabled
//! `tracing::debug!` event: nanoseconds per call.
//!
//! Both sides run in a plain loop on the main thread, with two arguments
//! (a `u64` that changes every iteration and a `&str`), each wrapped in
//! `std::hint::black_box` so nothing can be constant-folded. Neither side
//! evaluates its arguments when disabled, so what is measured is the
//! "is anyone listening?" check and its branch, plus the loop.
//!
//! * `emit!`: `asyncutils_core::emit!(name, n = .., s = ..)` with no listener
//!   on the process-wide hook (one relaxed load and a branch).
//! * `audit::emit`: the function form, which takes an `&[Arg]` built by the
//!   caller, so the two arguments are built every call.
//! * peer, first with **no subscriber installed** (tracing's state before any
//!   `set_global_default`), then with a global subscriber defined here whose
//!   level is INFO (`max_level_hint` INFO, `enabled` for INFO and above), so
//!   `debug!` is disabled by the level filter. The no-subscriber rows run
//!   before the subscriber is installed, in the same process.

use std::hint::black_box;
use std::time::{Duration, Instant};

use asyncutils_bench::{CountingAlloc, Table, time_loop};
use asyncutils_core::audit::{self, Arg, Value};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// A subscriber that records nothing and enables INFO and above.
struct InfoLevel;

impl Subscriber for InfoLevel {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.enabled(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= Level::INFO
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::INFO)
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, _: &Event<'_>) {}

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

#[inline(always)]
fn ours_macro(i: u64) {
    asyncutils_core::emit!("bench.audit", n = black_box(i), s = black_box("value"));
}

#[inline(always)]
fn ours_fn(i: u64) {
    audit::emit(
        "bench.audit",
        &[
            Arg::new("n", Value::from(black_box(i))),
            Arg::new("s", Value::from(black_box("value"))),
        ],
    );
}

#[inline(always)]
fn peer_debug(i: u64) {
    tracing::debug!(n = black_box(i), s = black_box("value"), "bench event");
}

/// Times `iters` calls of `op`, eight per loop iteration, so the loop's own
/// increment and branch (and where the loop happens to be placed in the
/// instruction cache) weigh less against a sub-nanosecond operation.
#[inline(always)]
fn unrolled(iters: u64, op: impl Fn(u64)) -> Duration {
    let start = Instant::now();
    for i in 0..iters / 8 {
        let i = black_box(i);
        op(i);
        op(i);
        op(i);
        op(i);
        op(i);
        op(i);
        op(i);
        op(i);
    }
    for i in 0..iters % 8 {
        op(black_box(i));
    }
    start.elapsed()
}

fn main() {
    let mut t = Table::new(
        "audit emit! (no listener) vs disabled tracing::debug!",
        "call",
    );
    assert!(!audit::enabled(), "nobody listens in this process");

    t.compare(
        "emit! 2 args vs debug! 2 fields, no subscriber",
        |n| time_loop(n, ours_macro),
        "tracing",
        |n| time_loop(n, peer_debug),
    );
    t.compare(
        "emit! 2 args vs debug! 2 fields, no subscriber, unrolled x8",
        |n| unrolled(n, ours_macro),
        "tracing",
        |n| unrolled(n, peer_debug),
    );
    t.compare(
        "audit::emit(name, &[Arg; 2]) vs debug! 2 fields, no subscriber",
        |n| time_loop(n, ours_fn),
        "tracing",
        |n| time_loop(n, peer_debug),
    );

    tracing::subscriber::set_global_default(InfoLevel).expect("first global subscriber");
    assert!(!tracing::enabled!(Level::DEBUG) && tracing::enabled!(Level::INFO));

    t.compare(
        "emit! 2 args vs debug! 2 fields, INFO-level subscriber",
        |n| time_loop(n, ours_macro),
        "tracing",
        |n| time_loop(n, peer_debug),
    );
    t.compare(
        "emit! 2 args vs debug! 2 fields, INFO-level subscriber, unrolled x8",
        |n| unrolled(n, ours_macro),
        "tracing",
        |n| unrolled(n, peer_debug),
    );
    t.finish();
}
