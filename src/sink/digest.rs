//! The delivery pass of a digest sink (`digest = "daily 07:00"`): when a period is due,
//! render its digest once and queue it; then deliver queued digests with the same lease,
//! retry, backoff and failure reporting as alerts (`worker`).
//!
//! Once per period, across restarts: the rendered body and the sink's "queued through" mark
//! are written in one transaction (`Store::enqueue_digest`), so a restart finds the period
//! either queued (and delivers it, if it is not yet) or not (and queues it). Only the latest
//! due period is ever queued, so a daemon that was down for three days sends one digest, of
//! the last period, not three. A digest cut off by a crash is sent again with the same id
//! (`digest-<sink>-<period start>`): receivers drop repeats by it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::build::Sink;
use super::deliver::{deliver_digest, DigestMessage, Outcome};
use super::worker::{backoff, blocking, claim_secs, round_ms, Pass};
use super::{Feeds, SinkError};
use crate::clock::Clock;
use crate::config::digest::{DigestFormat, DigestSchedule};
use crate::digest::{self, DigestError};
use crate::store::{ClaimedDigest, DigestRow, Store, StoreError};
use crate::text::time::rfc3339;

/// Seconds after its due time that a period's digest is rendered. An alert is stamped when
/// its poll matched and committed by the writer a moment later (batches gather for 250 ms
/// and can take a while to commit): rendering at once could miss an alert stamped just
/// before the due time that is committed just after it, in neither period's digest.
const SETTLE_SECS: i64 = 10;

/// Queues the digest of the latest due period if it is not queued yet, then delivers due
/// digests oldest first until none is due, one fails with a retryable error, or stop is
/// requested. The idle wait ends at the next due time at the latest.
pub(super) async fn pass(
    sink: &Arc<Sink>,
    schedule: DigestSchedule,
    store: &Arc<Mutex<Store>>,
    feeds: &Feeds,
    stop: &CancellationToken,
    failures: &mut u32,
    clock: Clock,
) -> Result<Pass, SinkError> {
    let name = sink.name().to_string();
    // No alert is queued for a digest sink, but its alert cursor keeps up, so that turning
    // it back into an alert sink does not replay every alert of its digest years.
    let n = name.clone();
    blocking(store, move |s| {
        s.enqueue_sink_alerts(&n, clock.now(), |_, _| false)
    })
    .await?;
    enqueue_due(sink, schedule, store, feeds, clock).await?;
    let lease = claim_secs(sink);
    loop {
        if stop.is_cancelled() {
            return Ok(Pass::Stopped);
        }
        let n = name.clone();
        let claimed = blocking(store, move |s| {
            let now = clock.now();
            s.claim_digest(&n, now, now + lease)
        })
        .await?;
        let Some(c) = claimed else {
            let n = name.clone();
            let pending = blocking(store, move |s| s.digest_next_due(&n)).await?;
            let now = clock.now();
            let render_at = schedule.next_due(now - SETTLE_SECS) + SETTLE_SECS;
            let next = render_at.min(pending.unwrap_or(i64::MAX));
            let wait = Duration::from_secs(next.saturating_sub(now).max(0) as u64);
            return Ok(Pass::Idle {
                next_due: Some(wait),
            });
        };
        if let Some(retry_in) = deliver_one(sink, store, c, failures, clock).await? {
            return Ok(Pass::Failed { retry_in });
        }
    }
}

/// Delivers one claimed digest and records the outcome; the pause before the next attempt
/// when it failed and may succeed later.
async fn deliver_one(
    sink: &Arc<Sink>,
    store: &Arc<Mutex<Store>>,
    c: ClaimedDigest,
    failures: &mut u32,
    clock: Clock,
) -> Result<Option<Duration>, SinkError> {
    let name = sink.name().to_string();
    let id = digest_id(&name, c.period_start);
    let msg = DigestMessage {
        id: &id,
        from: c.period_start,
        until: c.period_end,
        format: format_named(&c.format),
    };
    let attempt = c.attempts.saturating_add(1);
    let outcome = deliver_digest(sink, msg, attempt, c.body).await;
    let (n, row, now) = (name.clone(), c.id, clock.now());
    match outcome {
        Outcome::Delivered => {
            *failures = 0;
            blocking(store, move |s| s.record_digest_delivered(&n, row, now)).await?;
            tracing::info!(sink = %name, digest_id = %id, attempt, "digest delivered to sink");
            Ok(None)
        }
        Outcome::Reject { error } => {
            tracing::error!(sink = %name, digest_id = %id, attempt, error = %error,
                "sink rejected the digest for good; it is kept as failed (see `feedwatch status`)");
            blocking(store, move |s| {
                s.record_digest_failure(&n, row, now, &error, None)
            })
            .await?;
            Ok(None)
        }
        Outcome::Retry { error, after } => {
            *failures = failures.saturating_add(1);
            let retry_in = backoff(*failures, sink.spec.retry_initial, sink.spec.retry_max)
                .max(after.unwrap_or_default().min(sink.spec.retry_max));
            let retry_at = now + retry_in.as_secs() as i64;
            tracing::warn!(sink = %name, digest_id = %id, attempt, error = %error,
                "sink delivery failed; retrying in {}", humantime::format_duration(round_ms(retry_in)));
            blocking(store, move |s| {
                s.record_digest_failure(&n, row, now, &error, Some(retry_at))
            })
            .await?;
            Ok(Some(retry_in))
        }
    }
}

/// Renders and queues the digest of the latest due period, unless that period (or a later
/// one) is queued already or came before the sink was registered.
async fn enqueue_due(
    sink: &Arc<Sink>,
    schedule: DigestSchedule,
    store: &Arc<Mutex<Store>>,
    feeds: &Feeds,
    clock: Clock,
) -> Result<(), SinkError> {
    let now = clock.now();
    let due = schedule.last_due(now - SETTLE_SECS);
    let n = sink.name().to_string();
    let through = blocking(store, move |s| s.digest_through(&n, due)).await?;
    if through.is_none_or(|t| t >= due) {
        return Ok(());
    }
    let (from, until) = schedule.window(due);
    let (name, feeds, store) = (sink.name().to_string(), feeds.clone(), store.clone());
    let format = sink.spec.digest_format.unwrap_or_default();
    let queued = tokio::task::spawn_blocking(move || -> Result<bool, SinkError> {
        let mut s = store.lock().unwrap_or_else(|e| e.into_inner());
        let configured: Vec<(&str, &str)> = feeds
            .iter()
            .map(|(n, u)| (n.as_str(), u.as_str()))
            .collect();
        let req = digest::Request {
            from,
            until,
            now,
            max_stories: digest::DEFAULT_MAX_STORIES,
        };
        let d = digest::build(&s, &configured, req)?;
        let body = digest::render(&d, format).map_err(SinkError::Render)?;
        let row = DigestRow {
            period_start: from,
            period_end: until,
            format: format.as_str(),
            body: &body,
        };
        Ok(s.enqueue_digest(&name, &row, now)?)
    })
    .await
    .map_err(|e| SinkError::Store(StoreError::Task(e.to_string())))??;
    if queued {
        tracing::info!(sink = %sink.name(), from = %rfc3339(from), until = %rfc3339(until),
            "digest queued for sink");
    }
    Ok(())
}

impl From<DigestError> for SinkError {
    fn from(e: DigestError) -> Self {
        match e {
            DigestError::Store(s) => SinkError::Store(s),
            other => SinkError::Digest(other),
        }
    }
}

/// The id receivers de-duplicate by: the same for every attempt at one period.
pub(crate) fn digest_id(sink: &str, period_start: i64) -> String {
    format!("digest-{sink}-{}", rfc3339(period_start))
}

/// The stored format name back to the format (unknown names, which only a newer feedwatch
/// could have written, are sent as JSON's content type).
fn format_named(name: &str) -> DigestFormat {
    match name {
        "html" => DigestFormat::Html,
        "text" => DigestFormat::Text,
        _ => DigestFormat::Json,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_name_the_sink_and_period() {
        assert_eq!(
            digest_id("ops", 1_796_281_200),
            "digest-ops-2026-12-03T07:00:00Z"
        );
        for f in [DigestFormat::Json, DigestFormat::Html, DigestFormat::Text] {
            assert_eq!(format_named(f.as_str()), f);
        }
    }
}
