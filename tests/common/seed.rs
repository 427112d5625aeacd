//! The seed article served as a feed (`e2e`, `pg_daemon`): the seed item with its page, and
//! three look-alike items that must not alert, each with its page.

use serde_json::Value;

use super::{page, read_fixture, rss, Fixture, TestServer};

pub const SEED_TITLE: &str = "Iraq 'taking security measures' to prevent US embassy closure";

/// Three items that must not alert, each with its page: look-alikes of our keywords.
pub fn unrelated(srv: &TestServer) -> Vec<(String, String)> {
    let pages = [
        (
            "/sport/derby.html",
            "Late winner settles the city derby",
            vec![
                "A stoppage-time header settled the derby on Saturday night in front of a sold-out crowd.",
                "The home side had dominated possession but struggled to break down a compact defence until the final minute, when the captain rose highest at the far post.",
                "The manager praised the fans and said the squad would rest before the midweek cup tie.",
            ],
        ),
        (
            "/garden/green-zone.html",
            "How to plan a green zone in a small garden",
            vec![
                "A green zone of shrubs and grasses gives a small garden structure all year round.",
                "Start by marking out the green zone with string, then dig in compost and plant the larger shrubs first, leaving space for perennials.",
                "Water the new planting twice a week through its first summer, and mulch in autumn.",
            ],
        ),
        (
            "/travel/embassy-suites.html",
            "Embassy Suites reopens downtown hotel after renovation",
            vec![
                "The Embassy Suites hotel downtown reopened on Monday after a year-long renovation of its atrium and rooms.",
                "Guests praised the free breakfast, the new rooftop bar and the 24-hour security desk in the lobby.",
                "The hotel is offering discounted rates for conferences booked before the end of the year.",
            ],
        ),
    ];
    pages
        .into_iter()
        .map(|(path, title, paras)| {
            srv.set(
                path,
                Fixture::ok("text/html; charset=utf-8", page(title, &paras)),
            );
            (title.to_string(), srv.url(path))
        })
        .collect()
}

/// Serves the seed feed (seed item with link, no description, plus unrelated items) and
/// its pages; returns the seed article's URL.
pub fn serve_seed(srv: &TestServer) -> String {
    let seed_url = serve_seed_page(srv);
    let others = unrelated(srv);
    let mut items: Vec<(&str, &str, Option<&str>)> = vec![(SEED_TITLE, &seed_url, None)];
    for (t, u) in &others {
        items.push((t, u, None));
    }
    srv.set(
        "/rss",
        Fixture::ok("application/rss+xml", rss("The New Arab", &items)),
    );
    seed_url
}

/// Serves the seed article's page (the fixture as the outlet published it); returns its URL.
pub fn serve_seed_page(srv: &TestServer) -> String {
    let path = "/news/iraq-taking-security-measures-prevent-us-embassy-closure";
    srv.set(
        path,
        Fixture::ok(
            "text/html; charset=utf-8",
            read_fixture("seed/article.html"),
        ),
    );
    srv.url(path)
}

/// Both default rules alerted on the seed article of [`serve_seed`]'s feed, and nothing
/// else alerted.
pub fn assert_only_the_seed_alerted(alerts: &[Value], seed_url: &str) {
    assert_eq!(
        rules_of(alerts, seed_url),
        vec!["embassy-security", "green-zone"],
        "{alerts:#?}"
    );
    assert_eq!(alerts.len(), 2, "only the seed may alert: {alerts:#?}");
    for a in alerts {
        assert_eq!(a["title"], SEED_TITLE);
        assert_eq!(a["feed"], "The New Arab");
    }
}

pub fn rules_of(alerts: &[Value], url: &str) -> Vec<String> {
    let mut v: Vec<String> = alerts
        .iter()
        .filter(|a| a["url"] == url)
        .map(|a| a["rule"].as_str().unwrap_or("").to_string())
        .collect();
    v.sort();
    v
}

/// The seed's body lines (README: lines 3 and 8-26 without 18), whitespace-normalised.
pub fn seed_body_paragraphs() -> Vec<String> {
    let text = read_fixture("seed/article.txt");
    text.lines()
        .enumerate()
        .filter(|(i, _)| *i == 2 || ((7..=25).contains(i) && *i != 17))
        .map(|(_, l)| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect()
}
