//! One story, one alert: syndicated copies of a wire story in several feeds alert once per
//! rule and list the other sources; the same URL in two feeds is one article.

mod common;

use common::stories::{OTHER, WIRE};
use common::{rss, Fixture, Instance, TestServer};

fn entry(srv: &TestServer, path: &str, name: &str) -> String {
    format!(
        "[[feeds]]\nurl = \"{}\"\nname = \"{name}\"\n\n",
        srv.url(path)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syndicated_copies_alert_once_and_list_the_other_sources() {
    let srv = TestServer::start().await;
    let copy_b = format!("BAGHDAD (Reuters) - {WIRE}");
    srv.set(
        "/a",
        Fixture::ok(
            "application/rss+xml",
            rss(
                "Wire A",
                &[(
                    "Rockets hit Baghdad's Green Zone",
                    "http://a.invalid/1",
                    Some(WIRE),
                )],
            ),
        ),
    );
    srv.set(
        "/b",
        Fixture::ok(
            "application/rss+xml",
            rss(
                "Outlet B",
                &[(
                    "Rocket attack near US embassy in Baghdad",
                    "http://b.invalid/story",
                    Some(&copy_b),
                )],
            ),
        ),
    );
    srv.set(
        "/c",
        Fixture::ok(
            "application/rss+xml",
            rss(
                "Outlet C",
                &[(
                    "Drone downed over Green Zone",
                    "http://c.invalid/drone",
                    Some(OTHER),
                )],
            ),
        ),
    );
    let inst = Instance::new(
        &(entry(&srv, "/a", "A") + &entry(&srv, "/b", "B") + &entry(&srv, "/c", "C")),
    );
    assert!(inst.run(&["poll", "--once"]).await.status.success());

    let alerts = inst.alerts().await;
    let story: Vec<_> = alerts
        .iter()
        .filter(|a| a["url"] == "http://a.invalid/1" || a["url"] == "http://b.invalid/story")
        .collect();
    let mut rules: Vec<&str> = story.iter().filter_map(|a| a["rule"].as_str()).collect();
    let n = rules.len();
    rules.sort_unstable();
    rules.dedup();
    assert_eq!(
        rules.len(),
        n,
        "one alert per rule for the story: {story:#?}"
    );
    assert!(rules.contains(&"green-zone"), "{story:#?}");
    for a in &story {
        let also = a["also"].as_array().expect("also");
        let other = if a["url"] == "http://a.invalid/1" {
            "http://b.invalid/story"
        } else {
            "http://a.invalid/1"
        };
        assert!(
            also.iter().any(|s| s["url"] == other),
            "the other copy is listed: {a}"
        );
    }
    // A different story on the same topic alerts on its own.
    assert!(
        alerts
            .iter()
            .any(|a| a["url"] == "http://c.invalid/drone" && a["rule"] == "green-zone"),
        "{alerts:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_url_in_two_feeds_is_one_article() {
    let srv = TestServer::start().await;
    let item = [(
        "Rockets hit Baghdad's Green Zone",
        "http://a.invalid/1?utm_source=rss",
        Some(WIRE),
    )];
    srv.set("/a", Fixture::ok("application/rss+xml", rss("A", &item)));
    let item_d = [(
        "Rockets hit Baghdad's Green Zone",
        "http://a.invalid/1",
        Some(WIRE),
    )];
    srv.set("/d", Fixture::ok("application/rss+xml", rss("D", &item_d)));
    let inst = Instance::new(&entry(&srv, "/a", "A"));
    assert!(inst.run(&["poll", "--once"]).await.status.success());
    let before = inst.alerts().await.len();
    assert!(before > 0);

    let cfg = std::fs::read_to_string(inst.config()).expect("read") + &entry(&srv, "/d", "D");
    std::fs::write(inst.config(), cfg).expect("write");
    assert!(inst.run(&["poll", "--once"]).await.status.success());
    let alerts = inst.alerts().await;
    assert_eq!(alerts.len(), before, "no new alert for the same article");
    assert_eq!(inst.articles().await.len(), 1, "one article");
    assert!(
        alerts.iter().all(|a| a["also"]
            .as_array()
            .is_some_and(|v| v.iter().any(|s| s["feed"] == "D"))),
        "feed D is listed as a source: {alerts:#?}"
    );
}

/// Issue 11 row 7: unrelated matching items whose summaries are all the same teaser are
/// three stories and three alerts, whether they come from one feed (the teaser is shared
/// verbatim, so it is boilerplate) or one per feed (headlines tell them apart).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boilerplate_summaries_do_not_merge_stories() {
    let teaser = "Read the full story on our website.";
    let items = [
        (
            "Rockets strike Baghdad's Green Zone overnight",
            "http://one.invalid/rockets",
        ),
        (
            "Drone shot down over the Green Zone in Baghdad",
            "http://one.invalid/drone",
        ),
        (
            "Protesters gather at the gates of Baghdad's Green Zone",
            "http://one.invalid/protest",
        ),
    ];
    let srv = TestServer::start().await;
    let all: Vec<(&str, &str, Option<&str>)> =
        items.iter().map(|(t, l)| (*t, *l, Some(teaser))).collect();
    srv.set("/one", Fixture::ok("application/rss+xml", rss("One", &all)));
    let mut each = String::new();
    for (i, (t, l)) in items.iter().enumerate() {
        let link = l.replace("one.invalid", "each.invalid");
        let path = format!("/each{i}");
        let doc = rss(&format!("Each {i}"), &[(*t, link.as_str(), Some(teaser))]);
        srv.set(&path, Fixture::ok("application/rss+xml", doc));
        each += &entry(&srv, &path, &format!("E{i}"));
    }
    for (name, feeds, host) in [
        ("one feed", entry(&srv, "/one", "One"), "one.invalid"),
        ("a feed each", each, "each.invalid"),
    ] {
        let inst = Instance::new(&feeds);
        assert!(inst.run(&["poll", "--once"]).await.status.success());
        let alerts = inst.alerts().await;
        let mut urls: Vec<&str> = alerts
            .iter()
            .filter(|a| a["rule"] == "green-zone")
            .filter_map(|a| a["url"].as_str())
            .filter(|u| u.contains(host))
            .collect();
        urls.sort_unstable();
        assert_eq!(urls.len(), 3, "{name}: one alert per story: {alerts:#?}");
    }
}
