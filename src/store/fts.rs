//! Translates a `feedwatch search` query into an SQLite FTS5 `MATCH` expression.
//!
//! Search speaks the rule language itself, so a rule can be tried against history before it is
//! deployed: the query is parsed by [`crate::rules::query::parse`] (one lexer, one parser, one
//! set of limits and messages) and only the translation of its tree into FTS5 lives here.
//!
//! What FTS5 cannot express is refused with a caret under the node at fault:
//! - `~stem` and `@concept`: the index holds words as written, with no stems or term sets;
//! - `ONEAR/n`: FTS5's `NEAR` has no order;
//! - `url:` and `feed:` scopes: those fields are not in the index;
//! - `NOT` with nothing positive beside it (`NOT a`, `a OR NOT b`), since FTS5 can only
//!   subtract from a set that matched.
//!
//! Safety: every term and phrase the user typed is emitted as an FTS5 string literal (`"…"`,
//! with `"` doubled), and every operator is one this module writes, so no input can inject
//! FTS5 syntax (column filters, `NEAR(…)`, `^`, `+`, bare keywords). A proptest checks that
//! SQLite accepts every translation, and another that search and the rule matcher find the
//! same documents for whatever search accepts.

use crate::rules::query::{self, Col, Expr, Literal, QueryError};
use crate::rules::Field;

/// Most terms and phrases in one query (after `NEAR` expansion); bounds FTS5's work.
pub const MAX_TERMS: usize = 256;

/// Translates `query` into an FTS5 expression over the columns `title`, `summary`, `body`.
///
/// # Errors
/// Syntax errors (the rule parser's), and constructs FTS5 cannot express, each with its column;
/// [`QueryError::render`] shows the caret.
pub fn translate(query: &str) -> Result<String, QueryError> {
    let expr = query::parse(query)?;
    let mut terms = 0;
    emit(&expr, &mut terms)
}

/// The indexed column a scope names, or the error for one that is not indexed.
fn column(field: Field, col: Col) -> Result<&'static str, QueryError> {
    match field {
        Field::Title => Ok("title"),
        Field::Summary => Ok("summary"),
        Field::Body => Ok("body"),
        Field::Url | Field::Feed => Err(QueryError::new(
            col.0,
            format!(
                "`{field}:` cannot be searched: it is not in the full-text index (title, summary \
                 and body are)"
            ),
        )),
    }
}

/// A literal as an FTS5 string, or the error for a stem.
fn literal(l: &Literal) -> Result<String, QueryError> {
    if l.stem {
        return Err(QueryError::new(
            l.column.0,
            format!(
                "`{}` (same stem) cannot be searched: the index holds words as written; use a \
                 prefix (`word*`) or list the forms",
                l.raw
            ),
        ));
    }
    let text = l
        .raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(&l.raw);
    let text = if l.prefix {
        text.strip_suffix('*').unwrap_or(text)
    } else {
        text
    };
    let mut s = String::with_capacity(text.len() + 3);
    s.push('"');
    s.push_str(&text.replace('"', "\"\""));
    s.push('"');
    if l.prefix {
        s.push('*');
    }
    Ok(s)
}

fn concept(c: &query::ConceptRef) -> QueryError {
    QueryError::new(
        c.column,
        format!(
            "`@{}`: concepts are not expanded by search; write the terms you want",
            c.name
        ),
    )
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

/// The column where `e` starts, for errors about it as a whole.
fn start(e: &Expr) -> usize {
    match e {
        Expr::Lit(l) => l.column.0,
        Expr::Concept(c) => c.column,
        Expr::And(v) | Expr::Or(v) => v.first().map_or(1, start),
        Expr::Not(_, c) | Expr::Scope(_, _, c) => c.0,
        Expr::Near { left, .. } => start(left),
    }
}

/// The column of a scope in `e` that names a field other than `field`.
fn other_scope(e: &Expr, field: Field) -> Option<Col> {
    match e {
        Expr::Scope(f, _, c) if *f != field => Some(*c),
        Expr::Scope(_, inner, _) | Expr::Not(inner, _) => other_scope(inner, field),
        Expr::And(v) | Expr::Or(v) => v.iter().find_map(|x| other_scope(x, field)),
        Expr::Near { left, right, .. } => {
            other_scope(left, field).or_else(|| other_scope(right, field))
        }
        Expr::Lit(_) | Expr::Concept(_) => None,
    }
}

fn not_alone(col: usize) -> QueryError {
    QueryError::new(
        col,
        "`NOT` needs a term that must occur beside it (`a NOT b`): full-text search cannot \
         list articles by what they lack",
    )
}

/// Writes `e` as FTS5.
fn emit(e: &Expr, terms: &mut usize) -> Result<String, QueryError> {
    match e {
        Expr::Lit(l) => {
            count(terms, 1, l.column.0)?;
            literal(l)
        }
        Expr::Concept(c) => Err(concept(c)),
        Expr::Scope(f, inner, col) => {
            if let Some(c) = other_scope(inner, *f) {
                return Err(QueryError::new(
                    c.0,
                    format!(
                        "a scope inside `{f}:` names another field: search would look in both at \
                         once, rules in the inner one only; write the inner term outside"
                    ),
                ));
            }
            Ok(format!("{} : ({})", column(*f, *col)?, emit(inner, terms)?))
        }
        Expr::Or(v) => {
            let mut parts = Vec::with_capacity(v.len());
            for x in v {
                if let Expr::Not(_, ncol) = x {
                    return Err(QueryError::new(
                        ncol.0,
                        "`NOT` inside `OR` cannot be searched: full-text search can only \
                         exclude from articles that matched something (write `a NOT b`)",
                    ));
                }
                parts.push(emit(x, terms)?);
            }
            Ok(format!("({})", parts.join(" OR ")))
        }
        Expr::And(v) => emit_and(v, terms),
        Expr::Not(_, ncol) => Err(not_alone(ncol.0)),
        Expr::Near {
            left,
            right,
            distance,
            ordered,
            column: col,
        } => emit_near(left, right, *distance, *ordered, col.0, terms),
    }
}

/// `a AND b NOT c`: the positive operands joined, then each negative one subtracted.
fn emit_and(v: &[Expr], terms: &mut usize) -> Result<String, QueryError> {
    let (neg, pos): (Vec<&Expr>, Vec<&Expr>) = v.iter().partition(|x| matches!(x, Expr::Not(..)));
    if pos.is_empty() {
        return Err(not_alone(neg.first().map_or(1, |n| start(n))));
    }
    let joined = pos
        .iter()
        .map(|x| emit(x, terms))
        .collect::<Result<Vec<_>, _>>()?
        .join(" AND ");
    let mut s = format!("({joined})");
    for n in neg {
        if let Expr::Not(inner, ncol) = n {
            if matches!(**inner, Expr::Not(..)) {
                return Err(QueryError::new(ncol.0, "`NOT NOT` cannot be searched"));
            }
            s = format!("({s} NOT {})", emit(inner, terms)?);
        }
    }
    Ok(s)
}

/// `a NEAR/n b`, with OR-group operands distributed (FTS5's `NEAR` takes phrases only).
fn emit_near(
    left: &Expr,
    right: &Expr,
    distance: u32,
    ordered: bool,
    col: usize,
    terms: &mut usize,
) -> Result<String, QueryError> {
    if ordered {
        return Err(QueryError::new(
            col,
            "`ONEAR` cannot be searched: full-text proximity has no order; use `NEAR/n`",
        ));
    }
    let (ls, lscope) = near_operand(left, col)?;
    let (rs, rscope) = near_operand(right, col)?;
    let scope = match (lscope, rscope) {
        (Some(a), Some(b)) if a != b => {
            return Err(QueryError::new(
                col,
                format!("`NEAR` between different fields ({a}: and {b}:) can never match"),
            ))
        }
        (a, b) => a.or(b),
    };
    // FTS5 lets one occurrence stand for both sides of `NEAR("a" "a", n)`; the rule matcher
    // (rightly) wants two. A side that can match what the other side matches is refused.
    if let Some((l, r)) = ls
        .iter()
        .flat_map(|l| rs.iter().map(move |r| (l, r)))
        .find(|(l, r)| overlap(l, r))
    {
        return Err(QueryError::new(
            col,
            format!(
                "`NEAR` between {l} and {r}, which can match the same words, cannot be searched: \
                 full-text proximity may count one occurrence as both sides"
            ),
        ));
    }
    count(terms, ls.len() * rs.len() * 2, col)?;
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

/// Whether the two sides of a `NEAR`, FTS5 phrases as [`literal`] writes them, may be refused
/// for matching the same words: FTS5 lets one occurrence stand for both sides, the rule
/// matcher wants two. Phrases that merely overlap (`"a b"` and `"b c"` in "a b c") are
/// adjacent to both, so only the very same words count: [`same_words`], compared as the index
/// tokenizes them. Sides starting with the same word (or a prefix of it) are refused too, as
/// search always has.
fn overlap(a: &str, b: &str) -> bool {
    let first = |s: &str| -> (String, bool) {
        let prefix = s.ends_with('*');
        let inner = s.trim_end_matches('*').trim_matches('"').to_lowercase();
        let w = inner.split_whitespace().next().unwrap_or("").to_string();
        (w, prefix && !inner.contains(' '))
    };
    let ((aw, ap), (bw, bp)) = (first(a), first(b));
    aw == bw || (ap && bw.starts_with(&aw)) || (bp && aw.starts_with(&bw)) || same_words(a, b)
}

/// Whether two FTS5 phrases can match the very same words: as many tokens each (case,
/// accents and punctuation folded as the index folds them), equal one for one, except that
/// a phrase ending in `*` may end in a prefix of the other's last word.
fn same_words(a: &str, b: &str) -> bool {
    let tokens = |s: &str| {
        let prefix = s.ends_with('*');
        let inner = s.trim_end_matches('*');
        let inner = inner.strip_prefix('"').unwrap_or(inner);
        let inner = inner
            .strip_suffix('"')
            .unwrap_or(inner)
            .replace("\"\"", "\"");
        (crate::rules::normalize::tokens(&inner), prefix)
    };
    let ((aw, ap), (bw, bp)) = (tokens(a), tokens(b));
    if aw.is_empty() || aw.len() != bw.len() {
        return false;
    }
    let last = aw.len() - 1;
    aw.iter().zip(&bw).enumerate().all(|(i, (x, y))| {
        x == y
            || (i == last
                && ((ap && y.starts_with(x.as_str())) || (bp && x.starts_with(y.as_str()))))
    })
}

/// A `NEAR` operand as the FTS5 phrases it stands for, with its scope if any. The rule parser
/// already limits operands to terms, concepts, OR-groups and scopes of those.
fn near_operand(e: &Expr, col: usize) -> Result<(Vec<String>, Option<&'static str>), QueryError> {
    let bad = || {
        QueryError::new(
            col,
            "`NEAR` operands must be terms, phrases, prefixes or OR-groups of them, each in \
             one field",
        )
    };
    match e {
        Expr::Lit(l) => Ok((vec![literal(l)?], None)),
        Expr::Concept(c) => Err(concept(c)),
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
        Expr::Scope(f, inner, scol) => {
            let c = column(*f, *scol)?;
            let (p, inner_scope) = near_operand(inner, col)?;
            match inner_scope {
                Some(i) if i != c => Err(bad()),
                _ => Ok((p, Some(c))),
            }
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Document, RuleSet, RuleSpec, Severity};

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
            // Injection attempts come out as inert string literals, or as syntax errors.
            (r#"x""#, "unterminated"),
            ("ab* OR x) --", "without a matching"),
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
            (r#""a" OR x) --"#, 9, "without a matching `(`"),
            ("NOT a", 1, "NOT"),
            ("a OR NOT b", 6, "inside `OR`"),
            ("a ONEAR/3 b", 3, "ONEAR"),
            ("a NEAR b", 3, "distance"),
            ("a NEAR/0 b", 3, "distance"),
            ("url:example", 1, "url:"),
            ("x feed:bbc", 3, "feed:"),
            ("x NEAR/2 feed:bbc", 10, "feed:"),
            ("foo:bar", 1, "unknown field"),
            ("(a OR b", 1, "unbalanced `(`"),
            ("a AND", 6, "query ends"),
            ("r*cket", 1, "only allowed at the end"),
            ("r*", 1, "too short"),
            ("*", 1, "bare `*`"),
            ("--", 1, "no letters"),
            (r#""""#, 1, "empty phrase"),
            ("a NEAR/3 (b c)", 3, "operands"),
            ("title:a NEAR/3 body:b", 9, "different fields"),
            ("a NEAR/3 b NEAR/3 c", 12, "operands"),
            ("title:", 1, "followed directly"),
            ("embassy ~storm", 9, "same stem"),
            ("embassy NEAR/5 @attack", 16, "@attack"),
            ("()", 1, "empty group"),
            ("title:(a OR body:b)", 13, "another field"),
        ];
        for (q, col, msg) in cases {
            let e = translate(q).expect_err(q);
            assert_eq!(e.column, *col, "query {q:?}: {e}");
            assert!(e.message.contains(msg), "query {q:?}: {e}");
        }
        let e = translate(&"(".repeat(query::MAX_DEPTH + 1)).expect_err("deep");
        assert!(e.message.contains("nested"), "{e}");
        let many = vec!["w"; MAX_TERMS + 1].join(" ");
        assert!(translate(&many).is_err());
    }

    #[test]
    fn render_points_at_the_column() {
        let e = translate("a OR NOT b").expect_err("error");
        let shown = e.render("a OR NOT b");
        assert!(
            shown.ends_with("\n  a OR NOT b\n       ^^^ (column 6)"),
            "{shown}"
        );
    }

    /// An FTS5 table like `articles_fts`, holding `docs` as (title, body) rows 1, 2, ...
    fn fts(docs: &[(String, String)]) -> rusqlite::Connection {
        let c = rusqlite::Connection::open_in_memory().expect("open");
        c.execute_batch(
            "CREATE VIRTUAL TABLE t USING fts5(title, summary, body,
                 tokenize = 'unicode61 remove_diacritics 2');",
        )
        .expect("fts5");
        for (t, b) in docs {
            c.execute("INSERT INTO t VALUES (?1, '', ?2)", [t, b])
                .expect("insert");
        }
        c
    }

    fn hits(c: &rusqlite::Connection, q: &str) -> rusqlite::Result<Vec<i64>> {
        let mut st = c.prepare("SELECT rowid FROM t WHERE t MATCH ?1 ORDER BY rowid")?;
        let rows = st.query_map([q], |r| r.get(0))?;
        rows.collect()
    }

    fn one_doc() -> rusqlite::Connection {
        fts(&[(
            "Rocket hits Green Zone".to_string(),
            "an embassy attack".to_string(),
        )])
    }

    #[test]
    fn translations_run_in_sqlite() {
        let c = one_doc();
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
            assert_eq!(hits(&c, &fts).expect(&fts).len(), n, "{q} -> {fts}");
        }
    }

    #[test]
    fn near_sides_that_can_match_the_same_words_are_refused() {
        for q in [
            "embassy NEAR/2 Embassy",
            "rocket* NEAR/1 rockets",
            r#""green zone" NEAR/1 "green zone""#,
            // The same words once the index has folded accents and split at punctuation.
            "émeute NEAR/1 emeute",
            r#"green-zone NEAR/1 "green zone""#,
            r#""green zo*" NEAR/1 "green zone""#,
        ] {
            assert!(translate(q).is_err(), "{q} should be refused");
        }
    }

    /// Phrases overlapping at a later word are not the same words: FTS5 and the rule matcher
    /// both take them as adjacent (and neither takes `"a b"` alone for both), so search
    /// accepts them and finds what the rules find.
    #[test]
    fn near_sides_overlapping_at_a_later_word_are_searched() {
        let q = r#""alpha beta" NEAR/1 "beta gamma""#;
        let docs: Vec<(String, String)> = [
            "alpha beta gamma",
            "alpha beta",
            "beta gamma",
            "alpha beta x beta gamma",
            "x alpha beta gamma x",
        ]
        .iter()
        .map(|d| (d.to_string(), String::new()))
        .collect();
        let expr = translate(q).expect("accepted");
        let found = hits(&fts(&docs), &expr).expect("FTS5 runs it");
        assert_eq!(found, [1, 4, 5]);
        assert_eq!(found, rule_hits(q, &docs));
    }

    /// The documents the rule matcher finds for `query`, numbered like the FTS5 rows.
    fn rule_hits(query: &str, docs: &[(String, String)]) -> Vec<i64> {
        let spec = RuleSpec {
            name: "q".into(),
            query: query.into(),
            severity: Severity::Low,
            feeds: Vec::new(),
            exclude: None,
            model: None,
        };
        let set = RuleSet::compile(&[spec]).expect("search accepted it, so rules must");
        (1..)
            .zip(docs)
            .filter(|(_, (t, b))| {
                !set.matches(&Document {
                    title: t,
                    body: b,
                    ..Document::default()
                })
                .is_empty()
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// Queries over a five-word vocabulary, as the grammar builds them.
    fn query_strategy() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let word = proptest::sample::select(vec!["alpha", "beta", "gamma", "delta", "eps"]);
        let leaf = prop_oneof![
            word.clone().prop_map(str::to_string),
            (word.clone(), word.clone()).prop_map(|(a, b)| format!("\"{a} {b}\"")),
            word.clone().prop_map(|w| format!("{}*", &w[..2])),
        ];
        let near_side = prop_oneof![
            leaf.clone(),
            (leaf.clone(), leaf.clone()).prop_map(|(a, b)| format!("({a} OR {b})")),
        ];
        let near = (near_side.clone(), 1u32..4, near_side)
            .prop_map(|(a, n, b)| format!("{a} NEAR/{n} {b}"));
        let base = prop_oneof![3 => leaf, 1 => near];
        base.prop_recursive(3, 12, 3, |inner| {
            let field = proptest::sample::select(vec!["title", "body"]);
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) AND ({b})")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) OR ({b})")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) NOT ({b})")),
                (field, inner).prop_map(|(f, a)| format!("{f}:({a})")),
            ]
        })
    }

    fn docs_strategy() -> impl proptest::strategy::Strategy<Value = Vec<(String, String)>> {
        use proptest::prelude::*;
        let word = proptest::sample::select(vec!["alpha", "beta", "gamma", "delta", "eps", "x"]);
        let text = |n| proptest::collection::vec(word.clone(), 1..n).prop_map(|w| w.join(" "));
        proptest::collection::vec((text(5), text(12)), 1..6)
    }

    proptest::proptest! {
        #[test]
        fn any_input_translates_to_valid_fts5_or_errors(q in r#"[a-z"()*: ^{}+\-,.'/0-9ÄéNEAROTDtitlebody~@]{0,40}"#) {
            let c = one_doc();
            if let Ok(fts) = translate(&q) {
                proptest::prop_assert!(hits(&c, &fts).is_ok(), "{} -> {} rejected by FTS5", q, fts);
            }
        }

        #[test]
        fn keyword_soup_translates_to_valid_fts5_or_errors(words in proptest::collection::vec(
            proptest::sample::select(vec!["a", "b*", "\"c d\"", "AND", "OR", "NOT", "NEAR/2", "(", ")",
                "title:", "body:x", "\"", "*", "e\"f", "~stem", "@c"]), 0..12)) {
            let q = words.concat();
            let q2 = words.join(" ");
            let c = one_doc();
            for q in [q, q2] {
                if let Ok(fts) = translate(&q) {
                    proptest::prop_assert!(hits(&c, &fts).is_ok(), "{} -> {} rejected by FTS5", q, fts);
                }
            }
        }

        /// Whatever search accepts, the rule language accepts with the same meaning: FTS5 and
        /// the rule matcher find the same documents.
        #[test]
        fn search_and_rules_find_the_same_documents(q in query_strategy(), docs in docs_strategy()) {
            if let Ok(expr) = translate(&q) {
                let c = fts(&docs);
                let by_search = hits(&c, &expr).map_err(|e| {
                    proptest::test_runner::TestCaseError::fail(format!("{q} -> {expr}: {e}"))
                })?;
                proptest::prop_assert_eq!(by_search, rule_hits(&q, &docs), "{} -> {}", q, expr);
            }
        }
    }
}
