//! `[[concepts]]` (named term sets that queries use as `@name`) and the compile check of the
//! rules with them: every rule or concept error becomes a problem at its own file and line,
//! so `config check` lists undefined, unused, cyclic and malformed concepts with the rules'
//! query errors in one pass.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::source::Source;
use super::{check, ConfigError, ConfigProblem};
use crate::rules::{ConceptSpec, RuleSpec};

/// A `[[concepts]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConcept {
    name: String,
    terms: Vec<String>,
}

/// Collects `[[concepts]]` with their file and line; the rules module checks them.
pub(super) fn take_concepts(
    src: &Source<'_>,
    raw: Vec<Spanned<RawConcept>>,
    out: &mut Vec<(ConceptSpec, PathBuf, usize)>,
) {
    for c in raw {
        let line = src.lines.line(c.span().start);
        let c = c.into_inner();
        out.push((
            ConceptSpec {
                name: c.name,
                terms: c.terms,
            },
            src.path.to_path_buf(),
            line,
        ));
    }
}

/// Compiles the rules with their concepts (plus `known` ones, defined elsewhere) and turns
/// every error into a problem at the rule's or concept's line; with `unused`, a concept no
/// rule uses is a problem too.
pub(super) fn check_rules(
    default_file: &Path,
    rules: &[(RuleSpec, PathBuf, usize)],
    concepts: &[(ConceptSpec, PathBuf, usize)],
    known: &[ConceptSpec],
    unused: bool,
) -> Vec<ConfigProblem> {
    let specs: Vec<RuleSpec> = rules.iter().map(|(s, _, _)| s.clone()).collect();
    let mut all: Vec<ConceptSpec> = concepts.iter().map(|(c, _, _)| c.clone()).collect();
    all.extend(known.iter().cloned());
    let at = |name: &str, in_concepts: bool| -> (PathBuf, Option<usize>) {
        let found = if in_concepts {
            concepts
                .iter()
                .rev()
                .find(|(c, _, _)| c.name == name)
                .map(|(_, f, l)| (f.clone(), Some(*l)))
        } else {
            rules
                .iter()
                .find(|(s, _, _)| s.name == name)
                .map(|(_, f, l)| (f.clone(), Some(*l)))
        };
        found.unwrap_or((default_file.to_path_buf(), None))
    };
    let mut problems = Vec::new();
    if let Err(errs) = crate::rules::RuleSet::compile_with(&specs, &all) {
        for e in errs {
            let (file, line) = match &e.concept {
                Some(c) => at(c, true),
                None => at(&e.rule, false),
            };
            let key = match (&e.concept, e.in_exclude) {
                (Some(_), _) => "concepts",
                (None, true) => "exclude",
                (None, false) => "query",
            };
            problems.push(ConfigProblem {
                file,
                line,
                key: Some(key.to_string()),
                message: e.to_string(),
            });
        }
    }
    if unused {
        for name in crate::rules::unused_concepts(&specs, &all) {
            let (file, line) = at(&name, true);
            problems.push(ConfigProblem {
                file,
                line,
                key: Some("concepts.name".into()),
                message: format!(
                    "concept `{name}` is defined but no rule uses it; use it as `@{name}` or \
                     remove it"
                ),
            });
        }
    }
    problems
}

/// The `[[rules]]` and `[[concepts]]` of one rule file.
#[derive(Debug, Clone)]
pub struct RuleFile {
    /// The file's rules, in file order.
    pub rules: Vec<RuleSpec>,
    /// The file's own concepts, then those of `known` it did not redefine.
    pub concepts: Vec<ConceptSpec>,
}

/// Loads one rule file (for `backtest`), checked like the config's. Its rules may use the
/// `known` concepts (the config's); a concept the file defines replaces a known one of the
/// same name.
///
/// # Errors
/// Every problem found, naming file, line and key.
pub fn load_rule_file(path: &Path, known: &[ConceptSpec]) -> Result<RuleFile, ConfigError> {
    let text = super::source::read(path)?;
    let mut rules = Vec::new();
    let mut concepts = Vec::new();
    let mut problems = Vec::new();
    check::take_rule_file(path, &text, &mut rules, &mut concepts, &mut problems);
    let known: Vec<ConceptSpec> = known
        .iter()
        .filter(|k| !concepts.iter().any(|(c, _, _)| c.name == k.name))
        .cloned()
        .collect();
    problems.extend(check_rules(path, &rules, &concepts, &known, false));
    if problems.is_empty() {
        Ok(RuleFile {
            rules: rules.into_iter().map(|(s, _, _)| s).collect(),
            concepts: concepts
                .into_iter()
                .map(|(c, _, _)| c)
                .chain(known)
                .collect(),
        })
    } else {
        Err(ConfigError { problems })
    }
}
