//! Operator mistakes through the real binary (issue 11, rows 4, 5, 15, 16 and 18): an emptied
//! config, a database path changed under a running daemon, zero intervals and caps, feed URLs
//! that are not web feeds, and `config check` reporting every problem at once without
//! echoing huge input.
//!
//! `FEEDWATCH_BIN_UNDER_TEST=/path/to/feedwatch` runs these against another build (e.g. the
//! one before these fixes, to see each test fail there).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test panics on a broken fixture

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::backend::Backend;
use common::{rss, wait_for, Daemon, Fixture, Instance, Signal, TestServer};

/// Runs the binary on `config` with `args`, off the async threads.
async fn run(config: &Path, args: &[&str]) -> Output {
    common::run_config(config, args).await
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A feed entry for the test server's `path`, polled hourly.
fn feed(srv: &TestServer, path: &str) -> String {
    format!(
        "[[feeds]]\nurl = \"{}\"\nname = \"{path}\"\ninterval = \"1h\"\n\n",
        srv.url(path)
    )
}

async fn server(paths: &[&str]) -> TestServer {
    let srv = TestServer::start().await;
    for p in paths {
        srv.set(
            p,
            Fixture::ok(
                "application/rss+xml",
                rss(p, &[("Weather", "http://n.invalid/w", None)]),
            ),
        );
    }
    srv
}

/// Row 4: an emptied config is refused by `config check`, `run`, `poll --once` and a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_with_no_feeds_or_no_rules_is_refused_everywhere() {
    let srv = server(&["/a"]).await;
    let inst = Instance::new(&feed(&srv, "/a"));
    let good = std::fs::read_to_string(inst.config()).expect("read");
    let no_feeds = Instance::new("");

    std::fs::write(inst.config(), "").expect("truncate");
    let out = run(&inst.config(), &["config", "check"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("key `feeds`: no feeds"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("key `rules`: no rules"),
        "{}",
        stderr(&out)
    );
    for args in [&["poll", "--once"][..], &["run"][..]] {
        let out = tokio::time::timeout(Duration::from_secs(30), run(&no_feeds.config(), args))
            .await
            .unwrap_or_else(|_| panic!("{args:?} on a config without feeds must not idle"));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("no feeds"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    let out = run(&no_feeds.config(), &["config", "check"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    // The daemon refuses to reload into an empty file, or into one without feeds.
    std::fs::write(inst.config(), &good).expect("restore");
    let mut daemon = Daemon::start(&inst, &["--grace", "2s"]);
    wait_for("the first poll", Duration::from_secs(30), || {
        srv.requests("/a") >= 1
    })
    .await;
    let emptied = [
        String::new(),
        std::fs::read_to_string(no_feeds.config()).expect("read"),
    ];
    for (i, text) in emptied.iter().enumerate() {
        std::fs::write(inst.config(), text).expect("write");
        daemon.signal(Signal::HUP);
        wait_for("reload refusal", Duration::from_secs(10), || {
            daemon.log().matches("reload refused").count() > i
        })
        .await;
    }
    let log = daemon.log();
    assert!(log.contains("no feeds are configured"), "{log}");
    assert!(!log.contains("reload applied"), "{log}");
    daemon.stop().await;
}

/// Row 5: a reload that changes `[storage] database` (and the alert log) keeps the files in
/// use; feeds added by a later reload are polled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_database_path_waits_for_a_restart() {
    if Backend::skips("a reload that moves the SQLite file (a URL change waits for a restart alike, by the same code)") {
        return;
    }
    let srv = server(&["/a", "/b", "/c"]).await;
    let inst = Instance::new(&feed(&srv, "/a"));
    let good = std::fs::read_to_string(inst.config()).expect("read");
    let mut daemon = Daemon::start(&inst, &["--grace", "2s"]);
    wait_for("the first poll", Duration::from_secs(30), || {
        srv.requests("/a") >= 1
    })
    .await;

    let moved = good
        .replace("data/fw.db", "moved/fw.db")
        .replace("data/alerts.jsonl", "moved/alerts.jsonl");
    assert_ne!(moved, good);
    std::fs::write(inst.config(), format!("{moved}\n{}", feed(&srv, "/b"))).expect("write");
    daemon.signal(Signal::HUP);
    wait_for("the second feed", Duration::from_secs(30), || {
        srv.requests("/b") >= 1
    })
    .await;
    // The next reload must still register feeds in the database the daemon uses.
    std::fs::write(
        inst.config(),
        format!("{moved}\n{}{}", feed(&srv, "/b"), feed(&srv, "/c")),
    )
    .expect("write");
    daemon.signal(Signal::HUP);
    wait_for(
        "the feed added by the second reload",
        Duration::from_secs(15),
        || srv.requests("/c") >= 1,
    )
    .await;
    // Said once per reload that still differs from the files in use.
    let log = daemon.log();
    assert!(
        log.contains("[storage] database changed: takes effect on restart"),
        "{log}"
    );
    assert!(
        log.contains("[alerts] log changed: takes effect on restart"),
        "{log}"
    );

    daemon.stop().await;
    assert!(
        !inst.dir.path().join("moved").exists(),
        "the new paths are not used before a restart"
    );
}

/// Row 15: a zero per-feed interval is refused from the config, `feeds add` and OPML.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_intervals_are_refused_from_every_source() {
    let srv = server(&["/a"]).await;
    let inst = Instance::new(&format!(
        "[[feeds]]\nurl = \"{}\"\ninterval = \"0s\"\n",
        srv.url("/a")
    ));
    let text = std::fs::read_to_string(inst.config()).expect("read");
    let line = text
        .lines()
        .position(|l| l == "[[feeds]]")
        .expect("feeds line")
        + 1;
    for args in [&["config", "check"][..], &["poll", "--once"][..]] {
        let out = run(&inst.config(), args).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let want = format!("feedwatch.toml:{line}: key `feeds[0].interval`: 0s is out of bounds");
        assert!(stderr(&out).contains(&want), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(srv.requests("/a"), 0, "nothing polled");

    let fresh = Instance::new("");
    let before = std::fs::read_to_string(fresh.config()).expect("read");
    let out = run(
        &fresh.config(),
        &["feeds", "add", "https://a.example/rss", "--interval", "0s"],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--interval: 0s is out of bounds"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(fresh.config()).expect("read"),
        before
    );

    let opml = fresh.dir.path().join("subs.opml");
    std::fs::write(
        &opml,
        "<opml version=\"2.0\" xmlns:feedwatch=\"https://github.com/feedwatch/feedwatch/opml\"><body>\
         <outline text=\"Fast\" xmlUrl=\"https://fast.example/rss\" feedwatch:interval=\"0s\"/>\
         <outline text=\"Slow\" xmlUrl=\"https://slow.example/rss\" feedwatch:interval=\"400days\"/>\
         <outline text=\"Fine\" xmlUrl=\"https://fine.example/rss\" feedwatch:interval=\"15m\"/>\
         </body></opml>",
    )
    .expect("write opml");
    let out = run(
        &fresh.config(),
        &["feeds", "import", opml.to_str().expect("utf-8")],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("https://fast.example/rss: feedwatch:interval: 0s is out of bounds"),
        "{err}"
    );
    assert!(
        err.contains("https://slow.example/rss: feedwatch:interval"),
        "{err}"
    );
    let cfg = std::fs::read_to_string(fresh.config()).expect("read");
    assert!(
        cfg.contains("fine.example") && !cfg.contains("fast.example"),
        "{cfg}"
    );
    let out = run(&fresh.config(), &["config", "check"]).await;
    assert!(!stderr(&out).contains("interval"), "{}", stderr(&out));
}

/// Row 16: `feeds add` and OPML import take http(s) only; local paths stay possible in the
/// config file itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_web_feeds_come_from_the_command_line_or_opml() {
    let inst = Instance::new("");
    let before = std::fs::read_to_string(inst.config()).expect("read");
    for url in [
        "javascript:alert(1)",
        "data:application/rss+xml,<rss/>",
        "mailto:ops@example.com",
        "file:///etc/passwd",
        "/etc/shadow",
    ] {
        let out = run(&inst.config(), &["feeds", "add", url]).await;
        assert_eq!(out.status.code(), Some(2), "{url}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(url),
            "names the input: {}",
            stderr(&out)
        );
        assert_eq!(
            std::fs::read_to_string(inst.config()).expect("read"),
            before,
            "{url}: config untouched"
        );
    }

    let opml = inst.dir.path().join("subs.opml");
    std::fs::write(
        &opml,
        "<opml version=\"2.0\"><body>\
         <outline text=\"p\" xmlUrl=\"file:///etc/passwd\"/>\
         <outline text=\"s\" xmlUrl=\"/etc/shadow\"/>\
         <outline text=\"d\" xmlUrl=\"data:text/xml,&lt;rss/&gt;\"/>\
         <outline text=\"m\" xmlUrl=\"mailto:a@example.com\"/>\
         <outline text=\"ok\" xmlUrl=\"https://ok.example/rss\"/>\
         </body></opml>",
    )
    .expect("write opml");
    let out = run(
        &inst.config(),
        &["feeds", "import", opml.to_str().expect("utf-8")],
    )
    .await;
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("1 added, 0 skipped as duplicates, 4 invalid"),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    let cfg = std::fs::read_to_string(inst.config()).expect("read");
    assert!(!cfg.contains("file:") && !cfg.contains("/etc/"), "{cfg}");
    assert!(stderr(&out).contains("/etc/shadow"), "{}", stderr(&out));

    // In the config file, a local feed file is fine; a script URL is not a path.
    let local = Instance::new("[[feeds]]\nurl = \"drop/feed.xml\"\nname = \"dropped\"\n");
    std::fs::create_dir_all(local.dir.path().join("drop")).expect("mkdir");
    std::fs::write(
        local.dir.path().join("drop/feed.xml"),
        rss("Dropped", &[("Weather", "http://n.invalid/w", None)]),
    )
    .expect("write feed");
    let out = run(&local.config(), &["poll", "--once"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let script = Instance::new("[[feeds]]\nurl = \"javascript:alert(1)\"\n");
    let out = run(&script.config(), &["config", "check"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("key `feeds[0].url`: unsupported scheme `javascript`"),
        "{}",
        stderr(&out)
    );
}

/// Row 18: `config check` lists every problem at once, with file, line and key, and never
/// echoes a huge query in full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_check_reports_everything_without_huge_echoes() {
    let dir = tempfile::tempdir().expect("tmp");
    let query = format!("{}) {}", "alpha ".repeat(20_000), "beta ".repeat(20_000));
    assert!(query.len() > 200_000);
    std::fs::write(
        dir.path().join("rules.toml"),
        format!(
            "[[rules]]\nname = \"typed\"\nquery = \"x\"\nseverity = 5\n\n\
             [[rules]]\nname = \"b\"\nquery = \"a AND\"\n\n\
             [[rules]]\nname = \"c\"\nquery = \"(open\"\n\n\
             [[rules]]\nname = \"huge\"\nquery = \"{query}\"\n"
        ),
    )
    .expect("write rules");
    let cfg = dir.path().join("feedwatch.toml");
    std::fs::write(
        &cfg,
        "rule_files = [\"rules.toml\"]\n\n\
         [fetch]\ntimeout = \"0s\"\nmax_feed_bytes = 0\n\n\
         [poll]\ninterval = \"0s\"\nconcurrency = 0\nmax_items = 0\n\n\
         [[feeds]]\nurl = \"https://a.example/rss\"\n\n\
         [[sinks]]\nname = \"mail\"\ntype = \"exec\"\n\n\
         [[sinks]]\nname = \"blank\"\ntype = \"exec\"\ncommand = [\" \"]\n",
    )
    .expect("write config");
    let out = run(&cfg, &["config", "check"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    for want in [
        "feedwatch.toml:4: key `fetch.timeout`",
        "feedwatch.toml:5: key `fetch.max_feed_bytes`",
        "feedwatch.toml:8: key `poll.interval`",
        "feedwatch.toml:9: key `poll.concurrency`",
        "feedwatch.toml:10: key `poll.max_items`",
        "feedwatch.toml:15: key `sinks[0].command`",
        "feedwatch.toml:22: key `sinks[1].command`",
        "rules.toml:4: key `rules.severity`",
        "rules.toml:6: key `query`: rule `b`",
        "rules.toml:10: key `query`: rule `c`",
        "rules.toml:14: key `query`: rule `huge`",
    ] {
        assert!(err.contains(want), "{want} missing from:\n{err}");
    }
    assert!(err.len() < 8_000, "{} bytes of output", err.len());
    // The huge query is shown as a window around the error, the caret under the `)`.
    let lines: Vec<&str> = err.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains("rule `huge`"))
        .expect("huge rule's error");
    let (echo, caret) = (lines[at + 1], lines[at + 2]);
    assert!(echo.contains('…'), "clipped with a marker: {echo}");
    let col = caret.find('^').expect("caret");
    assert_eq!(
        echo.chars().nth(caret[..col].chars().count()),
        Some(')'),
        "{echo}\n{caret}"
    );
}
