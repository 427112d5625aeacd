//! Scores the extractor on the shared extraction corpus with `score.py`'s default metric
//! (bag of NFKC-lower-cased whitespace tokens; mean P/R/F1 over pages), so a regression in
//! the `extract` stage fails `cargo test`.
//!
//! Corpus: `$FEEDWATCH_SHARED_DIR/corpora/extraction`, else `../shared/corpora/extraction`
//! beside the crate. Missing corpus: the test prints "skipped" and passes, unless
//! `FEEDWATCH_REQUIRE_SHARED=1`. Set `FEEDWATCH_EXTRACT_OUT=DIR` to also write `DIR/<id>.txt`
//! for `python3 score.py DIR`.

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;

use feedwatch::extract::Extractor;
use unicode_normalization::UnicodeNormalization;

/// Mean F1 below this fails the test: issue #13 requires 0.97 on these pages (0.985 measured
/// on 2026-12-03), so a change that costs more than about a point fails.
const MIN_MEAN_F1: f64 = 0.97;

fn corpus_dir() -> Option<PathBuf> {
    let shared = std::env::var_os("FEEDWATCH_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("shared")
        });
    let dir = shared.join("corpora").join("extraction");
    if dir.join("ground-truth.json").is_file() {
        return Some(dir);
    }
    if std::env::var("FEEDWATCH_REQUIRE_SHARED").as_deref() == Ok("1") {
        panic!("FEEDWATCH_REQUIRE_SHARED=1 but {} not found", dir.display());
    }
    println!("skipped: extraction corpus {} not found", dir.display());
    None
}

/// `score.py`'s `tokens(text, "ws")`: NFKC, lower-case, split on whitespace.
fn bag(text: &str) -> HashMap<String, u32> {
    let norm: String = text.nfkc().collect::<String>().to_lowercase();
    let mut m = HashMap::new();
    for t in norm.split_whitespace() {
        *m.entry(t.to_string()).or_insert(0) += 1;
    }
    m
}

/// `score.py`'s `score_page` for n = 1: (precision, recall, f1).
fn score(truth: &str, pred: &str) -> (f64, f64, f64) {
    let (t, p) = (bag(truth), bag(pred));
    let nt: u32 = t.values().sum();
    let np: u32 = p.values().sum();
    let tp: u32 = p
        .iter()
        .map(|(k, v)| (*v).min(t.get(k).copied().unwrap_or(0)))
        .sum();
    if nt == 0 && np == 0 {
        return (1.0, 1.0, 1.0);
    }
    let prec = if np > 0 { tp as f64 / np as f64 } else { 0.0 };
    let rec = if nt > 0 { tp as f64 / nt as f64 } else { 1.0 };
    let f1 = if prec + rec > 0.0 {
        2.0 * prec * rec / (prec + rec)
    } else {
        0.0
    };
    (prec, rec, f1)
}

#[test]
fn metric_matches_score_py() {
    assert_eq!(score("a b b c", "a b c d"), (0.75, 0.75, 0.75));
    assert_eq!(score("", ""), (1.0, 1.0, 1.0));
    assert_eq!(score("x", ""), (0.0, 0.0, 0.0));
    // NFKC folds the full-width letters and the ligature; lower-casing the capitals.
    assert_eq!(score("ＡＢ ﬁ", "ab fi").2, 1.0);
}

#[test]
fn extraction_corpus_f1() {
    let Some(dir) = corpus_dir() else { return };
    let truth_src =
        std::fs::read_to_string(dir.join("ground-truth.json")).expect("read ground-truth.json");
    let truth: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&truth_src).expect("parse ground truth");
    let out_dir = std::env::var_os("FEEDWATCH_EXTRACT_OUT").map(PathBuf::from);
    if let Some(o) = &out_dir {
        std::fs::create_dir_all(o).expect("create FEEDWATCH_EXTRACT_OUT");
    }
    let ex = Extractor::default();
    let mut rows = Vec::new();
    for (id, v) in &truth {
        let body = v.get("articleBody").and_then(|b| b.as_str()).unwrap_or("");
        let url = v
            .get("url")
            .and_then(|u| u.as_str())
            .and_then(|u| url::Url::parse(u).ok());
        let gz =
            std::fs::File::open(dir.join("html").join(format!("{id}.html.gz"))).expect("open page");
        let mut html = String::new();
        flate2::read::GzDecoder::new(gz)
            .read_to_string(&mut html)
            .expect("pages are gzip'd UTF-8");
        let got = ex.extract(&html, url.as_ref());
        if let Some(o) = &out_dir {
            std::fs::write(o.join(format!("{id}.txt")), &got.text).expect("write output");
        }
        let (p, r, f) = score(body, &got.text);
        rows.push((
            f,
            p,
            r,
            id.clone(),
            v.get("url")
                .and_then(|u| u.as_str())
                .unwrap_or("")
                .to_string(),
        ));
    }
    let n = rows.len() as f64;
    let mean = |i: usize| rows.iter().map(|r| [r.0, r.1, r.2][i]).sum::<f64>() / n;
    let (f1, p, r) = (mean(0), mean(1), mean(2));
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    println!("worst pages:");
    for (f, p, r, id, url) in rows.iter().take(10) {
        println!(
            "  F1 {f:.3} P {p:.3} R {r:.3}  {}  {url}",
            id.get(..12).unwrap_or(id)
        );
    }
    println!("F1 {f1:.3} P {p:.3} R {r:.3} pages {}", rows.len());
    assert!(f1 >= MIN_MEAN_F1, "mean F1 {f1:.3} below {MIN_MEAN_F1}");
}
