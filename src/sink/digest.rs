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

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::build::Sink;
use super::deliver::{deliver_digest, DigestMessage, Outcome};
use super::outbox::Outbox;
use super::worker::{backoff, claim_secs, round_ms, Pass};
use super::{Feeds, SinkError};
use crate::clock::Clock;
use crate::config::digest::{DigestFormat, DigestSchedule};
use crate::digest;
use crate::store::ClaimedDigest;
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
    store: &Outbox,
    feeds: &Feeds,
    stop: &CancellationToken,
    failures: &mut u32,
    clock: Clock,
) -> Result<Pass, SinkError> {
    let name = sink.name().to_string();
    store.skip_alerts(&name, clock.now()).await?;
    enqueue_due(sink, schedule, store, feeds, clock).await?;
    let lease = claim_secs(sink);
    loop {
        if stop.is_cancelled() {
            return Ok(Pass::Stopped);
        }
        let now = clock.now();
        let Some(c) = store.claim_digest(&name, now, now + lease).await? else {
            let pending = store.digest_next_due(&name).await?;
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
    store: &Outbox,
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
    let (row, now) = (c.id, clock.now());
    match outcome {
        Outcome::Delivered => {
            *failures = 0;
            store.digest_delivered(&name, row, now).await?;
            tracing::info!(sink = %name, digest_id = %id, attempt, "digest delivered to sink");
            Ok(None)
        }
        Outcome::Reject { error } => {
            tracing::error!(sink = %name, digest_id = %id, attempt, error = %error,
                "sink rejected the digest for good; it is kept as failed (see `feedwatch status`)");
            store.digest_failed(&name, row, now, error, None).await?;
            Ok(None)
        }
        Outcome::Retry { error, after } => {
            *failures = failures.saturating_add(1);
            let retry_in = backoff(*failures, sink.spec.retry_initial, sink.spec.retry_max)
                .max(after.unwrap_or_default().min(sink.spec.retry_max));
            let retry_at = now + retry_in.as_secs() as i64;
            tracing::warn!(sink = %name, digest_id = %id, attempt, error = %error,
                "sink delivery failed; retrying in {}", humantime::format_duration(round_ms(retry_in)));
            store
                .digest_failed(&name, row, now, error, Some(retry_at))
                .await?;
            Ok(Some(retry_in))
        }
    }
}

/// Renders and queues the digest of the latest due period, unless that period (or a later
/// one) is queued already or came before the sink was registered. On PostgreSQL several
/// instances may render one period; one of them queues it (`enqueue_digest`).
async fn enqueue_due(
    sink: &Arc<Sink>,
    schedule: DigestSchedule,
    store: &Outbox,
    feeds: &Feeds,
    clock: Clock,
) -> Result<(), SinkError> {
    let now = clock.now();
    let due = schedule.last_due(now - SETTLE_SECS);
    let through = store.digest_through(sink.name(), due).await?;
    if through.is_none_or(|t| t >= due) {
        return Ok(());
    }
    let (from, until) = schedule.window(due);
    let format = sink.spec.digest_format.unwrap_or_default();
    let req = digest::Request {
        from,
        until,
        now,
        max_stories: digest::DEFAULT_MAX_STORIES,
    };
    req.check()?;
    let (records, rows) = store.digest_data(from, until).await?;
    let configured: Vec<(&str, &str)> = feeds
        .iter()
        .map(|(n, u)| (n.as_str(), u.as_str()))
        .collect();
    let d = digest::assemble(&records, &rows, &configured, req);
    let body = digest::render(&d, format).map_err(SinkError::Render)?;
    let queued = store
        .enqueue_digest(sink.name(), (from, until), format.as_str(), body, now)
        .await?;
    if queued {
        tracing::info!(sink = %sink.name(), from = %rfc3339(from), until = %rfc3339(until),
            "digest queued for sink");
    }
    Ok(())
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
