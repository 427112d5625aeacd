//! "Now" in unix seconds, for the units that keep times in the database (the sink outbox).
//!
//! The daemon reads the system clock: stored times must be wall-clock times, comparable
//! across restarts and with other processes. Unit tests run those units on paused tokio
//! time, where `tokio::time::advance` has to move "now" as well; rather than faking the
//! system clock, the unit is handed a [`Clock`] that reads tokio's.

/// Where a unit reads "now" from.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) enum Clock {
    /// The system clock (what the daemon runs on).
    #[default]
    System,
    /// `base` unix seconds at `start`, then tokio time: paused in tests, so `advance` moves it.
    #[cfg(test)]
    Tokio {
        /// When the clock read `base`.
        start: tokio::time::Instant,
        /// Unix seconds at `start`.
        base: i64,
    },
}

impl Clock {
    /// A clock that reads `base` now and follows tokio time from here.
    #[cfg(test)]
    pub(crate) fn tokio(base: i64) -> Clock {
        Clock::Tokio {
            start: tokio::time::Instant::now(),
            base,
        }
    }

    /// Unix seconds now.
    pub(crate) fn now(&self) -> i64 {
        match self {
            Clock::System => chrono::Utc::now().timestamp(),
            #[cfg(test)]
            Clock::Tokio { start, base } => {
                base + i64::try_from(start.elapsed().as_secs()).unwrap_or(i64::MAX / 4)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_tokio_clock_moves_with_paused_time_only() {
        let c = Clock::tokio(1_000);
        assert_eq!(c.now(), 1_000);
        tokio::time::advance(Duration::from_millis(2_500)).await;
        assert_eq!(c.now(), 1_002, "whole seconds, rounded down");
    }
}
