//! The composition root: assembles the running service from a [`Config`] and runs it until a
//! shutdown token fires.
//!
//! Everything `run` and `poll --once` start lives here, in the order it must start and stop:
//! the database lock and integrity gate, the feeds synced into the database, the alert log
//! repaired against it, the single writer, the sinks, the pipeline, the metrics listener, the
//! schedule, and on the way out the writer drained before the sinks. The command line only
//! turns signals into [`CancellationToken::cancel`] and [`Control::reload`], so tests can drive
//! the same daemon in-process (`tests/app.rs`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::alert::{self, AlertError, AlertLog};
use crate::config::{self, Config, ConfigError, Env};
use crate::extract::{ExtractError, Extractor};
use crate::fetch::Fetcher;
use crate::ops::health::{self, Fault};
use crate::pipeline::Pipeline;
use crate::rules::RuleSet;
use crate::schedule::{self, Runtime, Writer, WriterMsg};
use crate::sink::{SinkError, SinkOptions, SinkSet};
use crate::store::lock::{DbLock, LockError};
use crate::store::reader::Reader;
use crate::store::retention::{Policy, Retention};
use crate::store::{SeenKeys, Store, StoreError};

mod load;
mod shared;
pub use load::{load_config, load_config_with, load_rule_file, Loaded};

/// Exit code of `run` and `poll` when another feedwatch holds the database.
pub const EXIT_IN_USE: u8 = 3;
/// Exit code when the service could not do its job: a commit or the alert log failed during
/// `poll --once`, the database failed its integrity check at start, or it was deleted under
/// `run` (which stops so the service manager restarts it). `status` exits with it too while
/// the daemon reports a fault or the database is damaged.
pub const EXIT_FAULT: u8 = 4;

/// What stops the service from starting or finishing cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// The config could not be read, or holds nothing to do.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// A `[[sites]]` rule is invalid.
    #[error("bad [[sites]] rule: {0}")]
    Sites(#[from] ExtractError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The database's lock file could not be taken for another reason than another holder.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The alert log could not be opened or repaired.
    #[error(transparent)]
    Alert(#[from] AlertError),
    /// A sink could not be built.
    #[error("cannot start the alert sinks: {0}")]
    Sinks(#[from] SinkError),
    /// `[http] listen` could not be bound.
    #[error("cannot listen on {addr} ([http] listen): {source}")]
    Listen {
        /// The configured address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The writer thread could not be started.
    #[error("cannot start the writer: {0}")]
    Writer(std::io::Error),
    /// The writer thread could not be joined.
    #[error("the writer did not finish: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// The PostgreSQL database could not be reached, migrated or written at start.
    #[error(transparent)]
    Postgres(#[from] crate::store::pg::PgError),
}

/// How long the service runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Until shut down (`run`); polls in flight get `grace` to finish.
    Run {
        /// Time given to polls in flight at shutdown, and to sinks.
        grace: Duration,
    },
    /// One poll of every feed (`poll --once`), then stop.
    Once,
}

/// What [`App::build`] gives: a service ready to run, or the exit code that ends it at once
/// (the database is held by another process, or failed its integrity check).
pub enum Start {
    /// Ready to [`App::run`].
    Ready(Box<App>),
    /// Not started; exit with this code (the reason is already on stderr and in the log).
    Exit(u8),
}

/// A handle to a running [`App`]: asks it to reload its config.
#[derive(Debug, Clone)]
pub struct Control {
    reload: mpsc::Sender<()>,
}

impl Control {
    /// Asks the service to reload its config and rules and reopen the alert log (SIGHUP). An
    /// invalid new config is refused and the running one stays. Requests made while one is
    /// in progress are merged.
    pub fn reload(&self) {
        let _ = self.reload.try_send(());
    }
}

/// The assembled service.
pub struct App {
    backend: Service,
    reloads: mpsc::Receiver<()>,
    control: Control,
    /// Told how far a `poll --once` has got (the command line's progress bar).
    progress: Option<schedule::PollProgress>,
}

/// The service as assembled for its backend: what runs differs (a lock and one writer on
/// SQLite, a registered instance claiming feeds on PostgreSQL); the pipeline is the same.
enum Service {
    /// The SQLite daemon.
    Sqlite(Box<Local>),
    /// One instance sharing a PostgreSQL database.
    Postgres(Box<shared::SharedApp>),
}

/// The SQLite service's parts.
struct Local {
    cfg: Config,
    _lock: Arc<DbLock>,
    pipeline: Pipeline,
    sinks: Arc<SinkSet>,
    writer: Writer,
    /// The retention policy the writer applies; a reload replaces it.
    retention: Arc<Retention>,
}

/// Builds the running components from config: HTTP client, extractor, and the rules
/// compiled when the config was loaded.
fn build_pipeline(
    cfg: &Config,
    rules: RuleSet,
    reader: Reader,
    seen: Arc<SeenKeys>,
) -> Result<Pipeline, AppError> {
    Ok(Pipeline {
        fetcher: Fetcher::new(&cfg.fetch)?.with_max_pause(cfg.poll.max_interval),
        rules: Arc::new(rules),
        extractor: Arc::new(Extractor::new(&cfg.sites)?),
        reader,
        seen,
        poll: cfg.poll.clone(),
        pages: Default::default(),
        recent_retention: cfg.recent_text_retention,
    })
}

/// The configured feeds as (name, URL), for the health section of scheduled digests (the
/// same list `feedwatch digest` reports on).
fn digest_feeds(cfg: &Config) -> crate::sink::Feeds {
    Arc::new(
        cfg.feeds
            .iter()
            .map(|f| (f.display_name().to_string(), f.url.as_str().to_string()))
            .collect(),
    )
}

/// The retention settings of `cfg`, for the writer and `db prune`.
pub fn retention_policy(cfg: &Config) -> Policy {
    Policy {
        articles: cfg.article_retention,
        alerts: cfg.alert_retention,
        deliveries: cfg.delivery_retention,
        seen: cfg.seen_retention,
    }
}

/// Registers the configured feeds in the database (new ones are due at once).
fn sync_feeds(store: &mut Store, cfg: &Config) -> Result<(), StoreError> {
    store.sync_feeds(
        cfg.feeds
            .iter()
            .map(|f| (f.url.as_str(), f.name.as_deref())),
        chrono::Utc::now().timestamp(),
    )
}

/// Takes the database's lock and publishes this process's faults into it; `Err(code)` when
/// another process holds it.
fn take_lock(cfg: &Config) -> Result<Result<Arc<DbLock>, u8>, AppError> {
    let held = match DbLock::acquire(&cfg.database) {
        Ok(l) => Arc::new(l),
        Err(e @ LockError::Held { .. }) => {
            tracing::error!(error = %e, "not starting");
            eprintln!("feedwatch: {e}");
            return Ok(Err(EXIT_IN_USE));
        }
        Err(e) => return Err(e.into()),
    };
    let publisher = held.clone();
    health::set_publisher(move |faults| {
        if let Err(e) = publisher.write_health(faults) {
            tracing::warn!(error = %e, "cannot write the service health into the lock file");
        }
    });
    Ok(Ok(held))
}

/// `PRAGMA quick_check` at start: polling on a damaged database fails every commit while it
/// looks as if it runs. `Some(code)` when it failed.
fn integrity_gate(store: &Store) -> Option<u8> {
    let problems = match store.quick_check() {
        Ok(p) if p.is_empty() => return None,
        Ok(p) => p.join("; "),
        Err(e) => e.to_string(),
    };
    let why = format!(
        "database {} failed its integrity check (PRAGMA quick_check: {problems})",
        store.path().display()
    );
    health::set(Fault::Integrity, why.clone());
    eprintln!(
        "feedwatch: {why}; not polling. Restore it from a backup, or move it away to start a new one"
    );
    Some(EXIT_FAULT)
}

/// The exit code once the work is done: [`EXIT_FAULT`] when the database went away, or when
/// a `poll --once` met a failed commit or alert log write.
fn fault_exit(once: bool) -> u8 {
    let raised = health::raised();
    let fatal = raised.contains(&Fault::DatabaseGone);
    let failed_once = once && !raised.is_empty();
    if !fatal && !failed_once {
        return 0;
    }
    let names: Vec<&str> = raised.iter().map(|f| f.name()).collect();
    let still = health::describe(&health::active());
    eprintln!(
        "feedwatch: stopped with service faults ({}){}{}",
        names.join(", "),
        if still.is_empty() { "" } else { ":\n" },
        still.trim_end()
    );
    EXIT_FAULT
}

impl App {
    /// Assembles the service: lock, integrity gate, feeds, alert log repair, writer, sinks
    /// and pipeline, in that order. Nothing polls until [`App::run`].
    ///
    /// # Errors
    /// A config with nothing to do, a database, lock, alert log or sink that cannot be opened.
    pub async fn build(loaded: Loaded) -> Result<Start, AppError> {
        let Loaded { config: cfg, rules } = loaded;
        // A config with no feeds or no rules would run healthy and silent: refuse it.
        config::require_work(&cfg)?;
        let backend = match cfg.postgres.clone() {
            Some(pg) => Service::Postgres(Box::new(shared::build(cfg, rules, &pg).await?)),
            None => match build_local(cfg, rules).await? {
                Ok(local) => Service::Sqlite(Box::new(local)),
                Err(code) => return Ok(Start::Exit(code)),
            },
        };
        let (tx, reloads) = mpsc::channel(1);
        Ok(Start::Ready(Box::new(App {
            backend,
            reloads,
            control: Control { reload: tx },
            progress: None,
        })))
    }

    /// Reports the progress of a [`Mode::Once`] run to `progress` (ignored by [`Mode::Run`]).
    pub fn report_progress(&mut self, progress: schedule::PollProgress) {
        self.progress = Some(progress);
    }

    /// A handle that asks this service to reload.
    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// Runs until `shutdown` fires (or, in [`Mode::Once`], until every feed was polled once;
    /// on PostgreSQL, until no due feed is left to claim), then drains the writer and the
    /// sinks (SQLite) or releases the instance's leases (PostgreSQL). Returns the exit code:
    /// 0, or [`EXIT_FAULT`] when a service fault stopped the work.
    ///
    /// # Errors
    /// `[http] listen` cannot be bound, or the writer cannot be joined.
    pub async fn run(self, mode: Mode, shutdown: CancellationToken) -> Result<u8, AppError> {
        let App {
            backend,
            reloads,
            control: _,
            progress,
        } = self;
        match backend {
            Service::Sqlite(local) => run_local(*local, mode, shutdown, reloads, progress).await,
            Service::Postgres(app) => shared::run(*app, mode, shutdown, reloads, progress).await,
        }
    }
}

/// Binds `[http] listen`, if set, and serves metrics and health there until `stop`.
async fn listen(cfg: &Config, stop: CancellationToken) -> Result<(), AppError> {
    if let Some(addr) = cfg.http.listen {
        let listener = crate::ops::metrics::bind(addr)
            .await
            .map_err(|source| AppError::Listen { addr, source })?;
        tokio::spawn(async move {
            if let Err(e) = crate::ops::metrics::serve(listener, stop).await {
                tracing::error!(error = %e, "metrics listener failed");
            }
        });
    }
    Ok(())
}

/// Assembles the SQLite service: lock, integrity gate, feeds, alert log repair, writer,
/// sinks and pipeline, in that order; `Err(code)` when it must not start.
async fn build_local(cfg: Config, rules: RuleSet) -> Result<Result<Local, u8>, AppError> {
    let lock = match take_lock(&cfg)? {
        Ok(l) => l,
        Err(code) => return Ok(Err(code)),
    };
    let mut store = Store::open(&cfg.database)?;
    if let Some(code) = integrity_gate(&store) {
        return Ok(Err(code));
    }
    sync_feeds(&mut store, &cfg)?;
    let repaired = alert::reconcile(&mut store, &cfg.alert_log)?;
    if repaired > 0 {
        tracing::info!(
            alerts = repaired,
            "alerts found in the log but not marked delivered: marked now"
        );
    }
    let log = AlertLog::open(&cfg.alert_log)?;
    let reader = Reader::from_store(Store::open(&cfg.database)?);
    // The writer's view of seen items, shared with the pipeline: what the writer commits
    // is immediately known as seen.
    let seen = store.seen_keys()?;
    seen.set_retention(cfg.seen_retention);
    let pipeline = build_pipeline(&cfg, rules, reader, seen)?;
    // Sinks get their own stop: they keep delivering while the writer finishes.
    let sinks = Arc::new(
        SinkSet::start(
            &cfg.database,
            &cfg.sinks,
            SinkOptions {
                feeds: digest_feeds(&cfg),
                ..SinkOptions::default()
            },
            CancellationToken::new(),
        )
        .await?,
    );
    let waker = sinks.waker();
    let retention = Arc::new(Retention::new(retention_policy(&cfg)));
    let writer = Writer::start(
        store,
        log,
        cfg.maintenance_interval,
        retention.clone(),
        move || waker.wake(),
    )
    .map_err(AppError::Writer)?;
    tracing::info!(
        config = %cfg.path.display(), database = %cfg.database.display(),
        alert_log = %cfg.alert_log.display(), feeds = cfg.feeds.len(), rules = cfg.rules.len(),
        "feedwatch started"
    );
    Ok(Ok(Local {
        cfg,
        _lock: lock,
        pipeline,
        sinks,
        writer,
        retention,
    }))
}

/// Runs the SQLite service (see [`App::run`]).
async fn run_local(
    local: Local,
    mode: Mode,
    shutdown: CancellationToken,
    reloads: mpsc::Receiver<()>,
    progress: Option<schedule::PollProgress>,
) -> Result<u8, AppError> {
    let Local {
        cfg,
        _lock,
        pipeline,
        sinks,
        writer,
        retention,
    } = local;
    let tx = writer.sender();
    // A fault that cannot be mended in place (the database deleted) stops the work.
    let fatal = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            health::fatal().cancelled().await;
            tracing::error!("stopping: a fatal service fault (see above)");
            shutdown.cancel();
        })
    };
    let ticks_stop = CancellationToken::new();
    let ticks = tokio::spawn(schedule::health_ticks(tx.clone(), ticks_stop.clone()));
    let res = match mode {
        Mode::Once => {
            schedule::poll_once(&pipeline, &cfg.feeds, &tx, &shutdown, progress.as_ref()).await
        }
        Mode::Run { grace } => {
            let http_stop = CancellationToken::new();
            listen(&cfg, http_stop.clone()).await?;
            let _http_guard = http_stop.drop_guard();
            let runtime = Arc::new(Runtime {
                pipeline,
                feeds: cfg.feeds.clone(),
                sinks: Default::default(),
            });
            let (rt_tx, rt_rx) = watch::channel(runtime);
            crate::ops::notify::ready();
            crate::ops::notify::status(&format!("{} feeds; first poll starting", cfg.feeds.len()));
            let reloader = tokio::spawn(reload_loop(
                cfg.clone(),
                reloads,
                rt_tx,
                tx.clone(),
                sinks.clone(),
                retention,
            ));
            let r = schedule::run(rt_rx, &tx, &shutdown, grace).await;
            reloader.abort();
            r
        }
    };
    ticks_stop.cancel();
    let _ = ticks.await;
    fatal.abort();
    drop(tx);
    tokio::task::spawn_blocking(move || writer.finish()).await?;
    match mode {
        Mode::Run { grace } => sinks.shutdown(grace).await,
        // `poll --once`: send what is due now (a sink that is down is retried next time).
        Mode::Once => sinks.drain(Duration::from_secs(30)).await,
    }
    res?;
    tracing::info!("feedwatch stopped");
    Ok(fault_exit(mode == Mode::Once))
}

/// Serves [`Control::reload`] requests: reloads config and rules (an invalid new config is
/// refused and the old one keeps running), the sinks, and reopens the alert log.
async fn reload_loop(
    mut cfg: Config,
    mut requests: mpsc::Receiver<()>,
    runtime: watch::Sender<Arc<Runtime>>,
    writer: mpsc::Sender<WriterMsg>,
    sinks: Arc<SinkSet>,
    retention: Arc<Retention>,
) {
    while requests.recv().await.is_some() {
        tracing::debug!(config = %cfg.path.display(), "reload requested");
        crate::ops::notify::reloading();
        let _ = writer.send(WriterMsg::ReopenLog).await;
        let (reader, seen) = {
            let rt = runtime.borrow();
            (rt.pipeline.reader.clone(), rt.pipeline.seen.clone())
        };
        match reload(&cfg, reader, seen) {
            Ok((new_cfg, rt)) => {
                let feeds = digest_feeds(&new_cfg);
                match sinks
                    .reload(&new_cfg.sinks, feeds, Duration::from_secs(10))
                    .await
                {
                    Ok(()) => {
                        tracing::info!(
                            feeds = new_cfg.feeds.len(),
                            rules = new_cfg.rules.len(),
                            sinks = new_cfg.sinks.len(),
                            "reload applied"
                        );
                        retention.set(retention_policy(&new_cfg));
                        cfg = new_cfg;
                        let _ = runtime.send(Arc::new(rt));
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "reload refused: the previous configuration keeps running")
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "reload refused: the previous configuration keeps running")
            }
        }
        crate::ops::notify::ready();
    }
}

/// Loads and builds a new runtime for a reload.
fn reload(
    old: &Config,
    reader: Reader,
    seen: Arc<SeenKeys>,
) -> Result<(Config, Runtime), AppError> {
    let Loaded {
        config: mut cfg,
        rules,
    } = load_config(&old.path, &Env::from_process())?;
    // An emptied or half-written config would mute the daemon while it looks healthy.
    config::require_work(&cfg)?;
    // The writer, the sinks and the alert log stay on the files they opened; the running
    // config keeps naming those, so later reloads sync feeds into the database in use.
    if cfg.postgres.take().is_some() {
        tracing::warn!(in_use = %old.database.display(),
            "[storage] database changed to PostgreSQL: takes effect on restart; the daemon keeps using the current database");
    } else if cfg.database != old.database {
        tracing::warn!(configured = %cfg.database.display(), in_use = %old.database.display(),
            "[storage] database changed: takes effect on restart; the daemon keeps using the current database");
    }
    if cfg.alert_log != old.alert_log {
        tracing::warn!(configured = %cfg.alert_log.display(), in_use = %old.alert_log.display(),
            "[alerts] log changed: takes effect on restart; the daemon keeps writing the current log");
    }
    cfg.database.clone_from(&old.database);
    cfg.alert_log.clone_from(&old.alert_log);
    seen.set_retention(cfg.seen_retention);
    let pipeline = build_pipeline(&cfg, rules, reader, seen)?;
    let mut store = Store::open(&old.database)?;
    sync_feeds(&mut store, &cfg)?;
    let feeds = cfg.feeds.clone();
    Ok((
        cfg,
        Runtime {
            pipeline,
            feeds,
            sinks: Default::default(),
        },
    ))
}
