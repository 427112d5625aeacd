//! Alert sinks through the library API: alerts committed through `Store` as the poll writer
//! commits them, sinks started on the same database, receivers on loopback. Backoff and
//! ticks are shortened so every test ends in a few seconds.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test panics on a broken fixture

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::wait_for;
use feedwatch::rules::Severity;
use feedwatch::sink::{SinkOptions, SinkSet, SinkSpec};
use feedwatch::store::{NewAlert, NewArticle, PollRecord, SinkStatus, Store};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

const GRACE: Duration = Duration::from_secs(5);
const WAIT: Duration = Duration::from_secs(15);

/// A database with one feed, committing one article with alerts per call, like the writer.
struct Db {
    _dir: tempfile::TempDir,
    path: PathBuf,
    store: Store,
    next_key: i64,
}

impl Db {
    fn new() -> Db {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("fw.db");
        let mut store = Store::open(&path).expect("open");
        store
            .sync_feeds([("http://feed.test/rss", Some("F"))], 0)
            .expect("sync");
        Db {
            _dir: dir,
            path,
            store,
            next_key: 1,
        }
    }

    fn dir(&self) -> &Path {
        self._dir.path()
    }

    /// Commits one article raising one alert per (rule, severity).
    fn alert(&mut self, alerts: &[(&str, Severity)]) {
        let key = self.next_key;
        self.next_key += 1;
        let rec = PollRecord {
            status: Some(200),
            seen: vec![vec![key]],
            articles: vec![NewArticle {
                item_key: key,
                url: Some(format!("http://feed.test/{key}")),
                canonical_url: None,
                title: format!("article {key}"),
                summary: String::new(),
                body: String::new(),
                body_source: "none",
                author: None,
                lang: None,
                published_at: None,
                link_canonical: None,
                // Words no other article shares: every article is a story of its own.
                fingerprint: feedwatch::story::fingerprint(&format!("a{key} b{key} c{key} d{key}")),
                alerts: alerts
                    .iter()
                    .map(|(rule, severity)| NewAlert {
                        rule: (*rule).to_string(),
                        severity: *severity,
                        hits: vec![],
                        snippet: "…".into(),
                    })
                    .collect(),
            }],
            item_count: Some(1),
            ..PollRecord::new(1, chrono::Utc::now().timestamp())
        };
        self.store.commit_poll(&rec).expect("commit");
    }

    fn alerts(&mut self, n: usize) {
        for _ in 0..n {
            self.alert(&[("r1", Severity::High)]);
        }
    }

    /// Commits one more alert and wakes `sinks`; its id. Sinks send the oldest due alert
    /// first, so its delivery shows they went past everything committed before it.
    fn sentinel(&mut self, sinks: &SinkSet) -> i64 {
        self.alerts(1);
        sinks.waker().wake();
        self.all_ids().into_iter().max().expect("an alert")
    }

    fn all_ids(&self) -> Vec<i64> {
        self.store
            .alerts(0, None)
            .expect("alerts")
            .iter()
            .map(|a| a.id)
            .collect()
    }

    fn status(&self, sink: &str) -> SinkStatus {
        self.store
            .sink_status()
            .expect("status")
            .into_iter()
            .find(|s| s.name == sink)
            .expect("sink registered")
    }
}

fn spec(toml_text: &str) -> SinkSpec {
    toml::from_str(toml_text).unwrap_or_else(|e| panic!("spec {toml_text}: {e}"))
}

fn fast() -> SinkOptions {
    SinkOptions {
        tick: Duration::from_millis(100),
        ..SinkOptions::default()
    }
}

async fn start(db: &Db, specs: &[SinkSpec]) -> SinkSet {
    SinkSet::start(&db.path, specs, fast(), CancellationToken::new())
        .await
        .expect("sinks start")
}

/// What a loopback webhook receiver saw.
#[derive(Default)]
struct Seen {
    requests: usize,
    /// Alert ids answered 2xx, in order.
    accepted: Vec<i64>,
    /// Requests whose header id differed from the body's, or whose signature was wrong.
    bad: Vec<String>,
}

/// How a receiver behaves.
#[derive(Clone, Default)]
struct Behaviour {
    /// Answer 500 to this many requests first.
    fail_first: usize,
    /// Wait this long before answering (to stop a sink mid-way, or to make it time out).
    delay: Duration,
    /// Verify `X-Feedwatch-Signature` with this secret; 401 when it does not match.
    secret: Option<Vec<u8>>,
}

#[derive(Clone)]
struct Receiver {
    url: String,
    seen: Arc<Mutex<Seen>>,
}

impl Receiver {
    async fn start(b: Behaviour) -> Receiver {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(hook))
            .with_state((seen.clone(), b));
        let url = format!("http://{}/hook", common::serve(app).await);
        Receiver { url, seen }
    }

    fn accepted(&self) -> Vec<i64> {
        self.seen.lock().expect("lock").accepted.clone()
    }

    fn requests(&self) -> usize {
        self.seen.lock().expect("lock").requests
    }

    fn bad(&self) -> Vec<String> {
        self.seen.lock().expect("lock").bad.clone()
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect()
}

async fn hook(
    State((seen, b)): State<(Arc<Mutex<Seen>>, Behaviour)>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let n = {
        let mut s = seen.lock().expect("lock");
        s.requests += 1;
        s.requests
    };
    tokio::time::sleep(b.delay).await;
    let mut s = seen.lock().expect("lock");
    if n <= b.fail_first {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let id = v["id"].as_i64().unwrap_or(-1);
    let header_id = headers
        .get("x-feedwatch-alert-id")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<i64>().ok());
    if header_id != Some(id) {
        s.bad
            .push(format!("header id {header_id:?} for body id {id}"));
    }
    if let Some(secret) = &b.secret {
        let sig = headers
            .get("x-feedwatch-signature")
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("sha256="))
            .and_then(unhex);
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("hmac key");
        mac.update(&body);
        if sig.is_none_or(|sig| mac.verify_slice(&sig).is_err()) {
            s.bad.push(format!("bad signature for {id}"));
            return StatusCode::UNAUTHORIZED;
        }
    }
    s.accepted.push(id);
    StatusCode::NO_CONTENT
}

fn counts(ids: &[i64]) -> HashMap<i64, usize> {
    let mut m = HashMap::new();
    for id in ids {
        *m.entry(*id).or_default() += 1;
    }
    m
}

fn webhook(name: &str, url: &str, extra: &str) -> SinkSpec {
    spec(&format!(
        "name = \"{name}\"\ntype = \"webhook\"\nurl = \"{url}\"\ntimeout = \"2s\"\nretry_initial = \"50ms\"\nretry_max = \"200ms\"\n{extra}"
    ))
}

/// The check: the receiver fails the first 3 deliveries, then accepts. Every alert
/// arrives, each accepted exactly once by id, across a restart of the sinks in the middle.
/// Alerts committed before the sink was first registered are not replayed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_retries_and_every_alert_arrives_once_across_a_restart() {
    let recv = Receiver::start(Behaviour {
        fail_first: 3,
        delay: Duration::from_millis(40),
        ..Behaviour::default()
    })
    .await;
    let mut db = Db::new();
    db.alerts(1); // before the sink existed: history, not for it
    let old = db.all_ids();
    let specs = [webhook("hook", &recv.url, "")];

    let sinks = start(&db, &specs).await;
    db.alerts(8);
    sinks.waker().wake();
    wait_for("the first accepted alert", WAIT, || {
        !recv.accepted().is_empty()
    })
    .await;
    sinks.shutdown(GRACE).await;
    let first_run = recv.accepted().len();
    assert!(
        first_run < 8,
        "the restart should come mid-way ({first_run} delivered)"
    );
    db.alerts(4); // committed while no sink runs

    let sinks = start(&db, &specs).await;
    sinks.waker().wake();
    wait_for("all 12 alerts", WAIT, || recv.accepted().len() >= 12).await;
    // No stray repeat: the sink sends the oldest due alert first, one at a time, so once a
    // sentinel committed now is accepted, any repeat of the 12 would have been sent already.
    let sentinel = db.sentinel(&sinks);
    wait_for("the sentinel", WAIT, || recv.accepted().contains(&sentinel)).await;
    sinks.shutdown(GRACE).await;

    let accepted: Vec<i64> = recv
        .accepted()
        .into_iter()
        .filter(|&id| id != sentinel)
        .collect();
    let expected: Vec<i64> = db
        .all_ids()
        .into_iter()
        .filter(|id| !old.contains(id) && *id != sentinel)
        .collect();
    assert_eq!(expected.len(), 12);
    let c = counts(&accepted);
    for id in &expected {
        assert_eq!(
            c.get(id),
            Some(&1),
            "alert {id} accepted {:?} times: {accepted:?}",
            c.get(id)
        );
    }
    assert_eq!(accepted.len(), 12, "{accepted:?}");
    assert_eq!(
        recv.requests(),
        12 + 3 + 1,
        "3 failures, then one request per alert (and the sentinel)"
    );
    assert!(recv.bad().is_empty(), "{:?}", recv.bad());
    let st = db.status("hook");
    assert_eq!(
        (st.pending, st.failed, st.delivered, st.consecutive_failures),
        (0, 0, 12 + 1, 0)
    );
}

/// With a secret, the body is signed; a receiver with a different secret refuses (401) and
/// the alert is recorded as failed for good, not retried, until an operator retries it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hmac_signature_verifies_and_a_refusal_is_not_retried() {
    let good = Receiver::start(Behaviour {
        secret: Some(b"s3cret".to_vec()),
        ..Behaviour::default()
    })
    .await;
    let wrong = Receiver::start(Behaviour {
        secret: Some(b"other".to_vec()),
        ..Behaviour::default()
    })
    .await;
    let mut db = Db::new();
    let secret = db.dir().join("hook.secret");
    std::fs::write(&secret, "s3cret\n").expect("write secret");
    std::env::set_var("FEEDWATCH_TEST_SINK_SECRET", "s3cret");
    let specs = [
        webhook(
            "file",
            &good.url,
            &format!("secret_file = {:?}\n", secret.display().to_string()),
        ),
        webhook(
            "env",
            &wrong.url,
            "secret_env = \"FEEDWATCH_TEST_SINK_SECRET\"\n",
        ),
    ];
    let sinks = start(&db, &specs).await;
    db.alerts(3);
    sinks.waker().wake();
    wait_for("3 signed alerts", WAIT, || good.accepted().len() == 3).await;
    wait_for("3 refusals", WAIT, || db.status("env").failed == 3).await;
    // A retry would come before a sentinel committed now (the oldest due alert goes first),
    // so once the sentinel is refused too, the 3 refused alerts had their chance to repeat.
    db.sentinel(&sinks);
    wait_for("the sentinel's refusal", WAIT, || {
        db.status("env").failed == 4
    })
    .await;
    wait_for("the signed sentinel", WAIT, || good.accepted().len() == 4).await;
    sinks.shutdown(GRACE).await;
    assert!(good.bad().is_empty(), "{:?}", good.bad());
    assert_eq!(wrong.requests(), 3 + 1, "a 401 is not retried");
    let st = db.status("env");
    assert_eq!((st.pending, st.failed), (0, 3 + 1));
    assert!(
        st.last_error.as_deref().is_some_and(|e| e.contains("401")),
        "{st:?}"
    );

    // The operator fixes the receiver's secret and retries: the failed alerts go out.
    let fixed = Receiver::start(Behaviour {
        secret: Some(b"s3cret".to_vec()),
        ..Behaviour::default()
    })
    .await;
    db.store.retry_failed_sink("env", 0).expect("retry");
    let sinks = start(
        &db,
        &[webhook(
            "env",
            &fixed.url,
            "secret_env = \"FEEDWATCH_TEST_SINK_SECRET\"\n",
        )],
    )
    .await;
    wait_for("the retried alerts", WAIT, || {
        fixed.accepted().len() == 3 + 1
    })
    .await;
    sinks.shutdown(GRACE).await;
}

/// A missing secret file is an error naming the sink, and nothing starts.
#[tokio::test]
async fn missing_secret_file_names_the_sink() {
    let db = Db::new();
    let s = webhook(
        "ops",
        "http://127.0.0.1:9/",
        "secret_file = \"/nonexistent/feedwatch.secret\"\n",
    );
    let e = SinkSet::start(&db.path, &[s], fast(), CancellationToken::new())
        .await
        .expect_err("must fail");
    let msg = e.to_string();
    assert!(
        msg.contains("sink `ops`") && msg.contains("/nonexistent/feedwatch.secret"),
        "{msg}"
    );
}

/// Exec sink: argv without a shell of our own, alert JSON on stdin, metadata in the
/// environment. A failing command is retried; a hanging one is killed at the timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_sink_gets_json_on_stdin_and_failures_are_retried() {
    let mut db = Db::new();
    let out = db.dir().join("out.jsonl");
    let flag = db.dir().join("fail-once");
    std::fs::write(&flag, "").expect("flag");
    let specs = [
        spec(&format!(
            "name = \"mail\"\ntype = \"exec\"\ncommand = [\"sh\", \"-c\", \"if [ -e \\\"$2\\\" ]; then rm \\\"$2\\\"; exit 3; fi; cat >> \\\"$1\\\"; echo \\\"$FEEDWATCH_SINK $FEEDWATCH_ALERT_ID\\\" >> \\\"$1.env\\\"\", \"sh\", {:?}, {:?}]\ntimeout = \"5s\"\nretry_initial = \"50ms\"\nretry_max = \"100ms\"\n",
            out.display().to_string(),
            flag.display().to_string()
        )),
        spec("name = \"stuck\"\ntype = \"exec\"\ncommand = [\"sleep\", \"30\"]\ntimeout = \"200ms\"\nretry_initial = \"50ms\"\nretry_max = \"100ms\"\n"),
    ];
    let sinks = start(&db, &specs).await;
    db.alerts(3);
    sinks.waker().wake();
    let lines = || {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| v["id"].as_i64())
            .collect::<Vec<_>>()
    };
    wait_for("3 alerts through the command", WAIT, || lines().len() == 3).await;
    wait_for("the stuck command to time out twice", WAIT, || {
        db.status("stuck").consecutive_failures >= 2
    })
    .await;
    sinks.shutdown(GRACE).await;
    assert_eq!(lines(), db.all_ids());
    let env = std::fs::read_to_string(format!("{}.env", out.display())).expect("env file");
    let first = db.all_ids()[0];
    assert!(
        env.lines()
            .next()
            .is_some_and(|l| l == format!("mail {first}")),
        "{env}"
    );
    let mail = db.status("mail");
    assert_eq!(
        (mail.pending, mail.delivered, mail.consecutive_failures),
        (0, 3, 0)
    );
    let stuck = db.status("stuck");
    assert_eq!(stuck.pending, 3);
    assert!(
        stuck
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("timed out")),
        "{stuck:?}"
    );
}

/// A receiver that hangs until the timeout does not hold up another sink, nor commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_that_is_down_blocks_neither_other_sinks_nor_commits() {
    let hanging = Receiver::start(Behaviour {
        delay: Duration::from_secs(30),
        ..Behaviour::default()
    })
    .await;
    let ok = Receiver::start(Behaviour::default()).await;
    // Nothing listens on a port just released: connection refused.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}/hook", l.local_addr().expect("addr"))
    };
    let mut db = Db::new();
    let specs = [
        webhook("hanging", &hanging.url, "").with_timeout(Duration::from_secs(2)),
        webhook("closed", &closed, ""),
        webhook("ok", &ok.url, ""),
    ];
    let sinks = start(&db, &specs).await;
    let t0 = std::time::Instant::now();
    for _ in 0..10 {
        db.alerts(1);
        sinks.waker().wake();
    }
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "commits were held up: {:?}",
        t0.elapsed()
    );
    wait_for("all 10 at the healthy sink", WAIT, || {
        ok.accepted().len() == 10
    })
    .await;
    assert!(
        t0.elapsed() < Duration::from_secs(8),
        "the healthy sink waited: {:?}",
        t0.elapsed()
    );
    wait_for("the closed sink to fail with all queued", WAIT, || {
        let c = db.status("closed");
        c.consecutive_failures >= 1 && c.pending == 10
    })
    .await;
    wait_for("the hanging sink to queue all", WAIT, || {
        db.status("hanging").pending == 10
    })
    .await;
    sinks.shutdown(GRACE).await;
    let h = db.status("hanging");
    assert!(
        h.last_error
            .as_deref()
            .is_some_and(|e| e.contains("timed out") || e.contains("timeout")),
        "{h:?}"
    );
    let c = db.status("closed");
    assert_eq!(c.pending, 10);
    assert!(c.last_error.is_some(), "{c:?}");
    let table = feedwatch::sink::format_status(&specs, &db.store.sink_status().expect("status"));
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("closed") && l.contains(" 10 ")),
        "{table}"
    );
}

/// Rule and severity filters: only matching alerts are queued and sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_and_severity_filters() {
    let recv = Receiver::start(Behaviour::default()).await;
    let mut db = Db::new();
    let specs = [webhook(
        "picky",
        &recv.url,
        "rules = [\"r1\", \"r3\"]\nmin_severity = \"high\"\n",
    )];
    let sinks = start(&db, &specs).await;
    db.alert(&[("r1", Severity::High), ("r2", Severity::Critical)]); // r1 only
    db.alert(&[("r1", Severity::Low)]); // too low
    db.alert(&[("r3", Severity::Critical), ("r1", Severity::Medium)]); // r3 only
    sinks.waker().wake();
    wait_for("2 alerts", WAIT, || recv.accepted().len() == 2).await;
    // A matching sentinel (r3) goes out after anything queued before it: once it is
    // accepted, an alert the filters let through by mistake would have been sent.
    db.alert(&[("r3", Severity::Critical)]);
    sinks.waker().wake();
    wait_for("the sentinel", WAIT, || recv.accepted().len() == 3).await;
    sinks.shutdown(GRACE).await;
    let all = db.store.alerts(0, None).expect("alerts");
    let want: Vec<i64> = all
        .iter()
        .filter(|a| (a.rule == "r1" && a.severity == Severity::High) || a.rule == "r3")
        .map(|a| a.id)
        .collect();
    assert_eq!(recv.accepted(), want);
    assert_eq!(db.status("picky").pending, 0);
}

/// `drain` (for `poll --once`) sends what is due and returns without waiting for a tick.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_delivers_what_is_due_then_stops() {
    let recv = Receiver::start(Behaviour::default()).await;
    let mut db = Db::new();
    let specs = [webhook("hook", &recv.url, "")];
    let sinks = SinkSet::start(
        &db.path,
        &specs,
        SinkOptions {
            tick: Duration::from_secs(3600),
            ..SinkOptions::default()
        },
        CancellationToken::new(),
    )
    .await
    .expect("start");
    db.alerts(3);
    let t0 = std::time::Instant::now();
    sinks.drain(GRACE).await;
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert_eq!(recv.accepted().len(), 3);
}

trait WithTimeout {
    fn with_timeout(self, t: Duration) -> Self;
}

impl WithTimeout for SinkSpec {
    fn with_timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }
}

/// A crash mid-delivery (tasks cut off with no grace, nothing recorded): after restart the
/// cut-off alert is sent again once its claim lapses, so every alert arrives at least once,
/// and only an alert that was in flight can arrive twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_delivery_loses_nothing() {
    let recv = Receiver::start(Behaviour {
        delay: Duration::from_millis(200),
        ..Behaviour::default()
    })
    .await;
    let mut db = Db::new();
    let specs = [webhook("hook", &recv.url, "").with_timeout(Duration::from_millis(500))];
    let sinks = start(&db, &specs).await;
    db.alerts(4);
    sinks.waker().wake();
    wait_for("a request in flight after one delivery", WAIT, || {
        recv.requests() >= 2
    })
    .await;
    sinks.shutdown(Duration::ZERO).await; // the "crash": the delivery in flight is dropped
    let sinks = start(&db, &specs).await;
    wait_for("all 4 alerts", WAIT, || counts(&recv.accepted()).len() == 4).await;
    sinks.shutdown(GRACE).await;
    let c = counts(&recv.accepted());
    assert!(c.values().all(|n| *n <= 2), "{c:?}");
    assert!(c.values().filter(|n| **n == 2).count() <= 1, "{c:?}");
    assert_eq!(db.status("hook").pending, 0);
}

/// Whether a process is still running (a zombie waiting to be reaped counts as gone).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // The state follows the parenthesised command name.
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(|st| st != "Z"))
        })
        .unwrap_or(false)
}

/// Pids an exec sink's command wrote (one per attempt).
fn pids(path: &Path) -> Vec<u32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// A command that starts a child of its own and waits for it: killing only the command
/// would leave the child behind. It writes the child's pid to `$1`.
fn forking_sink(name: &str, pid_file: &Path, timeout: &str) -> SinkSpec {
    spec(&format!(
        "name = \"{name}\"\ntype = \"exec\"\ncommand = [\"sh\", \"-c\", \"sleep 300 & echo $! >> \\\"$1\\\"; wait\", \"sh\", {:?}]\ntimeout = \"{timeout}\"\nretry_initial = \"30s\"\nretry_max = \"30s\"\n",
        pid_file.display().to_string()
    ))
}

/// Issue 11, row 17: the exec sink's whole process group is killed on timeout and when a
/// delivery is cut off at shutdown, so no grandchild outlives it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_exec_sink_leaves_no_process_behind() {
    let mut db = Db::new();
    let hung_pids = db.dir().join("hung.pids");
    let slow_pids = db.dir().join("slow.pids");
    let specs = [
        forking_sink("hung", &hung_pids, "1s"),
        forking_sink("slow", &slow_pids, "60s"),
    ];
    let sinks = start(&db, &specs).await;
    db.alerts(1);
    sinks.waker().wake();
    wait_for("the hung command to time out", WAIT, || {
        db.status("hung").consecutive_failures >= 1
    })
    .await;
    wait_for("the slow command to start its child", WAIT, || {
        !pids(&slow_pids).is_empty()
    })
    .await;
    let hung = pids(&hung_pids);
    assert!(!hung.is_empty(), "the hung command started no child");
    wait_for("the timed-out command's child to be killed", WAIT, || {
        !hung.iter().any(|&p| running(p))
    })
    .await;

    // Shutdown with a grace period shorter than the delivery: it is cut off, and its whole
    // group goes with it.
    let slow = pids(&slow_pids);
    assert!(
        slow.iter().all(|&p| running(p)),
        "the slow child is running"
    );
    sinks.shutdown(Duration::from_millis(200)).await;
    wait_for("the cut-off command's child to be killed", WAIT, || {
        !slow.iter().any(|&p| running(p))
    })
    .await;
}
