//! `feedwatch status`: is the service doing its job, and how is each feed.
//!
//! The first line is about the service as a whole, seen from outside the daemon, because the
//! thing that failed may be the database itself: whether a daemon (or poll) holds the
//! database's lock and the faults it wrote there (see `health` and `store::lock`), and a
//! `PRAGMA quick_check` of the database, and the free space where the database and the
//! alert log are written. On PostgreSQL that part is the server's and the instances'
//! (`status_pg`). Then one line (or JSON object) per configured feed and per sink, read
//! through `store::reader::Reader` from either backend. Text from feeds goes through
//! `safe_text::printable`.

use std::io::Write;

use super::json;

use super::{Format, EXIT_FAULT};
use feedwatch::config::{Backend, Config};
use feedwatch::store::lock;
use feedwatch::store::maintenance::DbSize;
use feedwatch::store::reader::{ReadError, Reader};
use feedwatch::store::{Store, StoreError};
use feedwatch::text::safe_text::printable;

/// Errors from `status`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StatusError {
    /// The SQLite database could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The database could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Standard output could not be written.
    #[error("cannot write the status: {0}")]
    Write(#[from] std::io::Error),
}

/// The service-level part of `status`, seen from outside the daemon: whether a daemon (or
/// poll) holds the database and the faults it reports through the lock file (the database
/// itself may be unwritable), and the database's own `PRAGMA quick_check`.
struct Service {
    holder: Option<lock::Holder>,
    db_exists: bool,
    /// Integrity problems, or why the database could not be opened.
    db_problems: Vec<String>,
    /// Bytes free for unprivileged writers where the database and the alert log live.
    db_free: Option<u64>,
    log_free: Option<u64>,
    /// The database's size and pages, when it could be read.
    db_size: Option<DbSize>,
}

/// Bytes an unprivileged writer can still use on the file system holding `path` (or its
/// nearest existing folder). `statvfs` through rustix: the standard library has no call for
/// it, and this keeps the crate free of `unsafe`.
pub(super) fn free_bytes(path: &std::path::Path) -> Option<u64> {
    let dir = path.ancestors().skip(1).find(|d| d.is_dir())?;
    let dir = if dir.as_os_str().is_empty() {
        std::path::Path::new(".")
    } else {
        dir
    };
    let st = rustix::fs::statvfs(dir).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Bytes for people: `512 KiB`, `3.2 GiB`.
pub(super) fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

impl Service {
    fn observe(cfg: &Config, store: Option<&Result<Store, StoreError>>) -> Service {
        let holder = match lock::holder(&cfg.database) {
            Ok(h) => h,
            Err(e) => Some(lock::Holder {
                faults: vec![lock::HolderFault {
                    fault: "lock_file".into(),
                    since: "-".into(),
                    reason: format!(
                        "cannot read {}: {e}",
                        lock::lock_path(&cfg.database).display()
                    ),
                }],
                ..Default::default()
            }),
        };
        let db_problems = match store {
            Some(Ok(s)) => s.quick_check().unwrap_or_else(|e| vec![e.to_string()]),
            Some(Err(e)) => vec![e.to_string()],
            None => vec![],
        };
        let db_size = match store {
            Some(Ok(s)) => s.size().ok(),
            _ => None,
        };
        Service {
            holder,
            db_size,
            db_exists: cfg.database.exists(),
            db_problems,
            db_free: free_bytes(&cfg.database),
            log_free: free_bytes(&cfg.alert_log),
        }
    }

    /// Whether anything here stops the service doing its job.
    fn faulty(&self) -> bool {
        !self.db_problems.is_empty()
            || self.db_free == Some(0)
            || self.log_free == Some(0)
            || self
                .holder
                .as_ref()
                .is_some_and(|h| h.running && !h.faults.is_empty())
    }

    fn json<'a>(&'a self, cfg: &'a Config) -> json::ServiceLine<'a> {
        json::ServiceLine {
            alert_log: json::AlertLogState {
                free_bytes: self.log_free,
                path: &cfg.alert_log,
            },
            database: json::DatabaseState {
                exists: self.db_exists,
                free_bytes: self.db_free,
                freelist_pages: self.db_size.map(|s| s.freelist_count),
                page_count: self.db_size.map(|s| s.page_count),
                path: &cfg.database,
                problems: &self.db_problems,
                size_bytes: self.db_size.map(|s| s.total_bytes()),
                wal_bytes: self.db_size.map(|s| s.wal_bytes),
            },
            instances: None,
            service: self.holder.as_ref().map(|h| json::ServiceState {
                faults: if h.running { &h.faults } else { &[] },
                host: &h.host,
                pid: &h.pid,
                running: h.running,
                since: &h.since,
            }),
        }
    }

    fn write_text(&self, out: &mut impl Write, cfg: &Config) -> std::io::Result<()> {
        match &self.holder {
            None => writeln!(
                out,
                "service: not running (no daemon or poll has run on this database)"
            )?,
            Some(h) if !h.running => writeln!(
                out,
                "service: not running (last run: pid {} on host {}, started {})",
                h.pid, h.host, h.since
            )?,
            Some(h) => {
                let health = if h.faults.is_empty() {
                    "healthy"
                } else {
                    "FAULT"
                };
                writeln!(
                    out,
                    "service: running, pid {} on host {} since {}; {health}",
                    h.pid, h.host, h.since
                )?;
                for f in &h.faults {
                    writeln!(
                        out,
                        "  FAULT {} since {}: {}",
                        printable(&f.fault, false),
                        printable(&f.since, false),
                        printable(&f.reason, false)
                    )?;
                }
            }
        }
        let db = cfg.database.display();
        if !self.db_exists {
            writeln!(out, "database: {db} does not exist yet")?;
        } else if self.db_problems.is_empty() {
            writeln!(out, "database: {db}: ok (quick_check)")?;
        } else {
            writeln!(
                out,
                "database: {db}: DAMAGED or unreadable: {}",
                printable(&self.db_problems.join("; "), false)
            )?;
        }
        if let Some(s) = &self.db_size {
            writeln!(out, "database size: {}", super::db::size_line(s))?;
        }
        let free = |f: Option<u64>| match f {
            Some(0) => "NO SPACE LEFT".to_string(),
            Some(b) => format!("{} free", human(b)),
            None => "free space unknown".to_string(),
        };
        writeln!(
            out,
            "disk: {} for the database, {} for the alert log ({})",
            free(self.db_free),
            free(self.log_free),
            cfg.alert_log.display()
        )?;
        writeln!(out)
    }
}

/// The service part of `status`, per backend.
enum Head {
    Sqlite(Service),
    Postgres(super::status_pg::PgService),
}

impl Head {
    /// Observes the service and opens the database. SQLite: the file is checked before it
    /// is opened (opening creates a missing one), and an error opening it comes back after
    /// the head is written. PostgreSQL: no reader when the server cannot be reached (the
    /// head says why). The SQLite checks (lock file, `quick_check`, sizes) block, so they
    /// run in the blocking pool.
    async fn observe(
        cfg: &Config,
    ) -> Result<(Head, Option<Result<Reader, StoreError>>), StatusError> {
        match cfg.backend() {
            Backend::Sqlite(_) => {
                let cfg = cfg.clone();
                let (service, opened) = tokio::task::spawn_blocking(move || {
                    let opened = cfg.database.exists().then(|| Store::open(&cfg.database));
                    (Service::observe(&cfg, opened.as_ref()), opened)
                })
                .await
                .map_err(|e| ReadError::Task(e.to_string()))?;
                let reader = opened.map(|s| s.map(Reader::from_store));
                Ok((Head::Sqlite(service), reader))
            }
            Backend::Postgres(pg) => {
                let (service, reader) = super::status_pg::PgService::observe(cfg, pg).await;
                Ok((Head::Postgres(service), reader.map(Ok)))
            }
        }
    }

    fn faulty(&self) -> bool {
        match self {
            Head::Sqlite(s) => s.faulty(),
            Head::Postgres(p) => p.faulty(),
        }
    }

    fn write(&self, out: &mut impl Write, cfg: &Config, format: Format) -> std::io::Result<()> {
        let line = match (self, format) {
            (Head::Sqlite(s), Format::Text) => return s.write_text(out, cfg),
            (Head::Postgres(p), Format::Text) => return p.write_text(out, cfg),
            (Head::Sqlite(s), Format::Json) => s.json(cfg),
            (Head::Postgres(p), Format::Json) => p.json(cfg),
        };
        let text = serde_json::to_string(&line).map_err(std::io::Error::other)?;
        writeln!(out, "{text}")
    }
}

/// The service line, then one line (text) or one JSON object per configured feed and per
/// sink, on either backend. Exits [`EXIT_FAULT`] when the daemon reports a fault, the
/// database is damaged or (PostgreSQL) cannot be reached.
pub async fn run(cfg: &Config, format: Format) -> Result<u8, StatusError> {
    let (head, reader) = Head::observe(cfg).await?;
    head.write(&mut std::io::stdout().lock(), cfg, format)?;
    let code = if head.faulty() { EXIT_FAULT } else { 0 };
    let reader = match (reader, &head) {
        (Some(r), _) => r?,
        // PostgreSQL unreachable: the head said why.
        (None, Head::Postgres(_)) => return Ok(code),
        (None, Head::Sqlite(_)) => Reader::open(cfg.backend()).await?,
    };
    let rows = reader.feeds().await?;
    let sink_rows = reader.sink_status().await?;
    let mut out = std::io::stdout().lock();
    write_feeds(&mut out, cfg, format, &rows)?;
    write_sinks(&mut out, cfg, format, &sink_rows)?;
    Ok(code)
}

/// One line (text, after a header) or JSON object per configured feed with a row.
fn write_feeds(
    out: &mut impl Write,
    cfg: &Config,
    format: Format,
    rows: &[feedwatch::store::FeedRow],
) -> std::io::Result<()> {
    let when = |t: Option<i64>| t.map(feedwatch::text::time::rfc3339);
    if format == Format::Text {
        writeln!(
            out,
            "{:<40} {:<20} {:>6} {:>5} {:<20} {:>7} {:>5}  ERROR",
            "FEED", "LAST POLL", "STATUS", "FAILS", "NEXT POLL", "SEEN", "KEPT"
        )?;
    }
    for f in &cfg.feeds {
        let Some(r) = rows.iter().find(|r| r.url == f.url) else {
            continue;
        };
        match format {
            Format::Json => writeln!(
                out,
                "{}",
                serde_json::to_string(&json::FeedStatusLine {
                    articles_kept: r.articles_kept,
                    consecutive_failures: r.consecutive_failures,
                    extract_failures: r.extract_failures,
                    gaps: r.gaps,
                    interval_secs: r.interval_secs,
                    items_seen: r.items_seen,
                    last_error: r.last_error.as_deref(),
                    last_extract_error: r.last_extract_error.as_deref(),
                    last_poll: when(r.last_poll_at),
                    last_status: r.last_status,
                    moved_to: r.moved_to.as_deref(),
                    name: f.name.as_deref(),
                    next_poll: when(r.next_poll_at.filter(|t| !feedwatch::store::is_stopped(*t))),
                    url: &r.url,
                })
                .map_err(std::io::Error::other)?
            )?,
            Format::Text => {
                let name: String = printable(f.display_name(), false)
                    .chars()
                    .take(40)
                    .collect();
                writeln!(
                    out,
                    "{:<40} {:<20} {:>6} {:>5} {:<20} {:>7} {:>5}  {}",
                    name,
                    when(r.last_poll_at).unwrap_or_else(|| "never".into()),
                    r.last_status.map_or("-".into(), |s| s.to_string()),
                    r.consecutive_failures,
                    when(r.next_poll_at.filter(|t| !feedwatch::store::is_stopped(*t)))
                        .unwrap_or_else(|| "stopped".into()),
                    r.items_seen,
                    r.articles_kept,
                    printable(r.last_error.as_deref().unwrap_or(""), false)
                )?;
                if let Some(to) = &r.moved_to {
                    writeln!(
                        out,
                        "{:<40} moved permanently to {}: update the config",
                        "",
                        printable(to, false)
                    )?;
                }
                if r.gaps > 0 {
                    writeln!(
                        out,
                        "{:<40} {} poll(s) suggested missed items: consider a shorter interval",
                        "", r.gaps
                    )?;
                }
            }
        }
    }
    Ok(())
}

/// The sinks' delivery state: a table, or one JSON object per sink.
fn write_sinks(
    out: &mut impl Write,
    cfg: &Config,
    format: Format,
    sink_rows: &[feedwatch::store::SinkStatus],
) -> std::io::Result<()> {
    match format {
        Format::Json => {
            for v in feedwatch::sink::status_json(&cfg.sinks, sink_rows) {
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string(&v).map_err(std::io::Error::other)?
                )?;
            }
        }
        Format::Text => {
            let table = feedwatch::sink::format_status(&cfg.sinks, sink_rows);
            if !table.is_empty() {
                // Sink errors quote receivers' answers: cleaned, lines kept.
                write!(out, "\n{}", printable(&table, true))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(3 * 1024 * 1024 * 1024), "3.0 GiB");
        let d = tempfile::tempdir().expect("tmp");
        assert!(free_bytes(&d.path().join("not/yet/there.db")).is_some_and(|b| b > 0));
    }
}
