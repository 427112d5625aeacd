//! `feedwatch digest`: one report of a window of alerts, as HTML (a page to open or mail),
//! text (a terminal) or JSON (scripts). The report itself is [`feedwatch::digest`]'s: built
//! once from the store, rendered here in the chosen format, so all three say the same.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use super::output::write_table;
use feedwatch::digest::{self, Digest, Story};
use feedwatch::store::Store;
use feedwatch::text::safe_text::printable;

/// Stories shown when `--max-stories` is not given.
pub const DEFAULT_MAX_STORIES: usize = 50;

/// Output formats of `digest`.
// Variant docs would turn `--help`'s one line of possible values into a list; the names say it.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
pub enum DigestFormat {
    Text,
    Html,
    Json,
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
pub fn run(config_arg: Option<&Path>, args: &DigestArgs) -> Result<u8> {
    let path = feedwatch::config::locate(config_arg)?;
    let cfg = feedwatch::app::load_config(&path, &feedwatch::config::Env::from_process())?.config;
    let store = Store::open(&cfg.database)?;
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
    let configured: Vec<(&str, &str)> = cfg
        .feeds
        .iter()
        .map(|f| (f.display_name(), f.url.as_str()))
        .collect();
    let d = match digest::build(&store, &configured, req) {
        Ok(d) => d,
        Err(
            e @ (digest::DigestError::EmptyWindow { .. }
            | digest::DigestError::WindowTooLong { .. }),
        ) => {
            eprintln!("feedwatch: {e}");
            return Ok(2);
        }
        Err(e) => return Err(e.into()),
    };
    let mut body = Vec::with_capacity(32 * 1024);
    match args.format {
        DigestFormat::Html => body.extend_from_slice(digest::html::render(&d).as_bytes()),
        DigestFormat::Json => {
            serde_json::to_writer(&mut body, &d)?;
            body.push(b'\n');
        }
        DigestFormat::Text => write_text(&mut body, &d)?,
    }
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

/// The digest for a terminal: the same sections as the HTML page.
fn write_text(out: &mut impl Write, d: &Digest) -> std::io::Result<()> {
    let stories = d.stories.len() + d.stories_omitted;
    writeln!(out, "feedwatch digest: {} to {} (UTC)", d.from, d.until)?;
    writeln!(
        out,
        "{} alert(s) in {stories} stor{}; {} of {} feeds healthy\n",
        d.alerts,
        if stories == 1 { "y" } else { "ies" },
        d.feeds.healthy,
        d.feeds.feeds
    )?;
    write_chart(out, d)?;
    writeln!(out, "\nSTORIES ({stories})")?;
    for s in &d.stories {
        write_story(out, s)?;
    }
    if d.stories_omitted > 0 {
        writeln!(
            out,
            "{} older stories not shown; `feedwatch alerts --since` lists every alert.",
            d.stories_omitted
        )?;
    }
    write_health(out, d)
}

/// Buckets with alerts as a table with a bar of `#`, and the totals per rule.
fn write_chart(out: &mut impl Write, d: &Digest) -> std::io::Result<()> {
    let unit = match d.chart.bucket {
        digest::BucketSize::Hour => "HOUR",
        digest::BucketSize::Day => "DAY",
    };
    writeln!(out, "ALERTS PER {unit}, BY RULE")?;
    let max = d.chart.max_total().max(1);
    let rows: Vec<[String; 4]> = d
        .chart
        .buckets
        .iter()
        .flat_map(|b| {
            b.counts.iter().map(move |c| {
                let bar = "#".repeat((c.alerts * 40).div_ceil(max));
                [b.start.clone(), c.rule.clone(), c.alerts.to_string(), bar]
            })
        })
        .collect();
    let empty = d.chart.buckets.iter().filter(|b| b.total() == 0).count();
    if rows.is_empty() {
        writeln!(out, "no alerts in this window")?;
    } else {
        let header = ["START", "RULE", "ALERTS", ""].map(String::from);
        write_table(out, &header, &rows)?;
        writeln!(
            out,
            "({empty} of {} buckets had no alerts)",
            d.chart.buckets.len()
        )?;
    }
    let totals: Vec<[String; 2]> = d
        .rules
        .iter()
        .map(|r| [r.rule.clone(), r.alerts.to_string()])
        .collect();
    if !totals.is_empty() {
        writeln!(out)?;
        write_table(out, &["RULE", "ALERTS"].map(String::from), &totals)?;
    }
    Ok(())
}

fn write_story(out: &mut impl Write, s: &Story) -> std::io::Result<()> {
    let p = |t: &str| printable(t, false).into_owned();
    writeln!(
        out,
        "\n[{}] {}\n    {}{} · latest alert {}\n    {}",
        s.severity.to_string().to_uppercase(),
        p(&s.title),
        p(&s.feed),
        s.published
            .as_deref()
            .map_or(String::new(), |t| format!(" · published {t}")),
        s.latest,
        p(s.url.as_deref().unwrap_or("(no link)"))
    )?;
    for a in &s.alerts {
        writeln!(
            out,
            "    - {} ({}, {}): {}\n      terms: {}",
            p(&a.rule),
            a.severity,
            a.time,
            p(&a.snippet),
            p(&a.terms.join(", "))
        )?;
    }
    if !s.sources.is_empty() {
        let list: Vec<String> = s
            .sources
            .iter()
            .map(|o| match &o.url {
                Some(u) => format!("{} <{}>", p(&o.feed), p(u)),
                None => p(&o.feed),
            })
            .collect();
        let more = if s.sources_omitted > 0 {
            format!(" and {} more", s.sources_omitted)
        } else {
            String::new()
        };
        writeln!(out, "    also reported by: {}{more}", list.join(", "))?;
    }
    Ok(())
}

fn write_health(out: &mut impl Write, d: &Digest) -> std::io::Result<()> {
    let h = &d.feeds;
    writeln!(
        out,
        "\nFEED HEALTH\n{} of {} configured feeds have nothing to report.",
        h.healthy, h.feeds
    )?;
    for f in &h.problems {
        writeln!(
            out,
            "{}  {}  {}",
            if f.failing() { "FAILING" } else { "CHECK  " },
            printable(&f.name, false),
            printable(&f.url, false)
        )?;
        for n in f.notes() {
            writeln!(out, "         {}", printable(&n, false))?;
        }
    }
    Ok(())
}
