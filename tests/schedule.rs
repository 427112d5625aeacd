//! Scheduling and politeness through the real binary: adaptive intervals, gap detection,
//! permanent redirects, host-wide Retry-After and 410 Gone.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test panics on a broken fixture

mod common;

use common::{Fixture, Instance, TestServer};

/// An RSS document whose items are published `step_secs` apart, newest first.
fn dated_feed(prefix: &str, n: usize, step_secs: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut s =
        String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>T</title>");
    for i in 0..n {
        let t = chrono::DateTime::from_timestamp(now - i as i64 * step_secs, 0)
            .expect("time")
            .to_rfc2822();
        s.push_str(&format!(
            "<item><title>{prefix} {i}</title><link>http://news.invalid/{prefix}/{i}</link><pubDate>{t}</pubDate></item>"
        ));
    }
    s.push_str("</channel></rss>");
    s
}

fn feed_entry(srv: &TestServer, path: &str, name: &str) -> String {
    format!(
        "[[feeds]]\nurl = \"{}\"\nname = \"{name}\"\n\n",
        srv.url(path)
    )
}

fn row<'a>(status: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    status
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no row {name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interval_adapts_to_publishing_rate() {
    let srv = TestServer::start().await;
    srv.set(
        "/hourly",
        Fixture::ok("application/rss+xml", dated_feed("h", 10, 3600)),
    );
    srv.set(
        "/busy",
        Fixture::ok("application/rss+xml", dated_feed("b", 10, 30)),
    );
    srv.set(
        "/daily",
        Fixture::ok("application/rss+xml", dated_feed("d", 10, 86400 * 3)),
    );
    srv.set(
        "/undated",
        Fixture::ok(
            "application/rss+xml",
            common::rss("U", &[("x", "http://news.invalid/u", None)]),
        ),
    );
    let inst = Instance::new(
        &[
            ("/hourly", "hourly"),
            ("/busy", "busy"),
            ("/daily", "daily"),
            ("/undated", "undated"),
        ]
        .iter()
        .map(|(p, n)| feed_entry(&srv, p, n))
        .collect::<String>(),
    );
    assert!(inst.run(&["poll", "--once"]).await.status.success());
    let st = inst.status().await;
    assert_eq!(
        row(&st, "hourly")["interval_secs"],
        900,
        "a quarter of the publishing gap"
    );
    assert_eq!(
        row(&st, "busy")["interval_secs"],
        120,
        "clamped to min_interval"
    );
    assert_eq!(
        row(&st, "daily")["interval_secs"],
        6 * 3600,
        "clamped to max_interval"
    );
    assert_eq!(
        row(&st, "undated")["interval_secs"],
        600,
        "no dates: the configured interval"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_feed_of_only_new_items_is_a_gap() {
    let srv = TestServer::start().await;
    srv.set(
        "/f",
        Fixture::ok("application/rss+xml", dated_feed("first", 5, 60)),
    );
    let inst = Instance::new(&feed_entry(&srv, "/f", "f"));
    assert!(inst.run(&["poll", "--once"]).await.status.success());
    assert_eq!(
        row(&inst.status().await, "f")["gaps"],
        0,
        "the first poll is no gap"
    );
    // Some overlap: no gap.
    let mut doc = dated_feed("first", 3, 60);
    doc = doc.replace(
        "</channel>",
        &dated_feed("second", 2, 60)[doc.find("<item>").unwrap_or(0)..]
            .replace("</channel></rss>", "</channel>"),
    );
    srv.set("/f", Fixture::ok("application/rss+xml", doc));
    assert!(inst.run(&["poll", "--once"]).await.status.success());
    assert_eq!(
        row(&inst.status().await, "f")["gaps"],
        0,
        "overlap means nothing was missed"
    );
    // Five entirely new items in a five-item window: some may have been missed.
    srv.set(
        "/f",
        Fixture::ok("application/rss+xml", dated_feed("third", 5, 60)),
    );
    let out = inst.run(&["poll", "--once"]).await;
    assert!(out.status.success());
    let st = inst.status().await;
    assert_eq!(row(&st, "f")["gaps"], 1);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("missed"),
        "a warning says so"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_redirect_moves_the_feed_and_gone_stops_it() {
    let srv = TestServer::start().await;
    srv.set("/old", Fixture::redirect(301, &srv.url("/new")));
    srv.set(
        "/new",
        Fixture::ok("application/rss+xml", dated_feed("n", 3, 60)),
    );
    srv.set("/temp", Fixture::redirect(302, &srv.url("/new2")));
    srv.set(
        "/new2",
        Fixture::ok("application/rss+xml", dated_feed("m", 3, 60)),
    );
    srv.set("/gone", Fixture::status(410));
    let inst = Instance::new(
        &(feed_entry(&srv, "/old", "old")
            + &feed_entry(&srv, "/temp", "temp")
            + &feed_entry(&srv, "/gone", "gone")),
    );
    assert!(inst.run(&["poll", "--once"]).await.status.success());
    let st = inst.status().await;
    assert_eq!(row(&st, "old")["moved_to"], srv.url("/new"));
    assert_eq!(
        row(&st, "temp")["moved_to"],
        serde_json::Value::Null,
        "302 is temporary"
    );
    let gone = row(&st, "gone");
    assert!(
        gone["last_error"].as_str().unwrap_or("").contains("gone"),
        "{gone}"
    );
    assert_eq!(
        gone["next_poll"],
        serde_json::Value::Null,
        "polling stopped"
    );

    assert!(inst.run(&["poll", "--once"]).await.status.success());
    assert_eq!(
        srv.requests("/old"),
        1,
        "the moved feed is fetched at its new address"
    );
    assert_eq!(srv.requests("/temp"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_pauses_the_whole_host() {
    let srv = TestServer::start().await;
    srv.set("/a", Fixture::status(429).with_header("Retry-After", "120"));
    srv.set(
        "/b",
        Fixture::ok("application/rss+xml", dated_feed("b", 3, 60)),
    );
    let inst = Instance::new(&(feed_entry(&srv, "/a", "a") + &feed_entry(&srv, "/b", "b")));
    let cfg = std::fs::read_to_string(inst.config())
        .expect("read")
        .replace("concurrency = 4", "concurrency = 1");
    std::fs::write(inst.config(), cfg).expect("write");
    assert!(inst.run(&["poll", "--once"]).await.status.success());
    assert_eq!(
        srv.requests("/b"),
        0,
        "the paused host is not contacted for another feed"
    );
    let st = inst.status().await;
    let b = row(&st, "b");
    assert!(
        b["last_error"].as_str().unwrap_or("").contains("pause"),
        "{b}"
    );
    for name in ["a", "b"] {
        let next = row(&st, name)["next_poll"]
            .as_str()
            .expect("next poll")
            .to_string();
        let next = chrono::DateTime::parse_from_rfc3339(&next)
            .expect("rfc3339")
            .timestamp();
        assert!(
            next - chrono::Utc::now().timestamp() >= 100,
            "{name} waits out Retry-After"
        );
    }
}

/// Seconds from now until a status row's next poll.
fn next_poll_in(status: &[serde_json::Value], name: &str) -> i64 {
    let next = row(status, name)["next_poll"]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: no next poll"))
        .to_string();
    chrono::DateTime::parse_from_rfc3339(&next)
        .expect("rfc3339")
        .timestamp()
        - chrono::Utc::now().timestamp()
}

const MAX_INTERVAL: i64 = 6 * 3600;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_a_server_asks_for_are_capped_at_max_interval() {
    let srv = TestServer::start().await;
    let plain = common::rss("P", &[("x", "http://news.invalid/p", None)]);
    // Ten years of Cache-Control, 190 years of <ttl> (in minutes), three years of Retry-After.
    srv.set(
        "/max-age",
        Fixture::ok("application/rss+xml", plain.clone())
            .with_header("Cache-Control", "public, max-age=315360000"),
    );
    srv.set(
        "/ttl",
        Fixture::ok(
            "application/rss+xml",
            plain.replace("<description>test</description>", "<ttl>99999999</ttl>"),
        ),
    );
    srv.set(
        "/retry",
        Fixture::status(503).with_header("Retry-After", "99999999"),
    );
    // A wait within the cap is honoured as asked.
    srv.set(
        "/modest",
        Fixture::ok("application/rss+xml", plain).with_header("Cache-Control", "max-age=7200"),
    );
    // The 503's pause applies to its whole host, so it is reached under another host name
    // (`localhost` against `127.0.0.1`): otherwise the other feeds, polled after it in any
    // order, would be paused too and the test would depend on that order.
    let port = srv.addr.port();
    let config: String = ["max-age", "ttl", "modest"]
        .iter()
        .map(|n| feed_entry(&srv, &format!("/{n}"), n))
        .chain(std::iter::once(format!(
            "[[feeds]]\nurl = \"http://localhost:{port}/retry\"\nname = \"retry\"\n\n"
        )))
        .collect();
    let inst = Instance::new(&config);
    let out = inst.run(&["poll", "--once"]).await;
    assert!(out.status.success());
    let st = inst.status().await;
    for name in ["max-age", "ttl", "retry"] {
        let wait = next_poll_in(&st, name);
        assert!(
            (MAX_INTERVAL - 60..=MAX_INTERVAL).contains(&wait),
            "{name}: next poll in {wait}s, the cap is {MAX_INTERVAL}s"
        );
    }
    let modest = next_poll_in(&st, "modest");
    assert!((7200 - 60..=7200).contains(&modest), "modest: {modest}s");
    let log = String::from_utf8_lossy(&out.stderr);
    for (name, what) in [
        ("max-age", "Cache-Control"),
        ("ttl", "<ttl>"),
        ("retry", "Retry-After"),
    ] {
        let url = if name == "retry" {
            format!("http://localhost:{port}/retry")
        } else {
            srv.url(&format!("/{name}"))
        };
        assert!(
            log.lines().any(|l| l.contains(&url)
                && l.contains(what)
                && l.contains("max_interval")
                && l.contains("WARN")),
            "{name}: no warning naming the feed:\n{log}"
        );
    }
    assert!(
        !log.lines()
            .any(|l| l.contains(&srv.url("/modest")) && l.contains("max_interval")),
        "a wait within the cap is no warning"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_next_poll_beyond_max_interval_is_pulled_in_at_start() {
    let srv = TestServer::start().await;
    srv.set(
        "/f",
        Fixture::ok(
            "application/rss+xml",
            common::rss("F", &[("x", "http://news.invalid/f", None)]),
        ),
    );
    srv.set("/gone", Fixture::status(410));
    let inst = Instance::new(&(feed_entry(&srv, "/f", "f") + &feed_entry(&srv, "/gone", "gone")));
    assert!(inst.run(&["poll", "--once"]).await.status.success());
    assert_eq!(srv.requests("/f"), 1);
    // What an older version stored after a `<ttl>` of 190 years, polled seven hours ago.
    let now = chrono::Utc::now().timestamp();
    let db = rusqlite::Connection::open(inst.db()).expect("open db");
    db.execute(
        "UPDATE feeds SET next_poll_at = ?1, last_poll_at = ?2 WHERE url = ?3",
        rusqlite::params![7_800_000_000_i64, now - 7 * 3600, srv.url("/f")],
    )
    .expect("update");
    drop(db);

    let mut daemon = common::Daemon::start(&inst, &["--grace", "1s"]);
    common::wait_for(
        "the second poll",
        std::time::Duration::from_secs(15),
        || srv.requests("/f") >= 2,
    )
    .await;
    daemon.stop().await;
    assert_eq!(
        srv.requests("/f"),
        2,
        "the feed is polled at once: its last poll plus max_interval is past"
    );
    assert_eq!(
        srv.requests("/gone"),
        1,
        "a feed that is gone stays stopped"
    );
    let log = daemon.log();
    assert!(
        log.lines().any(|l| l.contains(&srv.url("/f"))
            && l.contains("further away than [poll] max_interval")
            && l.contains("WARN")),
        "{log}"
    );
}
