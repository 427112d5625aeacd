//! Seen item keys: which items are known, when each was last present in a feed document, and
//! when a key may be forgotten.
//!
//! Every key of every item handled is remembered so nothing is fetched, matched or alerted
//! twice. The database is the only copy: a poll looks up the keys of the items it fetched
//! ([`SeenKeys::lookup`], one indexed query per feed document), so nothing is loaded at
//! start and neither start-up, memory nor a poll's cost follows the number of keys kept.
//! (Until issue #14 all keys were loaded into a hash map by every start, about 0.8 µs and
//! 50 bytes of memory a key: 1.4 s and 93 MB at 1.75 M keys.)
//!
//! # Where keys live
//! - `seen_items`, keyed by the key (the rowid), holds almost all of them.
//! - `seen_staged`, same columns, holds what commits wrote since the sweep last passed the
//!   key's place in `seen_items`: new keys and new presences. Random keys written straight
//!   into `seen_items` would dirty pages all over it at every commit (a commit of 2,500 keys
//!   touched most of its 2,300 pages at 1.75 M keys); the staged table is small and stays
//!   in cache, and the sweep ([`Store::forget_seen`]) moves its rows over in key order,
//!   writing each page of `seen_items` once per sweep. A key is known when it is in either.
//! - [`SeenKeys`] holds the keys of records handed to the writer and not yet committed
//!   ([`SeenKeys::hold`]): a feed polled again, or an item met in another feed, while the
//!   writer gathers its batch, is seen as known. A lookup reads them before the database,
//!   and the writer releases them only after the commit, so no key is ever in neither.
//!
//! # The rule
//! With `R` = `[storage] seen_retention` (default 90 days):
//! 1. **Last presence.** Each key records `last_present`, when its item was last in a feed
//!    document (any feed: keys are global, so an item moved to another feed stays known
//!    while it is present there). A poll writes the presence of the known keys in its
//!    document only when the stored day is older than the poll's day (UTC): at most one row
//!    write per key per day, in the poll's own transaction.
//! 2. **Forgetting.** A key is forgotten (row deleted) only when both its `last_present` and
//!    the item's published date (without one, its last presence alone) are older than `R`.
//!    The sweep does it, window by window, a bounded share in each of the single writer's
//!    retention passes (`schedule::retention`) and before the writer exits; so a key may be
//!    forgotten some passes or runs after it could be, never before.
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

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

use super::{PollRecord, Store, StoreError};
use crate::config::DEFAULT_SEEN_RETENTION;

/// Seconds in the granularity of last presence: one row write per key per day at most.
const DAY: i64 = 86_400;
/// Keys forgotten in one sweep pass at most.
pub const FORGET_BATCH: usize = 5_000;
/// Rows of `seen_items` one sweep pass covers at most: about 60 pages, so the pages a pass
/// dirties fit SQLite's default 2 MB cache (no spill in mid-transaction), and a pass holds
/// the writer for a few milliseconds.
pub const SWEEP_ROWS: i64 = 32_768;

fn day(t: i64) -> i64 {
    t.div_euclid(DAY)
}

/// The start (Unix seconds) of `t`'s day (UTC): a stored presence before it is due a write
/// (rule 1 of the module doc), in both stores.
pub(crate) fn presence_day_start(t: i64) -> i64 {
    day(t) * DAY
}

/// Keys of one record waiting for its commit: how many records hold each, and the latest
/// day one of them found it present.
#[derive(Debug, Clone, Copy)]
struct Held {
    records: u32,
    day: i64,
}

/// What the database does not hold yet, and the retention in force; shared by the writer
/// (which releases a record's keys after its commit) and the pipeline (which holds them
/// when it hands the record over, and asks what is new). A reload changes the retention,
/// so the date gate and the forgetting change together.
#[derive(Debug)]
pub struct SeenKeys {
    held: Mutex<HashMap<i64, Held>>,
    retention_secs: AtomicU64,
}

impl Default for SeenKeys {
    fn default() -> SeenKeys {
        SeenKeys {
            held: Mutex::default(),
            retention_secs: AtomicU64::new(DEFAULT_SEEN_RETENTION.as_secs()),
        }
    }
}

/// What a lookup found about a document's keys.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Lookup {
    /// Keys not known, in the order asked, without repeats.
    pub unseen: Vec<i64>,
    /// Keys known but last recorded present on an earlier day than the lookup's: the only
    /// ones whose presence a poll writes. Sorted, without repeats.
    pub stale: Vec<i64>,
}

impl SeenKeys {
    fn held(&self) -> MutexGuard<'_, HashMap<i64, Held>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Which of `keys` (present in a document read at `now`) are new, and which known ones
    /// are due a presence write. The held keys are read first: one released after its
    /// commit is then in the database when it is queried.
    ///
    /// # Errors
    /// When the query fails: the caller must not take the keys for new.
    pub fn lookup(&self, store: &Store, keys: &[i64], now: i64) -> Result<Lookup, StoreError> {
        let held = self.held_days(keys);
        let stored = stored_presence(&store.conn, keys)?;
        Ok(Self::classify(&held, &stored, keys, now))
    }

    /// [`SeenKeys::lookup`] against keys stored elsewhere (PostgreSQL): `stored` maps each
    /// stored key of `keys` to its last presence. The held keys are read here, before the
    /// caller's query ran or after: on PostgreSQL nothing is held (each poll commits its own
    /// record), so the order does not matter there.
    pub fn lookup_stored(&self, stored: &HashMap<i64, i64>, keys: &[i64], now: i64) -> Lookup {
        Self::classify(&self.held_days(keys), stored, keys, now)
    }

    /// The held keys among `keys`, with the latest day each was found present.
    fn held_days(&self, keys: &[i64]) -> HashMap<i64, i64> {
        let h = self.held();
        keys.iter()
            .filter_map(|k| h.get(k).map(|e| (*k, e.day)))
            .collect()
    }

    /// Which keys are new and which known ones are due a presence write.
    fn classify(
        held: &HashMap<i64, i64>,
        stored: &HashMap<i64, i64>,
        keys: &[i64],
        now: i64,
    ) -> Lookup {
        let today = day(now);
        let mut dup = HashSet::new();
        let unseen = keys
            .iter()
            .copied()
            .filter(|k| !held.contains_key(k) && !stored.contains_key(k) && dup.insert(*k))
            .collect();
        let mut stale: Vec<i64> = stored
            .iter()
            .filter(|&(k, &t)| day(t) < today && held.get(k).is_none_or(|&d| d < today))
            .map(|(k, _)| *k)
            .collect();
        stale.sort_unstable();
        Lookup { unseen, stale }
    }

    /// The keys `rec` writes (its items' and the presences), until the writer has committed
    /// it (or failed to): [`SeenKeys::release`].
    pub fn hold(&self, rec: &PollRecord) {
        let today = day(rec.polled_at);
        let mut h = self.held();
        for k in record_keys(rec) {
            let e = h.entry(k).or_insert(Held {
                records: 0,
                day: today,
            });
            e.records += 1;
            e.day = e.day.max(today);
        }
    }

    /// After `rec`'s commit, or its failure: its keys are in the database, or new again.
    pub fn release(&self, rec: &PollRecord) {
        let mut h = self.held();
        for k in record_keys(rec) {
            if let Some(e) = h.get_mut(&k) {
                e.records -= 1;
                if e.records == 0 {
                    h.remove(&k);
                }
            }
        }
    }

    /// How many keys are held for records not committed yet.
    pub fn held_len(&self) -> usize {
        self.held().len()
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
}

/// A record's keys, each once: its items' and the presences it writes.
fn record_keys(rec: &PollRecord) -> HashSet<i64> {
    rec.seen
        .iter()
        .flatten()
        .chain(&rec.present)
        .copied()
        .collect()
}

/// The stored last presence of those of `keys` that are known (the later of the two tables).
/// One statement for the whole document: the keys go in as a JSON array, and each is found
/// by its rowid in both tables (EXPLAIN: SEARCH seen_items USING INTEGER PRIMARY KEY).
fn stored_presence(conn: &Connection, keys: &[i64]) -> Result<HashMap<i64, i64>, StoreError> {
    let mut found = HashMap::new();
    if keys.is_empty() {
        return Ok(found);
    }
    let list = serde_json::to_string(keys).unwrap_or_else(|_| "[]".into());
    let mut st = conn.prepare_cached(
        "SELECT key, last_present FROM seen_items WHERE key IN (SELECT value FROM json_each(?1))
         UNION ALL
         SELECT key, last_present FROM seen_staged WHERE key IN (SELECT value FROM json_each(?1))",
    )?;
    let mut rows = st.query([list])?;
    while let Some(r) = rows.next()? {
        let (k, t): (i64, i64) = (r.get(0)?, r.get(1)?);
        let e = found.entry(k).or_insert(t);
        *e = (*e).max(t);
    }
    Ok(found)
}

/// Records `key`, one of `item`'s keys (identity first), as seen in `rec`'s poll unless it
/// is known already (in either table, this transaction's rows included); whether it was new.
pub(super) fn insert(
    tx: &Transaction<'_>,
    rec: &PollRecord,
    item: &[i64],
    key: i64,
) -> Result<bool, StoreError> {
    let published = rec.published_of(item);
    let n = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO seen_staged (key, feed_id, last_present, published_at)
             SELECT ?1, ?2, ?3, ?4 WHERE NOT EXISTS (SELECT 1 FROM seen_items WHERE key = ?1)",
        )?
        .execute(params![key, rec.feed_id, rec.polled_at, published])?;
    Ok(n > 0)
}

/// Writes the last presence of `rec.present`'s keys whose stored day is older than the
/// poll's (at most one write per key per day, whatever the number of polls), into the staged
/// table: a staged row is updated, a key of `seen_items` gets a staged row that the sweep
/// merges.
pub(super) fn refresh(tx: &Transaction<'_>, rec: &PollRecord) -> Result<(), StoreError> {
    if rec.present.is_empty() {
        return Ok(());
    }
    let day_start = presence_day_start(rec.polled_at);
    let mut staged = tx.prepare_cached(
        "UPDATE seen_staged SET last_present = ?2 WHERE key = ?1 AND last_present < ?3",
    )?;
    let mut kept = tx.prepare_cached(
        "INSERT OR IGNORE INTO seen_staged (key, feed_id, last_present, published_at)
         SELECT key, feed_id, ?2, published_at FROM seen_items
         WHERE key = ?1 AND last_present < ?3",
    )?;
    for k in &rec.present {
        if staged.execute(params![k, rec.polled_at, day_start])? == 0 {
            kept.execute(params![k, rec.polled_at, day_start])?;
        }
    }
    Ok(())
}

/// What one sweep pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Keys forgotten.
    pub forgotten: usize,
    /// Staged rows moved into `seen_items`.
    pub merged: usize,
    /// The sweep has not reached the end of the key space in this round: more to do now.
    pub more: bool,
}

impl Store {
    /// One pass of the sweep over `seen_items` (see the module docs), from where the last
    /// pass stopped: over the next [`SWEEP_ROWS`] keys, moves the staged rows of that range
    /// in, then forgets up to `batch` keys past the retention at `now`; one transaction.
    /// After the highest key the next pass starts again from the lowest.
    ///
    /// # Errors
    /// When SQLite fails (the transaction is rolled back, the sweep stays where it was).
    pub fn forget_seen(&mut self, now: i64, batch: usize) -> Result<Swept, StoreError> {
        let horizon = self.seen_keys()?.horizon(now);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let from: i64 = tx
            .prepare_cached("SELECT next_key FROM seen_sweep WHERE id = 1")?
            .query_row([], |r| r.get(0))
            .optional()?
            .unwrap_or(i64::MIN);
        // The first key past this pass's window; none: the window runs to the end.
        let past: Option<i64> = tx
            .prepare_cached(
                "SELECT key FROM seen_items WHERE key >= ?1 ORDER BY key LIMIT 1 OFFSET ?2",
            )?
            .query_row(params![from, SWEEP_ROWS], |r| r.get(0))
            .optional()?;
        let to = past.map_or(i64::MAX, |p| p - 1);
        let merged = tx
            .prepare_cached(
                "INSERT INTO seen_items (key, feed_id, last_present, published_at)
                 SELECT key, feed_id, last_present, published_at FROM seen_staged
                 WHERE key BETWEEN ?1 AND ?2
                 ON CONFLICT (key) DO UPDATE SET last_present = max(last_present, excluded.last_present)",
            )?
            .execute(params![from, to])?;
        tx.prepare_cached("DELETE FROM seen_staged WHERE key BETWEEN ?1 AND ?2")?
            .execute(params![from, to])?;
        // Past the retention in the window, in key order, up to `batch`: one scan of the
        // window, then a delete by rowid each.
        let gone: Vec<i64> = {
            let mut del = tx.prepare_cached(
                "DELETE FROM seen_items WHERE key IN (
                     SELECT key FROM seen_items WHERE key BETWEEN ?1 AND ?2
                        AND last_present < ?3 AND coalesce(published_at, last_present) < ?3
                     ORDER BY key LIMIT ?4)
                 RETURNING key",
            )?;
            let limit = i64::try_from(batch).unwrap_or(i64::MAX);
            let rows = del.query_map(params![from, to, horizon, limit], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        // A full batch stops the pass at its last key; the next pass goes on after it.
        let next = match gone.iter().max() {
            Some(&last) if gone.len() >= batch => last.checked_add(1),
            _ => past,
        };
        tx.prepare_cached("UPDATE seen_sweep SET next_key = ?1 WHERE id = 1")?
            .execute([next.unwrap_or(i64::MIN)])?;
        tx.commit()?;
        Ok(Swept {
            forgotten: gone.len(),
            merged,
            more: next.is_some(),
        })
    }

    /// Sweeps to the end of the key space: every staged row there moved in, and every key
    /// past the retention at `now` forgotten, from where the sweep stood.
    /// How many keys were forgotten.
    ///
    /// # Errors
    /// When a pass fails; the passes before it stay committed.
    pub fn forget_seen_all(&mut self, now: i64) -> Result<usize, StoreError> {
        let mut forgotten = 0;
        loop {
            let s = self.forget_seen(now, FORGET_BATCH)?;
            forgotten += s.forgotten;
            if !s.more {
                return Ok(forgotten);
            }
        }
    }

    /// Which of `keys` are known and which are due a presence write at `now`, with this
    /// store's held keys (see [`SeenKeys::lookup`]).
    ///
    /// # Errors
    /// When the query fails.
    pub fn seen_lookup(&self, keys: &[i64], now: i64) -> Result<Lookup, StoreError> {
        self.seen_keys()?.lookup(self, keys, now)
    }

    /// Seen keys stored, in both tables (a key in both counts once).
    ///
    /// # Errors
    /// When the query fails.
    pub fn seen_count(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row(
            "SELECT (SELECT count(*) FROM seen_items)
                  + (SELECT count(*) FROM seen_staged s
                      WHERE NOT EXISTS (SELECT 1 FROM seen_items i WHERE i.key = s.key))",
            [],
            |r| r.get(0),
        )?)
    }
}

#[cfg(test)]
#[path = "seen_tests.rs"]
mod tests;
