//! Schedule: when feeds are polled, and the single writer that commits their results.
//!
//! Polls run concurrently (bounded by `[poll] concurrency`); their [`PollRecord`]s go to one
//! writer thread that owns the write connection and the alert log. The writer commits what
//! has arrived in one transaction (at thousands of feeds one fsync per batch, not per feed),
//! then delivers the alerts those commits created. A poll counts as done only when the writer
//! acknowledged its commit, so the scheduler never polls a feed whose last result is still
//! in flight.
//!
//! Shutdown is a [`CancellationToken`] passed in: the binary cancels it on a signal, a test
//! on whatever it likes. In-flight polls get a grace period to finish; whatever is cut off
//! was never committed, so it is polled again after restart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::alert::{self, AlertError, AlertLog};
use crate::config::FeedConfig;
use crate::ops::health::{self, Fault};
use crate::pipeline::{poll_feed, Pipeline};
use crate::store::{FeedRow, PollRecord, Store, StoreError};

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
        on_commit: impl Fn() + Send + 'static,
    ) -> std::io::Result<Writer> {
        let (tx, rx) = mpsc::channel::<WriterMsg>(QUEUE);
        let thread = std::thread::Builder::new()
            .name("feedwatch-writer".into())
            .spawn(move || writer_loop(rx, store, log, on_commit))?;
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

/// The writer thread: delivers what an earlier run left, then commits what arrives, round
/// by round, until every sender is gone; delivers once more at the end.
fn writer_loop(
    mut rx: mpsc::Receiver<WriterMsg>,
    mut store: Store,
    mut log: AlertLog,
    on_commit: impl Fn(),
) {
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
    }
    deliver(&mut store, &mut log);
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

/// Commits a batch; per record, whether it was committed. Raises the `store_commit` fault
/// when any record failed and clears it when all went in.
fn commit(store: &mut Store, batch: &[PollRecord]) -> Vec<bool> {
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
    let faults = health::active();
    if !faults.is_empty() {
        let list: Vec<String> = faults
            .iter()
            .map(|f| format!("{}: {}", f.fault, f.reason))
            .collect();
        crate::ops::notify::status(&format!("FAULT {}", list.join("; ")));
        return;
    }
    let now = chrono::Utc::now();
    let day_start = now.timestamp() - now.timestamp().rem_euclid(86_400);
    if let Ok(s) = store.summary(day_start) {
        let last = s
            .last_poll
            .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
            .map_or("never".to_string(), |t| {
                t.format("%H:%M:%S UTC").to_string()
            });
        crate::ops::notify::status(&format!(
            "{} feeds ({} failing); last poll {last}; {} alerts today",
            s.feeds, s.failing, s.alerts_today
        ));
    }
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

/// Polls one feed and waits for its commit.
/// `slot` is the caller's concurrency permit: it is released once the record is handed to
/// the writer, so polling goes on while commits are gathered into batches.
async fn poll_and_commit(
    p: Pipeline,
    feed: FeedConfig,
    row: FeedRow,
    tx: mpsc::Sender<WriterMsg>,
    slot: Option<tokio::sync::OwnedSemaphorePermit>,
) -> (String, i64) {
    let started = std::time::Instant::now();
    let rec = poll_feed(&p, &feed, &row).await;
    let mut next = rec.next_poll_at;
    let mut result = match (&rec.error, rec.status) {
        (Some(_), _) => "error",
        (None, Some(304)) => "not_modified",
        (None, _) => "ok",
    };
    let (status, items, kept) = (rec.status, rec.seen.len() as u64, rec.articles.len() as u64);
    let (ack_tx, ack_rx) = oneshot::channel();
    let mut committed = false;
    if tx
        .send(WriterMsg::Commit(Box::new(rec), ack_tx))
        .await
        .is_ok()
    {
        drop(slot);
        committed = ack_rx.await.unwrap_or(false);
    }
    if !committed {
        // Nothing of this poll was stored: count it as failed, and poll again soon rather
        // than at the stored schedule, so the work is redone once the store recovers.
        result = "error";
        let soon = chrono::Utc::now().timestamp()
            + i64::try_from(p.poll.min_interval.as_secs()).unwrap_or(i64::MAX / 4);
        next = next.min(soon);
    }
    crate::ops::metrics::poll(result, status, items, kept, started.elapsed().as_secs_f64());
    (feed.url, next)
}

/// Reads all feed rows, keyed by URL.
fn rows_by_url(reader: &Arc<Mutex<Store>>) -> Result<HashMap<String, FeedRow>, StoreError> {
    let s = reader.lock().unwrap_or_else(|e| e.into_inner());
    Ok(s.feeds()?.into_iter().map(|r| (r.url.clone(), r)).collect())
}

/// Polls every feed once, `concurrency` at a time, and returns when all results are
/// committed (alerts are delivered by the writer).
///
/// # Errors
/// When the feed rows cannot be read.
pub async fn poll_once(
    p: &Pipeline,
    feeds: &[FeedConfig],
    tx: &mpsc::Sender<WriterMsg>,
    shutdown: &CancellationToken,
) -> Result<(), StoreError> {
    let rows = rows_by_url(&p.reader)?;
    let sem = Arc::new(Semaphore::new(p.poll.concurrency.max(1)));
    let mut set = JoinSet::new();
    // Slots are taken here, in config order, so feeds start in the order they are listed.
    for f in feeds {
        let Some(row) = rows.get(&f.url).cloned() else {
            continue;
        };
        let permit = tokio::select! {
            p = sem.clone().acquire_owned() => p.ok(),
            () = shutdown.cancelled() => break,
        };
        let (p, f, tx) = (p.clone(), f.clone(), tx.clone());
        set.spawn(async move { poll_and_commit(p, f, row, tx, permit).await });
        // Reap finished polls as we go, so the set does not hold thousands of results.
        while let Some(r) = set.try_join_next() {
            drop(r);
        }
    }
    loop {
        tokio::select! {
            r = set.join_next() => if r.is_none() { break },
            () = shutdown.cancelled() => {
                set.abort_all();
                while set.join_next().await.is_some() {}
                break;
            }
        }
    }
    Ok(())
}

/// What the loop runs with: replaced as a whole on reload.
#[derive(Clone)]
pub struct Runtime {
    /// What each poll runs with.
    pub pipeline: Pipeline,
    /// The configured feeds.
    pub feeds: Vec<FeedConfig>,
}

/// When each idle feed is next due, ordered by time.
///
/// The loop comes round once per finished poll; at 10,000 feeds a scan of every feed on each
/// turn (what a plain map needs to find the due ones) made a cycle quadratic. Here the due
/// feeds are taken from the front of an ordered set. A feed in flight is not in the queue:
/// it comes back with its next time when its poll is committed.
#[derive(Default)]
struct DueQueue {
    at: HashMap<Arc<str>, i64>,
    order: std::collections::BTreeSet<(i64, Arc<str>)>,
}

impl DueQueue {
    /// Sets (or moves) a feed's due time.
    fn set(&mut self, url: Arc<str>, at: i64) {
        if let Some(old) = self.at.insert(url.clone(), at) {
            self.order.remove(&(old, url.clone()));
        }
        self.order.insert((at, url));
    }

    /// The feed's due time, if it is waiting.
    fn get(&self, url: &str) -> Option<i64> {
        self.at.get(url).copied()
    }

    /// Removes and returns the earliest feed due at or before `now`.
    fn pop_due(&mut self, now: i64) -> Option<Arc<str>> {
        if self.order.first().is_none_or(|(at, _)| *at > now) {
            return None;
        }
        let (_, url) = self.order.pop_first()?;
        self.at.remove(&url);
        Some(url)
    }

    /// The earliest due time, if any feed is waiting.
    fn next_at(&self) -> Option<i64> {
        self.order.first().map(|(at, _)| *at)
    }

    /// Drops the feeds for which `keep` is false.
    fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.order.retain(|(_, u)| keep(u));
        self.at.retain(|u, _| keep(u));
    }
}

/// The runtime's feeds by URL, so a due URL finds its config without a scan.
fn index_feeds(rt: &Runtime) -> HashMap<Arc<str>, usize> {
    rt.feeds
        .iter()
        .enumerate()
        .map(|(i, f)| (Arc::from(f.url.as_str()), i))
        .collect()
}

/// The daemon loop: polls each feed when it is due, until `shutdown` is cancelled; then
/// gives in-flight polls `grace` to finish and cancels the rest.
///
/// A new [`Runtime`] sent on `runtime` (a reload) takes effect for polls started after it:
/// feeds keep their schedule, new feeds are due at once, removed feeds stop.
///
/// # Errors
/// When the feed rows cannot be read at start.
pub async fn run(
    mut runtime: tokio::sync::watch::Receiver<Arc<Runtime>>,
    tx: &mpsc::Sender<WriterMsg>,
    shutdown: &CancellationToken,
    grace: Duration,
) -> Result<(), StoreError> {
    let mut rt = runtime.borrow_and_update().clone();
    let mut by_url = index_feeds(&rt);
    let mut due = DueQueue::default();
    let mut busy: std::collections::HashSet<Arc<str>> = std::collections::HashSet::new();
    schedule_feeds(&rt, &by_url, &busy, &mut due)?;
    let mut in_flight: JoinSet<(String, i64)> = JoinSet::new();
    let watchdog = crate::ops::notify::watchdog_interval();
    // Polling slots. A poll gives its slot back once its record is handed to the writer, as
    // in `poll --once`; holding it until the commit was acknowledged tied throughput to the
    // writer's gathering window (10,000 feeds: 7,500 polled in 25 s, against 12.5 s for all
    // of them with `poll --once`). The feed stays `busy` until its commit is acknowledged.
    let mut limit = rt.pipeline.poll.concurrency.max(1);
    let mut slots = Arc::new(Semaphore::new(limit));

    loop {
        let now = chrono::Utc::now().timestamp();
        let p = &rt.pipeline;
        if p.poll.concurrency.max(1) != limit {
            // A reload changed the limit: polls already running keep the old slots.
            limit = p.poll.concurrency.max(1);
            slots = Arc::new(Semaphore::new(limit));
        }
        // Start what is due, earliest first, while slots are free.
        loop {
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                break;
            };
            let Some(url) = due.pop_due(now) else {
                break;
            };
            let Some(f) = by_url.get(&url).and_then(|&i| rt.feeds.get(i)) else {
                continue;
            };
            let row = {
                let s = p.reader.lock().unwrap_or_else(|e| e.into_inner());
                s.feed(&url)
            };
            let row = match row {
                Ok(Some(r)) => r,
                Ok(None) => continue,
                Err(e) => {
                    tracing::error!(feed = %url, error = %e, "cannot read feed state; retrying in a minute");
                    due.set(url, now + 60);
                    continue;
                }
            };
            busy.insert(url);
            in_flight.spawn(poll_and_commit(
                p.clone(),
                f.clone(),
                row,
                tx.clone(),
                Some(slot),
            ));
        }
        let next_due = due.next_at().unwrap_or(now + 3600);
        let waiting = next_due <= now;
        let mut wait = Duration::from_secs(next_due.saturating_sub(now).clamp(1, 3600) as u64);
        // Come round at least twice a minute, so /healthz can tell a stalled loop.
        crate::ops::metrics::loop_alive();
        wait = wait.min(Duration::from_secs(30));
        if let Some(w) = watchdog {
            // The loop must come round at least this often to prove it is alive.
            crate::ops::notify::watchdog();
            wait = wait.min(w);
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some(done) = in_flight.join_next() => {
                if let Ok((url, next)) = done {
                    // A feed removed by a reload while in flight is not scheduled again.
                    if let Some(url) = busy.take(url.as_str()) {
                        if by_url.contains_key(&url) {
                            due.set(url, next);
                        }
                    }
                }
            }
            changed = runtime.changed() => {
                if changed.is_ok() {
                    rt = runtime.borrow_and_update().clone();
                    by_url = index_feeds(&rt);
                    if let Err(e) = schedule_feeds(&rt, &by_url, &busy, &mut due) {
                        tracing::error!(error = %e, "cannot read feed state after reload");
                    }
                }
            }
            () = tokio::time::sleep(wait) => {}
            // A slot came free while feeds are waiting: go round and start the next one.
            _ = slots.acquire(), if waiting => {}
        }
    }

    // Shutdown: no new polls; let in-flight ones finish within the grace period.
    crate::ops::notify::stopping();
    if !in_flight.is_empty() {
        tracing::info!(
            in_flight = in_flight.len(),
            "shutting down: waiting up to {}s for polls in flight",
            grace.as_secs()
        );
        let drain = async { while in_flight.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, drain).await.is_err() {
            tracing::warn!("grace period over: cancelling polls still in flight (they are retried after restart)");
            in_flight.abort_all();
            while in_flight.join_next().await.is_some() {}
        }
    }
    Ok(())
}

/// Brings the due queue in line with the runtime's feeds: known feeds keep their time, new
/// ones take the stored next-poll time (or now), removed ones are dropped, and no feed waits
/// longer than [`due_ceiling`] allows. Feeds in flight are left to the loop, which schedules
/// them when their poll is committed.
fn schedule_feeds(
    rt: &Runtime,
    by_url: &HashMap<Arc<str>, usize>,
    busy: &std::collections::HashSet<Arc<str>>,
    due: &mut DueQueue,
) -> Result<(), StoreError> {
    let rows = rows_by_url(&rt.pipeline.reader)?;
    let now = chrono::Utc::now().timestamp();
    due.retain(|u| by_url.contains_key(u));
    for (url, &i) in by_url {
        if busy.contains(url) {
            continue;
        }
        let row = rows.get(&**url);
        let known = due.get(url);
        let at = known
            .or_else(|| row.and_then(|r| r.next_poll_at))
            .unwrap_or(now);
        let interval = rt
            .feeds
            .get(i)
            .and_then(|f| f.interval)
            .unwrap_or(rt.pipeline.poll.interval);
        let last_poll = row.and_then(|r| r.last_poll_at);
        let ceiling = due_ceiling(last_poll, now, interval, rt.pipeline.poll.max_interval);
        if at > ceiling && !crate::store::is_stopped(at) {
            tracing::warn!(feed = %url, "next poll was set for {}, further away than [poll] max_interval allows; polling at {} instead",
                crate::text::time::rfc3339(at), crate::text::time::rfc3339(ceiling));
            due.set(url.clone(), ceiling);
        } else if known.is_none() {
            due.set(url.clone(), at);
        }
    }
    Ok(())
}

/// The latest a feed may be due: its last poll (now if never polled) plus the longer of
/// `[poll] max_interval` and its own interval, plus the 10% jitter polls are spread by.
/// Stored times beyond it come from an older version, which honoured any wait a server asked
/// for (a `<ttl>` that set a feed's next poll in 2217), or from a reload that shortened
/// `max_interval`: they are pulled in at start and on every reload.
fn due_ceiling(last_poll: Option<i64>, now: i64, interval: Duration, max: Duration) -> i64 {
    let longest = i64::try_from(interval.max(max).as_secs()).unwrap_or(i64::MAX / 16);
    last_poll.unwrap_or(now).min(now) + longest + longest / 10
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_queue_hands_out_due_feeds_earliest_first() {
        let mut q = DueQueue::default();
        q.set(Arc::from("b"), 20);
        q.set(Arc::from("a"), 10);
        q.set(Arc::from("c"), 30);
        // Moving a feed replaces its old time instead of adding a second entry.
        q.set(Arc::from("c"), 5);
        assert_eq!(q.next_at(), Some(5));
        assert_eq!(q.pop_due(15).as_deref(), Some("c"));
        assert_eq!(q.pop_due(15).as_deref(), Some("a"));
        assert_eq!(q.pop_due(15), None, "b is not due before 20");
        assert!(q.get("b") == Some(20) && q.get("a").is_none());
        q.retain(|u| u != "b");
        assert_eq!(q.next_at(), None);
        assert_eq!(q.pop_due(i64::MAX), None);
    }

    #[test]
    fn due_ceiling_is_the_last_poll_plus_the_longest_interval_and_jitter() {
        let h = Duration::from_secs(3600);
        let six = Duration::from_secs(6 * 3600);
        assert_eq!(due_ceiling(Some(1000), 5000, h, six), 1000 + 6 * 3960);
        // A configured interval longer than max_interval is the operator's choice.
        assert_eq!(
            due_ceiling(Some(1000), 5000, 2 * six, six),
            1000 + 12 * 3960
        );
        // Never polled, or a last poll in the future (clock stepped back): from now.
        assert_eq!(due_ceiling(None, 5000, h, six), 5000 + 6 * 3960);
        assert_eq!(due_ceiling(Some(9000), 5000, h, six), 5000 + 6 * 3960);
    }
}
