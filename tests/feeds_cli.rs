//! The everyday CLI, run as the real binary against a config in a temporary folder:
//! `feeds list|add|remove|import|export` and `search`.

mod common;

use common::backend::Backend;
use common::{json_lines, Instance};
use feedwatch::store::{NewArticle, PollRecord, Store};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs the binary and checks its exit code, showing its output when it differs.
async fn run_ok(inst: &Instance, args: &[&str], code: i32) -> (String, String) {
    let out = inst.run(args).await;
    let (so, se) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(code),
        "feedwatch {args:?}\nstdout: {so}\nstderr: {se}"
    );
    (so, se)
}

#[tokio::test]
async fn add_list_remove_keep_the_file_and_refuse_duplicates() {
    let inst = Instance::new("");
    let cfg = inst.config();
    let original = std::fs::read_to_string(&cfg).expect("read config");
    std::fs::write(&cfg, format!("# Hand-written comment.\n{original}")).expect("comment");

    let (_, err) = run_ok(
        &inst,
        &[
            "feeds",
            "add",
            "https://a.example/rss",
            "--name",
            "Alpha",
            "--tag",
            "iraq",
            "--tag",
            "region",
            "--full-text",
            "--interval",
            "30m",
        ],
        0,
    )
    .await;
    assert!(err.contains("systemctl reload feedwatch"), "{err}");
    run_ok(&inst, &["feeds", "add", "https://b.example/feed"], 0).await;

    // Same feed after normalisation: refused, file untouched.
    let before = std::fs::read_to_string(&cfg).expect("read");
    let (_, err) = run_ok(&inst, &["feeds", "add", "HTTPS://A.example:443/rss#top"], 2).await;
    assert!(err.contains("already configured"), "{err}");
    assert_eq!(std::fs::read_to_string(&cfg).expect("read"), before);
    let (_, err) = run_ok(&inst, &["feeds", "add", "gopher://x.example/"], 2).await;
    assert!(err.contains("unsupported scheme"), "{err}");

    let text = std::fs::read_to_string(&cfg).expect("read");
    assert!(text.starts_with("# Hand-written comment.\n"), "{text}");

    let (out, _) = run_ok(&inst, &["feeds", "list", "--format", "json"], 0).await;
    let feeds = json_lines(out.as_bytes());
    assert_eq!(feeds.len(), 2);
    assert_eq!(feeds[0]["url"], "https://a.example/rss");
    assert_eq!(feeds[0]["name"], "Alpha");
    assert_eq!(feeds[0]["tags"], serde_json::json!(["iraq", "region"]));
    assert_eq!(feeds[0]["full_text"], true);
    assert_eq!(feeds[0]["interval_secs"], 1800);
    assert_eq!(feeds[1]["name"], serde_json::Value::Null);

    let (out, _) = run_ok(&inst, &["feeds", "list"], 0).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("NAME "), "{out}");
    let col = lines[0].find("URL").expect("URL column");
    assert_eq!(lines[1].find("https://a"), Some(col), "aligned:\n{out}");
    assert_eq!(lines[2].find("https://b"), Some(col), "aligned:\n{out}");

    run_ok(&inst, &["feeds", "remove", "https://a.example/rss"], 0).await;
    let (_, err) = run_ok(&inst, &["feeds", "remove", "https://a.example/rss"], 2).await;
    assert!(err.contains("not a configured feed"), "{err}");
    let (out, _) = run_ok(&inst, &["feeds", "list", "--format", "json"], 0).await;
    assert_eq!(json_lines(out.as_bytes()).len(), 1);
    let text = std::fs::read_to_string(&cfg).expect("read");
    assert!(text.starts_with("# Hand-written comment.\n"), "{text}");
}

const OPML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>My subscriptions</title></head>
  <body>
    <outline text="Iraq">
      <outline type="rss" text="Rudaw" xmlUrl="https://rudaw.example/rss" category="kurdistan"/>
      <outline type="rss" text="Shafaq" title="Shafaq News" xmlUrl="https://shafaq.example/feed"/>
    </outline>
    <outline type="rss" text="Rudaw again" xmlUrl="https://RUDAW.example/rss"/>
    <outline type="rss" text="Bad" xmlUrl="javascript:alert(1)"/>
  </body>
</opml>
"#;

#[tokio::test]
async fn import_dedups_and_export_round_trips() {
    let inst = Instance::new("");
    let opml = inst.dir.path().join("subs.opml");
    std::fs::write(&opml, OPML).expect("write opml");
    let path = opml.to_str().expect("utf-8 path");

    let (out, err) = run_ok(&inst, &["feeds", "import", path], 1).await;
    assert!(
        out.contains("2 added, 1 skipped as duplicates, 1 invalid"),
        "{out}"
    );
    assert!(err.contains("javascript:alert(1)"), "{err}");
    // Importing again adds nothing.
    let (out, _) = run_ok(&inst, &["feeds", "import", path], 1).await;
    assert!(out.contains("0 added, 3 skipped"), "{out}");

    let (list, _) = run_ok(&inst, &["feeds", "list", "--format", "json"], 0).await;
    let feeds = json_lines(list.as_bytes());
    assert_eq!(feeds[0]["name"], "Rudaw");
    assert_eq!(feeds[0]["tags"], serde_json::json!(["Iraq", "kurdistan"]));
    assert_eq!(feeds[1]["name"], "Shafaq News");

    // Add a feed with every setting, then export → import into an empty config.
    run_ok(
        &inst,
        &[
            "feeds",
            "add",
            "https://x.example/a?b=1&c=2",
            "--name",
            "Tom & \"Jerry\" <x>",
            "--tag",
            "é",
            "--full-text",
            "--interval",
            "1h 30m",
        ],
        0,
    )
    .await;
    let (exported, _) = run_ok(&inst, &["feeds", "export"], 0).await;
    assert!(exported.contains("<opml version=\"2.0\""), "{exported}");
    assert!(
        exported.contains("Tom &amp; &quot;Jerry&quot; &lt;x&gt;"),
        "{exported}"
    );

    let fresh = Instance::new("");
    let file = fresh.dir.path().join("export.opml");
    std::fs::write(&file, &exported).expect("write export");
    let (out, _) = run_ok(
        &fresh,
        &["feeds", "import", file.to_str().expect("utf-8")],
        0,
    )
    .await;
    assert!(
        out.contains("3 added, 0 skipped as duplicates, 0 invalid"),
        "{out}"
    );
    let (list2, _) = run_ok(&fresh, &["feeds", "list", "--format", "json"], 0).await;
    let (list1, _) = run_ok(&inst, &["feeds", "list", "--format", "json"], 0).await;
    assert_eq!(list1, list2, "feeds round-trip exactly");
    let (exported2, _) = run_ok(&fresh, &["feeds", "export"], 0).await;
    assert_eq!(exported, exported2, "export is stable");
}

#[tokio::test]
async fn hostile_opml_is_a_clear_error() {
    let inst = Instance::new("");
    let before = std::fs::read_to_string(inst.config()).expect("read");
    let cases: [(&str, &str); 4] = [
        (
            "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;\">]><opml><body><outline text=\"&b;\" xmlUrl=\"http://a/\"/></body></opml>",
            "DOCTYPE",
        ),
        ("<opml><body><outline text=\"x\" xmlUrl=\"http://a/\">", "well-formed"),
        ("<html><body/></html>", "not an OPML document"),
        ("\u{0}\u{1}garbage", "not"),
    ];
    for (i, (doc, want)) in cases.iter().enumerate() {
        let p = inst.dir.path().join(format!("bad{i}.opml"));
        std::fs::write(&p, doc).expect("write");
        let (_, err) = run_ok(&inst, &["feeds", "import", p.to_str().expect("utf-8")], 2).await;
        assert!(err.contains(want), "case {i}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let huge = inst.dir.path().join("huge.opml");
    std::fs::write(
        &huge,
        vec![b' '; feedwatch::config::opml::MAX_OPML_BYTES + 10],
    )
    .expect("write");
    let (_, err) = run_ok(
        &inst,
        &["feeds", "import", huge.to_str().expect("utf-8")],
        2,
    )
    .await;
    assert!(err.contains("limit"), "{err}");
    assert_eq!(
        std::fs::read_to_string(inst.config()).expect("read"),
        before
    );
}

fn article(key: i64, title: &str, body: &str, published: i64) -> NewArticle {
    NewArticle {
        item_key: key,
        url: Some(format!("https://news.example/{key}")),
        canonical_url: None,
        title: title.into(),
        summary: String::new(),
        body: body.into(),
        body_source: "feed",
        author: None,
        lang: None,
        published_at: Some(published),
        link_canonical: None,
        fingerprint: feedwatch::story::fingerprint(&format!("{title} {body}")),
        alerts: vec![],
    }
}

#[tokio::test]
async fn search_finds_kept_articles() {
    if Backend::skips(
        "articles stored through the SQLite store's API (tests/pg_search.rs searches PostgreSQL)",
    ) {
        return;
    }
    let inst =
        Instance::new("[[feeds]]\nurl = \"https://news.example/rss\"\nname = \"Example News\"\n");
    let now = chrono::Utc::now().timestamp();
    {
        let mut store = Store::open(&inst.db()).expect("open store");
        store
            .sync_feeds([("https://news.example/rss", Some("Example News"))], now)
            .expect("sync");
        let feed_id = store.feeds().expect("feeds")[0].id;
        let articles = vec![
            article(
                1,
                "Rockets hit Green Zone",
                "Sirens sounded near the embassy in Baghdad.",
                now - 7200,
            ),
            article(
                2,
                "Markets calm",
                "Nothing about rockets here, only a green light.",
                now - 3600,
            ),
            article(3, "Café culture", "Baghdad's cafés reopen.", now - 60),
        ];
        store
            .commit_poll(&PollRecord {
                status: Some(200),
                seen: vec![vec![1], vec![2], vec![3]],
                articles,
                item_count: Some(3),
                ..PollRecord::new(feed_id, now - 100)
            })
            .expect("commit");
    }

    let (out, _) = run_ok(
        &inst,
        &["search", "--format", "json", "\"green zone\" AND rocket*"],
        0,
    )
    .await;
    let hits = json_lines(out.as_bytes());
    assert_eq!(hits.len(), 1, "{out}");
    assert_eq!(hits[0]["feed"], "Example News");
    assert_eq!(hits[0]["url"], "https://news.example/1");
    assert!(
        hits[0]["snippet"]
            .as_str()
            .unwrap_or("")
            .contains("«Green Zone»"),
        "{out}"
    );

    // Several words are one query; results are newest first; text is a table.
    let (out, _) = run_ok(&inst, &["search", "rocket*", "OR", "cafe"], 0).await;
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("TIME (UTC)"), "{out}");
    let first = out.find("Café culture").expect("café (accent-folded)");
    let last = out.find("Rockets hit").expect("rockets");
    assert!(first < last, "newest first:\n{out}");
    assert!(out.contains("    https://news.example/3"), "{out}");

    // --limit keeps the most relevant (title hit beats body hit).
    let (out, _) = run_ok(
        &inst,
        &["search", "--format", "json", "--limit", "1", "rockets"],
        0,
    )
    .await;
    let hits = json_lines(out.as_bytes());
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["id"], 1);

    run_ok(&inst, &["search", "--since", "1s", "baghdad"], 1).await;
    run_ok(&inst, &["search", "title:embassy"], 1).await;
    run_ok(&inst, &["search", "embassy NEAR/3 baghdad"], 0).await;
    run_ok(&inst, &["search", "baghdad NOT rockets"], 0).await;

    // Injection attempts are errors with a column, or inert terms.
    let (_, err) = run_ok(&inst, &["search", "\"a\" OR x) --"], 2).await;
    assert!(err.contains("column 9"), "{err}");
    run_ok(&inst, &["search", "zone\"\" OR title:*"], 2).await;
    let (_, err) = run_ok(&inst, &["search", "url:example"], 2).await;
    assert!(err.contains("full-text index"), "{err}");

    let (out, _) = run_ok(&inst, &["search", "--help"], 0).await;
    assert!(out.contains("Example: feedwatch search"), "{out}");
}
