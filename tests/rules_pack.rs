//! The rule packs against the labelled set and the seed article: the default pack
//! (`config/rules.toml`, concepts and `~stems`) and the surface-form pack
//! (`config/rules-surface.toml`, the default before issue #13: less CPU per item, far less
//! recall; see the README's *Rules*).
//!
//! The labelled set is `tests/fixtures/rules_labelled`: `articles.toml` (the first 73 cases; the
//! pack was tuned on them, so they count as `dev`) and `cases/{en,ar,fr,de}.toml` (each case
//! `dev` or `test`; see that folder's README for the labelling policy). Per language and split:
//! - recall = expected (case, rule) pairs that fired / expected pairs;
//! - false-alarm rate = cases labelled `[]` on which any rule fired / cases labelled `[]`;
//! - precision per rule = pairs that fired and were expected / pairs that fired.
//!
//! `cargo test --test rules_pack -- --nocapture` prints the tables. Issue #13's target on the
//! `test` split is recall >= 0.95 in every language and false alarms <= 3%; neither pack meets
//! it yet, so the held-out check is a floor at today's measured figures (a change that loses
//! recall or adds false alarms fails), and the target is printed beside them.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use feedwatch::rules::{Document, Field, RuleSet, RuleSpec, Severity};

/// The default pack: `@concepts` and `~stems`.
const DEFAULT_PACK: &str = "config/rules.toml";
/// The surface-form pack, the default before issue #13: faster, and far less recall.
const SURFACE_PACK: &str = "config/rules-surface.toml";

fn pack() -> RuleSet {
    pack_with_names(DEFAULT_PACK).0
}

/// A shipped pack, loaded by the config loader (so concepts and line numbers are checked the
/// way the daemon checks them).
fn pack_with_names(file: &str) -> (RuleSet, Vec<String>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let (file, set) = feedwatch::app::load_rule_file(&path, &[])
        .unwrap_or_else(|e| panic!("default pack does not load:\n{e}"));
    let unused = feedwatch::rules::unused_concepts(&file.rules, &file.concepts);
    assert!(unused.is_empty(), "unused concepts in the pack: {unused:?}");
    let names = file.rules.iter().map(|s| s.name.clone()).collect();
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

/// One case of `cases/*.toml` (fields the measure does not use are ignored).
#[derive(serde::Deserialize)]
struct Case {
    id: String,
    lang: String,
    split: String,
    title: String,
    body: String,
    expect: Vec<String>,
    /// From `articles.toml`, the set the pack was first tuned on.
    #[serde(skip)]
    first_set: bool,
}

#[derive(serde::Deserialize)]
struct CaseFile {
    case: Vec<Case>,
}

const LANGS: [&str; 4] = ["en", "ar", "fr", "de"];

/// Every labelled case: `articles.toml` as `dev` (language from the id's prefix), then
/// whatever `cases/*.toml` files exist.
#[allow(clippy::expect_used)] // a broken fixture should panic
fn labelled_set() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rules_labelled");
    let text = std::fs::read_to_string(dir.join("articles.toml")).expect("articles.toml");
    let old: Labelled = toml::from_str(&text).expect("articles.toml parses");
    let mut out: Vec<Case> = old
        .article
        .into_iter()
        .map(|a| {
            let rest = a.id.strip_prefix("neg-").unwrap_or(&a.id);
            let lang = LANGS
                .iter()
                .find(|l| rest.starts_with(&format!("{l}-")))
                .unwrap_or(&"en");
            Case {
                lang: lang.to_string(),
                split: "dev".into(),
                id: a.id,
                title: a.title,
                body: a.body,
                expect: a.expect,
                first_set: true,
            }
        })
        .collect();
    let mut files: Vec<_> = std::fs::read_dir(dir.join("cases"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "toml"));
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("case file is readable");
        let cf: CaseFile = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        out.extend(cf.case);
    }
    let mut ids = std::collections::HashSet::new();
    for c in &out {
        assert!(ids.insert(c.id.clone()), "duplicate case id {}", c.id);
        assert!(
            LANGS.contains(&c.lang.as_str()),
            "{}: lang {}",
            c.id,
            c.lang
        );
        assert!(
            ["dev", "test"].contains(&c.split.as_str()),
            "{}: split",
            c.id
        );
    }
    out
}

/// Counts for one (language, split) cell.
#[derive(Default, Clone)]
struct Cell {
    cases: u32,
    /// Expected (case, rule) pairs, and those that fired.
    expected: u32,
    found: u32,
    negatives: u32,
    false_alarms: u32,
    /// Per rule: pairs that fired, and of those the expected ones.
    fired: BTreeMap<String, (u32, u32)>,
}

impl Cell {
    fn recall(&self) -> f64 {
        f64::from(self.found) / f64::from(self.expected.max(1))
    }
    fn false_alarm_rate(&self) -> f64 {
        f64::from(self.false_alarms) / f64::from(self.negatives.max(1))
    }
    fn add(&mut self, o: &Cell) {
        self.cases += o.cases;
        self.expected += o.expected;
        self.found += o.found;
        self.negatives += o.negatives;
        self.false_alarms += o.false_alarms;
        for (r, (f, t)) in &o.fired {
            let e = self.fired.entry(r.clone()).or_default();
            e.0 += f;
            e.1 += t;
        }
    }
}

/// Scores `cases` per (language, split); misses and false alarms go to stderr.
fn score(set: &RuleSet, names: &[String], cases: &[Case]) -> BTreeMap<(String, String), Cell> {
    let mut cells: BTreeMap<(String, String), Cell> = BTreeMap::new();
    for c in cases {
        for e in &c.expect {
            assert!(names.contains(e), "{}: unknown rule `{e}` in expect", c.id);
        }
        let fired: Vec<String> = set
            .matches(&Document {
                title: &c.title,
                body: &c.body,
                ..Document::default()
            })
            .into_iter()
            .map(|m| m.rule)
            .collect();
        let cell = cells.entry((c.lang.clone(), c.split.clone())).or_default();
        cell.cases += 1;
        for e in &c.expect {
            cell.expected += 1;
            if fired.contains(e) {
                cell.found += 1;
            } else {
                eprintln!("missed ({}): {e} on {}", c.split, c.id);
            }
        }
        if c.expect.is_empty() {
            cell.negatives += 1;
            if !fired.is_empty() {
                cell.false_alarms += 1;
                eprintln!("false alarm ({}): {fired:?} on {}", c.split, c.id);
            }
        }
        for r in &fired {
            let e = cell.fired.entry(r.clone()).or_default();
            e.0 += 1;
            e.1 += u32::from(c.expect.contains(r));
        }
    }
    cells
}

fn print_table(cells: &BTreeMap<(String, String), Cell>, names: &[String]) {
    println!(
        "{:<6} {:<5} {:>5} {:>8} {:>7} {:>8} {:>7}  precision per rule",
        "split", "lang", "cases", "pairs", "recall", "negs", "FA"
    );
    for split in ["test", "dev"] {
        let mut all = Cell::default();
        for lang in LANGS
            .iter()
            .map(|l| l.to_string())
            .chain(["all".to_string()])
        {
            let cell = if lang == "all" {
                all.clone()
            } else {
                match cells.get(&(lang.clone(), split.to_string())) {
                    Some(c) => {
                        all.add(c);
                        c.clone()
                    }
                    None => continue,
                }
            };
            let prec: Vec<String> = names
                .iter()
                .map(|r| {
                    let (f, t) = cell.fired.get(r).copied().unwrap_or_default();
                    format!("{r} {:.3} ({t}/{f})", f64::from(t) / f64::from(f.max(1)))
                })
                .collect();
            println!(
                "{split:<6} {lang:<5} {:>5} {:>8} {:>7.3} {:>8} {:>6.1}%  {}",
                cell.cases,
                format!("{}/{}", cell.found, cell.expected),
                cell.recall(),
                format!("{}/{}", cell.false_alarms, cell.negatives),
                100.0 * cell.false_alarm_rate(),
                prec.join(", ")
            );
        }
    }
}

/// Held-out floors per language: (recall at least, false-alarm rate at most), measured on
/// 2026-12-03 and rounded down / up to leave room for nothing but rounding.
struct Floors {
    recall: [(&'static str, f64); 4],
    false_alarms: [(&'static str, f64); 4],
}

/// Measured on round 14 (2026-12-04): recall 0.500 / 0.417 / 0.458 / 0.562, false alarms
/// 25.0% / 8.3% / 20.8% / 12.5%. Round 13: recall 0.521 / 0.396 / 0.417 / 0.375, false alarms
/// 25.0% / 12.5% / 12.5% / 8.3%. Round 12: recall 0.500 / 0.354 / 0.500 / 0.375, false alarms
/// 12.5% / 16.7% / 4.2% / 16.7%. Round 11: recall 0.583 / 0.521 / 0.542 / 0.458, false alarms
/// 0.0% / 25.0% / 0.0% / 16.7%. Round 10: recall 0.625 / 0.542 / 0.417 / 0.500, false alarms
/// 4.2% / 8.3% / 4.2% / 8.3%.
const SURFACE_FLOORS: Floors = Floors {
    recall: [("en", 0.50), ("ar", 0.41), ("fr", 0.45), ("de", 0.56)],
    false_alarms: [("en", 0.26), ("ar", 0.09), ("fr", 0.21), ("de", 0.13)],
};

/// Measured once on round 14 (2026-12-04, 05:11 UTC; the pack tuned on dev with round 13 at
/// its false alarms, models retrained on dev with round 13): recall 1.000 / 1.000 / 0.979 /
/// 0.979 (190 of 192 pairs), false alarms 0 / 0 / 0 / 2 of 24 (2 of 96, 2.1%); without the
/// override 0.979 / 0.979 / 0.979 / 0.958; the queries alone 0.958 / 0.938 / 0.938 / 0.938,
/// the same 2 false alarms. Issue #13's target (recall >= 0.95 in every language, false
/// alarms <= 3%) holds; German alone has 2 of its 24 look-alikes (8.3%).
/// Measured once on round 13 (2026-12-04, 05:02 UTC), models retrained on dev with round 12,
/// a model scoring 0.9 or more overriding the exclude: recall 1.000 / 1.000 / 0.979 / 1.000
/// (191 of 192 pairs), false alarms 4.2% / 8.3% / 4.2% / 0.0% (4 of 96, all four raised by the
/// queries); the queries alone: recall 0.958 / 0.958 / 0.958 / 1.000, the same 4 false alarms.
/// Measured once on round 12 (2026-12-04) with the learned second stage (issue #13:
/// `config/models/*.fwm`, trained on `dev` only; a rule fires on its query OR its model, the
/// exclude vetoing both): recall 0.979 / 0.958 / 0.938 / 0.979 (185 of 192 pairs), false
/// alarms 4.2% / 4.2% / 8.3% / 0.0% (4 of 96); embassy-security's precision 0.910. The same
/// pack without models, on the same round: recall 0.917 / 0.938 / 0.875 / 0.917, false alarms
/// 4.2% / 4.2% / 4.2% / 0.0% (3 of 96): the models buy recall everywhere for one more false
/// alarm (French). Round 12 is 256 cases by two authors who never saw the pack, asked to
/// avoid the most obvious phrasing; the pack was tuned on dev at `f4b4b32`, round 11 included.
/// Earlier held-out rounds, each measured before it was read and retired to dev (recall en /
/// ar / fr / de; false alarms; queries only): round 11 0.979 / 0.958 / 0.917 / 0.958, 3 of 96; round 10
/// 0.917 / 0.979 / 0.938 / 0.917, 3 of 96; round 9 0.958 / 0.854 / 0.979 / 0.833, 8 of 96;
/// round 8 0.958 / 0.958 / 0.917 / 0.958, 6 of 96; round 7 0.917 / 0.958 / 0.979 / 0.938, 7 of
/// 96; round 6 0.979 / 0.958 / 0.979 / 0.917, 2 of 80; round 5 0.906 / 0.969 / 0.938 / 0.969,
/// 1 of 96; round 4 0.867 / 0.833 / 0.933 / 0.900, 9 of 96; round 3 0.969 / 0.938 / 0.938 /
/// 0.938, 6 of 96; round 1 0.919 / 0.952 / 0.879 / 0.939, 13.3% / 0.0% / 8.3% / 7.7%. On
/// round 12 the pack missed the issue's target (French recall, and false alarms); on round 13
/// it met the recall target but not the false alarms (4.2%); on round 14 it met both.
const DEFAULT_FLOORS: Floors = Floors {
    recall: [("en", 0.99), ("ar", 0.99), ("fr", 0.97), ("de", 0.97)],
    false_alarms: [("en", 0.01), ("ar", 0.01), ("fr", 0.01), ("de", 0.09)],
};

fn pack_on_the_labelled_set(file: &str, floors: &Floors) {
    let cases = labelled_set();
    let (rules, names) = pack_with_names(file);
    let cells = score(&rules, &names, &cases);
    println!("{file}:");
    print_table(&cells, &names);

    // The set the packs were first tuned on must stay solved.
    let first: Vec<Case> = cases.into_iter().filter(|c| c.first_set).collect();
    assert!(
        first.len() >= 60,
        "only {} cases in articles.toml",
        first.len()
    );
    let mut old = Cell::default();
    score(&rules, &names, &first)
        .values()
        .for_each(|c| old.add(c));
    let (fired, right) = old
        .fired
        .values()
        .fold((0, 0), |(f, t), (ff, tt)| (f + ff, t + tt));
    let precision = f64::from(right) / f64::from(fired.max(1));
    assert!(
        old.recall() >= 0.95,
        "{file}: articles.toml recall {:.3}",
        old.recall()
    );
    assert!(
        precision >= 0.95,
        "{file}: articles.toml precision {precision:.3}"
    );

    let mut failures = Vec::new();
    let mut held_out = 0;
    for ((lang, min_recall), (_, max_fa)) in floors.recall.iter().zip(&floors.false_alarms) {
        let Some(cell) = cells.get(&(lang.to_string(), "test".to_string())) else {
            continue;
        };
        held_out += cell.cases;
        println!(
            "{file} {lang} test: recall {:.3} (floor {min_recall:.3}, target 0.95), false alarms \
             {:.1}% (ceiling {:.1}%, target 3%)",
            cell.recall(),
            100.0 * cell.false_alarm_rate(),
            100.0 * max_fa
        );
        if cell.recall() < *min_recall {
            failures.push(format!(
                "{lang}: test recall {:.3} < {min_recall:.3}",
                cell.recall()
            ));
        }
        if cell.false_alarm_rate() > *max_fa {
            failures.push(format!(
                "{lang}: test false alarms {:.1}% > {:.1}%",
                100.0 * cell.false_alarm_rate(),
                100.0 * max_fa
            ));
        }
    }
    if held_out == 0 {
        eprintln!("no test-split cases in tests/fixtures/rules_labelled/cases: nothing held out");
    }
    assert!(failures.is_empty(), "{file}: {}", failures.join("\n"));
}

#[test]
fn surface_pack_on_the_labelled_set_per_language_and_split() {
    pack_on_the_labelled_set(SURFACE_PACK, &SURFACE_FLOORS);
}

#[test]
fn default_pack_on_the_labelled_set_per_language_and_split() {
    pack_on_the_labelled_set(DEFAULT_PACK, &DEFAULT_FLOORS);
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
        model: None,
    }])
    .expect("compiles");
    let case = |id: &str, split: &str, expect: &[&str]| Case {
        id: id.into(),
        lang: "fr".into(),
        split: split.into(),
        title: "x".into(),
        body: String::new(),
        expect: expect.iter().map(|e| e.to_string()).collect(),
        first_set: false,
    };
    let cases = [
        case("a", "test", &["green-zone"]),
        case("b", "test", &[]),
        case("c", "test", &[]),
        case("d", "dev", &[]),
    ];
    let cells = score(&everything, &["green-zone".to_string()], &cases);
    let test = &cells[&("fr".to_string(), "test".to_string())];
    assert_eq!((test.recall(), test.false_alarm_rate()), (1.0, 1.0));
    assert_eq!(test.fired["green-zone"], (3, 1), "precision 1/3");
    assert_eq!(
        cells[&("fr".to_string(), "dev".to_string())].false_alarms,
        1
    );
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
    // Adjacent matched words share one mark («protect Green Zone»).
    assert!(gz.snippet.contains("Green Zone»"), "{}", gz.snippet);
    let emb = matches
        .iter()
        .find(|m| m.rule == "embassy-security")
        .expect("embassy-security fired");
    assert!(emb.snippet.contains("«embassy»"), "{}", emb.snippet);
}

/// The bench farm (`../shared/bench/gen_farm.py`): every keyword item must fire a rule, no decoy
/// or plain item may, with either pack. Reads the committed sample, or a full extraction named
/// by `FEEDWATCH_FARM_TSV` (see `tests/fixtures/rules_labelled/farm_extract.py`). The farm's
/// bodies are word salad around one planted sentence, so they also catch an exclude that
/// vetoes on a word any story may contain ("museum", "film").
#[test]
fn packs_are_exact_on_the_bench_farm() {
    let path = std::env::var_os("FEEDWATCH_FARM_TSV").map_or_else(
        || {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/rules_labelled/farm_sample.tsv")
        },
        Into::into,
    );
    let text = std::fs::read_to_string(&path).expect("farm TSV is readable");
    for file in [SURFACE_PACK, DEFAULT_PACK] {
        let rules = pack_with_names(file).0;
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
                    eprintln!("{file}: false positive ({label}): {id}");
                }
                (false, true) => {
                    fneg += 1;
                    eprintln!("{file}: missed: {id}");
                }
                (false, false) => {}
            }
        }
        let p = f64::from(tp) / f64::from((tp + fp).max(1));
        let r = f64::from(tp) / f64::from((tp + fneg).max(1));
        println!(
            "{file} on bench farm {} ({n} items): precision {p:.3}, recall {r:.3}",
            path.display()
        );
        assert!(
            tp >= 100,
            "too few keyword items ({tp}) for a meaningful check"
        );
        assert_eq!(
            (fp, fneg),
            (0, 0),
            "{file}: precision {p:.3}, recall {r:.3}"
        );
    }
}

/// The coverage issue #13 asks of the concept pack, one short item each (written for this test):
/// inflections, idioms, demonyms, clitics, reopening, host-state duties; and its look-alikes.
#[test]
fn pack_covers_the_issue_13_vocabulary_and_keeps_look_alikes_out() {
    let gz = &["green-zone"][..];
    let emb = &["embassy-security"][..];
    let none: &[&str] = &[];
    let cases: [(&str, &str, &[&str]); 24] = [
        ("Baghdad's Green Zone came under fire", "Two projectiles were fired towards the fortified district before dawn, officials said.", gz),
        ("Iraqis walk into the Green Zone", "Iraqis were allowed into Baghdad's Green Zone on foot on Friday as authorities reopened its gates to the public.", gz),
        ("Green Zone in lockdown", "Security forces locked down Baghdad's Green Zone and sealed off the bridges ahead of Friday's protests.", gz),
        ("Diplomatic missions evacuated", "Several diplomatic missions evacuated their staff on Sunday as fighting neared the capital.", emb),
        ("Mob storms embassy", "An angry mob stormed the embassy compound and set fire to the reception building, witnesses said.", emb),
        ("Demonstranten stürmten Botschaft", "Hunderte Demonstranten stürmten am Abend das Gelände der Botschaft und rissen die Fahne herunter.", emb),
        ("Botschaft gestürmt", "Die Botschaft wurde am Freitag von einer aufgebrachten Menge gestürmt, die Polizei griff nicht ein.", emb),
        ("Mehrere Botschaften geschlossen", "Nach Drohungen gegen ihre Vertretungen haben mehrere Staaten ihre Botschaften vorübergehend geschlossen.", emb),
        ("L'ambassade envahie par des manifestants", "Des centaines de manifestants ont envahi l'ambassade samedi soir avant d'être dispersés par la police.", emb),
        ("Ambassade prise d'assaut", "L'ambassade a été prise d'assaut par une foule en colère qui a brisé les vitres du bâtiment.", emb),
        ("Les ambassades occidentales évacuées", "Plusieurs ambassades occidentales ont évacué leur personnel alors que les combats se rapprochaient.", emb),
        ("اقتحام السفارة", "اقتحم محتجون غاضبون مبنى السفارة وأضرموا النار في بوابتها الرئيسية.", emb),
        ("إجلاء موظفي السفارات", "بدأت دول عدة إجلاء موظفي سفاراتها مع تصاعد القتال في العاصمة.", emb),
        ("Host states must protect embassies", "The Vienna Convention puts a special duty on the host state to protect diplomatic missions against intrusion and damage.", emb),
        // Look-alikes.
        ("City extends its green zone", "The council will extend the car-free green zone around schools to improve air quality for cyclists and pedestrians.", none),
        ("Region moves into the green zone", "Infection rates fell and the region moves into the COVID green zone, so restaurants can reopen next week.", none),
        ("Green Zone on TV tonight", "Matt Damon stars in Green Zone, Paul Greengrass's thriller set in Baghdad in 2003.", none),
        ("Stay in the green zone", "Keep your easy runs in the heart-rate green zone and attack the hills later in the week.", none),
        ("Embassy Suites opens downtown", "The Embassy Suites hotel opened its new ballroom with a charity gala on Saturday.", none),
        ("Embassy extends visa hours", "The embassy will open its visa section on Saturdays after a security screening upgrade.", none),
        ("Eine klare Botschaft", "Der Papst sandte in seiner Osterbotschaft eine klare Botschaft des Friedens an die Welt.", none),
        ("Social security office closed", "The social security office next to the embassy will be closed on Monday for the holiday.", none),
        ("Embassy staff targeted by phishing", "Hackers sent phishing emails to embassy staff in a cybersecurity campaign, researchers said.", none),
        ("Tangier's International Zone", "A walking tour retraces the old International Zone of Tangier and its smugglers and spies.", none),
    ];
    let rules = pack_with_names(DEFAULT_PACK).0;
    let mut wrong = Vec::new();
    for (title, body, want) in cases {
        let got: Vec<String> = rules
            .matches(&Document {
                title,
                body,
                ..Document::default()
            })
            .into_iter()
            .map(|m| m.rule)
            .collect();
        if got != want {
            wrong.push(format!("{title}: fired {got:?}, want {want:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Through the binary: `check` names the stem or concept behind each word (text and JSON
/// `hits`), and `config check` points at a broken concept's file and line.
#[tokio::test]
async fn check_and_config_check_explain_stems_and_concepts() {
    let inst = common::Instance::new("");
    let article = inst.dir.path().join("a.txt");
    std::fs::write(
        &article,
        "Crowd ransacks embassy\nHundreds of angry men ransacked the embassy compound in the \
         capital on Friday night and smashed the windows, witnesses said.\n",
    )
    .expect("write article");
    let path = article.to_string_lossy().to_string();
    let out = inst.run(&["check", &path]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("ransacked (~ransack in @attack)"), "{text}");
    let out = inst.run(&["check", "--format", "json", &path]).await;
    let v = &common::json_lines(&out.stdout)[0];
    let hits = v["matches"][0]["hits"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        hits.iter()
            .any(|h| h["term"] == "ransacked" && h["via"] == "~ransack in @attack"),
        "{hits:?}"
    );

    std::fs::write(
        inst.dir.path().join("extra.toml"),
        "[[concepts]]\nname = \"loop\"\nterms = [\"@loop\"]\n",
    )
    .expect("write rule file");
    let cfg = std::fs::read_to_string(inst.config()).expect("config");
    std::fs::write(
        inst.config(),
        cfg.replacen("rule_files = [", "rule_files = [\"extra.toml\", ", 1),
    )
    .expect("rewrite config");
    let out = inst.run(&["config", "check"]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            "extra.toml:1: key `concepts`: concept `loop`: refers to itself: @loop → @loop"
        ),
        "{err}"
    );
}

/// Language detection (which picks the stemmer) on every labelled item's first 200 bytes: the
/// function-word vote alone, and with `whatlang` behind it. Prints both; the combination must
/// be right on at least 98% of the items.
#[test]
fn language_detection_on_the_labelled_set() {
    use feedwatch::rules::lang::{by_function_words, LangDetector, SAMPLE_BYTES};
    let cases = labelled_set();
    let detector = LangDetector::default();
    let (mut vote_right, mut vote_decided, mut right) = (0, 0, 0);
    for c in &cases {
        let mut sample = format!("{}\n{}", c.title, c.body);
        let mut cut = SAMPLE_BYTES.min(sample.len());
        while !sample.is_char_boundary(cut) {
            cut -= 1;
        }
        sample.truncate(cut);
        let vote = by_function_words(&sample).map(|l| l.code());
        vote_decided += u32::from(vote.is_some());
        vote_right += u32::from(vote == Some(c.lang.as_str()));
        let got = detector
            .detect_fields(&[&c.title, &c.body])
            .map(|l| l.code());
        right += u32::from(got == Some(c.lang.as_str()));
    }
    let n = cases.len() as f64;
    println!(
        "language of {} items: function words decide {vote_decided} (right {vote_right}); \
         with whatlang behind them right {right} ({:.3})",
        cases.len(),
        f64::from(right) / n
    );
    assert_eq!(vote_right, vote_decided, "the function-word vote was wrong");
    assert!(
        f64::from(right) / n >= 0.98,
        "accuracy {:.3}",
        f64::from(right) / n
    );
}
