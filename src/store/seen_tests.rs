//! Unit tests of `store::seen`: the migrations into the keyed table, the held keys, the
//! lookup and the sweep.

use super::*;

const T0: i64 = 1_700_000_000;

fn store() -> (tempfile::TempDir, Store, i64) {
    let dir = tempfile::tempdir().expect("tmp");
    let mut s = Store::open(&dir.path().join("f.db")).expect("open");
    s.sync_feeds([("http://f.invalid/", None)], 0)
        .expect("sync");
    let feed = s.feeds().expect("feeds")[0].id;
    (dir, s, feed)
}

fn rows(s: &Store, table: &str) -> Vec<(i64, i64, Option<i64>)> {
    s.conn
        .prepare(&format!(
            "SELECT key, last_present, published_at FROM {table} ORDER BY key"
        ))
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

fn poll(feed: i64, at: i64, seen: &[i64], present: &[i64]) -> PollRecord {
    PollRecord {
        seen: seen.iter().map(|k| vec![*k]).collect(),
        present: present.to_vec(),
        ..PollRecord::new(feed, at)
    }
}

#[test]
fn migrations_start_last_presence_at_first_sighting_and_key_the_table() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("f.db");
    {
        let mut c = Connection::open(&path).expect("open");
        super::super::migrations()
            .to_version(&mut c, 8)
            .expect("schema 8");
        c.execute_batch(
            "INSERT INTO feeds (id, url, created_at) VALUES (1, 'http://f/', 0);
             INSERT INTO seen_items (key, feed_id, first_seen) VALUES (7, 1, 1000), (8, 1, 2000);",
        )
        .expect("rows");
    }
    let mut s = Store::open(&path).expect("migrate");
    assert_eq!(rows(&s, "seen_items"), [(7, 1000, None), (8, 2000, None)]);
    // Undated: forgotten R after the last presence, not before.
    let r = s.seen_keys().expect("seen").horizon(0).abs();
    assert_eq!(s.forget_seen_all(1000 + r).expect("forget"), 0);
    assert_eq!(s.forget_seen_all(1001 + r).expect("forget"), 1);
    assert_eq!(s.unseen(&[7, 8]).expect("unseen"), [7]);
}

#[test]
fn a_key_stored_twice_keeps_its_latest_presence_and_date() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("f.db");
    {
        let mut c = Connection::open(&path).expect("open");
        super::super::migrations()
            .to_version(&mut c, super::super::SEEN_BY_KEY_SCHEMA - 1)
            .expect("schema 10");
        c.execute_batch(
            "INSERT INTO feeds (id, url, created_at) VALUES (1, 'http://f/', 0);
             INSERT INTO seen_items (key, feed_id, first_seen, last_present, published_at)
             VALUES (9, 1, 10, 10, NULL), (9, 1, 20, 30, 25), (-4, 1, 5, 5, 1);",
        )
        .expect("rows");
    }
    let s = Store::open(&path).expect("migrate");
    assert_eq!(
        rows(&s, "seen_items"),
        [(-4, 5, Some(1)), (9, 30, Some(25))]
    );
    assert!(rows(&s, "seen_staged").is_empty());
    let plan: String = s
        .conn
        .query_row(
            "EXPLAIN QUERY PLAN SELECT key FROM seen_items WHERE key IN (SELECT value FROM json_each('[1]'))",
            [],
            |r| r.get(3),
        )
        .expect("plan");
    assert!(plan.contains("INTEGER PRIMARY KEY"), "{plan}");
}

#[test]
fn held_keys_are_known_until_released() {
    let (_dir, mut s, feed) = store();
    let seen = s.seen_keys().expect("seen");
    let rec = poll(feed, T0, &[1, 2], &[]);
    seen.hold(&rec);
    seen.hold(&poll(feed, T0, &[2], &[]));
    assert_eq!(s.unseen(&[1, 2, 3, 3]).expect("unseen"), [3]);
    // Committed, then released: known from the table.
    s.commit_poll(&rec).expect("commit");
    seen.release(&rec);
    assert_eq!(
        seen.held_len(),
        1,
        "key 2 is still held by the other record"
    );
    assert_eq!(s.unseen(&[1, 2, 3]).expect("unseen"), [3]);
    // A record that was never committed: new again once released.
    let lost = poll(feed, T0, &[4], &[]);
    seen.hold(&lost);
    assert!(s.unseen(&[4]).expect("unseen").is_empty());
    seen.release(&lost);
    assert_eq!(s.unseen(&[4]).expect("unseen"), [4]);
}

#[test]
fn lookup_says_which_presences_are_due() {
    let (_dir, mut s, feed) = store();
    s.commit_poll(&poll(feed, T0, &[1, 2], &[]))
        .expect("commit");
    let found = s.seen_lookup(&[2, 1, 3, 1], T0 + 60).expect("lookup");
    assert_eq!(found.unseen, [3]);
    assert!(found.stale.is_empty(), "written today");
    let next_day = T0 + DAY;
    assert_eq!(
        s.seen_lookup(&[2, 1], next_day).expect("lookup").stale,
        [1, 2]
    );
    // A presence held for a commit in flight is not due again.
    let seen = s.seen_keys().expect("seen");
    let rec = poll(feed, next_day, &[], &[2]);
    seen.hold(&rec);
    assert_eq!(s.seen_lookup(&[2, 1], next_day).expect("lookup").stale, [1]);
    s.commit_poll(&rec).expect("commit");
    seen.release(&rec);
    assert_eq!(s.seen_lookup(&[2, 1], next_day).expect("lookup").stale, [1]);
    assert_eq!(rows(&s, "seen_staged")[1], (2, next_day, None));
}

#[test]
fn the_sweep_merges_and_forgets_window_by_window_and_goes_on_after_a_restart() {
    let (dir, mut s, feed) = store();
    let n = 2 * SWEEP_ROWS + 100;
    // Old keys 0..n in the table, last present at T0; the even ones present again later.
    s.conn
        .execute(
            "WITH RECURSIVE k(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM k WHERE x + 1 < ?1)
             INSERT INTO seen_items (key, feed_id, last_present) SELECT x, ?2, ?3 FROM k",
            params![n, feed, T0],
        )
        .expect("fill");
    let later = T0 + 80 * DAY;
    let evens: Vec<i64> = (0..n).step_by(2).collect();
    s.commit_poll(&poll(feed, later, &[-5, n + 5], &evens))
        .expect("commit");
    assert_eq!(rows(&s, "seen_staged").len(), evens.len() + 2);
    let at = T0 + 100 * DAY;
    let first = s.forget_seen(at, FORGET_BATCH).expect("pass");
    assert!(first.more);
    assert_eq!(first.forgotten, FORGET_BATCH, "a full batch stops the pass");
    drop(s);
    let mut s = Store::open(&dir.path().join("f.db")).expect("reopen");
    let mut forgotten = first.forgotten;
    let mut passes = 1;
    loop {
        let p = s.forget_seen(at, FORGET_BATCH).expect("pass");
        forgotten += p.forgotten;
        passes += 1;
        if !p.more {
            break;
        }
    }
    assert!(passes >= 4, "{passes}");
    assert_eq!(forgotten as i64, n / 2, "the odd keys, absent since T0");
    assert!(rows(&s, "seen_staged").is_empty(), "all merged");
    assert_eq!(s.seen_count().expect("count"), n / 2 + 2);
    assert_eq!(s.unseen(&[-5, 0, 1, 2, n + 5]).expect("unseen"), [1]);
    // The next round starts again from the lowest key.
    assert_eq!(
        s.forget_seen(at + 90 * DAY, 10).expect("pass"),
        Swept {
            forgotten: 10,
            merged: 0,
            more: true
        }
    );
    assert_eq!(
        rows(&s, "seen_items")[0].0,
        18,
        "-5 and the even keys to 16 went"
    );
}

/// The sweep reads where it stands, then writes: begun as a plain (deferred) transaction, a
/// commit by another connection between its read and its first write made SQLite answer
/// "database is locked" at once, without waiting (the daemon raised `seen_retention` for a
/// sink worker's commit). Begun IMMEDIATE, it waits its turn like every other writer.
#[test]
fn the_sweep_waits_for_other_writers_instead_of_failing() {
    let (dir, mut s, feed) = store();
    // Enough keys that a window's reads take a while: the other writer commits meanwhile.
    let keys: Vec<i64> = (1..=40_000).collect();
    s.commit_poll(&poll(feed, T0, &keys, &[])).expect("commit");
    let path = dir.path().join("f.db");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut other = Store::open(&path).expect("open");
            let mut at = T0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                at += 1;
                other
                    .commit_poll(&poll(feed, at, &[-at], &[]))
                    .expect("other writer");
            }
        })
    };
    let mut failures = Vec::new();
    for i in 0..300 {
        if let Err(e) = s.forget_seen(T0 + 200 * 86_400, 64) {
            failures.push(format!("pass {i}: {e}"));
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().expect("writer");
    assert!(failures.is_empty(), "{failures:?}");
}
