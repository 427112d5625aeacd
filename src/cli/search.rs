//! `feedwatch search`: full-text search over kept articles.
//!
//! The query is written in the rule language (so a rule can be tried against history before
//! it goes live), translated by the store the config selects (FTS5 by
//! [`feedwatch::store::fts`] on SQLite, a `tsquery` by `store::pg::tsquery` on PostgreSQL)
//! and run through [`Reader::search`]. Exit codes follow `grep` and `feedwatch check`: 0 when
//! something matched, 1 when nothing did, 2 on a bad query or another error.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use super::output::write_table;
use super::output::Format;
use feedwatch::config::{self, Env};
use feedwatch::store::fts;
use feedwatch::store::reader::{ReadError, Reader};
use feedwatch::store::SearchHit;

/// Results shown when `--limit` is not given.
pub const DEFAULT_LIMIT: usize = 20;

/// Arguments of `feedwatch search`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Query syntax (as in rules): embassy, \"green zone\", rocket*, a AND b, \
a b (both), a OR b, a NOT b, (groups), a NEAR/10 b, title:x, summary:x, body:x.\n\
Not searchable: ONEAR, url:, feed:, and NOT with nothing positive beside it.\n\n\
Example: feedwatch search '\"green zone\" AND (rocket* OR drone*)' --since 7d --format json"
)]
pub struct SearchArgs {
    /// The query, in the rule query language (several words are joined with spaces).
    #[arg(required = true, value_name = "QUERY")]
    pub query: Vec<String>,
    /// Only articles kept within this long (e.g. 24h, 30d); default: all.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub since: Option<Duration>,
    /// Most results to show: the most relevant ones, listed newest first.
    #[arg(long, default_value_t = DEFAULT_LIMIT)]
    pub limit: usize,
    /// Output: an aligned table for people, or one JSON object per line for scripts.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Runs `feedwatch search`; returns the exit code.
///
/// # Errors
/// When the config or database cannot be opened, or output cannot be written.
pub async fn run(config_arg: Option<&Path>, args: &SearchArgs) -> anyhow::Result<u8> {
    let query = args.query.join(" ");
    // Checked before the config and the database: a bad query exits 2 with a caret, and
    // both stores refuse exactly the queries this refuses (`store::search_plan`).
    if let Err(e) = fts::translate(&query) {
        eprintln!("feedwatch: search query: {}", e.render(&query));
        return Ok(2);
    }
    let path = config::locate(config_arg)?;
    let cfg =
        feedwatch::app::load_config_with(&path, &Env::from_process(), config::Backends::Both)?
            .config;
    let reader = Reader::open(cfg.backend()).await?;
    let since = args.since.map_or(0, |d| {
        chrono::Utc::now().timestamp() - i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2)
    });
    let spinner = super::progress::Bar::spinner("searching", args.format);
    let hits = match reader.search(&query, since, args.limit).await {
        Ok(h) => h,
        // PostgreSQL's own bound (the expansion of NEAR): refused with a caret too.
        Err(ReadError::Query(e)) => {
            drop(spinner);
            eprintln!("feedwatch: search query: {}", e.render(&query));
            return Ok(2);
        }
        Err(e) => return Err(e.into()),
    };
    drop(spinner);
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            for h in &hits {
                writeln!(out, "{}", serde_json::to_string(&to_json(h))?)?;
            }
        }
        Format::Text => write_text(&mut out, &hits)?,
    }
    Ok(if hits.is_empty() { 1 } else { 0 })
}

/// One result as a JSON line; its keys are a stable interface for scripts.
pub fn to_json(h: &SearchHit) -> super::json::SearchLine<'_> {
    use feedwatch::text::time::rfc3339;
    super::json::SearchLine {
        feed: &h.feed,
        feed_url: &h.feed_url,
        fetched: rfc3339(h.fetched_at),
        id: h.article_id,
        published: h.published_at.map(rfc3339),
        score: h.score,
        snippet: &h.snippet,
        time: rfc3339(h.time()),
        title: &h.title,
        url: h.url.as_deref(),
    }
}

/// An aligned table (time, feed, title), each row followed by its URL and snippet indented.
fn write_text(out: &mut impl Write, hits: &[SearchHit]) -> std::io::Result<()> {
    if hits.is_empty() {
        return writeln!(out, "no articles matched");
    }
    let clip = |s: &str, n: usize| -> String {
        let s = feedwatch::text::safe_text::printable(s, false);
        let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
        if s.chars().count() > n {
            let mut c: String = s.chars().take(n - 1).collect();
            c.push('…');
            c
        } else {
            s
        }
    };
    let header = ["TIME (UTC)", "FEED", "TITLE"].map(String::from);
    let rows: Vec<[String; 3]> = hits
        .iter()
        .map(|h| {
            [
                chrono::DateTime::from_timestamp(h.time(), 0)
                    .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_default(),
                clip(&h.feed, 30),
                clip(&h.title, 100),
            ]
        })
        .collect();
    let mut table = Vec::new();
    write_table(&mut table, &header, &rows)?;
    let table = String::from_utf8_lossy(&table);
    let mut lines = table.lines();
    if let Some(h) = lines.next() {
        writeln!(out, "{h}")?;
    }
    for (line, h) in lines.zip(hits) {
        writeln!(out, "{line}")?;
        if let Some(u) = &h.url {
            writeln!(
                out,
                "    {}",
                feedwatch::text::safe_text::printable(u, false)
            )?;
        }
        writeln!(out, "    {}", clip(&h.snippet, 200))?;
    }
    Ok(())
}
