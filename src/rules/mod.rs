//! Alert rules: the query language, the one-pass matcher and match explanations.
//!
//! The pipeline hands every article (title, summary, extracted body, URL, feed) to
//! [`RuleSet::matches`]; each rule that fires becomes an alert carrying *why* it fired: the terms
//! with their field and character offsets, and a snippet with the terms marked `«like this»`.
//! Rules are compiled once at start-up or reload ([`RuleSet::compile`]), which reports every bad
//! rule at once so `feedwatch config check` can print them all.
//!
//! # Query language
//!
//! | syntax | meaning |
//! | --- | --- |
//! | `embassy` | the word, in title, summary or body (not url/feed unless scoped) |
//! | `"green zone"` | the words in this order, adjacent |
//! | `secur*` | a word starting with `secur` (at least 2 letters before `*`; only at the end) |
//! | `~storm` | a word with the stem of `storm` in the item's language (one word, ≥ 3 letters; see `stem.rs`) |
//! | `@attack` | any term of the concept `attack`, an OR-group (see [`ConceptSpec`]) |
//! | `a AND b`, `a b` | both (adjacent operands are AND-ed) |
//! | `a OR b` | either |
//! | `NOT a` | a does not occur (`a NOT b` is `a AND NOT b`) |
//! | `a NEAR/n b` | a and b in the same field with at most `n` words between them, either order |
//! | `a ONEAR/n b` | the same, a before b |
//! | `title:x`, `summary:`, `body:`, `url:`, `feed:` | scope a term, phrase or `( group )` to one field |
//! | `( … )` | grouping |
//!
//! Precedence, tightest first: field scope, `NOT`, `NEAR`/`ONEAR`, `AND` (explicit or implicit),
//! `OR`. So `a b OR c` is `(a AND b) OR c`, and `NOT a b` is `(NOT a) AND b`.
//! Operands of `NEAR`/`ONEAR` must have word positions: terms, phrases, prefixes, stems,
//! concepts or OR-groups of them (`"green zone" NEAR/15 (rocket* OR @drone)`).
//!
//! A word starting with `~` is a stem literal and one starting with `@` a concept reference;
//! elsewhere `~` and `@` are punctuation as before. A plain term stays exact: `storm` does not
//! match "stormed". Concepts are defined in rule files (`[[concepts]] name terms`) and passed
//! to [`RuleSet::compile_with`]; a hit found through a stem or concept says so in
//! [`TermHit::via`].
//!
//! Operators are the upper-case words `AND`, `OR`, `NOT`, `NEAR/n`, `ONEAR/n`; in lower case they
//! are ordinary terms (`and` matches the word "and"), because headlines are full of "or" and
//! "not" and a rule should say what it means in capitals. Matching is case-insensitive and
//! accent-insensitive for Latin script, and tolerant of Arabic spelling variants (see
//! [`normalize`]). A term that normalises to several words (`Green-Zone`, `#GreenZone`) is a
//! phrase. Terms containing `:` must be quoted (`"10:30"`), since `word:` names a field.
//!
//! # Matching cost
//!
//! Every literal of every rule goes into one automaton over the normalised token stream of each
//! field (a lexicon keyed by a literal's first token); a document costs one normalisation pass
//! and one pass over its tokens per field, then only rules that had a hit on a literal they
//! need (or that can be true without any, like `NOT x`) are evaluated. Stem literals sit in the
//! same lexicon under the head their stems share, so a word is stemmed only when it could
//! match one. See `matcher.rs` and `lexicon.rs` for the details and `benches/rules.rs` for
//! figures.

mod compile;
mod concepts;
mod eval;
mod explain;
mod heads;
pub mod lang;
mod lexicon;
mod matcher;
pub mod model;
mod model_hits;
pub mod normalize;
pub mod query;
mod snippet;
mod stem;
mod stem_memo;
mod word_table;

use std::fmt;
use std::str::FromStr;

pub use concepts::{unused_concepts, ConceptSpec, MAX_EXPANDED_TERMS};
pub use explain::{ExplainNode, Explanation, ModelExplanation};
pub use query::{parse, Expr, QueryError};
pub use stem::stem_word;

/// How urgent an alert is; ordered from least to most.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look; never urgent.
    Info,
    /// Low urgency.
    Low,
    /// Medium urgency.
    Medium,
    /// High urgency.
    High,
    /// Act now.
    Critical,
}

impl Severity {
    /// A severity as stored in `alerts.severity`. Every row is written from this enum; a name
    /// it does not know (a database edited by hand, or written by a later version) counts as
    /// critical, so it passes every sink's `min_severity`: better a surplus alert than a lost
    /// one.
    pub fn from_stored(name: &str) -> Severity {
        name.parse().unwrap_or(Severity::Critical)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        })
    }
}

/// The error of [`Severity::from_str`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown severity `{0}` (expected info, low, medium, high or critical)")]
pub struct ParseSeverityError(pub String);

impl FromStr for Severity {
    type Err = ParseSeverityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "info" => Severity::Info,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return Err(ParseSeverityError(s.to_string())),
        })
    }
}

/// A part of a document a term can match in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    /// The item's headline.
    Title,
    /// The feed's summary.
    Summary,
    /// The article text.
    Body,
    /// The item's link (only through `url:`).
    Url,
    /// The feed's name and tags (only through `feed:`).
    Feed,
}

impl Field {
    /// Fields in the order hits are reported.
    pub const ALL: [Field; 5] = [
        Field::Title,
        Field::Summary,
        Field::Body,
        Field::Url,
        Field::Feed,
    ];

    fn index(self) -> usize {
        self as usize
    }

    fn bit(self) -> u8 {
        1 << self.index()
    }
}

/// A rule as written in config (already deserialised by the config module).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    /// Unique name, shown in alerts.
    pub name: String,
    /// The query, in the rule language.
    pub query: String,
    /// Severity of its alerts.
    pub severity: Severity,
    /// Feed names or tags the rule is limited to (case-insensitive); empty means every feed.
    pub feeds: Vec<String>,
    /// A query whose match suppresses the rule (look-alikes).
    pub exclude: Option<String>,
    /// The rule's learned second stage, if it names one (`model = "…"`): the rule also fires
    /// when the model's score reaches the threshold (its `exclude` still vetoes, unless the
    /// score reaches `overrides_exclude_at`).
    pub model: Option<RuleModel>,
}

/// A rule's model as configured: the loaded model, the file it came from, and the threshold
/// (the rule's `model_threshold`, else the model's own).
#[derive(Debug, Clone)]
pub struct RuleModel {
    /// The model, shared between reloads of the same file's rules.
    pub model: std::sync::Arc<model::Model>,
    /// Where it was loaded from (shown by `check --explain`).
    pub path: std::path::PathBuf,
    /// The score at or above which the rule fires.
    pub threshold: f32,
    /// The score at or above which the model overrides the rule's `exclude`
    /// (`model_overrides_exclude_at`). Why: excludes list look-alike contexts (a film, a venue
    /// "where parliament sits"), and real stories trip over them too; on the retro rounds an
    /// exclude vetoed a model scoring 0.9 or more on 6 relevant pairs and 1 negative.
    pub overrides_exclude_at: Option<f32>,
}

// Two specs are equal when they name the same model file, threshold and weights (the config
// loader compares specs to tell whether a reload changed anything).
impl PartialEq for RuleModel {
    fn eq(&self, other: &RuleModel) -> bool {
        self.path == other.path
            && self.threshold.to_bits() == other.threshold.to_bits()
            && self.overrides_exclude_at.map(f32::to_bits)
                == other.overrides_exclude_at.map(f32::to_bits)
            && (std::sync::Arc::ptr_eq(&self.model, &other.model) || self.model == other.model)
    }
}

impl Eq for RuleModel {}

/// One text to match. Unscoped terms match in title, summary or body; `url:`/`feed:` only where
/// scoped.
#[derive(Debug, Clone, Copy, Default)]
pub struct Document<'a> {
    /// Headline.
    pub title: &'a str,
    /// The feed's summary, as text.
    pub summary: &'a str,
    /// Article text.
    pub body: &'a str,
    /// The item's link.
    pub url: &'a str,
    /// The feed's name.
    pub feed: &'a str,
    /// The feed's tags.
    pub feed_tags: &'a [String],
}

impl<'a> Document<'a> {
    fn field(&self, f: Field) -> &'a str {
        match f {
            Field::Title => self.title,
            Field::Summary => self.summary,
            Field::Body => self.body,
            Field::Url => self.url,
            Field::Feed => self.feed,
        }
    }
}

/// A rule that fired on a document, with the evidence.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Match {
    /// The rule's name.
    pub rule: String,
    /// The rule's severity.
    pub severity: Severity,
    /// Deduplicated, sorted by field (title, summary, body, url, feed) then offset.
    pub terms: Vec<TermHit>,
    /// Up to ~200 characters around the densest cluster of hits, terms marked `«…»`.
    pub snippet: String,
}

/// One occurrence of a rule literal in a document. Stored with its alert as JSON and read
/// back as this type, so the log, `alerts` and sinks all see the same typed hits.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TermHit {
    // Fields in alphabetical order: the order the alert log has always written them in.
    /// Character offset just past the text.
    pub end: usize,
    /// The field it was found in.
    pub field: Field,
    /// Character (not byte) offset of the text's start in that field's original text.
    pub start: usize,
    /// The text as it appears in the document.
    pub term: String,
    /// How the rule found the word when it is not a literal of the rule itself: the stem or
    /// term and the concept it belongs to (`~storm in @attack`). Absent for plain literals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

/// The distinct words of `terms`, in order, each as first written: two spellings are one word
/// when the matcher sees one (case, accents and Arabic letter forms folded, as in
/// [`normalize`]), so the alert log's `terms` and `check` list the same words.
pub fn distinct_terms<'a>(terms: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = std::collections::HashSet::new();
    terms
        .into_iter()
        .filter(|t| seen.insert(normalize::tokens(t).join(" ")))
        .collect()
}

/// A rule or concept that does not compile. `Display` shows the query (or, for a multi-line query, the
/// line at fault) with a caret under the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render_error(self))]
pub struct RuleError {
    /// The rule's name (empty for a concept).
    pub rule: String,
    /// What is wrong.
    pub message: String,
    /// 1-based character column in `query`.
    pub column: usize,
    /// The query text the column refers to (the rule's `exclude` when `in_exclude`; the
    /// term at fault for a concept).
    pub query: String,
    /// Whether the column is in the rule's `exclude`.
    pub in_exclude: bool,
    /// The error is in this concept's definition, not in a rule (`rule` is then empty).
    pub concept: Option<String>,
}

/// Characters of a long query line shown before the error's column.
const ECHO_BEFORE: usize = 60;
/// Characters of a long query line shown in all.
const ECHO_WINDOW: usize = 120;

/// The message, then the query line holding the error with a caret under the offending token.
/// Multi-line queries (TOML `'''` strings) show only that line and say which line it is.
fn render_error(e: &RuleError) -> String {
    let whose = match &e.concept {
        Some(c) => format!("concept `{c}`"),
        None => format!("rule `{}`", e.rule),
    };
    if e.concept.is_some() && e.query.is_empty() {
        return format!("{whose}: {}", e.message);
    }
    format!(
        "{whose}: {}{}\n{}",
        if e.in_exclude { "in exclude: " } else { "" },
        e.message,
        caret_block(&e.query, e.column),
    )
}

/// Two indented lines: the query line holding 1-based character `column`, and a caret under
/// the token there, followed by where it is ("column 7", or "line 2, column 3" in a multi-line
/// query). The one renderer of query errors, for rules and for `search`.
pub fn caret_block(query: &str, column: usize) -> String {
    let chars: Vec<char> = query.chars().collect();
    let at = column.saturating_sub(1).min(chars.len());
    let line_start = chars[..at]
        .iter()
        .rposition(|&c| c == '\n')
        .map_or(0, |p| p + 1);
    let line_end = chars[at..]
        .iter()
        .position(|&c| c == '\n')
        .map_or(chars.len(), |p| at + p);
    // A long line is shown as a window around the error, marked `…` where cut, so a huge
    // query is not echoed in full and the caret still points at the right character.
    let from = line_start.max(at.saturating_sub(ECHO_BEFORE));
    let to = line_end.min(from + ECHO_WINDOW);
    let mut line: String = chars[from..to]
        .iter()
        .map(|&c| if c == '\t' { ' ' } else { c })
        .collect();
    let mut pad = at - from;
    if from > line_start {
        line.insert(0, '…');
        pad += 1;
    }
    if to < line_end {
        line.push('…');
    }
    let width = chars[at..to]
        .iter()
        .take_while(|c| !c.is_whitespace())
        .count()
        .max(1);
    let where_ = if query.trim_end().contains('\n') {
        let line_no = chars[..at].iter().filter(|&&c| c == '\n').count() + 1;
        format!("line {line_no}, column {}", at - line_start + 1)
    } else {
        format!("column {column}")
    };
    format!(
        "  {line}\n  {}{} ({where_})",
        " ".repeat(pad),
        "^".repeat(width)
    )
}

/// All rules, compiled into one matcher. Built once at start-up/reload; `Send + Sync`.
pub struct RuleSet {
    inner: matcher::Compiled,
}

impl fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuleSet")
            .field("rules", &self.inner.rule_names())
            .finish()
    }
}

impl RuleSet {
    /// Compile rules. Every invalid rule is reported, not just the first.
    ///
    /// # Errors
    /// One [`RuleError`] per bad query or exclude, and per duplicated rule name.
    pub fn compile(specs: &[RuleSpec]) -> Result<RuleSet, Vec<RuleError>> {
        Self::compile_with(specs, &[])
    }

    /// Compile rules that may use the `@concepts` defined in `concepts`.
    ///
    /// # Errors
    /// As [`RuleSet::compile`], plus one [`RuleError`] (with `concept` set) per bad concept:
    /// a term that is not one literal, a duplicate name, an undefined or cyclic reference,
    /// an expansion over [`MAX_EXPANDED_TERMS`]; and one per rule that uses an undefined
    /// concept. Unused concepts are not an error here (see [`unused_concepts`]).
    pub fn compile_with(
        specs: &[RuleSpec],
        concepts: &[ConceptSpec],
    ) -> Result<RuleSet, Vec<RuleError>> {
        matcher::Compiled::new(specs, concepts).map(|inner| RuleSet { inner })
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.inner.len() == 0
    }

    /// The rules that fire on `doc`, in rule order.
    pub fn matches(&self, doc: &Document) -> Vec<Match> {
        self.inner.matches(doc)
    }

    /// Every rule's tree with which branches held, for `check --explain`.
    pub fn explain(&self, doc: &Document) -> Vec<Explanation> {
        self.inner.explain(doc)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn distinct_terms_fold_as_the_matcher_does() {
        let words = [
            "Émeute",
            "émeute",
            "EMEUTE",
            "Botschaft",
            "BOTSCHAFT",
            "السفارة",
            "السفاره",
        ];
        assert_eq!(distinct_terms(words), ["Émeute", "Botschaft", "السفارة"]);
    }
    use super::*;

    #[test]
    fn severity_round_trips() {
        for s in [
            Severity::Info,
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ] {
            assert_eq!(s.to_string().parse::<Severity>(), Ok(s));
        }
        assert!("urgent".parse::<Severity>().is_err());
        assert!(Severity::Critical > Severity::High);
    }

    #[test]
    fn error_display_has_caret_under_column() {
        let e = RuleError {
            rule: "r".into(),
            message: "bad".into(),
            column: 3,
            query: "a NEAR b".into(),
            in_exclude: false,
            concept: None,
        };
        assert_eq!(
            e.to_string(),
            "rule `r`: bad\n  a NEAR b\n    ^^^^ (column 3)"
        );
    }

    #[test]
    fn a_long_query_is_windowed_and_the_caret_still_points_right() {
        let query = format!("{}NEAR/x{}", "word ".repeat(40_000), " tail".repeat(40_000));
        let column = "word ".repeat(40_000).chars().count() + 1;
        let e = RuleError {
            rule: "r".into(),
            message: "bad".into(),
            column,
            query,
            in_exclude: false,
            concept: None,
        };
        let shown = e.to_string();
        let lines: Vec<&str> = shown.lines().collect();
        assert!(shown.chars().count() < 400, "{shown}");
        assert!(
            lines[1].starts_with("  …") && lines[1].ends_with('…'),
            "{shown}"
        );
        let caret = lines[2].find('^').expect("caret");
        let under: String = lines[1]
            .chars()
            .skip(lines[2][..caret].chars().count())
            .take(6)
            .collect();
        assert_eq!(under, "NEAR/x", "{shown}");
        assert!(lines[2].contains(&format!("(column {column})")), "{shown}");
    }

    fn _assert_send_sync() {
        fn is<T: Send + Sync>() {}
        is::<RuleSet>();
    }
}
