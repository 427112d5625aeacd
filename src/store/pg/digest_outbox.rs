//! The digest outbox on PostgreSQL (`migrations/postgres/0005_digest_schedule.sql`), with the
//! meaning of SQLite's `store::digest_outbox`: which period each digest sink has queued, and
//! the rendered digests still owed. The schedule and the delivery loop are SQLite's
//! (`sink::digest`, through `sink::outbox::Outbox`); this file only speaks SQL.
//!
//! Several instances run every digest sink. Each may render a due period; the one whose
//! transaction first moves the sink's `digest_through` mark (its `sinks` row locked with
//! `FOR UPDATE`, so the others wait and then see the period queued) queues it, and
//! `UNIQUE (sink, period_end)` backs that up. A queued digest is claimed with `FOR UPDATE
//! SKIP LOCKED` and leased like an alert delivery, so it goes out once (again, with the same
//! id, only after a crash mid-delivery).

use super::outbox::{STREAK_ENDS, STREAK_GROWS};
use super::{cached, PgError, PgStore};
use crate::store::{ClaimedDigest, DigestRow};

impl PgStore {
    /// The due time of the latest period queued for `sink`; the first call for a sink sets
    /// it to `registered_due` (as `Store::digest_through`). None for an unknown sink.
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn digest_through(
        &self,
        sink: &str,
        registered_due: i64,
    ) -> Result<Option<i64>, PgError> {
        let row = cached::query_opt(
            &self.client().await?,
            "WITH first AS (
                 UPDATE sinks SET digest_through = $2
                  WHERE name = $1 AND digest_through IS NULL
                 RETURNING digest_through
             )
             SELECT coalesce((SELECT digest_through FROM first), s.digest_through)
               FROM sinks s WHERE s.name = $1",
            &[&sink, &registered_due],
        )
        .await?;
        Ok(match row {
            Some(r) => r.try_get(0)?,
            None => None,
        })
    }

    /// Queues one period's digest for `sink`, due now, and marks the period queued, in one
    /// transaction (as `Store::enqueue_digest`). False, and nothing queued, when that period
    /// or a later one was queued already, e.g. by another instance since the caller looked.
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn enqueue_digest(
        &self,
        sink: &str,
        row: &DigestRow<'_>,
        now: i64,
    ) -> Result<bool, PgError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let through: Option<i64> = match cached::query_opt(
            &tx,
            "SELECT digest_through FROM sinks WHERE name = $1 FOR UPDATE",
            &[&sink],
        )
        .await?
        {
            Some(r) => r.try_get(0)?,
            None => return Ok(false),
        };
        if through.is_some_and(|t| t >= row.period_end) {
            return Ok(false);
        }
        let inserted = cached::execute(
            &tx,
            "INSERT INTO digest_deliveries
                 (sink, period_start, period_end, format, body, created_at, next_attempt_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6)
             ON CONFLICT (sink, period_end) DO NOTHING",
            &[
                &sink,
                &row.period_start,
                &row.period_end,
                &row.format,
                &row.body,
                &now,
            ],
        )
        .await?;
        cached::execute(
            &tx,
            "UPDATE sinks SET digest_through = $2 WHERE name = $1",
            &[&sink, &row.period_end],
        )
        .await?;
        tx.commit().await?;
        Ok(inserted > 0)
    }

    /// Takes the oldest due digest of `sink` not locked by another claim, leasing it until
    /// `lease_until`, in one statement (as `Store::claim_digest`).
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn claim_digest(
        &self,
        sink: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<ClaimedDigest>, PgError> {
        let row = cached::query_opt(
            &self.client().await?,
            "UPDATE digest_deliveries SET next_attempt_at = $3
              WHERE id = (SELECT id FROM digest_deliveries
                           WHERE sink = $1 AND delivered_at IS NULL AND failed_at IS NULL
                             AND next_attempt_at <= $2
                           ORDER BY period_end LIMIT 1
                           FOR UPDATE SKIP LOCKED)
              RETURNING id, period_start, period_end, format, body, attempts",
            &[&sink, &now, &lease_until],
        )
        .await?;
        Ok(match row {
            Some(r) => Some(ClaimedDigest {
                id: r.try_get(0)?,
                period_start: r.try_get(1)?,
                period_end: r.try_get(2)?,
                format: r.try_get(3)?,
                body: r.try_get(4)?,
                attempts: u32::try_from(r.try_get::<_, i32>(5)?).unwrap_or(0),
            }),
            None => None,
        })
    }

    /// Records that `sink` accepted the digest; the sink's failure streak ends.
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn record_digest_delivered(
        &self,
        sink: &str,
        id: i64,
        now: i64,
    ) -> Result<(), PgError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        cached::execute(
            &tx,
            "UPDATE digest_deliveries SET delivered_at = $2, attempts = attempts + 1,
                    last_error = NULL
              WHERE id = $1",
            &[&id, &now],
        )
        .await?;
        cached::execute(&tx, STREAK_ENDS, &[&sink, &now]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a failed attempt: retried at `retry_at`, or rejected for good when `None`
    /// (kept as failed until `feedwatch sinks retry`); the sink's failure streak grows.
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn record_digest_failure(
        &self,
        sink: &str,
        id: i64,
        now: i64,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<(), PgError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        cached::execute(
            &tx,
            "UPDATE digest_deliveries SET attempts = attempts + 1, last_error = $2,
                    next_attempt_at = coalesce($3, next_attempt_at),
                    failed_at = CASE WHEN $3::bigint IS NULL THEN $4::bigint END
              WHERE id = $1",
            &[&id, &error, &retry_at, &now],
        )
        .await?;
        cached::execute(&tx, STREAK_GROWS, &[&sink, &error, &now]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// When the sink's next pending digest is due, if one is pending.
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn digest_next_due(&self, sink: &str) -> Result<Option<i64>, PgError> {
        Ok(cached::query_one(
            &self.client().await?,
            "SELECT min(next_attempt_at) FROM digest_deliveries
              WHERE sink = $1 AND delivered_at IS NULL AND failed_at IS NULL",
            &[&sink],
        )
        .await?
        .try_get(0)?)
    }
}
