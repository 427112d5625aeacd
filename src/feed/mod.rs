//! The `feed` stage: a fetched feed document (any format, any charset) becomes [`FeedItem`]s.
//!
//! Pipeline position: fetch → **parse** → extract → match → store → alert. [`parse`] takes the
//! raw body bytes and the `Content-Type` header from `fetch`, decodes them with
//! [`crate::text::charset::decode_xml`] (feed-rs would otherwise trust only the XML declaration),
//! fixes what feed-rs is too strict for (`prepare`, and `repair` when feed-rs still fails),
//! parses dates leniently (`date`), and maps feed-rs's model onto the
//! plain [`FeedItem`] the later stages use: clean text, absolute links, no made-up ids.
//! [`identity`] gives each item the stable key dedup relies on.
//!
//! Hostile input: feed-rs/quick-xml never expand DTD entities themselves; `prepare` expands
//! plain ones (bounded) and refuses billion-laughs-shaped DTDs with [`ParseError::Refused`],
//! so such documents cost linear time and memory. `limit` cuts the document before feed-rs
//! builds anything: items past `max_items`, and elements past its structural limits (children,
//! depth, attributes). HTML in items is capped in depth when it is converted, and
//! [`parse_raw`] leaves that conversion to the caller, who does it for new items only.
//! Nothing here panics on any input (a proptest checks it), and feed-rs panics are caught.

mod date;
pub mod identity;
mod limit;
mod prepare;
mod repair;

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prepare::Kind;

/// One item of a feed, normalised. Plain data: crosses into `extract`, `rules` and `store`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FeedItem {
    /// The id the document gave (RSS `guid`, Atom `id`, JSON `id`); `None` when it gave none.
    /// Never a generated id, so that [`identity::item_key`] can tell the two cases apart.
    pub guid: Option<String>,
    /// Absolute when it could be resolved (against `xml:base` or the feed URL).
    pub link: Option<String>,
    /// Clean text, whitespace collapsed; `""` if none.
    pub title: String,
    /// Clean text of the description/summary; `""` if none.
    pub summary: String,
    /// Clean text of the full content (`content:encoded`, Atom `content`, JSON
    /// `content_html`/`content_text`) when present.
    pub content: Option<String>,
    /// Published, else updated.
    pub published: Option<DateTime<Utc>>,
    /// First author's name (or e-mail when there is no name).
    pub author: Option<String>,
    /// [`identity::canonical_url`] of `link`, computed from the same parse; `None` when the
    /// link has no canonical form, or when whoever built the item did not compute it.
    #[serde(skip)]
    pub link_canonical: Option<String>,
}

/// An item as parsed, with its summary and content still HTML: turning HTML into text is the
/// costly part of a parse, and most items of a feed were seen in an earlier poll, so the
/// pipeline converts only the new ones ([`RawItem::into_item`]).
#[derive(Debug, Clone)]
pub struct RawItem {
    /// Everything but `summary` and `content`, which are filled in by [`RawItem::into_item`]
    /// (the summary already is when the item has no title: identity may need it).
    pub head: FeedItem,
    summary: Option<String>,
    content: Option<String>,
}

impl RawItem {
    /// The summary's and the content's markup as the document gave them, for comparing items
    /// of one document without converting them.
    pub fn markup(&self) -> (Option<&str>, Option<&str>) {
        (self.summary.as_deref(), self.content.as_deref())
    }

    /// The item with its summary and content as clean text; HTML nested deeper than
    /// `max_html_depth` loses its deeper tags first ([`crate::text::html::cap_depth`]).
    pub fn into_item(self, max_html_depth: usize) -> FeedItem {
        #[cfg(test)]
        CONVERSIONS.with(|c| c.set(c.get() + 1));
        let mut item = self.head;
        if let Some(s) = self.summary {
            item.summary = to_text(&s, max_html_depth);
        }
        item.content = self
            .content
            .map(|c| to_text(&c, max_html_depth))
            .filter(|s| !s.is_empty());
        item
    }
}

#[cfg(test)]
thread_local! {
    /// Items converted by [`RawItem::into_item`] on this thread (tests check what is skipped).
    pub(crate) static CONVERSIONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Bounds on the work one document may cause.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Items kept (the first ones); the rest are cut before feed-rs reads them.
    pub max_items: usize,
    /// Nesting depth of HTML in titles, summaries and content.
    pub max_html_depth: usize,
}

/// A parsed feed: its title, format and items.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ParsedFeed<I = FeedItem> {
    /// Feed title as clean text.
    pub title: Option<String>,
    /// Which format the document was.
    pub format: FeedFormat,
    /// Items in document order (usually newest first), at most `max_items`.
    pub items: Vec<I>,
    /// RSS `<ttl>`: the publisher's minimum time between polls.
    pub ttl: Option<Duration>,
    /// The item count before the `max_items` cut, when there was a cut.
    pub truncated_from: Option<usize>,
    /// Other elements (or JSON members) removed because they were past a structural limit:
    /// too many children, too deep, too many attributes (see `limit`).
    pub dropped_elements: usize,
}

/// Feed formats, as shown to users (`Display`) and in `parse --format json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedFormat {
    /// RSS 0.90 (RDF), 0.91, 0.92, 0.93, 0.94.
    Rss09x,
    /// RSS 1.0 (RDF).
    Rss10,
    /// RSS 2.0, and `<rss>` without a version.
    Rss20,
    /// Atom 1.0 and 0.3.
    Atom,
    /// JSON Feed 1.x.
    Json,
}

impl FeedFormat {
    /// The user-facing name.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedFormat::Rss09x => "rss0.9x",
            FeedFormat::Rss10 => "rss1.0",
            FeedFormat::Rss20 => "rss2.0",
            FeedFormat::Atom => "atom",
            FeedFormat::Json => "json",
        }
    }
}

impl fmt::Display for FeedFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for FeedFormat {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Why a document gave no feed. Messages say what the user is looking at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The body was empty or only whitespace.
    #[error("empty document: the server sent no feed content")]
    Empty,
    /// The body is something else, e.g. "an HTML page" (a moved feed, a login wall, an error
    /// page). `what` starts with an article so it reads in the message.
    #[error("{what}, not a feed (check the feed URL)")]
    NotAFeed {
        /// What it is instead.
        what: String,
    },
    /// The document is hostile (an entity-expansion attack in its DOCTYPE) and was not parsed.
    #[error("refused: {reason}")]
    Refused {
        /// What was refused and why.
        reason: String,
    },
    /// It looks like a feed but could not be read; `detail` is the parser's message.
    #[error("malformed feed: {detail}")]
    Malformed {
        /// feed-rs's description of the problem.
        detail: String,
    },
}

/// Parses a feed document.
///
/// `content_type` is the HTTP header (its charset wins over the XML declaration); `base` is the
/// feed's URL, for resolving relative links (ignored unless http/https); at most `max_items` items are kept (the first ones,
/// i.e. usually the newest) and `truncated_from` records the original count.
///
/// # Errors
/// [`ParseError::Empty`] for an empty body, [`ParseError::NotAFeed`] for HTML and other
/// documents, [`ParseError::Malformed`] when feed-rs cannot read it and no complete item can be
/// salvaged.
pub fn parse(
    bytes: &[u8],
    content_type: Option<&str>,
    base: Option<&url::Url>,
    max_items: usize,
) -> Result<ParsedFeed, ParseError> {
    let limits = Limits {
        max_items,
        max_html_depth: crate::text::html::DEFAULT_MAX_DEPTH,
    };
    let raw = parse_raw(bytes, content_type, base, limits)?;
    Ok(ParsedFeed {
        items: raw
            .items
            .into_iter()
            .map(|i| i.into_item(limits.max_html_depth))
            .collect(),
        title: raw.title,
        format: raw.format,
        ttl: raw.ttl,
        truncated_from: raw.truncated_from,
        dropped_elements: raw.dropped_elements,
    })
}

/// [`parse`], with the items' summaries and content left as markup ([`RawItem`]) and the
/// bounds given in full.
///
/// # Errors
/// As [`parse`].
pub fn parse_raw(
    bytes: &[u8],
    content_type: Option<&str>,
    base: Option<&url::Url>,
    limits: Limits,
) -> Result<ParsedFeed<RawItem>, ParseError> {
    let max_items = limits.max_items;
    if bytes.iter().all(|b| b.is_ascii_whitespace() || *b == 0) {
        return Err(ParseError::Empty);
    }
    // Only a web base makes links fetchable: a feed read from disk (`file:` base) keeps its
    // relative links relative instead of turning them into `file:` URLs.
    let base = base.filter(|b| matches!(b.scheme(), "http" | "https"));
    let (text, _enc) = crate::text::charset::decode_xml(bytes, content_type);
    if text
        .trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}' || c == '\0')
        .is_empty()
    {
        return Err(ParseError::Empty);
    }
    // A JSON Feed is cut before `prepare` reads it into a `serde_json::Value`.
    let json_cut = text
        .trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
        .starts_with('{')
        .then(|| limit::json(&text, max_items));
    let text = json_cut.as_ref().map_or(&*text, |l| l.text(&text));
    let (body, kind) = prepare::prepare(text);
    let format = match &kind {
        Kind::Xml { format, .. } => *format,
        Kind::Json => FeedFormat::Json,
        Kind::Html => {
            return Err(ParseError::NotAFeed {
                what: "an HTML page".into(),
            })
        }
        Kind::Other(what) => return Err(ParseError::NotAFeed { what: what.clone() }),
        Kind::Refused(reason) => {
            return Err(ParseError::Refused {
                reason: reason.clone(),
            })
        }
    };
    let limited = match (&kind, json_cut) {
        (Kind::Xml { format, .. }, _) => limit::xml(&body, item_tag(*format), max_items),
        (_, Some(json)) => limit::Limited { body: None, ..json },
        _ => limit::Limited::default(),
    };
    let body = limited.body.unwrap_or(body);
    let feed = match guarded_parse(base, &body) {
        Ok(feed) => feed,
        Err(err) => {
            // Recovery ladder: fix Atom `type`s, escape bare `&`, then cut back to the last
            // complete item. Each step works on the previous one's output.
            let typed = (format == FeedFormat::Atom)
                .then(|| repair::normalize_atom_types(&body))
                .flatten();
            let body = typed.as_deref().unwrap_or(&body);
            let amp_fixed = repair::escape_bare_ampersands(body);
            let body = amp_fixed.as_deref().unwrap_or(body);
            let salvaged = typed
                .is_some()
                .then(|| guarded_parse(base, body).ok())
                .flatten()
                .or_else(|| {
                    amp_fixed
                        .as_deref()
                        .and_then(|fixed| guarded_parse(base, fixed).ok())
                })
                .or_else(|| {
                    repair::repair_truncated(body, &kind)
                        .and_then(|fixed| guarded_parse(base, &fixed).ok())
                        .filter(|f| !f.entries.is_empty())
                });
            match salvaged {
                Some(feed) => {
                    tracing::warn!(error = %err, items = feed.entries.len(), "feed is not well-formed; kept what could be recovered");
                    feed
                }
                // `<rss>` with no `<channel>` (or an empty one feed-rs rejects): a feed with
                // nothing in it yet, not an error to report on the feed.
                None if err == NO_ROOT && !body.contains("<item") => {
                    return Ok(ParsedFeed {
                        title: None,
                        format,
                        items: Vec::new(),
                        ttl: None,
                        truncated_from: None,
                        dropped_elements: limited.dropped,
                    });
                }
                None => return Err(ParseError::Malformed { detail: err }),
            }
        }
    };
    let mut parsed = convert(feed, format, base, limits);
    if limited.items > max_items {
        parsed.truncated_from = Some(limited.items);
    }
    parsed.dropped_elements = limited.dropped;
    Ok(parsed)
}

/// The local name of an item element in `format`.
fn item_tag(format: FeedFormat) -> &'static str {
    match format {
        FeedFormat::Atom => "entry",
        _ => "item",
    }
}

/// feed-rs's message when it finds no channel/feed element it knows.
const NO_ROOT: &str = "unable to parse feed: no root element";

/// Runs feed-rs on `body` with a fresh parser each time: a feed-rs 3.0 `Parser` keeps MediaRSS
/// state across calls, and after a failed parse that state makes the next call panic (an
/// assertion in `mediarss.rs`, found on node-feedparser's `saxerror.xml`). The panic is also
/// caught, as a last line of defence: a bad feed must be an error, never a crashed poll.
fn guarded_parse(base: Option<&url::Url>, body: &str) -> Result<feed_rs::model::Feed, String> {
    let run = std::panic::AssertUnwindSafe(|| feed_parser(base).parse(body.as_bytes()));
    match std::panic::catch_unwind(run) {
        Ok(Ok(feed)) => Ok(feed),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the XML parser gave up on this document (internal error)".into()),
    }
}

/// A feed-rs parser that does not invent ids (an empty id means "none given"), resolves
/// relative URLs against the feed URL, and leaves HTML alone (we turn it into text ourselves).
fn feed_parser(base: Option<&url::Url>) -> feed_rs::parser::Parser {
    feed_rs::parser::Builder::new()
        .base_uri(base.map(url::Url::as_str))
        .id_generator(|_, _, _| String::new())
        .sanitize_content(false)
        .timestamp_parser(date::parse_date)
        .build()
}

fn convert(
    feed: feed_rs::model::Feed,
    format: FeedFormat,
    base: Option<&url::Url>,
    limits: Limits,
) -> ParsedFeed<RawItem> {
    let (max_items, depth) = (limits.max_items, limits.max_html_depth);
    let total = feed.entries.len();
    // `limit` has cut the document already; this is the count for documents it left alone.
    let truncated_from = (total > max_items).then_some(total);
    let items = feed
        .entries
        .into_iter()
        .take(max_items)
        .map(|e| convert_entry(e, format, base, depth))
        .collect();
    ParsedFeed {
        title: feed
            .title
            .map(|t| text_of(&t, depth))
            .filter(|t| !t.is_empty()),
        format,
        items,
        ttl: feed.ttl.map(|m| Duration::from_secs(u64::from(m) * 60)),
        truncated_from,
        dropped_elements: 0,
    }
}

fn convert_entry(
    e: feed_rs::model::Entry,
    format: FeedFormat,
    base: Option<&url::Url>,
    depth: usize,
) -> RawItem {
    let guid = Some(e.id.trim().to_string()).filter(|s| !s.is_empty());
    // No link: an id that is an http(s) URL is the permalink (RSS `isPermaLink` defaults to
    // true, feed-rs does not expose the attribute; Atom ids are very often the post URL), as
    // feedparser does. JSON Feed has a separate `url`, so its id is an identifier only.
    let guid_is_permalink = format != FeedFormat::Json;
    let (link, link_canonical) =
        match pick_link(&e.links).and_then(|href| resolve(href, e.base.as_deref(), base)) {
            Some(Resolved::Url(u)) => (Some(u.to_string()), identity::canonical_of(u)),
            Some(Resolved::Raw(href)) => {
                let canonical = identity::canonical_url(&href);
                (Some(href), canonical)
            }
            None => {
                let g = guid
                    .as_deref()
                    .filter(|_| guid_is_permalink)
                    .filter(|g| g.starts_with("http://") || g.starts_with("https://"));
                (g.map(String::from), g.and_then(identity::canonical_url))
            }
        };
    let content = e.content.and_then(|c| c.body);
    let author = e
        .authors
        .iter()
        .find_map(|p| {
            p.name
                .clone()
                .filter(|n| !n.trim().is_empty())
                .or_else(|| p.email.clone())
        })
        .map(|n| collapse_ws(&n));
    let title = e
        .title
        .as_ref()
        .map(|t| text_of(t, depth))
        .unwrap_or_default();
    // No summary: YouTube and podcast feeds put it in `media:description` /
    // `itunes:summary`, which feed-rs files under media.
    let mut summary = e
        .summary
        .or_else(|| e.media.into_iter().find_map(|m| m.description))
        .map(|t| t.content);
    // Without a title, identity falls back to the summary, so it is needed now.
    let summary_text = match summary.as_deref() {
        Some(s) if title.is_empty() => to_text(s, depth),
        _ => String::new(),
    };
    if title.is_empty() {
        summary = None;
    }
    RawItem {
        head: FeedItem {
            guid,
            link,
            title,
            summary: summary_text,
            content: None,
            published: e.published.or(e.updated),
            author,
            link_canonical,
        },
        summary,
        content,
    }
}

/// The article link: the first `rel="alternate"` (or rel-less) link whose type, if any, is
/// HTML. Other types (JSON Feed attachments, Atom links to audio) are not the article.
fn pick_link(links: &[feed_rs::model::Link]) -> Option<&str> {
    let alternate = |l: &&feed_rs::model::Link| l.rel.as_deref().is_none_or(|r| r == "alternate");
    let html =
        |l: &&feed_rs::model::Link| l.media_type.as_deref().is_none_or(|t| t.contains("html"));
    links
        .iter()
        .filter(alternate)
        .find(html)
        .map(|l| l.href.trim())
        .filter(|h| !h.is_empty())
}

/// Resolves `href` against the entry's `xml:base`, else the feed URL; keeps it as given when
/// neither makes it an http(s) URL (a relative link is still better than none).
///
/// Absolute links with a scheme other than http(s) (`javascript:`, `data:`, `file:`) are
/// dropped: the link is what `extract` fetches, and a feed must not point us at local files.
fn resolve(href: &str, entry_base: Option<&str>, base: Option<&url::Url>) -> Option<Resolved> {
    if let Ok(u) = url::Url::parse(href) {
        return matches!(u.scheme(), "http" | "https").then_some(Resolved::Url(u));
    }
    let entry_base = entry_base.and_then(|b| match base {
        Some(fb) => fb.join(b).ok(),
        None => url::Url::parse(b).ok(),
    });
    entry_base
        .as_ref()
        .or(base)
        .and_then(|b| b.join(href).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .map_or_else(
            || Some(Resolved::Raw(href.to_string())),
            |u| Some(Resolved::Url(u)),
        )
}

/// A resolved link: parsed, or as given when it could not be made absolute.
enum Resolved {
    Url(url::Url),
    Raw(String),
}

/// Title-like text: HTML (or anything that looks like markup or entities) to text, whitespace
/// collapsed to single spaces.
fn text_of(t: &feed_rs::model::Text, depth: usize) -> String {
    let is_html = t.content_type.as_str().contains("html");
    if is_html || t.content.contains('<') || t.content.contains('&') {
        collapse_ws(&to_text(&t.content, depth))
    } else {
        collapse_ws(&demoronize(&t.content))
    }
}

/// HTML fragment to clean text ([`crate::text::html::fragment_to_text_capped`]), then
/// [`demoronize`]d.
fn to_text(html: &str, depth: usize) -> String {
    let text = crate::text::html::fragment_to_text_capped(html, depth);
    match demoronize(&text) {
        Cow::Owned(fixed) => fixed,
        Cow::Borrowed(_) => text,
    }
}

/// C1 control characters (U+0080..U+009F) never belong in text; they are windows-1252 bytes
/// (curly quotes, dashes, €) that a CMS decoded as Latin-1. Maps them to what was meant; text
/// without any (nearly all) is returned as it is, found by a byte scan for their UTF-8 form
/// (0xC2, then 0x80..=0x9F) rather than by decoding it.
fn demoronize(s: &str) -> Cow<'_, str> {
    let has_c1 = s
        .as_bytes()
        .windows(2)
        .any(|w| w[0] == 0xC2 && (0x80..=0x9F).contains(&w[1]));
    if !has_c1 {
        return Cow::Borrowed(s);
    }
    s.chars()
        .map(|c| match u8::try_from(u32::from(c)) {
            Ok(b @ 0x80..=0x9f) => encoding_rs::WINDOWS_1252
                .decode_without_bom_handling(&[b])
                .0
                .chars()
                .next()
                .unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// Words separated by single spaces (the `html` stage's own collapsing).
fn collapse_ws(s: &str) -> String {
    crate::text::html::collapse_whitespace(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> url::Url {
        url::Url::parse("https://example.org/news/feed.xml").expect("static url")
    }

    #[test]
    fn rss2_basic() {
        let doc = br#"<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>News &amp; more</title><ttl>30</ttl>
<item><title>  Rockets hit   &lt;b&gt;Green Zone&lt;/b&gt; </title><link>/a/1?utm_source=x</link><guid isPermaLink="false">abc-1</guid>
<description>&lt;p&gt;Summary&lt;/p&gt;</description><content:encoded><![CDATA[<p>Full text</p>]]></content:encoded>
<pubDate>Tue, 10 Jun 2025 04:00:00 GMT</pubDate><author>jo@example.org (Jo)</author></item>
<item><title>No guid</title></item></channel></rss>"#;
        let f = parse(doc, None, Some(&base()), 100).expect("parses");
        assert_eq!(f.format, FeedFormat::Rss20);
        assert_eq!(f.title.as_deref(), Some("News & more"));
        assert_eq!(f.ttl, Some(Duration::from_secs(1800)));
        let it = &f.items[0];
        assert_eq!(it.title, "Rockets hit Green Zone");
        assert_eq!(it.guid.as_deref(), Some("abc-1"));
        assert_eq!(
            it.link.as_deref(),
            Some("https://example.org/a/1?utm_source=x")
        );
        assert_eq!(it.summary, "Summary");
        assert_eq!(it.content.as_deref(), Some("Full text"));
        assert!(it.published.is_some());
        assert_eq!(f.items[1].guid, None);
        assert_eq!(f.items[1].link, None);
    }

    #[test]
    fn atom_and_json_basic() {
        let atom = br#"<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>
<entry><id>urn:x:1</id><title type="html">&lt;i&gt;T&lt;/i&gt;</title><link rel="self" href="https://e.org/self"/><link href="https://e.org/p/1"/>
<updated>2025-01-02T03:04:05Z</updated><summary>S</summary><content type="html">&lt;p&gt;C&lt;/p&gt;</content></entry></feed>"#;
        let f = parse(atom, None, None, 100).expect("atom parses");
        assert_eq!(f.format, FeedFormat::Atom);
        assert_eq!(f.items[0].title, "T");
        assert_eq!(f.items[0].link.as_deref(), Some("https://e.org/p/1"));
        assert_eq!(f.items[0].content.as_deref(), Some("C"));
        let json = br#"{"version":"1.1","title":"J","items":[{"id":"1","url":"https://e.org/j/1","title":"JT","content_html":"<p>H</p>","date_published":"2025-01-02T03:04:05Z"}]}"#;
        let f = parse(json, None, None, 100).expect("json parses");
        assert_eq!(f.format, FeedFormat::Json);
        assert_eq!(f.items[0].link.as_deref(), Some("https://e.org/j/1"));
        assert_eq!(f.items[0].content.as_deref(), Some("H"));
    }

    #[test]
    fn errors() {
        assert!(matches!(
            parse(b"  \n ", None, None, 10),
            Err(ParseError::Empty)
        ));
        assert!(matches!(parse(b"", None, None, 10), Err(ParseError::Empty)));
        let html = parse(
            b"<!DOCTYPE html><html><head><title>Moved</title></head></html>",
            None,
            None,
            10,
        );
        match html {
            Err(e @ ParseError::NotAFeed { .. }) => assert_eq!(
                e.to_string(),
                "an HTML page, not a feed (check the feed URL)"
            ),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            parse(b"<rss version=\"2.0\"><chan", None, None, 10),
            Err(ParseError::Malformed { .. })
        ));
    }

    #[test]
    fn links_are_resolved_and_only_http() {
        let doc = br#"<rss version="2.0"><channel>
<item xml:base="https://other.example/dir/"><title>a</title><link>page.html</link></item>
<item><title>b</title><link>javascript:alert(1)</link></item>
<item><title>c</title><link>file:///etc/passwd</link></item>
<item><title>d</title><guid>https://example.org/p/4</guid></item></channel></rss>"#;
        let f = parse(doc, None, Some(&base()), 100).expect("parses");
        let links: Vec<_> = f.items.iter().map(|i| i.link.as_deref()).collect();
        assert_eq!(
            links,
            [
                Some("https://other.example/dir/page.html"),
                None,
                None,
                Some("https://example.org/p/4")
            ]
        );
    }

    #[test]
    fn file_base_leaves_relative_links_alone() {
        let doc = b"<rss version=\"2.0\"><channel><item><title>a</title><link>/news/1</link></item></channel></rss>";
        let file = url::Url::parse("file:///srv/feeds/x.xml").expect("static url");
        let f = parse(doc, None, Some(&file), 10).expect("parses");
        assert_eq!(f.items[0].link.as_deref(), Some("/news/1"));
    }

    #[test]
    fn empty_rss_is_an_empty_feed() {
        let f = parse(
            b"<?xml version='1.0'?><rss version='2.0'></rss>",
            None,
            None,
            10,
        )
        .expect("ok");
        assert!(f.items.is_empty());
        assert!(matches!(
            parse(
                b"<rss><channel><item><title>x</title></chan",
                None,
                None,
                10
            ),
            Err(ParseError::Malformed { .. })
        ));
    }

    #[test]
    fn odd_atom_types_do_not_sink_the_feed() {
        let atom = br#"<feed xmlns="http://www.w3.org/2005/Atom"><title>F</title><entry><id>1</id><title type="TEXT">T &amp; U</title><summary type="text/plain">S</summary><content type="text/plain"></content><link href="http://e.org/1"/></entry></feed>"#;
        let f = parse(atom, None, None, 10).expect("recovered");
        assert_eq!(
            (f.items[0].title.as_str(), f.items[0].summary.as_str()),
            ("T & U", "S")
        );
    }

    #[test]
    fn bare_ampersands_are_recovered() {
        let rss = b"<rss version=\"2.0\"><channel><item><title>AT&T</title><link>http://e.org/?a=1&b=2</link></item></channel></rss>";
        let f = parse(rss, None, None, 10).expect("recovered");
        assert_eq!(f.items[0].title, "AT&T");
        assert_eq!(f.items[0].link.as_deref(), Some("http://e.org/?a=1&b=2"));
    }

    #[test]
    fn c1_controls_become_windows_1252() {
        assert_eq!(
            demoronize("don\u{92}t \u{93}x\u{94} \u{80}5"),
            "don’t “x” €5"
        );
        assert_eq!(demoronize("plain"), "plain");
    }

    #[test]
    fn max_items_truncates() {
        let items: String = (0..5)
            .map(|i| format!("<item><title>{i}</title></item>"))
            .collect();
        let doc = format!("<rss version=\"2.0\"><channel>{items}</channel></rss>");
        let f = parse(doc.as_bytes(), None, None, 3).expect("parses");
        assert_eq!(f.items.len(), 3);
        assert_eq!(f.truncated_from, Some(5));
        let f = parse(doc.as_bytes(), None, None, 5).expect("parses");
        assert_eq!(f.truncated_from, None);
    }
}
