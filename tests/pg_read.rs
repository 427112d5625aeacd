//! The read commands on PostgreSQL, through the binary, against a real server (issue #15):
//! `alerts` (text and JSON), `search`, `status` (text and JSON) print what they print on
//! SQLite for the same poll committed to both stores; `status` also lists the instances;
//! `alerts --follow` prints every alert once even when a lower id commits after a higher
//! one. (`pg_cli` checks, with no server, the refusal by the other commands.) Without
//! `FEEDWATCH_TEST_POSTGRES` the tests print "skipped" and pass (see `pg_common`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test panics on a broken fixture

mod common;
mod pg_common;

use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::{json_lines, Instance};
use feedwatch::rules::{Field, Severity, TermHit};
use feedwatch::store::pg::PgStore;
use feedwatch::store::{NewAlert, NewArticle, PollRecord, Store};
use feedwatch::story;
use pg_common::{register, unix_now, TestDb};

const FEED: &str = "http://wire.example/feed";
const FEEDS_TOML: &str = "[[feeds]]\nurl = \"http://wire.example/feed\"\nname = \"Wire\"\n";
const INSTANCE: &str = "reader-test:1";

fn alert(rule: &str, severity: Severity) -> NewAlert {
    NewAlert {
        rule: rule.into(),
        severity,
        hits: vec![TermHit {
            end: 11,
            field: Field::Title,
            start: 4,
            term: "rockets".into(),
            via: None,
        }],
        snippet: "Two «rockets» struck".into(),
    }
}

fn article(item_key: i64, url: &str, title: &str, now: i64) -> NewArticle {
    let body = format!("{title}. Rockets landed near the embassy in the Green Zone at dawn.");
    NewArticle {
        item_key,
        url: Some(url.into()),
        canonical_url: None,
        title: title.into(),
        summary: "Rockets near the embassy.".into(),
        fingerprint: story::article_fingerprint(title, &body),
        body,
        body_source: "page",
        author: None,
        lang: Some("en".into()),
        published_at: Some(now - 600),
        link_canonical: None,
        alerts: vec![
            alert("green-zone", Severity::High),
            alert("rockets", Severity::Medium),
        ],
    }
}

/// One poll of `feed_id` at `now` that kept two articles (with two alerts each).
fn record(feed_id: i64, now: i64) -> PollRecord {
    let mut rec = PollRecord {
        status: Some(200),
        next_poll_at: now + 600,
        seen: vec![vec![11], vec![12]],
        articles: vec![
            article(
                11,
                "http://wire.example/a",
                "Two rockets struck the Green Zone",
                now,
            ),
            article(
                12,
                "http://wire.example/b",
                "Drone downed over the airport",
                now,
            ),
        ],
        item_count: Some(2),
        interval_secs: 600,
        ..PollRecord::new(feed_id, now)
    };
    rec.published.insert(11, now - 600);
    rec.published.insert(12, now - 600);
    rec
}

/// The same poll committed to a SQLite instance and to PostgreSQL (under a lease this test's
/// instance keeps), and an instance whose config points at the PostgreSQL schema.
struct Pair {
    lite: Instance,
    pg_inst: Instance,
    pg: PgStore,
}

async fn pair(db: &TestDb) -> Pair {
    let now = unix_now();
    let pg = db.migrated_store().await;
    let feed: i64 = pg
        .client()
        .await
        .expect("client")
        .query_one(
            "INSERT INTO feeds (url, name, created_at, next_poll_at) VALUES ($1, 'Wire', 10, 10)
             RETURNING id",
            &[&FEED],
        )
        .await
        .expect("insert feed")
        .get(0);
    register(&pg, INSTANCE, now).await;
    let claims = pg
        .claim_due_feeds(INSTANCE, now, 3600, 10, None)
        .await
        .expect("claim");
    pg.commit_poll(INSTANCE, &claims[0], &record(feed, now))
        .await
        .expect("pg commit");

    let lite = Instance::new(FEEDS_TOML);
    let mut store = Store::open(&lite.db()).expect("sqlite");
    store.sync_feeds([(FEED, Some("Wire"))], 10).expect("sync");
    let id = store.feeds().expect("feeds")[0].id;
    store.commit_poll(&record(id, now)).expect("sqlite commit");

    let pg_inst = Instance::new(FEEDS_TOML);
    let cfg = std::fs::read_to_string(pg_inst.config()).expect("config");
    let sep = if db.url.contains('?') { '&' } else { '?' };
    let url = format!("{}{sep}options=-c%20search_path%3D{}", db.url, db.schema);
    let cfg = cfg.replace("database = \"data/fw.db\"", &format!("database = {url:?}"));
    std::fs::write(pg_inst.config(), cfg).expect("write config");
    Pair { lite, pg_inst, pg }
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `args` on both instances; both must exit `code`; their outputs.
async fn both(p: &Pair, args: &[&str], code: i32) -> (String, String) {
    let (l, g) = (p.lite.run(args).await, p.pg_inst.run(args).await);
    for (what, out) in [("sqlite", &l), ("postgres", &g)] {
        assert_eq!(
            out.status.code(),
            Some(code),
            "{what} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (stdout(&l), stdout(&g))
}

#[tokio::test]
async fn alerts_search_and_status_print_on_postgres_what_they_print_on_sqlite() {
    let Some(db) = TestDb::new("read_parity").await else {
        return;
    };
    let p = pair(&db).await;

    let (l, g) = both(&p, &["alerts"], 0).await;
    assert!(l.contains("green-zone") && l.contains("Two rockets"), "{l}");
    assert_eq!(g, l, "alerts, text");
    let (l, g) = both(&p, &["alerts", "--format", "json"], 0).await;
    assert_eq!(json_lines(l.as_bytes()).len(), 4, "{l}");
    assert_eq!(g, l, "alerts, JSON");
    let (l, g) = both(&p, &["alerts", "--rule", "rockets", "--since", "1h"], 0).await;
    assert!(l.matches("rockets").count() > 1, "{l}");
    assert_eq!(g, l, "alerts of one rule");

    // Ranks and snippets differ by design (ts_rank_cd, ts_headline): the articles found and
    // their fields must not.
    let (l, g) = both(&p, &["search", "rockets", "--format", "json"], 0).await;
    let hits = |s: &str| -> Vec<serde_json::Value> {
        json_lines(s.as_bytes())
            .into_iter()
            .map(|mut v| {
                let o = v.as_object_mut().expect("object");
                assert!(o.remove("score").is_some() && o.remove("snippet").is_some());
                v
            })
            .collect()
    };
    assert_eq!(hits(&l).len(), 2, "{l}");
    assert_eq!(hits(&g), hits(&l), "search hits");
    let (l, g) = both(&p, &["search", "airport", "NOT", "embassy"], 1).await;
    assert_eq!(
        (l.trim(), g.trim()),
        ("no articles matched", "no articles matched")
    );
    let bad = p.pg_inst.run(&["search", "url:x"]).await;
    assert_eq!(bad.status.code(), Some(2), "a query neither store runs");

    // backtest reads the same kept articles and unmatched texts from either store.
    let (l, g) = both(&p, &["backtest", "rockets", "--format", "json"], 0).await;
    assert!(!l.is_empty(), "backtest found nothing");
    assert_eq!(g, l, "backtest, JSON");

    let (l, g) = both(&p, &["status"], 0).await;
    let table = |s: &str| s[s.find("FEED ").expect("feed table")..].to_string();
    assert_eq!(table(&g), table(&l), "status, feed table");
    assert!(g.contains(": ok (PostgreSQL)"), "{g}");
    assert!(
        g.contains(&format!("instances: 1\n  {INSTANCE}  started "))
            && g.contains("holds 1 feed(s): Wire"),
        "{g}"
    );
    if let Some(pw) = db.url.split('@').next().and_then(|s| s.rsplit(':').next()) {
        assert!(!g.contains(&format!(":{pw}@")), "password masked: {g}");
    }

    let (l, g) = both(&p, &["status", "--format", "json"], 0).await;
    let (lj, gj) = (json_lines(l.as_bytes()), json_lines(g.as_bytes()));
    assert_eq!(gj[1..], lj[1..], "status, feed lines");
    let inst = &gj[0]["instances"][0];
    assert_eq!(inst["id"], INSTANCE, "{}", gj[0]);
    assert_eq!(inst["feeds"], serde_json::json!(["Wire"]));
    assert!(inst["heartbeat_age_secs"]
        .as_i64()
        .is_some_and(|s| (0..60).contains(&s)));
    assert!(
        lj[0].get("instances").is_none(),
        "SQLite's shape is unchanged"
    );
    let keys = |v: &serde_json::Value| {
        v["database"]
            .as_object()
            .expect("database")
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&gj[0]), keys(&lj[0]), "the same database keys");

    drop(p);
    db.drop_schema().await;
}

/// Inserts an alert on article `a` under `rule` in `tx`; its id.
async fn insert_alert(tx: &tokio_postgres::Transaction<'_>, rule: &str) -> i64 {
    tx.query_one(
        "INSERT INTO alerts (article_id, story_id, rule, severity, created_at, terms, snippet)
         SELECT id, story_id, $1, 'high', $2, '[]', 'late' FROM articles ORDER BY id LIMIT 1
         RETURNING id",
        &[&rule, &unix_now()],
    )
    .await
    .expect("insert alert")
    .get(0)
}

/// Waits until `d`'s stdout holds `n` JSON lines; them.
async fn lines(d: &Daemon, n: usize) -> Vec<serde_json::Value> {
    let start = Instant::now();
    loop {
        let got = json_lines(d.stdout().as_bytes());
        if got.len() >= n || start.elapsed() > Duration::from_secs(20) {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Two connections: the one holding the lower id commits after the follower has read the
/// higher one. `--follow` prints both, each once.
#[tokio::test]
async fn follow_prints_an_alert_committed_late_with_a_lower_id() {
    let Some(db) = TestDb::new("read_follow").await else {
        return;
    };
    let p = pair(&db).await;
    let mut follow = Daemon::spawn(&p.pg_inst, &["alerts", "--follow", "--format", "json"]);
    assert_eq!(lines(&follow, 4).await.len(), 4, "the stored alerts first");

    let mut early = p.pg.client().await.expect("client");
    let early = early.transaction().await.expect("begin");
    let low = insert_alert(&early, "late-low").await;
    let mut other = p.pg.client().await.expect("client");
    let other = other.transaction().await.expect("begin");
    let high = insert_alert(&other, "late-high").await;
    assert!(low < high);
    other.commit().await.expect("commit high");
    let got = lines(&follow, 5).await;
    assert_eq!(got.len(), 5, "the higher id, committed: {got:?}");
    assert_eq!(got[4]["rule"], "late-high");
    tokio::time::sleep(Duration::from_millis(1500)).await; // a read or two past it
    early.commit().await.expect("commit low");
    let got = lines(&follow, 6).await;
    tokio::time::sleep(Duration::from_millis(2500)).await; // nothing is printed twice
    let got_after = json_lines(follow.stdout().as_bytes());
    follow.kill();
    assert_eq!(got.len(), 6, "the lower id, committed late: {got:?}");
    assert_eq!(got_after.len(), 6, "each alert once: {got_after:?}");
    let rules: Vec<&str> = got_after
        .iter()
        .filter_map(|v| v["rule"].as_str())
        .collect();
    assert_eq!(rules[4..], ["late-high", "late-low"]);
    drop(p);
    db.drop_schema().await;
}

/// The cursor itself: a late commit below the last id read comes at the next read, nothing
/// comes twice, and what it remembers stays bounded by the transactions in flight.
#[tokio::test]
async fn the_follow_cursor_reads_in_commit_order() {
    let Some(db) = TestDb::new("read_cursor").await else {
        return;
    };
    let p = pair(&db).await;
    let (first, mut cursor) = p.pg.alerts_to_follow(0, None).await.expect("first");
    assert_eq!(first.len(), 4);
    let mut a = p.pg.client().await.expect("client");
    let a = a.transaction().await.expect("begin");
    let low = insert_alert(&a, "low").await;
    let mut b = p.pg.client().await.expect("client");
    let b = b.transaction().await.expect("begin");
    let high = insert_alert(&b, "high").await;
    b.commit().await.expect("commit");
    let ids = |v: Vec<feedwatch::store::AlertRecord>| v.iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(
        ids(p.pg.follow_alerts(&mut cursor).await.expect("read")),
        [high]
    );
    assert_eq!(
        ids(p.pg.follow_alerts(&mut cursor).await.expect("read")),
        Vec::<i64>::new()
    );
    a.commit().await.expect("commit");
    assert_eq!(
        ids(p.pg.follow_alerts(&mut cursor).await.expect("read")),
        [low]
    );
    assert_eq!(
        ids(p.pg.follow_alerts(&mut cursor).await.expect("read")),
        Vec::<i64>::new()
    );
    assert!(cursor.remembered() <= 6, "{}", cursor.remembered());
    drop(p);
    db.drop_schema().await;
}
