//! Seen-key retention (issue #14): keys are forgotten after `[storage] seen_retention`, and no
//! item alerts twice for it (the rule is in `src/store/seen.rs`).
//!
//! Time is moved without waiting: through the store API with an explicit `now`, and around
//! the real binary by moving the stored times back (`backdate`), which is what the database
//! holds after that much time. Each binary test also moves the feed's item date back by as
//! much, so the item "is" as old as the history says.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test panics on a broken fixture

mod common;

use std::time::Duration;

use common::{esc, Fixture, Instance, TestServer};
use feedwatch::store::{PollRecord, Store, FORGET_BATCH};

const DAY: i64 = 86_400;

const STORY: &str = "Two rockets struck inside Baghdad's heavily fortified Green Zone late on \
    Sunday, landing near the US embassy compound, Iraqi security sources said. The embassy's air \
    defence system was activated and sirens sounded across the district.";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// An RSS document of (title, link, published) items; the link is also the GUID.
fn feed(items: &[(&str, &str, i64)]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>T</title><link>http://example.com/</link><description>d</description>\n",
    );
    for (title, link, t) in items {
        let date = chrono::DateTime::from_timestamp(*t, 0)
            .expect("date")
            .to_rfc2822();
        s.push_str(&format!(
            "<item><title>{}</title><link>{l}</link><guid>{l}</guid><description>{}</description><pubDate>{date}</pubDate></item>\n",
            esc(title),
            esc(STORY),
            l = esc(link)
        ));
    }
    s.push_str("</channel></rss>\n");
    s
}

fn serve(srv: &TestServer, path: &str, items: &[(&str, &str, i64)]) {
    srv.set(path, Fixture::ok("application/rss+xml", feed(items)));
}

fn db(inst: &Instance) -> rusqlite::Connection {
    rusqlite::Connection::open(inst.db()).expect("open db")
}

/// Each stored key with its latest presence: keys live in `seen_items` and, until the sweep
/// moves them over, in `seen_staged` (see `store::seen`).
const KEYS: &str = "SELECT key, max(last_present) AS last_present FROM (
        SELECT key, last_present FROM seen_items UNION ALL SELECT key, last_present FROM seen_staged
    ) GROUP BY key";

fn seen_rows(inst: &Instance) -> i64 {
    db(inst)
        .query_row(&format!("SELECT count(*) FROM ({KEYS})"), [], |r| r.get(0))
        .expect("count")
}

/// The oldest last presence of any key.
fn oldest_presence(inst: &Instance) -> i64 {
    db(inst)
        .query_row(
            &format!("SELECT min(last_present) FROM ({KEYS})"),
            [],
            |r| r.get(0),
        )
        .expect("min")
}

/// Sets the last presence of every stored key.
fn set_presence(inst: &Instance, at: i64) {
    for table in ["seen_items", "seen_staged"] {
        db(inst)
            .execute(&format!("UPDATE {table} SET last_present = ?1"), [at])
            .expect("presence");
    }
}

/// Moves every stored seen-key time `secs` into the past: the database as it is after that
/// much time with the items absent from every feed document.
fn backdate(inst: &Instance, secs: i64) {
    for table in ["seen_items", "seen_staged"] {
        db(inst)
            .execute(
                &format!(
                    "UPDATE {table} SET last_present = last_present - ?1,
                            published_at = published_at - ?1"
                ),
                [secs],
            )
            .expect("backdate");
    }
}

/// Articles and their alerts past their own retention: without them only the seen keys
/// (and the date gate) stand between an old item and a second alert.
fn drop_articles(inst: &Instance) {
    db(inst)
        .execute("DELETE FROM articles", [])
        .expect("delete articles");
}

/// Forgets through the store API at `at`, every pass of the sweep to its end, as the writer
/// does; how many keys.
fn forget_at(inst: &Instance, at: i64) -> usize {
    let mut s = Store::open(&inst.db()).expect("open store");
    s.forget_seen_all(at).expect("forget")
}

async fn poll(inst: &Instance) {
    let out = inst.run(&["poll", "--once"]).await;
    assert!(
        out.status.success(),
        "poll failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn entry(srv: &TestServer, path: &str, name: &str) -> String {
    format!(
        "[[feeds]]\nurl = \"{}\"\nname = \"{name}\"\n\n",
        srv.url(path)
    )
}

/// Case 1: an item still in its feed past the horizon: every poll that reads the document keeps
/// its key, so it is not forgotten where an absent item of that age would be, and it does
/// not alert again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_still_in_its_feed_is_kept_and_never_realerts() {
    let srv = TestServer::start().await;
    let t = now();
    let link = "http://a.invalid/rockets";
    serve(
        &srv,
        "/a",
        &[("Rockets hit Baghdad's Green Zone", link, t - 3600)],
    );
    let inst = Instance::new(&entry(&srv, "/a", "A"));
    poll(&inst).await;
    assert_eq!(inst.log_lines().len(), 2, "green-zone and embassy-security");

    // 200 days on; its presence was last written 80 days ago (as by a poll then), and the
    // feed still carries it, with its date.
    backdate(&inst, 200 * DAY);
    set_presence(&inst, t - 80 * DAY);
    serve(
        &srv,
        "/a",
        &[(
            "Rockets hit Baghdad's Green Zone",
            link,
            t - 200 * DAY - 3600,
        )],
    );
    poll(&inst).await;
    assert!(
        oldest_presence(&inst) >= t,
        "the poll wrote its presence today"
    );
    // 20 days later the key would be past the horizon had the poll not refreshed it.
    let rows = seen_rows(&inst);
    assert_eq!(forget_at(&inst, t + 20 * DAY), 0, "a present item is kept");
    assert_eq!(seen_rows(&inst), rows);

    drop_articles(&inst);
    poll(&inst).await;
    assert_eq!(inst.log_lines().len(), 2, "no second alert");
}

/// Case 2: an item whose key was forgotten and that comes back with its old date is recorded as
/// seen again without an alert. The forgetting here is the writer's own, at the end of
/// `poll --once`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgotten_item_reappearing_with_its_old_date_does_not_realert() {
    let srv = TestServer::start().await;
    let t = now();
    let link = "http://a.invalid/rockets";
    serve(
        &srv,
        "/a",
        &[("Rockets hit Baghdad's Green Zone", link, t - 3600)],
    );
    let inst = Instance::new(&entry(&srv, "/a", "A"));
    poll(&inst).await;
    assert_eq!(inst.log_lines().len(), 2);
    assert!(seen_rows(&inst) > 0);

    // 200 days on, the item gone from its feed all that time: the writer forgets its key.
    backdate(&inst, 200 * DAY);
    drop_articles(&inst);
    serve(&srv, "/a", &[]);
    poll(&inst).await;
    assert_eq!(seen_rows(&inst), 0, "the key was forgotten");

    // It comes back with its (old) date: known again, but silent.
    serve(
        &srv,
        "/a",
        &[(
            "Rockets hit Baghdad's Green Zone",
            link,
            t - 200 * DAY - 3600,
        )],
    );
    poll(&inst).await;
    assert_eq!(inst.log_lines().len(), 2, "no second alert");
    assert!(seen_rows(&inst) > 0, "recorded as seen");
    assert!(
        inst.alerts().await.is_empty(),
        "nothing stored for the gated item"
    );
}

/// Case 3: an item moved from one feed to another: keys are global, so its presence in the other
/// feed keeps it; once forgotten, its reappearance there with its old date is gated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_moved_to_another_feed_does_not_realert() {
    let srv = TestServer::start().await;
    let t = now();
    let link = "http://wire.invalid/rockets";
    let title = "Rockets hit Baghdad's Green Zone";
    serve(&srv, "/a", &[(title, link, t - 3600)]);
    serve(&srv, "/b", &[]);
    let inst = Instance::new(&(entry(&srv, "/a", "A") + &entry(&srv, "/b", "B")));
    poll(&inst).await;
    assert_eq!(inst.log_lines().len(), 2);

    // 80 days on, the item has left A for B.
    backdate(&inst, 80 * DAY);
    drop_articles(&inst);
    serve(&srv, "/a", &[]);
    serve(&srv, "/b", &[(title, link, t - 80 * DAY - 3600)]);
    poll(&inst).await;
    assert_eq!(inst.log_lines().len(), 2, "known while present in B");
    assert!(oldest_presence(&inst) >= t, "B's poll wrote its presence");
    assert_eq!(
        forget_at(&inst, t + 20 * DAY),
        0,
        "kept by its presence in B"
    );

    // 200 more days, absent everywhere: forgotten; then back in B with its old date.
    backdate(&inst, 200 * DAY);
    serve(&srv, "/b", &[]);
    assert!(forget_at(&inst, t) > 0);
    assert_eq!(seen_rows(&inst), 0);
    serve(&srv, "/b", &[(title, link, t - 280 * DAY - 3600)]);
    poll(&inst).await;
    assert_eq!(inst.log_lines().len(), 2, "no second alert");
    assert!(seen_rows(&inst) > 0);
}

/// A poll of `keys` (one key per item) at `at`, published `published` (None: undated), with
/// the presence refresh the pipeline asks for.
fn record(s: &Store, feed: i64, keys: &[i64], at: i64, published: Option<i64>) -> PollRecord {
    let found = s.seen_lookup(keys, at).expect("lookup");
    let unseen = found.unseen;
    PollRecord {
        present: found.stale,
        seen: unseen.iter().map(|k| vec![*k]).collect(),
        published: published
            .map(|p| unseen.iter().map(|k| (*k, p)).collect())
            .unwrap_or_default(),
        ..PollRecord::new(feed, at)
    }
}

fn table_rows(path: &std::path::Path) -> i64 {
    rusqlite::Connection::open(path)
        .expect("open")
        .query_row(&format!("SELECT count(*) FROM ({KEYS})"), [], |r| r.get(0))
        .expect("count")
}

/// Case 4: retention deletes old keys, in bounded passes: the row count drops, lookups follow,
/// also after a new start. Keys present within the retention, or dated within it, or undated
/// but first seen within it, stay.
#[test]
fn retention_deletes_old_keys_and_lookups_follow() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("fw.db");
    let mut s = Store::open(&path).expect("open");
    s.sync_feeds([("http://f.invalid/", None)], 0)
        .expect("sync");
    let feed = s.feeds().expect("feeds")[0].id;
    let t0 = 1_700_000_000;

    let old: Vec<i64> = (1..=12_000).collect(); // published at t0, then gone
    let present: Vec<i64> = (20_001..=20_100).collect(); // published at t0, always present
    let undated: Vec<i64> = (30_001..=30_100).collect(); // no date, gone after t0 + 60 days
    let dated_ahead: Vec<i64> = (40_001..=40_100).collect(); // seen at t0, dated t0 + 80 days
    s.commit_poll(&record(&s, feed, &old, t0, Some(t0)))
        .expect("commit");
    s.commit_poll(&record(&s, feed, &dated_ahead, t0, Some(t0 + 80 * DAY)))
        .expect("commit");
    for d in 0..=100 {
        let at = t0 + d * DAY;
        s.commit_poll(&record(&s, feed, &present, at, Some(t0)))
            .expect("commit");
        if d == 60 {
            s.commit_poll(&record(&s, feed, &undated, at, None))
                .expect("commit");
        }
    }
    let all = 12_000 + 300;
    assert_eq!(table_rows(&path), all);
    assert_eq!(s.seen_count().expect("count"), all);

    // 100 days on: nothing is past the horizon yet (the old keys were present at t0).
    let at = t0 + 100 * DAY;
    assert_eq!(s.forget_seen_all(t0 + 89 * DAY).expect("forget"), 0);
    // Bounded passes until the old keys are gone.
    let mut passes = Vec::new();
    loop {
        let pass = s.forget_seen(at, FORGET_BATCH).expect("forget");
        passes.push(pass.forgotten);
        if !pass.more {
            break;
        }
    }
    assert_eq!(
        passes,
        [FORGET_BATCH, FORGET_BATCH, 12_000 - 2 * FORGET_BATCH]
    );
    assert_eq!(table_rows(&path), 300);
    assert_eq!(s.unseen(&[1, 12_000]).expect("unseen"), [1, 12_000]);
    for kept in [&present, &undated, &dated_ahead] {
        assert!(s.unseen(kept).expect("unseen").is_empty());
    }
    drop(s);
    let reopened = Store::open(&path).expect("reopen");
    assert_eq!(
        reopened.seen_count().expect("count"),
        300,
        "after a restart"
    );
    assert!(reopened.unseen(&present).expect("unseen").is_empty());
    drop(reopened);

    // 151 days: the undated keys, last present at day 60, go; those dated day 80 stay until
    // day 170, the present ones until 90 days after day 100.
    let mut s = Store::open(&path).expect("reopen");
    assert_eq!(s.forget_seen_all(t0 + 151 * DAY).expect("forget"), 100);
    assert_eq!(s.unseen(&undated).expect("unseen"), undated);
    assert!(s.unseen(&present).expect("unseen").is_empty());
    assert!(s.unseen(&dated_ahead).expect("unseen").is_empty());
    assert_eq!(s.forget_seen_all(t0 + 171 * DAY).expect("forget"), 100);
    assert_eq!(s.forget_seen_all(t0 + 191 * DAY).expect("forget"), 100);
    assert_eq!(s.seen_count().expect("count"), 0);
    assert_eq!(table_rows(&path), 0);
}

/// Presence costs at most one row write per key per day: a 1,000-item feed polled twice in
/// a day writes its keys once (the first sighting); the first poll of the next day rewrites
/// each key once, later polls that day none.
#[test]
fn presence_is_written_once_a_day() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("fw.db");
    let mut s = Store::open(&path).expect("open");
    s.sync_feeds([("http://f.invalid/", None)], 0)
        .expect("sync");
    let feed = s.feeds().expect("feeds")[0].id;
    let keys: Vec<i64> = (1..=1_000).collect();
    let t0 = 1_700_000_000 - 1_700_000_000 % DAY + 3600; // 01:00 UTC
                                                         // Keys whose presence was written after their first sighting (all on the second day).
    let changes = |p: &std::path::Path| -> i64 {
        rusqlite::Connection::open(p)
            .expect("open")
            .query_row(
                &format!("SELECT count(*) FROM ({KEYS}) WHERE last_present > ?1"),
                [t0 + 600],
                |r| r.get(0),
            )
            .expect("count")
    };
    let mut writes = Vec::new();
    for at in [t0, t0 + 600, t0 + DAY, t0 + DAY + 600, t0 + DAY + 7200] {
        let rec = record(&s, feed, &keys, at, Some(t0));
        writes.push(rec.seen.len() + rec.present.len());
        s.commit_poll(&rec).expect("commit");
    }
    assert_eq!(writes, [1_000, 0, 1_000, 0, 0]);
    assert_eq!(changes(&path), 1_000);
}

/// The running daemon forgets too (its writer's periodic pass), not only `poll --once` at
/// exit: keys past the horizon go while it runs, with no poll due.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_forgets_while_it_runs() {
    let srv = TestServer::start().await;
    let t = now();
    let items = [
        (
            "Rockets hit Baghdad's Green Zone",
            "http://a.invalid/1",
            t - 3600,
        ),
        ("Embassy closes its gates", "http://a.invalid/2", t - 3600),
    ];
    serve(&srv, "/a", &items);
    let inst = Instance::new(&entry(&srv, "/a", "A"));
    poll(&inst).await;
    assert_eq!(seen_rows(&inst), 2);
    // 200 days on, both gone from the feed long ago.
    backdate(&inst, 200 * DAY);
    serve(&srv, "/a", &[]);
    let daemon = common::Daemon::start(&inst, &[]);
    common::wait_for(
        "the daemon to forget the absent items",
        Duration::from_secs(30),
        || seen_rows(&inst) == 0,
    )
    .await;
    drop(daemon);
}
