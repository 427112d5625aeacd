//! The learned second stage of a rule: a logistic regression over character n-grams.
//!
//! Why: a rule's query lists words, and every held-out round of the labelled set found
//! stories told in words nobody listed (recall 0.91–0.95 per fresh round). A linear model over
//! the n-grams of the words generalises to inflections, clitics and paraphrases it was never
//! shown, and the query keeps what it is good at (precision, and hits a reader can check). A
//! rule with a model fires when its query matches **or** the model's score reaches its
//! threshold; its `exclude` vetoes both, unless the rule lets a sure model (a score at or
//! above `model_overrides_exclude_at`) override it.
//!
//! - [`features`]: the n-grams, their hash and the TF-IDF vector;
//! - [`train`]: deterministic L-BFGS training of the weights;
//! - [`file`]: the versioned, checksummed model file;
//! - [`cases`]: the labelled cases the models are trained and measured on.
//!
//! At run time nothing here is computed for an item unless some rule has a model; the
//! n-gram counts are computed once per item and shared by every rule's model
//! ([`ItemFeatures`]).

pub mod cases;
pub mod features;
pub mod file;
pub mod index;
pub mod stage;
pub mod train;

use rustc_hash::FxHashMap;

use super::normalize::Normalized;
pub use file::ModelError;
use index::BucketIndex;

/// A trained model: per known bucket its IDF and weight, plus the bias and threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// The rule it was trained for (a rule may only load a model trained for it).
    pub rule: String,
    /// Default score at or above which the rule fires (a rule's `model_threshold` overrides).
    pub threshold: f32,
    /// Documents the IDF was computed over.
    pub n_docs: u32,
    /// The intercept.
    pub bias: f32,
    /// Known buckets, ascending; `df`, `idf` and `weight` are parallel to it.
    pub buckets: Vec<u32>,
    /// Training documents each bucket occurs in.
    pub df: Vec<u32>,
    /// The weight of each bucket.
    pub weight: Vec<f32>,
    /// Where each known bucket is in `params`.
    index: BucketIndex,
    /// Per known bucket, ascending: (idf, weight), for scoring.
    params: Vec<(f32, f32)>,
}

/// Smoothed IDF, as scikit-learn's `smooth_idf`: `ln((1 + n) / (1 + df)) + 1`.
pub fn idf(n_docs: u32, df: u32) -> f32 {
    ((1.0 + f64::from(n_docs)) / (1.0 + f64::from(df))).ln() as f32 + 1.0
}

/// The n-gram counts of one item, computed once and shared by every rule's model.
#[derive(Debug, Clone, Default)]
pub struct ItemFeatures {
    counts: Vec<(u32, u32)>,
    /// Per count, its sublinear term frequency `1 + ln tf` (the same for every model).
    tf: Vec<f32>,
}

impl ItemFeatures {
    /// Counts the n-grams of a title and body, given with their normalised forms (the
    /// matcher's buffers): only the tokens within [`features::MAX_CHARS`] of each are read.
    pub fn new(title: (&str, &Normalized), body: (&str, &Normalized)) -> ItemFeatures {
        let read = |(text, norm): (&str, &Normalized)| features::tokens_within_cap(text, norm);
        ItemFeatures::from_counts(features::counts(
            (title.1, read(title)),
            (body.1, read(body)),
        ))
    }

    fn from_counts(counts: Vec<(u32, u32)>) -> ItemFeatures {
        let tf = counts
            .iter()
            .map(|&(_, c)| features::sublinear(c))
            .collect();
        ItemFeatures { counts, tf }
    }

    /// Counts for raw text (normalised here, each field capped).
    pub fn from_text(title: &str, body: &str) -> ItemFeatures {
        let (t, b) = features::normalize_pair(title, body);
        ItemFeatures::from_counts(features::counts((&t, usize::MAX), (&b, usize::MAX)))
    }

    /// The model's score for these features (see [`Model::score`]).
    pub fn score_with(&self, model: &Model) -> f32 {
        model.score(self)
    }

    /// The raw `(bucket, count)` pairs.
    pub fn counts(&self) -> &[(u32, u32)] {
        &self.counts
    }
}

impl Model {
    /// A model from its parts (`buckets` ascending, parallel to `df` and `weight`).
    pub fn new(
        rule: String,
        threshold: f32,
        n_docs: u32,
        bias: f32,
        entries: Vec<(u32, u32, f32)>,
    ) -> Model {
        let mut known: Vec<(u32, (f32, f32))> = entries
            .iter()
            .map(|&(b, df, w)| (b, (idf(n_docs, df), w)))
            .collect();
        // Ascending, a repeated bucket keeping its last entry as a map would (the file format
        // allows neither): reversed, then a stable sort puts the last one first.
        known.reverse();
        known.sort_by_key(|e| e.0);
        known.dedup_by_key(|e| e.0);
        let index = BucketIndex::new(&known.iter().map(|e| e.0).collect::<Vec<_>>());
        let params = known.into_iter().map(|e| e.1).collect();
        let (mut buckets, mut dfs, mut weight) = (Vec::new(), Vec::new(), Vec::new());
        for (b, d, w) in entries {
            buckets.push(b);
            dfs.push(d);
            weight.push(w);
        }
        Model {
            rule,
            threshold,
            n_docs,
            bias,
            buckets,
            df: dfs,
            weight,
            index,
            params,
        }
    }

    /// The idf and weight of bucket `b`, when the model knows it.
    fn get(&self, b: u32) -> Option<(f32, f32)> {
        self.index.get(b).map(|i| self.params[i])
    }

    /// The TF-IDF vector of an item over this model's vocabulary.
    pub fn vector(&self, item: &ItemFeatures) -> Vec<(u32, f32)> {
        features::tfidf(&item.counts, |b| self.get(b).map(|(i, _)| i))
    }

    /// The probability that the item is relevant to the rule: `σ(bias + w·x)`, `x` being
    /// [`Model::vector`]. Computed without building the vector, but with the same operations
    /// in the same order (f32 products, f64 sums over ascending buckets), so the score is
    /// bit-for-bit the one of `vector` and a dot product (tested).
    pub fn score(&self, item: &ItemFeatures) -> f32 {
        let mut known: Vec<(f32, f32)> = Vec::with_capacity(item.counts.len());
        let mut norm = 0.0f64;
        for (&(b, _), &tf) in item.counts.iter().zip(&item.tf) {
            if let Some((idf, w)) = self.get(b) {
                let x = tf * idf;
                norm += f64::from(x).powi(2);
                known.push((x, w));
            }
        }
        let norm = norm.sqrt();
        let z: f64 = known
            .iter()
            .map(|&(x, w)| {
                let x = if norm > 0.0 {
                    (f64::from(x) / norm) as f32
                } else {
                    x
                };
                f64::from(x) * f64::from(w)
            })
            .sum::<f64>()
            + f64::from(self.bias);
        (1.0 / (1.0 + (-z).exp())) as f32
    }

    /// Each bucket's contribution `w·x` to the item's score, largest first (positive only).
    pub fn contributions(&self, item: &ItemFeatures) -> FxHashMap<u32, f32> {
        self.vector(item)
            .into_iter()
            .filter_map(|(b, x)| {
                let w = self.get(b).map_or(0.0, |(_, w)| w);
                (w * x > 0.0).then_some((b, w * x))
            })
            .collect()
    }
}

/// One word of the item that pushed the score up: its token index in its field, the field
/// (0 title, 1 body), its summed contribution and its strongest n-gram.
#[derive(Debug, Clone, PartialEq)]
pub struct WordWeight {
    /// 0 for the title, 1 for the body.
    pub field: usize,
    /// Token index in that field's [`Normalized`].
    pub token: usize,
    /// The sum of its n-grams' contributions (each n-gram counted once per word).
    pub weight: f32,
    /// The n-gram that contributed most.
    pub ngram: String,
}

/// Words most to blame for the score: the first occurrence of each distinct normalised word,
/// weighted by its n-grams' contributions, the `top` largest. Used by `check --explain` and as
/// the `terms` of an alert that the model alone raised.
/// Each field is given with the number of its tokens the model read.
pub fn top_words(
    model: &Model,
    item: &ItemFeatures,
    fields: [(&Normalized, usize); 2],
    top: usize,
) -> Vec<WordWeight> {
    let contrib = model.contributions(item);
    let mut seen = std::collections::HashSet::new();
    let mut words = Vec::new();
    for (f, (norm, read)) in fields.iter().enumerate() {
        for i in 0..(*read).min(norm.tokens.len()) {
            let text = norm.token_text(i);
            if !seen.insert(text) {
                continue;
            }
            let (mut sum, mut best) = (0.0f32, (0.0f32, String::new()));
            features::for_each_ngram(text, |g| {
                let c = contrib.get(&features::bucket(g)).copied().unwrap_or(0.0);
                sum += c;
                if c > best.0 {
                    best = (c, g.to_string());
                }
            });
            if sum > 0.0 {
                words.push(WordWeight {
                    field: f,
                    token: i,
                    weight: sum,
                    ngram: best.1,
                });
            }
        }
    }
    words.sort_by(|a, b| b.weight.total_cmp(&a.weight));
    words.truncate(top);
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`Model::score`] is the logistic of [`Model::vector`]'s dot product with the weights,
    /// to the bit: the shortcut must not move a score.
    #[test]
    fn score_is_the_vectors_dot_product_bit_for_bit() {
        let items = [
            ItemFeatures::from_text("Rockets hit the Green Zone", "Sirens in Baghdad overnight."),
            ItemFeatures::from_text("السفارة الأمريكية", "Ambassade de France, Botschaft"),
            ItemFeatures::from_text("", ""),
        ];
        let mut buckets: Vec<u32> = items
            .iter()
            .flat_map(|it| it.counts().iter().map(|&(b, _)| b))
            .filter(|b| b % 3 != 0)
            .collect();
        buckets.sort_unstable();
        buckets.dedup();
        let entries = buckets
            .iter()
            .map(|&b| (b, 1 + b % 7, ((b % 1000) as f32 * 0.37).sin()))
            .collect();
        let m = Model::new("r".into(), 0.5, 9, -0.3, entries);
        for it in &items {
            let z = m
                .vector(it)
                .iter()
                .map(|&(b, x)| f64::from(x) * f64::from(m.get(b).map_or(0.0, |(_, w)| w)))
                .sum::<f64>()
                + f64::from(m.bias);
            let want = (1.0 / (1.0 + (-z).exp())) as f32;
            assert_eq!(m.score(it).to_bits(), want.to_bits());
        }
    }
}
