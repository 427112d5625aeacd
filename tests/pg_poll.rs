//! Committing a poll on PostgreSQL against a real server (issue #15): the same meaning as
//! SQLite's commit, one transaction fenced on the feed's lease, and item, article, story and
//! alert identity enforced by the database when two commits race. Without
//! `FEEDWATCH_TEST_POSTGRES` the tests print "skipped" and pass (see `pg_common`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test panics on a broken fixture

mod pg_common;
#[path = "common/stories.rs"]
#[allow(dead_code)] // the wire story only
mod stories;

use std::sync::Arc;

use feedwatch::rules::{Field, Severity, TermHit};
use feedwatch::store::pg::{self, Claim, PgError, PgStore};
use feedwatch::store::{NewAlert, NewArticle, PollRecord, RecentItem, Store, Validators};
use feedwatch::story;
use pg_common::{pg_rows, register, sqlite_rows, TestDb};

const NOW: i64 = 1_700_000_000;
const LEASE: i64 = 300;

/// A feed row due at `NOW`; its id.
async fn add_feed(store: &PgStore, url: &str, name: &str) -> i64 {
    store
        .client()
        .await
        .expect("client")
        .query_one(
            "INSERT INTO feeds (url, name, created_at, next_poll_at) VALUES ($1, $2, 10, 10)
             RETURNING id",
            &[&url, &name],
        )
        .await
        .expect("insert feed")
        .get(0)
}

/// `instance`'s claim on `feed_id` (every due feed is claimed; the one asked is returned).
async fn claim(store: &PgStore, instance: &str, feed_id: i64, now: i64) -> Claim {
    register(store, instance, now).await;
    let claims = store
        .claim_due_feeds(instance, now, LEASE, 100, None)
        .await
        .expect("claim");
    claims
        .into_iter()
        .find(|c| c.feed_id == feed_id)
        .expect("the feed is claimed")
}

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

fn article(item_key: i64, url: &str, text: &str) -> NewArticle {
    NewArticle {
        item_key,
        url: Some(url.into()),
        canonical_url: Some(format!("{url}?canonical")),
        title: "Two rockets struck inside the Green Zone".into(),
        summary: "Rockets near the embassy.".into(),
        body: text.into(),
        body_source: "page",
        author: Some("Wire".into()),
        lang: Some("en".into()),
        published_at: Some(NOW - 600),
        link_canonical: Some(url.into()),
        fingerprint: story::article_fingerprint("Two rockets struck", text),
        alerts: vec![
            alert("green-zone", Severity::High),
            alert("rockets", Severity::Medium),
        ],
    }
}

/// A poll of `feed_id` that saw items 11 (kept, with two alerts), 12 and 13 (two keys).
fn full_record(feed_id: i64) -> PollRecord {
    let mut rec = PollRecord {
        status: Some(200),
        validators: Validators::Set {
            etag: Some("\"e1\"".into()),
            last_modified: Some("Tue, 14 Nov 2023 22:13:20 GMT".into()),
        },
        next_poll_at: NOW + 600,
        seen: vec![vec![11, 110], vec![12], vec![13, 130]],
        present: vec![],
        deferred: vec![(14, "timed out".into())],
        articles: vec![article(11, "http://wire.example/a", stories::WIRE)],
        item_count: Some(4),
        interval_secs: 600,
        gap: true,
        also_seen: vec![],
        extract_failures: vec!["http://wire.example/b: too short".into()],
        recent: vec![RecentItem {
            key: 12,
            url: Some("http://wire.example/c".into()),
            title: "Weather".into(),
            summary: "Sunny".into(),
            body: "Sunny all day".into(),
        }],
        ..PollRecord::new(feed_id, NOW)
    };
    rec.published.insert(11, NOW - 600);
    rec
}

/// The same record committed to SQLite and to PostgreSQL reads back the same: the feed's
/// row, the alerts with their fields, hits and story, and the stored keys.
#[tokio::test]
async fn a_poll_with_an_article_and_alerts_commits_as_on_sqlite() {
    let Some(db) = TestDb::new("poll_parity").await else {
        return;
    };
    let pg = db.migrated_store().await;
    let feed = add_feed(&pg, "http://wire.example/feed", "Wire").await;
    let lease = claim(&pg, "inst-a", feed, NOW).await;
    let done = pg
        .commit_poll("inst-a", &lease, &full_record(feed))
        .await
        .expect("commit");
    assert_eq!(done.new_keys, vec![11, 110, 12, 13, 130]);
    assert_eq!((done.items_new, done.articles_new), (3, 1));
    assert_eq!(done.alerts.len(), 2);

    let dir = tempfile::tempdir().expect("tmp");
    let mut lite = Store::open(&dir.path().join("f.db")).expect("sqlite");
    lite.sync_feeds([("http://wire.example/feed", Some("Wire"))], 10)
        .expect("sync");
    let lite_feed = lite.feeds().expect("feeds")[0].id;
    lite.commit_poll(&full_record(lite_feed))
        .expect("sqlite commit");

    let pg_feeds = pg.feeds().await.expect("pg feeds");
    let lite_feeds = lite.feeds().expect("sqlite feeds");
    let (pf, lf) = (&pg_feeds[0], &lite_feeds[0]);
    let json = |f: &feedwatch::store::FeedRow| serde_json::to_value(f).expect("json");
    assert_eq!(json(pf), json(lf), "feed rows");
    assert_eq!((&pf.etag, &pf.last_modified), (&lf.etag, &lf.last_modified));
    let pa = pg.alerts(0, None).await.expect("pg alerts");
    let la = lite.alerts(0, None).expect("sqlite alerts");
    assert_eq!(pa.len(), 2);
    for (p, l) in pa.iter().zip(&la) {
        assert_eq!(strip(p), strip(l), "alert");
    }
    assert_eq!(
        pa.iter().map(|a| a.id).collect::<Vec<_>>(),
        done.alerts,
        "the commit names the alerts it created"
    );
    let lite_path = dir.path().join("f.db");
    assert_same_rows(&pg, &lite_path).await;

    // The next day another feed carries the article's link and items 12 (known) and 20
    // (new), with 11 and 13 still present: a source, a presence and a key.
    let other = add_feed(&pg, "http://other.example/feed", "Other").await;
    lite.sync_feeds(
        [
            ("http://wire.example/feed", Some("Wire")),
            ("http://other.example/feed", Some("Other")),
        ],
        10,
    )
    .expect("sync");
    let later = |feed| PollRecord {
        seen: vec![vec![20]],
        present: vec![11, 13],
        also_seen: vec!["http://wire.example/a".into()],
        ..PollRecord::new(feed, NOW + 86_400)
    };
    let lease = claim(&pg, "inst-a", other, NOW + 86_400).await;
    let done = pg
        .commit_poll("inst-a", &lease, &later(other))
        .await
        .expect("second commit");
    assert_eq!((done.new_keys, done.items_new), (vec![20], 1));
    lite.commit_poll(&later(lite.feeds().expect("feeds")[1].id))
        .expect("sqlite second commit");
    let pa = pg.alerts(0, None).await.expect("pg alerts");
    let la = lite.alerts(0, None).expect("sqlite alerts");
    assert_eq!(pa[0].also.len(), 1, "the other feed is a source: {pa:?}");
    for (p, l) in pa.iter().zip(&la) {
        assert_eq!(strip(p), strip(l), "alert with its sources");
    }
    assert_same_rows(&pg, &lite_path).await;
    db.drop_schema().await;
}

/// The rows a poll writes (keys, page failures, recent texts, articles, sources, bands) are
/// the same on PostgreSQL and in the SQLite file.
async fn assert_same_rows(pg: &PgStore, lite: &std::path::Path) {
    let keys = "SELECT key, feed_id, last_present, published_at FROM %seen% ORDER BY key";
    assert_eq!(
        pg_rows(pg, &keys.replace("%seen%", "seen_items")).await,
        sqlite_rows(lite, &keys.replace("%seen%", "seen_staged")),
        "seen keys"
    );
    for sql in [
        "SELECT key, attempts, last_error, failed_at FROM page_failures ORDER BY key",
        "SELECT key, feed_id, url, title, summary, body, seen_at FROM recent_items ORDER BY key",
        "SELECT id, item_key, feed_id, url, canonical_url, title, summary, body, body_source,
                author, lang, published_at, fetched_at, link_canonical, length(minhash), words,
                story_id
         FROM articles ORDER BY id",
        "SELECT article_id, feed_id, url, first_seen FROM article_sources ORDER BY article_id",
        "SELECT band, article_id FROM article_bands ORDER BY band, article_id",
        "SELECT id, last_poll_at, next_poll_at, items_seen, articles_kept FROM feeds ORDER BY id",
    ] {
        assert_eq!(pg_rows(pg, sql).await, sqlite_rows(lite, sql), "{sql}");
    }
}

/// Two instances commit, at the same moment on two pooled connections, polls of two feeds
/// that carry the same new item: one article, one alert per rule, and exactly one of them is
/// told the item is new.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_commits_of_one_new_item_store_one_article_and_alert_each() {
    let Some(db) = TestDb::new("poll_race_item").await else {
        return;
    };
    let setup = db.migrated_store().await;
    for round in 0..5_i64 {
        let key = 1000 + round;
        let text = format!("{} Round {round}.", stories::WIRE);
        let results = race(&db, &setup, round, |feed, now| {
            let mut rec = PollRecord::new(feed, now);
            rec.seen = vec![vec![key]];
            rec.articles = vec![article(key, "http://wire.example/same", &text)];
            rec
        })
        .await;
        let news: Vec<&pg::Committed> = results.iter().filter(|c| c.new_keys == [key]).collect();
        assert_eq!(news.len(), 1, "round {round}: one commit saw the key first");
        let other = results
            .iter()
            .find(|c| c.new_keys.is_empty())
            .expect("other");
        assert_eq!((other.items_new, other.articles_new), (0, 0));
        assert!(other.alerts.is_empty(), "round {round}: {results:?}");
        assert_eq!(news[0].alerts.len(), 2);
        let counts = pg_rows(
            &setup,
            &format!(
                "SELECT (SELECT count(*) FROM articles WHERE item_key = {key})::text,
                        (SELECT count(*) FROM alerts a JOIN articles ar ON ar.id = a.article_id
                          WHERE ar.item_key = {key})::text"
            ),
        )
        .await;
        assert_eq!(counts, vec![vec!["1".to_string(), "2".to_string()]]);
    }
    db.drop_schema().await;
}

/// Two instances commit, at the same moment, two copies of one story (different items in
/// two feeds, near-identical text): two articles in one story, and one alert per rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_commits_of_one_story_alert_once() {
    let Some(db) = TestDb::new("poll_race_story").await else {
        return;
    };
    let setup = db.migrated_store().await;
    for round in 0..5_i64 {
        let text = format!("{} Story {round} of the day.", stories::WIRE);
        let results = race(&db, &setup, round, |feed, now| {
            let key = 2000 + 100 * round + feed;
            let mut rec = PollRecord::new(feed, now);
            rec.seen = vec![vec![key]];
            let url = format!("http://copy{feed}.example/{round}");
            rec.articles = vec![article(key, &url, &format!("Dateline {feed}. {text}"))];
            if round % 2 == 1 && feed % 2 == 0 {
                // Past the band-lock bound: this commit locks all stories instead.
                pad_articles(&mut rec, 900_000 + 100 * round);
            }
            rec
        })
        .await;
        assert!(results.iter().all(|c| c.articles_new >= 1), "{results:?}");
        let alerts: usize = results.iter().map(|c| c.alerts.len()).sum();
        assert_eq!(alerts, 2, "round {round}: one alert per rule: {results:?}");
        let stories = pg_rows(
            &setup,
            &format!(
                "SELECT count(DISTINCT story_id)::text, count(*)::text FROM articles
                 WHERE item_key BETWEEN {} AND {}",
                2000 + 100 * round,
                2099 + 100 * round
            ),
        )
        .await;
        assert_eq!(stories, vec![vec!["1".to_string(), "2".to_string()]]);
    }
    db.drop_schema().await;
}

/// Two instances commit at once, round after round, polls of two feeds carrying the same
/// items in opposite orders (new keys, presences, page failures and articles): every commit
/// succeeds, none is aborted as a deadlock, and each key is new to exactly one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_sharing_items_in_opposite_orders_do_not_deadlock() {
    let Some(db) = TestDb::new("poll_order").await else {
        return;
    };
    let setup = db.migrated_store().await;
    for round in 0..6_i64 {
        let keys: Vec<i64> = (0..40)
            .map(|i| 10_000 * (round + 1) + i * 7919 % 101)
            .collect();
        let results = race(&db, &setup, round, |feed, now| {
            let (mut keys, mut kept) = (keys.clone(), keys[..3].to_vec());
            if feed % 2 == 0 {
                keys.reverse();
                kept.reverse();
            }
            let mut rec = PollRecord::new(feed, now);
            rec.seen = keys.iter().map(|k| vec![*k, -k]).collect();
            // Last round's keys, known: a presence write each, a day later.
            rec.present = keys.iter().map(|k| k - 10_000).collect();
            rec.deferred = keys
                .iter()
                .map(|k| (k + 500, "timed out".to_string()))
                .collect();
            // Odd rounds only: articles of one story take band locks, which alone would
            // serialise the two commits and hide the order of the other writes.
            kept.truncate(if round % 2 == 1 { 3 } else { 0 });
            rec.articles = kept
                .iter()
                .map(|&k| {
                    let mut a = article(k, &format!("http://o.example/{k}"), "Short.");
                    a.fingerprint = story::article_fingerprint(&format!("Item {k}"), "short");
                    a
                })
                .collect();
            rec
        })
        .await;
        let new: usize = results.iter().map(|c| c.new_keys.len()).sum();
        assert_eq!(new, 80, "round {round}: each key new once: {results:?}");
        let alerts: usize = results.iter().map(|c| c.alerts.len()).sum();
        let expected = if round % 2 == 1 { 6 } else { 0 };
        assert_eq!(
            alerts, expected,
            "round {round}: two rules on three articles"
        );
    }
    db.drop_schema().await;
}

/// Adds articles of unrelated short items (too short to group, no alerts) to `rec`, one
/// more than [`pg::MAX_BAND_LOCKED_ARTICLES`], with keys from `first_key`.
fn pad_articles(rec: &mut PollRecord, first_key: i64) {
    for i in 0..=pg::MAX_BAND_LOCKED_ARTICLES as i64 {
        let mut a = article(
            first_key + i,
            &format!("http://pad.example/{first_key}/{i}"),
            "Brief.",
        );
        a.fingerprint = story::article_fingerprint(&format!("Item {i}"), "brief");
        a.alerts.clear();
        rec.seen.push(vec![first_key + i]);
        rec.articles.push(a);
    }
}

/// Two fresh feeds claimed by two instances; both commit `make(feed)` at once (own pools,
/// own tasks, started together). Their results, in feed order.
async fn race(
    db: &TestDb,
    setup: &PgStore,
    round: i64,
    make: impl Fn(i64, i64) -> PollRecord,
) -> Vec<pg::Committed> {
    // Each round a story-grouping window after the last, so its story is a new one.
    let now = NOW + round * (story::WINDOW_SECS + 86_400);
    let start = Arc::new(tokio::sync::Barrier::new(2));
    let mut tasks = Vec::new();
    for n in 0..2 {
        let feed = add_feed(setup, &format!("http://feed{n}.example/{round}"), "F").await;
        let me = format!("inst-{n}");
        let store = db.store();
        let lease = claim(&store, &me, feed, now).await;
        let rec = make(feed, now);
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            store.commit_poll(&me, &lease, &rec).await.expect("commit")
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

/// An instance whose lease expired and was taken over commits nothing: its commit is
/// refused with [`PgError::LeaseLost`], and the new holder's commit goes through.
#[tokio::test]
async fn a_commit_under_a_lease_taken_over_writes_nothing() {
    let Some(db) = TestDb::new("poll_fenced").await else {
        return;
    };
    let pg = db.migrated_store().await;
    let feed = add_feed(&pg, "http://wire.example/feed", "Wire").await;
    let stale = claim(&pg, "inst-a", feed, NOW).await;
    // inst-a stalls past its lease; inst-b takes the feed over.
    let fresh = claim(&pg, "inst-b", feed, NOW + LEASE + 1).await;
    assert_eq!(fresh.taken_over_from.as_deref(), Some("inst-a"));
    assert!(fresh.token > stale.token);
    let e = pg
        .commit_poll("inst-a", &stale, &full_record(feed))
        .await
        .expect_err("fenced");
    assert!(
        matches!(&e, PgError::LeaseLost { feed_id, instance, .. } if *feed_id == feed && instance == "inst-a"),
        "{e:?}"
    );
    assert!(e.to_string().contains("took the feed over"), "{e}");
    assert_nothing_written(&pg).await;
    // Its old token is refused even after inst-b released the feed and inst-a claimed it
    // again: only the newest claim may commit.
    assert!(pg
        .release_lease("inst-b", feed, NOW)
        .await
        .expect("release"));
    let again = claim(&pg, "inst-a", feed, NOW + LEASE + 2).await;
    let e = pg
        .commit_poll("inst-a", &stale, &full_record(feed))
        .await
        .expect_err("old token");
    assert!(matches!(e, PgError::LeaseLost { .. }), "{e:?}");
    assert_nothing_written(&pg).await;
    // A record for another feed than the claim's is refused too.
    let mut other = full_record(feed);
    other.feed_id = feed + 1;
    let e = pg
        .commit_poll("inst-a", &again, &other)
        .await
        .expect_err("wrong feed");
    assert!(matches!(e, PgError::LeaseLost { .. }), "{e:?}");
    let done = pg
        .commit_poll("inst-a", &again, &full_record(feed))
        .await
        .expect("the current claim commits");
    assert_eq!(done.articles_new, 1);
    db.drop_schema().await;
}

/// A lease past its expiry that no other instance claimed since is still the holder's: its
/// poll commits (nobody else polled the feed).
#[tokio::test]
async fn a_commit_after_expiry_without_a_takeover_goes_through() {
    let Some(db) = TestDb::new("poll_late").await else {
        return;
    };
    let pg = db.migrated_store().await;
    let feed = add_feed(&pg, "http://wire.example/feed", "Wire").await;
    let lease = claim(&pg, "inst-a", feed, NOW).await;
    let mut rec = full_record(feed);
    rec.polled_at = NOW + 3 * LEASE;
    let done = pg.commit_poll("inst-a", &lease, &rec).await.expect("late");
    assert_eq!(done.articles_new, 1);
    db.drop_schema().await;
}

/// A commit that fails after its articles are written (the alerts insert raises, or the
/// server ends the connection there) leaves nothing of the poll, and the pool carries on.
#[tokio::test]
async fn a_commit_failing_mid_transaction_leaves_nothing() {
    let Some(db) = TestDb::new("poll_abort").await else {
        return;
    };
    let pg = db.migrated_store().await;
    let feed = add_feed(&pg, "http://wire.example/feed", "Wire").await;
    let lease = claim(&pg, "inst-a", feed, NOW).await;
    let c = pg.client().await.expect("client");
    c.batch_execute(
        "CREATE FUNCTION fail_alert() RETURNS trigger LANGUAGE plpgsql AS
             $$ BEGIN RAISE EXCEPTION 'injected failure after the article'; END $$;
         CREATE TRIGGER fail_alert BEFORE INSERT ON alerts
             FOR EACH ROW EXECUTE FUNCTION fail_alert();",
    )
    .await
    .expect("trigger");
    drop(c);
    let e = pg
        .commit_poll("inst-a", &lease, &full_record(feed))
        .await
        .expect_err("injected");
    assert!(matches!(e, PgError::Sql(_)), "{e:?}");
    assert!(format!("{e:?}").contains("injected failure"), "{e:?}");
    assert_nothing_written(&pg).await;

    // The same place, but the server ends the session (as a crash or an operator would).
    pg.client()
        .await
        .expect("client")
        .batch_execute(
            "CREATE OR REPLACE FUNCTION fail_alert() RETURNS trigger LANGUAGE plpgsql AS
                 $$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; END $$;",
        )
        .await
        .expect("trigger");
    let e = pg
        .commit_poll("inst-a", &lease, &full_record(feed))
        .await
        .expect_err("terminated");
    assert!(matches!(e, PgError::Sql(_)), "{e:?}");
    assert_nothing_written(&pg).await;

    pg.client()
        .await
        .expect("a new connection after the lost one")
        .batch_execute("DROP TRIGGER fail_alert ON alerts")
        .await
        .expect("drop trigger");
    let done = pg
        .commit_poll("inst-a", &lease, &full_record(feed))
        .await
        .expect("commits once the fault is gone");
    assert_eq!((done.articles_new, done.alerts.len()), (1, 2));
    db.drop_schema().await;
}

/// Nothing of a poll is stored: no keys, articles, alerts or page failures, and the feed's
/// row as it was before any poll.
async fn assert_nothing_written(pg: &PgStore) {
    let counts = pg_rows(
        pg,
        "SELECT (SELECT count(*) FROM seen_items)::text, (SELECT count(*) FROM articles)::text,
                (SELECT count(*) FROM article_bands)::text, (SELECT count(*) FROM alerts)::text,
                (SELECT count(*) FROM page_failures)::text,
                (SELECT count(*) FROM recent_items)::text",
    )
    .await;
    assert_eq!(counts, vec![vec!["0".to_string(); 6]]);
    let f = &pg.feeds().await.expect("feeds")[0];
    assert_eq!(
        (f.last_poll_at, f.items_seen, f.gaps),
        (None, 0, 0),
        "{f:?}"
    );
    assert!(f.etag.is_none());
}

/// An alert as JSON without its id (PostgreSQL's come from a sequence).
fn strip(a: &feedwatch::store::AlertRecord) -> serde_json::Value {
    let mut v = serde_json::to_value(a).expect("json");
    v.as_object_mut().expect("object").remove("id");
    v
}
