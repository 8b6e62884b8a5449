//! `PrioritySemaphore` against tokio's `Semaphore`, async-lock 3's
//! `Semaphore` and maitake-sync 0.3's `Semaphore`: nanoseconds per
//! acquire + release.
//!
//! * uncontended `try_acquire`: take one permit and drop it, on one thread.
//! * uncontended `acquire`: build the acquire future, poll it once (it is
//!   ready: a permit is free) with a no-op waker, drop the permit. No
//!   runtime, so only the semaphore is measured.
//! * contended: 64 tasks on a tokio runtime with 2 workers share 4 permits;
//!   each acquires one, yields to the scheduler while holding it, and
//!   releases it. ns per acquire = wall time / acquires (throughput of the
//!   2 cores). Ours with every task at priority 0.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use asyncutils_bench::{CountingAlloc, Table, time_loop};
use asyncutils_core::locks::PrioritySemaphore;
use tokio::runtime::{Builder, Runtime};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const PERMITS: usize = 4;
const TASKS: u64 = 64;

/// Polls a future that must be ready at once.
fn now<F: Future>(f: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(f).poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("a permit was free"),
    }
}

fn ours() -> Arc<PrioritySemaphore> {
    Arc::new(PrioritySemaphore::new(PERMITS).expect("valid"))
}

fn tokio_sem() -> Arc<tokio::sync::Semaphore> {
    Arc::new(tokio::sync::Semaphore::new(PERMITS))
}

fn lock_sem() -> Arc<async_lock::Semaphore> {
    Arc::new(async_lock::Semaphore::new(PERMITS))
}

fn maitake_sem() -> Arc<maitake_sync::Semaphore> {
    Arc::new(maitake_sync::Semaphore::new(PERMITS))
}

/// The contended workload: `TASKS` tasks share `n` acquires of `op`.
fn contended<S, F, Fut>(rt: &Runtime, sem: Arc<S>, n: u64, op: F) -> Duration
where
    S: Send + Sync + 'static,
    F: Fn(Arc<S>) -> Fut + Send + Sync + Copy + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let start = Instant::now();
    rt.block_on(async move {
        let handles: Vec<_> = (0..TASKS)
            .map(|i| {
                let sem = sem.clone();
                let count = n / TASKS + u64::from(i < n % TASKS);
                tokio::spawn(async move {
                    for _ in 0..count {
                        op(sem.clone()).await;
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

async fn ours_op(sem: Arc<PrioritySemaphore>) {
    let permit = sem.acquire(0).await.expect("open");
    tokio::task::yield_now().await;
    drop(black_box(permit));
}

async fn tokio_op(sem: Arc<tokio::sync::Semaphore>) {
    let permit = sem.acquire().await.expect("open");
    tokio::task::yield_now().await;
    drop(black_box(permit));
}

async fn lock_op(sem: Arc<async_lock::Semaphore>) {
    let permit = sem.acquire().await;
    tokio::task::yield_now().await;
    drop(black_box(permit));
}

async fn maitake_op(sem: Arc<maitake_sync::Semaphore>) {
    let permit = sem.acquire(1).await.expect("open");
    tokio::task::yield_now().await;
    drop(black_box(permit));
}

fn main() {
    let mut t = Table::new(
        "PrioritySemaphore vs tokio / async-lock 3 / maitake-sync 0.3 Semaphore",
        "acquire",
    );

    let (o, tk, al, mk) = (ours(), tokio_sem(), lock_sem(), maitake_sem());
    t.compare(
        "uncontended try_acquire (vs tokio)",
        |n| time_loop(n, |_| drop(black_box(o.try_acquire().expect("free")))),
        "tokio",
        |n| time_loop(n, |_| drop(black_box(tk.try_acquire().expect("free")))),
    );
    t.compare(
        "uncontended try_acquire (vs async-lock)",
        |n| time_loop(n, |_| drop(black_box(o.try_acquire().expect("free")))),
        "async-lock",
        |n| time_loop(n, |_| drop(black_box(al.try_acquire().expect("free")))),
    );
    t.compare(
        "uncontended try_acquire (vs maitake-sync)",
        |n| time_loop(n, |_| drop(black_box(o.try_acquire().expect("free")))),
        "maitake-sync",
        |n| time_loop(n, |_| drop(black_box(mk.try_acquire(1).expect("free")))),
    );
    t.compare(
        "uncontended acquire, ready at first poll (vs tokio)",
        |n| time_loop(n, |_| drop(black_box(now(o.acquire(0))))),
        "tokio",
        |n| time_loop(n, |_| drop(black_box(now(tk.acquire())))),
    );
    t.compare(
        "uncontended acquire, ready at first poll (vs async-lock)",
        |n| time_loop(n, |_| drop(black_box(now(o.acquire(0))))),
        "async-lock",
        |n| time_loop(n, |_| drop(black_box(now(al.acquire())))),
    );
    t.compare(
        "uncontended acquire, ready at first poll (vs maitake-sync)",
        |n| time_loop(n, |_| drop(black_box(now(o.acquire(0))))),
        "maitake-sync",
        |n| time_loop(n, |_| drop(black_box(now(mk.acquire(1))))),
    );

    let contended_cases = [
        "contended 64 tasks / 4 permits, tokio 2 workers (vs maitake-sync)",
        "contended 64 tasks / 4 permits, tokio 2 workers (vs tokio)",
        "contended 64 tasks / 4 permits, tokio 2 workers (vs async-lock)",
    ];
    if contended_cases.iter().any(|c| t.selected(c)) {
        let rt = Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .expect("tokio runtime");
        t.compare(
            contended_cases[0],
            |n| contended(&rt, ours(), n, ours_op),
            "maitake-sync",
            |n| contended(&rt, maitake_sem(), n, maitake_op),
        );
        t.compare(
            contended_cases[1],
            |n| contended(&rt, ours(), n, ours_op),
            "tokio",
            |n| contended(&rt, tokio_sem(), n, tokio_op),
        );
        t.compare(
            contended_cases[2],
            |n| contended(&rt, ours(), n, ours_op),
            "async-lock",
            |n| contended(&rt, lock_sem(), n, lock_op),
        );
    }
    t.finish();
}
