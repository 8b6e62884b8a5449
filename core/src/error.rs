//! Errors shared by every primitive.
//!
//! * [`InvalidArgument`]: a constructor or method argument out of range.
//! * [`ErrorGroup`]: several errors that happened together (the failures
//!   of many subscribers or observers), with [`ErrorGroup::flatten`] to
//!   unnest groups of groups.

use core::fmt;

mod group;

pub use group::{BoxError, ErrorGroup};

/// An argument given to a constructor or method was out of range.
///
/// Primitives never panic on bad input; they return this, naming the
/// argument and what it must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidArgument {
    name: &'static str,
    requirement: &'static str,
}

impl InvalidArgument {
    /// `name` did not meet `requirement` (e.g. `"a finite number greater than zero"`).
    #[must_use]
    pub const fn new(name: &'static str, requirement: &'static str) -> Self {
        InvalidArgument { name, requirement }
    }

    /// The argument's name.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// What the argument must be.
    #[must_use]
    pub const fn requirement(&self) -> &'static str {
        self.requirement
    }
}

impl fmt::Display for InvalidArgument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid argument `{}`: must be {}",
            self.name, self.requirement
        )
    }
}

impl core::error::Error for InvalidArgument {}
