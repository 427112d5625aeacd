//! Until the commands run on the PostgreSQL store (issue #15), a config that selects it is
//! refused by every command at start, with one message naming the setting, what the backend
//! provides so far and what to use meanwhile, and the config-error exit code (2). Needs no
//! server: nothing may connect anywhere.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test panics on a broken fixture

mod common;

use common::daemon::command;
use common::Instance;

#[test]
fn every_command_refuses_a_postgres_database_for_now() {
    let inst = Instance::new("[[feeds]]\nurl = \"http://127.0.0.1:9/feed.xml\"\n");
    let cfg = std::fs::read_to_string(inst.config()).expect("config");
    let pg = "database = \"postgresql://fw:hunter2@127.0.0.1:9/news?sslmode=verify-full\"";
    let cfg = cfg.replace("database = \"data/fw.db\"", pg);
    assert!(cfg.contains(pg));
    std::fs::write(inst.config(), cfg).expect("write config");
    let line = std::fs::read_to_string(inst.config())
        .expect("config")
        .lines()
        .position(|l| l.starts_with("database ="))
        .expect("database line")
        + 1;
    let config = inst.config();
    let config = config.to_str().expect("utf-8 path");
    for args in [
        &["config", "check"][..],
        &["run"],
        &["poll", "--once"],
        &["alerts"],
        &["status"],
        &["search", "embassy"],
        &["feeds", "list"],
        &["db", "stats"],
        &["db", "check"],
    ] {
        let out = command(["--config", config].iter().chain(args))
            .output()
            .expect("run feedwatch");
        let err = String::from_utf8_lossy(&out.stderr);
        let what = args.join(" ");
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        assert!(
            err.contains(&format!("feedwatch.toml:{line}: key `storage.database`")),
            "{what}: {err}"
        );
        assert!(
            err.contains("PostgreSQL backend is in progress"),
            "{what}: {err}"
        );
        assert!(err.contains("use a SQLite file meanwhile"), "{what}: {err}");
        assert!(!err.contains("hunter2"), "{what}: {err}");
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("hunter2"),
            "{what}"
        );
    }
    assert!(!inst.db().exists(), "no SQLite file was made instead");
}
