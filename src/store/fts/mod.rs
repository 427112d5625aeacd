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

use std::fmt;

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

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Phrase(String),
    LParen,
    RParen,
    And,
    Or,
    Not,
    Near { distance: u32, ordered: bool },
    Scope(Column),
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
    let mut p = Parser {
        toks,
        pos: 0,
        end_col,
        depth: 0,
    };
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

fn lex(query: &str) -> Result<Vec<(Tok, usize)>, QueryError> {
    let chars: Vec<char> = query.chars().collect();
    let special = |c: char| c.is_whitespace() || matches!(c, '(' | ')' | '"');
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' || c == ')' {
            out.push((if c == '(' { Tok::LParen } else { Tok::RParen }, col));
            i += 1;
        } else if c == '"' {
            let start = i + 1;
            let Some(len) = chars[start..].iter().position(|&c| c == '"') else {
                return Err(QueryError::new(
                    col,
                    "unterminated phrase: missing closing `\"`",
                ));
            };
            out.push((Tok::Phrase(chars[start..start + len].iter().collect()), col));
            i = start + len + 1;
        } else {
            let start = i;
            while i < chars.len() && !special(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if let Some((head, _)) = word.split_once(':') {
                if !head.is_empty() && head.chars().all(|c| c.is_ascii_alphabetic()) {
                    let column = match head.to_ascii_lowercase().as_str() {
                        "title" => Column::Title,
                        "summary" => Column::Summary,
                        "body" => Column::Body,
                        "url" | "feed" => {
                            return Err(QueryError::new(
                                col,
                                format!(
                                    "`{head}:` cannot be searched: only title, summary and body \
                                     are in the full-text index"
                                ),
                            ))
                        }
                        _ => {
                            return Err(QueryError::new(
                                col,
                                format!(
                                    "unknown field `{head}:` (fields are title, summary, body; \
                                     quote a term that contains `:`)"
                                ),
                            ))
                        }
                    };
                    out.push((Tok::Scope(column), col));
                    i = start + head.chars().count() + 1;
                    if i >= chars.len() || chars[i].is_whitespace() || chars[i] == ')' {
                        return Err(QueryError::new(
                            col,
                            format!(
                                "`{head}:` must be followed directly by a term, phrase or group"
                            ),
                        ));
                    }
                    continue;
                }
            }
            let tok = match word.as_str() {
                "AND" => Tok::And,
                "OR" => Tok::Or,
                "NOT" => Tok::Not,
                w if w == "NEAR"
                    || w == "ONEAR"
                    || w.starts_with("NEAR/")
                    || w.starts_with("ONEAR/") =>
                {
                    let ordered = w.starts_with('O');
                    let n = w.split_once('/').map_or("", |(_, n)| n);
                    match n.parse::<u32>() {
                        Ok(distance) if (1..=MAX_DISTANCE).contains(&distance) => {
                            Tok::Near { distance, ordered }
                        }
                        _ => {
                            return Err(QueryError::new(
                                col,
                                format!(
                                    "`{w}`: expected a distance in words from 1 to \
                                     {MAX_DISTANCE}, like `NEAR/5`"
                                ),
                            ))
                        }
                    }
                }
                _ => Tok::Word(word),
            };
            out.push((tok, col));
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    end_col: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }

    fn col(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end_col, |(_, c)| *c)
    }

    fn enter(&mut self) -> Result<(), QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(QueryError::new(
                self.col(),
                format!("query nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    /// or := and (OR and)*
    fn or(&mut self) -> Result<Expr, QueryError> {
        let mut v = vec![self.and()?];
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            v.push(self.and()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Expr::Or(v)
        })
    }

    /// and := near ((AND)? near)*
    fn and(&mut self) -> Result<Expr, QueryError> {
        let mut v = vec![self.near()?];
        loop {
            match self.peek() {
                Some(Tok::And) => {
                    self.pos += 1;
                    v.push(self.near()?);
                }
                Some(Tok::Word(_) | Tok::Phrase(_) | Tok::LParen | Tok::Not | Tok::Scope(_)) => {
                    v.push(self.near()?);
                }
                _ => break,
            }
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Expr::And(v)
        })
    }

    /// near := unary (NEAR/n unary)?
    fn near(&mut self) -> Result<Expr, QueryError> {
        let left = self.unary()?;
        let Some(&Tok::Near { distance, ordered }) = self.peek() else {
            return Ok(left);
        };
        let col = self.col();
        if ordered {
            return Err(QueryError::new(
                col,
                "`ONEAR` (ordered proximity) cannot be searched with full-text search; use `NEAR/n`",
            ));
        }
        self.pos += 1;
        let right = self.unary()?;
        if matches!(self.peek(), Some(Tok::Near { .. })) {
            return Err(QueryError::new(
                self.col(),
                "chained `NEAR` cannot be searched; combine pairs with AND",
            ));
        }
        Ok(Expr::Near {
            left: Box::new(left),
            right: Box::new(right),
            distance,
            col,
        })
    }

    /// unary := NOT unary | primary
    fn unary(&mut self) -> Result<Expr, QueryError> {
        if self.peek() == Some(&Tok::Not) {
            let col = self.col();
            self.pos += 1;
            self.enter()?;
            let e = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(e), col));
        }
        self.primary()
    }

    /// primary := scope primary | word | "phrase" | ( or )
    fn primary(&mut self) -> Result<Expr, QueryError> {
        let col = self.col();
        let Some((tok, _)) = self.toks.get(self.pos).cloned() else {
            return Err(QueryError::new(
                col,
                "query ends where a term, phrase or group was expected",
            ));
        };
        self.pos += 1;
        match tok {
            Tok::Scope(c) => {
                self.enter()?;
                let e = self.primary()?;
                self.depth -= 1;
                Ok(Expr::Scope(c, Box::new(e), col))
            }
            Tok::Word(w) => literal(&w, col, false),
            Tok::Phrase(p) => literal(&p, col, true),
            Tok::LParen => {
                self.enter()?;
                let e = self.or()?;
                self.depth -= 1;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(QueryError::new(
                        self.col(),
                        format!("missing `)` to close the `(` at column {col}"),
                    ));
                }
                self.pos += 1;
                Ok(e)
            }
            Tok::RParen => Err(QueryError::new(col, "unmatched `)`")),
            Tok::And | Tok::Or | Tok::Near { .. } => Err(QueryError::new(
                col,
                "operator where a term, phrase or group was expected",
            )),
            Tok::Not => Err(QueryError::new(col, "`NOT` needs something to exclude")),
        }
    }
}

/// Checks a term or phrase body: wildcards only at the end, something searchable in it.
fn literal(body: &str, col: usize, phrase: bool) -> Result<Expr, QueryError> {
    let (text, prefix) = match body.strip_suffix('*') {
        Some(t) => (t, true),
        None => (body, false),
    };
    if text.contains('*') {
        return Err(QueryError::new(
            col,
            "`*` is only allowed at the end of a term (prefix search)",
        ));
    }
    let Some(last) = text
        .split(|c: char| !c.is_alphanumeric())
        .rfind(|w| !w.is_empty())
    else {
        return Err(QueryError::new(
            col,
            if phrase {
                "empty phrase: it has no letters or digits"
            } else {
                "term has no letters or digits"
            },
        ));
    };
    if prefix && (last.chars().count() < 2 || text.ends_with(|c: char| !c.is_alphanumeric())) {
        return Err(QueryError::new(
            col,
            format!("prefix `{body}` is too short: put at least 2 letters before `*`"),
        ));
    }
    Ok(Expr::Lit {
        text: text.to_string(),
        prefix,
    })
}

/// An FTS5 string literal: the only way user text reaches the MATCH expression.
fn quote(text: &str, prefix: bool) -> String {
    let mut s = String::with_capacity(text.len() + 3);
    s.push('"');
    s.push_str(&text.replace('"', "\"\""));
    s.push('"');
    if prefix {
        s.push('*');
    }
    s
}

fn count(terms: &mut usize, n: usize, col: usize) -> Result<(), QueryError> {
    *terms += n;
    if *terms > MAX_TERMS {
        return Err(QueryError::new(
            col,
            format!("query has more than {MAX_TERMS} terms"),
        ));
    }
    Ok(())
}

/// Writes `e` as FTS5; `col` is the column used for errors about `e` as a whole.
fn emit(e: &Expr, col: usize, terms: &mut usize) -> Result<String, QueryError> {
    match e {
        Expr::Lit { text, prefix } => {
            count(terms, 1, col)?;
            Ok(quote(text, *prefix))
        }
        Expr::Scope(c, inner, col) => Ok(format!("{c} : ({})", emit(inner, *col, terms)?)),
        Expr::Or(v) => {
            let mut parts = Vec::with_capacity(v.len());
            for x in v {
                if let Expr::Not(_, ncol) = x {
                    return Err(QueryError::new(
                        *ncol,
                        "`NOT` inside `OR` cannot be searched: full-text search can only \
                         exclude from articles that matched something (write `a NOT b`)",
                    ));
                }
                parts.push(emit(x, col, terms)?);
            }
            Ok(format!("({})", parts.join(" OR ")))
        }
        Expr::And(v) => {
            let (neg, pos): (Vec<&Expr>, Vec<&Expr>) =
                v.iter().partition(|x| matches!(x, Expr::Not(..)));
            if pos.is_empty() {
                let ncol = match neg.first() {
                    Some(Expr::Not(_, c)) => *c,
                    _ => col,
                };
                return Err(not_alone(ncol));
            }
            let mut s = pos
                .iter()
                .map(|x| emit(x, col, terms))
                .collect::<Result<Vec<_>, _>>()?
                .join(" AND ");
            s = format!("({s})");
            for n in neg {
                if let Expr::Not(inner, ncol) = n {
                    if matches!(**inner, Expr::Not(..)) {
                        return Err(QueryError::new(*ncol, "`NOT NOT` cannot be searched"));
                    }
                    s = format!("({s} NOT {})", emit(inner, *ncol, terms)?);
                }
            }
            Ok(s)
        }
        Expr::Not(_, ncol) => Err(not_alone(*ncol)),
        Expr::Near {
            left,
            right,
            distance,
            col,
        } => {
            let (ls, lscope) = near_operand(left, *col)?;
            let (rs, rscope) = near_operand(right, *col)?;
            let scope = match (lscope, rscope) {
                (Some(a), Some(b)) if a != b => {
                    return Err(QueryError::new(
                        *col,
                        format!("`NEAR` between different fields ({a}: and {b}:) can never match"),
                    ))
                }
                (a, b) => a.or(b),
            };
            count(terms, ls.len() * rs.len() * 2, *col)?;
            // FTS5's NEAR takes phrases only: an OR-group operand is distributed.
            let mut groups = Vec::new();
            for l in &ls {
                for r in &rs {
                    groups.push(format!("NEAR({l} {r}, {distance})"));
                }
            }
            let body = format!("({})", groups.join(" OR "));
            Ok(match scope {
                Some(c) => format!("{c} : {body}"),
                None => body,
            })
        }
    }
}

fn not_alone(col: usize) -> QueryError {
    QueryError::new(
        col,
        "`NOT` needs a term that must occur beside it (`a NOT b`): full-text search cannot \
         list articles by what they lack",
    )
}

/// A `NEAR` operand as the FTS5 phrases it stands for, with its scope if any.
fn near_operand(e: &Expr, col: usize) -> Result<(Vec<String>, Option<Column>), QueryError> {
    let bad = || {
        QueryError::new(
            col,
            "`NEAR` operands must be terms, phrases, prefixes or OR-groups of them",
        )
    };
    match e {
        Expr::Lit { text, prefix } => Ok((vec![quote(text, *prefix)], None)),
        Expr::Or(v) => {
            let mut out = Vec::new();
            for x in v {
                let (mut p, scope) = near_operand(x, col)?;
                if scope.is_some() {
                    return Err(bad());
                }
                out.append(&mut p);
            }
            Ok((out, None))
        }
        Expr::Scope(c, inner, _) => {
            let (p, inner_scope) = near_operand(inner, col)?;
            match inner_scope {
                Some(i) if i != *c => Err(bad()),
                _ => Ok((p, Some(*c))),
            }
        }
        _ => Err(bad()),
    }
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
