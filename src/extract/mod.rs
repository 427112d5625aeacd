//! The `extract` stage: an article page's HTML in, its body text and metadata out.
//!
//! Pipeline position: fetch → feed (parse) → **extract** → rules (match) → store → alert.
//! Feeds often carry only a headline and one sentence; the words rules look for are on the
//! article page, buried in navigation, tickers and "Most read" boxes that would raise false
//! alarms if matched. This stage keeps the story and drops the furniture.
//!
//! - [`Extractor`] is built once from the config's `[[sites]]` rules ([`SiteSpec`]) and shared
//!   (it is `Send + Sync`); [`Extractor::extract`] does one page.
//! - A site rule whose selectors match is used as is; otherwise the heuristic finds the body:
//!   `prune` (what cannot be article), `score` (a Readability-style content scorer picking
//!   the container), `clean` (furniture inside it).
//! - `meta` reads title, published time, author, language and canonical URL.
//! - [`Extracted::failure_reason`] tells the pipeline when the result looks like a failed
//!   extraction, so it can fall back to the feed's own text.
//!
//! Measured on `../shared/corpora/extraction` by `tests/extraction_corpus.rs` (quality) and
//! `benches/extract.rs` (speed).

mod clean;
mod comments;
mod dom;
mod gallery;
mod meta;
mod prune;
mod score;
mod sections;
mod site;
mod teasers;

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use scraper::Html;
use url::Url;

pub use site::SiteSpec;

/// An extracted article.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Extracted {
    /// Headline (JSON-LD, OpenGraph, `<h1>` or `<title>`); never part of `text`.
    pub title: Option<String>,
    /// Publication time (JSON-LD `datePublished`, `article:published_time`, `<time>`).
    pub published: Option<DateTime<Utc>>,
    /// Author name(s), comma-separated (JSON-LD `author`, `article:author`, `<meta name=author>`).
    pub author: Option<String>,
    /// Language tag as the page declares it (`<html lang>`, `og:locale`...).
    pub lang: Option<String>,
    /// `<link rel=canonical>` (else JSON-LD/`og:url`), resolved against the page URL.
    pub canonical_url: Option<String>,
    /// The body: paragraphs separated by blank lines, headings and list items on own lines.
    pub text: String,
    /// Share of `text` that was link text (0..=1). Not serialised: it is a quality signal for
    /// [`Extracted::failure_reason`], not article data.
    #[serde(skip)]
    pub link_density: f32,
    /// Extraction ran past its time budget and was given up ([`Extractor::extract_within`]).
    #[serde(skip)]
    pub timed_out: bool,
}

/// Bodies shorter than this (in chars) are treated as failed extractions: even a news brief
/// has a few sentences, while a failed extraction usually yields a teaser or a button label.
pub const MIN_BODY_CHARS: usize = 200;
/// Bodies with more link text than this share are link lists (a section front, a "Most read"
/// box), not articles.
pub const MAX_LINK_DENSITY: f32 = 0.5;

impl Extracted {
    /// The result of an extraction given up at its deadline: no text, so the caller falls
    /// back to the feed's own text.
    pub fn timed_out() -> Extracted {
        Extracted {
            timed_out: true,
            ..Extracted::default()
        }
    }

    /// Why this extraction looks like a failure, or None when it looks fine.
    ///
    /// Checks only what one page can show (too short, mostly links); "the same text on
    /// different pages of one host" needs history and belongs to the caller.
    pub fn failure_reason(&self) -> Option<&'static str> {
        failure_reason(self)
    }
}

/// Free-function form of [`Extracted::failure_reason`]: `"timed out"`, `"empty"`,
/// `"too short"` or `"mostly links"`.
pub fn failure_reason(ex: &Extracted) -> Option<&'static str> {
    let n = ex.text.chars().count();
    if ex.timed_out {
        Some("timed out")
    } else if n == 0 {
        Some("empty")
    } else if n < MIN_BODY_CHARS {
        Some("too short")
    } else if ex.link_density > MAX_LINK_DENSITY {
        Some("mostly links")
    } else {
        None
    }
}

/// Errors building an [`Extractor`] from the config.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractError {
    /// A `body` or `drop` selector does not parse as CSS.
    #[error("[[sites]] host {host:?}: bad CSS selector {selector:?}: {reason}")]
    BadSelector {
        /// The `[[sites]]` rule's host.
        host: String,
        /// The selector as written.
        selector: String,
        /// What the CSS parser said.
        reason: String,
    },
    /// `body = []`: a rule must say where the body is.
    #[error("[[sites]] host {host:?}: `body` needs at least one selector")]
    NoBodySelector {
        /// The `[[sites]]` rule's host.
        host: String,
    },
    /// `host = ""` would match nothing (or, carelessly matched, everything).
    #[error("[[sites]] rule with an empty `host`")]
    EmptyHost,
}

/// The extraction stage, built once at start-up (selectors compiled) and shared by workers.
#[derive(Debug, Default)]
pub struct Extractor {
    /// Compiled `[[sites]]` rules, tried in config order (the first matching host wins).
    sites: Vec<site::SiteRule>,
    /// Hosts whose rule already matched nothing once: the warning is logged once per host,
    /// since a site that changed its markup would otherwise log on every article.
    warned: Mutex<HashSet<String>>,
}

impl Extractor {
    /// Compiles the site rules.
    ///
    /// # Errors
    /// [`ExtractError::BadSelector`] names the host and the selector that does not parse.
    pub fn new(sites: &[SiteSpec]) -> Result<Extractor, ExtractError> {
        let sites = sites
            .iter()
            .map(site::SiteRule::new)
            .collect::<Result<_, _>>()?;
        Ok(Extractor {
            sites,
            warned: Mutex::new(HashSet::new()),
        })
    }

    /// Extracts body and metadata from one page. Never panics, whatever the HTML.
    ///
    /// `page_url` resolves a relative canonical link and picks the site rule (a rule's host
    /// matches its subdomains). A rule that matches nothing falls back to the heuristic.
    pub fn extract(&self, html: &str, page_url: Option<&Url>) -> Extracted {
        let no_deadline = Instant::now() + Duration::from_secs(86_400 * 365);
        self.extract_within(
            html,
            page_url,
            crate::text::html::DEFAULT_MAX_DEPTH,
            no_deadline,
        )
    }

    /// [`Extractor::extract`] with bounded work: nesting deeper than `max_html_depth` is
    /// flattened before parsing ([`crate::text::html::cap_depth`]: html5ever's cost grows with depth),
    /// and `deadline` is checked between the stages (parse, metadata, body). Past it, the
    /// result is [`Extracted::timed_out`]; a stage already running is not interrupted, which
    /// is why the depth cap keeps each one linear.
    pub fn extract_within(
        &self,
        html: &str,
        page_url: Option<&Url>,
        max_html_depth: usize,
        deadline: Instant,
    ) -> Extracted {
        let late = || Instant::now() >= deadline;
        if late() {
            return Extracted::timed_out();
        }
        let html = crate::text::html::cap_depth(html, max_html_depth);
        // Parsed here, not passed in: `Html` is not `Send`, and callers run this on a
        // blocking thread.
        let doc = Html::parse_document(&html);
        if late() {
            return Extracted::timed_out();
        }
        let m = meta::read(&doc, page_url);
        if late() {
            return Extracted::timed_out();
        }
        let host = page_url.and_then(Url::host_str);
        let rule = host.and_then(|h| self.sites.iter().find(|r| r.matches(h)));
        let by_rule = rule.and_then(|r| {
            let t = r.apply(&doc);
            if t.is_none() {
                self.warn_once(&r.host, page_url);
            }
            t
        });
        let (text, link_density) = match by_rule {
            Some(t) => (clean::filter_text(&t, m.title.as_deref()), 0.0),
            None => {
                let b = score::extract_body(&doc, m.title.as_deref());
                (b.text, b.link_density)
            }
        };
        Extracted {
            title: m.title,
            published: m.published,
            author: m.author,
            lang: m.lang,
            canonical_url: m.canonical_url,
            text,
            link_density,
            timed_out: false,
        }
    }

    fn warn_once(&self, host: &str, page_url: Option<&Url>) {
        let mut w = self.warned.lock().unwrap_or_else(|e| e.into_inner());
        if w.insert(host.to_string()) {
            tracing::warn!(
                host,
                url = page_url.map(Url::as_str).unwrap_or(""),
                "site rule matched nothing; using the heuristic extractor (has the site changed its markup?)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r##"<!doctype html><html lang="en"><head><title>Story | Paper</title></head><body>
        <header><nav><a href="/">Home</a> <a href="/world">World</a></nav></header>
        <div class="ticker">Rockets target Green Zone</div>
        <main><article><h1>Story</h1>
          <div class="share"><a href="#">Facebook</a> <a href="#">Twitter</a></div>
          <div class="article-body">
            <p>First paragraph of the story, which is long enough to count as real article text.</p>
            <p>Second paragraph, with commas, clauses, and more words to make it score as content.</p>
            <p>Third paragraph closes the story with a quote from an official, who said little.</p>
          </div></article></main>
        <aside class="most-read"><h3>Most read</h3><ul><li><a href="/a">Other story</a></li></ul></aside>
        <footer>© Paper</footer></body></html>"##;

    #[test]
    fn heuristic_keeps_story_only() {
        let ex = Extractor::default().extract(PAGE, None);
        assert!(ex.text.starts_with("First paragraph"), "{}", ex.text);
        assert!(ex.text.ends_with("said little."), "{}", ex.text);
        assert_eq!(ex.text.matches("\n\n").count(), 2);
        assert_eq!(ex.title.as_deref(), Some("Story"));
        assert_eq!(ex.lang.as_deref(), Some("en"));
    }

    #[test]
    fn site_rule_used_and_falls_back() {
        let spec = SiteSpec {
            host: "paper.com".into(),
            body: vec!["div.article-body".into()],
            drop: vec![],
        };
        let ex = Extractor::new(&[spec]).expect("valid rule");
        let url = Url::parse("https://www.paper.com/story").expect("static url");
        assert!(ex
            .extract(PAGE, Some(&url))
            .text
            .starts_with("First paragraph"));
        let moved = PAGE.replace("article-body", "story-text");
        let out = ex.extract(&moved, Some(&url));
        assert!(out.text.starts_with("First paragraph"), "{}", out.text);
        assert!(ex
            .warned
            .lock()
            .map(|w| w.contains("paper.com"))
            .unwrap_or(false));
    }

    #[test]
    fn bad_selector_is_an_error() {
        let spec = SiteSpec {
            host: "paper.com".into(),
            body: vec![">>".into()],
            drop: vec![],
        };
        let err = Extractor::new(&[spec]).expect_err("bad selector");
        assert!(err.to_string().contains("paper.com"));
    }

    #[test]
    fn failure_reasons() {
        let mut ex = Extracted {
            text: "short".into(),
            ..Default::default()
        };
        assert_eq!(ex.failure_reason(), Some("too short"));
        ex.text = "word ".repeat(100);
        assert_eq!(ex.failure_reason(), None);
        ex.link_density = 0.9;
        assert_eq!(ex.failure_reason(), Some("mostly links"));
        assert_eq!(Extracted::default().failure_reason(), Some("empty"));
    }

    #[test]
    fn never_panics_on_odd_html() {
        let ex = Extractor::default();
        for h in [
            "",
            "<",
            "<html><body></body></html>",
            "plain text only",
            "<div><p>a</div></p>",
            &"<div>".repeat(5000),
        ] {
            let _ = ex.extract(h, None);
        }
    }

    /// The seed article (tests/fixtures/seed/article.html, built around the shared
    /// article.txt): the body must come out exactly, standfirst first, with none of the
    /// furniture ("2 min read", date, caption, "Read also", social footer, ticker, Most read).
    #[test]
    fn seed_article_exact() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed");
        let html = std::fs::read_to_string(dir.join("article.html")).expect("seed fixture html");
        let txt = std::fs::read_to_string(dir.join("article.txt")).expect("seed fixture text");
        let lines: Vec<&str> = txt.lines().collect();
        // Line numbers as in shared/seed/README.md (1-based): 3 is the standfirst, the report's
        // paragraphs run from 8 to the last one before the social footer, 18 is "Read also".
        let footer = lines
            .iter()
            .rposition(|l| l.starts_with("Follow us"))
            .expect("footer line");
        let body: Vec<String> = std::iter::once(3)
            .chain(8..=footer)
            .filter(|&n| n != 18)
            .map(|n| {
                lines[n - 1]
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .filter(|l| !l.is_empty())
            .collect();
        let want = body.join("\n\n");
        let url = Url::parse("https://english.alaraby.co.uk/english/news/2020/10/6/x")
            .expect("static url");
        let ex = Extractor::default().extract(&html, Some(&url));
        assert_eq!(ex.text, want);
        assert_eq!(ex.title.as_deref(), Some(lines[0]));
        assert_eq!(ex.lang.as_deref(), Some("en"));
        assert_eq!(ex.author.as_deref(), Some("The New Arab Staff"));
        assert_eq!(
            ex.published.map(|d| d.to_rfc3339()),
            Some("2020-10-06T09:47:00+00:00".into())
        );
        assert_eq!(
            ex.canonical_url.as_deref(),
            Some("https://english.alaraby.co.uk/english/news/2020/10/6/iraq-taking-security-measures-to-prevent-us-embassy-closure")
        );
        assert_eq!(ex.failure_reason(), None);
    }

    /// WordPress-style page where the furniture sits inside the body container itself.
    #[test]
    fn furniture_inside_the_body_container() {
        let p = |n: u32| {
            format!(
                "Paragraph {n} of the report, long enough to be prose, with a clause, a comma, \
                 and a full stop at the end of it."
            )
        };
        let html = format!(
            r##"<html lang="en"><body><div id="page"><div class="entry-content">
            <div class="sharedaddy"><h3>Share this:</h3><ul><li><a href="#">Twitter</a></li><li><a href="#">Facebook</a></li></ul></div>
            <p><span class="reading-time">3 min read</span></p>
            <p>{}</p>
            <div class="wp-caption"><img src="x.jpg"><p class="wp-caption-text">Rockets over Baghdad [AFP]</p></div>
            <p>{}</p>
            <p><strong>Read more:</strong> <a href="/x">Rockets target Green Zone again</a></p>
            <div class="newsletter-signup"><p>Get our daily briefing in your inbox every morning.</p><form><input type="email"></form></div>
            <p>{}</p>
            <div class="most-read"><h4>Most read</h4><ol><li><a href="/a">Embassy closes</a></li><li><a href="/b">Green Zone alert</a></li></ol></div>
            <p>{}</p>
            <p><em>Follow us on <a href="https://facebook.com/x">Facebook</a> and <a href="https://twitter.com/x">Twitter</a></em></p>
            </div></div>
            <div id="cookie-notice">This site uses cookies. <a href="/privacy">OK</a></div></body></html>"##,
            p(1),
            p(2),
            p(3),
            p(4)
        );
        let ex = Extractor::default().extract(&html, None);
        let want: Vec<String> = (1..=4).map(p).collect();
        assert_eq!(ex.text, want.join("\n\n"));
    }

    /// Tag soup from a fixed-seed generator: no input may panic, in the extractor or in
    /// `fragment_to_text`.
    #[test]
    fn tag_soup_never_panics() {
        const PIECES: &[&str] = &[
            "<div>",
            "</div>",
            "<p>",
            "</p>",
            "<a href='#'>",
            "</a>",
            "<br>",
            "<ul><li>",
            "</li>",
            "<table><tr><td>",
            "</td>",
            "<script>",
            "</script>",
            "<time datetime='x'>",
            "<h1>",
            "<figure><img>",
            "<div class='related'>",
            "<p class='byline'>",
            "<a rel=tag>",
            "&amp;",
            "&#0;",
            "&#x110000;",
            "text, with commas, ",
            "Read also: ",
            "\u{202e}",
            "é",
            "\0",
            "<html lang=>",
            "<meta property='article:published_time' content='2020-13-45'>",
            "<script type='application/ld+json'>{\"@graph\":[[[{}]]]}</script>",
            "<!--",
            "-->",
            "<svg><p>",
            "<template>",
            "<math>",
            "<select><option>",
            "<![CDATA[",
            "<",
        ];
        let ex = Extractor::default();
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..300 {
            let mut html = String::new();
            for _ in 0..200 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                html.push_str(PIECES[(seed % PIECES.len() as u64) as usize]);
            }
            let out = ex.extract(&html, None);
            let _ = out.failure_reason();
            let _ = crate::text::html::fragment_to_text(&html);
        }
    }

    #[test]
    fn past_the_deadline_extraction_gives_up() {
        let ex = Extractor::default();
        let past = Instant::now() - Duration::from_millis(1);
        let out = ex.extract_within(PAGE, None, 64, past);
        assert!(out.timed_out && out.text.is_empty());
        assert_eq!(out.failure_reason(), Some("timed out"));
    }

    /// 100,000 nested `<div>` around a story: capped before html5ever, so the story comes out
    /// and the work is linear (it took 20 s in a release build before).
    #[test]
    fn deeply_nested_page_keeps_its_text() {
        let n = 100_000;
        let story = "<p>Rockets struck the Green Zone in Baghdad late on Sunday, officials said,             and sirens sounded across the district as the embassy's defences were activated.             No group claimed the attack, the latest of several this month.</p>";
        let html = format!(
            "<html><body>{}{story}{}</body></html>",
            "<div>".repeat(n),
            "</div>".repeat(n)
        );
        let deadline = Instant::now() + Duration::from_secs(600);
        let out = Extractor::default().extract_within(&html, None, 64, deadline);
        assert!(
            out.text.contains("Rockets struck the Green Zone"),
            "{}",
            out.text
        );
    }

    #[test]
    fn extractor_is_send_sync() {
        fn is<T: Send + Sync>() {}
        is::<Extractor>();
    }
}
