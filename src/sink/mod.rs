//! Sinks: alert delivery beyond the log, after `alert`.
//!
//! ```text
//! store (alerts committed) ──▶ alert (JSON-lines log, journal)
//!                          └─▶ sink  (webhook, exec), each at its own pace
//! ```
//!
//! Every alert is already a row committed with its article. A sink is a `[[sinks]]` table
//! ([`SinkSpec`]); delivery is durable through an outbox in the same database
//! (`migrations/0005_sink_outbox.sql`, SQL in `store/outbox.rs`): each sink queues the alerts
//! its rule/severity filter accepts, claims the oldest due one, delivers it and records the
//! outcome. Nothing is marked delivered before the receiver said so, so a crash or restart
//! at any instant loses nothing; an alert whose delivery was cut off is sent again, which
//! is why every payload carries the alert's stable `id` (also in the `X-Feedwatch-Alert-Id`
//! header): receivers drop repeats by id. A graceful stop lets the delivery in flight finish
//! and records it, so a restart alone sends nothing twice.
//!
//! On PostgreSQL, where several instances share the database, the outbox is its tables
//! (`store::pg::outbox`, through [`SinkSet::start_postgres`]): a poll's commit queues the
//! alerts it created for the committing instance's sinks in the same transaction
//! ([`Routes`]), every instance runs every configured sink, and a claim skips deliveries
//! another instance is claiming (`FOR UPDATE SKIP LOCKED`) and leases the one it takes, so
//! each payload goes out once per sink, and at least once across crashes. Digest sinks run
//! there too: every instance may render a due period, one queues it (`store::pg::digest_outbox`).
//!
//! - `webhook`: POST of the alert JSON (the object the alert log writes, see
//!   [`crate::alert::AlertLine`]); with a secret, `X-Feedwatch-Signature: sha256=<hex
//!   HMAC-SHA256 of the body>`. 2xx delivers; 408, 429, 5xx and network errors retry; other
//!   4xx reject for good (see [`classify`]).
//! - `exec`: runs `command` (argv, no shell) with the alert JSON on stdin; exit 0 delivers,
//!   anything else (or the timeout, which kills it) retries.
//!
//! Retries back off exponentially with jitter per sink (`retry_initial`, doubling, capped by
//! `retry_max`). Each sink runs in its own task with its own database connection: a sink
//! that is down holds up neither polling nor the other sinks, and `feedwatch status` shows
//! its backlog and last error ([`format_status`]).
//!
//! Receivers: drop repeats by `id`; with a secret, compute HMAC-SHA256 over the raw body
//! bytes as received (not re-serialised JSON) and compare with the hex after `sha256=` in
//! constant time. A 4xx other than 408/429 marks the alert failed for this sink for good
//! (`Store::retry_failed_sink` queues such alerts again once the receiver is fixed).
//!
//! A sink with a `digest` schedule sends digests instead of alerts (`digest`): once per
//! period, the report `feedwatch digest` prints for the period's window, rendered when the
//! period is due and queued in the same database (`migrations/0012_digest_schedule.sql`),
//! then delivered like an alert, with the id `digest-<sink>-<period start>`
//! ([`HEADER_DIGEST_ID`], `FEEDWATCH_DIGEST_ID`) to drop repeats by.
//!
//! Start with [`SinkSet::start`]; poke [`SinkWaker::wake`] after each commit so new alerts
//! go out at once (a tick catches anything missed); stop with [`SinkSet::shutdown`].

mod build;
mod deliver;
mod digest;
mod fault;
mod outbox;
mod status;
mod worker;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::store::pg::{PgError, PgStore};
use crate::store::{Store, StoreError};

pub use build::Sink;
pub use deliver::{
    classify, signature, Outcome, HEADER_ALERT_ID, HEADER_ATTEMPT, HEADER_DIGEST_ID,
    HEADER_SIGNATURE,
};
// The specs are plain config data; re-exported so a sink's whole surface is in one place.
pub use crate::config::sink::{
    check_specs, SinkKind, SinkSpec, SpecProblem, DEFAULT_EXEC_TIMEOUT, DEFAULT_RETRY_INITIAL,
    DEFAULT_RETRY_MAX, DEFAULT_WEBHOOK_TIMEOUT,
};
pub use status::{format_status, status_json, SinkStatusLine};

/// Default interval at which idle sinks look for work they were not woken for (retries
/// coming due, alerts committed by another process).
pub const DEFAULT_TICK: Duration = Duration::from_secs(5);

/// Errors from building or running sinks. Delivery failures are not errors: they are
/// [`Outcome`]s, recorded in the outbox and retried.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// A sink's spec is incomplete or inconsistent.
    #[error("sink `{sink}`: {message}")]
    Config {
        /// The sink's name.
        sink: String,
        /// What is wrong with its spec.
        message: String,
    },
    /// A sink's `secret_file` could not be read.
    #[error("sink `{sink}`: cannot read secret file {path}: {source}")]
    ReadSecret {
        /// The sink's name.
        sink: String,
        /// The secret file's path.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP client of a webhook sink could not be built.
    #[error("sink `{sink}`: cannot build the HTTP client: {source}")]
    BuildClient {
        /// The sink's name.
        sink: String,
        /// What reqwest said.
        #[source]
        source: reqwest::Error,
    },
    /// The outbox could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The outbox on PostgreSQL could not be read or written.
    #[error(transparent)]
    Postgres(#[from] PgError),
    /// A scheduled digest could not be built (its window is impossible).
    #[error("cannot build the digest: {0}")]
    Digest(#[from] crate::digest::DigestError),
    /// A scheduled digest could not be rendered.
    #[error("cannot render the digest: {0}")]
    Render(#[source] std::io::Error),
}

/// The configured feeds as (name, URL): a scheduled digest reports on their health, as
/// `feedwatch digest` does.
pub type Feeds = Arc<Vec<(String, String)>>;

/// Tuning that is not per sink.
#[derive(Debug, Clone)]
pub struct SinkOptions {
    /// How often an idle sink looks for work without being woken.
    pub tick: Duration,
    /// The configured feeds, for the health section of scheduled digests.
    pub feeds: Feeds,
}

impl Default for SinkOptions {
    fn default() -> Self {
        SinkOptions {
            tick: DEFAULT_TICK,
            feeds: Feeds::default(),
        }
    }
}

/// Wakes every sink to look for new alerts. Cheap and non-blocking, callable from any
/// thread (the poll writer calls it after each commit). Wakes coalesce: a sink busy
/// delivering sees one pending wake when it is done.
#[derive(Debug, Clone)]
pub struct SinkWaker(Arc<watch::Sender<u64>>);

impl SinkWaker {
    /// Wakes the sinks.
    pub fn wake(&self) {
        self.0.send_modify(|v| *v = v.wrapping_add(1));
    }
}

/// The tasks of one configuration's sinks.
#[derive(Default)]
struct Running {
    stop: CancellationToken,
    drain: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

/// The database the sinks' outbox is in.
#[derive(Clone)]
enum Backend {
    /// A SQLite file: each sink opens its own connection.
    Sqlite(PathBuf),
    /// A PostgreSQL database shared with other instances, through this instance's pool.
    Postgres(PgStore),
}

/// The running sinks: one task each. Replaced as a whole on reload.
pub struct SinkSet {
    backend: Backend,
    opts: Mutex<SinkOptions>,
    waker: SinkWaker,
    shutdown: CancellationToken,
    running: Mutex<Running>,
}

impl std::fmt::Debug for SinkSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("SinkSet");
        if let Backend::Sqlite(path) = &self.backend {
            d.field("database", path);
        }
        d.finish_non_exhaustive()
    }
}

/// Built sinks and an outbox for each, ready to run.
struct Prepared(Vec<(Arc<Sink>, outbox::Outbox)>);

impl SinkSet {
    /// Builds every sink (reading secrets now), registers them in the outbox (a new sink
    /// starts with alerts created from now on) and starts one task per sink. Cancelling
    /// `shutdown` stops them as [`SinkSet::shutdown`] does, without waiting.
    ///
    /// # Errors
    /// When a sink cannot be built (its secret is missing, …) or the database cannot be
    /// opened; nothing is started then.
    pub async fn start(
        database: &Path,
        specs: &[SinkSpec],
        opts: SinkOptions,
        shutdown: CancellationToken,
    ) -> Result<SinkSet, SinkError> {
        Self::start_on(
            Backend::Sqlite(database.to_path_buf()),
            specs,
            opts,
            shutdown,
        )
        .await
    }

    /// [`SinkSet::start`] on a PostgreSQL database shared with other instances: each of them
    /// runs every configured sink, and a delivery is claimed by one at a time (see
    /// `store::pg::outbox`). The commits queue the alerts: give them [`SinkSet::routes`].
    ///
    /// # Errors
    /// As [`SinkSet::start`].
    pub async fn start_postgres(
        store: PgStore,
        specs: &[SinkSpec],
        opts: SinkOptions,
        shutdown: CancellationToken,
    ) -> Result<SinkSet, SinkError> {
        Self::start_on(Backend::Postgres(store), specs, opts, shutdown).await
    }

    async fn start_on(
        backend: Backend,
        specs: &[SinkSpec],
        opts: SinkOptions,
        shutdown: CancellationToken,
    ) -> Result<SinkSet, SinkError> {
        let (tx, _) = watch::channel(0u64);
        let set = SinkSet {
            backend,
            opts: Mutex::new(opts),
            waker: SinkWaker(Arc::new(tx)),
            shutdown,
            running: Mutex::new(Running::default()),
        };
        let prepared = set.prepare(specs).await?;
        set.launch(prepared);
        Ok(set)
    }

    /// A handle that wakes the sinks; it stays valid across reloads.
    pub fn waker(&self) -> SinkWaker {
        self.waker.clone()
    }

    /// What a PostgreSQL poll's commit needs to queue its alerts for `specs` (the sinks
    /// this set was started or reloaded with) and wake them.
    pub fn routes(&self, specs: &[SinkSpec]) -> Routes {
        Routes {
            specs: Arc::new(specs.to_vec()),
            waker: Some(self.waker()),
        }
    }

    /// Replaces the running sinks with `specs`. The new sinks are built first: if one
    /// fails, the old ones keep running and the error is returned. Old sinks finish the
    /// delivery in flight (within `grace`) before the new ones start. `feeds` are the new
    /// configuration's, for scheduled digests.
    ///
    /// # Errors
    /// As [`SinkSet::start`].
    pub async fn reload(
        &self,
        specs: &[SinkSpec],
        feeds: Feeds,
        grace: Duration,
    ) -> Result<(), SinkError> {
        let prepared = self.prepare(specs).await?;
        self.stop(grace, false).await;
        self.lock_opts().feeds = feeds;
        self.launch(prepared);
        Ok(())
    }

    /// Stops every sink after the delivery in flight, whose outcome is recorded; waits up
    /// to `grace`, then cuts the rest off (those alerts are sent again after restart).
    pub async fn shutdown(&self, grace: Duration) {
        self.stop(grace, false).await;
    }

    /// Delivers what is due now (sinks in backoff are skipped), then stops: for
    /// `poll --once`, which should not exit with alerts it could have sent. Bounded by
    /// `grace` like [`SinkSet::shutdown`].
    pub async fn drain(&self, grace: Duration) {
        self.waker.wake();
        self.stop(grace, true).await;
    }

    async fn prepare(&self, specs: &[SinkSpec]) -> Result<Prepared, SinkError> {
        // Exec children must not inherit another sink's secret from the environment.
        let hide_env: Vec<String> = specs.iter().filter_map(|s| s.secret_env.clone()).collect();
        let sinks = specs
            .iter()
            .map(|s| Sink::build(s, &hide_env).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        let names: Vec<String> = sinks.iter().map(|s| s.name().to_string()).collect();
        let db = match &self.backend {
            Backend::Sqlite(db) => db.clone(),
            Backend::Postgres(pg) => return prepare_postgres(pg, sinks, &names).await,
        };
        let schedules: Vec<_> = sinks
            .iter()
            .filter_map(|s| Some((s.name().to_string(), s.spec.digest_schedule()?)))
            .collect();
        let stores = tokio::task::spawn_blocking(move || -> Result<Vec<Store>, StoreError> {
            let mut reg = Store::open(&db)?;
            let now = worker::unix_now();
            reg.register_sinks(names.iter().map(String::as_str), now)?;
            // A new digest sink's first period is the first one due after now.
            for (name, schedule) in &schedules {
                reg.digest_through(name, schedule.last_due(now))?;
            }
            names.iter().map(|_| Store::open(&db)).collect()
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))??;
        let outboxes = stores.into_iter().map(outbox::Outbox::from);
        Ok(Prepared(sinks.into_iter().zip(outboxes).collect()))
    }

    fn lock_opts(&self) -> std::sync::MutexGuard<'_, SinkOptions> {
        self.opts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn launch(&self, prepared: Prepared) {
        let opts = self.lock_opts().clone();
        let stop = worker::Stop {
            stop: self.shutdown.child_token(),
            drain: CancellationToken::new(),
        };
        let tasks = prepared
            .0
            .into_iter()
            .map(|(sink, outbox)| {
                tokio::spawn(worker::run(
                    sink,
                    outbox,
                    self.waker.0.subscribe(),
                    stop.clone(),
                    opts.clone(),
                ))
            })
            .collect();
        let mut r = self.running.lock().unwrap_or_else(|e| e.into_inner());
        *r = Running {
            stop: stop.stop,
            drain: stop.drain,
            tasks,
        };
    }

    async fn stop(&self, grace: Duration, drain: bool) {
        let Running {
            stop,
            drain: drain_token,
            tasks,
        } = std::mem::take(&mut *self.running.lock().unwrap_or_else(|e| e.into_inner()));
        if drain {
            drain_token.cancel();
        } else {
            stop.cancel();
        }
        let aborts: Vec<_> = tasks.iter().map(JoinHandle::abort_handle).collect();
        let all = futures_util::future::join_all(tasks);
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!("sinks still delivering after the grace period were cut off; those alerts are sent again after restart");
            for a in aborts {
                a.abort();
            }
        }
        stop.cancel();
    }
}

/// Registers the sinks on PostgreSQL: every instance's workers share the pool.
async fn prepare_postgres(
    pg: &PgStore,
    sinks: Vec<Arc<Sink>>,
    names: &[String],
) -> Result<Prepared, SinkError> {
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    pg.register_sinks(&names, worker::unix_now()).await?;
    Ok(Prepared(
        sinks
            .into_iter()
            .map(|s| (s, outbox::Outbox::Postgres(pg.clone())))
            .collect(),
    ))
}

/// What a PostgreSQL poll's commit needs of the running sinks: the alert sinks to queue its
/// alerts for (in the commit's transaction, see `store::pg::outbox`) and the waker to send
/// them at once. Empty on SQLite, where each sink queues for itself from its cursor.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    /// The configured sinks; digest sinks among them get no alert.
    pub specs: Arc<Vec<SinkSpec>>,
    waker: Option<SinkWaker>,
}

impl Routes {
    /// Wakes the sinks (after a commit that created alerts).
    pub fn wake(&self) {
        if let Some(w) = &self.waker {
            w.wake();
        }
    }
}
