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
use crate::store::{AlertRecord, ClaimedAlert, ClaimedDigest, DigestRow, FeedRow, Store};

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

    /// Moves a digest sink's alert cursor past every alert committed so far without
    /// queueing any (SQLite), so that turning it back into an alert sink does not replay
    /// its digest years; nothing on PostgreSQL, where commits queue no alert for a digest
    /// sink and there is no cursor.
    pub(super) async fn skip_alerts(&self, sink: &str, now: i64) -> Result<(), SinkError> {
        match self {
            Outbox::Sqlite(store) => {
                let n = sink.to_string();
                blocking(store, move |s| s.enqueue_sink_alerts(&n, now, |_, _| false))
                    .await
                    .map(drop)
            }
            Outbox::Postgres(_) => Ok(()),
        }
    }

    /// What a digest of `[from, until)` reports: its alerts, in id order, and the feeds' rows.
    pub(super) async fn digest_data(
        &self,
        from: i64,
        until: i64,
    ) -> Result<(Vec<AlertRecord>, Vec<FeedRow>), SinkError> {
        match self {
            Outbox::Sqlite(store) => {
                blocking(store, move |s| {
                    Ok((s.alerts_between(from, until)?, s.feeds()?))
                })
                .await
            }
            Outbox::Postgres(pg) => Ok((pg.alerts_between(from, until).await?, pg.feeds().await?)),
        }
    }

    /// The due time of the latest period queued for a digest sink (see
    /// `Store::digest_through`).
    pub(super) async fn digest_through(
        &self,
        sink: &str,
        registered_due: i64,
    ) -> Result<Option<i64>, SinkError> {
        match self {
            Outbox::Sqlite(store) => {
                let n = sink.to_string();
                blocking(store, move |s| s.digest_through(&n, registered_due)).await
            }
            Outbox::Postgres(pg) => Ok(pg.digest_through(sink, registered_due).await?),
        }
    }

    /// Queues the digest of `[from, until)` rendered in `format`; false when that period
    /// (or a later one) was queued already.
    pub(super) async fn enqueue_digest(
        &self,
        sink: &str,
        (from, until): (i64, i64),
        format: &'static str,
        body: Vec<u8>,
        now: i64,
    ) -> Result<bool, SinkError> {
        match self {
            Outbox::Sqlite(store) => {
                let n = sink.to_string();
                blocking(store, move |s| {
                    s.enqueue_digest(&n, &digest_row((from, until), format, &body), now)
                })
                .await
            }
            Outbox::Postgres(pg) => Ok(pg
                .enqueue_digest(sink, &digest_row((from, until), format, &body), now)
                .await?),
        }
    }

    /// Takes the oldest due digest of `sink` for delivery, leased until `lease_until`.
    pub(super) async fn claim_digest(
        &self,
        sink: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<ClaimedDigest>, SinkError> {
        match self {
            Outbox::Sqlite(store) => {
                let n = sink.to_string();
                blocking(store, move |s| s.claim_digest(&n, now, lease_until)).await
            }
            Outbox::Postgres(pg) => Ok(pg.claim_digest(sink, now, lease_until).await?),
        }
    }

    /// Records that `sink` accepted the digest `id`.
    pub(super) async fn digest_delivered(
        &self,
        sink: &str,
        id: i64,
        now: i64,
    ) -> Result<(), SinkError> {
        match self {
            Outbox::Sqlite(store) => {
                let n = sink.to_string();
                blocking(store, move |s| s.record_digest_delivered(&n, id, now)).await
            }
            Outbox::Postgres(pg) => Ok(pg.record_digest_delivered(sink, id, now).await?),
        }
    }

    /// Records a failed attempt at the digest `id`: retried at `retry_at`, or rejected for
    /// good when `None`.
    pub(super) async fn digest_failed(
        &self,
        sink: &str,
        id: i64,
        now: i64,
        error: String,
        retry_at: Option<i64>,
    ) -> Result<(), SinkError> {
        match self {
            Outbox::Sqlite(store) => {
                let n = sink.to_string();
                blocking(store, move |s| {
                    s.record_digest_failure(&n, id, now, &error, retry_at)
                })
                .await
            }
            Outbox::Postgres(pg) => Ok(pg
                .record_digest_failure(sink, id, now, &error, retry_at)
                .await?),
        }
    }

    /// When the sink's next pending digest is due, if one is pending.
    pub(super) async fn digest_next_due(&self, sink: &str) -> Result<Option<i64>, SinkError> {
        match self {
            Outbox::Sqlite(store) => {
                let n = sink.to_string();
                blocking(store, move |s| s.digest_next_due(&n)).await
            }
            Outbox::Postgres(pg) => Ok(pg.digest_next_due(sink).await?),
        }
    }
}

fn digest_row<'a>((from, until): (i64, i64), format: &'a str, body: &'a [u8]) -> DigestRow<'a> {
    DigestRow {
        period_start: from,
        period_end: until,
        format,
        body,
    }
}
