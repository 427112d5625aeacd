//! The digest outbox: which period each digest sink has queued, and the rendered digests
//! still owed (tables from `migrations/0012_digest_schedule.sql`). The schedule and the
//! delivery loop live in `sink`; this file only speaks SQL.
//!
//! A period is queued once: the row holding its body and the sink's `digest_through` mark
//! move together in one IMMEDIATE transaction, and `UNIQUE (sink, period_end)` backs that up
//! against a second process on the same database.

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::{Store, StoreError};

/// A rendered digest claimed for delivery to one sink.
#[derive(Debug, Clone)]
pub struct ClaimedDigest {
    /// The row's id in the outbox.
    pub id: i64,
    /// Start of the period's window (inclusive), Unix seconds.
    pub period_start: i64,
    /// End of the window (exclusive): the due time.
    pub period_end: i64,
    /// The format it was rendered in (`json`, `html`, `text`).
    pub format: String,
    /// The body, as `feedwatch digest` prints it.
    pub body: Vec<u8>,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// A digest ready to queue: its period and its rendered body.
#[derive(Debug, Clone)]
pub struct DigestRow<'a> {
    /// Start of the window (inclusive).
    pub period_start: i64,
    /// End of the window (exclusive): the due time.
    pub period_end: i64,
    /// The format's name.
    pub format: &'a str,
    /// The rendered body.
    pub body: &'a [u8],
}

impl Store {
    /// The due time of the latest period queued for `sink`. The first call for a sink (the
    /// mark is NULL) sets it to `registered_due`, the latest due time already past, so a new
    /// digest sink sends nothing for periods before it existed. None for an unknown sink.
    pub fn digest_through(
        &mut self,
        sink: &str,
        registered_due: i64,
    ) -> Result<Option<i64>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.prepare_cached(
            "UPDATE sinks SET digest_through = ?2 WHERE name = ?1 AND digest_through IS NULL",
        )?
        .execute(params![sink, registered_due])?;
        let through = tx
            .prepare_cached("SELECT digest_through FROM sinks WHERE name = ?1")?
            .query_row([sink], |r| r.get(0))
            .optional()?;
        tx.commit()?;
        Ok(through)
    }

    /// Queues one period's digest for `sink`, due now, and marks the period queued, in one
    /// transaction. Returns false (and queues nothing) when that period or a later one was
    /// queued already, e.g. by another process since the caller looked.
    pub fn enqueue_digest(
        &mut self,
        sink: &str,
        row: &DigestRow<'_>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let through: Option<i64> = tx
            .prepare_cached("SELECT digest_through FROM sinks WHERE name = ?1")?
            .query_row([sink], |r| r.get(0))
            .optional()?
            .flatten();
        if through.is_some_and(|t| t >= row.period_end) {
            return Ok(false);
        }
        let inserted = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO digest_deliveries
                    (sink, period_start, period_end, format, body, created_at, next_attempt_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            )?
            .execute(params![
                sink,
                row.period_start,
                row.period_end,
                row.format,
                row.body,
                now
            ])?;
        tx.prepare_cached("UPDATE sinks SET digest_through = ?2 WHERE name = ?1")?
            .execute(params![sink, row.period_end])?;
        tx.commit()?;
        Ok(inserted > 0)
    }

    /// Takes the oldest due digest of `sink` for delivery, leasing it until `lease_until`
    /// (see [`Store::claim_sink_alert`]: a crash mid-delivery sends it again later).
    pub fn claim_digest(
        &mut self,
        sink: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<ClaimedDigest>, StoreError> {
        const DUE: &str = "SELECT id FROM digest_deliveries
             WHERE sink = ?1 AND delivered_at IS NULL AND failed_at IS NULL
               AND next_attempt_at <= ?2
             ORDER BY period_end LIMIT 1";
        if !self.conn.prepare_cached(DUE)?.exists(params![sink, now])? {
            return Ok(None);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let id: Option<i64> = tx
            .prepare_cached(DUE)?
            .query_row(params![sink, now], |r| r.get(0))
            .optional()?;
        let Some(id) = id else {
            return Ok(None);
        };
        tx.prepare_cached("UPDATE digest_deliveries SET next_attempt_at = ?2 WHERE id = ?1")?
            .execute(params![id, lease_until])?;
        let claimed = tx
            .prepare_cached(
                "SELECT id, period_start, period_end, format, body, attempts
                 FROM digest_deliveries WHERE id = ?1",
            )?
            .query_row([id], |r| {
                Ok(ClaimedDigest {
                    id: r.get(0)?,
                    period_start: r.get(1)?,
                    period_end: r.get(2)?,
                    format: r.get(3)?,
                    body: r.get(4)?,
                    attempts: r.get(5)?,
                })
            })?;
        tx.commit()?;
        Ok(Some(claimed))
    }

    /// Records that `sink` accepted the digest; the sink's failure streak ends.
    pub fn record_digest_delivered(
        &mut self,
        sink: &str,
        id: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.prepare_cached(
            "UPDATE digest_deliveries SET delivered_at = ?2, attempts = attempts + 1,
                    last_error = NULL
             WHERE id = ?1",
        )?
        .execute(params![id, now])?;
        super::outbox::streak_ends(&tx, sink, now)?;
        tx.commit()?;
        Ok(())
    }

    /// Records a failed attempt: retried at `retry_at`, or, when `None`, rejected for good
    /// (kept as failed until `feedwatch sinks retry`), as for alerts.
    pub fn record_digest_failure(
        &mut self,
        sink: &str,
        id: i64,
        now: i64,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.prepare_cached(
            "UPDATE digest_deliveries SET attempts = attempts + 1, last_error = ?2,
                    next_attempt_at = COALESCE(?3, next_attempt_at),
                    failed_at = CASE WHEN ?3 IS NULL THEN ?4 END
             WHERE id = ?1",
        )?
        .execute(params![id, error, retry_at, now])?;
        super::outbox::streak_grows(&tx, sink, error, now)?;
        tx.commit()?;
        Ok(())
    }

    /// When the sink's next pending digest is due, if one is pending.
    pub fn digest_next_due(&self, sink: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT MIN(next_attempt_at) FROM digest_deliveries
                 WHERE sink = ?1 AND delivered_at IS NULL AND failed_at IS NULL",
            )?
            .query_row([sink], |r| r.get(0))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(end: i64) -> DigestRow<'static> {
        DigestRow {
            period_start: end - 3600,
            period_end: end,
            format: "json",
            body: b"{}\n",
        }
    }

    #[test]
    fn each_period_is_queued_once_and_a_new_sink_starts_now() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut s = Store::open(&dir.path().join("f.db")).expect("open");
        assert_eq!(s.digest_through("d", 7200).expect("unknown"), None);
        s.register_sinks(["d"], 7300).expect("register");
        assert_eq!(s.digest_through("d", 7200).expect("first"), Some(7200));
        assert_eq!(s.digest_through("d", 10_800).expect("kept"), Some(7200));
        assert!(
            !s.enqueue_digest("d", &row(7200), 7300).expect("old"),
            "a period before registration"
        );
        assert!(s.enqueue_digest("d", &row(10_800), 10_801).expect("new"));
        assert!(!s.enqueue_digest("d", &row(10_800), 10_802).expect("again"));
        let c = s
            .claim_digest("d", 10_802, 10_900)
            .expect("claim")
            .expect("due");
        assert_eq!(
            (c.period_start, c.period_end, c.attempts),
            (7200, 10_800, 0)
        );
        assert!(
            s.claim_digest("d", 10_803, 10_900)
                .expect("leased")
                .is_none(),
            "leased while in flight"
        );
        s.record_digest_failure("d", c.id, 10_803, "HTTP 500", Some(10_810))
            .expect("fail");
        assert_eq!(s.digest_next_due("d").expect("next"), Some(10_810));
        let c = s
            .claim_digest("d", 10_810, 10_900)
            .expect("claim")
            .expect("due");
        assert_eq!(c.attempts, 1);
        s.record_digest_delivered("d", c.id, 10_811).expect("done");
        assert_eq!(s.digest_next_due("d").expect("next"), None);
        let st = s.sink_status().expect("status");
        assert_eq!((st[0].pending, st[0].delivered), (0, 1), "{st:?}");
        assert_eq!(st[0].consecutive_failures, 0);

        // Refused for good: kept as failed, counted, and queued again by a manual retry.
        assert!(s.enqueue_digest("d", &row(14_400), 14_401).expect("next"));
        let c = s
            .claim_digest("d", 14_401, 14_500)
            .expect("claim")
            .expect("due");
        s.record_digest_failure("d", c.id, 14_402, "HTTP 410", None)
            .expect("reject");
        let st = s.sink_status().expect("status");
        assert_eq!((st[0].pending, st[0].failed), (0, 1), "{st:?}");
        assert_eq!(s.outbox_depth().expect("depth"), 0);
        assert_eq!(s.retry_failed_sink("d", 14_403).expect("retry"), 1);
        assert_eq!(s.outbox_depth().expect("depth"), 1);
        assert_eq!(
            s.prune_sink_deliveries(i64::MAX).expect("prune"),
            1,
            "the delivered one"
        );
    }
}
