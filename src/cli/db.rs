//! `feedwatch db …`: the operator's database commands (see `store::maintenance`).
//!
//! `stats`, `backup` and `check` read the database as it is and run beside the daemon;
//! `vacuum` rewrites the whole file, so it takes the database's lock and is refused while a
//! daemon or poll holds it. `prune` takes the lock too: the daemon applies the same
//! retention itself every ten minutes (a reload hands it new settings), and its seen keys
//! held for commits in flight are in its memory, so there is nothing for a second writer to
//! do beside it. Exit codes follow the rest of the command line: 0 done, 2 a damaged or
//! missing database or a bad argument, 3 the database is in use.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Subcommand;

use super::status::human;
use super::{json, progress, Format};
use feedwatch::app::{retention_policy, EXIT_IN_USE};
use feedwatch::config::{self, Config, Env};
use feedwatch::store::lock::{DbLock, LockError};
use feedwatch::store::maintenance::{self, DbSize, MaintenanceError, VACUUM_PAGES_PER_PASS};
use feedwatch::store::retention::{Due, Kind, Policy, Pruned};
use feedwatch::store::Store;
use feedwatch::text::safe_text::printable;
use feedwatch::text::time::rfc3339;

/// `db` subcommands.
#[derive(Debug, Subcommand)]
pub enum DbAction {
    /// Size on disk, pages, for each table its rows, bytes and oldest row, and what
    /// retention will remove next: rows past their horizon now, and when the next are due.
    ///
    /// Example: feedwatch db stats --format json
    Stats {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Same as `--format json`.
        #[arg(long, conflicts_with = "format")]
        json: bool,
    },
    /// Copy the database to PATH, consistent as of one instant, while the daemon runs.
    /// Never overwrites PATH. Exit 2 when PATH exists or the copy fails.
    ///
    /// Example: feedwatch db backup /var/backups/feedwatch/feedwatch-2026-12-03.db
    Backup {
        /// The new backup file (must not exist; its folder must).
        path: PathBuf,
    },
    /// Check the database (or the file at PATH, say a backup) for damage: `PRAGMA
    /// integrity_check` and `foreign_key_check`. Exit 0 when sound, 2 with the problems
    /// and what to do.
    ///
    /// Example: feedwatch db check
    Check {
        /// A database file to check instead of the configured one.
        path: Option<PathBuf>,
    },
    /// Give every free page back and turn on incremental auto-vacuum (once, for a database
    /// created without it). Rewrites the file: stop the daemon first (exit 3 while it runs),
    /// and have free disk space about twice the database's size.
    ///
    /// Example: systemctl stop feedwatch && feedwatch db vacuum && systemctl start feedwatch
    Vacuum,
    /// Apply every retention now (`[storage] article_retention`, `alert_retention`,
    /// `delivery_retention`, `seen_retention`, ...), as the daemon does in the background,
    /// then give the freed pages back. Progress on stderr, a summary on stdout. Takes the
    /// database's lock: exit 3 while the daemon runs (it prunes by itself; reload it after
    /// changing a setting).
    ///
    /// Example: feedwatch db prune --format json
    Prune {
        /// Output format of the summary.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Same as `--format json`.
        #[arg(long, conflicts_with = "format")]
        json: bool,
    },
}

/// Runs a `db` subcommand; the exit code.
///
/// # Errors
/// When the config cannot be loaded or the database cannot be read.
pub fn run(config: Option<&Path>, action: &DbAction) -> Result<u8> {
    // The database path and the retentions are all a `db` command needs: rules that do not
    // compile must not stand between an operator and a backup, so they are not compiled here.
    let settings = || -> Result<Config> {
        let path = config::locate(config)?;
        Ok(config::read(&path, &Env::from_process())?.finish()?)
    };
    let database = || settings().map(|c| c.database);
    match action {
        DbAction::Stats { format, json } => {
            let format = if *json { Format::Json } else { *format };
            let cfg = settings()?;
            stats(&cfg.database, &retention_policy(&cfg), format)
        }
        DbAction::Prune { format, json } => {
            let format = if *json { Format::Json } else { *format };
            prune(&settings()?, format)
        }
        DbAction::Backup { path } => backup(&database()?, path),
        DbAction::Check { path: Some(p) } => check(p),
        DbAction::Check { path: None } => check(&database()?),
        DbAction::Vacuum => vacuum(&database()?),
    }
}

fn auto_vacuum_name(v: i64) -> &'static str {
    match v {
        0 => "none",
        1 => "full",
        2 => "incremental",
        _ => "unknown",
    }
}

/// `db stats`.
fn stats(db: &Path, policy: &Policy, format: Format) -> Result<u8> {
    let size = maintenance::size(db)?;
    let tables = maintenance::table_stats(db)?;
    let due = maintenance::retention_due(db, policy, chrono::Utc::now().timestamp())?;
    let mut out = std::io::stdout().lock();
    if format == Format::Json {
        let line = json::DbStatsLine {
            auto_vacuum: auto_vacuum_name(size.auto_vacuum),
            file_bytes: size.file_bytes,
            free_pages: size.freelist_count,
            page_count: size.page_count,
            page_size: size.page_size,
            path: db,
            size_bytes: size.total_bytes(),
            retention: due.as_ref().map(|d| d.iter().map(due_json).collect()),
            tables: tables
                .iter()
                .map(|t| json::DbTableStats {
                    bytes: t.bytes,
                    name: &t.name,
                    oldest: t.oldest.map(rfc3339),
                    rows: t.rows,
                })
                .collect(),
            wal_bytes: size.wal_bytes,
        };
        writeln!(out, "{}", serde_json::to_string(&line)?)?;
        return Ok(0);
    }
    writeln!(out, "database: {}", db.display())?;
    writeln!(out, "size: {}", size_line(&size))?;
    if size.auto_vacuum != maintenance::AUTO_VACUUM_INCREMENTAL {
        writeln!(
            out,
            "auto_vacuum: {}: free pages are never given back; run `feedwatch db vacuum` once with the daemon stopped",
            auto_vacuum_name(size.auto_vacuum)
        )?;
    }
    writeln!(out)?;
    let rows: Vec<[String; 4]> = tables
        .iter()
        .map(|t| {
            [
                t.name.clone(),
                t.rows.to_string(),
                human(t.bytes),
                t.oldest.map_or_else(|| "-".into(), rfc3339),
            ]
        })
        .collect();
    super::output::write_table(
        &mut out,
        &["TABLE", "ROWS", "SIZE", "OLDEST ROW"].map(String::from),
        &rows,
    )?;
    writeln!(out)?;
    match due {
        Some(due) => write_due(&mut out, &due)?,
        None => writeln!(
            out,
            "retention: the database predates retention; the daemon or `feedwatch db prune` migrates it"
        )?,
    }
    Ok(0)
}

/// A retention as the config would write it: whole days as `90d`.
fn retention_text(r: Option<std::time::Duration>) -> String {
    match r {
        None => config::FOREVER.to_string(),
        Some(d) if d.as_secs() > 0 && d.as_secs().is_multiple_of(86_400) => {
            format!("{}d", d.as_secs() / 86_400)
        }
        Some(d) => humantime::format_duration(d).to_string(),
    }
}

/// The "what retention removes next" table of `db stats`.
fn write_due(out: &mut impl Write, due: &[Due]) -> Result<()> {
    let rows: Vec<[String; 4]> = due
        .iter()
        .map(|d| {
            let next = match (d.retention, d.next) {
                (None, _) => "kept forever".to_string(),
                (Some(_), Some(t)) => rfc3339(t),
                (Some(_), None) => "-".to_string(),
            };
            [
                d.kind.name().to_string(),
                retention_text(d.retention),
                d.rows.to_string(),
                next,
            ]
        })
        .collect();
    super::output::write_table(
        out,
        &["RETENTION OF", "KEPT FOR", "DUE NOW", "NEXT DUE"].map(String::from),
        &rows,
    )?;
    Ok(())
}

fn due_json(d: &Due) -> json::DbRetentionDue {
    json::DbRetentionDue {
        due_rows: d.rows,
        name: d.kind.name(),
        next_due: d.next.filter(|_| d.retention.is_some()).map(rfc3339),
        retention_secs: d.retention.map(|r| r.as_secs()),
    }
}

/// `1234567` as `1,234,567`, for progress lines.
fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

/// `db prune`: every retention now, in the daemon's batches, with a progress line.
fn prune(cfg: &Config, format: Format) -> Result<u8> {
    let db = &cfg.database;
    if !db.is_file() {
        return Err(MaintenanceError::Missing(db.clone()).into());
    }
    let _lock = match DbLock::acquire(db) {
        Ok(l) => l,
        Err(e @ LockError::Held { .. }) => {
            eprintln!(
                "feedwatch: db prune needs the database to itself: {e}. The running daemon \
                 applies retention by itself every ten minutes; after changing a retention \
                 setting, reload it (systemctl reload feedwatch)."
            );
            return Ok(EXIT_IN_USE);
        }
        Err(e) => return Err(e.into()),
    };
    let started = Instant::now();
    let mut store = Store::open(db)?;
    let mut progress = Progress {
        tty: progress::wanted(format),
        quiet: format == Format::Json,
        bar: None,
    };
    let removed = store.prune_all(
        &retention_policy(cfg),
        chrono::Utc::now().timestamp(),
        |kind, done, due| progress.report(kind, done, due),
    )?;
    progress.finish();
    let pages_freed = give_pages_back(&mut store)?;
    summary(db, &removed, pages_freed, started, format)
}

/// `db prune`'s progress on stderr: a bar per kind on a terminal, a line per batch in a log or
/// a pipe (as before bars existed), nothing with `--format json`. Best effort: a closed
/// stderr must not stop the pruning.
struct Progress {
    tty: bool,
    quiet: bool,
    /// The kind being pruned and its bar.
    bar: Option<(Kind, progress::Bar)>,
}

impl Progress {
    fn report(&mut self, kind: Kind, done: usize, due: i64) {
        if (due == 0 && done == 0) || self.quiet {
            return;
        }
        let done = u64::try_from(done).unwrap_or(u64::MAX);
        let due = u64::try_from(due).unwrap_or(0);
        if self.tty {
            if self.bar.as_ref().is_none_or(|(k, _)| *k != kind) {
                let what = format!("pruning {}", kind.name());
                self.bar = Some((
                    kind,
                    progress::Bar::counted(&what, due, "rows", Format::Text),
                ));
            }
            if let Some((_, bar)) = &self.bar {
                bar.set(done, due.max(done));
            }
            return;
        }
        let line = format!(
            "pruned {}/{} {}",
            grouped(i64::try_from(done).unwrap_or(i64::MAX)),
            grouped(i64::try_from(due).unwrap_or(i64::MAX)),
            kind.name()
        );
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }

    /// Clears the last bar.
    fn finish(&mut self) {
        self.bar = None;
    }
}

/// Gives every free page back (the daemon does it 1,024 at a time): what was pruned should
/// show on disk when the command returns.
fn give_pages_back(store: &mut Store) -> Result<i64> {
    let mut freed = 0;
    loop {
        let m = store.maintain(VACUUM_PAGES_PER_PASS)?;
        freed += m.pages_freed;
        if !m.incremental || m.pages_left == 0 || m.pages_freed == 0 {
            return Ok(freed);
        }
    }
}

/// The summary of `db prune`, on stdout.
fn summary(
    db: &Path,
    removed: &[Pruned],
    pages_freed: i64,
    started: Instant,
    format: Format,
) -> Result<u8> {
    let took = started.elapsed().as_secs_f64();
    let mut out = std::io::stdout().lock();
    if format == Format::Json {
        let line = json::DbPruneLine {
            pages_freed,
            path: db,
            removed: removed
                .iter()
                .map(|p| json::DbPruned {
                    name: p.kind.name(),
                    rows: p.rows,
                })
                .collect(),
            took_secs: took,
        };
        writeln!(out, "{}", serde_json::to_string(&line)?)?;
        return Ok(0);
    }
    let total: usize = removed.iter().map(|p| p.rows).sum();
    let parts: Vec<String> = removed
        .iter()
        .map(|p| {
            format!(
                "{} {}",
                p.kind.name(),
                grouped(i64::try_from(p.rows).unwrap_or(i64::MAX))
            )
        })
        .collect();
    writeln!(
        out,
        "database {}: pruned {} rows ({}); {pages_freed} free pages given back (took {took:.1} s)",
        db.display(),
        grouped(i64::try_from(total).unwrap_or(i64::MAX)),
        parts.join(", ")
    )?;
    Ok(0)
}

/// One line about a database's size, for `db stats` and `status`.
pub(super) fn size_line(s: &DbSize) -> String {
    format!(
        "{} on disk (file {}, WAL {}); {} pages of {}, {} free ({}); auto_vacuum {}",
        human(s.total_bytes()),
        human(s.file_bytes),
        human(s.wal_bytes),
        s.page_count,
        human(u64::try_from(s.page_size).unwrap_or(0)),
        s.freelist_count,
        human(u64::try_from(s.freelist_count.saturating_mul(s.page_size)).unwrap_or(0)),
        auto_vacuum_name(s.auto_vacuum)
    )
}

/// `db backup PATH`.
fn backup(db: &Path, dest: &Path) -> Result<u8> {
    let started = chrono::Utc::now().timestamp();
    let spinner = progress::Bar::spinner("writing the backup", Format::Text);
    let result = maintenance::backup(db, dest);
    drop(spinner);
    match result {
        Ok(r) => {
            println!(
                "wrote {}: {}, {} alerts, {} articles, consistent as of {} (took {:.1} s)",
                r.path.display(),
                human(r.bytes),
                r.alerts,
                r.articles,
                rfc3339(started),
                r.took.as_secs_f64()
            );
            Ok(0)
        }
        Err(e @ (MaintenanceError::Exists(_) | MaintenanceError::Io { .. })) => {
            eprintln!("feedwatch: db backup: {e}");
            Ok(2)
        }
        Err(e) => Err(e).context("db backup"),
    }
}

/// `db check [PATH]`.
fn check(db: &Path) -> Result<u8> {
    let spinner = progress::Bar::spinner("checking the database", Format::Text);
    let problems = maintenance::check(db)?;
    drop(spinner);
    if problems.is_empty() {
        println!(
            "database {}: ok (integrity_check, foreign_key_check)",
            db.display()
        );
        return Ok(0);
    }
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "database {} is DAMAGED ({} problem(s) found):",
        db.display(),
        problems.len()
    )?;
    for p in &problems {
        writeln!(err, "  {}", printable(p, false))?;
    }
    writeln!(
        err,
        "What to do: stop the daemon (systemctl stop feedwatch), move the damaged file away \
         (keep it), copy your latest backup into its place, run `feedwatch db check` on it and \
         start the daemon (README: Backup and restore). Without a backup, start without the \
         file: a new database is created and its alert ids continue above the alert log's; \
         `sqlite3 DAMAGED.db .recover` may salvage rows from the old one."
    )?;
    Ok(2)
}

/// `db vacuum`: takes the lock so no daemon starts while the file is rewritten.
fn vacuum(db: &Path) -> Result<u8> {
    if !db.is_file() {
        return Err(MaintenanceError::Missing(db.to_path_buf()).into());
    }
    let _lock = match DbLock::acquire(db) {
        Ok(l) => l,
        Err(e @ LockError::Held { .. }) => {
            eprintln!(
                "feedwatch: db vacuum rewrites the whole file and needs it to itself: {e}. \
                 Stop the daemon (systemctl stop feedwatch), run `feedwatch db vacuum`, start it again."
            );
            return Ok(EXIT_IN_USE);
        }
        Err(e) => return Err(e.into()),
    };
    let r = maintenance::vacuum(db)?;
    println!(
        "database {}: auto_vacuum {} -> {}; {} -> {} on disk, {} free pages given back (took {:.1} s)",
        db.display(),
        auto_vacuum_name(r.before.auto_vacuum),
        auto_vacuum_name(r.after.auto_vacuum),
        human(r.before.total_bytes()),
        human(r.after.total_bytes()),
        r.before.freelist_count - r.after.freelist_count,
        r.took.as_secs_f64()
    );
    Ok(0)
}
