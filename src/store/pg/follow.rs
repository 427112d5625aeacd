//! Following the alerts as they are committed (`feedwatch alerts --follow` on PostgreSQL).
//!
//! On SQLite one writer numbers and commits alerts in order, so "id above the last printed"
//! finds every new one. On PostgreSQL the ids come from a sequence drawn at insert, and two
//! instances' transactions can commit out of id order: the one holding id 41 may commit
//! after the one holding 42 was read, and "id > 42" would skip 41 for ever.
//!
//! So each alert records the transaction that created it (`alerts.xact`, schema version 6),
//! and a follower reads in a repeatable-read snapshot, noting the snapshot's `xmin`: every
//! transaction below it had finished when the snapshot was taken, so all of their alerts
//! were visible in it. The next read asks only for alerts of transactions at or above that
//! `xmin` (index `alerts_xact`), and skips the ones it already returned, which it remembers
//! only while their transaction is at or above the horizon. An alert committed late is
//! returned at the first read after its commit, whatever its id; no bound on how long a
//! transaction runs is assumed, and clocks play no part. A long-running transaction holds
//! the horizon back, which only makes each read re-read (and skip) a few more rows.

use std::collections::HashMap;

use super::read::{alert_record, ALERTS_SELECT};
use super::{PgError, PgStore};
use crate::store::AlertRecord;

/// Where a follower stands: the horizon of its last read and the alerts it returned at or
/// above it.
#[derive(Debug, Clone)]
pub struct FollowCursor {
    /// Only alerts created at or after this (Unix seconds), as the first listing.
    since: i64,
    /// Only this rule's alerts.
    rule: Option<String>,
    /// `xmin` of the last read's snapshot: alerts of transactions below it were all seen.
    horizon: i64,
    /// Alert id → its transaction, for alerts returned whose transaction is at or above
    /// `horizon` (they are read again, and skipped).
    returned: HashMap<i64, i64>,
}

impl FollowCursor {
    /// How many returned alerts the cursor remembers (for the tests: it stays bounded).
    pub fn remembered(&self) -> usize {
        self.returned.len()
    }
}

impl PgStore {
    /// Alerts created at or after `since` (optionally one rule's), in id order, as
    /// [`PgStore::alerts`], and a cursor from which [`PgStore::follow_alerts`] returns
    /// those committed later.
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn alerts_to_follow(
        &self,
        since: i64,
        rule: Option<&str>,
    ) -> Result<(Vec<AlertRecord>, FollowCursor), PgError> {
        let mut cursor = FollowCursor {
            since,
            rule: rule.map(str::to_string),
            horizon: 0,
            returned: HashMap::new(),
        };
        let alerts = self.follow_alerts(&mut cursor).await?;
        Ok((alerts, cursor))
    }

    /// The alerts committed since the cursor's last read (and matching its filters), each
    /// once, in id order; moves the cursor.
    ///
    /// # Errors
    /// A connection or statement error (the cursor is then unchanged: call again).
    pub async fn follow_alerts(
        &self,
        cursor: &mut FollowCursor,
    ) -> Result<Vec<AlertRecord>, PgError> {
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let horizon: i64 = tx
            .query_one(
                "SELECT (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint",
                &[],
            )
            .await?
            .try_get(0)?;
        let sql = format!(
            "{ALERTS_SELECT} WHERE a.xact >= ($1::bigint::text)::xid8 AND a.created_at >= $2
                                AND ($3::text IS NULL OR a.rule = $3)
             ORDER BY a.id"
        );
        let rows = tx
            .query(&sql, &[&cursor.horizon, &cursor.since, &cursor.rule])
            .await?;
        tx.commit().await?;
        let read = rows
            .iter()
            .map(|r| Ok((r.try_get::<_, i64>(13)?, alert_record(r)?)))
            .collect::<Result<Vec<_>, PgError>>()?;
        let mut fresh = Vec::new();
        for (xact, alert) in read {
            if cursor.returned.insert(alert.id, xact).is_none() {
                fresh.push(alert);
            }
        }
        cursor.horizon = horizon;
        cursor.returned.retain(|_, xact| *xact >= horizon);
        Ok(fresh)
    }
}
