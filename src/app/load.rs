//! Loading what the service runs with: the config read as data by [`config`], and its rules
//! compiled once by [`rules`]. The two meet here, above both, so `config` stays plain data and
//! every command that needs valid rules (`run`, a reload, `config check`, `backtest`, the
//! `feeds` edits) compiles them exactly once, with their errors at the rule's file and line
//! beside every other problem.

use std::path::Path;

use crate::config::{self, Checked, Config, ConfigError, Env, RuleFile};
use crate::rules::{self, ConceptSpec, RuleSet, RuleSpec};

/// A config whose every check passed, with its rules compiled.
pub struct Loaded {
    /// The configuration, as data.
    pub config: Config,
    /// Its rules, compiled.
    pub rules: RuleSet,
}

/// Reads the config at `path` and compiles its rules.
///
/// # Errors
/// Every problem found, the rules' and concepts' included, each naming file, line and key.
pub fn load_config(path: &Path, env: &Env) -> Result<Loaded, ConfigError> {
    load_config_with(path, env, config::Backends::Both)
}

/// [`load_config`] for a command that runs on the given `backends` (see
/// [`config::Backends`]).
///
/// # Errors
/// As [`load_config`].
pub fn load_config_with(
    path: &Path,
    env: &Env,
    backends: config::Backends,
) -> Result<Loaded, ConfigError> {
    let mut checked = config::read_with(path, env, backends)?;
    let (rules, concepts) = (&checked.value().rules, &checked.value().concepts);
    let unused = rules::unused_concepts(rules, concepts);
    let compiled = compile_into(&mut checked, |c| (&c.rules, &c.concepts));
    checked.unused_concepts(&unused);
    let config = checked.finish()?;
    Ok(Loaded {
        config,
        rules: compiled.ok_or_else(|| uncompiled(path))?,
    })
}

/// Reads a rule file for `backtest` and compiles it. Its rules may use the `known` concepts
/// (the config's); a concept the file defines replaces a known one of the same name. Unlike
/// the config, a rule file may define concepts it does not use.
///
/// # Errors
/// Every problem found, each naming file, line and key.
pub fn load_rule_file(
    path: &Path,
    known: &[ConceptSpec],
) -> Result<(RuleFile, RuleSet), ConfigError> {
    let mut checked = config::read_rule_file(path, known)?;
    let compiled = compile_into(&mut checked, |f| (&f.rules, &f.concepts));
    let file = checked.finish()?;
    Ok((file, compiled.ok_or_else(|| uncompiled(path))?))
}

/// Compiles the rules `parts` picks out of what was read; their errors join its problems.
fn compile_into<T>(
    checked: &mut Checked<T>,
    parts: impl Fn(&T) -> (&Vec<RuleSpec>, &Vec<ConceptSpec>),
) -> Option<RuleSet> {
    let (specs, concepts) = parts(checked.value());
    match RuleSet::compile_with(specs, concepts) {
        Ok(set) => Some(set),
        Err(errors) => {
            checked.rule_errors(&errors);
            None
        }
    }
}

/// Unreachable in practice: rules that did not compile left a problem, so `finish` failed.
fn uncompiled(path: &Path) -> ConfigError {
    ConfigError {
        problems: vec![config::ConfigProblem {
            file: path.to_path_buf(),
            line: None,
            key: Some("rules".into()),
            message: "the rules did not compile".into(),
        }],
    }
}

#[cfg(test)]
mod tests;
