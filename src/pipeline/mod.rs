//! The pipeline: one poll of one feed, read top to bottom.
//!
//! fetch (conditional) → parse (items cut to `max_items` while parsing, their HTML left as
//! markup) → drop items already seen (and new ones published before the seen-key horizon,
//! see `store::seen`) → new items to text → fetch and extract article pages
//! of new items (full-text feeds, within `extract_timeout`) → match rules → a [`PollRecord`]
//! for the store. Nothing here writes to the database: the record is committed in one
//! transaction by the writer (see `schedule`), and alerts are delivered from committed rows
//! (see `alert`).
//!
//! This file is the poll itself ([`poll_feed`]); `items` handles each item (identity, the
//! seen check, the article page, the match) and `next_poll` decides when the feed is polled
//! again (backoff, jitter, the waits servers ask for).
//!
//! A failing feed becomes a record with an error; a failing article page falls back to the
//! feed's own text after a few attempts. Nothing here panics or stops other feeds.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::{self, StreamExt};

use crate::config::{FeedConfig, PollConfig};
use crate::extract::Extractor;
use crate::feed::{self, ParsedFeed, RawItem};
use crate::fetch::{Conditional, FeedResponse, FetchError, Fetched, Fetcher};
use crate::rules::RuleSet;
use crate::store::reader::Reader;
use crate::store::{FeedRow, PollRecord, Validators};

mod items;
pub(crate) mod next_poll;

use items::{key_items, process_item, select_fresh, split_too_old, ItemOutcome, Keyed, NewItem};
use next_poll::{failed, failed_msg, jittered, secs, server_wait};

/// Attempts at an article page before the feed's own text is used instead.
pub const PAGE_ATTEMPTS: u32 = 3;
/// Article pages fetched at once for one feed (the per-host limit applies as well).
const PAGES_IN_FLIGHT: usize = 4;
/// Feeds up to this size are parsed on the polling task itself (see `poll_feed`).
const INLINE_PARSE_BYTES: usize = 512 * 1024;

/// What every poll needs, built once at start-up (and on reload).
#[derive(Clone)]
pub struct Pipeline {
    /// Downloads feeds and pages under the address policy.
    pub fetcher: Fetcher,
    /// The compiled rules.
    pub rules: Arc<RuleSet>,
    /// Article extraction with the `[[sites]]` rules.
    pub extractor: Arc<Extractor>,
    /// Where feed state, seen keys and page attempts are read: SQLite's read connection (its
    /// writes go through the writer) or the PostgreSQL pool (each poll commits its own).
    pub reader: Reader,
    /// The seen keys held for records the SQLite writer has not committed yet (shared with
    /// it; none on PostgreSQL), and the seen-key retention; the rest is looked up through
    /// `reader`.
    pub seen: Arc<crate::store::SeenKeys>,
    /// The `[poll]` settings in force.
    pub poll: PollConfig,
    /// Recent extracted texts per host, to spot furniture extracted in place of articles.
    pub pages: PageMemory,
    /// How long texts of items that matched nothing are kept for backtests (None: not kept).
    pub recent_retention: Option<Duration>,
}

/// The last extracted text of each host (as a hash). The same text from a different page of
/// the same host means the extractor found site furniture (a ticker, a cookie wall), not an
/// article.
#[derive(Clone, Default)]
pub struct PageMemory {
    last: Arc<Mutex<std::collections::HashMap<String, (u64, String)>>>,
}

impl PageMemory {
    /// Why this page's text is suspect, if it is: the same text as another page of its host.
    pub fn same_as_other_page(&self, url: &str, text: &str) -> Option<String> {
        use std::hash::{Hash, Hasher};
        let host = url::Url::parse(url).ok()?.host_str()?.to_ascii_lowercase();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        text.split_whitespace().for_each(|w| w.hash(&mut h));
        let hash = h.finish();
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let verdict = match last.get(&host) {
            Some((prev, prev_url)) if *prev == hash && prev_url != url => Some(format!(
                "same text as another page of {host} ({prev_url}): site furniture, not an article"
            )),
            _ => None,
        };
        last.insert(host, (hash, url.to_string()));
        verdict
    }
}

/// Polls one feed and returns what to commit. Never fails: errors are part of the record.
pub async fn poll_feed(p: &Pipeline, feed: &FeedConfig, row: &FeedRow) -> PollRecord {
    let mut poll = Poll::start(p, feed, row);
    match poll.run().await {
        Ok(()) => poll.rec,
        Err(stop) => poll.stopped(stop),
    }
}

/// One poll in progress: what it runs with, the interval it has settled on so far (failures
/// back off from it), and the record it is filling in.
struct Poll<'a> {
    p: &'a Pipeline,
    feed: &'a FeedConfig,
    row: &'a FeedRow,
    now: i64,
    interval: Duration,
    rec: PollRecord,
}

/// Why a poll ended early: the feed did not change, or the poll failed.
enum Stop {
    /// 304, or an unchanged file: nothing to do but note the status.
    NotModified(u16),
    /// The fetch failed (its status, `Retry-After` and 410 count).
    Fetch(FetchError),
    /// Parsing or converting failed.
    Failed(String),
}

impl<'a> Poll<'a> {
    /// The record before anything is fetched: polled now, next due after the interval.
    fn start(p: &'a Pipeline, feed: &'a FeedConfig, row: &'a FeedRow) -> Self {
        let now = chrono::Utc::now().timestamp();
        let interval = start_interval(p, feed, row);
        let rec = PollRecord {
            next_poll_at: now + jittered(interval, row.id),
            interval_secs: secs(interval),
            prune_recent_before: p
                .recent_retention
                .map(|d| now - i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4)),
            ..PollRecord::new(row.id, now)
        };
        Poll {
            p,
            feed,
            row,
            now,
            interval,
            rec,
        }
    }

    /// The record of a poll that ended early.
    fn stopped(self, stop: Stop) -> PollRecord {
        let (mut rec, row, interval) = (self.rec, self.row, self.interval);
        let cap = self.p.poll.max_interval;
        match stop {
            Stop::NotModified(status) => {
                rec.status = Some(status);
                rec
            }
            Stop::Fetch(e) => failed(rec, row, interval, cap, &e.to_string(), &e),
            Stop::Failed(msg) => failed_msg(rec, row, interval, cap, &msg, None),
        }
    }

    /// The poll, step by step (see the module's documentation).
    async fn run(&mut self) -> Result<(), Stop> {
        let mut fetched = self.fetch().await?;
        let parsed = self.parse(&mut fetched).await?;
        self.warn_limits(&parsed);
        if self.feed.interval.is_none() {
            self.adapt_interval(&parsed.items);
        }
        let asked = [
            ("Cache-Control max-age / Expires", fetched.max_age),
            ("<ttl>", parsed.ttl),
        ];
        let wait = server_wait(&self.feed.url, &asked, self.p.poll.max_interval);
        self.rec.next_poll_at = self.rec.next_poll_at.max(self.now + wait);
        let item_count = parsed.items.len() as i64;
        self.rec.item_count = Some(item_count);
        let fresh = self.fresh_items(parsed.items).await?;
        self.check_gap(fresh.len(), item_count);
        let fresh = self.gate_too_old(fresh);
        let fresh = self.to_text(fresh).await?;
        self.process(fresh).await;
        self.finish(fetched.validators);
        Ok(())
    }

    /// Step 1: Fetch, conditionally (from where the feed moved to, if it did).
    async fn fetch(&mut self) -> Result<Fetched, Stop> {
        let cond = Conditional {
            etag: self.row.etag.clone(),
            last_modified: self.row.last_modified.clone(),
        };
        let url = self.row.moved_to.as_deref().unwrap_or(&self.feed.url);
        let fetched = match self.p.fetcher.feed_from(&self.feed.url, url, &cond).await {
            Ok(FeedResponse::NotModified { status }) => return Err(Stop::NotModified(status)),
            Ok(FeedResponse::Fetched(f)) => *f,
            Err(e) => return Err(Stop::Fetch(e)),
        };
        self.rec.status = Some(fetched.status);
        if fetched.moved_permanently && fetched.url.as_str() != url {
            tracing::warn!(feed = %self.feed.url, moved_to = %fetched.url,
                "feed moved permanently; polling the new address from now on (update the config)");
            self.rec.moved_to = Some(fetched.url.to_string());
        }
        Ok(fetched)
    }

    /// Step 2: Parse (the body is taken out of `fetched`). A typical feed parses in well under a
    /// millisecond, less than handing it to another thread costs, so it is parsed here; a big
    /// one goes to the blocking pool so that it cannot hold up the other polls sharing this
    /// runtime thread.
    async fn parse(&self, fetched: &mut Fetched) -> Result<ParsedFeed<RawItem>, Stop> {
        let body = std::mem::take(&mut fetched.body);
        let limits = feed::Limits {
            max_items: self.p.poll.max_items,
            max_html_depth: self.p.poll.max_html_depth,
        };
        let parsed = if body.len() <= INLINE_PARSE_BYTES {
            let ct = fetched.content_type.as_deref();
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                feed::parse_raw(&body, ct, Some(&fetched.url), limits)
            }))
            .map_err(|_| "panicked".to_string())
        } else {
            let base = fetched.url.clone();
            let ct = fetched.content_type.clone();
            tokio::task::spawn_blocking(move || {
                feed::parse_raw(&body, ct.as_deref(), Some(&base), limits)
            })
            .await
            .map_err(|e| e.to_string())
        };
        match parsed {
            Ok(Ok(f)) => Ok(f),
            Ok(Err(e)) => Err(Stop::Failed(format!("{}: {e}", self.feed.url))),
            Err(e) => Err(Stop::Failed(format!(
                "{}: parser crashed: {e}",
                self.feed.url
            ))),
        }
    }

    /// Says what the parser's limits left out (`[poll] max_items`, the structural limits).
    fn warn_limits(&self, parsed: &ParsedFeed<RawItem>) {
        let max_items = self.p.poll.max_items;
        if let Some(n) = parsed.truncated_from {
            let dropped = n.saturating_sub(max_items);
            tracing::warn!(feed = %self.feed.url, items = n, kept = max_items, dropped,
                "feed has {n} items; only the first {max_items} are read, {dropped} dropped before parsing ([poll] max_items)");
        }
        if parsed.dropped_elements > 0 {
            tracing::warn!(feed = %self.feed.url, dropped = parsed.dropped_elements,
                "feed has elements past the structural limits (children per element, nesting, attributes); {} dropped before parsing, the rest of the feed is read",
                parsed.dropped_elements);
        }
    }

    /// Without a configured interval, polls four times per typical gap between the feed's
    /// items (within `[poll] min_interval` and `max_interval`).
    fn adapt_interval(&mut self, items: &[RawItem]) {
        if let Some(gap) = publishing_gap(items) {
            let poll = &self.p.poll;
            self.interval = (gap / 4).clamp(poll.min_interval, poll.max_interval);
            self.rec.interval_secs = secs(self.interval);
            self.rec.next_poll_at = self.now + jittered(self.interval, self.row.id);
        }
    }

    /// Step 3: Only items never seen before go further. An item is known by its identity and
    /// also by its link, so a feed that rewrites GUIDs on every poll, or re-publishes an item
    /// under a new GUID, does not alert again. Nothing has been turned from HTML into text
    /// yet (apart from titles): only new items are. The links of the others are recorded, as
    /// this feed joins their sources. The document's keys are looked up in one query; if that
    /// fails the poll fails (and is retried), rather than take known items for new.
    async fn fresh_items(&mut self, items: Vec<RawItem>) -> Result<Vec<Keyed>, Stop> {
        let scope = feed::identity::scope(&self.feed.url);
        let keyed = key_items(items, &scope);
        let all: Vec<i64> = keyed.iter().flat_map(|k| k.keys.iter().copied()).collect();
        let found = self
            .p
            .reader
            .seen_lookup(&self.p.seen, &all, self.now)
            .await;
        let found = found.map_err(|e| {
            Stop::Failed(format!("{}: cannot look up seen items: {e}", self.feed.url))
        })?;
        let unseen: std::collections::HashSet<i64> = found.unseen.into_iter().collect();
        let (fresh, also_seen) = select_fresh(keyed, &unseen);
        self.rec.also_seen.extend(also_seen);
        // Known items present here keep their keys from being forgotten (see `store::seen`).
        self.rec.present = found.stale;
        for k in &fresh {
            if let Some(t) = k.item.head.published {
                self.rec.published.insert(k.keys[0], t.timestamp());
            }
        }
        Ok(fresh)
    }

    /// An item older than the seen-key retention may be one whose key was forgotten: it is
    /// remembered again, never processed (see `store::seen`).
    fn gate_too_old(&mut self, fresh: Vec<Keyed>) -> Vec<Keyed> {
        let (fresh, too_old) = split_too_old(fresh, self.p.seen.horizon(self.now));
        for k in too_old {
            tracing::debug!(feed = %self.feed.url, title = %k.item.head.title,
                published = ?k.item.head.published,
                "item not seen before but published before the seen-key horizon ([storage] seen_retention): recorded as seen, not processed");
            self.rec.seen.push(k.keys);
        }
        fresh
    }

    /// Gap detection: everything is new and the document is as full as usual, so items may
    /// have scrolled off between polls. Say so, and poll this feed more often.
    fn check_gap(&mut self, fresh: usize, item_count: i64) {
        let row = self.row;
        let all_new = fresh > 0 && fresh as i64 == item_count;
        if !(all_new && row.items_seen > 0 && row.last_item_count == Some(item_count)) {
            return;
        }
        self.rec.gap = true;
        self.interval = (self.interval / 2).max(self.p.poll.min_interval);
        self.rec.interval_secs = secs(self.interval);
        let sooner = self.now + jittered(self.interval, row.id);
        self.rec.next_poll_at = self.rec.next_poll_at.min(sooner);
        tracing::warn!(feed = %self.feed.url, items = item_count,
            "none of the feed's {item_count} items were seen before and it is as full as usual: items may have been missed between polls; polling every {}s now",
            self.interval.as_secs());
    }

    /// 4a. New items to text, off the async threads when there is much of it.
    async fn to_text(&self, fresh: Vec<Keyed>) -> Result<Vec<NewItem>, Stop> {
        let depth = self.p.poll.max_html_depth;
        let markup: usize = fresh.iter().map(Keyed::markup_len).sum();
        if markup <= INLINE_PARSE_BYTES {
            return Ok(fresh.into_iter().map(|k| k.convert(depth)).collect());
        }
        let handle = tokio::task::spawn_blocking(move || {
            fresh.into_iter().map(|k| k.convert(depth)).collect()
        });
        handle.await.map_err(|e| {
            Stop::Failed(format!(
                "{}: converting items to text crashed: {e}",
                self.feed.url
            ))
        })
    }

    /// 4b. Full text and matching, a few items at a time, each outcome into the record.
    async fn process(&mut self, fresh: Vec<NewItem>) {
        let (p, feed) = (self.p, self.feed);
        let outcomes: Vec<(ItemOutcome, Option<String>)> = stream::iter(fresh)
            .map(|k| process_item(p, feed, k))
            .buffer_unordered(PAGES_IN_FLIGHT)
            .collect()
            .await;
        let rec = &mut self.rec;
        for (o, extract_failure) in outcomes {
            if let Some(f) = extract_failure {
                rec.extract_failures.push(f);
            }
            match o {
                ItemOutcome::Seen(keys, text) => {
                    if p.recent_retention.is_some() {
                        rec.recent.push(*text);
                    }
                    rec.seen.push(keys);
                }
                ItemOutcome::Kept(keys, a) => {
                    rec.seen.push(keys);
                    rec.articles.push(*a);
                }
                ItemOutcome::Deferred(k, err) => rec.deferred.push((k, err)),
            }
        }
    }

    /// Step 5: Remember the validators only when every item was handled; otherwise the next poll
    /// must download the feed again to retry the deferred items.
    fn finish(&mut self, validators: Conditional) {
        let rec = &mut self.rec;
        rec.validators = if rec.deferred.is_empty() {
            Validators::Set {
                etag: validators.etag,
                last_modified: validators.last_modified,
            }
        } else {
            Validators::Clear
        };
        if !rec.deferred.is_empty() {
            // Retry deferred pages soon rather than after a full interval.
            rec.next_poll_at = rec.next_poll_at.min(self.now + 60);
        }
        if self.row.last_error.is_some() {
            tracing::info!(feed = %self.feed.url, "feed recovered after {} failed polls", self.row.consecutive_failures);
        }
    }
}

/// The interval a poll starts from. A configured interval is fixed; otherwise the last
/// adaptive choice stands until the feed's item times say otherwise (within a max_interval a
/// reload may have shortened).
fn start_interval(p: &Pipeline, feed: &FeedConfig, row: &FeedRow) -> Duration {
    feed.interval.unwrap_or_else(|| {
        row.interval_secs
            .and_then(|s| u64::try_from(s).ok())
            .map_or(p.poll.interval, |s| {
                Duration::from_secs(s).min(p.poll.max_interval)
            })
    })
}

/// The feed's typical time between items, from its newest dated items: the span of up to
/// ten newest dates divided by the gaps between them. `None` with fewer than three dates.
fn publishing_gap(items: &[RawItem]) -> Option<Duration> {
    let mut dates: Vec<i64> = items
        .iter()
        .filter_map(|i| i.head.published.map(|t| t.timestamp()))
        .collect();
    dates.sort_unstable_by(|a, b| b.cmp(a));
    dates.dedup();
    dates.truncate(10);
    if dates.len() < 3 {
        return None;
    }
    let span = dates.first()? - dates.last()?;
    let gap = span / (dates.len() as i64 - 1);
    u64::try_from(gap).ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn raw_items(descriptions: &[&str]) -> Vec<RawItem> {
        let items: String = descriptions
            .iter()
            .enumerate()
            .map(|(i, d)| {
                format!("<item><title>Item {i}</title><guid>g{i}</guid><description>{d}</description></item>")
            })
            .collect();
        let doc = format!("<rss version=\"2.0\"><channel>{items}</channel></rss>");
        let limits = feed::Limits {
            max_items: 100,
            max_html_depth: 64,
        };
        feed::parse_raw(doc.as_bytes(), None, None, limits)
            .expect("parses")
            .items
    }

    #[test]
    fn seen_items_are_never_converted_to_text() {
        let items = raw_items(&["&lt;p&gt;one&lt;/p&gt;", "&lt;p&gt;two&lt;/p&gt;", "three"]);
        feed::CONVERSIONS.with(|c| c.set(0));
        let keyed = key_items(items, "https://example.org/feed");
        let unseen: HashSet<i64> = keyed[1].keys.iter().copied().collect();
        let (fresh, _) = select_fresh(keyed, &unseen);
        assert_eq!(fresh.len(), 1);
        assert_eq!(fresh[0].item.markup().0, Some("<p>two</p>"), "still markup");
        assert_eq!(
            feed::CONVERSIONS.with(|c| c.get()),
            0,
            "nothing converted yet"
        );
        let new: Vec<NewItem> = fresh.into_iter().map(|k| k.convert(64)).collect();
        assert_eq!(feed::CONVERSIONS.with(|c| c.get()), 1, "only the new item");
        assert_eq!(new[0].item.summary, "two");
    }

    #[test]
    fn summaries_shared_within_the_document_are_boilerplate() {
        let teaser = "Read the full story on our website.";
        let keyed = key_items(raw_items(&[teaser, "Own words.", teaser]), "s");
        let marks: Vec<bool> = keyed.iter().map(|k| k.boilerplate.summary).collect();
        assert_eq!(marks, [true, false, true]);
        assert!(keyed.iter().all(|k| !k.boilerplate.content));
    }
}
