//! The daemon (`feedwatch run`) through the real binary and real signals: it polls, reloads
//! on SIGHUP (refusing a broken config), and exits 0 on SIGTERM without losing or repeating
//! alerts.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{page, read_fixture, rss, Fixture, Instance, TestServer};

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([format!("-{sig}"), child.id().to_string()])
        .status()
        .expect("run kill")
        .success();
    assert!(ok, "kill -{sig} failed");
}

async fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn feeds_config(srv: &TestServer, paths: &[&str]) -> String {
    paths
        .iter()
        .map(|p| format!("[[feeds]]\nurl = \"{}\"\nname = \"{p}\"\nfull_text = true\ninterval = \"1h\"\n\n", srv.url(p)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_reloads_on_hup_and_stops_on_term() {
    let srv = TestServer::start().await;
    let seed = srv.url("/news/seed");
    srv.set("/news/seed", Fixture::ok("text/html", read_fixture("seed/article.html")));
    srv.set(
        "/a",
        Fixture::ok(
            "application/rss+xml",
            rss("A", &[("Iraq 'taking security measures' to prevent US embassy closure", &seed, None)]),
        ),
    );
    let second = srv.url("/news/second");
    srv.set(
        "/news/second",
        Fixture::ok(
            "text/html",
            page(
                "Rockets strike Baghdad's Green Zone near US embassy",
                &[
                    "Two rockets struck inside Baghdad's heavily fortified Green Zone late on Sunday, landing near the US embassy compound, Iraqi security sources said.",
                    "The embassy's air defence system was activated and sirens sounded across the district, which houses government buildings and foreign missions.",
                    "No group claimed responsibility for the attack, the latest in a series of rocket attacks targeting the diplomatic area and US forces in Iraq.",
                ],
            ),
        ),
    );
    srv.set(
        "/b",
        Fixture::ok("application/rss+xml", rss("B", &[("Rockets strike Baghdad's Green Zone near US embassy", &second, None)])),
    );

    let inst = Instance::new(&feeds_config(&srv, &["/a"]));
    let stderr_path = inst.dir.path().join("stderr.log");
    let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_feedwatch"))
        .arg("--config")
        .arg(inst.config())
        .args(["run", "--grace", "5s"])
        .stdout(Stdio::null())
        .stderr(stderr)
        .env_remove("STATE_DIRECTORY")
        .env_remove("LOGS_DIRECTORY")
        .spawn()
        .expect("start daemon");

    wait_for("the seed's alerts", Duration::from_secs(30), || inst.log_lines().len() >= 2).await;

    // A broken config is refused; the daemon keeps running.
    let good = std::fs::read_to_string(inst.config()).expect("read config");
    std::fs::write(inst.config(), format!("{good}\n[poll]\nintervall = \"1m\"\n")).expect("write");
    signal(&child, "HUP");
    let log = || std::fs::read_to_string(&stderr_path).unwrap_or_default();
    wait_for("reload refusal", Duration::from_secs(10), || log().contains("reload refused")).await;
    assert!(child.try_wait().expect("try_wait").is_none(), "daemon must survive a bad reload");

    // A good config with a second feed is applied: its alerts arrive.
    std::fs::write(inst.config(), format!("{good}\n{}", feeds_config(&srv, &["/b"]))).expect("write");
    signal(&child, "HUP");
    wait_for("the second feed's alerts", Duration::from_secs(30), || {
        inst.log_lines().iter().any(|a| a["url"] == second.as_str())
    })
    .await;

    signal(&child, "TERM");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "daemon did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status.code(), Some(0), "stderr:\n{}", log());

    let lines = inst.log_lines();
    let mut ids: Vec<i64> = lines.iter().filter_map(|a| a["id"].as_i64()).collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "no alert written twice");
    assert_eq!(inst.alerts().await.len(), n, "log and database agree");
    assert!(log().contains("reload applied"));
}
