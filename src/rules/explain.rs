//! Explanations for `feedwatch check --explain`: each rule's tree with which branches held.
//!
//! A user tuning a rule needs to see *which* part of a query failed on an article they expected
//! to match (or which part let a look-alike through), so every node carries whether it held and,
//! for literals and proximity operators, where in the document it was found.

use std::fmt;

use serde::Serialize;

use super::Severity;

/// One node of an explained rule tree.
#[derive(Debug, Clone, Serialize)]
pub struct ExplainNode {
    /// The literal as written, `AND`/`OR`/`NOT`, or the whole `NEAR` expression.
    pub label: String,
    /// Whether this node held on the document.
    pub held: bool,
    /// Where literals (or NEAR pairs) were found: `field@char_offset "text"`.
    pub hits: Vec<String>,
    /// The operands, for AND, OR, NOT and NEAR.
    pub children: Vec<ExplainNode>,
}

/// A rule's verdict on one document, with its explained query (and exclude) trees.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// The rule's name.
    pub rule: String,
    /// The rule's severity.
    pub severity: Severity,
    /// The rule fires: feed allowed, query held, exclude did not.
    pub fired: bool,
    /// False when the rule's `feeds` list rules this document's feed out.
    pub feed_allowed: bool,
    /// The item's language (`en`, `fr`, `de`, `ar`) when a `~stem` literal needed it and the
    /// detector was sure; `None` also when stems were tried in every language.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<&'static str>,
    /// The query's tree.
    pub query: ExplainNode,
    /// The exclude's tree, when the rule has one.
    pub exclude: Option<ExplainNode>,
    /// The model's verdict, when the rule has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelExplanation>,
}

/// A rule's model on one document: what it scored, and the words that weighed most.
#[derive(Debug, Clone, Serialize)]
pub struct ModelExplanation {
    /// The model file.
    pub file: String,
    /// The model's probability that the item is relevant.
    pub score: f32,
    /// The rule's threshold.
    pub threshold: f32,
    /// The score at or above which the model overrides the rule's exclude, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overrides_exclude_at: Option<f32>,
    /// `read` and the score reached `overrides_exclude_at`: the exclude does not count.
    pub overrides_exclude: bool,
    /// Whether the item holds a word that wakes the rule (one its query cannot match
    /// without): the model reads only such items, which bounds its cost.
    pub read: bool,
    /// `read` and `score >= threshold`.
    pub fired: bool,
    /// The words that pushed the score up most, as written, each with its strongest n-gram
    /// and summed contribution: `body@120 "ambassade" (" amba" +0.412)`.
    pub top: Vec<String>,
}

impl ExplainNode {
    fn write(&self, f: &mut fmt::Formatter<'_>, depth: usize) -> fmt::Result {
        let mark = if self.held { "✓" } else { "✗" };
        write!(f, "{:indent$}{mark} {}", "", self.label, indent = depth * 2)?;
        if !self.hits.is_empty() {
            const SHOWN: usize = 5;
            write!(
                f,
                "  [{}",
                self.hits
                    .iter()
                    .take(SHOWN)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )?;
            if self.hits.len() > SHOWN {
                write!(f, ", +{} more", self.hits.len() - SHOWN)?;
            }
            f.write_str("]")?;
        }
        writeln!(f)?;
        self.children.iter().try_for_each(|c| c.write(f, depth + 1))
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let by_model = self.model.as_ref().is_some_and(|m| m.fired);
        let overrides = self.model.as_ref().is_some_and(|m| m.overrides_exclude);
        let excluded = self.exclude.as_ref().is_some_and(|x| x.held);
        let verdict = if self.fired && excluded && overrides {
            "MATCH (its model overrides the exclude)"
        } else if self.fired && !self.query.held {
            "MATCH (by its model)"
        } else if self.fired {
            "MATCH"
        } else if !self.feed_allowed {
            "skipped (feed not in rule's feeds)"
        } else if self.query.held || by_model {
            "suppressed by exclude"
        } else {
            "no match"
        };
        write!(f, "rule `{}` ({}): {verdict}", self.rule, self.severity)?;
        match self.lang {
            Some(lang) => writeln!(f, " (stems in language: {lang})")?,
            None => writeln!(f)?,
        }
        writeln!(f, "  query:")?;
        self.query.write(f, 2)?;
        if let Some(m) = &self.model {
            let cmp = if m.score >= m.threshold { ">=" } else { "<" };
            let unread = if m.read {
                ""
            } else {
                " (not counted: the item has none of the words the query needs)"
            };
            let over = match m.overrides_exclude_at {
                Some(v) if m.overrides_exclude => format!(", >= {v:.3}: overrides the exclude"),
                _ => String::new(),
            };
            writeln!(
                f,
                "  model ({}): score {:.3} {cmp} threshold {:.3}{over}{unread}",
                m.file, m.score, m.threshold
            )?;
            for t in &m.top {
                writeln!(f, "    {t}")?;
            }
        }
        if let Some(x) = &self.exclude {
            writeln!(f, "  exclude:")?;
            x.write(f, 2)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Document, RuleSet, RuleSpec, Severity};

    #[test]
    fn tree_shows_which_branches_held() {
        let rs = RuleSet::compile(&[RuleSpec {
            name: "gz".into(),
            query: "\"green zone\" NEAR/3 (rocket* OR drone*) OR embassy".into(),
            severity: Severity::High,
            feeds: vec![],
            exclude: Some("suites".into()),
            model: None,
        }])
        .unwrap_or_else(|e| panic!("{e:?}"));
        let ex = rs.explain(&Document {
            body: "Rockets hit the Green Zone.",
            ..Document::default()
        });
        let text = ex[0].to_string();
        assert_eq!(
            text,
            "rule `gz` (high): MATCH\n  query:\n    ✓ OR\n      ✓ \"green zone\" NEAR/3 (rocket* OR drone*)  \
             [body@0 \"Rockets\", body@16 \"Green Zone\"]\n      ✗ embassy\n  exclude:\n    ✗ suites\n"
        );
    }

    #[test]
    fn long_or_of_terms_shows_only_what_was_found() {
        let rs = RuleSet::compile(&[RuleSpec {
            name: "any".into(),
            query: "alpha OR beta OR gamma OR delta".into(),
            severity: Severity::Low,
            feeds: vec![],
            exclude: None,
            model: None,
        }])
        .unwrap_or_else(|e| panic!("{e:?}"));
        let ex = rs.explain(&Document {
            title: "Gamma rays",
            ..Document::default()
        });
        assert_eq!(
            ex[0].to_string(),
            "rule `any` (low): MATCH\n  query:\n    ✓ OR of 4 terms (1 found)\n      ✓ gamma  \
             [title@0 \"Gamma\"]\n"
        );
    }
}
