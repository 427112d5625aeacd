//! The digest's feed-health section: which configured feeds need a look. A digest reader
//! trusts silence only if the feeds were actually read, so failing feeds, feeds that missed
//! items between polls (gaps) and feeds whose article pages fell back to the feed's text are
//! listed; healthy feeds are only counted.

use serde::Serialize;

use crate::alert::MAX_FIELD_CHARS;
use crate::store::{is_stopped, FeedRow};
use crate::text::safe_text::{clip, printable};
use crate::text::time::rfc3339;

/// The configured feeds' health.
#[derive(Debug, Clone, Serialize)]
pub struct FeedHealth {
    /// Configured feeds.
    pub feeds: usize,
    /// Of those, feeds with nothing to report.
    pub healthy: usize,
    /// Feeds that need a look, failing ones first.
    pub problems: Vec<FeedProblem>,
}

/// One feed that needs a look. Counts are over the feed's life in this database (what the
/// store keeps), not only the digest's window.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FeedProblem {
    /// Failed polls in a row (0 when the last poll worked).
    pub consecutive_failures: u32,
    /// Article pages whose extraction looked failed, so the feed's own text was matched.
    pub extract_fallbacks: i64,
    /// Polls that suggested items were missed since the previous poll.
    pub gaps: i64,
    /// Why the last poll failed.
    pub last_error: Option<String>,
    /// The last extraction fallback and why.
    pub last_extract_error: Option<String>,
    /// The last finished poll (RFC 3339); `None`: never polled.
    pub last_poll: Option<String>,
    /// Where a permanent redirect led (the config should say so).
    pub moved_to: Option<String>,
    /// The feed's name.
    pub name: String,
    /// Polling stopped (the feed answered 410 Gone).
    pub stopped: bool,
    /// The feed's configured address.
    pub url: String,
}

impl FeedProblem {
    /// Whether the feed is failing (as opposed to working with caveats).
    pub fn failing(&self) -> bool {
        self.consecutive_failures > 0 || self.last_poll.is_none() || self.stopped
    }

    /// What is wrong, one short sentence each, for people (HTML and text say the same).
    pub fn notes(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.last_poll.is_none() {
            v.push("never polled".to_string());
        }
        if self.stopped {
            v.push("polling stopped: the feed is gone (HTTP 410)".to_string());
        }
        if self.consecutive_failures > 0 {
            v.push(format!(
                "failing: {} poll(s) in a row{}",
                self.consecutive_failures,
                self.last_error
                    .as_deref()
                    .map_or(String::new(), |e| format!(": {e}"))
            ));
        }
        if let Some(to) = &self.moved_to {
            v.push(format!("moved permanently to {to}: update the config"));
        }
        if self.gaps > 0 {
            v.push(format!(
                "{} poll(s) suggested missed items: consider a shorter interval",
                self.gaps
            ));
        }
        if self.extract_fallbacks > 0 {
            v.push(format!(
                "{} article page(s) fell back to the feed's text{}",
                self.extract_fallbacks,
                self.last_extract_error
                    .as_deref()
                    .map_or(String::new(), |e| format!("; last: {e}"))
            ));
        }
        v
    }
}

/// The health of the `configured` feeds (name, URL) from their stored rows.
pub(super) fn feed_health(rows: &[FeedRow], configured: &[(&str, &str)]) -> FeedHealth {
    let mut problems: Vec<FeedProblem> = configured
        .iter()
        .filter_map(|(name, url)| problem(rows.iter().find(|r| r.url == *url), name, url))
        .collect();
    // Failing feeds first, then by name: what to fix first reads first.
    problems.sort_by(|a, b| b.failing().cmp(&a.failing()).then(a.name.cmp(&b.name)));
    FeedHealth {
        feeds: configured.len(),
        healthy: configured.len() - problems.len(),
        problems,
    }
}

/// The feed's problem, or `None` when it has nothing to report.
fn problem(row: Option<&FeedRow>, name: &str, url: &str) -> Option<FeedProblem> {
    let text = |s: &Option<String>| {
        s.as_deref()
            .map(|s| clip(&printable(s, false), MAX_FIELD_CHARS).into_owned())
    };
    let p = FeedProblem {
        consecutive_failures: row.map_or(0, |r| r.consecutive_failures),
        extract_fallbacks: row.map_or(0, |r| r.extract_failures),
        gaps: row.map_or(0, |r| r.gaps),
        last_error: row.and_then(|r| text(&r.last_error)),
        last_extract_error: row.and_then(|r| text(&r.last_extract_error)),
        last_poll: row.and_then(|r| r.last_poll_at).map(rfc3339),
        moved_to: row.and_then(|r| text(&r.moved_to)),
        name: clip(&printable(name, false), MAX_FIELD_CHARS).into_owned(),
        stopped: row.and_then(|r| r.next_poll_at).is_some_and(is_stopped),
        url: clip(&printable(url, false), MAX_FIELD_CHARS).into_owned(),
    };
    let fine = !p.failing()
        && p.last_error.is_none()
        && p.gaps == 0
        && p.extract_fallbacks == 0
        && p.moved_to.is_none();
    (!fine).then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(url: &str) -> FeedRow {
        FeedRow {
            id: 1,
            url: url.into(),
            name: None,
            etag: None,
            last_modified: None,
            last_poll_at: Some(1_000),
            last_status: Some(200),
            last_error: None,
            consecutive_failures: 0,
            next_poll_at: Some(2_000),
            items_seen: 3,
            articles_kept: 1,
            moved_to: None,
            last_item_count: Some(3),
            gaps: 0,
            interval_secs: Some(600),
            extract_failures: 0,
            last_extract_error: None,
        }
    }

    #[test]
    fn only_feeds_with_something_to_say_are_listed_failing_first() {
        let ok = row("http://ok/");
        let mut gappy = row("http://gappy/");
        gappy.gaps = 2;
        let mut failing = row("http://failing/");
        failing.consecutive_failures = 3;
        failing.last_error = Some("HTTP 503\u{1b}[2J".into());
        let rows = [ok, gappy, failing];
        let configured = [
            ("ok", "http://ok/"),
            ("a-gappy", "http://gappy/"),
            ("z-failing", "http://failing/"),
            ("new", "http://never-polled/"),
        ];
        let h = feed_health(&rows, &configured);
        assert_eq!((h.feeds, h.healthy), (4, 1));
        let names: Vec<&str> = h.problems.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["new", "z-failing", "a-gappy"]);
        assert_eq!(
            h.problems[1].last_error.as_deref(),
            Some("HTTP 503[2J"),
            "control characters are gone"
        );
        assert!(h.problems[0].last_poll.is_none() && h.problems[0].failing());
        assert!(!h.problems[2].failing());
    }
}
