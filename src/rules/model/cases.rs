//! The labelled cases (`tests/fixtures/rules_labelled`) as training and evaluation data.
//!
//! Why here and not only in the tests: `feedwatch model train` and `model eval` read them, so
//! that a model is rebuilt from the same files the tests measure with, by the same reader. The
//! format and the dev/test policy are described in that folder's README.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One labelled case.
#[derive(Debug, Clone, Deserialize)]
pub struct Case {
    /// Unique id; a round's cases end in `-rN`.
    pub id: String,
    /// `en`, `ar`, `fr` or `de`.
    #[serde(default)]
    pub lang: String,
    /// `dev` or `test`.
    #[serde(default)]
    pub split: String,
    /// Headline.
    pub title: String,
    /// Story text.
    pub body: String,
    /// The rules that must fire.
    pub expect: Vec<String>,
}

impl Case {
    /// The round the case was written in: `N` for ids ending `-rN`, 0 for the earliest ones.
    pub fn round(&self) -> u32 {
        self.id
            .rsplit_once("-r")
            .and_then(|(_, n)| n.parse().ok())
            .unwrap_or(0)
    }
}

/// A case file that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum CasesError {
    /// Not readable.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not a case file.
    #[error("{}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The TOML error.
        message: String,
    },
}

#[derive(Deserialize)]
struct Articles {
    article: Vec<Case>,
}

#[derive(Deserialize)]
struct CaseFile {
    case: Vec<Case>,
}

const LANGS: [&str; 4] = ["en", "ar", "fr", "de"];

fn read(path: &Path) -> Result<String, CasesError> {
    std::fs::read_to_string(path).map_err(|source| CasesError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn parse<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, CasesError> {
    toml::from_str(text).map_err(|e| CasesError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Every case under `dir`: `articles.toml` (all `dev`, language from the id's prefix), then
/// `cases/*.toml` in file-name order, so the order (and a model trained on it) is the same on
/// every machine.
///
/// # Errors
/// A file that cannot be read or parsed.
pub fn load(dir: &Path) -> Result<Vec<Case>, CasesError> {
    let path = dir.join("articles.toml");
    let mut out = parse::<Articles>(&path, &read(&path)?)?.article;
    for a in &mut out {
        let rest = a.id.strip_prefix("neg-").unwrap_or(&a.id);
        a.lang = LANGS
            .iter()
            .find(|l| rest.starts_with(&format!("{l}-")))
            .unwrap_or(&"en")
            .to_string();
        a.split = "dev".into();
    }
    let cases = dir.join("cases");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&cases)
        .map_err(|source| CasesError::Io {
            path: cases.clone(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    for f in files {
        out.extend(parse::<CaseFile>(&f, &read(&f)?)?.case);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_come_from_the_id() {
        let c = |id: &str| Case {
            id: id.into(),
            lang: "en".into(),
            split: "dev".into(),
            title: String::new(),
            body: String::new(),
            expect: vec![],
        };
        assert_eq!(c("en-wire-gz-x-r12").round(), 12);
        assert_eq!(c("en-wire-gz-x").round(), 0);
        assert_eq!(c("en-wire-gz-rockets-2").round(), 0);
    }
}
