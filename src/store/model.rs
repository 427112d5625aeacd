//! The plain structs that cross the storage boundary: what the pipeline hands in
//! ([`PollRecord`] and its parts) and what commands read back (rows and records).

use crate::rules::{Severity, TermHit};
use crate::story::Fingerprint;

/// `next_poll_at` of a feed stopped on purpose (410 Gone): beyond any real time, so no poll
/// comes due. Test with [`is_stopped`].
pub const NEXT_POLL_STOPPED: i64 = i64::MAX / 2;

/// Whether a stored `next_poll_at` means "stopped", not a time.
pub fn is_stopped(next_poll_at: i64) -> bool {
    next_poll_at >= NEXT_POLL_STOPPED
}

/// A feed's stored state, as `status` shows it and the scheduler reads it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FeedRow {
    /// Row id, stable for the feed's life.
    pub id: i64,
    /// The configured URL (the feed's identity).
    pub url: String,
    /// Display name from the config, if any.
    pub name: Option<String>,
    /// ETag from the last full response, sent as If-None-Match.
    #[serde(skip)]
    pub etag: Option<String>,
    /// Last-Modified from the last full response, sent as If-Modified-Since.
    #[serde(skip)]
    pub last_modified: Option<String>,
    /// Unix seconds of the last finished poll.
    pub last_poll_at: Option<i64>,
    /// HTTP status of the last poll, when a response arrived.
    pub last_status: Option<u16>,
    /// Why the last poll failed; `None` after a success.
    pub last_error: Option<String>,
    /// Failed polls in a row, for backoff and `status`.
    pub consecutive_failures: u32,
    /// Unix seconds of the next scheduled poll.
    pub next_poll_at: Option<i64>,
    /// Items handled over the feed's life.
    pub items_seen: i64,
    /// Articles kept (matched at least one rule) over the feed's life.
    pub articles_kept: i64,
    /// Where a permanent redirect chain led; fetched instead of `url`.
    pub moved_to: Option<String>,
    /// Items in the last fetched document (the feed's usual window).
    pub last_item_count: Option<i64>,
    /// Polls that suggested items were missed between polls.
    pub gaps: i64,
    /// Poll interval chosen at the last poll, in seconds.
    pub interval_secs: Option<i64>,
    /// Article pages whose extraction looked failed, so the feed's text was used.
    pub extract_failures: i64,
    /// The last such page and why.
    pub last_extract_error: Option<String>,
}

/// What to do with a feed's HTTP validators (ETag / Last-Modified) after a poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validators {
    /// Leave them as stored (304, or an error).
    Keep,
    /// Store these (a 200 whose items were all handled).
    Set {
        /// ETag to send next time.
        etag: Option<String>,
        /// Last-Modified to send next time.
        last_modified: Option<String>,
    },
    /// Forget them, so the next poll downloads the feed in full (items were deferred).
    Clear,
}

/// One alert to create, produced by the match stage.
#[derive(Debug, Clone)]
pub struct NewAlert {
    /// The rule's name.
    pub rule: String,
    /// The rule's severity.
    pub severity: Severity,
    /// The words that fired the rule, with offsets and how each was found.
    pub hits: Vec<TermHit>,
    /// A short passage around the first hit.
    pub snippet: String,
}

impl NewAlert {
    /// The hits as stored in `alerts.terms` (a JSON array), by both stores.
    pub fn terms_json(&self) -> String {
        serde_json::to_string(&self.hits).unwrap_or_else(|_| "[]".into())
    }
}

/// An article that matched at least one rule.
#[derive(Debug, Clone)]
pub struct NewArticle {
    /// Identity key of the item (see `seen`).
    pub item_key: i64,
    /// The link as the feed gave it.
    pub url: Option<String>,
    /// The page's `<link rel=canonical>`, when the page was fetched.
    pub canonical_url: Option<String>,
    /// Headline, printable text.
    pub title: String,
    /// The feed's summary, as text.
    pub summary: String,
    /// The article text (page or feed, see `body_source`).
    pub body: String,
    /// Where `body` came from: "page", "feed" or "none".
    pub body_source: &'static str,
    /// Byline, when known.
    pub author: Option<String>,
    /// Detected language code, when known.
    pub lang: Option<String>,
    /// Unix seconds the item says it was published.
    pub published_at: Option<i64>,
    /// Canonical form of the item's link, so the same URL from other feeds finds it.
    pub link_canonical: Option<String>,
    /// The text's fingerprint, to group syndicated copies into one story.
    pub fingerprint: Fingerprint,
    /// The alerts this article raises, one per rule.
    pub alerts: Vec<NewAlert>,
}

/// Everything one poll of one feed changes. Committed atomically by
/// [`Store::commit_poll`](super::Store::commit_poll) on SQLite and by
/// [`PgStore::commit_poll`](super::pg::PgStore::commit_poll) on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PollRecord {
    /// The feed polled.
    pub feed_id: i64,
    /// Unix seconds the poll started.
    pub polled_at: i64,
    /// HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// Why the poll failed; `None` on success.
    pub error: Option<String>,
    /// Validators to keep, store or forget.
    pub validators: Validators,
    /// Unix seconds of the next poll (already capped and jittered).
    pub next_poll_at: i64,
    /// Items handled in this poll (kept or not), each with all its keys (identity first,
    /// then link): never fetched or matched again.
    pub seen: Vec<Vec<i64>>,
    /// Published dates (Unix seconds) of items in `seen` that have one, by identity key (the
    /// first of an item's keys): stored with the keys, they decide when a key may be
    /// forgotten (see `store::seen`).
    pub published: std::collections::HashMap<i64, i64>,
    /// Keys of items in the document that were known already and last recorded present on
    /// an earlier day: their last presence is written (see `store::seen`).
    pub present: Vec<i64>,
    /// Items whose article page failed; retried on the next poll. (key, error)
    pub deferred: Vec<(i64, String)>,
    /// Kept articles, each with its alerts.
    pub articles: Vec<NewArticle>,
    /// Items in the fetched document, when one was fetched.
    pub item_count: Option<i64>,
    /// Interval chosen for this feed, in seconds.
    pub interval_secs: i64,
    /// This poll suggested items were missed since the last one.
    pub gap: bool,
    /// A permanent redirect chain led here: fetch this URL from now on.
    pub moved_to: Option<String>,
    /// Canonical links of items this feed carried that were already known: if another
    /// feed's kept article has that link, this feed becomes one of its sources.
    pub also_seen: Vec<String>,
    /// Article pages whose extraction looked failed ("URL: reason"); the feed's text was used.
    pub extract_failures: Vec<String>,
    /// Texts of items that matched nothing, kept for backtests (empty when retention is off).
    pub recent: Vec<RecentItem>,
    /// Recent item texts older than this (Unix seconds) are deleted.
    pub prune_recent_before: Option<i64>,
}

impl PollRecord {
    /// A record of a poll that changed nothing yet: no response, no items, validators kept,
    /// next poll at `polled_at`. Stages fill in what they learn.
    pub fn new(feed_id: i64, polled_at: i64) -> PollRecord {
        PollRecord {
            feed_id,
            polled_at,
            status: None,
            error: None,
            validators: Validators::Keep,
            next_poll_at: polled_at,
            seen: Vec::new(),
            published: Default::default(),
            present: Vec::new(),
            deferred: Vec::new(),
            articles: Vec::new(),
            item_count: None,
            interval_secs: 0,
            gap: false,
            moved_to: None,
            also_seen: Vec::new(),
            extract_failures: Vec::new(),
            recent: Vec::new(),
            prune_recent_before: None,
        }
    }

    /// The published date stored with each of `item`'s keys (an entry of `seen`): the
    /// item's, found by its identity key. Both stores write it this way.
    pub fn published_of(&self, item: &[i64]) -> Option<i64> {
        item.first().and_then(|k| self.published.get(k)).copied()
    }
}

/// A seen item's text, kept for a while so new rules can be backtested on it.
#[derive(Debug, Clone)]
pub struct RecentItem {
    /// Identity key of the item.
    pub key: i64,
    /// The item's link.
    pub url: Option<String>,
    /// Headline.
    pub title: String,
    /// Summary text.
    pub summary: String,
    /// Article text.
    pub body: String,
}

/// An alert as a line of an alert log names it (`alert::recently_logged`): enough to tell
/// it is the database's alert of that id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedAlert {
    /// The alert's id.
    pub id: i64,
    /// Its rule.
    pub rule: String,
    /// Its creation time as logged (RFC 3339).
    pub time: String,
}

/// A stored alert joined with its article and feed: what the log, the journal and
/// `feedwatch alerts` show.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AlertRecord {
    /// Alert id, increasing; also the alert log's `id`.
    pub id: i64,
    /// Unix seconds the alert was committed.
    pub created_at: i64,
    /// The rule that fired.
    pub rule: String,
    /// The rule's severity.
    pub severity: Severity,
    /// The feed's name (or URL when unnamed).
    pub feed: String,
    /// The feed's URL.
    pub feed_url: String,
    /// The article's headline.
    pub title: String,
    /// The article's link.
    pub url: Option<String>,
    /// Unix seconds the item says it was published.
    pub published_at: Option<i64>,
    /// Where the rule's words were found (empty if the stored hits could not be read).
    pub hits: Vec<TermHit>,
    /// Passage around the first hit.
    pub snippet: String,
    /// The story's other sources (syndicated copies, the same URL in other feeds), as known
    /// now.
    pub also: Vec<OtherSource>,
    /// The story the alert's article belongs to (the id of the story's first article), so a
    /// digest can fold alerts of several rules and copies into one group.
    pub story_id: i64,
}

/// Another feed's copy of an alert's story.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OtherSource {
    /// The feed's name (or URL when unnamed).
    pub feed: String,
    /// The copy's link.
    pub url: Option<String>,
}

/// Figures for the service status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Configured feeds.
    pub feeds: i64,
    /// Feeds whose last poll failed.
    pub failing: i64,
    /// Unix seconds of the newest poll, if any.
    pub last_poll: Option<i64>,
    /// Alerts committed since midnight UTC.
    pub alerts_today: i64,
}

/// A kept article, for `search` and backtests.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ArticleRow {
    /// Article row id.
    pub id: i64,
    /// The feed it was kept from.
    pub feed: String,
    /// The article's link.
    pub url: Option<String>,
    /// Headline.
    pub title: String,
    /// Summary text.
    pub summary: String,
    /// Article text.
    pub body: String,
    /// Unix seconds the item says it was published.
    pub published_at: Option<i64>,
    /// Unix seconds it was stored.
    pub fetched_at: i64,
}
