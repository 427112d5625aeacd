//! Alerts owed to an alert log (PostgreSQL): each instance logs the alerts its own commits
//! created, and `alerts.logged_by` says which instance owes each undelivered one. Two ways
//! an alert could otherwise end up in no log, or in two:
//!
//! - **The owner died** between its commit and its log write (kill -9, a lost machine).
//!   Once its heartbeat is older than a lease, the rule that frees its feeds, a live
//!   instance adopts its undelivered alerts ([`PgStore::adopt_orphan_alerts`]) and logs them.
//! - **The owner died after writing its log** but before marking the alerts delivered. An
//!   instance restarted on that machine with that log reads the log's tail at start
//!   ([`PgStore::reconcile_log`]) and marks what it finds delivered, before anyone adopts it.
//!
//! What is left is at least once, never lost: an owner that wrote its log and then lost the
//! database for longer than a lease (a partition), or died and was never restarted with its
//! log, has its alerts adopted and logged again elsewhere, under the same ids.

use super::cached;
use super::read::{alert_record, ALERTS_SELECT};
use super::{PgError, PgStore};
use crate::store::AlertRecord;
use crate::store::LoggedAlert;
use crate::text::time::rfc3339;

/// Most orphaned alerts one adoption takes: a bound on one statement's work and one log
/// write; the rest are taken at the next heartbeat.
pub const MAX_ADOPT: i64 = 1_000;

impl PgStore {
    /// Takes over, for `instance`, undelivered alerts whose owner's heartbeat is older than
    /// `alive_after` (or whose owner is gone, or that have none). Concurrent adopters never
    /// take the same alert (`SKIP LOCKED`). Returns the ids taken, in id order.
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn adopt_orphan_alerts(
        &self,
        instance: &str,
        alive_after: i64,
    ) -> Result<Vec<i64>, PgError> {
        let rows = cached::query(
            &self.client().await?,
            "WITH orphans AS (
                     SELECT a.id FROM alerts a
                     WHERE a.delivered_at IS NULL
                       AND (a.logged_by IS DISTINCT FROM $1)
                       AND NOT EXISTS (SELECT 1 FROM instances i
                                       WHERE i.id = a.logged_by AND i.heartbeat_at > $2)
                     ORDER BY a.id
                     LIMIT $3
                     FOR UPDATE OF a SKIP LOCKED
                 )
                 UPDATE alerts a SET logged_by = $1 FROM orphans o WHERE a.id = o.id
                 RETURNING a.id",
            &[&instance, &alive_after, &MAX_ADOPT],
        )
        .await?;
        let mut ids = rows
            .iter()
            .map(|r| r.try_get(0).map_err(PgError::from))
            .collect::<Result<Vec<i64>, _>>()?;
        ids.sort_unstable();
        Ok(ids)
    }

    /// The undelivered alerts that instances other than `instance` owe to their logs while
    /// their heartbeat is newer than `alive_after`: how many, and the oldest of those
    /// heartbeats (when the first owner could be taken for dead), or `None` when there are
    /// none. `poll --once` waits on these: an owner killed just before it started is not dead
    /// yet by the lease rule.
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn owed_elsewhere(
        &self,
        instance: &str,
        alive_after: i64,
    ) -> Result<Option<(i64, i64)>, PgError> {
        let row = cached::query_one(
            &self.client().await?,
            "SELECT count(*), min(i.heartbeat_at) FROM alerts a
                 JOIN instances i ON i.id = a.logged_by
              WHERE a.delivered_at IS NULL AND a.logged_by <> $1 AND i.heartbeat_at > $2",
            &[&instance, &alive_after],
        )
        .await?;
        let (n, oldest): (i64, Option<i64>) = (row.try_get(0)?, row.try_get(1)?);
        Ok(oldest.filter(|_| n > 0).map(|o| (n, o)))
    }

    /// The alerts `instance` still owes to its log (its own, undelivered), in id order, at
    /// most [`MAX_ADOPT`]: among `ids` (those its commit just created), or all of them (the
    /// sweep that also catches alerts of a commit whose outcome was unknown to it). An id
    /// adopted by another instance meanwhile, or delivered, is left out.
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn owed_alerts(
        &self,
        instance: &str,
        ids: Option<&[i64]>,
    ) -> Result<Vec<AlertRecord>, PgError> {
        if ids.is_some_and(<[i64]>::is_empty) {
            return Ok(Vec::new());
        }
        let sql = format!(
            "{ALERTS_SELECT} WHERE ($1::bigint[] IS NULL OR a.id = ANY($1))
               AND a.logged_by = $2 AND a.delivered_at IS NULL
             ORDER BY a.id LIMIT $3"
        );
        let rows =
            cached::query(&self.client().await?, &sql, &[&ids, &instance, &MAX_ADOPT]).await?;
        rows.iter().map(alert_record).collect()
    }

    /// Marks delivered at `at` the undelivered alerts of `logged` (lines read back from an
    /// alert log) that are this database's: same id, rule and creation time. A log from
    /// another database marks nothing. Returns how many were marked.
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn reconcile_log(&self, logged: &[LoggedAlert], at: i64) -> Result<u64, PgError> {
        if logged.is_empty() {
            return Ok(0);
        }
        let ids: Vec<i64> = logged.iter().map(|l| l.id).collect();
        let client = self.client().await?;
        let rows = cached::query(
            &client,
            "SELECT id, rule, created_at FROM alerts
                 WHERE id = ANY($1) AND delivered_at IS NULL",
            &[&ids],
        )
        .await?;
        let mut ours = Vec::new();
        for r in &rows {
            let (id, rule, created): (i64, String, i64) =
                (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            let time = rfc3339(created);
            if logged
                .iter()
                .any(|l| l.id == id && l.rule == rule && l.time == time)
            {
                ours.push(id);
            }
        }
        if ours.is_empty() {
            return Ok(0);
        }
        Ok(cached::execute(
            &client,
            "UPDATE alerts SET delivered_at = $2 WHERE id = ANY($1) AND delivered_at IS NULL",
            &[&ours, &at],
        )
        .await?)
    }
}
