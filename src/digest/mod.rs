//! Digest: one report of a window of alerts, for people who look rather than read.
//!
//! Monitoring services send digests besides instant alerts: what happened today, grouped by
//! story, with a picture of when. [`assemble`] turns a window's alerts and the feeds' rows,
//! read once from either backend by the caller, into a [`Digest`] (the model), and renderers turn that one model into HTML ([`html`], with an inline SVG chart
//! from [`svg`]), JSON (the model's own `Serialize`, a stable interface) or text ([`render`]
//! does all three, for `feedwatch digest` and for a sink's scheduled digest alike). Building
//! first and rendering second keeps the formats carrying the same content, and keeps SQL out
//! of this module.
//!
//! Everything in the model came from strangers (feeds, pages) and is already cleaned of
//! control characters and cut at the alert log's limits (it is built from
//! [`crate::alert::AlertLine`]); the HTML renderer escapes it on top, and links only
//! http(s) URLs. The model is bounded: at most `max_stories` stories (the rest counted in
//! `stories_omitted`), at most [`MAX_SOURCES`] sources per story and [`chart::MAX_SERIES`]
//! chart series.

pub mod chart;
mod health;
pub mod html;
mod stories;
pub mod svg;
mod text;

use serde::Serialize;

use crate::config::digest::DigestFormat;
use crate::rules::Severity;
use crate::store::{AlertRecord, FeedRow};
use crate::text::time::rfc3339;

pub use chart::{BucketSize, Chart};
pub use health::{FeedHealth, FeedProblem};

/// Stories shown at most, unless asked otherwise (`feedwatch digest --max-stories`); a
/// scheduled digest shows as many.
pub const DEFAULT_MAX_STORIES: usize = 50;
/// Sources listed under one story, at most (the rest are counted).
pub const MAX_SOURCES: usize = 20;
/// The longest window a digest covers: 92 daily buckets still draw as bars.
pub const MAX_WINDOW_SECS: i64 = 92 * 86_400;

/// Errors from building a digest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// The window ends before it starts (or is empty).
    #[error("the digest's window is empty: it starts at {from} and ends at {until}")]
    EmptyWindow {
        /// Start (RFC 3339).
        from: String,
        /// End (RFC 3339).
        until: String,
    },
    /// The window is longer than [`MAX_WINDOW_SECS`].
    #[error("the digest's window is {days} days long; at most 92 days fit one report")]
    WindowTooLong {
        /// Its length in whole days.
        days: i64,
    },
}

/// What to put in a digest: the window `[from, until)` in Unix seconds, and how many
/// stories to show at most.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    /// Start of the window (inclusive).
    pub from: i64,
    /// End of the window (exclusive).
    pub until: i64,
    /// When the digest is made (shown in it).
    pub now: i64,
    /// Stories shown, at most; the newest are kept.
    pub max_stories: usize,
}

/// A digest: the JSON shape of `feedwatch digest --format json` (keys in alphabetical
/// order, like the other JSON outputs; `tests/json_schemas.rs` guards them).
#[derive(Debug, Clone, Serialize)]
pub struct Digest {
    /// Alerts in the window (all of them, shown or not).
    pub alerts: usize,
    /// Alerts per bucket and rule.
    pub chart: Chart,
    /// Feed health as the store knows it.
    pub feeds: FeedHealth,
    /// Start of the window (RFC 3339).
    pub from: String,
    /// When the digest was made (RFC 3339).
    pub generated: String,
    /// Every rule that alerted, most alerts first, with its chart colour.
    pub rules: Vec<RuleTotal>,
    /// Stories, newest alert first, at most the request's `max_stories`.
    pub stories: Vec<Story>,
    /// Stories in the window that were left out.
    pub stories_omitted: usize,
    /// End of the window (RFC 3339).
    pub until: String,
}

/// One rule's alerts in the window.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RuleTotal {
    /// Alerts it raised.
    pub alerts: usize,
    /// Its colour in the chart (`#rrggbb`); rules past the chart's series share one.
    pub colour: &'static str,
    /// The rule.
    pub rule: String,
}

/// One story: its first source's article, its alerts and the other sources.
#[derive(Debug, Clone, Serialize)]
pub struct Story {
    /// The story's alerts in the window, newest first.
    pub alerts: Vec<StoryAlert>,
    /// The first source's feed.
    pub feed: String,
    /// The story id (its first article).
    pub id: i64,
    /// Time of its newest alert (RFC 3339).
    pub latest: String,
    /// When the first source says it was published (RFC 3339).
    pub published: Option<String>,
    /// The highest severity of its alerts.
    pub severity: Severity,
    /// Other sources: syndicated copies and the same link in other feeds.
    pub sources: Vec<Source>,
    /// Sources left out past [`MAX_SOURCES`].
    pub sources_omitted: usize,
    /// The first source's headline.
    pub title: String,
    /// The first source's link, as the feed gave it.
    pub url: Option<String>,
}

/// One alert of a story.
#[derive(Debug, Clone, Serialize)]
pub struct StoryAlert {
    /// Alert id (as in the alert log).
    pub id: i64,
    /// The rule that fired.
    pub rule: String,
    /// Its severity.
    pub severity: Severity,
    /// The passage around the first hit.
    pub snippet: String,
    /// The distinct words found.
    pub terms: Vec<String>,
    /// When the alert was raised (RFC 3339).
    pub time: String,
}

/// Another copy of a story.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Source {
    /// The feed's name.
    pub feed: String,
    /// The copy's link.
    pub url: Option<String>,
}

impl Request {
    /// Whether the window can be reported: not empty, at most [`MAX_WINDOW_SECS`] long.
    /// Checked before anything is read.
    ///
    /// # Errors
    /// [`DigestError::EmptyWindow`] or [`DigestError::WindowTooLong`].
    pub fn check(&self) -> Result<(), DigestError> {
        if self.until <= self.from {
            return Err(DigestError::EmptyWindow {
                from: rfc3339(self.from),
                until: rfc3339(self.until),
            });
        }
        if self.until - self.from > MAX_WINDOW_SECS {
            return Err(DigestError::WindowTooLong {
                days: (self.until - self.from) / 86_400,
            });
        }
        Ok(())
    }
}

/// The digest of a window's `records` (its alerts, in id order) and the `feeds`' rows, as
/// read from either backend (`feedwatch digest` through `store::reader::Reader`, a digest
/// sink through its outbox). `configured` lists the configured feeds as (name, URL): health
/// is reported for those only, as `status` does (a feed removed from the config is no
/// longer watched). The caller checks the window first ([`Request::check`]).
pub fn assemble(
    records: &[AlertRecord],
    feeds: &[FeedRow],
    configured: &[(&str, &str)],
    req: Request,
) -> Digest {
    let rules = chart::rule_totals(records.iter().map(|a| a.rule.as_str()));
    let chart = Chart::build(
        req.from,
        req.until,
        &rules,
        records.iter().map(|a| (a.created_at, a.rule.as_str())),
    );
    let (stories, stories_omitted) = stories::group(records, req.max_stories);
    Digest {
        alerts: records.len(),
        chart,
        feeds: health::feed_health(feeds, configured),
        from: rfc3339(req.from),
        generated: rfc3339(req.now),
        rules,
        stories,
        stories_omitted,
        until: rfc3339(req.until),
    }
}

/// The digest in `format`: exactly what `feedwatch digest --format` prints, so a scheduled
/// digest and the command agree byte for byte (but for `generated`).
///
/// # Errors
/// Never in practice: the output goes to memory. The JSON serialiser's error type is kept.
pub fn render(d: &Digest, format: DigestFormat) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::with_capacity(32 * 1024);
    match format {
        DigestFormat::Html => body.extend_from_slice(html::render(d).as_bytes()),
        DigestFormat::Json => {
            serde_json::to_writer(&mut body, d)?;
            body.push(b'\n');
        }
        DigestFormat::Text => text::write_text(&mut body, d)?,
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impossible_windows_are_refused_before_reading() {
        let req = |from, until| Request {
            from,
            until,
            now: until,
            max_stories: 10,
        };
        assert!(matches!(
            req(100, 100).check(),
            Err(DigestError::EmptyWindow { .. })
        ));
        assert!(matches!(
            req(0, MAX_WINDOW_SECS + 1).check(),
            Err(DigestError::WindowTooLong { days: 92 })
        ));
        let window = req(0, MAX_WINDOW_SECS);
        window.check().expect("92 days");
        let empty = assemble(&[], &[], &[("F", "http://f/")], window);
        assert_eq!((empty.alerts, empty.chart.buckets.len()), (0, 92));
        assert_eq!(empty.chart.bucket, BucketSize::Day);
        assert_eq!(
            (empty.feeds.feeds, empty.feeds.healthy),
            (1, 0),
            "a configured feed never polled needs a look"
        );
    }
}
