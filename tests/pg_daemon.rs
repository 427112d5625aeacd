//! `poll --once` on PostgreSQL through the real binary: the seed article end to end (feed
//! item → page → extracted text → alert, in the instance's alert log and in `feedwatch
//! alerts`), as `e2e` does on SQLite; and two instances started at the same moment on one
//! database and one set of feeds, which must poll every feed once between them and create
//! every alert once across their two logs. Skipped without `FEEDWATCH_TEST_POSTGRES`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test panics on a broken fixture

mod common;
mod pg_common;

use std::collections::BTreeSet;
use std::process::{Child, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::seed::{assert_only_the_seed_alerted, seed_body_paragraphs, serve_seed};
use common::slow::SlowFeeds;
use common::stories::{OTHER, WIRE};
use common::{assert_ok, command, rss, Instance, TestServer};
use pg_common::TestDb;
use serde_json::Value;

/// An instance (its own folder and alert log) whose database is this test's schema.
fn pg_instance(db: &TestDb, extra: &str) -> Instance {
    Instance::with_database(extra, &db.schema_url())
}

/// Starts `poll --once` for `inst`, its output captured.
fn start_poll(inst: &Instance) -> Child {
    let mut cmd = command([std::ffi::OsStr::new("--config"), inst.config().as_os_str()]);
    cmd.args(["poll", "--once"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().expect("start feedwatch")
}

/// Waits for `child` at most [`LIMIT`]: a `poll --once` that never ends (polling a feed
/// again and again) fails the test instead of hanging it.
fn finish(mut child: Child) -> Output {
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "poll --once did not end within {LIMIT:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

/// Longest a `poll --once` here may take.
const LIMIT: Duration = Duration::from_secs(60);

/// `poll --once` for `inst`, to completion (within [`LIMIT`]).
async fn poll_once(inst: &Instance) -> Output {
    let child = start_poll(inst);
    tokio::task::spawn_blocking(move || finish(child))
        .await
        .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_article_end_to_end_on_postgres() {
    let Some(db) = TestDb::new("daemon_seed").await else {
        return;
    };
    let srv = TestServer::start().await;
    let seed_url = serve_seed(&srv);
    let inst = pg_instance(
        &db,
        &format!(
            "[[feeds]]\nurl = \"{}\"\nname = \"The New Arab\"\nfull_text = true\n",
            srv.url("/rss")
        ),
    );

    assert_ok(&poll_once(&inst).await, "poll --once");

    // Both default rules alert on the seed; nothing else alerts.
    let alerts = inst.alerts().await;
    assert_only_the_seed_alerted(&alerts, &seed_url);
    // This instance's alert log holds the same two alerts, as `alerts` prints them.
    let log = inst.log_lines();
    assert_eq!(ids(&log), ids(&alerts), "{log:#?}");
    assert_eq!(
        log, alerts,
        "the log line is the `alerts --format json` line"
    );

    // The seed is kept with its extracted body.
    let bodies: Vec<String> = db.column("SELECT body FROM articles").await;
    assert_eq!(bodies.len(), 1, "only the seed is kept");
    let normalised = bodies[0].split_whitespace().collect::<Vec<_>>().join(" ");
    for para in seed_body_paragraphs() {
        assert!(normalised.contains(&para), "body lacks paragraph {para:?}");
    }
    assert!(
        !bodies[0].contains("Read also"),
        "furniture in {}",
        bodies[0]
    );

    let status = inst.status().await;
    assert_eq!(status[0]["last_status"], 200);
    assert_eq!(status[0]["items_seen"], 4);
    assert_eq!(status[0]["articles_kept"], 1);
    assert_eq!(status[0]["last_error"], Value::Null);

    // Stopped cleanly, owing nothing: it gave its lease back and left the membership, so
    // `status` does not list it as dead.
    let instances: Vec<String> = db.column("SELECT id FROM instances").await;
    assert!(instances.is_empty(), "{instances:?}");
    let held: Vec<i64> = db
        .column("SELECT id FROM feeds WHERE lease_owner IS NOT NULL")
        .await;
    assert!(held.is_empty(), "leases left: {held:?}");

    // Another `poll --once` polls every feed once again, as on SQLite, though none is due:
    // a conditional GET answered 304, and no alert repeated.
    let before = srv.requests("/rss");
    assert_ok(&poll_once(&inst).await, "second poll --once");
    assert_eq!(srv.requests("/rss"), before + 1, "polled once more");
    assert_eq!(srv.hits("/rss", 304), 1, "the poll must be conditional");
    assert_eq!(inst.alerts().await.len(), 2);
    assert_eq!(inst.log_lines().len(), 2);
    db.drop_schema().await;
}

fn ids(alerts: &[Value]) -> BTreeSet<i64> {
    alerts.iter().filter_map(|a| a["id"].as_i64()).collect()
}

const FEEDS: usize = 12;

/// Twelve feeds: each carries its own copy of the wire story (one story: alerts once per
/// rule), three carry one other story under the same link (one item: alerts once per
/// rule), and each has two items that alert on nothing.
async fn serve_feeds() -> (String, Arc<SlowFeeds>) {
    let mut feeds = SlowFeeds {
        delay: Duration::from_millis(300),
        ..SlowFeeds::default()
    };
    let base = "http://news.example";
    for i in 0..FEEDS {
        let wire_link = format!("{base}/wire/{i}");
        let quiet: Vec<(String, String)> = (0..2)
            .map(|k| {
                (
                    format!("Garden notes {i}-{k}"),
                    format!("{base}/garden/{i}/{k}"),
                )
            })
            .collect();
        let other_link = format!("{base}/other");
        let mut items: Vec<(&str, &str, Option<&str>)> = vec![(
            "Rockets strike Baghdad's Green Zone near US embassy",
            &wire_link,
            Some(WIRE),
        )];
        if i % 5 == 0 {
            items.push(("Drone shot down over Green Zone", &other_link, Some(OTHER)));
        }
        for (t, l) in &quiet {
            items.push((t, l, Some("Plant bulbs in autumn and water them well.")));
        }
        feeds
            .bodies
            .insert(format!("/feed/{i}"), rss(&format!("Feed {i}"), &items));
    }
    feeds.serve().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_poll_each_feed_once_and_alert_once() {
    let Some(db) = TestDb::new("daemon_two").await else {
        return;
    };
    let (srv, feeds) = serve_feeds().await;
    let list: String = (0..FEEDS)
        .map(|i| format!("[[feeds]]\nurl = \"{srv}/feed/{i}\"\nname = \"Feed {i}\"\n"))
        .collect();
    let (a, b) = (pg_instance(&db, &list), pg_instance(&db, &list));
    // Two slots each: twelve slow feeds keep both busy at the same time.
    for inst in [&a, &b] {
        let cfg = std::fs::read_to_string(inst.config()).expect("config");
        let cfg = cfg.replace("concurrency = 4", "concurrency = 2");
        std::fs::write(inst.config(), cfg).expect("write config");
    }
    let (pa, pb) = (start_poll(&a), start_poll(&b));
    let outs = tokio::task::spawn_blocking(move || (finish(pa), finish(pb)))
        .await
        .expect("join");
    assert_ok(&outs.0, "instance a");
    assert_ok(&outs.1, "instance b");

    // Every feed polled exactly once between the two.
    let hits = feeds.hits();
    for i in 0..FEEDS {
        assert_eq!(
            hits.get(&format!("/feed/{i}")),
            Some(&1),
            "feed {i}: {hits:?}"
        );
    }
    let instances: Vec<String> = db.column("SELECT id FROM instances").await;
    assert!(
        instances.is_empty(),
        "both left when they stopped: {instances:?}"
    );

    // Every alert once: in exactly one of the two logs, and all of them in the database.
    let (log_a, log_b) = (ids(&a.log_lines()), ids(&b.log_lines()));
    assert!(
        log_a.is_disjoint(&log_b),
        "in both logs: {log_a:?} {log_b:?}"
    );
    assert_eq!(
        a.log_lines().len() + b.log_lines().len(),
        log_a.len() + log_b.len()
    );
    let stored = a.alerts().await;
    let all: BTreeSet<i64> = log_a.union(&log_b).copied().collect();
    assert_eq!(all, ids(&stored), "{stored:#?}");
    // One alert per story and rule: the wire story's twelve copies and the other story's
    // one item shared by three feeds alert once per rule each.
    let per_story: BTreeSet<(String, String)> = stored
        .iter()
        .map(|a| {
            let story = if a["title"].as_str().is_some_and(|t| t.starts_with("Drone")) {
                "other"
            } else {
                "wire"
            };
            (
                story.to_string(),
                a["rule"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        per_story.len(),
        stored.len(),
        "an alert repeated: {stored:#?}"
    );
    assert_eq!(
        per_story.iter().filter(|(s, _)| s == "wire").count(),
        2,
        "{per_story:?}"
    );
    println!(
        "instance a logged {} alerts, b {}: {per_story:?}",
        log_a.len(),
        log_b.len()
    );
    db.drop_schema().await;
}

/// A TCP proxy in front of the test server that the test can cut (every connection
/// dropped, new ones closed at once) and restore: a partition from the database, or a
/// database restart, as an instance sees it.
struct Proxy {
    addr: std::net::SocketAddr,
    open: Arc<std::sync::atomic::AtomicBool>,
    links: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let open = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (o, l) = (open.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !o.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection closed
                }
                let target = target.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut out) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
                l.lock().expect("lock").push(link);
            }
        });
        Proxy { addr, open, links }
    }

    fn cut(&self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
        for link in self.links.lock().expect("lock").drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// `run` through a cut connection to the database: `/healthz` reports the `store_commit`
/// fault while it lasts, the process keeps running, and once the database is back the
/// fault clears and a feed made due is polled again; a clean stop gives the lease back.
/// The instance runs under a configured id, which labels its metrics, and which a second
/// process cannot take while it lives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_survives_a_lost_database_connection() {
    use common::{get, wait_for, wait_health, Daemon};
    let Some(db) = TestDb::new("daemon_cut").await else {
        return;
    };
    let params: tokio_postgres::Config = db.url.parse().expect("test URL");
    let host = match params.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        _ => panic!("FEEDWATCH_TEST_POSTGRES must be a TCP URL"),
    };
    let port = params.get_ports().first().copied().unwrap_or(5432);
    let proxy = Proxy::start(format!("{host}:{port}")).await;
    let srv = TestServer::start().await;
    serve_seed(&srv);
    let inst = pg_instance(
        &db,
        &format!(
            "[[feeds]]\nurl = \"{}\"\nfull_text = true\n\n[http]\nlisten = \"127.0.0.1:0\"\n",
            srv.url("/rss")
        ),
    );
    let cfg = std::fs::read_to_string(inst.config()).expect("config");
    let through = format!("@{}/", proxy.addr);
    let cfg = cfg.replace(&format!("@{host}:{port}/"), &through).replace(
        "[storage]\n",
        "[storage]\nconnect_timeout = \"2s\"\nstatement_timeout = \"5s\"\ninstance_id = \"fw-cut-1\"\n",
    );
    assert!(cfg.contains(&through), "{cfg}");
    std::fs::write(inst.config(), cfg).expect("write config");

    let mut d = Daemon::start(&inst, &["--grace", "2s"]);
    let http = d.http_addr().await.port();
    wait_for(
        "the seed's alerts in the log",
        Duration::from_secs(30),
        || inst.log_lines().len() == 2,
    )
    .await;
    wait_health(http, 200, "ok", Duration::from_secs(10)).await;

    proxy.cut();
    let body = wait_health(http, 503, "store_commit", Duration::from_secs(30)).await;
    assert!(body.contains("PostgreSQL"), "{body}");
    assert!(
        d.try_wait().is_none(),
        "exited on a lost database:\n{}",
        d.log()
    );
    let (_, metrics) = get(http, "/metrics").await;
    // Every series carries the configured instance id.
    assert!(
        metrics
            .contains("feedwatch_fault{feedwatch_instance=\"fw-cut-1\",fault=\"store_commit\"} 1"),
        "{metrics}"
    );
    let ids: Vec<String> = db.column("SELECT id FROM instances").await;
    assert_eq!(ids, ["fw-cut-1"]);

    proxy.restore();
    wait_health(http, 200, "ok", Duration::from_secs(60)).await;
    let before = srv.requests("/rss");
    let _: Vec<i64> = db
        .column("UPDATE feeds SET next_poll_at = 0 RETURNING id")
        .await;
    wait_for("the feed polled again", Duration::from_secs(30), || {
        srv.requests("/rss") > before
    })
    .await;
    let twin = inst.run(&["poll", "--once"]).await;
    let stderr = String::from_utf8_lossy(&twin.stderr);
    assert_ne!(twin.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("instance id \"fw-cut-1\" is in use by a live instance"),
        "{stderr}"
    );
    d.stop().await;
    assert_eq!(inst.log_lines().len(), 2, "no alert repeated");
    let held: Vec<i64> = db
        .column("SELECT id FROM feeds WHERE lease_owner IS NOT NULL")
        .await;
    assert!(held.is_empty(), "leases left: {held:?}\n{}", d.log());
    db.drop_schema().await;
}

/// Retention on PostgreSQL through the binary: an article past `article_retention` with no
/// alert goes, one with an alert stays, the newest stays, a seen key past `seen_retention` goes, a recent one
/// stays; the pass runs at the start of `poll --once`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_removes_what_is_past_its_horizon_on_postgres() {
    let Some(db) = TestDb::new("daemon_retention").await else {
        return;
    };
    let srv = TestServer::start().await;
    serve_seed(&srv);
    let inst = pg_instance(
        &db,
        &format!(
            "[[feeds]]\nurl = \"{}\"\nfull_text = true\n",
            srv.url("/rss")
        ),
    );
    let cfg = std::fs::read_to_string(inst.config()).expect("config");
    let cfg = cfg.replace("[storage]\n", "[storage]\narticle_retention = \"30d\"\n");
    std::fs::write(inst.config(), cfg).expect("write config");
    assert_ok(&poll_once(&inst).await, "poll --once");
    assert_eq!(inst.log_lines().len(), 2);

    let old = chrono::Utc::now().timestamp() - 200 * 86_400;
    // Two old articles without alerts, and the seed's (with alerts) made old too.
    let _: Vec<i64> = db
        .column(&format!(
            "INSERT INTO articles (item_key, feed_id, title, summary, body, body_source, fetched_at)
             SELECT k, feed_id, 'old ' || k, '', '', 'feed', {old}
             FROM articles, (VALUES (4242), (4243)) AS v(k) ORDER BY k RETURNING id"
        ))
        .await;
    let sql = format!("UPDATE articles SET fetched_at = {old} WHERE item_key < 4242 RETURNING id");
    let _: Vec<i64> = db.column(&sql).await;
    let _: Vec<i64> = db
        .column(&format!(
            "INSERT INTO seen_items (key, feed_id, last_present, published_at)
             SELECT 777, feed_id, {old}, {old} FROM articles LIMIT 1 RETURNING key"
        ))
        .await;
    let keys_before: Vec<i64> = db.column("SELECT key FROM seen_items").await;
    assert!(keys_before.contains(&777));

    assert_ok(&poll_once(&inst).await, "second poll --once");
    // The seed's article has alerts: it stays. Of the two old ones without, the newest
    // article stays whatever its age (as on SQLite).
    let titles: Vec<String> = db.column("SELECT title FROM articles ORDER BY id").await;
    assert_eq!(titles.len(), 2, "{titles:?}");
    assert!(titles[0].contains("US embassy"), "{titles:?}");
    assert_eq!(
        titles[1], "old 4243",
        "the old article without an alert went"
    );
    let keys: Vec<i64> = db.column("SELECT key FROM seen_items").await;
    assert!(!keys.contains(&777), "the old seen key went");
    assert_eq!(keys.len(), keys_before.len() - 1, "the recent keys stayed");
    assert_eq!(
        inst.alerts().await.len(),
        2,
        "alerts are kept (alert_retention forever)"
    );
    db.drop_schema().await;
}

/// On a shared database, a config that drops a feed marks it removed for every instance: the
/// instance says so in its journal, naming the feed, so a config left behind on one machine
/// does not stop the fleet polling it without a word. A run whose config drops nothing says
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_that_drops_a_feed_says_it_is_removed_for_every_instance() {
    let Some(db) = TestDb::new("daemon_dropped").await else {
        return;
    };
    let srv = TestServer::start().await;
    serve_seed(&srv);
    let (kept, dropped) = (srv.url("/rss"), srv.url("/rss?edition=2"));
    let both = pg_instance(
        &db,
        &format!("[[feeds]]\nurl = \"{kept}\"\n\n[[feeds]]\nurl = \"{dropped}\"\n"),
    );
    assert_ok(&poll_once(&both).await, "poll --once with both feeds");

    let one = pg_instance(&db, &format!("[[feeds]]\nurl = \"{kept}\"\n"));
    let out = poll_once(&one).await;
    assert_ok(&out, "poll --once with one feed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warning = "does not list feeds the database had: marked removed";
    let line = stderr.lines().find(|l| l.contains(warning));
    let line = line.unwrap_or_else(|| panic!("no warning: {stderr}"));
    assert!(
        line.contains(&dropped) && line.contains("feeds=1"),
        "{line}"
    );
    let removed: Vec<String> = db
        .column("SELECT url FROM feeds WHERE removed_at IS NOT NULL")
        .await;
    assert_eq!(removed, [dropped]);

    let again = poll_once(&one).await;
    assert_ok(&again, "poll --once again");
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(!stderr.contains(warning), "{stderr}");
    db.drop_schema().await;
}
