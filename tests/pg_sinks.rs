//! Webhook sinks on PostgreSQL through the real binary, with receivers on loopback: the seed
//! article's alerts delivered once each, with the body the alert log writes (as on SQLite);
//! three instances polling one database with one sink, every alert delivered exactly once
//! between them (deliveries claimed with `SKIP LOCKED`); and a receiver that fails then
//! recovers, retried with backoff, loud (`sink_delivery`) while it fails and quiet after;
//! a delivery cut off by kill -9, sent again by another instance once its lease ends; and a
//! digest sink's periods queued and claimed once among three instances (the scheduled
//! digests through the binary: `scripts/test-on-postgres.sh` runs `digest_schedule`).
//! Skipped without `FEEDWATCH_TEST_POSTGRES`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test panics on a broken fixture

mod common;
mod pg_common;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::hook::{serve_hook, sink_config, Hook};
use common::seed::{assert_only_the_seed_alerted, serve_seed};
use common::{assert_ok, get, rss, wait_for, wait_health, Daemon, Fixture, Instance, TestServer};
use pg_common::TestDb;
use serde_json::Value;

/// An instance (its own folder and alert log) whose database is this test's schema.
fn pg_instance(db: &TestDb, extra: &str) -> Instance {
    Instance::with_database(extra, &db.schema_url())
}

fn sink(url: &str) -> String {
    sink_config(url, "5s")
}

/// How many times each id was accepted.
fn counts(ids: &[i64]) -> HashMap<i64, usize> {
    let mut count: HashMap<i64, usize> = HashMap::new();
    for id in ids {
        *count.entry(*id).or_default() += 1;
    }
    count
}

/// The sink's line of `status --format json`.
async fn ops_status(inst: &Instance) -> Value {
    inst.status()
        .await
        .into_iter()
        .find(|v| v["sink"] == "ops")
        .expect("the sink in status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_alerts_reach_the_webhook_once_each() {
    let Some(db) = TestDb::new("sinks_seed").await else {
        return;
    };
    let hook = Hook::default();
    let hook_url = serve_hook(hook.clone()).await;
    let srv = TestServer::start().await;
    let seed_url = serve_seed(&srv);
    let inst = pg_instance(
        &db,
        &format!(
            "[[feeds]]\nurl = \"{}\"\nname = \"The New Arab\"\nfull_text = true\n\n{}",
            srv.url("/rss"),
            sink(&hook_url)
        ),
    );

    assert_ok(&inst.run(&["poll", "--once"]).await, "poll --once");

    let alerts = inst.alerts().await;
    assert_only_the_seed_alerted(&alerts, &seed_url);
    // Each alert once, and the body is the alert log's line for it (as on SQLite).
    let got = hook.accepted_ids();
    let count = counts(&got);
    for a in &alerts {
        let id = a["id"].as_i64().expect("id");
        assert_eq!(count.get(&id), Some(&1), "alert {id}: {got:?}");
    }
    assert_eq!(got.len(), alerts.len(), "{got:?}");
    let log = inst.log_lines();
    let accepted = hook.seen.lock().expect("lock").accepted.clone();
    for body in &accepted {
        let line = log.iter().find(|l| l["id"] == body["id"]).expect("logged");
        assert_eq!(body, line, "the webhook body is the alert log's line");
    }
    let ops = ops_status(&inst).await;
    assert_eq!(
        (ops["pending"].as_u64(), ops["delivered"].as_u64()),
        (Some(0), Some(2)),
        "{ops}"
    );
    assert_eq!(ops["consecutive_failures"], 0, "{ops}");

    // Due again: the feed answers the same items; nothing is sent again.
    let _: Vec<i64> = db
        .column("UPDATE feeds SET next_poll_at = 0 RETURNING id")
        .await;
    assert_ok(&inst.run(&["poll", "--once"]).await, "second poll --once");
    assert_eq!(hook.seen.lock().expect("lock").requests, 2);
    db.drop_schema().await;
}

/// Items of one feed, each a story of its own that alerts (distinct text per feed and item).
fn alerting_items(srv: &TestServer, feed: usize, n: usize) -> String {
    let items: Vec<(String, String, String)> = (0..n)
        .map(|k| {
            (
                format!("Rockets strike Baghdad's Green Zone, report {feed}-{k}"),
                srv.url(&format!("/news/{feed}/{k}")),
                format!(
                    "Report {feed}-{k}: rockets struck inside Baghdad's heavily fortified Green Zone \
                     on day {k} near the US embassy, sources in district {feed} said; {}.",
                    ["calm returned", "sirens sounded", "roads were shut", "flights were held"]
                        [(feed + k) % 4]
                ),
            )
        })
        .collect();
    let refs: Vec<(&str, &str, Option<&str>)> = items
        .iter()
        .map(|(t, l, d)| (t.as_str(), l.as_str(), Some(d.as_str())))
        .collect();
    rss(&format!("Wire {feed}"), &refs)
}

const FEEDS: usize = 9;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_deliver_every_alert_exactly_once() {
    let Some(db) = TestDb::new("sinks_three").await else {
        return;
    };
    // A slow receiver: the instances' sink workers overlap, claiming from one queue.
    let hook = Hook {
        delay: Duration::from_millis(40),
        ..Hook::default()
    };
    let hook_url = serve_hook(hook.clone()).await;
    let srv = TestServer::start().await;
    let mut list = String::new();
    for f in 0..FEEDS {
        let path = format!("/feed/{f}");
        srv.set(
            &path,
            Fixture::ok("application/rss+xml", alerting_items(&srv, f, 3)),
        );
        list.push_str(&format!("[[feeds]]\nurl = \"{}\"\n", srv.url(&path)));
    }
    let cfg = format!("{list}\n{}", sink(&hook_url));
    let instances: Vec<Instance> = (0..3).map(|_| pg_instance(&db, &cfg)).collect();
    for inst in &instances {
        let cfg = std::fs::read_to_string(inst.config()).expect("config");
        let cfg = cfg.replace("concurrency = 4", "concurrency = 2");
        std::fs::write(inst.config(), cfg).expect("write config");
    }
    let runs = instances.iter().map(|i| i.run(&["poll", "--once"]));
    let outs = futures_util::future::join_all(runs).await;
    for (k, out) in outs.iter().enumerate() {
        assert_ok(out, &format!("instance {k}"));
    }

    let alerts = instances[0].alerts().await;
    let all: BTreeSet<i64> = alerts.iter().filter_map(|a| a["id"].as_i64()).collect();
    assert!(all.len() >= FEEDS, "alerts on every feed: {all:?}");
    let got = hook.accepted_ids();
    let count = counts(&got);
    let twice: Vec<_> = count.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    let delivered: BTreeSet<i64> = got.iter().copied().collect();
    assert_eq!(delivered, all, "every alert delivered");
    assert_eq!(hook.seen.lock().expect("lock").requests, all.len());
    let logged: usize = instances.iter().map(|i| i.log_lines().len()).sum();
    assert_eq!(logged, all.len(), "each alert in one instance's log");
    let ops = ops_status(&instances[1]).await;
    assert_eq!(ops["pending"], 0, "{ops}");
    assert_eq!(ops["delivered"].as_u64(), Some(all.len() as u64), "{ops}");
    // Each delivery is in exactly one instance's journal: the instances shared the queue.
    let by: Vec<Vec<i64>> = outs.iter().map(|o| delivered_in(&o.stderr)).collect();
    let mut union: Vec<i64> = by.concat();
    union.sort_unstable();
    assert_eq!(
        union,
        delivered.iter().copied().collect::<Vec<_>>(),
        "{by:?}"
    );
    println!(
        "{} alerts delivered once each; by instance: {:?}",
        all.len(),
        by.iter().map(Vec::len).collect::<Vec<_>>()
    );
    db.drop_schema().await;
}

/// A receiver down (503) at first: retried with backoff, `/healthz` 503 naming the sink
/// (`sink_delivery`) and the metric set; once it is back, every alert delivered once and
/// the fault cleared (as `sinks_daemon` checks on SQLite).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_is_retried_with_backoff_and_recovers() {
    let Some(db) = TestDb::new("sinks_flaky").await else {
        return;
    };
    let hook = Hook::default();
    hook.down.store(true, Ordering::SeqCst);
    let hook_url = serve_hook(hook.clone()).await;
    let srv = TestServer::start().await;
    srv.set(
        "/rss",
        Fixture::ok("application/rss+xml", alerting_items(&srv, 0, 2)),
    );
    let inst = pg_instance(
        &db,
        &format!(
            "[http]\nlisten = \"127.0.0.1:0\"\n\n[[feeds]]\nurl = \"{}\"\ninterval = \"1h\"\n\n{}",
            srv.url("/rss"),
            sink(&hook_url).replace("name = \"ops\"", "name = \"pager\"")
        ),
    );
    let mut daemon = Daemon::start(&inst, &["--grace", "2s"]);
    let port = daemon.http_addr().await.port();
    let body = wait_health(port, 503, "sink_delivery", Duration::from_secs(30)).await;
    assert!(
        body.contains("sink pager") && body.contains("HTTP 503"),
        "{body}"
    );
    let (_, metrics) = get(port, "/metrics").await;
    // Whatever other labels the line carries (an instance's id on PostgreSQL).
    assert!(
        metrics.lines().any(|l| l.starts_with("feedwatch_fault{")
            && l.contains("fault=\"sink_delivery\"")
            && l.ends_with("} 1")),
        "{metrics}"
    );
    // Backoff: the failed attempts are spaced by at least half of `retry_initial`.
    wait_for("a few failed attempts", Duration::from_secs(30), || {
        hook.seen.lock().expect("lock").requests >= 4
    })
    .await;
    {
        let s = hook.seen.lock().expect("lock");
        for w in s.at.windows(2) {
            assert!(
                w[1] - w[0] >= Duration::from_millis(90),
                "retried without backoff: {:?}",
                s.at
            );
        }
    }

    hook.down.store(false, Ordering::SeqCst);
    wait_health(port, 200, "ok", Duration::from_secs(30)).await;
    let want = inst.alerts().await.len();
    assert!(want >= 2, "{want} alerts");
    wait_for("every alert delivered", Duration::from_secs(30), || {
        hook.accepted_ids().len() >= want
    })
    .await;
    daemon.stop().await;
    let got = hook.accepted_ids();
    let count = counts(&got);
    assert!(count.values().all(|n| *n == 1), "each alert once: {got:?}");
    assert_eq!(count.len(), want, "{got:?}");
    let attempts: Vec<i32> = db.column("SELECT attempts FROM sink_deliveries").await;
    assert!(
        attempts.iter().any(|a| *a > 1),
        "retried in the outbox: {attempts:?}"
    );
    let journal = daemon.log();
    assert!(journal.contains("service fault sink_delivery"), "{journal}");
    assert!(journal.contains("cleared"), "{journal}");
    let st = inst
        .status()
        .await
        .into_iter()
        .find(|v| v["sink"] == "pager")
        .expect("sink in status");
    assert_eq!(
        (st["pending"].as_u64(), st["consecutive_failures"].as_u64()),
        (Some(0), Some(0)),
        "{st}"
    );
    db.drop_schema().await;
}

/// The alert ids an instance's journal says it delivered to the sink.
fn delivered_in(stderr: &[u8]) -> Vec<i64> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|l| l.contains("alert delivered to sink"))
        .filter_map(|l| {
            let rest = &l[l.find("alert_id=")? + "alert_id=".len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

/// An instance killed (SIGKILL) while a delivery is in flight: the delivery stays claimed
/// until its lease ends (twice the sink's 3 s timeout plus a second), then another instance
/// sends it, with the same id; the other alerts it sends at once. None is lost, and as the
/// cut-off attempt was never answered, each is accepted exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_cut_off_by_kill_9_is_sent_again_after_its_lease() {
    let Some(db) = TestDb::new("sinks_kill").await else {
        return;
    };
    let hook = Hook::default();
    hook.hang_first.store(true, Ordering::SeqCst);
    let hook_url = serve_hook(hook.clone()).await;
    let srv = TestServer::start().await;
    srv.set(
        "/rss",
        Fixture::ok("application/rss+xml", alerting_items(&srv, 0, 2)),
    );
    let cfg = format!(
        "[[feeds]]\nurl = \"{}\"\ninterval = \"1h\"\n\n{}",
        srv.url("/rss"),
        sink(&hook_url).replace("timeout = \"5s\"", "timeout = \"3s\"")
    );
    let (a, b) = (pg_instance(&db, &cfg), pg_instance(&db, &cfg));
    let mut first = Daemon::start(&a, &["--grace", "1s"]);
    wait_for("a delivery in flight", Duration::from_secs(30), || {
        hook.seen.lock().expect("lock").hung.is_some()
    })
    .await;
    first.kill();
    let killed = Instant::now();
    let hung = hook.seen.lock().expect("lock").hung.expect("hung id");

    let mut second = Daemon::start(&b, &["--grace", "1s"]);
    let want: BTreeSet<i64> = a
        .alerts()
        .await
        .iter()
        .filter_map(|v| v["id"].as_i64())
        .collect();
    assert!(want.len() >= 2, "{want:?}");
    assert!(want.contains(&hung));
    wait_for("every alert delivered", Duration::from_secs(40), || {
        hook.accepted_ids().len() >= want.len()
    })
    .await;
    let resent_after = killed.elapsed();
    second.stop().await;
    let got = hook.accepted_ids();
    let count = counts(&got);
    assert!(count.values().all(|n| *n == 1), "each alert once: {got:?}");
    assert_eq!(count.keys().copied().collect::<BTreeSet<_>>(), want);
    assert_eq!(
        got.last(),
        Some(&hung),
        "the cut-off one is sent last, after its lease: {got:?}"
    );
    assert!(
        resent_after >= Duration::from_secs(4),
        "sent again before its lease ended: {resent_after:?}"
    );
    let attempts: Vec<i32> = db
        .column(&format!(
            "SELECT attempts FROM sink_deliveries WHERE alert_id = {hung}"
        ))
        .await;
    assert_eq!(attempts, vec![1], "the cut-off attempt was never recorded");
    assert!(
        second.log().contains(&format!("alert_id={hung}")),
        "{}",
        second.log()
    );
    db.drop_schema().await;
}

/// A digest sink run by three instances: each may render a due period, exactly one queues
/// it (the sink row locked, `UNIQUE (sink, period_end)`), and exactly one claims it at a
/// time; a later period is queued again, an earlier one never.
#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn three_instances_queue_and_claim_each_digest_period_once() {
    let Some(db) = TestDb::new("digests").await else {
        return;
    };
    let first = db.migrated_store().await;
    first
        .register_sinks(&["daily"], 100)
        .await
        .expect("register");
    let stores: Vec<_> = (0..3).map(|_| db.store()).collect();
    // The sink's mark starts at the due time already past when it first runs.
    for s in &stores {
        assert_eq!(
            s.digest_through("daily", 1000).await.expect("through"),
            Some(1000)
        );
    }
    let queue = |period_end: i64| {
        let stores = stores.clone();
        async move {
            let start = std::sync::Arc::new(tokio::sync::Barrier::new(3));
            let tasks: Vec<_> = stores
                .into_iter()
                .enumerate()
                .map(|(n, s)| {
                    let start = start.clone();
                    tokio::spawn(async move {
                        let body = format!("rendered by instance {n}").into_bytes();
                        let row = feedwatch::store::DigestRow {
                            period_start: period_end - 1000,
                            period_end,
                            format: "json",
                            body: &body,
                        };
                        start.wait().await;
                        s.enqueue_digest("daily", &row, period_end + 10)
                            .await
                            .expect("enqueue")
                    })
                })
                .collect();
            let mut queued = 0;
            for t in tasks {
                queued += usize::from(t.await.expect("join"));
            }
            queued
        }
    };
    assert_eq!(queue(2000).await, 1, "one instance queues the period");
    assert_eq!(queue(2000).await, 0, "and nobody again");
    assert_eq!(queue(1500).await, 0, "an earlier period never");
    // One claim gets it; the others find it leased.
    let claims: Vec<_> = futures_claims(&stores, 2020, 2080).await;
    assert_eq!(claims.iter().flatten().count(), 1, "{claims:?}");
    let c = claims.into_iter().flatten().next().expect("claimed");
    assert_eq!((c.period_start, c.period_end, c.attempts), (1000, 2000, 0));
    assert!(String::from_utf8_lossy(&c.body).starts_with("rendered by instance"));
    stores[0]
        .record_digest_delivered("daily", c.id, 2030)
        .await
        .expect("delivered");
    assert_eq!(
        stores[1].digest_next_due("daily").await.expect("next"),
        None
    );
    assert_eq!(queue(3000).await, 1, "the next period is queued");
    assert_eq!(
        stores[2].digest_next_due("daily").await.expect("next"),
        Some(3010)
    );
    db.drop_schema().await;
}

/// Three claims of the sink's due digest at `now`, leased until `until`, run together.
async fn futures_claims(
    stores: &[feedwatch::store::pg::PgStore],
    now: i64,
    until: i64,
) -> Vec<Option<feedwatch::store::ClaimedDigest>> {
    let tasks: Vec<_> = stores
        .iter()
        .cloned()
        .map(|s| tokio::spawn(async move { s.claim_digest("daily", now, until).await }))
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("join").expect("claim"));
    }
    out
}
