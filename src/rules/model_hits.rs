//! Between the matcher and the model stage: which fields the models read, and a model's
//! decision as hits and explanations in the matcher's own terms.
//!
//! Why a module of its own: a rule raised by its model alone must still carry evidence a
//! reader can check (`terms`, a snippet), and `check --explain` must say why the model fired;
//! both are built here from the words that weighed most, as [`Hit`]s on the matcher's tokens,
//! so the alert, the snippet and the explanation go through the same code as a query's hits.

use std::sync::Arc;

use super::eval::{describe, DocHits};
use super::explain::ModelExplanation;
use super::lexicon::Hit;
use super::model::stage::Stage;
use super::model::Model;
use super::{Field, RuleModel};

/// What a hit found by a model says in [`super::TermHit::via`].
pub(super) const MODEL_VIA: &str = "model";

/// The fields the models read: the title, and the body (the summary when there is none).
pub(super) struct ModelStage<'a> {
    stage: Stage<'a>,
    /// `Field` index of the second field.
    body: usize,
}

impl ModelStage<'_> {
    pub(super) fn score(&self, m: &Model) -> f32 {
        self.stage.score(m)
    }

    /// The top words as hits on the matcher's tokens.
    fn hits(&self, m: &Model) -> Vec<(Hit, f32, String)> {
        self.stage
            .top_words(m)
            .into_iter()
            .map(|w| {
                let field = if w.field == 0 {
                    Field::Title.index()
                } else {
                    self.body
                };
                let hit = Hit {
                    pat: u32::MAX,
                    field: field as u8,
                    start: w.token as u32,
                    end: w.token as u32 + 1,
                };
                (hit, w.weight, w.ngram)
            })
            .collect()
    }
}

/// The models' view of the scanned item (features are computed on first use only).
pub(super) fn model_stage<'a>(dh: &'a DocHits) -> ModelStage<'a> {
    let body = if dh.texts[Field::Body.index()].trim().is_empty() {
        Field::Summary.index()
    } else {
        Field::Body.index()
    };
    let title = Field::Title.index();
    ModelStage {
        stage: Stage::new(
            (dh.texts[title], &dh.norms[title]),
            (dh.texts[body], &dh.norms[body]),
        ),
        body,
    }
}

/// The evidence of a rule its model alone raised: the words that weighed most.
pub(super) fn model_hits<'v>(
    stage: &ModelStage,
    model: &Model,
    via: &'v Arc<str>,
) -> Vec<(Hit, Option<&'v Arc<str>>)> {
    stage
        .hits(model)
        .into_iter()
        .map(|(h, _, _)| (h, Some(via)))
        .collect()
}

/// Whether the rule's model is sure enough to override its `exclude` on this item.
pub(super) fn overrides_exclude(stage: &ModelStage, m: Option<&RuleModel>) -> bool {
    m.is_some_and(|m| {
        m.overrides_exclude_at
            .is_some_and(|v| stage.score(&m.model) >= v)
    })
}

/// The model's part of a rule's explanation: score, threshold, and the words that weighed
/// most with their strongest n-gram.
pub(super) fn explain_model(
    stage: &ModelStage,
    m: &RuleModel,
    dh: &DocHits,
    read: bool,
) -> ModelExplanation {
    let score = stage.score(&m.model);
    let top = stage
        .hits(&m.model)
        .into_iter()
        .map(|(h, weight, ngram)| {
            let at = describe(&[h], dh).concat();
            format!("{at} ({:?} {weight:+.3})", ngram)
        })
        .collect();
    ModelExplanation {
        file: m.path.display().to_string(),
        score,
        threshold: m.threshold,
        overrides_exclude_at: m.overrides_exclude_at,
        overrides_exclude: read && m.overrides_exclude_at.is_some_and(|v| score >= v),
        read,
        fired: read && score >= m.threshold,
        top,
    }
}
