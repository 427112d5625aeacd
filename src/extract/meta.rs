//! Article metadata (title, published time, author, language, canonical URL) read from the
//! page's `<head>` and JSON-LD, before the body is cut out of the page.
//!
//! Sources in order of trust: JSON-LD `NewsArticle`/`Article` (written for search engines, so
//! usually right), then OpenGraph / `article:*` / Dublin Core `<meta>`, then plain HTML
//! (`<title>`, `<html lang>`, `<time datetime>`). Alerts use the published time, so a date
//! that does not parse is dropped rather than guessed.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use ego_tree::NodeRef;
use scraper::node::Element;
use scraper::{Html, Node};
use serde_json::Value;
use url::Url;

/// What the page says about itself.
#[derive(Debug, Default)]
pub(crate) struct Meta {
    pub(crate) title: Option<String>,
    pub(crate) published: Option<DateTime<Utc>>,
    pub(crate) author: Option<String>,
    pub(crate) lang: Option<String>,
    pub(crate) canonical_url: Option<String>,
}

/// Candidates collected in one walk over the document; the first found of each kind wins.
#[derive(Default)]
struct Found {
    og_title: Option<String>,
    html_title: Option<String>,
    h1: Option<String>,
    meta_published: Option<String>,
    time_datetime: Option<String>,
    meta_author: Option<String>,
    html_lang: Option<String>,
    meta_lang: Option<String>,
    canonical: Option<String>,
    og_url: Option<String>,
    ld: Option<LdArticle>,
}

#[derive(Default)]
struct LdArticle {
    headline: Option<String>,
    published: Option<String>,
    author: Option<String>,
    lang: Option<String>,
    url: Option<String>,
}

fn set(slot: &mut Option<String>, v: Option<&str>) {
    if slot.is_none() {
        if let Some(v) = v.map(|v| v.split_whitespace().collect::<Vec<_>>().join(" ")) {
            if !v.is_empty() {
                *slot = Some(v);
            }
        }
    }
}

/// Reads what the page says about itself: candidates gathered in one walk over the document,
/// then each taken from the most trusted source that has it.
pub(crate) fn read(doc: &Html, page_url: Option<&Url>) -> Meta {
    let mut f = Found::default();
    for node in doc.tree.root().descendants() {
        if let Node::Element(e) = node.value() {
            f.element(node, e);
        }
    }
    f.into_meta(page_url)
}

impl Found {
    /// Takes what one element offers.
    fn element(&mut self, node: NodeRef<'_, Node>, e: &Element) {
        match e.name() {
            "html" => set(
                &mut self.html_lang,
                e.attr("lang").or_else(|| e.attr("xml:lang")),
            ),
            "title" if self.html_title.is_none() => {
                let t = text_of(node.children());
                set(&mut self.html_title, Some(&t));
            }
            "h1" if self.h1.is_none() => {
                let t = text_of(node.descendants());
                set(&mut self.h1, Some(&t));
            }
            "meta" => self.meta(e),
            "link" if is_canonical_link(e) => set(&mut self.canonical, e.attr("href")),
            "time" if is_publication_time(node, e) => {
                set(&mut self.time_datetime, e.attr("datetime"))
            }
            "script" if self.ld.is_none() && is_json_ld(e) => {
                let src = text_of(node.children());
                if let Ok(v) = serde_json::from_str::<Value>(src.trim()) {
                    self.ld = find_article(&v, 0).map(ld_article);
                }
            }
            _ => {}
        }
    }

    /// Takes what one `<meta>` offers: OpenGraph, `article:*`, Dublin Core and the like by
    /// name, and `http-equiv="content-language"`.
    fn meta(&mut self, e: &Element) {
        let key = e
            .attr("property")
            .or_else(|| e.attr("name"))
            .or_else(|| e.attr("itemprop"));
        let content = e.attr("content").or_else(|| e.attr("datetime"));
        let Some(key) = key else {
            if e.attr("http-equiv")
                .is_some_and(|h| h.eq_ignore_ascii_case("content-language"))
            {
                set(&mut self.meta_lang, content);
            }
            return;
        };
        match key.to_ascii_lowercase().as_str() {
            "og:title" | "twitter:title" => set(&mut self.og_title, content),
            "article:published_time"
            | "datepublished"
            | "pubdate"
            | "publishdate"
            | "date"
            | "dc.date"
            | "dc.date.issued"
            | "dcterms.created"
            | "parsely-pub-date"
            | "sailthru.date"
            | "og:published_time"
            | "article.published" => set(&mut self.meta_published, content),
            "article:author" | "author" | "dc.creator" | "parsely-author" | "sailthru.author"
                // Facebook profile URLs are common in article:author; not a name.
                if !content.is_some_and(|c| c.starts_with("http")) =>
            {
                set(&mut self.meta_author, content)
            }
            "og:locale" | "language" | "dc.language" => set(
                &mut self.meta_lang,
                content.map(|c| c.split('_').next().unwrap_or(c)),
            ),
            "og:url" => set(&mut self.og_url, content),
            _ => {}
        }
    }

    /// The metadata, each field from the most trusted source that has it; a canonical URL
    /// resolved against the page's address.
    fn into_meta(self, page_url: Option<&Url>) -> Meta {
        let f = self;
        let ld = f.ld.unwrap_or_default();
        let resolve = |href: &str| -> Option<String> {
            match page_url {
                Some(base) => base.join(href).ok().map(String::from),
                None => Url::parse(href).ok().map(String::from),
            }
        };
        Meta {
            title: ld.headline.or(f.og_title).or(f.h1).or(f.html_title),
            published: [ld.published, f.meta_published, f.time_datetime]
                .into_iter()
                .flatten()
                .find_map(|s| parse_date(&s)),
            author: ld.author.or(f.meta_author),
            lang: f.html_lang.or(f.meta_lang).or(ld.lang),
            canonical_url: f
                .canonical
                .or(ld.url)
                .or(f.og_url)
                .and_then(|h| resolve(&h)),
        }
    }
}

/// The text of `nodes` (text nodes only), joined.
fn text_of<'a>(nodes: impl Iterator<Item = NodeRef<'a, Node>>) -> String {
    nodes
        .filter_map(|c| c.value().as_text().map(|t| &**t))
        .collect()
}

/// Whether `e` is a `<link rel="canonical">`.
fn is_canonical_link(e: &Element) -> bool {
    e.attr("rel").is_some_and(|r| {
        r.split_whitespace()
            .any(|r| r.eq_ignore_ascii_case("canonical"))
    })
}

/// Whether a `<time>` is marked as the publication time, or stands in the article: the first
/// `<time>` of a page is as likely a ticker's or a "Most read" item's.
fn is_publication_time(node: NodeRef<'_, Node>, e: &Element) -> bool {
    e.attr("pubdate").is_some()
        || e.attr("itemprop")
            .is_some_and(|p| p.eq_ignore_ascii_case("datePublished"))
        || node.ancestors().any(|a| {
            a.value()
                .as_element()
                .is_some_and(|a| matches!(a.name(), "article" | "main"))
        })
}

/// Whether `e` is a `<script type="application/ld+json">`.
fn is_json_ld(e: &Element) -> bool {
    e.attr("type")
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/ld+json"))
}

const ARTICLE_TYPES: &[&str] = &[
    "NewsArticle",
    "Article",
    "ReportageNewsArticle",
    "AnalysisNewsArticle",
    "BlogPosting",
    "Report",
    "OpinionNewsArticle",
    "LiveBlogPosting",
    "TechArticle",
    "ScholarlyArticle",
];

/// Finds the first article object in a JSON-LD value (top level, arrays, `@graph`).
fn find_article(v: &Value, depth: usize) -> Option<&serde_json::Map<String, Value>> {
    if depth > 8 {
        return None;
    }
    match v {
        Value::Array(a) => a.iter().find_map(|x| find_article(x, depth + 1)),
        Value::Object(o) => {
            let is_article = match o.get("@type") {
                Some(Value::String(t)) => ARTICLE_TYPES.contains(&t.as_str()),
                Some(Value::Array(ts)) => ts
                    .iter()
                    .any(|t| t.as_str().is_some_and(|t| ARTICLE_TYPES.contains(&t))),
                _ => false,
            };
            if is_article {
                return Some(o);
            }
            o.get("@graph").and_then(|g| find_article(g, depth + 1))
        }
        _ => None,
    }
}

fn ld_article(o: &serde_json::Map<String, Value>) -> LdArticle {
    let s = |k: &str| {
        o.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    let url = s("url").or_else(|| match o.get("mainEntityOfPage") {
        Some(Value::String(u)) => Some(u.clone()),
        Some(Value::Object(m)) => m.get("@id").and_then(Value::as_str).map(String::from),
        _ => None,
    });
    LdArticle {
        headline: s("headline").or_else(|| s("name")),
        published: s("datePublished")
            .or_else(|| s("dateCreated"))
            .or_else(|| s("dateModified")),
        author: o.get("author").and_then(|a| names(a, 0)),
        lang: s("inLanguage"),
        url,
    }
}

/// Author names from a JSON-LD `author`: a string, a `Person`/`Organization`, or a list.
fn names(v: &Value, depth: usize) -> Option<String> {
    if depth > 3 {
        return None;
    }
    match v {
        Value::String(s) if !s.trim().is_empty() && !s.starts_with("http") => {
            Some(s.trim().to_string())
        }
        Value::Object(o) => o.get("name").and_then(|n| names(n, depth + 1)),
        Value::Array(a) => {
            let all: Vec<String> = a.iter().filter_map(|x| names(x, depth + 1)).collect();
            (!all.is_empty()).then(|| all.join(", "))
        }
        _ => None,
    }
}

/// Parses the date shapes pages use: RFC 3339 (with or without seconds/zone), RFC 2822, or a
/// bare date. A time without zone is taken as UTC (the best guess for a machine value).
pub(crate) fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(d) = DateTime::parse_from_rfc2822(s) {
        return Some(d.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S %z",
    ] {
        if let Ok(d) = DateTime::parse_from_str(s, fmt) {
            return Some(d.with_timezone(&Utc));
        }
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(d) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(d.and_utc());
        }
    }
    let day = s.get(..10).unwrap_or(s);
    NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_ld_graph_wins_over_meta() {
        let html = r#"<html lang="en-GB"><head><title>T | Site</title>
            <meta property="og:title" content="OG title">
            <meta property="article:published_time" content="2020-10-05T10:00:00Z">
            <link rel="canonical" href="/english/news/1">
            <script type="application/ld+json">{"@context":"https://schema.org","@graph":[
              {"@type":"WebSite","name":"Site"},
              {"@type":["NewsArticle"],"headline":"LD headline","datePublished":"2020-10-06T08:30:00+03:00",
               "author":[{"@type":"Person","name":"A. Writer"},{"name":"B. Writer"}]}]}</script>
            </head><body><h1>H1</h1></body></html>"#;
        let doc = Html::parse_document(html);
        let base = Url::parse("https://www.newarab.com/x?y").expect("static url");
        let m = read(&doc, Some(&base));
        assert_eq!(m.title.as_deref(), Some("LD headline"));
        assert_eq!(
            m.published.map(|d| d.to_rfc3339()),
            Some("2020-10-06T05:30:00+00:00".into())
        );
        assert_eq!(m.author.as_deref(), Some("A. Writer, B. Writer"));
        assert_eq!(m.lang.as_deref(), Some("en-GB"));
        assert_eq!(
            m.canonical_url.as_deref(),
            Some("https://www.newarab.com/english/news/1")
        );
    }

    #[test]
    fn meta_only_and_broken_json_ld() {
        let html = r#"<head><meta property="og:title" content=" OG  title "><meta name="author" content="Jane Roe">
            <meta property="og:locale" content="pt_BR"><meta name="pubdate" content="2019-11-20">
            <script type="application/ld+json">{ broken</script></head>"#;
        let m = read(&Html::parse_document(html), None);
        assert_eq!(m.title.as_deref(), Some("OG title"));
        assert_eq!(m.author.as_deref(), Some("Jane Roe"));
        assert_eq!(m.lang.as_deref(), Some("pt"));
        assert_eq!(
            m.published.map(|d| d.to_rfc3339()),
            Some("2019-11-20T00:00:00+00:00".into())
        );
        assert_eq!(m.canonical_url, None);
    }

    #[test]
    fn time_only_from_the_article() {
        let html = r#"<body><div class="ticker"><time datetime="2001-01-01T00:00:00Z">old</time></div>
            <article><p>By X, <time datetime="2020-10-06T10:47:00+01:00">6 Oct</time></p></article></body>"#;
        let m = read(&Html::parse_document(html), None);
        assert_eq!(
            m.published.map(|d| d.to_rfc3339()),
            Some("2020-10-06T09:47:00+00:00".into())
        );
    }

    #[test]
    fn dates() {
        assert!(parse_date("Tue, 06 Oct 2020 10:00:00 GMT").is_some());
        assert!(parse_date("2020-10-06T10:00:00.123+0300").is_some());
        assert!(parse_date("2020-10-06 10:00").is_some());
        assert!(parse_date("yesterday").is_none());
        assert!(parse_date("").is_none());
    }
}
