//! Golden schemas of every stable JSON output: the alert log, `alerts`, `check`, `status`,
//! `parse`, `extract`, `search`, `feeds list`, `backtest`, `db stats`, `db prune` and `digest`, each run through
//! the binary on one poll of a loopback feed. Other tools read these keys, so renaming,
//! dropping or adding one must be a decision: the test compares every key path (`a.b`,
//! `list[].c`) with `tests/fixtures/json_schemas.txt` and prints the difference.
//!
//! After an intended change, regenerate the file with `FEEDWATCH_BLESS=1 cargo test --test
//! json_schemas` and review its diff.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test panics on a broken fixture

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::backend::Backend;
use common::{page, rss, Fixture, Instance, TestServer};
use serde_json::Value;

/// Every key path of `v` below `prefix`: objects add `.key`, arrays `[]` (their elements'
/// paths merged).
fn paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.insert(p.clone());
                paths(v, &p, out);
            }
        }
        Value::Array(a) => {
            for v in a {
                paths(v, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

fn schema(lines: &[Value]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for l in lines {
        paths(l, "", &mut out);
    }
    out
}

async fn json_of(inst: &Instance, args: &[&str]) -> Vec<Value> {
    let out = inst.run(args).await;
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{args:?} exited {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = common::json_lines(&out.stdout);
    assert!(!lines.is_empty(), "{args:?} printed no JSON");
    lines
}

const STORY: &str = "Rockets struck Baghdad's Green Zone overnight, landing near the US embassy \
    compound, Iraqi security officials said. The embassy's air defences fired as sirens sounded \
    across the fortified district; no casualties were reported.";

#[tokio::test]
async fn every_stable_json_output_keeps_its_keys() {
    let srv = TestServer::start().await;
    let link = srv.url("/news/rockets.html");
    srv.set(
        "/news/rockets.html",
        Fixture::ok(
            "text/html; charset=utf-8",
            page("Rockets hit the Green Zone", &[STORY]),
        ),
    );
    srv.set(
        "/feed.xml",
        Fixture::ok(
            "application/rss+xml",
            rss(
                "Wire",
                &[("Rockets hit the Green Zone", &link, Some(STORY))],
            ),
        ),
    );
    let feed = srv.url("/feed.xml");
    let inst = Instance::new(&format!(
        "[[feeds]]\nurl = \"{feed}\"\nname = \"Wire\"\nfull_text = true\n"
    ));
    let out = inst.run(&["poll", "--once"]).await;
    assert!(
        out.status.success(),
        "poll: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let article = inst.dir.path().join("a.txt");
    std::fs::write(&article, format!("Rockets hit the Green Zone\n{STORY}\n")).unwrap();
    let html = inst.dir.path().join("a.html");
    std::fs::write(&html, page("Rockets hit the Green Zone", &[STORY])).unwrap();
    let (article, html) = (
        article.to_string_lossy().into_owned(),
        html.to_string_lossy().into_owned(),
    );

    let mut got: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    got.insert("alert_log", schema(&inst.log_lines()));
    let runs: [(&str, Vec<&str>); 11] = [
        ("alerts", vec!["alerts", "--format", "json"]),
        ("check", vec!["check", "--format", "json", &article]),
        ("status", vec!["status", "--format", "json"]),
        ("parse", vec!["parse", "--format", "json", &feed]),
        ("extract", vec!["extract", "--format", "json", &html]),
        ("search", vec!["search", "--format", "json", "rocket*"]),
        ("feeds_list", vec!["feeds", "list", "--format", "json"]),
        ("backtest", vec!["backtest", "--format", "json", "rocket*"]),
        ("db_stats", vec!["db", "stats", "--json"]),
        ("db_prune", vec!["db", "prune", "--json"]),
        ("digest", vec!["digest", "--format", "json"]),
    ];
    // On PostgreSQL `db` is refused (it maintains a SQLite file), and `status` lists the
    // instances sharing the database where SQLite names the one process holding the file
    // (`service` is null, `instances` says who runs); every other key must be the same.
    let pg = Backend::current() == Backend::Postgres;
    for (name, args) in &runs {
        if pg && name.starts_with("db_") {
            println!("skipped on PostgreSQL: {args:?}");
            continue;
        }
        got.insert(name, schema(&json_of(&inst, args).await));
    }

    let text: String = got
        .iter()
        .flat_map(|(cmd, keys)| keys.iter().map(move |k| format!("{cmd}: {k}\n")))
        .collect();
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/json_schemas.txt");
    if std::env::var_os("FEEDWATCH_BLESS").is_some() {
        std::fs::write(&golden, &text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&golden).expect("tests/fixtures/json_schemas.txt");
    let (want, have): (BTreeSet<&str>, BTreeSet<&str>) = (
        want.lines()
            .filter(|l| !pg || !(l.starts_with("db_") || l.starts_with("status: service.")))
            .collect(),
        text.lines().collect(),
    );
    let gone: Vec<&&str> = want.difference(&have).collect();
    let new: Vec<&&str> = have
        .difference(&want)
        .filter(|l| !pg || !l.starts_with("status: "))
        .collect();
    assert!(
        gone.is_empty() && new.is_empty(),
        "JSON keys changed (a stable interface).\n  gone: {gone:?}\n  new: {new:?}\nIf intended, \
         regenerate with FEEDWATCH_BLESS=1 cargo test --test json_schemas and review the diff."
    );
}
