//! One poll's items: their identity keys and shared boilerplate, which of them are new, and
//! for each new item the article page (full-text feeds) and the rule match.

use std::time::Duration;

use super::{Pipeline, PAGE_ATTEMPTS};
use crate::config::FeedConfig;
use crate::feed::{self, FeedItem, RawItem};
use crate::fetch::FetchError;
use crate::rules::Document;
use crate::store::{NewAlert, NewArticle, RecentItem, Store};

/// A parsed item, still markup, with its identity keys (see [`feed::identity::item_keys`]),
/// its canonical link, and whether its summary and content are the feed's boilerplate.
pub(super) struct Keyed {
    pub(super) keys: Vec<i64>,
    pub(super) link: Option<String>,
    pub(super) item: RawItem,
    pub(super) boilerplate: Boilerplate,
}

/// Which of an item's texts other items of the same document share verbatim ("Read the full
/// story on our website."): they say nothing about which story the item is.
#[derive(Clone, Copy, Default)]
pub(super) struct Boilerplate {
    pub(super) summary: bool,
    pub(super) content: bool,
}

impl Keyed {
    pub(super) fn markup_len(&self) -> usize {
        let (s, c) = self.item.markup();
        s.map_or(0, str::len) + c.map_or(0, str::len) + self.item.head.summary.len()
    }

    pub(super) fn convert(self, max_html_depth: usize) -> NewItem {
        NewItem {
            keys: self.keys,
            link: self.link,
            item: self.item.into_item(max_html_depth),
            boilerplate: self.boilerplate,
        }
    }
}

/// A new item, as text.
pub(super) struct NewItem {
    pub(super) keys: Vec<i64>,
    pub(super) link: Option<String>,
    pub(super) item: FeedItem,
    pub(super) boilerplate: Boilerplate,
}

/// Keys every item, and marks the summaries and contents that two or more items of the
/// document share verbatim (compared as markup, so nothing is converted).
pub(super) fn key_items(items: Vec<RawItem>, scope: &str) -> Vec<Keyed> {
    use std::hash::{Hash, Hasher};
    let hash = |field: u8, s: &str| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (field, s.trim()).hash(&mut h);
        h.finish()
    };
    let fields = |i: &RawItem| {
        let (s, c) = i.markup();
        // An item without a title had its summary converted already (identity needs it).
        let s = s.or(Some(i.head.summary.as_str()));
        [
            s.filter(|s| !s.trim().is_empty()).map(|s| hash(0, s)),
            c.filter(|c| !c.trim().is_empty()).map(|c| hash(1, c)),
        ]
    };
    let mut counts: std::collections::HashMap<u64, usize> = Default::default();
    for h in items.iter().flat_map(fields).flatten() {
        *counts.entry(h).or_default() += 1;
    }
    let shared = |h: Option<u64>| h.is_some_and(|h| counts.get(&h).is_some_and(|&n| n > 1));
    items
        .into_iter()
        .map(|item| {
            let [s, c] = fields(&item);
            let (keys, link) = feed::identity::item_keys(&item.head, scope);
            Keyed {
                keys: keys.into_iter().map(|k| k.0).collect(),
                link,
                boilerplate: Boilerplate {
                    summary: shared(s),
                    content: shared(c),
                },
                item,
            }
        })
        .collect()
}

/// The items none of whose keys were seen before (`unseen` holds the keys not seen in
/// earlier polls), nor earlier in this document; and the links of the others, whose sources
/// this feed joins. Nothing is converted here: the seen items are dropped as markup.
pub(super) fn select_fresh(
    keyed: Vec<Keyed>,
    unseen: &std::collections::HashSet<i64>,
) -> (Vec<Keyed>, Vec<String>) {
    let mut taken = std::collections::HashSet::new();
    let mut fresh = Vec::new();
    let mut also_seen = Vec::new();
    for k in keyed {
        if k.keys
            .iter()
            .all(|key| unseen.contains(key) && !taken.contains(key))
        {
            taken.extend(k.keys.iter().copied());
            fresh.push(k);
        } else if let Some(link) = k.link {
            also_seen.push(link);
        }
    }
    (fresh, also_seen)
}

/// Splits new items into those to process and those published before `horizon` (Unix
/// seconds): such an item may be one whose key was forgotten, so it must not alert again.
pub(super) fn split_too_old(fresh: Vec<Keyed>, horizon: i64) -> (Vec<Keyed>, Vec<Keyed>) {
    fresh.into_iter().partition(|k| {
        k.item
            .head
            .published
            .is_none_or(|t| t.timestamp() >= horizon)
    })
}

pub(super) enum ItemOutcome {
    /// Handled, nothing matched. All its keys, and its text for backtests.
    Seen(Vec<i64>, Box<RecentItem>),
    /// Matched at least one rule.
    Kept(Vec<i64>, Box<NewArticle>),
    /// Article page failed transiently; retry next poll.
    Deferred(i64, String),
}

/// Full text (when configured) and matching for one new item.
pub(super) async fn process_item(
    p: &Pipeline,
    feed: &FeedConfig,
    new: NewItem,
) -> (ItemOutcome, Option<String>) {
    let NewItem {
        keys,
        link: link_canonical,
        mut item,
        boilerplate,
    } = new;
    let key = keys[0];
    let mut body = item.content.take().unwrap_or_default();
    let mut body_source = if body.is_empty() { "none" } else { "feed" };
    let mut canonical = None;
    let mut author = item.author.clone();
    let mut lang = None;
    let mut published = item.published;
    let mut extract_failure = None;

    if let (true, Some(link)) = (feed.full_text, item.link.as_deref()) {
        match page_text(p, link).await {
            Ok(ex) => match ex
                .failure_reason()
                .map(str::to_string)
                .or_else(|| p.pages.same_as_other_page(link, &ex.text))
            {
                None => {
                    body = ex.text;
                    body_source = "page";
                    canonical = ex.canonical_url;
                    author = author.or(ex.author);
                    lang = ex.lang;
                    published = published.or(ex.published);
                }
                Some(reason) => {
                    // Furniture or nothing: matching it could raise false alarms (a ticker
                    // on every page), so the feed's own text stands in.
                    crate::ops::metrics::extraction_fallback();
                    if ex.timed_out {
                        tracing::warn!(feed = %feed.url, url = link,
                            budget_ms = p.poll.extract_timeout.as_millis() as u64,
                            "article extraction ran past [poll] extract_timeout; using the feed's text");
                    } else {
                        tracing::debug!(feed = %feed.url, url = link, reason = %reason,
                            "article extraction looks failed; using the feed's text");
                    }
                    extract_failure = Some(format!("{link}: {reason}"));
                }
            },
            Err(e) => {
                crate::ops::metrics::fetch_error(e.kind());
                let attempts = lookup(p, move |s| s.page_attempts(key)).await.unwrap_or(0) + 1;
                if e.is_transient() && attempts < PAGE_ATTEMPTS {
                    tracing::warn!(feed = %feed.url, url = link, error = %e,
                        "article page failed (attempt {attempts} of {PAGE_ATTEMPTS}); retrying on the next poll");
                    return (ItemOutcome::Deferred(key, e.to_string()), None);
                }
                tracing::warn!(feed = %feed.url, url = link, error = %e,
                    "article page unavailable; matching the feed's own text instead");
            }
        }
    }

    let doc = Document {
        title: &item.title,
        summary: &item.summary,
        body: &body,
        url: item.link.as_deref().unwrap_or(""),
        feed: feed.display_name(),
        feed_tags: &feed.tags,
    };
    let matches = p.rules.matches(&doc);
    if matches.is_empty() {
        let text = RecentItem {
            key,
            url: item.link,
            title: item.title,
            summary: item.summary,
            body,
        };
        return (ItemOutcome::Seen(keys, Box::new(text)), extract_failure);
    }
    let alerts = matches
        .into_iter()
        .map(|m| NewAlert {
            rule: m.rule,
            severity: m.severity,
            hits: m.terms,
            snippet: m.snippet,
        })
        .collect();
    // The story's fingerprint is of its headline and its distinctive text: the page's, else
    // the feed's content or summary unless other items of the feed share it verbatim.
    let story_text = match body_source {
        "page" => body.as_str(),
        "feed" if !boilerplate.content => body.as_str(),
        _ if !boilerplate.summary => item.summary.as_str(),
        _ => "",
    };
    let fingerprint = crate::story::article_fingerprint(&item.title, story_text);
    (
        ItemOutcome::Kept(
            keys,
            Box::new(NewArticle {
                item_key: key,
                url: item.link.clone(),
                canonical_url: canonical,
                title: item.title,
                summary: item.summary,
                body,
                body_source,
                author,
                lang,
                published_at: published.map(|t| t.timestamp()),
                link_canonical,
                fingerprint,
                alerts,
            }),
        ),
        extract_failure,
    )
}

/// Downloads, decodes and extracts one article page, within `[poll] extract_timeout`.
///
/// The extractor checks the budget between its stages and gives up with a timed-out result;
/// a stage that runs on past it is not waited for (a second after the budget, the poll goes
/// on with the feed's text while the blocking thread finishes and is dropped).
pub(super) async fn page_text(
    p: &Pipeline,
    link: &str,
) -> Result<crate::extract::Extracted, FetchError> {
    let page = p.fetcher.page(link).await?;
    let ex = p.extractor.clone();
    let url = page.url.clone();
    let ct = page.content_type.clone();
    let body = page.body;
    let budget = p.poll.extract_timeout;
    let depth = p.poll.max_html_depth;
    let work = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + budget;
        let (html, _) = crate::text::charset::decode_html(&body, ct.as_deref());
        ex.extract_within(&html, Some(&url), depth, deadline)
    });
    match tokio::time::timeout(budget + Duration::from_secs(1), work).await {
        Ok(done) => done.map_err(|e| FetchError::ReadBody {
            url: link.to_string(),
            reason: format!("extractor crashed: {e}"),
        }),
        Err(_) => Ok(crate::extract::Extracted::timed_out()),
    }
}

/// Runs a read query on the shared read connection, off the async threads.
pub(super) async fn lookup<T: Send + 'static>(
    p: &Pipeline,
    f: impl FnOnce(&Store) -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, crate::store::StoreError> {
    let reader = p.reader.clone();
    tokio::task::spawn_blocking(move || {
        let s = reader.lock().unwrap_or_else(|e| e.into_inner());
        f(&s)
    })
    .await
    .unwrap_or_else(|e| Err(crate::store::StoreError::Task(e.to_string())))
}
