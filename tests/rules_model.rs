//! The learned second stage through the binary: `check --explain` shows a rule's model score
//! and the words that weighed most, and an alert its model alone raised carries those words
//! as hits (`via: "model"`), so a reader can see why it fired.

#![allow(clippy::expect_used)] // a test panics when its fixture cannot be written

mod common;

use std::path::Path;

const ARTICLE: &str = "Rockets strike Baghdad's Green Zone\nSeveral rockets landed inside the \
    fortified Green Zone in Baghdad overnight, near government buildings and the US embassy, \
    and sirens sounded across the district, officials said.\n";

/// An instance whose only rule is `green-zone` with `query` and the shipped model, and the
/// path of the seed-like article written beside it.
fn instance_with_rule(query: &str) -> (common::Instance, String) {
    instance_with(query, "", ARTICLE)
}

/// As [`instance_with_rule`], with more lines for the rule (`extra`) and another article.
fn instance_with(query: &str, extra: &str, text: &str) -> (common::Instance, String) {
    let inst = common::Instance::new("");
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/models");
    let rules = inst.dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        format!(
            "[[rules]]\nname = \"green-zone\"\nquery = {query:?}\nmodel = {:?}\n{extra}",
            models.join("green-zone.fwm")
        ),
    )
    .expect("write rules");
    let cfg = std::fs::read_to_string(inst.config()).expect("config");
    let line = cfg
        .lines()
        .find(|l| l.starts_with("rule_files"))
        .unwrap_or("");
    std::fs::write(
        inst.config(),
        cfg.replacen(line, &format!("rule_files = [{:?}]", rules), 1),
    )
    .expect("rewrite config");
    let article = inst.dir.path().join("a.txt");
    std::fs::write(&article, text).expect("write article");
    let path = article.to_string_lossy().to_string();
    (inst, path)
}

#[tokio::test]
async fn check_explain_shows_the_model_score_and_top_ngrams() {
    let inst = common::Instance::new("");
    let article = inst.dir.path().join("a.txt");
    std::fs::write(&article, ARTICLE).expect("write article");
    let path = article.to_string_lossy().to_string();
    let out = inst.run(&["check", "--explain", &path]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("model (") && text.contains("green-zone.fwm): score"),
        "{text}"
    );
    assert!(text.contains(">= threshold 0.500"), "{text}");
    // Top words are shown as written, with their field, offset and strongest n-gram.
    assert!(text.contains("title@"), "{text}");
}

#[tokio::test]
async fn an_alert_raised_by_the_model_alone_carries_its_words() {
    // A query that never matches, woken by "baghdad" (a NOT wakes nothing): only the model
    // can make the rule fire, and it reads the item because the item names Baghdad.
    let (inst, path) = instance_with_rule("baghdad AND NOT baghdad");

    let out = inst.run(&["check", "--explain", &path]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("MATCH (by its model)"), "{text}");

    let out = inst.run(&["check", "--format", "json", &path]).await;
    let v = &common::json_lines(&out.stdout)[0];
    let hits = v["matches"][0]["hits"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!hits.is_empty(), "{v}");
    assert!(hits.iter().all(|h| h["via"] == "model"), "{hits:?}");
    assert!(
        hits.iter()
            .any(|h| ARTICLE.contains(h["term"].as_str().unwrap_or("\u{0}"))),
        "{hits:?}"
    );
}

/// The model reads only items that hold a word its rule's query needs: with a query whose
/// only word the article lacks, the model's score is shown but not counted, and nothing fires.
#[tokio::test]
async fn the_model_does_not_count_on_an_item_without_the_querys_words() {
    let (inst, path) = instance_with_rule("zzqqxx");
    let out = inst.run(&["check", "--explain", &path]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(": no match"), "{text}");
    assert!(
        text.contains(">= threshold") && text.contains("not counted"),
        "{text}"
    );
    let out = inst.run(&["check", "--format", "json", &path]).await;
    let v = &common::json_lines(&out.stdout)[0];
    assert!(v["matches"].as_array().is_none_or(Vec::is_empty), "{v}");
}

/// The verdict line of `check --explain` for the only rule.
async fn verdict(inst: &common::Instance, path: &str) -> String {
    let out = inst.run(&["check", "--explain", path]).await;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.lines()
        .find(|l| l.starts_with("rule `green-zone`"))
        .map_or(text.clone(), str::to_string)
}

/// `model_overrides_exclude_at`: an exclude that also trips on a real story (here "sirens")
/// does not veto a model that is sure; without the key it does.
#[tokio::test]
async fn a_sure_model_overrides_the_exclude() {
    let rule = |extra: &str| format!("exclude = \"sirens\"\n{extra}");
    let (inst, path) = instance_with("\"green zone\"", &rule(""), ARTICLE);
    let line = verdict(&inst, &path).await;
    assert!(line.ends_with("suppressed by exclude"), "{line}");
    let keys = rule("model_overrides_exclude_at = 0.9\n");
    let (inst, path) = instance_with("\"green zone\"", &keys, ARTICLE);
    let line = verdict(&inst, &path).await;
    assert!(
        line.ends_with("MATCH (its model overrides the exclude)"),
        "{line}"
    );
    // A value outside [threshold, 1] is a config error naming the key.
    let (inst, _) = instance_with("x", "model_overrides_exclude_at = 0.3\n", ARTICLE);
    let out = inst.run(&["config", "check"]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("rules.model_overrides_exclude_at"),
        "{err}"
    );
}

/// The shipped models are what `feedwatch model train --split dev` gives today, byte for byte
/// (the command's training, through the library): a change to the n-grams, their hash, the
/// normaliser, the TF-IDF or the training that would silently change the models, or an edited
/// model file, fails here. Retrain with the README's commands when the change is meant.
#[test]
fn shipped_models_are_the_dev_split_retrained() {
    use feedwatch::rules::model::train::{Design, Params};
    use feedwatch::rules::model::{cases, file, ItemFeatures};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dev: Vec<cases::Case> = cases::load(&root.join("tests/fixtures/rules_labelled"))
        .expect("labelled cases")
        .into_iter()
        .filter(|c| c.split == "dev")
        .collect();
    let items: Vec<ItemFeatures> = dev
        .iter()
        .map(|c| ItemFeatures::from_text(&c.title, &c.body))
        .collect();
    let p = Params::default();
    let design = Design::new(&items, p.min_df);
    for rule in ["green-zone", "embassy-security"] {
        let labels: Vec<bool> = dev
            .iter()
            .map(|c| c.expect.iter().any(|e| e == rule))
            .collect();
        let retrained = file::to_bytes(&design.train(rule, &labels, &p));
        let shipped =
            std::fs::read(root.join(format!("config/models/{rule}.fwm"))).expect("shipped model");
        assert!(
            retrained == shipped,
            "config/models/{rule}.fwm is not the dev split retrained ({} bytes against {}): \
             feedwatch model train --cases tests/fixtures/rules_labelled --rule {rule} \
             --split dev --out config/models/{rule}.fwm",
            retrained.len(),
            shipped.len()
        );
    }
}
