//! Seen item keys on PostgreSQL, inside a poll's transaction: the meaning of the SQLite
//! store's `store::seen` (see its module doc for the rule), with the claim of a new key made
//! by the database.
//!
//! One table, `seen_items`, keyed by the key (see `migrations/postgres/0003_poll_commit.sql`
//! for why there is no staging table). A poll's keys go in with one `INSERT … ON CONFLICT
//! (key) DO NOTHING RETURNING key`: the keys returned are those this transaction stored
//! first. Another transaction inserting the same key at the same moment waits for this one
//! to finish and then gets nothing back for it, so exactly one commit, of any instance, is
//! told an item is new. Keys are inserted in key order so that two commits sharing keys
//! wait for each other instead of deadlocking.

use std::collections::{HashMap, HashSet};

use super::cached;
use super::PgError;
use crate::store::PollRecord;

/// What writing a poll's keys found.
#[derive(Debug, Default)]
pub(super) struct SeenWritten {
    /// Keys this commit stored first, in record order.
    pub new_keys: Vec<i64>,
    /// Items newly seen, counted once each by their identity key (as SQLite counts).
    pub items_new: i64,
}

/// Stores `rec`'s item keys not known yet, clears the page failures of those it stored, and
/// writes the presence of `rec.present` (at most one row write per key per day).
pub(super) async fn write(
    tx: &deadpool_postgres::Transaction<'_>,
    rec: &PollRecord,
) -> Result<SeenWritten, PgError> {
    let ordered = keys_in_order(rec);
    let mut sorted: Vec<(i64, Option<i64>)> = ordered.clone();
    sorted.sort_unstable_by_key(|(k, _)| *k);
    let keys: Vec<i64> = sorted.iter().map(|(k, _)| *k).collect();
    let published: Vec<Option<i64>> = sorted.iter().map(|(_, p)| *p).collect();
    let new: HashSet<i64> = if keys.is_empty() {
        HashSet::new()
    } else {
        let st = tx
            .prepare_cached(
                "INSERT INTO seen_items (key, feed_id, last_present, published_at)
                 SELECT k, $2, $3, p FROM unnest($1::bigint[], $4::bigint[]) AS s(k, p)
                 ON CONFLICT (key) DO NOTHING
                 RETURNING key",
            )
            .await?;
        let rows = tx
            .query(&st, &[&keys, &rec.feed_id, &rec.polled_at, &published])
            .await?;
        rows.iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?
    };
    let written = count_new(rec, &ordered, &new);
    if !written.new_keys.is_empty() {
        // A key seen clears its page failures (usually there are none: one cheap statement).
        cached::execute(
            tx,
            "DELETE FROM page_failures WHERE key = ANY($1)",
            &[&written.new_keys],
        )
        .await?;
    }
    refresh(tx, rec).await?;
    Ok(written)
}

/// The record's keys, each once, in record order (items in order, an item's identity key
/// first), with the published date of the item that first carries each.
fn keys_in_order(rec: &PollRecord) -> Vec<(i64, Option<i64>)> {
    let mut once = HashSet::new();
    let mut out = Vec::new();
    for item in &rec.seen {
        let published = rec.published_of(item);
        for &k in item {
            if once.insert(k) {
                out.push((k, published));
            }
        }
    }
    out
}

/// Which of the record's keys are new, in record order, and how many items that makes: an
/// item counts when its identity key is new and met first as an identity key, as SQLite's
/// key-by-key loop counts.
fn count_new(rec: &PollRecord, ordered: &[(i64, Option<i64>)], new: &HashSet<i64>) -> SeenWritten {
    let new_keys: Vec<i64> = ordered
        .iter()
        .map(|(k, _)| *k)
        .filter(|k| new.contains(k))
        .collect();
    // The first position each key was met at: identity (0) or not.
    let mut first_at: HashMap<i64, usize> = HashMap::new();
    for item in &rec.seen {
        for (i, &k) in item.iter().enumerate() {
            first_at.entry(k).or_insert(i);
        }
    }
    let mut counted = HashSet::new();
    let items_new = rec
        .seen
        .iter()
        .filter_map(|item| item.first())
        .filter(|k| new.contains(k) && first_at.get(k) == Some(&0) && counted.insert(**k))
        .count();
    SeenWritten {
        new_keys,
        items_new: i64::try_from(items_new).unwrap_or(i64::MAX),
    }
}

/// Writes the last presence of `rec.present`'s keys whose stored day is older than the
/// poll's (see SQLite's `seen::refresh`). The rows are locked in key order first, so two
/// commits refreshing the same keys wait for each other instead of deadlocking; `greatest`
/// keeps a later presence another commit wrote.
async fn refresh(tx: &deadpool_postgres::Transaction<'_>, rec: &PollRecord) -> Result<(), PgError> {
    if rec.present.is_empty() {
        return Ok(());
    }
    let st = tx
        .prepare_cached(
            "WITH due AS (
                 SELECT key FROM seen_items WHERE key = ANY($1) AND last_present < $3
                 ORDER BY key FOR NO KEY UPDATE
             )
             UPDATE seen_items s SET last_present = greatest(s.last_present, $2)
             FROM due WHERE s.key = due.key",
        )
        .await?;
    let day_start = crate::store::presence_day_start(rec.polled_at);
    tx.execute(&st, &[&rec.present, &rec.polled_at, &day_start])
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_items_count_once_by_identity_key_first_met_as_identity() {
        let mut rec = PollRecord::new(1, 100);
        // Item A's link key 7 is item B's identity key; item C repeats A's identity key.
        rec.seen = vec![vec![5, 7], vec![7, 8], vec![5, 9], vec![6]];
        rec.published.insert(5, 50);
        let ordered = keys_in_order(&rec);
        assert_eq!(
            ordered,
            vec![
                (5, Some(50)),
                (7, Some(50)),
                (8, None),
                (9, Some(50)),
                (6, None)
            ]
        );
        let all: HashSet<i64> = [5, 6, 7, 8, 9].into();
        let w = count_new(&rec, &ordered, &all);
        assert_eq!(w.new_keys, vec![5, 7, 8, 9, 6]);
        // A (5) and D (6); B's identity 7 was first met as A's link, C repeats A.
        assert_eq!(w.items_new, 2);
        let some: HashSet<i64> = [6, 8].into();
        let w = count_new(&rec, &ordered, &some);
        assert_eq!((w.new_keys, w.items_new), (vec![8, 6], 1));
    }
}
