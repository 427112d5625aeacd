//! From the deserialised entries of a config or rule file to checked plain data: the raw
//! shapes serde reads, their bounds ([`super::limits`]), feed URLs ([`super::url`]), rule
//! names and queries. Every check pushes its problems and goes on, so one bad entry never
//! hides another.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::concepts::{take_concepts, RawConcept};
use super::source::{key_line, Source};
use super::{
    clip, limits, opt_duration, opt_keep, url, ConfigProblem, FeedConfig, FetchConfig, HttpConfig,
    Keep, PollConfig, MAX_ECHO_CHARS,
};
use crate::extract::SiteSpec;
use crate::rules::{ConceptSpec, RuleSpec, Severity};

/// The config file as deserialised, before checks. Lists keep each entry's index in the
/// file, so messages about an entry name it (`feeds[3].url`) even when an earlier entry
/// could not be read.
#[derive(Default)]
pub(super) struct RawConfig {
    pub(super) rule_files: Vec<Spanned<String>>,
    pub(super) storage: RawStorage,
    pub(super) alerts: RawAlerts,
    pub(super) fetch: FetchConfig,
    pub(super) poll: PollConfig,
    pub(super) http: HttpConfig,
    pub(super) feeds: Vec<(usize, Spanned<RawFeed>)>,
    pub(super) rules: Vec<Spanned<RawRule>>,
    pub(super) concepts: Vec<Spanned<RawConcept>>,
    pub(super) sites: Vec<SiteSpec>,
    pub(super) sinks: Vec<(usize, super::sink::SinkSpec)>,
}

/// The top-level keys of the config file.
const TOP_KEYS: &str =
    "rule_files, storage, alerts, fetch, poll, http, feeds, rules, concepts, sites, sinks";

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStorage {
    pub(super) database: Option<String>,
    pub(super) password_file: Option<PathBuf>,
    pub(super) instance_id: Option<String>,
    #[serde(default, deserialize_with = "opt_duration")]
    pub(super) connect_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "opt_duration")]
    pub(super) statement_timeout: Option<Duration>,
    pub(super) pool_size: Option<u64>,
    #[serde(default, deserialize_with = "opt_duration")]
    pub(super) lease: Option<Duration>,
    #[serde(default, deserialize_with = "opt_duration")]
    pub(super) recent_text_retention: Option<Duration>,
    #[serde(default, deserialize_with = "opt_duration")]
    pub(super) seen_retention: Option<Duration>,
    #[serde(default, deserialize_with = "opt_duration")]
    pub(super) maintenance_interval: Option<Duration>,
    #[serde(default, deserialize_with = "opt_keep")]
    pub(super) article_retention: Option<Keep>,
    #[serde(default, deserialize_with = "opt_keep")]
    pub(super) alert_retention: Option<Keep>,
    #[serde(default, deserialize_with = "opt_duration")]
    pub(super) delivery_retention: Option<Duration>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlerts {
    pub(super) log: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFeed {
    url: String,
    name: Option<String>,
    #[serde(default)]
    full_text: bool,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default, deserialize_with = "opt_duration")]
    interval: Option<Duration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    name: String,
    query: String,
    #[serde(default = "default_severity")]
    severity: Severity,
    #[serde(default)]
    feeds: Vec<String>,
    exclude: Option<String>,
    /// A model file, relative to the rule file (see `rules::model`).
    model: Option<String>,
    model_threshold: Option<f32>,
    model_overrides_exclude_at: Option<f32>,
}

fn default_severity() -> Severity {
    Severity::Medium
}

/// Sorts the top-level entries into [`RawConfig`], reading each on its own.
pub(super) fn read_raw(src: &mut Source<'_>, problems: &mut Vec<ConfigProblem>) -> RawConfig {
    fn set<T>(slot: &mut T, r: Result<T, ConfigProblem>, problems: &mut Vec<ConfigProblem>) {
        match r {
            Ok(v) => *slot = v,
            Err(p) => problems.push(p),
        }
    }
    let mut raw = RawConfig::default();
    for (key, value) in std::mem::take(&mut src.entries) {
        match key.get_ref().as_str() {
            "rule_files" => set(&mut raw.rule_files, src.take(value), problems),
            "storage" => set(&mut raw.storage, src.take(value), problems),
            "alerts" => set(&mut raw.alerts, src.take(value), problems),
            "fetch" => set(&mut raw.fetch, src.take(value), problems),
            "poll" => set(&mut raw.poll, src.take(value), problems),
            "http" => set(&mut raw.http, src.take(value), problems),
            "feeds" => raw.feeds = src.take_each(value, problems),
            "rules" => {
                raw.rules = src
                    .take_each(value, problems)
                    .into_iter()
                    .map(|(_, r)| r)
                    .collect();
            }
            "concepts" => {
                raw.concepts = src
                    .take_each(value, problems)
                    .into_iter()
                    .map(|(_, c)| c)
                    .collect();
            }
            "sites" => {
                raw.sites = src
                    .take_each::<SiteSpec>(value, problems)
                    .into_iter()
                    .map(|(_, s)| s.into_inner())
                    .collect();
            }
            "sinks" => {
                raw.sinks = src
                    .take_each::<super::sink::SinkSpec>(value, problems)
                    .into_iter()
                    .map(|(i, s)| (i, s.into_inner()))
                    .collect();
            }
            other => {
                let mut p = src.problem_at(
                    key.span().start,
                    format!("unknown key; expected one of {TOP_KEYS}"),
                );
                p.key = Some(clip(other, 64).into_owned());
                problems.push(p);
            }
        }
    }
    raw
}

/// Every interval, timeout and cap against its [`limits`] bound.
pub(super) fn check_bounds(src: &Source<'_>, raw: &RawConfig, problems: &mut Vec<ConfigProblem>) {
    let mut check = |key: &str, r: Result<(), String>| {
        if let Err(m) = r {
            problems.push(problem(src.path, key_line(src.text, key), key, &m));
        }
    };
    let (f, p) = (&raw.fetch, &raw.poll);
    let count = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
    let durations = [
        (&limits::FETCH_TIMEOUT, f.timeout),
        (&limits::POLL_INTERVAL, p.interval),
        (&limits::MIN_INTERVAL, p.min_interval),
        (&limits::MAX_INTERVAL, p.max_interval),
        (&limits::EXTRACT_TIMEOUT, p.extract_timeout),
    ];
    let counts = [
        (&limits::MAX_FEED_BYTES, f.max_feed_bytes),
        (&limits::MAX_PAGE_BYTES, f.max_page_bytes),
        (&limits::PER_HOST_CONCURRENCY, count(f.per_host_concurrency)),
        (&limits::CONCURRENCY, count(p.concurrency)),
        (&limits::MAX_ITEMS, count(p.max_items)),
        (&limits::MAX_HTML_DEPTH, count(p.max_html_depth)),
    ];
    for (bound, value) in durations {
        check(bound.key, bound.check(value));
    }
    for (bound, value) in counts {
        check(bound.key, bound.check(value));
    }
    if let Some(d) = raw.storage.recent_text_retention {
        let b = &limits::RECENT_TEXT_RETENTION;
        check(b.key, b.check(d));
    }
    if let Some(d) = raw.storage.seen_retention {
        let b = &limits::SEEN_RETENTION;
        check(b.key, b.check(d));
    }
    let storage = &raw.storage;
    if let Some(n) = storage.pool_size {
        check(limits::POOL_SIZE.key, limits::POOL_SIZE.check(n));
    }
    let optional = [
        (&limits::CONNECT_TIMEOUT, storage.connect_timeout),
        (&limits::STATEMENT_TIMEOUT, storage.statement_timeout),
        (&limits::LEASE, storage.lease),
        (&limits::MAINTENANCE_INTERVAL, storage.maintenance_interval),
        (&limits::DELIVERY_RETENTION, storage.delivery_retention),
        (
            &limits::ARTICLE_RETENTION,
            storage.article_retention.and_then(|k| k.0),
        ),
        (
            &limits::ALERT_RETENTION,
            storage.alert_retention.and_then(|k| k.0),
        ),
    ];
    for (b, value) in optional {
        if let Some(d) = value {
            check(b.key, b.check(d));
        }
    }
    if p.min_interval > p.max_interval {
        check(
            "poll.min_interval",
            Err("must not be longer than poll.max_interval".into()),
        );
    }
    let ua = &f.user_agent;
    if ua.trim().is_empty()
        || ua.len() > limits::MAX_USER_AGENT_BYTES
        || ua.chars().any(char::is_control)
    {
        check(
            "fetch.user_agent",
            Err(format!(
                "must be 1 to {} bytes of printable text (it is sent as an HTTP header)",
                limits::MAX_USER_AGENT_BYTES
            )),
        );
    }
}

/// Checks each `[[feeds]]` entry's URL (under the config file's policy) and interval.
pub(super) fn take_feeds(
    src: &Source<'_>,
    raw: Vec<(usize, Spanned<RawFeed>)>,
    base: &Path,
    problems: &mut Vec<ConfigProblem>,
) -> Vec<FeedConfig> {
    let mut feeds: Vec<FeedConfig> = Vec::with_capacity(raw.len());
    let mut listed = std::collections::HashSet::new();
    let origin = url::Origin::ConfigFile { base };
    for (i, f) in raw {
        let line = Some(src.lines.line(f.span().start));
        let f = f.into_inner();
        let at = |field: &str, message: String| ConfigProblem {
            file: src.path.to_path_buf(),
            line,
            key: Some(format!("feeds[{i}].{field}")),
            message,
        };
        let interval_ok = match f.interval.map(|d| limits::FEED_INTERVAL.check(d)) {
            Some(Err(m)) => {
                problems.push(at("interval", m));
                false
            }
            _ => true,
        };
        let url = match url::check(&f.url, origin) {
            Ok(url) if interval_ok => url,
            Ok(_) => continue,
            Err(e) => {
                problems.push(at("url", e.to_string()));
                continue;
            }
        };
        if !listed.insert(url.clone()) {
            problems.push(at(
                "url",
                format!("feed {} is listed twice", clip(&url, MAX_ECHO_CHARS)),
            ));
            continue;
        }
        feeds.push(FeedConfig {
            url,
            name: f.name.filter(|n| !n.trim().is_empty()),
            full_text: f.full_text,
            tags: f.tags,
            interval: f.interval,
        });
    }
    feeds
}

/// The `[[rules]]` and `[[concepts]]` of a rule file, read entry by entry like the main
/// file's.
pub(super) fn take_rule_file(
    path: &Path,
    text: &str,
    out: &mut Vec<(RuleSpec, PathBuf, usize)>,
    concepts: &mut Vec<(ConceptSpec, PathBuf, usize)>,
    problems: &mut Vec<ConfigProblem>,
) {
    let mut src = match Source::parse(path, text) {
        Ok(s) => s,
        Err(e) => return problems.extend(e.problems),
    };
    let mut raw = Vec::new();
    let mut raw_concepts = Vec::new();
    for (key, value) in std::mem::take(&mut src.entries) {
        match key.get_ref().as_str() {
            "rules" => {
                raw = src
                    .take_each(value, problems)
                    .into_iter()
                    .map(|(_, r)| r)
                    .collect();
            }
            "concepts" => {
                raw_concepts = src
                    .take_each(value, problems)
                    .into_iter()
                    .map(|(_, c)| c)
                    .collect();
            }
            other => {
                let mut p = src.problem_at(
                    key.span().start,
                    "unknown key; a rule file holds only [[rules]] and [[concepts]] tables".into(),
                );
                p.key = Some(clip(other, 64).into_owned());
                problems.push(p);
            }
        }
    }
    take_rules(&src, raw, out, problems);
    take_concepts(&src, raw_concepts, concepts);
}

pub(super) fn take_rules(
    src: &Source<'_>,
    raw: Vec<Spanned<RawRule>>,
    out: &mut Vec<(RuleSpec, PathBuf, usize)>,
    problems: &mut Vec<ConfigProblem>,
) {
    let file = src.path;
    // Names already taken (by this file or an earlier one), to their place in `out`.
    let mut names: HashMap<String, usize> = out
        .iter()
        .enumerate()
        .map(|(i, (s, _, _))| (s.name.clone(), i))
        .collect();
    for r in raw {
        let line = src.lines.line(r.span().start);
        let r = r.into_inner();
        if r.name.trim().is_empty() {
            problems.push(problem(file, Some(line), "rules.name", "must not be empty"));
            continue;
        }
        if let Some((_, f, l)) = names.get(&r.name).and_then(|&i| out.get(i)) {
            problems.push(problem(
                file,
                Some(line),
                "rules.name",
                &format!(
                    "rule `{}` is already defined at {}:{l}; rule names must be unique",
                    clip(&r.name, MAX_ECHO_CHARS),
                    f.display()
                ),
            ));
            continue;
        }
        names.insert(r.name.clone(), out.len());
        let model = rule_model(file, line, &r, problems);
        out.push((
            RuleSpec {
                name: r.name,
                query: r.query,
                severity: r.severity,
                feeds: r.feeds,
                exclude: r.exclude.filter(|e| !e.trim().is_empty()),
                model,
            },
            file.to_path_buf(),
            line,
        ));
    }
}

/// The rule's model, loaded from `model` relative to the rule file; a problem (file, line,
/// key) when it is missing, corrupt, trained for another rule, or its threshold is not a
/// probability.
fn rule_model(
    file: &Path,
    line: usize,
    r: &RawRule,
    problems: &mut Vec<ConfigProblem>,
) -> Option<crate::rules::RuleModel> {
    let Some(rel) = &r.model else {
        for (set, key) in [
            (r.model_threshold.is_some(), "model_threshold"),
            (
                r.model_overrides_exclude_at.is_some(),
                "model_overrides_exclude_at",
            ),
        ] {
            if set {
                let msg = format!("{key} without a model");
                problems.push(problem(file, Some(line), &format!("rules.{key}"), &msg));
            }
        }
        return None;
    };
    let path = file.parent().unwrap_or(Path::new(".")).join(rel);
    let model = match crate::rules::model::file::load(&path) {
        Ok(m) => m,
        Err(e) => {
            problems.push(problem(file, Some(line), "rules.model", &e.to_string()));
            return None;
        }
    };
    if model.rule != r.name {
        let msg = format!(
            "model file {} was trained for rule `{}`, not `{}`",
            path.display(),
            clip(&model.rule, MAX_ECHO_CHARS),
            clip(&r.name, MAX_ECHO_CHARS)
        );
        problems.push(problem(file, Some(line), "rules.model", &msg));
        return None;
    }
    let threshold = r.model_threshold.unwrap_or(model.threshold);
    if !(threshold > 0.0 && threshold < 1.0) {
        let msg = format!("{threshold} is not between 0 and 1 (a probability)");
        problems.push(problem(file, Some(line), "rules.model_threshold", &msg));
        return None;
    }
    if let Some(v) = r.model_overrides_exclude_at {
        if !(v >= threshold && v <= 1.0) {
            let msg = format!("{v} is not between the model's threshold {threshold} and 1");
            let key = "rules.model_overrides_exclude_at";
            problems.push(problem(file, Some(line), key, &msg));
            return None;
        }
    }
    Some(crate::rules::RuleModel {
        model: std::sync::Arc::new(model),
        path,
        threshold,
        overrides_exclude_at: r.model_overrides_exclude_at,
    })
}

/// Files in the order their first problem was found (the main config first), each file's
/// problems in line order.
pub(super) fn sort_problems(problems: &mut [ConfigProblem]) {
    let mut files: Vec<PathBuf> = Vec::new();
    for p in problems.iter() {
        if !files.contains(&p.file) {
            files.push(p.file.clone());
        }
    }
    problems.sort_by_key(|p| (files.iter().position(|f| *f == p.file), p.line));
}

pub(super) fn problem(file: &Path, line: Option<usize>, key: &str, message: &str) -> ConfigProblem {
    ConfigProblem {
        file: file.to_path_buf(),
        line,
        key: Some(key.to_string()),
        message: message.to_string(),
    }
}
