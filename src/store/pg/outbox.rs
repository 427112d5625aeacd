//! The sink outbox on PostgreSQL: the tables of `migrations/postgres/0001_init.sql`
//! (`sinks`, `sink_deliveries`, with the meaning of SQLite's `store::outbox`), shared by every
//! instance on the database. The delivery loop is the SQLite one (`sink::worker`, through
//! `sink::outbox::Outbox`); this file only speaks SQL.
//!
//! What differs from SQLite, and why:
//! - **Queued in the poll's commit, not by a cursor.** SQLite queues "every alert above the
//!   sink's cursor", which is sound with one writer: ids are committed in order. Here ids
//!   come from a sequence drawn at insert and two instances' commits can finish out of id
//!   order, so a cursor could pass over an alert committed late with a lower id, for ever.
//!   Instead the commit that creates alerts queues them ([`queue`]), in its own transaction,
//!   for each sink of the committing instance's config whose filter
//!   ([`SinkSpec::accepts`]) takes them: the alert and its deliveries are committed
//!   together, so a kill -9 at any instant loses none, and nothing depends on commit order.
//!   (The xid-based reading of `follow` would work too, but needs a per-sink snapshot mark
//!   and a scan per pass; the commit already knows exactly which alerts it created.) A sink
//!   is registered (its `sinks` row) before any commit can queue for it; a sink added later
//!   gets alerts committed from then on, as on SQLite. The `cursor` column is unused.
//! - **Claimed with `FOR UPDATE SKIP LOCKED`.** Every instance runs a worker for every
//!   configured sink. A claim takes the oldest due delivery that no other claim has locked
//!   and moves its `next_attempt_at` to the end of a lease (as SQLite does) in the same
//!   statement: once committed, the row is not due for anyone until the lease ends, so two
//!   instances never send the same payload at once; an instance that dies mid-delivery
//!   leaves the row to be sent again after the lease (at least once, with the stable id).
//! - **Outcomes** (delivered, retry at, rejected for good) and the sink's failure streak
//!   are written as on SQLite, in one transaction each.

use super::read::{alert_record, ALERTS_SELECT};
use super::{cached, PgError, PgStore};
use crate::config::sink::SinkSpec;
use crate::rules::Severity;
use crate::store::ClaimedAlert;

type Tx<'a> = deadpool_postgres::Transaction<'a>;

/// A delivery (of an alert or a digest) went through: the sink's failure streak ends.
/// `$1` the sink, `$2` now.
pub(super) const STREAK_ENDS: &str =
    "UPDATE sinks SET consecutive_failures = 0, last_delivered_at = $2 WHERE name = $1";

/// A delivery failed: the sink's failure streak grows. `$1` the sink, `$2` the error,
/// `$3` now.
pub(super) const STREAK_GROWS: &str =
    "UPDATE sinks SET consecutive_failures = consecutive_failures + 1,
            last_error = $2, last_error_at = $3
     WHERE name = $1";

/// Queues the alerts `created` by this commit for each of `sinks` whose filter accepts
/// them, due at `now`, inside the commit's transaction. Digest sinks get no alert
/// deliveries. A sink with no `sinks` row (not registered: cannot happen for a running
/// sink) is skipped rather than failing the poll's commit.
pub(super) async fn queue(
    tx: &Tx<'_>,
    created: &[i64],
    sinks: &[SinkSpec],
    now: i64,
) -> Result<u64, PgError> {
    if created.is_empty() || !sinks.iter().any(|s| s.digest.is_none()) {
        return Ok(0);
    }
    let rows = cached::query(
        tx,
        "SELECT id, rule, severity FROM alerts WHERE id = ANY($1) ORDER BY id",
        &[&created],
    )
    .await?;
    let (mut ids, mut names) = (Vec::new(), Vec::new());
    for r in &rows {
        let (id, rule, severity): (i64, &str, &str) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
        let severity = Severity::from_stored(severity);
        for s in sinks.iter().filter(|s| s.digest.is_none()) {
            if s.accepts(rule, severity) {
                ids.push(id);
                names.push(s.name.as_str());
            }
        }
    }
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(cached::execute(
        tx,
        "INSERT INTO sink_deliveries (alert_id, sink, next_attempt_at)
             SELECT q.a, q.s, $3 FROM unnest($1::bigint[], $2::text[]) AS q(a, s)
             JOIN sinks ON sinks.name = q.s
             ON CONFLICT DO NOTHING",
        &[&ids, &names, &now],
    )
    .await?)
}

impl PgStore {
    /// Registers sinks by name (as `Store::register_sinks`): a known sink keeps its queue
    /// and streak. Several instances starting together write the same rows harmlessly.
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn register_sinks(&self, names: &[&str], now: i64) -> Result<(), PgError> {
        cached::execute(
            &self.client().await?,
            "INSERT INTO sinks (name, created_at, cursor)
                 SELECT n, $2, 0 FROM unnest($1::text[]) AS n ORDER BY n
                 ON CONFLICT (name) DO NOTHING",
            &[&names, &now],
        )
        .await?;
        Ok(())
    }

    /// Takes the oldest due delivery of `sink` that no other instance is claiming, leasing
    /// it until `lease_until` (see the module doc). One statement, so the claim is committed
    /// before the delivery starts.
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn claim_sink_alert(
        &self,
        sink: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<ClaimedAlert>, PgError> {
        let client = self.client().await?;
        let claimed = cached::query_opt(
            &client,
            "UPDATE sink_deliveries d SET next_attempt_at = $3
                 FROM (SELECT alert_id FROM sink_deliveries
                        WHERE sink = $1 AND delivered_at IS NULL AND failed_at IS NULL
                          AND next_attempt_at <= $2
                        ORDER BY alert_id LIMIT 1
                        FOR UPDATE SKIP LOCKED) due
                 WHERE d.sink = $1 AND d.alert_id = due.alert_id
                 RETURNING d.alert_id, d.attempts",
            &[&sink, &now, &lease_until],
        )
        .await?;
        let Some(row) = claimed else {
            return Ok(None);
        };
        let (id, attempts): (i64, i32) = (row.try_get(0)?, row.try_get(1)?);
        let sql = format!("{ALERTS_SELECT} WHERE a.id = $1");
        let alert = cached::query_opt(&client, &sql, &[&id]).await?;
        Ok(match alert {
            Some(r) => Some(ClaimedAlert {
                alert: alert_record(&r)?,
                attempts: u32::try_from(attempts).unwrap_or(0),
            }),
            // Deleted meanwhile (the cascade removes its delivery too).
            None => None,
        })
    }

    /// Records that `sink` accepted the alert; the sink's failure streak ends.
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn record_sink_delivered(
        &self,
        sink: &str,
        alert_id: i64,
        now: i64,
    ) -> Result<(), PgError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        cached::execute(
            &tx,
            "UPDATE sink_deliveries SET delivered_at = $3, attempts = attempts + 1,
                    last_error = NULL
             WHERE alert_id = $1 AND sink = $2",
            &[&alert_id, &sink, &now],
        )
        .await?;
        cached::execute(&tx, STREAK_ENDS, &[&sink, &now]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a failed attempt: retried at `retry_at`, or, when `None`, rejected for good
    /// (as `Store::record_sink_failure`); the sink's failure streak grows.
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn record_sink_failure(
        &self,
        sink: &str,
        alert_id: i64,
        now: i64,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<(), PgError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        cached::execute(
            &tx,
            "UPDATE sink_deliveries SET attempts = attempts + 1, last_error = $3,
                    next_attempt_at = coalesce($4, next_attempt_at),
                    failed_at = CASE WHEN $4::bigint IS NULL THEN $5::bigint END
             WHERE alert_id = $1 AND sink = $2",
            &[&alert_id, &sink, &error, &retry_at, &now],
        )
        .await?;
        cached::execute(&tx, STREAK_GROWS, &[&sink, &error, &now]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The sink's failed deliveries in a row (0 after a delivery, and for an unknown sink)
    /// and the last one's error.
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn sink_failure_streak(&self, sink: &str) -> Result<(u32, Option<String>), PgError> {
        let row = cached::query_opt(
            &self.client().await?,
            "SELECT consecutive_failures, last_error FROM sinks WHERE name = $1",
            &[&sink],
        )
        .await?;
        Ok(match row {
            Some(r) => (
                u32::try_from(r.try_get::<_, i32>(0)?).unwrap_or(0),
                r.try_get(1)?,
            ),
            None => (0, None),
        })
    }

    /// When the sink's next pending delivery is due, if any is pending.
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn sink_next_due(&self, sink: &str) -> Result<Option<i64>, PgError> {
        Ok(cached::query_one(
            &self.client().await?,
            "SELECT min(next_attempt_at) FROM sink_deliveries
                 WHERE sink = $1 AND delivered_at IS NULL AND failed_at IS NULL",
            &[&sink],
        )
        .await?
        .try_get(0)?)
    }

    /// Makes a sink's rejected deliveries (alerts and digests) due again at `now`, for
    /// `sinks retry` (as `Store::retry_failed_sink`). Returns how many.
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn retry_failed_sink(&self, sink: &str, now: i64) -> Result<u64, PgError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut n = 0;
        for table in ["sink_deliveries", "digest_deliveries"] {
            n += tx
                .execute(
                    &format!(
                        "UPDATE {table} SET failed_at = NULL, next_attempt_at = $2
                          WHERE sink = $1 AND failed_at IS NOT NULL"
                    ),
                    &[&sink, &now],
                )
                .await?;
        }
        tx.commit().await?;
        Ok(n)
    }

    /// Forgets delivered and rejected rows (alerts and digests) finished before `before`
    /// (as `Store::prune_sink_deliveries`). Returns how many rows went.
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn prune_sink_deliveries(&self, before: i64) -> Result<u64, PgError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut n = 0;
        for table in ["sink_deliveries", "digest_deliveries"] {
            n += cached::execute(
                &tx,
                &format!("DELETE FROM {table} WHERE coalesce(delivered_at, failed_at) < $1"),
                &[&before],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(n)
    }
}
