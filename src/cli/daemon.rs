//! `run` and `poll --once` on the command line: the config loaded, the service assembled by
//! [`feedwatch::app`], and the process's signals turned into its shutdown token and reloads.

use super::*;
use feedwatch::app::{App, Control, Mode, Start};

/// `run` (grace = Some) and `poll --once` (grace = None).
pub(super) async fn daemon(cli: &Cli, grace: Option<Duration>) -> Result<u8> {
    let path = config::locate(cli.config.as_deref())?;
    let loaded =
        feedwatch::app::load_config_with(&path, &Env::from_process(), config::Backends::Both)?;
    let mut app = match App::build(loaded).await? {
        Start::Ready(app) => app,
        Start::Exit(code) => return Ok(code),
    };
    // `poll --once` over many feeds takes minutes: show how far it has got on a terminal.
    let bar = grace.is_none().then(|| {
        let bar = progress::Bar::counted("polling", 0, "feeds", Format::Text);
        let handle = bar.handle();
        app.report_progress(std::sync::Arc::new(move |done, total| {
            handle.set_length(total as u64);
            handle.set_position(done as u64);
        }));
        bar
    });
    let shutdown = CancellationToken::new();
    let (mode, signals) = match grace {
        None => (Mode::Once, tokio::spawn(watch_signals(shutdown.clone()))),
        Some(grace) => (
            Mode::Run { grace },
            tokio::spawn(daemon_signals(app.control(), shutdown.clone())),
        ),
    };
    let code = app.run(mode, shutdown).await;
    drop(bar);
    signals.abort();
    Ok(code?)
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

/// The daemon's signals: SIGTERM/SIGINT stop it; SIGHUP asks it to reload config and rules
/// and reopen the alert log (see [`Control::reload`]).
async fn daemon_signals(control: Control, shutdown: CancellationToken) {
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
                tracing::info!("SIGHUP received: reloading config and rules, reopening the alert log");
                control.reload();
            }
        }
    }
    shutdown.cancel();
}
