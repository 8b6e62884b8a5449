//! [`ErrorGroup`]: many errors reported as one.

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

/// A type-erased error, as callbacks of several primitives return it.
pub type BoxError = Box<dyn core::error::Error + Send + Sync + 'static>;

/// Several errors that happened together, in the order they happened,
/// under one message: what a publisher gets back when some of its
/// subscribers failed.
///
/// A group may hold groups (a subscriber that itself fanned out);
/// [`flatten`](ErrorGroup::flatten) replaces every nested
/// `ErrorGroup<BoxError>` by its members, at any depth.
///
/// ```
/// use asyncutils_core::error::{BoxError, ErrorGroup, InvalidArgument};
///
/// let inner: ErrorGroup = ErrorGroup::new(
///     "inner",
///     vec![BoxError::from(InvalidArgument::new("b", "positive"))],
/// );
/// let outer: ErrorGroup = ErrorGroup::new(
///     "2 subscribers failed",
///     vec![BoxError::from(InvalidArgument::new("a", "positive")), BoxError::from(inner)],
/// );
/// let flat = outer.flatten();
/// assert_eq!(flat.len(), 2);
/// assert_eq!(flat.message(), "2 subscribers failed");
/// assert!(flat.iter().all(|e| e.is::<InvalidArgument>()));
/// ```
pub struct ErrorGroup<E = BoxError> {
    message: Cow<'static, str>,
    errors: Vec<E>,
}

impl<E> ErrorGroup<E> {
    /// A group of `errors` described by `message`.
    #[must_use]
    pub fn new(message: impl Into<Cow<'static, str>>, errors: Vec<E>) -> Self {
        ErrorGroup {
            message: message.into(),
            errors,
        }
    }

    /// What the errors have in common (e.g. "3 subscribers of `orders` failed").
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The errors, in the order they happened.
    #[must_use]
    pub fn errors(&self) -> &[E] {
        &self.errors
    }

    /// The errors, by value.
    #[must_use]
    pub fn into_errors(self) -> Vec<E> {
        self.errors
    }

    /// Iterates over the errors.
    pub fn iter(&self) -> core::slice::Iter<'_, E> {
        self.errors.iter()
    }

    /// How many errors the group holds (not counting nested members; see
    /// [`flatten`](ErrorGroup::flatten)).
    #[must_use]
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Whether the group holds no error.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// Adds an error at the end.
    pub fn push(&mut self, error: E) {
        self.errors.push(error);
    }

    /// `Err(self)` if the group holds an error, else `Ok(())`: the usual
    /// last step of collecting failures.
    ///
    /// # Errors
    ///
    /// The group itself, when it is not empty.
    pub fn into_result(self) -> Result<(), Self> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl ErrorGroup<BoxError> {
    /// Replaces every member that is itself an `ErrorGroup<BoxError>` by
    /// that group's members, recursively, keeping the order; the outer
    /// message stays.
    #[must_use]
    pub fn flatten(self) -> Self {
        let mut flat = Vec::with_capacity(self.errors.len());
        flatten_into(self.errors, &mut flat);
        ErrorGroup {
            message: self.message,
            errors: flat,
        }
    }
}

fn flatten_into(errors: Vec<BoxError>, out: &mut Vec<BoxError>) {
    for error in errors {
        match error.downcast::<ErrorGroup<BoxError>>() {
            Ok(group) => flatten_into(group.errors, out),
            Err(error) => out.push(error),
        }
    }
}

impl<E> Default for ErrorGroup<E> {
    /// An empty group with the message "errors".
    fn default() -> Self {
        ErrorGroup::new("errors", Vec::new())
    }
}

impl<E> FromIterator<E> for ErrorGroup<E> {
    /// Collects into a group with the message "errors".
    fn from_iter<I: IntoIterator<Item = E>>(iter: I) -> Self {
        ErrorGroup::new("errors", iter.into_iter().collect())
    }
}

impl<E> Extend<E> for ErrorGroup<E> {
    fn extend<I: IntoIterator<Item = E>>(&mut self, iter: I) {
        self.errors.extend(iter);
    }
}

impl<E> IntoIterator for ErrorGroup<E> {
    type Item = E;
    type IntoIter = alloc::vec::IntoIter<E>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.into_iter()
    }
}

impl<'a, E> IntoIterator for &'a ErrorGroup<E> {
    type Item = &'a E;
    type IntoIter = core::slice::Iter<'a, E>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}

impl<E: fmt::Debug> fmt::Debug for ErrorGroup<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorGroup")
            .field("message", &self.message)
            .field("errors", &self.errors)
            .finish()
    }
}

impl<E: fmt::Display> fmt::Display for ErrorGroup<E> {
    /// `message (N errors): first; second; ...`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(
            f,
            "{} ({n} error{})",
            self.message,
            if n == 1 { "" } else { "s" }
        )?;
        for (i, e) in self.errors.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl<E: fmt::Debug + fmt::Display + 'static> core::error::Error for ErrorGroup<E> {
    /// The first error, when the members are [`BoxError`]s, so that error
    /// reporters walking `source()` show at least one cause. (A member
    /// type that is not type-erased gives `None`; read
    /// [`errors`](ErrorGroup::errors) instead.)
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        let first: &dyn core::any::Any = self.errors.first()?;
        first
            .downcast_ref::<BoxError>()
            .map(|e| &**e as &(dyn core::error::Error + 'static))
    }
}

#[cfg(all(test, feature = "std"))]
mod tests;
