//! Concepts: named term sets defined once in rule files and used as `@name` in any query.
//!
//! A news desk thinks in ideas ("an attack", "the embassy"), and each idea has dozens of words
//! in four languages. Writing those lists into every rule made the shipped pack hard to read
//! and easy to let drift (a word added to one rule and forgotten in the other). A concept is
//! written once:
//!
//! ```toml
//! [[concepts]]
//! name = "attack"
//! terms = ["~attack", "\"came under fire\"", "rocket*", "~stürmen", "@shelling"]
//! ```
//!
//! and `@attack` in a query means "any of these terms" (an OR-group, so it may stand on either
//! side of `NEAR`). Each term is one query literal: a word, a `"phrase"`, a `prefix*`, a
//! `~stem`, or another concept's `@name`. Concepts may use concepts; a cycle is refused.
//!
//! This module checks the definitions (syntax of each term, duplicate names, undefined and
//! cyclic references, size after expansion) and answers which concepts no rule uses, so
//! `feedwatch config check` can name every problem with its file and line.

use std::collections::HashMap;

use super::query::{parse, ConceptRef, Expr, Literal};
use super::{RuleError, RuleSpec};

/// Most literals one concept may stand for once every `@reference` in it is expanded. Concepts
/// that use concepts can multiply (a diamond of references counts its shared part twice); a
/// bound keeps a rule file from making a rule set that takes minutes to compile.
pub const MAX_EXPANDED_TERMS: usize = 5_000;

/// A concept as written in a rule file (already deserialised by the config module).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConceptSpec {
    /// The name rules use after `@`.
    pub name: String,
    /// Query literals, any of which stands for the concept.
    pub terms: Vec<String>,
}

/// One term of a checked concept.
#[derive(Debug, Clone)]
pub(super) enum Term {
    Lit(Literal),
    Ref(String),
}

impl Term {
    /// The term as a query expression.
    pub(super) fn expr(&self) -> Expr {
        match self {
            Term::Lit(l) => Expr::Lit(l.clone()),
            Term::Ref(r) => Expr::Concept(ConceptRef {
                name: r.clone(),
                column: 1,
            }),
        }
    }
}

/// Where a concept stands in the reference check.
#[derive(Debug, Clone, Copy)]
enum Visit {
    /// Being expanded: meeting it again is a cycle.
    Active,
    Done(usize),
    /// Already reported.
    Failed,
}

/// Checked concepts by name: every reference resolves and no reference is cyclic.
#[derive(Debug, Default)]
pub(super) struct Concepts {
    by_name: HashMap<String, Vec<Term>>,
}

fn concept_error(concept: &str, term: Option<&str>, message: String, column: usize) -> RuleError {
    RuleError {
        rule: String::new(),
        message,
        column,
        query: term.unwrap_or_default().to_string(),
        in_exclude: false,
        concept: Some(concept.to_string()),
    }
}

impl Concepts {
    /// Check and index `specs`; every problem is reported.
    pub(super) fn new(specs: &[ConceptSpec]) -> Result<Concepts, Vec<RuleError>> {
        let mut errors = Vec::new();
        let mut by_name: HashMap<String, Vec<Term>> = HashMap::new();
        for spec in specs {
            if !super::query::is_concept_name(&spec.name) {
                errors.push(concept_error(
                    &spec.name,
                    None,
                    "a concept name has only letters, digits, `_` and `-`".into(),
                    1,
                ));
                continue;
            }
            if by_name.contains_key(&spec.name) {
                errors.push(concept_error(
                    &spec.name,
                    None,
                    "defined twice; concept names must be unique across all rule files".into(),
                    1,
                ));
                continue;
            }
            if spec.terms.is_empty() {
                errors.push(concept_error(&spec.name, None, "has no terms".into(), 1));
            }
            let mut terms = Vec::with_capacity(spec.terms.len());
            for (i, t) in spec.terms.iter().enumerate() {
                match parse(t) {
                    Ok(Expr::Lit(l)) => terms.push(Term::Lit(l)),
                    Ok(Expr::Concept(c)) => terms.push(Term::Ref(c.name)),
                    Ok(_) => errors.push(concept_error(
                        &spec.name,
                        Some(t),
                        format!(
                            "term {}: a concept term is one word, \"phrase\", prefix*, ~stem or \
                             @concept (operators belong in the rule's query)",
                            i + 1
                        ),
                        1,
                    )),
                    Err(e) => errors.push(concept_error(
                        &spec.name,
                        Some(t),
                        format!("term {}: {}", i + 1, e.message),
                        e.column,
                    )),
                }
            }
            by_name.insert(spec.name.clone(), terms);
        }
        let concepts = Concepts { by_name };
        errors.extend(concepts.check_references(specs));
        if errors.is_empty() {
            Ok(concepts)
        } else {
            Err(errors)
        }
    }

    /// Undefined references, cycles and oversized expansions, each reported once, on the
    /// concept that holds the reference (in definition order, so the report is stable).
    fn check_references(&self, specs: &[ConceptSpec]) -> Vec<RuleError> {
        let mut errors = Vec::new();
        let mut state: HashMap<&str, Visit> = HashMap::new();
        for spec in specs {
            let mut stack = Vec::new();
            if let Err(e) = self.expand_size(&spec.name, &mut state, &mut stack) {
                errors.push(e);
                // Whatever was being expanded is broken already: say so once, not per user.
                for name in stack {
                    state.insert(name, Visit::Failed);
                }
            }
        }
        errors
    }

    /// Literals `name` stands for, fully expanded; an error on the first undefined, cyclic or
    /// oversized reference met (`stack` then holds the concepts being expanded).
    fn expand_size<'a>(
        &'a self,
        name: &'a str,
        state: &mut HashMap<&'a str, Visit>,
        stack: &mut Vec<&'a str>,
    ) -> Result<usize, RuleError> {
        match state.get(name) {
            Some(Visit::Done(n)) => return Ok(*n),
            Some(Visit::Failed) => return Ok(0),
            Some(Visit::Active) => {
                let from = stack.iter().position(|s| *s == name).unwrap_or(0);
                let mut cycle: Vec<String> =
                    stack[from..].iter().map(|s| format!("@{s}")).collect();
                cycle.push(format!("@{name}"));
                return Err(concept_error(
                    name,
                    None,
                    format!("refers to itself: {}", cycle.join(" → ")),
                    1,
                ));
            }
            None => {}
        }
        let Some(terms) = self.by_name.get(name) else {
            // Callers only descend into defined names.
            return Ok(0);
        };
        state.insert(name, Visit::Active);
        stack.push(name);
        let mut n = 0usize;
        for t in terms {
            n += match t {
                Term::Lit(_) => 1,
                Term::Ref(r) if !self.by_name.contains_key(r) => {
                    return Err(concept_error(
                        name,
                        Some(&format!("@{r}")),
                        format!("term `@{r}`: no concept named `{r}` is defined"),
                        1,
                    ))
                }
                Term::Ref(r) => self.expand_size(r, state, stack)?,
            };
        }
        if n > MAX_EXPANDED_TERMS {
            return Err(concept_error(
                name,
                None,
                format!(
                    "stands for {n} terms once its @references are expanded (at most \
                     {MAX_EXPANDED_TERMS})"
                ),
                1,
            ));
        }
        stack.pop();
        state.insert(name, Visit::Done(n));
        Ok(n)
    }

    /// A defined concept's name (borrowed from the table) and terms.
    pub(super) fn entry(&self, name: &str) -> Option<(&str, &[Term])> {
        self.by_name
            .get_key_value(name)
            .map(|(k, v)| (k.as_str(), v.as_slice()))
    }
}

/// `@references` in `e` for which `defined` is false, as (name, column).
pub(super) fn undefined<'e>(
    e: &'e Expr,
    defined: &dyn Fn(&str) -> bool,
    out: &mut Vec<(&'e str, usize)>,
) {
    match e {
        Expr::Concept(c) if !defined(&c.name) => out.push((&c.name, c.column)),
        Expr::Lit(_) | Expr::Concept(_) => {}
        Expr::And(v) | Expr::Or(v) => v.iter().for_each(|e| undefined(e, defined, out)),
        Expr::Not(e, _) | Expr::Scope(_, e, _) => undefined(e, defined, out),
        Expr::Near { left, right, .. } => {
            undefined(left, defined, out);
            undefined(right, defined, out);
        }
    }
}

fn refs_of<'e>(e: &'e Expr, out: &mut Vec<&'e str>) {
    match e {
        Expr::Concept(c) => out.push(&c.name),
        Expr::Lit(_) => {}
        Expr::And(v) | Expr::Or(v) => v.iter().for_each(|e| refs_of(e, out)),
        Expr::Not(e, _) | Expr::Scope(_, e, _) => refs_of(e, out),
        Expr::Near { left, right, .. } => {
            refs_of(left, out);
            refs_of(right, out);
        }
    }
}

/// Names of concepts that no rule's query or exclude uses, directly or through other concepts,
/// in definition order. A rule that does not parse is skipped (its error is reported anyway).
pub fn unused_concepts(rules: &[RuleSpec], concepts: &[ConceptSpec]) -> Vec<String> {
    let queries = rules
        .iter()
        .flat_map(|r| std::iter::once(&r.query).chain(r.exclude.as_ref()));
    let parsed: Vec<Expr> = queries.filter_map(|q| parse(q).ok()).collect();
    let mut todo: Vec<&str> = Vec::new();
    parsed.iter().for_each(|e| refs_of(e, &mut todo));
    let terms: HashMap<&str, &[String]> = concepts
        .iter()
        .map(|c| (c.name.as_str(), c.terms.as_slice()))
        .collect();
    let mut used = std::collections::HashSet::new();
    while let Some(name) = todo.pop() {
        if !used.insert(name) {
            continue;
        }
        for t in terms.get(name).copied().unwrap_or_default() {
            if let Some(r) = t.trim().strip_prefix('@') {
                todo.push(r);
            }
        }
    }
    concepts
        .iter()
        .filter(|c| !used.contains(c.name.as_str()))
        .map(|c| c.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, terms: &[&str]) -> ConceptSpec {
        ConceptSpec {
            name: name.into(),
            terms: terms.iter().map(|t| t.to_string()).collect(),
        }
    }

    fn messages(specs: &[ConceptSpec]) -> Vec<(String, String)> {
        Concepts::new(specs)
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| (e.concept.unwrap_or_default(), e.message))
            .collect()
    }

    #[test]
    fn good_concepts_resolve() {
        let cs = Concepts::new(&[
            c(
                "attack",
                &["~attack", "\"came under fire\"", "rocket*", "@storm"],
            ),
            c("storm", &["~storm", "~stürmen"]),
        ])
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(cs.entry("attack").map(|(_, t)| t.len()), Some(4));
        assert!(cs.entry("nope").is_none());
    }

    #[test]
    fn every_definition_problem_is_reported() {
        let got = messages(&[
            c("a", &["@b"]),
            c("b", &["x", "@a"]),
            c("c", &["x AND y", "ro*ket", "@nope"]),
            c("c", &["z"]),
            c("bad name", &["z"]),
            c("empty", &[]),
        ]);
        let want = [
            ("c", "term 1: a concept term is one word"),
            ("c", "term 2: `*` is only allowed at the end"),
            ("c", "defined twice"),
            ("bad name", "a concept name has only"),
            ("empty", "has no terms"),
            ("a", "refers to itself: @a → @b → @a"),
            ("c", "term `@nope`: no concept named `nope`"),
        ];
        assert_eq!(got.len(), want.len(), "{got:?}");
        for ((gc, gm), (wc, wm)) in got.iter().zip(want) {
            assert_eq!(gc, wc, "{gm}");
            assert!(gm.starts_with(wm), "{gm} does not start with {wm}");
        }
    }

    #[test]
    fn self_reference_and_explosion_are_refused() {
        assert!(messages(&[c("a", &["@a"])])[0].1.contains("@a → @a"));
        // 13 levels of doubling: 8,192 literals from a 26-term file.
        let mut specs = vec![c("l0", &["x", "y"])];
        for i in 1..13 {
            let prev = format!("@l{}", i - 1);
            specs.push(c(&format!("l{i}"), &[&prev, &prev]));
        }
        let got = messages(&specs);
        assert!(
            got.iter()
                .any(|(n, m)| n == "l12" && m.contains("stands for 8192 terms")),
            "{got:?}"
        );
    }

    #[test]
    fn unused_concepts_are_found_through_references() {
        let rule = |q: &str, x: Option<&str>| RuleSpec {
            name: "r".into(),
            query: q.into(),
            severity: super::super::Severity::Low,
            feeds: vec![],
            exclude: x.map(str::to_string),
            model: None,
        };
        let concepts = [
            c("a", &["@b"]),
            c("b", &["x"]),
            c("c", &["y"]),
            c("d", &["z"]),
            c("e", &["@c"]),
        ];
        let rules = [rule("@a NEAR/3 foo", Some("title:@d"))];
        assert_eq!(unused_concepts(&rules, &concepts), ["c", "e"]);
    }
}
