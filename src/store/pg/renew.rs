//! Keeping feed leases while their polls run: [`PgStore::while_holding`].
//!
//! A poll can take longer than expected (a slow publisher, a big document, a busy blocking
//! pool). Rather than a lease long enough for the worst case, which would leave a dead
//! instance's feeds unpolled for that long, leases are short and renewed every third of their
//! length while the work runs; a holder that dies stops renewing, and its feeds are free one
//! lease later.

use std::future::Future;
use std::time::Duration;

use super::PgStore;

/// How [`PgStore::while_holding`] ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Held<T> {
    /// The work finished; the leases still held when it did (renewed once more at the end,
    /// so the caller has a whole lease to commit in). A renewal that failed for a database
    /// error leaves the list as it was last known.
    Done(T, Vec<i64>),
    /// A renewal found a lease taken over: the work was dropped (cancelled), since another
    /// instance now polls the feed. The ids lost.
    Lost(Vec<i64>),
}

impl PgStore {
    /// Runs `work` while renewing the caller's leases on `feed_ids` every third of
    /// `lease_secs` (at least every second), reading "now" from `now`. A renewal that fails
    /// for a database error is logged and retried at the next tick: the lease may still be
    /// valid, and the commit after the work checks it anyway.
    pub async fn while_holding<F: Future>(
        &self,
        instance: &str,
        feed_ids: &[i64],
        lease_secs: i64,
        now: impl Fn() -> i64,
        work: F,
    ) -> Held<F::Output> {
        let every = Duration::from_secs(u64::try_from(lease_secs / 3).unwrap_or(0).max(1));
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut held: Vec<i64> = feed_ids.to_vec();
        held.sort_unstable();
        tokio::pin!(work);
        let output = loop {
            tokio::select! {
                out = &mut work => break out,
                _ = tick.tick() => {
                    if let Some(lost) = self.renew_or_log(instance, &mut held, now(), lease_secs).await {
                        return Held::Lost(lost);
                    }
                }
            }
        };
        // One more renewal: the caller commits next and should not race its own expiry.
        let _lost = self
            .renew_or_log(instance, &mut held, now(), lease_secs)
            .await;
        Held::Done(output, held)
    }

    /// Renews `held`; on success it becomes what is still held, and the ids lost (if any)
    /// are returned. A database error is logged and changes nothing.
    async fn renew_or_log(
        &self,
        instance: &str,
        held: &mut Vec<i64>,
        now: i64,
        lease_secs: i64,
    ) -> Option<Vec<i64>> {
        match self.renew_leases(instance, held, now, lease_secs).await {
            Ok(still) => {
                let lost: Vec<i64> = held
                    .iter()
                    .filter(|id| !still.contains(id))
                    .copied()
                    .collect();
                *held = still;
                (!lost.is_empty()).then_some(lost)
            }
            Err(e) => {
                tracing::warn!(error = %e, instance, "feed lease renewal failed; retrying");
                None
            }
        }
    }
}
