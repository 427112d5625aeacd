//! Seen item keys: which items are known, when each was last present in a feed document, and
//! when a key may be forgotten.
//!
//! Every key of every item handled is remembered (the `seen_items` table, held in memory as
//! [`SeenKeys`]) so nothing is fetched, matched or alerted twice. Kept forever, that set made
//! memory and start-up time grow with every day of service; so keys are forgotten, by a rule
//! that never lets a known item alert again.
//!
//! # The rule
//! With `R` = `[storage] seen_retention` (default 90 days):
//! 1. **Last presence.** Each key records `last_present`, when its item was last in a feed
//!    document (any feed: keys are global, so an item moved to another feed stays known
//!    while it is present there). Keys present in a poll are refreshed in memory and written
//!    only when the stored day is older than the poll's day (UTC): at most one row write per
//!    key per day, batched in the poll's own transaction.
//! 2. **Forgetting.** A key is forgotten (row deleted, removed from memory) only when both
//!    its `last_present` and the item's published date (without one, its first sighting) are
//!    older than `R`. The single writer's retention pass (`schedule::retention`) runs it
//!    every few minutes, at most [`FORGET_BATCH`] rows a pass, and once more before it exits.
//! 3. **Date gate.** An item none of whose keys are known and whose published date is older
//!    than `R` is recorded as seen but not processed (no article, no alert). A forgotten
//!    item had such a date (rule 2), so when it comes back it is recorded again, silently.
//!
//! So a dated item never alerts twice: while it is present it is refreshed and kept; once
//! absent for `R` and older than `R` it is forgotten, and then gated by its date. An
//! undated item is forgotten `R` after it was last present; if it comes back after that it
//! is new again (nothing tells it apart from a new item). Its last presence is refreshed
//! only by polls that read the document: a feed that answers 304 Not Modified, fails, or is
//! not polled for longer than `R` does not refresh its items' presence.
//!
//! Start-up loads only the rows left, so memory and start-up time follow the number of
//! items seen within `R`, not the service's age.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use rusqlite::{params, Connection, Transaction};

use super::{PollRecord, Store, StoreError};
use crate::config::DEFAULT_SEEN_RETENTION;

/// Seconds in the granularity of last presence: one row write per key per day at most.
const DAY: i64 = 86_400;
/// Rows deleted in one forgetting pass at most: a pass holds the writer for milliseconds,
/// never long enough to delay a poll's commit noticeably.
pub const FORGET_BATCH: usize = 5_000;

/// One known key: its row (to refresh it without an index on the random keys) and the UTC
/// day its item was last recorded present.
#[derive(Debug, Clone, Copy)]
struct Entry {
    row: i64,
    day: i64,
}

fn day(t: i64) -> i64 {
    t.div_euclid(DAY)
}

/// The keys of the items seen within the retention: the in-memory face of the `seen_items`
/// table, shared by the writer (which keeps it in step with its commits) and the pipeline
/// (which asks it what is new). It also holds the retention in force, so a reload changes
/// the date gate and the forgetting together.
#[derive(Debug)]
pub struct SeenKeys {
    map: RwLock<HashMap<i64, Entry>>,
    retention_secs: AtomicU64,
}

impl Default for SeenKeys {
    fn default() -> SeenKeys {
        SeenKeys {
            map: RwLock::default(),
            retention_secs: AtomicU64::new(DEFAULT_SEEN_RETENTION.as_secs()),
        }
    }
}

impl SeenKeys {
    fn read(&self) -> RwLockReadGuard<'_, HashMap<i64, Entry>> {
        self.map.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<i64, Entry>> {
        self.map.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Which of `keys` are not known, in order, without repeats.
    pub fn unseen(&self, keys: &[i64]) -> Vec<i64> {
        let map = self.read();
        let mut dup = std::collections::HashSet::new();
        keys.iter()
            .copied()
            .filter(|k| !map.contains_key(k) && dup.insert(*k))
            .collect()
    }

    /// Whether a key is known.
    pub fn contains(&self, key: i64) -> bool {
        self.read().contains_key(&key)
    }

    /// How many keys are known.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether no key is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Which of `keys` (present in a document read at `now`) are known but were last
    /// recorded present on an earlier day: the only ones whose presence a poll writes.
    pub fn stale(&self, keys: &[i64], now: i64) -> Vec<i64> {
        let today = day(now);
        let map = self.read();
        let mut stale: Vec<i64> = keys
            .iter()
            .copied()
            .filter(|k| map.get(k).is_some_and(|e| e.day < today))
            .collect();
        stale.sort_unstable();
        stale.dedup();
        stale
    }

    /// The retention in force (`[storage] seen_retention`).
    pub fn retention(&self) -> Duration {
        Duration::from_secs(self.retention_secs.load(Ordering::Relaxed))
    }

    /// Sets the retention (at start and on reload).
    pub fn set_retention(&self, retention: Duration) {
        self.retention_secs
            .store(retention.as_secs(), Ordering::Relaxed);
    }

    /// Unix seconds before which a date is past the retention, at `now`.
    pub fn horizon(&self, now: i64) -> i64 {
        let r = i64::try_from(self.retention().as_secs()).unwrap_or(i64::MAX / 4);
        now.saturating_sub(r)
    }

    /// Every row of the table.
    pub(super) fn load(conn: &Connection) -> Result<SeenKeys, StoreError> {
        let keys = SeenKeys::default();
        {
            let mut st = conn.prepare("SELECT id, key, last_present FROM seen_items")?;
            let rows = st.query_map([], |r| {
                Ok((
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(2)?,
                ))
            })?;
            let mut map = keys.write();
            for row in rows {
                let (key, row, last) = row?;
                map.insert(
                    key,
                    Entry {
                        row,
                        day: day(last),
                    },
                );
            }
        }
        Ok(keys)
    }
}

/// What one transaction changes in the seen keys: applied to memory only after it commits,
/// so a failed commit leaves its items new.
#[derive(Debug, Default)]
pub(super) struct SeenChanges {
    added: HashMap<i64, Entry>,
    refreshed: HashMap<i64, Entry>,
}

impl SeenChanges {
    /// Records `key`, one of `item`'s keys (identity first), as seen in `rec`'s poll unless
    /// it is known already; whether it was new.
    pub(super) fn insert(
        &mut self,
        tx: &Transaction<'_>,
        seen: &SeenKeys,
        rec: &PollRecord,
        item: &[i64],
        key: i64,
    ) -> Result<bool, StoreError> {
        if seen.contains(key) || self.added.contains_key(&key) {
            return Ok(false);
        }
        let published = item.first().and_then(|k| rec.published.get(k)).copied();
        tx.prepare_cached(
            "INSERT INTO seen_items (key, feed_id, first_seen, last_present, published_at)
             VALUES (?1, ?2, ?3, ?3, ?4)",
        )?
        .execute(params![key, rec.feed_id, rec.polled_at, published])?;
        let row = tx.last_insert_rowid();
        let day = day(rec.polled_at);
        self.added.insert(key, Entry { row, day });
        Ok(true)
    }

    /// Writes the last presence of `rec.present`'s keys whose stored day is older than the
    /// poll's: at most one write per key per day, whatever the number of polls.
    pub(super) fn refresh(
        &mut self,
        tx: &Transaction<'_>,
        seen: &SeenKeys,
        rec: &PollRecord,
    ) -> Result<(), StoreError> {
        if rec.present.is_empty() {
            return Ok(());
        }
        let today = day(rec.polled_at);
        let due: Vec<(i64, i64)> = {
            let map = seen.read();
            rec.present
                .iter()
                .filter_map(|k| map.get(k).map(|e| (*k, e.row, e.day)))
                .filter(|&(k, _, d)| {
                    d < today && self.refreshed.get(&k).is_none_or(|r| r.day < today)
                })
                .map(|(k, row, _)| (k, row))
                .collect()
        };
        let mut st = tx.prepare_cached(
            "UPDATE seen_items SET last_present = ?2 WHERE id = ?1 AND last_present < ?2",
        )?;
        for (key, row) in due {
            st.execute(params![row, rec.polled_at])?;
            self.refreshed.insert(key, Entry { row, day: today });
        }
        Ok(())
    }

    /// After commit: the new keys become known, the refreshed ones carry their new day.
    pub(super) fn apply(self, seen: &SeenKeys) {
        let mut map = seen.write();
        for (k, e) in self.refreshed {
            if let Some(cur) = map.get_mut(&k).filter(|cur| cur.row == e.row) {
                cur.day = cur.day.max(e.day);
            }
        }
        map.extend(self.added);
    }
}

impl Store {
    /// Forgets up to `batch` keys past the retention at `now` (see the module docs): deletes
    /// their rows in one transaction, then drops them from memory. How many were forgotten;
    /// fewer than `batch` means none is left for now.
    pub fn forget_seen(&mut self, now: i64, batch: usize) -> Result<usize, StoreError> {
        let seen = self.seen_keys()?;
        let horizon = seen.horizon(now);
        let tx = self.conn.transaction()?;
        let gone: Vec<(i64, i64)> = {
            let mut pick = tx.prepare_cached(
                "SELECT id, key FROM seen_items
                 WHERE last_present < ?1 AND coalesce(published_at, first_seen) < ?1
                 ORDER BY last_present LIMIT ?2",
            )?;
            let limit = i64::try_from(batch).unwrap_or(i64::MAX);
            let rows = pick.query_map(params![horizon, limit], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })?;
            rows.collect::<Result<_, _>>()?
        };
        {
            let mut del = tx.prepare_cached("DELETE FROM seen_items WHERE id = ?1")?;
            for (row, _) in &gone {
                del.execute([row])?;
            }
        }
        tx.commit()?;
        let mut map = seen.write();
        for (row, key) in &gone {
            if map.get(key).is_some_and(|e| e.row == *row) {
                map.remove(key);
            }
        }
        Ok(gone.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_starts_last_presence_at_first_sighting() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("f.db");
        {
            let mut c = Connection::open(&path).expect("open");
            super::super::migrations()
                .to_version(&mut c, 8)
                .expect("schema 8");
            c.execute_batch(
                "INSERT INTO feeds (id, url, created_at) VALUES (1, 'http://f/', 0);
                 INSERT INTO seen_items (key, feed_id, first_seen) VALUES (7, 1, 1000), (8, 1, 2000);",
            )
            .expect("rows");
        }
        let mut s = Store::open(&path).expect("migrate");
        let rows: Vec<(i64, i64, Option<i64>)> = s
            .conn
            .prepare("SELECT first_seen, last_present, published_at FROM seen_items ORDER BY key")
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(rows, [(1000, 1000, None), (2000, 2000, None)]);
        // Undated: forgotten R after the first sighting, not before.
        let r = s.seen_keys().expect("seen").horizon(0).abs();
        assert_eq!(s.forget_seen(1000 + r, 10).expect("forget"), 0);
        assert_eq!(s.forget_seen(1001 + r, 10).expect("forget"), 1);
        assert_eq!(s.seen_keys().expect("seen").unseen(&[7, 8]), [7]);
    }
}
