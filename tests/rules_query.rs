//! Properties of the query language and the normaliser: no input panics, display round-trips,
//! offsets always point into the original text.

use feedwatch::rules::lang::Lang;
use feedwatch::rules::normalize::{normalize, tokens};
use feedwatch::rules::{parse, stem_word, ConceptSpec, Document, RuleSet, RuleSpec, Severity};
use proptest::prelude::*;

/// Query-shaped strings: mostly valid, often not (the parser must cope either way).
fn query() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        "[a-zA-Z]{1,6}\\*?",
        "~[a-zA-Z]{3,8}",
        "[éüßÉ]{1,3}[a-z]{0,3}",
        "[\u{0627}-\u{064A}]{2,5}",
        Just("Green-Zone".to_string()),
        Just("#GreenZone".to_string()),
        Just("embassy's".to_string()),
    ];
    let leaf = prop_oneof![
        word.clone(),
        word.clone().prop_map(|w| format!("\"{w} zone\"")),
        (prop_oneof![Just("title"), Just("body"), Just("url")], word)
            .prop_map(|(f, w)| format!("{f}:{w}")),
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} AND {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} OR {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} {b}")),
            inner.clone().prop_map(|a| format!("NOT {a}")),
            inner.clone().prop_map(|a| format!("({a})")),
            inner.clone().prop_map(|a| format!("title:({a})")),
            (inner.clone(), inner.clone(), 1u32..20)
                .prop_map(|(a, b, n)| format!("{a} NEAR/{n} ({b})")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("({a}) ONEAR/2 {b}")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_strings_never_panic(s in "\\PC{0,60}") {
        let _ = parse(&s);
    }

    #[test]
    fn operator_soup_never_panics(parts in prop::collection::vec(
        prop_oneof![Just("AND"), Just("OR"), Just("NOT"), Just("("), Just(")"), Just("\""),
                    Just("NEAR/3"), Just("ONEAR/"), Just("*"), Just("a*"), Just("title:"),
                    Just("x"), Just("é"), Just(":"), Just("NEAR/99999999999")], 0..12)) {
        let q = parts.join(" ");
        let _ = parse(&q);
        let q = parts.concat();
        if let Err(e) = parse(&q) {
            prop_assert!(e.column >= 1 && e.column <= q.chars().count() + 1, "{q:?}: {e:?}");
        }
    }

    #[test]
    fn every_bad_rule_is_reported_with_a_caret_line(q in "[a-z\"()* :/\n\u{0627}]{0,30}|(AND|OR|NOT|NEAR/2|x|\\(|\\)|\"| |\n){0,10}") {
        let specs = [
            RuleSpec { name: "a".into(), query: q.clone(), severity: Severity::Low, feeds: vec![], exclude: None, model: None },
            RuleSpec { name: "b".into(), query: "ok".into(), severity: Severity::Low, feeds: vec![], exclude: Some(q.clone()), model: None },
        ];
        match (parse(&q), RuleSet::compile(&specs)) {
            (Ok(_), Ok(set)) => prop_assert_eq!(set.len(), 2),
            (Err(e), Err(errs)) => {
                prop_assert_eq!(errs.len(), 2);
                prop_assert!(!errs[0].in_exclude && errs[1].in_exclude);
                for err in &errs {
                    prop_assert_eq!(err.column, e.column);
                    let shown = err.to_string();
                    prop_assert!(shown.lines().count() == 3, "{}", shown);
                    prop_assert!(shown.lines().nth(2).is_some_and(|l| l.trim_start().starts_with('^')), "{}", shown);
                }
            }
            (p, c) => prop_assert!(false, "parse {:?} but compile {:?}", p.is_ok(), c.is_ok()),
        }
    }

    #[test]
    fn display_round_trips(q in query()) {
        if let Ok(ast) = parse(&q) {
            let shown = ast.to_string();
            let again = parse(&shown);
            prop_assert_eq!(again.as_ref().ok(), Some(&ast), "{} -> {}", q, shown);
        }
    }

    #[test]
    fn compiled_rules_never_panic_on_any_document(q in query(), title in "\\PC{0,40}", body in "\\PC{0,200}") {
        let spec = RuleSpec { name: "r".into(), query: q, severity: Severity::Low, feeds: vec![], exclude: None, model: None };
        if let Ok(set) = RuleSet::compile(&[spec]) {
            let doc = Document { title: &title, body: &body, ..Document::default() };
            for m in set.matches(&doc) {
                for t in &m.terms {
                    let text = if t.field == feedwatch::rules::Field::Title { &title } else { &body };
                    let at: String = text.chars().skip(t.start).take(t.end - t.start).collect();
                    prop_assert_eq!(&at, &t.term);
                }
            }
            let _ = set.explain(&doc);
        }
    }

    #[test]
    fn token_offsets_are_char_boundaries_in_the_original(s in "\\PC{0,120}") {
        let n = normalize(&s);
        for (i, t) in n.tokens.iter().enumerate() {
            prop_assert!(s.get(t.orig_start as usize..t.orig_end as usize).is_some());
            prop_assert!(!n.token_text(i).is_empty());
            prop_assert!(!n.token_text(i).contains(' '));
        }
    }

    #[test]
    fn normalising_twice_changes_nothing(s in "\\PC{0,80}") {
        let once = tokens(&s);
        let twice = tokens(&once.join(" "));
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn a_word_matches_itself_in_any_case(w in "[a-z]{2,10}", upper in any::<bool>()) {
        let set = RuleSet::compile(&[RuleSpec {
            name: "r".into(), query: w.clone(), severity: Severity::Low, feeds: vec![], exclude: None, model: None,
        }]).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        let shown = if upper { w.to_uppercase() } else { w.clone() };
        let body = format!("Before, {shown}! after");
        let m = set.matches(&Document { body: &body, ..Document::default() });
        prop_assert_eq!(m.len(), 1);
        prop_assert_eq!(&m[0].terms[0].term, &shown);
        prop_assert_eq!(m[0].terms[0].start, 8);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Stems are matched lazily (a word is stemmed only if it begins like a stem literal's
    /// stem); that shortcut must never lose a word whose stem is the literal's. A one-word
    /// item has no detectable language, so any of the three Snowball stemmers may agree.
    #[test]
    fn lazy_stemming_finds_every_word_with_the_same_stem(
        base in "[a-z]{2,7}",
        lit_end in prop_oneof![Just(""), Just("e"), Just("y"), Just("s"), Just("ed"), Just("ing")],
        doc_end in prop_oneof![Just(""), Just("s"), Just("es"), Just("ed"), Just("ing"), Just("ies"),
                               Just("ly"), Just("ment"), Just("ation"), Just("er"), Just("en"), Just("ung")],
    ) {
        let lit = format!("{base}{lit_end}");
        let word = format!("{base}{doc_end}");
        prop_assume!(lit.len() >= 3);
        let set = RuleSet::compile(&[RuleSpec {
            name: "r".into(), query: format!("~{lit}"), severity: Severity::Low, feeds: vec![], exclude: None, model: None,
        }]).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        let fired = !set.matches(&Document { body: &word, ..Document::default() }).is_empty();
        let same = [Lang::En, Lang::Fr, Lang::De]
            .into_iter()
            .any(|l| stem_word(l, &lit) == stem_word(l, &word));
        prop_assert_eq!(fired, same, "~{} on {}", lit, word);
    }

    /// Rules are only evaluated when a trigger literal occurred; `explain` evaluates every rule.
    /// The two must agree, or the trigger selection dropped a rule that should fire.
    #[test]
    fn candidate_selection_never_drops_a_firing_rule(
        queries in prop::collection::vec(query(), 1..6),
        words in prop::collection::vec(prop_oneof![
            "[a-zA-Z]{1,6}", Just("zone".to_string()), Just("Green-Zone".to_string()),
            Just("embassy's".to_string()), Just("ÉÜ".to_string()), Just("\u{0627}\u{0644}".to_string())
        ], 0..30),
    ) {
        let specs: Vec<RuleSpec> = queries.iter().enumerate().map(|(i, q)| RuleSpec {
            name: format!("r{i}"), query: q.clone(), severity: Severity::Low, feeds: vec![], exclude: None, model: None,
        }).collect();
        if let Ok(set) = RuleSet::compile(&specs) {
            let body = words.join(" ");
            let doc = Document { title: &body, body: &body, ..Document::default() };
            let fired: Vec<String> = set.matches(&doc).into_iter().map(|m| m.rule).collect();
            let explained: Vec<String> = set.explain(&doc).into_iter().filter(|e| e.fired).map(|e| e.rule).collect();
            prop_assert_eq!(fired, explained);
        }
    }
}

fn spec(name: &str, query: &str) -> RuleSpec {
    RuleSpec {
        name: name.into(),
        query: query.into(),
        severity: Severity::High,
        feeds: Vec::new(),
        exclude: None,
        model: None,
    }
}

fn fires(query: &str, body: &str) -> bool {
    let rs = RuleSet::compile(&[spec("r", query)]).unwrap_or_else(|e| panic!("{query}: {e:?}"));
    !rs.matches(&Document {
        body,
        ..Document::default()
    })
    .is_empty()
}

#[test]
fn stems_match_inflections_in_the_items_language() {
    let cases = [
        (
            "~storm",
            "Protesters stormed the embassy compound overnight",
            true,
        ),
        (
            "~storm",
            "Protesters storming the gates of the embassy",
            true,
        ),
        ("~storm", "A stormy debate in parliament", false),
        (
            "~embassy",
            "Several embassies closed their doors on Monday",
            true,
        ),
        (
            "~ambassade",
            "Les ambassades occidentales ont fermé leurs portes",
            true,
        ),
        (
            "~botschaft",
            "Mehrere Botschaften schlossen am Montag",
            true,
        ),
        (
            "~stürmten",
            "Demonstranten stürmten das Gelände der Botschaft",
            true,
        ),
        ("~سفارة", "اقتحم محتجون مبنى السفارة ليلا", true),
        ("~سفارة", "تجمع المحتجون امام السفارات الغربية", true),
        ("~سفارة", "والسفارتين مغلقتان", true),
        ("~سفارة", "سافر الوفد امس", false),
        ("~بغداد", "سقطت قذيفة في ببغداد ليلا", true),
        ("~بغداد", "اخبار البصرة اليوم", false),
        // Stems are whole words: no stem is a prefix of another word's stem.
        ("~arm", "Armed men fired at the gate", true),
        ("~arm", "The army moved in", false),
        ("storm", "Protesters stormed the compound", false),
    ];
    for (q, body, want) in cases {
        assert_eq!(fires(q, body), want, "{q} on {body:?}");
    }
}

#[test]
fn concepts_expand_and_hits_say_how_they_matched() {
    let concepts = [
        ConceptSpec {
            name: "attack".into(),
            terms: vec![
                "~storm".into(),
                "\"came under fire\"".into(),
                "@blast".into(),
            ],
        },
        ConceptSpec {
            name: "blast".into(),
            terms: vec!["explosion*".into()],
        },
    ];
    let rs = RuleSet::compile_with(&[spec("r", "embassy NEAR/5 @attack")], &concepts)
        .unwrap_or_else(|e| panic!("{e:?}"));
    let hits = |body: &str| -> Vec<(String, Option<String>)> {
        rs.matches(&Document {
            body,
            ..Document::default()
        })
        .into_iter()
        .flat_map(|m| m.terms)
        .map(|t| (t.term, t.via))
        .collect()
    };
    assert_eq!(
        hits("Crowds stormed the embassy"),
        [
            ("stormed".into(), Some("~storm in @attack".into())),
            ("embassy".into(), None),
        ]
    );
    assert_eq!(
        hits("The embassy came under fire; explosions were heard"),
        [
            ("embassy".into(), None),
            (
                "came under fire".into(),
                Some("\"came under fire\" in @attack".into())
            ),
            ("explosions".into(), Some("explosion* in @blast".into())),
        ]
    );
    assert!(hits("The embassy held a reception").is_empty());
    let ex = rs.explain(&Document {
        body: "Crowds of angry young men stormed the embassy in the capital on Sunday night, \
               witnesses said, and the police did nothing to stop them.",
        ..Document::default()
    });
    let text = ex[0].to_string();
    assert!(text.contains("(stems in language: en)"), "{text}");
    assert!(
        text.contains("body@26 \"stormed\" via ~storm in @attack"),
        "{text}"
    );
}

#[test]
fn undefined_concepts_are_refused_at_the_at_sign() {
    let errs = RuleSet::compile_with(&[spec("r", "embassy AND @atack")], &[])
        .err()
        .unwrap_or_default();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].column, 13);
    assert!(
        errs[0].message.contains("no concept named `atack`"),
        "{errs:?}"
    );
    // A broken concept is reported once, on the concept, not again on the rules that use
    // it; a rule's truly undefined concept still is.
    let bad = [ConceptSpec {
        name: "x".into(),
        terms: vec!["a AND b".into()],
    }];
    let errs = RuleSet::compile_with(&[spec("r", "@x OR @y")], &bad)
        .err()
        .unwrap_or_default();
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_eq!(errs[0].concept.as_deref(), Some("x"));
    assert!(
        errs[0].to_string().starts_with("concept `x`: term 1"),
        "{}",
        errs[0]
    );
    assert!(
        errs[1].message.contains("`y`") && errs[1].column == 7,
        "{errs:?}"
    );
}
