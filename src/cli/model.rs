//! `feedwatch model`: train a rule's model on the labelled cases, and measure a pack with its
//! models the way `tests/rules_pack.rs` does.
//!
//! Why a subcommand and not a script: the models are trained by the same code that scores
//! them at run time (features, hash, normaliser), deterministically, with no Python in the
//! build, CI or the daemon; anyone can rebuild a shipped model byte for byte and check it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;

use feedwatch::rules::model::cases::{self, Case};
use feedwatch::rules::model::train::{Design, Params};
use feedwatch::rules::model::{file, ItemFeatures, Model};
use feedwatch::rules::{Document, RuleSet, RuleSpec};

/// `model` subcommands.
#[derive(Debug, Subcommand)]
pub enum ModelAction {
    /// Train one rule's model on the labelled cases of a split and write the model file.
    ///
    /// Example: feedwatch model train --cases tests/fixtures/rules_labelled --rule green-zone
    /// --split dev --out config/models/green-zone.fwm
    Train {
        /// The labelled set's folder.
        #[arg(long, value_name = "DIR")]
        cases: PathBuf,
        /// The rule the model is for (cases list it in `expect` when relevant).
        #[arg(long)]
        rule: String,
        /// Train on this split only: dev (never test, for a shipped model) or all.
        #[arg(long, default_value = "dev")]
        split: String,
        /// The model file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Inverse regularisation strength.
        #[arg(long, default_value_t = 30.0)]
        c: f64,
        /// The model's default threshold.
        #[arg(long, default_value_t = 0.5)]
        threshold: f32,
    },
    /// Measure a rule file (with its models) on a split: recall and false alarms per language.
    ///
    /// Example: feedwatch model eval --cases tests/fixtures/rules_labelled --rules
    /// config/rules.toml --split test
    Eval {
        /// The labelled set's folder.
        #[arg(long, value_name = "DIR")]
        cases: PathBuf,
        /// The rule file.
        #[arg(long, value_name = "FILE")]
        rules: PathBuf,
        /// dev, test or all.
        #[arg(long, default_value = "test")]
        split: String,
    },
    /// The retro protocol: for each round k, train on the rounds before it and measure on
    /// round k: the queries alone, the models alone, and both (with and without the exclude
    /// vetoing the model).
    ///
    /// Example: feedwatch model retro --cases tests/fixtures/rules_labelled --rules
    /// config/rules.toml --from 6 --to 11
    Retro {
        /// The labelled set's folder.
        #[arg(long, value_name = "DIR")]
        cases: PathBuf,
        /// The rule file (its rules' queries and excludes; its models are not used).
        #[arg(long, value_name = "FILE")]
        rules: PathBuf,
        /// First round measured.
        #[arg(long, default_value_t = 6)]
        from: u32,
        /// Last round measured.
        #[arg(long, default_value_t = 11)]
        to: u32,
        /// Inverse regularisation strength.
        #[arg(long, default_value_t = 30.0)]
        c: f64,
        /// The models' threshold.
        #[arg(long, default_value_t = 0.5)]
        threshold: f32,
        /// The score at or above which a model overrides its rule's exclude (a rule's
        /// `model_overrides_exclude_at`).
        #[arg(long, value_name = "SCORE")]
        overrides_exclude_at: Option<f32>,
        /// Also write every measured case's verdicts here, one line per case and rule
        /// (tab-separated: round, id, lang, rule, relevant, query, exclude, score), to study
        /// other ways of combining the two stages without retraining.
        #[arg(long, value_name = "FILE")]
        scores: Option<PathBuf>,
    },
}

/// Runs a `model` subcommand.
///
/// # Errors
/// Unreadable cases, rule file or model file.
pub fn run(action: &ModelAction) -> Result<u8> {
    match action {
        ModelAction::Train {
            cases,
            rule,
            split,
            out,
            c,
            threshold,
        } => train(cases, rule, split, out, &params(*c, *threshold)),
        ModelAction::Eval {
            cases,
            rules,
            split,
        } => eval(cases, rules, split),
        ModelAction::Retro {
            cases,
            rules,
            from,
            to,
            c,
            threshold,
            overrides_exclude_at,
            scores,
        } => retro(
            cases,
            rules,
            *from..=*to,
            &params(*c, *threshold),
            *overrides_exclude_at,
            scores.as_deref(),
        ),
    }
}

fn params(c: f64, threshold: f32) -> Params {
    Params {
        c,
        threshold,
        ..Params::default()
    }
}

fn load_cases(dir: &Path, split: &str) -> Result<Vec<Case>> {
    let all = cases::load(dir)?;
    Ok(all
        .into_iter()
        .filter(|c| split == "all" || c.split == split)
        .collect())
}

fn features(cases: &[Case]) -> Vec<ItemFeatures> {
    cases
        .iter()
        .map(|c| ItemFeatures::from_text(&c.title, &c.body))
        .collect()
}

fn train_models(cases: &[Case], rules: &[&str], p: &Params) -> Vec<Model> {
    let design = Design::new(&features(cases), p.min_df);
    rules
        .iter()
        .map(|r| {
            let labels: Vec<bool> = cases
                .iter()
                .map(|c| c.expect.iter().any(|e| e == r))
                .collect();
            design.train(r, &labels, p)
        })
        .collect()
}

fn train(dir: &Path, rule: &str, split: &str, out: &Path, p: &Params) -> Result<u8> {
    let cases = load_cases(dir, split)?;
    let model = train_models(&cases, &[rule], p)
        .pop()
        .context("no model trained")?;
    file::save(&model, out)?;
    let size = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    println!(
        "{}: rule `{rule}`, {} cases ({split}), {} buckets, {size} bytes",
        out.display(),
        cases.len(),
        model.buckets.len()
    );
    Ok(0)
}

/// Per language: expected pairs, found, negatives, false alarms.
type Tally = BTreeMap<String, [u32; 4]>;

/// Adds one case's verdict (`fired`: the rules that fired) to the tally.
fn tally(t: &mut Tally, case: &Case, fired: &[String]) {
    for key in [case.lang.clone(), "all".to_string()] {
        let cell = t.entry(key).or_default();
        for e in &case.expect {
            cell[0] += 1;
            cell[1] += u32::from(fired.contains(e));
        }
        if case.expect.is_empty() {
            cell[2] += 1;
            cell[3] += u32::from(!fired.is_empty());
        }
    }
}

fn print_tally(label: &str, t: &Tally) {
    let cells: Vec<String> = ["en", "ar", "fr", "de", "all"]
        .iter()
        .filter_map(|l| t.get(*l).map(|c| (l, c)))
        .map(|(l, c)| {
            let recall = f64::from(c[1]) / f64::from(c[0].max(1));
            format!("{l} {recall:.3} {}/{}", c[3], c[2])
        })
        .collect();
    println!("{label:<28} {}", cells.join("  "));
}

fn eval(dir: &Path, rules: &Path, split: &str) -> Result<u8> {
    let cases = load_cases(dir, split)?;
    let (_, set) = feedwatch::app::load_rule_file(rules, &[])?;
    let mut t = Tally::new();
    for c in &cases {
        let fired: Vec<String> = set.matches(&doc(c)).into_iter().map(|m| m.rule).collect();
        tally(&mut t, c, &fired);
    }
    println!(
        "{} on {} {split} cases (recall, false alarms/negatives):",
        rules.display(),
        cases.len()
    );
    print_tally("", &t);
    Ok(0)
}

fn doc(c: &Case) -> Document<'_> {
    Document {
        title: &c.title,
        body: &c.body,
        ..Document::default()
    }
}

/// For each case and rule: (query held, exclude held).
fn query_verdicts(set: &RuleSet, c: &Case) -> Vec<(bool, bool)> {
    set.explain(&doc(c))
        .into_iter()
        .map(|e| (e.query.held, e.exclude.is_some_and(|x| x.held)))
        .collect()
}

fn retro(
    dir: &Path,
    rules: &Path,
    rounds: std::ops::RangeInclusive<u32>,
    p: &Params,
    overrides_exclude_at: Option<f32>,
    scores: Option<&Path>,
) -> Result<u8> {
    let all = cases::load(dir)?;
    let mut tsv = String::from("round\tid\tlang\trule\trelevant\tquery\texclude\tscore\n");
    let (file, _) = feedwatch::app::load_rule_file(rules, &[])?;
    let specs: Vec<RuleSpec> = file
        .rules
        .iter()
        .map(|s| RuleSpec {
            model: None,
            ..s.clone()
        })
        .collect();
    let set = RuleSet::compile_with(&specs, &file.concepts)
        .map_err(|e| anyhow::anyhow!("{} does not compile: {e:?}", rules.display()))?;
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    const METHODS: [&str; 4] = [
        "queries",
        "models",
        "queries OR models",
        "OR, exclude not on model",
    ];
    let mut total: Vec<Tally> = vec![Tally::new(); METHODS.len()];
    for k in rounds {
        let train: Vec<Case> = all.iter().filter(|c| c.round() < k).cloned().collect();
        let test: Vec<&Case> = all.iter().filter(|c| c.round() == k).collect();
        let models = train_models(&train, &names, p);
        let mut per: Vec<Tally> = vec![Tally::new(); METHODS.len()];
        for c in test {
            let feats = ItemFeatures::from_text(&c.title, &c.body);
            let verdicts = query_verdicts(&set, c);
            let mut fired: Vec<Vec<String>> = vec![Vec::new(); METHODS.len()];
            for ((name, m), (q, x)) in names.iter().zip(&models).zip(verdicts) {
                let score = feats.score_with(m);
                let relevant = c.expect.iter().any(|e| e == name);
                tsv.push_str(&format!(
                    "{k}\t{}\t{}\t{name}\t{relevant}\t{q}\t{x}\t{score}\n",
                    c.id, c.lang
                ));
                let by_model = score >= m.threshold;
                let x_holds = x && !overrides_exclude_at.is_some_and(|v| score >= v);
                let votes = [
                    q && !x,
                    by_model,
                    (q || by_model) && !x_holds,
                    (q && !x) || by_model,
                ];
                for (f, v) in fired.iter_mut().zip(votes) {
                    if v {
                        f.push(name.to_string());
                    }
                }
            }
            for ((t, tt), f) in per.iter_mut().zip(total.iter_mut()).zip(&fired) {
                tally(t, c, f);
                tally(tt, c, f);
            }
        }
        println!("round {k}: trained on {} cases", train.len());
        for (m, t) in METHODS.iter().zip(&per) {
            print_tally(m, t);
        }
    }
    println!("all rounds:");
    for (m, t) in METHODS.iter().zip(&total) {
        print_tally(m, t);
    }
    if let Some(path) = scores {
        std::fs::write(path, tsv).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(0)
}
