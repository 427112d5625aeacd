//! Unit tests of the tsquery writer, with a stand-in for the server's tokenizer; the server
//! itself runs the translations in tests/pg_search.rs.

use super::*;

/// Lexemes as the index would make them, near enough for these tests: lower case, split at
/// anything but letters and digits.
fn lexemes(q: &PgQuery) -> HashMap<String, Vec<String>> {
    q.term_texts()
        .into_iter()
        .map(|t| {
            let words = t
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(str::to_lowercase)
                .collect();
            (t, words)
        })
        .collect()
}

fn tsq(query: &str) -> String {
    let q = translate(query).unwrap_or_else(|e| panic!("{query}: {e}"));
    q.to_tsquery(&lexemes(&q))
}

#[test]
fn translation_table() {
    let cases: &[(&str, &str)] = &[
        ("Embassy", "'embassy'"),
        ("a b", "( 'a' & 'b' )"),
        ("a OR b c", "( 'a' | ( 'b' & 'c' ) )"),
        ("a NOT b NOT c", "( 'a' & !'b' & !'c' )"),
        ("rocket*", "'rocket':*"),
        (
            r#""green zo*""#,
            "( ( 'green':A <-> 'zo':*A ) | ( 'green':B <-> 'zo':*B ) | ( 'green':C <-> 'zo':*C ) )",
        ),
        ("title:(a OR bb*)", "( 'a':A | 'bb':*A )"),
        ("body:(a NOT b)", "( 'a':C & !'b':C )"),
        (
            r#"summary:"x y""#,
            "( 'x':B <-> 'y':B )",
        ),
        (
            "title:a NEAR/1 b",
            "( 'a':A <1> 'b':A | 'b':A <1> 'a':A | 'a':A <2> 'b':A | 'b':A <2> 'a':A )",
        ),
        (
            "Green-Zone",
            "( ( 'green':A <-> 'zone':A ) | ( 'green':B <-> 'zone':B ) | ( 'green':C <-> 'zone':C ) )",
        ),
    ];
    for (q, want) in cases {
        assert_eq!(&tsq(q), want, "query {q:?}");
    }
}

#[test]
fn near_covers_both_orders_every_gap_and_each_field() {
    let s = tsq("a NEAR/2 b");
    for c in ['A', 'B', 'C'] {
        for k in 1..=3 {
            assert!(s.contains(&format!("'a':{c} <{k}> 'b':{c}")), "{s}");
            assert!(s.contains(&format!("'b':{c} <{k}> 'a':{c}")), "{s}");
        }
    }
    assert!(!s.contains("<0>") && !s.contains("<4>"), "{s}");
    assert_eq!(s.matches(" <").count() - s.matches(" <-> ").count(), 18);
    // A phrase side may share its boundary word with the other side.
    assert!(tsq(r#"title:"a b" NEAR/1 c"#).contains("<0>"));
}

#[test]
fn hostile_lexemes_are_quoted() {
    let q = translate("x").expect("x");
    let mut lex = HashMap::new();
    lex.insert(
        "x".to_string(),
        vec!["it's".into(), r"back\slash".into(), "&|!:*()<>".into()],
    );
    assert_eq!(
        q.to_tsquery(&lex),
        r"( ( 'it''s':A <-> 'back\\slash':A <-> '&|!:*()<>':A ) | ( 'it''s':B <-> 'back\\slash':B <-> '&|!:*()<>':B ) | ( 'it''s':C <-> 'back\\slash':C <-> '&|!:*()<>':C ) )"
    );
    // A term with no lexemes never matches, rather than dropping out of the query.
    lex.insert("x".to_string(), Vec::new());
    assert_eq!(q.to_tsquery(&lex), "' '");
}

#[test]
fn wide_near_is_refused_at_its_column() {
    // One pair in three fields, both orders: 6 × (n + 2) comparisons.
    let widest = MAX_PHRASES / 6 - 2;
    assert!(translate(&format!("a NEAR/{widest} b")).is_ok());
    let e = translate(&format!("x a NEAR/{} b", widest + 1)).expect_err("too wide");
    assert_eq!(e.column, 5, "{e}");
    assert!(
        e.message.contains("NEAR/") && e.message.contains("PostgreSQL"),
        "{e}"
    );
    // Scoped to one field, three times wider.
    assert!(translate(&format!("title:(a NEAR/{} b)", widest * 3)).is_ok());
    // The bound is on the whole query, so the second NEAR is the one named.
    let half = MAX_PHRASES / 12;
    let e = translate(&format!("a NEAR/{half} b c NEAR/{half} d")).expect_err("sum");
    assert!(e.column > 10, "{e}");
}

#[test]
fn refuses_what_sqlite_refuses() {
    for q in [
        "~storm",
        "@attack",
        "a ONEAR/2 b",
        "url:x",
        "NOT a",
        "a NEAR/1 a",
    ] {
        assert_eq!(
            translate(q).expect_err(q),
            crate::store::fts::translate(q).expect_err(q),
            "{q}"
        );
    }
}

#[test]
fn rank_query_is_the_positive_terms_without_near_expansion() {
    let q = translate("title:(aa NEAR/50 bb) OR cc NOT dd").expect("q");
    assert_eq!(
        q.to_rank_tsquery(&lexemes(&q)),
        "( 'aa':A | 'bb':A | 'cc' )"
    );
}
