//! The command line's stable JSON outputs, one `Serialize` type each, so every producer of a
//! shape writes it from the same type and `tests/json_schemas.rs` fails on a renamed field.
//!
//! Fields are declared in alphabetical order: the order these lines have always been written
//! in (they were built as `serde_json` maps, which sort their keys), so the bytes are stable.
//! The alert line is [`feedwatch::alert::AlertLine`]; the sinks' status line is
//! [`feedwatch::sink::SinkStatusLine`].

use std::path::Path;

use serde::Serialize;

use feedwatch::rules::{Severity, TermHit};
use feedwatch::store::lock::HolderFault;

/// `feeds list --format json`: one configured feed.
#[derive(Debug, Serialize)]
pub struct FeedLine<'a> {
    /// Whether the full article page is fetched.
    pub full_text: bool,
    /// The feed's own poll interval, when set.
    pub interval_secs: Option<u64>,
    /// The configured name.
    pub name: Option<&'a str>,
    /// The configured tags.
    pub tags: &'a [String],
    /// The feed's address.
    pub url: &'a str,
}

/// `backtest --format json`: one match of a rule on a stored article or a recent item.
#[derive(Debug, Serialize)]
pub struct BacktestLine<'a> {
    /// The feed's name.
    pub feed: &'a str,
    /// The rule that matched.
    pub rule: &'a str,
    /// Its severity.
    pub severity: Severity,
    /// The passage around the first hit.
    pub snippet: &'a str,
    /// `article` (kept) or `recent` (seen recently, not kept).
    pub source: &'a str,
    /// The distinct words found.
    pub terms: Vec<&'a str>,
    /// When the text was fetched (RFC 3339).
    pub time: String,
    /// The headline.
    pub title: &'a str,
    /// The link.
    pub url: Option<&'a str>,
}

/// `check --format json`: one file and the rules that matched it.
#[derive(Debug, Serialize)]
pub struct CheckLine<'a> {
    /// The file as given.
    pub file: &'a str,
    /// The rules that matched.
    pub matches: Vec<CheckMatch<'a>>,
    /// The file's title (first line, or the page's headline).
    pub title: &'a str,
}

/// One rule that matched in [`CheckLine`].
#[derive(Debug, Serialize)]
pub struct CheckMatch<'a> {
    /// Every occurrence of the rule's words.
    pub hits: &'a [TermHit],
    /// The rule.
    pub rule: &'a str,
    /// Its severity.
    pub severity: Severity,
    /// The passage around the first hit.
    pub snippet: &'a str,
    /// The distinct words found.
    pub terms: Vec<&'a str>,
}

/// `parse --format json`: a feed document as a poll would read it.
#[derive(Debug, Serialize)]
pub struct ParseLine<'a> {
    /// RSS, Atom or JSON Feed, and its version.
    pub format: String,
    /// The items kept.
    pub items: Vec<ParseItem<'a>>,
    /// The feed's title.
    pub title: Option<&'a str>,
}

/// One item of [`ParseLine`].
#[derive(Debug, Serialize)]
pub struct ParseItem<'a> {
    /// The item's identity (guid or id), when it has one.
    pub id: Option<&'a str>,
    /// The item's link.
    pub link: Option<&'a str>,
    /// When it says it was published (RFC 3339).
    pub published: Option<String>,
    /// Characters of summary text.
    pub summary_chars: usize,
    /// Its title.
    pub title: &'a str,
}

/// `extract --format json`: an article page's extracted text and metadata.
#[derive(Debug, Serialize)]
pub struct ExtractLine<'a> {
    /// The author, when the page names one.
    pub author: Option<&'a str>,
    /// The page's canonical address.
    pub canonical_url: Option<&'a str>,
    /// The page's language.
    pub lang: Option<&'a str>,
    /// When the page says it was published (RFC 3339).
    pub published: Option<String>,
    /// The article's text.
    pub text: &'a str,
    /// The headline.
    pub title: Option<&'a str>,
}

/// `search --format json`: one kept article that matched.
#[derive(Debug, Serialize)]
pub struct SearchLine<'a> {
    /// The feed's name.
    pub feed: &'a str,
    /// The feed's address.
    pub feed_url: &'a str,
    /// When it was fetched (RFC 3339).
    pub fetched: String,
    /// The article's id in the database.
    pub id: i64,
    /// When it says it was published (RFC 3339).
    pub published: Option<String>,
    /// FTS5's bm25 rank (lower is better).
    pub score: f64,
    /// The passage around the best match.
    pub snippet: &'a str,
    /// Published, else fetched (RFC 3339).
    pub time: String,
    /// The headline.
    pub title: &'a str,
    /// The link.
    pub url: Option<&'a str>,
}

/// `status --format json`, first line: the service, its database and alert log.
#[derive(Debug, Serialize)]
pub struct ServiceLine<'a> {
    /// The alert log's path and free space.
    pub alert_log: AlertLogState<'a>,
    /// The database's path, presence, integrity and free space.
    pub database: DatabaseState<'a>,
    /// PostgreSQL only (absent on SQLite): the instances sharing the database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instances: Option<Vec<InstanceState<'a>>>,
    /// The process holding the database, if one ran on it (SQLite: its lock file; on
    /// PostgreSQL see `instances`).
    pub service: Option<ServiceState<'a>>,
}

/// One instance sharing a PostgreSQL database, in [`ServiceLine`].
#[derive(Debug, Serialize)]
pub struct InstanceState<'a> {
    /// Alerts it created (or adopted from a dead instance) not yet in its log.
    pub alerts_owed: i64,
    /// Names (or URLs) of the feeds it holds a live lease on.
    pub feeds: &'a [String],
    /// How many feeds its config lists, and a SHA-256 of their sorted URLs: instances whose
    /// digests differ run different feed lists (absent for a version that does not say).
    pub feeds_listed: Option<i64>,
    /// See `feeds_listed`.
    pub feeds_digest: Option<&'a str>,
    /// Its last heartbeat (RFC 3339).
    pub heartbeat: String,
    /// Seconds since its last heartbeat, when the status was taken.
    pub heartbeat_age_secs: i64,
    /// Its host.
    pub host: &'a str,
    /// Its id (`host:pid` unless configured).
    pub id: &'a str,
    /// Its process id on its host.
    pub pid: u32,
    /// When it registered (RFC 3339).
    pub started: String,
    /// The feedwatch version it runs.
    pub version: &'a str,
}

/// The alert log in [`ServiceLine`].
#[derive(Debug, Serialize)]
pub struct AlertLogState<'a> {
    /// Bytes free on its file system.
    pub free_bytes: Option<u64>,
    /// Its path.
    pub path: &'a Path,
}

/// The database in [`ServiceLine`].
#[derive(Debug, Serialize)]
pub struct DatabaseState<'a> {
    /// Whether the file exists.
    pub exists: bool,
    /// Bytes free on its file system.
    pub free_bytes: Option<u64>,
    /// Its free pages (given back by maintenance), when it could be read.
    pub freelist_pages: Option<i64>,
    /// Its pages, when it could be read.
    pub page_count: Option<i64>,
    /// Its path.
    pub path: &'a Path,
    /// What its integrity check found.
    pub problems: &'a [String],
    /// Bytes on disk: the file and its WAL.
    pub size_bytes: Option<u64>,
    /// Bytes of its WAL.
    pub wal_bytes: Option<u64>,
}

/// The holder of the database in [`ServiceLine`].
#[derive(Debug, Serialize)]
pub struct ServiceState<'a> {
    /// Its faults while running (none once stopped).
    pub faults: &'a [HolderFault],
    /// Its host.
    pub host: &'a str,
    /// Its process id.
    pub pid: &'a str,
    /// Whether it still runs.
    pub running: bool,
    /// When it started.
    pub since: &'a str,
}

/// `db stats --format json`: the database's size and tables.
#[derive(Debug, Serialize)]
pub struct DbStatsLine<'a> {
    /// `none`, `full` or `incremental`.
    pub auto_vacuum: &'a str,
    /// Bytes of the database file.
    pub file_bytes: u64,
    /// Free pages in it.
    pub free_pages: i64,
    /// Its pages.
    pub page_count: i64,
    /// Bytes per page.
    pub page_size: i64,
    /// Its path.
    pub path: &'a Path,
    /// The file and its WAL, in bytes.
    pub size_bytes: u64,
    /// What retention would remove now, per kind; `null` until the daemon (or `db prune`)
    /// migrated the database to retention.
    pub retention: Option<Vec<DbRetentionDue>>,
    /// Each table.
    pub tables: Vec<DbTableStats<'a>>,
    /// Bytes of its WAL.
    pub wal_bytes: u64,
}

/// One kind of row in [`DbStatsLine`]'s `retention`.
#[derive(Debug, Serialize)]
pub struct DbRetentionDue {
    /// Past their retention now (the next passes remove them).
    pub due_rows: i64,
    /// The kind (`articles`, `alerts`, `sink_deliveries`, `digest_deliveries`, `story_fingerprints`,
    /// `page_failures`, `removed_feeds`, `seen_items`).
    pub name: &'static str,
    /// When the next rows become due, at the earliest (RFC 3339); `null` when none wait or
    /// they are kept forever.
    pub next_due: Option<String>,
    /// Its retention in seconds; `null`: kept forever.
    pub retention_secs: Option<u64>,
}

/// `db prune --format json`: what was removed.
#[derive(Debug, Serialize)]
pub struct DbPruneLine<'a> {
    /// Free pages given back to the file system afterwards.
    pub pages_freed: i64,
    /// The database.
    pub path: &'a Path,
    /// Rows removed, per kind.
    pub removed: Vec<DbPruned>,
    /// Seconds it took.
    pub took_secs: f64,
}

/// One kind of [`DbPruneLine`].
#[derive(Debug, Serialize)]
pub struct DbPruned {
    /// The kind, as in `db stats`.
    pub name: &'static str,
    /// Rows removed.
    pub rows: usize,
}

/// One table of [`DbStatsLine`].
#[derive(Debug, Serialize)]
pub struct DbTableStats<'a> {
    /// Bytes of its pages and its indexes'.
    pub bytes: u64,
    /// Its name.
    pub name: &'a str,
    /// Its oldest row's time (RFC 3339), for tables with a time column.
    pub oldest: Option<String>,
    /// Its rows.
    pub rows: i64,
}

/// `status --format json`: one feed.
#[derive(Debug, Serialize)]
pub struct FeedStatusLine<'a> {
    /// Articles kept from it.
    pub articles_kept: i64,
    /// Polls in a row that failed.
    pub consecutive_failures: u32,
    /// Pages whose extraction failed.
    pub extract_failures: i64,
    /// Items it lost between two polls (older than the document kept).
    pub gaps: i64,
    /// Its poll interval.
    pub interval_secs: Option<i64>,
    /// Items seen in it.
    pub items_seen: i64,
    /// Why the last poll failed.
    pub last_error: Option<&'a str>,
    /// Why the last extraction failed.
    pub last_extract_error: Option<&'a str>,
    /// When it was last polled (RFC 3339).
    pub last_poll: Option<String>,
    /// The last HTTP status.
    pub last_status: Option<u16>,
    /// Where it moved (a permanent redirect).
    pub moved_to: Option<&'a str>,
    /// Its configured name.
    pub name: Option<&'a str>,
    /// When it is polled next (RFC 3339); none when stopped.
    pub next_poll: Option<String>,
    /// Its address.
    pub url: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one promise of this module: keys come out sorted, as the maps they replace wrote
    /// them.
    #[test]
    fn keys_are_in_alphabetical_order() {
        let line = FeedStatusLine {
            articles_kept: 1,
            consecutive_failures: 0,
            extract_failures: 0,
            gaps: 0,
            interval_secs: None,
            items_seen: 2,
            last_error: None,
            last_extract_error: None,
            last_poll: None,
            last_status: Some(200),
            moved_to: None,
            name: Some("n"),
            next_poll: None,
            url: "u",
        };
        let json = serde_json::to_string(&line).expect("json");
        let KeyOrder(keys) = serde_json::from_str(&json).expect("an object");
        assert_eq!(keys.len(), 14, "every field is written: {json}");
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(keys, sorted);
    }

    /// The keys of a JSON object in the order they are written (`serde_json::Value` sorts
    /// them, so it cannot tell).
    struct KeyOrder(Vec<String>);

    impl<'de> serde::Deserialize<'de> for KeyOrder {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Keys;
            impl<'de> serde::de::Visitor<'de> for Keys {
                type Value = KeyOrder;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<KeyOrder, A::Error> {
                    let mut keys = Vec::new();
                    while let Some((k, serde::de::IgnoredAny)) = map.next_entry()? {
                        keys.push(k);
                    }
                    Ok(KeyOrder(keys))
                }
            }
            d.deserialize_map(Keys)
        }
    }
}
