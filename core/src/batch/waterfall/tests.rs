use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::Poll;
use std::sync::Mutex as StdMutex;

use super::*;
use crate::test_util::Probe;
use crate::time::ManualClock;

const MS: Duration = Duration::from_millis(1);

fn ms(n: u64) -> Instant {
    Instant::from_nanos(n * 1_000_000)
}

type Log<T> = Arc<StdMutex<Vec<(Instant, Vec<T>)>>>;
type Done = core::future::Ready<Result<(), String>>;

/// A callback that records each batch with the instant it was delivered.
fn recorder<T: Send + 'static>(
    clock: &ManualClock,
) -> (Log<T>, impl FnMut(Vec<T>) -> Done + use<T>) {
    let log: Log<T> = Arc::default();
    let (log2, clock) = (log.clone(), clock.clone());
    let cb = move |batch: Vec<T>| {
        log2.lock().unwrap().push((clock.now(), batch));
        core::future::ready(Ok(()))
    };
    (log, cb)
}

fn waterfall<T>(
    max_q: usize,
    wait_ms: u64,
    cap: usize,
) -> (Waterfall<T, ManualClock>, ManualClock) {
    let clock = ManualClock::new();
    let wf = Waterfall::with_capacity(max_q, Duration::from_millis(wait_ms), cap, clock.clone())
        .unwrap();
    (wf, clock)
}

/// An item that counts its drops.
struct Counted(u32, Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn invalid_arguments_are_errors_naming_them() {
    let c = ManualClock::new();
    let e = Waterfall::<u8, _>::with_clock(0, MS, c.clone()).unwrap_err();
    assert_eq!(e.name(), "max_quantity");
    let e = Waterfall::<u8, _>::with_clock(1, Duration::ZERO, c.clone()).unwrap_err();
    assert_eq!(e.name(), "max_wait");
    let e = Waterfall::<u8, _>::with_capacity(4, MS, 3, c.clone()).unwrap_err();
    assert_eq!(e.name(), "capacity");
    let wf = Waterfall::<u8, ManualClock>::new(2, MS).unwrap();
    assert_eq!(
        (wf.max_quantity(), wf.max_wait(), wf.capacity()),
        (2, MS, 2)
    );
}

#[test]
fn a_partial_batch_leaves_max_wait_after_its_first_item() {
    let (wf, clock) = waterfall(10, 100, 10);
    let (log, cb) = recorder(&clock);
    let p = Probe::new();
    let mut driver = Box::pin(wf.driver(cb));
    assert!(p.poll_pinned(driver.as_mut()).is_pending());
    assert_eq!(
        clock.sleepers(),
        0,
        "an idle driver with nothing buffered sets no timer"
    );

    wf.try_put(1).unwrap();
    assert_eq!(
        p.take_wakes(),
        1,
        "the first item of a batch wakes the driver"
    );
    assert!(p.poll_pinned(driver.as_mut()).is_pending());
    assert_eq!(clock.next_deadline(), Some(ms(100)));

    clock.advance(30 * MS);
    wf.try_put(2).unwrap();
    assert_eq!(p.take_wakes(), 0, "later items do not wake the driver");
    clock.advance(69 * MS);
    assert_eq!(p.take_wakes(), 0);
    assert!(log.lock().unwrap().is_empty());
    clock.advance(MS);
    assert_eq!(p.take_wakes(), 1);
    assert!(p.poll_pinned(driver.as_mut()).is_pending());
    assert_eq!(*log.lock().unwrap(), vec![(ms(100), vec![1, 2])]);
    assert_eq!(clock.sleepers(), 0);
    assert!(wf.is_empty());
}

#[test]
fn a_full_batch_leaves_at_once() {
    let (wf, clock) = waterfall(3, 100, 3);
    let (log, cb) = recorder(&clock);
    let p = Probe::new();
    let mut driver = Box::pin(wf.driver(cb));
    assert!(p.poll_pinned(driver.as_mut()).is_pending());
    clock.advance(5 * MS);
    for i in 0..3 {
        wf.try_put(i).unwrap();
    }
    assert_eq!(
        p.take_wakes(),
        1,
        "woken once: by the first item (the driver has not looked since)"
    );
    assert!(p.poll_pinned(driver.as_mut()).is_pending());
    assert_eq!(*log.lock().unwrap(), vec![(ms(5), vec![0, 1, 2])]);
    assert_eq!(clock.sleepers(), 0, "no timer is left behind");
    // The next batch's clock starts with its own first item.
    clock.advance(50 * MS);
    wf.try_put(3).unwrap();
    assert!(p.poll_pinned(driver.as_mut()).is_pending());
    assert_eq!(clock.next_deadline(), Some(ms(155)));
    clock.advance(100 * MS);
    assert!(p.poll_pinned(driver.as_mut()).is_pending());
    assert_eq!(log.lock().unwrap()[1], (ms(155), vec![3]));
}

#[test]
fn try_put_reports_full_and_stopped_with_the_item() {
    let (wf, clock) = waterfall(2, 100, 2);
    wf.try_put(1).unwrap();
    wf.try_put(2).unwrap();
    let e = wf.try_put(3).unwrap_err();
    assert!(e.is_full());
    assert_eq!(e.into_inner(), 3);
    wf.signal_stop(None);
    assert!(wf.is_stopped());
    assert!(matches!(wf.try_put(4), Err(TryPutError::Stopped(4))));
    let (log, cb) = recorder(&clock);
    let report = futures_lite::future::block_on(wf.driver(cb));
    assert_eq!(
        (report.batches(), report.items(), report.dropped()),
        (1, 2, 0)
    );
    assert_eq!(*log.lock().unwrap(), vec![(ms(0), vec![1, 2])]);
    assert!(wf.is_finished());
}

#[test]
fn waiting_putters_are_served_in_order_when_a_batch_is_cut() {
    let (wf, clock) = waterfall(2, 100, 2);
    let (log, cb) = recorder(&clock);
    let (pd, pp) = (Probe::new(), Probe::new());
    wf.try_put(0).unwrap();
    clock.advance(10 * MS);
    wf.try_put(1).unwrap();
    let mut puts: Vec<_> = (2..6).map(|i| wf.put(i)).collect();
    for put in &mut puts {
        assert!(pp.poll(put).is_pending());
    }
    assert_eq!(wf.waiting_putters(), 4);
    assert!(matches!(wf.try_put(9), Err(TryPutError::Full(9))));

    let mut driver = Box::pin(wf.driver(cb));
    // Cuts [0, 1] and moves 2 and 3 in: full again, so [2, 3] is cut at
    // once too, and 4 and 5 move in, and so on.
    assert!(pd.poll_pinned(driver.as_mut()).is_pending());
    assert_eq!(pp.take_wakes(), 4);
    assert_eq!(
        *log.lock().unwrap(),
        vec![
            (ms(10), vec![0, 1]),
            (ms(10), vec![2, 3]),
            (ms(10), vec![4, 5])
        ]
    );
    assert!(wf.is_empty());
    assert_eq!(wf.waiting_putters(), 0);
    for put in &mut puts {
        assert_eq!(pp.poll(put), Poll::Ready(Ok(())));
    }
    wf.signal_stop(None);
    let report = futures_lite::future::block_on(driver);
    assert_eq!(report.batches(), 3);
}

#[test]
fn items_moved_in_for_waiting_putters_start_their_batch_clock_on_arrival() {
    let (wf, clock) = waterfall(2, 100, 2);
    let (log, cb) = recorder(&clock);
    let p = Probe::new();
    wf.try_put(0).unwrap();
    wf.try_put(1).unwrap();
    let mut put = wf.put(2);
    assert!(p.poll(&mut put).is_pending());
    clock.advance(40 * MS);
    let mut driver = Box::pin(wf.driver(cb));
    assert!(p.poll_pinned(driver.as_mut()).is_pending());
    assert_eq!(p.poll(&mut put), Poll::Ready(Ok(())));
    // Item 2 arrived at t=40, when room was made for it.
    assert_eq!(clock.next_deadline(), Some(ms(140)));
    clock.advance_to(ms(140));
    assert!(p.poll_pinned(driver.as_mut()).is_pending());
    assert_eq!(log.lock().unwrap()[1], (ms(140), vec![2]));
}

#[test]
fn a_dropped_waiting_put_withdraws_its_item_and_keeps_the_order() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (wf, clock) = waterfall(1, 100, 1);
    let p = Probe::new();
    wf.try_put(Counted(0, drops.clone())).unwrap();
    let mut first = wf.put(Counted(1, drops.clone()));
    let mut second = wf.put(Counted(2, drops.clone()));
    assert!(p.poll(&mut first).is_pending());
    assert!(p.poll(&mut second).is_pending());
    drop(first);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "the withdrawn item is dropped"
    );
    assert_eq!(wf.waiting_putters(), 1);
    let got = Arc::new(StdMutex::new(Vec::new()));
    let got2 = got.clone();
    let mut driver = Box::pin(wf.driver(move |batch: Vec<Counted>| {
        got2.lock().unwrap().extend(batch.iter().map(|c| c.0));
        core::future::ready(Ok::<(), String>(()))
    }));
    assert!(p.poll_pinned(driver.as_mut()).is_pending());
    assert!(p.poll(&mut second).is_ready());
    wf.signal_stop(None);
    assert!(p.poll_pinned(driver.as_mut()).is_ready());
    assert_eq!(*got.lock().unwrap(), vec![0, 2]);
    let _ = clock;
}

#[test]
fn stop_drains_the_rest_in_batches_without_waiting() {
    let (wf, clock) = waterfall(3, 100, 7);
    let (log, cb) = recorder(&clock);
    for i in 0..7 {
        wf.try_put(i).unwrap();
    }
    let p = Probe::new();
    let mut stop = wf.stop(None);
    assert!(p.poll(&mut stop).is_pending());
    assert!(wf.is_stopped() && !wf.is_finished());
    let report = futures_lite::future::block_on(wf.driver(cb));
    assert_eq!(
        p.take_wakes(),
        1,
        "the stop is told when the driver finishes"
    );
    assert_eq!(p.poll(&mut stop), Poll::Ready(Drained { dropped: 0 }));
    assert_eq!(
        *log.lock().unwrap(),
        vec![
            (ms(0), vec![0, 1, 2]),
            (ms(0), vec![3, 4, 5]),
            (ms(0), vec![6])
        ]
    );
    assert_eq!((report.batches(), report.items()), (3, 7));
    assert!(report.into_result().is_ok());
    // After the end, stop completes at once and puts are refused.
    assert_eq!(
        p.poll(&mut wf.stop(None)),
        Poll::Ready(Drained { dropped: 0 })
    );
    assert!(matches!(
        p.poll(&mut wf.put(1)),
        Poll::Ready(Err(StoppedError(1)))
    ));
}

#[test]
fn a_finalize_deadline_cancels_the_callback_and_counts_what_was_dropped() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (wf, clock) = waterfall(2, 10, 4);
    let cb_clock = clock.clone();
    let started = Arc::new(AtomicUsize::new(0));
    let started2 = started.clone();
    // Each batch takes a second.
    let cb = move |batch: Vec<Counted>| {
        started2.fetch_add(1, Ordering::SeqCst);
        let clock = cb_clock.clone();
        async move {
            clock.sleep(Duration::from_secs(1)).await;
            drop(batch);
            Ok::<(), String>(())
        }
    };
    let p = Probe::new();
    let mut driver = Box::pin(wf.driver(cb));
    for i in 0..4 {
        wf.try_put(Counted(i, drops.clone())).unwrap();
    }
    assert!(p.poll_pinned(driver.as_mut()).is_pending());
    assert_eq!(started.load(Ordering::SeqCst), 1);
    let mut stop = wf.stop(Some(50 * MS));
    assert!(p.poll(&mut stop).is_pending());
    assert!(p.poll_pinned(driver.as_mut()).is_pending());
    assert_eq!(clock.next_deadline(), Some(ms(50)));
    clock.advance(49 * MS);
    assert!(p.poll_pinned(driver.as_mut()).is_pending());
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    clock.advance(MS);
    let Poll::Ready(report) = p.poll_pinned(driver.as_mut()) else {
        panic!("the driver gives up at the finalize deadline")
    };
    assert_eq!(
        report.dropped(),
        4,
        "2 in the cancelled batch, 2 in the buffer"
    );
    assert_eq!((report.batches(), report.items()), (1, 2));
    assert_eq!(drops.load(Ordering::SeqCst), 4);
    assert_eq!(p.poll(&mut stop), Poll::Ready(Drained { dropped: 4 }));
    assert!(!Drained { dropped: 4 }.is_complete());
    assert_eq!(clock.sleepers(), 0);
}

#[test]
fn a_second_stop_can_only_bring_the_deadline_forward() {
    let (wf, clock) = waterfall(1, 10, 2);
    let cb_clock = clock.clone();
    let cb = move |_batch: Vec<u8>| {
        let clock = cb_clock.clone();
        async move {
            clock.sleep(Duration::from_secs(1)).await;
            Ok::<(), String>(())
        }
    };
    let p = Probe::new();
    let mut driver = Box::pin(wf.driver(cb));
    wf.try_put(1).unwrap();
    assert!(p.poll_pinned(driver.as_mut()).is_pending());
    wf.signal_stop(None);
    wf.signal_stop(Some(300 * MS));
    wf.signal_stop(Some(500 * MS));
    assert!(p.poll_pinned(driver.as_mut()).is_pending());
    clock.advance(300 * MS);
    let Poll::Ready(report) = p.poll_pinned(driver.as_mut()) else {
        panic!("the earliest deadline holds")
    };
    assert_eq!(report.dropped(), 1);
}

#[test]
fn callback_errors_are_reported_in_order_and_delivery_goes_on() {
    let (wf, _clock) = waterfall(1, 10, 4);
    for i in 0..4 {
        wf.try_put(i).unwrap();
    }
    wf.signal_stop(None);
    let report = futures_lite::future::block_on(wf.driver(|batch: Vec<u32>| {
        core::future::ready(if batch[0] % 2 == 1 {
            Err(alloc::format!("batch {} failed", batch[0]))
        } else {
            Ok(())
        })
    }));
    assert_eq!((report.batches(), report.items()), (4, 4));
    let errors: Vec<_> = report.errors().iter().cloned().collect();
    assert_eq!(errors, ["batch 1 failed", "batch 3 failed"]);
    let report = report.into_result().unwrap_err();
    assert_eq!(report.into_errors().len(), 2);
}

#[test]
fn a_batch_due_while_the_callback_is_busy_leaves_when_it_returns() {
    let (wf, clock) = waterfall(3, 100, 3);
    let log: Log<u32> = Arc::default();
    let (log2, cb_clock) = (log.clone(), clock.clone());
    let cb = move |batch: Vec<u32>| {
        log2.lock().unwrap().push((cb_clock.now(), batch));
        let clock = cb_clock.clone();
        async move {
            clock.sleep(250 * MS).await;
            Ok::<(), String>(())
        }
    };
    let p = Probe::new();
    let mut driver = Box::pin(wf.driver(cb));
    for i in 0..3 {
        wf.try_put(i).unwrap();
    }
    assert!(p.poll_pinned(driver.as_mut()).is_pending());
    clock.advance(10 * MS);
    wf.try_put(3).unwrap();
    assert_eq!(
        p.take_wakes(),
        0,
        "the busy driver is not disturbed by puts"
    );
    clock.advance(190 * MS); // item 3 is due at t=110; the callback runs to t=250
    wf.try_put(4).unwrap();
    clock.advance(50 * MS);
    assert!(p.poll_pinned(driver.as_mut()).is_pending());
    assert_eq!(
        *log.lock().unwrap(),
        vec![(ms(0), vec![0, 1, 2]), (ms(250), vec![3, 4])]
    );
}

#[test]
fn a_second_driver_waits_and_takes_over_the_buffer() {
    let (wf, clock) = waterfall(2, 100, 2);
    let (log, cb) = recorder::<u32>(&clock);
    let (log2, cb2) = recorder::<u32>(&clock);
    let (p1, p2) = (Probe::new(), Probe::new());
    let mut first = Box::pin(wf.driver(cb));
    let mut second = Box::pin(wf.driver(cb2));
    assert!(p1.poll_pinned(first.as_mut()).is_pending());
    assert!(p2.poll_pinned(second.as_mut()).is_pending());
    wf.try_put(1).unwrap();
    assert_eq!((p1.take_wakes(), p2.take_wakes()), (1, 0));
    drop(first);
    assert_eq!(p2.take_wakes(), 1, "the waiting driver gets its turn");
    wf.try_put(2).unwrap();
    assert!(p2.poll_pinned(second.as_mut()).is_pending());
    assert!(log.lock().unwrap().is_empty());
    assert_eq!(*log2.lock().unwrap(), vec![(ms(0), vec![1, 2])]);
    wf.signal_stop(None);
    assert!(p2.poll_pinned(second.as_mut()).is_ready());
    // A driver made after the end finishes at once.
    let (_, cb3) = recorder::<u32>(&clock);
    let report = futures_lite::future::block_on(wf.driver(cb3));
    assert_eq!(report.batches(), 0);
}

#[test]
fn dropping_the_driver_mid_callback_keeps_the_buffer_for_the_next() {
    let (wf, clock) = waterfall(1, 100, 2);
    let cb_clock = clock.clone();
    let p = Probe::new();
    let mut driver = Box::pin(wf.driver(move |_b: Vec<u8>| {
        let clock = cb_clock.clone();
        async move {
            clock.sleep(Duration::from_secs(1)).await;
            Ok::<(), String>(())
        }
    }));
    for i in 0..3 {
        wf.try_put(i).unwrap_or_else(|_| panic!("room for {i}"));
        let _ = p.poll_pinned(driver.as_mut());
    }
    assert_eq!(wf.len(), 2);
    drop(driver);
    assert_eq!(clock.sleepers(), 0);
    wf.signal_stop(None);
    let (log, cb) = recorder(&clock);
    let report = futures_lite::future::block_on(wf.driver(cb));
    assert_eq!(report.items(), 2);
    assert_eq!(
        *log.lock().unwrap(),
        vec![(ms(0), vec![1]), (ms(0), vec![2])]
    );
}

#[test]
fn stop_gives_waiting_putters_their_items_back() {
    let (wf, _clock) = waterfall(1, 100, 1);
    let p = Probe::new();
    wf.try_put(1).unwrap();
    let mut put = wf.put(2);
    assert!(p.poll(&mut put).is_pending());
    wf.signal_stop(None);
    assert_eq!(p.take_wakes(), 1);
    assert_eq!(p.poll(&mut put), Poll::Ready(Err(StoppedError(2))));
    assert_eq!(wf.waiting_putters(), 0);
    assert_eq!(
        wf.len(),
        1,
        "what arrived before the stop stays to be drained"
    );
}

#[test]
#[should_panic(expected = "`Put` polled after completion")]
fn polling_a_completed_put_panics() {
    let (wf, _clock) = waterfall::<u8>(1, 100, 1);
    let p = Probe::new();
    let mut put = wf.put(1);
    assert!(p.poll(&mut put).is_ready());
    let _ = p.poll(&mut put);
}

#[test]
fn debug_needs_no_debug_items() {
    struct Opaque;
    let (wf, _clock) = waterfall::<Opaque>(2, 100, 2);
    wf.try_put(Opaque).unwrap_or_else(|_| panic!("room"));
    let s = alloc::format!("{wf:?} {:?} {:?}", wf.put(Opaque), wf.stop(None));
    assert!(s.contains("len: 1"), "{s}");
    assert_eq!(
        alloc::format!("{:?}", TryPutError::Full(Opaque)),
        "Full(..)"
    );
}

#[test]
fn producers_on_threads_lose_nothing() {
    let producers = 4;
    let per: u32 = if cfg!(miri) { 20 } else { 5_000 };
    let wf = Arc::new(
        Waterfall::with_capacity(16, Duration::from_secs(3600), 32, ManualClock::new()).unwrap(),
    );
    let received = Arc::new(StdMutex::new(Vec::new()));
    let driver = {
        let (wf, received) = (wf.clone(), received.clone());
        std::thread::spawn(move || {
            futures_lite::future::block_on(wf.driver(|batch: Vec<u32>| {
                assert!(batch.len() <= 16);
                received.lock().unwrap().extend(batch);
                core::future::ready(Ok::<(), String>(()))
            }))
        })
    };
    let handles: Vec<_> = (0..producers)
        .map(|t| {
            let wf = wf.clone();
            std::thread::spawn(move || {
                for i in 0..per {
                    futures_lite::future::block_on(wf.put(t * per + i)).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    futures_lite::future::block_on(wf.stop(None));
    let report = driver.join().unwrap();
    assert_eq!(report.items(), u64::from(producers * per));
    let mut all = received.lock().unwrap().clone();
    // Each producer's items arrive in its order.
    for t in 0..producers {
        let mine: Vec<_> = all.iter().copied().filter(|v| v / per == t).collect();
        assert!(mine.windows(2).all(|w| w[0] < w[1]));
    }
    all.sort_unstable();
    assert_eq!(all, (0..producers * per).collect::<Vec<_>>());
}
