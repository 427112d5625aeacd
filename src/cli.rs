//! Command line: what people and scripts type. Names and JSON keys here are a stable
//! interface (other tools depend on them).
//!
//! Each command returns an exit code; errors that make a command impossible (no config, no
//! database) come back as `anyhow` errors to `main`, which prints them and exits 2. The
//! other codes: [`EXIT_IN_USE`] and [`EXIT_FAULT`]. Text from feeds and pages is printed
//! through `safe_text::printable` only.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::alert::{self, AlertLog};
use crate::config::{self, Config, Env};
use crate::extract::Extractor;
use crate::fetch::Fetcher;
use crate::health::{self, Fault};
use crate::pipeline::Pipeline;
use crate::rules::{Document, RuleSet};
use crate::safe_text::printable;
use crate::schedule::{self, Runtime, Writer};
use crate::sink::{SinkOptions, SinkSet};
use crate::store::lock::{DbLock, LockError};
use crate::store::Store;

/// Exit code of `run` and `poll` when another feedwatch holds the database.
pub const EXIT_IN_USE: u8 = 3;
/// Exit code when the service could not do its job: a commit or the alert log failed during
/// `poll --once`, the database failed its integrity check at start, or it was deleted under
/// `run` (which stops so the service manager restarts it). `status` exits with it too while
/// the daemon reports a fault or the database is damaged.
pub const EXIT_FAULT: u8 = 4;

/// feedwatch: watches news feeds and raises keyword alerts.
#[derive(Debug, Parser)]
#[command(name = "feedwatch", version, about, long_about = None)]
pub struct Cli {
    /// Config file [default: $FEEDWATCH_CONFIG, ./config/feedwatch.toml, /etc/feedwatch/feedwatch.toml]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output formats.
// Variant docs would turn `--help`'s one line of possible values into a list; the names say it.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Output formats of commands.
// Variant docs would turn `--help`'s one line of possible values into a list; the names say it.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: poll each feed on its interval until SIGTERM/SIGINT.
    ///
    /// Example: feedwatch --config /etc/feedwatch/feedwatch.toml run
    Run {
        /// How long in-flight polls may take to finish at shutdown.
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        grace: Duration,
    },
    /// Poll every feed once, deliver alerts, exit.
    ///
    /// Example: feedwatch poll --once
    Poll {
        /// Poll once and exit (the only mode; `run` is the loop).
        #[arg(long, required = true)]
        once: bool,
    },
    /// Match article files against the rules without storing anything. Exit 0 if any file
    /// matched, 1 if none did, 2 on error.
    ///
    /// A FILE is plain text (first non-empty line is the title) or an HTML page (extracted
    /// first); `-` is stdin. Example: feedwatch check article.txt
    Check {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Print each rule's tree with which branches held.
        #[arg(long)]
        explain: bool,
        /// Article files (text or HTML); `-` reads stdin.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<String>,
    },
    /// Stored alerts, newest last.
    ///
    /// Example: feedwatch alerts --since 24h --rule green-zone --format json
    Alerts {
        /// Only alerts newer than this (e.g. 30m, 24h, 7d).
        #[arg(long, value_parser = humantime::parse_duration)]
        since: Option<Duration>,
        /// Only this rule's alerts.
        #[arg(long)]
        rule: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Keep printing new alerts as they are delivered.
        #[arg(long)]
        follow: bool,
    },
    /// Per-feed state: last poll, status or error, failures, next poll, counts.
    ///
    /// Example: feedwatch status --format json
    Status {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Parse one feed (file or URL) and print its normalised items. Exit 2 if it is not a feed.
    ///
    /// Example: feedwatch parse https://example.com/rss.xml
    Parse {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// A feed file, or an http(s) URL.
        #[arg(value_name = "FILE|URL")]
        source: String,
    },
    /// Extract the article text from an HTML page (file or `-` for stdin).
    ///
    /// Example: feedwatch extract --url https://example.com/a.html page.html
    Extract {
        /// The page's URL (resolves links, selects [[sites]] rules).
        #[arg(long)]
        url: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// The HTML page, or `-` for stdin.
        #[arg(value_name = "FILE|-")]
        file: String,
    },
    /// Configured feeds: list, add, remove, OPML import and export.
    ///
    /// Example: feedwatch feeds add https://example.com/rss.xml --name "Example" --tag iraq
    Feeds {
        /// What to do with the feed list.
        #[command(subcommand)]
        action: crate::feeds_cmd::FeedsAction,
    },
    /// Full-text search over kept articles, in the rule query syntax. Exit 0 if anything
    /// matched, 1 if nothing did, 2 on a bad query.
    ///
    /// Example: feedwatch search '"green zone" AND rocket*' --since 30d
    Search(crate::search_cmd::SearchArgs),
    /// Try rules on what was already seen: stored articles, and the text of items seen in
    /// the retention period (`[storage] recent_text_retention`). Exit 0 if anything matched,
    /// 1 if nothing did, 2 on error.
    ///
    /// RULES is a rule file with [[rules]] tables, or a query.
    /// Example: feedwatch backtest '"green zone" NEAR/10 drone*' --since 7d
    Backtest {
        /// A rule file, or one query.
        #[arg(value_name = "RULE_FILE|QUERY")]
        rules: String,
        /// Only documents seen in this period.
        #[arg(long, default_value = "30d", value_parser = humantime::parse_duration)]
        since: Duration,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Configuration tools.
    Config {
        /// What to do with the config.
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Alert sinks (webhooks, programs). Their state is in `status`.
    Sinks {
        /// What to do with the sinks.
        #[command(subcommand)]
        action: SinksAction,
    },
}

/// `sinks` subcommands.
#[derive(Debug, Subcommand)]
pub enum SinksAction {
    /// Queue a sink's rejected deliveries again (after fixing the receiver, say): a running
    /// daemon sends them at its next sink tick, `poll --once` at once. Exit 2 for a sink that
    /// is not configured.
    ///
    /// Example: feedwatch sinks retry ops-webhook
    Retry {
        /// The sink's `name` in `[[sinks]]`.
        name: String,
    },
}

/// `config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Validate the config and rules; print every problem; exit 2 on any.
    ///
    /// Example: feedwatch --config /etc/feedwatch/feedwatch.toml config check
    Check,
}

/// Loads the configuration the global options point at.
fn load_config(cli: &Cli) -> Result<Config> {
    let path = config::locate(cli.config.as_deref())?;
    Ok(config::load(&path, &Env::from_process())?)
}

/// Runs the parsed command; returns the process exit code.
///
/// # Errors
/// When the command cannot run at all (config, database, I/O).
pub async fn run(cli: Cli) -> Result<u8> {
    match &cli.command {
        Command::Run { grace } => daemon(&cli, Some(*grace)).await,
        Command::Poll { .. } => daemon(&cli, None).await,
        Command::Check {
            format,
            explain,
            files,
        } => check(&cli, *format, *explain, files),
        Command::Alerts {
            since,
            rule,
            format,
            follow,
        } => alerts(&cli, *since, rule.as_deref(), *format, *follow).await,
        Command::Status { format } => status(&cli, *format),
        Command::Parse { format, source } => parse(&cli, *format, source).await,
        Command::Extract { url, format, file } => extract(&cli, *format, url.as_deref(), file),
        Command::Config {
            action: ConfigAction::Check,
        } => config_check(&cli),
        Command::Backtest {
            rules,
            since,
            format,
        } => backtest(&cli, rules, *since, *format),
        Command::Feeds { action } => crate::feeds_cmd::run(cli.config.as_deref(), action),
        Command::Search(args) => crate::search_cmd::run(cli.config.as_deref(), args),
        Command::Sinks {
            action: SinksAction::Retry { name },
        } => sinks_retry(&cli, name),
    }
}

/// `sinks retry`: rejected deliveries of one sink become pending again.
fn sinks_retry(cli: &Cli, name: &str) -> Result<u8> {
    let cfg = load_config(cli)?;
    if !cfg.sinks.iter().any(|s| s.name == name) {
        let known: Vec<&str> = cfg.sinks.iter().map(|s| s.name.as_str()).collect();
        eprintln!(
            "feedwatch: no sink named `{name}` in the config (configured: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
        return Ok(2);
    }
    let mut store = Store::open(&cfg.database)?;
    let n = store.retry_failed_sink(name, chrono::Utc::now().timestamp())?;
    println!(
        "{n} rejected deliveries to `{name}` queued again; a running daemon sends them at its next sink tick"
    );
    Ok(0)
}

/// Compiles the rules, with every error in one message.
fn compile_rules(cfg: &Config) -> Result<RuleSet> {
    RuleSet::compile_with(&cfg.rules, &cfg.concepts).map_err(|errs| {
        anyhow::anyhow!(errs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"))
    })
}

/// Builds the running components from config: HTTP clients, compiled rules, extractor.
fn build_pipeline(
    cfg: &Config,
    reader: Arc<Mutex<Store>>,
    seen: Arc<crate::store::SeenKeys>,
) -> Result<Pipeline> {
    Ok(Pipeline {
        fetcher: Fetcher::new(&cfg.fetch)
            .context("cannot build the HTTP client")?
            .with_max_pause(cfg.poll.max_interval),
        rules: Arc::new(compile_rules(cfg)?),
        extractor: Arc::new(Extractor::new(&cfg.sites).context("bad [[sites]] rule")?),
        reader,
        seen,
        poll: cfg.poll.clone(),
        pages: Default::default(),
        recent_retention: cfg.recent_text_retention,
    })
}

/// Registers the configured feeds in the database (new ones are due at once).
fn sync_feeds(store: &mut Store, cfg: &Config) -> Result<()> {
    store.sync_feeds(
        cfg.feeds
            .iter()
            .map(|f| (f.url.as_str(), f.name.as_deref())),
        chrono::Utc::now().timestamp(),
    )?;
    Ok(())
}

/// Takes the database's lock and publishes this process's faults into it; `Err(code)` when
/// another process holds it.
fn take_lock(cfg: &Config) -> Result<std::result::Result<Arc<DbLock>, u8>> {
    let held = match DbLock::acquire(&cfg.database) {
        Ok(l) => Arc::new(l),
        Err(e @ LockError::Held { .. }) => {
            tracing::error!(error = %e, "not starting");
            eprintln!("feedwatch: {e}");
            return Ok(Err(EXIT_IN_USE));
        }
        Err(e) => return Err(e.into()),
    };
    let publisher = held.clone();
    health::set_publisher(move |faults| {
        if let Err(e) = publisher.write_health(faults) {
            tracing::warn!(error = %e, "cannot write the service health into the lock file");
        }
    });
    Ok(Ok(held))
}

/// `PRAGMA quick_check` at start: polling on a damaged database fails every commit while it
/// looks as if it runs. `Some(code)` when it failed.
fn integrity_gate(store: &Store) -> Option<u8> {
    let problems = match store.quick_check() {
        Ok(p) if p.is_empty() => return None,
        Ok(p) => p.join("; "),
        Err(e) => e.to_string(),
    };
    let why = format!(
        "database {} failed its integrity check (PRAGMA quick_check: {problems})",
        store.path().display()
    );
    health::set(Fault::Integrity, why.clone());
    eprintln!(
        "feedwatch: {why}; not polling. Restore it from a backup, or move it away to start a new one"
    );
    Some(EXIT_FAULT)
}

/// The exit code once the work is done: [`EXIT_FAULT`] when the database went away, or when
/// a `poll --once` (no grace) met a failed commit or alert log write.
fn fault_exit(once: bool) -> u8 {
    let raised = health::raised();
    let fatal = raised.contains(&Fault::DatabaseGone);
    let failed_once = once && !raised.is_empty();
    if !fatal && !failed_once {
        return 0;
    }
    let names: Vec<&str> = raised.iter().map(|f| f.name()).collect();
    let still = health::describe(&health::active());
    eprintln!(
        "feedwatch: stopped with service faults ({}){}{}",
        names.join(", "),
        if still.is_empty() { "" } else { ":\n" },
        still.trim_end()
    );
    EXIT_FAULT
}

/// `run` (grace = Some) and `poll --once` (grace = None).
async fn daemon(cli: &Cli, grace: Option<Duration>) -> Result<u8> {
    let cfg = load_config(cli)?;
    // A config with no feeds or no rules would run healthy and silent: refuse it.
    config::require_work(&cfg)?;
    let _lock = match take_lock(&cfg)? {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let mut store = Store::open(&cfg.database)?;
    if let Some(code) = integrity_gate(&store) {
        return Ok(code);
    }
    sync_feeds(&mut store, &cfg)?;
    let repaired = alert::reconcile(&mut store, &cfg.alert_log)?;
    if repaired > 0 {
        tracing::info!(
            alerts = repaired,
            "alerts found in the log but not marked delivered: marked now"
        );
    }
    let log = AlertLog::open(&cfg.alert_log)?;
    let reader = Arc::new(Mutex::new(Store::open(&cfg.database)?));
    // The writer's view of seen items, shared with the pipeline: what the writer commits
    // is immediately known as seen.
    let seen = store.seen_keys()?;
    let pipeline = build_pipeline(&cfg, reader, seen)?;
    tracing::info!(
        config = %cfg.path.display(), database = %cfg.database.display(),
        alert_log = %cfg.alert_log.display(), feeds = cfg.feeds.len(), rules = cfg.rules.len(),
        "feedwatch started"
    );
    // Sinks get their own stop: they keep delivering while the writer finishes, then stop.
    let sinks = Arc::new(
        SinkSet::start(
            &cfg.database,
            &cfg.sinks,
            SinkOptions::default(),
            CancellationToken::new(),
        )
        .await
        .context("cannot start the alert sinks")?,
    );
    let waker = sinks.waker();
    let writer =
        Writer::start(store, log, move || waker.wake()).context("cannot start the writer")?;
    let tx = writer.sender();
    let shutdown = CancellationToken::new();
    // A fault that cannot be mended in place (the database deleted) stops the work.
    let fatal = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            health::fatal().cancelled().await;
            tracing::error!("stopping: a fatal service fault (see above)");
            shutdown.cancel();
        })
    };
    let ticks_stop = CancellationToken::new();
    let ticks = tokio::spawn(schedule::health_ticks(tx.clone(), ticks_stop.clone()));
    let res = match grace {
        None => {
            let signals = tokio::spawn(watch_signals(shutdown.clone()));
            let r = schedule::poll_once(&pipeline, &cfg.feeds, &tx, &shutdown).await;
            signals.abort();
            r
        }
        Some(grace) => {
            let runtime = Arc::new(Runtime {
                pipeline,
                feeds: cfg.feeds.clone(),
            });
            let (rt_tx, rt_rx) = tokio::sync::watch::channel(runtime);
            let http_stop = CancellationToken::new();
            if let Some(addr) = cfg.http.listen {
                let listener = crate::metrics::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} ([http] listen)"))?;
                let stop = http_stop.clone();
                tokio::spawn(async move {
                    if let Err(e) = crate::metrics::serve(listener, stop).await {
                        tracing::error!(error = %e, "metrics listener failed");
                    }
                });
            }
            let _http_guard = http_stop.drop_guard();
            crate::notify::ready();
            crate::notify::status(&format!("{} feeds; first poll starting", cfg.feeds.len()));
            let signals = tokio::spawn(daemon_signals(
                cfg,
                rt_tx,
                tx.clone(),
                sinks.clone(),
                shutdown.clone(),
            ));
            let r = schedule::run(rt_rx, &tx, &shutdown, grace).await;
            signals.abort();
            r
        }
    };
    ticks_stop.cancel();
    let _ = ticks.await;
    fatal.abort();
    drop(tx);
    tokio::task::spawn_blocking(move || writer.finish())
        .await
        .context("writer did not finish")?;
    match grace {
        Some(grace) => sinks.shutdown(grace).await,
        // `poll --once`: send what is due now (a sink that is down is retried next time).
        None => sinks.drain(Duration::from_secs(30)).await,
    }
    res?;
    tracing::info!("feedwatch stopped");
    Ok(fault_exit(grace.is_none()))
}

/// Cancels `shutdown` on SIGTERM or SIGINT.
async fn watch_signals(shutdown: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::error!("cannot install signal handlers");
            return;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received: stopping"),
            _ = int.recv() => tracing::info!("SIGINT received: stopping"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    shutdown.cancel();
}

/// The daemon's signals: SIGTERM/SIGINT stop it; SIGHUP reloads config and rules (an
/// invalid new config is refused and the old one keeps running) and reopens the alert log.
async fn daemon_signals(
    mut cfg: Config,
    runtime: tokio::sync::watch::Sender<Arc<Runtime>>,
    writer: tokio::sync::mpsc::Sender<schedule::WriterMsg>,
    sinks: Arc<SinkSet>,
    shutdown: CancellationToken,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM received: stopping"); break; }
            _ = int.recv() => { tracing::info!("SIGINT received: stopping"); break; }
            _ = hup.recv() => {
                tracing::info!(config = %cfg.path.display(), "SIGHUP received: reloading config and rules, reopening the alert log");
                crate::notify::reloading();
                let _ = writer.send(schedule::WriterMsg::ReopenLog).await;
                let (reader, seen) = {
                    let rt = runtime.borrow();
                    (rt.pipeline.reader.clone(), rt.pipeline.seen.clone())
                };
                match reload(&cfg, reader, seen) {
                    Ok((new_cfg, rt)) => match sinks.reload(&new_cfg.sinks, Duration::from_secs(10)).await {
                        Ok(()) => {
                            tracing::info!(feeds = new_cfg.feeds.len(), rules = new_cfg.rules.len(), sinks = new_cfg.sinks.len(), "reload applied");
                            cfg = new_cfg;
                            let _ = runtime.send(Arc::new(rt));
                        }
                        Err(e) => tracing::error!(error = %e, "reload refused: the previous configuration keeps running"),
                    },
                    Err(e) => tracing::error!(error = %format!("{e:#}"), "reload refused: the previous configuration keeps running"),
                }
                crate::notify::ready();
            }
        }
    }
    shutdown.cancel();
}

/// Loads and builds a new runtime for a reload.
fn reload(
    old: &Config,
    reader: Arc<Mutex<Store>>,
    seen: Arc<crate::store::SeenKeys>,
) -> Result<(Config, Runtime)> {
    let mut cfg = config::load(&old.path, &Env::from_process())?;
    // An emptied or half-written config would mute the daemon while it looks healthy.
    config::require_work(&cfg)?;
    // The writer, the sinks and the alert log stay on the files they opened; the running
    // config keeps naming those, so later reloads sync feeds into the database in use.
    if cfg.database != old.database {
        tracing::warn!(configured = %cfg.database.display(), in_use = %old.database.display(),
            "[storage] database changed: takes effect on restart; the daemon keeps using the current database");
    }
    if cfg.alert_log != old.alert_log {
        tracing::warn!(configured = %cfg.alert_log.display(), in_use = %old.alert_log.display(),
            "[alerts] log changed: takes effect on restart; the daemon keeps writing the current log");
    }
    cfg.database.clone_from(&old.database);
    cfg.alert_log.clone_from(&old.alert_log);
    let pipeline = build_pipeline(&cfg, reader, seen)?;
    let mut store = Store::open(&old.database)?;
    sync_feeds(&mut store, &cfg)?;
    let feeds = cfg.feeds.clone();
    Ok((cfg, Runtime { pipeline, feeds }))
}

/// Reads a FILE argument (`-` is stdin).
fn read_input(file: &str) -> Result<Vec<u8>> {
    if file == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("cannot read stdin")?;
        return Ok(buf);
    }
    std::fs::read(file).with_context(|| format!("cannot read {file}"))
}

fn looks_like_html(file: &str, bytes: &[u8]) -> bool {
    let lower = file.to_ascii_lowercase();
    lower.ends_with(".html")
        || lower.ends_with(".htm")
        || bytes
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|&b| b == b'<')
}

/// `check`: title and body from each file, matched against the rules.
fn check(cli: &Cli, format: Format, explain: bool, files: &[String]) -> Result<u8> {
    let cfg = load_config(cli)?;
    let rules = compile_rules(&cfg)?;
    let extractor = Extractor::new(&cfg.sites)?;
    let mut any = false;
    let mut out = std::io::stdout().lock();
    for file in files {
        let bytes = read_input(file)?;
        let (title, body) = if looks_like_html(file, &bytes) {
            let (html, _) = crate::charset::decode_html(&bytes, None);
            let ex = extractor.extract(&html, None);
            (ex.title.unwrap_or_default(), ex.text)
        } else {
            let text = String::from_utf8_lossy(&bytes);
            let text = text.trim_start();
            let (t, b) = text.split_once('\n').unwrap_or((text, ""));
            (t.trim().to_string(), b.trim().to_string())
        };
        let doc = Document {
            title: &title,
            summary: "",
            body: &body,
            url: "",
            feed: "",
            feed_tags: &[],
        };
        let matches = rules.matches(&doc);
        any |= !matches.is_empty();
        match format {
            Format::Json => {
                let ms: Vec<_> = matches
                    .iter()
                    .map(|m| {
                        json!({
                            "rule": m.rule,
                            "severity": m.severity,
                            "terms": distinct_terms(m),
                            "hits": m.terms,
                            "snippet": m.snippet,
                        })
                    })
                    .collect();
                writeln!(
                    out,
                    "{}",
                    json!({"file": file, "title": title, "matches": ms})
                )?;
            }
            Format::Text => {
                writeln!(
                    out,
                    "{}: {}",
                    printable(file, false),
                    printable(&title, false)
                )?;
                if matches.is_empty() {
                    writeln!(out, "  no rule matched")?;
                }
                for m in &matches {
                    writeln!(
                        out,
                        "  [{}] {}  terms: {}\n      {}",
                        m.severity,
                        m.rule,
                        printable(&terms_with_via(m).join(", "), false),
                        printable(&m.snippet, false)
                    )?;
                }
            }
        }
        if explain {
            for e in rules.explain(&doc) {
                writeln!(out, "{}", printable(&e.to_string(), true))?;
            }
        }
    }
    Ok(if any { 0 } else { 1 })
}

/// The distinct words, each followed by the stem or concept it was found through, if any:
/// `stormed (~storm in @attack)`.
fn terms_with_via(m: &crate::rules::Match) -> Vec<String> {
    let words = crate::rules::distinct_terms(m.terms.iter().map(|t| t.term.as_str()));
    words
        .into_iter()
        .filter_map(|w| m.terms.iter().find(|t| t.term == w))
        .map(|t| match &t.via {
            Some(via) => format!("{} ({via})", t.term),
            None => t.term.clone(),
        })
        .collect()
}

fn distinct_terms(m: &crate::rules::Match) -> Vec<String> {
    crate::rules::distinct_terms(m.terms.iter().map(|t| t.term.as_str()))
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// `alerts`: stored alerts, oldest first; `--follow` keeps printing new ones.
async fn alerts(
    cli: &Cli,
    since: Option<Duration>,
    rule: Option<&str>,
    format: Format,
    follow: bool,
) -> Result<u8> {
    let cfg = load_config(cli)?;
    let store = Store::open(&cfg.database)?;
    let since = since.map_or(0, |d| {
        chrono::Utc::now().timestamp() - i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2)
    });
    let print = |a: &crate::store::AlertRecord| -> Result<()> {
        let mut out = std::io::stdout().lock();
        match format {
            Format::Json => writeln!(out, "{}", alert::to_json(a))?,
            Format::Text => write!(out, "{}", alert::to_text(a))?,
        }
        out.flush()?;
        Ok(())
    };
    let mut last = 0;
    for a in store.alerts(since, rule)? {
        last = last.max(a.id);
        print(&a)?;
    }
    if !follow {
        return Ok(0);
    }
    let stop = CancellationToken::new();
    tokio::spawn(watch_signals(stop.clone()));
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ok(0),
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        for a in store.delivered_alerts_after(last)? {
            last = last.max(a.id);
            if rule.is_none_or(|r| r == a.rule) {
                print(&a)?;
            }
        }
    }
}

/// `status`: see [`crate::status_cmd`].
fn status(cli: &Cli, format: Format) -> Result<u8> {
    Ok(crate::status_cmd::run(&load_config(cli)?, format)?)
}

/// `parse`: one feed's normalised items.
async fn parse(cli: &Cli, format: Format, source: &str) -> Result<u8> {
    let (bytes, ct, base) = if source.starts_with("http://") || source.starts_with("https://") {
        let fetch_cfg = load_config(cli).map(|c| c.fetch).unwrap_or_default();
        let fetcher = Fetcher::new(&fetch_cfg)?;
        match fetcher.feed(source, &Default::default()).await? {
            crate::fetch::FeedResponse::Fetched(f) => (f.body, f.content_type, Some(f.url)),
            crate::fetch::FeedResponse::NotModified { .. } => bail!("{source}: 304 Not Modified"),
        }
    } else {
        let b = read_input(source)?;
        let base = std::path::absolute(Path::new(source))
            .ok()
            .and_then(|p| url::Url::from_file_path(p).ok());
        (b, None, base)
    };
    let feed = match crate::feed::parse(&bytes, ct.as_deref(), base.as_ref(), usize::MAX) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("feedwatch: {source}: {e}");
            return Ok(2);
        }
    };
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => {
            let items: Vec<_> = feed
                .items
                .iter()
                .map(|it| {
                    json!({
                        "id": it.guid,
                        "title": it.title,
                        "link": it.link,
                        "published": it.published.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                        "summary_chars": it.summary.chars().count(),
                    })
                })
                .collect();
            writeln!(
                out,
                "{}",
                json!({"title": feed.title, "format": feed.format.to_string(), "items": items})
            )?;
        }
        Format::Text => {
            writeln!(
                out,
                "{} ({}, {} items)",
                printable(feed.title.as_deref().unwrap_or("(untitled)"), false),
                feed.format,
                feed.items.len()
            )?;
            for it in &feed.items {
                writeln!(
                    out,
                    "- {}\n  {}\n  published: {}  id: {}  summary: {} chars",
                    printable(&it.title, false),
                    printable(it.link.as_deref().unwrap_or("(no link)"), false),
                    it.published.map_or("-".into(), |t| t
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                    printable(it.guid.as_deref().unwrap_or("-"), false),
                    it.summary.chars().count()
                )?;
            }
        }
    }
    Ok(0)
}

/// `extract`: the article body of one page.
fn extract(cli: &Cli, format: Format, url: Option<&str>, file: &str) -> Result<u8> {
    let bytes = read_input(file)?;
    let url = url
        .map(url::Url::parse)
        .transpose()
        .context("--url is not a valid URL")?;
    let (html, _) = crate::charset::decode_html(&bytes, None);
    // Per-site rules apply when a config is at hand; without one, the heuristic alone.
    let sites = load_config(cli).map(|c| c.sites).unwrap_or_default();
    let ex = Extractor::new(&sites)?.extract(&html, url.as_ref());
    let mut out = std::io::stdout().lock();
    match format {
        Format::Text => writeln!(out, "{}", printable(&ex.text, true))?,
        Format::Json => writeln!(
            out,
            "{}",
            json!({
                "title": ex.title,
                "published": ex.published.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                "author": ex.author,
                "lang": ex.lang,
                "canonical_url": ex.canonical_url,
                "text": ex.text,
            })
        )?,
    }
    Ok(0)
}

/// `backtest`: a rule file or query over stored articles and recent item texts.
fn backtest(cli: &Cli, rules: &str, since: Duration, format: Format) -> Result<u8> {
    let cfg = load_config(cli)?;
    let (specs, concepts) = if Path::new(rules).is_file() {
        let file = config::load_rule_file(Path::new(rules), &cfg.concepts)?;
        (file.rules, file.concepts)
    } else {
        let rule = crate::rules::RuleSpec {
            name: "query".into(),
            query: rules.to_string(),
            severity: crate::rules::Severity::Medium,
            feeds: vec![],
            exclude: None,
        };
        (vec![rule], cfg.concepts.clone())
    };
    let set = RuleSet::compile_with(&specs, &concepts).map_err(|errs| {
        anyhow::anyhow!(errs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"))
    })?;
    let store = Store::open(&cfg.database)?;
    let from =
        chrono::Utc::now().timestamp() - i64::try_from(since.as_secs()).unwrap_or(i64::MAX / 2);
    let kept = store.articles_since(from)?;
    let recent = store.recent_items_since(from)?;
    let tags_of = |feed: &str| -> Vec<String> {
        cfg.feeds
            .iter()
            .find(|f| f.display_name() == feed)
            .map(|f| f.tags.clone())
            .unwrap_or_default()
    };
    let mut out = std::io::stdout().lock();
    let mut hits = 0usize;
    let mut by_rule: std::collections::BTreeMap<String, usize> = Default::default();
    for (source, row) in kept
        .iter()
        .map(|r| ("article", r))
        .chain(recent.iter().map(|r| ("recent", r)))
    {
        let tags = tags_of(&row.feed);
        let doc = Document {
            title: &row.title,
            summary: &row.summary,
            body: &row.body,
            url: row.url.as_deref().unwrap_or(""),
            feed: &row.feed,
            feed_tags: &tags,
        };
        for m in set.matches(&doc) {
            hits += 1;
            *by_rule.entry(m.rule.clone()).or_default() += 1;
            match format {
                Format::Json => writeln!(
                    out,
                    "{}",
                    json!({
                        "rule": m.rule,
                        "severity": m.severity,
                        "source": source,
                        "time": alert::rfc3339(row.fetched_at),
                        "feed": row.feed,
                        "title": row.title,
                        "url": row.url,
                        "terms": distinct_terms(&m),
                        "snippet": m.snippet,
                    })
                )?,
                Format::Text => writeln!(
                    out,
                    "{}  [{}] {}  [{}]  {}\n    {}\n    terms: {}\n    {}",
                    alert::rfc3339(row.fetched_at),
                    m.severity,
                    m.rule,
                    printable(&row.feed, false),
                    printable(&row.title, false),
                    printable(row.url.as_deref().unwrap_or("(no link)"), false),
                    printable(&distinct_terms(&m).join(", "), false),
                    printable(&m.snippet, false)
                )?,
            }
        }
    }
    let summary: Vec<String> = by_rule.iter().map(|(r, n)| format!("{r}: {n}")).collect();
    eprintln!(
        "backtest: {} kept articles and {} recent items since {} scanned; {hits} matches{}{}",
        kept.len(),
        recent.len(),
        alert::rfc3339(from),
        if summary.is_empty() { "" } else { " (" },
        if summary.is_empty() {
            String::new()
        } else {
            summary.join(", ") + ")"
        }
    );
    Ok(if hits > 0 { 0 } else { 1 })
}

/// `config check`: every problem, exit 2 on any.
fn config_check(cli: &Cli) -> Result<u8> {
    let path = config::locate(cli.config.as_deref())?;
    match config::load(&path, &Env::from_process()).and_then(|cfg| {
        config::require_work(&cfg)?;
        Ok(cfg)
    }) {
        Ok(cfg) => {
            if let Err(e) = Extractor::new(&cfg.sites) {
                eprintln!("{}: [[sites]]: {e}", path.display());
                return Ok(2);
            }
            println!(
                "{}: ok ({} feeds, {} rules; database {}, alert log {})",
                path.display(),
                cfg.feeds.len(),
                cfg.rules.len(),
                cfg.database.display(),
                cfg.alert_log.display()
            );
            Ok(0)
        }
        Err(e) => {
            for p in &e.problems {
                eprintln!("{p}");
            }
            eprintln!("{} problem(s) found", e.problems.len());
            Ok(2)
        }
    }
}
