//! `feedwatch db …`: the operator's database commands (see `store::maintenance`).
//!
//! `stats`, `backup` and `check` read the database as it is and run beside the daemon;
//! `vacuum` rewrites the whole file, so it takes the database's lock and is refused while a
//! daemon or poll holds it. Exit codes follow the rest of the command line: 0 done, 2 a
//! damaged or missing database or a bad argument, 3 the database is in use.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;

use super::status::human;
use super::{json, Format};
use feedwatch::app::EXIT_IN_USE;
use feedwatch::config::{self, Env};
use feedwatch::store::lock::{DbLock, LockError};
use feedwatch::store::maintenance::{self, DbSize, MaintenanceError};
use feedwatch::text::safe_text::printable;
use feedwatch::text::time::rfc3339;

/// `db` subcommands.
#[derive(Debug, Subcommand)]
pub enum DbAction {
    /// Size on disk, pages, and for each table its rows, bytes and oldest row.
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
}

/// Runs a `db` subcommand; the exit code.
///
/// # Errors
/// When the config cannot be loaded or the database cannot be read.
pub fn run(config: Option<&Path>, action: &DbAction) -> Result<u8> {
    let database = || -> Result<PathBuf> {
        let path = config::locate(config)?;
        // The database path is all a `db` command needs: rules that do not compile must not
        // stand between an operator and a backup, so they are not compiled here.
        Ok(config::read(&path, &Env::from_process())?
            .finish()?
            .database)
    };
    match action {
        DbAction::Stats { format, json } => {
            let format = if *json { Format::Json } else { *format };
            stats(&database()?, format)
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
fn stats(db: &Path, format: Format) -> Result<u8> {
    let size = maintenance::size(db)?;
    let tables = maintenance::table_stats(db)?;
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
    match maintenance::backup(db, dest) {
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
    let problems = maintenance::check(db)?;
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
