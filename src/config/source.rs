//! Reading config text: size-capped file reads, TOML split into top-level entries that are
//! deserialised one by one, and the line and key of a byte offset for messages.
//!
//! Deserialising a whole file with serde stops at the first error, so a type error in one
//! rule used to hide every other rule's problems. Here the document is parsed once into
//! toml's spanned tree, and each section and each `[[feeds]]`/`[[rules]]`/`[[sinks]]` entry
//! is deserialised on its own: every bad entry gets its own message with its own line.

use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

use super::{limits::MAX_CONFIG_BYTES, ConfigError, ConfigProblem};

/// Reads a config or rule file, refusing one larger than [`MAX_CONFIG_BYTES`].
pub(super) fn read(path: &Path) -> Result<String, ConfigError> {
    let cannot =
        |e: std::io::Error| ConfigError::one(path, None, None, format!("cannot read: {e}"));
    let meta = std::fs::metadata(path).map_err(cannot)?;
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(ConfigError::one(
            path,
            None,
            None,
            format!(
                "the file is {} bytes; config and rule files are limited to {MAX_CONFIG_BYTES} bytes (is this the right file?)",
                meta.len()
            ),
        ));
    }
    std::fs::read_to_string(path).map_err(cannot)
}

/// One parsed file: its text, a line index, and its top-level entries in document order.
pub(super) struct Source<'a> {
    pub path: &'a Path,
    pub text: &'a str,
    pub lines: Lines,
    pub entries: Vec<(Spanned<String>, Spanned<DeValue<'a>>)>,
}

impl<'a> Source<'a> {
    /// Parses `text`; every TOML syntax error found is reported (and nothing else then).
    pub fn parse(path: &'a Path, text: &'a str) -> Result<Source<'a>, ConfigError> {
        let (root, errors) = DeTable::parse_recoverable(text);
        if !errors.is_empty() {
            let mut problems: Vec<ConfigProblem> =
                errors.iter().map(|e| toml_problem(path, text, e)).collect();
            problems.sort_by_key(|p| p.line);
            return Err(ConfigError { problems });
        }
        let mut entries: Vec<(Spanned<String>, Spanned<DeValue<'a>>)> = root
            .into_inner()
            .into_iter()
            .map(|(k, v)| {
                let span = k.span();
                (Spanned::new(span, k.into_inner().into_owned()), v)
            })
            .collect();
        entries.sort_by_key(|(k, _)| k.span().start);
        Ok(Source {
            path,
            text,
            lines: Lines::new(text),
            entries,
        })
    }

    /// A problem at byte `offset`, with the dotted key found on that line.
    pub fn problem_at(&self, offset: usize, message: String) -> ConfigProblem {
        ConfigProblem {
            file: self.path.to_path_buf(),
            line: Some(self.lines.line(offset)),
            key: key_at(self.text, offset),
            message,
        }
    }

    /// Deserialises one value; a failure becomes a problem at the offending span.
    pub fn take<T: for<'de> Deserialize<'de>>(
        &self,
        value: Spanned<DeValue<'a>>,
    ) -> Result<T, ConfigProblem> {
        T::deserialize(ValueDeserializer::from(value))
            .map_err(|e| toml_problem(self.path, self.text, &e))
    }

    /// Deserialises an array of tables entry by entry, so one bad entry does not hide the
    /// others. Returns each good entry with its index in the file; pushes one problem per
    /// bad entry.
    pub fn take_each<T: for<'de> Deserialize<'de>>(
        &self,
        value: Spanned<DeValue<'a>>,
        problems: &mut Vec<ConfigProblem>,
    ) -> Vec<(usize, Spanned<T>)> {
        let span = value.span();
        match value.into_inner() {
            DeValue::Array(items) => items
                .into_iter()
                .enumerate()
                .filter_map(|(i, item)| match self.take::<Spanned<T>>(item) {
                    Ok(t) => Some((i, t)),
                    Err(p) => {
                        problems.push(p);
                        None
                    }
                })
                .collect(),
            other => {
                problems.push(self.problem_at(
                    span.start,
                    format!(
                        "expected a list of tables ([[...]]), found a {}",
                        other.type_str()
                    ),
                ));
                Vec::new()
            }
        }
    }
}

/// A toml error as a problem: its line and key from the error's span.
fn toml_problem(path: &Path, text: &str, e: &toml::de::Error) -> ConfigProblem {
    let span: Option<Range<usize>> = e.span();
    ConfigProblem {
        file: path.to_path_buf(),
        line: span.as_ref().map(|s| line_of(text, s.start)),
        key: span.and_then(|s| key_at(text, s.start)),
        message: e.message().trim().to_string(),
    }
}

/// Line of a dotted key (`poll.concurrency`, `sinks[1].url`) in `text`: where the key is
/// written, else where the nearest enclosing table is (`[poll]`, the second `[[sinks]]`), for
/// problems found after deserialising, when serde's spans are gone.
pub(super) fn key_line(text: &str, key: &str) -> Option<usize> {
    let doc = toml_edit::Document::parse(text).ok()?;
    let mut table: &dyn toml_edit::TableLike = doc.as_table();
    let mut best: Option<usize> = None;
    for part in key.split('.') {
        let (name, index) = match part.split_once('[') {
            Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        let Some((k, item)) = table.get_key_value(name) else {
            break;
        };
        best = k.span().map(|s| s.start).or(best);
        let next: Option<&dyn toml_edit::TableLike> = match index {
            Some(i) => {
                let t = item.as_array_of_tables().and_then(|a| a.get(i));
                best = t.and_then(toml_edit::Table::span).map(|s| s.start).or(best);
                t.map(|t| t as &dyn toml_edit::TableLike)
            }
            None => item.as_table_like(),
        };
        match next {
            Some(t) => table = t,
            None => break,
        }
    }
    best.map(|start| line_of(text, start))
}

/// Line numbers of byte offsets in one text, for configs with thousands of feeds or rules:
/// counting newlines from the top for each entry made loading quadratic.
pub(super) struct Lines(Vec<usize>);

impl Lines {
    pub fn new(text: &str) -> Self {
        Lines(
            text.bytes()
                .enumerate()
                .filter_map(|(i, b)| (b == b'\n').then_some(i))
                .collect(),
        )
    }

    /// 1-based line of `offset`.
    pub fn line(&self, offset: usize) -> usize {
        self.0.partition_point(|&nl| nl < offset) + 1
    }
}

/// 1-based line of a byte offset.
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .get(..offset.min(text.len()))
        .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
        + 1
}

/// The dotted key whose line holds `offset`: the nearest `[table]` header above plus the
/// `key =` on that line, so messages can say `fetch.timeout` rather than only a line.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next().unwrap_or("");
    if line.trim_start().starts_with('[') {
        return Some(
            line.trim()
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string(),
        );
    }
    let table = text[..start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    match (table, key) {
        (Some(t), Some(k)) => Some(format!("{t}.{k}")),
        (None, Some(k)) => Some(k),
        (Some(t), None) => Some(t),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_index_agrees_with_counting() {
        let text = "a = 1\n\n[poll]\ninterval = \"5m\"\n\n\n[[feeds]]\nurl = \"x\"";
        let lines = Lines::new(text);
        for off in 0..=text.len() + 2 {
            assert_eq!(lines.line(off), line_of(text, off), "offset {off}");
        }
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Item {
        #[allow(dead_code)]
        name: String,
    }

    #[test]
    fn each_entry_is_checked_on_its_own() {
        let text = "[[x]]\nname = 1\n\n[[x]]\nname = \"ok\"\n\n[[x]]\nnmae = \"typo\"\n";
        let mut src = Source::parse(Path::new("f.toml"), text).expect("parses");
        let mut problems = Vec::new();
        let (_, v) = std::mem::take(&mut src.entries)
            .into_iter()
            .next()
            .expect("x");
        let good = src.take_each::<Item>(v, &mut problems);
        assert_eq!(good.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [1]);
        let lines: Vec<Option<usize>> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [Some(2), Some(8)], "{problems:?}");
        assert_eq!(problems[0].key.as_deref(), Some("x.name"));
    }

    #[test]
    fn every_syntax_error_is_reported() {
        let e = Source::parse(Path::new("f.toml"), "a = \nb = 2\nc = [\n")
            .err()
            .expect("syntax errors");
        assert_eq!(e.problems.len(), 2, "{e}");
        assert_eq!(e.problems[0].line, Some(1), "{e}");
        assert_eq!(e.problems[1].line, Some(3), "{e}");
    }
}
