//! Storage faults through the real binary (issue 11, rows 8-11): a second instance on the
//! same database, a full disk under the alert log and under the database, a damaged
//! database, the database or the alert log deleted while the daemon runs. Each fault must show in `status`, `/healthz`, metrics, the
//! log and exit codes, and go away when its cause does. Loopback only; the full-disk tests
//! mount a small tmpfs, which needs root: without it they say so and skip.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test panics on a broken fixture

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{get, rss, wait_for, wait_health, Daemon, Fixture, Instance, Signal, TestServer};

const STORIES: [&str; 6] = [
    "Two rockets landed inside Baghdad's Green Zone late on Monday and sirens sounded at the US embassy",
    "A drone was shot down over the Green Zone in Baghdad as it approached the American embassy compound",
    "Protesters tried to force the gates of the Green Zone in Baghdad and were held back near several embassies",
    "Mortar rounds fell near a Green Zone checkpoint in Baghdad and the US embassy told staff to shelter",
    "Security forces sealed the Green Zone in Baghdad after a rocket hit close to the embassy district",
    "The US embassy in Baghdad's Green Zone raised its alert level after an overnight rocket strike",
];

/// `n` keyword items with distinct texts (so story grouping keeps them apart); `pad` words
/// of filler make each item's stored text bigger.
fn hot_feed(tag: &str, n: usize, pad: usize) -> String {
    let words = [
        "harbour", "winter", "budget", "railway", "museum", "orchard", "bridge",
    ];
    let items: Vec<(String, String, String)> = (0..n)
        .map(|i| {
            // Words of this item only (its number spelt in letters: digits would split the
            // words), so no two items look like one story.
            let letters = |n: usize| -> String {
                n.to_string()
                    .bytes()
                    .map(|d| char::from(b'g' + d - b'0'))
                    .collect()
            };
            let mark = letters(i);
            let filler: Vec<String> = (0..pad)
                .map(|k| format!("{}{tag}{mark}q{}", words[k % words.len()], letters(k)))
                .collect();
            (
                format!("{tag} report {i}: rockets near the Green Zone"),
                format!("http://news.invalid/{tag}/{i}"),
                format!(
                    "{} ({tag} {i}). {}",
                    STORIES[i % STORIES.len()],
                    filler.join(" ")
                ),
            )
        })
        .collect();
    let refs: Vec<(&str, &str, Option<&str>)> = items
        .iter()
        .map(|(t, l, d)| (t.as_str(), l.as_str(), Some(d.as_str())))
        .collect();
    rss(tag, &refs)
}

fn feed_entry(srv: &TestServer, path: &str) -> String {
    format!(
        "[[feeds]]\nurl = \"{}\"\nname = \"{}\"\ninterval = \"1h\"\n\n",
        srv.url(path),
        path.trim_start_matches('/')
    )
}

/// Rewrites a key of the instance's config.
fn edit_config(inst: &Instance, from: &str, to: &str) {
    let cfg = std::fs::read_to_string(inst.config()).expect("read config");
    assert!(cfg.contains(from), "config lacks {from:?}");
    std::fs::write(inst.config(), cfg.replace(from, to)).expect("write config");
}

/// `feedwatch run` with a short grace period.
fn start_daemon(inst: &Instance) -> Daemon {
    Daemon::start(inst, &["--grace", "2s"])
}

fn read(p: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned()
}

/// Every line of the alert log is a whole JSON object, and no id appears twice; the ids.
fn whole_lines_once(log: &Path) -> Vec<i64> {
    let text = read(log);
    assert!(text.is_empty() || text.ends_with('\n'), "torn last line");
    let mut ids = Vec::new();
    for l in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("broken log line {l:?}: {e}"));
        ids.push(v["id"].as_i64().expect("id"));
    }
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique.len(),
        ids.len(),
        "an alert was written twice: {ids:?}"
    );
    ids
}

/// A small tmpfs, unmounted when dropped. `None` (with a message) where mounting is not
/// permitted.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: PathBuf, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(&at).expect("mount point");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!(
                "SKIPPED: cannot mount a tmpfs here (needs root); full-disk behaviour untested"
            );
            return None;
        }
        Some(Tmpfs(at))
    }

    /// Fills the file system, then frees `leave` bytes, so exactly that much fits.
    fn fill_leaving(&self, leave: usize) {
        use std::io::Write;
        let pad = self.0.join("pad");
        std::fs::write(&pad, vec![b'p'; leave]).expect("pad");
        let mut f = std::fs::File::create(self.0.join("filler")).expect("filler");
        let chunk = vec![b'f'; 4096];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
        std::fs::remove_file(pad).expect("free pad");
    }

    fn free(&self) {
        std::fs::remove_file(self.0.join("filler")).expect("remove filler");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Row 8: a second `run` or `poll` on the database of a running daemon is refused, naming
/// the holder, with its own exit code; `status` names the holder; after it stops, the
/// database is free again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_on_the_same_database_is_refused() {
    let srv = TestServer::start().await;
    srv.set(
        "/a",
        Fixture::ok("application/rss+xml", hot_feed("a", 3, 0)),
    );
    let inst = Instance::new(&feed_entry(&srv, "/a"));
    let mut first = start_daemon(&inst);
    wait_for("the first poll", Duration::from_secs(30), || {
        inst.log_lines().len() >= 3
    })
    .await;

    for args in [&["poll", "--once"][..], &["run"][..]] {
        let out = inst.run(args).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("in use by feedwatch pid {}", first.pid()))
                && stderr.contains(&inst.db().display().to_string()),
            "{args:?} must name the database and the holder: {stderr}"
        );
    }
    assert_eq!(
        srv.requests("/a"),
        1,
        "the refused instances polled nothing"
    );
    let (svc, code) = inst.service().await;
    assert_eq!(code, Some(0), "{svc}");
    assert_eq!(svc["service"]["running"], true, "{svc}");
    assert_eq!(svc["service"]["pid"], first.pid().to_string(), "{svc}");

    first.stop().await;
    let out = inst.run(&["poll", "--once"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (svc, _) = inst.service().await;
    assert_eq!(svc["service"]["running"], false, "{svc}");
    let stored = inst.alerts().await.len();
    assert_eq!(whole_lines_once(&inst.alert_log()).len(), stored);
}

/// Rows 9 and 11: the alert log's disk fills. `poll --once` exits non-zero and leaves no
/// torn line; the daemon shows the fault in /healthz, metrics and `status`; once space
/// returns it delivers every alert exactly once and is healthy again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_under_the_alert_log_is_loud_and_recovers() {
    let srv = TestServer::start().await;
    srv.set(
        "/a",
        Fixture::ok("application/rss+xml", hot_feed("a", 12, 0)),
    );
    let inst = Instance::new(&feed_entry(&srv, "/a"));
    let Some(fs) = Tmpfs::mount(inst.dir.path().join("logfs"), "64k") else {
        return;
    };
    let log = fs.0.join("alerts.jsonl");
    // Port 0: the daemon binds a free port and logs it (no port reserved, then released).
    edit_config(
        &inst,
        "log = \"data/alerts.jsonl\"",
        &format!(
            "log = {:?}\n\n[http]\nlisten = \"127.0.0.1:0\"",
            log.display().to_string()
        ),
    );
    // One page free: the batch (12 alerts, well over 4 KiB) starts to fit, then the disk fills.
    std::fs::write(&log, "").expect("create log");
    fs.fill_leaving(4096);

    let out = inst.run(&["poll", "--once"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("alert_log"), "{stderr}");
    assert!(
        whole_lines_once(&log).is_empty(),
        "a failed batch leaves nothing behind"
    );

    let mut daemon = start_daemon(&inst);
    let port = daemon.http_addr().await.port();
    let body = wait_health(port, 503, "fault alert_log", Duration::from_secs(30)).await;
    assert!(body.contains(&log.display().to_string()), "{body}");
    let (_, metrics) = get(port, "/metrics").await;
    assert!(
        metrics.contains("feedwatch_fault{fault=\"alert_log\"} 1"),
        "{metrics}"
    );
    let status = inst.run(&["status"]).await;
    let text = String::from_utf8_lossy(&status.stdout);
    assert_eq!(status.status.code(), Some(4), "{text}");
    assert!(
        text.lines().next().is_some_and(|l| l.contains("FAULT"))
            && text.contains("FAULT alert_log"),
        "status must lead with the fault: {text}"
    );
    assert!(text.contains("free for the alert log"), "{text}");
    assert!(whole_lines_once(&log).is_empty());

    fs.free();
    wait_health(port, 200, "ok", Duration::from_secs(30)).await;
    let stored = inst.alerts().await.len();
    assert!(stored >= 12);
    assert_eq!(whole_lines_once(&log).len(), stored, "every alert once");
    let (_, metrics) = get(port, "/metrics").await;
    assert!(
        metrics.contains("feedwatch_fault{fault=\"alert_log\"} 0"),
        "{metrics}"
    );
    let (svc, code) = inst.service().await;
    assert_eq!(
        (code, svc["service"]["faults"].clone()),
        (Some(0), serde_json::json!([]))
    );
    daemon.stop().await;
    let journal = daemon.log();
    assert!(
        journal.contains("ERROR") && journal.contains("service fault alert_log"),
        "{journal}"
    );
    assert!(journal.contains("cleared"), "{journal}");
}

const B_ITEMS: usize = 60;

/// Row 11: the database's disk fills under the running daemon. The failed commit counts as
/// `result="error"`, /healthz and `status` show `store_commit`; when space returns the fault
/// clears, and the lost poll is redone (here by `poll --once` after the daemon stops).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_under_the_database_is_loud_and_recovers() {
    let srv = TestServer::start().await;
    srv.set(
        "/a",
        Fixture::ok("application/rss+xml", hot_feed("a", 1, 0)),
    );
    srv.set(
        "/b",
        Fixture::ok("application/rss+xml", hot_feed("b", B_ITEMS, 1500)),
    );
    let inst = Instance::new(&feed_entry(&srv, "/a"));
    let Some(fs) = Tmpfs::mount(inst.dir.path().join("dbfs"), "8m") else {
        return;
    };
    let db = fs.0.join("fw.db");
    edit_config(
        &inst,
        "database = \"data/fw.db\"",
        &format!("database = {:?}", db.display().to_string()),
    );
    edit_config(
        &inst,
        "[fetch]",
        "[http]\nlisten = \"127.0.0.1:0\"\n\n[fetch]",
    );
    let mut daemon = start_daemon(&inst);
    let port = daemon.http_addr().await.port();
    wait_for("the first poll", Duration::from_secs(30), || {
        !inst.log_lines().is_empty()
    })
    .await;
    // Room for the reload's small write, not for feed b's long articles (well over a MB
    // with their index, more than the write-ahead log already holds).
    fs.fill_leaving(160 * 1024);
    let cfg = std::fs::read_to_string(inst.config()).expect("config");
    std::fs::write(inst.config(), cfg + &feed_entry(&srv, "/b")).expect("add feed b");
    daemon.signal(Signal::HUP);

    let body = wait_health(port, 503, "fault store_commit", Duration::from_secs(30)).await;
    assert!(body.contains("full") || body.contains("disk"), "{body}");
    let (_, metrics) = get(port, "/metrics").await;
    assert!(
        metrics.contains("feedwatch_polls_total{result=\"error\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("feedwatch_fault{fault=\"store_commit\"} 1"),
        "{metrics}"
    );
    let status = inst.run(&["status"]).await;
    let text = String::from_utf8_lossy(&status.stdout);
    assert_eq!(status.status.code(), Some(4), "{text}");
    assert!(text.contains("FAULT store_commit"), "{text}");

    fs.free();
    wait_health(port, 200, "ok", Duration::from_secs(30)).await;
    daemon.stop().await;
    assert!(
        daemon.log().contains("service fault store_commit"),
        "{}",
        daemon.log()
    );

    let out = inst.run(&["poll", "--once"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ids = whole_lines_once(&inst.alert_log());
    let stored = inst.alerts().await;
    let mut from_b: Vec<&str> = stored
        .iter()
        .filter(|a| a["feed"] == "b")
        .filter_map(|a| a["url"].as_str())
        .collect();
    from_b.dedup();
    assert_eq!(
        from_b.len(),
        B_ITEMS,
        "feed b's items alert once the disk has room"
    );
    assert_eq!(ids.len(), stored.len());
}

/// Row 11: 16 KiB of garbage over data pages. `poll --once` and `run` refuse to start on it
/// (exit 4, naming the check), and `status` says the database is damaged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_database_is_refused_at_start() {
    let srv = TestServer::start().await;
    srv.set(
        "/a",
        Fixture::ok("application/rss+xml", hot_feed("a", 30, 200)),
    );
    let inst = Instance::new(&feed_entry(&srv, "/a"));
    assert!(inst.run(&["poll", "--once"]).await.status.success());
    let len = std::fs::metadata(inst.db()).expect("db").len();
    assert!(
        len >= 8 * 16384,
        "a database of several pages ({len} bytes)"
    );
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(inst.db())
            .expect("open db");
        let garbage: Vec<u8> = (0..16384u32).map(|i| (i * 131 % 251) as u8).collect();
        for page in [3u64, 5, 7] {
            f.write_all_at(&garbage, page * 16384).expect("garbage");
        }
    }
    for args in [&["poll", "--once"][..], &["run"][..]] {
        let out = inst.run(args).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{args:?}: {stderr}");
        assert!(
            stderr.contains("integrity check") && stderr.contains("not polling"),
            "{args:?}: {stderr}"
        );
    }
    let status = inst.run(&["status"]).await;
    let text = String::from_utf8_lossy(&status.stdout);
    assert_eq!(status.status.code(), Some(4), "{text}");
    assert!(text.contains("DAMAGED"), "{text}");
}

/// Row 10: the data folder removed under the running daemon: an error naming the database,
/// and a non-zero exit (so the service manager restarts it) instead of writing on into
/// deleted files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_deleted_while_running_stops_the_daemon_loudly() {
    let srv = TestServer::start().await;
    srv.set(
        "/a",
        Fixture::ok("application/rss+xml", hot_feed("a", 2, 0)),
    );
    let inst = Instance::new(&feed_entry(&srv, "/a"));
    let mut daemon = start_daemon(&inst);
    wait_for("the first poll", Duration::from_secs(30), || {
        inst.log_lines().len() >= 2
    })
    .await;
    std::fs::remove_dir_all(inst.dir.path().join("data")).expect("rm data");
    let st = daemon.wait_exit(Duration::from_secs(30)).await;
    let journal = daemon.log();
    assert_eq!(st.and_then(|s| s.code()), Some(4), "{journal}");
    assert!(
        journal.contains("service fault database_gone")
            && journal.contains(&format!("database {} was deleted", inst.db().display())),
        "{journal}"
    );
}

/// Row 10: the alert log deleted under the running daemon is created again at its path
/// (with an error in the log), and alerts raised afterwards go to the new file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alert_log_deleted_while_running_is_created_again() {
    let srv = TestServer::start().await;
    srv.set(
        "/a",
        Fixture::ok("application/rss+xml", hot_feed("a", 2, 0)),
    );
    srv.set(
        "/b",
        Fixture::ok("application/rss+xml", hot_feed("b", 3, 0)),
    );
    let inst = Instance::new(&feed_entry(&srv, "/a"));
    let mut daemon = start_daemon(&inst);
    wait_for("the first poll", Duration::from_secs(30), || {
        inst.log_lines().len() >= 2
    })
    .await;
    std::fs::remove_file(inst.alert_log()).expect("rm log");
    wait_for("the log to come back", Duration::from_secs(20), || {
        inst.alert_log().exists()
    })
    .await;
    assert!(
        daemon.log().contains("the alert log was deleted"),
        "{}",
        daemon.log()
    );
    let cfg = std::fs::read_to_string(inst.config()).expect("config");
    std::fs::write(inst.config(), cfg + &feed_entry(&srv, "/b")).expect("add feed b");
    daemon.signal(Signal::HUP);
    let b_lines = || {
        (inst.log_lines().iter())
            .filter(|l| l["feed"] == "b")
            .filter_map(|l| l["id"].as_i64())
            .collect::<Vec<_>>()
    };
    wait_for(
        "feed b's alerts in the new log",
        Duration::from_secs(30),
        || b_lines().len() >= 3,
    )
    .await;
    daemon.stop().await;
    let mut from_b: Vec<i64> = (inst.alerts().await.iter())
        .filter(|a| a["feed"] == "b")
        .filter_map(|a| a["id"].as_i64())
        .collect();
    from_b.sort_unstable();
    let mut logged_b = b_lines();
    logged_b.sort_unstable();
    // No line twice. Besides b's, the new log may hold a's alerts again: the log can be
    // deleted after their lines were written but before their delivery was committed, and
    // what is not known as delivered is written again (nothing is lost).
    whole_lines_once(&inst.alert_log());
    assert_eq!(logged_b, from_b, "b's alerts, once");
}

/// Row 10's recovery: the database is gone (deleted, then created again at the next start)
/// but the alert log is kept. The new database's alerts must neither be taken for the old
/// ones by repair nor reuse their ids, which receivers drop repeats by.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_database_beside_an_old_alert_log_never_reuses_its_ids() {
    let srv = TestServer::start().await;
    srv.set(
        "/a",
        Fixture::ok("application/rss+xml", hot_feed("a", 3, 0)),
    );
    let inst = Instance::new(&feed_entry(&srv, "/a"));
    assert!(inst.run(&["poll", "--once"]).await.status.success());
    let old = whole_lines_once(&inst.alert_log());
    assert!(!old.is_empty());
    for suffix in ["", "-wal", "-shm"] {
        let mut p = inst.db().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
    srv.set(
        "/a",
        Fixture::ok("application/rss+xml", hot_feed("c", 3, 0)),
    );
    let out = inst.run(&["poll", "--once"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ids = whole_lines_once(&inst.alert_log());
    let stored = inst.alerts().await.len();
    assert_eq!(
        ids.len(),
        old.len() + stored,
        "every new alert written, once"
    );
    let top = old.iter().max().copied().unwrap_or(0);
    assert!(ids[old.len()..].iter().all(|&i| i > top), "{ids:?}");
}
