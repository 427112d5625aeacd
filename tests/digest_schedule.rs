//! Scheduled digests (issue #16) through the real binary, under libfaketime: the daemon is
//! started seconds before an hourly due time (`digest = "hourly :00"`), so a period passes in
//! seconds of wall-clock time, and restarted at later faked times on the same database.
//!
//! Checked: the digest of a period is delivered once when its due time passes, with the
//! format's Content-Type, a signature and a stable id, and the body `feedwatch digest`
//! prints for that window; a restart in the same period (after kill -9 or a clean stop)
//! sends nothing again; the next period is delivered; a failing receiver (HTTP 500) shows in
//! `status` like a failing alert sink, and the digest queued before a kill -9 is delivered
//! once after the restart, once the receiver recovers; after a long stop only the latest
//! missed period is sent. And a malformed schedule is a config error at file:line:key.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test panics on a broken fixture

mod common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::{rss, wait_for, Daemon, Fixture, Instance, TestServer};
use serde_json::Value;

const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";
const SECRET: &str = "digest-secret";

/// One request the receiver answered.
#[derive(Debug, Clone)]
struct Got {
    id: String,
    content_type: String,
    attempt: u32,
    accepted: bool,
    body: Bytes,
}

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Got>>>,
    down: Arc<AtomicBool>,
}

impl Receiver {
    fn accepted(&self) -> Vec<Got> {
        let got = self.got.lock().expect("lock");
        got.iter().filter(|g| g.accepted).cloned().collect()
    }

    fn refused(&self) -> usize {
        let got = self.got.lock().expect("lock");
        got.iter().filter(|g| !g.accepted).count()
    }
}

/// Records every request; 500 while `down`, else 204. Checks the signature of each.
async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let h = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(
        h("x-feedwatch-signature"),
        feedwatch::sink::signature(SECRET.as_bytes(), &body),
        "signed like an alert"
    );
    let accepted = !r.down.load(Ordering::SeqCst);
    r.got.lock().expect("lock").push(Got {
        id: h("x-feedwatch-digest-id"),
        content_type: h("content-type"),
        attempt: h("x-feedwatch-attempt").parse().unwrap_or(0),
        accepted,
        body,
    });
    if accepted {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

/// The environment that starts the process's clock at `at` (UTC), running from there.
fn faked(at: &str) -> Vec<(&'static str, OsString)> {
    vec![
        ("LD_PRELOAD", LIBFAKETIME.into()),
        ("FAKETIME", format!("@{at}").into()),
        ("TZ", "UTC".into()),
        // The daemon's timers and stall checks run on the real monotonic clock.
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1".into()),
        ("FEEDWATCH_LOG", "info,feedwatch::sink=debug".into()),
    ]
}

fn start_at(inst: &Instance, at: &str) -> Daemon {
    let env = faked(at);
    let env: Vec<(&str, &std::ffi::OsStr)> = env.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
    Daemon::spawn_env(inst, &["run"], &env)
}

/// Whether libfaketime is installed; without it the test says it was skipped, unless
/// `FEEDWATCH_REQUIRE_FAKETIME=1` (CI installs it and sets that), where it fails.
fn have_faketime() -> bool {
    if Path::new(LIBFAKETIME).exists() {
        return true;
    }
    assert!(
        std::env::var_os("FEEDWATCH_REQUIRE_FAKETIME").is_none_or(|v| v != "1"),
        "FEEDWATCH_REQUIRE_FAKETIME=1 but {LIBFAKETIME} is missing (apt-get install faketime)"
    );
    eprintln!("skipped: {LIBFAKETIME} not found (apt-get install faketime)");
    false
}

/// Waits until every sink of the daemon has made its first pass (the log says it started,
/// and a pass runs at once), then a little longer, so that anything it would send is sent.
async fn settle(d: &Daemon, starts: usize) {
    d.wait_log("sink started", starts, Duration::from_secs(30))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
}

/// `feedwatch digest --since 1h --format FORMAT` with the clock stopped one second before
/// `until`: the window [until - 1h, until), as the sink's period.
async fn cli_digest(inst: &Instance, until_minus_1s: &str, format: &str) -> Vec<u8> {
    let mut cmd =
        common::daemon::command([std::ffi::OsStr::new("--config"), inst.config().as_os_str()]);
    cmd.args(["digest", "--since", "1h", "--format", format])
        .env("LD_PRELOAD", LIBFAKETIME)
        .env("FAKETIME", until_minus_1s)
        .env("TZ", "UTC");
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("digest"))
        .await
        .expect("join");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn without_generated(body: &[u8]) -> Value {
    let mut v: Value = serde_json::from_slice(body).expect("digest JSON");
    v.as_object_mut().expect("object").remove("generated");
    v
}

/// The exec sink's digests: one file per id.
fn mailed(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn config(srv: &TestServer, hook_url: &str, secret: &Path, mail_dir: &Path) -> String {
    let items = rss(
        "Wire",
        &[(
            "Rockets strike Baghdad's Green Zone",
            &srv.url("/news/1"),
            Some("Rockets struck inside Baghdad's heavily fortified Green Zone near the US embassy, sources said."),
        )],
    );
    srv.set("/rss", Fixture::ok("application/rss+xml", items));
    format!(
        "[[feeds]]\nurl = \"{}\"\nname = \"wire\"\ninterval = \"1h\"\n\n\
         [[sinks]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{hook_url}\"\ntimeout = \"1s\"\n\
         retry_initial = \"1s\"\nretry_max = \"2s\"\nsecret_file = \"{}\"\ndigest = \"hourly :00\"\n\n\
         [[sinks]]\nname = \"mail\"\ntype = \"exec\"\ndigest = \"hourly :00\"\ndigest_format = \"text\"\n\
         command = [\"/bin/sh\", \"-c\", \"cat > \\\"$0/$FEEDWATCH_DIGEST_ID.txt\\\"\", \"{}\"]\n",
        srv.url("/rss"),
        secret.display(),
        mail_dir.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_is_delivered_once_per_period_across_restarts() {
    if !have_faketime() {
        return;
    }
    let recv = Receiver::default();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(recv.clone());
    let hook_url = format!("http://{}/hook", common::serve(app).await);
    let srv = TestServer::start().await;
    let scratch = tempfile::tempdir().expect("tmp");
    let secret = scratch.path().join("hook.secret");
    std::fs::write(&secret, format!("{SECRET}\n")).expect("secret");
    let mail_dir = scratch.path().join("mail");
    std::fs::create_dir(&mail_dir).expect("mail dir");
    let inst = Instance::new(&config(&srv, &hook_url, &secret, &mail_dir));

    // (a) Registered at 06:59:50: nothing for the periods before; the 07:00 digest once.
    let mut d = start_at(&inst, "2026-12-03 06:59:50");
    wait_for("the 07:00 digest", Duration::from_secs(30), || {
        !recv.accepted().is_empty() && !mailed(&mail_dir).is_empty()
    })
    .await;
    settle(&d, 2).await;
    let got = recv.accepted();
    assert_eq!(got.len(), 1, "one digest, no alerts: {got:?}\n{}", d.log());
    assert_eq!(got[0].id, "digest-hook-2026-12-03T06:00:00Z");
    assert_eq!(got[0].content_type, "application/json");
    assert_eq!(got[0].attempt, 1);
    let body: Value = serde_json::from_slice(&got[0].body).expect("JSON body");
    assert_eq!(body["from"], "2026-12-03T06:00:00Z");
    assert_eq!(body["until"], "2026-12-03T07:00:00Z");
    // The story polled at 06:59:5x raised two alerts (green-zone, embassy-security).
    assert_eq!(body["alerts"], 2, "{body}");
    assert_eq!(body["stories"].as_array().map(Vec::len), Some(1), "{body}");
    let cli = cli_digest(&inst, "2026-12-03 06:59:59", "json").await;
    assert_eq!(without_generated(&got[0].body), without_generated(&cli));
    let files = mailed(&mail_dir);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].ends_with("digest-mail-2026-12-03T06:00:00Z.txt"));
    let text = std::fs::read(&files[0]).expect("mailed text");
    assert_eq!(
        String::from_utf8_lossy(&text),
        String::from_utf8_lossy(&cli_digest(&inst, "2026-12-03 06:59:59", "text").await),
        "the exec sink got what `feedwatch digest --format text` prints"
    );

    // (b) kill -9, and a clean stop: restarts in the same period send nothing again.
    d.kill();
    let d = start_at(&inst, "2026-12-03 07:00:30");
    settle(&d, 2).await;
    let mut d = d;
    d.stop().await;
    let d = start_at(&inst, "2026-12-03 07:10:00");
    settle(&d, 2).await;
    assert_eq!(recv.accepted().len(), 1, "{:?}", recv.accepted());
    assert_eq!(mailed(&mail_dir).len(), 1);
    let mut d = d;
    d.stop().await;

    // (c, d) The next period, to a receiver that fails: retried, shown in `status`; then
    // kill -9 with the digest queued and undelivered, and delivered once after restart.
    recv.down.store(true, Ordering::SeqCst);
    let mut d = start_at(&inst, "2026-12-03 07:59:58");
    wait_for("two refused attempts", Duration::from_secs(30), || {
        recv.refused() >= 2
    })
    .await;
    let st = inst.status().await;
    let hook = st
        .iter()
        .find(|v| v["sink"] == "hook")
        .expect("hook in status");
    assert_eq!(hook["pending"], 1, "{hook}");
    assert!(hook["consecutive_failures"].as_u64() >= Some(2), "{hook}");
    assert!(
        hook["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("HTTP 500"),
        "{hook}"
    );
    d.kill();
    recv.down.store(false, Ordering::SeqCst);
    let d = start_at(&inst, "2026-12-03 08:00:20");
    wait_for("the 08:00 digest", Duration::from_secs(30), || {
        recv.accepted().len() >= 2
    })
    .await;
    settle(&d, 2).await;
    let got = recv.accepted();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1].id, "digest-hook-2026-12-03T07:00:00Z");
    assert!(
        got[1].attempt >= 3,
        "sent again, counting attempts: {got:?}"
    );
    assert_eq!(mailed(&mail_dir).len(), 2);
    let st = inst.status().await;
    let hook = st
        .iter()
        .find(|v| v["sink"] == "hook")
        .expect("hook in status");
    assert_eq!(hook["pending"], 0, "{hook}");
    assert_eq!(hook["consecutive_failures"], 0, "{hook}");
    let mut d = d;
    d.stop().await;

    // Down from 08:00:20 to 10:30: the 09:00 and 10:00 periods were missed; only the
    // latest (09:00 to 10:00) is sent.
    let d = start_at(&inst, "2026-12-03 10:30:00");
    wait_for("the missed digest", Duration::from_secs(30), || {
        recv.accepted().len() >= 3
    })
    .await;
    settle(&d, 2).await;
    let got = recv.accepted();
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[2].id, "digest-hook-2026-12-03T09:00:00Z");
    let body: Value = serde_json::from_slice(&got[2].body).expect("JSON body");
    assert_eq!(body["from"], "2026-12-03T09:00:00Z");
    assert_eq!(body["until"], "2026-12-03T10:00:00Z");
    assert_eq!(mailed(&mail_dir).len(), 3);
    let mut d = d;
    d.stop().await;
}

/// (e) `config check` names the file, the line and the key of a schedule it cannot read.
#[tokio::test]
async fn a_malformed_schedule_is_a_config_error_at_its_line() {
    let inst = Instance::new(
        "[[feeds]]\nurl = \"http://127.0.0.1:9/rss\"\n\n\
         [[sinks]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\n\
         digest = \"daily 7am\"\n",
    );
    let out = inst.run(&["config", "check"]).await;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(2), "{text}");
    let cfg = std::fs::read_to_string(inst.config()).expect("config");
    let line = cfg
        .lines()
        .position(|l| l.starts_with("digest = "))
        .expect("digest line")
        + 1;
    let want = format!("feedwatch.toml:{line}: key `sinks[0].digest`: `7am` is not a time of day");
    assert!(text.contains(&want), "{want} not in:\n{text}");
}
