//! Retention of articles, alerts, story fingerprints, sink deliveries, page failures and
//! removed feeds (issue #14; the rules are in `src/store/retention.rs`), through the store
//! API and the real binary (`db prune`, `db stats`, `search`, the daemon's writer).
//!
//! Time is moved without waiting: rows are committed with times in the past, which is what
//! the database holds after that much time.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test panics on a broken fixture

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Daemon, Instance};
use feedwatch::rules::Severity;
use feedwatch::store::retention::{Kind, Policy};
use feedwatch::store::{NewAlert, NewArticle, PollRecord, Store};
use feedwatch::story;

const DAY: i64 = 86_400;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

const FEED: &str = "http://feed.invalid/rss";

/// A poll at `at` keeping one article (item `key`) that raises an alert per rule.
fn article(feed: i64, key: i64, at: i64, title: &str, rules: &[&str]) -> PollRecord {
    let body = format!("{title}: rockets struck the compound overnight, officials said.");
    PollRecord {
        seen: vec![vec![key]],
        articles: vec![NewArticle {
            item_key: key,
            url: Some(format!("http://feed.invalid/{key}")),
            canonical_url: None,
            title: title.into(),
            summary: String::new(),
            body: body.clone(),
            body_source: "feed",
            author: None,
            lang: None,
            published_at: Some(at),
            link_canonical: Some(format!("http://feed.invalid/{key}")),
            fingerprint: story::article_fingerprint(title, &body),
            alerts: rules
                .iter()
                .map(|r| NewAlert {
                    rule: (*r).into(),
                    severity: Severity::High,
                    hits: vec![],
                    snippet: "…".into(),
                })
                .collect(),
        }],
        ..PollRecord::new(feed, at)
    }
}

fn count(db: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(db)
        .expect("open")
        .query_row(sql, [], |r| r.get(0))
        .expect("count")
}

/// Every alert marked delivered (to the log) at its creation time.
fn deliver_all(s: &mut Store) {
    let ids: Vec<i64> = s
        .alerts(0, None)
        .expect("alerts")
        .iter()
        .map(|a| a.id)
        .collect();
    s.mark_delivered(&ids, now() - 500 * DAY).expect("mark");
}

/// A store with feed `FEED` and: an old article ("Ancient") with an old alert, an old
/// article ("Elder") with a young alert, a young article ("Fresh") with an alert, and the
/// newest article ("Newest"); every alert delivered.
fn populated(db: &Path) -> Store {
    let mut s = Store::open(db).expect("open");
    let t = now();
    s.sync_feeds([(FEED, Some("Wire"))], t - 600 * DAY)
        .expect("sync");
    let f = s.feeds().expect("feeds")[0].id;
    s.commit_poll(&article(f, 1, t - 400 * DAY, "Ancient siege", &["r1"]))
        .expect("commit");
    s.commit_poll(&article(f, 2, t - 300 * DAY, "Elder embassy", &[]))
        .expect("commit");
    s.commit_poll(&article(f, 3, t - DAY, "Fresh ceasefire", &["r1"]))
        .expect("commit");
    // The elder article gains an alert today (a new rule matched it again).
    s.commit_poll(&article(f, 2, t - DAY, "Elder embassy", &["r2"]))
        .expect("commit");
    s.commit_poll(&article(f, 4, t - 2 * DAY, "Newest convoy", &[]))
        .expect("commit");
    deliver_all(&mut s);
    s
}

fn policy(articles: Option<u64>, alerts: Option<u64>) -> Policy {
    let d = |days: u64| Duration::from_secs(days * 86_400);
    Policy {
        articles: articles.map(d),
        alerts: alerts.map(d),
        deliveries: d(30),
        seen: d(3653),
    }
}

fn titles(db: &Path) -> Vec<String> {
    let c = rusqlite::Connection::open(db).expect("open");
    let mut st = c
        .prepare("SELECT title FROM articles ORDER BY id")
        .expect("prepare");
    let rows = st.query_map([], |r| r.get(0)).expect("query");
    rows.collect::<Result<_, _>>().expect("rows")
}

fn fts_hits(db: &Path, word: &str) -> i64 {
    let c = rusqlite::Connection::open(db).expect("open");
    c.query_row(
        "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH ?1",
        [word],
        |r| r.get(0),
    )
    .expect("match")
}

#[test]
fn articles_and_alerts_are_kept_by_default() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("f.db");
    let mut s = populated(&db);
    let removed = s
        .prune_all(&policy(None, None), now(), |_, _, _| {})
        .expect("prune");
    let by = |k: Kind| removed.iter().find(|p| p.kind == k).expect("kind").rows;
    assert_eq!((by(Kind::Articles), by(Kind::Alerts)), (0, 0));
    assert_eq!(titles(&db).len(), 4);
    assert_eq!(count(&db, "SELECT count(*) FROM alerts"), 3);
    // Fingerprints past the story window go even so; the articles stay searchable.
    assert_eq!(by(Kind::Fingerprints), 2);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM articles WHERE minhash IS NOT NULL"
        ),
        2
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM article_bands b JOIN articles a ON a.id = b.article_id
             WHERE a.fetched_at < strftime('%s', 'now') - 8 * 86400"
        ),
        0
    );
    assert_eq!(fts_hits(&db, "ancient"), 1);
}

#[test]
fn old_articles_and_alerts_go_with_their_index_rows_but_a_young_alert_keeps_its_article() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("f.db");
    let mut s = populated(&db);
    let due = s
        .retention_due(&policy(Some(30), Some(30)), now())
        .expect("due");
    let rows = |k: Kind| due.iter().find(|d| d.kind == k).expect("kind").rows;
    // Before the alerts go, only the article without any alert is due.
    assert_eq!((rows(Kind::Alerts), rows(Kind::Articles)), (1, 0));
    s.prune_all(&policy(Some(30), Some(30)), now(), |_, _, _| {})
        .expect("prune");
    assert_eq!(
        titles(&db),
        ["Elder embassy", "Fresh ceasefire", "Newest convoy"]
    );
    assert_eq!(count(&db, "SELECT count(*) FROM alerts"), 2);
    assert_eq!(fts_hits(&db, "ancient"), 0, "its search-index rows went");
    assert_eq!(fts_hits(&db, "elder"), 1);
    assert_eq!(count(&db, "SELECT count(*) FROM articles_fts"), 3);
}

#[test]
fn an_undelivered_alert_one_owed_to_a_sink_and_the_newest_alert_stay() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("f.db");
    let mut s = Store::open(&db).expect("open");
    let t = now();
    s.sync_feeds([(FEED, None)], t - 600 * DAY).expect("sync");
    let f = s.feeds().expect("feeds")[0].id;
    for (key, age, title) in [
        (1, 400, "One"),
        (2, 300, "Two"),
        (3, 250, "Three"),
        (4, 200, "Four"),
    ] {
        s.commit_poll(&article(f, key, t - age * DAY, title, &["r"]))
            .expect("commit");
    }
    let ids: Vec<i64> = s
        .alerts(0, None)
        .expect("alerts")
        .iter()
        .map(|a| a.id)
        .collect();
    // The second never reached the log; a sink still owes the third.
    s.mark_delivered(&[ids[0], ids[2], ids[3]], t - 100 * DAY)
        .expect("mark");
    rusqlite::Connection::open(&db)
        .expect("open")
        .execute_batch(&format!(
            "INSERT INTO sinks (name, created_at, cursor) VALUES ('hook', 0, 0);
             INSERT INTO sink_deliveries (alert_id, sink, next_attempt_at) VALUES ({}, 'hook', 0);",
            ids[2]
        ))
        .expect("pending delivery");
    s.prune_all(&policy(Some(30), Some(30)), t, |_, _, _| {})
        .expect("prune");
    let left: Vec<i64> = s
        .alerts(0, None)
        .expect("alerts")
        .iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(left, ids[1..], "undelivered, owed and newest stay");
    assert_eq!(titles(&db), ["Two", "Three", "Four"]);
    assert_eq!(count(&db, "SELECT count(*) FROM sink_deliveries"), 1);
}

/// Sink deliveries: finished ones past the horizon go, a pending one never does.
#[test]
fn finished_deliveries_go_and_pending_ones_stay() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("f.db");
    let mut s = populated(&db);
    let t = now();
    let c = rusqlite::Connection::open(&db).expect("open");
    c.execute_batch(&format!(
        "INSERT INTO sinks (name, created_at, cursor) VALUES ('hook', 0, 0);
         INSERT INTO sink_deliveries (alert_id, sink, next_attempt_at, delivered_at, failed_at)
         SELECT id, 'hook', 0,
                CASE id % 4 WHEN 0 THEN {old} WHEN 1 THEN {young} ELSE NULL END,
                CASE id % 4 WHEN 2 THEN {old} ELSE NULL END
         FROM alerts;",
        old = t - 60 * DAY,
        young = t - DAY
    ))
    .expect("deliveries");
    let before: Vec<(i64, Option<i64>, Option<i64>)> = {
        let mut st = c
            .prepare(
                "SELECT alert_id, delivered_at, failed_at FROM sink_deliveries ORDER BY alert_id",
            )
            .expect("prepare");
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("query");
        rows.collect::<Result<_, _>>().expect("rows")
    };
    let pending = before
        .iter()
        .filter(|(_, d, f)| d.is_none() && f.is_none())
        .count();
    let old = before
        .iter()
        .filter(|(_, d, f)| d.or(*f).is_some_and(|x| x < t - 30 * DAY))
        .count();
    assert!(pending > 0 && old > 0, "{before:?}");
    s.prune_all(&policy(None, None), t, |_, _, _| {})
        .expect("prune");
    assert_eq!(
        count(&db, "SELECT count(*) FROM sink_deliveries"),
        i64::try_from(before.len() - old).unwrap()
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM sink_deliveries WHERE delivered_at IS NULL AND failed_at IS NULL"
        ),
        i64::try_from(pending).unwrap()
    );
}

/// Scheduled digests follow `delivery_retention` too: each row holds a rendered body (tens
/// of kB of HTML), so an hourly digest would otherwise grow the database without end. A
/// pending or young one stays.
#[test]
fn finished_digest_deliveries_go_and_pending_ones_stay() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("f.db");
    let mut s = populated(&db);
    let t = now();
    let c = rusqlite::Connection::open(&db).expect("open");
    c.execute_batch(&format!(
        "INSERT INTO sinks (name, created_at, cursor) VALUES ('daily', 0, 0);
         INSERT INTO digest_deliveries (sink, period_start, period_end, format, body, created_at,
                                        next_attempt_at, delivered_at, failed_at)
         VALUES ('daily', 0, 1, 'json', x'7b7d', {old}, 0, {old}, NULL),
                ('daily', 1, 2, 'json', x'7b7d', {old}, 0, NULL, {old}),
                ('daily', 2, 3, 'json', x'7b7d', {old}, 0, NULL, NULL),
                ('daily', 3, 4, 'json', x'7b7d', {young}, 0, {young}, NULL);",
        old = t - 60 * DAY,
        young = t - DAY
    ))
    .expect("digests");
    s.prune_all(&policy(None, None), t, |_, _, _| {})
        .expect("prune");
    let mut st = c
        .prepare("SELECT period_end FROM digest_deliveries ORDER BY period_end")
        .expect("prepare");
    let left: Vec<i64> = st
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(left, [3, 4], "the pending and the young delivery stay");
}

/// A feed removed from the config: its row outlives the horizon while kept articles or seen
/// keys (of an item that moved to another feed) reference it, and goes once nothing does.
#[test]
fn a_removed_feeds_row_goes_after_the_horizon_but_never_takes_articles_or_keys_along() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("f.db");
    let mut s = Store::open(&db).expect("open");
    let t = now();
    let (a, b, c, d) = (
        "http://a.invalid/",
        "http://b.invalid/",
        "http://c.invalid/",
        "http://d.invalid/",
    );
    s.sync_feeds([(a, None), (b, None), (c, None), (d, None)], t - 100 * DAY)
        .expect("sync");
    let id = |s: &Store, u: &str| s.feed(u).expect("feed").expect("row").id;
    // A keeps an article; B saw an item that later moved to D; C saw nothing.
    s.commit_poll(&article(id(&s, a), 1, t - 90 * DAY, "Kept", &["r"]))
        .expect("commit");
    s.commit_poll(&PollRecord {
        seen: vec![vec![77]],
        ..PollRecord::new(id(&s, b), t - 90 * DAY)
    })
    .expect("commit");
    s.commit_poll(&article(id(&s, d), 2, t - DAY, "Newest", &[]))
        .expect("commit");
    deliver_all(&mut s);
    // A, B and C leave the config 40 days ago.
    s.sync_feeds([(d, None)], t - 40 * DAY).expect("sync");
    s.prune_all(&policy(None, None), t, |_, _, _| {})
        .expect("prune");
    assert!(s.feed(a).expect("feed").is_some(), "its article keeps it");
    assert!(s.feed(b).expect("feed").is_some(), "a seen key keeps it");
    assert!(s.feed(c).expect("feed").is_none(), "nothing keeps it");
    assert_eq!(titles(&db), ["Kept", "Newest"]);
    assert_eq!(s.alerts(0, None).expect("alerts").len(), 1);
    assert!(s.unseen(&[77]).expect("unseen").is_empty());
    assert_eq!(
        count(
            &db,
            "SELECT (SELECT count(*) FROM seen_items WHERE key = 77)
                  + (SELECT count(*) FROM seen_staged WHERE key = 77)"
        ),
        1
    );
    // A feed back in the config is live again; one removed only 10 days ago stays.
    s.sync_feeds([(a, None)], t - 10 * DAY).expect("sync");
    s.prune_all(&policy(None, None), t, |_, _, _| {})
        .expect("prune");
    assert!(s.feed(d).expect("feed").is_some());
}

/// Page failures untouched for 30 days go; a recent one still gates its retries.
#[test]
fn old_page_failures_go_and_recent_ones_stay() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("f.db");
    let mut s = Store::open(&db).expect("open");
    let t = now();
    s.sync_feeds([(FEED, None)], t - 100 * DAY).expect("sync");
    let f = s.feeds().expect("feeds")[0].id;
    for (key, at) in [(5, t - 40 * DAY), (6, t - DAY)] {
        s.commit_poll(&PollRecord {
            deferred: vec![(key, "timed out".into())],
            ..PollRecord::new(f, at)
        })
        .expect("commit");
    }
    s.prune_all(&policy(None, None), t, |_, _, _| {})
        .expect("prune");
    assert_eq!(s.page_attempts(5).expect("attempts"), 0);
    assert_eq!(s.page_attempts(6).expect("attempts"), 1);
}

/// Sets article and alert retention to 30 days in the instance's `[storage]` table.
fn keep_30_days(inst: &Instance) {
    let cfg = std::fs::read_to_string(inst.config()).expect("read");
    let cfg = cfg.replace(
        "[storage]\n",
        "[storage]\narticle_retention = \"30d\"\nalert_retention = \"30d\"\n",
    );
    std::fs::write(inst.config(), cfg).expect("write");
}

/// The binary: `db stats` counts what is due, `db prune` removes it with progress and a
/// summary, `search` no longer finds it, and a second `db prune` finds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_prune_applies_the_config_and_db_stats_reports_due_rows() {
    let inst = Instance::new(&format!("[[feeds]]\nurl = \"{FEED}\"\n"));
    keep_30_days(&inst);
    drop(populated(&inst.db()));

    let out = inst.run(&["db", "stats", "--json"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let due = |v: &serde_json::Value, name: &str| -> serde_json::Value {
        v["retention"]
            .as_array()
            .expect("retention")
            .iter()
            .find(|d| d["name"] == name)
            .expect("kind")
            .clone()
    };
    assert_eq!(due(&stats, "alerts")["due_rows"], 1);
    assert_eq!(due(&stats, "alerts")["retention_secs"], 30 * DAY);
    assert!(due(&stats, "alerts")["next_due"].is_string());
    assert_eq!(
        due(&stats, "seen_items")["due_rows"],
        2,
        "items 1 and 2, 300 days old"
    );
    let text = inst.run(&["db", "stats"]).await;
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(text.contains("RETENTION OF"), "{text}");

    let found = inst.run(&["search", "ancient"]).await;
    assert_eq!(found.status.code(), Some(0));
    let out = inst.run(&["db", "prune"]).await;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("pruned 1/1 alerts"), "{stderr}");
    assert!(stderr.contains("pruned 1/1 articles"), "{stderr}");
    assert!(stdout.contains("pruned "), "{stdout}");
    let gone = inst.run(&["search", "ancient"]).await;
    assert_eq!(gone.status.code(), Some(1), "nothing matched any more");

    let again = inst.run(&["db", "prune", "--format", "json"]).await;
    assert_eq!(again.status.code(), Some(0));
    let summary: serde_json::Value = serde_json::from_slice(&again.stdout).expect("json");
    let removed = summary["removed"].as_array().expect("removed");
    assert!(removed.iter().all(|k| k["rows"] == 0), "{summary}");
    let stats = inst.run(&["db", "stats", "--json"]).await;
    let stats: serde_json::Value = serde_json::from_slice(&stats.stdout).expect("json");
    assert_eq!(due(&stats, "alerts")["due_rows"], 0);
    assert_eq!(due(&stats, "articles")["due_rows"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_prune_on_a_missing_database_exits_2() {
    let inst = Instance::new(&format!("[[feeds]]\nurl = \"{FEED}\"\n"));
    let out = inst.run(&["db", "prune"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(!inst.db().exists(), "db prune never creates a database");
}

/// The running daemon applies retention (its writer's pass), and `db prune` beside it exits
/// 3 with what to do instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_prunes_while_it_runs_and_db_prune_beside_it_exits_3() {
    let srv = common::TestServer::start().await;
    srv.set(
        "/rss",
        common::Fixture::ok("application/rss+xml", common::rss("T", &[])),
    );
    let url = srv.url("/rss");
    let inst = Instance::new(&format!("[[feeds]]\nurl = \"{url}\"\n"));
    keep_30_days(&inst);
    {
        let mut s = Store::open(&inst.db()).expect("open");
        let t = now();
        s.sync_feeds([(url.as_str(), None)], t - 600 * DAY)
            .expect("sync");
        let f = s.feeds().expect("feeds")[0].id;
        s.commit_poll(&article(f, 1, t - 400 * DAY, "Ancient siege", &["r1"]))
            .expect("commit");
        s.commit_poll(&article(f, 2, t - DAY, "Fresh ceasefire", &["r1"]))
            .expect("commit");
        deliver_all(&mut s);
    }
    let db = inst.db();
    let daemon = Daemon::start(&inst, &[]);
    common::wait_for(
        "the daemon to remove the old article",
        Duration::from_secs(30),
        || count(&db, "SELECT count(*) FROM articles") == 1,
    )
    .await;
    let out = inst.run(&["db", "prune"]).await;
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("reload"));
    drop(daemon);
    assert_eq!(titles(&db), ["Fresh ceasefire"]);
}
