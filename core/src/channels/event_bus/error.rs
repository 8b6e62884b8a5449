//! The bus's errors.

use core::fmt;

use crate::error::ErrorGroup;

/// The bus was shut down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the event bus is shut down")
    }
}

impl core::error::Error for Closed {}

/// Why a [`Publish`](super::Publish) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum PublishError {
    /// The bus was shut down: nothing was delivered.
    Closed,
    /// Subscribers failed; their errors, flattened, in the order they
    /// happened.
    Failed(ErrorGroup),
    /// The timeout passed; the errors collected until then (maybe none).
    TimedOut(ErrorGroup),
}

impl PublishError {
    /// The subscriber errors, if any were collected.
    #[must_use]
    pub fn errors(&self) -> Option<&ErrorGroup> {
        match self {
            PublishError::Failed(g) | PublishError::TimedOut(g) => Some(g),
            PublishError::Closed => None,
        }
    }
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishError::Closed => f.write_str("the event bus is shut down"),
            PublishError::Failed(g) => fmt::Display::fmt(g, f),
            PublishError::TimedOut(g) if g.is_empty() => f.write_str("the publication timed out"),
            PublishError::TimedOut(g) => write!(f, "the publication timed out; {g}"),
        }
    }
}

impl core::error::Error for PublishError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            PublishError::Failed(g) | PublishError::TimedOut(g) if !g.is_empty() => Some(g),
            _ => None,
        }
    }
}

impl From<Closed> for PublishError {
    fn from(_: Closed) -> Self {
        PublishError::Closed
    }
}
