//! Link check: `asyncutils-core` without its `std` feature, in a binary that
//! has no std at all.
//!
//! Everything std would normally provide is supplied here, the way an
//! embedded user would: a panic handler, a global allocator (a bump
//! allocator over a static array), a clock (a global tick counter with a
//! sleep future of its own) and a waker (a raw vtable that counts wakes).
//! Only libc is linked, for the C start-up code that calls `main` and for
//! `abort`/`write`. If anything in the core reaches for std while the
//! feature is off, this binary fails to build or to link; if the primitives
//! misbehave without std (spin lock instead of the parking mutex, no thread
//! locals), a check fails and the process exits with that check's code.
//!
//! It runs on the host, so CI can execute it:
//!
//! ```text
//! cargo build --manifest-path tests/nostd-link/Cargo.toml
//! tests/nostd-link/target/debug/asyncutils-nostd-link   # exit 0 = all passed
//! ```
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ffi::{c_char, c_int, c_void};
use core::future::Future;
use core::pin::{Pin, pin};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use core::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use core::time::Duration;

use asyncutils_core::buckets::{TokenBucket, TryAcquireError};
use asyncutils_core::channels::{Rendezvous, ResetError, TryGetError, TryPutError};
use asyncutils_core::queues::{ClosedError, FixedQueue};
use asyncutils_core::time::{Clock, Elapsed, Instant, timeout};

// rustc links no C library by default without std; ask for libc, whose
// start-up files call our `main`.
#[link(name = "c")]
unsafe extern "C" {
    fn abort() -> !;
    fn write(fd: c_int, buf: *const c_void, count: usize) -> isize;
}

fn eprint(message: &str) {
    // SAFETY: the buffer is valid for `len` bytes; fd 2 is stderr.
    unsafe {
        write(2, message.as_ptr().cast(), message.len());
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    eprint("asyncutils-nostd-link: panicked\n");
    // SAFETY: `abort` has no preconditions.
    unsafe { abort() }
}

/// The precompiled `alloc` for this target was built to unwind, so its
/// unwind tables name a personality routine, which std would define. With
/// `panic = "abort"` nothing ever unwinds, so it is never called.
#[unsafe(no_mangle)]
extern "C" fn rust_eh_personality() {
    // SAFETY: `abort` has no preconditions.
    unsafe { abort() }
}

// === allocator ===

const ARENA_BYTES: usize = 1 << 20;

/// A bump allocator: hands out consecutive pieces of a static array and
/// never reuses them. Enough for a short-lived check, and needs nothing but
/// an atomic.
struct Arena {
    bytes: UnsafeCell<[u8; ARENA_BYTES]>,
    used: AtomicUsize,
}

// SAFETY: `alloc` hands each byte out at most once (the bump index only
// grows, by compare-exchange), so threads never share an allocation.
unsafe impl Sync for Arena {}

// SAFETY: every returned block lies inside `bytes`, is aligned as asked, and
// is disjoint from every other block handed out.
unsafe impl GlobalAlloc for Arena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let base = self.bytes.get().cast::<u8>();
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let addr = base.addr() + used;
            let start = used + (addr.next_multiple_of(layout.align()) - addr);
            let end = match start.checked_add(layout.size()) {
                Some(end) if end <= ARENA_BYTES => end,
                _ => return core::ptr::null_mut(),
            };
            match self
                .used
                .compare_exchange_weak(used, end, Ordering::Relaxed, Ordering::Relaxed)
            {
                // SAFETY: `start <= end <= ARENA_BYTES`: in bounds of `bytes`.
                Ok(_) => return unsafe { base.add(start) },
                Err(current) => used = current,
            }
        }
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {
        // A bump allocator frees nothing.
    }
}

#[global_allocator]
static ALLOCATOR: Arena = Arena {
    bytes: UnsafeCell::new([0; ARENA_BYTES]),
    used: AtomicUsize::new(0),
};

// === waker ===

/// How many times any waker made by `counting_waker` was woken.
static WAKES: AtomicUsize = AtomicUsize::new(0);

static VTABLE: RawWakerVTable = RawWakerVTable::new(
    |_| RawWaker::new(core::ptr::null(), &VTABLE),
    |_| {
        WAKES.fetch_add(1, Ordering::SeqCst);
    },
    |_| {
        WAKES.fetch_add(1, Ordering::SeqCst);
    },
    |_| {},
);

fn counting_waker() -> Waker {
    // SAFETY: the vtable functions ignore the (null) data pointer and are
    // safe to call from any thread any number of times.
    unsafe { Waker::from_raw(RawWaker::new(core::ptr::null(), &VTABLE)) }
}

fn wakes() -> usize {
    WAKES.load(Ordering::SeqCst)
}

// === clock ===

/// Nanoseconds since start, moved only by `advance` (a hardware timer
/// interrupt would do this on a device).
static TICKS: AtomicU64 = AtomicU64::new(0);

const SLOTS: usize = 8;

/// Wakers of pending sleeps, each with the id of the sleep that owns it.
/// Guarded by a spin flag: the critical sections are a few moves.
struct Sleepers {
    locked: AtomicBool,
    slots: UnsafeCell<[Option<(u64, Waker)>; SLOTS]>,
    next_id: AtomicU64,
}

// SAFETY: `slots` is only touched inside `with`, under the spin flag.
unsafe impl Sync for Sleepers {}

impl Sleepers {
    fn with<R>(&self, f: impl FnOnce(&mut [Option<(u64, Waker)>; SLOTS]) -> R) -> R {
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        // SAFETY: holding the flag gives exclusive access to `slots`.
        let r = f(unsafe { &mut *self.slots.get() });
        self.locked.store(false, Ordering::Release);
        r
    }
}

static SLEEPERS: Sleepers = Sleepers {
    locked: AtomicBool::new(false),
    slots: UnsafeCell::new([const { None }; SLOTS]),
    next_id: AtomicU64::new(1),
};

/// Moves the clock forward and wakes every pending sleep; those not yet
/// due register again when polled. Coarse, but it never loses a wake-up.
fn advance(by: Duration) {
    TICKS.fetch_add(by.as_nanos() as u64, Ordering::SeqCst);
    let mut due: [Option<(u64, Waker)>; SLOTS] = [const { None }; SLOTS];
    SLEEPERS.with(|slots| core::mem::swap(slots, &mut due));
    // Wake outside the lock: a waker may poll, and the poll may register.
    for (_, waker) in due.into_iter().flatten() {
        waker.wake();
    }
}

#[derive(Debug, Clone, Copy)]
struct TickClock;

impl Clock for TickClock {
    type Sleep = TickSleep;

    fn now(&self) -> Instant {
        Instant::from_nanos(TICKS.load(Ordering::SeqCst))
    }

    fn sleep_until(&self, deadline: Instant) -> TickSleep {
        TickSleep { deadline, id: 0 }
    }
}

struct TickSleep {
    deadline: Instant,
    /// Id of its registration (0: none yet).
    id: u64,
}

impl Future for TickSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if TickClock.now() >= self.deadline {
            return Poll::Ready(());
        }
        if self.id == 0 {
            self.id = SLEEPERS.next_id.fetch_add(1, Ordering::Relaxed);
        }
        let id = self.id;
        let registered = SLEEPERS.with(|slots| {
            if let Some((_, waker)) = slots.iter_mut().flatten().find(|(i, _)| *i == id) {
                waker.clone_from(cx.waker());
                return true;
            }
            match slots.iter_mut().find(|slot| slot.is_none()) {
                Some(free) => {
                    *free = Some((id, cx.waker().clone()));
                    true
                }
                None => false,
            }
        });
        if !registered {
            // No room to wait: ask to be polled again (a spurious wake-up,
            // which every future must tolerate).
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

impl Drop for TickSleep {
    fn drop(&mut self) {
        let id = self.id;
        if id != 0 {
            let removed = SLEEPERS.with(|slots| {
                slots
                    .iter_mut()
                    .find(|slot| matches!(slot, Some((i, _)) if *i == id))
                    .and_then(Option::take)
            });
            drop(removed);
        }
    }
}

// === the checks ===

/// Fails with `code` unless `cond` holds.
macro_rules! check {
    ($code:expr, $cond:expr) => {
        if !$cond {
            eprint(concat!(
                "asyncutils-nostd-link: check failed: ",
                stringify!($cond),
                "\n"
            ));
            return Err($code);
        }
    };
}

fn poll_once<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
    let waker = counting_waker();
    future.poll(&mut Context::from_waker(&waker))
}

fn rendezvous() -> Result<(), c_int> {
    let rv = Rendezvous::<u32>::new();

    // Nobody waiting: the non-blocking forms refuse and give the value back.
    check!(10, matches!(rv.try_put(1), Err(TryPutError::NoGetter(1))));
    check!(11, rv.try_get() == Err(TryGetError::NoPutter));

    // A waiting getter is handed a `try_put` value and woken for it.
    let mut get = pin!(rv.get());
    check!(12, poll_once(get.as_mut()).is_pending());
    check!(13, rv.state().gets == 1);
    let before = wakes();
    check!(14, rv.try_put(7).is_ok());
    check!(15, wakes() > before);
    check!(16, poll_once(get.as_mut()) == Poll::Ready(Ok(7)));

    // A waiting putter's value is taken by `try_get`, which wakes it.
    let mut put = pin!(rv.put(42));
    check!(17, poll_once(put.as_mut()).is_pending());
    check!(18, rv.state().puts == 1);
    let before = wakes();
    check!(19, rv.try_get() == Ok(42));
    check!(20, wakes() > before);
    check!(21, poll_once(put.as_mut()) == Poll::Ready(Ok(())));

    // Two exchanges swap values.
    let mut left = pin!(rv.exchange(1));
    check!(22, poll_once(left.as_mut()).is_pending());
    check!(23, poll_once(pin!(rv.exchange(2))) == Poll::Ready(Ok(1)));
    check!(24, poll_once(left.as_mut()) == Poll::Ready(Ok(2)));

    // A dropped put withdraws its value.
    {
        let mut gone = pin!(rv.put(5));
        check!(25, poll_once(gone.as_mut()).is_pending());
    }
    check!(26, rv.state().puts == 0);

    // Reset fails a pending get.
    let mut get = pin!(rv.get());
    check!(27, poll_once(get.as_mut()).is_pending());
    check!(28, rv.reset() == Vec::new());
    check!(
        29,
        poll_once(get.as_mut()) == Poll::Ready(Err(ResetError(())))
    );
    Ok(())
}

fn token_bucket() -> Result<(), c_int> {
    check!(
        30,
        TokenBucket::with_clock(0.0, 1.0, TickClock)
            .map(drop)
            .map_err(|e| e.name())
            == Err("rate")
    );

    // 10 tokens per second, bursts of 5: starts full.
    let Ok(bucket) = TokenBucket::with_clock(10.0, 5.0, TickClock) else {
        return Err(31);
    };
    for _ in 0..5 {
        check!(32, bucket.try_acquire(1).is_ok());
    }
    check!(
        33,
        bucket.try_acquire(1)
            == Err(TryAcquireError::Insufficient {
                retry_after: Duration::from_millis(100)
            })
    );
    check!(
        34,
        matches!(bucket.try_acquire(6), Err(TryAcquireError::Invalid(_)))
    );

    // An acquire of 2 waits 200 ms, and the clock's sleep wakes it.
    let mut acquire = pin!(bucket.acquire(2));
    check!(35, poll_once(acquire.as_mut()).is_pending());
    let before = wakes();
    advance(Duration::from_millis(100));
    check!(36, wakes() > before);
    check!(37, poll_once(acquire.as_mut()).is_pending());
    advance(Duration::from_millis(100));
    check!(38, poll_once(acquire.as_mut()) == Poll::Ready(Ok(())));
    check!(39, bucket.available() == 0.0);

    // A deadline on any future, with the same clock.
    let rv = Rendezvous::<u32>::new();
    {
        let mut bounded = pin!(timeout(&TickClock, Duration::from_millis(50), rv.get()));
        check!(40, poll_once(bounded.as_mut()).is_pending());
        advance(Duration::from_millis(50));
        check!(41, poll_once(bounded.as_mut()) == Poll::Ready(Err(Elapsed)));
    }
    // Dropping the timed-out get left nothing behind.
    check!(42, rv.state().gets == 0);
    Ok(())
}

/// Bytes the arena has handed out so far.
fn arena_used() -> usize {
    ALLOCATOR.used.load(Ordering::Relaxed)
}

/// A queue in a `static`, waited on by futures, without one allocation.
fn fixed_queue() -> Result<(), c_int> {
    static QUEUE: FixedQueue<u32, 2> = FixedQueue::new();
    let before = arena_used();

    // A waiting get is served by the next put.
    let mut get = pin!(QUEUE.get());
    check!(50, poll_once(get.as_mut()).is_pending());
    check!(51, QUEUE.waiting_getters() == 1);
    let woken = wakes();
    check!(52, QUEUE.try_put(1).is_ok());
    check!(53, wakes() > woken);
    check!(54, poll_once(get.as_mut()) == Poll::Ready(Ok(1)));

    // A waiting put gets the room a get frees.
    check!(55, QUEUE.try_put(2).is_ok() && QUEUE.try_put(3).is_ok());
    let mut put = pin!(QUEUE.put(4));
    check!(56, poll_once(put.as_mut()).is_pending());
    check!(57, QUEUE.try_get() == Ok(2));
    check!(58, poll_once(put.as_mut()) == Poll::Ready(Ok(())));

    // Full: push hands back the oldest.
    check!(59, QUEUE.push(5) == Ok(Some(3)));

    // Close fails a waiting put and lets gets drain.
    let mut late = pin!(QUEUE.put(6));
    check!(60, poll_once(late.as_mut()).is_pending());
    QUEUE.close();
    check!(
        61,
        poll_once(late.as_mut()) == Poll::Ready(Err(ClosedError(6)))
    );
    check!(62, QUEUE.try_get() == Ok(4) && QUEUE.try_get() == Ok(5));
    check!(
        63,
        poll_once(pin!(QUEUE.get())) == Poll::Ready(Err(ClosedError(())))
    );

    // Waiting took no memory: the waiters lived in the futures.
    check!(64, arena_used() == before);
    Ok(())
}

/// The C entry point, called by libc's start-up code.
#[unsafe(no_mangle)]
pub extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    match rendezvous()
        .and_then(|()| token_bucket())
        .and_then(|()| fixed_queue())
    {
        Ok(()) => {
            eprint("asyncutils-nostd-link: all checks passed\n");
            0
        }
        Err(code) => code,
    }
}
