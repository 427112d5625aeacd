//! One instance per database, and the daemon's health where `status` can read it.
//!
//! Two daemons on one database both poll every feed and both deliver every alert: the alert
//! log gets each alert twice and `seen_items` fills with duplicates. So `run` and `poll`
//! take an exclusive lock on `<database>.lock` (an OS file lock, released by the kernel
//! however the process dies, so a stale lock cannot outlive a crash) and a second one is
//! refused with the holder's pid, host and start time, which the holder writes into the file.
//!
//! The same file carries the holder's service faults (see `health`): when the disk is full
//! or the database damaged, the database is the one place that cannot say so. The file is
//! written once at full size and afterwards overwritten in place, so an update needs no new
//! disk blocks and still succeeds on a full disk.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::ops::health::ActiveFault;

/// Size of the lock file: holder lines plus a few faults; longer reasons are cut.
const LOCK_FILE_BYTES: usize = 4096;

/// Errors from taking the lock.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Another process holds the lock.
    #[error("database {} is in use by feedwatch pid {} on host {} since {}; one daemon or poll per database (stop the other one, or give this one its own [storage] database)", db.display(), holder.pid, holder.host, holder.since)]
    Held {
        /// The database the lock guards.
        db: PathBuf,
        /// Who holds it.
        holder: Box<Holder>,
    },
    /// The lock file could not be created, read or locked.
    #[error("cannot lock database {} through {}: {source}", db.display(), path.display())]
    Io {
        /// The database the lock guards.
        db: PathBuf,
        /// The lock file.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
}

/// What the lock file says about the process that holds (or last held) it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Holder {
    /// Process id of the holder.
    pub pid: String,
    /// Host name of the holder.
    pub host: String,
    /// RFC 3339 start time.
    pub since: String,
    /// Whether a live process holds the lock now.
    pub running: bool,
    /// The holder's active service faults, as it last wrote them.
    pub faults: Vec<HolderFault>,
}

/// One fault line of the lock file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HolderFault {
    // Fields in alphabetical order: the order `status --format json` has always written.
    /// The fault's name (`store_commit`, `alert_log`, ...).
    pub fault: String,
    /// What went wrong, as the holder logged it.
    pub reason: String,
    /// RFC 3339 time it was raised.
    pub since: String,
}

/// The lock file of a database: `<database>.lock` beside it.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

/// The exclusive lock on one database, held until dropped (or the process ends).
#[derive(Debug)]
pub struct DbLock {
    file: File,
    header: String,
}

impl DbLock {
    /// Takes the lock without waiting and writes this process's pid, host and start time.
    ///
    /// # Errors
    /// [`LockError::Held`] when another process holds it; [`LockError::Io`] when the file
    /// cannot be created or written.
    pub fn acquire(db: &Path) -> Result<DbLock, LockError> {
        let path = lock_path(db);
        let io = |source| LockError::Io {
            db: db.to_path_buf(),
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut opts = OpenOptions::new();
        opts.read(true).write(true).create(true).truncate(false);
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = opts.open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = Box::new(parse(&read_text(&mut file).map_err(io)?));
                holder.running = true;
                return Err(LockError::Held {
                    db: db.to_path_buf(),
                    holder,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        let header = format!(
            "pid={}\nhost={}\nsince={}\n",
            std::process::id(),
            hostname(),
            crate::text::time::rfc3339(chrono::Utc::now().timestamp())
        );
        let lock = DbLock { file, header };
        lock.write_health(&[]).map_err(io)?;
        Ok(lock)
    }

    /// Writes the holder lines and `faults` over the file, in place and at full size.
    ///
    /// # Errors
    /// When the write fails.
    pub fn write_health(&self, faults: &[ActiveFault]) -> std::io::Result<()> {
        let mut text = self.header.clone();
        if faults.is_empty() {
            text.push_str("health=ok\n");
        }
        for f in faults {
            let reason = crate::text::safe_text::printable(&f.reason, false);
            text.push_str(&format!(
                "fault={} since={} reason={}\n",
                f.fault,
                crate::text::time::rfc3339(f.since),
                crate::text::safe_text::clip(&reason, 1000)
            ));
        }
        let mut buf = text.into_bytes();
        buf.truncate(LOCK_FILE_BYTES - 1);
        buf.resize(LOCK_FILE_BYTES - 1, b' ');
        buf.push(b'\n');
        self.file.write_all_at(&buf, 0)?;
        self.file.sync_data()
    }
}

/// Who holds (or last held) the lock of `db`; `None` when there is no lock file (no daemon
/// or poll ever ran on it). Takes no lock that could disturb the holder: a shared lock is
/// tried and released at once, only to learn whether a holder is alive.
///
/// # Errors
/// When the lock file exists but cannot be read.
pub fn holder(db: &Path) -> std::io::Result<Option<Holder>> {
    let mut file = match File::open(lock_path(db)) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let running = match file.try_lock_shared() {
        Ok(()) => {
            file.unlock()?;
            false
        }
        Err(TryLockError::WouldBlock) => true,
        Err(TryLockError::Error(e)) => return Err(e),
    };
    let mut h = parse(&read_text(&mut file)?);
    h.running = running;
    Ok(Some(h))
}

fn read_text(file: &mut File) -> std::io::Result<String> {
    let mut buf = Vec::new();
    file.take(LOCK_FILE_BYTES as u64).read_to_end(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn parse(text: &str) -> Holder {
    let mut h = Holder {
        pid: "?".into(),
        host: "?".into(),
        since: "?".into(),
        ..Holder::default()
    };
    for line in text.lines().map(str::trim_end) {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        match k {
            "pid" => h.pid = v.into(),
            "host" => h.host = v.into(),
            "since" => h.since = v.into(),
            "fault" => {
                let (fault, rest) = v.split_once(" since=").unwrap_or((v, ""));
                let (since, reason) = rest.split_once(" reason=").unwrap_or((rest, ""));
                h.faults.push(HolderFault {
                    fault: fault.into(),
                    since: since.into(),
                    reason: reason.into(),
                });
            }
            _ => {}
        }
    }
    h
}

/// This machine's name, for the lock file (read from the kernel; no extra crate for it).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Device and inode of the file at `path`, to tell when it was deleted or replaced.
pub fn file_identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_details() {
        let d = tempfile::tempdir().expect("tmp");
        let db = d.path().join("data/f.db");
        assert_eq!(holder(&db).expect("read"), None);
        let first = DbLock::acquire(&db).expect("first");
        let err = DbLock::acquire(&db).expect_err("second must be refused");
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("pid {}", std::process::id())) && msg.contains("in use"),
            "{msg}"
        );
        first
            .write_health(&[ActiveFault {
                fault: "store_commit",
                reason: "disk\u{1b}[2J full".into(),
                since: 0,
            }])
            .expect("health");
        let h = holder(&db).expect("read").expect("exists");
        assert!(h.running);
        assert_eq!(h.faults.len(), 1);
        assert_eq!(h.faults[0].reason, "disk[2J full");
        assert_eq!(std::fs::metadata(lock_path(&db)).expect("meta").len(), 4096);
        drop(first);
        assert!(!holder(&db).expect("read").expect("exists").running);
        drop(DbLock::acquire(&db).expect("free again after drop"));
    }
}
