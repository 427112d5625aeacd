//! The database over months of service (issue 14), through the binary: new databases give
//! space back (incremental auto-vacuum, the writer's maintenance passes), `db vacuum`
//! converts an old one, `db backup` copies a database the daemon is committing to, and
//! `db check` finds damage and says what to do.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test panics on a broken fixture

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use common::stories::{filler, KEYWORD};
use common::{rss, wait_for, Daemon, Fixture, Instance, TestServer};
use rusqlite::Connection;

/// Serves `feeds` feeds of `items` alerting items each; the config's `[[feeds]]` entries.
fn farm(srv: &TestServer, feeds: usize, items: usize) -> String {
    let mut cfg = String::new();
    for f in 0..feeds {
        let list: Vec<(String, String, String)> = (0..items)
            .map(|i| {
                (
                    format!("Item {f}-{i}"),
                    format!("http://news.invalid/{f}/{i}"),
                    format!("{KEYWORD} {}", filler(f * 1000 + i)),
                )
            })
            .collect();
        let refs: Vec<(&str, &str, Option<&str>)> = list
            .iter()
            .map(|(t, l, d)| (t.as_str(), l.as_str(), Some(d.as_str())))
            .collect();
        srv.set(
            &format!("/feed/{f}"),
            Fixture::ok("application/rss+xml", rss(&format!("Feed {f}"), &refs)),
        );
        cfg.push_str(&format!(
            "[[feeds]]\nurl = \"{}\"\nname = \"feed-{f}\"\n\n",
            srv.url(&format!("/feed/{f}"))
        ));
    }
    cfg
}

fn pragma(db: &Path, name: &str) -> i64 {
    let c = Connection::open(db).unwrap();
    c.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
        .unwrap()
}

fn count(db: &Path, table: &str) -> i64 {
    let c = Connection::open(db).unwrap();
    c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

fn alert_ids(db: &Path) -> BTreeSet<i64> {
    let c = Connection::open(db).unwrap();
    let mut st = c.prepare("SELECT id FROM alerts").unwrap();
    let ids = st.query_map([], |r| r.get(0)).unwrap();
    ids.map(Result::unwrap).collect()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_databases_are_incremental_and_db_vacuum_converts_an_old_one() {
    let srv = TestServer::start().await;
    let feeds = farm(&srv, 3, 4);

    let new = Instance::new(&feeds);
    let out = new.run(&["poll", "--once"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(pragma(&new.db(), "auto_vacuum"), 2, "incremental");

    // An old database: auto-vacuum off, as every database was before.
    let old = Instance::new(&feeds);
    std::fs::create_dir_all(old.db().parent().unwrap()).unwrap();
    Connection::open(old.db())
        .unwrap()
        .execute_batch(
            "PRAGMA auto_vacuum = NONE; PRAGMA page_size = 16384; CREATE TABLE t(a); DROP TABLE t;",
        )
        .unwrap();
    let out = old.run(&["poll", "--once"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(pragma(&old.db(), "auto_vacuum"), 0);
    let tables = ["feeds", "seen_items", "articles", "alerts", "articles_fts"];
    let before: Vec<i64> = tables.iter().map(|t| count(&old.db(), t)).collect();
    assert_eq!(before[2], 12, "every item kept");
    assert!(before[3] >= 12, "every item alerted");
    let out = old.run(&["db", "stats"]).await;
    assert!(
        text(&out.stdout).contains("run `feedwatch db vacuum` once"),
        "{}",
        text(&out.stdout)
    );

    // Refused while a daemon holds the database, with what to do.
    let mut daemon = Daemon::start(&old, &[]);
    daemon
        .wait_log("feedwatch started", 1, Duration::from_secs(30))
        .await;
    let out = old.run(&["db", "vacuum"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("Stop the daemon"),
        "{}",
        text(&out.stderr)
    );
    daemon.stop().await;
    assert!(
        daemon
            .log()
            .contains("convert it once with `feedwatch db vacuum`"),
        "the daemon hints at the conversion:\n{}",
        daemon.log()
    );

    let out = old.run(&["db", "vacuum"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("auto_vacuum none -> incremental"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(pragma(&old.db(), "auto_vacuum"), 2);
    let after: Vec<i64> = tables.iter().map(|t| count(&old.db(), t)).collect();
    assert_eq!(before, after, "rows of {tables:?} kept");
    let out = old.run(&["db", "check"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    // And the daemon runs on it as before.
    let out = old.run(&["poll", "--once"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_gives_free_pages_back_and_reports_the_size() {
    let srv = TestServer::start().await;
    let feeds = farm(&srv, 2, 3);
    let inst = Instance::new(&format!("[http]\nlisten = \"127.0.0.1:0\"\n\n{feeds}"));
    let out = inst.run(&["poll", "--once"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Free pages, as deleted rows leave them.
    Connection::open(inst.db())
        .unwrap()
        .execute_batch(
            "CREATE TABLE filler (b BLOB);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
             INSERT INTO filler SELECT randomblob(20000) FROM n;
             DROP TABLE filler;",
        )
        .unwrap();
    let free = pragma(&inst.db(), "freelist_count");
    assert!(free >= 200, "{free}");
    let size_before = std::fs::metadata(inst.db()).unwrap().len();

    let mut daemon = Daemon::start(&inst, &[]);
    let port = daemon.http_addr().await.port();
    // The first pass comes at the first health tick, right after start.
    let db = inst.db();
    // The file shrinks at the pass's checkpoint, just after the vacuum's commit.
    let shrunk = |db: &Path| std::fs::metadata(db).unwrap().len() + 200 * 16384 <= size_before;
    wait_for("free pages given back", Duration::from_secs(30), || {
        pragma(&db, "freelist_count") == 0 && shrunk(&db)
    })
    .await;
    let size_after = std::fs::metadata(inst.db()).unwrap().len();
    // The gauges are set right after the pass's checkpoint, so the file can shrink a moment
    // before /metrics says so: read until they catch up (or 30 s).
    let deadline = Instant::now() + Duration::from_secs(30);
    let (body, gauge) = loop {
        let body = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let gauge = body
            .lines()
            .find_map(|l| l.strip_prefix("feedwatch_database_bytes "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no database_bytes gauge:\n{body}"));
        let caught_up = gauge >= size_after && body.contains("feedwatch_database_free_pages 0");
        if caught_up || Instant::now() > deadline {
            break (body, gauge);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(gauge >= size_after, "{gauge} < {size_after}");
    assert!(body.contains("feedwatch_database_free_pages 0"), "{body}");
    assert!(body.contains("feedwatch_fault{fault=\"store_maintenance\"} 0"));

    let (service, code) = inst.service().await;
    assert_eq!(code, Some(0), "{service}");
    let db_json = &service["database"];
    assert_eq!(db_json["freelist_pages"], 0, "{service}");
    assert!(db_json["size_bytes"].as_u64().unwrap() >= size_after);
    let out = inst.run(&["status"]).await;
    assert!(
        text(&out.stdout).contains("database size: "),
        "{}",
        text(&out.stdout)
    );
    daemon.stop().await;
    // The last pass at shutdown resets the WAL.
    let wal = inst.dir.path().join("data/fw.db-wal");
    assert!(
        std::fs::metadata(&wal).map_or(0, |m| m.len()) == 0,
        "WAL left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_the_daemon_commits_restores_every_alert_before_it() {
    let srv = TestServer::start().await;
    let feeds = farm(&srv, 150, 8);
    let inst = Instance::new(&feeds);
    let mut daemon = Daemon::start(&inst, &[]);
    let db = inst.db();
    wait_for(
        "the first alerts committed",
        Duration::from_secs(60),
        || {
            db.exists()
                && Connection::open(&db).is_ok_and(|c| {
                    c.query_row("SELECT count(*) FROM alerts", [], |r| r.get::<_, i64>(0))
                        .is_ok_and(|n| n >= 40)
                })
        },
    )
    .await;

    // Every alert committed before the backup starts.
    let committed = alert_ids(&db);
    let dest = inst.dir.path().join("backups/fw-backup.db");
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    let started = Instant::now();
    let out = inst.run(&["db", "backup", dest.to_str().unwrap()]).await;
    let took = started.elapsed();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with(&format!("wrote {}", dest.display())),
        "{}",
        text(&out.stdout)
    );
    let backed_up = alert_ids(&dest);

    // Again to the same path: refused, the backup untouched.
    let out = inst.run(&["db", "backup", dest.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("already exists"));

    // The daemon went on committing past the backup.
    wait_for("every item alerted", Duration::from_secs(180), || {
        count(&db, "(SELECT DISTINCT article_id FROM alerts)") == 150 * 8
    })
    .await;
    daemon.stop().await;
    let total = count(&db, "alerts") as usize;
    assert!(
        backed_up.len() < total,
        "the backup was taken mid-cycle ({} of {total} alerts)",
        backed_up.len()
    );

    // Restore: the backup into a new instance's place, check, read.
    let restored = Instance::new(&feeds);
    std::fs::create_dir_all(restored.db().parent().unwrap()).unwrap();
    std::fs::copy(&dest, restored.db()).unwrap();
    let out = restored.run(&["db", "check"]).await;
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let have = alert_ids(&restored.db());
    let lost: Vec<&i64> = committed.difference(&have).collect();
    assert!(
        lost.is_empty(),
        "alerts committed before the backup lost: {lost:?}"
    );
    assert_eq!(pragma(&restored.db(), "auto_vacuum"), 2);
    let (service, code) = restored.service().await;
    assert_eq!(code, Some(0), "{service}");
    println!(
        "backup of {} alerts ({} committed before it started) in {took:?}: {} bytes",
        have.len(),
        committed.len(),
        std::fs::metadata(&dest).unwrap().len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_check_finds_a_damaged_copy_and_says_what_to_do() {
    let srv = TestServer::start().await;
    let inst = Instance::new(&farm(&srv, 3, 5));
    let out = inst.run(&["poll", "--once"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = inst.run(&["db", "check"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(": ok"), "{}", text(&out.stdout));

    let copy = inst.dir.path().join("damaged.db");
    std::fs::copy(inst.db(), &copy).unwrap();
    let (root, page_size): (i64, i64) = {
        let c = Connection::open(&copy).unwrap();
        let root = c
            .query_row(
                "SELECT rootpage FROM sqlite_schema WHERE name = 'articles'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        (
            root,
            c.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap(),
        )
    };
    let mut bytes = std::fs::read(&copy).unwrap();
    let at = ((root - 1) * page_size) as usize;
    for b in &mut bytes[at..at + 64] {
        *b = 0xA5;
    }
    std::fs::write(&copy, bytes).unwrap();

    let out = inst.run(&["db", "check", copy.to_str().unwrap()]).await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("DAMAGED"), "{err}");
    assert!(err.contains("backup") && err.contains("db check"), "{err}");

    let out = inst
        .run(&[
            "db",
            "check",
            inst.dir.path().join("none.db").to_str().unwrap(),
        ])
        .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("does not exist"));
}
