//! One poll's items: their identity keys and shared boilerplate, which of them are new, and
//! for each new item the article page (full-text feeds) and the rule match.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Pipeline, PAGE_ATTEMPTS};
use crate::config::FeedConfig;
use crate::feed::{self, FeedItem, RawItem};
use crate::fetch::FetchError;
use crate::rules::Document;
use crate::store::{NewAlert, NewArticle, RecentItem};

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
    let mut body = Body::from_feed(&mut item);
    let mut extract_failure = None;
    if let (true, Some(link)) = (feed.full_text, item.link.as_deref()) {
        match article_page(p, feed, key, link).await {
            Page::Article(ex) => body.use_page(ex),
            Page::Failed(failure) => extract_failure = Some(failure),
            Page::Unavailable => {}
            Page::Deferred(err) => return (ItemOutcome::Deferred(key, err), None),
        }
    }
    let doc = Document {
        title: &item.title,
        summary: &item.summary,
        body: &body.text,
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
            body: body.text,
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
    let article = new_article(key, item, link_canonical, body, boilerplate, alerts);
    (ItemOutcome::Kept(keys, Box::new(article)), extract_failure)
}

/// The text an item is matched and stored with, and what is known of the article: from the
/// feed, or from the article page when its extraction succeeded.
struct Body {
    text: String,
    /// `"none"`, `"feed"` or `"page"`, as stored.
    source: &'static str,
    canonical: Option<String>,
    author: Option<String>,
    lang: Option<String>,
    published: Option<DateTime<Utc>>,
}

impl Body {
    /// The feed's own text (its content, taken out of `item`).
    fn from_feed(item: &mut FeedItem) -> Self {
        let text = item.content.take().unwrap_or_default();
        Body {
            source: if text.is_empty() { "none" } else { "feed" },
            text,
            canonical: None,
            author: item.author.clone(),
            lang: None,
            published: item.published,
        }
    }

    /// The page's text instead; the feed's author and date stand when the page has none.
    fn use_page(&mut self, ex: crate::extract::Extracted) {
        self.text = ex.text;
        self.source = "page";
        self.canonical = ex.canonical_url;
        self.author = self.author.take().or(ex.author);
        self.lang = ex.lang;
        self.published = self.published.or(ex.published);
    }
}

/// What became of an item's article page.
enum Page {
    /// Extracted: the article's text and metadata.
    Article(crate::extract::Extracted),
    /// Extracted, but furniture or nothing; the extraction failure to record.
    Failed(String),
    /// Not to be had: the feed's own text stands in.
    Unavailable,
    /// Failed transiently with attempts left: the item is retried on the next poll.
    Deferred(String),
}

/// Fetches and extracts the article page at `link` for the item `key`, and judges the result.
async fn article_page(p: &Pipeline, feed: &FeedConfig, key: i64, link: &str) -> Page {
    let ex = match page_text(p, link).await {
        Ok(ex) => ex,
        Err(e) => return page_error(p, feed, key, link, &e).await,
    };
    let reason = ex
        .failure_reason()
        .map(str::to_string)
        .or_else(|| p.pages.same_as_other_page(link, &ex.text));
    let Some(reason) = reason else {
        return Page::Article(ex);
    };
    // Furniture or nothing: matching it could raise false alarms (a ticker on every page), so
    // the feed's own text stands in.
    crate::ops::metrics::extraction_fallback();
    if ex.timed_out {
        tracing::warn!(feed = %feed.url, url = link,
            budget_ms = p.poll.extract_timeout.as_millis() as u64,
            "article extraction ran past [poll] extract_timeout; using the feed's text");
    } else {
        tracing::debug!(feed = %feed.url, url = link, reason = %reason,
            "article extraction looks failed; using the feed's text");
    }
    Page::Failed(format!("{link}: {reason}"))
}

/// An article page that could not be fetched: retried on later polls while the failure is
/// transient and attempts are left, else given up for the feed's own text.
async fn page_error(p: &Pipeline, feed: &FeedConfig, key: i64, link: &str, e: &FetchError) -> Page {
    crate::ops::metrics::fetch_error(e.kind());
    let attempts = p.reader.page_attempts(key).await.unwrap_or(0) + 1;
    if e.is_transient() && attempts < PAGE_ATTEMPTS {
        tracing::warn!(feed = %feed.url, url = link, error = %e,
            "article page failed (attempt {attempts} of {PAGE_ATTEMPTS}); retrying on the next poll");
        return Page::Deferred(e.to_string());
    }
    tracing::warn!(feed = %feed.url, url = link, error = %e,
        "article page unavailable; matching the feed's own text instead");
    Page::Unavailable
}

/// The article to store for a matched item.
///
/// The story's fingerprint is of its headline and its distinctive text: the page's, else the
/// feed's content or summary unless other items of the feed share it verbatim.
fn new_article(
    key: i64,
    item: FeedItem,
    link_canonical: Option<String>,
    body: Body,
    boilerplate: Boilerplate,
    alerts: Vec<NewAlert>,
) -> NewArticle {
    let story_text = match body.source {
        "page" => body.text.as_str(),
        "feed" if !boilerplate.content => body.text.as_str(),
        _ if !boilerplate.summary => item.summary.as_str(),
        _ => "",
    };
    let fingerprint = crate::story::article_fingerprint(&item.title, story_text);
    NewArticle {
        item_key: key,
        url: item.link.clone(),
        canonical_url: body.canonical,
        title: item.title,
        summary: item.summary,
        body: body.text,
        body_source: body.source,
        author: body.author,
        lang: body.lang,
        published_at: body.published.map(|t| t.timestamp()),
        link_canonical,
        fingerprint,
        alerts,
    }
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
