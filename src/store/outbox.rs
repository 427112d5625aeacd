//! The sink outbox: which configured sink still owes which alert (tables from
//! `migrations/0005_sink_outbox.sql`). The delivery loop lives in `sink`; this file only
//! speaks SQL, like the rest of `store`.
//!
//! Every write that reads before it writes runs in an IMMEDIATE transaction: it takes the
//! write lock up front, so its snapshot is the newest one and no other connection (the poll
//! writer, a second feedwatch process) can commit alerts with lower ids behind its back.

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::{AlertRecord, Store, StoreError};
use crate::rules::Severity;

/// One sink's delivery state, as `feedwatch status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SinkStatus {
    /// The sink's configured name.
    pub name: String,
    /// When the sink was first registered (it receives alerts created after that).
    pub created_at: i64,
    /// Alerts queued and neither delivered nor rejected.
    pub pending: i64,
    /// Alerts the receiver rejected for good (kept for a manual retry).
    pub failed: i64,
    /// Alerts delivered (rows older than the prune horizon are no longer counted).
    pub delivered: i64,
    /// Creation time of the oldest pending alert: how far behind the sink is.
    pub oldest_pending_at: Option<i64>,
    /// Failed attempts since the last success; 0 when the sink is healthy.
    pub consecutive_failures: u32,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// Unix seconds of the last failure.
    pub last_error_at: Option<i64>,
    /// Unix seconds of the last delivery.
    pub last_delivered_at: Option<i64>,
}

/// An alert claimed for delivery to one sink.
#[derive(Debug, Clone)]
pub struct ClaimedAlert {
    /// The alert, as the log shows it.
    pub alert: AlertRecord,
    /// Attempts made before this one (0 on the first delivery).
    pub attempts: u32,
}

impl Store {
    /// Registers sinks by name. A new sink starts after the newest alert stored now, so
    /// adding a sink never replays history; a known sink keeps its cursor and queue.
    pub fn register_sinks<'a>(
        &mut self,
        names: impl IntoIterator<Item = &'a str>,
        now: i64,
    ) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut st = tx.prepare_cached(
                "INSERT OR IGNORE INTO sinks (name, created_at, cursor)
                 VALUES (?1, ?2, (SELECT COALESCE(MAX(id), 0) FROM alerts))",
            )?;
            for n in names {
                st.execute(params![n, now])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Queues for `sink` every alert committed since its cursor that `accept(rule,
    /// severity)` wants, and moves the cursor past all of them (accepted or not). Returns
    /// how many were queued; 0 for an unregistered sink.
    pub fn enqueue_sink_alerts(
        &mut self,
        sink: &str,
        now: i64,
        accept: impl Fn(&str, Severity) -> bool,
    ) -> Result<usize, StoreError> {
        // Sinks are woken after every commit; most commits raise no alert. A plain read
        // answers that without taking the write lock from the poll writer.
        let behind: Option<bool> = self
            .conn
            .prepare_cached(
                "SELECT (SELECT COALESCE(MAX(id), 0) FROM alerts) > cursor FROM sinks WHERE name = ?1",
            )?
            .query_row([sink], |r| r.get(0))
            .optional()?;
        if behind != Some(true) {
            return Ok(0);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let cursor: Option<i64> = tx
            .prepare_cached("SELECT cursor FROM sinks WHERE name = ?1")?
            .query_row([sink], |r| r.get(0))
            .optional()?;
        let Some(cursor) = cursor else {
            return Ok(0);
        };
        let new: Vec<(i64, String, String)> = tx
            .prepare_cached("SELECT id, rule, severity FROM alerts WHERE id > ?1 ORDER BY id")?
            .query_map([cursor], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        let Some(last) = new.last().map(|(id, _, _)| *id) else {
            return Ok(0);
        };
        let mut queued = 0;
        {
            let mut ins = tx.prepare_cached(
                "INSERT OR IGNORE INTO sink_deliveries (alert_id, sink, next_attempt_at)
                 VALUES (?1, ?2, ?3)",
            )?;
            for (id, rule, severity) in &new {
                if accept(rule, Severity::from_stored(severity)) {
                    queued += ins.execute(params![id, sink, now])?;
                }
            }
        }
        tx.prepare_cached("UPDATE sinks SET cursor = ?2 WHERE name = ?1")?
            .execute(params![sink, last])?;
        tx.commit()?;
        Ok(queued)
    }

    /// Takes the oldest due alert of `sink` for delivery: its next attempt moves to
    /// `lease_until`, so nobody else sends it meanwhile, and if this process dies before
    /// recording the outcome it is sent again once the lease is over (at-least-once).
    pub fn claim_sink_alert(
        &mut self,
        sink: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<ClaimedAlert>, StoreError> {
        const DUE: &str = "SELECT alert_id, attempts FROM sink_deliveries
             WHERE sink = ?1 AND delivered_at IS NULL AND failed_at IS NULL
               AND next_attempt_at <= ?2
             ORDER BY alert_id LIMIT 1";
        // Read first: only take the write lock when there is something to claim.
        if !self.conn.prepare_cached(DUE)?.exists(params![sink, now])? {
            return Ok(None);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let due: Option<(i64, u32)> = tx
            .prepare_cached(DUE)?
            .query_row(params![sink, now], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((id, attempts)) = due else {
            return Ok(None);
        };
        tx.prepare_cached(
            "UPDATE sink_deliveries SET next_attempt_at = ?3 WHERE alert_id = ?1 AND sink = ?2",
        )?
        .execute(params![id, sink, lease_until])?;
        tx.commit()?;
        let alert = self
            .query_alerts("WHERE a.id = ?1", params![id])?
            .into_iter()
            .next();
        Ok(alert.map(|alert| ClaimedAlert { alert, attempts }))
    }

    /// Records that `sink` accepted the alert; the sink's failure streak ends.
    pub fn record_sink_delivered(
        &mut self,
        sink: &str,
        alert_id: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.prepare_cached(
            "UPDATE sink_deliveries SET delivered_at = ?3, attempts = attempts + 1,
                    last_error = NULL
             WHERE alert_id = ?1 AND sink = ?2",
        )?
        .execute(params![alert_id, sink, now])?;
        streak_ends(&tx, sink, now)?;
        tx.commit()?;
        Ok(())
    }

    /// Records a failed attempt: retried at `retry_at`, or, when `None`, rejected for good
    /// (the row keeps the error and counts as failed until [`Store::retry_failed_sink`]).
    pub fn record_sink_failure(
        &mut self,
        sink: &str,
        alert_id: i64,
        now: i64,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.prepare_cached(
            "UPDATE sink_deliveries SET attempts = attempts + 1, last_error = ?3,
                    next_attempt_at = COALESCE(?4, next_attempt_at),
                    failed_at = CASE WHEN ?4 IS NULL THEN ?5 END
             WHERE alert_id = ?1 AND sink = ?2",
        )?
        .execute(params![alert_id, sink, error, retry_at, now])?;
        streak_grows(&tx, sink, error, now)?;
        tx.commit()?;
        Ok(())
    }

    /// The sink's failure streak as stored (0 for an unknown sink), so backoff resumes
    /// where it was after a restart.
    pub fn sink_consecutive_failures(&self, sink: &str) -> Result<u32, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT consecutive_failures FROM sinks WHERE name = ?1")?
            .query_row([sink], |r| r.get(0))
            .optional()?
            .unwrap_or(0))
    }

    /// The sink's failed deliveries in a row (0 after a delivery) and the last one's error.
    pub fn sink_failure_streak(&self, sink: &str) -> Result<(u32, Option<String>), StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT consecutive_failures, last_error FROM sinks WHERE name = ?1")?
            .query_row([sink], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
            .unwrap_or((0, None)))
    }

    /// When the sink's next pending alert is due, if any is pending.
    pub fn sink_next_due(&self, sink: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT MIN(next_attempt_at) FROM sink_deliveries
                 WHERE sink = ?1 AND delivered_at IS NULL AND failed_at IS NULL",
            )?
            .query_row([sink], |r| r.get(0))?)
    }

    /// Puts every alert and digest the sink rejected for good back in its queue, due now
    /// (after the operator fixed the receiver or the secret). Returns how many.
    pub fn retry_failed_sink(&mut self, sink: &str, now: i64) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        let mut n = 0;
        for table in ["sink_deliveries", "digest_deliveries"] {
            n += tx.execute(
                &format!(
                    "UPDATE {table} SET failed_at = NULL, next_attempt_at = ?2
                     WHERE sink = ?1 AND failed_at IS NOT NULL"
                ),
                params![sink, now],
            )?;
        }
        tx.commit()?;
        Ok(n)
    }

    /// Forgets delivered and rejected rows (alerts and digests) finished before `before`, so
    /// the outbox stays small; the alerts themselves stay. Returns how many rows went.
    pub fn prune_sink_deliveries(&mut self, before: i64) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        let mut n = 0;
        for table in ["sink_deliveries", "digest_deliveries"] {
            n += tx.execute(
                &format!("DELETE FROM {table} WHERE COALESCE(delivered_at, failed_at) < ?1"),
                [before],
            )?;
        }
        tx.commit()?;
        Ok(n)
    }

    /// Delivery state of every registered sink, by name. A digest sink's digests count as
    /// its deliveries, queued when their period was due.
    pub fn sink_status(&self) -> Result<Vec<SinkStatus>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT s.name, s.created_at,
                    (SELECT COUNT(*) FROM sink_deliveries d
                      WHERE d.sink = s.name AND d.delivered_at IS NULL AND d.failed_at IS NULL)
                    + (SELECT COUNT(*) FROM digest_deliveries g
                      WHERE g.sink = s.name AND g.delivered_at IS NULL AND g.failed_at IS NULL),
                    (SELECT COUNT(*) FROM sink_deliveries d
                      WHERE d.sink = s.name AND d.failed_at IS NOT NULL)
                    + (SELECT COUNT(*) FROM digest_deliveries g
                      WHERE g.sink = s.name AND g.failed_at IS NOT NULL),
                    (SELECT COUNT(*) FROM sink_deliveries d
                      WHERE d.sink = s.name AND d.delivered_at IS NOT NULL)
                    + (SELECT COUNT(*) FROM digest_deliveries g
                      WHERE g.sink = s.name AND g.delivered_at IS NOT NULL),
                    (SELECT MIN(t) FROM (
                      SELECT a.created_at AS t FROM sink_deliveries d JOIN alerts a ON a.id = d.alert_id
                       WHERE d.sink = s.name AND d.delivered_at IS NULL AND d.failed_at IS NULL
                      UNION ALL
                      SELECT g.created_at FROM digest_deliveries g
                       WHERE g.sink = s.name AND g.delivered_at IS NULL AND g.failed_at IS NULL)),
                    s.consecutive_failures, s.last_error, s.last_error_at, s.last_delivered_at
             FROM sinks s ORDER BY s.name",
        )?;
        let rows = st.query_map([], |r| {
            Ok(SinkStatus {
                name: r.get(0)?,
                created_at: r.get(1)?,
                pending: r.get(2)?,
                failed: r.get(3)?,
                delivered: r.get(4)?,
                oldest_pending_at: r.get(5)?,
                consecutive_failures: r.get(6)?,
                last_error: r.get(7)?,
                last_error_at: r.get(8)?,
                last_delivered_at: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// A delivery (alert or digest) to `sink` succeeded: its failure streak ends. In the
/// caller's transaction, with the delivery's own row.
pub(super) fn streak_ends(
    tx: &rusqlite::Transaction<'_>,
    sink: &str,
    now: i64,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE sinks SET consecutive_failures = 0, last_delivered_at = ?2 WHERE name = ?1",
    )?
    .execute(params![sink, now])?;
    Ok(())
}

/// A delivery (alert or digest) to `sink` failed with `error`: its failure streak grows (what
/// `status` and the `sink_delivery` fault read).
pub(super) fn streak_grows(
    tx: &rusqlite::Transaction<'_>,
    sink: &str,
    error: &str,
    now: i64,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE sinks SET consecutive_failures = consecutive_failures + 1,
                last_error = ?2, last_error_at = ?3
         WHERE name = ?1",
    )?
    .execute(params![sink, error, now])?;
    Ok(())
}
