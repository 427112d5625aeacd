//! Progress bars: drawn when stderr is a terminal, never in a pipe or with `--format json`.
//! The terminal is a real pseudo-terminal, made by util-linux's `script`, as a person's shell
//! would give the binary one.

mod common;

use std::process::{Command, Output};

use common::daemon::{bin, clean_env};
use common::{Fixture, Instance, TestServer};

const FEEDS: usize = 12;

/// A config polling `FEEDS` small feeds served on loopback.
async fn instance() -> (TestServer, Instance) {
    let srv = TestServer::start().await;
    let mut feeds = String::new();
    for i in 0..FEEDS {
        let path = format!("/f{i}");
        let page = srv.url(&format!("/a{i}"));
        let rss = format!(
            "<rss version=\"2.0\"><channel><title>F{i}</title><item><title>Item {i}</title>\
             <link>{page}</link><guid>g{i}</guid><description>Market news {i}.</description>\
             </item></channel></rss>"
        );
        srv.set(&path, Fixture::ok("application/rss+xml", rss));
        let html = format!(
            "<html><body><article><h1>Item {i}</h1><p>Market news {i}: traders in the port \
             city reported steady prices for grain and fuel this week.</p></article></body></html>"
        );
        srv.set(&format!("/a{i}"), Fixture::ok("text/html", html));
        feeds.push_str(&format!(
            "[[feeds]]\nurl = \"{}\"\nname = \"F{i}\"\n\n",
            srv.url(&path)
        ));
    }
    (srv, Instance::new(&feeds))
}

/// Runs the binary with `args` inside a pseudo-terminal; returns what the terminal showed
/// (stdout and stderr together, as a person would see them), or None without `script`.
async fn on_a_terminal(inst: &Instance, args: &[&str]) -> Option<(bool, String)> {
    let mut line = format!("exec {:?} --config {:?}", bin(), inst.config());
    for a in args {
        line.push_str(&format!(" {a:?}"));
    }
    let mut cmd = Command::new("script");
    cmd.args(["-q", "-e", "-c", &line, "/dev/null"]);
    clean_env(&mut cmd);
    // Off the test's runtime: the feeds are served on it.
    let out: Output = match tokio::task::spawn_blocking(move || cmd.output()).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => {
            eprintln!("SKIPPED: util-linux `script` is needed for a pseudo-terminal: {e}");
            return None;
        }
        Err(e) => panic!("the terminal's thread: {e}"),
    };
    Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

#[tokio::test]
async fn poll_once_draws_a_bar_on_a_terminal_and_nothing_in_a_pipe() {
    let (_srv, inst) = instance().await;
    let Some((ok, screen)) = on_a_terminal(&inst, &["poll", "--once"]).await else {
        return;
    };
    assert!(ok, "poll --once on a terminal failed:\n{screen}");
    assert!(
        screen.contains("polling") && screen.contains(&format!("/{FEEDS} feeds")),
        "no progress bar on the terminal:\n{screen:?}"
    );

    // The same poll in a pipe: stderr holds the log and nothing else.
    let (_srv, inst) = instance().await;
    let out = inst.run(&["poll", "--once"]).await;
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("polling [") && !err.contains('\r') && !err.contains("\x1b["),
        "a bar or terminal codes in a pipe:\n{err:?}"
    );
}

#[tokio::test]
async fn backtest_draws_a_bar_on_a_terminal_but_not_with_json() {
    let (_srv, inst) = instance().await;
    assert!(inst.run(&["poll", "--once"]).await.status.success());

    let Some((ok, screen)) = on_a_terminal(&inst, &["backtest", "--since", "30d", "market"]).await
    else {
        return;
    };
    assert!(ok, "backtest on a terminal failed:\n{screen}");
    assert!(
        screen.contains("backtest [") && screen.contains("texts"),
        "no progress bar on the terminal:\n{screen:?}"
    );

    let Some((ok, screen)) = on_a_terminal(
        &inst,
        &["backtest", "--since", "30d", "--format", "json", "market"],
    )
    .await
    else {
        return;
    };
    assert!(ok, "backtest --format json failed:\n{screen}");
    assert!(
        !screen.contains("backtest [") && !screen.contains("texts ("),
        "a bar with --format json:\n{screen:?}"
    );
    // What a script reads is still one JSON object per line: every item matched.
    let hits = screen
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| l.starts_with('{'))
        .inspect(|l| {
            assert!(
                serde_json::from_str::<serde_json::Value>(l).is_ok(),
                "not JSON: {l:?}"
            )
        })
        .count();
    assert_eq!(hits, FEEDS, "one hit per item expected:\n{screen}");
}
