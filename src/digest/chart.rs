//! The chart's numbers: alerts per hour (windows up to [`HOURLY_UP_TO`]) or per day, per
//! rule. Buckets start on whole UTC hours or days, so two digests of overlapping windows
//! draw the same bars for the same hours.

use std::collections::HashMap;

use serde::Serialize;

use super::RuleTotal;
use crate::text::time::rfc3339;

/// Windows up to this long (seconds) are charted per hour; longer ones per day.
pub const HOURLY_UP_TO: i64 = 48 * 3600;
/// Rules drawn in their own colour; the rest share [`OTHER_COLOUR`].
pub const MAX_SERIES: usize = 8;
/// Colours of the first [`MAX_SERIES`] rules (most alerts first): distinct in hue and
/// lightness, and readable on white.
pub const PALETTE: [&str; MAX_SERIES] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];
/// The colour of rules past [`MAX_SERIES`].
pub const OTHER_COLOUR: &str = "#7f7f7f";
/// The series name of rules past [`MAX_SERIES`] (not a valid rule name: it has spaces).
pub const OTHER_RULES: &str = "other rules";

/// How long one bucket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BucketSize {
    /// One bar per UTC hour.
    Hour,
    /// One bar per UTC day.
    Day,
}

impl BucketSize {
    /// The bucket size for a window of `secs` seconds.
    pub fn for_window(secs: i64) -> BucketSize {
        if secs <= HOURLY_UP_TO {
            BucketSize::Hour
        } else {
            BucketSize::Day
        }
    }

    /// Seconds per bucket.
    pub fn secs(self) -> i64 {
        match self {
            BucketSize::Hour => 3600,
            BucketSize::Day => 86_400,
        }
    }

    /// Start of the bucket holding `t` (Unix seconds).
    pub fn floor(self, t: i64) -> i64 {
        t.div_euclid(self.secs()) * self.secs()
    }
}

/// Alerts per bucket and rule.
#[derive(Debug, Clone, Serialize)]
pub struct Chart {
    /// `hour` or `day`.
    pub bucket: BucketSize,
    /// Every bucket of the window, oldest first, empty ones included.
    pub buckets: Vec<Bucket>,
    /// The chart's series: rules in their own colour, then [`OTHER_RULES`] if any.
    pub series: Vec<Series>,
}

/// One bucket's alerts.
#[derive(Debug, Clone, Serialize)]
pub struct Bucket {
    /// Alerts per series, only those with alerts, in series order.
    pub counts: Vec<SeriesCount>,
    /// Start of the bucket (RFC 3339).
    pub start: String,
    /// Start of the bucket, Unix seconds (not in JSON: `start` says it).
    #[serde(skip)]
    pub start_secs: i64,
}

impl Bucket {
    /// All alerts in the bucket.
    pub fn total(&self) -> usize {
        self.counts.iter().map(|c| c.alerts).sum()
    }
}

/// One series' alerts in one bucket.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SeriesCount {
    /// Alerts.
    pub alerts: usize,
    /// The series (a rule, or [`OTHER_RULES`]).
    pub rule: String,
}

/// One series of the chart.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Series {
    /// Its colour (`#rrggbb`).
    pub colour: &'static str,
    /// A rule, or [`OTHER_RULES`].
    pub rule: String,
}

/// Alerts per rule, most first (then by name), each with its series colour: with more than
/// [`MAX_SERIES`] rules, the last palette slot is [`OTHER_RULES`]'s, so ranks from
/// `MAX_SERIES - 1` on share [`OTHER_COLOUR`] (nine rules draw as eight series).
pub fn rule_totals<'a>(rules: impl Iterator<Item = &'a str>) -> Vec<RuleTotal> {
    let mut n: HashMap<&str, usize> = HashMap::new();
    for r in rules {
        *n.entry(r).or_default() += 1;
    }
    let mut v: Vec<(&str, usize)> = n.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let own = own_series(v.len());
    v.into_iter()
        .enumerate()
        .map(|(i, (rule, alerts))| RuleTotal {
            alerts,
            colour: PALETTE
                .get(i)
                .filter(|_| i < own)
                .copied()
                .unwrap_or(OTHER_COLOUR),
            rule: rule.to_string(),
        })
        .collect()
}

/// How many of `rules` rules get a series of their own.
fn own_series(rules: usize) -> usize {
    if rules > MAX_SERIES {
        MAX_SERIES - 1
    } else {
        rules
    }
}

impl Chart {
    /// Counts `alerts` (time, rule) of the window `[from, until)` into buckets; `rules` is
    /// [`rule_totals`] of the same alerts (it decides the series).
    pub fn build<'a>(
        from: i64,
        until: i64,
        rules: &[RuleTotal],
        alerts: impl Iterator<Item = (i64, &'a str)>,
    ) -> Chart {
        let size = BucketSize::for_window(until - from);
        let series = series_of(rules);
        // A rule without a series of its own is in the folded one, when there is one.
        let folded = series
            .last()
            .filter(|s| s.rule == OTHER_RULES)
            .map(|_| series.len() - 1);
        let series_index = |rule: &str| series.iter().position(|s| s.rule == rule).or(folded);
        let first = size.floor(from);
        let n = usize::try_from((size.floor(until - 1) - first) / size.secs() + 1).unwrap_or(1);
        let mut counts = vec![vec![0usize; series.len()]; n];
        for (t, rule) in alerts {
            let i = usize::try_from((size.floor(t) - first) / size.secs()).ok();
            let cell = i
                .and_then(|i| counts.get_mut(i))
                .zip(series_index(rule))
                .and_then(|(row, j)| row.get_mut(j));
            if let Some(c) = cell {
                *c += 1;
            }
        }
        let buckets = counts
            .into_iter()
            .enumerate()
            .map(|(i, row)| {
                let start_secs = first + i as i64 * size.secs();
                Bucket {
                    counts: row
                        .into_iter()
                        .zip(&series)
                        .filter(|(c, _)| *c > 0)
                        .map(|(alerts, s)| SeriesCount {
                            alerts,
                            rule: s.rule.clone(),
                        })
                        .collect(),
                    start: rfc3339(start_secs),
                    start_secs,
                }
            })
            .collect();
        Chart {
            bucket: size,
            buckets,
            series,
        }
    }

    /// The most alerts in one bucket.
    pub fn max_total(&self) -> usize {
        self.buckets.iter().map(Bucket::total).max().unwrap_or(0)
    }
}

/// The series: the first rules in their colours, the rest as one [`OTHER_RULES`] series.
fn series_of(rules: &[RuleTotal]) -> Vec<Series> {
    let own = own_series(rules.len());
    let mut s: Vec<Series> = rules[..own]
        .iter()
        .map(|r| Series {
            colour: r.colour,
            rule: r.rule.clone(),
        })
        .collect();
    if rules.len() > own {
        s.push(Series {
            colour: OTHER_COLOUR,
            rule: OTHER_RULES.into(),
        });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3600;
    const T0: i64 = 1_764_720_000; // 2025-12-03T00:00:00Z

    #[test]
    fn short_windows_are_hourly_from_whole_hours() {
        let rules = rule_totals(["a", "b", "a"].into_iter());
        let alerts = [(T0 + 10, "a"), (T0 + H + 5, "a"), (T0 + H + 9, "b")];
        let c = Chart::build(T0 + 30 * 60, T0 + 3 * H, &rules, alerts.into_iter());
        assert_eq!(c.bucket, BucketSize::Hour);
        let starts: Vec<&str> = c.buckets.iter().map(|b| b.start.as_str()).collect();
        assert_eq!(
            starts,
            [
                "2025-12-03T00:00:00Z",
                "2025-12-03T01:00:00Z",
                "2025-12-03T02:00:00Z"
            ]
        );
        let count = |i: usize| -> Vec<(String, usize)> {
            c.buckets[i]
                .counts
                .iter()
                .map(|s| (s.rule.clone(), s.alerts))
                .collect()
        };
        assert_eq!(count(0), [("a".to_string(), 1)]);
        assert_eq!(count(1), [("a".to_string(), 1), ("b".to_string(), 1)]);
        assert!(count(2).is_empty(), "empty buckets stay, with no counts");
        assert_eq!(c.max_total(), 2);
    }

    #[test]
    fn long_windows_are_daily() {
        assert_eq!(BucketSize::for_window(48 * H), BucketSize::Hour);
        assert_eq!(BucketSize::for_window(48 * H + 1), BucketSize::Day);
        let c = Chart::build(T0 - 5 * 86_400 + H, T0 + H, &[], std::iter::empty());
        assert_eq!(c.bucket, BucketSize::Day);
        assert_eq!(
            c.buckets.len(),
            6,
            "five whole days and the start of a sixth"
        );
        assert_eq!(c.buckets[5].start, "2025-12-03T00:00:00Z");
    }

    #[test]
    fn alerts_outside_the_window_are_not_drawn() {
        let rules = rule_totals(["a", "a"].into_iter());
        let c = Chart::build(
            T0,
            T0 + H,
            &rules,
            [(T0 - 1, "a"), (T0 + H, "a")].into_iter(),
        );
        assert_eq!(c.max_total(), 0);
    }

    #[test]
    fn alerts_of_unknown_rules_are_not_drawn_as_another_rule() {
        let rules = rule_totals(["a"].into_iter());
        let c = Chart::build(T0, T0 + H, &rules, [(T0, "a"), (T0, "b")].into_iter());
        assert_eq!(c.buckets[0].total(), 1);
        let none = Chart::build(T0, T0 + H, &[], [(T0, "b")].into_iter());
        assert_eq!(none.max_total(), 0, "no series, nothing drawn, no panic");
    }

    #[test]
    fn rules_past_the_palette_share_one_series() {
        let names: Vec<String> = (0..10).map(|i| format!("r{i}")).collect();
        // r0 has the most alerts, then by name.
        let mut all: Vec<&str> = names.iter().map(String::as_str).collect();
        all.push("r0");
        let rules = rule_totals(all.iter().copied());
        assert_eq!(rules[0].rule, "r0");
        assert_eq!(rules[0].alerts, 2);
        assert_eq!(rules[0].colour, PALETTE[0]);
        assert_eq!(rules[MAX_SERIES - 1].colour, OTHER_COLOUR);
        let c = Chart::build(T0, T0 + H, &rules, all.iter().map(|r| (T0, *r)));
        assert_eq!(c.series.len(), MAX_SERIES);
        assert_eq!(c.series[MAX_SERIES - 1].rule, OTHER_RULES);
        let other = &c.buckets[0].counts[MAX_SERIES - 1];
        assert_eq!((other.rule.as_str(), other.alerts), (OTHER_RULES, 3));
        assert_eq!(c.buckets[0].total(), 11, "every alert is drawn once");
    }
}
