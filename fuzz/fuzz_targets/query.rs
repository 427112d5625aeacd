//! Fuzz the rule query parser and matcher: no input may panic.
//!
//! The input is split at the first NUL byte: the part before is a query (parsed, displayed and
//! re-parsed: the canonical form must parse back to the same tree), the part after is a
//! document body matched against it (terms' offsets must point at their text).
#![no_main]

use feedwatch::rules::{parse, Document, RuleSet, RuleSpec, Severity};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (query, body) = text.split_once('\0').unwrap_or((text, ""));
    let Ok(ast) = parse(query) else {
        return;
    };
    let shown = ast.to_string();
    assert_eq!(parse(&shown).ok(), Some(ast), "round trip of {query:?} via {shown:?}");
    let spec = RuleSpec {
        name: "fuzz".into(),
        query: query.into(),
        severity: Severity::Low,
        feeds: vec![],
        exclude: None,
        model: None,
    };
    let Ok(set) = RuleSet::compile(&[spec]) else {
        return;
    };
    let doc = Document {
        title: body,
        body,
        ..Document::default()
    };
    for m in set.matches(&doc) {
        for t in &m.terms {
            let at: String = body.chars().skip(t.start).take(t.end - t.start).collect();
            assert_eq!(at, t.term);
        }
    }
    let _ = set.explain(&doc);
});
