//! Tokens to the query tree ([`Expr`]): precedence `OR` < `AND` < `NEAR` < `NOT`/scope, with
//! the depth bound, and the checks on terms and phrases (wildcards, prefix length).

use super::lex::Tok;
use super::{Expr, QueryError, MAX_DEPTH};

/// A recursive-descent parser over the tokens.
pub(super) struct Parser {
    pub(super) toks: Vec<(Tok, usize)>,
    pub(super) pos: usize,
    end_col: usize,
    depth: usize,
}

impl Parser {
    pub(super) fn new(toks: Vec<(Tok, usize)>, end_col: usize) -> Parser {
        Parser {
            toks,
            pos: 0,
            end_col,
            depth: 0,
        }
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }

    fn col(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end_col, |(_, c)| *c)
    }

    fn enter(&mut self) -> Result<(), QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(QueryError::new(
                self.col(),
                format!("query nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    /// or := and (OR and)*
    pub(super) fn or(&mut self) -> Result<Expr, QueryError> {
        let mut v = vec![self.and()?];
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            v.push(self.and()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Expr::Or(v)
        })
    }

    /// and := near ((AND)? near)*
    fn and(&mut self) -> Result<Expr, QueryError> {
        let mut v = vec![self.near()?];
        loop {
            match self.peek() {
                Some(Tok::And) => {
                    self.pos += 1;
                    v.push(self.near()?);
                }
                Some(Tok::Word(_) | Tok::Phrase(_) | Tok::LParen | Tok::Not | Tok::Scope(_)) => {
                    v.push(self.near()?);
                }
                _ => break,
            }
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Expr::And(v)
        })
    }

    /// near := unary (NEAR/n unary)?
    fn near(&mut self) -> Result<Expr, QueryError> {
        let left = self.unary()?;
        let Some(&Tok::Near { distance, ordered }) = self.peek() else {
            return Ok(left);
        };
        let col = self.col();
        if ordered {
            return Err(QueryError::new(
                col,
                "`ONEAR` (ordered proximity) cannot be searched with full-text search; use `NEAR/n`",
            ));
        }
        self.pos += 1;
        let right = self.unary()?;
        if matches!(self.peek(), Some(Tok::Near { .. })) {
            return Err(QueryError::new(
                self.col(),
                "chained `NEAR` cannot be searched; combine pairs with AND",
            ));
        }
        Ok(Expr::Near {
            left: Box::new(left),
            right: Box::new(right),
            distance,
            col,
        })
    }

    /// unary := NOT unary | primary
    fn unary(&mut self) -> Result<Expr, QueryError> {
        if self.peek() == Some(&Tok::Not) {
            let col = self.col();
            self.pos += 1;
            self.enter()?;
            let e = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(e), col));
        }
        self.primary()
    }

    /// primary := scope primary | word | "phrase" | ( or )
    fn primary(&mut self) -> Result<Expr, QueryError> {
        let col = self.col();
        let Some((tok, _)) = self.toks.get(self.pos).cloned() else {
            return Err(QueryError::new(
                col,
                "query ends where a term, phrase or group was expected",
            ));
        };
        self.pos += 1;
        match tok {
            Tok::Scope(c) => {
                self.enter()?;
                let e = self.primary()?;
                self.depth -= 1;
                Ok(Expr::Scope(c, Box::new(e), col))
            }
            Tok::Word(w) => literal(&w, col, false),
            Tok::Phrase(p) => literal(&p, col, true),
            Tok::LParen => {
                self.enter()?;
                let e = self.or()?;
                self.depth -= 1;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(QueryError::new(
                        self.col(),
                        format!("missing `)` to close the `(` at column {col}"),
                    ));
                }
                self.pos += 1;
                Ok(e)
            }
            Tok::RParen => Err(QueryError::new(col, "unmatched `)`")),
            Tok::And | Tok::Or | Tok::Near { .. } => Err(QueryError::new(
                col,
                "operator where a term, phrase or group was expected",
            )),
            Tok::Not => Err(QueryError::new(col, "`NOT` needs something to exclude")),
        }
    }
}

/// Checks a term or phrase body: wildcards only at the end, something searchable in it.
fn literal(body: &str, col: usize, phrase: bool) -> Result<Expr, QueryError> {
    let (text, prefix) = match body.strip_suffix('*') {
        Some(t) => (t, true),
        None => (body, false),
    };
    if text.contains('*') {
        return Err(QueryError::new(
            col,
            "`*` is only allowed at the end of a term (prefix search)",
        ));
    }
    let Some(last) = text
        .split(|c: char| !c.is_alphanumeric())
        .rfind(|w| !w.is_empty())
    else {
        return Err(QueryError::new(
            col,
            if phrase {
                "empty phrase: it has no letters or digits"
            } else {
                "term has no letters or digits"
            },
        ));
    };
    if prefix && (last.chars().count() < 2 || text.ends_with(|c: char| !c.is_alphanumeric())) {
        return Err(QueryError::new(
            col,
            format!("prefix `{body}` is too short: put at least 2 letters before `*`"),
        ));
    }
    Ok(Expr::Lit {
        text: text.to_string(),
        prefix,
    })
}
