//! The service driven in-process through its composition root (`feedwatch::app`), with a
//! shutdown token and a reload handle instead of signals: `poll --once` and `run` without
//! spawning the binary. Signals and exit codes stay covered by the spawn-the-binary suites
//! (daemon.rs, operator.rs).
//!
//! One test function: the service's health state is process-wide, so the two runs here go one
//! after the other rather than in parallel test threads.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test panics on a broken fixture

mod common;

use std::time::Duration;

use common::daemon::wait_for;
use common::{rss, Fixture, Instance, TestServer};
use feedwatch::app::{self, App, Mode, Start};
use feedwatch::config::{Backends, Env};
use tokio_util::sync::CancellationToken;

/// A feed of one Green Zone story, at `path`.
fn serve_story(srv: &TestServer, path: &str, title: &str) {
    srv.set(
        path,
        Fixture::ok(
            "application/rss+xml",
            rss(
                path,
                &[(
                    title,
                    &format!("http://news.invalid{path}/story"),
                    Some(
                        "Two rockets struck inside Baghdad's Green Zone overnight, near the \
                         parliament building, Iraqi security officials said.",
                    ),
                )],
            ),
        ),
    );
}

fn feed(srv: &TestServer, path: &str) -> String {
    format!(
        "[[feeds]]\nurl = \"{}\"\nname = \"{path}\"\ninterval = \"1h\"\n\n",
        srv.url(path)
    )
}

async fn build(inst: &Instance) -> Box<App> {
    // As `run` loads it: on either backend (the suites also run on PostgreSQL).
    let loaded = app::load_config_with(&inst.config(), &Env::from_process(), Backends::Both)
        .expect("config");
    match App::build(loaded).await.expect("build") {
        Start::Ready(app) => app,
        Start::Exit(code) => panic!("the service would not start: exit {code}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_runs_in_process_with_a_shutdown_token_and_reloads() {
    let srv = TestServer::start().await;
    serve_story(&srv, "/a", "Rockets hit the Green Zone");
    serve_story(&srv, "/b", "Second volley on the Green Zone");

    // `poll --once`: every feed once, then exit code 0 and the alert in the log.
    let once = Instance::new(&feed(&srv, "/a"));
    let app = build(&once).await;
    let code = app
        .run(Mode::Once, CancellationToken::new())
        .await
        .expect("run once");
    assert_eq!(code, 0);
    let lines = once.log_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["title"], "Rockets hit the Green Zone");

    // `run`: polls until the token fires; a reload adds a feed while it runs.
    let inst = Instance::new(&feed(&srv, "/a"));
    let app = build(&inst).await;
    let control = app.control();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(app.run(
        Mode::Run {
            grace: Duration::from_secs(2),
        },
        shutdown.clone(),
    ));
    wait_for("the first alert", Duration::from_secs(30), || {
        inst.log_lines().len() == 1
    })
    .await;
    let cfg = std::fs::read_to_string(inst.config()).expect("read config");
    std::fs::write(inst.config(), format!("{cfg}\n{}", feed(&srv, "/b"))).expect("write config");
    control.reload();
    wait_for("the reloaded feed's alert", Duration::from_secs(30), || {
        inst.log_lines().len() == 2
    })
    .await;
    assert_eq!(srv.requests("/b"), 1);
    shutdown.cancel();
    let code = tokio::time::timeout(Duration::from_secs(15), running)
        .await
        .expect("stops within its grace")
        .expect("join")
        .expect("run");
    assert_eq!(code, 0);
    let titles: Vec<String> = inst
        .log_lines()
        .iter()
        .map(|l| l["title"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        titles,
        [
            "Rockets hit the Green Zone",
            "Second volley on the Green Zone"
        ]
    );
}
