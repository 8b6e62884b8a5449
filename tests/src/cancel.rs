//! Dropping a future at every poll point.
//!
//! A cancellation test is a scenario run again and again with a growing
//! *cut*: the future under test (the [`Subject`]) is polled by hand, the
//! counterpart operations the scenario needs happen in between, and at the
//! `cut`-th checkpoint the subject is dropped instead. The scenario then
//! checks its invariant ("the value was not lost", "the tokens came back").
//! [`drop_at_every_poll_point`] raises the cut until the subject completes
//! before it is reached, so every point between creation and completion is
//! covered.
//!
//! Checkpoints are taken before and after each [`Subject::poll`], so for
//! every poll the subject is dropped once before it (after whatever the
//! scenario did since the previous poll) and once right after it (before
//! anything else happens). A scenario may add [`Subject::checkpoint`]s
//! between counterpart operations to drop there too.
//!
//! ```
//! use asyncutils_core::channels::Rendezvous;
//! use asyncutils_tests::cancel::{drop_at_every_poll_point, Subject};
//! use asyncutils_tests::Manual;
//!
//! let cuts = drop_at_every_poll_point(|cut| {
//!     let rv = Rendezvous::new();
//!     let mut get = Subject::new(cut, rv.get());
//!     get.poll();
//!     let mut put = Manual::new(rv.put(1));
//!     let _ = put.poll();
//!     get.poll();
//!     if get.is_dropped() {
//!         // A dropped get consumed nothing: the value is still there.
//!         assert_eq!(rv.try_get(), Ok(1));
//!     }
//!     get.fate()
//! });
//! assert!(cuts >= 3);
//! ```

use core::future::Future;
use core::task::Poll;

use crate::Manual;

/// How a scenario's subject ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// It was dropped at the cut, after this many polls.
    Dropped {
        /// Polls it received before the drop.
        polls: usize,
    },
    /// It completed before the cut was reached.
    Completed,
    /// Neither: the scenario left it pending (a scenario bug).
    Pending,
}

/// The future under test: polled by hand, dropped at the cut.
pub struct Subject<F: Future> {
    future: Option<Manual<F>>,
    cut: usize,
    checkpoints: usize,
    polls: usize,
    wakes: usize,
    output: Option<F::Output>,
    completed: bool,
    dropped: bool,
}

impl<F: Future> Subject<F> {
    /// Wraps `future`, to be dropped at checkpoint number `cut` (counting
    /// from zero) unless it completes first.
    pub fn new(cut: usize, future: F) -> Self {
        Subject {
            future: Some(Manual::new(future)),
            cut,
            checkpoints: 0,
            polls: 0,
            wakes: 0,
            output: None,
            completed: false,
            dropped: false,
        }
    }

    /// A point where the subject may be dropped: if this is the cut and the
    /// subject is still pending, it is dropped now.
    pub fn checkpoint(&mut self) {
        if self.checkpoints == self.cut && self.is_pending() {
            if let Some(future) = self.future.take() {
                self.wakes = future.wakes();
            }
            self.dropped = true;
        }
        self.checkpoints += 1;
    }

    /// Checkpoint, then (if still pending) one poll, then checkpoint again.
    /// Returns whether the subject is still pending afterwards.
    pub fn poll(&mut self) -> bool {
        self.checkpoint();
        if let Some(future) = self.future.as_mut() {
            self.polls += 1;
            if let Poll::Ready(out) = future.poll() {
                self.wakes = future.wakes();
                self.future = None;
                self.output = Some(out);
                self.completed = true;
            }
        }
        self.checkpoint();
        self.is_pending()
    }

    /// Still alive and not completed (also before the first poll).
    #[must_use]
    pub fn is_pending(&self) -> bool {
        !self.completed && !self.dropped
    }

    /// Dropped at the cut.
    #[must_use]
    pub fn is_dropped(&self) -> bool {
        self.dropped
    }

    /// Completed before the cut.
    #[must_use]
    pub fn is_completed(&self) -> bool {
        self.completed
    }

    /// How many times it was polled.
    #[must_use]
    pub fn polls(&self) -> usize {
        self.polls
    }

    /// How many times its waker was woken (up to its drop or completion).
    #[must_use]
    pub fn wakes(&self) -> usize {
        match &self.future {
            Some(future) => future.wakes(),
            None => self.wakes,
        }
    }

    /// The output, once completed.
    #[must_use]
    pub fn output(&self) -> Option<&F::Output> {
        self.output.as_ref()
    }

    /// Takes the output, once completed.
    pub fn take_output(&mut self) -> Option<F::Output> {
        self.output.take()
    }

    /// How the subject ended.
    #[must_use]
    pub fn fate(&self) -> Fate {
        if self.completed {
            Fate::Completed
        } else if self.dropped {
            Fate::Dropped { polls: self.polls }
        } else {
            Fate::Pending
        }
    }
}

impl<F: Future> core::fmt::Debug for Subject<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Subject")
            .field("cut", &self.cut)
            .field("polls", &self.polls)
            .field("fate", &self.fate())
            .finish_non_exhaustive()
    }
}

/// Runs `scenario(cut)` for `cut = 0, 1, 2, …` until the subject completes
/// before being cut; returns how many runs dropped it.
///
/// # Panics
///
/// If a run leaves its subject pending, or the subject never completes
/// within a thousand cuts.
#[track_caller]
pub fn drop_at_every_poll_point(mut scenario: impl FnMut(usize) -> Fate) -> usize {
    for cut in 0..1000 {
        match scenario(cut) {
            Fate::Completed => return cut,
            Fate::Dropped { .. } => {}
            Fate::Pending => panic!("cut {cut}: the scenario left its subject pending"),
        }
    }
    panic!("the subject never completed within 1000 cuts");
}
