//! Configuration: TOML files in, plain data out.
//!
//! The daemon's config (`feedwatch.toml`) and the rule files it names are read here and
//! turned into [`Config`]: plain data with every path resolved and every value checked.
//! Nothing here builds running components; the binary builds the HTTP client, the rule
//! matcher and the extractor from this data at start-up (and again on reload).
//!
//! Errors name the file, the line and the key, and loading collects every problem it can
//! find instead of stopping at the first, so `feedwatch config check` can list them all.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use toml::Spanned;

use crate::extract::SiteSpec;
use crate::rules::{ConceptSpec, RuleSpec, Severity};

/// Where the config is looked for when `--config` is not given, after `$FEEDWATCH_CONFIG`.
pub const DEFAULT_PATHS: [&str; 2] = ["config/feedwatch.toml", "/etc/feedwatch/feedwatch.toml"];
/// Default per-feed poll interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(600);
/// Default shortest adaptive interval.
pub const DEFAULT_MIN_INTERVAL: Duration = Duration::from_secs(120);
/// Default longest adaptive interval and backoff cap.
pub const DEFAULT_MAX_INTERVAL: Duration = Duration::from_secs(6 * 3600);
/// Default retention of unmatched items' texts, for backtests.
pub const DEFAULT_RECENT_RETENTION: Duration = Duration::from_secs(14 * 86_400);
/// Default number of feeds polled at once.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// Default HTTP timeout for one request (connect + headers + body).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
/// Default cap on a feed document's size, after decompression.
pub const DEFAULT_MAX_FEED_BYTES: u64 = 10 * 1024 * 1024;
/// Default cap on an article page's size, after decompression.
pub const DEFAULT_MAX_PAGE_BYTES: u64 = 5 * 1024 * 1024;
/// Default cap on items taken from one feed document.
pub const DEFAULT_MAX_ITEMS: usize = 1000;
/// Default number of concurrent requests to one host.
pub const DEFAULT_PER_HOST: usize = 2;
/// Default user agent: names the tool so publishers can reach its operators.
pub const DEFAULT_USER_AGENT: &str = concat!(
    "feedwatch/",
    env!("CARGO_PKG_VERSION"),
    " (+https://github.com/feedwatch/feedwatch)"
);

/// One problem found while loading configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The file the problem is in.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The key (dotted path) the problem is about, when known.
    pub key: Option<String>,
    /// What is wrong, and what to do.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if let Some(k) = &self.key {
            write!(f, ": key `{k}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in the configuration. Display prints one per line.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl ConfigError {
    fn one(file: &Path, line: Option<usize>, key: Option<&str>, message: String) -> Self {
        ConfigError {
            problems: vec![ConfigProblem {
                file: file.to_path_buf(),
                line,
                key: key.map(str::to_string),
                message,
            }],
        }
    }
}

/// The loaded, checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The main config file.
    pub path: PathBuf,
    /// SQLite database file.
    pub database: PathBuf,
    /// JSON-lines alert log.
    pub alert_log: PathBuf,
    /// How long texts of items that matched nothing are kept for backtests; `None`: not kept.
    pub recent_text_retention: Option<Duration>,
    pub fetch: FetchConfig,
    pub poll: PollConfig,
    pub http: HttpConfig,
    pub feeds: Vec<FeedConfig>,
    pub rules: Vec<RuleSpec>,
    /// `[[concepts]]` of the config and every rule file: named term sets rules use as `@name`.
    pub concepts: Vec<ConceptSpec>,
    pub sites: Vec<SiteSpec>,
    /// `[[sinks]]`: where alerts go besides the log (checked; secrets not read here).
    pub sinks: Vec<crate::sink::SinkSpec>,
}

/// `[fetch]`: how feeds and pages are downloaded.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FetchConfig {
    /// Sent with every request.
    pub user_agent: String,
    /// Limit for one whole request (connect, headers and body).
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
    /// Whether article links from feeds may point at loopback/private addresses.
    pub allow_private_addresses: bool,
    /// Cap on a feed's decompressed size, in bytes.
    pub max_feed_bytes: u64,
    /// Cap on an article page's decompressed size, in bytes.
    pub max_page_bytes: u64,
    /// Concurrent requests to one host.
    pub per_host_concurrency: usize,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            user_agent: DEFAULT_USER_AGENT.to_string(),
            timeout: DEFAULT_TIMEOUT,
            allow_private_addresses: false,
            max_feed_bytes: DEFAULT_MAX_FEED_BYTES,
            max_page_bytes: DEFAULT_MAX_PAGE_BYTES,
            per_host_concurrency: DEFAULT_PER_HOST,
        }
    }
}

/// `[poll]`: when and how many feeds are polled.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PollConfig {
    /// Default interval between polls of one feed.
    #[serde(deserialize_with = "duration")]
    pub interval: Duration,
    /// Feeds polled at once.
    pub concurrency: usize,
    /// Items taken from one feed document; the rest are dropped with a warning.
    pub max_items: usize,
    /// Shortest interval the adaptive schedule may choose.
    #[serde(deserialize_with = "duration")]
    pub min_interval: Duration,
    /// Longest interval the adaptive schedule (and error backoff) may choose.
    #[serde(deserialize_with = "duration")]
    pub max_interval: Duration,
}

impl Default for PollConfig {
    fn default() -> Self {
        PollConfig {
            interval: DEFAULT_INTERVAL,
            concurrency: DEFAULT_CONCURRENCY,
            max_items: DEFAULT_MAX_ITEMS,
            min_interval: DEFAULT_MIN_INTERVAL,
            max_interval: DEFAULT_MAX_INTERVAL,
        }
    }
}

/// `[http]`: the optional metrics and health listener.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address for `/metrics` and `/healthz`, e.g. "127.0.0.1:9464". Off when absent.
    pub listen: Option<std::net::SocketAddr>,
}

/// One `[[feeds]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedConfig {
    /// http(s) URL, or `file://` URL for a feed dropped on disk.
    pub url: String,
    pub name: Option<String>,
    /// Fetch the linked article page and extract its text.
    pub full_text: bool,
    /// Labels rules can select with `feeds = [...]`.
    pub tags: Vec<String>,
    /// Overrides `[poll] interval` for this feed.
    pub interval: Option<Duration>,
}

impl FeedConfig {
    /// The name shown in alerts: the configured name, else the URL.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.url)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    rule_files: Vec<Spanned<String>>,
    #[serde(default)]
    storage: RawStorage,
    #[serde(default)]
    alerts: RawAlerts,
    #[serde(default)]
    fetch: FetchConfig,
    #[serde(default)]
    poll: PollConfig,
    #[serde(default)]
    http: HttpConfig,
    #[serde(default)]
    feeds: Vec<Spanned<RawFeed>>,
    #[serde(default)]
    rules: Vec<Spanned<RawRule>>,
    #[serde(default)]
    concepts: Vec<Spanned<RawConcept>>,
    #[serde(default)]
    sites: Vec<SiteSpec>,
    #[serde(default)]
    sinks: Vec<crate::sink::SinkSpec>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    database: Option<PathBuf>,
    #[serde(default, deserialize_with = "opt_duration")]
    recent_text_retention: Option<Duration>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAlerts {
    log: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeed {
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
struct RawRuleFile {
    #[serde(default)]
    rules: Vec<Spanned<RawRule>>,
    #[serde(default)]
    concepts: Vec<Spanned<RawConcept>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConcept {
    name: String,
    terms: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    query: String,
    #[serde(default = "default_severity")]
    severity: Severity,
    #[serde(default)]
    feeds: Vec<String>,
    exclude: Option<String>,
}

fn default_severity() -> Severity {
    Severity::Medium
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s).map_err(|e| {
        serde::de::Error::custom(format!(
            "invalid duration {s:?} ({e}); write e.g. \"90s\", \"10m\", \"1h\""
        ))
    })
}

fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

/// Environment consulted for default paths (systemd sets these for the service).
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// `$STATE_DIRECTORY`: default folder of the database.
    pub state_directory: Option<PathBuf>,
    /// `$LOGS_DIRECTORY`: default folder of the alert log.
    pub logs_directory: Option<PathBuf>,
}

impl Env {
    /// Reads the process environment. systemd may pass several colon-separated folders;
    /// the first is ours.
    pub fn from_process() -> Env {
        let first = |k: &str| {
            std::env::var_os(k)
                .and_then(|v| {
                    v.to_str()
                        .map(|s| s.split(':').next().unwrap_or("").to_string())
                })
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
        };
        Env {
            state_directory: first("STATE_DIRECTORY"),
            logs_directory: first("LOGS_DIRECTORY"),
        }
    }
}

/// Picks the config file: `--config`, else `$FEEDWATCH_CONFIG`, else the first of
/// [`DEFAULT_PATHS`] that exists.
///
/// # Errors
/// When none is given and none of the defaults exists.
pub fn locate(cli: Option<&Path>) -> Result<PathBuf, ConfigError> {
    if let Some(p) = cli {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("FEEDWATCH_CONFIG").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    DEFAULT_PATHS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            ConfigError::one(
                Path::new(DEFAULT_PATHS[0]),
                None,
                None,
                format!(
                    "no config file found (tried --config, $FEEDWATCH_CONFIG, {}); pass --config PATH",
                    DEFAULT_PATHS.join(", ")
                ),
            )
        })
}

/// Loads and checks the config at `path` and every rule file it names.
///
/// # Errors
/// Every problem found, each naming file, line and key.
pub fn load(path: &Path, env: &Env) -> Result<Config, ConfigError> {
    let text = read(path)?;
    let raw: RawConfig = parse_toml(path, &text)?;
    let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let mut problems = Vec::new();

    let resolve = |p: &Path| -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };
    let database = match (&raw.storage.database, &env.state_directory) {
        (Some(p), _) => resolve(p),
        (None, Some(dir)) => dir.join("feedwatch.db"),
        (None, None) => resolve(Path::new("data/feedwatch.db")),
    };
    let alert_log = match (&raw.alerts.log, &env.logs_directory) {
        (Some(p), _) => resolve(p),
        (None, Some(dir)) => dir.join("alerts.jsonl"),
        (None, None) => resolve(Path::new("data/alerts.jsonl")),
    };

    let lines = Lines::new(&text);
    let at = |span: std::ops::Range<usize>| Some(lines.line(span.start));
    if raw.poll.concurrency == 0 {
        problems.push(problem(
            path,
            key_line(&text, "poll.concurrency"),
            "poll.concurrency",
            "must be at least 1",
        ));
    }
    if raw.fetch.per_host_concurrency == 0 {
        problems.push(problem(
            path,
            key_line(&text, "fetch.per_host_concurrency"),
            "fetch.per_host_concurrency",
            "must be at least 1",
        ));
    }
    if raw.poll.interval < Duration::from_secs(1) {
        problems.push(problem(
            path,
            key_line(&text, "poll.interval"),
            "poll.interval",
            "must be at least 1s",
        ));
    }
    if raw.poll.min_interval > raw.poll.max_interval {
        problems.push(problem(
            path,
            key_line(&text, "poll.min_interval"),
            "poll.min_interval",
            "must not be longer than poll.max_interval",
        ));
    }

    let mut feeds: Vec<FeedConfig> = Vec::new();
    let mut listed = std::collections::HashSet::new();
    for (i, f) in raw.feeds.into_iter().enumerate() {
        let line = at(f.span());
        let f = f.into_inner();
        let key = format!("feeds[{i}].url");
        match check_feed_url(&f.url, &base) {
            Ok(url) => {
                if !listed.insert(url.clone()) {
                    problems.push(ConfigProblem {
                        file: path.to_path_buf(),
                        line,
                        key: Some(key),
                        message: format!("feed {url} is listed twice"),
                    });
                    continue;
                }
                feeds.push(FeedConfig {
                    url,
                    name: f.name.filter(|n| !n.trim().is_empty()),
                    full_text: f.full_text,
                    tags: f.tags,
                    interval: f.interval,
                })
            }
            Err(msg) => problems.push(ConfigProblem {
                file: path.to_path_buf(),
                line,
                key: Some(key),
                message: msg,
            }),
        }
    }

    let mut rules = Vec::new();
    let mut concepts = Vec::new();
    take_rules(path, &text, raw.rules, &mut rules, &mut problems);
    take_concepts(path, &text, raw.concepts, &mut concepts);
    for rf in &raw.rule_files {
        let rpath = resolve(Path::new(rf.get_ref()));
        match read(&rpath).and_then(|t| parse_toml::<RawRuleFile>(&rpath, &t).map(|r| (t, r))) {
            Ok((rtext, rfile)) => {
                take_rules(&rpath, &rtext, rfile.rules, &mut rules, &mut problems);
                take_concepts(&rpath, &rtext, rfile.concepts, &mut concepts);
            }
            Err(e) => {
                // Name where the missing file was referenced, then what went wrong.
                for mut p in e.problems {
                    if p.line.is_none() {
                        p.message = format!(
                            "{} (named in {}:{} key `rule_files`)",
                            p.message,
                            path.display(),
                            line_of(&text, rf.span().start)
                        );
                    }
                    problems.push(p);
                }
            }
        }
    }
    // The rule language is checked here too, so a bad query is a config error at load time.
    problems.extend(check_rules(path, &rules, &concepts, &[], true));
    let specs: Vec<RuleSpec> = rules.into_iter().map(|(s, _, _)| s).collect();

    let mut sinks = raw.sinks;
    let rule_names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    for p in crate::sink::check_specs(&mut sinks, &base, &rule_names) {
        problems.push(ConfigProblem {
            file: path.to_path_buf(),
            line: key_line(&text, &p.key),
            key: Some(p.key),
            message: p.message,
        });
    }

    if !problems.is_empty() {
        return Err(ConfigError { problems });
    }
    Ok(Config {
        path: path.to_path_buf(),
        database,
        alert_log,
        recent_text_retention: match raw.storage.recent_text_retention {
            Some(d) if d.is_zero() => None,
            Some(d) => Some(d),
            None => Some(DEFAULT_RECENT_RETENTION),
        },
        fetch: raw.fetch,
        poll: raw.poll,
        http: raw.http,
        feeds,
        rules: specs,
        concepts: concepts.into_iter().map(|(c, _, _)| c).collect(),
        sites: raw.sites,
        sinks,
    })
}

/// The `[[rules]]` and `[[concepts]]` of one rule file.
#[derive(Debug, Clone)]
pub struct RuleFile {
    pub rules: Vec<RuleSpec>,
    /// The file's own concepts, then those of `known` it did not redefine.
    pub concepts: Vec<ConceptSpec>,
}

/// Loads one rule file (for `backtest`), checked like the config's. Its rules may use the
/// `known` concepts (the config's); a concept the file defines replaces a known one of the
/// same name.
///
/// # Errors
/// Every problem found, naming file, line and key.
pub fn load_rule_file(path: &Path, known: &[ConceptSpec]) -> Result<RuleFile, ConfigError> {
    let text = read(path)?;
    let raw: RawRuleFile = parse_toml(path, &text)?;
    let mut rules = Vec::new();
    let mut concepts = Vec::new();
    let mut problems = Vec::new();
    take_rules(path, &text, raw.rules, &mut rules, &mut problems);
    take_concepts(path, &text, raw.concepts, &mut concepts);
    let known: Vec<ConceptSpec> = known
        .iter()
        .filter(|k| !concepts.iter().any(|(c, _, _)| c.name == k.name))
        .cloned()
        .collect();
    problems.extend(check_rules(path, &rules, &concepts, &known, false));
    if problems.is_empty() {
        Ok(RuleFile {
            rules: rules.into_iter().map(|(s, _, _)| s).collect(),
            concepts: concepts
                .into_iter()
                .map(|(c, _, _)| c)
                .chain(known)
                .collect(),
        })
    } else {
        Err(ConfigError { problems })
    }
}

/// Compiles the rules with their concepts (plus `known` ones, defined elsewhere) and turns
/// every error into a problem at the rule's or concept's line; with `unused`, a concept no rule
/// uses is a problem too.
fn check_rules(
    default_file: &Path,
    rules: &[(RuleSpec, PathBuf, usize)],
    concepts: &[(ConceptSpec, PathBuf, usize)],
    known: &[ConceptSpec],
    unused: bool,
) -> Vec<ConfigProblem> {
    let specs: Vec<RuleSpec> = rules.iter().map(|(s, _, _)| s.clone()).collect();
    let mut all: Vec<ConceptSpec> = concepts.iter().map(|(c, _, _)| c.clone()).collect();
    all.extend(known.iter().cloned());
    let at = |name: &str, in_concepts: bool| -> (PathBuf, Option<usize>) {
        let found = if in_concepts {
            concepts
                .iter()
                .rev()
                .find(|(c, _, _)| c.name == name)
                .map(|(_, f, l)| (f.clone(), Some(*l)))
        } else {
            rules
                .iter()
                .find(|(s, _, _)| s.name == name)
                .map(|(_, f, l)| (f.clone(), Some(*l)))
        };
        found.unwrap_or((default_file.to_path_buf(), None))
    };
    let mut problems = Vec::new();
    if let Err(errs) = crate::rules::RuleSet::compile_with(&specs, &all) {
        for e in errs {
            let (file, line) = match &e.concept {
                Some(c) => at(c, true),
                None => at(&e.rule, false),
            };
            let key = match (&e.concept, e.in_exclude) {
                (Some(_), _) => "concepts",
                (None, true) => "exclude",
                (None, false) => "query",
            };
            problems.push(ConfigProblem {
                file,
                line,
                key: Some(key.to_string()),
                message: e.to_string(),
            });
        }
    }
    if unused {
        for name in crate::rules::unused_concepts(&specs, &all) {
            let (file, line) = at(&name, true);
            problems.push(ConfigProblem {
                file,
                line,
                key: Some("concepts.name".into()),
                message: format!(
                    "concept `{name}` is defined but no rule uses it; use it as `@{name}` or \
                     remove it"
                ),
            });
        }
    }
    problems
}

/// Collects `[[concepts]]` with their file and line; the rules module checks them.
fn take_concepts(
    file: &Path,
    text: &str,
    raw: Vec<Spanned<RawConcept>>,
    out: &mut Vec<(ConceptSpec, PathBuf, usize)>,
) {
    let lines = Lines::new(text);
    for c in raw {
        let line = lines.line(c.span().start);
        let c = c.into_inner();
        out.push((
            ConceptSpec {
                name: c.name,
                terms: c.terms,
            },
            file.to_path_buf(),
            line,
        ));
    }
}

fn take_rules(
    file: &Path,
    text: &str,
    raw: Vec<Spanned<RawRule>>,
    out: &mut Vec<(RuleSpec, PathBuf, usize)>,
    problems: &mut Vec<ConfigProblem>,
) {
    let lines = Lines::new(text);
    // Names already taken (by this file or an earlier one), to their place in `out`.
    let mut names: HashMap<String, usize> = out
        .iter()
        .enumerate()
        .map(|(i, (s, _, _))| (s.name.clone(), i))
        .collect();
    for r in raw {
        let line = lines.line(r.span().start);
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
                    r.name,
                    f.display()
                ),
            ));
            continue;
        }
        names.insert(r.name.clone(), out.len());
        out.push((
            RuleSpec {
                name: r.name,
                query: r.query,
                severity: r.severity,
                feeds: r.feeds,
                exclude: r.exclude.filter(|e| !e.trim().is_empty()),
            },
            file.to_path_buf(),
            line,
        ));
    }
}

fn problem(file: &Path, line: Option<usize>, key: &str, message: &str) -> ConfigProblem {
    ConfigProblem {
        file: file.to_path_buf(),
        line,
        key: Some(key.to_string()),
        message: message.to_string(),
    }
}

/// Accepts http(s) URLs, `file://` URLs and plain paths (made `file://`, relative to the
/// config's folder). Returns the URL as stored.
fn check_feed_url(raw: &str, base: &Path) -> Result<String, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("feed URL is empty".into());
    }
    if raw.contains("://") {
        let url = url::Url::parse(raw).map_err(|e| format!("invalid URL {raw:?}: {e}"))?;
        return match url.scheme() {
            "http" | "https" if url.host().is_some() => Ok(url.to_string()),
            "file" => Ok(url.to_string()),
            s => Err(format!(
                "unsupported scheme `{s}` in {raw:?}; use http, https or file"
            )),
        };
    }
    let p = Path::new(raw);
    let p = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::path::absolute(base.join(p)).map_err(|e| format!("bad path {raw:?}: {e}"))?
    };
    url::Url::from_file_path(&p)
        .map(|u| u.to_string())
        .map_err(|()| format!("cannot make a file URL of {}", p.display()))
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map_err(|e| ConfigError::one(path, None, None, format!("cannot read: {e}")))
}

fn parse_toml<T: for<'de> Deserialize<'de>>(path: &Path, text: &str) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        let key = e.span().and_then(|s| key_at(text, s.start));
        ConfigError::one(path, line, key.as_deref(), e.message().trim().to_string())
    })
}

/// Line of a dotted key (`poll.concurrency`, `sinks[1].url`) in `text`: where the key is
/// written, else where the nearest enclosing table is (`[poll]`, the second `[[sinks]]`), for
/// problems found after deserialising, when serde's spans are gone.
fn key_line(text: &str, key: &str) -> Option<usize> {
    let doc = toml_edit::Document::parse(text).ok()?;
    let mut table: &dyn toml_edit::TableLike = doc.as_table();
    let mut best: Option<usize> = None;
    for part in key.split('.') {
        let (name, index) = match part.split_once('[') {
            Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        let Some((k, item)) = table.get_key_value(name) else {
            break;
        };
        best = k.span().map(|s| s.start).or(best);
        let next: Option<&dyn toml_edit::TableLike> = match index {
            Some(i) => {
                let t = item.as_array_of_tables().and_then(|a| a.get(i));
                best = t.and_then(toml_edit::Table::span).map(|s| s.start).or(best);
                t.map(|t| t as &dyn toml_edit::TableLike)
            }
            None => item.as_table_like(),
        };
        match next {
            Some(t) => table = t,
            None => break,
        }
    }
    best.map(|start| line_of(text, start))
}

/// Line numbers of byte offsets in one text, for configs with thousands of feeds or rules:
/// counting newlines from the top for each entry made loading quadratic.
struct Lines(Vec<usize>);

impl Lines {
    fn new(text: &str) -> Self {
        Lines(
            text.bytes()
                .enumerate()
                .filter_map(|(i, b)| (b == b'\n').then_some(i))
                .collect(),
        )
    }

    /// 1-based line of `offset`.
    fn line(&self, offset: usize) -> usize {
        self.0.partition_point(|&nl| nl < offset) + 1
    }
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .get(..offset.min(text.len()))
        .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
        + 1
}

/// The dotted key whose line holds `offset`: the nearest `[table]` header above plus the
/// `key =` on that line, so messages can say `fetch.timeout` rather than only a line.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next().unwrap_or("");
    if line.trim_start().starts_with('[') {
        return Some(
            line.trim()
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string(),
        );
    }
    let table = text[..start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    match (table, key) {
        (Some(t), Some(k)) => Some(format!("{t}.{k}")),
        (None, Some(k)) => Some(k),
        (Some(t), None) => Some(t),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_index_agrees_with_counting() {
        let text = "a = 1\n\n[poll]\ninterval = \"5m\"\n\n\n[[feeds]]\nurl = \"x\"";
        let lines = Lines::new(text);
        for off in 0..=text.len() + 2 {
            assert_eq!(lines.line(off), line_of(text, off), "offset {off}");
        }
    }

    fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).expect("write");
        p
    }

    #[test]
    fn shipped_config_loads() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/feedwatch.toml");
        let c = load(&p, &Env::default()).expect("shipped config must load");
        assert!(!c.feeds.is_empty());
        assert!(c.rules.iter().any(|r| r.name == "green-zone"));
        assert!(c.rules.iter().any(|r| r.name == "embassy-security"));
        assert!(c.database.starts_with(p.parent().expect("dir")));
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let d = tempfile::tempdir().expect("tmp");
        let p = write(
            d.path(),
            "f.toml",
            "[fetch]\nuser_agent = \"x\"\ntimeot = \"5s\"\n",
        );
        let e = load(&p, &Env::default()).expect_err("must fail");
        let s = e.to_string();
        assert!(s.contains("f.toml:3"), "{s}");
        assert!(s.contains("fetch.timeot"), "{s}");
    }

    #[test]
    fn bad_duration_and_bad_url_are_all_reported() {
        let d = tempfile::tempdir().expect("tmp");
        let p = write(
            d.path(),
            "f.toml",
            "[[feeds]]\nurl = \"ftp://x/\"\n\n[[feeds]]\nurl = \"http://ok/\"\n\n[[feeds]]\nurl = \"gopher://y\"\n",
        );
        let e = load(&p, &Env::default()).expect_err("must fail");
        assert_eq!(e.problems.len(), 2, "{e}");
        assert_eq!(e.problems[0].line, Some(1));
        assert_eq!(e.problems[1].line, Some(7));
        let p = write(d.path(), "g.toml", "[poll]\ninterval = \"soon\"\n");
        let e = load(&p, &Env::default()).expect_err("must fail");
        assert!(
            e.to_string().contains("g.toml:2: key `poll.interval`"),
            "{e}"
        );
    }

    #[test]
    fn checks_after_parsing_still_name_the_line() {
        let d = tempfile::tempdir().expect("tmp");
        let p = write(
            d.path(),
            "f.toml",
            "[poll]\nconcurrency = 0\n\n[[sinks]]\nname = \"ok\"\ntype = \"webhook\"\nurl = \"https://h/\"\n\n\
             [[sinks]]\nname = \"bad\"\ntype = \"webhook\"\nurl = \"ftp://h/\"\n\n\
             [[sinks]]\nname = \"nourl\"\ntype = \"webhook\"\n",
        );
        let e = load(&p, &Env::default()).expect_err("must fail");
        let at = |key: &str| {
            e.problems
                .iter()
                .find(|p| p.key.as_deref() == Some(key))
                .and_then(|p| p.line)
        };
        assert_eq!(at("poll.concurrency"), Some(2), "{e}");
        assert_eq!(at("sinks[1].url"), Some(12), "{e}");
        // A missing key: the line of its `[[sinks]]` table.
        assert_eq!(at("sinks[2].url"), Some(14), "{e}");
    }

    #[test]
    fn paths_resolve_relative_to_config_and_env() {
        let d = tempfile::tempdir().expect("tmp");
        let p = write(d.path(), "f.toml", "[[feeds]]\nurl = \"local/feed.xml\"\n");
        let c = load(&p, &Env::default()).expect("load");
        assert_eq!(c.database, d.path().join("data/feedwatch.db"));
        assert!(c.feeds[0].url.starts_with("file://"));
        assert!(c.feeds[0].url.ends_with("/local/feed.xml"));
        let env = Env {
            state_directory: Some("/var/lib/feedwatch".into()),
            logs_directory: Some("/var/log/feedwatch".into()),
        };
        let c = load(&p, &env).expect("load");
        assert_eq!(c.database, Path::new("/var/lib/feedwatch/feedwatch.db"));
        assert_eq!(c.alert_log, Path::new("/var/log/feedwatch/alerts.jsonl"));
    }

    #[test]
    fn rule_files_and_duplicate_rules() {
        let d = tempfile::tempdir().expect("tmp");
        write(
            d.path(),
            "r.toml",
            "[[rules]]\nname = \"a\"\nquery = \"x\"\n\n[[rules]]\nname = \"a\"\nquery = \"y\"\n",
        );
        let p = write(
            d.path(),
            "f.toml",
            "rule_files = [\"r.toml\", \"missing.toml\"]\n",
        );
        let e = load(&p, &Env::default()).expect_err("must fail");
        let s = e.to_string();
        assert!(s.contains("r.toml:5: key `rules.name`"), "{s}");
        assert!(s.contains("missing.toml"), "{s}");
        assert!(s.contains("named in"), "{s}");
    }

    #[test]
    fn concept_problems_name_file_and_line() {
        let d = tempfile::tempdir().expect("tmp");
        write(
            d.path(),
            "c.toml",
            "[[concepts]]\nname = \"a\"\nterms = [\"@b\"]\n\n\
             [[concepts]]\nname = \"b\"\nterms = [\"@a\"]\n\n\
             [[concepts]]\nname = \"spare\"\nterms = [\"x\"]\n\n\
             [[concepts]]\nname = \"fine\"\nterms = [\"~storm\", \"rocket*\"]\n",
        );
        let p = write(
            d.path(),
            "f.toml",
            "rule_files = [\"c.toml\"]\n\n[[rules]]\nname = \"r\"\nquery = \"@fine OR @nope\"\n\n\
             [[rules]]\nname = \"s\"\nquery = \"@a\"\n",
        );
        let e = load(&p, &Env::default()).expect_err("must fail");
        let s = e.to_string();
        assert!(
            s.contains("c.toml:1: key `concepts`: concept `a`: refers to itself: @a → @b → @a"),
            "{s}"
        );
        assert!(
            s.contains(
                "c.toml:9: key `concepts.name`: concept `spare` is defined but no rule uses it"
            ),
            "{s}"
        );
        assert!(
            s.contains("f.toml:3: key `query`: rule `r`: no concept named `nope`"),
            "{s}"
        );
        assert_eq!(e.problems.len(), 3, "{s}");

        // Fixed, the concepts reach the config and compile with the rules.
        write(
            d.path(),
            "c.toml",
            "[[concepts]]\nname = \"a\"\nterms = [\"@fine\"]\n\n\
             [[concepts]]\nname = \"fine\"\nterms = [\"~storm\", \"rocket*\"]\n",
        );
        write(
            d.path(),
            "f.toml",
            "rule_files = [\"c.toml\"]\n\n[[rules]]\nname = \"r\"\nquery = \"@a embassy\"\n",
        );
        let c = load(&p, &Env::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.concepts.len(), 2);
        let set = crate::rules::RuleSet::compile_with(&c.rules, &c.concepts).expect("compiles");
        let doc = crate::rules::Document {
            body: "Crowds stormed the embassy",
            ..Default::default()
        };
        assert_eq!(set.matches(&doc).len(), 1);
        // A rule file for `backtest` may use the config's concepts.
        let rf = write(
            d.path(),
            "bt.toml",
            "[[rules]]\nname = \"t\"\nquery = \"@fine\"\n",
        );
        let file = load_rule_file(&rf, &c.concepts).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((file.rules.len(), file.concepts.len()), (1, 2));
        assert!(load_rule_file(&rf, &[]).is_err());
    }
}
