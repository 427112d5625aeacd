//! The query tree to an FTS5 `MATCH` expression: every user term becomes a quoted FTS5
//! string, and what FTS5 cannot express (ordered proximity, `NOT` alone) is refused.

use super::{Column, Expr, QueryError, MAX_TERMS};

/// An FTS5 string literal: the only way user text reaches the MATCH expression.
fn quote(text: &str, prefix: bool) -> String {
    let mut s = String::with_capacity(text.len() + 3);
    s.push('"');
    s.push_str(&text.replace('"', "\"\""));
    s.push('"');
    if prefix {
        s.push('*');
    }
    s
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

/// Writes `e` as FTS5; `col` is the column used for errors about `e` as a whole.
pub(super) fn emit(e: &Expr, col: usize, terms: &mut usize) -> Result<String, QueryError> {
    match e {
        Expr::Lit { text, prefix } => {
            count(terms, 1, col)?;
            Ok(quote(text, *prefix))
        }
        Expr::Scope(c, inner, col) => Ok(format!("{c} : ({})", emit(inner, *col, terms)?)),
        Expr::Or(v) => {
            let mut parts = Vec::with_capacity(v.len());
            for x in v {
                if let Expr::Not(_, ncol) = x {
                    return Err(QueryError::new(
                        *ncol,
                        "`NOT` inside `OR` cannot be searched: full-text search can only \
                         exclude from articles that matched something (write `a NOT b`)",
                    ));
                }
                parts.push(emit(x, col, terms)?);
            }
            Ok(format!("({})", parts.join(" OR ")))
        }
        Expr::And(v) => {
            let (neg, pos): (Vec<&Expr>, Vec<&Expr>) =
                v.iter().partition(|x| matches!(x, Expr::Not(..)));
            if pos.is_empty() {
                let ncol = match neg.first() {
                    Some(Expr::Not(_, c)) => *c,
                    _ => col,
                };
                return Err(not_alone(ncol));
            }
            let mut s = pos
                .iter()
                .map(|x| emit(x, col, terms))
                .collect::<Result<Vec<_>, _>>()?
                .join(" AND ");
            s = format!("({s})");
            for n in neg {
                if let Expr::Not(inner, ncol) = n {
                    if matches!(**inner, Expr::Not(..)) {
                        return Err(QueryError::new(*ncol, "`NOT NOT` cannot be searched"));
                    }
                    s = format!("({s} NOT {})", emit(inner, *ncol, terms)?);
                }
            }
            Ok(s)
        }
        Expr::Not(_, ncol) => Err(not_alone(*ncol)),
        Expr::Near {
            left,
            right,
            distance,
            col,
        } => {
            let (ls, lscope) = near_operand(left, *col)?;
            let (rs, rscope) = near_operand(right, *col)?;
            let scope = match (lscope, rscope) {
                (Some(a), Some(b)) if a != b => {
                    return Err(QueryError::new(
                        *col,
                        format!("`NEAR` between different fields ({a}: and {b}:) can never match"),
                    ))
                }
                (a, b) => a.or(b),
            };
            count(terms, ls.len() * rs.len() * 2, *col)?;
            // FTS5's NEAR takes phrases only: an OR-group operand is distributed.
            let mut groups = Vec::new();
            for l in &ls {
                for r in &rs {
                    groups.push(format!("NEAR({l} {r}, {distance})"));
                }
            }
            let body = format!("({})", groups.join(" OR "));
            Ok(match scope {
                Some(c) => format!("{c} : {body}"),
                None => body,
            })
        }
    }
}

fn not_alone(col: usize) -> QueryError {
    QueryError::new(
        col,
        "`NOT` needs a term that must occur beside it (`a NOT b`): full-text search cannot \
         list articles by what they lack",
    )
}

/// A `NEAR` operand as the FTS5 phrases it stands for, with its scope if any.
fn near_operand(e: &Expr, col: usize) -> Result<(Vec<String>, Option<Column>), QueryError> {
    let bad = || {
        QueryError::new(
            col,
            "`NEAR` operands must be terms, phrases, prefixes or OR-groups of them",
        )
    };
    match e {
        Expr::Lit { text, prefix } => Ok((vec![quote(text, *prefix)], None)),
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
        Expr::Scope(c, inner, _) => {
            let (p, inner_scope) = near_operand(inner, col)?;
            match inner_scope {
                Some(i) if i != *c => Err(bad()),
                _ => Ok((p, Some(*c))),
            }
        }
        _ => Err(bad()),
    }
}
