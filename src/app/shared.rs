//! The service on PostgreSQL (`[storage] database = "postgres://…"`): one of any number of
//! instances sharing the database. What differs from SQLite's assembly in `app`:
//! - no lock file and no single writer: the instance registers (`instances`), heartbeats,
//!   and each poll commits its own record under its feed's lease (`schedule::shared`);
//! - the alert log is this instance's: it gets the alerts this instance's commits created
//!   (`feedwatch alerts` reads everyone's from the database);
//! - sinks run in every instance, their deliveries queued by the commits and claimed one at
//!   a time across instances (`sink`, `store::pg::outbox`, `store::pg::digest_outbox`);
//! - retention passes run in every instance, one batch at a time across them
//!   (`store::pg::retention`).
//!
//! The pipeline ([`Pipeline`]) is the SQLite daemon's, built by the same function, reading
//! through [`Reader::Postgres`].

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::{build_pipeline, fault_exit, load_config_with, AppError, Loaded, Mode};
use crate::alert::AlertLog;
use crate::config::{self, Backends, Config, Env, PgSettings};
use crate::pipeline::Pipeline;
use crate::schedule::retention::Pruning;
use crate::schedule::shared::{self, Shared, Until};
use crate::schedule::{PollProgress, Runtime};
use crate::sink::{SinkOptions, SinkSet};
use crate::store::pg::{self, Instance, PgStore};
use crate::store::reader::Reader;
use crate::store::retention::Retention;
use crate::store::SeenKeys;

/// The assembled instance, ready to run.
pub(super) struct SharedApp {
    cfg: Config,
    shared: Arc<Shared>,
    pipeline: Pipeline,
    me: Instance,
    /// Sinks (#15): this instance's workers for the configured sinks.
    sinks: Arc<SinkSet>,
}

/// The configured feeds, for `sync_feeds`.
fn feed_list(cfg: &Config) -> Vec<(&str, Option<&str>)> {
    cfg.feeds
        .iter()
        .map(|f| (f.url.as_str(), f.name.as_deref()))
        .collect()
}

/// Connects, brings the schema up to date, registers this instance, syncs the configured
/// feeds and opens the alert log. Nothing polls until [`run`].
///
/// # Errors
/// The database cannot be reached or migrated, the alert log cannot be opened, the pipeline
/// cannot be built.
pub(super) async fn build(
    cfg: Config,
    rules: crate::rules::RuleSet,
    settings: &PgSettings,
) -> Result<SharedApp, AppError> {
    let store = pg::connect(settings)?;
    pg::migrate(&store).await?;
    let now = chrono::Utc::now().timestamp();
    let me = Instance::named(settings.instance_id.as_deref(), now);
    if !crate::ops::metrics::set_instance(&me.id) {
        tracing::debug!("metrics were recorded before the instance id was known: not labelled");
    }
    store
        .register_instance(&me, now - settings.lease_secs())
        .await?;
    let removed = store.sync_feeds(&feed_list(&cfg), now).await?;
    warn_removed(&removed);
    let log = AlertLog::open(&cfg.alert_log)?;
    reconcile(&store, &cfg.alert_log, now).await?;
    let seen = Arc::new(SeenKeys::default());
    seen.set_retention(cfg.seen_retention);
    let pipeline = build_pipeline(&cfg, rules, Reader::Postgres(store.clone()), seen)?;
    // Sinks (#15): registered before anything polls, so every commit can queue for them.
    let sinks = SinkSet::start_postgres(
        store.clone(),
        &cfg.sinks,
        SinkOptions {
            feeds: super::digest_feeds(&cfg),
            ..SinkOptions::default()
        },
        CancellationToken::new(),
    )
    .await?;
    tracing::info!(
        config = %cfg.path.display(), database = %settings.redacted(), instance = %me.id,
        alert_log = %cfg.alert_log.display(), feeds = cfg.feeds.len(), rules = cfg.rules.len(),
        "feedwatch started on PostgreSQL"
    );
    let shared = Arc::new(Shared::new(
        store,
        me.id.clone(),
        log,
        settings.lease_secs(),
    ));
    Ok(SharedApp {
        cfg,
        shared,
        pipeline,
        me,
        sinks: Arc::new(sinks),
    })
}

/// Says which feeds this instance's config dropped: on a shared database they are removed
/// for every instance, so a config left behind on one machine would otherwise stop the whole
/// fleet polling them without a word. At most [`REMOVED_NAMED`] are named.
fn warn_removed(removed: &[String]) {
    if removed.is_empty() {
        return;
    }
    let named = removed[..removed.len().min(REMOVED_NAMED)].join(", ");
    tracing::warn!(feeds = removed.len(), urls = %named,
        "this instance's config does not list feeds the database had: marked removed, so no instance polls them until a config lists them again (instances should share one config)");
}

/// Most removed feeds one warning names.
const REMOVED_NAMED: usize = 10;

/// Marks delivered the alerts this machine's log already holds (an instance that died
/// between writing its log and marking them, restarted here), before any instance could
/// adopt and log them again (see `store::pg::orphans`).
async fn reconcile(store: &PgStore, log: &std::path::Path, now: i64) -> Result<(), AppError> {
    let logged = crate::alert::recently_logged(log)?;
    let marked = store.reconcile_log(&logged, now).await?;
    if marked > 0 {
        tracing::info!(alerts = marked, log = %log.display(),
            "marked delivered the alerts found in the alert log but not marked in the database (the last run stopped between the two)");
    }
    Ok(())
}

/// Runs the instance until `shutdown` (or, in [`Mode::Once`], until no due feed is left to
/// claim), then releases its leases. Returns the exit code as the SQLite service does.
///
/// # Errors
/// `[http] listen` cannot be bound.
pub(super) async fn run(
    app: SharedApp,
    mode: Mode,
    shutdown: CancellationToken,
    reloads: mpsc::Receiver<()>,
    progress: Option<PollProgress>,
) -> Result<u8, AppError> {
    let SharedApp {
        cfg,
        shared,
        pipeline,
        me,
        sinks,
    } = app;
    let beats_stop = CancellationToken::new();
    let beats = tokio::spawn(shared::heartbeats(shared.clone(), me, beats_stop.clone()));
    let retention = Arc::new(Retention::new(super::retention_policy(&cfg)));
    let pruner = tokio::spawn(prune_loop(
        shared.clone(),
        retention.clone(),
        beats_stop.clone(),
    ));
    let runtime = Arc::new(Runtime {
        pipeline,
        feeds: cfg.feeds.clone(),
        sinks: sinks.routes(&cfg.sinks),
    });
    let (rt_tx, rt_rx) = watch::channel(runtime);
    let until = match mode {
        Mode::Once => Until::Once {
            started: shared.store.server_clock_micros().await?,
        },
        Mode::Run { grace } => Until::Shutdown(grace),
    };
    let http_stop = CancellationToken::new();
    let _http_guard = http_stop.clone().drop_guard();
    let mut reloader = None;
    if let Mode::Run { .. } = mode {
        super::listen(&cfg, http_stop).await?;
        crate::ops::notify::ready();
        crate::ops::notify::status(&format!(
            "{} feeds; first claim starting (instance {})",
            cfg.feeds.len(),
            shared.instance
        ));
        let s = shared.clone();
        let reloading = (rt_tx, s, sinks.clone(), retention);
        reloader = Some(tokio::spawn(reload_loop(cfg.clone(), reloads, reloading)));
    }
    shared::run(shared, rt_rx, &shutdown, until, progress.as_ref()).await;
    crate::ops::notify::stopping();
    if let Some(r) = reloader {
        r.abort();
    }
    beats_stop.cancel();
    let _ = beats.await;
    let _ = pruner.await;
    // Sinks (#15): after the polls, so `poll --once` sends what its commits queued.
    match mode {
        Mode::Run { grace } => sinks.shutdown(grace).await,
        Mode::Once => sinks.drain(std::time::Duration::from_secs(30)).await,
    }
    tracing::info!("feedwatch stopped");
    Ok(fault_exit(mode == Mode::Once))
}

/// Serves reload requests on PostgreSQL: the config and rules read again (refused, keeping
/// the running ones, when invalid), the feeds synced, the sinks replaced, the alert log
/// reopened. Other instances are not touched: they keep their own config until they are
/// reloaded.
async fn reload_loop(
    mut cfg: Config,
    mut requests: mpsc::Receiver<()>,
    (runtime, shared, sinks, retention): (
        watch::Sender<Arc<Runtime>>,
        Arc<Shared>,
        Arc<SinkSet>,
        Arc<Retention>,
    ),
) {
    while requests.recv().await.is_some() {
        crate::ops::notify::reloading();
        reopen_log(&shared).await;
        let (reader, seen) = {
            let rt = runtime.borrow();
            (rt.pipeline.reader.clone(), rt.pipeline.seen.clone())
        };
        match reload(&cfg, &shared.store, reader, seen).await {
            // Sinks (#15): the new sinks registered (and started) before a commit queues
            // for them; a sink that cannot be built refuses the reload.
            Ok((new_cfg, mut rt)) => {
                let grace = std::time::Duration::from_secs(10);
                let feeds = super::digest_feeds(&new_cfg);
                if let Err(e) = sinks.reload(&new_cfg.sinks, feeds, grace).await {
                    tracing::error!(error = %e, "reload refused: the previous configuration keeps running");
                    crate::ops::notify::ready();
                    continue;
                }
                rt.sinks = sinks.routes(&new_cfg.sinks);
                tracing::info!(
                    feeds = new_cfg.feeds.len(),
                    rules = new_cfg.rules.len(),
                    "reload applied"
                );
                retention.set(super::retention_policy(&new_cfg));
                cfg = new_cfg;
                let _ = runtime.send(Arc::new(rt));
            }
            Err(e) => {
                tracing::error!(error = %e, "reload refused: the previous configuration keeps running")
            }
        }
        crate::ops::notify::ready();
    }
}

/// Runs retention passes when due (`schedule::retention`), until `stop`: every ten
/// minutes, every second while a kind has a backlog.
async fn prune_loop(shared: Arc<Shared>, retention: Arc<Retention>, stop: CancellationToken) {
    let mut pruning = Pruning::new(retention);
    loop {
        pruning.pass_pg_if_due(&shared.store).await;
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
    }
}

/// Reopens the alert log by name (after logrotate), on the blocking pool.
async fn reopen_log(shared: &Arc<Shared>) {
    let log = shared.log.clone();
    let reopened = tokio::task::spawn_blocking(move || {
        let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
        log.reopen()
    })
    .await;
    match reopened {
        Ok(Ok(())) => tracing::info!("alert log reopened"),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot reopen the alert log; still writing to the old file")
        }
        Err(e) => tracing::error!(error = %e, "cannot reopen the alert log"),
    }
}

/// Loads and builds a new runtime for a reload; the database and the alert log stay those
/// in use (a change to either takes effect on restart).
async fn reload(
    old: &Config,
    store: &PgStore,
    reader: Reader,
    seen: Arc<SeenKeys>,
) -> Result<(Config, Runtime), AppError> {
    let Loaded {
        config: mut cfg,
        rules,
    } = load_config_with(&old.path, &Env::from_process(), Backends::Both)?;
    config::require_work(&cfg)?;
    if cfg.alert_log != old.alert_log {
        tracing::warn!(configured = %cfg.alert_log.display(), in_use = %old.alert_log.display(),
            "[alerts] log changed: takes effect on restart; the daemon keeps writing the current log");
    }
    let url = |c: &Config| c.postgres.as_ref().map(PgSettings::redacted);
    if url(&cfg) != url(old) {
        tracing::warn!(configured = %url(&cfg).unwrap_or_else(|| cfg.database.display().to_string()),
            "[storage] database changed: takes effect on restart; the instance keeps using the current database");
    }
    cfg.alert_log.clone_from(&old.alert_log);
    cfg.postgres.clone_from(&old.postgres);
    seen.set_retention(cfg.seen_retention);
    let pipeline = build_pipeline(&cfg, rules, reader, seen)?;
    let removed = store
        .sync_feeds(&feed_list(&cfg), chrono::Utc::now().timestamp())
        .await?;
    warn_removed(&removed);
    let feeds = cfg.feeds.clone();
    let sinks = Default::default(); // Sinks (#15): set by `reload_loop` once started.
    Ok((
        cfg,
        Runtime {
            pipeline,
            feeds,
            sinks,
        },
    ))
}
