//! Everyday commands through the real binary: backtest, `alerts --follow`, and the metrics
//! and health listener.

mod common;

use std::time::Duration;

use common::{rss, wait_for, Daemon, Fixture, Instance, TestServer};

const GZ: &str = "Rockets struck Baghdad's Green Zone overnight and landed near the US embassy, Iraqi security officials said.";
const DRONE: &str = "A drone was seen over the harbour on Tuesday; the coast guard said it posed no danger to shipping.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backtest_runs_new_rules_on_kept_and_recent_items() {
    let srv = TestServer::start().await;
    srv.set(
        "/f",
        Fixture::ok(
            "application/rss+xml",
            rss(
                "F",
                &[
                    ("Green Zone attack", "http://n.invalid/1", Some(GZ)),
                    ("Harbour drone", "http://n.invalid/2", Some(DRONE)),
                ],
            ),
        ),
    );
    let inst = Instance::new(&format!(
        "[[feeds]]\nurl = \"{}\"\nname = \"F\"\n",
        srv.url("/f")
    ));
    assert!(inst.run(&["poll", "--once"]).await.status.success());

    // A query matching only the item that alerted nothing: found among recent items.
    let out = inst
        .run(&["backtest", "--format", "json", "drone* NEAR/5 harbour"])
        .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = common::json_lines(&out.stdout);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0]["url"], "http://n.invalid/2");
    assert_eq!(lines[0]["source"], "recent");
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 matches"));

    // A rule file matching the kept article.
    let rf = inst.dir.path().join("new-rules.toml");
    std::fs::write(
        &rf,
        "[[rules]]\nname = \"gz\"\nquery = '\"green zone\" AND embassy'\nseverity = \"high\"\n",
    )
    .expect("write");
    let out = inst
        .run(&["backtest", rf.to_str().expect("utf-8"), "--since", "1h"])
        .await;
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("gz") && text.contains("http://n.invalid/1"),
        "{text}"
    );

    // Nothing matches: exit 1. A broken query: exit 2 with the caret.
    assert_eq!(
        inst.run(&["backtest", "zeppelin"]).await.status.code(),
        Some(1)
    );
    let out = inst.run(&["backtest", "(green"]).await;
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_follow_prints_new_alerts_as_they_are_delivered() {
    let srv = TestServer::start().await;
    srv.set("/f", Fixture::ok("application/rss+xml", rss("F", &[])));
    let inst = Instance::new(&format!(
        "[[feeds]]\nurl = \"{}\"\nname = \"F\"\n",
        srv.url("/f")
    ));
    assert!(inst.run(&["poll", "--once"]).await.status.success());

    let follow = Daemon::spawn(&inst, &["alerts", "--follow", "--format", "json"]);

    srv.set(
        "/f",
        Fixture::ok(
            "application/rss+xml",
            rss(
                "F",
                &[("Green Zone attack", "http://n.invalid/1", Some(GZ))],
            ),
        ),
    );
    assert!(inst.run(&["poll", "--once"]).await.status.success());
    let whole_lines = || -> Vec<String> {
        let out = follow.stdout();
        let whole = out.rfind('\n').map_or("", |i| &out[..i]);
        whole.lines().map(str::to_string).collect()
    };
    wait_for(
        "--follow to print the new alert",
        Duration::from_secs(10),
        || !whole_lines().is_empty(),
    )
    .await;
    let got = whole_lines();
    drop(follow); // kills it: --follow runs until stopped
    assert!(!got.is_empty(), "--follow printed nothing");
    let v: serde_json::Value = serde_json::from_str(&got[0]).expect("json line");
    assert_eq!(v["url"], "http://n.invalid/1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_health_are_served() {
    let srv = TestServer::start().await;
    srv.set(
        "/f",
        Fixture::ok(
            "application/rss+xml",
            rss(
                "F",
                &[("Green Zone attack", "http://n.invalid/1", Some(GZ))],
            ),
        ),
    );
    // Port 0: the daemon binds a free port and logs it (no port reserved, then released).
    let inst = Instance::new(&format!(
        "[http]\nlisten = \"127.0.0.1:0\"\n\n[[feeds]]\nurl = \"{}\"\nname = \"F\"\n",
        srv.url("/f")
    ));
    let mut daemon = Daemon::start(&inst, &[]);
    let port = daemon.http_addr().await.port();
    let get = |path: &str| -> Option<(u16, String)> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .ok()?;
        let mut buf = String::new();
        s.read_to_string(&mut buf).ok()?;
        let code = buf.split_whitespace().nth(1)?.parse().ok()?;
        Some((code, buf))
    };
    // The alert's counter is bumped at its commit and the poll's counters when the poll
    // ends, a moment apart: wait for all of them (a loaded machine widens the gap).
    let wanted = [
        "feedwatch_alerts_total{",
        "feedwatch_polls_total{result=\"ok\"} 1",
        "feedwatch_http_responses_total{status=\"200\"} 1",
        "feedwatch_poll_duration_seconds_count 1",
    ];
    let start = std::time::Instant::now();
    loop {
        let body = match get("/metrics") {
            Some((200, body)) => common::without_instance_label(&body),
            _ => String::new(),
        };
        if wanted.iter().all(|w| body.contains(w)) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "missing {:?}:\n{body}",
            wanted
                .iter()
                .filter(|w| !body.contains(*w))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(get("/healthz").map(|r| r.0), Some(200));
    daemon.signal(common::Signal::TERM);
    let _ = daemon.wait_exit(Duration::from_secs(15)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extract_prints_the_body_or_json_metadata() {
    let inst = Instance::new("");
    let seed = common::fixtures().join("seed/article.html");
    let out = inst.run(&["extract", seed.to_str().expect("utf-8")]).await;
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Green Zone"), "{text}");
    assert!(
        !text.contains("Iraq 'taking security measures' to prevent US embassy closure"),
        "no headline in text mode"
    );
    assert!(
        !text.contains("Follow us") && !text.contains("Read also"),
        "{text}"
    );

    let out = inst
        .run(&[
            "extract",
            "--format",
            "json",
            "--url",
            "https://www.newarab.com/news/x",
            seed.to_str().expect("utf-8"),
        ])
        .await;
    let v = common::json_lines(&out.stdout);
    let keys: Vec<&str> = v[0]
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    for k in [
        "title",
        "published",
        "author",
        "lang",
        "canonical_url",
        "text",
    ] {
        assert!(keys.contains(&k), "missing {k}: {keys:?}");
    }

    // An Arabic page in windows-1256, declared only in its <meta>: decoded right.
    let arabic = "المنطقة الخضراء في بغداد تتعرض لهجوم صاروخي جديد قرب السفارة الأمريكية";
    let html = format!(
        "<html><head><meta charset=\"windows-1256\"><title>خبر</title></head><body><article>{}</article></body></html>",
        format!("<p>{arabic}.</p>").repeat(4)
    );
    let (bytes, _, _) = encoding_rs::WINDOWS_1256.encode(&html);
    let page = inst.dir.path().join("ar.html");
    std::fs::write(&page, &*bytes).expect("write");
    let out = inst.run(&["extract", page.to_str().expect("utf-8")]).await;
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(arabic),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parse_prints_items_and_refuses_non_feeds() {
    let inst = Instance::new("");
    let feed = inst.dir.path().join("f.xml");
    std::fs::write(
        &feed,
        rss(
            "T",
            &[(
                "A title",
                "http://n.invalid/a",
                Some("<p>Some <b>summary</b></p>"),
            )],
        ),
    )
    .expect("write");
    let out = inst
        .run(&["parse", "--format", "json", feed.to_str().expect("utf-8")])
        .await;
    assert!(out.status.success());
    let v = common::json_lines(&out.stdout);
    assert_eq!(v[0]["format"], "rss2.0");
    let item = &v[0]["items"][0];
    assert_eq!(item["title"], "A title");
    assert_eq!(item["link"], "http://n.invalid/a");
    assert_eq!(item["published"], common::item_date_rfc3339().as_str());
    assert_eq!(item["summary_chars"], "Some summary".len());
    assert!(item.get("id").is_some());

    let html = inst.dir.path().join("page.html");
    std::fs::write(
        &html,
        "<!doctype html><html><body><p>hello</p></body></html>",
    )
    .expect("write");
    let out = inst.run(&["parse", html.to_str().expect("utf-8")]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .to_lowercase()
        .contains("not a feed"));
}

/// `parse` keeps the items a poll would keep (`[poll] max_items`) and says it cut the rest,
/// so a hostile file costs the command what it costs the daemon.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parse_keeps_the_items_a_poll_would_keep() {
    let inst = Instance::new("max_items = 3\n");
    let feed = common::fixtures().join("feeds/many-items.xml");
    let feed = feed.to_str().expect("utf-8");
    let out = inst.run(&["parse", "--format", "json", feed]).await;
    assert!(out.status.success());
    let v = common::json_lines(&out.stdout);
    assert_eq!(v[0]["items"].as_array().map(Vec::len), Some(3));
    let out = inst.run(&["parse", feed]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("3 items"), "{text}");
    assert!(text.contains("[poll] max_items"), "{text}");
}

/// A page whose "article" is a list of links, and a site that serves the same furniture for
/// every article: the feed's own text is matched instead, and `status` says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_extraction_falls_back_to_the_feed_text() {
    let srv = TestServer::start().await;
    let links: String = (0..40)
        .map(|i| {
            format!(
                "<li><a href=\"/x/{i}\">Rockets hit Green Zone near US embassy, story {i}</a></li>"
            )
        })
        .collect();
    let ticker = format!("<html><body><ul>{links}</ul></body></html>");
    srv.set("/p/1", Fixture::ok("text/html", ticker.clone()));
    srv.set("/p/2", Fixture::ok("text/html", ticker));
    srv.set(
        "/f",
        Fixture::ok(
            "application/rss+xml",
            rss(
                "F",
                &[
                    (
                        "Football: late winner",
                        &srv.url("/p/1"),
                        Some("A late goal settled the derby."),
                    ),
                    (
                        "Cup draw made",
                        &srv.url("/p/2"),
                        Some("The cup draw was made on Monday."),
                    ),
                ],
            ),
        ),
    );
    let inst = Instance::new(&format!(
        "[[feeds]]\nurl = \"{}\"\nname = \"F\"\nfull_text = true\n",
        srv.url("/f")
    ));
    assert!(inst.run(&["poll", "--once"]).await.status.success());
    assert!(inst.alerts().await.is_empty(), "furniture must not alert");
    let st = inst.status().await;
    assert_eq!(st[0]["extract_failures"], 2, "{st:?}");
    assert!(
        st[0]["last_extract_error"]
            .as_str()
            .is_some_and(|e| e.contains("/p/")),
        "{st:?}"
    );
}
