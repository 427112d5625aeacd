//! The service part of `feedwatch status` on PostgreSQL: the database (reachable, or why
//! not), the instances sharing it with their last heartbeat and the feeds each holds a
//! lease on, and the free space where this machine writes its alert log.
//!
//! On SQLite the same part reads the lock file and checks the file (`status`); neither
//! exists on a server. A database that cannot be reached is shown here, and makes `status`
//! exit with the fault code, like a damaged SQLite file: `status` is how an operator finds
//! out that the database is the thing that failed.

use std::io::Write;
use std::path::Path;

use feedwatch::config::{Config, PgSettings};
use feedwatch::store::pg::distinct_lists;
use feedwatch::store::reader::{Member, Reader};
use feedwatch::text::safe_text::printable;
use feedwatch::text::time::rfc3339;

use super::json;

/// What `status` saw of a PostgreSQL database.
pub(super) struct PgService {
    /// The URL with its password masked.
    url: String,
    /// Why the database could not be reached or read; empty when it was.
    problems: Vec<String>,
    /// The instances, when they could be read.
    members: Vec<Member>,
    /// When the status was taken (Unix seconds).
    now: i64,
    /// Bytes free where the alert log is written.
    log_free: Option<u64>,
    /// `[storage] lease` in seconds: an instance silent for longer is presumed dead.
    lease_secs: i64,
}

impl PgService {
    /// Connects (bounded by `connect_timeout`) and reads the instances; a failure is kept
    /// as a problem to show, with no reader.
    pub(super) async fn observe(cfg: &Config, pg: &PgSettings) -> (PgService, Option<Reader>) {
        let now = chrono::Utc::now().timestamp();
        let mut service = PgService {
            url: pg.redacted(),
            problems: vec![],
            members: vec![],
            now,
            log_free: super::status::free_bytes(&cfg.alert_log),
            lease_secs: pg.lease_secs(),
        };
        let reader = match Reader::open(cfg.backend()).await {
            Ok(r) => r,
            Err(e) => {
                service.problems.push(e.to_string());
                return (service, None);
            }
        };
        match reader.members(now).await {
            Ok(m) => service.members = m.unwrap_or_default(),
            Err(e) => service.problems.push(e.to_string()),
        }
        (service, Some(reader))
    }

    /// Whether the database could not be reached or read.
    pub(super) fn faulty(&self) -> bool {
        !self.problems.is_empty() || self.log_free == Some(0)
    }

    pub(super) fn json<'a>(&'a self, cfg: &'a Config) -> json::ServiceLine<'a> {
        json::ServiceLine {
            alert_log: json::AlertLogState {
                free_bytes: self.log_free,
                path: &cfg.alert_log,
            },
            database: json::DatabaseState {
                exists: self.problems.is_empty(),
                free_bytes: None,
                freelist_pages: None,
                page_count: None,
                path: Path::new(&self.url),
                problems: &self.problems,
                size_bytes: None,
                wal_bytes: None,
            },
            instances: Some(
                self.members
                    .iter()
                    .map(|m| json::InstanceState {
                        alerts_owed: m.instance.alerts_owed,
                        feeds: &m.feeds,
                        feeds_listed: m.instance.listed.as_ref().map(|l| l.feeds),
                        feeds_digest: m.instance.listed.as_ref().map(|l| l.digest.as_str()),
                        heartbeat: rfc3339(m.instance.heartbeat_at),
                        heartbeat_age_secs: self.now - m.instance.heartbeat_at,
                        host: &m.instance.hostname,
                        id: &m.instance.id,
                        pid: m.instance.pid,
                        started: rfc3339(m.instance.started_at),
                        version: &m.instance.version,
                    })
                    .collect(),
            ),
            service: None,
        }
    }

    pub(super) fn write_text(&self, out: &mut impl Write, cfg: &Config) -> std::io::Result<()> {
        if self.problems.is_empty() {
            writeln!(out, "database: {}: ok (PostgreSQL)", self.url)?;
        } else {
            writeln!(
                out,
                "database: {}: UNREACHABLE or unreadable: {}",
                self.url,
                printable(&self.problems.join("; "), false)
            )?;
        }
        self.write_members(out)?;
        let free = match self.log_free {
            Some(0) => "NO SPACE LEFT".to_string(),
            Some(b) => format!("{} free", super::status::human(b)),
            None => "free space unknown".to_string(),
        };
        writeln!(
            out,
            "disk: {free} for the alert log ({})",
            cfg.alert_log.display()
        )?;
        writeln!(out)
    }

    /// `instances: N` and one line per instance: id, start, last heartbeat and its age,
    /// and the feeds it holds; a warning when the live ones' configs list different feeds.
    fn write_members(&self, out: &mut impl Write) -> std::io::Result<()> {
        if !self.problems.is_empty() {
            return Ok(());
        }
        if self.members.is_empty() {
            return writeln!(
                out,
                "instances: none running (none started yet, or every one stopped cleanly)"
            );
        }
        writeln!(out, "instances: {}", self.members.len())?;
        for m in &self.members {
            let i = &m.instance;
            let feeds = if m.feeds.is_empty() {
                "none".to_string()
            } else {
                printable(&m.feeds.join(", "), false).into_owned()
            };
            let age = self.now - i.heartbeat_at;
            writeln!(
                out,
                "  {}  started {}  last heartbeat {} ({age}s ago)  holds {} feed(s): {feeds}",
                printable(&i.id, false),
                rfc3339(i.started_at),
                rfc3339(i.heartbeat_at),
                m.feeds.len(),
            )?;
            if age > self.lease_secs {
                writeln!(
                    out,
                    "    NO HEARTBEAT for longer than a lease ({}s): stopped or dead; its feeds and the alerts it owes pass to the others",
                    self.lease_secs
                )?;
            }
            if let Some(l) = &i.listed {
                writeln!(
                    out,
                    "    its config lists {} feed(s) (digest {})",
                    l.feeds,
                    l.short()
                )?;
            }
            if i.alerts_owed > 0 {
                writeln!(
                    out,
                    "    owes {} alert(s) to its alert log (written at its next heartbeat, or by another instance once it is a lease silent)",
                    i.alerts_owed
                )?;
            }
        }
        let all = self.members.iter().map(|m| &m.instance);
        let lists = distinct_lists(all, self.now - self.lease_secs);
        if lists > 1 {
            writeln!(
                out,
                "WARNING: the running instances' configs list different feeds ({lists} different lists): each polls only the feeds its own config lists; give every instance the same config"
            )?;
        }
        Ok(())
    }
}
