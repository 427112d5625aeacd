//! Crash safety: the real binary is killed with SIGKILL at pseudo-random moments while it
//! polls a loopback feed farm that keeps publishing, then restarted. Afterwards the database
//! passes `PRAGMA integrity_check`, every expected alert exists exactly once, and the alert
//! log holds each exactly once. Bounded: a fixed number of kills, loopback only.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::backend::Backend;
use common::stories::{filler, Lcg, KEYWORD, PLAIN};
use common::{rss, Daemon, Fixture, Instance, TestServer};

const FEEDS: usize = 30;
const KILLS: usize = 16;
const NEW_ITEMS_PER_ROUND: usize = 8;

/// Publishes `rounds` rounds of items on every feed; returns the links that carry keywords.
fn publish(srv: &TestServer, rounds: usize) -> HashSet<String> {
    let mut keyword_links = HashSet::new();
    for f in 0..FEEDS {
        let mut items = Vec::new();
        for r in 0..rounds {
            for i in 0..NEW_ITEMS_PER_ROUND {
                let link = format!("http://news.invalid/{f}/{r}/{i}");
                let hot = (f + r + i) % 5 == 0;
                if hot {
                    keyword_links.insert(link.clone());
                }
                // Each story its own text, so story grouping keeps them apart.
                let text = format!(
                    "{} {}",
                    if hot { KEYWORD } else { PLAIN },
                    filler(f * 1000 + r * 100 + i)
                );
                items.push((format!("Item {f}-{r}-{i}"), link, text));
            }
        }
        let refs: Vec<(&str, &str, Option<&str>)> = items
            .iter()
            .map(|(t, l, d)| (t.as_str(), l.as_str(), Some(d.as_str())))
            .collect();
        srv.set(
            &format!("/feed/{f}"),
            Fixture::ok("application/rss+xml", rss(&format!("Feed {f}"), &refs)),
        );
    }
    keyword_links
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_loses_and_repeats_nothing() {
    let srv = TestServer::start().await;
    let feeds: String = (0..FEEDS)
        .map(|f| {
            format!(
                "[[feeds]]\nurl = \"{}\"\nname = \"feed-{f}\"\n\n",
                srv.url(&format!("/feed/{f}"))
            )
        })
        .collect();
    let inst = Instance::new(&feeds);
    if Backend::current() == Backend::Postgres {
        // Each killed run holds its feeds' leases until they end: the shortest lease keeps
        // the last clean run's wait for them short.
        inst.storage("lease = \"6s\"");
    }
    let mut rng = Lcg(0x5eed);
    let mut expected = HashSet::new();
    let mut killed_mid_run = 0;

    // How long a cold run of the first round takes here (debug or release build, busy or idle
    // machine): kills are spread over that span, so they land mid-run however fast it is.
    let probe = Instance::new(&feeds);
    publish(&srv, 1);
    let t0 = std::time::Instant::now();
    let out = probe.run(&["poll", "--once"]).await;
    assert!(out.status.success(), "probe run failed");
    let span_ms = (t0.elapsed().as_millis() as u64).max(4);

    for round in 1..=KILLS {
        expected = publish(&srv, round);
        let mut child = Daemon::spawn(&inst, &["poll", "--once"]);
        // The kill point itself: a pseudo-random moment of the run (a sleep on purpose).
        let wait_ms = 1 + rng.next() % span_ms;
        tokio::time::sleep(Duration::from_millis(wait_ms)).await;
        if child.try_wait().is_none() {
            killed_mid_run += 1;
        }
        child.kill(); // SIGKILL, then reaped
    }
    assert!(
        killed_mid_run >= KILLS / 2,
        "most kills must land mid-run (got {killed_mid_run})"
    );

    // A clean run to finish the work.
    let out = inst.run(&["poll", "--once"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // PostgreSQL checks its own pages; SQLite's file is checked here.
    if !Backend::skips("PRAGMA integrity_check of the SQLite file") {
        let store = feedwatch::store::Store::open(&inst.db()).expect("open");
        assert!(
            store.integrity_ok().expect("integrity check"),
            "integrity_check failed"
        );
    }

    // Database: every keyword item alerted, each (url, rule) exactly once.
    let alerts = inst.alerts().await;
    let mut per: HashMap<(String, String), usize> = HashMap::new();
    for a in &alerts {
        let k = (
            a["url"].as_str().unwrap_or("").to_string(),
            a["rule"].as_str().unwrap_or("").to_string(),
        );
        *per.entry(k).or_default() += 1;
    }
    assert!(per.values().all(|&n| n == 1), "an alert was stored twice");
    let alerted: HashSet<String> = per.keys().map(|(u, _)| u.clone()).collect();
    let missing: Vec<_> = expected.difference(&alerted).collect();
    assert!(
        missing.is_empty(),
        "{} keyword items never alerted, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    assert!(alerted.is_subset(&expected), "only keyword items alert");

    // Log: exactly the stored alerts, each once.
    let log = inst.log_lines();
    let mut ids: Vec<i64> = log.iter().filter_map(|a| a["id"].as_i64()).collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "an alert was written to the log twice");
    let db_ids: HashSet<i64> = alerts.iter().filter_map(|a| a["id"].as_i64()).collect();
    assert_eq!(
        ids.into_iter().collect::<HashSet<_>>(),
        db_ids,
        "log and database disagree"
    );
    println!(
        "{KILLS} kills ({killed_mid_run} mid-run), {} keyword items, {} alerts, each exactly once",
        expected.len(),
        alerts.len()
    );
}

/// Row 14 of issue 11: an alert with a 1 MB title, then a crash between the log write and
/// the delivered mark (simulated by clearing the marks). The log line is cut to a bounded
/// size with a marker, and repair at the next start finds the last line whatever its
/// length, so nothing is written twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_title_is_cut_and_repair_finds_its_line() {
    let srv = TestServer::start().await;
    let title = format!(
        "Rockets hit Baghdad's Green Zone near the US embassy {}",
        "again ".repeat(180_000)
    );
    srv.set(
        "/big",
        Fixture::ok(
            "application/rss+xml",
            rss(
                "Big",
                &[(&title, "http://news.invalid/big/1", Some(KEYWORD))],
            ),
        ),
    );
    let inst = Instance::new(&format!(
        "[[feeds]]\nurl = \"{}\"\nname = \"big\"\n",
        srv.url("/big")
    ));
    let out = inst.run(&["poll", "--once"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = inst.log_lines();
    assert!(!lines.is_empty());
    for l in &lines {
        let t = l["title"].as_str().expect("title");
        assert_eq!(t.chars().count(), feedwatch::alert::MAX_FIELD_CHARS);
        assert!(
            t.ends_with(feedwatch::text::safe_text::TRUNCATED),
            "{t:.80}"
        );
    }
    let size = std::fs::metadata(inst.alert_log()).expect("log").len();
    assert!(size < 64 * 1024, "log lines stay bounded: {size} bytes");

    // The crash: the lines are in the log, the marks are not.
    inst.sql("UPDATE alerts SET delivered_at = NULL");
    let out = inst.run(&["poll", "--once"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut ids: Vec<i64> = inst
        .log_lines()
        .iter()
        .filter_map(|a| a["id"].as_i64())
        .collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        (ids.len(), n),
        (lines.len(), lines.len()),
        "repair wrote nothing twice"
    );
}
