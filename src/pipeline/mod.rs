//! The pipeline: one poll of one feed, read top to bottom.
//!
//! fetch (conditional) → parse (items cut to `max_items` while parsing, their HTML left as
//! markup) → drop items already seen → new items to text → fetch and extract article pages
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
use crate::fetch::{Conditional, FeedResponse, Fetcher};
use crate::rules::RuleSet;
use crate::store::{FeedRow, PollRecord, Store, Validators};

mod items;
pub(crate) mod next_poll;

use items::{key_items, process_item, select_fresh, ItemOutcome, Keyed, NewItem};
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
    /// A read connection for feed state and page attempts. Writes go through the writer.
    pub reader: Arc<Mutex<Store>>,
    /// Keys of every item seen, kept current by the writer's commits.
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
    let now = chrono::Utc::now().timestamp();
    let cond = Conditional {
        etag: row.etag.clone(),
        last_modified: row.last_modified.clone(),
    };
    // A configured interval is fixed; otherwise the last adaptive choice stands until the
    // feed's item times say otherwise (within a max_interval a reload may have shortened).
    let mut interval = feed.interval.unwrap_or_else(|| {
        row.interval_secs
            .and_then(|s| u64::try_from(s).ok())
            .map_or(p.poll.interval, |s| {
                Duration::from_secs(s).min(p.poll.max_interval)
            })
    });
    let cap = p.poll.max_interval;
    let mut rec = PollRecord {
        next_poll_at: now + jittered(interval, row.id),
        interval_secs: secs(interval),
        prune_recent_before: p
            .recent_retention
            .map(|d| now - i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4)),
        ..PollRecord::new(row.id, now)
    };

    // 1. Fetch, conditionally.
    let url = row.moved_to.as_deref().unwrap_or(&feed.url);
    let fetched = match p.fetcher.feed_from(&feed.url, url, &cond).await {
        Ok(FeedResponse::NotModified { status }) => {
            rec.status = Some(status);
            return rec;
        }
        Ok(FeedResponse::Fetched(f)) => *f,
        Err(e) => return failed(rec, row, interval, cap, &e.to_string(), &e),
    };
    rec.status = Some(fetched.status);
    if fetched.moved_permanently && fetched.url.as_str() != url {
        tracing::warn!(feed = %feed.url, moved_to = %fetched.url,
            "feed moved permanently; polling the new address from now on (update the config)");
        rec.moved_to = Some(fetched.url.to_string());
    }

    // 2. Parse. A typical feed parses in well under a millisecond, less than handing it to
    // another thread costs, so it is parsed here; a big one goes to the blocking pool so that
    // it cannot hold up the other polls sharing this runtime thread.
    let limits = feed::Limits {
        max_items: p.poll.max_items,
        max_html_depth: p.poll.max_html_depth,
    };
    let max_items = limits.max_items;
    let parsed = if fetched.body.len() <= INLINE_PARSE_BYTES {
        let ct = fetched.content_type.as_deref();
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            feed::parse_raw(&fetched.body, ct, Some(&fetched.url), limits)
        }))
        .map_err(|_| "panicked".to_string())
    } else {
        let base = fetched.url.clone();
        let ct = fetched.content_type.clone();
        let body = fetched.body;
        tokio::task::spawn_blocking(move || {
            feed::parse_raw(&body, ct.as_deref(), Some(&base), limits)
        })
        .await
        .map_err(|e| e.to_string())
    };
    let parsed: ParsedFeed<RawItem> = match parsed {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => {
            let msg = format!("{}: {e}", feed.url);
            return failed_msg(rec, row, interval, cap, &msg, None);
        }
        Err(e) => {
            let msg = format!("{}: parser crashed: {e}", feed.url);
            return failed_msg(rec, row, interval, cap, &msg, None);
        }
    };
    if let Some(n) = parsed.truncated_from {
        let dropped = n.saturating_sub(max_items);
        tracing::warn!(feed = %feed.url, items = n, kept = max_items, dropped,
            "feed has {n} items; only the first {max_items} are read, {dropped} dropped before parsing ([poll] max_items)");
    }
    if parsed.dropped_elements > 0 {
        tracing::warn!(feed = %feed.url, dropped = parsed.dropped_elements,
            "feed has elements past the structural limits (children per element, nesting, attributes); {} dropped before parsing, the rest of the feed is read",
            parsed.dropped_elements);
    }
    if feed.interval.is_none() {
        if let Some(gap) = publishing_gap(&parsed.items) {
            interval = (gap / 4).clamp(p.poll.min_interval, p.poll.max_interval);
            rec.interval_secs = secs(interval);
            rec.next_poll_at = now + jittered(interval, row.id);
        }
    }
    let asked = [
        ("Cache-Control max-age / Expires", fetched.max_age),
        ("<ttl>", parsed.ttl),
    ];
    rec.next_poll_at = rec
        .next_poll_at
        .max(now + server_wait(&feed.url, &asked, cap));
    let item_count = parsed.items.len() as i64;
    rec.item_count = Some(item_count);

    // 3. Only items never seen before go further. An item is known by its identity and
    // also by its link, so a feed that rewrites GUIDs on every poll, or re-publishes an item
    // under a new GUID, does not alert again.
    // Nothing has been turned from HTML into text yet (apart from titles): only new items are.
    let scope = feed::identity::scope(&feed.url);
    let keyed = key_items(parsed.items, &scope);
    let all: Vec<i64> = keyed.iter().flat_map(|k| k.keys.iter().copied()).collect();
    let unseen: std::collections::HashSet<i64> = p.seen.unseen(&all).into_iter().collect();
    let (fresh, also_seen) = select_fresh(keyed, &unseen);
    rec.also_seen.extend(also_seen);

    // Gap detection: everything is new and the document is as full as usual, so items may
    // have scrolled off between polls. Say so, and poll this feed more often.
    if !fresh.is_empty()
        && fresh.len() as i64 == item_count
        && row.items_seen > 0
        && row.last_item_count == Some(item_count)
    {
        rec.gap = true;
        interval = (interval / 2).max(p.poll.min_interval);
        rec.interval_secs = secs(interval);
        rec.next_poll_at = rec.next_poll_at.min(now + jittered(interval, row.id));
        tracing::warn!(feed = %feed.url, items = item_count,
            "none of the feed's {item_count} items were seen before and it is as full as usual: items may have been missed between polls; polling every {}s now",
            interval.as_secs());
    }

    // 4. New items to text (off the async threads when there is much of it), then full text
    // and matching, a few items at a time.
    let depth = p.poll.max_html_depth;
    let markup: usize = fresh.iter().map(Keyed::markup_len).sum();
    let fresh: Vec<NewItem> = if markup <= INLINE_PARSE_BYTES {
        fresh.into_iter().map(|k| k.convert(depth)).collect()
    } else {
        let handle = tokio::task::spawn_blocking(move || {
            fresh.into_iter().map(|k| k.convert(depth)).collect()
        });
        match handle.await {
            Ok(items) => items,
            Err(e) => {
                let msg = format!("{}: converting items to text crashed: {e}", feed.url);
                return failed_msg(rec, row, interval, cap, &msg, None);
            }
        }
    };
    let outcomes: Vec<(ItemOutcome, Option<String>)> = stream::iter(fresh)
        .map(|k| process_item(p, feed, k))
        .buffer_unordered(PAGES_IN_FLIGHT)
        .collect()
        .await;
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

    // 5. Remember the validators only when every item was handled; otherwise the next poll
    // must download the feed again to retry the deferred items.
    rec.validators = if rec.deferred.is_empty() {
        Validators::Set {
            etag: fetched.validators.etag,
            last_modified: fetched.validators.last_modified,
        }
    } else {
        Validators::Clear
    };
    if !rec.deferred.is_empty() {
        // Retry deferred pages soon rather than after a full interval.
        rec.next_poll_at = rec.next_poll_at.min(now + 60);
    }
    if row.last_error.is_some() {
        tracing::info!(feed = %feed.url, "feed recovered after {} failed polls", row.consecutive_failures);
    }
    rec
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
