//! Service health: the named faults that stop feedwatch doing its job, as opposed to one
//! feed failing (which `status` shows on the feed's line).
//!
//! An alerting service that stops storing or delivering while it looks healthy is worse than
//! one that crashes. So each fault is set where the failure happens, with its reason and
//! since-time, and cleared by the next success; every change goes out at once to:
//! - the journal (error level when raised, info when cleared);
//! - metrics (`feedwatch_fault{fault="..."}` 1 or 0) and `/healthz` (503 with the reasons);
//! - the lock file beside the database, which `feedwatch status` reads (the database itself
//!   may be the thing that cannot be written);
//! - the exit code of `poll --once` (see [`raised`]).
//!
//! The state is process-wide, like the metrics registry: the writer thread, the HTTP handler
//! and the command line share it without a handle threaded through them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, OnceLock};

use tokio_util::sync::CancellationToken;

/// A way the service as a whole can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// Poll results could not be committed (disk full, I/O error, corruption found late).
    StoreCommit,
    /// Alerts could not be written to the alert log.
    AlertLog,
    /// The database file was deleted or replaced under the running daemon.
    DatabaseGone,
    /// The database failed its integrity check.
    Integrity,
    /// Periodic maintenance (giving free pages back, resetting the WAL) failed.
    Maintenance,
    /// Forgetting seen-item keys past `[storage] seen_retention` failed.
    SeenRetention,
    /// Removing other rows past their retention (articles, alerts, deliveries, ...) failed.
    Retention,
    /// A sink (webhook, exec, digest) failed several deliveries in a row: its readers hear
    /// nothing (see `sink::fault`).
    SinkDelivery,
}

impl Fault {
    /// Every fault, in a fixed order (metrics show all of them, 0 or 1).
    pub const ALL: [Fault; 8] = [
        Fault::StoreCommit,
        Fault::AlertLog,
        Fault::DatabaseGone,
        Fault::Integrity,
        Fault::Maintenance,
        Fault::SeenRetention,
        Fault::Retention,
        Fault::SinkDelivery,
    ];

    /// The stable name used in metrics labels, `/healthz`, `status` and the journal.
    pub fn name(self) -> &'static str {
        match self {
            Fault::StoreCommit => "store_commit",
            Fault::AlertLog => "alert_log",
            Fault::DatabaseGone => "database_gone",
            Fault::Integrity => "integrity",
            Fault::Maintenance => "store_maintenance",
            Fault::SeenRetention => "seen_retention",
            Fault::Retention => "retention",
            Fault::SinkDelivery => "sink_delivery",
        }
    }

    /// What the service does about it, for the journal line.
    fn next_step(self) -> &'static str {
        match self {
            Fault::StoreCommit => {
                "poll results are not stored; their feeds are polled again and every commit retries"
            }
            Fault::AlertLog => {
                "alerts stay undelivered in the database and are written as soon as the log accepts them"
            }
            Fault::DatabaseGone => {
                "stopping with a non-zero exit so the service manager restarts on the restored or a new database"
            }
            Fault::Integrity => "refusing to poll on a damaged database",
            Fault::Maintenance => {
                "polls go on; the database keeps its free pages and its WAL until a later pass succeeds (retried within a minute)"
            }
            Fault::SeenRetention => {
                "polls go on; old seen-item keys stay on disk until a later pass succeeds (retried within ten minutes)"
            }
            Fault::Retention => {
                "polls go on; rows past their retention stay until a later pass succeeds (retried within ten minutes)"
            }
            Fault::SinkDelivery => {
                "alerts and digests wait in the sink's outbox and are delivered when the receiver accepts them (see `feedwatch status`)"
            }
        }
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One active fault, as shown to people and written for `status`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ActiveFault {
    /// The fault's name (`store_commit`, `alert_log`, `database_gone`, `integrity`,
    /// `store_maintenance`, `seen_retention`, `retention`, `sink_delivery`).
    pub fault: &'static str,
    /// What went wrong, and what happens next.
    pub reason: String,
    /// Unix seconds when it was raised.
    pub since: i64,
}

/// Receives the active faults after every change (the lock file writer).
type Publisher = Box<dyn FnMut(&[ActiveFault]) + Send>;

#[derive(Default)]
struct State {
    active: BTreeMap<Fault, (String, i64)>,
    raised: BTreeSet<Fault>,
    publisher: Option<Publisher>,
}

fn state() -> std::sync::MutexGuard<'static, State> {
    static S: OnceLock<Mutex<State>> = OnceLock::new();
    S.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

fn snapshot(s: &State) -> Vec<ActiveFault> {
    s.active
        .iter()
        .map(|(f, (reason, since))| ActiveFault {
            fault: f.name(),
            reason: reason.clone(),
            since: *since,
        })
        .collect()
}

fn publish(s: &mut State) {
    let faults = snapshot(s);
    if let Some(p) = s.publisher.as_mut() {
        p(&faults);
    }
}

/// Raises `fault` (or updates its reason). Logged at error level when it is new or its
/// reason changed, so a fault that persists does not flood the journal.
pub fn set(fault: Fault, reason: impl Into<String>) {
    let reason = reason.into();
    let mut s = state();
    s.raised.insert(fault);
    let now = chrono::Utc::now().timestamp();
    let changed = match s.active.get_mut(&fault) {
        Some((r, _)) if *r == reason => false,
        Some((r, _)) => {
            *r = reason.clone();
            true
        }
        None => {
            s.active.insert(fault, (reason.clone(), now));
            true
        }
    };
    if changed {
        tracing::error!(fault = fault.name(), reason = %reason, "service fault {fault}: {reason}; {}", fault.next_step());
        crate::ops::metrics::fault(fault.name(), true);
        publish(&mut s);
    }
}

/// Clears `fault` after a success; logs the recovery if it was active.
pub fn clear(fault: Fault) {
    let mut s = state();
    if let Some((_, since)) = s.active.remove(&fault) {
        let secs = chrono::Utc::now().timestamp() - since;
        tracing::info!(
            fault = fault.name(),
            "service fault {fault} cleared after {secs}s: working again"
        );
        crate::ops::metrics::fault(fault.name(), false);
        publish(&mut s);
    }
}

/// The faults active now, in a fixed order.
pub fn active() -> Vec<ActiveFault> {
    snapshot(&state())
}

/// Whether `fault` is active now.
pub fn is_active(fault: Fault) -> bool {
    state().active.contains_key(&fault)
}

/// Every fault raised since the process started, even if cleared since: a `poll --once` run
/// in which a commit failed did not do its job, whatever happened after.
pub fn raised() -> Vec<Fault> {
    state().raised.iter().copied().collect()
}

/// Sends the active faults to `p` now and after every change.
pub fn set_publisher(p: impl FnMut(&[ActiveFault]) + Send + 'static) {
    let mut s = state();
    s.publisher = Some(Box::new(p));
    publish(&mut s);
}

/// Cancelled when a fault cannot be recovered in place (the database is gone): the daemon
/// stops and exits non-zero.
pub fn fatal() -> &'static CancellationToken {
    static T: OnceLock<CancellationToken> = OnceLock::new();
    T.get_or_init(CancellationToken::new)
}

/// The active faults as one line each, for `/healthz` and error messages.
pub fn describe(faults: &[ActiveFault]) -> String {
    faults
        .iter()
        .map(|f| {
            format!(
                "fault {} since {}: {}\n",
                f.fault,
                crate::text::time::rfc3339(f.since),
                f.reason
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_is_raised_updated_and_cleared_once() {
        // Integrity is only raised at start-up by the command line, so no other unit test
        // touches it.
        let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        set_publisher(move |f: &[ActiveFault]| {
            s2.lock()
                .expect("lock")
                .push(f.iter().any(|a| a.fault == "integrity"))
        });
        set(Fault::Integrity, "page 3 is garbage");
        set(Fault::Integrity, "page 3 is garbage");
        assert!(is_active(Fault::Integrity));
        assert!(describe(&active()).contains("fault integrity since "));
        clear(Fault::Integrity);
        clear(Fault::Integrity);
        assert!(!is_active(Fault::Integrity));
        assert!(raised().contains(&Fault::Integrity), "raised stays");
        // Initial publish, one raise, one clear: repeats publish nothing.
        assert_eq!(*seen.lock().expect("lock"), vec![false, true, false]);
        state().publisher = None;
    }
}
