use core::fmt;
use core::ops::{Add, AddAssign, Sub};
use core::time::Duration;

/// A point in monotonic time, in nanoseconds since the clock's own epoch.
///
/// Unlike `std::time::Instant` it is a plain number: it exists without an
/// operating system, can be built from a hardware tick counter with
/// [`from_nanos`](Instant::from_nanos), and arithmetic on it never panics —
/// it saturates at [`Instant::ZERO`] and [`Instant::MAX`] (about 584 years).
///
/// Instants from different clocks are not comparable in any meaningful way.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

pub(crate) fn duration_to_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Instant {
    /// The clock's epoch.
    pub const ZERO: Instant = Instant(0);
    /// The latest representable instant; a deadline here never arrives in
    /// practice.
    pub const MAX: Instant = Instant(u64::MAX);

    /// An instant `nanos` nanoseconds after the epoch.
    #[must_use]
    pub const fn from_nanos(nanos: u64) -> Self {
        Instant(nanos)
    }

    /// Nanoseconds since the epoch.
    #[must_use]
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// `self + duration`, or `None` on overflow.
    #[must_use]
    pub fn checked_add(self, duration: Duration) -> Option<Self> {
        u64::try_from(duration.as_nanos())
            .ok()
            .and_then(|d| self.0.checked_add(d))
            .map(Instant)
    }

    /// `self - duration`, or `None` if that would precede the epoch.
    #[must_use]
    pub fn checked_sub(self, duration: Duration) -> Option<Self> {
        u64::try_from(duration.as_nanos())
            .ok()
            .and_then(|d| self.0.checked_sub(d))
            .map(Instant)
    }

    /// `self + duration`, saturating at [`Instant::MAX`].
    #[must_use]
    pub fn saturating_add(self, duration: Duration) -> Self {
        Instant(self.0.saturating_add(duration_to_nanos(duration)))
    }

    /// `self - duration`, saturating at [`Instant::ZERO`].
    #[must_use]
    pub fn saturating_sub(self, duration: Duration) -> Self {
        Instant(self.0.saturating_sub(duration_to_nanos(duration)))
    }

    /// Time elapsed from `earlier` to `self`, or `None` if `earlier` is later.
    #[must_use]
    pub fn checked_duration_since(self, earlier: Instant) -> Option<Duration> {
        self.0.checked_sub(earlier.0).map(Duration::from_nanos)
    }

    /// Time elapsed from `earlier` to `self`, or zero if `earlier` is later.
    #[must_use]
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// Converts a `std::time::Instant` to the process-wide epoch shared by
    /// every std-based clock (the first call fixes the epoch).
    ///
    /// Adapter crates build their clocks on this, so instants from the
    /// tokio, smol and async-std clocks are comparable with each other.
    /// Instants earlier than the epoch map to [`Instant::ZERO`].
    #[cfg(feature = "std")]
    #[must_use]
    pub fn from_std(instant: std::time::Instant) -> Self {
        Instant(duration_to_nanos(
            instant.saturating_duration_since(std_epoch()),
        ))
    }

    /// The `std::time::Instant` this instant stands for on the process-wide
    /// epoch (see [`from_std`](Instant::from_std)), saturating far in the
    /// future if it cannot be represented.
    #[cfg(feature = "std")]
    #[must_use]
    pub fn to_std(self) -> std::time::Instant {
        let epoch = std_epoch();
        let far = Duration::from_secs(60 * 60 * 24 * 365 * 30);
        epoch
            .checked_add(Duration::from_nanos(self.0))
            .unwrap_or_else(|| epoch + far)
    }

    /// The current time on the process-wide std epoch.
    #[cfg(feature = "std")]
    #[must_use]
    pub fn now_std() -> Self {
        Self::from_std(std::time::Instant::now())
    }
}

#[cfg(feature = "std")]
fn std_epoch() -> std::time::Instant {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(std::time::Instant::now)
}

impl Add<Duration> for Instant {
    type Output = Instant;

    /// Saturating: never panics.
    fn add(self, rhs: Duration) -> Instant {
        self.saturating_add(rhs)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        *self = self.saturating_add(rhs);
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;

    /// Saturating at the epoch: never panics.
    fn sub(self, rhs: Duration) -> Instant {
        self.saturating_sub(rhs)
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;

    /// Saturating at zero: never panics.
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Instant({:?})", Duration::from_nanos(self.0))
    }
}
