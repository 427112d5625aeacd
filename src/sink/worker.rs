//! The delivery loop of one sink: queue new alerts, claim the oldest due one, deliver it,
//! record the outcome; back off after a failure; sleep until woken, due, or the tick. A
//! digest sink runs the same loop with its own pass (`digest`).
//!
//! Each sink has its own task and its own database connection (SQLite) or pooled ones
//! (PostgreSQL), so a sink that is down (or slow to time out) holds up nobody: not the poll
//! writer, not another sink. The outbox calls are short; SQLite's run in `spawn_blocking`.
//! The loop is the same on both backends; only its store calls differ (`outbox::Outbox`).

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::build::Sink;
use super::deliver::{deliver, Outcome};
use super::outbox::Outbox;
use super::{SinkError, SinkOptions};
use crate::clock::Clock;
use crate::store::{AlertRecord, ClaimedAlert, Store, StoreError};

/// Extra time a claim outlives the sink's timeout, so a delivery that finished just in time
/// is recorded before anyone else may take the alert.
pub(super) const LEASE_MARGIN: Duration = Duration::from_secs(1);
/// Delivered and rejected outbox rows older than this are pruned.
const KEEP_FINISHED: Duration = Duration::from_secs(30 * 24 * 3600);
/// How often a sink prunes its finished rows.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Signals that stop a sink's loop.
#[derive(Clone)]
pub(crate) struct Stop {
    /// Stop after the delivery in flight (its outcome is recorded).
    pub(crate) stop: CancellationToken,
    /// Deliver what is due now, skipping sinks in backoff, then stop (`poll --once`).
    pub(crate) drain: CancellationToken,
}

/// One delivery attempt. The loop's timing (retry, backoff, recovery) does not depend on
/// how an alert travels, so its tests put a scripted receiver here and run on paused time.
pub(crate) trait Deliver: Send + Sync {
    /// Sends `body` (the alert's JSON) once.
    fn deliver(
        &self,
        sink: &Sink,
        alert: &AlertRecord,
        attempt: u32,
        body: Vec<u8>,
    ) -> impl Future<Output = Outcome> + Send;
}

/// The sink's own target: the webhook POST or the command.
pub(crate) struct ToTarget;

impl Deliver for ToTarget {
    fn deliver(
        &self,
        sink: &Sink,
        alert: &AlertRecord,
        attempt: u32,
        body: Vec<u8>,
    ) -> impl Future<Output = Outcome> + Send {
        deliver(sink, alert.id, attempt, &alert.rule, alert.severity, body)
    }
}

/// Runs one sink until stopped.
pub(crate) async fn run(
    sink: Arc<Sink>,
    store: Outbox,
    wake: watch::Receiver<u64>,
    stop: Stop,
    opts: SinkOptions,
) {
    run_with(sink, store, wake, stop, opts, Clock::System, &ToTarget).await;
}

/// [`run`], with the clock the outbox's times are read from and the delivery attempt given.
pub(crate) async fn run_with(
    sink: Arc<Sink>,
    store: Outbox,
    mut wake: watch::Receiver<u64>,
    stop: Stop,
    opts: SinkOptions,
    clock: Clock,
    via: &impl Deliver,
) {
    let name = sink.name().to_string();
    let mut failures = store.failure_streak(&name).await.map_or(0, |(n, _)| n);
    let mut known_streak = failures;
    let mut paused_until: Option<Instant> = None;
    let mut next_prune = Instant::now();
    let mut wake_open = true;
    tracing::debug!(sink = %name, "sink started");
    loop {
        if stop.stop.is_cancelled() {
            break;
        }
        let now = Instant::now();
        if paused_until.is_some_and(|t| t <= now) {
            paused_until = None;
        }
        // A drain must be followed by a pass that *started* after it: alerts committed while
        // an earlier pass was running are only seen by the next one.
        let draining = stop.drain.is_cancelled();
        let mut next_due: Option<Duration> = None;
        if paused_until.is_none() {
            let done = match sink.spec.digest_schedule() {
                Some(schedule) => {
                    let feeds = &opts.feeds;
                    super::digest::pass(
                        &sink,
                        schedule,
                        &store,
                        feeds,
                        &stop.stop,
                        &mut failures,
                        clock,
                    )
                    .await
                }
                None => pass(&sink, &store, &stop.stop, &mut failures, clock, via).await,
            };
            if matches!(done, Ok(Pass::Idle { .. } | Pass::Failed { .. })) {
                // Reported when this process's deliveries moved the streak: a streak left
                // by an earlier run (refusals, say, with nothing pending since) raises no
                // fault on its own, so a `poll --once` that delivers fine exits 0.
                if let Ok((streak, last)) = store.failure_streak(&name).await {
                    if streak != known_streak {
                        known_streak = streak;
                        super::fault::report(&name, streak, last.as_deref());
                    }
                }
            }
            match done {
                Ok(Pass::Idle { next_due: d }) => next_due = d,
                Ok(Pass::Failed { retry_in }) => paused_until = Some(Instant::now() + retry_in),
                Ok(Pass::Stopped) => break,
                Err(e) => {
                    tracing::error!(sink = %name, error = %e, "sink outbox unavailable; trying again at the next tick");
                }
            }
        }
        if draining {
            break;
        }
        if now >= next_prune {
            next_prune = now + PRUNE_EVERY;
            let before = clock.now() - KEEP_FINISHED.as_secs() as i64;
            if let Err(e) = store.prune(before).await {
                tracing::warn!(sink = %name, error = %e, "cannot prune the sink outbox");
            }
        }
        let mut wait = opts.tick;
        if let Some(t) = paused_until {
            wait = wait.min(t.saturating_duration_since(Instant::now()));
        } else if let Some(d) = next_due {
            wait = wait.min(d);
        }
        tokio::select! {
            () = stop.stop.cancelled() => break,
            () = stop.drain.cancelled() => {}
            changed = wake.changed(), if wake_open => wake_open = changed.is_ok(),
            () = tokio::time::sleep(wait) => {}
        }
    }
    super::fault::forget(&name);
    tracing::debug!(sink = %name, "sink stopped");
}

/// How a pass over the due alerts ended.
pub(super) enum Pass {
    /// Nothing more is due; the next pending alert is due in `next_due`, if any is pending.
    Idle { next_due: Option<Duration> },
    /// A delivery failed and may succeed later: the sink pauses for `retry_in`.
    Failed { retry_in: Duration },
    /// Stop was requested between two deliveries.
    Stopped,
}

/// Queues new alerts, then delivers due ones oldest first until none is due, one fails
/// with a retryable error (the receiver is probably down: trying the next alert at once
/// would only fail too), or stop is requested.
async fn pass(
    sink: &Arc<Sink>,
    store: &Outbox,
    stop: &CancellationToken,
    failures: &mut u32,
    clock: Clock,
    via: &impl Deliver,
) -> Result<Pass, SinkError> {
    let name = sink.name().to_string();
    enqueue(sink, store, clock).await?;
    let lease = claim_secs(sink);
    loop {
        if stop.is_cancelled() {
            return Ok(Pass::Stopped);
        }
        let now = clock.now();
        let claimed = store.claim(&name, now, now + lease).await?;
        let lease_end = Instant::now() + Duration::from_secs(u64::try_from(lease).unwrap_or(0));
        let Some(ClaimedAlert { alert, attempts }) = claimed else {
            // Alerts committed while this pass was delivering are taken in the same pass.
            if enqueue(sink, store, clock).await? > 0 {
                continue;
            }
            let next = store.next_due(&name).await?;
            let next_due =
                next.map(|t| Duration::from_secs(t.saturating_sub(clock.now()).max(0) as u64));
            return Ok(Pass::Idle { next_due });
        };
        // serde_json::Value serialisation cannot fail.
        let body = serde_json::to_vec(&crate::alert::AlertLine::from(&alert)).unwrap_or_default();
        let attempt = attempts.saturating_add(1);
        let outcome = via.deliver(sink, &alert, attempt, body).await;
        let (id, now) = (alert.id, clock.now());
        match outcome {
            Outcome::Delivered => {
                *failures = 0;
                record_delivered(store, (&name, id), clock, lease_end, stop).await?;
                tracing::info!(sink = %name, alert_id = id, alert_rule = %alert.rule, attempt, "alert delivered to sink");
            }
            Outcome::Reject { error } => {
                // The receiver is up and answering: no backoff, but the sink's failure
                // streak (in the store, for `status`) grows.
                tracing::error!(sink = %name, alert_id = id, alert_rule = %alert.rule, attempt, error = %error,
                    "sink rejected the alert for good; it is kept as failed (see `feedwatch status`)");
                store.failed(&name, id, now, error, None).await?;
            }
            Outcome::Retry { error, after } => {
                *failures = failures.saturating_add(1);
                let retry_in = backoff(*failures, sink.spec.retry_initial, sink.spec.retry_max)
                    .max(after.unwrap_or_default().min(sink.spec.retry_max));
                // Whole seconds, rounded down: the in-memory pause is exact, and the stored
                // time must never make the alert wait longer than the pause.
                let retry_at = now + retry_in.as_secs() as i64;
                tracing::warn!(sink = %name, alert_id = id, attempt, error = %error,
                    "sink delivery failed; retrying in {}", humantime::format_duration(round_ms(retry_in)));
                store.failed(&name, id, now, error, Some(retry_at)).await?;
                return Ok(Pass::Failed { retry_in });
            }
        }
    }
}

/// How long a claimed delivery is leased, in whole seconds: twice the timeout (a delivery
/// cannot take longer than one) plus a margin, rounded up. After a crash the alert or digest
/// is sent again that much later.
pub(super) fn claim_secs(sink: &Sink) -> i64 {
    (sink.spec.timeout() * 2 + LEASE_MARGIN)
        .as_secs_f64()
        .ceil() as i64
}

/// Records a delivery the receiver accepted, retrying while the store cannot be written
/// (a database restarting, a lost connection): until the claim's lease ends nobody else
/// takes the alert, and recording it in time is what keeps the receiver from getting it a
/// second time. Gives up (the alert is sent again: at least once) when the lease is about
/// to end or stop is requested.
async fn record_delivered(
    store: &Outbox,
    (name, id): (&str, i64),
    clock: Clock,
    lease_end: Instant,
    stop: &CancellationToken,
) -> Result<(), SinkError> {
    let mut pause = Duration::from_millis(250);
    loop {
        match store.delivered(name, id, clock.now()).await {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() + pause + LEASE_MARGIN < lease_end && !stop.is_cancelled() => {
                tracing::warn!(sink = %name, alert_id = id, error = %e,
                    "cannot record a delivery the receiver accepted; retrying before its claim ends");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Queues the alerts committed since the sink's cursor that its filter accepts (SQLite; on
/// PostgreSQL the commits queued them).
async fn enqueue(sink: &Arc<Sink>, store: &Outbox, clock: Clock) -> Result<usize, SinkError> {
    let queued = store.enqueue(&sink.spec, clock.now()).await?;
    if queued > 0 {
        tracing::debug!(sink = %sink.name(), queued, "alerts queued for sink");
    }
    Ok(queued)
}

/// Exponential backoff with "equal jitter": the `failures`-th consecutive failure waits
/// between half and all of `initial · 2^(failures-1)`, capped at `max`. The jitter keeps
/// many feedwatch instances (or sinks on one receiver) from retrying in lockstep.
pub(crate) fn backoff(failures: u32, initial: Duration, max: Duration) -> Duration {
    let exp = failures.saturating_sub(1).min(30);
    let full = initial.saturating_mul(1u32 << exp).min(max);
    let half = full / 2;
    half + half.mul_f64(random_unit())
}

/// A number in [0, 1) from the standard library's randomly keyed hasher: enough for
/// jitter, and no extra dependency.
fn random_unit() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(unix_now() as u64);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

pub(super) fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis().min(u128::from(u64::MAX)) as u64)
}

pub(crate) fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Runs a store call on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    store: &Arc<Mutex<Store>>,
    f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, SinkError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        let mut s = store.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut s)
    })
    .await
    .map_err(|e| SinkError::Store(StoreError::Task(e.to_string())))?
    .map_err(SinkError::Store)
}

#[cfg(test)]
#[path = "worker_tests.rs"]
mod tests;
