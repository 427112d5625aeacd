//! The default rule pack (`config/rules.toml`) against the labelled set and the seed article.
//!
//! Precision and recall are counted per (article, rule) pair over every rule of the pack, so a
//! rule firing on an article labelled for another rule is a false positive too.

use std::path::Path;

use feedwatch::rules::{Document, Field, RuleSet, RuleSpec, Severity};

#[derive(serde::Deserialize)]
struct Pack {
    rules: Vec<Raw>,
}

#[derive(serde::Deserialize)]
struct Raw {
    name: String,
    query: String,
    severity: Severity,
    #[serde(default)]
    feeds: Vec<String>,
    exclude: Option<String>,
}

fn pack() -> RuleSet {
    pack_with_names().0
}

fn pack_with_names() -> (RuleSet, Vec<String>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/rules.toml");
    let text = std::fs::read_to_string(&path).expect("config/rules.toml is readable");
    let pack: Pack = toml::from_str(&text).expect("config/rules.toml parses");
    let specs: Vec<RuleSpec> = pack
        .rules
        .into_iter()
        .map(|r| RuleSpec {
            name: r.name,
            query: r.query,
            severity: r.severity,
            feeds: r.feeds,
            exclude: r.exclude,
        })
        .collect();
    let names = specs.iter().map(|s| s.name.clone()).collect();
    let set = RuleSet::compile(&specs).unwrap_or_else(|errs| {
        let msgs: Vec<String> = errs.iter().map(ToString::to_string).collect();
        panic!("default pack does not compile:\n{}", msgs.join("\n"))
    });
    (set, names)
}

#[derive(serde::Deserialize)]
struct Labelled {
    article: Vec<Article>,
}

#[derive(serde::Deserialize)]
struct Article {
    id: String,
    title: String,
    body: String,
    expect: Vec<String>,
}

fn precision_recall(set: &RuleSet, articles: &[Article], names: &[String]) -> (f64, f64) {
    let (mut tp, mut fp, mut fneg) = (0u32, 0u32, 0u32);
    for a in articles {
        for e in &a.expect {
            assert!(names.contains(e), "{}: unknown rule `{e}` in expect", a.id);
        }
        let fired: Vec<String> = set
            .matches(&Document {
                title: &a.title,
                body: &a.body,
                ..Document::default()
            })
            .into_iter()
            .map(|m| m.rule)
            .collect();
        for name in names {
            match (fired.contains(name), a.expect.contains(name)) {
                (true, true) => tp += 1,
                (true, false) => {
                    fp += 1;
                    eprintln!("false positive: {name} on {}", a.id);
                }
                (false, true) => {
                    fneg += 1;
                    eprintln!("missed: {name} on {}", a.id);
                }
                (false, false) => {}
            }
        }
    }
    let p = f64::from(tp) / f64::from((tp + fp).max(1));
    let r = f64::from(tp) / f64::from((tp + fneg).max(1));
    eprintln!("tp {tp} fp {fp} fn {fneg}: precision {p:.3} recall {r:.3}");
    (p, r)
}

#[test]
fn default_pack_precision_and_recall_on_labelled_set() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rules_labelled/articles.toml");
    let text = std::fs::read_to_string(path).expect("labelled set is readable");
    let set: Labelled = toml::from_str(&text).expect("labelled set parses");
    assert!(
        set.article.len() >= 60,
        "only {} articles",
        set.article.len()
    );
    let positives = set.article.iter().filter(|a| !a.expect.is_empty()).count();
    assert!(positives >= 20 && set.article.len() - positives >= 20);
    let (rules, names) = pack_with_names();
    let (p, r) = precision_recall(&rules, &set.article, &names);
    println!(
        "labelled set ({} articles): precision {p:.3}, recall {r:.3}",
        set.article.len()
    );
    assert!(p >= 0.95, "precision {p:.3} below 0.95");
    assert!(r >= 0.95, "recall {r:.3} below 0.95");
}

#[test]
fn precision_recall_counts_mistakes() {
    // The scorer itself: a rule set that fires on everything must score badly on the set.
    let everything = RuleSet::compile(&[RuleSpec {
        name: "green-zone".into(),
        query: "NOT zzzzzz".into(),
        severity: Severity::Info,
        feeds: vec![],
        exclude: None,
    }])
    .expect("compiles");
    let articles = vec![
        Article {
            id: "a".into(),
            title: "x".into(),
            body: String::new(),
            expect: vec!["green-zone".into()],
        },
        Article {
            id: "b".into(),
            title: "y".into(),
            body: String::new(),
            expect: vec![],
        },
    ];
    let (p, r) = precision_recall(&everything, &articles, &["green-zone".to_string()]);
    assert_eq!((p, r), (0.5, 1.0));
}

#[test]
fn seed_article_fires_both_default_rules_with_readable_snippets() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed/article.txt");
    let text = std::fs::read_to_string(path).expect("seed article is readable");
    let (title, body) = text.split_once('\n').expect("seed has a title line");
    let doc = Document {
        title: title.trim(),
        summary: "",
        body,
        url:
            "https://www.newarab.com/news/iraq-taking-security-measures-prevent-us-embassy-closure",
        feed: "The New Arab",
        feed_tags: &[],
    };
    let matches = pack().matches(&doc);
    let names: Vec<&str> = matches.iter().map(|m| m.rule.as_str()).collect();
    assert!(names.contains(&"green-zone"), "fired: {names:?}");
    assert!(names.contains(&"embassy-security"), "fired: {names:?}");
    for m in &matches {
        eprintln!("{}: {}", m.rule, m.snippet);
        assert!(
            m.snippet.chars().count() <= 230,
            "snippet too long: {}",
            m.snippet
        );
        for t in &m.terms {
            let field_text = match t.field {
                Field::Title => doc.title,
                Field::Body => doc.body,
                other => panic!("unexpected field {other:?}"),
            };
            let at: String = field_text
                .chars()
                .skip(t.start)
                .take(t.end - t.start)
                .collect();
            assert_eq!(at, t.term, "offsets of {t:?}");
        }
    }
    let gz = matches
        .iter()
        .find(|m| m.rule == "green-zone")
        .expect("green-zone fired");
    assert!(gz.snippet.contains("«Green Zone»"), "{}", gz.snippet);
    let emb = matches
        .iter()
        .find(|m| m.rule == "embassy-security")
        .expect("embassy-security fired");
    assert!(emb.snippet.contains("«embassy»"), "{}", emb.snippet);
}

/// The bench farm (`../shared/bench/gen_farm.py`): every keyword item must fire a rule, no decoy
/// or plain item may. Reads the committed sample, or a full extraction named by
/// `FEEDWATCH_FARM_TSV` (see `tests/fixtures/rules_labelled/farm_extract.py`).
#[test]
fn default_pack_is_exact_on_the_bench_farm() {
    let path = std::env::var_os("FEEDWATCH_FARM_TSV").map_or_else(
        || {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/rules_labelled/farm_sample.tsv")
        },
        Into::into,
    );
    let text = std::fs::read_to_string(&path).expect("farm TSV is readable");
    let rules = pack();
    let (mut tp, mut fp, mut fneg, mut n) = (0u32, 0u32, 0u32, 0u32);
    for line in text.lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        let [id, label, title, body] = cols[..] else {
            panic!("bad farm line: {line:?}");
        };
        n += 1;
        let fired = !rules
            .matches(&Document {
                title,
                body,
                ..Document::default()
            })
            .is_empty();
        match (fired, label == "keyword") {
            (true, true) => tp += 1,
            (true, false) => {
                fp += 1;
                eprintln!("false positive ({label}): {id}");
            }
            (false, true) => {
                fneg += 1;
                eprintln!("missed: {id}");
            }
            (false, false) => {}
        }
    }
    let p = f64::from(tp) / f64::from((tp + fp).max(1));
    let r = f64::from(tp) / f64::from((tp + fneg).max(1));
    println!(
        "bench farm {} ({n} items): precision {p:.3}, recall {r:.3}",
        path.display()
    );
    assert!(
        tp >= 100,
        "too few keyword items ({tp}) for a meaningful check"
    );
    assert_eq!((fp, fneg), (0, 0), "precision {p:.3}, recall {r:.3}");
}
