//! Writes a checked search query ([`crate::store::search_plan`]) as a PostgreSQL `tsquery`,
//! for the `articles.search` column of migration 0004.
//!
//! The index (see `migrations/postgres/0004_search.sql`) holds each article's title, summary
//! and body under the weights A, B and C, tokenized by PostgreSQL's parser with the `simple`
//! configuration after `feedwatch_search_text` has folded Latin diacritics and turned
//! punctuation into spaces (as SQLite's `unicode61 remove_diacritics 2` tokenizer does). A
//! query's terms go through the very same function on the server (see `pg::search`), which
//! returns their lexemes; this module only arranges those lexemes:
//!
//! | query              | tsquery                                                    |
//! |--------------------|------------------------------------------------------------|
//! | `a b`, `a OR b`    | `'a' & 'b'`, `'a' \| 'b'`                                  |
//! | `a NOT b`          | `'a' & !'b'`                                               |
//! | `rocket*`          | `'rocket':*`                                               |
//! | `"green zone"`     | `('green':A <-> 'zone':A) \| (… :B) \| (… :C)`             |
//! | `title:x`          | `'x':A` (summary `:B`, body `:C`)                          |
//! | `a NEAR/n b`       | `(a <k> b) \| (b <k> a)` for k in 1..=n+1, in each field   |
//!
//! Why phrases and `NEAR` are written once per field: the three fields are concatenated into
//! one tsvector, so the last word of a title is adjacent to the first of the summary. FTS5
//! and the rule matcher never match a phrase across fields; restricting every lexeme of a
//! phrase to one weight keeps it inside one field.
//!
//! `NEAR`: PostgreSQL's `x <k> y` means `y` starts exactly `k` positions after `x` ends, so
//! "at most n words between, either order" is the disjunction above. When a side is a phrase
//! of two or more words, `k = 0` is added: the sides may share their boundary word, which
//! FTS5 also counts as near. Deeper overlaps (two shared words, or one phrase inside the
//! other) are not found on PostgreSQL. The disjunction grows with `n`, the number of OR
//! alternatives and the fields, so a query may hold at most [`MAX_PHRASES`] of these
//! comparisons and is refused beyond that, with a caret under the `NEAR` at fault.
//!
//! Stems (`~word`) are refused, as on SQLite, rather than approximated. The rule matcher
//! compares Snowball stems (or its own Arabic stems) in the *item's* detected language; a
//! query has none, and PostgreSQL's per-language configurations would index each article
//! under one guessed language with a stemmer that is not the rules' (`rust-stemmers`). The
//! approximation at hand, a prefix of the stem (`~embassy` → `embass:*`, since Snowball only
//! rewrites endings), over-matches by construction and would make one query mean different
//! things on the two backends; a search that SQLite refuses with "use a prefix or list the
//! forms" is refused here in the same words instead, and the user writes that prefix knowingly.
//!
//! Safety: lexemes are written as quoted tsquery operands (`'…'`, with `'` doubled and `\`
//! escaped), every operator is one this module writes, and the text goes to the server as a
//! bind parameter cast to `tsquery`, never into the SQL.

use std::collections::HashMap;

use crate::rules::query::QueryError;
use crate::store::search_plan::{self, Column, Node, Term};

/// Most phrase comparisons (`x <k> y`) one query may expand into. A `NEAR/15` between one
/// term and an OR of two, in any field, takes 2 × 3 × 2 × 17 = 204; `NEAR/83` between two
/// words, the widest accepted, 6 × 85 = 510. Matching costs about 40 µs per candidate article
/// at the bound (0.2 s for 5,000 articles that all hold both words, on a 2-core machine; see
/// tests/pg_search.rs), where 1,024 comparisons cost twice that.
pub const MAX_PHRASES: usize = 512;

/// A query checked for PostgreSQL: what [`search_plan::plan`] accepts, within [`MAX_PHRASES`].
#[derive(Debug, Clone)]
pub struct PgQuery(Node);

impl PgQuery {
    /// The terms whose lexemes [`PgQuery::to_tsquery`] needs, each once.
    pub fn term_texts(&self) -> Vec<String> {
        let mut texts: Vec<String> = self.0.terms().iter().map(|t| t.text.clone()).collect();
        texts.sort_unstable();
        texts.dedup();
        texts
    }

    /// The tsquery text, given each term's lexemes in order as the index tokenizes them
    /// (keyed by [`Term::text`]). A term with none (all punctuation) never matches.
    pub fn to_tsquery(&self, lexemes: &HashMap<String, Vec<String>>) -> String {
        emit(&self.0, None, lexemes)
    }

    /// A tsquery for ranking and the snippet: any of the terms that must match (not those
    /// under `NOT`), each in its field, without the `NEAR` expansion. `ts_rank_cd` grows with
    /// the square of the query's size (a `NEAR/40` costs it seconds per thousand articles),
    /// while this stays small; it also scores terms as FTS5's bm25 does, phrase by phrase.
    pub fn to_rank_tsquery(&self, lexemes: &HashMap<String, Vec<String>>) -> String {
        let mut parts = Vec::new();
        positive_terms(&self.0, None, lexemes, &mut parts);
        parts.sort_unstable();
        parts.dedup();
        format!("( {} )", parts.join(" | "))
    }
}

/// Every term of `n` outside `NOT`, as [`term`] writes it in its scope.
fn positive_terms(
    n: &Node,
    scope: Option<Column>,
    lex: &HashMap<String, Vec<String>>,
    out: &mut Vec<String>,
) {
    match n {
        Node::Term(t) => out.push(term(t, scope, lex)),
        Node::Any(v) | Node::All { all: v, .. } => {
            v.iter().for_each(|x| positive_terms(x, scope, lex, out))
        }
        Node::In(c, inner) => positive_terms(inner, Some(*c), lex, out),
        Node::Near { pairs, column, .. } => {
            for (l, r) in pairs {
                out.push(term(l, column.or(scope), lex));
                out.push(term(r, column.or(scope), lex));
            }
        }
    }
}

/// Parses and checks `query` for PostgreSQL full-text search.
///
/// # Errors
/// Everything [`search_plan::plan`] refuses, and a query whose `NEAR`s expand into more than
/// [`MAX_PHRASES`] comparisons (the column is the first `NEAR` past the bound).
pub fn translate(query: &str) -> Result<PgQuery, QueryError> {
    let plan = search_plan::plan(query)?;
    let mut phrases = 0;
    check(&plan, None, &mut phrases)?;
    Ok(PgQuery(plan))
}

/// Counts the comparisons each `NEAR` expands into, in the fields it applies to.
fn check(n: &Node, scope: Option<Column>, phrases: &mut usize) -> Result<(), QueryError> {
    match n {
        Node::Term(_) => Ok(()),
        Node::Any(v) => v.iter().try_for_each(|x| check(x, scope, phrases)),
        Node::All { all, none } => all
            .iter()
            .chain(none)
            .try_for_each(|x| check(x, scope, phrases)),
        Node::In(c, inner) => check(inner, Some(*c), phrases),
        Node::Near {
            pairs,
            distance,
            column,
            col,
        } => {
            let fields = if column.or(scope).is_some() { 1 } else { 3 };
            let gaps = usize::try_from(*distance)
                .unwrap_or(usize::MAX)
                .saturating_add(2);
            *phrases =
                phrases.saturating_add(pairs.len().saturating_mul(fields * 2).saturating_mul(gaps));
            if *phrases > MAX_PHRASES {
                return Err(QueryError::new(
                    *col,
                    format!(
                        "`NEAR/{distance}` is too wide to search on PostgreSQL: the query would \
                         compare more than {MAX_PHRASES} word positions; use a smaller distance \
                         or fewer alternatives"
                    ),
                ));
            }
            Ok(())
        }
    }
}

/// The weight letter of a field in the index.
fn weight(c: Column) -> char {
    match c {
        Column::Title => 'A',
        Column::Summary => 'B',
        Column::Body => 'C',
    }
}

const ALL_FIELDS: [Column; 3] = [Column::Title, Column::Summary, Column::Body];

/// Writes `n`, every lexeme restricted to `scope`'s weight when there is one.
fn emit(n: &Node, scope: Option<Column>, lex: &HashMap<String, Vec<String>>) -> String {
    let join = |v: &[Node], op: &str| {
        v.iter()
            .map(|x| emit(x, scope, lex))
            .collect::<Vec<_>>()
            .join(op)
    };
    match n {
        Node::Term(t) => term(t, scope, lex),
        Node::Any(v) => format!("( {} )", join(v, " | ")),
        Node::All { all, none } => {
            let mut s = join(all, " & ");
            for x in none {
                s.push_str(&format!(" & !{}", emit(x, scope, lex)));
            }
            format!("( {s} )")
        }
        Node::In(c, inner) => emit(inner, Some(*c), lex),
        Node::Near {
            pairs,
            distance,
            column,
            ..
        } => near(pairs, *distance, column.or(scope), lex),
    }
}

/// A term: one lexeme anywhere, or a phrase kept inside one field (see the module docs).
fn term(t: &Term, scope: Option<Column>, lex: &HashMap<String, Vec<String>>) -> String {
    let words = words(t, lex);
    match scope {
        Some(c) => phrase(&words, t.prefix, Some(c)),
        None if words.len() == 1 => phrase(&words, t.prefix, None),
        None => {
            let each: Vec<String> = ALL_FIELDS
                .iter()
                .map(|c| phrase(&words, t.prefix, Some(*c)))
                .collect();
            format!("( {} )", each.join(" | "))
        }
    }
}

/// `a NEAR/n b` over every pair, field and gap (see the module docs).
fn near(
    pairs: &[(Term, Term)],
    distance: u32,
    scope: Option<Column>,
    lex: &HashMap<String, Vec<String>>,
) -> String {
    let fields: Vec<Column> = scope.map_or_else(|| ALL_FIELDS.to_vec(), |c| vec![c]);
    let mut alternatives = Vec::new();
    for (l, r) in pairs {
        let (lw, rw) = (words(l, lex), words(r, lex));
        let first = u32::from(lw.len() < 2 && rw.len() < 2);
        for c in &fields {
            let (ls, rs) = (
                phrase(&lw, l.prefix, Some(*c)),
                phrase(&rw, r.prefix, Some(*c)),
            );
            for k in first..=distance.saturating_add(1) {
                alternatives.push(format!("{ls} <{k}> {rs}"));
                alternatives.push(format!("{rs} <{k}> {ls}"));
            }
        }
    }
    format!("( {} )", alternatives.join(" | "))
}

/// A term's lexemes; one that never occurs in the index when it has none, so that an empty
/// phrase matches nothing rather than vanishing from the query.
fn words(t: &Term, lex: &HashMap<String, Vec<String>>) -> Vec<String> {
    match lex.get(&t.text) {
        Some(w) if !w.is_empty() => w.clone(),
        // The parser splits at spaces, so no indexed lexeme contains one.
        _ => vec![" ".to_string()],
    }
}

/// Lexemes as adjacent words, the last a prefix if `prefix`, each of `field`'s weight.
fn phrase(words: &[String], prefix: bool, field: Option<Column>) -> String {
    let last = words.len().saturating_sub(1);
    let parts: Vec<String> = words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let mut s = quote(w);
            let star = prefix && i == last;
            if star || field.is_some() {
                s.push(':');
            }
            if star {
                s.push('*');
            }
            if let Some(c) = field {
                s.push(weight(c));
            }
            s
        })
        .collect();
    if parts.len() == 1 {
        parts.concat()
    } else {
        format!("( {} )", parts.join(" <-> "))
    }
}

/// A lexeme as a quoted tsquery operand: inside quotes only `'` and `\` are special.
fn quote(lexeme: &str) -> String {
    let mut s = String::with_capacity(lexeme.len() + 2);
    s.push('\'');
    for ch in lexeme.chars() {
        match ch {
            '\'' => s.push_str("''"),
            '\\' => s.push_str("\\\\"),
            c => s.push(c),
        }
    }
    s.push('\'');
    s
}

#[cfg(test)]
#[path = "tsquery_tests.rs"]
mod tests;
