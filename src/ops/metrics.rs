//! Metrics and health: what an operator's Prometheus scrapes, and what a load balancer or
//! a supervisor probes.
//!
//! The metrics are process-wide (one registry, like Prometheus' own clients): stages record
//! with a function call and need no handle threaded through them. The HTTP listener is off
//! unless `[http] listen` is set, and serves `/metrics` (OpenMetrics text) and `/healthz`
//! (200 while the poll loop comes round and no service fault is active; 503 with the reasons
//! when the loop has stalled, which is when the systemd watchdog would fire, or a fault such
//! as a failing commit or alert log is active). The listener bounds what clients can hold: a
//! connection cap and header, idle and lifetime timeouts (see [`serve`]).

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// How long the poll loop may go without coming round before `/healthz` says 503.
pub const STALL_SECS: i64 = 120;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FaultLabel {
    fault: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlertLabels {
    rule: String,
    severity: String,
}

struct Metrics {
    registry: Registry,
    polls: Family<ResultLabel, Counter>,
    fetch_errors: Family<KindLabel, Counter>,
    http_status: Family<StatusLabel, Counter>,
    items_seen: Counter,
    articles_kept: Counter,
    alerts: Family<AlertLabels, Counter>,
    extraction_fallbacks: Counter,
    poll_duration: Histogram,
    outbox_depth: Gauge,
    /// The database file and its WAL, in bytes.
    database_bytes: Gauge,
    /// The database's free pages (given back by maintenance on an incremental database).
    database_free_pages: Gauge,
    /// 1 while a service fault (see `health`) is active, else 0; every fault is listed.
    faults: Family<FaultLabel, Gauge>,
    /// PostgreSQL: how many different feed lists the live instances' configs hold.
    feed_lists: Gauge,
    /// Unix seconds of the poll loop's last round; 0 before the loop starts.
    last_loop: AtomicI64,
}

/// The instance id every series is labelled with (`feedwatch_instance`), on PostgreSQL where
/// several instances share the work; set before the first metric is recorded.
static INSTANCE: OnceLock<String> = OnceLock::new();

/// Labels every metric of this process with `feedwatch_instance="<id>"`, so dashboards over
/// several instances sharing one database tell them apart by the id `status` shows (the
/// scrape's own `instance` label is the listener's address). Must come before any metric is
/// recorded; `false` (and no label) when it came too late or twice.
pub fn set_instance(id: &str) -> bool {
    INSTANCE.set(id.to_string()).is_ok() && METRICS.get().is_none()
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

fn metrics() -> &'static Metrics {
    METRICS.get_or_init(|| {
        let labels = INSTANCE
            .get()
            .map(|id| (Cow::Borrowed("feedwatch_instance"), Cow::Owned(id.clone())));
        let mut registry = Registry::with_prefix_and_labels("feedwatch", labels.into_iter());
        let polls = Family::<ResultLabel, Counter>::default();
        let fetch_errors = Family::<KindLabel, Counter>::default();
        let http_status = Family::<StatusLabel, Counter>::default();
        let items_seen = Counter::default();
        let articles_kept = Counter::default();
        let alerts = Family::<AlertLabels, Counter>::default();
        let extraction_fallbacks = Counter::default();
        let poll_duration = Histogram::new(exponential_buckets(0.01, 2.0, 14));
        let outbox_depth = Gauge::default();
        let database_bytes = Gauge::default();
        let database_free_pages = Gauge::default();
        let faults = Family::<FaultLabel, Gauge>::default();
        let feed_lists = Gauge::default();
        for f in crate::ops::health::Fault::ALL {
            faults
                .get_or_create(&FaultLabel {
                    fault: f.name().into(),
                })
                .set(0);
        }
        registry.register(
            "fault",
            "Service faults (store_commit, alert_log, database_gone, integrity, store_maintenance, seen_retention, retention): 1 while active",
            faults.clone(),
        );
        registry.register(
            "polls",
            "Feed polls by result (ok, not_modified, error)",
            polls.clone(),
        );
        registry.register(
            "fetch_errors",
            "Failed feed and page fetches by kind",
            fetch_errors.clone(),
        );
        registry.register(
            "http_responses",
            "HTTP responses to feed polls by status",
            http_status.clone(),
        );
        registry.register(
            "items_seen",
            "Feed items seen for the first time",
            items_seen.clone(),
        );
        registry.register(
            "articles_kept",
            "Articles that matched a rule and were stored",
            articles_kept.clone(),
        );
        registry.register(
            "alerts",
            "Alerts delivered to the log, by rule and severity",
            alerts.clone(),
        );
        registry.register(
            "extraction_fallbacks",
            "Article pages whose extraction failed, so the feed's text was used",
            extraction_fallbacks.clone(),
        );
        registry.register(
            "poll_duration_seconds",
            "Time to poll one feed, commit included",
            poll_duration.clone(),
        );
        registry.register(
            "outbox_depth",
            "Alerts and digests waiting for delivery (log and sinks)",
            outbox_depth.clone(),
        );
        registry.register(
            "database_bytes",
            "Size of the database file and its WAL, in bytes",
            database_bytes.clone(),
        );
        registry.register(
            "database_free_pages",
            "Free pages in the database, given back by maintenance",
            database_free_pages.clone(),
        );
        registry.register(
            "instance_feed_lists",
            "PostgreSQL: different feed lists among the live instances' configs (more than 1: they differ)",
            feed_lists.clone(),
        );
        Metrics {
            registry,
            polls,
            fetch_errors,
            http_status,
            items_seen,
            articles_kept,
            alerts,
            extraction_fallbacks,
            poll_duration,
            outbox_depth,
            database_bytes,
            database_free_pages,
            faults,
            feed_lists,
            last_loop: AtomicI64::new(0),
        }
    })
}

/// A poll finished: its result, HTTP status, new items and kept articles.
pub fn poll(result: &str, status: Option<u16>, items: u64, kept: u64, seconds: f64) {
    let m = metrics();
    m.polls
        .get_or_create(&ResultLabel {
            result: result.into(),
        })
        .inc();
    if let Some(s) = status {
        m.http_status
            .get_or_create(&StatusLabel {
                status: s.to_string(),
            })
            .inc();
    }
    m.items_seen.inc_by(items);
    m.articles_kept.inc_by(kept);
    m.poll_duration.observe(seconds);
}

/// A fetch failed (feed or page).
pub fn fetch_error(kind: &str) {
    metrics()
        .fetch_errors
        .get_or_create(&KindLabel { kind: kind.into() })
        .inc();
}

/// An article page's extraction failed and the feed's text was used.
pub fn extraction_fallback() {
    metrics().extraction_fallbacks.inc();
}

/// An alert was delivered to the log.
pub fn alert(rule: &str, severity: &str) {
    metrics()
        .alerts
        .get_or_create(&AlertLabels {
            rule: rule.into(),
            severity: severity.into(),
        })
        .inc();
}

/// Alerts waiting for delivery.
pub fn outbox_depth(n: i64) {
    metrics().outbox_depth.set(n);
}

/// How many different feed lists the live instances sharing the database run with.
pub fn instance_feed_lists(n: usize) {
    metrics()
        .feed_lists
        .set(i64::try_from(n).unwrap_or(i64::MAX));
}

/// The database's size on disk (file and WAL) and its free pages.
pub fn database_size(bytes: u64, free_pages: i64) {
    let m = metrics();
    m.database_bytes
        .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    m.database_free_pages.set(free_pages);
}

/// A service fault was raised (`true`) or cleared.
pub fn fault(name: &str, active: bool) {
    metrics()
        .faults
        .get_or_create(&FaultLabel { fault: name.into() })
        .set(i64::from(active));
}

/// The poll loop came round.
pub fn loop_alive() {
    metrics()
        .last_loop
        .store(chrono::Utc::now().timestamp(), Ordering::Relaxed);
}

/// Whether the poll loop came round recently (or has not started: a `poll --once` run).
pub fn healthy() -> bool {
    let last = metrics().last_loop.load(Ordering::Relaxed);
    last == 0 || chrono::Utc::now().timestamp() - last <= STALL_SECS
}

/// The `/healthz` answer: 200 `ok`, or 503 with one line per reason (a stalled poll loop,
/// each active service fault with its since-time and cause).
pub fn health_report() -> (bool, String) {
    let faults = crate::ops::health::active();
    let mut body = crate::ops::health::describe(&faults);
    if !healthy() {
        body.insert_str(0, "poll loop stalled\n");
    }
    if body.is_empty() {
        (true, "ok\n".into())
    } else {
        (false, body)
    }
}

/// The metrics in OpenMetrics text format.
pub fn encode() -> String {
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &metrics().registry).is_err() {
        out.clear();
    }
    out
}

/// Binds the listener (at start-up, so a taken port is a start-up error, not a silent one).
///
/// # Errors
/// When the address cannot be bound.
pub async fn bind(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

/// Serves `/metrics` and `/healthz` until `shutdown`.
///
/// Whatever clients do, the listener holds at most [`MAX_CONNECTIONS`] connections, each
/// for at most [`HEADER_TIMEOUT`] without a request and [`CONNECTION_LIFETIME`] in all
/// (see [`accept_loop`]): idle or slow clients cannot take the process's file handles,
/// which feeds, the database and SIGHUP's config read need too.
///
/// # Errors
/// None at present: a failed `accept` (out of file handles) is logged at error level and
/// retried, so the listener recovers when handles are free again.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    use axum::http::{header, StatusCode};
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(|| async {
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    encode(),
                )
            }),
        )
        .route(
            "/healthz",
            get(|| async {
                match health_report() {
                    (true, body) => (StatusCode::OK, body),
                    (false, body) => (StatusCode::SERVICE_UNAVAILABLE, body),
                }
            }),
        );
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "metrics and health listener up (/metrics, /healthz)");
    }
    accept_loop(listener, app, shutdown).await;
    Ok(())
}

/// Connections the listener serves at once. A Prometheus scraper and a health probe need
/// one or two each; 64 leaves room for several of both, while a flood of connections costs
/// at most 64 file handles (the unit's `LimitNOFILE` leaves thousands for feeds, the
/// database and the log).
pub const MAX_CONNECTIONS: usize = 64;
/// Time a client has to send a request's headers. hyper also runs this timer while a
/// keep-alive connection waits for its next request, so it is the idle timeout as well.
/// Scrapers on the same host or network send their headers within milliseconds.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest one connection may live, whatever it does (reads a response a byte at a
/// time, trickles requests): a scraper simply reconnects.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// How long a new connection waits for the slot of the connection it evicted.
const EVICT_WAIT: Duration = Duration::from_millis(200);
/// Pause after a failed `accept` (out of file handles), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(250);
/// At most one warning per this period about evictions or accept errors.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Accepts and serves connections until `shutdown`, holding at most [`MAX_CONNECTIONS`].
///
/// At the cap a new connection evicts the oldest one instead of being turned away: the
/// oldest is nearly always idle (a scrape takes milliseconds), while the newcomer may be a
/// health probe that sends its request at once, so `/healthz` keeps answering while someone
/// holds connections open. Each connection is also dropped after [`HEADER_TIMEOUT`] without
/// a complete request and after [`CONNECTION_LIFETIME`] in all.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    shutdown: CancellationToken,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    // Live connections, oldest first; an entry is cancelled to evict it, and by its own
    // task when it ends (so stale entries are known and skipped).
    let mut oldest: VecDeque<CancellationToken> = VecDeque::new();
    let mut conns = tokio::task::JoinSet::new();
    let mut quiet_until: Option<std::time::Instant> = None;
    let mut may_warn = move || {
        let now = std::time::Instant::now();
        let ok = quiet_until.is_none_or(|t| now >= t);
        if ok {
            quiet_until = Some(now + WARN_EVERY);
        }
        ok
    };
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            r = listener.accept() => r,
        };
        while conns.try_join_next().is_some() {}
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                if may_warn() {
                    tracing::error!(error = %e, "metrics listener cannot accept connections; retrying");
                }
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if let Some(victim) = oldest.iter().find(|t| !t.is_cancelled()) {
                    victim.cancel();
                }
                if may_warn() {
                    tracing::warn!(
                        "metrics listener has {MAX_CONNECTIONS} connections open; closing the oldest for each new one"
                    );
                }
                match tokio::time::timeout(EVICT_WAIT, slots.clone().acquire_owned()).await {
                    Ok(Ok(slot)) => slot,
                    _ => continue,
                }
            }
        };
        oldest.retain(|t| !t.is_cancelled());
        let evict = CancellationToken::new();
        oldest.push_back(evict.clone());
        let service = TowerToHyperService::new(app.clone());
        conns.spawn(async move {
            let _slot = slot;
            let _done = evict.clone().drop_guard();
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            // Errors are the client's (it went away, sent garbage, was too slow).
            tokio::select! {
                _ = tokio::time::timeout(CONNECTION_LIFETIME, conn) => {}
                () = evict.cancelled() => {}
            }
        });
    }
    // Scrapes are idempotent: connections still open are cut when `conns` is dropped.
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_show_in_the_text_format() {
        poll("ok", Some(200), 3, 1, 0.05);
        fetch_error("timeout");
        alert("green-zone", "high");
        outbox_depth(2);
        let text = encode();
        for want in [
            "feedwatch_polls_total{result=\"ok\"}",
            "feedwatch_http_responses_total{status=\"200\"}",
            "feedwatch_fetch_errors_total{kind=\"timeout\"}",
            "feedwatch_alerts_total{rule=\"green-zone\",severity=\"high\"}",
            "feedwatch_poll_duration_seconds_bucket",
            "feedwatch_outbox_depth 2",
            "feedwatch_items_seen_total",
            "feedwatch_fault{fault=\"database_gone\"} 0",
        ] {
            assert!(text.contains(want), "missing {want} in\n{text}");
        }
    }
}
