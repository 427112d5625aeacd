//! Folding a window's alerts into stories: one group per story, whatever the number of rules
//! that fired on it or copies that carried it, so a wire story syndicated by ten outlets is
//! one entry to read, not ten.

use std::collections::HashMap;

use super::{Source, Story, StoryAlert, MAX_SOURCES};
use crate::alert::AlertLine;
use crate::store::AlertRecord;

/// Groups `records` (any order) by story, newest alert first, keeping at most `max`
/// stories; also returns how many were left out.
///
/// A story's headline, feed and link are those of its oldest alert's article: the story's
/// first source (later copies of a story raise no alert for a rule that already fired, so
/// the first alert is on the first copy that matched). Every other copy named by any of its
/// alerts is a source, each listed once.
pub(super) fn group(records: &[AlertRecord], max: usize) -> (Vec<Story>, usize) {
    let mut by_story: HashMap<i64, Vec<&AlertRecord>> = HashMap::new();
    for r in records {
        by_story.entry(r.story_id).or_default().push(r);
    }
    let mut stories: Vec<Story> = by_story.into_values().map(story).collect();
    // Newest first; the story id breaks ties so the order is stable.
    stories.sort_by(|a, b| b.latest.cmp(&a.latest).then(b.id.cmp(&a.id)));
    let omitted = stories.len().saturating_sub(max);
    stories.truncate(max);
    (stories, omitted)
}

/// One story from its alerts (at least one).
fn story(mut alerts: Vec<&AlertRecord>) -> Story {
    // Oldest first: the first is the story's first source.
    alerts.sort_by_key(|a| (a.created_at, a.id));
    let lines: Vec<AlertLine> = alerts.iter().map(|a| AlertLine::from(*a)).collect();
    let first = &lines[0];
    let mut sources: Vec<Source> = Vec::new();
    let mut omitted = 0;
    for l in &lines {
        let mine = std::iter::once(Source {
            feed: l.feed.clone(),
            url: l.url.clone(),
        });
        let also = l.also.iter().map(|o| Source {
            feed: o.feed.clone(),
            url: o.url.clone(),
        });
        for s in mine.chain(also) {
            let lead = s.feed == first.feed && s.url == first.url;
            if lead || sources.contains(&s) {
                continue;
            }
            if sources.len() < MAX_SOURCES {
                sources.push(s);
            } else {
                omitted += 1;
            }
        }
    }
    let latest = alerts
        .iter()
        .map(|a| a.created_at)
        .max()
        .unwrap_or_default();
    Story {
        feed: first.feed.clone(),
        id: alerts[0].story_id,
        latest: crate::text::time::rfc3339(latest),
        published: first.published.clone(),
        severity: lines
            .iter()
            .map(|l| l.severity)
            .max()
            .unwrap_or(crate::rules::Severity::Info),
        sources,
        sources_omitted: omitted,
        title: first.title.clone(),
        url: first.url.clone(),
        alerts: lines.into_iter().rev().map(story_alert).collect(),
    }
}

fn story_alert(l: AlertLine) -> StoryAlert {
    StoryAlert {
        id: l.id,
        rule: l.rule,
        severity: l.severity,
        snippet: l.snippet,
        terms: l.terms,
        time: l.time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Severity;
    use crate::store::OtherSource;

    pub(crate) fn record(id: i64, story: i64, at: i64, rule: &str, feed: &str) -> AlertRecord {
        AlertRecord {
            id,
            created_at: at,
            rule: rule.into(),
            severity: Severity::Medium,
            feed: feed.into(),
            feed_url: format!("http://{feed}/rss"),
            title: format!("story {story}"),
            url: Some(format!("http://{feed}/{story}")),
            published_at: None,
            hits: vec![],
            snippet: "…".into(),
            also: vec![],
            story_id: story,
        }
    }

    #[test]
    fn alerts_fold_into_stories_newest_first() {
        let mut a = record(1, 10, 100, "green-zone", "wire");
        a.also = vec![OtherSource {
            feed: "outlet".into(),
            url: Some("http://outlet/copy".into()),
        }];
        let mut b = record(3, 10, 300, "embassy", "outlet");
        b.severity = Severity::High;
        b.url = Some("http://outlet/copy".into());
        b.also = vec![OtherSource {
            feed: "wire".into(),
            url: Some("http://wire/10".into()),
        }];
        let c = record(2, 20, 200, "green-zone", "other");
        let (stories, omitted) = group(&[a, b, c], 10);
        assert_eq!(omitted, 0);
        let ids: Vec<i64> = stories.iter().map(|s| s.id).collect();
        assert_eq!(ids, [10, 20], "the story with the newest alert first");
        let s = &stories[0];
        assert_eq!((s.feed.as_str(), s.title.as_str()), ("wire", "story 10"));
        assert_eq!(s.severity, Severity::High, "the highest of its alerts");
        let alert_ids: Vec<i64> = s.alerts.iter().map(|a| a.id).collect();
        assert_eq!(alert_ids, [3, 1], "newest first");
        assert_eq!(
            s.sources,
            [Source {
                feed: "outlet".into(),
                url: Some("http://outlet/copy".into())
            }],
            "the copy once; the first source is the story itself, not a source"
        );
    }

    #[test]
    fn stories_past_the_limit_are_counted() {
        let recs: Vec<AlertRecord> = (0..5).map(|i| record(i, i, i * 10, "r", "f")).collect();
        let (stories, omitted) = group(&recs, 2);
        assert_eq!(omitted, 3);
        let ids: Vec<i64> = stories.iter().map(|s| s.id).collect();
        assert_eq!(ids, [4, 3]);
    }

    #[test]
    fn sources_are_bounded() {
        let mut a = record(1, 1, 1, "r", "f");
        a.also = (0..MAX_SOURCES + 5)
            .map(|i| OtherSource {
                feed: format!("f{i}"),
                url: None,
            })
            .collect();
        let (stories, _) = group(&[a], 1);
        assert_eq!(stories[0].sources.len(), MAX_SOURCES);
        assert_eq!(stories[0].sources_omitted, 5);
    }
}
