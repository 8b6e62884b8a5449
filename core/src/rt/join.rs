//! The core's join handle: a oneshot between a spawned [`Task`] and its
//! [`JoinHandle`].

use alloc::string::String;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use pin_project_lite::pin_project;

use crate::loom::{Arc, Mutex};
use crate::waitlist::set_waker;

struct Shared<T> {
    state: Mutex<State<T>>,
}

struct State<T> {
    result: Option<Result<T, JoinError>>,
    /// Output was produced or the task is gone; `result` may have been taken.
    finished: bool,
    aborted: bool,
    handle_waker: Option<Waker>,
    task_waker: Option<Waker>,
}

impl<T> Shared<T> {
    fn new() -> Arc<Self> {
        Arc::new(Shared {
            state: Mutex::new(State {
                result: None,
                finished: false,
                aborted: false,
                handle_waker: None,
                task_waker: None,
            }),
        })
    }

    /// Records the outcome (first one wins) and wakes the handle.
    fn finish(&self, result: Result<T, JoinError>) {
        let waker = {
            let mut state = self.state.lock();
            if state.finished {
                return;
            }
            state.finished = true;
            state.result = Some(result);
            state.handle_waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Wraps `future` into a [`Task`] to hand to any executor and the
/// [`JoinHandle`] that receives its output.
///
/// This is what [`Spawn::spawn`](super::Spawn::spawn) does; it is public so
/// that a custom executor gets the same handle semantics.
pub fn joinable<F: Future>(future: F) -> (Task<F>, JoinHandle<F::Output>) {
    let shared = Shared::new();
    let task = Task {
        shared: shared.clone(),
        stage: Stage::Running { future },
    };
    (task, JoinHandle { shared })
}

#[cfg(feature = "std")]
pub(crate) fn blocking_joinable<F, R>(f: F) -> (impl FnOnce() + Send + 'static, JoinHandle<R>)
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let shared = Shared::new();
    let handle = JoinHandle {
        shared: shared.clone(),
    };
    let job = move || {
        if shared.state.lock().aborted {
            shared.finish(Err(JoinError::cancelled()));
            return;
        }
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        shared.finish(outcome.map_err(|p| JoinError::panicked(p.as_ref())));
    };
    (job, handle)
}

pin_project! {
    /// A future wrapped for spawning; its output goes to its [`JoinHandle`].
    ///
    /// It resolves to `()` when the inner future finishes, panics (with
    /// `std`, the panic is caught and reported through the handle) or is
    /// aborted. Dropped before that — say the runtime shut down — it reports
    /// cancellation.
    #[must_use = "a task does nothing until it is spawned and polled"]
    pub struct Task<F: Future> {
        shared: Arc<Shared<F::Output>>,
        #[pin]
        stage: Stage<F>,
    }

    impl<F: Future> PinnedDrop for Task<F> {
        fn drop(this: Pin<&mut Self>) {
            this.shared.finish(Err(JoinError::cancelled()));
        }
    }
}

pin_project! {
    #[project = StageProj]
    enum Stage<F> {
        Running { #[pin] future: F },
        Done,
    }
}

impl<F: Future> fmt::Debug for Task<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task").finish_non_exhaustive()
    }
}

impl<F: Future> Future for Task<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        {
            let mut state = this.shared.state.lock();
            if state.aborted {
                drop(state);
                this.stage.set(Stage::Done);
                this.shared.finish(Err(JoinError::cancelled()));
                return Poll::Ready(());
            }
            set_waker(&mut state.task_waker, cx.waker());
        }
        let future = match this.stage.as_mut().project() {
            StageProj::Running { future } => future,
            StageProj::Done => return Poll::Ready(()),
        };
        #[cfg(feature = "std")]
        let polled =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| future.poll(cx).map(Ok)))
                .unwrap_or_else(|payload| Poll::Ready(Err(JoinError::panicked(payload.as_ref()))));
        #[cfg(not(feature = "std"))]
        let polled = future.poll(cx).map(Ok::<_, core::convert::Infallible>);
        match polled {
            Poll::Ready(result) => {
                this.stage.set(Stage::Done);
                this.shared.finish(result.map_err(identity_join_error));
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(feature = "std")]
fn identity_join_error(e: JoinError) -> JoinError {
    e
}

#[cfg(not(feature = "std"))]
fn identity_join_error(e: core::convert::Infallible) -> JoinError {
    match e {}
}

/// An owned handle to a spawned task's output.
///
/// Await it for `Ok(output)`, or a [`JoinError`] if the task was aborted,
/// panicked, or was dropped by its runtime before it finished. Dropping the
/// handle detaches the task: it keeps running, its output is dropped.
///
/// # Cancellation
///
/// Dropping the `JoinHandle` future never cancels the task (use
/// [`abort`](JoinHandle::abort) for that); awaiting it again from a clone is
/// not possible, the output is delivered once.
#[must_use = "dropping a JoinHandle detaches the task; call .detach() to say so"]
pub struct JoinHandle<T> {
    shared: Arc<Shared<T>>,
}

impl<T> JoinHandle<T> {
    /// Asks the task to stop. It is dropped the next time its executor polls
    /// it; awaiting the handle then gives [`JoinError::is_cancelled`]. A task
    /// that already finished keeps its output.
    pub fn abort(&self) {
        let waker = {
            let mut state = self.shared.state.lock();
            if state.finished {
                return;
            }
            state.aborted = true;
            state.task_waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Whether the task has finished (with output, panic or cancellation).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.shared.state.lock().finished
    }

    /// Lets the task run on with nobody awaiting it.
    pub fn detach(self) {}
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.shared.state.lock();
        if let Some(result) = state.result.take() {
            return Poll::Ready(result);
        }
        if state.finished {
            // Output already taken by an earlier poll.
            return Poll::Ready(Err(JoinError::cancelled()));
        }
        set_waker(&mut state.handle_waker, cx.waker());
        Poll::Pending
    }
}

/// Why a [`JoinHandle`] has no output.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinError {
    panic: Option<String>,
}

impl JoinError {
    fn cancelled() -> Self {
        JoinError { panic: None }
    }

    #[cfg(feature = "std")]
    fn panicked(payload: &(dyn core::any::Any + Send)) -> Self {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| String::from(*s))
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| String::from("<non-string panic payload>"));
        JoinError {
            panic: Some(message),
        }
    }

    /// The task was aborted or dropped before it finished.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.panic.is_none()
    }

    /// The task panicked.
    #[must_use]
    pub fn is_panic(&self) -> bool {
        self.panic.is_some()
    }

    /// The panic message, if the task panicked with a string payload.
    #[must_use]
    pub fn panic_message(&self) -> Option<&str> {
        self.panic.as_deref()
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.panic {
            None => f.write_str("JoinError::Cancelled"),
            Some(m) => write!(f, "JoinError::Panic({m:?})"),
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.panic {
            None => f.write_str("task was cancelled"),
            Some(m) => write!(f, "task panicked: {m}"),
        }
    }
}

impl core::error::Error for JoinError {}
