//! The search query's tokens: words, `"phrases"`, parentheses, operators and scopes, each
//! with its 1-based character column.

use super::{Column, QueryError, MAX_DISTANCE};

/// One token of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tok {
    Word(String),
    Phrase(String),
    LParen,
    RParen,
    And,
    Or,
    Not,
    Near { distance: u32, ordered: bool },
    Scope(Column),
}

/// Splits the query into tokens with their columns.
pub(super) fn lex(query: &str) -> Result<Vec<(Tok, usize)>, QueryError> {
    let chars: Vec<char> = query.chars().collect();
    let special = |c: char| c.is_whitespace() || matches!(c, '(' | ')' | '"');
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' || c == ')' {
            out.push((if c == '(' { Tok::LParen } else { Tok::RParen }, col));
            i += 1;
        } else if c == '"' {
            let start = i + 1;
            let Some(len) = chars[start..].iter().position(|&c| c == '"') else {
                return Err(QueryError::new(
                    col,
                    "unterminated phrase: missing closing `\"`",
                ));
            };
            out.push((Tok::Phrase(chars[start..start + len].iter().collect()), col));
            i = start + len + 1;
        } else {
            let start = i;
            while i < chars.len() && !special(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if let Some((head, _)) = word.split_once(':') {
                if !head.is_empty() && head.chars().all(|c| c.is_ascii_alphabetic()) {
                    let column = match head.to_ascii_lowercase().as_str() {
                        "title" => Column::Title,
                        "summary" => Column::Summary,
                        "body" => Column::Body,
                        "url" | "feed" => {
                            return Err(QueryError::new(
                                col,
                                format!(
                                    "`{head}:` cannot be searched: only title, summary and body \
                                     are in the full-text index"
                                ),
                            ))
                        }
                        _ => {
                            return Err(QueryError::new(
                                col,
                                format!(
                                    "unknown field `{head}:` (fields are title, summary, body; \
                                     quote a term that contains `:`)"
                                ),
                            ))
                        }
                    };
                    out.push((Tok::Scope(column), col));
                    i = start + head.chars().count() + 1;
                    if i >= chars.len() || chars[i].is_whitespace() || chars[i] == ')' {
                        return Err(QueryError::new(
                            col,
                            format!(
                                "`{head}:` must be followed directly by a term, phrase or group"
                            ),
                        ));
                    }
                    continue;
                }
            }
            let tok = match word.as_str() {
                "AND" => Tok::And,
                "OR" => Tok::Or,
                "NOT" => Tok::Not,
                w if w == "NEAR"
                    || w == "ONEAR"
                    || w.starts_with("NEAR/")
                    || w.starts_with("ONEAR/") =>
                {
                    let ordered = w.starts_with('O');
                    let n = w.split_once('/').map_or("", |(_, n)| n);
                    match n.parse::<u32>() {
                        Ok(distance) if (1..=MAX_DISTANCE).contains(&distance) => {
                            Tok::Near { distance, ordered }
                        }
                        _ => {
                            return Err(QueryError::new(
                                col,
                                format!(
                                    "`{w}`: expected a distance in words from 1 to \
                                     {MAX_DISTANCE}, like `NEAR/5`"
                                ),
                            ))
                        }
                    }
                }
                _ => Tok::Word(word),
            };
            out.push((tok, col));
        }
    }
    Ok(out)
}
