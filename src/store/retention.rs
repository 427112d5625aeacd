//! Retention: deleting what grows with time, so a service left alone stays bounded.
//!
//! Each kind of row has a horizon (now minus its retention) and one rule, here and nowhere
//! else: the daemon's writer applies it in bounded batches between commits
//! (`schedule::retention`), `feedwatch db prune` applies the same batches at once, and
//! `db stats` counts what they would remove ([`due`]).
//!
//! | kind | removed when | setting |
//! | --- | --- | --- |
//! | sink deliveries | delivered or given up before the horizon; never a pending one | `delivery_retention` (30 d) |
//! | digest deliveries | the same, for scheduled digests (each row holds its rendered body) | `delivery_retention` (30 d) |
//! | alerts | created before the horizon, written to the log, owed to no sink | `alert_retention` (forever) |
//! | articles | fetched before the horizon and without an alert left | `article_retention` (forever) |
//! | story fingerprints | the article was fetched before the story window (+1 day) | none: [`story::WINDOW_SECS`] |
//! | page failures | the page last failed 30 days ago | none: [`PAGE_FAILURE_RETENTION`] |
//! | removed feeds | out of the config 30 days and nothing references the row | none: [`REMOVED_FEED_RETENTION`] |
//! | seen keys | see `store::seen` | `seen_retention` (90 d) |
//!
//! Why these rules:
//! - An alert references its article (ON DELETE CASCADE), so an article goes only once it
//!   has no alert left; the pass deletes alerts first, so an article and its old alert go in
//!   the same pass. Deleting an article deletes its search-index rows (the `articles_fts`
//!   delete trigger), its story bands and its sources (cascades).
//! - The newest alert, and the newest article, always stay: ids are `max(id) + 1`, and a
//!   database emptied by retention would number its next alert like one receivers already
//!   had (the alert log's crash repair also reads the last alert it logged).
//! - An undelivered alert, or one a sink still owes, is never deleted: it would be lost.
//! - Fingerprints (the MinHash signature and its bands) are only read for articles inside the
//!   story window, so older ones go even when their articles are kept: 256 bytes of
//!   signature and 32 band rows per article.
//! - A page failure row only counts attempts for an item still unseen; one untouched for 30
//!   days belongs to an item that left its feed (a present item is retried every poll). If
//!   it comes back, it gets its attempts afresh.
//! - A removed feed's row names the feed of kept articles (alerts and search join it) and is
//!   what `seen_items`, `article_sources` and `recent_items` point at, all ON DELETE CASCADE:
//!   deleting it would delete kept articles and forget seen keys of items that moved to
//!   another feed (keys are global). So it stays as a tombstone while anything references
//!   it; its seen keys and recent texts go by their own retention, and then the row.

use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{Store, StoreError};
use crate::story;

/// Rows one transaction deletes at most, for the kinds whose rows are small: a batch holds
/// the writer for milliseconds (5,000 seen keys measured 28 ms).
pub const PRUNE_BATCH: usize = 5_000;
/// Articles one transaction deletes at most: each costs about 1 ms (its search-index rows
/// are found by tokenizing its text again, and 32 band rows go with it; 1,000 measured
/// 1.1 s on a 2-core machine), so a batch holds the writer about 0.1 s.
pub const ARTICLE_BATCH: usize = 100;
/// Fingerprints one transaction removes at most: 32 band rows and a signature each, about
/// 0.4 ms (2,000 measured 0.84 s).
pub const FINGERPRINT_BATCH: usize = 250;
/// How long a page failure is kept after the page last failed.
pub const PAGE_FAILURE_RETENTION: Duration = Duration::from_secs(30 * 86_400);
/// How long a feed removed from the config keeps its row at least.
pub const REMOVED_FEED_RETENTION: Duration = Duration::from_secs(30 * 86_400);
/// Fingerprints are kept this long past the story window, so a poll whose clock runs a
/// little behind the pass's still finds every candidate.
const STORY_MARGIN_SECS: i64 = 86_400;

/// What retention removes, in the order a pass removes it (alerts before articles: an
/// article goes only when its alerts have).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Finished sink deliveries.
    Deliveries,
    /// Finished digest deliveries, with their rendered bodies.
    DigestDeliveries,
    /// Alerts.
    Alerts,
    /// Kept articles, with their search-index rows, bands and sources.
    Articles,
    /// Story fingerprints of articles past the story window.
    Fingerprints,
    /// Page failures of items that left their feed.
    PageFailures,
    /// Rows of feeds removed from the config that nothing references any more.
    RemovedFeeds,
    /// Seen-item keys (see `store::seen`).
    SeenKeys,
}

impl Kind {
    /// Every kind, in pass order.
    pub const ALL: [Kind; 8] = [
        Kind::Deliveries,
        Kind::DigestDeliveries,
        Kind::Alerts,
        Kind::Articles,
        Kind::Fingerprints,
        Kind::PageFailures,
        Kind::RemovedFeeds,
        Kind::SeenKeys,
    ];

    /// Rows of this kind one transaction removes at most.
    pub fn batch(self) -> usize {
        match self {
            Kind::Articles => ARTICLE_BATCH,
            Kind::Fingerprints => FINGERPRINT_BATCH,
            Kind::SeenKeys => super::FORGET_BATCH,
            _ => PRUNE_BATCH,
        }
    }

    /// The stable name in `db stats`, `db prune` and their JSON.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Deliveries => "sink_deliveries",
            Kind::DigestDeliveries => "digest_deliveries",
            Kind::Alerts => "alerts",
            Kind::Articles => "articles",
            Kind::Fingerprints => "story_fingerprints",
            Kind::PageFailures => "page_failures",
            Kind::RemovedFeeds => "removed_feeds",
            Kind::SeenKeys => "seen_items",
        }
    }
}

/// The retentions in force; `None` keeps forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// `[storage] article_retention`.
    pub articles: Option<Duration>,
    /// `[storage] alert_retention`.
    pub alerts: Option<Duration>,
    /// `[storage] delivery_retention`.
    pub deliveries: Duration,
    /// `[storage] seen_retention`: a prune hands it to the seen keys, whose date gate
    /// the pipeline shares.
    pub seen: Duration,
}

impl Policy {
    /// How long rows of `kind` are kept; `None`: forever.
    pub fn retention(&self, kind: Kind) -> Option<Duration> {
        match kind {
            Kind::Deliveries | Kind::DigestDeliveries => Some(self.deliveries),
            Kind::Alerts => self.alerts,
            Kind::Articles => self.articles,
            Kind::Fingerprints => Some(Duration::from_secs(
                (story::WINDOW_SECS + STORY_MARGIN_SECS).unsigned_abs(),
            )),
            Kind::PageFailures => Some(PAGE_FAILURE_RETENTION),
            Kind::RemovedFeeds => Some(REMOVED_FEED_RETENTION),
            Kind::SeenKeys => Some(self.seen),
        }
    }

    /// Unix seconds before which rows of `kind` are past their retention at `now`.
    pub fn horizon(&self, kind: Kind, now: i64) -> Option<i64> {
        self.retention(kind)
            .map(|r| now.saturating_sub(i64::try_from(r.as_secs()).unwrap_or(i64::MAX / 4)))
    }
}

/// The policy shared by the writer and a reload, which replaces it.
#[derive(Debug)]
pub struct Retention(Mutex<Policy>);

impl Retention {
    /// A shared policy.
    pub fn new(policy: Policy) -> Retention {
        Retention(Mutex::new(policy))
    }

    /// The policy in force.
    pub fn get(&self) -> Policy {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces it (on reload).
    pub fn set(&self, policy: Policy) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = policy;
    }
}

/// What retention would remove of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// The kind.
    pub kind: Kind,
    /// Its retention; `None`: kept forever.
    pub retention: Option<Duration>,
    /// Rows past their horizon now (that the next passes remove).
    pub rows: i64,
    /// Unix seconds when the next rows not yet due become due, at the earliest (an article
    /// with an alert waits for the alert); `None` when none are waiting or kept forever.
    pub next: Option<i64>,
}

/// The rows past the horizon `?1` of each kind, as `SELECT <key> FROM <table> WHERE …`
/// pieces: `(table, key, time, condition)`. The prune and the count share them.
pub(crate) fn rule(kind: Kind) -> (&'static str, &'static str, &'static str, &'static str) {
    match kind {
        Kind::Deliveries => (
            "sink_deliveries",
            "alert_id, sink",
            "coalesce(delivered_at, failed_at)",
            "(delivered_at IS NOT NULL OR failed_at IS NOT NULL)",
        ),
        Kind::DigestDeliveries => (
            "digest_deliveries",
            "id",
            "coalesce(delivered_at, failed_at)",
            "(delivered_at IS NOT NULL OR failed_at IS NOT NULL)",
        ),
        Kind::Alerts => (
            "alerts",
            "id",
            "created_at",
            "delivered_at IS NOT NULL
             AND id < (SELECT max(id) FROM alerts WHERE delivered_at IS NOT NULL)
             AND NOT EXISTS (SELECT 1 FROM sink_deliveries d WHERE d.alert_id = alerts.id
                             AND d.delivered_at IS NULL AND d.failed_at IS NULL)",
        ),
        Kind::Articles => (
            "articles",
            "id",
            "fetched_at",
            "id < (SELECT max(id) FROM articles)
             AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.article_id = articles.id)",
        ),
        Kind::Fingerprints => ("articles", "id", "fetched_at", "minhash IS NOT NULL"),
        Kind::PageFailures => ("page_failures", "key", "failed_at", "1"),
        Kind::RemovedFeeds => (
            "feeds",
            "id",
            "removed_at",
            "removed_at IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM articles WHERE feed_id = feeds.id)
             AND id NOT IN (SELECT feed_id FROM seen_items)
             AND id NOT IN (SELECT feed_id FROM seen_staged)
             AND id NOT IN (SELECT feed_id FROM article_sources)
             AND id NOT IN (SELECT feed_id FROM recent_items)",
        ),
        // Both tables (see `store::seen`): a staged row supersedes the key's row in
        // `seen_items`, as it carries a later presence.
        Kind::SeenKeys => (
            "(SELECT key, last_present, published_at FROM seen_items
               WHERE key NOT IN (SELECT key FROM seen_staged)
              UNION ALL SELECT key, last_present, published_at FROM seen_staged)",
            "key",
            "max(last_present, coalesce(published_at, last_present))",
            "1",
        ),
    }
}

/// Counts the rows of `kind` due at `now` and when the next become due (see [`Due`]).
pub(super) fn due(
    conn: &Connection,
    policy: &Policy,
    kind: Kind,
    now: i64,
) -> rusqlite::Result<Due> {
    let retention = policy.retention(kind);
    let Some(h) = policy.horizon(kind, now) else {
        return Ok(Due {
            kind,
            retention,
            rows: 0,
            next: None,
        });
    };
    let (table, _, time, cond) = rule(kind);
    // Rows not yet due, whatever else holds them: the next due "at the earliest".
    let key_present = if kind == Kind::Fingerprints {
        cond
    } else {
        "1"
    };
    let rows = conn.query_row(
        &format!("SELECT count(*) FROM {table} WHERE {time} < ?1 AND {cond}"),
        [h],
        |r| r.get(0),
    )?;
    let next: Option<i64> = conn
        .query_row(
            &format!("SELECT min({time}) FROM {table} WHERE {time} >= ?1 AND {key_present}"),
            [h],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    Ok(Due {
        kind,
        retention,
        rows,
        next: next.map(|t| t.saturating_add(now - h)),
    })
}

/// Deletes up to `batch` rows of `kind` (not seen keys: [`Store::forget_seen`]) past the
/// horizon `h`, oldest first, in one transaction; how many.
fn delete_batch(
    conn: &mut Connection,
    kind: Kind,
    h: i64,
    batch: usize,
) -> rusqlite::Result<usize> {
    let (table, key, time, cond) = rule(kind);
    let limit = i64::try_from(batch).unwrap_or(i64::MAX);
    let pick =
        format!("SELECT {key} FROM {table} WHERE {time} < ?1 AND {cond} ORDER BY {time} LIMIT ?2");
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let n = match kind {
        // The article stays; its signature and bands go.
        Kind::Fingerprints => {
            let ids: Vec<i64> = {
                let mut st = tx.prepare_cached(&pick)?;
                let rows = st.query_map(params![h, limit], |r| r.get(0))?;
                rows.collect::<Result<_, _>>()?
            };
            let mut bands = tx.prepare_cached("DELETE FROM article_bands WHERE article_id = ?1")?;
            let mut sig = tx.prepare_cached("UPDATE articles SET minhash = NULL WHERE id = ?1")?;
            for id in &ids {
                bands.execute([id])?;
                sig.execute([id])?;
            }
            ids.len()
        }
        // A cheap look first: most passes find no removed feed, and the check of what still
        // references one reads whole tables.
        Kind::RemovedFeeds
            if !tx
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM feeds WHERE removed_at < ?1)")?
                .query_row([h], |r| r.get::<_, bool>(0))? =>
        {
            0
        }
        _ => tx.execute(
            &format!("DELETE FROM {table} WHERE ({key}) IN ({pick})"),
            params![h, limit],
        )?,
    };
    tx.commit()?;
    Ok(n)
}

/// What `db prune` removed of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    /// The kind.
    pub kind: Kind,
    /// Rows removed.
    pub rows: usize,
}

impl Store {
    /// Removes up to `batch` rows of `kind` past their retention at `now`, in one
    /// transaction (seen keys through a pass of [`Store::forget_seen`]'s sweep): how many,
    /// and whether more may be waiting now (a full batch, or a sweep not yet at its end).
    ///
    /// # Errors
    /// When SQLite fails (the transaction is rolled back).
    pub fn prune(
        &mut self,
        kind: Kind,
        policy: &Policy,
        now: i64,
        batch: usize,
    ) -> Result<(usize, bool), StoreError> {
        if kind == Kind::SeenKeys {
            self.seen_keys()?.set_retention(policy.seen);
            let swept = self.forget_seen(now, batch)?;
            return Ok((swept.forgotten, swept.more));
        }
        match policy.horizon(kind, now) {
            Some(h) => {
                let n = delete_batch(&mut self.conn, kind, h, batch)?;
                Ok((n, n >= batch))
            }
            None => Ok((0, false)),
        }
    }

    /// What retention would remove now, per kind (see [`Due`]).
    ///
    /// # Errors
    /// When SQLite fails.
    pub fn retention_due(&self, policy: &Policy, now: i64) -> Result<Vec<Due>, StoreError> {
        Ok(all_due(&self.conn, policy, now)?)
    }

    /// Applies all retention now, batch after batch, as `db prune` does: `progress` hears
    /// each kind's rows removed so far against those due when it started.
    ///
    /// # Errors
    /// When a batch fails; the batches before it stay committed.
    pub fn prune_all(
        &mut self,
        policy: &Policy,
        now: i64,
        mut progress: impl FnMut(Kind, usize, i64),
    ) -> Result<Vec<Pruned>, StoreError> {
        let mut out = Vec::new();
        for kind in Kind::ALL {
            let due = due(&self.conn, policy, kind, now)?.rows;
            let mut rows = 0;
            loop {
                let (n, more) = self.prune(kind, policy, now, kind.batch())?;
                rows += n;
                if n > 0 || rows == 0 {
                    progress(kind, rows, due);
                }
                if !more {
                    break;
                }
            }
            out.push(Pruned { kind, rows });
        }
        Ok(out)
    }
}

/// [`due`] of every kind.
pub(super) fn all_due(conn: &Connection, policy: &Policy, now: i64) -> rusqlite::Result<Vec<Due>> {
    Kind::ALL
        .iter()
        .map(|&k| due(conn, policy, k, now))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        let d = |days: u64| Some(Duration::from_secs(days * 86_400));
        Policy {
            articles: d(30),
            alerts: d(30),
            deliveries: Duration::from_secs(86_400),
            seen: Duration::from_secs(90 * 86_400),
        }
    }

    #[test]
    fn every_rule_runs_on_the_schema_and_forever_keeps_all() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut s = Store::open(&dir.path().join("f.db")).expect("open");
        let due = s.retention_due(&policy(), 1_000_000_000).expect("due");
        assert_eq!(due.len(), Kind::ALL.len());
        assert!(due.iter().all(|d| d.rows == 0 && d.next.is_none()));
        for kind in Kind::ALL {
            assert_eq!(
                s.prune(kind, &policy(), 1_000_000_000, 10).expect("prune"),
                (0, false)
            );
        }
        let forever = Policy {
            articles: None,
            alerts: None,
            ..policy()
        };
        assert_eq!(forever.horizon(Kind::Articles, 0), None);
        assert_eq!(forever.horizon(Kind::Deliveries, 86_400), Some(0));
    }

    #[test]
    fn migration_dates_old_page_failures_now() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("f.db");
        {
            let mut c = Connection::open(&path).expect("open");
            super::super::migrations()
                .to_version(&mut c, 9)
                .expect("schema 9");
            c.execute_batch(
                "INSERT INTO page_failures (key, attempts, last_error) VALUES (7, 1, 'x');",
            )
            .expect("row");
        }
        let s = Store::open(&path).expect("migrate");
        let at: i64 = s
            .conn
            .query_row("SELECT failed_at FROM page_failures", [], |r| r.get(0))
            .expect("failed_at");
        assert!((chrono::Utc::now().timestamp() - at).abs() < 60, "{at}");
    }
}
