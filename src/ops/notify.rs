//! Talking to the service manager (systemd `Type=notify`): READY, STATUS, WATCHDOG,
//! RELOADING and STOPPING. Every function is a no-op when not started by systemd
//! (`$NOTIFY_SOCKET` unset), and a failure to notify is logged, never fatal: the daemon's
//! work matters more than its reports about it.
//!
//! Sending on the notify socket blocks when the receiver's queue is full (a stalled
//! manager, or `net.unix.max_dgram_qlen` messages unread), so messages go through a bounded
//! queue to one sender thread: the daemon never waits on its manager, and when the queue is
//! full a message is dropped (the next STATUS or WATCHDOG supersedes it).

use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::OnceLock;
use std::time::Duration;

use sd_notify::NotifyState;

/// Messages waiting for the sender thread, at most.
const QUEUE: usize = 64;

fn sender() -> Option<&'static SyncSender<String>> {
    static TX: OnceLock<Option<SyncSender<String>>> = OnceLock::new();
    TX.get_or_init(|| {
        std::env::var_os("NOTIFY_SOCKET")?;
        let (tx, rx) = sync_channel::<String>(QUEUE);
        std::thread::Builder::new()
            .name("feedwatch-notify".into())
            .spawn(move || {
                for msg in rx {
                    if let Err(e) = sd_notify::notify(&[NotifyState::Custom(msg.trim_end())]) {
                        tracing::debug!(error = %e, "cannot notify the service manager");
                    }
                }
            })
            .ok()?;
        Some(tx)
    })
    .as_ref()
}

fn send(states: &[NotifyState<'_>]) {
    let Some(tx) = sender() else {
        return;
    };
    let msg: String = states.iter().map(|s| format!("{s}\n")).collect();
    if tx.try_send(msg).is_err() {
        tracing::debug!("service manager notification dropped: queue full");
    }
}

/// Start-up is complete: database open, config valid.
pub fn ready() {
    send(&[NotifyState::Ready]);
}

/// A line a person reads in `systemctl status`.
pub fn status(line: &str) {
    send(&[NotifyState::Status(line)]);
}

/// The active faults as the `STATUS=` line (`FAULT name: reason; …`), if there are any:
/// then that is what `systemctl status` must show, before any summary. True when sent.
pub fn status_faults() -> bool {
    let faults = crate::ops::health::active();
    if faults.is_empty() {
        return false;
    }
    let list: Vec<String> = faults
        .iter()
        .map(|f| format!("{}: {}", f.fault, f.reason))
        .collect();
    status(&format!("FAULT {}", list.join("; ")));
    true
}

/// The poll loop is alive.
pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

/// A reload starts. Newer systemd wants the monotonic time with it.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// Shutdown starts.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// How often to ping the watchdog: half of `WatchdogSec=`, or `None` when it is off.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|d| d / 2)
}
