//! Cost of the seen keys against the number kept (issue #14): a poll looks up only its
//! document's keys, commits write the staged table, and the sweep moves them over and forgets.
//! The soak's 200-feed farm keeps 604,500 keys on day 30 and 1,755,000 from day 89 on; this
//! replays one of its days (200 documents of 97 keys, half of them known; 8 commits of 25
//! feeds' 2,425 new keys; the sweep to its end, forgetting a day's worth) on a database
//! holding each number, and prints the times. Wall time on one thread, the database file
//! in the OS cache, SQLite's own cache cold (a new connection each step, as a new
//! `poll --once` has).
//!
//! Run: `cargo bench --bench seen` (about a minute; the databases go to a temporary folder).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench panics on a broken fixture

use std::path::Path;
use std::time::Instant;

use feedwatch::store::{PollRecord, Store};

const DAY: i64 = 86_400;
const T0: i64 = 1_717_243_200;
const DOCS: usize = 200;
const PER_DOC: usize = 97;

/// A reproducible stream of 63-bit keys, spread as item hashes are.
struct Keys(u64);

impl Iterator for Keys {
    type Item = i64;
    fn next(&mut self) -> Option<i64> {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Some((self.0 >> 1) as i64)
    }
}

/// A database holding `n` keys in `seen_items`, spread evenly over the last 90 days: the
/// oldest day's share is past the retention at `T0 + 90 days`.
fn fill(path: &Path, n: usize) -> (i64, Vec<i64>) {
    let mut s = Store::open(path).unwrap();
    s.sync_feeds([("http://f.invalid/", None)], 0).unwrap();
    let feed = s.feeds().unwrap()[0].id;
    drop(s);
    let mut c = rusqlite::Connection::open(path).unwrap();
    let tx = c.transaction().unwrap();
    let mut sample = Vec::new();
    {
        let mut ins = tx
            .prepare(
                "INSERT OR IGNORE INTO seen_items (key, feed_id, last_present) VALUES (?1, ?2, ?3)",
            )
            .unwrap();
        for (i, k) in Keys(0x9E37_79B9_7F4A_7C15).take(n).enumerate() {
            let at = T0 - 1 + (i as i64 * 90 / n as i64) * DAY;
            ins.execute(rusqlite::params![k, feed, at]).unwrap();
            if i % (n / (DOCS * PER_DOC / 2)).max(1) == 0 {
                sample.push(k);
            }
        }
    }
    tx.commit().unwrap();
    (feed, sample)
}

fn bench(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seen.db");
    let (feed, known) = fill(&path, n);
    let now = T0 + 90 * DAY;
    let mut new_keys = Keys(0x0123_4567_89AB_CDEF);
    let docs: Vec<Vec<i64>> = (0..DOCS)
        .map(|d| {
            let half = &known[(d * PER_DOC / 2) % known.len()..];
            let mut doc: Vec<i64> = half.iter().take(PER_DOC / 2).copied().collect();
            doc.extend(new_keys.by_ref().take(PER_DOC - doc.len()));
            doc
        })
        .collect();

    let s = Store::open(&path).unwrap();
    let started = Instant::now();
    let mut fresh = Vec::new();
    for doc in &docs {
        fresh.push(s.seen_lookup(doc, now).unwrap().unseen);
    }
    let lookup = started.elapsed();
    drop(s);

    let mut s = Store::open(&path).unwrap();
    let started = Instant::now();
    for batch in fresh.chunks(25) {
        let recs: Vec<PollRecord> = batch
            .iter()
            .map(|keys| PollRecord {
                seen: keys.iter().map(|k| vec![*k]).collect(),
                ..PollRecord::new(feed, now)
            })
            .collect();
        s.commit_polls(&recs).unwrap();
    }
    let commits = started.elapsed();
    drop(s);

    let mut s = Store::open(&path).unwrap();
    let started = Instant::now();
    let forgotten = s.forget_seen_all(now).unwrap();
    let sweep = started.elapsed();
    let keys: usize = docs.iter().map(Vec::len).sum();
    let added: usize = fresh.iter().map(Vec::len).sum();
    println!(
        "{n:>9} keys kept: lookup {:>6.1} ms ({:.2} µs a key, {keys} keys) | 8 commits of {added} new keys {:>6.1} ms | sweep {:>6.1} ms ({forgotten} forgotten)",
        lookup.as_secs_f64() * 1e3,
        lookup.as_secs_f64() * 1e6 / keys as f64,
        commits.as_secs_f64() * 1e3,
        sweep.as_secs_f64() * 1e3,
    );
}

fn main() {
    // `cargo test --benches` runs this with `--bench` absent: a smoke run only.
    let full = std::env::args().any(|a| a == "--bench");
    let sizes: &[usize] = if full {
        &[19_500, 604_500, 1_189_500, 1_755_000]
    } else {
        &[19_500]
    };
    for &n in sizes {
        bench(n);
    }
}
