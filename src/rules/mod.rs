//! TEMPORARY stand-in for the rules module while the real one is built (replaced before landing).
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity { Info, Low, Medium, High, Critical }
impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self { Severity::Info => "info", Severity::Low => "low", Severity::Medium => "medium", Severity::High => "high", Severity::Critical => "critical" })
    }
}
impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s { "info" => Severity::Info, "low" => Severity::Low, "medium" => Severity::Medium, "high" => Severity::High, "critical" => Severity::Critical, _ => return Err(format!("unknown severity `{s}`")) })
    }
}
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Field { Title, Summary, Body, Url, Feed }
#[derive(Debug, Clone)]
pub struct RuleSpec { pub name: String, pub query: String, pub severity: Severity, pub feeds: Vec<String>, pub exclude: Option<String> }
pub struct Document<'a> { pub title: &'a str, pub summary: &'a str, pub body: &'a str, pub url: &'a str, pub feed: &'a str, pub feed_tags: &'a [String] }
pub struct RuleSet { rules: Vec<(RuleSpec, String)> }
#[derive(Debug, Clone, serde::Serialize)]
pub struct Match { pub rule: String, pub severity: Severity, pub terms: Vec<TermHit>, pub snippet: String }
#[derive(Debug, Clone, serde::Serialize)]
pub struct TermHit { pub term: String, pub field: Field, pub start: usize, pub end: usize }
#[derive(Debug, Clone, thiserror::Error)]
#[error("rule `{rule}`: {message}\n  {query}\n  {caret:>width$} (column {column})", caret = "^", width = column)]
pub struct RuleError { pub rule: String, pub message: String, pub column: usize, pub query: String, pub in_exclude: bool }
#[derive(Debug)]
pub struct Explanation(pub String);
impl fmt::Display for Explanation { fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(&self.0) } }
impl RuleSet {
    pub fn compile(specs: &[RuleSpec]) -> Result<RuleSet, Vec<RuleError>> {
        let mut errs = vec![];
        let mut rules = vec![];
        for s in specs {
            let lit = s.query.split('"').nth(1).map(str::to_string).unwrap_or_else(|| s.query.split_whitespace().next().unwrap_or("").to_string());
            if lit.is_empty() { errs.push(RuleError { rule: s.name.clone(), message: "empty query".into(), column: 1, query: s.query.clone(), in_exclude: false }); }
            rules.push((s.clone(), lit.to_lowercase()));
        }
        if errs.is_empty() { Ok(RuleSet { rules }) } else { Err(errs) }
    }
    pub fn len(&self) -> usize { self.rules.len() }
    pub fn is_empty(&self) -> bool { self.rules.is_empty() }
    pub fn matches(&self, doc: &Document) -> Vec<Match> {
        let mut out = vec![];
        for (spec, lit) in &self.rules {
            for (field, text) in [(Field::Title, doc.title), (Field::Summary, doc.summary), (Field::Body, doc.body)] {
                let low = text.to_lowercase();
                if let Some(i) = low.find(lit.as_str()) {
                    out.push(Match { rule: spec.name.clone(), severity: spec.severity, terms: vec![TermHit { term: text.get(i..i + lit.len()).unwrap_or("").to_string(), field, start: i, end: i + lit.len() }], snippet: text.chars().take(200).collect() });
                    break;
                }
            }
        }
        out
    }
    pub fn explain(&self, doc: &Document) -> Vec<Explanation> { self.matches(doc).into_iter().map(|m| Explanation(m.rule)).collect() }
}
