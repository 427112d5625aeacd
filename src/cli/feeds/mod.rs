//! `feedwatch feeds`: list, add, remove, import and export the configured feeds.
//!
//! Feeds live in the TOML config that people also edit by hand, so `add`, `remove` and
//! `import` change the file in place with `toml_edit`, which keeps every comment, blank line
//! and key order that is not touched (`toml` would re-serialise the whole file and drop the
//! comments). Every edit is checked by loading the edited text with [`config::load`], the
//! same loader the daemon uses, before it replaces the old file; the replacement is a
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

pub mod opml;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Subcommand;
use serde_json::json;
use toml_edit::{value, Array, DocumentMut, InlineTable, Item, Table, Value};

use super::output::{write_table, Format};
use crate::config::url::{self as feed_url, FeedUrlError, Origin};
use crate::config::{self, limits, ConfigError, Env};
use opml::OpmlError;

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
            let cfg = config::load(&path, &env).map_err(FeedsError::CurrentInvalid)?;
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
    let cfg = config::load(path, env).map_err(FeedsError::CurrentInvalid)?;
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => {
            for f in &cfg.feeds {
                writeln!(
                    out,
                    "{}",
                    json!({
                        "url": f.url,
                        "name": f.name,
                        "full_text": f.full_text,
                        "tags": f.tags,
                        "interval_secs": f.interval.map(|d| d.as_secs()),
                    })
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
    let current = config::load(path, env).map_err(FeedsError::CurrentInvalid)?;
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
    let current = config::load(path, env).map_err(FeedsError::CurrentInvalid)?;
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
    let current = config::load(path, env).map_err(FeedsError::CurrentInvalid)?;
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
fn dedup_key(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => url.to_string(),
    }
}

/// The config file as a `toml_edit` document, with the text it was read from.
struct ConfigFile {
    /// The real file (symlinks resolved, so the rename replaces the target, not the link).
    path: PathBuf,
    original: String,
    doc: DocumentMut,
}

impl ConfigFile {
    fn open(path: &Path) -> Result<ConfigFile, FeedsError> {
        let path = std::fs::canonicalize(path).map_err(|source| FeedsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let original = std::fs::read_to_string(&path).map_err(|source| FeedsError::Read {
            path: path.clone(),
            source,
        })?;
        let doc = original
            .parse::<DocumentMut>()
            .map_err(|e| FeedsError::Toml {
                path: path.clone(),
                message: e.to_string(),
            })?;
        Ok(ConfigFile {
            path,
            original,
            doc,
        })
    }

    fn folder(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("/"))
    }

    /// Appends a `[[feeds]]` table after the last one (or an inline table, when the file
    /// writes `feeds = [ {...} ]`).
    fn add(&mut self, f: &NewFeed) -> Result<(), FeedsError> {
        let mut t = Table::new();
        t.insert("url", value(&f.url));
        if let Some(n) = &f.name {
            t.insert("name", value(n));
        }
        t.insert("full_text", value(f.full_text));
        if !f.tags.is_empty() {
            t.insert("tags", value(f.tags.iter().collect::<Array>()));
        }
        if let Some(d) = f.interval {
            t.insert("interval", value(humantime::format_duration(d).to_string()));
        }
        // A blank line before the header, as in the shipped config.
        t.decor_mut().set_prefix("\n");
        let shape_err = || FeedsError::FeedsShape {
            path: self.path.clone(),
        };
        match self.doc.get_mut("feeds") {
            None => {
                let mut aot = toml_edit::ArrayOfTables::new();
                aot.push(t);
                self.doc.insert("feeds", Item::ArrayOfTables(aot));
            }
            Some(Item::ArrayOfTables(aot)) => aot.push(t),
            Some(Item::Value(Value::Array(arr))) => {
                let mut it: InlineTable = t.into_inline_table();
                it.fmt();
                arr.push(it);
            }
            Some(_) => return Err(shape_err()),
        }
        Ok(())
    }

    /// Removes the entry whose URL normalises to `target`; returns its URL as written.
    fn remove(&mut self, target: &str) -> Result<String, FeedsError> {
        let folder = self.folder().to_path_buf();
        let key = dedup_key(target);
        let matches = |url: Option<&str>| {
            url.and_then(|u| feed_url::check(u, Origin::ConfigFile { base: &folder }).ok())
                .is_some_and(|u| dedup_key(&u) == key)
        };
        let not_found = || FeedsError::NotFound {
            url: target.to_string(),
        };
        match self.doc.get_mut("feeds") {
            Some(Item::ArrayOfTables(aot)) => {
                let i = aot
                    .iter()
                    .position(|t| matches(t.get("url").and_then(Item::as_str)))
                    .ok_or_else(not_found)?;
                let removed = aot.remove(i);
                // Comments above a blank line before the removed header introduce the
                // section, not this feed: hand them to the next feed so they survive.
                if let Some(next) = aot.get_mut(i) {
                    let prefix = removed
                        .decor()
                        .prefix()
                        .and_then(|p| p.as_str())
                        .unwrap_or("");
                    if let Some(section) = section_comments(prefix) {
                        let next_prefix = next
                            .decor()
                            .prefix()
                            .and_then(|p| p.as_str())
                            .unwrap_or("")
                            .trim_start_matches(['\n', '\r'])
                            .to_string();
                        next.decor_mut()
                            .set_prefix(format!("{section}{next_prefix}"));
                    }
                }
                Ok(removed
                    .get("url")
                    .and_then(Item::as_str)
                    .unwrap_or(target)
                    .to_string())
            }
            Some(Item::Value(Value::Array(arr))) => {
                let i = arr
                    .iter()
                    .position(|v| {
                        matches(
                            v.as_inline_table()
                                .and_then(|t| t.get("url"))
                                .and_then(Value::as_str),
                        )
                    })
                    .ok_or_else(not_found)?;
                let removed = arr.remove(i);
                Ok(removed
                    .as_inline_table()
                    .and_then(|t| t.get("url"))
                    .and_then(Value::as_str)
                    .unwrap_or(target)
                    .to_string())
            }
            None => Err(not_found()),
            Some(_) => Err(FeedsError::FeedsShape {
                path: self.path.clone(),
            }),
        }
    }

    /// Checks the edited text with the daemon's loader, then replaces the file atomically.
    fn commit(&self, env: &Env) -> Result<(), FeedsError> {
        let text = self.doc.to_string();
        let write_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| FeedsError::Write { path, source }
        };
        let tmp = TempFile::create(&self.path, text.as_bytes()).map_err(write_err(&self.path))?;
        if let Err(mut e) = config::load(&tmp.path, env) {
            // The problems name the temporary file; name the real one.
            for p in &mut e.problems {
                if p.file == tmp.path {
                    p.file.clone_from(&self.path);
                }
            }
            return Err(FeedsError::EditInvalid(e));
        }
        // Cheap guard against two editors at once (or a person saving in between).
        let now = std::fs::read_to_string(&self.path).map_err(|source| FeedsError::Read {
            path: self.path.clone(),
            source,
        })?;
        if now != self.original {
            return Err(FeedsError::Changed {
                path: self.path.clone(),
            });
        }
        tmp.persist(&self.path).map_err(write_err(&self.path))
    }
}

/// The part of a table's leading decor that ends with a blank line and holds a comment.
fn section_comments(prefix: &str) -> Option<String> {
    let lines: Vec<&str> = prefix.split_inclusive('\n').collect();
    let last_blank = lines.iter().rposition(|l| l.trim().is_empty())?;
    let section: String = lines[..=last_blank].concat();
    section
        .lines()
        .any(|l| l.trim_start().starts_with('#'))
        .then_some(section)
}

/// A temporary file beside the config, removed unless [`TempFile::persist`]ed.
struct TempFile {
    path: PathBuf,
    done: bool,
}

impl TempFile {
    /// Writes `bytes` to a new file in `target`'s folder, with `target`'s permissions, and
    /// syncs it so the rename cannot expose an empty file after a crash.
    fn create(target: &Path, bytes: &[u8]) -> std::io::Result<TempFile> {
        let folder = target.parent().unwrap_or(Path::new("."));
        let name = target
            .file_name()
            .map_or_else(|| "config".into(), |n| n.to_string_lossy().into_owned());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = folder.join(format!(".{name}.{}.{nanos}.tmp", std::process::id()));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        let tmp = TempFile { path, done: false };
        f.write_all(bytes)?;
        if let Ok(meta) = std::fs::metadata(target) {
            f.set_permissions(meta.permissions())?;
        }
        f.sync_all()?;
        Ok(tmp)
    }

    fn persist(mut self, target: &Path) -> std::io::Result<()> {
        std::fs::rename(&self.path, target)?;
        self.done = true;
        // Make the rename itself durable; not all filesystems allow syncing a folder.
        if let Some(dir) = target.parent() {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: &str = "# top comment\nrule_files = []\n\n[poll]\ninterval = \"10m\" # keep me\n\n# Section about feeds.\n\n[[feeds]]\nurl = \"https://a.example/rss\"\nname = \"A\"\n\n# B is flaky\n[[feeds]]\nurl = \"https://b.example/rss\"\n\n[[rules]]\nname = \"r\"\nquery = \"x\"\n";

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("feedwatch.toml");
        std::fs::write(&p, text).expect("write");
        (dir, p)
    }

    fn feed(url: &str) -> NewFeed {
        NewFeed {
            url: url.into(),
            name: Some("C \"quoted\"".into()),
            full_text: true,
            tags: vec!["x".into(), "y".into()],
            interval: Some(Duration::from_secs(1800)),
        }
    }

    #[test]
    fn add_keeps_comments_and_lands_after_the_last_feed() {
        let (_d, p) = file(CFG);
        let mut f = ConfigFile::open(&p).expect("open");
        f.add(&feed("https://c.example/rss")).expect("add");
        f.commit(&Env::default()).expect("commit");
        let text = std::fs::read_to_string(&p).expect("read");
        assert!(text.starts_with("# top comment\n"), "{text}");
        assert!(text.contains("interval = \"10m\" # keep me"));
        assert!(text.contains("# B is flaky"));
        let c = text.find("c.example").expect("c added");
        assert!(text.find("b.example").expect("b") < c);
        assert!(c < text.find("[[rules]]").expect("rules"), "{text}");
        let cfg = config::load(&p, &Env::default()).expect("load");
        assert_eq!(cfg.feeds.len(), 3);
        assert_eq!(cfg.feeds[2].name.as_deref(), Some("C \"quoted\""));
        assert_eq!(cfg.feeds[2].interval, Some(Duration::from_secs(1800)));
        assert!(cfg.feeds[2].full_text);
    }

    #[test]
    fn remove_keeps_section_comments_and_drops_the_feeds_own() {
        let (_d, p) = file(CFG);
        let mut f = ConfigFile::open(&p).expect("open");
        assert_eq!(
            f.remove("https://A.example:443/rss#x").expect("remove"),
            "https://a.example/rss"
        );
        f.commit(&Env::default()).expect("commit");
        let text = std::fs::read_to_string(&p).expect("read");
        assert!(text.contains("# Section about feeds."), "{text}");
        assert!(!text.contains("a.example"));
        let mut f = ConfigFile::open(&p).expect("open");
        f.remove("https://b.example/rss").expect("remove b");
        f.commit(&Env::default()).expect("commit");
        let text = std::fs::read_to_string(&p).expect("read");
        assert!(!text.contains("B is flaky"), "{text}");
        assert!(matches!(
            ConfigFile::open(&p).expect("open").remove("https://zzz/"),
            Err(FeedsError::NotFound { .. })
        ));
    }

    #[test]
    fn inline_array_and_missing_feeds_are_handled() {
        let (_d, p) = file("rule_files = []\nfeeds = [{ url = \"https://a.example/\" }]\n");
        let mut f = ConfigFile::open(&p).expect("open");
        f.add(&feed("https://c.example/")).expect("add");
        f.commit(&Env::default()).expect("commit");
        assert_eq!(
            config::load(&p, &Env::default()).expect("load").feeds.len(),
            2
        );
        let (_d, p) = file("rule_files = []\n");
        let mut f = ConfigFile::open(&p).expect("open");
        f.add(&feed("https://c.example/")).expect("add");
        f.commit(&Env::default()).expect("commit");
        assert_eq!(
            config::load(&p, &Env::default()).expect("load").feeds.len(),
            1
        );
    }

    #[test]
    fn an_edit_that_breaks_the_config_is_not_written() {
        let (d, p) = file(CFG);
        let mut f = ConfigFile::open(&p).expect("open");
        // Bypasses the duplicate check in `add`: the loader must still refuse it.
        f.add(&feed("https://a.example/rss")).expect("add");
        let err = f.commit(&Env::default()).expect_err("duplicate refused");
        assert!(err.to_string().contains("listed twice"), "{err}");
        assert!(err.to_string().contains(&p.display().to_string()), "{err}");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), CFG);
        let leftovers = std::fs::read_dir(d.path()).expect("ls").count();
        assert_eq!(leftovers, 1, "temporary file removed");
    }

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
