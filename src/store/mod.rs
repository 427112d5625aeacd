//! Storage: the only module that speaks SQL.
//!
//! Everything feedwatch remembers lives in one SQLite database in WAL mode: feeds and their
//! HTTP validators, the compact set of items already seen (`seen`: kept while the items are
//! present in feeds, forgotten after `[storage] seen_retention`), kept articles and alerts.
//! The pipeline hands this module plain structs ([`PollRecord`]) and each record commits in
//! one transaction, so a crash leaves either all of a poll or none of it. Alerts are rows
//! written in that same transaction; delivery (see `alert`) reads them back after commit and
//! marks them delivered, which is what makes `kill -9` at any instant safe.
//!
//! Keeping SQL behind this boundary is deliberate: a later PostgreSQL backend replaces this
//! module, not the pipeline.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use rusqlite_migration::{Migrations, M};

use crate::rules::Severity;
use crate::story::{self, Fingerprint};

mod check;
mod digest_outbox;
pub mod fts;
pub mod lock;
pub mod maintenance;
mod model;
mod outbox;
pub mod pg;
mod poll;
pub mod reader;
pub mod retention;
mod search;
pub mod search_plan;
mod seen;
pub use digest_outbox::{ClaimedDigest, DigestRow};
pub use model::*;
pub use outbox::{ClaimedAlert, SinkStatus};
use poll::write_poll;
pub use search::SearchHit;
pub(crate) use seen::presence_day_start;
pub use seen::{Lookup, SeenKeys, Swept, FORGET_BATCH, SWEEP_ROWS};

/// How long a writer waits for a lock held by another process (e.g. `feedwatch alerts`
/// reading while the daemon commits) before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Schema migrations, in order. Files are append-only; `user_version` tracks what ran.
fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("../../migrations/0001_init.sql")),
        M::up(include_str!("../../migrations/0002_feed_schedule.sql")),
        M::up(include_str!("../../migrations/0003_stories.sql")),
        M::up(include_str!("../../migrations/0004_articles_fts.sql")),
        M::up(include_str!("../../migrations/0005_sink_outbox.sql")),
        M::up(include_str!("../../migrations/0006_extract_failures.sql")),
        M::up(include_str!("../../migrations/0007_recent_items.sql")),
        M::up(include_str!("../../migrations/0008_fts_insert_in_code.sql")),
        M::up(include_str!("../../migrations/0009_seen_presence.sql")),
        M::up(include_str!("../../migrations/0010_retention.sql")),
        M::up(include_str!("../../migrations/0011_seen_by_key.sql")),
        M::up(include_str!("../../migrations/0012_digest_schedule.sql")),
    ])
}

/// The schema version that added what retention reads (`0010_retention.sql`).
const RETENTION_SCHEMA: i64 = 10;
/// The schema version that keys the seen items by key (`0011_seen_by_key.sql`).
#[cfg(test)]
const SEEN_BY_KEY_SCHEMA: usize = 11;

/// Errors from the storage boundary.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database file could not be created or opened.
    #[error("cannot open database {path}: {source}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The database directory could not be created.
    #[error("cannot create database directory {path}: {source}")]
    CreateDir {
        /// The directory that could not be created.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// Applying schema migrations failed, or the database is newer than this binary.
    #[error("cannot migrate database {path}: {source}")]
    Migrate {
        /// The database file.
        path: PathBuf,
        /// What the migration library said.
        #[source]
        source: rusqlite_migration::Error,
    },
    /// A blocking database task could not run to completion.
    #[error("database task failed: {0}")]
    Task(String),
    /// A query failed.
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
}

/// Owner of one SQLite connection. Open one per thread that needs it (WAL lets readers run
/// beside the writer).
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// The seen keys held for records not committed yet, and the seen-key retention:
    /// shared (Arc) with the pipeline, which asks it what is new (see `seen`).
    seen: std::cell::OnceCell<std::sync::Arc<SeenKeys>>,
    /// Device and inode of the file when it was opened: SQLite writes on into a deleted
    /// file without a word, so [`Store::file_gone`] compares them with the path's.
    identity: Option<(u64, u64)>,
    /// New alert ids are above this (see [`Store::keep_alert_ids_above`]).
    alert_id_floor: i64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed) the database, sets per-connection pragmas and applies
    /// pending migrations. A database written by a newer feedwatch is refused.
    ///
    /// # Errors
    /// When the file cannot be opened, its folder cannot be created, or migration fails.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        // A poll's commit alone uses some twenty statements; with the default cache of 16 they
        // would be compiled again for every poll.
        conn.set_prepared_statement_cache_capacity(64);
        // 16 KiB pages for a new database (an existing one keeps its own): most bytes written
        // are item texts, and bigger pages mean a quarter of the write calls and page headers.
        // A cold 1,000-feed poll measured 1.25 s with 4 KiB pages, 1.13 s with 16 KiB. Must
        // come before WAL mode, which fixes the page size.
        conn.pragma_update(None, "page_size", 16384)
            .map_err(open_err)?;
        // Incremental auto-vacuum for a new database, so the writer can give freed pages
        // back (see `maintenance`). It only takes effect before the first table is created,
        // and on an existing file the pragma opens a write transaction: new files only. An
        // older database keeps `none` until `feedwatch db vacuum` converts it.
        let pages: i64 = conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .map_err(open_err)?;
        if pages == 0 {
            conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")
                .map_err(open_err)?;
        }
        // SQLite checkpoints after 1,000 pages of WAL by default: 4 MB with its default pages,
        // 16 MB with ours. Back to about 4 MB: the checkpoint at exit (and at each threshold)
        // is then shorter, and a cold 1,000-feed poll measured about 3% faster.
        conn.pragma_update(None, "wal_autocheckpoint", 256)
            .map_err(open_err)?;
        // WAL: readers (CLI) never block the daemon's writer. synchronous=NORMAL in WAL mode
        // is durable against process crashes (kill -9); only an OS crash can lose the last
        // commits, never corrupt the file.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        migrations()
            .to_latest(&mut conn)
            .map_err(|source| StoreError::Migrate {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            seen: std::cell::OnceCell::new(),
            identity: lock::file_identity(path),
            alert_id_floor: 0,
        })
    }

    /// The database file this store writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes sure every configured feed has a row (new feeds are due now) and updates names.
    /// Feeds no longer in the config keep their rows (and history) but are not polled; the
    /// row records when the feed left the config (`removed_at`), so retention can delete it
    /// once nothing references it (see `retention`). A feed that comes back is live again.
    pub fn sync_feeds<'a>(
        &mut self,
        feeds: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
        now: i64,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        let mut listed = Vec::new();
        {
            let mut ins = tx.prepare_cached(
                "INSERT INTO feeds (url, name, created_at, next_poll_at) VALUES (?1, ?2, ?3, ?3)
                 ON CONFLICT(url) DO UPDATE SET name = excluded.name, removed_at = NULL",
            )?;
            for (url, name) in feeds {
                ins.execute(params![url, name, now])?;
                listed.push(url);
            }
        }
        // Strings always serialise; were it ever to fail, no feed is marked removed.
        if let Ok(listed) = serde_json::to_string(&listed) {
            tx.prepare_cached(
                "UPDATE feeds SET removed_at = ?2
                 WHERE removed_at IS NULL AND url NOT IN (SELECT value FROM json_each(?1))",
            )?
            .execute(params![listed, now])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// All feed rows, in insertion order.
    pub fn feeds(&self) -> Result<Vec<FeedRow>, StoreError> {
        self.query_feeds("ORDER BY id", [])
    }

    /// One feed by URL.
    pub fn feed(&self, url: &str) -> Result<Option<FeedRow>, StoreError> {
        Ok(self
            .query_feeds("WHERE url = ?1", [url])?
            .into_iter()
            .next())
    }

    fn query_feeds(
        &self,
        tail: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<FeedRow>, StoreError> {
        let sql = format!(
            "SELECT id, url, name, etag, last_modified, last_poll_at, last_status, last_error,
                    consecutive_failures, next_poll_at, items_seen, articles_kept,
                    moved_to, last_item_count, gaps, interval_secs, extract_failures,
                    last_extract_error
             FROM feeds {tail}"
        );
        let mut st = self.conn.prepare_cached(&sql)?;
        let rows = st.query_map(args, |r| {
            Ok(FeedRow {
                id: r.get(0)?,
                url: r.get(1)?,
                name: r.get(2)?,
                etag: r.get(3)?,
                last_modified: r.get(4)?,
                last_poll_at: r.get(5)?,
                last_status: r.get(6)?,
                last_error: r.get(7)?,
                consecutive_failures: r.get(8)?,
                next_poll_at: r.get(9)?,
                items_seen: r.get(10)?,
                articles_kept: r.get(11)?,
                moved_to: r.get(12)?,
                last_item_count: r.get(13)?,
                gaps: r.get(14)?,
                interval_secs: r.get(15)?,
                extract_failures: r.get(16)?,
                last_extract_error: r.get(17)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Which of `keys` have never been seen. Order of `keys` is kept.
    pub fn unseen(&self, keys: &[i64]) -> Result<Vec<i64>, StoreError> {
        Ok(self.seen_lookup(keys, 0)?.unseen)
    }

    /// This store's [`SeenKeys`]: what is held for records not committed yet, and the
    /// retention. Hand it to whoever asks "is this item new?" with a read connection.
    pub fn seen_keys(&self) -> Result<std::sync::Arc<SeenKeys>, StoreError> {
        Ok(self.seen.get_or_init(Default::default).clone())
    }

    /// How often an item's article page has failed so far.
    pub fn page_attempts(&self, key: i64) -> Result<u32, StoreError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT attempts FROM page_failures WHERE key = ?1")?;
        Ok(st.query_row([key], |r| r.get(0)).optional()?.unwrap_or(0))
    }

    /// Commits one poll's results in one transaction.
    pub fn commit_poll(&mut self, rec: &PollRecord) -> Result<(), StoreError> {
        self.commit_polls(std::slice::from_ref(rec))
    }

    /// Commits several polls' results in one transaction (each record is still all or
    /// nothing, as a group): at thousands of feeds, one fsync per batch instead of per feed.
    pub fn commit_polls(&mut self, recs: &[PollRecord]) -> Result<(), StoreError> {
        let floor = self.alert_id_floor;
        let tx = self.conn.transaction()?;
        for rec in recs {
            write_poll(&tx, rec, floor)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Alerts committed but not yet delivered to the log, oldest first.
    pub fn undelivered_alerts(&self, limit: usize) -> Result<Vec<AlertRecord>, StoreError> {
        self.query_alerts(
            "WHERE a.delivered_at IS NULL ORDER BY a.id LIMIT ?1",
            params![limit as i64],
        )
    }

    /// Marks alerts as delivered.
    pub fn mark_delivered(&mut self, ids: &[i64], at: i64) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut st = tx.prepare_cached(
                "UPDATE alerts SET delivered_at = ?2 WHERE id = ?1 AND delivered_at IS NULL",
            )?;
            for id in ids {
                st.execute(params![id, at])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Marks every undelivered alert with id ≤ `max_id` as delivered: used at start-up when
    /// the alert log shows they were written before a crash prevented the marker.
    pub fn mark_delivered_up_to(&mut self, max_id: i64, at: i64) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "UPDATE alerts SET delivered_at = ?2 WHERE id <= ?1 AND delivered_at IS NULL",
            params![max_id, at],
        )?)
    }

    /// The rule and creation time of one alert, to tell whether an alert log line with this
    /// id was written from this database.
    pub fn alert_identity(&self, id: i64) -> Result<Option<(String, i64)>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT rule, created_at FROM alerts WHERE id = ?1")?;
        Ok(st
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    /// Stored alerts created at or after `since` (Unix seconds), optionally for one rule,
    /// oldest first.
    pub fn alerts(&self, since: i64, rule: Option<&str>) -> Result<Vec<AlertRecord>, StoreError> {
        self.query_alerts(
            "WHERE a.created_at >= ?1 AND (?2 IS NULL OR a.rule = ?2) ORDER BY a.id",
            params![since, rule],
        )
    }

    /// Alerts created in `[from, until)` (Unix seconds), oldest first: a digest's window.
    pub fn alerts_between(&self, from: i64, until: i64) -> Result<Vec<AlertRecord>, StoreError> {
        self.query_alerts(
            "WHERE a.created_at >= ?1 AND a.created_at < ?2 ORDER BY a.id",
            params![from, until],
        )
    }

    /// Delivered alerts with id greater than `after`, oldest first (for `alerts --follow`).
    pub fn delivered_alerts_after(&self, after: i64) -> Result<Vec<AlertRecord>, StoreError> {
        self.query_alerts(
            "WHERE a.id > ?1 AND a.delivered_at IS NOT NULL ORDER BY a.id",
            params![after],
        )
    }

    fn query_alerts(
        &self,
        tail: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        let sql = format!(
            "SELECT a.id, a.created_at, a.rule, a.severity, COALESCE(f.name, f.url), f.url,
                    ar.title, ar.url, ar.published_at, a.terms, a.snippet,
                    (SELECT json_group_array(json_object('feed', src.feed, 'url', src.url)) FROM (
                        SELECT COALESCE(f2.name, f2.url) AS feed, o.url AS url, o.id AS k
                          FROM articles o JOIN feeds f2 ON f2.id = o.feed_id
                         WHERE o.story_id = ar.story_id AND o.id != ar.id
                        UNION
                        SELECT COALESCE(f3.name, f3.url), s.url, s.article_id
                          FROM article_sources s JOIN feeds f3 ON f3.id = s.feed_id
                         WHERE s.article_id IN (SELECT id FROM articles WHERE story_id = ar.story_id)
                        ORDER BY k) AS src),
                    COALESCE(ar.story_id, ar.id)
             FROM alerts a JOIN articles ar ON ar.id = a.article_id
                           JOIN feeds f ON f.id = ar.feed_id {tail}"
        );
        let mut st = self.conn.prepare_cached(&sql)?;
        let rows = st.query_map(args, |r| {
            Ok(AlertRecord {
                id: r.get(0)?,
                created_at: r.get(1)?,
                rule: r.get(2)?,
                severity: Severity::from_stored(&r.get::<_, String>(3)?),
                feed: r.get(4)?,
                feed_url: r.get(5)?,
                title: r.get(6)?,
                url: r.get(7)?,
                published_at: r.get(8)?,
                hits: serde_json::from_str(&r.get::<_, String>(9)?).unwrap_or_default(),
                snippet: r.get(10)?,
                also: r
                    .get::<_, Option<String>>(11)?
                    .and_then(|j| serde_json::from_str(&j).ok())
                    .unwrap_or_default(),
                story_id: r.get(12)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Kept articles fetched at or after `since`, oldest first (for backtests and search).
    pub fn articles_since(&self, since: i64) -> Result<Vec<ArticleRow>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT ar.id, COALESCE(f.name, f.url), ar.url, ar.title, ar.summary, ar.body,
                    ar.published_at, ar.fetched_at
             FROM articles ar JOIN feeds f ON f.id = ar.feed_id
             WHERE ar.fetched_at >= ?1 ORDER BY ar.id",
        )?;
        let rows = st.query_map([since], article_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A one-line summary for `systemctl status`: feeds, failing feeds, last poll, alerts
    /// since `day_start`.
    pub fn summary(&self, day_start: i64) -> Result<Summary, StoreError> {
        let (feeds, failing, last_poll): (i64, i64, Option<i64>) = self.conn.query_row(
            "SELECT count(*), coalesce(sum(last_error IS NOT NULL), 0), max(last_poll_at) FROM feeds",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let alerts_today: i64 = self.conn.query_row(
            "SELECT count(*) FROM alerts WHERE created_at >= ?1",
            [day_start],
            |r| r.get(0),
        )?;
        Ok(Summary {
            feeds,
            failing,
            last_poll,
            alerts_today,
        })
    }

    /// Alerts waiting for delivery (not yet in the log, or queued for a sink) and digests
    /// queued for a sink.
    pub fn outbox_depth(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row(
            "SELECT (SELECT count(*) FROM alerts WHERE delivered_at IS NULL)
                  + (SELECT count(*) FROM sink_deliveries
                      WHERE delivered_at IS NULL AND failed_at IS NULL)
                  + (SELECT count(*) FROM digest_deliveries
                      WHERE delivered_at IS NULL AND failed_at IS NULL)",
            [],
            |r| r.get(0),
        )?)
    }

    /// Texts of items seen (and not kept) at or after `since`, oldest first, as article rows
    /// (id is the item key) for backtests.
    pub fn recent_items_since(&self, since: i64) -> Result<Vec<ArticleRow>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT r.key, COALESCE(f.name, f.url), r.url, r.title, r.summary, r.body, NULL,
                    r.seen_at
             FROM recent_items r JOIN feeds f ON f.id = r.feed_id
             WHERE r.seen_at >= ?1 ORDER BY r.seen_at, r.key",
        )?;
        let rows = st.query_map([since], article_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Runs `PRAGMA integrity_check`; `Ok(true)` when the database is sound.
    pub fn integrity_ok(&self) -> Result<bool, StoreError> {
        let res: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        Ok(res == "ok")
    }
}

/// An [`ArticleRow`] from a row of (id, feed, url, title, summary, body, published, fetched).
fn article_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ArticleRow> {
    Ok(ArticleRow {
        id: r.get(0)?,
        feed: r.get(1)?,
        url: r.get(2)?,
        title: r.get(3)?,
        summary: r.get(4)?,
        body: r.get(5)?,
        published_at: r.get(6)?,
        fetched_at: r.get(7)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Severity;

    fn rec(feed_id: i64, now: i64) -> PollRecord {
        PollRecord {
            status: Some(200),
            validators: Validators::Set {
                etag: Some("\"e1\"".into()),
                last_modified: None,
            },
            seen: vec![vec![1], vec![2], vec![3, 30]],
            item_count: Some(3),
            articles: vec![NewArticle {
                item_key: 2,
                url: Some("http://x/a".into()),
                canonical_url: None,
                title: "t".into(),
                summary: "s".into(),
                body: "b".into(),
                body_source: "feed",
                author: None,
                lang: None,
                published_at: None,
                link_canonical: None,
                fingerprint: story::fingerprint("t b"),
                alerts: vec![NewAlert {
                    rule: "r".into(),
                    severity: Severity::High,
                    hits: vec![],
                    snippet: "…".into(),
                }],
            }],
            ..PollRecord::new(feed_id, now)
        }
    }

    #[test]
    fn migrations_are_valid() {
        migrations().validate().expect("migrations validate");
    }

    #[test]
    fn poll_commit_is_idempotent_and_alerts_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Store::open(&dir.path().join("db/f.db")).expect("open");
        s.sync_feeds([("http://f/", Some("F"))], 10).expect("sync");
        let id = s.feeds().expect("feeds")[0].id;
        s.commit_poll(&rec(id, 100)).expect("commit");
        s.commit_poll(&rec(id, 200)).expect("commit again");
        let alerts = s.alerts(0, None).expect("alerts");
        assert_eq!(alerts.len(), 1);
        assert_eq!(s.unseen(&[1, 2, 4, 4, 30]).expect("unseen"), vec![4]);
        let f = &s.feeds().expect("feeds")[0];
        assert_eq!((f.items_seen, f.articles_kept), (3, 1));
        assert_eq!(f.etag.as_deref(), Some("\"e1\""));
        assert_eq!(s.undelivered_alerts(10).expect("undelivered").len(), 1);
        s.mark_delivered(&[alerts[0].id], 300).expect("mark");
        assert!(s.undelivered_alerts(10).expect("undelivered").is_empty());
        assert!(s.integrity_ok().expect("integrity"));
    }

    #[test]
    fn alerts_between_is_half_open_and_carries_the_story() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Store::open(&dir.path().join("f.db")).expect("open");
        s.sync_feeds([("http://f/", Some("F"))], 10).expect("sync");
        let id = s.feeds().expect("feeds")[0].id;
        s.commit_poll(&rec(id, 100)).expect("commit");
        let created = s.alerts(0, None).expect("alerts")[0].created_at;
        let got = s.alerts_between(created, created + 1).expect("between");
        assert_eq!(got.len(), 1);
        let article: i64 = s
            .conn
            .query_row("SELECT id FROM articles", [], |r| r.get(0))
            .expect("article");
        assert_eq!(got[0].story_id, article, "a story's first article names it");
        assert!(s
            .alerts_between(created + 1, created + 9)
            .expect("after")
            .is_empty());
        assert!(s
            .alerts_between(created - 9, created)
            .expect("before")
            .is_empty());
    }

    #[test]
    fn newer_database_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f.db");
        drop(Store::open(&p).expect("open"));
        let c = Connection::open(&p).expect("raw open");
        c.pragma_update(None, "user_version", 99).expect("bump");
        drop(c);
        assert!(matches!(Store::open(&p), Err(StoreError::Migrate { .. })));
    }
}
