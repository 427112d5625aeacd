//! Command line: what people and scripts type. Names and JSON keys here are a stable
//! interface (other tools depend on them).
//!
//! Each command returns an exit code; errors that make a command impossible (no config, no
//! database) come back as `anyhow` errors to `main`, which prints them and exits 2. The
//! other codes: [`EXIT_IN_USE`] and [`EXIT_FAULT`]. Text from feeds and pages is printed
//! through `safe_text::printable` only.

mod daemon;
pub mod db;
pub mod digest;
mod docs;
pub mod feeds;
mod history;
mod inspect;
pub mod json;
pub mod model;
pub mod output;
pub mod progress;
pub mod search;
pub mod status;
mod status_pg;

use daemon::*;
use history::*;
use inspect::*;
pub use output::Format;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use feedwatch::alert;
use feedwatch::app::Loaded;
use feedwatch::config::{self, Env};
use feedwatch::extract::Extractor;
use feedwatch::fetch::Fetcher;
use feedwatch::rules::{Document, RuleSet};
use feedwatch::store::reader::Reader;
use feedwatch::store::Store;
use feedwatch::text::safe_text::printable;

pub use feedwatch::app::EXIT_FAULT;

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
    /// One report of a window of alerts: stories (syndicated copies folded), a chart of
    /// alerts per hour or day and rule, and feed health. HTML is one self-contained page
    /// (inline SVG, no scripts, nothing loaded from elsewhere), fit to mail.
    ///
    /// Example: feedwatch digest --since 24h --format html --output /var/www/digest.html
    Digest(digest::DigestArgs),
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
        action: feeds::FeedsAction,
    },
    /// Full-text search over kept articles, in the rule query syntax. Exit 0 if anything
    /// matched, 1 if nothing did, 2 on a bad query.
    ///
    /// Example: feedwatch search '"green zone" AND rocket*' --since 30d
    Search(search::SearchArgs),
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
    /// Database maintenance: stats, online backup, integrity check, one-time vacuum.
    ///
    /// Example: feedwatch db backup /var/backups/feedwatch/feedwatch-2026-12-03.db
    Db {
        /// What to do with the database.
        #[command(subcommand)]
        action: db::DbAction,
    },
    /// Alert sinks (webhooks, programs). Their state is in `status`.
    Sinks {
        /// What to do with the sinks.
        #[command(subcommand)]
        action: SinksAction,
    },
    /// Rule models: train one on the labelled cases, measure a pack with its models.
    ///
    /// Example: feedwatch model eval --cases tests/fixtures/rules_labelled --rules config/rules.toml
    Model {
        /// What to do.
        #[command(subcommand)]
        action: model::ModelAction,
    },
    /// Print a shell completion script for every command and option.
    ///
    /// Example: feedwatch completions bash > /usr/share/bash-completion/completions/feedwatch
    Completions {
        /// The shell (bash, zsh, fish, elvish, powershell).
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages: feedwatch.1 and one page per subcommand (feedwatch-db-backup.1…).
    ///
    /// Example: feedwatch man /usr/share/man/man1
    Man {
        /// The folder to write into (created if missing).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
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

/// Loads the configuration the global options point at, its rules compiled, for the
/// commands here: each runs on either backend (through `store::reader::Reader`, or without
/// the database: `check`, `parse`, `extract`).
fn load_config(cli: &Cli) -> Result<Loaded> {
    let path = config::locate(cli.config.as_deref())?;
    Ok(feedwatch::app::load_config_with(
        &path,
        &Env::from_process(),
        config::Backends::Both,
    )?)
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
        Command::Status { format } => status(&cli, *format).await,
        Command::Digest(args) => digest::run(cli.config.as_deref(), args).await,
        Command::Parse { format, source } => parse(&cli, *format, source).await,
        Command::Extract { url, format, file } => extract(&cli, *format, url.as_deref(), file),
        Command::Config {
            action: ConfigAction::Check,
        } => config_check(&cli),
        Command::Backtest {
            rules,
            since,
            format,
        } => backtest(&cli, rules, *since, *format).await,
        Command::Feeds { action } => feeds::run(cli.config.as_deref(), action),
        Command::Search(args) => search::run(cli.config.as_deref(), args).await,
        Command::Db { action } => db::run(cli.config.as_deref(), action),
        Command::Sinks {
            action: SinksAction::Retry { name },
        } => sinks_retry(&cli, name).await,
        Command::Model { action } => model::run(action),
        Command::Completions { shell } => docs::completions(*shell, &mut std::io::stdout().lock()),
        Command::Man { dir } => docs::man_pages(dir),
    }
}

/// `sinks retry`: rejected deliveries of one sink become pending again.
async fn sinks_retry(cli: &Cli, name: &str) -> Result<u8> {
    let cfg = load_config(cli)?.config;
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
    let now = chrono::Utc::now().timestamp();
    let n = match cfg.backend() {
        config::Backend::Sqlite(path) => Store::open(path)?.retry_failed_sink(name, now)?,
        config::Backend::Postgres(settings) => {
            let pg = feedwatch::store::pg::connect(settings)?;
            feedwatch::store::pg::migrate(&pg).await?;
            usize::try_from(pg.retry_failed_sink(name, now).await?).unwrap_or(usize::MAX)
        }
    };
    println!(
        "{n} rejected deliveries to `{name}` queued again; a running daemon sends them at its next sink tick"
    );
    Ok(0)
}

/// `status`: see [`mod@status`].
async fn status(cli: &Cli, format: Format) -> Result<u8> {
    Ok(status::run(&load_config(cli)?.config, format).await?)
}

/// `config check`: every problem, exit 2 on any.
fn config_check(cli: &Cli) -> Result<u8> {
    let path = config::locate(cli.config.as_deref())?;
    // Checked as the daemon reads it: on PostgreSQL too, with what `run` refuses there.
    let env = Env::from_process();
    match feedwatch::app::load_config_with(&path, &env, config::Backends::Both).and_then(|l| {
        config::require_work(&l.config)?;
        Ok(l.config)
    }) {
        Ok(cfg) => {
            if let Err(e) = Extractor::new(&cfg.sites) {
                eprintln!("{}: [[sites]]: {e}", path.display());
                return Ok(2);
            }
            let database = match cfg.backend() {
                config::Backend::Sqlite(p) => p.display().to_string(),
                config::Backend::Postgres(pg) => pg.redacted(),
            };
            println!(
                "{}: ok ({} feeds, {} rules; database {database}, alert log {})",
                path.display(),
                cfg.feeds.len(),
                cfg.rules.len(),
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
