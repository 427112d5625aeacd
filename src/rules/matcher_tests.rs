//! Tests of the one-pass matcher (`matcher.rs`), kept apart so that file stays readable.

use super::super::RuleSet;
use super::*;

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
fn table() {
    let cases = [
        ("embassy", "The Embassy was hit", true),
        ("embassy", "embassies were hit", false),
        ("embass*", "embassies were hit", true),
        ("\"green zone\"", "the GREEN-ZONE in Baghdad", true),
        ("\"green zone\"", "green and zone", false),
        ("#GreenZone", "Rockets hit the green zone", true),
        ("\"green zone\"", "#GreenZone trending", true),
        ("ambassade", "L'Ambassade de France", true),
        ("sécurité", "SECURITE renforcée", true),
        ("\"المنطقة الخضراء\"", "صواريخ على المِنطقةِ الخضراءِ", true),
        ("أمن", "امن البلاد", true),
        ("أمن", "قوات الامن", false),
        ("embassy", "the embassy's gate", true),
        ("a NOT b", "a c", true),
        ("a NOT b", "a b", false),
        ("NOT zzz", "anything at all", true),
        ("NOT zzz", "", true),
        ("x OR NOT y", "nothing", true),
        ("rocket NEAR/2 embassy", "rocket hit the embassy", true),
        ("rocket NEAR/1 embassy", "rocket hit the embassy", false),
        ("embassy NEAR/2 rocket", "rocket hit the embassy", true),
        ("embassy ONEAR/2 rocket", "rocket hit the embassy", false),
        ("rocket ONEAR/2 embassy", "rocket hit the embassy", true),
        (
            "\"green zone\" NEAR/3 (rocket* OR drone*)",
            "drones over the green zone",
            true,
        ),
        (
            "\"green zone\" NEAR/3 (rocket* OR drone*)",
            "drones over the old town of the green zone",
            false,
        ),
        ("rocket* NEAR/1 rocket*", "rockets and rockets", true),
        ("rocket* NEAR/1 rocket*", "one rocket only", false),
        ("title:embassy", "embassy", false),
        ("url:embassy", "embassy", false),
        ("and", "this and that", true),
        ("a b OR c", "c", true),
        ("a b OR c", "a", false),
        ("straße", "STRASSE", true),
        // Every key width of the lexicon (≤ 8, 9–16, > 16 bytes), at the end of the text
        // and before more text, whole and as prefixes.
        ("ab", "ab", true),
        ("abcdefgh", "abcdefghi", false),
        ("abcdefghi", "abcdefgh", false),
        ("abcdefghi", "x abcdefghi y", true),
        ("counterterrorism", "counterterrorism", true),
        ("counterterrorism", "counterterrorisms", false),
        (
            "internationalisation",
            "the Internationalisation effort",
            true,
        ),
        ("internationalisation", "internationalisations", false),
        ("internationalis*", "internationalisation", true),
        ("abcdefgh*", "abcdefghijklmnopqrstu", true),
        ("internationalisat*", "internationalisation", true),
        ("internationalisat*", "internationalisa", false),
        ("\"green zon*\"", "green zones", true),
        ("\"green zon*\"", "green", false),
        ("\"green zone\"", "green zon", false),
        ("المنط*", "المنطقة", true),
        ("المنط*", "المن", false),
    ];
    for (q, body, want) in cases {
        assert_eq!(fires(q, body), want, "{q} on {body:?}");
    }
}

#[test]
fn fields_exclude_feeds() {
    let mut s = spec("r", "title:embassy OR url:\"green zone\" OR feed:iraqi");
    s.exclude = Some("suites".into());
    s.feeds = vec!["Iraq".into()];
    let rs = RuleSet::compile(&[s]).unwrap_or_else(|e| panic!("{e:?}"));
    let tags = vec!["IRAQ".to_string()];
    let doc = |title, url, feed, tags: &'static [String]| Document {
        title,
        url,
        feed,
        feed_tags: tags,
        ..Document::default()
    };
    let tags: &'static [String] = Box::leak(tags.into_boxed_slice());
    assert_eq!(rs.matches(&doc("Embassy hit", "", "x", tags)).len(), 1);
    assert_eq!(
        rs.matches(&doc("Embassy hit", "", "x", &[])).len(),
        0,
        "feed filter"
    );
    assert_eq!(
        rs.matches(&doc("Embassy Suites", "", "iraq", &[])).len(),
        0,
        "exclude"
    );
    assert_eq!(
        rs.matches(&doc("", "https://x.org/green-zone", "iraq", &[]))
            .len(),
        1
    );
    assert_eq!(rs.matches(&doc("", "", "Iraqi News", tags)).len(), 1);
}

#[test]
fn terms_are_sorted_deduplicated_and_in_chars() {
    let rs = RuleSet::compile(&[spec("r", "embassy OR embass* OR \"المنطقة الخضراء\"")])
        .unwrap_or_else(|e| panic!("{e:?}"));
    let m = rs.matches(&Document {
        title: "é embassy",
        body: "في المنطقة الخضراء و embassy’s",
        ..Document::default()
    });
    let terms: Vec<(Field, &str, usize, usize)> = m[0]
        .terms
        .iter()
        .map(|t| (t.field, t.term.as_str(), t.start, t.end))
        .collect();
    assert_eq!(
        terms,
        [
            (Field::Title, "embassy", 2, 9),
            (Field::Body, "المنطقة الخضراء", 3, 18),
            (Field::Body, "embassy", 21, 28),
        ]
    );
}

#[test]
fn large_rule_sets_keep_every_kind_of_hit() {
    let mut specs: Vec<RuleSpec> = (0..1_200)
        .map(|i| spec(&format!("w{i}"), &format!("word{i}")))
        .collect();
    specs.push(spec("prefix", "secur*"));
    specs.push(spec("phrase", "\"green zone\""));
    specs.push(spec("not", "NOT zzz"));
    specs.push(spec("near", "embassy NEAR/2 rocket*"));
    let rs = RuleSet::compile(&specs).unwrap_or_else(|e| panic!("{e:?}"));
    let doc = Document {
        body: "Word7 security GREEN-zone word1199 xword5 word55x rockets hit the embassy's gate",
        ..Document::default()
    };
    let fired: Vec<String> = rs.matches(&doc).into_iter().map(|m| m.rule).collect();
    assert_eq!(fired, ["w7", "w1199", "prefix", "phrase", "not", "near"]);
    let explained: Vec<String> = rs
        .explain(&doc)
        .into_iter()
        .filter(|e| e.fired)
        .map(|e| e.rule)
        .collect();
    assert_eq!(fired, explained);
}

#[test]
fn reused_buffers_keep_nothing_of_the_last_item() {
    let rs = RuleSet::compile(&[spec("t", "title:embassy"), spec("b", "rocket*")])
        .unwrap_or_else(|e| panic!("{e:?}"));
    let doc = |title, body| Document {
        title,
        body,
        ..Document::default()
    };
    let fired = |d: &Document| -> Vec<String> {
        let m: Vec<String> = rs.matches(d).into_iter().map(|m| m.rule).collect();
        let e: Vec<String> = (rs.explain(d).into_iter())
            .filter(|e| e.fired)
            .map(|e| e.rule)
            .collect();
        assert_eq!(m, e);
        m
    };
    assert_eq!(fired(&doc("Embassy hit", "rockets fired")), ["t", "b"]);
    assert!(fired(&doc("", "embassy")).is_empty());
    assert_eq!(fired(&doc("x", "a rocket")), ["b"]);
    assert!(fired(&doc("", "")).is_empty());
}

#[test]
fn errors_are_all_reported() {
    let mut bad = spec("b", "ok");
    bad.exclude = Some("(x".into());
    let errs = RuleSet::compile(&[spec("a", "x AND"), bad, spec("c", "fine"), spec("c", "dup")])
        .err()
        .unwrap_or_default();
    let got: Vec<(&str, bool)> = errs
        .iter()
        .map(|e| (e.rule.as_str(), e.in_exclude))
        .collect();
    assert_eq!(got, [("a", false), ("b", true), ("c", false)]);
}

/// A prefix literal that wakes no rule is found only for the items whose woken rules read it
/// (`Lexicon::scan_lazy`). The matches and explanations must be those of the same rules with
/// every prefix made eager (a rule of the prefix alone makes it wake one), whether an item
/// needs a few prefixes or all of them, of two bytes to more than sixteen, in two scripts.
#[test]
fn lazy_prefixes_find_what_eager_ones_do() {
    let prefixes: Vec<String> = (0..12)
        .map(|i| match i % 4 {
            0 => format!("pre{i}x"),
            1 => format!("protectionandsecurity{i}"),
            2 => format!("حماية{i}"),
            _ => format!("q{i}"),
        })
        .collect();
    let mut lazy = Vec::new();
    for (i, p) in prefixes.iter().enumerate() {
        lazy.push(spec(&format!("and{i}"), &format!("{p}* AND w{i}")));
        lazy.push(spec(&format!("near{i}"), &format!("w{i} NEAR/2 {p}*")));
        let mut x = spec(&format!("exclude{i}"), &format!("v{i}"));
        x.exclude = Some(format!("{p}*"));
        lazy.push(x);
    }
    let mut eager = lazy.clone();
    eager.extend(
        (prefixes.iter().enumerate()).map(|(i, p)| spec(&format!("e{i}"), &format!("{p}*"))),
    );
    let (lazy, eager) = (RuleSet::compile(&lazy), RuleSet::compile(&eager));
    let (lazy, eager) = (
        lazy.unwrap_or_else(|e| panic!("{e:?}")),
        eager.unwrap_or_else(|e| panic!("{e:?}")),
    );
    let every: Vec<String> = (0..12)
        .map(|i| format!("w{i} {p}more v{i} {p}", p = prefixes[i]))
        .collect();
    let bodies = [
        // A few woken rules read prefixes.
        format!(
            "w1 {p}tection and w2 v2 {q}ق",
            p = prefixes[1],
            q = prefixes[2]
        ),
        format!(
            "w0 {p} then {p}y v0 v3 {q}zz",
            p = prefixes[0],
            q = prefixes[3]
        ),
        // All of them.
        every.join(" "),
        // Prefixes, but no rule reading them woken.
        prefixes
            .iter()
            .map(|p| format!("{p}s"))
            .collect::<Vec<_>>()
            .join(" "),
    ];
    for body in &bodies {
        let doc = Document {
            title: "w4 v5",
            body,
            ..Document::default()
        };
        let ours = |m: &Match| !m.rule.starts_with('e') || m.rule.starts_with("exclude");
        let got: Vec<Match> = lazy.matches(&doc);
        let want: Vec<Match> = eager.matches(&doc).into_iter().filter(ours).collect();
        assert_eq!(format!("{got:?}"), format!("{want:?}"), "{body}");
        assert!(!got.is_empty(), "{body}");
        let explained: Vec<String> = (lazy.explain(&doc).into_iter())
            .filter(|e| e.fired)
            .map(|e| e.rule)
            .collect();
        let fired: Vec<String> = got.into_iter().map(|m| m.rule).collect();
        assert_eq!(explained, fired, "{body}");
    }
}

/// A rule that reads more than `LAZY_PER_RULE` prefixes that wake nothing keeps them eager: an
/// item that wakes it would search every token's heads a second time.
#[test]
fn a_rule_of_many_prefixes_keeps_them_eager() {
    let specs = [
        spec("few", "w AND (a1* OR a2*)"),
        spec("many", "v NEAR/3 (b1* OR b2* OR b3* OR b4* OR b5*)"),
        spec("shared", "u AND (a1* OR b1*)"),
    ];
    let c = Compiled::new(&specs, &[]).unwrap_or_else(|e| panic!("{e:?}"));
    let lazy: Vec<usize> = c.rules.iter().map(|r| r.lazy.len()).collect();
    // `b1*` is eager for every rule, since `many` keeps it so.
    assert_eq!(lazy, [2, 0, 1]);
    assert_eq!(c.lexicon.lazy_pats().len(), 2);
}
