//! A small side-by-side benchmark harness: each case runs our primitive and
//! its peer crate on the same workload in the same process, and prints one
//! markdown table per bench file with the ratio ours/peer.
//!
//! # Running
//!
//! ```text
//! cargo bench -p asyncutils-bench                                # every table
//! cargo bench -p asyncutils-bench --bench channels_rendezvous   # one file
//! cargo bench -p asyncutils-bench --bench audit_emit -- macro   # cases whose name contains "macro"
//! ASYNCUTILS_BENCH_QUICK=1 cargo bench -p asyncutils-bench      # smoke test, ~20x shorter
//! ```
//!
//! # Method
//!
//! Every side of a case is a function `FnMut(iters) -> Duration` that runs
//! `iters` operations and returns how long they took (it times itself, so
//! setup such as building a channel or spawning tasks can stay outside or be
//! amortised over `iters`). For each side the harness:
//!
//! 1. calibrates: grows `iters` until one run lasts at least the target
//!    (50 ms; 2.5 ms with `ASYNCUTILS_BENCH_QUICK=1`), which also warms up;
//! 2. runs once more at that count with the counting allocator on, to report
//!    allocations per operation;
//! 3. takes 7 samples, interleaving ours and the peer (ours, peer, ours, ...)
//!    so that a slow phase of this noisy shared machine hits both alike.
//!
//! The table shows the median ns/op of each side and `ratio` = ours / peer
//! (below 1.0: ours is faster). The spread (min–max) and allocations per
//! operation of each side go to stderr, one line per case. Only the
//! ordering within one run means anything; compare ratios, not absolute
//! figures across runs.
//!
//! # Environment and arguments
//!
//! * Positional arguments are case filters: a case runs if its name
//!   contains any of them (no filter: every case). Cargo's own `--bench`
//!   flag is ignored.
//! * `ASYNCUTILS_BENCH_QUICK=1`: 2.5 ms samples instead of 50 ms.
//! * `ASYNCUTILS_BENCH_SIDE=ours` or `=peer`: run only that side.
//! * `ASYNCUTILS_BENCH_ITERS=N`: no calibration; one warm-up run and one
//!   sample of exactly `N` operations per side. Deterministic work, for
//!   instruction counting.
//!
//! # Hangs
//!
//! A watchdog thread ends the process with exit code 2, naming the case and
//! side, when one case runs longer than five minutes: a peer (or ours) that
//! deadlocks fails the run instead of stalling it.
//!
//! # Counting instructions with callgrind
//!
//! Wall time on a 2-core shared machine is noisy; instruction counts are
//! not. Build the bench binaries, then run one case, one side, a fixed
//! number of operations, collecting only inside [`measure_sample`] (the
//! warm-up run and the setup are not counted):
//!
//! ```text
//! cargo bench -p asyncutils-bench --no-run          # prints the binary paths
//! ASYNCUTILS_BENCH_SIDE=ours ASYNCUTILS_BENCH_ITERS=100000 \
//!   valgrind --tool=callgrind --collect-atstart=no \
//!     '--toggle-collect=*measure_sample*' \
//!     --callgrind-out-file=ours.cg \
//!     <target>/release/deps/channels_rendezvous-<hash> 'spsc, tokio current-thread (vs kanal)'
//! callgrind_annotate --inclusive=yes ours.cg | head -40
//! ```
//!
//! Give the full case name: a filter that matches several cases runs our
//! side once per case. Divide the total `Ir` by `ASYNCUTILS_BENCH_ITERS`
//! for instructions per operation, and repeat with
//! `ASYNCUTILS_BENCH_SIDE=peer` for the peer. Collection follows the thread that calls `measure_sample`, so count
//! single-threaded cases (synchronous ones, and the tokio current-thread
//! runtime); for multi-thread runtimes use `--collect-atstart=yes` and
//! subtract a run with a smaller `ASYNCUTILS_BENCH_ITERS`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Samples per side.
const SAMPLES: usize = 7;
/// Minimum length of one sample.
const TARGET: Duration = Duration::from_millis(50);
/// How much `ASYNCUTILS_BENCH_QUICK=1` shortens each sample.
const QUICK_DIVISOR: u32 = 20;
/// How long one case may run before the watchdog calls it hung.
const CASE_LIMIT: Duration = Duration::from_secs(300);

// === counting allocator ===

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);
static ALLOC_BYTES: AtomicU64 = AtomicU64::new(0);

/// The system allocator, counting allocations (and bytes) while
/// [`count_allocs`] runs. Outside that, the cost is one relaxed load per
/// allocation.
///
/// Each bench file installs it:
///
/// ```
/// #[global_allocator]
/// static ALLOC: asyncutils_bench::CountingAlloc = asyncutils_bench::CountingAlloc;
///
/// fn main() {
///     let (v, allocs, bytes) = asyncutils_bench::count_allocs(|| vec![0u8; 64]);
///     assert_eq!((v.len(), allocs, bytes), (64, 1, 64));
/// }
/// ```
#[derive(Debug)]
pub struct CountingAlloc;

// SAFETY: every method forwards to `System` with the caller's arguments;
// counting touches only atomics.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            ALLOC_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; `ptr` came from `System` via `alloc`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            ALLOC_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            ALLOC_BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocations made while `f` ran (by any thread): `(count, bytes)`.
///
/// Only meaningful when [`CountingAlloc`] is the global allocator; the
/// counter is process-wide, so run one counted section at a time.
pub fn count_allocs<R>(f: impl FnOnce() -> R) -> (R, u64, u64) {
    let (a0, b0) = (
        ALLOCS.load(Ordering::Relaxed),
        ALLOC_BYTES.load(Ordering::Relaxed),
    );
    COUNTING.store(true, Ordering::SeqCst);
    let r = f();
    COUNTING.store(false, Ordering::SeqCst);
    let (a1, b1) = (
        ALLOCS.load(Ordering::Relaxed),
        ALLOC_BYTES.load(Ordering::Relaxed),
    );
    (r, a1 - a0, b1 - b0)
}

// === timing helpers ===

/// Times `iters` calls of `op(i)`; the index goes through
/// [`black_box`] so the loop cannot be folded away.
#[inline(always)]
pub fn time_loop(iters: u64, mut op: impl FnMut(u64)) -> Duration {
    let start = Instant::now();
    for i in 0..iters {
        op(black_box(i));
    }
    start.elapsed()
}

/// Runs one sample: the function callgrind's `--toggle-collect` targets.
#[inline(never)]
pub fn measure_sample(side: &mut dyn FnMut(u64) -> Duration, iters: u64) -> Duration {
    side(iters)
}

// === configuration ===

/// Which sides of each case to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Ours and the peer.
    Both,
    /// Ours only.
    Ours,
    /// The peer only.
    Peer,
}

/// Settings read from the environment and the command line.
#[derive(Debug, Clone)]
pub struct Config {
    /// Minimum length of a sample.
    pub target: Duration,
    /// Samples per side.
    pub samples: usize,
    /// Case-name filters (substrings); empty runs every case.
    pub filters: Vec<String>,
    /// Sides to run.
    pub side: Side,
    /// Fixed operation count (no calibration), for instruction counting.
    pub fixed_iters: Option<u64>,
    /// Whether `ASYNCUTILS_BENCH_QUICK` is set.
    pub quick: bool,
}

impl Config {
    /// Reads `ASYNCUTILS_BENCH_*` and the positional arguments.
    ///
    /// # Panics
    ///
    /// On a malformed `ASYNCUTILS_BENCH_SIDE` or `ASYNCUTILS_BENCH_ITERS`.
    #[must_use]
    pub fn from_env() -> Self {
        let quick =
            std::env::var("ASYNCUTILS_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let side = match std::env::var("ASYNCUTILS_BENCH_SIDE").as_deref() {
            Err(_) | Ok("" | "both") => Side::Both,
            Ok("ours") => Side::Ours,
            Ok("peer") => Side::Peer,
            Ok(other) => panic!("ASYNCUTILS_BENCH_SIDE={other}: expected ours, peer or both"),
        };
        let fixed_iters = std::env::var("ASYNCUTILS_BENCH_ITERS").ok().map(|v| {
            v.parse::<u64>().ok().filter(|&n| n > 0).unwrap_or_else(|| {
                panic!("ASYNCUTILS_BENCH_ITERS={v}: expected a positive integer")
            })
        });
        // `cargo bench` passes `--bench`; libtest-style flags are ignored too.
        let filters = std::env::args()
            .skip(1)
            .filter(|a| !a.starts_with('-'))
            .collect();
        Config {
            target: if quick {
                TARGET / QUICK_DIVISOR
            } else {
                TARGET
            },
            samples: if fixed_iters.is_some() { 1 } else { SAMPLES },
            filters,
            side,
            fixed_iters,
            quick,
        }
    }
}

// === the watchdog ===

/// The case and side running now, and since when.
static RUNNING: std::sync::Mutex<Option<(String, &'static str, Instant)>> =
    std::sync::Mutex::new(None);

fn running() -> std::sync::MutexGuard<'static, Option<(String, &'static str, Instant)>> {
    RUNNING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Starts the watchdog thread once per process.
fn start_watchdog() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        std::thread::spawn(|| {
            loop {
                std::thread::sleep(Duration::from_secs(1));
                if let Some((case, side, since)) = running().as_ref()
                    && since.elapsed() > CASE_LIMIT
                {
                    eprintln!(
                        "bench case '{case}', side {side}: still running after {:?}; \
                         treating it as hung",
                        CASE_LIMIT
                    );
                    std::process::exit(2);
                }
            }
        });
    });
}

/// Marks `side` of `case` as running until the returned guard drops.
fn watch(case: &str, side: &'static str) -> impl Drop {
    struct Done;
    impl Drop for Done {
        fn drop(&mut self) {
            *running() = None;
        }
    }
    *running() = Some((case.to_owned(), side, Instant::now()));
    Done
}

// === the table ===

/// One bench file's comparison table.
#[derive(Debug)]
pub struct Table {
    config: Config,
    title: String,
    unit: &'static str,
    rows: Vec<String>,
    sizes: Vec<String>,
}

/// Median and spread of one side, ns per operation.
#[derive(Debug, Clone, Copy)]
struct Stats {
    median: f64,
    min: f64,
    max: f64,
    allocs_per_op: f64,
}

impl Table {
    /// A table titled `title`; `unit` names what one operation is (e.g.
    /// `"message"`), for the header.
    #[must_use]
    pub fn new(title: &str, unit: &'static str) -> Self {
        let config = Config::from_env();
        start_watchdog();
        eprintln!(
            "# {title}: {} samples of >= {:?} per side{}",
            config.samples,
            config.target,
            if config.quick { " (quick)" } else { "" }
        );
        Table {
            config,
            title: title.to_owned(),
            unit,
            rows: Vec::new(),
            sizes: Vec::new(),
        }
    }

    /// The settings in force.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether `case` passes the command-line filters.
    #[must_use]
    pub fn selected(&self, case: &str) -> bool {
        self.config.filters.is_empty()
            || self
                .config
                .filters
                .iter()
                .any(|f| case.contains(f.as_str()))
    }

    /// Measures `ours` against `peer` (named `peer_name`) and adds a row.
    ///
    /// Each side runs `iters` operations and returns the time they took.
    pub fn compare<O, P>(&mut self, case: &str, ours: O, peer_name: &str, peer: P)
    where
        O: FnMut(u64) -> Duration,
        P: FnMut(u64) -> Duration,
    {
        if !self.selected(case) {
            return;
        }
        let mut ours = ours;
        let mut peer = peer;
        let run_ours = self.config.side != Side::Peer;
        let run_peer = self.config.side != Side::Ours;
        let ours_iters = run_ours.then(|| {
            let _watch = watch(case, "ours");
            self.prepare(&mut ours)
        });
        let peer_iters = run_peer.then(|| {
            let _watch = watch(case, "peer");
            self.prepare(&mut peer)
        });
        let mut ours_ns = Vec::with_capacity(self.config.samples);
        let mut peer_ns = Vec::with_capacity(self.config.samples);
        for _ in 0..self.config.samples {
            if let Some((n, _)) = ours_iters {
                let _watch = watch(case, "ours");
                ours_ns.push(per_op(measure_sample(&mut ours, n), n));
            }
            if let Some((n, _)) = peer_iters {
                let _watch = watch(case, "peer");
                peer_ns.push(per_op(measure_sample(&mut peer, n), n));
            }
        }
        let ours = ours_iters.map(|(_, allocs)| stats(ours_ns, allocs));
        let peer = peer_iters.map(|(_, allocs)| stats(peer_ns, allocs));
        let fmt = |s: Option<Stats>| s.map_or_else(|| "-".to_owned(), |s| format_ns(s.median));
        let ratio = match (ours, peer) {
            (Some(o), Some(p)) => format!("{:.2}", o.median / p.median),
            _ => "-".to_owned(),
        };
        let detail = |s: Option<Stats>| {
            s.map_or_else(
                || "skipped".to_owned(),
                |s| {
                    format!(
                        "{} ns [{}..{}], {:.2} allocs/op",
                        format_ns(s.median),
                        format_ns(s.min),
                        format_ns(s.max),
                        s.allocs_per_op
                    )
                },
            )
        };
        eprintln!(
            "  {case}: ours {} | {peer_name} {}",
            detail(ours),
            detail(peer)
        );
        self.rows.push(format!(
            "| {case} | {} | {peer_name} | {} | {ratio} |",
            fmt(ours),
            fmt(peer)
        ));
    }

    /// Adds a line to the sizes section printed under the table:
    /// `size_of` (and heap bytes at construction) of ours beside the peer's.
    pub fn size(&mut self, what: &str, ours: &str, peer_name: &str, peer: &str) {
        self.sizes
            .push(format!("| {what} | {ours} | {peer_name} | {peer} |"));
    }

    /// Calibrates (and so warms up) one side, then runs it once more
    /// counting allocations. Returns the operation count per sample and the
    /// allocations per operation.
    fn prepare(&self, side: &mut dyn FnMut(u64) -> Duration) -> (u64, f64) {
        let iters = match self.config.fixed_iters {
            Some(n) => n,
            None => calibrate(side, self.config.target),
        };
        let (_, allocs, _) = count_allocs(|| side(iters));
        (iters, allocs as f64 / iters as f64)
    }

    /// Prints the table (and sizes, if any) to stdout.
    pub fn finish(self) {
        let mut out = String::new();
        let _ = writeln!(out, "\n### {}\n", self.title);
        let _ = writeln!(
            out,
            "| case | ours ns/{0} | peer | peer ns/{0} | ratio ours/peer |",
            self.unit
        );
        let _ = writeln!(out, "|---|---:|---|---:|---:|");
        for row in &self.rows {
            let _ = writeln!(out, "{row}");
        }
        if !self.sizes.is_empty() {
            let _ = writeln!(out, "\nMemory (bytes):\n");
            let _ = writeln!(out, "| what | ours | peer | peer bytes |");
            let _ = writeln!(out, "|---|---:|---|---:|");
            for row in &self.sizes {
                let _ = writeln!(out, "{row}");
            }
        }
        print!("{out}");
    }
}

/// Grows `iters` until one run lasts at least `target`; returns it.
fn calibrate(side: &mut dyn FnMut(u64) -> Duration, target: Duration) -> u64 {
    let mut iters: u64 = 1;
    loop {
        let took = side(iters);
        if took >= target {
            // One more run at the final count finishes the warm-up.
            side(iters);
            return iters;
        }
        // Aim 20% past the target, growing at least 2x and at most 100x.
        let factor = if took.is_zero() {
            100.0
        } else {
            (target.as_secs_f64() * 1.2 / took.as_secs_f64()).clamp(2.0, 100.0)
        };
        iters = ((iters as f64) * factor).ceil() as u64;
    }
}

fn per_op(took: Duration, iters: u64) -> f64 {
    took.as_nanos() as f64 / iters as f64
}

fn stats(mut ns: Vec<f64>, allocs_per_op: f64) -> Stats {
    ns.sort_by(f64::total_cmp);
    Stats {
        median: ns[ns.len() / 2],
        min: ns[0],
        max: ns[ns.len() - 1],
        allocs_per_op,
    }
}

fn format_ns(ns: f64) -> String {
    if ns < 10.0 {
        format!("{ns:.2}")
    } else if ns < 100.0 {
        format!("{ns:.1}")
    } else {
        format!("{ns:.0}")
    }
}

/// Splits `n` into `parts` counts that add up to `n` (the first `n % parts`
/// get one more): how the multi-task workloads share their operations.
pub fn split(n: u64, parts: u64) -> impl Iterator<Item = u64> {
    (0..parts).map(move |i| n / parts + u64::from(i < n % parts))
}

/// A channel as the producer/consumer workloads drive it: cloneable ends
/// with an async send and receive of `u64`.
pub trait Channel: 'static {
    /// The sending end.
    type Tx: Clone + Send + Sync + 'static;
    /// The receiving end.
    type Rx: Clone + Send + Sync + 'static;
    /// Sends `v`, waiting as the channel makes it.
    fn send(tx: &Self::Tx, v: u64) -> impl std::future::Future<Output = ()> + Send + '_;
    /// Receives a value, waiting as the channel makes it.
    fn recv(rx: &Self::Rx) -> impl std::future::Future<Output = u64> + Send + '_;
}

/// `producers` tasks send and `consumers` tasks receive `n` values in all
/// through `ends`, on `rt`; returns the wall time of the whole exchange.
///
/// # Panics
///
/// If a task panics.
pub fn producers_consumers<C: Channel>(
    rt: &tokio::runtime::Runtime,
    ends: (C::Tx, C::Rx),
    producers: u64,
    consumers: u64,
    n: u64,
) -> Duration {
    let (tx, rx) = ends;
    let start = Instant::now();
    let sum = rt.block_on(async move {
        let receivers: Vec<_> = split(n, consumers)
            .map(|count| {
                let rx = rx.clone();
                tokio::spawn(async move {
                    let mut sum = 0u64;
                    for _ in 0..count {
                        sum = sum.wrapping_add(C::recv(&rx).await);
                    }
                    sum
                })
            })
            .collect();
        let senders: Vec<_> = split(n, producers)
            .map(|count| {
                let tx = tx.clone();
                tokio::spawn(async move {
                    for i in 0..count {
                        C::send(&tx, i).await;
                    }
                })
            })
            .collect();
        for s in senders {
            s.await.expect("producer panicked");
        }
        let mut sum = 0u64;
        for r in receivers {
            sum = sum.wrapping_add(r.await.expect("consumer panicked"));
        }
        sum
    });
    let took = start.elapsed();
    black_box(sum);
    took
}

/// `tasks` tokio tasks on `rt` share `n` calls of `op`; returns the wall
/// time of the whole run.
///
/// # Panics
///
/// If a task panics.
pub fn on_tasks<R: 'static>(
    rt: &tokio::runtime::Runtime,
    tasks: u64,
    n: u64,
    op: std::sync::Arc<dyn Fn() -> R + Send + Sync>,
) -> Duration {
    let start = Instant::now();
    rt.block_on(async {
        let handles: Vec<_> = split(n, tasks)
            .map(|count| {
                let op = op.clone();
                tokio::spawn(async move {
                    for _ in 0..count {
                        black_box(op());
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.expect("task panicked");
        }
    });
    start.elapsed()
}

/// `threads` OS threads share `n` calls of `op`; returns the wall time of
/// the whole run.
pub fn on_threads<R>(threads: u64, n: u64, op: &(dyn Fn() -> R + Sync)) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for count in split(n, threads) {
            s.spawn(move || {
                for _ in 0..count {
                    black_box(op());
                }
            });
        }
    });
    start.elapsed()
}
