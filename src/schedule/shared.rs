//! The poll cycle on PostgreSQL, where several instances share the feeds: instead of a due
//! queue of its own, each instance claims due feeds from the database (leases taken with
//! `FOR UPDATE SKIP LOCKED`, see `store::pg::coord`), polls them with the same pipeline as
//! SQLite ([`poll_feed`]) while keeping their leases renewed, and commits each poll itself,
//! fenced on its lease ([`PgStore::commit_poll`]). The alerts a commit created go to this
//! instance's alert log and journal.
//!
//! Why no single writer here: SQLite has one write connection, so its writer batches the
//! commits of all polls; PostgreSQL takes concurrent transactions, and a poll committing its
//! own record keeps its lease check, its commit and its lease release together.
//!
//! Alerts reach a log through `alerts.logged_by` (see `store::pg::orphans`): this instance
//! logs those its commits created, and, at each heartbeat, any it still owes (a commit whose
//! outcome it could not learn, a log write that failed) and those of instances that died
//! owing some. One delivery at a time per instance, so none is written twice here.
//!
//! A database that cannot be reached is a service fault (`store_commit`: the journal, the
//! metrics, `/healthz`), retried with a growing pause; the pool reconnects on its own. A
//! lost lease is not a fault: another instance took the feed over and polls it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{shut_down, PollProgress, Runtime};
use crate::alert::{self, AlertLog};
use crate::ops::health::{self, Fault};
use crate::pipeline::poll_feed;
use crate::store::pg::{Claim, Held, Listed, PgError, PgStore};

mod feed_lists;
use feed_lists::{compare_lists, publish_listed, record_listed};

/// How often an instance with free slots asks for due feeds when the last claim found none,
/// and how often it heartbeats at most (a third of the lease when that is shorter).
const IDLE_CLAIM: Duration = Duration::from_secs(5);
/// The longest pause between attempts while the database cannot be reached.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What every poll of this instance shares: the database, who we are, our alert log.
pub struct Shared {
    /// The PostgreSQL pool.
    pub store: PgStore,
    /// This instance's id (its membership row).
    pub instance: String,
    /// This instance's alert log (written on the blocking pool, one batch at a time).
    pub log: Arc<Mutex<AlertLog>>,
    /// `[storage] lease` in seconds: how long a claimed feed stays leased unless renewed
    /// (every third of it while its poll runs), and how old a heartbeat makes an instance
    /// dead, its feeds and owed alerts free for the others.
    lease_secs: i64,
    /// Held from reading owed alerts to marking them delivered, so two deliveries of this
    /// instance never write the same alert. Holds the alerts written to the log whose
    /// delivered mark failed: marked first next time, never written again.
    delivering: tokio::sync::Mutex<Vec<i64>>,
    /// What this instance's config lists, as last recorded in its membership row: recorded
    /// again when the row is registered anew.
    listed: Mutex<Option<Listed>>,
}

impl Shared {
    /// The shared state of an instance registered as `instance`, leasing for `lease_secs`
    /// ([`PgSettings::lease_secs`](crate::config::PgSettings::lease_secs)).
    pub fn new(store: PgStore, instance: String, log: AlertLog, lease_secs: i64) -> Shared {
        Shared {
            store,
            instance,
            log: Arc::new(Mutex::new(log)),
            lease_secs: lease_secs.max(1),
            delivering: tokio::sync::Mutex::new(Vec::new()),
            listed: Mutex::new(None),
        }
    }

    /// How often to heartbeat: a third of the lease, at most [`IDLE_CLAIM`].
    fn beat(&self) -> Duration {
        let third = u64::try_from(self.lease_secs / 3).unwrap_or(1).max(1);
        Duration::from_secs(third).min(IDLE_CLAIM)
    }
}

/// How a cycle ends: `Once` after every feed was polled since it started and every poll is
/// done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// `poll --once`: until no feed not polled since the run `started` is left to claim or
    /// to wait for (a claim that fails ends it too, with the fault raised, so the exit code
    /// says so).
    Once {
        /// When the run started, by the database server's clock (microseconds since the
        /// epoch): every feed not polled since is claimed, due or not.
        started: i64,
    },
    /// `run`: until shutdown; polls in flight then get the grace period.
    Shutdown(Duration),
}

/// The pause after `failures` failed attempts in a row: 1 s, doubling, at most
/// [`MAX_BACKOFF`].
fn backoff(failures: u32) -> Duration {
    let secs = 1u64 << failures.saturating_sub(1).min(5);
    Duration::from_secs(secs).min(MAX_BACKOFF)
}

/// Claims and polls due feeds until `until` says stop, then gives up every lease this
/// instance still holds, so the others take its feeds at once.
pub async fn run(
    shared: Arc<Shared>,
    mut runtime: watch::Receiver<Arc<Runtime>>,
    shutdown: &CancellationToken,
    until: Until,
    progress: Option<&PollProgress>,
) {
    let mut in_flight: JoinSet<()> = JoinSet::new();
    let mut rt = runtime.borrow_and_update().clone();
    let mut index = index_feeds(&rt);
    let mut listed: Vec<String> = index.keys().cloned().collect();
    publish_listed(&shared, &listed).await;
    let (mut failures, mut done) = (0u32, 0usize);
    let watchdog = crate::ops::notify::watchdog_interval();
    loop {
        // Came round: /healthz and the systemd watchdog see a loop that is alive.
        crate::ops::metrics::loop_alive();
        if watchdog.is_some() {
            crate::ops::notify::watchdog();
        }
        let free = rt
            .pipeline
            .poll
            .concurrency
            .max(1)
            .saturating_sub(in_flight.len());
        let mut wait = IDLE_CLAIM;
        let mut claimed = 0;
        if free > 0 {
            match claim(&shared, free, until, &listed).await {
                Ok(claims) => {
                    if failures > 0 {
                        // Reachable again: what raised the fault works now.
                        health::clear(Fault::StoreCommit);
                    }
                    failures = 0;
                    claimed = claims.len();
                    for c in claims {
                        let feed = index.get(c.url.as_str()).copied();
                        in_flight.spawn(poll_claimed(shared.clone(), rt.clone(), feed, c));
                    }
                }
                Err(e) => {
                    failures += 1;
                    wait = backoff(failures);
                    database_fault(&e, "cannot claim due feeds", wait);
                    if matches!(until, Until::Once { .. }) {
                        break;
                    }
                }
            }
        }
        if let Some(report) = progress {
            report(done, done + in_flight.len());
        }
        if let Until::Once { started } = until {
            if claimed == 0 && in_flight.is_empty() {
                match others_hold(&shared, started).await {
                    Some(pause) => wait = pause,
                    None => break,
                }
            }
        }
        if let Some(w) = watchdog {
            wait = wait.min(w);
        }
        // A full claim may leave more due: ask again at once for the slots still free.
        if claimed > 0 && claimed == free {
            continue;
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some(_) = in_flight.join_next() => done += 1,
            changed = runtime.changed() => if changed.is_ok() {
                rt = runtime.borrow_and_update().clone();
                index = index_feeds(&rt);
                listed = index.keys().cloned().collect();
                publish_listed(&shared, &listed).await;
            },
            () = tokio::time::sleep(wait) => {}
        }
    }
    let grace = match until {
        Until::Once { .. } => Duration::from_secs(0),
        Until::Shutdown(grace) => grace,
    };
    if matches!(until, Until::Once { .. }) && !shutdown.is_cancelled() {
        while in_flight.join_next().await.is_some() {}
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = settle_owed(&shared) => {}
        }
    }
    shut_down(in_flight, grace).await;
    release_all(&shared).await;
}

/// For `poll --once`, once its polls are done: waits, at most a lease and a heartbeat, for
/// the alerts other instances owe to their logs, adopting and logging those whose owner
/// stops heartbeating meanwhile. Without it, alerts committed by a run killed just before
/// this one (its heartbeat not yet a lease old) would wait for the next run to be logged.
/// A live owner logs its own: what it still owes at the end is named in the journal.
async fn settle_owed(shared: &Arc<Shared>) {
    let lease = Duration::from_secs(u64::try_from(shared.lease_secs).unwrap_or(1));
    let deadline = tokio::time::Instant::now() + lease + shared.beat();
    loop {
        sweep(shared, false).await;
        let now = chrono::Utc::now().timestamp();
        let (alerts, oldest_beat) = match shared
            .store
            .owed_elsewhere(&shared.instance, now - shared.lease_secs)
            .await
        {
            Ok(Some(owed)) => owed,
            Ok(None) => return,
            Err(e) => {
                return tracing::warn!(error = %e,
                    "cannot read the alerts other instances owe to their logs; a later run or a live instance logs them")
            }
        };
        if tokio::time::Instant::now() >= deadline {
            return tracing::info!(alerts,
                "other instances still heartbeating owe alerts to their logs; they write them (or, should they stop, the next run adopts them)");
        }
        let stale_in = u64::try_from(oldest_beat + shared.lease_secs + 1 - now).unwrap_or(1);
        tracing::info!(alerts, adoptable_in_secs = stale_in,
            "waiting for alerts other instances owe to their logs: logged here if their owner stopped heartbeating");
        let pause = Duration::from_secs(stale_in.max(1)).min(shared.beat());
        tokio::time::sleep_until(deadline.min(tokio::time::Instant::now() + pause)).await;
    }
}

/// Each configured feed's index in `rt.feeds`, by URL.
fn index_feeds(rt: &Runtime) -> HashMap<String, usize> {
    rt.feeds
        .iter()
        .enumerate()
        .map(|(i, f)| (f.url.clone(), i))
        .collect()
}

/// Leases up to `free` feeds to this instance, among those its config lists (`listed`): due
/// ones for `run`; for `poll --once`, those not polled since it started, due or not.
async fn claim(
    shared: &Shared,
    free: usize,
    until: Until,
    listed: &[String],
) -> Result<Vec<Claim>, PgError> {
    let now = chrono::Utc::now().timestamp();
    let limit = i64::try_from(free).unwrap_or(i64::MAX);
    let (store, id, lease) = (&shared.store, &shared.instance, shared.lease_secs);
    let claims = match until {
        Until::Once { started } => {
            store
                .claim_unpolled_feeds(id, now, lease, limit, Some(listed), started)
                .await?
        }
        Until::Shutdown(_) => {
            store
                .claim_due_feeds(id, now, lease, limit, Some(listed))
                .await?
        }
    };
    for c in claims.iter().filter(|c| c.taken_over_from.is_some()) {
        tracing::warn!(feed = %c.url, from = c.taken_over_from.as_deref().unwrap_or(""),
            "took over a feed whose lease expired: its holder stopped renewing (died, hung or lost the database)");
    }
    Ok(claims)
}

/// For `poll --once` with nothing left to claim: how long to wait for the feeds not polled
/// since it `started` that other instances hold (polling them, or dead and holding them
/// until their leases end), or `None` when there are none and the run is done. A database
/// error ends the run with the `store_commit` fault raised, so its exit code says so.
async fn others_hold(shared: &Shared, started: i64) -> Option<Duration> {
    let now = chrono::Utc::now().timestamp();
    match shared
        .store
        .leased_unpolled(&shared.instance, now, started)
        .await
    {
        Ok(Some((feeds, first_free))) => {
            let secs = u64::try_from(first_free - now).unwrap_or(0).max(1);
            tracing::info!(feeds, first_free_in_secs = secs,
                "waiting for feeds other instances hold (polling them, or stopped without giving them back): polled here once their leases end");
            Some(Duration::from_secs(secs).min(IDLE_CLAIM))
        }
        Ok(None) => None,
        Err(e) => {
            database_fault(
                &e,
                "cannot read which feeds other instances hold",
                IDLE_CLAIM,
            );
            None
        }
    }
}

/// Gives up this instance's leases (a clean stop): its feeds are due for the others now.
/// Then it leaves the membership, unless it still owes alerts to its log.
async fn release_all(shared: &Shared) {
    match shared.store.release_all(&shared.instance).await {
        Ok(n) => tracing::info!(leases = n, "released this instance's feed leases"),
        Err(e) => tracing::warn!(error = %e, lease_secs = shared.lease_secs,
            "cannot release this instance's feed leases; they expire within a lease"),
    }
    match shared.store.leave(&shared.instance).await {
        Ok(true) => tracing::debug!("left the instances sharing the database"),
        Ok(false) => tracing::warn!(lease_secs = shared.lease_secs,
            "this instance owes alerts to its log: it stays listed, and another instance writes them once a lease has passed"),
        Err(e) => tracing::warn!(error = %e,
            "cannot remove this instance from the membership; `status` lists it as stopped until it is forgotten"),
    }
}

/// Raises the `store_commit` fault for a database error, saying what is retried when.
fn database_fault(e: &PgError, what: &str, retry: Duration) {
    health::set(
        Fault::StoreCommit,
        format!(
            "PostgreSQL: {what}: {e}; retrying in {}s (the pool reconnects)",
            retry.as_secs()
        ),
    );
}

/// Polls one claimed feed while renewing its lease, commits the result under the lease,
/// ends the lease and logs the alerts the commit created. Every failure is logged; none
/// stops the cycle (a feed whose poll was not committed is due again once its lease ends).
async fn poll_claimed(shared: Arc<Shared>, rt: Arc<Runtime>, feed: Option<usize>, c: Claim) {
    let Some(feed) = feed.and_then(|i| rt.feeds.get(i)) else {
        // Another instance's config lists it; ours does not (configs should match).
        tracing::warn!(feed = %c.url, "claimed a feed this instance's config does not list; leaving it");
        let later = chrono::Utc::now().timestamp() + shared.lease_secs;
        let _ = shared
            .store
            .release_lease(&shared.instance, c.feed_id, later)
            .await;
        return;
    };
    let row = match shared.store.feed_by_id(c.feed_id).await {
        Ok(Some(row)) => row,
        Ok(None) => return,
        Err(e) => {
            database_fault(
                &e,
                "cannot read a claimed feed's state",
                Duration::from_secs(60),
            );
            return;
        }
    };
    let started = std::time::Instant::now();
    let now = || chrono::Utc::now().timestamp();
    let p = &rt.pipeline;
    let work = poll_feed(p, feed, &row);
    let held = shared
        .store
        .while_holding(&shared.instance, &[c.feed_id], shared.lease_secs, now, work)
        .await;
    let rec = match held {
        Held::Done(rec, _) => rec,
        Held::Lost(_) => {
            tracing::warn!(feed = %c.url, "the feed's lease was taken over during its poll; dropped, the new holder polls it");
            return;
        }
    };
    let result = match (&rec.error, rec.status) {
        (Some(_), _) => "error",
        (None, Some(304)) => "not_modified",
        (None, _) => "ok",
    };
    let (status, items, kept) = (rec.status, rec.seen.len() as u64, rec.articles.len() as u64);
    // Sinks (#15): the commit queues its alerts for this instance's sinks, in its transaction.
    let sinks = &rt.sinks;
    let committed = match shared
        .store
        .commit_poll_with_sinks(&shared.instance, &c, &rec, &sinks.specs)
        .await
    {
        Ok(committed) => committed,
        Err(e @ PgError::LeaseLost { .. }) => {
            tracing::warn!(feed = %c.url, error = %e, "poll not committed");
            return;
        }
        Err(e) => {
            tracing::error!(feed = %c.url, error = %e,
                "cannot store poll results; the feed is polled again once its lease ends");
            database_fault(
                &e,
                "cannot commit a poll",
                Duration::from_secs(u64::try_from(shared.lease_secs).unwrap_or(60)),
            );
            crate::ops::metrics::poll(
                "error",
                status,
                items,
                kept,
                started.elapsed().as_secs_f64(),
            );
            return;
        }
    };
    health::clear(Fault::StoreCommit);
    crate::ops::metrics::poll(result, status, items, kept, started.elapsed().as_secs_f64());
    if let Err(e) = shared
        .store
        .release_lease(&shared.instance, c.feed_id, rec.next_poll_at)
        .await
    {
        tracing::warn!(feed = %c.url, error = %e, "cannot end the feed's lease; it expires on its own");
    }
    if !committed.alerts.is_empty() {
        sinks.wake(); // Sinks (#15): send them now rather than at the next tick.
    }
    deliver(&shared, Some(&committed.alerts)).await;
}

/// Writes alerts this instance owes to its log (those of `ids`, or all it owes) to the log
/// and the journal, then marks them delivered. A log that fails raises the `alert_log`
/// fault; the alerts stay owed, and the next heartbeat's sweep writes them.
async fn deliver(shared: &Arc<Shared>, ids: Option<&[i64]>) {
    if ids.is_some_and(<[i64]>::is_empty) {
        return;
    }
    let mut unmarked = shared.delivering.lock().await;
    let now = || chrono::Utc::now().timestamp();
    if !unmarked.is_empty() {
        if let Err(e) = shared.store.mark_delivered(&unmarked, now()).await {
            tracing::warn!(error = %e, alerts = unmarked.len(),
                "cannot mark logged alerts delivered; retrying at the next heartbeat");
            return;
        }
        unmarked.clear();
    }
    let alerts = match shared.store.owed_alerts(&shared.instance, ids).await {
        Ok(a) if a.is_empty() => {
            // The sweep read everything this instance owes, and it owes nothing: a fault
            // raised by an earlier failed read (or write) has nothing left behind it.
            if ids.is_none() {
                health::clear(Fault::AlertLog);
            }
            return;
        }
        Ok(a) => a,
        Err(e) => {
            return health::set(
                Fault::AlertLog,
                format!("cannot read new alerts: {e}; retried at the next heartbeat"),
            )
        }
    };
    let ids: Vec<i64> = alerts.iter().map(|a| a.id).collect();
    let log = shared.log.clone();
    let written = tokio::task::spawn_blocking(move || {
        let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
        alert::write_created(&mut log, &alerts)
    })
    .await;
    let failed = match written {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(e) => Some(e.to_string()),
    };
    if let Some(why) = failed {
        return health::set(
            Fault::AlertLog,
            format!("{why}; retried at the next heartbeat"),
        );
    }
    health::clear(Fault::AlertLog);
    if let Err(e) = shared.store.mark_delivered(&ids, now()).await {
        // Logged already: marked first at the next delivery (or, after a restart, from the
        // log by `reconcile_log`), never written again.
        tracing::warn!(error = %e, alerts = ids.len(),
            "cannot mark logged alerts delivered; retrying at the next heartbeat");
        *unmarked = ids;
    }
}

/// How long a silent instance stays listed in `status` before any instance removes its
/// row: long enough to be seen and looked into, short enough that restarts under the default
/// `hostname:pid` ids do not pile up rows for months.
const FORGET_AFTER_SECS: i64 = 7 * 86_400;

/// How often an instance looks for instances to forget: a week's horizon needs no finer
/// grain than an hour, and the heartbeat (every few seconds) need not scan `instances`.
const FORGET_EVERY_SECS: i64 = 3_600;

/// Adopts the alerts of instances that died owing them to a log, then writes everything
/// this instance owes (see the module doc); with `forget` (hourly), forgets instances
/// silent for a week.
async fn sweep(shared: &Arc<Shared>, forget: bool) {
    let now = chrono::Utc::now().timestamp();
    if forget {
        match shared.store.forget_instances(now - FORGET_AFTER_SECS).await {
            Ok(gone) if !gone.is_empty() => tracing::info!(instances = ?gone,
                "forgot instances silent for a week (their feeds and alerts passed to others long ago)"),
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(error = %e, "cannot forget old instances; retrying in an hour")
            }
        }
    }
    let alive_after = now - shared.lease_secs;
    match shared
        .store
        .adopt_orphan_alerts(&shared.instance, alive_after)
        .await
    {
        Ok(ids) if !ids.is_empty() => tracing::warn!(alerts = ids.len(),
            "adopted alerts another instance created and never logged (it stopped heartbeating); writing them to this instance's log"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot look for alerts owed by dead instances; retrying at the next heartbeat"),
    }
    deliver(shared, None).await;
}

/// Refreshes this instance's heartbeat every third of a lease (at most [`IDLE_CLAIM`])
/// until `stop`, registering it again when its row was removed (another instance forgot it
/// as dead); after each beat, sweeps the alerts this instance owes to its log.
pub async fn heartbeats(
    shared: Arc<Shared>,
    me: crate::store::pg::Instance,
    stop: CancellationToken,
) {
    let mut every = tokio::time::interval(shared.beat());
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut forgot_at = i64::MIN;
    let mut differed = false;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        let now = chrono::Utc::now().timestamp();
        match shared.store.heartbeat(&shared.instance, now).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(instance = %shared.instance, "this instance's membership row was gone; registering again");
                let me = crate::store::pg::Instance {
                    heartbeat_at: now,
                    ..me.clone()
                };
                let stale_before = now - shared.lease_secs;
                if let Err(e) = shared.store.register_instance(&me, stale_before).await {
                    tracing::warn!(error = %e, "cannot register this instance again");
                } else if let Some(l) = shared.listed.lock().ok().and_then(|l| l.clone()) {
                    record_listed(&shared, &l).await;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "heartbeat failed; retrying");
                continue;
            }
        }
        let forget = now.saturating_sub(forgot_at) >= FORGET_EVERY_SECS;
        if forget {
            forgot_at = now;
        }
        sweep(&shared, forget).await;
        compare_lists(&shared, now, &mut differed).await;
        report_status(&shared, now).await;
    }
}

/// `STATUS=` for `systemctl status` at each heartbeat: the faults, or the summary SQLite's
/// daemon shows (the whole fleet's feeds and alerts), with this instance's id.
async fn report_status(shared: &Shared, now: i64) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() || crate::ops::notify::status_faults() {
        return;
    }
    match shared.store.summary(super::writer::day_start(now)).await {
        Ok(s) => crate::ops::notify::status(&format!(
            "{}; instance {}",
            super::writer::summary_line(&s),
            shared.instance
        )),
        Err(e) => tracing::debug!(error = %e, "cannot read the status summary"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_ceiling() {
        let secs: Vec<u64> = (1..=8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30, 30]);
    }
}
