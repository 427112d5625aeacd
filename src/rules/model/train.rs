//! Training: L2-regularised logistic regression with balanced class weights, by L-BFGS.
//!
//! Why this way: it is the model of the offline experiment (scikit-learn's
//! `LogisticRegression(C, class_weight="balanced")`, whose default solver is L-BFGS), so its
//! measured recall carries over; and it is deterministic: full-batch, sums taken in one fixed
//! order in `f64`, a fixed number of iterations at most and a fixed tolerance, so the same
//! cases give a byte-identical model file on every machine (tested).
//!
//! Objective over the examples `(xᵢ, yᵢ ∈ {−1, 1})` with class weights `sᵢ = n / (2 nᵧ)`:
//! `½‖w‖² + C Σ sᵢ ln(1 + exp(−yᵢ (w·xᵢ + b)))`; the bias `b` is not penalised.

use std::collections::VecDeque;

use super::features::tfidf;
use super::{idf, ItemFeatures, Model};

/// Training settings; [`Params::default`] are those of the shipped models.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Inverse regularisation strength (as scikit-learn's `C`).
    pub c: f64,
    /// The model's default threshold on the probability.
    pub threshold: f32,
    /// Buckets in fewer training documents than this are left out of the vocabulary.
    pub min_df: u32,
    /// L-BFGS iterations at most.
    pub max_iter: usize,
    /// Stop when the gradient's largest component is below this.
    pub tol: f64,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            c: 30.0,
            threshold: 0.5,
            min_df: 2,
            max_iter: 500,
            tol: 1e-4,
        }
    }
}

/// The shared part of a training run: the vocabulary, its document frequencies and the TF-IDF
/// vectors (indices into the vocabulary). Built once per training set, whatever the rule.
pub struct Design {
    n_docs: u32,
    vocab: Vec<(u32, u32)>,
    rows: Vec<Vec<(u32, f64)>>,
}

impl Design {
    /// The vocabulary (buckets in at least `min_df` documents) and each item's vector.
    pub fn new(items: &[ItemFeatures], min_df: u32) -> Design {
        let mut df: std::collections::BTreeMap<u32, u32> = Default::default();
        for it in items {
            for &(b, _) in it.counts() {
                *df.entry(b).or_default() += 1;
            }
        }
        let vocab: Vec<(u32, u32)> = df.into_iter().filter(|&(_, d)| d >= min_df).collect();
        let n_docs = items.len() as u32;
        let rows = items
            .iter()
            .map(|it| {
                tfidf(it.counts(), |b| {
                    vocab
                        .binary_search_by_key(&b, |&(v, _)| v)
                        .ok()
                        .map(|i| idf(n_docs, vocab[i].1))
                })
                .into_iter()
                .filter_map(|(b, x)| {
                    let i = vocab.binary_search_by_key(&b, |&(v, _)| v).ok()?;
                    Some((i as u32, f64::from(x)))
                })
                .collect()
            })
            .collect();
        Design {
            n_docs,
            vocab,
            rows,
        }
    }

    /// Trains one rule's model on `labels` (parallel to the items).
    pub fn train(&self, rule: &str, labels: &[bool], p: &Params) -> Model {
        let n = labels.len() as f64;
        let pos = labels.iter().filter(|&&y| y).count().max(1) as f64;
        let neg = (n - pos).max(1.0);
        let weights: Vec<f64> = labels
            .iter()
            .map(|&y| if y { n / (2.0 * pos) } else { n / (2.0 * neg) })
            .collect();
        let dim = self.vocab.len() + 1; // the last one is the bias
        let objective = |w: &[f64], g: &mut [f64]| -> f64 {
            self.loss_and_gradient(w, g, labels, &weights, p.c)
        };
        let w = lbfgs(dim, objective, p.max_iter, p.tol);
        let entries = self
            .vocab
            .iter()
            .zip(&w)
            .map(|(&(b, df), &x)| (b, df, x as f32))
            .collect();
        Model::new(
            rule.to_string(),
            p.threshold,
            self.n_docs,
            w[dim - 1] as f32,
            entries,
        )
    }

    fn loss_and_gradient(
        &self,
        w: &[f64],
        g: &mut [f64],
        labels: &[bool],
        weights: &[f64],
        c: f64,
    ) -> f64 {
        let bias_at = w.len() - 1;
        let mut loss = 0.0;
        for (i, gi) in g.iter_mut().enumerate() {
            *gi = if i == bias_at { 0.0 } else { w[i] };
            loss += if i == bias_at { 0.0 } else { 0.5 * w[i] * w[i] };
        }
        for ((row, &y), &s) in self.rows.iter().zip(labels).zip(weights) {
            let z = w[bias_at] + row.iter().map(|&(j, x)| w[j as usize] * x).sum::<f64>();
            let y = if y { 1.0 } else { -1.0 };
            let m = y * z;
            // ln(1 + e^−m), stable for both signs.
            loss += c
                * s
                * if m > 0.0 {
                    (-m).exp().ln_1p()
                } else {
                    -m + m.exp().ln_1p()
                };
            let d = -c * s * y / (1.0 + m.exp());
            for &(j, x) in row {
                g[j as usize] += d * x;
            }
            g[bias_at] += d;
        }
        loss
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Minimises `f` from zero with L-BFGS (10 pairs of history) and a backtracking line search.
fn lbfgs(dim: usize, f: impl Fn(&[f64], &mut [f64]) -> f64, max_iter: usize, tol: f64) -> Vec<f64> {
    const HISTORY: usize = 10;
    let mut x = vec![0.0; dim];
    let mut g = vec![0.0; dim];
    let mut fx = f(&x, &mut g);
    let mut hist: VecDeque<(Vec<f64>, Vec<f64>, f64)> = VecDeque::new();
    let (mut xn, mut gn) = (vec![0.0; dim], vec![0.0; dim]);
    for _ in 0..max_iter {
        if g.iter().fold(0.0f64, |m, v| m.max(v.abs())) < tol {
            break;
        }
        let d = direction(&g, &hist);
        let slope = dot(&g, &d);
        if slope >= 0.0 {
            hist.clear();
            continue;
        }
        let mut step = if hist.is_empty() {
            1.0 / dot(&g, &g).sqrt().max(1.0)
        } else {
            1.0
        };
        let mut fnew;
        loop {
            for i in 0..dim {
                xn[i] = x[i] + step * d[i];
            }
            fnew = f(&xn, &mut gn);
            if fnew <= fx + 1e-4 * step * slope || step < 1e-12 {
                break;
            }
            step *= 0.5;
        }
        let s: Vec<f64> = xn.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = gn.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 1e-12 {
            if hist.len() == HISTORY {
                hist.pop_front();
            }
            hist.push_back((s, y, 1.0 / sy));
        }
        std::mem::swap(&mut x, &mut xn);
        std::mem::swap(&mut g, &mut gn);
        let converged = (fx - fnew).abs() <= 1e-10 * fx.abs().max(1.0);
        fx = fnew;
        if converged {
            break;
        }
    }
    x
}

/// The two-loop recursion: `−H g` for the inverse-Hessian estimate of the history.
fn direction(g: &[f64], hist: &VecDeque<(Vec<f64>, Vec<f64>, f64)>) -> Vec<f64> {
    let mut q: Vec<f64> = g.to_vec();
    let mut alphas = Vec::with_capacity(hist.len());
    for (s, y, rho) in hist.iter().rev() {
        let a = rho * dot(s, &q);
        q.iter_mut().zip(y).for_each(|(qi, yi)| *qi -= a * yi);
        alphas.push(a);
    }
    if let Some((s, y, _)) = hist.back() {
        let gamma = dot(s, y) / dot(y, y);
        q.iter_mut().for_each(|qi| *qi *= gamma);
    }
    for ((s, y, rho), a) in hist.iter().zip(alphas.iter().rev()) {
        let b = rho * dot(y, &q);
        q.iter_mut().zip(s).for_each(|(qi, si)| *qi += (a - b) * si);
    }
    q.iter_mut().for_each(|qi| *qi = -*qi);
    q
}

#[cfg(test)]
mod tests {
    use super::super::file::to_bytes;
    use super::*;

    fn data() -> (Vec<ItemFeatures>, Vec<bool>) {
        let texts = [
            (
                "Rockets hit the Green Zone",
                "Rockets struck the zone in Baghdad.",
                true,
            ),
            (
                "Protesters storm the Green Zone",
                "Crowds entered the zone.",
                true,
            ),
            (
                "صواريخ على المنطقة الخضراء",
                "سقطت صواريخ على المنطقة الخضراء في بغداد",
                true,
            ),
            ("Garden tips", "Plant a green hedge in your garden.", false),
            (
                "Budget passes",
                "Parliament passed the budget in Baghdad.",
                false,
            ),
            (
                "Low-emission zone",
                "The city extends its green zone for cars.",
                false,
            ),
        ];
        let items = texts
            .iter()
            .map(|(t, b, _)| ItemFeatures::from_text(t, b))
            .collect();
        (items, texts.iter().map(|t| t.2).collect())
    }

    #[test]
    fn training_is_deterministic_and_fits_the_data() {
        let (items, labels) = data();
        let p = Params {
            min_df: 1,
            ..Params::default()
        };
        let a = Design::new(&items, p.min_df).train("gz", &labels, &p);
        let b = Design::new(&items, p.min_df).train("gz", &labels, &p);
        assert_eq!(to_bytes(&a), to_bytes(&b));
        for (it, &y) in items.iter().zip(&labels) {
            assert_eq!(a.score(it) >= 0.5, y, "{}", a.score(it));
        }
    }

    #[test]
    fn min_df_drops_rare_buckets() {
        let (items, _) = data();
        let all = Design::new(&items, 1).vocab.len();
        let common = Design::new(&items, 2).vocab.len();
        assert!(common < all && common > 0, "{common} {all}");
    }
}
