//! Translates a `feedwatch search` query into an SQLite FTS5 `MATCH` expression.
//!
//! Search speaks the rule language itself, so a rule can be tried against history before it is
//! deployed: the query is parsed and checked by [`crate::store::search_plan`] (one parser, one
//! set of refusals, shared with the PostgreSQL backend), and only the writing of its tree in
//! FTS5 syntax lives here.
//!
//! Safety: every term and phrase the user typed is emitted as an FTS5 string literal (`"…"`,
//! with `"` doubled), and every operator is one this module writes, so no input can inject
//! FTS5 syntax (column filters, `NEAR(…)`, `^`, `+`, bare keywords). A proptest checks that
//! SQLite accepts every translation, and another that search and the rule matcher find the
//! same documents for whatever search accepts.

use crate::rules::query::QueryError;
use crate::store::search_plan::{self, Node, Term};

pub use crate::store::search_plan::MAX_TERMS;

/// Translates `query` into an FTS5 expression over the columns `title`, `summary`, `body`.
///
/// # Errors
/// Syntax errors (the rule parser's), and constructs full-text search cannot express (see
/// [`search_plan`]), each with its column; [`QueryError::render`] shows the caret.
pub fn translate(query: &str) -> Result<String, QueryError> {
    Ok(emit(&search_plan::plan(query)?))
}

/// A term as an FTS5 string, `*` after it for a prefix.
fn literal(t: &Term) -> String {
    let mut s = String::with_capacity(t.text.len() + 3);
    s.push('"');
    s.push_str(&t.text.replace('"', "\"\""));
    s.push('"');
    if t.prefix {
        s.push('*');
    }
    s
}

/// Writes `n` as FTS5.
fn emit(n: &Node) -> String {
    match n {
        Node::Term(t) => literal(t),
        Node::In(c, inner) => format!("{} : ({})", c.name(), emit(inner)),
        Node::Any(v) => format!("({})", v.iter().map(emit).collect::<Vec<_>>().join(" OR ")),
        Node::All { all, none } => {
            let joined = all.iter().map(emit).collect::<Vec<_>>().join(" AND ");
            none.iter().fold(format!("({joined})"), |s, x| {
                format!("({s} NOT {})", emit(x))
            })
        }
        Node::Near {
            pairs,
            distance,
            column,
            ..
        } => {
            let groups: Vec<String> = pairs
                .iter()
                .map(|(l, r)| format!("NEAR({} {}, {distance})", literal(l), literal(r)))
                .collect();
            let body = format!("({})", groups.join(" OR "));
            match column {
                Some(c) => format!("{} : {body}", c.name()),
                None => body,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::query;
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
