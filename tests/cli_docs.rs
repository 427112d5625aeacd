//! Completions and man pages come from the parser's own definitions: every subcommand that
//! `--help` lists (at any depth) has a man page and appears in each shell's completions.

#![allow(clippy::expect_used)] // a test panics when the binary cannot run

mod common;

use std::collections::BTreeSet;

use common::daemon::command;

fn feedwatch(args: &[&str]) -> String {
    let out = command(args).output().expect("run feedwatch");
    assert!(
        out.status.success(),
        "feedwatch {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The subcommands `feedwatch PATH --help` lists under "Commands:", without `help`.
fn listed(path: &[String]) -> Vec<String> {
    let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
    args.push("--help");
    let help = feedwatch(&args);
    let Some(rest) = help.split("Commands:\n").nth(1) else {
        return Vec::new();
    };
    rest.lines()
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// Every subcommand path from the help screens, e.g. `["db", "backup"]`.
fn all_paths() -> Vec<Vec<String>> {
    let mut todo = vec![Vec::new()];
    let mut paths = Vec::new();
    while let Some(path) = todo.pop() {
        for name in listed(&path) {
            let mut p = path.clone();
            p.push(name);
            paths.push(p.clone());
            todo.push(p);
        }
    }
    paths
}

#[test]
fn every_subcommand_has_a_man_page_and_completions() {
    let paths = all_paths();
    for want in [
        &["db", "backup"][..],
        &["feeds", "import"],
        &["config", "check"],
        &["digest"],
    ] {
        assert!(
            paths.iter().any(|p| p == want),
            "help lists no `{}`",
            want.join(" ")
        );
    }
    assert!(paths.iter().any(|p| p == &["man"]));

    let dir = tempfile::tempdir().expect("tempdir");
    let printed = feedwatch(&["man", &dir.path().display().to_string()]);
    let files: BTreeSet<String> = std::fs::read_dir(dir.path())
        .expect("read man dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(files.contains("feedwatch.1"), "{files:?}");
    for path in &paths {
        let page = format!("feedwatch-{}.1", path.join("-"));
        assert!(files.contains(&page), "no man page {page} in {files:?}");
        assert!(printed.contains(&page), "`man` did not print {page}");
        let text = std::fs::read_to_string(dir.path().join(&page)).expect("read page");
        assert!(
            text.starts_with(".ie") || text.contains(".TH"),
            "{page} is not roff"
        );
    }

    for shell in ["bash", "zsh", "fish"] {
        let script = feedwatch(&["completions", shell]);
        for path in &paths {
            let leaf = path.last().expect("non-empty path");
            assert!(
                script.contains(leaf.as_str()),
                "{shell}: no `{}`",
                path.join(" ")
            );
        }
    }
}

#[test]
fn an_unknown_shell_is_refused() {
    let out = command(["completions", "tcsh"])
        .output()
        .expect("run feedwatch");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tcsh"));
}
