//! When a feed is polled next: exponential backoff after failures (a feed that is gone stops),
//! the jitter that keeps feeds from polling in lockstep, and the waits servers ask for,
//! capped at `[poll] max_interval`.

use std::time::Duration;

use crate::fetch::FetchError;
use crate::store::{FeedRow, PollRecord};

/// Records a failed fetch: backoff as in [`failed_msg`], the server's `Retry-After` honoured
/// (up to the cap), and a feed that is gone (410) stopped.
pub(super) fn failed(
    rec: PollRecord,
    row: &FeedRow,
    interval: Duration,
    cap: Duration,
    msg: &str,
    e: &FetchError,
) -> PollRecord {
    crate::ops::metrics::fetch_error(e.kind());
    let mut rec = failed_msg(rec, row, interval, cap, msg, e.status());
    let asked = match e {
        FetchError::Status {
            status: 429 | 503,
            retry_after: Some(wait),
            ..
        } => Some(("Retry-After", *wait)),
        FetchError::HostPaused { secs: wait, .. } => Some((
            "Retry-After (for the whole host)",
            Duration::from_secs(*wait),
        )),
        _ => None,
    };
    if let Some((what, wait)) = asked {
        let wait = server_wait(&row.url, &[(what, Some(wait))], cap);
        rec.next_poll_at = rec.next_poll_at.max(rec.polled_at + wait);
    }
    if e.status() == Some(410) {
        // Gone: the publisher removed the feed. Stop polling and say so.
        rec.next_poll_at = crate::store::NEXT_POLL_STOPPED;
        rec.error = Some(format!(
            "{msg}: the feed is gone; polling stopped (remove it from the config)"
        ));
    }
    rec
}

/// Records a failed poll with exponential backoff, and logs once per change of state.
pub(crate) fn failed_msg(
    mut rec: PollRecord,
    row: &FeedRow,
    interval: Duration,
    cap: Duration,
    msg: &str,
    status: Option<u16>,
) -> PollRecord {
    let failures = row.consecutive_failures + 1;
    let backoff = interval
        .saturating_mul(2u32.saturating_pow(failures.min(16) - 1))
        .min(cap.max(interval));
    rec.next_poll_at = rec.polled_at + jittered(backoff, row.id);
    rec.status = status.or(rec.status);
    rec.error = Some(msg.to_string());
    let when = crate::text::time::rfc3339(rec.next_poll_at);
    if row.last_error.as_deref() != Some(msg) {
        tracing::warn!(feed = %row.url, error = %msg, failures,
            "feed poll failed ({failures} in a row); next try at {when}; other feeds continue");
    } else {
        tracing::debug!(feed = %row.url, error = %msg, failures, "feed still failing; next try at {when}");
    }
    rec
}

/// The longest wait the server asked for (Cache-Control max-age or Expires, `<ttl>`,
/// Retry-After), in seconds, capped at `[poll] max_interval`: one response must not be able
/// to silence a feed for years (a max-age of ten years is a typo or an attack, and the
/// stored time would outlive restarts). A capped request is logged once per poll, at warn
/// level, naming the feed and the header.
pub(super) fn server_wait(feed: &str, asked: &[(&str, Option<Duration>)], cap: Duration) -> i64 {
    let Some((what, wait)) = asked
        .iter()
        .filter_map(|(what, wait)| wait.map(|w| (*what, w)))
        .max_by_key(|(_, w)| *w)
    else {
        return 0;
    };
    if wait > cap {
        tracing::warn!(feed, asked_secs = wait.as_secs(), max_interval_secs = cap.as_secs(),
            "the server asked not to be polled for {} ({what}); waiting [poll] max_interval ({}) instead",
            humantime::format_duration(wait), humantime::format_duration(cap));
    }
    secs(wait.min(cap))
}

/// Spreads polls over ±10% of the interval, drawn anew at every poll from the feed id and
/// the clock's nanoseconds, so feeds configured together do not poll in lockstep.
pub(super) fn jittered(d: Duration, seed: i64) -> i64 {
    let base = secs(d);
    let spread = base / 10;
    if spread == 0 {
        return base;
    }
    let now_ns = chrono::Utc::now().timestamp_subsec_nanos() as i64;
    let h =
        (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as i64) ^ now_ns).rem_euclid(2 * spread + 1);
    base - spread + h
}

pub(super) fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4)
}
