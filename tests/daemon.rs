//! The daemon (`feedwatch run`) through the real binary and real signals: it polls, reloads
//! on SIGHUP (refusing a broken config), and exits 0 on SIGTERM without losing or repeating
//! alerts.

mod common;

use std::time::Duration;

use common::{page, read_fixture, rss, wait_for, Daemon, Fixture, Instance, Signal, TestServer};

fn feeds_config(srv: &TestServer, paths: &[&str]) -> String {
    paths
        .iter()
        .map(|p| {
            format!(
                "[[feeds]]\nurl = \"{}\"\nname = \"{p}\"\nfull_text = true\ninterval = \"1h\"\n\n",
                srv.url(p)
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_reloads_on_hup_and_stops_on_term() {
    let srv = TestServer::start().await;
    let seed = srv.url("/news/seed");
    srv.set(
        "/news/seed",
        Fixture::ok("text/html", read_fixture("seed/article.html")),
    );
    srv.set(
        "/a",
        Fixture::ok(
            "application/rss+xml",
            rss(
                "A",
                &[(
                    "Iraq 'taking security measures' to prevent US embassy closure",
                    &seed,
                    None,
                )],
            ),
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
        Fixture::ok(
            "application/rss+xml",
            rss(
                "B",
                &[(
                    "Rockets strike Baghdad's Green Zone near US embassy",
                    &second,
                    None,
                )],
            ),
        ),
    );

    let inst = Instance::new(&feeds_config(&srv, &["/a"]));
    // A fake service manager: a unix datagram socket the daemon reports to.
    let sock_path = inst.dir.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).expect("bind notify socket");
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stop_reading = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (received, stop) = (received.clone(), stop_reading.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(n) = sock.recv(&mut buf) {
                    received
                        .lock()
                        .expect("lock")
                        .push(String::from_utf8_lossy(&buf[..n]).into_owned());
                }
            }
        })
    };
    let mut daemon = Daemon::spawn_env(
        &inst,
        &["run", "--grace", "5s"],
        &[
            ("NOTIFY_SOCKET", sock_path.as_os_str()),
            ("WATCHDOG_USEC", "2000000".as_ref()),
        ],
    );

    wait_for("the seed's alerts", Duration::from_secs(30), || {
        inst.log_lines().len() >= 2
    })
    .await;

    // A broken config is refused; the daemon keeps running.
    let good = std::fs::read_to_string(inst.config()).expect("read config");
    std::fs::write(
        inst.config(),
        format!("{good}\n[poll]\nintervall = \"1m\"\n"),
    )
    .expect("write");
    daemon.signal(Signal::HUP);
    daemon
        .wait_log("reload refused", 1, Duration::from_secs(10))
        .await;
    assert!(
        daemon.try_wait().is_none(),
        "daemon must survive a bad reload"
    );

    // A good config with a second feed is applied: its alerts arrive.
    std::fs::write(
        inst.config(),
        format!("{good}\n{}", feeds_config(&srv, &["/b"])),
    )
    .expect("write");
    daemon.signal(Signal::HUP);
    wait_for("the second feed's alerts", Duration::from_secs(30), || {
        inst.log_lines().iter().any(|a| a["url"] == second.as_str())
    })
    .await;

    daemon.signal(Signal::TERM);

    let Some(status) = daemon.wait_exit(Duration::from_secs(15)).await else {
        panic!("daemon did not stop on SIGTERM:\n{}", daemon.log());
    };
    assert_eq!(status.code(), Some(0), "stderr:\n{}", daemon.log());

    let lines = inst.log_lines();
    let mut ids: Vec<i64> = lines.iter().filter_map(|a| a["id"].as_i64()).collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "no alert written twice");
    assert_eq!(inst.alerts().await.len(), n, "log and database agree");
    assert!(daemon.log().contains("reload applied"));

    stop_reading.store(true, std::sync::atomic::Ordering::Relaxed);
    reader.join().expect("reader thread");
    let notes = received.lock().expect("lock").clone();
    let has = |s: &str| notes.iter().any(|n| n.lines().any(|l| l.starts_with(s)));
    for want in [
        "READY=1",
        "STATUS=",
        "WATCHDOG=1",
        "RELOADING=1",
        "STOPPING=1",
    ] {
        assert!(has(want), "no {want} among {notes:?}");
    }
    let first_ready = notes.iter().position(|n| n.contains("READY=1"));
    let first_reload = notes.iter().position(|n| n.contains("RELOADING=1"));
    assert!(
        first_ready < first_reload,
        "READY before RELOADING: {notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("STATUS=") && n.contains("alerts today")),
        "{notes:?}"
    );
}

/// A service manager that never reads its socket must not stall the daemon.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_notify_socket_never_blocks() {
    // A feed dropped on disk: `run` refuses a config with no feeds.
    let inst = Instance::new("[[feeds]]\nurl = \"feed.xml\"\ninterval = \"1h\"\n");
    std::fs::write(inst.dir.path().join("feed.xml"), rss("Local", &[])).expect("write feed");
    let sock_path = inst.dir.path().join("notify.sock");
    let _sock = std::os::unix::net::UnixDatagram::bind(&sock_path).expect("bind notify socket");
    // A watchdog ping every 10 ms, and the notifier's debug messages in the log.
    let mut daemon = Daemon::spawn_env(
        &inst,
        &["run"],
        &[
            ("NOTIFY_SOCKET", sock_path.as_os_str()),
            ("WATCHDOG_USEC", "20000".as_ref()),
            (
                "FEEDWATCH_LOG",
                "info,feedwatch::ops::notify=debug".as_ref(),
            ),
        ],
    );
    // The event that shows the socket is stuck: the socket's queue is full, so the sender
    // thread blocks in its send, then the daemon's own bounded queue fills and a message is
    // dropped (well under a second at this ping rate). The daemon logged that, so it was still
    // running past the point where a blocking notify would have stalled it.
    daemon
        .wait_log(
            "notification dropped: queue full",
            1,
            Duration::from_secs(20),
        )
        .await;
    daemon.signal(Signal::TERM);
    let Some(status) = daemon.wait_exit(Duration::from_secs(10)).await else {
        panic!("daemon blocked on its notify socket:\n{}", daemon.log());
    };
    assert_eq!(status.code(), Some(0), "{}", daemon.log());
}

/// The harness's promise: a guard dropped mid-test (as by a failed assertion) kills and
/// reaps its daemon, and the child gets none of the service-manager variables of the
/// environment the tests run in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_guard_leaves_no_daemon_behind() {
    let inst = Instance::new("[[feeds]]\nurl = \"feed.xml\"\ninterval = \"1h\"\n");
    std::fs::write(inst.dir.path().join("feed.xml"), rss("Local", &[])).expect("write feed");
    let daemon = Daemon::start(&inst, &[]);
    let pid = daemon.pid();
    daemon
        .wait_log("feedwatch started", 1, Duration::from_secs(30))
        .await;
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
    for var in common::daemon::CLEARED_ENV {
        let prefix = format!("{var}=");
        assert!(
            !environ
                .split(|&b| b == 0)
                .any(|kv| kv.starts_with(prefix.as_bytes())),
            "{var} reached the daemon"
        );
    }
    drop(daemon);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "daemon {pid} still running (or not reaped) after its guard was dropped"
    );
}
