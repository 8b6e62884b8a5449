//! Scenarios shared by the FIFO queue types, written once over
//! [`TestQueue`] and run for `SmartQueue` and `FixedQueue` by their test
//! files: handoff and arrival order across tasks, timeouts, tasks and
//! blocking threads mixed on one queue, and the drop-at-every-poll-point
//! checks of `get` and `put`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use asyncutils_core::queues::{FixedQueue, SmartQueue};
use asyncutils_core::rt::JoinHandle;

use crate::cancel::{Subject, drop_at_every_poll_point};
use crate::{Manual, TestClock, TestRuntime, Tracked, assert_elapsed, until};

/// What the shared scenarios need of a FIFO queue of `T`.
pub trait TestQueue<T>: Send + Sync + 'static {
    /// Waits for room; `Err` with the value once closed.
    fn put(&self, v: T) -> impl Future<Output = Result<(), T>> + Send + '_;
    /// Waits for an item; `None` once closed and drained.
    fn get(&self) -> impl Future<Output = Option<T>> + Send + '_;
    /// Puts without waiting; `Err` with the value if refused.
    fn try_put(&self, v: T) -> Result<(), T>;
    /// Takes without waiting.
    fn try_get(&self) -> Option<T>;
    /// [`put`](Self::put), blocking the thread.
    fn blocking_put(&self, v: T) -> Result<(), T>;
    /// [`get`](Self::get), blocking the thread at most `timeout`.
    fn blocking_get(&self, timeout: Option<Duration>) -> Option<T>;
    /// Closes for puts; gets drain.
    fn close(&self);
    /// The number of items.
    fn len(&self) -> usize;
    /// Whether no item is left.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Getters waiting in line.
    fn waiting_getters(&self) -> usize;
    /// Putters waiting in line.
    fn waiting_putters(&self) -> usize;
}

/// The one implementation, for every queue type with the same inherent
/// methods.
macro_rules! test_queue {
    ($(#[$m:meta])* impl[$($g:tt)*] $ty:ty) => {
        $(#[$m])*
        impl<T: Send + 'static, $($g)*> TestQueue<T> for $ty {
            async fn put(&self, v: T) -> Result<(), T> {
                <$ty>::put(self, v).await.map_err(|e| e.0)
            }

            async fn get(&self) -> Option<T> {
                <$ty>::get(self).await.ok()
            }

            fn try_put(&self, v: T) -> Result<(), T> {
                <$ty>::try_put(self, v).map_err(|e| e.into_inner())
            }

            fn try_get(&self) -> Option<T> {
                <$ty>::try_get(self).ok()
            }

            fn blocking_put(&self, v: T) -> Result<(), T> {
                <$ty>::blocking_put(self, v).map_err(|e| e.0)
            }

            fn blocking_get(&self, timeout: Option<Duration>) -> Option<T> {
                match timeout {
                    Some(t) => self.blocking_get_timeout(t).ok(),
                    None => <$ty>::blocking_get(self).ok(),
                }
            }

            fn close(&self) {
                <$ty>::close(self);
            }

            fn len(&self) -> usize {
                <$ty>::len(self)
            }

            fn waiting_getters(&self) -> usize {
                <$ty>::waiting_getters(self)
            }

            fn waiting_putters(&self) -> usize {
                <$ty>::waiting_putters(self)
            }
        }
    };
}

test_queue!(impl[] SmartQueue<T>);
test_queue!(impl[const N: usize] FixedQueue<T, N>);

async fn join_all<T>(handles: Vec<JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("task finished"));
    }
    out
}

// === across tasks ===

/// A getter task waits for an item, then a putter task for room. `q` has a
/// capacity of 1.
pub async fn handoff_across_tasks_both_ways<Q: TestQueue<u32>, R: TestRuntime>(rt: R, q: Arc<Q>) {
    let getter = rt.spawn({
        let q = q.clone();
        async move { q.get().await }
    });
    until(|| q.waiting_getters() == 1).await;
    q.put(7).await.expect("open");
    assert_eq!(getter.await.expect("getter"), Some(7));

    q.put(1).await.expect("open");
    let putter = rt.spawn({
        let q = q.clone();
        async move { q.put(2).await }
    });
    until(|| q.waiting_putters() == 1).await;
    assert!(!putter.is_finished());
    assert_eq!(q.get().await, Some(1));
    assert_eq!(putter.await.expect("putter"), Ok(()));
    assert_eq!(q.get().await, Some(2));
}

/// Six getter tasks queue one after another; items put one at a time reach
/// them in arrival order.
pub async fn waiting_getters_are_served_in_arrival_order<Q: TestQueue<usize>, R: TestRuntime>(
    rt: R,
    q: Arc<Q>,
) {
    const N: usize = 6;
    let mut getters = Vec::new();
    for i in 0..N {
        let task_q = q.clone();
        getters.push(rt.spawn(async move { task_q.get().await }));
        until(|| q.waiting_getters() == i + 1).await;
    }
    for i in 0..N {
        q.put(i).await.expect("open");
        // Let the served getter take its item before the next put, so the
        // assignment of items to getters is observable.
        until(|| q.is_empty()).await;
    }
    let got: Vec<_> = join_all(getters)
        .await
        .into_iter()
        .map(|r| r.expect("item"))
        .collect();
    assert_eq!(got, (0..N).collect::<Vec<_>>());
}

/// Six putter tasks queue behind a full queue of capacity 1; their items
/// go in in arrival order.
pub async fn waiting_putters_are_served_in_arrival_order<Q: TestQueue<usize>, R: TestRuntime>(
    rt: R,
    q: Arc<Q>,
) {
    const N: usize = 6;
    q.put(100).await.expect("open");
    let mut putters = Vec::new();
    for i in 0..N {
        let task_q = q.clone();
        putters.push(rt.spawn(async move { task_q.put(i).await }));
        until(|| q.waiting_putters() == i + 1).await;
    }
    let mut got = Vec::new();
    for _ in 0..=N {
        got.push(q.get().await.expect("item"));
    }
    assert!(join_all(putters).await.iter().all(Result::is_ok));
    assert_eq!(got, [100, 0, 1, 2, 3, 4, 5]);
}

/// A get and a put that time out take and insert nothing. `q` is empty,
/// with a capacity of 1.
pub async fn a_timed_out_get_or_put_changes_nothing<Q: TestQueue<u32>, C: TestClock>(
    clock: C,
    q: Q,
) {
    let start = clock.now();
    let got = asyncutils_core::time::timeout(&clock, Duration::from_millis(30), q.get()).await;
    assert!(got.is_err(), "nothing arrived");
    assert_elapsed(&clock, start, Duration::from_millis(30));
    q.put(1).await.expect("open");
    let put = asyncutils_core::time::timeout(&clock, Duration::from_millis(10), q.put(2)).await;
    assert!(put.is_err(), "no room opened");
    assert_eq!(q.len(), 1);
    assert_eq!(q.try_get(), Some(1), "the timed-out put inserted nothing");
    assert_eq!((q.waiting_getters(), q.waiting_putters()), (0, 0));
}

// === blocking threads mixed with tasks ===

/// A blocking producer and consumer thread, an async producer task and this
/// task as consumer share `q`: 75 items, each received exactly once.
pub async fn blocking_threads_and_tasks_share<Q: TestQueue<usize>, R: TestRuntime>(
    rt: R,
    q: Arc<Q>,
) {
    let producer = rt.spawn_blocking({
        let q = q.clone();
        move || {
            for i in 0..50 {
                q.blocking_put(i).expect("open");
            }
        }
    });
    let consumer = rt.spawn_blocking({
        let q = q.clone();
        move || {
            let mut got = Vec::new();
            while let Some(v) = q.blocking_get(Some(Duration::from_secs(30))) {
                got.push(v);
                if got.len() == 25 {
                    break;
                }
            }
            got
        }
    });
    let async_producer = rt.spawn({
        let q = q.clone();
        async move {
            for i in 50..75 {
                q.put(i).await.expect("open");
            }
        }
    });
    let mut mine = Vec::new();
    while mine.len() + 25 < 75 {
        mine.push(q.get().await.expect("item"));
    }
    producer.await.expect("producer");
    async_producer.await.expect("async producer");
    let mut all = consumer.await.expect("consumer");
    all.extend(mine);
    all.sort_unstable();
    assert_eq!(all, (0..75).collect::<Vec<_>>());
}

/// Two producer tasks, two producer threads, two consumer tasks and two
/// consumer threads move `4 * per_producer` items through `q`; then `q`
/// closes. Every item is received exactly once, and each producer's items
/// in the order it put them.
pub async fn stress_mixed_async_and_blocking<Q: TestQueue<usize>, R: TestRuntime>(
    rt: R,
    q: Arc<Q>,
    per_producer: usize,
) {
    const PRODUCERS: usize = 4;
    const CONSUMERS: usize = 4;
    let total = PRODUCERS * per_producer;

    let mut producers = Vec::new();
    for p in 0..PRODUCERS {
        let q = q.clone();
        let values = (p * per_producer)..((p + 1) * per_producer);
        producers.push(if p % 2 == 0 {
            rt.spawn(async move {
                for v in values {
                    q.put(v).await.expect("open");
                }
            })
        } else {
            rt.spawn_blocking(move || {
                for v in values {
                    q.blocking_put(v).expect("open");
                }
            })
        });
    }
    let mut consumers = Vec::new();
    for c in 0..CONSUMERS {
        let q = q.clone();
        consumers.push(if c % 2 == 0 {
            rt.spawn(async move {
                let mut got = Vec::new();
                while let Some(v) = q.get().await {
                    got.push(v);
                }
                got
            })
        } else {
            rt.spawn_blocking(move || {
                let mut got = Vec::new();
                while let Some(v) = q.blocking_get(None) {
                    got.push(v);
                }
                got
            })
        });
    }
    join_all(producers).await;
    // Everything is in; consumers drain the rest, then learn it is over.
    q.close();
    let mut seen = vec![false; total];
    for got in join_all(consumers).await {
        let mut last = [None::<usize>; PRODUCERS];
        for v in got {
            assert!(!std::mem::replace(&mut seen[v], true), "{v} received twice");
            let p = v / per_producer;
            assert!(last[p] < Some(v), "producer {p}'s items out of order");
            last[p] = Some(v);
        }
    }
    assert!(seen.iter().all(|&s| s), "some items were never received");
    assert!(q.is_empty());
}

// === allocation ===

/// Blocking puts and gets on `q` (empty, room for one) allocate nothing
/// once each thread has its waker. Needs the test binary to install
/// [`CountingAlloc`](crate::alloc::CountingAlloc).
pub fn blocking_put_get_do_not_allocate<Q: TestQueue<u64>>(q: &Q) {
    q.blocking_put(1).expect("open");
    assert_eq!(q.blocking_get(None), Some(1));
    let n = crate::alloc::allocations(|| {
        for i in 0..1_000 {
            q.blocking_put(i).expect("open");
            assert_eq!(q.blocking_get(Some(Duration::from_secs(1))), Some(i));
        }
    });
    assert_eq!(n, 0, "1000 blocking put/get pairs allocated {n} times");
}

// === cancellation: drop each future at every poll point ===

/// A `get` dropped at any point never consumes an item. `new_queue` makes
/// an empty queue with room for at least one item.
pub fn dropped_get_never_consumes_an_item<Q: TestQueue<Tracked<u32>>>(new_queue: fn() -> Q) {
    let cuts = drop_at_every_poll_point(|cut| {
        let q = new_queue();
        let mut get = Subject::new(cut, q.get());
        get.poll();
        let (item, witness) = Tracked::new(7);
        q.try_put(item).map_err(|_| ()).expect("room");
        get.checkpoint();
        get.poll();
        if get.is_completed() {
            let got = get.take_output().expect("output").expect("open");
            assert_eq!(*got.value(), 7);
        } else {
            let got = q.try_get().expect("the item is still there");
            assert_eq!(*got.value(), 7);
            assert!(!witness.is_dropped());
        }
        assert_eq!(q.waiting_getters(), 0);
        get.fate()
    });
    assert!(cuts >= 3, "dropped at {cuts} points");
}

/// A `get` woken for an item and then dropped passes its turn to the next
/// getter. `new_queue` makes an empty queue with room for one item.
pub fn dropped_served_get_passes_its_turn<Q: TestQueue<u32>>(new_queue: fn() -> Q) {
    let cuts = drop_at_every_poll_point(|cut| {
        let q = new_queue();
        let mut get = Subject::new(cut, q.get());
        get.poll();
        let mut next = Manual::new(q.get());
        next.pending();
        q.try_put(1).expect("room");
        get.checkpoint();
        get.poll();
        if get.is_completed() {
            assert_eq!(get.output(), Some(&Some(1)));
            assert_eq!(next.wakes(), 0);
            next.pending();
        } else {
            assert_eq!(next.wakes(), 1, "the next getter was not woken");
            assert_eq!(next.ready(), Some(1));
        }
        get.fate()
    });
    assert!(cuts >= 3, "dropped at {cuts} points");
}

/// A `put` dropped at any point never inserts its item (it goes with the
/// future), and one woken for room passes its turn on. `new_queue` makes
/// an empty queue of capacity 1.
pub fn dropped_put_never_inserts<Q: TestQueue<Tracked<u32>>>(new_queue: fn() -> Q) {
    let cuts = drop_at_every_poll_point(|cut| {
        let q = new_queue();
        let (first, _) = Tracked::new(0);
        q.try_put(first).map_err(|_| ()).expect("room");
        let (item, witness) = Tracked::new(1);
        let mut put = Subject::new(cut, q.put(item));
        put.poll();
        let mut next = Manual::new(q.put(Tracked::new(2).0));
        next.pending();
        assert_eq!(*q.try_get().expect("item").value(), 0);
        put.checkpoint();
        put.poll();
        if put.is_completed() {
            assert!(matches!(put.output(), Some(Ok(()))));
            assert_eq!(*q.try_get().expect("inserted").value(), 1);
        } else {
            assert!(witness.is_dropped(), "the item went with the future");
            assert_eq!(next.wakes(), 1, "the turn passed on");
            assert!(matches!(next.poll(), std::task::Poll::Ready(Ok(()))));
            assert_eq!(*q.try_get().expect("next's item").value(), 2);
        }
        put.fate()
    });
    assert!(cuts >= 3, "dropped at {cuts} points");
}
