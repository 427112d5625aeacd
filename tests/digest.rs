//! `feedwatch digest` through the binary, on a database made the way a person makes one:
//! feeds served from a loopback server (the seed article, a wire story syndicated by two
//! outlets, an unrelated story with a hostile headline, a feed that is gone), one
//! `poll --once`, then the alerts' times spread over two days so the chart has several bars.
//! The HTML is parsed and checked against `alerts --format json` (the oracle); text and JSON
//! carry the same content; headless Chromium renders the page at a phone's and a desktop's
//! width (see `digest_renders_in_chromium`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test panics on a broken fixture

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::seed::serve_seed_page;
use common::stories::{OTHER, WIRE};
use common::{png, rss, Fixture, Instance, TestServer};
use scraper::{Html, Selector};
use serde_json::Value;

const SEED_TITLE: &str = "Iraq 'taking security measures' to prevent US embassy closure";

/// A headline written to break out of HTML if it were not escaped.
/// (Markup in a feed's title is stripped; escaped markup comes through as text.)
const HOSTILE_TITLE: &str =
    "Drone downed over Green Zone \"><img src=x> &lt;script&gt;alert(1)&lt;/script&gt;";

/// A feed name with no place to break a line: it must wrap, not widen the page.
const LONG_NAME: &str = "Agence-France-Presse-Arabic-Service-Baghdad-Bureau-Security-Desk-Feed";

/// A polled database with three stories, a failing feed, and alert times spread out:
/// the seed's alerts 3 hours ago, the drone story's 30 hours ago, the wire story's now.
struct Seeded {
    _srv: TestServer,
    inst: Instance,
    seed_url: String,
}

async fn seeded() -> Seeded {
    let srv = TestServer::start().await;
    let seed_url = serve_seed_page(&srv);
    srv.set(
        "/rss",
        Fixture::ok(
            "application/rss+xml",
            rss("The New Arab", &[(SEED_TITLE, &seed_url, None)]),
        ),
    );
    let wire_b = format!("BAGHDAD (Reuters) - {WIRE}");
    let feeds: [(&str, &str, &str, &str); 3] = [
        (
            "/a",
            "Rockets hit Baghdad's Green Zone",
            "http://a.invalid/1",
            WIRE,
        ),
        (
            "/b",
            "Rocket attack near US embassy in Baghdad",
            "http://b.invalid/story",
            &wire_b,
        ),
        ("/c", HOSTILE_TITLE, "http://c.invalid/drone", OTHER),
    ];
    for (path, title, link, text) in feeds {
        srv.set(
            path,
            Fixture::ok(
                "application/rss+xml",
                rss(path, &[(title, link, Some(text))]),
            ),
        );
    }
    let entry = |path: &str, name: &str, extra: &str| {
        format!(
            "[[feeds]]\nurl = \"{}\"\nname = \"{name}\"\n{extra}\n",
            srv.url(path)
        )
    };
    let inst = Instance::new(
        &[
            entry("/rss", "The New Arab", "full_text = true\n"),
            entry("/a", "Wire A", ""),
            entry("/b", "Outlet B", ""),
            entry("/c", "Outlet C", ""),
            entry("/gone", LONG_NAME, ""),
        ]
        .concat(),
    );
    let out = inst.run(&["poll", "--once"]).await;
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "poll: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (url, hours) in [(seed_url.as_str(), 3), ("http://c.invalid/drone", 30)] {
        inst.sql(&format!(
            "UPDATE alerts SET created_at = created_at - {}
              WHERE article_id IN (SELECT id FROM articles WHERE url = '{url}')",
            hours * 3600
        ));
        let now = chrono::Utc::now();
        let moved = inst.alerts().await.iter().any(|a| {
            a["url"] == url
                && a["time"].as_str().is_some_and(|t| {
                    chrono::DateTime::parse_from_rfc3339(t)
                        .is_ok_and(|t| (now - t.to_utc()).num_hours() >= hours - 1)
                })
        });
        assert!(moved, "no alert for {url} moved {hours} hours back");
    }
    Seeded {
        _srv: srv,
        inst,
        seed_url,
    }
}

async fn digest(inst: &Instance, args: &[&str]) -> String {
    let mut all = vec!["digest"];
    all.extend_from_slice(args);
    let out = inst.run(&all).await;
    assert!(
        out.status.success(),
        "digest {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

/// Unix seconds of an RFC 3339 time.
fn secs(t: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t).unwrap().timestamp()
}

/// (hour bucket start, rule) → alerts, from `alerts --format json`.
fn hourly(alerts: &[Value]) -> BTreeMap<(i64, String), usize> {
    let mut m = BTreeMap::new();
    for a in alerts {
        let t = secs(a["time"].as_str().unwrap());
        let rule = a["rule"].as_str().unwrap().to_string();
        *m.entry((t - t.rem_euclid(3600), rule)).or_default() += 1;
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_digest_groups_stories_draws_the_counts_and_loads_nothing() {
    let s = seeded().await;
    let alerts = s.inst.alerts().await;
    let urls: BTreeSet<&str> = alerts.iter().filter_map(|a| a["url"].as_str()).collect();
    assert_eq!(urls.len(), 3, "seed, wire, drone: {alerts:#?}");
    let out = s.inst.dir.path().join("digest.html");
    digest(
        &s.inst,
        &[
            "--since",
            "48h",
            "--format",
            "html",
            "--output",
            out.to_str().unwrap(),
        ],
    )
    .await;
    let html = std::fs::read_to_string(&out).unwrap();
    let doc = Html::parse_document(&html);

    // One group per story: the wire story's two copies are one, listing both links.
    let stories: Vec<_> = doc.select(&sel("table.story")).collect();
    assert_eq!(stories.len(), 3, "{html}");
    let links_of = |t: &scraper::ElementRef| -> BTreeSet<String> {
        t.select(&sel("a[href]"))
            .filter_map(|a| a.value().attr("href").map(str::to_string))
            .collect()
    };
    let wire: Vec<_> = stories
        .iter()
        .filter(|t| links_of(t).contains("http://a.invalid/1"))
        .collect();
    assert_eq!(wire.len(), 1, "the wire story is one group");
    assert!(
        links_of(wire[0]).contains("http://b.invalid/story"),
        "copy listed"
    );
    // Newest first: wire (now), seed (3 h ago), drone (30 h ago).
    let first_links: Vec<String> = stories
        .iter()
        .map(|t| t.select(&sel("a.title, span.title")).next().unwrap().html())
        .collect();
    assert!(first_links[1].contains(&s.seed_url), "{first_links:?}");
    assert!(first_links[2].contains("c.invalid"), "{first_links:?}");
    // Every alert is listed once, under its story.
    assert_eq!(
        doc.select(&sel("table.story li[data-rule]")).count(),
        alerts.len()
    );

    // The hostile headline is text, not markup.
    let hostile = alerts
        .iter()
        .find(|a| a["url"] == "http://c.invalid/drone")
        .unwrap();
    let title: String = stories[2]
        .select(&sel(".title"))
        .next()
        .unwrap()
        .text()
        .collect();
    assert_eq!(title, hostile["title"].as_str().unwrap());
    assert!(
        title.contains("<script>"),
        "the fixture kept its markup: {title}"
    );

    chart_matches_alerts(&doc, &alerts);
    loads_nothing(&doc, &html, &alerts);

    // Health: the gone feed is failing, named in full.
    let rows = sel("table.health tr");
    let failing: Vec<String> = doc
        .select(&rows)
        .map(|r| r.text().collect::<String>())
        .filter(|t| t.contains("FAILING"))
        .collect();
    assert_eq!(failing.len(), 1, "{failing:?}");
    assert!(
        failing[0].contains(LONG_NAME) && failing[0].contains("404"),
        "{failing:?}"
    );
}

/// Each bar's `data-count` is the number of alerts of its rule in its hour, and bar heights
/// are proportional to those counts.
fn chart_matches_alerts(doc: &Html, alerts: &[Value]) {
    let mut drawn: BTreeMap<(i64, String), usize> = BTreeMap::new();
    let mut per_alert = Vec::new();
    for r in doc.select(&sel("svg rect[data-count]")) {
        let v = r.value();
        let n: usize = v.attr("data-count").unwrap().parse().unwrap();
        let key = (
            secs(v.attr("data-bucket").unwrap()),
            v.attr("data-rule").unwrap().to_string(),
        );
        assert!(
            drawn.insert(key, n).is_none(),
            "one bar per bucket and rule"
        );
        per_alert.push(v.attr("height").unwrap().parse::<f64>().unwrap() / n as f64);
    }
    assert_eq!(drawn, hourly(alerts));
    assert!(drawn.keys().map(|k| k.0).collect::<BTreeSet<_>>().len() >= 3);
    let h = per_alert[0];
    assert!(
        per_alert.iter().all(|x| (x - h).abs() < 0.01),
        "{per_alert:?}"
    );
    let svg = doc.select(&sel("svg")).next().expect("an inline svg");
    assert!(
        svg.value().attr("viewBox").is_some(),
        "scales by its viewBox"
    );
    let legend: String = svg.text().collect();
    for rule in hourly(alerts).keys().map(|k| &k.1) {
        assert!(legend.contains(rule.as_str()), "legend names {rule}");
    }
}

/// No scripts, no external references: only the articles' http(s) links, a CSP that loads
/// nothing, no `@import` or `url(` in CSS.
fn loads_nothing(doc: &Html, html: &str, alerts: &[Value]) {
    for tag in [
        "script", "img", "iframe", "object", "embed", "link", "base", "form",
    ] {
        assert_eq!(doc.select(&sel(tag)).count(), 0, "a <{tag}> element");
    }
    assert_eq!(doc.select(&sel("[src]")).count(), 0);
    let mut article_links: BTreeSet<&str> = BTreeSet::new();
    for a in alerts {
        article_links.extend(a["url"].as_str());
        for o in a["also"].as_array().unwrap() {
            article_links.extend(o["url"].as_str());
        }
    }
    for el in doc.select(&sel("[href], [xlink\\:href]")) {
        let href = el.value().attr("href").unwrap_or("");
        assert!(
            article_links.contains(href),
            "a link that is no article's: {href}"
        );
        assert!(href.starts_with("http://") || href.starts_with("https://"));
    }
    for css in doc.select(&sel("style")).map(|s| s.inner_html()).chain(
        doc.select(&sel("[style]"))
            .map(|e| e.value().attr("style").unwrap().to_string()),
    ) {
        assert!(!css.contains("@import") && !css.contains("url("), "{css}");
    }
    let csp = doc
        .select(&sel("meta[http-equiv=\"Content-Security-Policy\"]"))
        .next()
        .expect("a CSP meta");
    assert!(csp
        .value()
        .attr("content")
        .unwrap()
        .contains("default-src 'none'"));
    assert!(!html.to_lowercase().contains("javascript:"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_and_json_digests_carry_the_same_content() {
    let s = seeded().await;
    let alerts = s.inst.alerts().await;
    let json: Value =
        serde_json::from_str(&digest(&s.inst, &["--since", "48h", "--format", "json"]).await)
            .unwrap();
    assert_eq!(json["alerts"], alerts.len(), "{json:#}\n{alerts:#?}");
    let stories = json["stories"].as_array().unwrap();
    assert_eq!(stories.len(), 3);
    assert_eq!(json["stories_omitted"], 0);
    let listed: usize = stories
        .iter()
        .map(|s| s["alerts"].as_array().unwrap().len())
        .sum();
    assert_eq!(listed, alerts.len());
    let mut drawn = BTreeMap::new();
    for b in json["chart"]["buckets"].as_array().unwrap() {
        for c in b["counts"].as_array().unwrap() {
            let key = (
                secs(b["start"].as_str().unwrap()),
                c["rule"].as_str().unwrap().to_string(),
            );
            drawn.insert(key, c["alerts"].as_u64().unwrap() as usize);
        }
    }
    assert_eq!(drawn, hourly(&alerts));
    assert_eq!(json["chart"]["bucket"], "hour");
    assert_eq!(
        json["chart"]["buckets"].as_array().unwrap().len(),
        49,
        "48 h from a part hour"
    );
    assert_eq!(json["feeds"]["feeds"], 5);
    assert_eq!(json["feeds"]["problems"][0]["name"], LONG_NAME);
    // Keys tests/json_schemas.rs cannot see (its one feed is healthy and has no copies).
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        keys(&json["feeds"]["problems"][0]),
        [
            "consecutive_failures",
            "extract_fallbacks",
            "gaps",
            "last_error",
            "last_extract_error",
            "last_poll",
            "moved_to",
            "name",
            "stopped",
            "url"
        ]
    );
    let wire = stories
        .iter()
        .find(|s| !s["sources"].as_array().unwrap().is_empty());
    assert_eq!(keys(&wire.unwrap()["sources"][0]), ["feed", "url"]);

    let text = digest(&s.inst, &["--since", "48h"]).await;
    for s in stories {
        assert!(text.contains(s["title"].as_str().unwrap()), "{text}");
    }
    assert!(text.contains("also reported by: ") && text.contains("http://b.invalid/story"));
    assert!(
        text.contains("FAILING") && text.contains(LONG_NAME),
        "{text}"
    );
    for ((_, rule), _) in hourly(&alerts) {
        assert!(text.contains(&rule));
    }

    // A shorter window leaves the drone story out; one story at most says one was left out.
    let day: Value =
        serde_json::from_str(&digest(&s.inst, &["--format", "json", "--max-stories", "1"]).await)
            .unwrap();
    assert_eq!(day["stories"].as_array().unwrap().len(), 1);
    assert_eq!(day["stories_omitted"], 1);
    // An impossible window is refused with exit 2.
    let out = s.inst.run(&["digest", "--since", "200d"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("92 days"));
}

/// Where the test leaves its screenshots, to be looked at.
fn shots_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("digest");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser"]
        .iter()
        .flat_map(|b| std::env::split_paths(&path).map(move |d| d.join(b)))
        .find(|p| p.is_file())
}

/// Renders `html` at `width`×`height` CSS pixels (scale 1) into `png`. A browser that hangs
/// is killed after two minutes and tried once more with a fresh profile; a second hang fails
/// the test with what Chromium printed, instead of hanging it. The flags are the ones this
/// kind of machine is known to run Chromium with: its network is closed, so everything that
/// phones home at start (component updates, sync, background fetches, QUIC) is turned off.
fn screenshot(browser: &Path, html: &Path, png: &Path, width: u32, height: u32) {
    let mut last = String::new();
    for attempt in 1..=2 {
        match screenshot_once(browser, html, png, width, height) {
            Ok(()) => return,
            Err(log) => {
                eprintln!("chromium attempt {attempt} for {}: {log}", png.display());
                last = log;
            }
        }
    }
    panic!("chromium failed twice for {}: {last}", png.display());
}

fn screenshot_once(
    browser: &Path,
    html: &Path,
    png: &Path,
    width: u32,
    height: u32,
) -> Result<(), String> {
    let profile = tempfile::tempdir().unwrap();
    let log = profile.path().join("stderr.txt");
    let _ = std::fs::remove_file(png);
    let started = std::time::Instant::now();
    let mut child = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--no-default-browser-check",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("file://{}", html.display()))
        .env("HOME", profile.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = started + std::time::Duration::from_secs(120);
    let tail = |log: &Path| {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    };
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("hung for 120 s; it printed:\n{}", tail(&log)));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    if status.success() && png.is_file() {
        eprintln!("chromium: {} in {:.1?}", png.display(), started.elapsed());
        Ok(())
    } else {
        Err(format!("exited {status}; it printed:\n{}", tail(&log)))
    }
}

fn rgb(hex: &str) -> [u8; 3] {
    let v = u32::from_str_radix(hex.trim_start_matches('#'), 16).unwrap();
    [(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

/// The page in headless Chromium at a phone's and a desktop's width: the chart is on the
/// first screen with every rule's colour in its bars, and nothing reaches the right edge
/// (the page's own background runs down it), so nothing is clipped or scrolls sideways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_renders_in_chromium() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("FEEDWATCH_REQUIRE_CHROMIUM").is_none_or(|v| v != "1"),
            "FEEDWATCH_REQUIRE_CHROMIUM=1 but no chromium on PATH"
        );
        eprintln!("skipped: chromium not found (apt-get install chromium)");
        return;
    };
    let s = seeded().await;
    let dir = shots_dir();
    let html = dir.join("digest.html");
    digest(
        &s.inst,
        &[
            "--since",
            "48h",
            "--format",
            "html",
            "--output",
            html.to_str().unwrap(),
        ],
    )
    .await;
    let json: Value =
        serde_json::from_str(&digest(&s.inst, &["--since", "48h", "--format", "json"]).await)
            .unwrap();
    let colours: Vec<[u8; 3]> = json["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| rgb(r["colour"].as_str().unwrap()))
        .collect();
    assert!(colours.len() >= 2);
    let page_bg = rgb(feedwatch::digest::html::PAGE_BACKGROUND);
    let chart_bg = rgb(feedwatch::digest::svg::BACKGROUND);
    for (name, w, h) in [
        ("phone", 390, 844),
        ("phone-full", 390, 3000),
        ("desktop", 1280, 900),
    ] {
        let file = dir.join(format!("{name}.png"));
        screenshot(&browser, &html, &file, w, h);
        let img = png::decode(&std::fs::read(&file).unwrap());
        assert_eq!(img.width, w as usize, "{name}: rendered at scale 1");
        let edge = img.columns_all(img.width - 4..img.width, page_bg);
        assert!(
            edge,
            "{name}: something reaches the right edge ({})",
            file.display()
        );
        let chart = img
            .bounding_box(chart_bg)
            .unwrap_or_else(|| panic!("{name}: no chart"));
        assert!(
            chart.width() * 10 >= (w as usize - 40).min(600) * 8,
            "{name}: the chart is {} px wide",
            chart.width()
        );
        // The bars: the upper 60 % of the chart holds no legend.
        let bars = chart.top_fraction(0.6);
        for c in &colours {
            let n = img.count_in(&bars, *c);
            assert!(
                n >= 30,
                "{name}: {n} pixels of {c:?} in the bars ({})",
                file.display()
            );
        }
    }
}
