//! `[[concepts]]` (named term sets that queries use as `@name`), and where each rule and
//! concept was written. Compiling the rules is the rules module's job, done once by whoever
//! runs them (`app::load_config`); this module only turns the errors it reports into
//! problems at their own file and line, so `config check` lists undefined, unused, cyclic and
//! malformed concepts with the rules' query errors and every other problem in one pass.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::source::Source;
use super::{check, ConfigError, ConfigProblem};
use crate::rules::{ConceptSpec, RuleError, RuleSpec};

/// A `[[concepts]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConcept {
    name: String,
    terms: Vec<String>,
}

/// Collects `[[concepts]]` with their file and line.
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

/// The file and line each rule and concept was written at; errors found after loading
/// (the rule compiler's) are reported there.
#[derive(Debug, Clone, Default)]
struct Origins {
    /// Where problems without a known line go: the main config or the rule file.
    file: PathBuf,
    rules: Vec<(String, PathBuf, usize)>,
    concepts: Vec<(String, PathBuf, usize)>,
}

impl Origins {
    fn new(
        file: &Path,
        rules: &[(RuleSpec, PathBuf, usize)],
        concepts: &[(ConceptSpec, PathBuf, usize)],
    ) -> Self {
        Origins {
            file: file.to_path_buf(),
            rules: (rules.iter())
                .map(|(s, f, l)| (s.name.clone(), f.clone(), *l))
                .collect(),
            concepts: (concepts.iter())
                .map(|(c, f, l)| (c.name.clone(), f.clone(), *l))
                .collect(),
        }
    }

    /// A rule's first definition; a concept's last (a later one replaces an earlier).
    fn at(&self, name: &str, concept: bool) -> (PathBuf, Option<usize>) {
        let found = if concept {
            self.concepts.iter().rev().find(|(n, _, _)| n == name)
        } else {
            self.rules.iter().find(|(n, _, _)| n == name)
        };
        found.map_or((self.file.clone(), None), |(_, f, l)| (f.clone(), Some(*l)))
    }
}

/// A config or rule file read and checked as data, with the problems found so far. Its
/// rules are not compiled here: whoever compiles them adds the errors with
/// [`Checked::rule_errors`] and [`Checked::unused_concepts`], then [`Checked::finish`]
/// reports every problem at once.
#[derive(Debug)]
pub struct Checked<T> {
    value: T,
    problems: Vec<ConfigProblem>,
    origins: Origins,
}

impl<T> Checked<T> {
    pub(super) fn new(
        value: T,
        problems: Vec<ConfigProblem>,
        file: &Path,
        rules: &[(RuleSpec, PathBuf, usize)],
        concepts: &[(ConceptSpec, PathBuf, usize)],
    ) -> Self {
        Checked {
            value,
            problems,
            origins: Origins::new(file, rules, concepts),
        }
    }

    /// What was read, problems or not (its rules and concepts are what to compile).
    pub fn value(&self) -> &T {
        &self.value
    }

    /// Adds the rule compiler's errors, each at its rule's or concept's file and line.
    pub fn rule_errors(&mut self, errors: &[RuleError]) {
        for e in errors {
            let (file, line) = match &e.concept {
                Some(c) => self.origins.at(c, true),
                None => self.origins.at(&e.rule, false),
            };
            let key = match (&e.concept, e.in_exclude) {
                (Some(_), _) => "concepts",
                (None, true) => "exclude",
                (None, false) => "query",
            };
            self.problems.push(ConfigProblem {
                file,
                line,
                key: Some(key.to_string()),
                message: e.to_string(),
            });
        }
    }

    /// Adds a problem for each concept that no rule uses (a leftover, or a typo in a rule).
    pub fn unused_concepts(&mut self, names: &[String]) {
        for name in names {
            let (file, line) = self.origins.at(name, true);
            self.problems.push(ConfigProblem {
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

    /// The value when no problem was found, else every problem, sorted by file and line.
    ///
    /// # Errors
    /// Every problem found, naming file, line and key.
    pub fn finish(self) -> Result<T, ConfigError> {
        let mut problems = self.problems;
        if problems.is_empty() {
            Ok(self.value)
        } else {
            check::sort_problems(&mut problems);
            Err(ConfigError { problems })
        }
    }
}

/// The `[[rules]]` and `[[concepts]]` of one rule file.
#[derive(Debug, Clone)]
pub struct RuleFile {
    /// The file's rules, in file order.
    pub rules: Vec<RuleSpec>,
    /// The file's own concepts, then those of `known` it did not redefine.
    pub concepts: Vec<ConceptSpec>,
}

/// Reads one rule file (for `backtest`), checked like the config's. Its rules may use the
/// `known` concepts (the config's); a concept the file defines replaces a known one of the
/// same name.
///
/// # Errors
/// A file that cannot be read; its other problems are in the result.
pub fn read_rule_file(
    path: &Path,
    known: &[ConceptSpec],
) -> Result<Checked<RuleFile>, ConfigError> {
    let text = super::source::read(path)?;
    let mut rules = Vec::new();
    let mut concepts = Vec::new();
    let mut problems = Vec::new();
    check::take_rule_file(path, &text, &mut rules, &mut concepts, &mut problems);
    let known = known
        .iter()
        .filter(|k| !concepts.iter().any(|(c, _, _)| c.name == k.name))
        .cloned();
    let file = RuleFile {
        rules: rules.iter().map(|(s, _, _)| s.clone()).collect(),
        concepts: (concepts.iter().map(|(c, _, _)| c.clone()))
            .chain(known)
            .collect(),
    };
    Ok(Checked::new(file, problems, path, &rules, &concepts))
}
