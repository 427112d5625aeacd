//! Keeping the database file in shape over months of service, and the operator's tools for it.
//!
//! SQLite never shrinks a file on its own: deleted rows leave free pages that later inserts
//! reuse, but the file keeps its largest size, and a WAL that a checkpoint could not reset
//! stays at its largest too. New databases are created with `auto_vacuum = INCREMENTAL`
//! (see `Store::open`), so the daemon's writer can give free pages back a bounded number at
//! a time ([`Store::maintain`]) without ever rewriting the whole file under a running poll.
//! Older databases (auto-vacuum off) are converted once by `feedwatch db vacuum`
//! ([`vacuum`]), which rewrites the file and so needs the daemon stopped.
//!
//! The operator commands (`db stats`, `db backup`, `db check`) open the file as it is, with
//! no migration and no pragma that writes: they must work on a database the daemon holds,
//! on a copy, and on a damaged file, where `Store::open` would refuse or change it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use super::{Store, StoreError, BUSY_TIMEOUT};

/// Free pages a maintenance pass gives back at most: with 16 KiB pages, 16 MiB per pass.
/// Giving a page back moves the file's last page into it, so the cost is linear in this.
pub const VACUUM_PAGES_PER_PASS: i64 = 1024;

/// How long a maintenance checkpoint waits for readers (a `db backup`, `status`) before it
/// gives up for this pass: the writer must get back to committing polls.
const CHECKPOINT_WAIT: Duration = Duration::from_millis(200);

/// `PRAGMA auto_vacuum` value of an incremental database.
pub const AUTO_VACUUM_INCREMENTAL: i64 = 2;

/// Tables with a time column, and that column: where `db stats` reads the oldest row's age.
/// A unit test holds every entry to the schema, so a renamed column fails there.
const TIME_COLUMNS: &[(&str, &str)] = &[
    ("feeds", "created_at"),
    ("articles", "fetched_at"),
    ("alerts", "created_at"),
    ("recent_items", "seen_at"),
    ("sinks", "created_at"),
    ("sink_deliveries", "next_attempt_at"),
    ("digest_deliveries", "created_at"),
    ("seen_items", "last_present"),
    ("seen_staged", "last_present"),
];

/// Errors from the operator commands.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MaintenanceError {
    /// The database does not exist (the commands never create one).
    #[error("database {} does not exist", .0.display())]
    Missing(PathBuf),
    /// The database could not be opened or read.
    #[error("database {}: {source}", path.display())]
    Sql {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// `db backup` never overwrites a file.
    #[error("{} already exists; choose a new path (a backup never overwrites a file)", .0.display())]
    Exists(PathBuf),
    /// A file operation around the backup failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
}

/// The database file's size and page accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DbSize {
    /// Bytes of the database file.
    pub file_bytes: u64,
    /// Bytes of its write-ahead log (0 when there is none).
    pub wal_bytes: u64,
    /// Bytes per page.
    pub page_size: i64,
    /// Pages in the file.
    pub page_count: i64,
    /// Pages free for reuse (what a vacuum would give back).
    pub freelist_count: i64,
    /// `PRAGMA auto_vacuum`: 0 none, 1 full, 2 incremental.
    pub auto_vacuum: i64,
}

impl DbSize {
    /// The database and its WAL together: what it takes on disk.
    pub fn total_bytes(&self) -> u64 {
        self.file_bytes.saturating_add(self.wal_bytes)
    }
}

/// One table in `db stats`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableStats {
    /// The table's name.
    pub name: String,
    /// Its rows.
    pub rows: i64,
    /// Bytes of its pages and its indexes' (an FTS table's include its shadow tables').
    pub bytes: u64,
    /// Unix seconds of its oldest row, for tables with a time column that have rows.
    pub oldest: Option<i64>,
}

/// What a maintenance pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Maintained {
    /// Free pages given back to the file system.
    pub pages_freed: i64,
    /// Free pages left for later passes.
    pub pages_left: i64,
    /// Whether the database has incremental auto-vacuum (else nothing can be given back
    /// before `feedwatch db vacuum` converts it).
    pub incremental: bool,
    /// Whether the WAL was reset to zero bytes (a reader may have held it back).
    pub wal_truncated: bool,
}

/// What `db backup` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// The backup file.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// Alerts in it.
    pub alerts: i64,
    /// Articles in it.
    pub articles: i64,
    /// How long it took.
    pub took: Duration,
}

/// What `db vacuum` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VacuumReport {
    /// Sizes before.
    pub before: DbSize,
    /// Sizes after.
    pub after: DbSize,
    /// How long it took.
    pub took: Duration,
}

fn sql_err(path: &Path) -> impl Fn(rusqlite::Error) -> MaintenanceError + '_ {
    move |source| MaintenanceError::Sql {
        path: path.to_path_buf(),
        source,
    }
}

/// Opens an existing database as it is: no migration, no pragma that writes, never created.
fn open_existing(path: &Path) -> Result<Connection, MaintenanceError> {
    if !path.is_file() {
        return Err(MaintenanceError::Missing(path.to_path_buf()));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql_err(path))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sql_err(path))?;
    Ok(conn)
}

/// The WAL file of `db`: `<db>-wal`.
fn wal_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push("-wal");
    PathBuf::from(p)
}

fn size_of(conn: &Connection, path: &Path) -> rusqlite::Result<DbSize> {
    let pragma = |name: &str| conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, i64>(0));
    let len = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    Ok(DbSize {
        file_bytes: len(path),
        wal_bytes: len(&wal_path(path)),
        page_size: pragma("page_size")?,
        page_count: pragma("page_count")?,
        freelist_count: pragma("freelist_count")?,
        auto_vacuum: pragma("auto_vacuum")?,
    })
}

impl Store {
    /// The database's size on disk and its page accounting (cheap: two `stat`s and header
    /// fields).
    ///
    /// # Errors
    /// When the pragmas cannot be read.
    pub fn size(&self) -> Result<DbSize, StoreError> {
        Ok(size_of(&self.conn, &self.path)?)
    }

    /// One maintenance pass of the daemon's writer: gives back up to `max_pages` free pages
    /// (`PRAGMA incremental_vacuum`) and resets the WAL (`PRAGMA wal_checkpoint(TRUNCATE)`).
    /// The checkpoint waits at most [`CHECKPOINT_WAIT`] for readers, so a long `db backup`
    /// only postpones the truncation to the next pass instead of stalling commits.
    ///
    /// # Errors
    /// When a pragma fails (I/O error, full disk, corruption).
    pub fn maintain(&mut self, max_pages: i64) -> Result<Maintained, StoreError> {
        let before = self.size()?;
        let incremental = before.auto_vacuum == AUTO_VACUUM_INCREMENTAL;
        if incremental && before.freelist_count > 0 {
            // The pragma frees one page per step (a result row each): stepped to the end.
            let mut st = self
                .conn
                .prepare(&format!("PRAGMA incremental_vacuum({})", max_pages.max(1)))?;
            let mut rows = st.query([])?;
            while rows.next()?.is_some() {}
        }
        self.conn.busy_timeout(CHECKPOINT_WAIT)?;
        let checkpoint = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            });
        self.conn.busy_timeout(BUSY_TIMEOUT)?;
        let busy = checkpoint?;
        let after = self.size()?;
        Ok(Maintained {
            pages_freed: (before.freelist_count - after.freelist_count).max(0),
            pages_left: after.freelist_count,
            incremental,
            wal_truncated: busy == 0,
        })
    }
}

/// Sizes of the database at `path`, opened as it is.
///
/// # Errors
/// When it does not exist or cannot be read.
pub fn size(path: &Path) -> Result<DbSize, MaintenanceError> {
    let conn = open_existing(path)?;
    size_of(&conn, path).map_err(sql_err(path))
}

/// Rows, bytes and the oldest row's time of every table, in schema order. FTS shadow tables
/// count towards their FTS table; SQLite's own tables are left out.
///
/// # Errors
/// When the database does not exist or cannot be read.
pub fn table_stats(path: &Path) -> Result<Vec<TableStats>, MaintenanceError> {
    let conn = open_existing(path)?;
    let err = sql_err(path);
    let tables: Vec<(String, String)> = {
        let mut st = conn
            .prepare(
                "SELECT name, type FROM pragma_table_list
                 WHERE schema = 'main' AND type IN ('table', 'virtual', 'shadow')
                   AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
            )
            .map_err(&err)?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(&err)?;
        rows.collect::<Result<_, _>>().map_err(&err)?
    };
    // Bytes per b-tree, each index's counted with its table (one pass over every page).
    let bytes: Vec<(String, u64)> = {
        let mut st = conn
            .prepare(
                "SELECT coalesce(s.tbl_name, d.name), sum(d.pgsize)
                 FROM dbstat d LEFT JOIN sqlite_schema s ON s.name = d.name
                 GROUP BY 1",
            )
            .map_err(&err)?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)?)))
            .map_err(&err)?;
        rows.map(|r| r.map(|(n, b)| (n, u64::try_from(b).unwrap_or(0))))
            .collect::<Result<_, _>>()
            .map_err(&err)?
    };
    let virtuals: Vec<&str> = tables
        .iter()
        .filter(|(_, t)| t == "virtual")
        .map(|(n, _)| n.as_str())
        .collect();
    // A shadow table (`articles_fts_data`) belongs to the virtual table its name extends.
    let owner = |name: &str| -> String {
        virtuals
            .iter()
            .find(|v| name.starts_with(&format!("{v}_")))
            .copied()
            .unwrap_or(name)
            .to_string()
    };
    let mut out: Vec<TableStats> = Vec::new();
    for (name, kind) in &tables {
        if kind == "shadow" {
            continue;
        }
        let quoted = name.replace('"', "\"\"");
        let rows: i64 = conn
            .query_row(&format!("SELECT count(*) FROM \"{quoted}\""), [], |r| {
                r.get(0)
            })
            .map_err(&err)?;
        let oldest = match TIME_COLUMNS.iter().find(|(t, _)| t == name) {
            Some((_, col)) => conn
                .query_row(&format!("SELECT min({col}) FROM \"{quoted}\""), [], |r| {
                    r.get(0)
                })
                .map_err(&err)?,
            None => None,
        };
        let bytes = bytes
            .iter()
            .filter(|(b, _)| owner(b) == *name)
            .map(|(_, n)| n)
            .sum();
        out.push(TableStats {
            name: name.clone(),
            rows,
            bytes,
            oldest,
        });
    }
    Ok(out)
}

/// What retention would remove now from the database at `path`, opened as it is (see
/// `retention::Due`); `None` for a database the daemon has not yet migrated to retention.
///
/// # Errors
/// When the database does not exist or cannot be read.
pub fn retention_due(
    path: &Path,
    policy: &super::retention::Policy,
    now: i64,
) -> Result<Option<Vec<super::retention::Due>>, MaintenanceError> {
    let conn = open_existing(path)?;
    let err = sql_err(path);
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(&err)?;
    if version < super::RETENTION_SCHEMA {
        return Ok(None);
    }
    super::retention::all_due(&conn, policy, now)
        .map(Some)
        .map_err(&err)
}

/// `PRAGMA integrity_check` and `PRAGMA foreign_key_check` on the database as it is: the
/// problems found (at most 100 of each), empty when it is sound. A file too damaged to run
/// the checks at all gives that failure as its one problem.
///
/// # Errors
/// When the file does not exist.
pub fn check(path: &Path) -> Result<Vec<String>, MaintenanceError> {
    let conn = match open_existing(path) {
        Ok(c) => c,
        Err(e @ MaintenanceError::Missing(_)) => return Err(e),
        Err(e) => return Ok(vec![e.to_string()]),
    };
    let lines = |sql: &str| -> rusqlite::Result<Vec<String>> {
        let mut st = conn.prepare(sql)?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect()
    };
    let mut problems = match lines("PRAGMA integrity_check(100)") {
        Ok(found) => found.into_iter().filter(|l| l != "ok").collect(),
        Err(e) => vec![format!("integrity_check could not run: {e}")],
    };
    match lines(
        "SELECT 'row ' || coalesce(rowid, '?') || ' of ' || \"table\"
                || ' points at a missing row of ' || parent
         FROM pragma_foreign_key_check LIMIT 100",
    ) {
        Ok(found) => problems.extend(found),
        Err(e) => problems.push(format!("foreign_key_check could not run: {e}")),
    }
    Ok(problems)
}

/// Copies the database at `db` to `dest`, consistent as of one instant, while the daemon
/// goes on committing: `VACUUM INTO` reads in one read transaction (WAL lets the writer go
/// on beside it) and writes a compacted copy. It goes to a temporary file beside `dest`,
/// which is synced and then renamed into place without replacing anything, so `dest` is
/// either absent or a whole backup.
///
/// # Errors
/// [`MaintenanceError::Exists`] when `dest` exists; otherwise when the database cannot be
/// read or the copy cannot be written.
pub fn backup(db: &Path, dest: &Path) -> Result<BackupReport, MaintenanceError> {
    let started = Instant::now();
    if dest.symlink_metadata().is_ok() {
        return Err(MaintenanceError::Exists(dest.to_path_buf()));
    }
    let io = |what: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| MaintenanceError::Io { what, path, source }
    };
    let name = dest
        .file_name()
        .ok_or_else(|| MaintenanceError::Io {
            what: "not a file name:",
            path: dest.to_path_buf(),
            source: std::io::ErrorKind::InvalidInput.into(),
        })?
        .to_string_lossy()
        .into_owned();
    let tmp = dest.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let tmp_str = tmp.to_str().ok_or_else(|| MaintenanceError::Io {
        what: "SQLite needs a UTF-8 path:",
        path: tmp.clone(),
        source: std::io::ErrorKind::InvalidInput.into(),
    })?;
    let conn = open_existing(db)?;
    let _ = std::fs::remove_file(&tmp);
    let result: Result<(i64, i64), MaintenanceError> = (|| {
        conn.execute("VACUUM INTO ?1", [tmp_str])
            .map_err(sql_err(db))?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io("cannot sync", &tmp))?;
        let copy = Connection::open_with_flags(&tmp, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(sql_err(&tmp))?;
        let count = |t: &str| {
            copy.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(sql_err(&tmp))
        };
        let (alerts, articles) = (count("alerts")?, count("articles")?);
        drop(copy);
        rename_new(&tmp, dest)?;
        Ok((alerts, articles))
    })();
    let (alerts, articles) = match result {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The rename is only durable once the folder is synced.
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(BackupReport {
        path: dest.to_path_buf(),
        bytes: std::fs::metadata(dest).map_or(0, |m| m.len()),
        alerts,
        articles,
        took: started.elapsed(),
    })
}

/// Renames `from` to `to` unless `to` exists, atomically where the file system can
/// (`RENAME_NOREPLACE`), else after a check.
fn rename_new(from: &Path, to: &Path) -> Result<(), MaintenanceError> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::EXIST) => Err(MaintenanceError::Exists(to.to_path_buf())),
        Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
            if to.symlink_metadata().is_ok() {
                return Err(MaintenanceError::Exists(to.to_path_buf()));
            }
            std::fs::rename(from, to).map_err(|source| MaintenanceError::Io {
                what: "cannot rename the backup to",
                path: to.to_path_buf(),
                source,
            })
        }
        Err(e) => Err(MaintenanceError::Io {
            what: "cannot rename the backup to",
            path: to.to_path_buf(),
            source: e.into(),
        }),
    }
}

/// `feedwatch db vacuum`: turns on incremental auto-vacuum (a database created before it
/// was the default has none) and rewrites the file with `VACUUM`, giving back every free
/// page; then resets the WAL. The caller holds the database's lock: the rewrite needs the
/// file to itself, and needs free disk space about twice the database's size.
///
/// # Errors
/// When the database does not exist, or the rewrite fails (full disk, say; the database is
/// then unchanged).
pub fn vacuum(path: &Path) -> Result<VacuumReport, MaintenanceError> {
    let started = Instant::now();
    let conn = open_existing(path)?;
    let err = sql_err(path);
    let before = size_of(&conn, path).map_err(&err)?;
    conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;")
        .map_err(&err)?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(&err)?;
    let after = size_of(&conn, path).map_err(&err)?;
    Ok(VacuumReport {
        before,
        after,
        took: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_time_column_is_in_the_schema() {
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("f.db");
        let s = Store::open(&p).expect("open");
        for (table, col) in TIME_COLUMNS {
            let n: i64 = s
                .conn
                .query_row(
                    "SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2",
                    [table, col],
                    |r| r.get(0),
                )
                .expect("table_info");
            assert_eq!(n, 1, "{table}.{col}");
        }
        assert_eq!(s.size().expect("size").auto_vacuum, AUTO_VACUUM_INCREMENTAL);
        let stats = table_stats(&p).expect("stats");
        assert!(stats.iter().any(|t| t.name == "articles_fts"));
        assert!(!stats.iter().any(|t| t.name.starts_with("articles_fts_")));
        assert!(check(&p).expect("check").is_empty());
    }

    #[test]
    fn a_pass_gives_free_pages_back_and_truncates_the_wal() {
        let d = tempfile::tempdir().expect("tmp");
        let mut s = Store::open(&d.path().join("f.db")).expect("open");
        s.conn
            .execute_batch(
                "CREATE TABLE filler (b BLOB);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
                 INSERT INTO filler SELECT randomblob(20000) FROM n;
                 DROP TABLE filler;",
            )
            .expect("fill");
        let free = s.size().expect("size").freelist_count;
        assert!(free > 300, "{free}");
        let m = s.maintain(100).expect("pass");
        assert!(m.incremental && m.wal_truncated);
        assert_eq!((m.pages_freed, m.pages_left), (100, free - 100));
        assert_eq!(s.size().expect("size").wal_bytes, 0);
        let m = s.maintain(VACUUM_PAGES_PER_PASS).expect("pass");
        assert_eq!(m.pages_left, 0);
    }

    #[test]
    fn a_backup_never_replaces_a_file() {
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("f.db");
        drop(Store::open(&p).expect("open"));
        let dest = d.path().join("b.db");
        std::fs::write(&dest, "keep").expect("write");
        assert!(matches!(
            backup(&p, &dest),
            Err(MaintenanceError::Exists(_))
        ));
        assert_eq!(std::fs::read_to_string(&dest).expect("read"), "keep");
        let dest2 = d.path().join("c.db");
        let r = backup(&p, &dest2).expect("backup");
        assert!(r.bytes > 0 && check(&dest2).expect("check").is_empty());
        let leftovers = std::fs::read_dir(d.path())
            .expect("dir")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            })
            .count();
        assert_eq!(leftovers, 0);
        assert!(matches!(
            check(&d.path().join("none.db")),
            Err(MaintenanceError::Missing(_))
        ));
    }
}
