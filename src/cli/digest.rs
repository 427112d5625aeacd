//! `feedwatch digest`: one report of a window of alerts, as HTML (a page to open or mail),
//! text (a terminal) or JSON (scripts). The report itself is [`feedwatch::digest`]'s: built
//! once from the store (SQLite or PostgreSQL), rendered here in the chosen format, so all three say the same.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use feedwatch::digest;
use feedwatch::store::reader::Reader;

/// Stories shown when `--max-stories` is not given (a scheduled digest shows as many).
pub const DEFAULT_MAX_STORIES: usize = digest::DEFAULT_MAX_STORIES;

/// Output formats of `digest`.
// Variant docs would turn `--help`'s one line of possible values into a list; the names say it.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
pub enum DigestFormat {
    Text,
    Html,
    Json,
}

impl From<DigestFormat> for feedwatch::config::digest::DigestFormat {
    fn from(f: DigestFormat) -> Self {
        match f {
            DigestFormat::Text => Self::Text,
            DigestFormat::Html => Self::Html,
            DigestFormat::Json => Self::Json,
        }
    }
}

/// Arguments of `feedwatch digest`.
#[derive(Debug, clap::Args)]
pub struct DigestArgs {
    /// Start of the window, this long ago (e.g. 24h, 7d; at most 92d before --until).
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
    pub since: Duration,
    /// End of the window, this long ago (default: now, this second included).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub until: Option<Duration>,
    /// Output: text for a terminal, a self-contained HTML page, or one JSON object.
    #[arg(long, value_enum, default_value_t = DigestFormat::Text)]
    pub format: DigestFormat,
    /// Write the report to this file (replaced whole, never half-written) instead of stdout.
    #[arg(long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Most stories shown (newest first); the report says how many were left out.
    #[arg(long, default_value_t = DEFAULT_MAX_STORIES)]
    pub max_stories: usize,
}

/// Runs `feedwatch digest`; returns the exit code (0, or 2 for an impossible window).
///
/// # Errors
/// When the config or database cannot be opened, or the report cannot be written.
pub async fn run(config_arg: Option<&Path>, args: &DigestArgs) -> Result<u8> {
    let path = feedwatch::config::locate(config_arg)?;
    let cfg = feedwatch::app::load_config_with(
        &path,
        &feedwatch::config::Env::from_process(),
        feedwatch::config::Backends::Both,
    )?
    .config;
    let now = chrono::Utc::now().timestamp();
    // Windows are half-open, [from, until): counting back from the end of this second keeps
    // alerts raised this second in "the last 24h", and the window exactly 24h long.
    let end = now + 1;
    let ago = |d: Duration| end - i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2);
    let req = digest::Request {
        from: ago(args.since),
        until: args.until.map_or(end, ago),
        now,
        max_stories: args.max_stories,
    };
    if let Err(e) = req.check() {
        eprintln!("feedwatch: {e}");
        return Ok(2);
    }
    let reader = Reader::open(cfg.backend()).await?;
    let records = reader.alerts_between(req.from, req.until).await?;
    let feeds = reader.feeds().await?;
    let configured: Vec<(&str, &str)> = cfg
        .feeds
        .iter()
        .map(|f| (f.display_name(), f.url.as_str()))
        .collect();
    let d = digest::assemble(&records, &feeds, &configured, req);
    let body = digest::render(&d, args.format.into())?;
    match &args.output {
        Some(p) => write_whole(p, &body)?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&body)?;
            out.flush()?;
        }
    }
    Ok(0)
}

/// Writes `body` to a temporary file beside `path` and renames it over `path`, so a mailer
/// or web server reading `path` never sees half a report.
fn write_whole(path: &Path, body: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file name", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    std::fs::write(&tmp, body).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))
}
