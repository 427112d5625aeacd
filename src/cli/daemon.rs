//! `run` and `poll --once`: the daemon's assembly (config, lock, store, pipeline, writer,
//! sinks, metrics listener), its signals and reloads.

use super::*;

/// Compiles the rules, with every error in one message.
pub(super) fn compile_rules(cfg: &Config) -> Result<RuleSet> {
    RuleSet::compile_with(&cfg.rules, &cfg.concepts).map_err(|errs| {
        anyhow::anyhow!(errs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"))
    })
}

/// Builds the running components from config: HTTP clients, compiled rules, extractor.
pub(super) fn build_pipeline(
    cfg: &Config,
    reader: Arc<Mutex<Store>>,
    seen: Arc<crate::store::SeenKeys>,
) -> Result<Pipeline> {
    Ok(Pipeline {
        fetcher: Fetcher::new(&cfg.fetch)
            .context("cannot build the HTTP client")?
            .with_max_pause(cfg.poll.max_interval),
        rules: Arc::new(compile_rules(cfg)?),
        extractor: Arc::new(Extractor::new(&cfg.sites).context("bad [[sites]] rule")?),
        reader,
        seen,
        poll: cfg.poll.clone(),
        pages: Default::default(),
        recent_retention: cfg.recent_text_retention,
    })
}

/// Registers the configured feeds in the database (new ones are due at once).
pub(super) fn sync_feeds(store: &mut Store, cfg: &Config) -> Result<()> {
    store.sync_feeds(
        cfg.feeds
            .iter()
            .map(|f| (f.url.as_str(), f.name.as_deref())),
        chrono::Utc::now().timestamp(),
    )?;
    Ok(())
}

/// Takes the database's lock and publishes this process's faults into it; `Err(code)` when
/// another process holds it.
pub(super) fn take_lock(cfg: &Config) -> Result<std::result::Result<Arc<DbLock>, u8>> {
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
pub(super) fn integrity_gate(store: &Store) -> Option<u8> {
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
/// a `poll --once` (no grace) met a failed commit or alert log write.
pub(super) fn fault_exit(once: bool) -> u8 {
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

/// `run` (grace = Some) and `poll --once` (grace = None).
pub(super) async fn daemon(cli: &Cli, grace: Option<Duration>) -> Result<u8> {
    let cfg = load_config(cli)?;
    // A config with no feeds or no rules would run healthy and silent: refuse it.
    config::require_work(&cfg)?;
    let _lock = match take_lock(&cfg)? {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let mut store = Store::open(&cfg.database)?;
    if let Some(code) = integrity_gate(&store) {
        return Ok(code);
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
    let reader = Arc::new(Mutex::new(Store::open(&cfg.database)?));
    // The writer's view of seen items, shared with the pipeline: what the writer commits
    // is immediately known as seen.
    let seen = store.seen_keys()?;
    let pipeline = build_pipeline(&cfg, reader, seen)?;
    tracing::info!(
        config = %cfg.path.display(), database = %cfg.database.display(),
        alert_log = %cfg.alert_log.display(), feeds = cfg.feeds.len(), rules = cfg.rules.len(),
        "feedwatch started"
    );
    // Sinks get their own stop: they keep delivering while the writer finishes, then stop.
    let sinks = Arc::new(
        SinkSet::start(
            &cfg.database,
            &cfg.sinks,
            SinkOptions::default(),
            CancellationToken::new(),
        )
        .await
        .context("cannot start the alert sinks")?,
    );
    let waker = sinks.waker();
    let writer =
        Writer::start(store, log, move || waker.wake()).context("cannot start the writer")?;
    let tx = writer.sender();
    let shutdown = CancellationToken::new();
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
    let res = match grace {
        None => {
            let signals = tokio::spawn(watch_signals(shutdown.clone()));
            let r = schedule::poll_once(&pipeline, &cfg.feeds, &tx, &shutdown).await;
            signals.abort();
            r
        }
        Some(grace) => {
            let runtime = Arc::new(Runtime {
                pipeline,
                feeds: cfg.feeds.clone(),
            });
            let (rt_tx, rt_rx) = tokio::sync::watch::channel(runtime);
            let http_stop = CancellationToken::new();
            if let Some(addr) = cfg.http.listen {
                let listener = crate::ops::metrics::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} ([http] listen)"))?;
                let stop = http_stop.clone();
                tokio::spawn(async move {
                    if let Err(e) = crate::ops::metrics::serve(listener, stop).await {
                        tracing::error!(error = %e, "metrics listener failed");
                    }
                });
            }
            let _http_guard = http_stop.drop_guard();
            crate::ops::notify::ready();
            crate::ops::notify::status(&format!("{} feeds; first poll starting", cfg.feeds.len()));
            let signals = tokio::spawn(daemon_signals(
                cfg,
                rt_tx,
                tx.clone(),
                sinks.clone(),
                shutdown.clone(),
            ));
            let r = schedule::run(rt_rx, &tx, &shutdown, grace).await;
            signals.abort();
            r
        }
    };
    ticks_stop.cancel();
    let _ = ticks.await;
    fatal.abort();
    drop(tx);
    tokio::task::spawn_blocking(move || writer.finish())
        .await
        .context("writer did not finish")?;
    match grace {
        Some(grace) => sinks.shutdown(grace).await,
        // `poll --once`: send what is due now (a sink that is down is retried next time).
        None => sinks.drain(Duration::from_secs(30)).await,
    }
    res?;
    tracing::info!("feedwatch stopped");
    Ok(fault_exit(grace.is_none()))
}

/// Cancels `shutdown` on SIGTERM or SIGINT.
pub(super) async fn watch_signals(shutdown: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::error!("cannot install signal handlers");
            return;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received: stopping"),
            _ = int.recv() => tracing::info!("SIGINT received: stopping"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    shutdown.cancel();
}

/// The daemon's signals: SIGTERM/SIGINT stop it; SIGHUP reloads config and rules (an
/// invalid new config is refused and the old one keeps running) and reopens the alert log.
pub(super) async fn daemon_signals(
    mut cfg: Config,
    runtime: tokio::sync::watch::Sender<Arc<Runtime>>,
    writer: tokio::sync::mpsc::Sender<schedule::WriterMsg>,
    sinks: Arc<SinkSet>,
    shutdown: CancellationToken,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM received: stopping"); break; }
            _ = int.recv() => { tracing::info!("SIGINT received: stopping"); break; }
            _ = hup.recv() => {
                tracing::info!(config = %cfg.path.display(), "SIGHUP received: reloading config and rules, reopening the alert log");
                crate::ops::notify::reloading();
                let _ = writer.send(schedule::WriterMsg::ReopenLog).await;
                let (reader, seen) = {
                    let rt = runtime.borrow();
                    (rt.pipeline.reader.clone(), rt.pipeline.seen.clone())
                };
                match reload(&cfg, reader, seen) {
                    Ok((new_cfg, rt)) => match sinks.reload(&new_cfg.sinks, Duration::from_secs(10)).await {
                        Ok(()) => {
                            tracing::info!(feeds = new_cfg.feeds.len(), rules = new_cfg.rules.len(), sinks = new_cfg.sinks.len(), "reload applied");
                            cfg = new_cfg;
                            let _ = runtime.send(Arc::new(rt));
                        }
                        Err(e) => tracing::error!(error = %e, "reload refused: the previous configuration keeps running"),
                    },
                    Err(e) => tracing::error!(error = %format!("{e:#}"), "reload refused: the previous configuration keeps running"),
                }
                crate::ops::notify::ready();
            }
        }
    }
    shutdown.cancel();
}

/// Loads and builds a new runtime for a reload.
pub(super) fn reload(
    old: &Config,
    reader: Arc<Mutex<Store>>,
    seen: Arc<crate::store::SeenKeys>,
) -> Result<(Config, Runtime)> {
    let mut cfg = config::load(&old.path, &Env::from_process())?;
    // An emptied or half-written config would mute the daemon while it looks healthy.
    config::require_work(&cfg)?;
    // The writer, the sinks and the alert log stay on the files they opened; the running
    // config keeps naming those, so later reloads sync feeds into the database in use.
    if cfg.database != old.database {
        tracing::warn!(configured = %cfg.database.display(), in_use = %old.database.display(),
            "[storage] database changed: takes effect on restart; the daemon keeps using the current database");
    }
    if cfg.alert_log != old.alert_log {
        tracing::warn!(configured = %cfg.alert_log.display(), in_use = %old.alert_log.display(),
            "[alerts] log changed: takes effect on restart; the daemon keeps writing the current log");
    }
    cfg.database.clone_from(&old.database);
    cfg.alert_log.clone_from(&old.alert_log);
    let pipeline = build_pipeline(&cfg, reader, seen)?;
    let mut store = Store::open(&old.database)?;
    sync_feeds(&mut store, &cfg)?;
    let feeds = cfg.feeds.clone();
    Ok((cfg, Runtime { pipeline, feeds }))
}
