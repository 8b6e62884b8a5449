//! Audit events: named, typed records that primitives raise, which tests and
//! operators can listen to.
//!
//! Every primitive raises the events listed in [`CATALOG`] (their names keep
//! the spelling of the library this crate re-implements, so they are stable
//! identifiers). Applications may raise their own events with any name.
//!
//! When nobody listens, raising an event costs one relaxed atomic load and a
//! branch: the [`emit!`](crate::emit) macro does not even build the argument
//! list. Listening is scoped: [`listening`] and [`extracting`] return guards
//! that unsubscribe when dropped, and may be nested and used from many
//! threads at once. [`Hook`] is an independent registry for code that wants
//! its own; the free functions use the process-wide one, which is where the
//! primitives raise their events.
//!
//! # Listener rules
//!
//! * Listeners run synchronously on the thread that raised the event, with
//!   no lock of this module held: they may raise events, subscribe and
//!   unsubscribe themselves (changes apply from the next event on).
//! * Primitives raise events outside their own locks and at points where
//!   their state is consistent, so a listener may use the primitive.
//! * **Panics.** A listener that panics unwinds into the code that raised the
//!   event; listeners after it in that dispatch are skipped. No lock is held,
//!   so the registry stays fully usable, and the guard of the panicking
//!   listener still unsubscribes it when dropped.
//! * A listener never sees secrets: arguments carry type names, instance
//!   addresses, sizes and durations, never the values a primitive handles.
//!
//! # Examples
//!
//! ```
//! use asyncutils_core::audit::{self, Value};
//!
//! let extracted = audit::extracting("myapp.login", |event| {
//!     event.get("user").and_then(|v| v.as_str().map(String::from))
//! });
//! asyncutils_core::emit!("myapp.login", user = "ada", attempt = 1u32);
//! asyncutils_core::emit!("myapp.logout", user = "ada"); // not extracted
//! assert_eq!(extracted.finish(), vec![Some("ada".to_string())]);
//! ```

mod hook;
mod value;

pub use hook::{
    Extracting, Hook, Listening, SubscriptionId, emit, enabled, extracting, global, listening,
    listening_all, subscribe, subscribe_all, unsubscribe,
};
pub use value::{Arg, Event, OwnedEvent, OwnedValue, Value};

/// One entry of the [`CATALOG`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogEntry {
    /// The event name, as passed to [`emit`].
    pub name: &'static str,
    /// The argument names, in order.
    pub args: &'static [&'static str],
    /// The module of this crate that raises (or, when built, will raise) it.
    pub module: &'static str,
    /// When it is raised and what the arguments carry.
    pub description: &'static str,
}

/// Looks an event up in the [`CATALOG`] by name.
#[must_use]
pub fn catalog_entry(name: &str) -> Option<&'static CatalogEntry> {
    CATALOG
        .binary_search_by(|e| e.name.cmp(name))
        .ok()
        .map(|i| &CATALOG[i])
}

macro_rules! catalog {
    ($( $name:literal ( $($arg:ident),* ) in $module:literal => $desc:literal ;)*) => {
        /// Every audit event this crate defines, sorted by name.
        ///
        /// Events of modules not built yet are listed too; the conformance
        /// suite reports how many of them the tests actually raise.
        ///
        /// | Event | Arguments | Module | Description |
        /// |---|---|---|---|
        $( #[doc = concat!("| `", $name, "` | ", $( "`", stringify!($arg), "` ", )* " | `", $module, "` | ", $desc, " |")] )*
        pub static CATALOG: &[super::CatalogEntry] = &[
            $( super::CatalogEntry {
                name: $name,
                args: &[$(stringify!($arg)),*],
                module: $module,
                description: $desc,
            }, )*
        ];
    };
}

mod catalog;
pub use catalog::CATALOG;

/// Raises an audit event on the process-wide hook, building the arguments
/// only if someone listens.
///
/// `emit!("name", arg = value, ...)` where each value converts into a
/// [`Value`] (integers, floats, `bool`, `&str`, `()` for none, or an
/// [`Value::Addr`]).
///
/// # Examples
///
/// ```
/// asyncutils_core::emit!("myapp.started");
/// asyncutils_core::emit!("myapp.resized", width = 800u32, height = 600u32);
/// ```
#[macro_export]
macro_rules! emit {
    ($name:expr $(, $arg:ident = $value:expr)* $(,)?) => {
        if $crate::audit::enabled() {
            $crate::audit::global().emit(
                $name,
                &[$($crate::audit::Arg::new(stringify!($arg), $crate::audit::Value::from($value))),*],
            );
        }
    };
}

#[cfg(all(test, feature = "std"))]
mod tests;
