//! Retention on PostgreSQL: the same kinds, horizons and order as SQLite's
//! (`store::retention`: finished deliveries, alerts, articles, story fingerprints, page
//! failures, removed feeds, seen keys), removed in bounded batches, one transaction each.
//!
//! **One instance at a time.** Every instance runs the passes; each batch's transaction
//! first takes a transaction-scoped advisory lock with `pg_try_advisory_xact_lock` (keyed
//! on the schema too), and an instance that does not get it leaves that batch to the one
//! that has it. Two instances never delete the same rows at once (no deadlock, no wasted
//! work), and a dead instance holds nothing: the lock goes with its transaction.
//!
//! What differs from SQLite: seen keys are one table here (no staging table), and expire by
//! the same rule (`last_present` and `published_at` both before the horizon), found through
//! the `last_present` index oldest first rather than by a sweep of the key space.

use super::{cached, PgError, PgStore};
use crate::store::retention::{Kind, Policy};

/// First key of the advisory lock one retention batch holds ("prun" in ASCII); the second
/// is a hash of the schema. Advisory locks are per database, not per schema: keyed on this
/// alone, two deployments in two schemas of one database skipped each other's batches (each
/// pass that missed the lock waited for the next, ten minutes later).
pub const PRUNE_LOCK: i32 = 0x7072_756e;

/// The statement that takes a batch's lock (parameter: [`PRUNE_LOCK`]): public so that a
/// test can hold it as another instance's batch would.
pub const PRUNE_LOCK_SQL: &str = "SELECT pg_try_advisory_xact_lock($1, hashtext(current_schema()))";

/// The rows of `kind` past the horizon `$1`: `(table, key, time, condition)`, SQLite's
/// (`store::retention::rule`) where its SQL reads the same here.
fn rule(kind: Kind) -> (&'static str, &'static str, &'static str, &'static str) {
    match kind {
        // SQLite's condition is the integer 1, which PostgreSQL does not take for true.
        Kind::PageFailures => ("page_failures", "key", "failed_at", "true"),
        // No staging table here; a leased feed is being polled.
        Kind::RemovedFeeds => (
            "feeds",
            "id",
            "removed_at",
            "removed_at IS NOT NULL AND lease_owner IS NULL
             AND NOT EXISTS (SELECT 1 FROM articles WHERE feed_id = feeds.id)
             AND NOT EXISTS (SELECT 1 FROM seen_items WHERE feed_id = feeds.id)
             AND NOT EXISTS (SELECT 1 FROM article_sources WHERE feed_id = feeds.id)
             AND NOT EXISTS (SELECT 1 FROM recent_items WHERE feed_id = feeds.id)",
        ),
        // One table, oldest presence first through its index.
        Kind::SeenKeys => (
            "seen_items",
            "key",
            "last_present",
            "coalesce(published_at, last_present) < $1",
        ),
        _ => crate::store::retention::rule(kind),
    }
}

impl PgStore {
    /// Removes up to `batch` rows of `kind` past their retention at `now`, oldest first, in
    /// one transaction: how many, and whether more may be waiting (a full batch). Another
    /// instance's batch in progress makes this one remove nothing (see the module doc).
    ///
    /// # Errors
    /// A connection or statement error (the transaction is rolled back).
    pub async fn prune(
        &self,
        kind: Kind,
        policy: &Policy,
        now: i64,
        batch: usize,
    ) -> Result<(usize, bool), PgError> {
        let Some(h) = policy.horizon(kind, now) else {
            return Ok((0, false));
        };
        let (table, key, time, cond) = rule(kind);
        let limit = i64::try_from(batch).unwrap_or(i64::MAX);
        let pick = format!(
            "SELECT {key} FROM {table} WHERE {time} < $1 AND {cond} ORDER BY {time} LIMIT $2"
        );
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let locked: bool = cached::query_one(&tx, PRUNE_LOCK_SQL, &[&PRUNE_LOCK])
            .await?
            .try_get(0)?;
        if !locked {
            return Ok((0, false));
        }
        let n = match kind {
            // The article stays; its signature and bands go.
            Kind::Fingerprints => {
                let ids: Vec<i64> = cached::query(&tx, &pick, &[&h, &limit])
                    .await?
                    .iter()
                    .map(|r| r.try_get(0))
                    .collect::<Result<_, _>>()?;
                cached::execute(
                    &tx,
                    "DELETE FROM article_bands WHERE article_id = ANY($1)",
                    &[&ids],
                )
                .await?;
                cached::execute(
                    &tx,
                    "UPDATE articles SET minhash = NULL WHERE id = ANY($1)",
                    &[&ids],
                )
                .await?;
                ids.len() as u64
            }
            _ => {
                let sql = format!("DELETE FROM {table} WHERE ({key}) IN ({pick})");
                cached::execute(&tx, &sql, &[&h, &limit]).await?
            }
        };
        tx.commit().await?;
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        Ok((n, n >= batch))
    }
}
