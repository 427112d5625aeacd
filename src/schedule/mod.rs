//! Schedule: when feeds are polled, and the single writer that commits their results.
//!
//! Polls run concurrently (bounded by `[poll] concurrency`); their `PollRecord`s go to one
//! writer thread that owns the write connection and the alert log. The writer commits what
//! has arrived in one transaction (at thousands of feeds one fsync per batch, not per feed),
//! then delivers the alerts those commits created. A poll counts as done only when the writer
//! acknowledged its commit, so the scheduler never polls a feed whose last result is still
//! in flight.
//!
//! On PostgreSQL, where several instances share the feeds, `shared` runs the cycle instead:
//! feeds claimed from the database under leases, each poll committing its own record.
//!
//! `writer` is the single writer (the only holder of the write connection and the alert log);
//! `due` keeps the feeds in the order they fall due. This file runs the polls: [`run`], the
//! daemon loop, and [`poll_once`].
//!
//! Shutdown is a [`CancellationToken`] passed in: the binary cancels it on a signal, a test
//! on whatever it likes. In-flight polls get a grace period to finish; whatever is cut off
//! was never committed, so it is polled again after restart.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::FeedConfig;
use crate::pipeline::{poll_feed, Pipeline};
use crate::store::reader::Reader;
use crate::store::{FeedRow, Store, StoreError};

mod due;
pub(crate) mod retention;
pub mod shared;
mod writer;

use due::{index_feeds, schedule_feeds, DueQueue};
pub use writer::{health_ticks, Writer, WriterMsg, HEALTH_TICK};

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
    // Its keys count as seen from now until the writer has committed them (it releases them
    // then), so no other poll takes these items for new meanwhile.
    p.seen.hold(&rec);
    match tx.send(WriterMsg::Commit(Box::new(rec), ack_tx)).await {
        Ok(()) => {
            drop(slot);
            committed = ack_rx.await.unwrap_or(false);
        }
        Err(mpsc::error::SendError(WriterMsg::Commit(rec, _))) => p.seen.release(&rec),
        Err(_) => {}
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

/// The SQLite store the scheduler reads feed state from: this loop runs only on SQLite
/// (PostgreSQL instances claim their feeds instead, see `shared`).
fn sqlite(reader: &Reader) -> Result<&Arc<Mutex<Store>>, StoreError> {
    reader
        .sqlite()
        .ok_or_else(|| StoreError::Task("the SQLite scheduler was given a PostgreSQL store".into()))
}

/// Reads all feed rows, keyed by URL.
fn rows_by_url(reader: &Reader) -> Result<HashMap<String, FeedRow>, StoreError> {
    let s = sqlite(reader)?.lock().unwrap_or_else(|e| e.into_inner());
    Ok(s.feeds()?.into_iter().map(|r| (r.url.clone(), r)).collect())
}

/// Hears a `poll --once` advance: (feeds finished, feeds to poll), once at the start and after
/// each feed. The command line draws it as a progress bar on a terminal; the library itself
/// never draws anything.
pub type PollProgress = Arc<dyn Fn(usize, usize) + Send + Sync>;

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
    progress: Option<&PollProgress>,
) -> Result<(), StoreError> {
    let rows = rows_by_url(&p.reader)?;
    let total = feeds.iter().filter(|f| rows.contains_key(&f.url)).count();
    let mut done = 0;
    let mut finished = |n: usize| {
        done += n;
        if let Some(report) = progress {
            report(done, total);
        }
    };
    finished(0);
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
            finished(1);
        }
    }
    loop {
        tokio::select! {
            r = set.join_next() => if r.is_none() { break } else { finished(1) },
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
    /// The sinks a PostgreSQL commit queues its alerts for, and their waker (empty on
    /// SQLite, whose sinks queue from their cursors).
    pub sinks: crate::sink::Routes,
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
    let mut polls = Polls::start(runtime.borrow_and_update().clone())?;
    let watchdog = crate::ops::notify::watchdog_interval();
    loop {
        let now = chrono::Utc::now().timestamp();
        polls.follow_concurrency();
        polls.start_due(now, tx);
        let (wait, waiting) = polls.wait(now, watchdog);
        let slots = polls.slots.clone();
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some(done) = polls.in_flight.join_next() => {
                if let Ok((url, next)) = done {
                    polls.finished(&url, next);
                }
            }
            changed = runtime.changed() => {
                if changed.is_ok() {
                    polls.reload(runtime.borrow_and_update().clone());
                }
            }
            () = tokio::time::sleep(wait) => {}
            // A slot came free while feeds are waiting: go round and start the next one.
            _ = slots.acquire(), if waiting => {}
        }
    }
    crate::ops::notify::stopping();
    shut_down(polls.in_flight, grace).await;
    Ok(())
}

/// The daemon loop's state: the runtime in force, when each feed is due, and the polls
/// running.
struct Polls {
    rt: Arc<Runtime>,
    /// Each configured feed's index in `rt.feeds`.
    by_url: HashMap<Arc<str>, usize>,
    due: DueQueue,
    /// Feeds polled and not yet committed: not scheduled again until they are.
    busy: HashSet<Arc<str>>,
    in_flight: JoinSet<(String, i64)>,
    /// The concurrency `slots` were made for.
    limit: usize,
    /// Polling slots. A poll gives its slot back once its record is handed to the writer, as
    /// in `poll --once`; holding it until the commit was acknowledged tied throughput to the
    /// writer's gathering window (10,000 feeds: 7,500 polled in 25 s, against 12.5 s for all
    /// of them with `poll --once`). The feed stays `busy` until its commit is acknowledged.
    slots: Arc<Semaphore>,
}

impl Polls {
    /// Schedules every configured feed from its stored state.
    fn start(rt: Arc<Runtime>) -> Result<Self, StoreError> {
        let by_url = index_feeds(&rt);
        let mut due = DueQueue::default();
        let busy = HashSet::new();
        schedule_feeds(&rt, &by_url, &busy, &mut due)?;
        let limit = rt.pipeline.poll.concurrency.max(1);
        Ok(Polls {
            rt,
            by_url,
            due,
            busy,
            in_flight: JoinSet::new(),
            limit,
            slots: Arc::new(Semaphore::new(limit)),
        })
    }

    /// A reload changed the limit: new slots, while polls already running keep the old ones.
    fn follow_concurrency(&mut self) {
        let limit = self.rt.pipeline.poll.concurrency.max(1);
        if limit != self.limit {
            self.limit = limit;
            self.slots = Arc::new(Semaphore::new(limit));
        }
    }

    /// Starts what is due, earliest first, while slots are free.
    fn start_due(&mut self, now: i64, tx: &mpsc::Sender<WriterMsg>) {
        let p = &self.rt.pipeline;
        loop {
            let Ok(slot) = self.slots.clone().try_acquire_owned() else {
                break;
            };
            let Some(url) = self.due.pop_due(now) else {
                break;
            };
            let Some(f) = self.by_url.get(&url).and_then(|&i| self.rt.feeds.get(i)) else {
                continue;
            };
            let row = sqlite(&p.reader)
                .and_then(|s| s.lock().unwrap_or_else(|e| e.into_inner()).feed(&url));
            let row = match row {
                Ok(Some(r)) => r,
                Ok(None) => continue,
                Err(e) => {
                    tracing::error!(feed = %url, error = %e, "cannot read feed state; retrying in a minute");
                    self.due.set(url, now + 60);
                    continue;
                }
            };
            self.busy.insert(url);
            let poll = poll_and_commit(p.clone(), f.clone(), row, tx.clone(), Some(slot));
            self.in_flight.spawn(poll);
        }
    }

    /// How long the loop may sleep, and whether feeds are due but waiting for a slot. The
    /// loop comes round at least twice a minute, so /healthz can tell a stalled loop, and at
    /// least once per `watchdog` interval, to prove to systemd it is alive.
    fn wait(&self, now: i64, watchdog: Option<Duration>) -> (Duration, bool) {
        let (mut wait, waiting) = self.due.wait(now);
        // Come round at least twice a minute, so /healthz can tell a stalled loop.
        crate::ops::metrics::loop_alive();
        wait = wait.min(Duration::from_secs(30));
        if let Some(w) = watchdog {
            crate::ops::notify::watchdog();
            wait = wait.min(w);
        }
        (wait, waiting)
    }

    /// A poll was committed: its feed is due again at `next`, unless a reload removed the
    /// feed while it was in flight.
    fn finished(&mut self, url: &str, next: i64) {
        if let Some(url) = self.busy.take(url) {
            if self.by_url.contains_key(&url) {
                self.due.set(url, next);
            }
        }
    }

    /// A reload: the new runtime for polls started from now on; feeds keep their schedule.
    fn reload(&mut self, rt: Arc<Runtime>) {
        self.rt = rt;
        self.by_url = index_feeds(&self.rt);
        if let Err(e) = schedule_feeds(&self.rt, &self.by_url, &self.busy, &mut self.due) {
            tracing::error!(error = %e, "cannot read feed state after reload");
        }
    }
}

/// Shutdown: no new polls; in-flight ones may finish within the grace period, the rest are
/// cancelled (never committed, so they are polled again after restart).
async fn shut_down<T: 'static>(mut in_flight: JoinSet<T>, grace: Duration) {
    if in_flight.is_empty() {
        return;
    }
    tracing::info!(
        in_flight = in_flight.len(),
        "shutting down: waiting up to {}s for polls in flight",
        grace.as_secs()
    );
    let drain = async { while in_flight.join_next().await.is_some() {} };
    if tokio::time::timeout(grace, drain).await.is_err() {
        tracing::warn!(
            "grace period over: cancelling polls still in flight (they are retried after restart)"
        );
        in_flight.abort_all();
        while in_flight.join_next().await.is_some() {}
    }
}
