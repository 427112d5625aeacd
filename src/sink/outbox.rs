//! The outbox a sink's loop (`worker`) reads and writes, on either backend: one enum, so
//! the loop (its retry, backoff, lease and fault logic) is written once.
//!
//! - SQLite ([`Outbox::Sqlite`]): the sink's own connection, its calls on the blocking pool
//!   (`store::outbox`). Alerts are queued by the loop itself, from the sink's cursor.
//! - PostgreSQL ([`Outbox::Postgres`]): the shared pool (`store::pg::outbox`). Alerts are
//!   queued by the commit that created them, so the loop's queuing step has nothing to do;
//!   claims skip rows another instance is claiming.

use std::sync::{Arc, Mutex};

use super::worker::blocking;
use super::SinkError;
use crate::config::sink::SinkSpec;
use crate::store::pg::PgStore;
use crate::store::{ClaimedAlert, Store};

/// Where one sink's deliveries are queued and recorded.
#[derive(Clone)]
pub(crate) enum Outbox {
    /// A connection of its own to the SQLite database.
    Sqlite(Arc<Mutex<Store>>),
    /// The instance's PostgreSQL pool.
    Postgres(PgStore),
}

impl From<Store> for Outbox {
    fn from(store: Store) -> Self {
        Outbox::Sqlite(Arc::new(Mutex::new(store)))
    }
}

impl Outbox {
    /// Queues what the sink's filter accepts among alerts committed since the last call
    /// (SQLite); nothing on PostgreSQL, where the commit queued them. Returns how many.
    pub(super) async fn enqueue(&self, spec: &SinkSpec, now: i64) -> Result<usize, SinkError> {
        match self {
            Outbox::Sqlite(store) => {
                let (n, spec) = (spec.name.clone(), spec.clone());
                blocking(store, move |s| {
                    s.enqueue_sink_alerts(&n, now, |rule, sev| spec.accepts(rule, sev))
                })
                .await
            }
            Outbox::Postgres(_) => Ok(0),
        }
    }

    /// Takes the oldest due alert of `sink` for delivery, leased until `lease_until`.
    pub(super) async fn claim(
        &self,
        sink: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<ClaimedAlert>, SinkError> {
        match self {
            Outbox::Sqlite(store) => {
                let n = sink.to_string();
                blocking(store, move |s| s.claim_sink_alert(&n, now, lease_until)).await
            }
            Outbox::Postgres(pg) => Ok(pg.claim_sink_alert(sink, now, lease_until).await?),
        }
    }

    /// Records that `sink` accepted the alert.
    pub(super) async fn delivered(
        &self,
        sink: &str,
        alert_id: i64,
        now: i64,
    ) -> Result<(), SinkError> {
        match self {
            Outbox::Sqlite(store) => {
                let n = sink.to_string();
                blocking(store, move |s| s.record_sink_delivered(&n, alert_id, now)).await
            }
            Outbox::Postgres(pg) => Ok(pg.record_sink_delivered(sink, alert_id, now).await?),
        }
    }

    /// Records a failed attempt: retried at `retry_at`, or rejected for good when `None`.
    pub(super) async fn failed(
        &self,
        sink: &str,
        alert_id: i64,
        now: i64,
        error: String,
        retry_at: Option<i64>,
    ) -> Result<(), SinkError> {
        match self {
            Outbox::Sqlite(store) => {
                let n = sink.to_string();
                blocking(store, move |s| {
                    s.record_sink_failure(&n, alert_id, now, &error, retry_at)
                })
                .await
            }
            Outbox::Postgres(pg) => Ok(pg
                .record_sink_failure(sink, alert_id, now, &error, retry_at)
                .await?),
        }
    }

    /// The sink's failed deliveries in a row and the last one's error.
    pub(super) async fn failure_streak(
        &self,
        sink: &str,
    ) -> Result<(u32, Option<String>), SinkError> {
        match self {
            Outbox::Sqlite(store) => {
                let n = sink.to_string();
                blocking(store, move |s| s.sink_failure_streak(&n)).await
            }
            Outbox::Postgres(pg) => Ok(pg.sink_failure_streak(sink).await?),
        }
    }

    /// When the sink's next pending alert is due, if any is pending.
    pub(super) async fn next_due(&self, sink: &str) -> Result<Option<i64>, SinkError> {
        match self {
            Outbox::Sqlite(store) => {
                let n = sink.to_string();
                blocking(store, move |s| s.sink_next_due(&n)).await
            }
            Outbox::Postgres(pg) => Ok(pg.sink_next_due(sink).await?),
        }
    }

    /// Forgets finished deliveries older than `before`.
    pub(super) async fn prune(&self, before: i64) -> Result<(), SinkError> {
        match self {
            Outbox::Sqlite(store) => blocking(store, move |s| s.prune_sink_deliveries(before))
                .await
                .map(drop),
            Outbox::Postgres(pg) => Ok(pg.prune_sink_deliveries(before).await.map(drop)?),
        }
    }
}
