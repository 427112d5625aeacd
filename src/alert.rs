//! Alert: the last pipeline stage. Committed alert rows out to people.
//!
//! Alerts are created as rows in the same transaction as the article that caused them (see
//! `store`). This module delivers them after commit: it appends each as one JSON line to the
//! alert log, fsyncs, emits a tracing event (the journal shows it), and only then marks the
//! rows delivered. A crash between the write and the mark is repaired at start-up by
//! [`reconcile`], which reads the last id in the log, so every alert reaches the log exactly
//! once whatever instant the process dies at.
//!
//! The log is kept whole under failure too: an append that fails (a full disk) is cut back
//! to where it started, so no torn line stays and the retry writes the batch once; a log
//! deleted or replaced while the daemon runs is noticed at the next append and created
//! again at its path, and a batch written into a file deleted meanwhile is written again.
//! Ids in the log only ever ascend (batches go out in id order, and a failed batch goes
//! out again before anything newer), which is what lets repair read only the last line.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::rules::{Severity, TermHit};
use crate::store::{AlertRecord, OtherSource, Store, StoreError};
use crate::text::safe_text::{clip, printable};
use crate::text::time::rfc3339;

/// Alerts delivered per store round trip.
const BATCH: usize = 500;
/// Longest title, feed name, URL or rule name in an alert line, in characters. A feed
/// controls its titles; a line that size is already unusual and still cheap to read back.
pub const MAX_FIELD_CHARS: usize = 2_000;
/// Longest snippet, in characters.
pub const MAX_SNIPPET_CHARS: usize = 4_000;
/// Longest matched term, in characters.
pub const MAX_TERM_CHARS: usize = 200;
/// Most terms, hits and other sources listed in one alert.
pub const MAX_LIST: usize = 100;
/// Bytes read per step when the log is scanned backwards for a line start: the first step
/// reads 4 KiB (a usual alert line is under 1 KiB), each further one twice as much, up to
/// this.
const SCAN_CHUNK: usize = 64 * 1024;
/// Lines repair looks at, from the end, for the last alert line. Only a torn line (cut on
/// open) or something written by hand can sit after it; past this many, repair marks
/// nothing (repeats are possible then, losses are not).
const SCAN_LINES: usize = 1_000;

/// Errors from delivering alerts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AlertError {
    /// The alert log could not be opened, written or synced.
    #[error("alert log {path}: {source}")]
    Log {
        /// The alert log's path.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// The database failed while alerts were read or marked.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The JSON-lines alert log, opened for appending.
#[derive(Debug)]
pub struct AlertLog {
    path: PathBuf,
    file: File,
    /// Where a failed append started, when cutting it back failed too: cut before the next.
    cut_to: Option<u64>,
    /// Alerts written to the log whose delivered mark failed: marked before anything else
    /// is written, so they are not written twice.
    unmarked: Vec<i64>,
}

impl AlertLog {
    /// Opens (creating folder and file if needed) the log for appending. The file is created
    /// with mode 0600 where the OS supports it: alerts can be sensitive. A torn last line
    /// (a crash mid-write) is cut off; its alert was not marked delivered and is written
    /// again whole.
    ///
    /// # Errors
    /// When the file cannot be created or opened.
    pub fn open(path: &Path) -> Result<AlertLog, AlertError> {
        let err = |source| AlertError::Log {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let mut opts = OpenOptions::new();
        opts.create(true).append(true).read(true);
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = opts.open(path).map_err(err)?;
        repair_tail(&mut file).map_err(err)?;
        Ok(AlertLog {
            path: path.to_path_buf(),
            file,
            cut_to: None,
            unmarked: Vec::new(),
        })
    }

    /// Reopens the file by name (after logrotate moved it away, or it was deleted).
    ///
    /// # Errors
    /// When the file cannot be opened; the old handle stays in use then.
    pub fn reopen(&mut self) -> Result<(), AlertError> {
        let fresh = AlertLog::open(&self.path)?;
        self.file = fresh.file;
        self.cut_to = None;
        Ok(())
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reopens the log when the open file was deleted, or its path now names another file
    /// (rotated away, or deleted and created again by someone else). Returns whether it did.
    ///
    /// # Errors
    /// When the file cannot be examined or opened again.
    pub fn follow_path(&mut self) -> Result<bool, AlertError> {
        let err = |source| AlertError::Log {
            path: self.path.clone(),
            source,
        };
        let open = self.file.metadata().map_err(err)?;
        let here = std::fs::metadata(&self.path).ok();
        let same = here
            .as_ref()
            .is_some_and(|m| m.dev() == open.dev() && m.ino() == open.ino());
        if same && open.nlink() > 0 {
            return Ok(false);
        }
        if open.nlink() == 0 {
            tracing::error!(path = %self.path.display(),
                "the alert log was deleted while feedwatch was running; creating it again (alerts from now on go to the new file)");
        } else {
            tracing::info!(path = %self.path.display(), "the alert log's path names another file (rotated?); reopening it");
        }
        self.reopen()?;
        Ok(true)
    }

    /// Appends alerts as JSON lines and syncs them to disk before returning.
    fn append(&mut self, alerts: &[AlertRecord]) -> Result<(), AlertError> {
        let mut buf = Vec::with_capacity(alerts.len() * 512);
        for a in alerts {
            // serde_json::Value serialisation cannot fail.
            serde_json::to_writer(&mut buf, &AlertLine::from(a)).unwrap_or_default();
            buf.push(b'\n');
        }
        self.follow_path()?;
        self.write_durably(&buf)?;
        // Deleted while we wrote: the batch is in a file nobody can read. Write it again.
        let gone = self
            .file
            .metadata()
            .map(|m| m.nlink() == 0)
            .unwrap_or(false);
        if gone && self.follow_path()? {
            self.write_durably(&buf)?;
        }
        Ok(())
    }

    /// Writes `buf` at the end and fsyncs; on failure cuts the file back to its length
    /// before the write, so no partial line stays and a retry appends the batch once.
    fn write_durably(&mut self, buf: &[u8]) -> Result<(), AlertError> {
        let err = |source| AlertError::Log {
            path: self.path.clone(),
            source,
        };
        if let Some(len) = self.cut_to {
            self.file.set_len(len).map_err(err)?;
            self.cut_to = None;
        }
        let start = self.file.metadata().map_err(err)?.len();
        let res = self
            .file
            .write_all(buf)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = res {
            if self.file.set_len(start).is_err() {
                self.cut_to = Some(start);
            }
            return Err(err(e));
        }
        Ok(())
    }
}

/// Ends the log on a whole line: a torn last line is cut off, unless it is a complete JSON
/// object whose newline alone was lost, which gets its newline.
fn repair_tail(file: &mut File) -> std::io::Result<()> {
    let len = file.metadata()?.len();
    if len == 0 || byte_at(file, len - 1)? == b'\n' {
        return Ok(());
    }
    let start = line_start(file, len)?;
    if read_id(file, start, len)?.is_some() {
        file.write_all(b"\n")?;
    } else {
        tracing::warn!(bytes = len - start, "alert log ended in a torn line (a crash mid-write): cut off; its alert is written again");
        file.set_len(start)?;
    }
    file.sync_data()
}

fn byte_at(file: &mut File, pos: u64) -> std::io::Result<u8> {
    file.seek(SeekFrom::Start(pos))?;
    let mut b = [0u8; 1];
    file.read_exact(&mut b)?;
    Ok(b[0])
}

/// Offset of the first byte after the last newline before `end` (0 when there is none),
/// read backwards in chunks: memory stays bounded whatever the line's length.
fn line_start(file: &mut File, end: u64) -> std::io::Result<u64> {
    let mut buf = vec![0u8; SCAN_CHUNK];
    let mut step = 4096;
    let mut pos = end;
    while pos > 0 {
        let n = step.min(usize::try_from(pos).unwrap_or(step));
        step = (step * 2).min(SCAN_CHUNK);
        pos -= n as u64;
        file.seek(SeekFrom::Start(pos))?;
        file.read_exact(&mut buf[..n])?;
        if let Some(i) = buf[..n].iter().rposition(|&b| b == b'\n') {
            return Ok(pos + i as u64 + 1);
        }
    }
    Ok(0)
}

/// What reconcile needs from a log line; every other field is skipped while parsing.
#[derive(serde::Deserialize)]
struct LineId {
    id: i64,
    #[serde(default)]
    rule: String,
    #[serde(default)]
    time: String,
}

/// The line in `start..end` parsed as an alert, streaming (a line of any length is parsed
/// in constant memory); `None` when it is not one.
fn read_id(file: &mut File, start: u64, end: u64) -> std::io::Result<Option<LineId>> {
    file.seek(SeekFrom::Start(start))?;
    let reader = BufReader::new(Read::take(&mut *file, end - start));
    Ok(serde_json::from_reader(reader).ok())
}

/// The alert as other tools read it: one JSON object per line in the log, in
/// `feedwatch alerts --format json` and in webhook bodies; one type for every producer, so a
/// renamed field fails `tests/json_schemas.rs`. Keys are a stable interface, declared in
/// alphabetical order (the order the log has always written them in). Text fields are cleaned
/// of control characters (see `safe_text`) and cut at their limits ([`MAX_FIELD_CHARS`] and
/// the others) with a `…[truncated]` marker, so a line stays bounded and safe to print.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AlertLine {
    /// The story's other sources, at most [`MAX_LIST`].
    pub also: Vec<OtherSource>,
    /// The feed's name.
    pub feed: String,
    /// Where the rule's words were found, at most [`MAX_LIST`].
    pub hits: Vec<TermHit>,
    /// Alert id, increasing.
    pub id: i64,
    /// When the item says it was published (RFC 3339).
    pub published: Option<String>,
    /// The rule that fired.
    pub rule: String,
    /// The rule's severity.
    pub severity: Severity,
    /// The passage around the first hit.
    pub snippet: String,
    /// The distinct words found, as first written.
    pub terms: Vec<String>,
    /// When the alert was committed (RFC 3339).
    pub time: String,
    /// The article's headline.
    pub title: String,
    /// The article's link.
    pub url: Option<String>,
}

impl From<&AlertRecord> for AlertLine {
    fn from(a: &AlertRecord) -> Self {
        let terms = crate::rules::distinct_terms(a.hits.iter().map(|h| h.term.as_str()))
            .into_iter()
            .take(MAX_LIST)
            .map(|t| text(t, MAX_TERM_CHARS))
            .collect();
        let hits = a
            .hits
            .iter()
            .take(MAX_LIST)
            .map(|h| TermHit {
                term: text(&h.term, MAX_FIELD_CHARS),
                via: h.via.as_deref().map(|v| text(v, MAX_FIELD_CHARS)),
                ..h.clone()
            })
            .collect();
        let also = a
            .also
            .iter()
            .take(MAX_LIST)
            .map(|o| OtherSource {
                feed: text(&o.feed, MAX_FIELD_CHARS),
                url: o.url.as_deref().map(|u| text(u, MAX_FIELD_CHARS)),
            })
            .collect();
        AlertLine {
            also,
            feed: text(&a.feed, MAX_FIELD_CHARS),
            hits,
            id: a.id,
            published: a.published_at.map(rfc3339),
            rule: text(&a.rule, MAX_FIELD_CHARS),
            severity: a.severity,
            snippet: text(&a.snippet, MAX_SNIPPET_CHARS),
            terms,
            time: rfc3339(a.created_at),
            title: text(&a.title, MAX_FIELD_CHARS),
            url: a.url.as_deref().map(|u| text(u, MAX_FIELD_CHARS)),
        }
    }
}

impl std::fmt::Display for AlertLine {
    /// One line of compact JSON.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let json = serde_json::to_string(self).map_err(|_| std::fmt::Error)?;
        f.write_str(&json)
    }
}

/// A stranger's text as it may be printed or logged: no control characters, at most `max`
/// characters.
fn text(s: &str, max: usize) -> String {
    clip(&printable(s, false), max).into_owned()
}

/// Start-up repair: alerts already in the log but not marked delivered (the process died
/// between the two) are marked now, so they are not written twice.
///
/// The log's last alert must be one of this database's (same id, rule and time): a log
/// left from another database (the database was deleted and created again, or restored
/// from an old backup) marks nothing, since marking by its ids would drop alerts never
/// written; and the store then gives new alerts ids above the log's, so no new alert
/// shares an id with an old one (receivers drop repeats by id).
///
/// # Errors
/// When the log cannot be read or the store cannot be updated.
pub fn reconcile(store: &mut Store, log_path: &Path) -> Result<usize, AlertError> {
    let Some(last) = last_logged(log_path)? else {
        return Ok(0);
    };
    let ours = store
        .alert_identity(last.id)?
        .is_some_and(|(rule, at)| rule == last.rule && rfc3339(at) == last.time);
    if !ours {
        tracing::warn!(path = %log_path.display(), alert_id = last.id,
            "the alert log's last alert is not one of this database's (a new or restored database?): nothing marked delivered from it, and new alert ids start above it");
        store.keep_alert_ids_above(last.id);
        return Ok(0);
    }
    Ok(store.mark_delivered_up_to(last.id, chrono::Utc::now().timestamp())?)
}

/// The log's last alert line (ids only ascend, so it has the highest id), found by reading
/// backwards line by line: lines of any length, torn or garbage lines skipped, memory
/// bounded.
fn last_logged(path: &Path) -> Result<Option<LineId>, AlertError> {
    let mut found = scan_back(path, 1)?;
    if found.is_empty() && std::fs::metadata(path).is_ok_and(|m| m.len() > 0) {
        tracing::warn!(path = %path.display(), "no alert line among the alert log's last {SCAN_LINES} lines: nothing marked delivered from it");
    }
    Ok(found.pop())
}

/// The alerts among the log's last [`SCAN_LINES`] lines (newest first): on PostgreSQL, where
/// one instance's commits log out of id order, what a restarted instance may have written
/// before it died and not yet marked delivered ([`crate::store::pg::PgStore::reconcile_log`]).
///
/// # Errors
/// When the log exists but cannot be read.
pub fn recently_logged(path: &Path) -> Result<Vec<crate::store::LoggedAlert>, AlertError> {
    Ok(scan_back(path, SCAN_LINES)?
        .into_iter()
        .map(|l| crate::store::LoggedAlert {
            id: l.id,
            rule: l.rule,
            time: l.time,
        })
        .collect())
}

/// Up to `want` alert lines among the log's last [`SCAN_LINES`] lines, newest first, read
/// backwards: lines of any length, torn or garbage lines skipped, memory bounded.
fn scan_back(path: &Path, want: usize) -> Result<Vec<LineId>, AlertError> {
    let err = |source| AlertError::Log {
        path: path.to_path_buf(),
        source,
    };
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(err(e)),
    };
    let mut end = f.metadata().map_err(err)?.len();
    let mut found = Vec::new();
    for _ in 0..SCAN_LINES {
        if end == 0 || found.len() >= want {
            break;
        }
        let start = line_start(&mut f, end).map_err(err)?;
        if let Some(line) = read_id(&mut f, start, end).map_err(err)? {
            found.push(line);
        }
        // `start - 1` is the newline that ends the line before.
        end = start.saturating_sub(1);
    }
    Ok(found)
}

/// Delivers every committed, undelivered alert: log line (fsynced), tracing event, then the
/// delivered marker. Returns how many were delivered.
///
/// # Errors
/// When the log cannot be written (the alerts stay undelivered and are retried) or the
/// store fails (alerts already written are remembered and marked first next time).
pub fn deliver_pending(store: &mut Store, log: &mut AlertLog) -> Result<usize, AlertError> {
    let now = || chrono::Utc::now().timestamp();
    if !log.unmarked.is_empty() {
        store.mark_delivered(&log.unmarked, now())?;
        log.unmarked.clear();
    }
    let mut total = 0;
    loop {
        let batch = store.undelivered_alerts(BATCH)?;
        if batch.is_empty() {
            return Ok(total);
        }
        log.append(&batch)?;
        for a in &batch {
            emit(a);
        }
        let ids: Vec<i64> = batch.iter().map(|a| a.id).collect();
        if let Err(e) = store.mark_delivered(&ids, now()) {
            log.unmarked = ids;
            return Err(e.into());
        }
        total += batch.len();
    }
}

/// Writes alerts this instance's commits created (PostgreSQL: each instance logs its own)
/// to the log, fsynced, then as tracing events, as [`deliver_pending`] does; the caller
/// marks them delivered in its store after.
///
/// # Errors
/// When the log cannot be written (nothing was emitted then; the caller may retry).
pub fn write_created(log: &mut AlertLog, alerts: &[AlertRecord]) -> Result<(), AlertError> {
    if alerts.is_empty() {
        return Ok(());
    }
    log.append(alerts)?;
    alerts.iter().for_each(emit);
    Ok(())
}

/// The alert as a tracing event with fixed field names, at WARN for high and critical
/// severities and INFO (journal priority "notice") below.
fn emit(a: &AlertRecord) {
    let l = AlertLine::from(a);
    crate::ops::metrics::alert(&l.rule, &l.severity.to_string());
    let (rule, severity, feed, title, snippet) =
        (&l.rule, l.severity, &l.feed, &l.title, &l.snippet);
    let url = l.url.as_deref().unwrap_or("");
    let terms = l.terms.join(", ");
    if severity >= Severity::High {
        tracing::warn!(
            target: "feedwatch::alert",
            alert_id = a.id, alert_rule = %rule, severity = %severity, feed = %feed,
            title = %title, url = %url, terms = %terms, snippet = %snippet,
            "ALERT [{severity}] {rule}: {title}"
        );
    } else {
        tracing::info!(
            target: "feedwatch::alert",
            alert_id = a.id, alert_rule = %rule, severity = %severity, feed = %feed,
            title = %title, url = %url, terms = %terms, snippet = %snippet,
            "ALERT [{severity}] {rule}: {title}"
        );
    }
}

/// One alert for people: a header line and indented details, built from [`AlertLine`] so it
/// is as clean and bounded as the log line.
pub fn to_text(a: &AlertRecord) -> String {
    let l = AlertLine::from(a);
    format!(
        "{}  {:<8} {}  [{}]  {}\n    {}\n    terms: {}\n    {}\n",
        rfc3339(a.created_at),
        l.severity.to_string().to_uppercase(),
        l.rule,
        l.feed,
        l.title,
        l.url.as_deref().unwrap_or("(no link)"),
        l.terms.join(", "),
        l.snippet
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::rules::Severity;
    use crate::store::{NewAlert, NewArticle, PollRecord};

    fn poll_with_alert(feed_id: i64, key: i64) -> PollRecord {
        PollRecord {
            status: Some(200),
            seen: vec![vec![key]],
            item_count: Some(1),
            articles: vec![NewArticle {
                item_key: key,
                url: Some(format!("http://x/{key}")),
                canonical_url: None,
                title: format!("t{key}"),
                summary: String::new(),
                body: String::new(),
                body_source: "none",
                author: None,
                lang: None,
                published_at: None,
                link_canonical: None,
                fingerprint: crate::story::fingerprint(&format!("t{key}")),
                alerts: vec![NewAlert {
                    rule: "r".into(),
                    severity: Severity::High,
                    hits: vec![],
                    snippet: "s".into(),
                }],
            }],
            ..PollRecord::new(feed_id, 1_600_000_000)
        }
    }

    fn ids_in(path: &Path) -> Vec<i64> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["id"].as_i64())
            .collect()
    }

    /// Crash after commit, before the log write: the alert is delivered at the next start.
    /// Crash after the log write, before the marker: it is not written again.
    #[test]
    fn crash_at_either_side_of_the_log_write_neither_loses_nor_repeats() {
        let d = tempfile::tempdir().expect("tmp");
        let db = d.path().join("f.db");
        let logp = d.path().join("alerts.jsonl");
        let mut store = Store::open(&db).expect("open");
        store.sync_feeds([("http://f/", None)], 0).expect("sync");
        store.commit_poll(&poll_with_alert(1, 10)).expect("commit");
        drop(store); // "crash" before delivery

        let mut store = Store::open(&db).expect("reopen");
        assert_eq!(reconcile(&mut store, &logp).expect("reconcile"), 0);
        let mut log = AlertLog::open(&logp).expect("log");
        assert_eq!(deliver_pending(&mut store, &mut log).expect("deliver"), 1);
        assert_eq!(ids_in(&logp).len(), 1);

        // Second alert written to the log, then a crash before the marker: simulate by
        // appending the line by hand and leaving the row undelivered.
        store.commit_poll(&poll_with_alert(1, 11)).expect("commit");
        let pending = store.undelivered_alerts(10).expect("pending");
        log.append(&pending).expect("append");
        drop((store, log));

        let mut store = Store::open(&db).expect("reopen");
        assert_eq!(reconcile(&mut store, &logp).expect("reconcile"), 1);
        let mut log = AlertLog::open(&logp).expect("log");
        assert_eq!(deliver_pending(&mut store, &mut log).expect("deliver"), 0);
        let ids = ids_in(&logp);
        assert_eq!(ids.len(), 2, "{ids:?}");
        assert_ne!(ids[0], ids[1]);
    }

    #[test]
    fn partial_last_line_is_terminated_on_open() {
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("a.jsonl");
        std::fs::write(&p, "{\"id\":1}\n{\"id\":2,\"ru").expect("w");
        let mut log = AlertLog::open(&p).expect("open");
        log.file.write_all(b"{\"id\":3}\n").expect("w");
        assert_eq!(ids_in(&p), vec![1, 3]);
    }

    #[test]
    fn last_line_skips_garbage_and_torn_lines() {
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("a.jsonl");
        assert!(last_logged(&p).expect("missing is fine").is_none());
        std::fs::write(&p, "{\"id\":3}\n{\"id\":7}\nnot json\n\n{\"id\":9,").expect("w");
        assert_eq!(last_logged(&p).expect("read").map(|l| l.id), Some(7));
    }

    /// A line far longer than any chunk read (and than the old 256 KiB tail) is found, and
    /// parsed without holding it: the id comes after the long field here.
    #[test]
    fn last_line_of_any_length_is_found() {
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("a.jsonl");
        let long = "x".repeat(3 * 1024 * 1024);
        let text = format!(
            "{{\"id\":4}}\n{{\"also\":[],\"hits\":[],\"title\":\"{long}\",\"id\":5,\"rule\":\"r\"}}\n{{\"id\":6,\"title\":\"{long}"
        );
        std::fs::write(&p, text).expect("w");
        let last = last_logged(&p).expect("read").expect("a line");
        assert_eq!((last.id, last.rule.as_str()), (5, "r"));
        // Opening cuts the torn third line off: the log ends on a whole line again.
        drop(AlertLog::open(&p).expect("open"));
        assert_eq!(ids_in(&p), vec![4, 5]);
        assert!(std::fs::read(&p)
            .expect("r")
            .ends_with(b"\"rule\":\"r\"}\n"));
    }

    #[test]
    fn long_and_hostile_fields_are_cut_and_cleaned() {
        let d = tempfile::tempdir().expect("tmp");
        let mut store = Store::open(&d.path().join("f.db")).expect("open");
        store.sync_feeds([("http://f/", None)], 0).expect("sync");
        let mut rec = poll_with_alert(1, 10);
        rec.articles[0].title = format!("\u{1b}]52;c;SGk=\u{7}{}", "word ".repeat(200_000));
        store.commit_poll(&rec).expect("commit");
        let a = &store.undelivered_alerts(1).expect("pending")[0];
        let v = AlertLine::from(a);
        let title = v.title.as_str();
        assert_eq!(title.chars().count(), MAX_FIELD_CHARS);
        assert!(
            title.starts_with("]52;c;SGk=word")
                && title.ends_with(crate::text::safe_text::TRUNCATED)
        );
        assert!(!to_text(a).contains('\u{1b}'));
    }

    /// Repair marks nothing from a log another database wrote: its ids mean other alerts.
    #[test]
    fn reconcile_ignores_a_log_from_another_database() {
        let d = tempfile::tempdir().expect("tmp");
        let logp = d.path().join("alerts.jsonl");
        std::fs::write(
            &logp,
            "{\"id\":7,\"rule\":\"r\",\"time\":\"2001-01-01T00:00:00Z\"}\n",
        )
        .expect("w");
        let mut store = Store::open(&d.path().join("f.db")).expect("open");
        store.sync_feeds([("http://f/", None)], 0).expect("sync");
        store.commit_poll(&poll_with_alert(1, 10)).expect("commit");
        assert_eq!(reconcile(&mut store, &logp).expect("reconcile"), 0);
        assert_eq!(store.undelivered_alerts(10).expect("pending").len(), 1);
        // New alerts do not take ids the log already uses for other alerts.
        store.commit_poll(&poll_with_alert(1, 11)).expect("commit");
        let ids: Vec<i64> = store
            .undelivered_alerts(10)
            .expect("pending")
            .iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(ids, vec![1, 8]);
    }
}
