//! Values that report whether they were dropped, to check that a value is
//! delivered exactly once or dropped, never lost in between.

use std::sync::{Arc, Weak};

/// A value with a [`Witness`] that tells whether it has been dropped.
#[derive(Debug)]
pub struct Tracked<T> {
    value: T,
    _alive: Arc<()>,
}

/// Observes one [`Tracked`] value from outside.
#[derive(Debug, Clone)]
pub struct Witness(Weak<()>);

impl<T> Tracked<T> {
    /// A tracked `value` and the witness of its drop.
    pub fn new(value: T) -> (Self, Witness) {
        let alive = Arc::new(());
        let witness = Witness(Arc::downgrade(&alive));
        (
            Tracked {
                value,
                _alive: alive,
            },
            witness,
        )
    }

    /// The value.
    pub fn value(&self) -> &T {
        &self.value
    }
}

impl<T: PartialEq> PartialEq for Tracked<T> {
    /// Compares the values only.
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl Witness {
    /// Whether the tracked value has been dropped.
    #[must_use]
    pub fn is_dropped(&self) -> bool {
        self.0.strong_count() == 0
    }
}
