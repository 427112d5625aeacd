//! Guards the layout that the README's Architecture section describes (issue #12):
//! - no file in `src/` has more than [`MAX_CODE_LINES`] lines of code (see [`code_lines`]);
//! - the top-level modules of `src/` import each other without a cycle, so data flows one way
//!   (`cli` on top, `text` at the bottom).
//!
//! Both read the source text; nothing is compiled. References are found as `crate::<module>`
//! paths (also inside `crate::{a, b}` groups), which is how the library names its modules, and
//! as `feedwatch::<module>`, which is how the binary's command line (`src/cli/`) names them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The most lines of code one source file may have.
const MAX_CODE_LINES: usize = 600;

/// Files allowed over [`MAX_CODE_LINES`] for now, each with the reason. An entry whose file
/// is back within the limit fails the test, so the list cannot go stale.
const OVER_LIMIT_ALLOWED: &[(&str, &str)] = &[];

/// Lines of code in one Rust file: lines that are not blank, not only a comment (`//`, `///`,
/// `//!`, or inside a `/* */` block) and not inside the `#[cfg(test)] mod tests { … }` block.
///
/// The tests block is found as rustfmt writes it: `#[cfg(test)]` (other attributes may
/// follow) on the line before `mod tests {`, and it ends at the first line that is a `}` at
/// the indentation of `mod`.
fn code_lines(text: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let mut n = 0;
    let mut i = 0;
    let mut in_block_comment = false;
    while i < lines.len() {
        let t = lines[i].trim();
        i += 1;
        if in_block_comment {
            in_block_comment = !t.contains("*/");
            continue;
        }
        if t.starts_with("/*") {
            in_block_comment = !t.contains("*/");
            continue;
        }
        if t == "#[cfg(test)]" {
            if let Some(end) = tests_block_end(&lines, i) {
                i = end + 1;
                continue;
            }
        }
        if !t.is_empty() && !t.starts_with("//") {
            n += 1;
        }
    }
    n
}

/// When the lines from `from` on open `mod tests {` (after any attributes), the index of the
/// line that closes it.
fn tests_block_end(lines: &[&str], from: usize) -> Option<usize> {
    let mut j = from;
    while lines.get(j)?.trim_start().starts_with("#[") {
        j += 1;
    }
    let line = lines[j];
    let indent = &line[..line.len() - line.trim_start().len()];
    let decl = line.trim_start();
    let decl = decl.strip_prefix("pub(crate) ").unwrap_or(decl);
    if decl != "mod tests {" {
        return None;
    }
    let close = format!("{indent}}}");
    (j + 1..lines.len()).find(|&k| lines[k] == close)
}

/// Whether `path` is a whole file of unit tests: `tests.rs` declared by its parent module as
/// `#[cfg(test)] mod tests;`.
fn is_test_module_file(path: &Path) -> bool {
    if path.file_name().is_none_or(|f| f != "tests.rs") {
        return false;
    }
    let dir = path.parent().expect("a file has a folder");
    let parents = [dir.join("mod.rs"), dir.with_extension("rs")];
    parents
        .iter()
        .any(|p| std::fs::read_to_string(p).is_ok_and(|s| s.contains("#[cfg(test)]\nmod tests;")))
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read src") {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn relative(p: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

#[test]
fn no_source_file_is_over_the_limit() {
    let mut over = Vec::new();
    let mut allowed_and_over = BTreeSet::new();
    for p in rust_files(&src()) {
        if is_test_module_file(&p) {
            continue;
        }
        let n = code_lines(&std::fs::read_to_string(&p).expect("read"));
        let name = relative(&p);
        if n <= MAX_CODE_LINES {
            continue;
        }
        if let Some((_, why)) = OVER_LIMIT_ALLOWED.iter().find(|(f, _)| *f == name) {
            eprintln!("allowed over the limit: {name} ({n} lines of code): {why}");
            allowed_and_over.insert(name);
        } else {
            over.push(format!("{name}: {n} lines of code"));
        }
    }
    let stale: Vec<&str> = OVER_LIMIT_ALLOWED
        .iter()
        .map(|(f, _)| *f)
        .filter(|f| !allowed_and_over.contains(*f))
        .collect();
    assert!(
        over.is_empty(),
        "over {MAX_CODE_LINES} lines of code (tests, comments and blank lines not counted); \
         split them by concern:\n{}",
        over.join("\n")
    );
    assert!(
        stale.is_empty(),
        "within the limit now: remove from OVER_LIMIT_ALLOWED: {stale:?}"
    );
}

/// The top-level modules of `src/`: its folders and files, less `lib.rs` and `main.rs`.
fn top_level_modules(src: &Path) -> BTreeSet<String> {
    std::fs::read_dir(src)
        .expect("read src")
        .map(|e| e.expect("dir entry").path())
        .filter_map(|p| {
            let stem = p.file_stem()?.to_str()?.to_string();
            let is_module = p.is_dir() || p.extension().is_some_and(|x| x == "rs");
            (is_module && stem != "lib" && stem != "main").then_some(stem)
        })
        .collect()
}

/// The top-level module a file under `src/` belongs to.
fn owner(src: &Path, file: &Path) -> Option<String> {
    let first = file.strip_prefix(src).ok()?.components().next()?;
    let name = Path::new(first.as_os_str()).file_stem()?.to_str()?;
    Some(name.to_string())
}

/// The modules named right after `crate::` or `feedwatch::` in code (comment lines skipped), with their
/// line numbers. `crate::{a, b::c}` names `a` and `b`.
fn crate_references(text: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("//") {
            continue;
        }
        for root in ["crate::", "feedwatch::"] {
            references_after(line, root, i + 1, &mut out);
        }
    }
    out
}

/// The modules named right after `root` on one line (see [`crate_references`]).
fn references_after(line: &str, root: &str, line_no: usize, out: &mut Vec<(String, usize)>) {
    let mut rest = line;
    while let Some(at) = rest.find(root) {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + root.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // e.g. `mycrate::`
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name = ident(item.trim_start());
                if !name.is_empty() {
                    out.push((name.to_string(), line_no));
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                out.push((name.to_string(), line_no));
            }
        }
    }
}

fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// Edges between top-level modules, each with the first place that makes it.
type Graph = BTreeMap<String, BTreeMap<String, String>>;

fn module_graph(src: &Path) -> Graph {
    let tops = top_level_modules(src);
    let mut g: Graph = tops.iter().map(|t| (t.clone(), BTreeMap::new())).collect();
    for file in rust_files(src) {
        let Some(from) = owner(src, &file).filter(|m| tops.contains(m)) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).expect("read");
        for (to, line) in crate_references(&text) {
            if to != from && tops.contains(&to) {
                let at = format!("{}:{line}", relative(&file));
                g.get_mut(&from).expect("a module").entry(to).or_insert(at);
            }
        }
    }
    g
}

/// A cycle in `g` as its path (first node repeated at the end), if there is one.
fn find_cycle(g: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    fn visit(
        g: &Graph,
        n: &str,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        marks.insert(n.to_string(), Mark::OnPath);
        path.push(n.to_string());
        for next in g.get(n).into_iter().flat_map(BTreeMap::keys) {
            match marks.get(next).copied().unwrap_or(Mark::New) {
                Mark::OnPath => {
                    let start = path.iter().position(|p| p == next).expect("on path");
                    let mut cycle = path[start..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(g, next, marks, path) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        path.pop();
        marks.insert(n.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for n in g.keys() {
        if marks.get(n).copied().unwrap_or(Mark::New) == Mark::New {
            if let Some(c) = visit(g, n, &mut marks, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn top_level_modules_have_no_import_cycle() {
    let g = module_graph(&src());
    if let Some(cycle) = find_cycle(&g) {
        let steps: Vec<String> = cycle
            .windows(2)
            .map(|w| format!("  {} -> {} ({})", w[0], w[1], g[&w[0]][&w[1]]))
            .collect();
        panic!(
            "import cycle between top-level modules: {}\n{}\n\
             Move what the lower module needs down into it (or into a module below both).",
            cycle.join(" -> "),
            steps.join("\n")
        );
    }
}

#[test]
fn counter_skips_blank_comment_and_test_lines() {
    let text = "\
//! Module doc.

use std::fmt; // a trailing comment does not make a line a comment

/// Item doc.
pub fn f() -> u8 {
    // inside
    /* a block
       comment */
    1
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn t() {
        assert_eq!(f(), 1);
    }
}
";
    assert_eq!(code_lines(text), 4);
}

#[test]
fn counter_counts_code_after_the_tests_block_and_other_cfg_test_items() {
    let text = "\
#[cfg(test)]
fn helper() {}

#[cfg(test)]
mod tests {
    #[test]
    fn t() {}
}

fn after() {}
";
    assert_eq!(code_lines(text), 3, "the helper's two lines and `after`");
    assert_eq!(code_lines(""), 0);
}

#[test]
fn references_include_groups_and_skip_comments() {
    let text = "\
use crate::{store::Store, text};
// use crate::cli;
let x = crate::ops::metrics::poll(); let y = mycrate::z;
";
    let got: Vec<(String, usize)> = crate_references(text);
    let want = [("store", 1), ("text", 1), ("ops", 3)].map(|(m, l)| (m.to_string(), l));
    assert_eq!(got, want);
}

#[test]
fn cycle_is_reported_as_a_path() {
    let mut g = Graph::new();
    for (a, b) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        g.entry(a.into())
            .or_default()
            .insert(b.into(), String::new());
    }
    assert_eq!(find_cycle(&g).expect("a cycle"), ["a", "b", "c", "a"]);
    g.get_mut("c").expect("c").remove("a");
    assert_eq!(find_cycle(&g), None);
}
