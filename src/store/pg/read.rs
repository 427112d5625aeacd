//! Reading back what polls committed on PostgreSQL, as the SQLite store's readers return it
//! (the same model types): feed rows, alerts, sink states, and the feeds each instance
//! holds. `store::reader` calls these for `alerts`, `status` and `search`; the tests also
//! compare them with SQLite's after committing the same record to both.

use tokio_postgres::Row;

use super::{cached, PgError, PgStore};
use crate::rules::Severity;
use crate::store::{AlertRecord, ArticleRow, FeedRow, SinkStatus, Summary};

impl PgStore {
    /// Articles kept at or after `since`, in id order (as `Store::articles_since`), and the
    /// texts of items that matched nothing seen since then, in order seen (as
    /// `Store::recent_items_since`): what `backtest` runs rules over.
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn backtest_texts(
        &self,
        since: i64,
    ) -> Result<(Vec<ArticleRow>, Vec<ArticleRow>), PgError> {
        let client = self.client().await?;
        let kept = client
            .query(
                "SELECT ar.id, COALESCE(f.name, f.url), ar.url, ar.title, ar.summary, ar.body,
                        ar.published_at, ar.fetched_at
                 FROM articles ar JOIN feeds f ON f.id = ar.feed_id
                 WHERE ar.fetched_at >= $1 ORDER BY ar.id",
                &[&since],
            )
            .await?;
        let recent = client
            .query(
                "SELECT r.key, COALESCE(f.name, f.url), r.url, r.title, r.summary, r.body,
                        NULL::bigint, r.seen_at
                 FROM recent_items r JOIN feeds f ON f.id = r.feed_id
                 WHERE r.seen_at >= $1 ORDER BY r.seen_at, r.key",
                &[&since],
            )
            .await?;
        let rows = |rows: Vec<Row>| rows.iter().map(article_row).collect::<Result<Vec<_>, _>>();
        Ok((rows(kept)?, rows(recent)?))
    }

    /// All feed rows, in id order (as `Store::feeds`).
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn feeds(&self) -> Result<Vec<FeedRow>, PgError> {
        let sql = format!("{FEEDS_SELECT} ORDER BY id");
        let rows = self.client().await?.query(&sql, &[]).await?;
        rows.iter().map(feed_row).collect()
    }

    /// Stored alerts created at or after `since` (Unix seconds), optionally for one rule,
    /// in id order (as `Store::alerts`).
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn alerts(
        &self,
        since: i64,
        rule: Option<&str>,
    ) -> Result<Vec<AlertRecord>, PgError> {
        let sql = format!(
            "{ALERTS_SELECT} WHERE a.created_at >= $1 AND ($2::text IS NULL OR a.rule = $2)
             ORDER BY a.id"
        );
        let rows = self.client().await?.query(&sql, &[&since, &rule]).await?;
        rows.iter().map(alert_record).collect()
    }

    /// Alerts created in `[from, until)` (Unix seconds), in id order (as
    /// `Store::alerts_between`): a digest's window.
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn alerts_between(&self, from: i64, until: i64) -> Result<Vec<AlertRecord>, PgError> {
        let sql =
            format!("{ALERTS_SELECT} WHERE a.created_at >= $1 AND a.created_at < $2 ORDER BY a.id");
        let rows = self.client().await?.query(&sql, &[&from, &until]).await?;
        rows.iter().map(alert_record).collect()
    }

    /// Feeds, failing feeds, the newest poll and the alerts since `day_start`, for the
    /// service manager's status line (as `Store::summary`; feeds removed from the config
    /// are not counted).
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn summary(&self, day_start: i64) -> Result<Summary, PgError> {
        let row = cached::query_one(
            &self.client().await?,
            "SELECT count(*), count(last_error), max(last_poll_at),
                    (SELECT count(*) FROM alerts WHERE created_at >= $1)
               FROM feeds WHERE removed_at IS NULL",
            &[&day_start],
        )
        .await?;
        Ok(Summary {
            feeds: row.try_get(0)?,
            failing: row.try_get(1)?,
            last_poll: row.try_get(2)?,
            alerts_today: row.try_get(3)?,
        })
    }

    /// The feeds each instance holds a live lease on at `now`: (instance id, feed name or
    /// URL), by instance and feed id, for `status`.
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn held_feeds(&self, now: i64) -> Result<Vec<(String, String)>, PgError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT lease_owner, COALESCE(name, url) FROM feeds
                  WHERE lease_owner IS NOT NULL AND lease_expires > $1
                  ORDER BY lease_owner, id",
                &[&now],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Delivery state of every registered sink, by name (as `Store::sink_status`).
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn sink_status(&self) -> Result<Vec<SinkStatus>, PgError> {
        let rows = self.client().await?.query(SINK_STATUS, &[]).await?;
        rows.iter().map(sink_status).collect()
    }
}

/// The feed rows as [`feed_row`] reads them; callers add `WHERE …` and `ORDER BY`.
pub(super) const FEEDS_SELECT: &str =
    "SELECT id, url, name, etag, last_modified, last_poll_at, last_status, last_error,
            consecutive_failures, next_poll_at, items_seen, articles_kept, moved_to,
            last_item_count, gaps, interval_secs, extract_failures, last_extract_error
     FROM feeds";

/// SQLite's `sink_status` query: deliveries of alerts and of digests count alike.
const SINK_STATUS: &str = "SELECT s.name, s.created_at,
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
           WHERE g.sink = s.name AND g.delivered_at IS NULL AND g.failed_at IS NULL) AS p),
        s.consecutive_failures, s.last_error, s.last_error_at, s.last_delivered_at
 FROM sinks s ORDER BY s.name";

fn sink_status(r: &Row) -> Result<SinkStatus, PgError> {
    Ok(SinkStatus {
        name: r.try_get(0)?,
        created_at: r.try_get(1)?,
        pending: r.try_get(2)?,
        failed: r.try_get(3)?,
        delivered: r.try_get(4)?,
        oldest_pending_at: r.try_get(5)?,
        consecutive_failures: u32::try_from(r.try_get::<_, i32>(6)?).unwrap_or(0),
        last_error: r.try_get(7)?,
        last_error_at: r.try_get(8)?,
        last_delivered_at: r.try_get(9)?,
    })
}

/// The alerts as `Store::alerts` reads them, each with its creating transaction's id last
/// (column 13); callers add `WHERE …` and `ORDER BY`. The story's other sources as SQLite's
/// `query_alerts` lists them: the story's other articles and the feeds that carried one of
/// its articles, in article id order.
pub(super) const ALERTS_SELECT: &str =
    "SELECT a.id, a.created_at, a.rule, a.severity, COALESCE(f.name, f.url), f.url,
            ar.title, ar.url, ar.published_at, a.terms::text, a.snippet,
            (SELECT json_agg(json_build_object('feed', src.feed, 'url', src.url)
                             ORDER BY src.k)::text
             FROM (SELECT COALESCE(f2.name, f2.url) AS feed, o.url AS url, o.id AS k
                     FROM articles o JOIN feeds f2 ON f2.id = o.feed_id
                    WHERE o.story_id = a.story_id AND o.id != ar.id
                   UNION
                   SELECT COALESCE(f3.name, f3.url), s.url, s.article_id
                     FROM article_sources s JOIN feeds f3 ON f3.id = s.feed_id
                    WHERE s.article_id IN
                          (SELECT id FROM articles WHERE story_id = a.story_id)
                  ) AS src),
            a.story_id, (a.xact::text)::bigint
     FROM alerts a JOIN articles ar ON ar.id = a.article_id
                   JOIN feeds f ON f.id = ar.feed_id";

pub(super) fn feed_row(r: &Row) -> Result<FeedRow, PgError> {
    let int = |i: usize| -> Result<Option<i64>, PgError> {
        Ok(r.try_get::<_, Option<i32>>(i)?.map(i64::from))
    };
    Ok(FeedRow {
        id: r.try_get(0)?,
        url: r.try_get(1)?,
        name: r.try_get(2)?,
        etag: r.try_get(3)?,
        last_modified: r.try_get(4)?,
        last_poll_at: r.try_get(5)?,
        last_status: r
            .try_get::<_, Option<i32>>(6)?
            .and_then(|s| u16::try_from(s).ok()),
        last_error: r.try_get(7)?,
        consecutive_failures: u32::try_from(r.try_get::<_, i32>(8)?).unwrap_or(0),
        next_poll_at: r.try_get(9)?,
        items_seen: r.try_get(10)?,
        articles_kept: r.try_get(11)?,
        moved_to: r.try_get(12)?,
        last_item_count: int(13)?,
        gaps: i64::from(r.try_get::<_, i32>(14)?),
        interval_secs: int(15)?,
        extract_failures: i64::from(r.try_get::<_, i32>(16)?),
        last_extract_error: r.try_get(17)?,
    })
}

pub(super) fn alert_record(r: &Row) -> Result<AlertRecord, PgError> {
    Ok(AlertRecord {
        id: r.try_get(0)?,
        created_at: r.try_get(1)?,
        rule: r.try_get(2)?,
        severity: Severity::from_stored(r.try_get(3)?),
        feed: r.try_get(4)?,
        feed_url: r.try_get(5)?,
        title: r.try_get(6)?,
        url: r.try_get(7)?,
        published_at: r.try_get(8)?,
        // As SQLite's reader: hits that cannot be read show as none rather than fail.
        hits: serde_json::from_str(r.try_get(9)?).unwrap_or_default(),
        snippet: r.try_get(10)?,
        also: r
            .try_get::<_, Option<&str>>(11)?
            .and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default(),
        story_id: r.try_get(12)?,
    })
}

/// An [`ArticleRow`] from (id, feed, url, title, summary, body, published, fetched).
fn article_row(r: &Row) -> Result<ArticleRow, PgError> {
    Ok(ArticleRow {
        id: r.try_get(0)?,
        feed: r.try_get(1)?,
        url: r.try_get(2)?,
        title: r.try_get(3)?,
        summary: r.try_get(4)?,
        body: r.try_get(5)?,
        published_at: r.try_get(6)?,
        fetched_at: r.try_get(7)?,
    })
}
