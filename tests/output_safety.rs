//! Output safety through the real binary (issue 11, row 12): text from a feed reaches the
//! terminal and the alert log without control characters or bidi overrides.

mod common;

use common::{Fixture, Instance, TestServer};

const STORY: &str = "Two rockets landed inside Baghdad's Green Zone late on Monday and sirens sounded at the US embassy";

/// Row 12: raw ESC, a clipboard write (OSC 52), a screen clear, a C1 CSI and a bidi override
/// in a title reach neither the terminal (`alerts`, `status`) nor the alert log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_never_reach_the_terminal_or_the_log() {
    let srv = TestServer::start().await;
    let title = "\u{1b}]52;c;cm0gLXJmIH4=\u{7}Rockets hit\u{1b}[2J Baghdad's Green Zone \u{9b}31m near the\u{202e} US embassy";
    let feed = serde_json::json!({
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Hostile \u{1b}[5m feed",
        "items": [{
            "id": "h1",
            "url": "http://news.invalid/hostile/1",
            "title": title,
            "content_text": format!("{STORY} \u{1b}[31m red \u{7f}"),
        }],
    });
    srv.set("/h", Fixture::ok("application/feed+json", feed.to_string()));
    let inst = Instance::new(&format!(
        "[[feeds]]\nurl = \"{}\"\nname = \"h\"\n",
        srv.url("/h")
    ));
    assert!(inst.run(&["poll", "--once"]).await.status.success());
    let hostile = |s: &str| {
        s.chars()
            .any(|c| (c.is_control() && c != '\n') || ('\u{202a}'..='\u{202e}').contains(&c))
    };
    let out = inst.run(&["alerts"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Rockets hit"), "{text}");
    assert!(
        !hostile(&text),
        "alerts printed control characters: {text:?}"
    );
    let json = inst.run(&["alerts", "--format", "json"]).await;
    let json = String::from_utf8_lossy(&json.stdout);
    assert!(
        !json.contains("\\u001b") && !json.contains("\\u009b"),
        "{json}"
    );
    let lines = inst.log_lines();
    assert!(!lines.is_empty());
    for line in lines {
        let logged = line["title"].as_str().expect("title");
        assert!(
            logged.contains("Rockets hit") && !hostile(logged),
            "{logged:?}"
        );
        for k in ["snippet", "feed", "url"] {
            assert!(!hostile(line[k].as_str().unwrap_or("")), "{line}");
        }
    }
    let status = inst.run(&["status"]).await;
    assert!(!hostile(&String::from_utf8_lossy(&status.stdout)));
}
