//! The model stage of one item: features computed at most once, shared by every rule's model.
//!
//! Why lazily: most rule sets have no model, and an item that no model rule is asked about
//! (feeds filter) should cost nothing; when several rules have models, the n-gram counting
//! (the expensive part) is done once and each model only weighs the counts.

use std::cell::OnceCell;

use super::super::normalize::Normalized;
use super::{top_words, ItemFeatures, Model, WordWeight};

/// Words shown for a model's decision (`check --explain`, an alert's `terms`).
pub const TOP_WORDS: usize = 5;

/// One item as the models read it: its title and body (the summary when there is no body),
/// with the matcher's normalised forms of them.
pub struct Stage<'a> {
    fields: [(&'a str, &'a Normalized); 2],
    features: OnceCell<ItemFeatures>,
}

impl<'a> Stage<'a> {
    /// `title` and `body` as text with their normalised forms.
    pub fn new(title: (&'a str, &'a Normalized), body: (&'a str, &'a Normalized)) -> Stage<'a> {
        Stage {
            fields: [title, body],
            features: OnceCell::new(),
        }
    }

    fn features(&self) -> &ItemFeatures {
        self.features
            .get_or_init(|| ItemFeatures::new(self.fields[0], self.fields[1]))
    }

    /// The model's score for the item.
    pub fn score(&self, model: &Model) -> f32 {
        self.features().score_with(model)
    }

    /// The words that pushed the score up most: `field` 0 is the title, 1 the body (or
    /// summary) given to [`Stage::new`].
    pub fn top_words(&self, model: &Model) -> Vec<WordWeight> {
        let read = |(text, norm): (&str, &'a Normalized)| {
            (norm, super::features::tokens_within_cap(text, norm))
        };
        top_words(
            model,
            self.features(),
            [read(self.fields[0]), read(self.fields[1])],
            TOP_WORDS,
        )
    }
}
