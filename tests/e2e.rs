//! End to end through the real binary: the seed article flows feed item → article page →
//! extracted text → alerts, served from a loopback server in the test.

mod common;

use common::seed::{
    assert_only_the_seed_alerted, rules_of, seed_body_paragraphs, serve_seed, SEED_TITLE,
};
use common::{page, read_fixture, rss, Fixture, Instance, TestServer};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_article_end_to_end() {
    let srv = TestServer::start().await;
    let seed_url = serve_seed(&srv);
    let inst = Instance::new(&format!(
        "[[feeds]]\nurl = \"{}\"\nname = \"The New Arab\"\nfull_text = true\n",
        srv.url("/rss")
    ));

    let out = inst.run(&["poll", "--once"]).await;
    assert!(
        out.status.success(),
        "poll failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Both default rules alert on the seed, with their terms; nothing else alerts.
    let alerts = inst.alerts().await;
    assert_only_the_seed_alerted(&alerts, &seed_url);
    for a in &alerts {
        assert_eq!(a["severity"].as_str().map(str::is_empty), Some(false));
        let terms: Vec<String> = a["terms"]
            .as_array()
            .expect("terms")
            .iter()
            .filter_map(|t| t.as_str().map(str::to_lowercase))
            .collect();
        let snippet = a["snippet"].as_str().expect("snippet").to_lowercase();
        match a["rule"].as_str() {
            Some("green-zone") => {
                assert!(terms.iter().any(|t| t.contains("green zone")), "{terms:?}");
                assert!(snippet.contains("green zone"), "{snippet}");
            }
            _ => {
                assert!(terms.iter().any(|t| t.contains("embassy")), "{terms:?}");
                assert!(snippet.contains("embassy"), "{snippet}");
            }
        }
        for k in [
            "id",
            "time",
            "rule",
            "severity",
            "feed",
            "title",
            "url",
            "published",
            "terms",
            "snippet",
        ] {
            assert!(a.get(k).is_some(), "alert lacks `{k}`: {a}");
        }
    }
    // The alert log holds the same two alerts.
    let log = inst.log_lines();
    assert_eq!(log.len(), 2, "{log:#?}");

    // The seed is kept with its extracted body: the paragraphs, no furniture.
    let articles = inst.articles().await;
    assert_eq!(
        articles.len(),
        1,
        "only the seed is kept: {:?}",
        articles.iter().map(|a| &a.title).collect::<Vec<_>>()
    );
    let body = &articles[0].body;
    for furniture in ["2 min read", "Read also", "Follow us", "Getty]"] {
        assert!(
            !body.contains(furniture),
            "body contains {furniture:?}:\n{body}"
        );
    }
    let normalised = body.split_whitespace().collect::<Vec<_>>().join(" ");
    for para in seed_body_paragraphs() {
        assert!(normalised.contains(&para), "body lacks paragraph {para:?}");
    }

    // Status: the feed polled fine, items counted.
    let status = inst.status().await;
    assert_eq!(status.len(), 1);
    assert_eq!(status[0]["last_status"], 200);
    assert_eq!(status[0]["items_seen"], 4);
    assert_eq!(status[0]["articles_kept"], 1);
    assert_eq!(status[0]["last_error"], Value::Null);

    // Poll again: a conditional GET answered 304, no page fetched again, no alert repeated.
    let seed_page_fetches =
        srv.requests("/news/iraq-taking-security-measures-prevent-us-embassy-closure");
    let out = inst.run(&["poll", "--once"]).await;
    assert!(out.status.success());
    assert_eq!(srv.hits("/rss", 304), 1, "second poll must be conditional");
    assert_eq!(inst.alerts().await.len(), 2);
    assert_eq!(inst.log_lines().len(), 2);

    // The server forgets validators and serves the same items: still nothing repeated.
    let body = read_fixture("seed/article.html");
    srv.set(
        "/news/iraq-taking-security-measures-prevent-us-embassy-closure",
        Fixture {
            etag: None,
            ..Fixture::ok("text/html", body)
        },
    );
    let feed = rss("The New Arab", &[(SEED_TITLE, &seed_url, None)]);
    srv.set(
        "/rss",
        Fixture {
            etag: None,
            ..Fixture::ok("application/rss+xml", feed)
        },
    );
    let out = inst.run(&["poll", "--once"]).await;
    assert!(out.status.success());
    assert_eq!(inst.alerts().await.len(), 2);
    assert_eq!(inst.log_lines().len(), 2);
    assert_eq!(
        srv.requests("/news/iraq-taking-security-measures-prevent-us-embassy-closure"),
        seed_page_fetches,
        "a seen item's page is never fetched again"
    );
}

/// The same item as Atom and as JSON Feed gives the same alerts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atom_and_json_feed_alike() {
    let srv = TestServer::start().await;
    let seed_url = srv.url("/news/seed");
    srv.set(
        "/news/seed",
        Fixture::ok(
            "text/html; charset=utf-8",
            read_fixture("seed/article.html"),
        ),
    );
    // Recent, or the items would be older than the seen-key retention and never new.
    let date = common::item_date_rfc3339();
    let atom = format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>The New Arab</title><id>urn:test:atom</id>
<updated>{date}</updated>
<entry><title>{}</title><id>urn:test:seed</id><link rel="alternate" href="{}"/>
<updated>{date}</updated></entry></feed>"#,
        common::esc(SEED_TITLE),
        seed_url
    );
    let json = serde_json::json!({
        "version": "https://jsonfeed.org/version/1.1",
        "title": "The New Arab",
        "items": [{"id": "urn:test:seed", "url": seed_url, "title": SEED_TITLE,
                   "date_published": date}]
    })
    .to_string();
    srv.set("/atom", Fixture::ok("application/atom+xml", atom));
    srv.set("/json", Fixture::ok("application/feed+json", json));

    let mut seen = Vec::new();
    for path in ["/atom", "/json"] {
        let inst = Instance::new(&format!(
            "[[feeds]]\nurl = \"{}\"\nname = \"The New Arab\"\nfull_text = true\n",
            srv.url(path)
        ));
        let out = inst.run(&["poll", "--once"]).await;
        assert!(
            out.status.success(),
            "{path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let alerts = inst.alerts().await;
        let rules = rules_of(&alerts, &seed_url);
        assert_eq!(
            rules,
            vec!["embassy-security", "green-zone"],
            "{path}: {alerts:#?}"
        );
        assert!(
            alerts.iter().all(|a| a["published"] == date.as_str()),
            "{path}: {alerts:#?}"
        );
        seen.push(rules);
    }
    assert_eq!(seen[0], seen[1]);
}

/// Broken feeds each give a clear error on their own row; the good feed's alerts arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_feeds_do_not_stop_good_ones() {
    let srv = TestServer::start().await;
    let seed_url = serve_seed(&srv);
    srv.set("/500", Fixture::status(500));
    srv.set(
        "/html",
        Fixture::ok("text/html", page("Not a feed", &["Just a web page."])),
    );
    srv.set(
        "/truncated",
        Fixture::ok(
            "application/rss+xml",
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Cut",
        ),
    );
    // A port nothing listens on: bind, read the port, close.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead_port = dead.local_addr().expect("addr").port();
    drop(dead);
    let bad = [
        ("missing", srv.url("/404")),
        ("error", srv.url("/500")),
        ("unreachable", format!("http://127.0.0.1:{dead_port}/rss")),
        ("html", srv.url("/html")),
        ("truncated", srv.url("/truncated")),
    ];
    let mut feeds = String::new();
    for (name, url) in &bad {
        feeds.push_str(&format!(
            "[[feeds]]\nurl = \"{url}\"\nname = \"{name}\"\n\n"
        ));
    }
    feeds.push_str(&format!(
        "[[feeds]]\nurl = \"{}\"\nname = \"good\"\nfull_text = true\n",
        srv.url("/rss")
    ));
    let inst = Instance::new(&feeds);

    let out = inst.run(&["poll", "--once"]).await;
    assert!(
        out.status.success(),
        "a failing feed is not fatal: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        rules_of(&inst.alerts().await, &seed_url),
        vec!["embassy-security", "green-zone"]
    );

    let status = inst.status().await;
    let row = |name: &str| {
        status
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .expect("row")
    };
    let err = |name: &str| {
        row(name)["last_error"]
            .as_str()
            .unwrap_or("")
            .to_lowercase()
    };
    assert_eq!(row("missing")["last_status"], 404);
    assert!(err("missing").contains("404"), "{}", err("missing"));
    assert_eq!(row("error")["last_status"], 500);
    assert!(err("error").contains("500"));
    assert!(
        err("unreachable").contains("connect"),
        "{}",
        err("unreachable")
    );
    assert!(err("html").contains("html"), "{}", err("html"));
    assert!(!err("truncated").is_empty());
    for (name, _) in &bad {
        assert_eq!(row(name)["consecutive_failures"], 1, "{name}");
        assert!(
            err(name).contains("http://"),
            "error names the feed: {}",
            err(name)
        );
    }
    assert_eq!(row("good")["last_error"], Value::Null);
    // One warning per failing feed on stderr, naming it.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("127.0.0.1:{dead_port}")),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_config_line_is_named() {
    let inst = Instance::new("[[feeds]]\nurl = \"http://127.0.0.1:9/rss\"\nfull_txt = true\n");
    let out = inst.run(&["poll", "--once"]).await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("feedwatch.toml:"), "{stderr}");
    assert!(stderr.contains("full_txt"), "{stderr}");
    let line = stderr
        .split("feedwatch.toml:")
        .nth(1)
        .and_then(|s| s.split(':').next())
        .unwrap_or("");
    assert_eq!(line, "18", "line of the bad key: {stderr}");
    // config check lists it too and exits 2.
    let out = inst.run(&["config", "check"]).await;
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_command_on_seed_and_unrelated_text() {
    let inst = Instance::new("");
    let seed = common::fixtures().join("seed/article.txt");
    let out = inst
        .run(&["check", seed.to_str().expect("utf-8 path")])
        .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("green-zone") && text.contains("embassy-security"),
        "{text}"
    );

    let out = inst
        .run(&[
            "check",
            "--format",
            "json",
            seed.to_str().expect("utf-8 path"),
        ])
        .await;
    let v = common::json_lines(&out.stdout);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0]["title"], SEED_TITLE);
    assert_eq!(v[0]["matches"].as_array().map(Vec::len), Some(2));

    let other = inst.dir.path().join("other.txt");
    std::fs::write(&other, "Local council approves new library\n\nThe council voted to fund a new library and a bus route.\n")
        .expect("write");
    let out = inst
        .run(&["check", other.to_str().expect("utf-8 path")])
        .await;
    assert_eq!(out.status.code(), Some(1));
    let out = inst.run(&["check", "/nonexistent/file.txt"]).await;
    assert_eq!(out.status.code(), Some(2));
}
