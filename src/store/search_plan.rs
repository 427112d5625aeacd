//! What a `feedwatch search` query means, whichever index runs it: the rule query parsed by
//! [`crate::rules::query::parse`], checked against what full-text search can express, and
//! lowered into a small tree ([`Node`]) that each backend writes in its own syntax
//! (`store::fts` for SQLite FTS5, `store::pg::tsquery` for PostgreSQL).
//!
//! The refusals live here, once, so both backends accept exactly the same queries and a query
//! tried on one works on the other. Each names the node at fault by its column:
//! - `~stem` and `@concept`: the indexes hold words as written, with no stems or term sets
//!   (the rule matcher stems in the item's detected language, which no index knows);
//! - `ONEAR/n`: FTS5's `NEAR` has no order;
//! - `url:` and `feed:` scopes: those fields are not in the index;
//! - `NOT` with nothing positive beside it (`NOT a`, `a OR NOT b`), since full-text search
//!   can only subtract from a set that matched;
//! - a `NEAR` whose two sides can match the same words (FTS5 lets one occurrence stand for
//!   both sides, the rule matcher wants two);
//! - more than [`MAX_TERMS`] terms.

use crate::rules::query::{self, Col, Expr, Literal, QueryError};
use crate::rules::Field;

/// Most terms and phrases in one query (after `NEAR` expansion); bounds the index's work.
pub const MAX_TERMS: usize = 256;

/// A field the full-text index holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// The headline.
    Title,
    /// The feed's summary.
    Summary,
    /// The article text.
    Body,
}

impl Column {
    /// The field's name, as in `title:`.
    pub fn name(self) -> &'static str {
        match self {
            Column::Title => "title",
            Column::Summary => "summary",
            Column::Body => "body",
        }
    }
}

/// A word, phrase or prefix as the user typed it: each backend tokenizes `text` the way its
/// index tokenizes articles, so both sides meet in the same form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// The words, without the phrase's quotes or the prefix's `*`; never contains `"`.
    pub text: String,
    /// The last word is a prefix (`secur*`, `"green zo*"`).
    pub prefix: bool,
}

/// A query full-text search can run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A word, phrase or prefix, in any indexed field.
    Term(Term),
    /// Any operand matches.
    Any(Vec<Node>),
    /// Every operand of `all` matches and none of `none` does; `all` is never empty.
    All {
        /// What must match.
        all: Vec<Node>,
        /// What must not, subtracted in order.
        none: Vec<Node>,
    },
    /// The operand matches in one field.
    In(Column, Box<Node>),
    /// For some pair, its two sides at most `distance` words apart, in either order, in one
    /// field (`column`, or any one when `None`).
    Near {
        /// Every combination of one left-side and one right-side alternative.
        pairs: Vec<(Term, Term)>,
        /// Most words strictly between the two sides.
        distance: u32,
        /// The field both sides were scoped to, if any.
        column: Option<Column>,
        /// The column of the `NEAR/n` operator, for errors a backend raises about it.
        col: usize,
    },
}

impl Node {
    /// Every term in the tree, in the order the backends write them.
    pub fn terms(&self) -> Vec<&Term> {
        let mut out = Vec::new();
        self.collect_terms(&mut out);
        out
    }

    fn collect_terms<'a>(&'a self, out: &mut Vec<&'a Term>) {
        match self {
            Node::Term(t) => out.push(t),
            Node::Any(v) => v.iter().for_each(|n| n.collect_terms(out)),
            Node::All { all, none } => {
                all.iter().chain(none).for_each(|n| n.collect_terms(out));
            }
            Node::In(_, inner) => inner.collect_terms(out),
            Node::Near { pairs, .. } => {
                for (l, r) in pairs {
                    out.push(l);
                    out.push(r);
                }
            }
        }
    }
}

/// Parses `query` and lowers it into what full-text search runs.
///
/// # Errors
/// Syntax errors (the rule parser's), and constructs full-text search cannot express, each
/// with its column; [`QueryError::render`] shows the caret.
pub fn plan(query: &str) -> Result<Node, QueryError> {
    let expr = query::parse(query)?;
    let mut terms = 0;
    lower(&expr, &mut terms)
}

/// The indexed column a scope names, or the error for one that is not indexed.
fn column(field: Field, col: Col) -> Result<Column, QueryError> {
    match field {
        Field::Title => Ok(Column::Title),
        Field::Summary => Ok(Column::Summary),
        Field::Body => Ok(Column::Body),
        Field::Url | Field::Feed => Err(QueryError::new(
            col.0,
            format!(
                "`{field}:` cannot be searched: it is not in the full-text index (title, summary \
                 and body are)"
            ),
        )),
    }
}

/// A literal as a [`Term`], or the error for a stem.
fn literal(l: &Literal) -> Result<Term, QueryError> {
    if l.stem {
        return Err(QueryError::new(
            l.column.0,
            format!(
                "`{}` (same stem) cannot be searched: the index holds words as written; use a \
                 prefix (`word*`) or list the forms",
                l.raw
            ),
        ));
    }
    let text = l
        .raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(&l.raw);
    let text = if l.prefix {
        text.strip_suffix('*').unwrap_or(text)
    } else {
        text
    };
    Ok(Term {
        text: text.to_string(),
        prefix: l.prefix,
    })
}

fn concept(c: &query::ConceptRef) -> QueryError {
    QueryError::new(
        c.column,
        format!(
            "`@{}`: concepts are not expanded by search; write the terms you want",
            c.name
        ),
    )
}

fn count(terms: &mut usize, n: usize, col: usize) -> Result<(), QueryError> {
    *terms += n;
    if *terms > MAX_TERMS {
        return Err(QueryError::new(
            col,
            format!("query has more than {MAX_TERMS} terms"),
        ));
    }
    Ok(())
}

/// The column where `e` starts, for errors about it as a whole.
fn start(e: &Expr) -> usize {
    match e {
        Expr::Lit(l) => l.column.0,
        Expr::Concept(c) => c.column,
        Expr::And(v) | Expr::Or(v) => v.first().map_or(1, start),
        Expr::Not(_, c) | Expr::Scope(_, _, c) => c.0,
        Expr::Near { left, .. } => start(left),
    }
}

/// The column of a scope in `e` that names a field other than `field`.
fn other_scope(e: &Expr, field: Field) -> Option<Col> {
    match e {
        Expr::Scope(f, _, c) if *f != field => Some(*c),
        Expr::Scope(_, inner, _) | Expr::Not(inner, _) => other_scope(inner, field),
        Expr::And(v) | Expr::Or(v) => v.iter().find_map(|x| other_scope(x, field)),
        Expr::Near { left, right, .. } => {
            other_scope(left, field).or_else(|| other_scope(right, field))
        }
        Expr::Lit(_) | Expr::Concept(_) => None,
    }
}

fn not_alone(col: usize) -> QueryError {
    QueryError::new(
        col,
        "`NOT` needs a term that must occur beside it (`a NOT b`): full-text search cannot \
         list articles by what they lack",
    )
}

/// Checks and lowers `e`, counting its terms.
fn lower(e: &Expr, terms: &mut usize) -> Result<Node, QueryError> {
    match e {
        Expr::Lit(l) => {
            count(terms, 1, l.column.0)?;
            Ok(Node::Term(literal(l)?))
        }
        Expr::Concept(c) => Err(concept(c)),
        Expr::Scope(f, inner, col) => {
            if let Some(c) = other_scope(inner, *f) {
                return Err(QueryError::new(
                    c.0,
                    format!(
                        "a scope inside `{f}:` names another field: search would look in both at \
                         once, rules in the inner one only; write the inner term outside"
                    ),
                ));
            }
            let c = column(*f, *col)?;
            Ok(Node::In(c, Box::new(lower(inner, terms)?)))
        }
        Expr::Or(v) => {
            let mut parts = Vec::with_capacity(v.len());
            for x in v {
                if let Expr::Not(_, ncol) = x {
                    return Err(QueryError::new(
                        ncol.0,
                        "`NOT` inside `OR` cannot be searched: full-text search can only \
                         exclude from articles that matched something (write `a NOT b`)",
                    ));
                }
                parts.push(lower(x, terms)?);
            }
            Ok(Node::Any(parts))
        }
        Expr::And(v) => lower_and(v, terms),
        Expr::Not(_, ncol) => Err(not_alone(ncol.0)),
        Expr::Near {
            left,
            right,
            distance,
            ordered,
            column: col,
        } => lower_near(left, right, *distance, *ordered, col.0, terms),
    }
}

/// `a AND b NOT c`: the positive operands, then each negative one to subtract.
fn lower_and(v: &[Expr], terms: &mut usize) -> Result<Node, QueryError> {
    let (neg, pos): (Vec<&Expr>, Vec<&Expr>) = v.iter().partition(|x| matches!(x, Expr::Not(..)));
    if pos.is_empty() {
        return Err(not_alone(neg.first().map_or(1, |n| start(n))));
    }
    let all = pos
        .iter()
        .map(|x| lower(x, terms))
        .collect::<Result<Vec<_>, _>>()?;
    let mut none = Vec::with_capacity(neg.len());
    for n in neg {
        if let Expr::Not(inner, ncol) = n {
            if matches!(**inner, Expr::Not(..)) {
                return Err(QueryError::new(ncol.0, "`NOT NOT` cannot be searched"));
            }
            none.push(lower(inner, terms)?);
        }
    }
    Ok(Node::All { all, none })
}

/// `a NEAR/n b`, with OR-group operands distributed into pairs (FTS5's `NEAR` takes phrases
/// only, and PostgreSQL's phrase operators likewise).
fn lower_near(
    left: &Expr,
    right: &Expr,
    distance: u32,
    ordered: bool,
    col: usize,
    terms: &mut usize,
) -> Result<Node, QueryError> {
    if ordered {
        return Err(QueryError::new(
            col,
            "`ONEAR` cannot be searched: full-text proximity has no order; use `NEAR/n`",
        ));
    }
    let (ls, lscope) = near_operand(left, col)?;
    let (rs, rscope) = near_operand(right, col)?;
    let scope = match (lscope, rscope) {
        (Some(a), Some(b)) if a != b => {
            return Err(QueryError::new(
                col,
                format!(
                    "`NEAR` between different fields ({}: and {}:) can never match",
                    a.name(),
                    b.name()
                ),
            ))
        }
        (a, b) => a.or(b),
    };
    // FTS5 lets one occurrence stand for both sides of `NEAR("a" "a", n)`; the rule matcher
    // (rightly) wants two. A side that can match what the other side matches is refused.
    if let Some((l, r)) = ls
        .iter()
        .flat_map(|l| rs.iter().map(move |r| (l, r)))
        .find(|(l, r)| overlap(l, r))
    {
        return Err(QueryError::new(
            col,
            format!(
                "`NEAR` between {} and {}, which can match the same words, cannot be searched: \
                 full-text proximity may count one occurrence as both sides",
                shown(l),
                shown(r)
            ),
        ));
    }
    count(terms, ls.len() * rs.len() * 2, col)?;
    let pairs = ls
        .iter()
        .flat_map(|l| rs.iter().map(move |r| (l.clone(), r.clone())))
        .collect();
    Ok(Node::Near {
        pairs,
        distance,
        column: scope,
        col,
    })
}

/// A term as messages show it: `"green zo"*`.
fn shown(t: &Term) -> String {
    format!("\"{}\"{}", t.text, if t.prefix { "*" } else { "" })
}

/// Whether the two sides of a `NEAR` may be refused for matching the same words: FTS5 lets
/// one occurrence stand for both sides, the rule matcher wants two. Phrases that merely
/// overlap (`"a b"` and `"b c"` in "a b c") are adjacent to both, so only the very same words
/// count: [`same_words`], compared as the index tokenizes them. Sides starting with the same
/// word (or a prefix of it) are refused too, as search always has.
fn overlap(a: &Term, b: &Term) -> bool {
    let first = |t: &Term| -> (String, bool) {
        let inner = t.text.to_lowercase();
        let w = inner.split_whitespace().next().unwrap_or("").to_string();
        (w, t.prefix && !inner.contains(' '))
    };
    let ((aw, ap), (bw, bp)) = (first(a), first(b));
    aw == bw || (ap && bw.starts_with(&aw)) || (bp && aw.starts_with(&bw)) || same_words(a, b)
}

/// Whether two phrases can match the very same words: as many tokens each (case, accents and
/// punctuation folded as the index folds them), equal one for one, except that a prefix
/// phrase may end in a prefix of the other's last word.
fn same_words(a: &Term, b: &Term) -> bool {
    let tokens = |t: &Term| (crate::rules::normalize::tokens(&t.text), t.prefix);
    let ((aw, ap), (bw, bp)) = (tokens(a), tokens(b));
    if aw.is_empty() || aw.len() != bw.len() {
        return false;
    }
    let last = aw.len() - 1;
    aw.iter().zip(&bw).enumerate().all(|(i, (x, y))| {
        x == y
            || (i == last
                && ((ap && y.starts_with(x.as_str())) || (bp && x.starts_with(y.as_str()))))
    })
}

/// A `NEAR` operand as the terms it stands for, with its scope if any. The rule parser
/// already limits operands to terms, concepts, OR-groups and scopes of those.
fn near_operand(e: &Expr, col: usize) -> Result<(Vec<Term>, Option<Column>), QueryError> {
    let bad = || {
        QueryError::new(
            col,
            "`NEAR` operands must be terms, phrases, prefixes or OR-groups of them, each in \
             one field",
        )
    };
    match e {
        Expr::Lit(l) => Ok((vec![literal(l)?], None)),
        Expr::Concept(c) => Err(concept(c)),
        Expr::Or(v) => {
            let mut out = Vec::new();
            for x in v {
                let (mut p, scope) = near_operand(x, col)?;
                if scope.is_some() {
                    return Err(bad());
                }
                out.append(&mut p);
            }
            Ok((out, None))
        }
        Expr::Scope(f, inner, scol) => {
            let c = column(*f, *scol)?;
            let (p, inner_scope) = near_operand(inner, col)?;
            match inner_scope {
                Some(i) if i != c => Err(bad()),
                _ => Ok((p, Some(c))),
            }
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(text: &str, prefix: bool) -> Term {
        Term {
            text: text.into(),
            prefix,
        }
    }

    #[test]
    fn lowers_the_tree_and_lists_its_terms() {
        let n = plan(r#"title:(a OR "b c") NOT dd* x NEAR/2 (y OR z)"#).expect("plan");
        let texts: Vec<&str> = n.terms().iter().map(|t| t.text.as_str()).collect();
        assert_eq!(texts, ["a", "b c", "x", "y", "x", "z", "dd"]);
        let Node::All { all, none } = n else {
            panic!("{n:?}")
        };
        assert!(matches!(&all[0], Node::In(Column::Title, _)));
        assert_eq!(none, [Node::Term(term("dd", true))]);
        assert!(
            matches!(&all[1], Node::Near { pairs, distance: 2, column: None, col: 30 } if pairs.len() == 2)
        );
    }

    #[test]
    fn refusals_are_shared_by_both_backends() {
        for (q, msg) in [
            ("~storm", "same stem"),
            ("@attack", "concepts"),
            ("a ONEAR/2 b", "ONEAR"),
            ("url:x", "url:"),
            ("NOT a", "NOT"),
            ("a NEAR/1 a", "same words"),
        ] {
            let e = plan(q).expect_err(q);
            assert!(e.message.contains(msg), "{q}: {e}");
        }
    }
}
