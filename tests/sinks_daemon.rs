//! The webhook check through the real binary: a receiver on loopback fails the first
//! 3 deliveries, then accepts. `feedwatch run` is stopped (SIGTERM) mid-way and the rest is
//! sent by a later `feedwatch poll --once` on the same database: every alert arrives, each
//! accepted exactly once by id.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test panics on a broken fixture

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::{get, rss, wait_for, wait_health, Daemon, Fixture, Instance, Signal, TestServer};
use serde_json::Value;

#[derive(Default)]
struct Seen {
    requests: usize,
    accepted: Vec<i64>,
}

/// 500 to the first 3 requests, then 204 after a short pause (so SIGTERM lands mid-way).
async fn hook(State(seen): State<Arc<Mutex<Seen>>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let n = {
        let mut s = seen.lock().expect("lock");
        s.requests += 1;
        s.requests
    };
    if n <= 3 {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let id = v["id"].as_i64().unwrap_or(-1);
    let header = headers
        .get("x-feedwatch-alert-id")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<i64>().ok());
    assert_eq!(header, Some(id), "header and body ids agree");
    seen.lock().expect("lock").accepted.push(id);
    StatusCode::NO_CONTENT
}

fn items(srv: &TestServer, range: std::ops::RangeInclusive<u32>) -> String {
    let items: Vec<(String, String, String)> = range
        .map(|i| {
            (
                format!("Rockets strike Baghdad's Green Zone, report {i}"),
                srv.url(&format!("/news/{i}")),
                // Distinct enough that each item is a story of its own (one alert per story).
                format!("Report {i}: rockets struck inside Baghdad's heavily fortified Green Zone on day {i} near the US embassy, sources in district {i} said."),
            )
        })
        .collect();
    let refs: Vec<(&str, &str, Option<&str>)> = items
        .iter()
        .map(|(t, l, d)| (t.as_str(), l.as_str(), Some(d.as_str())))
        .collect();
    rss("Wire", &refs)
}

/// Serves `app` on loopback; the URL of its `/hook`.
async fn serve_hook(app: axum::Router) -> String {
    format!("http://{}/hook", common::serve(app).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_gets_every_alert_once_across_a_daemon_restart() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(seen.clone());
    let hook_url = serve_hook(app).await;
    let accepted = || seen.lock().expect("lock").accepted.clone();

    let srv = TestServer::start().await;
    srv.set(
        "/rss",
        Fixture::ok("application/rss+xml", items(&srv, 1..=6)),
    );
    let inst = Instance::new(&format!(
        "[[feeds]]\nurl = \"{}\"\nname = \"wire\"\ninterval = \"1h\"\n\n\
         [[sinks]]\nname = \"ops\"\ntype = \"webhook\"\nurl = \"{hook_url}\"\ntimeout = \"2s\"\n\
         retry_initial = \"100ms\"\nretry_max = \"500ms\"\n",
        srv.url("/rss")
    ));
    let mut daemon = Daemon::start(&inst, &["--grace", "5s"]);

    wait_for("the first accepted alert", Duration::from_secs(30), || {
        !accepted().is_empty()
    })
    .await;
    daemon.signal(Signal::TERM);
    let Some(status) = daemon.wait_exit(Duration::from_secs(15)).await else {
        panic!("no stop on SIGTERM:\n{}", daemon.log());
    };
    assert_eq!(status.code(), Some(0), "stderr:\n{}", daemon.log());
    let first_run = accepted().len();
    let before_restart = inst.alerts().await.len();
    assert!(
        first_run < before_restart,
        "the stop came mid-way ({first_run} of {before_restart} sent)"
    );

    // More news while it was down; `poll --once` fetches it and sends everything still owed.
    srv.set(
        "/rss",
        Fixture::ok("application/rss+xml", items(&srv, 1..=9)),
    );
    let out = inst.run(&["poll", "--once"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let all: Vec<i64> = inst
        .alerts()
        .await
        .iter()
        .filter_map(|a| a["id"].as_i64())
        .collect();
    assert!(all.len() >= 9, "one alert per item at least: {all:?}");
    let got = accepted();
    let mut count: HashMap<i64, usize> = HashMap::new();
    for id in &got {
        *count.entry(*id).or_default() += 1;
    }
    for id in &all {
        assert_eq!(
            count.get(id),
            Some(&1),
            "alert {id}: accepted {:?} times ({got:?})",
            count.get(id)
        );
    }
    assert_eq!(got.len(), all.len(), "{got:?}");
    assert_eq!(seen.lock().expect("lock").requests, all.len() + 3);

    let st = inst.status().await;
    let ops = st
        .iter()
        .find(|v| v["sink"] == "ops")
        .expect("sink in status");
    assert_eq!(ops["pending"], 0, "{ops}");
    assert_eq!(ops["consecutive_failures"], 0, "{ops}");
}

/// `config check` lists every sink problem with its key, and exits 2.
#[tokio::test]
async fn config_check_reports_sink_problems() {
    let inst = Instance::new(
        "[[sinks]]\nname = \"hook\"\ntype = \"webhook\"\nsecret_file = \"missing.secret\"\nrules = [\"no-such-rule\"]\n\n\
         [[sinks]]\nname = \"mail\"\ntype = \"exec\"\ncommand = [\"/usr/sbin/sendmail\"]\nsecret_env = \"X\"\n",
    );
    let out = inst.run(&["config", "check"]).await;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(2), "{text}");
    for want in [
        "sinks[0].url",
        "sinks[0].rules",
        "no-such-rule",
        "sinks[0].secret_file",
        "missing.secret",
        "sinks[1].secret_env",
    ] {
        assert!(text.contains(want), "{want} not in:\n{text}");
    }
}

/// A receiver that refuses (422) while `refuse` is set, and accepts afterwards.
async fn picky(
    State(state): State<(Arc<Mutex<Seen>>, Arc<std::sync::atomic::AtomicBool>)>,
    body: Bytes,
) -> StatusCode {
    let (seen, refuse) = state;
    let mut s = seen.lock().expect("lock");
    s.requests += 1;
    if refuse.load(std::sync::atomic::Ordering::SeqCst) {
        return StatusCode::UNPROCESSABLE_ENTITY;
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    s.accepted.push(v["id"].as_i64().unwrap_or(-1));
    StatusCode::NO_CONTENT
}

/// Deliveries the receiver refused stay refused until `feedwatch sinks retry NAME`; then the
/// next `poll --once` sends them, once each. An unknown sink name exits 2 and names the known.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sinks_retry_sends_refused_alerts_again() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let refuse = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(picky))
        .with_state((seen.clone(), refuse.clone()));
    let hook_url = serve_hook(app).await;
    let srv = TestServer::start().await;
    srv.set(
        "/rss",
        Fixture::ok("application/rss+xml", items(&srv, 1..=3)),
    );
    let inst = Instance::new(&format!(
        "[[feeds]]\nurl = \"{}\"\n\n[[sinks]]\nname = \"ops\"\ntype = \"webhook\"\nurl = \"{hook_url}\"\n",
        srv.url("/rss")
    ));

    // Every alert refused: the run did not reach its readers, and says so (exit 4, the
    // `sink_delivery` fault naming the sink).
    let out = inst.run(&["poll", "--once"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("sink_delivery") && stderr.contains("sink ops:"),
        "{stderr}"
    );
    let alerts = inst.alerts().await.len();
    assert!(alerts >= 3, "{alerts} alerts");
    let ops = |st: Vec<Value>| st.into_iter().find(|v| v["sink"] == "ops").expect("sink");
    assert_eq!(ops(inst.status().await)["failed"], alerts, "all refused");

    // Refused is final: another poll does not send them again.
    let before = seen.lock().expect("lock").requests;
    let out = inst.run(&["poll", "--once"]).await;
    assert!(out.status.success());
    assert_eq!(seen.lock().expect("lock").requests, before);

    let out = inst.run(&["sinks", "retry", "nope"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("configured: ops"));

    refuse.store(false, std::sync::atomic::Ordering::SeqCst);
    let out = inst.run(&["sinks", "retry", "ops"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with(&format!("{alerts} rejected")),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = inst.run(&["poll", "--once"]).await;
    assert!(out.status.success());
    let mut got = seen.lock().expect("lock").accepted.clone();
    got.sort_unstable();
    let mut want: Vec<i64> = inst
        .alerts()
        .await
        .iter()
        .filter_map(|a| a["id"].as_i64())
        .collect();
    want.sort_unstable();
    assert_eq!(got, want);
    let st = ops(inst.status().await);
    assert_eq!(
        (st["failed"].as_u64(), st["pending"].as_u64()),
        (Some(0), Some(0)),
        "{st}"
    );
}

/// A receiver down for good: 503 to every request while `down` is set.
async fn flaky(
    State(state): State<(Arc<Mutex<Seen>>, Arc<std::sync::atomic::AtomicBool>)>,
    body: Bytes,
) -> StatusCode {
    let (seen, down) = state;
    let mut s = seen.lock().expect("lock");
    s.requests += 1;
    if down.load(std::sync::atomic::Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    s.accepted.push(v["id"].as_i64().unwrap_or(-1));
    StatusCode::NO_CONTENT
}

/// A webhook that keeps failing is a service fault, not only a line in `status`: after three
/// failures in a row `/healthz` answers 503 naming the sink, metrics and the journal say
/// `sink_delivery`, and all of it clears with the first delivery once the receiver is back,
/// with every alert delivered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_that_keeps_failing_is_loud_and_recovers() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let down = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(flaky))
        .with_state((seen.clone(), down.clone()));
    let hook_url = serve_hook(app).await;
    let srv = TestServer::start().await;
    srv.set(
        "/rss",
        Fixture::ok("application/rss+xml", items(&srv, 1..=2)),
    );
    let inst = Instance::new(&format!(
        "[http]\nlisten = \"127.0.0.1:0\"\n\n[[feeds]]\nurl = \"{}\"\ninterval = \"1h\"\n\n\
         [[sinks]]\nname = \"pager\"\ntype = \"webhook\"\nurl = \"{hook_url}\"\n\
         retry_initial = \"100ms\"\nretry_max = \"300ms\"\n",
        srv.url("/rss")
    ));
    let mut daemon = Daemon::start(&inst, &["--grace", "2s"]);
    let port = daemon.http_addr().await.port();
    let body = wait_health(port, 503, "sink_delivery", Duration::from_secs(30)).await;
    assert!(
        body.contains("sink pager") && body.contains("HTTP 503"),
        "{body}"
    );
    let (_, metrics) = get(port, "/metrics").await;
    let metrics = common::without_instance_label(&metrics);
    assert!(
        metrics.contains("feedwatch_fault{fault=\"sink_delivery\"} 1"),
        "{metrics}"
    );

    down.store(false, std::sync::atomic::Ordering::SeqCst);
    wait_health(port, 200, "ok", Duration::from_secs(30)).await;
    let want = inst.alerts().await.len();
    wait_for("every alert delivered", Duration::from_secs(30), || {
        seen.lock().expect("lock").accepted.len() >= want
    })
    .await;
    let mut got = seen.lock().expect("lock").accepted.clone();
    got.sort_unstable();
    got.dedup();
    assert_eq!(got.len(), want, "each alert once");
    daemon.stop().await;
    let journal = daemon.log();
    assert!(journal.contains("service fault sink_delivery"), "{journal}");
    assert!(journal.contains("cleared"), "{journal}");
}
