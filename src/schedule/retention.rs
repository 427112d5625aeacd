//! When the single writer applies retention (the rules are in `store::retention`): one
//! bounded pass every [`EVERY`], between two commits and after their acks, so a poll never
//! waits behind more than one batch per kind (`Kind::batch`: about 0.1 s each at most); sooner while a backlog remains; and a short
//! catch-up before the writer exits, so a service run only as `poll --once` (from a timer)
//! is bounded too.
//!
//! Time between passes is the writer's own monotonic clock; horizons are wall-clock time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::ops::health::{self, Fault};
use crate::store::pg::PgStore;
use crate::store::retention::{Kind, Retention};
use crate::store::{Store, StoreError};

/// Time between passes while there is little to remove.
const EVERY: Duration = Duration::from_secs(600);
/// ... and after a pass that removed a full batch of some kind, or left the seen-key sweep
/// short of its end: more is waiting.
const AGAIN: Duration = Duration::from_secs(1);
/// Time the writer spends on retention before it exits.
const CATCH_UP: Duration = Duration::from_secs(2);
/// Windows of the seen-key sweep (`store::seen`) in one timed pass, about 262,000 keys: a
/// sweep to the end at every pass would rewrite every page of the key table every ten
/// minutes. So the daemon sweeps some 38 M keys a day.
const SEEN_WINDOWS: usize = 8;
/// ... and in the catch-up before exit, about 524,000 keys more: a `poll --once` run sweeps
/// at most some 786,000 keys (its first pass and the catch-up), whatever the number kept, so
/// its cost does not grow with them. With more keys kept than that, the sweep takes several
/// runs to go round, and a key is forgotten up to that many runs after it could be (with
/// 1.75 M keys and a run a day, up to 2-3 days late; never early).
const CATCH_UP_WINDOWS: usize = 16;
/// Removed feeds are looked at once a day: telling whether anything still references one
/// reads whole tables, and a feed row is tiny.
const FEEDS_EVERY: Duration = Duration::from_secs(86_400);

/// The writer's retention timer and the policy in force (a reload replaces it).
#[derive(Debug)]
pub struct Pruning {
    retention: Arc<Retention>,
    next: Instant,
    feeds_next: Instant,
}

impl Pruning {
    /// The first pass comes at once: what an earlier run or a lowered retention left goes
    /// soon after start.
    pub fn new(retention: Arc<Retention>) -> Pruning {
        let now = Instant::now();
        Pruning {
            retention,
            next: now,
            feeds_next: now,
        }
    }

    /// Runs one pass when one is due.
    pub fn pass_if_due(&mut self, store: &mut Store) {
        if Instant::now() >= self.next {
            self.pass(store, None);
        }
    }

    /// Passes until nothing is left or [`CATCH_UP`] is spent (before exit), with a bigger
    /// share of the seen-key sweep ([`CATCH_UP_WINDOWS`]).
    pub fn catch_up(&mut self, store: &mut Store) {
        let end = Instant::now() + CATCH_UP;
        while self.pass(store, Some(end)) && Instant::now() < end {}
    }

    /// One pass: a batch of each kind (a window of the seen-key sweep); whether more may be
    /// waiting. Seen keys raise and clear the `seen_retention` fault, the other kinds the
    /// `retention` fault (status, `/healthz`, metrics, journal); the next success clears it.
    fn pass(&mut self, store: &mut Store, catch_up: Option<Instant>) -> bool {
        let now = chrono::Utc::now().timestamp();
        let policy = self.retention.get();
        let mut outcome = Outcome::new(self.feeds_due());
        for kind in outcome.kinds() {
            let pruned = if kind == Kind::SeenKeys {
                sweep(store, &policy, now, catch_up)
            } else {
                store.prune(kind, &policy, now, kind.batch())
            };
            outcome.record(kind, pruned.map_err(|e| e.to_string()));
        }
        self.finish(outcome)
    }

    /// As [`Pruning::pass_if_due`] on PostgreSQL, where every instance runs passes and one
    /// batch at a time removes rows (`store::pg::retention`).
    pub async fn pass_pg_if_due(&mut self, store: &PgStore) {
        if Instant::now() < self.next {
            return;
        }
        let now = chrono::Utc::now().timestamp();
        let policy = self.retention.get();
        let mut outcome = Outcome::new(self.feeds_due());
        for kind in outcome.kinds() {
            let pruned = store.prune(kind, &policy, now, kind.batch()).await;
            outcome.record(kind, pruned.map_err(|e| e.to_string()));
        }
        self.finish(outcome);
    }

    fn feeds_due(&self) -> bool {
        Instant::now() >= self.feeds_next
    }

    /// Raises or clears the faults a pass's outcome calls for and sets the next pass;
    /// whether more may be waiting.
    fn finish(&mut self, outcome: Outcome) -> bool {
        match outcome.failed {
            Some((kind, e)) => health::set(
                Fault::Retention,
                format!("cannot remove old {} rows: {e}", kind.name()),
            ),
            None => {
                health::clear(Fault::Retention);
                if outcome.feeds {
                    self.feeds_next = Instant::now() + FEEDS_EVERY;
                }
            }
        }
        self.next = Instant::now() + if outcome.full { AGAIN } else { EVERY };
        outcome.full
    }
}

/// What one pass found, kind by kind, on either backend.
struct Outcome {
    /// Removed feeds are looked at in this pass.
    feeds: bool,
    /// Some kind removed a full batch: more is waiting.
    full: bool,
    /// The last kind (not seen keys) that failed, and why.
    failed: Option<(Kind, String)>,
}

impl Outcome {
    fn new(feeds: bool) -> Outcome {
        Outcome {
            feeds,
            full: false,
            failed: None,
        }
    }

    /// The kinds this pass looks at, in order.
    fn kinds(&self) -> impl Iterator<Item = Kind> {
        let feeds = self.feeds;
        Kind::ALL
            .into_iter()
            .filter(move |&k| k != Kind::RemovedFeeds || feeds)
    }

    /// One kind's result; a seen-key failure raises its own fault at once.
    fn record(&mut self, kind: Kind, pruned: Result<(usize, bool), String>) {
        match pruned {
            Ok((n, more)) => {
                self.full |= more;
                if kind == Kind::SeenKeys {
                    health::clear(Fault::SeenRetention);
                }
                if n > 0 {
                    tracing::debug!(rows = n, kind = kind.name(), "retention removed rows");
                }
            }
            Err(e) if kind == Kind::SeenKeys => health::set(
                Fault::SeenRetention,
                format!("cannot forget old seen-item keys: {e}"),
            ),
            Err(e) => self.failed = Some((kind, e)),
        }
    }
}

/// A pass's share of the seen-key sweep: [`SEEN_WINDOWS`] windows, or before exit (`until`)
/// [`CATCH_UP_WINDOWS`] while time is left; both stop at the end of the key space. More is
/// waiting only when a window forgot a full batch.
fn sweep(
    store: &mut Store,
    policy: &crate::store::retention::Policy,
    now: i64,
    until: Option<Instant>,
) -> Result<(usize, bool), StoreError> {
    let batch = Kind::SeenKeys.batch();
    let mut rows = 0;
    let mut windows = 0;
    loop {
        let (n, more) = store.prune(Kind::SeenKeys, policy, now, batch)?;
        rows += n;
        windows += 1;
        if n >= batch {
            return Ok((rows, true));
        }
        let go_on = match until {
            Some(end) => windows < CATCH_UP_WINDOWS && Instant::now() < end,
            None => windows < SEEN_WINDOWS,
        };
        if !more || !go_on {
            return Ok((rows, false));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::retention::Policy;

    fn policy() -> Policy {
        Policy {
            articles: Some(Duration::from_secs(30 * 86_400)),
            alerts: None,
            deliveries: Duration::from_secs(86_400),
            seen: Duration::from_secs(90 * 86_400),
        }
    }

    /// A table renamed away under the store makes its kind fail.
    fn rename(db: &std::path::Path, from: &str, to: &str) {
        rusqlite::Connection::open(db)
            .and_then(|c| c.execute_batch(&format!("ALTER TABLE {from} RENAME TO {to}")))
            .expect("rename");
    }

    #[test]
    fn a_failed_pass_raises_its_fault_and_a_later_success_clears_it() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = dir.path().join("f.db");
        let mut s = Store::open(&db).expect("open");
        s.seen_keys().expect("seen");
        let mut pruning = Pruning::new(Arc::new(Retention::new(policy())));
        rename(&db, "seen_items", "seen_items_away");
        rename(&db, "page_failures", "page_failures_away");
        assert!(!pruning.pass(&mut s, None));
        assert!(health::is_active(Fault::SeenRetention));
        assert!(health::is_active(Fault::Retention));
        rename(&db, "seen_items_away", "seen_items");
        rename(&db, "page_failures_away", "page_failures");
        pruning.pass(&mut s, None);
        assert!(!health::is_active(Fault::SeenRetention));
        assert!(!health::is_active(Fault::Retention));
    }
}
