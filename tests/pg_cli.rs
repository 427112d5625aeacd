//! What every command does with a config that selects PostgreSQL (issue #15), against a
//! closed port. `db`, which maintains a SQLite file, refuses it with one message naming the
//! setting and the server's tools for each of its jobs, and the config-error exit code (2).
//! The commands that use the database (`run`, `poll --once`, `alerts`, `status`, `search`,
//! `digest`, `sinks retry`) connect, and report a server they cannot reach; those that need
//! none (`check`, `config check`, `extract`, `feeds`) run as on SQLite; digest sinks are
//! accepted.
//! Needs no server: nothing connects anywhere but a closed port.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test panics on a broken fixture

mod common;

use common::daemon::command;
use common::Instance;

/// An instance whose database is a PostgreSQL URL on a closed port (`extra` in `[storage]`).
fn pg_instance(extra: &str) -> (Instance, usize) {
    let inst = Instance::new("[[feeds]]\nurl = \"http://127.0.0.1:9/feed.xml\"\n");
    let cfg = std::fs::read_to_string(inst.config()).expect("config");
    let pg = "database = \"postgresql://fw:hunter2@127.0.0.1:9/news?sslmode=disable\"";
    let cfg = cfg.replace("database = \"data/fw.db\"", &format!("{pg}\n{extra}"));
    assert!(cfg.contains(pg));
    std::fs::write(inst.config(), cfg).expect("write config");
    let line = std::fs::read_to_string(inst.config())
        .expect("config")
        .lines()
        .position(|l| l.starts_with("database ="))
        .expect("database line")
        + 1;
    (inst, line)
}

#[test]
fn db_refuses_a_postgres_database_naming_the_servers_tools() {
    let (inst, line) = pg_instance("");
    let config = inst.config();
    let config = config.to_str().expect("utf-8 path");
    let backup = inst.dir.path().join("copy.db");
    let backup = backup.to_str().expect("utf-8 path");
    for args in [
        &["db", "stats"][..],
        &["db", "prune"],
        &["db", "check"],
        &["db", "vacuum"],
        &["db", "backup", backup],
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
            err.contains("maintains a SQLite database file; on PostgreSQL the server does this work: back up with `pg_dump`"),
            "{what}: {err}"
        );
        assert!(!err.contains("hunter2"), "{what}: {err}");
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("hunter2"),
            "{what}"
        );
    }
    assert!(!inst.db().exists(), "no SQLite file was made instead");
}

/// `config check`, `check` and `extract` need no database: on a PostgreSQL config they run
/// (the URL shown masked), and make no SQLite file.
#[test]
fn the_commands_without_a_database_run_on_a_postgres_config() {
    let (inst, _) = pg_instance("");
    let config = inst.config();
    let config = config.to_str().expect("utf-8 path");
    let article = inst.dir.path().join("story.txt");
    std::fs::write(
        &article,
        "Rockets hit Baghdad's Green Zone\nRockets struck Baghdad's Green Zone overnight and landed near the US embassy, Iraqi security officials said.\n",
    )
    .expect("write story");
    let article = article.to_str().expect("utf-8 path");
    let run = |args: &[&str]| {
        let out = command(["--config", config].iter().chain(args))
            .output()
            .expect("run feedwatch");
        let (o, e) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert!(!o.contains("hunter2") && !e.contains("hunter2"), "{o}{e}");
        (out.status.code(), o, e)
    };
    let (code, out, err) = run(&["config", "check"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("database postgresql://fw:***@127.0.0.1:9/news"),
        "{out}"
    );
    let (code, out, err) = run(&["check", article]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("green-zone"), "{out}");
    let (code, _, err) = run(&["extract", article]);
    assert_eq!(code, Some(0), "{err}");
    // The feeds are in the file: listed and edited without the database.
    let (code, out, err) = run(&["feeds", "list"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("http://127.0.0.1:9/feed.xml"), "{out}");
    let (code, _, err) = run(&["feeds", "add", "https://news.example/rss.xml"]);
    assert_eq!(code, Some(0), "{err}");
    let (_, out, _) = run(&["feeds", "list", "--format", "json"]);
    assert_eq!(out.lines().count(), 2, "{out}");
    // A sink that is not configured is named before anything connects.
    let (code, _, err) = run(&["sinks", "retry", "nope"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no sink named `nope`"), "{err}");
    assert!(!inst.db().exists(), "no SQLite file was made instead");
}

/// The read commands connect; with the server away `status` says so and exits with the
/// fault code (4), `alerts`, `search`, `digest` and `sinks retry` exit 2 naming the
/// connection, all within the
/// connect timeout, and none prints the password or makes a SQLite file instead.
#[test]
fn the_read_commands_report_an_unreachable_server() {
    let (inst, _) = pg_instance("connect_timeout = \"2s\"");
    let config = inst.config();
    let config = config.to_str().expect("utf-8 path");
    let run = |args: &[&str]| {
        let start = std::time::Instant::now();
        let out = command(["--config", config].iter().chain(args))
            .output()
            .expect("run feedwatch");
        assert!(start.elapsed().as_secs() < 15, "{args:?} bounded");
        let (o, e) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert!(!o.contains("hunter2") && !e.contains("hunter2"), "{o}{e}");
        (out.status.code(), o, e)
    };
    let (code, out, err) = run(&["status"]);
    assert_eq!(code, Some(4), "{out}{err}");
    assert!(
        out.contains("database: postgresql://fw:***@127.0.0.1:9/news")
            && out.contains("UNREACHABLE"),
        "{out}"
    );
    let (code, out, err) = run(&["status", "--format", "json"]);
    assert_eq!(code, Some(4), "{out}{err}");
    let v: serde_json::Value =
        serde_json::from_str(out.lines().next().expect("line")).expect("json");
    assert_eq!(v["database"]["exists"], false, "{v}");
    assert!(
        v["database"]["problems"][0]
            .as_str()
            .is_some_and(|p| p.contains("PostgreSQL connection")),
        "{v}"
    );
    let mut cfg = std::fs::read_to_string(inst.config()).expect("config");
    cfg.push_str(
        "\n[[sinks]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/h\"\n",
    );
    std::fs::write(inst.config(), cfg).expect("write config");
    for args in [
        &["alerts"][..],
        &["search", "embassy"],
        &["poll", "--once"],
        &["digest"],
        &["sinks", "retry", "hook"],
    ] {
        let (code, _, err) = run(args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(
            err.contains("cannot get a PostgreSQL connection"),
            "{args:?}: {err}"
        );
    }
    assert!(!inst.db().exists(), "no SQLite file was made instead");
}

/// Digest sinks run on PostgreSQL too: the config with an alert sink and a digest sink is
/// accepted as `run` reads it (`config check`, which connects nowhere).
#[test]
fn digest_sinks_are_accepted_on_postgres() {
    let (inst, _) = pg_instance("");
    let mut cfg = std::fs::read_to_string(inst.config()).expect("config");
    cfg.push_str(
        "\n[[sinks]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\n\
         \n[[sinks]]\nname = \"daily\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\n\
         digest = \"daily 07:00\"\n",
    );
    std::fs::write(inst.config(), &cfg).expect("write config");
    let config = inst.config();
    let out = command([
        "--config",
        config.to_str().expect("utf-8 path"),
        "config",
        "check",
    ])
    .output()
    .expect("run feedwatch");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
}
