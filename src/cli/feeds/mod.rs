//! `feedwatch feeds`: list, add, remove, import and export the configured feeds.
//!
//! Feeds live in the TOML config that people also edit by hand, so `add`, `remove` and
//! `import` change the file in place with `toml_edit`, which keeps every comment, blank line
//! and key order that is not touched (`toml` would re-serialise the whole file and drop the
//! comments). Every edit is checked by loading the edited text with [`load`] (`app::load_config`,
//! the loader the daemon uses), before it replaces the old file; the replacement is a
//! write to a temporary file in the same folder followed by a rename, so a reader (the daemon
//! on SIGHUP) sees the old file or the new one, never half of one.
//!
//! Feed URLs pass the one URL policy ([`config::url`]): `add` and `import` take http(s) only
//! (an OPML file may come from a stranger and must never make the daemon read a local file);
//! a local feed file is written in the config by hand. An imported `feedwatch:interval`
//! outside [`limits::FEED_INTERVAL`] is refused for that outline, not clamped: what lands in
//! the config is what the file said or nothing, and the message names the outline.
//!
//! The daemon does not watch the file: each edit ends by telling the user to reload it.

mod edit;

use edit::ConfigFile;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Subcommand;

use super::output::{write_table, Format};
use feedwatch::config::opml::{self, OpmlError};
use feedwatch::config::url::{self as feed_url, FeedUrlError, Origin};
use feedwatch::config::{self, limits, ConfigError, Env};

/// The config as the daemon loads it (its rules compiled, on either backend: the feeds are
/// in the file, not the database), so an edit that would stop the daemon is refused.
fn load(path: &Path, env: &Env) -> Result<config::Config, ConfigError> {
    feedwatch::app::load_config_with(path, env, config::Backends::Both).map(|l| l.config)
}

/// What to do after a successful edit; printed on stderr so scripts reading stdout are not
/// disturbed.
pub const RELOAD_HINT: &str =
    "reload the daemon to apply it: `systemctl reload feedwatch` (or send it SIGHUP)";

/// `feedwatch feeds …` subcommands.
#[derive(Debug, Subcommand)]
pub enum FeedsAction {
    /// Print the configured feeds: an aligned table, or one JSON object per line.
    ///
    /// Example: feedwatch feeds list --format json
    List {
        /// Output: an aligned table for people, or one JSON object per line for scripts.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Add a feed to the config file, keeping its comments and layout. Refuses a feed that
    /// is already configured.
    ///
    /// Example: feedwatch feeds add https://example.com/rss.xml --name "Example News" --tag iraq --full-text
    Add {
        /// Feed URL, http or https. (A local feed file is written in the config file by hand.)
        url: String,
        /// Name shown in alerts and status (default: the URL).
        #[arg(long)]
        name: Option<String>,
        /// Fetch each new item's page and extract the article text.
        #[arg(long)]
        full_text: bool,
        /// Label for rules' `feeds = [...]`; repeat for several.
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
        /// Poll interval for this feed (e.g. 30m), instead of `[poll] interval`.
        #[arg(long, value_parser = humantime::parse_duration)]
        interval: Option<Duration>,
    },
    /// Remove a feed from the config file. Its stored history stays in the database.
    ///
    /// Example: feedwatch feeds remove https://example.com/rss.xml
    Remove {
        /// The feed's URL, as configured (compared after normalisation).
        url: String,
    },
    /// Add every feed of an OPML file (`-` for stdin), skipping ones already configured.
    /// Folder names and categories become tags. Exit 1 when some outlines were invalid.
    ///
    /// Example: feedwatch feeds import subscriptions.opml
    Import {
        /// The OPML file to read.
        #[arg(value_name = "FILE.opml")]
        file: String,
    },
    /// Print the configured feeds as OPML 2.0 (names, tags as categories).
    ///
    /// Example: feedwatch feeds export > feeds.opml
    Export,
}

/// Why a `feeds` command failed. Messages leave the underlying cause to the error chain
/// (`main` prints `{:#}`), so it is not repeated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FeedsError {
    /// The config file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not TOML (so it cannot be edited).
    #[error("{path}: not valid TOML: {message}")]
    Toml {
        /// The config file.
        path: PathBuf,
        /// What the TOML parser said.
        message: String,
    },
    /// `feeds` exists but is neither `[[feeds]]` tables nor an array of inline tables.
    #[error("{path}: `feeds` must be a list of [[feeds]] tables")]
    FeedsShape {
        /// The config file.
        path: PathBuf,
    },
    /// The current config does not load, so an edit could not be checked against it.
    #[error("the config does not load; fix it first (see `feedwatch config check`):\n{0}")]
    CurrentInvalid(ConfigError),
    /// The edited config would not load; nothing was written.
    #[error("the edited config would be invalid, so it was not written:\n{0}")]
    EditInvalid(ConfigError),
    /// A URL given on the command line is not usable (the source names it and says why).
    #[error("invalid feed URL")]
    BadUrl(#[from] FeedUrlError),
    /// `--interval` outside its bounds.
    #[error("--interval: {0}")]
    BadInterval(String),
    /// `add` of a feed that is already configured.
    #[error("{url} is already configured (as {existing}); nothing changed")]
    Duplicate {
        /// The URL given.
        url: String,
        /// The configured URL it is the same as.
        existing: String,
    },
    /// `remove` of a feed that is not configured.
    #[error("{url} is not a configured feed; see `feedwatch feeds list`")]
    NotFound {
        /// The URL given.
        url: String,
    },
    /// An import would add more than [`MAX_IMPORT`] feeds.
    #[error("the OPML file has {count} new feeds; at most {limit} are imported at once")]
    TooMany {
        /// New feeds in the file.
        count: usize,
        /// The most one import adds ([`MAX_IMPORT`]).
        limit: usize,
    },
    /// Someone else wrote the config while this command was editing it.
    #[error(
        "{path} changed while it was being edited; nothing was written, run the command again"
    )]
    Changed {
        /// The config file.
        path: PathBuf,
    },
    /// Writing or renaming the new config failed.
    #[error("cannot write {path}")]
    Write {
        /// The config file (or its temporary sibling).
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// The OPML file could not be read.
    #[error("cannot import {path}")]
    Opml {
        /// The OPML file.
        path: String,
        /// What the OPML reader said.
        #[source]
        source: OpmlError,
    },
    /// Printing the result failed (e.g. a closed pipe).
    #[error("cannot write output")]
    Output(#[from] std::io::Error),
}

/// Runs one `feeds` subcommand against the config the global options name; returns the exit
/// code.
///
/// # Errors
/// When the config cannot be found, read, edited or written (see [`FeedsError`]).
pub fn run(config_arg: Option<&Path>, action: &FeedsAction) -> anyhow::Result<u8> {
    let path = config::locate(config_arg)?;
    let env = Env::from_process();
    let code = match action {
        FeedsAction::List { format } => list(&path, &env, *format)?,
        FeedsAction::Add {
            url,
            name,
            full_text,
            tags,
            interval,
        } => {
            if let Some(d) = interval {
                limits::FEED_INTERVAL
                    .check(*d)
                    .map_err(FeedsError::BadInterval)?;
            }
            let feed = NewFeed {
                url: feed_url::check(url, Origin::Remote).map_err(FeedsError::BadUrl)?,
                name: name.clone().filter(|n| !n.trim().is_empty()),
                full_text: *full_text,
                tags: tags.clone(),
                interval: *interval,
            };
            add(&path, &env, &feed)?
        }
        FeedsAction::Remove { url } => remove(&path, &env, url)?,
        FeedsAction::Import { file } => import(&path, &env, file)?,
        FeedsAction::Export => {
            let cfg = load(&path, &env).map_err(FeedsError::CurrentInvalid)?;
            std::io::stdout()
                .lock()
                .write_all(opml::export(&cfg.feeds).as_bytes())
                .map_err(FeedsError::Output)?;
            0
        }
    };
    Ok(code)
}

fn cwd() -> PathBuf {
    std::env::current_dir().unwrap_or_default()
}

/// A feed to write into the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFeed {
    /// Already checked and normalised (see [`config::url`]).
    pub url: String,
    /// Display name, written as `name`.
    pub name: Option<String>,
    /// Whether to fetch each item's page (`full_text`).
    pub full_text: bool,
    /// Tags, written as `tags`.
    pub tags: Vec<String>,
    /// Poll interval for this feed, when not the default.
    pub interval: Option<Duration>,
}

/// `feeds list`.
fn list(path: &Path, env: &Env, format: Format) -> Result<u8, FeedsError> {
    let cfg = load(path, env).map_err(FeedsError::CurrentInvalid)?;
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => {
            for f in &cfg.feeds {
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string(&crate::cli::json::FeedLine {
                        full_text: f.full_text,
                        interval_secs: f.interval.map(|d| d.as_secs()),
                        name: f.name.as_deref(),
                        tags: &f.tags,
                        url: &f.url,
                    })
                    .map_err(std::io::Error::other)?
                )?;
            }
        }
        Format::Text => {
            let rows: Vec<[String; 5]> = cfg
                .feeds
                .iter()
                .map(|f| {
                    [
                        f.name.clone().unwrap_or_else(|| "-".into()),
                        f.url.clone(),
                        if f.tags.is_empty() {
                            "-".into()
                        } else {
                            f.tags.join(",")
                        },
                        if f.full_text { "yes" } else { "no" }.into(),
                        f.interval.map_or_else(
                            || "default".into(),
                            |d| humantime::format_duration(d).to_string(),
                        ),
                    ]
                })
                .collect();
            let header = ["NAME", "URL", "TAGS", "FULL TEXT", "INTERVAL"].map(String::from);
            write_table(&mut out, &header, &rows)?;
        }
    }
    Ok(0)
}

/// `feeds add`.
fn add(path: &Path, env: &Env, feed: &NewFeed) -> Result<u8, FeedsError> {
    let current = load(path, env).map_err(FeedsError::CurrentInvalid)?;
    let key = dedup_key(&feed.url);
    if let Some(f) = current.feeds.iter().find(|f| dedup_key(&f.url) == key) {
        return Err(FeedsError::Duplicate {
            url: feed.url.clone(),
            existing: f.display_name().to_string(),
        });
    }
    let mut file = ConfigFile::open(path)?;
    file.add(feed)?;
    file.commit(env)?;
    eprintln!(
        "feedwatch: added {} to {}; {RELOAD_HINT}",
        feed.url,
        file.path.display()
    );
    Ok(0)
}

/// `feeds remove`.
fn remove(path: &Path, env: &Env, url: &str) -> Result<u8, FeedsError> {
    // Loading first refuses to edit a config that is already broken.
    let current = load(path, env).map_err(FeedsError::CurrentInvalid)?;
    // Removing names a feed that is already configured, perhaps a local one: the config
    // file's policy applies, with paths relative to where the command runs.
    let cwd = cwd();
    let target =
        feed_url::check(url, Origin::ConfigFile { base: &cwd }).map_err(FeedsError::BadUrl)?;
    let mut file = ConfigFile::open(path)?;
    let removed = file.remove(&target)?;
    file.commit(env)?;
    eprintln!(
        "feedwatch: removed {removed} from {}; its history stays in the database; {RELOAD_HINT}",
        file.path.display()
    );
    if current.feeds.len() == 1 {
        eprintln!(
            "feedwatch: warning: no feeds are left; the daemon refuses to start or reload with none, so add one first"
        );
    }
    Ok(0)
}

/// Most feeds one `import` adds. Far above any real subscription list, and it keeps the
/// config file (which the daemon loads on every reload) a size people and the loader handle.
pub const MAX_IMPORT: usize = 10_000;

/// `feeds import`.
fn import(path: &Path, env: &Env, source: &str) -> Result<u8, FeedsError> {
    let bytes = read_opml(source)?;
    let doc = opml::parse(&bytes).map_err(|e| FeedsError::Opml {
        path: source.to_string(),
        source: e,
    })?;
    let current = load(path, env).map_err(FeedsError::CurrentInvalid)?;
    let mut keys: HashSet<String> = current.feeds.iter().map(|f| dedup_key(&f.url)).collect();
    let mut invalid = doc.invalid.clone();
    let mut skipped = 0usize;
    let mut new = Vec::new();
    for f in doc.feeds {
        // An OPML file comes from another program or a stranger: http(s) only, so it can
        // never make the daemon read a local file.
        let url = match feed_url::check(&f.url, Origin::Remote) {
            Ok(u) => u,
            Err(e) => {
                invalid.push(e.to_string());
                continue;
            }
        };
        // Out of bounds is refused, not clamped: what lands in the config is what the file
        // said or nothing, and the message says which outline to fix.
        if let Some(Err(m)) = f.interval.map(|d| limits::FEED_INTERVAL.check(d)) {
            invalid.push(format!("{url}: feedwatch:interval: {m}"));
            continue;
        }
        if !keys.insert(dedup_key(&url)) {
            skipped += 1;
            continue;
        }
        new.push(NewFeed {
            url,
            name: f.name,
            full_text: f.full_text,
            tags: f.tags,
            interval: f.interval,
        });
    }
    if new.len() > MAX_IMPORT {
        return Err(FeedsError::TooMany {
            count: new.len(),
            limit: MAX_IMPORT,
        });
    }
    let mut file = ConfigFile::open(path)?;
    if !new.is_empty() {
        for f in &new {
            file.add(f)?;
        }
        file.commit(env)?;
    }
    for why in &invalid {
        eprintln!("feedwatch: {source}: skipped invalid outline: {why}");
    }
    println!(
        "{source}: {} added, {skipped} skipped as duplicates, {} invalid",
        new.len(),
        invalid.len()
    );
    if !new.is_empty() {
        eprintln!("feedwatch: {} updated; {RELOAD_HINT}", file.path.display());
    }
    Ok(if invalid.is_empty() { 0 } else { 1 })
}

/// Reads an OPML file or stdin, refusing more than [`opml::MAX_OPML_BYTES`] without reading
/// it all into memory.
fn read_opml(source: &str) -> Result<Vec<u8>, FeedsError> {
    let read_err = |e: std::io::Error| FeedsError::Read {
        path: PathBuf::from(source),
        source: e,
    };
    let reader: Box<dyn Read> = if source == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(source).map_err(read_err)?)
    };
    let mut buf = Vec::new();
    // One byte more than the limit, so the parser sees "too large" rather than a cut file.
    reader
        .take(opml::MAX_OPML_BYTES as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(read_err)?;
    Ok(buf)
}

/// What two URLs must share to be the same feed: the normalised form (scheme and host
/// lower-cased, default port and fragment dropped, percent-encoding made canonical by the
/// `url` crate). Query strings and trailing slashes are kept: servers may treat them as
/// different documents.
pub(super) fn dedup_key(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_normalise_for_duplicate_checks() {
        let n = |s| {
            feed_url::check(
                s,
                Origin::ConfigFile {
                    base: Path::new("/etc/feedwatch"),
                },
            )
            .map(|u| dedup_key(&u))
        };
        assert_eq!(
            n("HTTPS://Example.COM:443/a#frag"),
            n("https://example.com/a")
        );
        assert_eq!(n("http://example.com"), n("http://example.com/"));
        assert_ne!(n("http://example.com/a"), n("https://example.com/a"));
        assert_ne!(n("http://example.com/a?x=1"), n("http://example.com/a"));
        assert_eq!(
            n("feeds/local.xml"),
            n("file:///etc/feedwatch/feeds/local.xml")
        );
        assert!(n("ftp://example.com/").is_err());
        assert!(n("   ").is_err());
    }
}
