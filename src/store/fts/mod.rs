//! Translates a rule-style search query into an SQLite FTS5 `MATCH` expression.
//!
//! `feedwatch search` accepts the same syntax people already write in rules (terms,
//! `"phrases"`, `AND`/`OR`/`NOT`, parentheses, `prefix*`, `a NEAR/n b`, `title:`/`summary:`/
//! `body:` scopes), so a rule can be tried against history before it is deployed. This is a
//! small parser of its own rather than a use of `crate::rules`: the rule matcher's internals
//! change independently, and search needs a different back end anyway.
//!
//! Safety: every term and phrase the user typed is emitted as an FTS5 string literal (`"…"`,
//! with `"` doubled), and every operator is one this module writes, so no input can inject
//! FTS5 syntax (column filters, `NEAR(…)`, `^`, `+`, bare keywords). A proptest checks that
//! every translation SQLite accepts.
//!
//! What FTS5 cannot express is an error naming the column: `ONEAR/n` (ordered proximity),
//! `url:`/`feed:` scopes (not in the full-text index), and `NOT` with nothing positive beside
//! it (`NOT a`, `a OR NOT b`), since FTS5 can only subtract from a set that matched.

mod emit;
mod lex;
mod parse;

use std::fmt;

use emit::emit;
use lex::{lex, Tok};
use parse::Parser;

/// Deepest nesting of groups, `NOT` and scopes accepted.
pub const MAX_DEPTH: usize = 64;
/// Most terms and phrases in one query (after `NEAR` expansion); bounds FTS5's work.
pub const MAX_TERMS: usize = 256;
/// Largest `n` in `NEAR/n`, as in rules.
pub const MAX_DISTANCE: u32 = 10_000;

/// A query that cannot be searched, with the 1-based character column it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (column {column})")]
pub struct QueryError {
    /// 1-based character column of the problem.
    pub column: usize,
    /// What is wrong there.
    pub message: String,
}

impl QueryError {
    fn new(column: usize, message: impl Into<String>) -> QueryError {
        QueryError {
            column,
            message: message.into(),
        }
    }

    /// The query with a caret under the column, for people.
    pub fn render(&self, query: &str) -> String {
        format!(
            "{self}\n  {query}\n  {caret:>width$}",
            caret = "^",
            width = self.column
        )
    }
}

/// The indexed columns a scope can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Title,
    Summary,
    Body,
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Column::Title => "title",
            Column::Summary => "summary",
            Column::Body => "body",
        })
    }
}

/// Parsed query; `col` fields are 1-based character columns for errors.
#[derive(Debug, Clone)]
enum Expr {
    Lit {
        text: String,
        prefix: bool,
    },
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>, usize),
    Near {
        left: Box<Expr>,
        right: Box<Expr>,
        distance: u32,
        col: usize,
    },
    Scope(Column, Box<Expr>, usize),
}

/// Translates `query` into an FTS5 expression over the columns `title`, `summary`, `body`.
///
/// # Errors
/// Syntax errors, and constructs FTS5 cannot express, each with its column.
pub fn translate(query: &str) -> Result<String, QueryError> {
    let toks = lex(query)?;
    let end_col = query.chars().count() + 1;
    if toks.is_empty() {
        return Err(QueryError::new(1, "empty query: give at least one term"));
    }
    let mut p = Parser::new(toks, end_col);
    let expr = p.or()?;
    if let Some((t, col)) = p.toks.get(p.pos) {
        let msg = match t {
            Tok::RParen => "unmatched `)`".to_string(),
            _ => "unexpected token".to_string(),
        };
        return Err(QueryError::new(*col, msg));
    }
    let mut terms = 0;
    emit(&expr, 1, &mut terms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translation_table() {
        let cases: &[(&str, &str)] = &[
            ("embassy", r#""embassy""#),
            ("Embassy attack", r#"("Embassy" AND "attack")"#),
            (r#""green zone""#, r#""green zone""#),
            ("rocket*", r#""rocket"*"#),
            (r#""green zo*""#, r#""green zo"*"#),
            ("a OR b c", r#"("a" OR ("b" AND "c"))"#),
            ("a AND (b OR c)", r#"("a" AND ("b" OR "c"))"#),
            ("a NOT b", r#"(("a") NOT "b")"#),
            ("NOT b a NOT c", r#"((("a") NOT "b") NOT "c")"#),
            ("a NOT (b OR c)", r#"(("a") NOT ("b" OR "c"))"#),
            ("title:embassy", r#"title : ("embassy")"#),
            ("body:(a OR b)", r#"body : (("a" OR "b"))"#),
            (r#"summary:"x y""#, r#"summary : ("x y")"#),
            ("a NEAR/5 b", r#"(NEAR("a" "b", 5))"#),
            (
                r#""green zone" NEAR/15 (rocket* OR drone*)"#,
                r#"(NEAR("green zone" "rocket"*, 15) OR NEAR("green zone" "drone"*, 15))"#,
            ),
            ("title:a NEAR/2 b", r#"title : (NEAR("a" "b", 2))"#),
            ("and or not", r#"("and" AND "or" AND "not")"#),
            ("Green-Zone", r#""Green-Zone""#),
            (r#""10:30""#, r#""10:30""#),
            // Injection attempts come out as inert string literals.
            (r#"x""#, "unterminated"),
            ("ab* OR x) --", "unmatched"),
            ("NEAR(a b)", "NEAR"),
            ("title : x", "no letters"),
            ("{title}:x", r#""{title}:x""#),
            ("^start", r#""^start""#),
            ("+a", r#""+a""#),
            ("a'b;DROP", r#""a'b;DROP""#),
        ];
        for (q, want) in cases {
            match translate(q) {
                Ok(got) => assert_eq!(&got, want, "query {q:?}"),
                Err(e) => assert!(
                    e.to_string().contains(want),
                    "query {q:?}: error {e} should mention {want:?}"
                ),
            }
        }
    }

    #[test]
    fn errors_name_the_column() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 1, "empty query"),
            (r#""a" OR x) --"#, 9, "unmatched `)`"),
            ("NOT a", 1, "NOT"),
            ("a OR NOT b", 6, "inside `OR`"),
            ("a ONEAR/3 b", 3, "ONEAR"),
            ("a NEAR b", 3, "distance"),
            ("a NEAR/0 b", 3, "distance"),
            ("url:example", 1, "url:"),
            ("x feed:bbc", 3, "feed:"),
            ("foo:bar", 1, "unknown field"),
            ("(a OR b", 8, "missing `)`"),
            ("a AND", 6, "query ends"),
            ("r*cket", 1, "only allowed at the end"),
            ("r*", 1, "too short"),
            ("*", 1, "no letters"),
            ("--", 1, "no letters"),
            (r#""""#, 1, "empty phrase"),
            ("a NEAR/3 (b c)", 3, "operands"),
            ("title:a NEAR/3 body:b", 9, "different fields"),
            ("a NEAR/3 b NEAR/3 c", 12, "chained"),
            ("title:", 1, "followed directly"),
        ];
        for (q, col, msg) in cases {
            let e = translate(q).expect_err(q);
            assert_eq!(e.column, *col, "query {q:?}: {e}");
            assert!(e.message.contains(msg), "query {q:?}: {e}");
        }
        let e = translate(&"(".repeat(MAX_DEPTH + 1)).expect_err("deep");
        assert!(e.message.contains("nested"), "{e}");
        let many = vec!["w"; MAX_TERMS + 1].join(" ");
        assert!(translate(&many).is_err());
    }

    #[test]
    fn render_points_at_the_column() {
        let e = translate("a OR NOT b").expect_err("error");
        assert!(e.render("a OR NOT b").ends_with("\n  a OR NOT b\n       ^"));
    }

    /// Every translation must be accepted by SQLite's FTS5 parser.
    fn fts() -> rusqlite::Connection {
        let c = rusqlite::Connection::open_in_memory().expect("open");
        c.execute_batch(
            "CREATE VIRTUAL TABLE t USING fts5(title, summary, body,
                 tokenize = 'unicode61 remove_diacritics 2');
             INSERT INTO t VALUES ('Rocket hits Green Zone', 'sum', 'an embassy attack');",
        )
        .expect("fts5");
        c
    }

    fn hits(c: &rusqlite::Connection, q: &str) -> rusqlite::Result<i64> {
        c.query_row("SELECT count(*) FROM t WHERE t MATCH ?1", [q], |r| r.get(0))
    }

    #[test]
    fn translations_run_in_sqlite() {
        let c = fts();
        for (q, n) in [
            ("rocket", 1),
            ("RÓCKET", 1),
            (r#""green zone""#, 1),
            ("title:embassy", 0),
            ("body:embassy", 1),
            ("gre*", 1),
            ("embassy NEAR/1 attack", 1),
            ("rocket NEAR/1 zone", 0),
            ("rocket NOT embassy", 0),
            ("(zone OR nothing) NOT nothing", 1),
            ("title:(green NEAR/3 (rocket OR missile))", 1),
            ("Green-Zone", 1),
            (r#"x" OR 1=1 --"#, 0),
        ] {
            let Ok(fts) = translate(q) else {
                assert_eq!(n, 0, "{q} should translate");
                continue;
            };
            assert_eq!(hits(&c, &fts).expect(&fts), n, "{q} -> {fts}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_input_translates_to_valid_fts5_or_errors(q in r#"[a-z"()*: ^{}+\-,.'/0-9ÄéNEAROTDtitlebody]{0,40}"#) {
            let c = fts();
            if let Ok(fts) = translate(&q) {
                proptest::prop_assert!(hits(&c, &fts).is_ok(), "{} -> {} rejected by FTS5", q, fts);
            }
        }

        #[test]
        fn keyword_soup_translates_to_valid_fts5_or_errors(words in proptest::collection::vec(
            proptest::sample::select(vec!["a", "b*", "\"c d\"", "AND", "OR", "NOT", "NEAR/2", "(", ")",
                "title:", "body:x", "\"", "*", "e\"f"]), 0..12)) {
            let q = words.concat();
            let q2 = words.join(" ");
            let c = fts();
            for q in [q, q2] {
                if let Ok(fts) = translate(&q) {
                    proptest::prop_assert!(hits(&c, &fts).is_ok(), "{} -> {} rejected by FTS5", q, fts);
                }
            }
        }
    }
}
