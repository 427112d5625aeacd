//! A sink that keeps failing, as a service fault (`sink_delivery`).
//!
//! A webhook that answers 503 for an hour leaves the daemon polling, storing and logging
//! alerts as if all were well, while the people who read that webhook hear nothing: silence
//! of the worst kind. `status` and the journal already show each failure; this raises the
//! one fault that `/healthz`, metrics, `status` and the exit code of `poll --once` carry,
//! after [`FAULT_AFTER`] failures in a row (one failure is routine: a receiver restarting),
//! and clears it with the sink's next delivery. Several sinks may fail at once, so the
//! fault's reason names each failing sink, and goes only when the last one recovers.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, OnceLock};

use crate::ops::health::{self, Fault};

/// Failed deliveries in a row (retryable or refused) before a sink counts as failing.
pub const FAULT_AFTER: u32 = 3;

fn failing() -> MutexGuard<'static, BTreeMap<String, String>> {
    static F: OnceLock<Mutex<BTreeMap<String, String>>> = OnceLock::new();
    F.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Records `sink`'s failure streak after a pass: `streak` deliveries in a row failed, the
/// last with `last_error`. Raises, updates or clears the fault when the set of failing
/// sinks or a reason changes.
pub(super) fn report(sink: &str, streak: u32, last_error: Option<&str>) {
    let mut map = failing();
    let changed = if streak >= FAULT_AFTER {
        let reason = format!(
            "sink {sink}: {streak} deliveries in a row failed (last: {})",
            last_error.unwrap_or("unknown error")
        );
        map.insert(sink.to_string(), reason.clone()) != Some(reason)
    } else {
        map.remove(sink).is_some()
    };
    if changed {
        publish(&map);
    }
}

/// Forgets `sink` (its worker stopped: shutdown, or the sink left the config).
pub(super) fn forget(sink: &str) {
    let mut map = failing();
    if map.remove(sink).is_some() {
        publish(&map);
    }
}

fn publish(map: &BTreeMap<String, String>) {
    if map.is_empty() {
        health::clear(Fault::SinkDelivery);
    } else {
        let reasons: Vec<&str> = map.values().map(String::as_str).collect();
        health::set(Fault::SinkDelivery, reasons.join("; "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fault follows the set of failing sinks: raised at the third failure in a row,
    /// naming each failing sink, and cleared only when the last one delivers again.
    #[test]
    fn the_fault_names_every_failing_sink_and_clears_with_the_last() {
        let (a, b) = ("fault-test-a", "fault-test-b");
        report(a, FAULT_AFTER - 1, Some("HTTP 503"));
        assert!(
            !health::is_active(Fault::SinkDelivery),
            "one or two failures are routine"
        );
        report(a, FAULT_AFTER, Some("HTTP 503"));
        report(b, FAULT_AFTER + 2, Some("connection refused"));
        let reason = health::active()
            .into_iter()
            .find(|f| f.fault == "sink_delivery")
            .map(|f| f.reason)
            .expect("raised");
        assert!(
            reason.contains("sink fault-test-a: 3 deliveries in a row failed (last: HTTP 503)"),
            "{reason}"
        );
        assert!(
            reason.contains("fault-test-b") && reason.contains("connection refused"),
            "{reason}"
        );
        report(a, 0, None);
        assert!(health::is_active(Fault::SinkDelivery), "b still fails");
        forget(b);
        assert!(!health::is_active(Fault::SinkDelivery));
    }
}
