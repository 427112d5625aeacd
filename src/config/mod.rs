//! Configuration: TOML files in, plain data out.
//!
//! The daemon's config (`feedwatch.toml`) and the rule files it names are read here and
//! turned into [`Config`]: plain data with every path resolved and every value checked.
//! Nothing here builds running components, the rule matcher included: `app` compiles the
//! rules once and adds their errors to the problems found here (see [`Checked`]), and builds
//! the HTTP client and the extractor from this data at start-up (and again on reload).
//!
//! Errors name the file, the line and the key, and loading collects every problem it can
//! find instead of stopping at the first, so `feedwatch config check` can list them all:
//! each section and each list entry is read on its own ([`source`]), every number is held
//! to a floor and a ceiling ([`limits`]), and every feed URL passes the one URL policy
//! ([`url`]). Echoes of user input in messages are clipped ([`clip`]).

mod check;
mod concepts;
pub mod database;
pub mod digest;
pub mod limits;
pub mod opml;
pub mod sink;
mod source;
pub mod url;

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::extract::SiteSpec;
use crate::rules::{ConceptSpec, RuleSpec};
use check::{check_bounds, problem, read_raw, take_feeds, take_rule_file, take_rules};
use concepts::take_concepts;
pub use concepts::{read_rule_file, Checked, RuleFile};
pub use database::{Backend, Backends, Database, PgSettings, SslMode};
use source::{key_line, Source};

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
/// `[storage] seen_retention`: how long an item key is remembered after its item was last
/// present in a feed document (and past its published date); see `store::seen`.
pub const DEFAULT_SEEN_RETENTION: Duration = Duration::from_secs(90 * 86_400);
/// Default time between the writer's database maintenance passes (`[storage]
/// maintenance_interval`).
pub const DEFAULT_MAINTENANCE_INTERVAL: Duration = Duration::from_secs(3600);
/// `[storage] delivery_retention`: finished sink deliveries are only read by `status` and
/// `sinks retry`, which look at the last days, not months.
pub const DEFAULT_DELIVERY_RETENTION: Duration = Duration::from_secs(30 * 86_400);
/// How `[storage] article_retention` and `alert_retention` spell "never delete".
pub const FOREVER: &str = "forever";
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
/// Default for `[poll] max_html_depth`: HTML nested deeper loses its deeper tags (not text).
pub const DEFAULT_MAX_HTML_DEPTH: usize = crate::text::html::DEFAULT_MAX_DEPTH;
/// Default for `[poll] extract_timeout`: the time one article page's extraction may take
/// before the feed's own text is used instead.
pub const DEFAULT_EXTRACT_TIMEOUT: Duration = Duration::from_secs(5);
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
        // A last guard against echoing huge input: no message line is longer than this.
        for (i, line) in self.message.lines().enumerate() {
            let sep = if i == 0 { ": " } else { "\n" };
            write!(f, "{sep}{}", clip(line, 4 * MAX_ECHO_CHARS))?;
        }
        Ok(())
    }
}

/// Every problem found in the configuration. Display prints one per line.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    /// Each problem, with file, line and key.
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
    /// SQLite database file. When `[storage] database` is a PostgreSQL URL this is only the
    /// default path, unused: read the backend through [`Config::backend`].
    pub database: PathBuf,
    /// `[storage] database` as a PostgreSQL URL, with its keys; `None`: SQLite (`database`).
    pub postgres: Option<PgSettings>,
    /// JSON-lines alert log.
    pub alert_log: PathBuf,
    /// How long texts of items that matched nothing are kept for backtests; `None`: not kept.
    pub recent_text_retention: Option<Duration>,
    /// How long a seen item's key outlives its last presence in any feed document and its
    /// published date; older items that come back are never new (see `store::seen`).
    pub seen_retention: Duration,
    /// How often the writer gives free pages back and resets the WAL.
    pub maintenance_interval: Duration,
    /// How long kept articles stay (by fetch time); `None`: forever, the default, since
    /// analysts search back. An article with an alert stays while the alert does.
    pub article_retention: Option<Duration>,
    /// How long alerts stay (by creation time); `None`: forever, the default.
    pub alert_retention: Option<Duration>,
    /// How long finished (delivered or given up) sink deliveries stay.
    pub delivery_retention: Duration,
    /// `[fetch]`: HTTP client settings.
    pub fetch: FetchConfig,
    /// `[poll]`: scheduling and per-item bounds.
    pub poll: PollConfig,
    /// `[http]`: the metrics and health listener.
    pub http: HttpConfig,
    /// `[[feeds]]`, in file order.
    pub feeds: Vec<FeedConfig>,
    /// `[[rules]]` of the config and every rule file.
    pub rules: Vec<RuleSpec>,
    /// `[[concepts]]` of the config and every rule file: named term sets rules use as `@name`.
    pub concepts: Vec<ConceptSpec>,
    /// `[[sites]]`: per-host extraction rules.
    pub sites: Vec<SiteSpec>,
    /// `[[sinks]]`: where alerts go besides the log (checked; secrets not read here).
    pub sinks: Vec<sink::SinkSpec>,
}

impl Config {
    /// The storage backend `[storage] database` selects.
    pub fn backend(&self) -> Backend<'_> {
        match &self.postgres {
            Some(pg) => Backend::Postgres(pg),
            None => Backend::Sqlite(&self.database),
        }
    }
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
    /// HTML (feed content and article pages) nested deeper than this loses the deeper tags,
    /// not their text: html5ever's cost grows with nesting depth.
    pub max_html_depth: usize,
    /// Time one article page's extraction may take; past it the feed's own text is used.
    #[serde(deserialize_with = "duration")]
    pub extract_timeout: Duration,
}

impl Default for PollConfig {
    fn default() -> Self {
        PollConfig {
            interval: DEFAULT_INTERVAL,
            concurrency: DEFAULT_CONCURRENCY,
            max_items: DEFAULT_MAX_ITEMS,
            min_interval: DEFAULT_MIN_INTERVAL,
            max_interval: DEFAULT_MAX_INTERVAL,
            max_html_depth: DEFAULT_MAX_HTML_DEPTH,
            extract_timeout: DEFAULT_EXTRACT_TIMEOUT,
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
    /// http(s) URL, or `file://` URL for a feed dropped on disk (see [`url`] for the policy).
    pub url: String,
    /// Display name in `status` and alerts.
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

/// Reads a duration written like `"90s"`, `"10m"`, `"1h 30m"`. Shared by every duration in
/// the config, `[[sinks]]` included, so they all read and complain the same way.
pub(crate) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s).map_err(|e| {
        serde::de::Error::custom(format!(
            "invalid duration {:?} ({e}); write e.g. \"500ms\", \"90s\", \"10m\", \"1h\"",
            clip(&s, 64)
        ))
    })
}

/// [`duration`] for optional keys.
pub(crate) fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

/// A retention that may be [`FOREVER`]: `Keep(None)` keeps forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Keep(pub(crate) Option<Duration>);

/// Reads `"forever"` or a duration, for the retentions whose default is to keep everything.
pub(crate) fn opt_keep<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Keep>, D::Error> {
    let s = String::deserialize(d)?;
    if s.trim().eq_ignore_ascii_case(FOREVER) {
        return Ok(Some(Keep(None)));
    }
    humantime::parse_duration(&s)
        .map(|d| Some(Keep(Some(d))))
        .map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid retention {:?} ({e}); write \"{FOREVER}\" or a duration like \"365d\"",
                clip(&s, 64)
            ))
        })
}

/// Longest piece of user input echoed in a message, in characters.
pub const MAX_ECHO_CHARS: usize = 200;

/// `s` cut to `max` characters with a marker saying how much was left out, so a message
/// never echoes a huge input in full.
pub fn clip(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some((cut, _)) => {
            let rest = s[cut..].chars().count();
            Cow::Owned(format!("{}…[{rest} more characters]", &s[..cut]))
        }
    }
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

/// Reads and checks the config at `path` and every rule file it names, as data.
///
/// The rules are not compiled here: the caller compiles them once and adds their errors to
/// the result before [`Checked::finish`] (`app::load_config` does both), so one pass lists
/// every problem. The config may still have no feeds or no rules (`feeds add` starts from
/// such a file); what polls must also pass [`require_work`].
///
/// # Errors
/// A config file that cannot be read or is not TOML; its other problems are in the result.
pub fn read(path: &Path, env: &Env) -> Result<Checked<Config>, ConfigError> {
    read_with(path, env, Backends::SqliteOnly)
}

/// [`read`] for a command that runs on the given `backends` (see [`Backends`]).
///
/// # Errors
/// As [`read`].
pub fn read_with(
    path: &Path,
    env: &Env,
    backends: Backends,
) -> Result<Checked<Config>, ConfigError> {
    let text = source::read(path)?;
    let mut src = Source::parse(path, &text)?;
    let mut problems = Vec::new();
    let raw = read_raw(&mut src, &mut problems);
    let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let resolve = |p: &Path| -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };
    let default_database = match &env.state_directory {
        Some(dir) => dir.join("feedwatch.db"),
        None => resolve(Path::new("data/feedwatch.db")),
    };
    let (database, postgres) = database::take_database(
        &src,
        &raw.storage,
        &base,
        default_database,
        backends,
        &mut problems,
    );
    let alert_log = match (&raw.alerts.log, &env.logs_directory) {
        (Some(p), _) => resolve(p),
        (None, Some(dir)) => dir.join("alerts.jsonl"),
        (None, None) => resolve(Path::new("data/alerts.jsonl")),
    };
    check_bounds(&src, &raw, &mut problems);
    let feeds = take_feeds(&src, raw.feeds, &base, &mut problems);

    let mut concepts = Vec::new();
    take_concepts(&src, raw.concepts, &mut concepts);
    let rules = read_rules(
        &src,
        raw.rules,
        &raw.rule_files,
        &resolve,
        &mut concepts,
        &mut problems,
    );
    let specs: Vec<RuleSpec> = rules.iter().map(|(s, _, _)| s.clone()).collect();
    let sinks = check_sinks(&src, raw.sinks, &base, &specs, &mut problems);

    let config = Config {
        path: path.to_path_buf(),
        database,
        postgres,
        alert_log,
        recent_text_retention: match raw.storage.recent_text_retention {
            Some(d) if d.is_zero() => None,
            Some(d) => Some(d),
            None => Some(DEFAULT_RECENT_RETENTION),
        },
        seen_retention: raw.storage.seen_retention.unwrap_or(DEFAULT_SEEN_RETENTION),
        maintenance_interval: raw
            .storage
            .maintenance_interval
            .unwrap_or(DEFAULT_MAINTENANCE_INTERVAL),
        article_retention: raw.storage.article_retention.and_then(|k| k.0),
        alert_retention: raw.storage.alert_retention.and_then(|k| k.0),
        delivery_retention: raw
            .storage
            .delivery_retention
            .unwrap_or(DEFAULT_DELIVERY_RETENTION),
        fetch: raw.fetch,
        poll: raw.poll,
        http: raw.http,
        feeds,
        rules: specs,
        concepts: concepts.iter().map(|(c, _, _)| c.clone()).collect(),
        sites: raw.sites,
        sinks,
    };
    Ok(Checked::new(config, problems, path, &rules, &concepts))
}

/// The main file's `[[rules]]`, then each rule file's, in order; rule names unique across
/// all. Each rule comes with its file and line, for messages; rule files' `[[concepts]]` are
/// added to `concepts`.
fn read_rules(
    src: &Source<'_>,
    own: Vec<toml::Spanned<check::RawRule>>,
    rule_files: &[toml::Spanned<String>],
    resolve: &dyn Fn(&Path) -> PathBuf,
    concepts: &mut Vec<(ConceptSpec, PathBuf, usize)>,
    problems: &mut Vec<ConfigProblem>,
) -> Vec<(RuleSpec, PathBuf, usize)> {
    let mut rules = Vec::new();
    take_rules(src, own, &mut rules, problems);
    for rf in rule_files {
        let rpath = resolve(Path::new(rf.get_ref()));
        match source::read(&rpath) {
            Ok(rtext) => take_rule_file(&rpath, &rtext, &mut rules, concepts, problems),
            Err(e) => {
                // Name where the unreadable file was referenced, then what went wrong.
                for mut p in e.problems {
                    p.message = format!(
                        "{} (named in {}:{} key `rule_files`)",
                        p.message,
                        src.path.display(),
                        src.lines.line(rf.span().start)
                    );
                    problems.push(p);
                }
            }
        }
    }
    rules
}

/// Checks the `[[sinks]]` that were read (relative secret paths resolved against `base`).
fn check_sinks(
    src: &Source<'_>,
    raw: Vec<(usize, sink::SinkSpec)>,
    base: &Path,
    rules: &[RuleSpec],
    problems: &mut Vec<ConfigProblem>,
) -> Vec<sink::SinkSpec> {
    let (index, mut sinks): (Vec<usize>, Vec<_>) = raw.into_iter().unzip();
    let rule_names: Vec<&str> = rules.iter().map(|s| s.name.as_str()).collect();
    for p in sink::check_specs(&mut sinks, base, &rule_names) {
        // Entries that could not be read are not in `sinks`: name the entry as in the file.
        let at = index.get(p.index).copied().unwrap_or(p.index);
        let key = format!("sinks[{at}].{}", p.field);
        problems.push(ConfigProblem {
            file: src.path.to_path_buf(),
            line: key_line(src.text, &key),
            key: Some(key),
            message: p.message,
        });
    }
    sinks
}

/// Refuses a config that would leave the daemon with nothing to do: no feeds (nothing is
/// polled) or no rules (nothing can ever alert). Both look healthy while monitoring nothing,
/// so `run`, `poll --once`, a reload and `config check` refuse them.
///
/// # Errors
/// One problem per missing part, naming the config file.
pub fn require_work(cfg: &Config) -> Result<(), ConfigError> {
    let mut problems = Vec::new();
    let text = std::fs::read_to_string(&cfg.path).unwrap_or_default();
    if cfg.feeds.is_empty() {
        problems.push(problem(
            &cfg.path,
            key_line(&text, "feeds").or(Some(1)),
            "feeds",
            "no feeds are configured, so nothing would be polled; add a [[feeds]] table (or `feedwatch feeds add URL`)",
        ));
    }
    if cfg.rules.is_empty() {
        problems.push(problem(
            &cfg.path,
            key_line(&text, "rule_files")
                .or_else(|| key_line(&text, "rules"))
                .or(Some(1)),
            "rules",
            "no rules are configured, so nothing could ever alert; add [[rules]] or name a rule file in `rule_files`",
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigError { problems })
    }
}

#[cfg(test)]
mod tests;
