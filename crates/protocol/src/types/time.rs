//! Seconds since the Unix epoch. The protocol never reads the clock; callers pass `now`.

use serde::{Deserialize, Serialize};

/// A point in time, in whole seconds since the Unix epoch (the unit of JWT `iat`/`exp`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnixTime(pub i64);

impl UnixTime {
    /// This time plus `seconds`, saturating.
    #[must_use]
    pub fn plus(self, seconds: u64) -> Self {
        Self(self.0.saturating_add(i64::try_from(seconds).unwrap_or(i64::MAX)))
    }

    /// Whole seconds from `earlier` to `self` (0 if `earlier` is later).
    #[must_use]
    pub fn since(self, earlier: Self) -> u64 {
        u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0)
    }
}
