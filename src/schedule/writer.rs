//! The single writer: one thread owns the write connection and the alert log. It commits
//! the polls' records in batches (one transaction, one fsync, for many feeds), delivers the
//! alerts those commits created, and between commits checks that the database and the log
//! are still at their paths, raising and clearing the service faults ([`crate::ops::health`]).
//! On ticks it also runs the database maintenance ([`Maintenance`]): here, because the
//! writer owns the write connection and a pass between two batches never races a commit.
//! After each batch it applies retention when a pass is due ([`Pruning`]): old rows of
//! every kind, seen-item keys included, in bounded batches.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::alert::{self, AlertError, AlertLog};
use crate::ops::health::{self, Fault};
use crate::store::maintenance::VACUUM_PAGES_PER_PASS;
use crate::store::retention::Retention;
use crate::store::{PollRecord, Store, Summary};

use super::retention::Pruning;

/// Records waiting for the writer at most: producers wait when it is full.
const QUEUE: usize = 16;
/// Records committed in one transaction at most.
const MAX_BATCH: usize = 512;
/// Bytes of item text gathered into one transaction at most (a record carries the texts of
/// its feed's new items), so a cold start does not hold a whole cycle in memory.
const MAX_BATCH_BYTES: usize = 2 * 1024 * 1024;
/// How long the writer waits for more records before committing what it has: a few hundred
/// milliseconds of alert latency buy far fewer page writes at thousands of feeds.
const GATHER: Duration = Duration::from_millis(250);
/// ... but only while records keep coming: a pause this long ends the batch.
const IDLE: Duration = Duration::from_millis(15);
/// How often the daemon's writer checks, between commits, that the database and the alert
/// log are still at their paths, and retries undelivered alerts while the log fails.
pub const HEALTH_TICK: Duration = Duration::from_secs(5);
/// How soon maintenance runs again after a failed pass, or after a pass that left free
/// pages behind (each pass is bounded; the backlog goes in steps, between commits).
const MAINTENANCE_SOON: Duration = Duration::from_secs(60);

/// Rough size of a record's texts.
fn record_bytes(rec: &PollRecord) -> usize {
    rec.recent
        .iter()
        .map(|r| r.title.len() + r.summary.len() + r.body.len())
        .chain(
            rec.articles
                .iter()
                .map(|a| a.title.len() + a.summary.len() + a.body.len()),
        )
        .sum::<usize>()
        + rec.seen.len() * 16
}

/// Messages to the writer thread.
pub enum WriterMsg {
    /// Commit this poll, then acknowledge: `true` when it was committed.
    Commit(Box<PollRecord>, oneshot::Sender<bool>),
    /// Reopen the alert log (after logrotate).
    ReopenLog,
    /// Check the database and alert log paths; retry undelivered alerts.
    Tick,
}

/// Handle to the writer thread.
pub struct Writer {
    tx: mpsc::Sender<WriterMsg>,
    thread: std::thread::JoinHandle<()>,
}

impl Writer {
    /// Starts the writer: delivers any alerts left undelivered by an earlier run first.
    /// `on_commit` runs after each batch is committed and logged (it wakes the alert
    /// sinks); it must not block.
    ///
    /// # Errors
    /// When the OS cannot start a thread.
    pub fn start(
        store: Store,
        log: AlertLog,
        maintenance_interval: Duration,
        retention: std::sync::Arc<Retention>,
        on_commit: impl Fn() + Send + 'static,
    ) -> std::io::Result<Writer> {
        let (tx, rx) = mpsc::channel::<WriterMsg>(QUEUE);
        let chores = Chores {
            maintenance: Maintenance::new(maintenance_interval),
            pruning: Pruning::new(retention),
        };
        let thread = std::thread::Builder::new()
            .name("feedwatch-writer".into())
            .spawn(move || writer_loop(rx, store, log, chores, on_commit))?;
        Ok(Writer { tx, thread })
    }

    /// A sender for polls to use.
    pub fn sender(&self) -> mpsc::Sender<WriterMsg> {
        self.tx.clone()
    }

    /// Waits until every record sent so far is committed and its alerts delivered.
    pub fn finish(self) {
        drop(self.tx);
        if self.thread.join().is_err() {
            tracing::error!("the writer thread panicked");
        }
    }
}

/// What one round of the writer gathered.
#[derive(Default)]
struct Round {
    batch: Vec<PollRecord>,
    acks: Vec<oneshot::Sender<bool>>,
    bytes: usize,
    /// A [`WriterMsg::Tick`] came: the paths were checked.
    ticked: bool,
}

/// The writer's two timed chores between commits: retention (rows out) and maintenance
/// (pages back), in that order at exit, so what retention frees is given back.
struct Chores {
    maintenance: Maintenance,
    pruning: Pruning,
}

/// The writer thread: delivers what an earlier run left, then commits what arrives, round
/// by round, until every sender is gone; delivers once more at the end, and runs a last
/// retention catch-up and maintenance pass (the only ones a `poll --once` gets).
fn writer_loop(
    mut rx: mpsc::Receiver<WriterMsg>,
    mut store: Store,
    mut log: AlertLog,
    chores: Chores,
    on_commit: impl Fn(),
) {
    let Chores {
        mut maintenance,
        mut pruning,
    } = chores;
    deliver(&mut store, &mut log);
    while let Some(first) = rx.blocking_recv() {
        let round = gather(&mut rx, first, &mut store, &mut log);
        let committed = commit(&mut store, &round.batch);
        if !round.batch.is_empty() {
            check_database(&store);
        }
        let work = deliver(&mut store, &mut log) > 0 || !round.batch.is_empty();
        if work {
            on_commit();
        }
        // Ticks too: a fault raised or cleared between commits shows in `systemctl status`
        // within a tick.
        if work || round.ticked {
            report_status(&store);
        }
        for (a, ok) in round.acks.into_iter().zip(committed) {
            let _ = a.send(ok);
        }
        // After the acks: the polls waiting on this batch go on while the pass runs.
        pruning.pass_if_due(&mut store);
        if round.ticked {
            maintenance.when_due(&mut store);
        }
    }
    deliver(&mut store, &mut log);
    pruning.catch_up(&mut store);
    maintenance.pass(&mut store);
}

/// When the writer's next maintenance pass is due, and what it learned so far.
struct Maintenance {
    every: Duration,
    next: std::time::Instant,
    /// The hint that the database needs `db vacuum` once was logged.
    hinted: bool,
}

impl Maintenance {
    /// The first pass comes at the first tick: space left by the last run is given back
    /// soon after a restart, then every `every`.
    fn new(every: Duration) -> Maintenance {
        Maintenance {
            every,
            next: std::time::Instant::now(),
            hinted: false,
        }
    }

    /// At a tick: a pass when one is due; the database's size for metrics either way.
    fn when_due(&mut self, store: &mut Store) {
        if std::time::Instant::now() >= self.next {
            self.pass(store);
        } else {
            publish_size(store);
        }
    }

    /// One bounded pass (see `Store::maintain`); a failure raises the `store_maintenance`
    /// fault, the next success clears it. Publishes the database's size either way.
    fn pass(&mut self, store: &mut Store) {
        let started = std::time::Instant::now();
        let wait = match store.maintain(VACUUM_PAGES_PER_PASS) {
            Ok(m) => {
                health::clear(Fault::Maintenance);
                let ms = started.elapsed().as_millis();
                if m.pages_freed > 0 {
                    tracing::info!(
                        pages_freed = m.pages_freed,
                        pages_left = m.pages_left,
                        wal_truncated = m.wal_truncated,
                        ms,
                        "database maintenance gave free pages back"
                    );
                } else {
                    tracing::debug!(wal_truncated = m.wal_truncated, ms, "database maintenance");
                }
                if !m.incremental && !self.hinted {
                    self.hinted = true;
                    tracing::info!(database = %store.path().display(),
                        "the database has auto-vacuum off, so its free pages are never given back; \
                         convert it once with `feedwatch db vacuum` while the daemon is stopped");
                }
                if m.incremental && m.pages_left > 0 {
                    MAINTENANCE_SOON.min(self.every)
                } else {
                    self.every
                }
            }
            Err(e) => {
                health::set(
                    Fault::Maintenance,
                    format!("maintenance of {} failed: {e}", store.path().display()),
                );
                MAINTENANCE_SOON.min(self.every)
            }
        };
        self.next = std::time::Instant::now() + wait;
        publish_size(store);
    }
}

/// The database's size and free pages into metrics.
fn publish_size(store: &Store) {
    if let Ok(size) = store.size() {
        crate::ops::metrics::database_size(size.total_bytes(), size.freelist_count);
    }
}

/// Handles `first` and what arrives within a short window (bounded by count and bytes):
/// random item keys dirty pages all over the seen-items table, so fewer, larger
/// transactions write far less.
fn gather(
    rx: &mut mpsc::Receiver<WriterMsg>,
    first: WriterMsg,
    store: &mut Store,
    log: &mut AlertLog,
) -> Round {
    let mut round = Round::default();
    let mut last = std::time::Instant::now();
    let deadline = last + GATHER;
    let mut msg = Some(first);
    while let Some(m) = msg.take() {
        match m {
            WriterMsg::Commit(rec, ack) => {
                round.bytes += record_bytes(&rec);
                round.batch.push(*rec);
                round.acks.push(ack);
            }
            WriterMsg::ReopenLog => match log.reopen() {
                Ok(()) => tracing::info!(path = %log.path().display(), "alert log reopened"),
                Err(e) => {
                    tracing::error!(error = %e, "cannot reopen the alert log; still writing to the old file")
                }
            },
            WriterMsg::Tick => {
                check_paths(store, log);
                round.ticked = true;
            }
        }
        while msg.is_none() && round.batch.len() < MAX_BATCH && round.bytes < MAX_BATCH_BYTES {
            let now = std::time::Instant::now();
            match rx.try_recv() {
                Ok(m) => {
                    msg = Some(m);
                    last = now;
                }
                Err(mpsc::error::TryRecvError::Empty) if now < deadline && now - last < IDLE => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(_) => break,
            }
        }
    }
    round
}

/// Commits a batch; per record, whether it was committed. Then releases the records' held
/// seen keys (see `store::seen`): they are in the database now, or, for a record that could
/// not be stored, new again.
fn commit(store: &mut Store, batch: &[PollRecord]) -> Vec<bool> {
    let done = commit_batch(store, batch);
    if let Ok(seen) = store.seen_keys() {
        for rec in batch {
            seen.release(rec);
        }
    }
    done
}

/// Commits a batch in one transaction, else record by record. Raises the `store_commit`
/// fault when any record failed and clears it when all went in.
fn commit_batch(store: &mut Store, batch: &[PollRecord]) -> Vec<bool> {
    if batch.is_empty() {
        return Vec::new();
    }
    let Err(e) = store.commit_polls(batch) else {
        health::clear(Fault::StoreCommit);
        return vec![true; batch.len()];
    };
    // Commit each on its own so one bad record cannot take the others down with it.
    tracing::warn!(error = %e, "batch commit failed; committing polls one by one");
    let mut last_error = None;
    let done: Vec<bool> = batch
        .iter()
        .map(|rec| match store.commit_poll(rec) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(feed_id = rec.feed_id, error = %e,
                    "cannot store poll results; the feed's new items will be fetched again next poll");
                last_error = Some(e);
                false
            }
        })
        .collect();
    match last_error {
        Some(e) => {
            let failed = done.iter().filter(|ok| !**ok).count();
            health::set(
                Fault::StoreCommit,
                format!(
                    "{failed} of {} poll results could not be stored in {}: {e}",
                    batch.len(),
                    store.path().display()
                ),
            );
        }
        None => health::clear(Fault::StoreCommit),
    }
    done
}

/// Raises the fatal `database_gone` fault when the database file left its path: commits
/// would go on into a file no one can read, so the daemon stops and its service manager
/// restarts it on whatever database is there then.
fn check_database(store: &Store) {
    if let Some(why) = store.file_gone() {
        if !health::is_active(Fault::DatabaseGone) {
            health::set(Fault::DatabaseGone, why);
            health::fatal().cancel();
        }
    }
}

/// Between commits: the database still there, the alert log still at its path (created
/// again if it was deleted), and, while commits fail, a probe write to see them work again
/// (the feeds whose results were lost are polled again within `min_interval`).
fn check_paths(store: &mut Store, log: &mut AlertLog) {
    check_database(store);
    if let Err(e) = log.follow_path() {
        health::set(Fault::AlertLog, e.to_string());
    }
    if health::is_active(Fault::StoreCommit) && store.probe_write().is_ok() {
        health::clear(Fault::StoreCommit);
    }
}

/// `STATUS=` for `systemctl status`: what a person wants to see at a glance.
fn report_status(store: &Store) {
    if let Ok(n) = store.outbox_depth() {
        crate::ops::metrics::outbox_depth(n);
    }
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if crate::ops::notify::status_faults() {
        return;
    }
    if let Ok(s) = store.summary(day_start(chrono::Utc::now().timestamp())) {
        crate::ops::notify::status(&summary_line(&s));
    }
}

/// Midnight UTC of the day of `now` (Unix seconds): "alerts today" count from there.
pub(super) fn day_start(now: i64) -> i64 {
    now - now.rem_euclid(86_400)
}

/// The `STATUS=` line of a service without faults, on either backend.
pub(super) fn summary_line(s: &Summary) -> String {
    let last = s
        .last_poll
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map_or("never".to_string(), |t| {
            t.format("%H:%M:%S UTC").to_string()
        });
    format!(
        "{} feeds ({} failing); last poll {last}; {} alerts today",
        s.feeds, s.failing, s.alerts_today
    )
}

/// Delivers pending alerts; how many. A log that cannot be written raises the `alert_log`
/// fault (the alerts stay undelivered and are retried at the next commit or tick), a store
/// that cannot mark them raises `store_commit`.
fn deliver(store: &mut Store, log: &mut AlertLog) -> usize {
    match alert::deliver_pending(store, log) {
        Ok(n) => {
            health::clear(Fault::AlertLog);
            n
        }
        Err(e @ AlertError::Log { .. }) => {
            health::set(Fault::AlertLog, e.to_string());
            0
        }
        Err(e) => {
            health::set(
                Fault::StoreCommit,
                format!("cannot mark alerts delivered: {e}"),
            );
            0
        }
    }
}

/// Sends the writer a [`WriterMsg::Tick`] every [`HEALTH_TICK`] until `stop`.
pub async fn health_ticks(tx: mpsc::Sender<WriterMsg>, stop: CancellationToken) {
    let mut every = tokio::time::interval(HEALTH_TICK);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = every.tick() => {
                // A full queue means the writer is busy and checks after its next batch.
                let _ = tx.try_send(WriterMsg::Tick);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(feed: i64, keys: &[i64]) -> PollRecord {
        PollRecord {
            seen: keys.iter().map(|k| vec![*k]).collect(),
            ..PollRecord::new(feed, 1_700_000_000)
        }
    }

    /// The held keys of a batch are released once it is committed (they are in the database
    /// then), and also when it could not be (new again, polled again).
    #[test]
    fn a_batch_releases_its_held_keys_committed_or_not() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = dir.path().join("f.db");
        let mut s = Store::open(&db).expect("open");
        s.sync_feeds([("http://f.invalid/", None)], 0)
            .expect("sync");
        let feed = s.feeds().expect("feeds")[0].id;
        let seen = s.seen_keys().expect("seen");
        let batch = [record(feed, &[1, 2]), record(feed, &[3])];
        batch.iter().for_each(|r| seen.hold(r));
        assert_eq!(commit(&mut s, &batch), [true, true]);
        assert_eq!(seen.held_len(), 0);
        assert!(s.unseen(&[1, 2, 3]).expect("unseen").is_empty());

        let lost = record(feed, &[4]);
        seen.hold(&lost);
        let rename = |from: &str, to: &str| {
            rusqlite::Connection::open(&db)
                .and_then(|c| c.execute_batch(&format!("ALTER TABLE {from} RENAME TO {to}")))
                .expect("rename");
        };
        rename("seen_staged", "away");
        assert_eq!(commit(&mut s, std::slice::from_ref(&lost)), [false]);
        assert_eq!(seen.held_len(), 0);
        rename("away", "seen_staged");
        assert_eq!(s.unseen(&[4]).expect("unseen"), [4]);
        health::clear(Fault::StoreCommit);
    }
}
