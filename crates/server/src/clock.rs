//! The wall clock, injectable.
//!
//! Handlers read [`AppState::clock`](crate::state::AppState) once per request and pass the
//! instant down, so one request sees one time (a code issued and its expiry agree) and unit tests
//! can pin it with [`Clock::fixed`]. Protocol and storage never read a clock: they take `now`.

use gatehouse_protocol::types::UnixTime;
use std::sync::atomic::{AtomicI64, Ordering};

/// Where the time comes from.
#[derive(Debug)]
pub struct Clock {
    /// `None`: the system clock; `Some`: a pinned time (tests).
    fixed: Option<AtomicI64>,
}

impl Clock {
    /// The system clock.
    #[must_use]
    pub const fn system() -> Self {
        Self { fixed: None }
    }

    /// A clock that stands still at `at` until [`Clock::set`] moves it.
    #[must_use]
    pub const fn fixed(at: UnixTime) -> Self {
        Self {
            fixed: Some(AtomicI64::new(at.0)),
        }
    }

    /// Moves a fixed clock to `at`; a system clock ignores it.
    pub fn set(&self, at: UnixTime) {
        if let Some(t) = &self.fixed {
            t.store(at.0, Ordering::Relaxed);
        }
    }

    /// The current time, whole seconds since the Unix epoch.
    #[must_use]
    pub fn now(&self) -> UnixTime {
        match &self.fixed {
            Some(t) => UnixTime(t.load(Ordering::Relaxed)),
            None => system_now(),
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

/// The system clock, for the CLI and start-up (no request, no [`Clock`] to inject).
#[must_use]
pub fn system_now() -> UnixTime {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    UnixTime(i64::try_from(secs).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_clock_stands_still_until_set() {
        let clock = Clock::fixed(UnixTime(1_000));
        assert_eq!(clock.now(), UnixTime(1_000));
        clock.set(UnixTime(1_060));
        assert_eq!(clock.now(), UnixTime(1_060));
    }

    #[test]
    fn the_system_clock_is_after_2025() {
        assert!(Clock::system().now().0 > 1_735_689_600);
        Clock::system().set(UnixTime(0));
        assert!(Clock::system().now().0 > 1_735_689_600);
    }
}
