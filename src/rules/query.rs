//! The rule query language: lexer, parser and syntax tree.
//!
//! See the [module documentation](super) for the grammar a user sees. This file turns a query
//! string into an [`Expr`] or a [`QueryError`] with a 1-based character column; it never panics,
//! whatever the input (a proptest and a cargo-fuzz target hold it to that).
//!
//! `Display` on [`Expr`] prints a query that parses back to the same tree, so `check --explain`
//! and error messages can show a canonical form of what the user wrote.

use std::fmt;

use super::normalize;
use super::Field;

/// Deepest nesting of groups/NOT accepted; deeper input is refused rather than risking the stack.
pub const MAX_DEPTH: usize = 64;
/// Largest `n` in `NEAR/n`: farther than this is "anywhere in the field", which AND already says.
pub const MAX_DISTANCE: u32 = 10_000;

/// Where a node was written: a 1-based character column in the query text.
///
/// It is not part of a node's identity (every `Col` equals every other), so two trees that
/// differ only in layout are the same query: `Display` round-trips compare equal, and
/// `search` can point a caret at the operator it cannot translate.
#[derive(Debug, Clone, Copy, Default)]
pub struct Col(pub usize);

impl PartialEq for Col {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Col {}

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A word, phrase, prefix or stem.
    Lit(Literal),
    /// Every operand holds.
    And(Vec<Expr>),
    /// Any operand holds.
    Or(Vec<Expr>),
    /// The operand does not hold; the column is the `NOT`'s.
    Not(Box<Expr>, Col),
    /// Both sides within `distance` words of each other (words strictly between them);
    /// `ordered` (ONEAR) also requires the left side to come first.
    Near {
        /// The first operand.
        left: Box<Expr>,
        /// The second operand.
        right: Box<Expr>,
        /// Most words strictly between the two.
        distance: u32,
        /// Whether the left must come first (ONEAR).
        ordered: bool,
        /// The column of the `NEAR/n` operator.
        column: Col,
    },
    /// `field:(...)`: the operand matched in one field only; the column is the scope's.
    Scope(Field, Box<Expr>, Col),
    /// `@name`: a named term set from the rule files' `[[concepts]]`, resolved when rules are
    /// compiled (see [`concepts`](super::concepts)).
    Concept(ConceptRef),
}

/// A use of a concept in a query.
#[derive(Debug, Clone, Eq)]
pub struct ConceptRef {
    /// The name after `@`.
    pub name: String,
    /// 1-based character column of the `@`, for "undefined concept" errors. Not part of the
    /// reference's identity: `a @x` and `@x` name the same concept.
    pub column: usize,
}

impl PartialEq for ConceptRef {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

/// A term, phrase or prefix as written, with its normalised tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Literal {
    /// The literal exactly as written (quotes and `*` included), for display and explanations.
    pub raw: String,
    /// Normalised tokens; several for phrases and for words that normalise to several
    /// (`Green-Zone`). Never empty.
    pub tokens: Vec<String>,
    /// The last token is a prefix (`secur*`).
    pub prefix: bool,
    /// `~storm`: matches any word with the same stem in the item's language (one word only).
    pub stem: bool,
    /// Where the literal starts in the query.
    pub column: Col,
}

/// Shortest word `~` accepts: shorter words have stems too short to mean anything.
pub const MIN_STEM_CHARS: usize = 3;

/// Whether `name` is a valid concept name: ASCII letters, digits, `_` and `-`.
pub fn is_concept_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A syntax error: what is wrong and where (1-based character column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// What is wrong.
    pub message: String,
    /// 1-based character column of the problem.
    pub column: usize,
}

impl QueryError {
    /// An error at 1-based character `column`.
    pub fn new(column: usize, message: impl Into<String>) -> Self {
        QueryError {
            message: message.into(),
            column,
        }
    }

    /// The message, then `query` with a caret under the column, for people.
    pub fn render(&self, query: &str) -> String {
        format!(
            "{}\n{}",
            self.message,
            super::caret_block(query, self.column)
        )
    }
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (column {})", self.message, self.column)
    }
}

impl std::error::Error for QueryError {}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Phrase(String),
    LParen,
    RParen,
    And,
    Or,
    Not,
    Near(u32, bool),
    Scope(Field),
}

fn field_name(s: &str) -> Option<Field> {
    Some(match s {
        "title" => Field::Title,
        "summary" => Field::Summary,
        "body" => Field::Body,
        "url" => Field::Url,
        "feed" => Field::Feed,
        _ => return None,
    })
}

fn is_special(c: char) -> bool {
    c.is_whitespace() || c == '(' || c == ')' || c == '"'
}

/// Split the query into tokens with their 1-based columns.
fn lex(query: &str) -> Result<Vec<(Tok, usize)>, QueryError> {
    let chars: Vec<char> = query.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            out.push((Tok::LParen, col));
            i += 1;
        } else if c == ')' {
            out.push((Tok::RParen, col));
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
            while i < chars.len() && !is_special(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            // `field:` scope: letters then a colon.
            if let Some(k) = word.find(':') {
                let head = &word[..k];
                if !head.is_empty() && head.chars().all(|c| c.is_ascii_alphabetic()) {
                    let Some(field) = field_name(&head.to_ascii_lowercase()) else {
                        return Err(QueryError::new(
                            col,
                            format!(
                                "unknown field `{head}:` (fields are title, summary, body, url, \
                                 feed; quote a term that contains `:`)"
                            ),
                        ));
                    };
                    out.push((Tok::Scope(field), col));
                    // Continue right after the colon: the operand follows without a space.
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
                    let n = w.split_once('/').map(|(_, n)| n).unwrap_or("");
                    match n.parse::<u32>() {
                        Ok(n) if (1..=MAX_DISTANCE).contains(&n) => Tok::Near(n, ordered),
                        _ => {
                            return Err(QueryError::new(
                                col,
                                format!(
                                    "`{w}`: expected a distance in words from 1 to {MAX_DISTANCE}, \
                                     like `NEAR/5`"
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

/// Build a `~word` stem literal.
fn stem_literal(raw: String, col: usize) -> Result<Literal, QueryError> {
    let word = raw.get(1..).unwrap_or("");
    if word.ends_with('*') {
        return Err(QueryError::new(
            col,
            "`~` (same stem) and `*` (prefix) cannot be combined: write `~word` or `word*`",
        ));
    }
    let tokens = normalize::tokens(word);
    match tokens.as_slice() {
        [] => Err(QueryError::new(col, "`~` must be followed by a word")),
        [t] if t.chars().count() < MIN_STEM_CHARS => Err(QueryError::new(
            col,
            format!("`~{t}` is too short: stem matching needs a word of at least {MIN_STEM_CHARS} letters"),
        )),
        [_] => Ok(Literal {
            raw,
            tokens,
            prefix: false,
            stem: true,
            column: Col(col),
        }),
        _ => Err(QueryError::new(
            col,
            "`~` applies to one word; for a phrase, write its words without `~` in quotes",
        )),
    }
}

/// Build a literal from a word or phrase body, checking wildcards.
fn literal(raw: String, body: &str, col: usize, phrase: bool) -> Result<Literal, QueryError> {
    let (text, prefix) = match body.strip_suffix('*') {
        Some(t) => (t, true),
        None => (body, false),
    };
    if !phrase && text.contains('*') {
        return Err(QueryError::new(
            col,
            "`*` is only allowed at the end of a term (prefix search)",
        ));
    }
    if prefix && (text.is_empty() || text.ends_with(char::is_whitespace)) {
        return Err(QueryError::new(
            col,
            "a bare `*` would match every word: put at least 2 letters before it",
        ));
    }
    let tokens = normalize::tokens(text);
    let Some(last) = tokens.last() else {
        return Err(QueryError::new(
            col,
            if phrase {
                "empty phrase: it has no letters or digits"
            } else {
                "term has no letters or digits"
            },
        ));
    };
    if prefix && last.chars().count() < 2 {
        return Err(QueryError::new(
            col,
            format!("prefix `{last}*` is too short: put at least 2 letters before `*`"),
        ));
    }
    Ok(Literal {
        raw,
        tokens,
        prefix,
        stem: false,
        column: Col(col),
    })
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    end_col: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }
    fn col(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end_col, |(_, c)| *c)
    }
    fn starts_operand(t: &Tok) -> bool {
        matches!(
            t,
            Tok::Word(_) | Tok::Phrase(_) | Tok::LParen | Tok::Not | Tok::Scope(_)
        )
    }
    fn enter(&mut self) -> Result<(), QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(QueryError::new(
                self.col(),
                format!("query nested more than {MAX_DEPTH} levels deep"),
            ));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.and()?];
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            items.push(self.and()?);
        }
        Ok(flatten(items, false))
    }

    fn and(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.near()?];
        loop {
            match self.peek() {
                Some(Tok::And) => {
                    self.pos += 1;
                    items.push(self.near()?);
                }
                Some(t) if Self::starts_operand(t) => items.push(self.near()?),
                _ => break,
            }
        }
        Ok(flatten(items, true))
    }

    fn near(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.unary()?;
        while let Some(&Tok::Near(distance, ordered)) = self.peek() {
            let col = self.col();
            self.pos += 1;
            let right = self.unary()?;
            for side in [&left, &right] {
                if !positional(side) {
                    return Err(QueryError::new(
                        col,
                        "NEAR/ONEAR operands must be terms, phrases, prefixes or OR-groups of them",
                    ));
                }
            }
            left = Expr::Near {
                left: Box::new(left),
                right: Box::new(right),
                distance,
                ordered,
                column: Col(col),
            };
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, QueryError> {
        if self.peek() == Some(&Tok::Not) {
            let col = self.col();
            self.pos += 1;
            self.enter()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner), Col(col)));
        }
        self.primary()
    }

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
            Tok::Word(w) if w.starts_with('~') => Ok(Expr::Lit(stem_literal(w, col)?)),
            Tok::Word(w) if w.starts_with('@') => {
                let name = &w[1..];
                if !is_concept_name(name) {
                    return Err(QueryError::new(
                        col,
                        format!(
                            "`{w}`: a concept name after `@` has only letters, digits, `_` and `-`"
                        ),
                    ));
                }
                Ok(Expr::Concept(ConceptRef {
                    name: name.to_string(),
                    column: col,
                }))
            }
            Tok::Word(w) => Ok(Expr::Lit(literal(w.clone(), &w, col, false)?)),
            Tok::Phrase(p) => Ok(Expr::Lit(literal(format!("\"{p}\""), &p, col, true)?)),
            Tok::Scope(field) => {
                self.enter()?;
                if !matches!(
                    self.peek(),
                    Some(Tok::Word(_) | Tok::Phrase(_) | Tok::LParen | Tok::Scope(_))
                ) {
                    return Err(QueryError::new(
                        self.col(),
                        "a field scope applies to a term, phrase or parenthesised group",
                    ));
                }
                let inner = self.primary()?;
                self.depth -= 1;
                Ok(Expr::Scope(field, Box::new(inner), Col(col)))
            }
            Tok::LParen => {
                self.enter()?;
                if self.peek() == Some(&Tok::RParen) {
                    return Err(QueryError::new(col, "empty group `()`"));
                }
                let inner = self.or()?;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(QueryError::new(col, "unbalanced `(`: no matching `)`"));
                }
                self.pos += 1;
                self.depth -= 1;
                Ok(inner)
            }
            Tok::RParen => Err(QueryError::new(col, "unexpected `)`")),
            Tok::And | Tok::Or => Err(QueryError::new(
                col,
                "operator without a left operand (AND/OR need something on both sides)",
            )),
            Tok::Not => Err(QueryError::new(col, "NOT needs an operand")),
            Tok::Near(..) => Err(QueryError::new(
                col,
                "NEAR/ONEAR needs an operand on both sides",
            )),
        }
    }
}

/// Terms, phrases, prefixes, OR-groups and scopes of those have word positions; NEAR needs them.
fn positional(e: &Expr) -> bool {
    match e {
        Expr::Lit(_) | Expr::Concept(_) => true,
        Expr::Or(items) => items.iter().all(positional),
        Expr::Scope(_, inner, _) => positional(inner),
        _ => false,
    }
}

fn flatten(items: Vec<Expr>, and: bool) -> Expr {
    if items.len() == 1 {
        return items.into_iter().next().unwrap_or(Expr::And(Vec::new()));
    }
    let mut out = Vec::with_capacity(items.len());
    for e in items {
        match e {
            Expr::And(v) if and => out.extend(v),
            Expr::Or(v) if !and => out.extend(v),
            e => out.push(e),
        }
    }
    if and {
        Expr::And(out)
    } else {
        Expr::Or(out)
    }
}

/// Parse a query string.
///
/// # Errors
/// A [`QueryError`] with a message and the 1-based column of the offending token.
pub fn parse(query: &str) -> Result<Expr, QueryError> {
    let toks = lex(query)?;
    let end_col = query.chars().count() + 1;
    if toks.is_empty() {
        return Err(QueryError::new(1, "empty query"));
    }
    let mut p = Parser {
        toks,
        pos: 0,
        end_col,
        depth: 0,
    };
    let e = p.or()?;
    if let Some(t) = p.peek() {
        let msg = match t {
            Tok::RParen => "unexpected `)` without a matching `(`",
            Tok::Near(..) => "NEAR/ONEAR needs an operand on both sides",
            _ => "operator without a right operand",
        };
        return Err(QueryError::new(p.col(), msg));
    }
    Ok(e)
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Title => "title",
            Field::Summary => "summary",
            Field::Body => "body",
            Field::Url => "url",
            Field::Feed => "feed",
        })
    }
}

fn atom(e: &Expr) -> bool {
    matches!(e, Expr::Lit(_) | Expr::Scope(..) | Expr::Concept(_))
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let paren = |f: &mut fmt::Formatter<'_>, e: &Expr, bare: bool| {
            if bare {
                write!(f, "{e}")
            } else {
                write!(f, "({e})")
            }
        };
        match self {
            Expr::Lit(l) => f.write_str(&l.raw),
            Expr::Concept(c) => write!(f, "@{}", c.name),
            Expr::And(items) | Expr::Or(items) => {
                let and = matches!(self, Expr::And(_));
                for (i, e) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(if and { " AND " } else { " OR " })?;
                    }
                    let bare = match e {
                        Expr::Or(_) | Expr::And(_) => !and && matches!(e, Expr::And(_)),
                        _ => true,
                    };
                    paren(f, e, bare)?;
                }
                Ok(())
            }
            Expr::Not(e, _) => {
                f.write_str("NOT ")?;
                paren(f, e, atom(e) || matches!(**e, Expr::Not(..)))
            }
            Expr::Near {
                left,
                right,
                distance,
                ordered,
                ..
            } => {
                paren(f, left, atom(left) || matches!(**left, Expr::Near { .. }))?;
                write!(f, " {}NEAR/{distance} ", if *ordered { "O" } else { "" })?;
                paren(f, right, atom(right))
            }
            Expr::Scope(field, e, _) => {
                write!(f, "{field}:")?;
                paren(f, e, atom(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_to_canonical_form() {
        let cases = [
            ("a b", "a AND b"),
            ("a b OR c", "a AND b OR c"),
            ("a (b OR c)", "a AND (b OR c)"),
            ("NOT a b", "NOT a AND b"),
            ("a AND NOT (b OR c)", "a AND NOT (b OR c)"),
            (
                "\"green zone\" NEAR/15 (rocket* OR drone*)",
                "\"green zone\" NEAR/15 (rocket* OR drone*)",
            ),
            ("a ONEAR/3 b", "a ONEAR/3 b"),
            ("title:(a OR b) c", "title:(a OR b) AND c"),
            ("title:\"x y\"", "title:\"x y\""),
            ("a and b or c", "a AND and AND b AND or AND c"),
            ("((a))", "a"),
            ("a OR (b OR c)", "a OR b OR c"),
            ("Green-Zone", "Green-Zone"),
            ("10:30", "10:30"),
            ("NOT NOT a", "NOT NOT a"),
        ];
        for (q, want) in cases {
            let e = parse(q).unwrap_or_else(|e| panic!("{q}: {e:?}"));
            assert_eq!(e.to_string(), want, "query {q}");
            assert_eq!(parse(&e.to_string()).ok(), Some(e), "round trip {q}");
        }
    }

    #[test]
    fn literals_are_normalised() {
        let Ok(Expr::Lit(l)) = parse("Green-Zone*") else {
            panic!("not a literal")
        };
        assert_eq!(l.tokens, ["green", "zone"]);
        assert!(l.prefix);
        let Ok(Expr::Lit(l)) = parse("~Stürmten") else {
            panic!("not a literal")
        };
        assert_eq!(
            (l.tokens.as_slice(), l.stem, l.prefix),
            (&["sturmten".to_string()][..], true, false)
        );
    }

    #[test]
    fn stems_and_concepts_parse_and_round_trip() {
        for q in [
            "~storm OR @attack",
            "@green_zone NEAR/5 (@attack OR ~rocket)",
            "title:@iraq",
        ] {
            let e = parse(q).unwrap_or_else(|e| panic!("{q}: {e:?}"));
            assert_eq!(e.to_string(), q);
            assert_eq!(parse(&e.to_string()).ok(), Some(e));
        }
        let Ok(Expr::And(v)) = parse("a @b-c") else {
            panic!("not an AND")
        };
        assert!(matches!(&v[1], Expr::Concept(c) if c.name == "b-c" && c.column == 3));
    }

    #[test]
    fn errors_have_columns() {
        let cases = [
            ("", 1, "empty query"),
            ("a AND", 6, "ends where"),
            ("(a OR b", 1, "unbalanced"),
            ("a)", 2, "unexpected `)`"),
            ("\"green zone", 1, "unterminated"),
            ("rocket OR *", 11, "bare `*`"),
            ("a*", 1, "too short"),
            ("ro*ket", 1, "only allowed at the end"),
            ("titel:x", 1, "unknown field"),
            ("title: x", 1, "followed directly"),
            ("a NEAR b", 3, "distance"),
            ("a NEAR/0 b", 3, "distance"),
            ("a NEAR/5 (b c)", 3, "operands"),
            ("OR a", 1, "left operand"),
            ("()", 1, "empty group"),
            ("&&", 1, "no letters"),
            ("\"\"", 1, "empty phrase"),
            ("NOT", 4, "ends where"),
            ("a NEAR/3", 9, "ends where"),
            ("~", 1, "followed by a word"),
            ("x ~ab", 3, "too short"),
            ("~storm*", 1, "cannot be combined"),
            ("~Green-Zone", 1, "one word"),
            ("@", 1, "concept name"),
            ("a @x.y", 3, "concept name"),
        ];
        for (q, col, msg) in cases {
            match parse(q) {
                Ok(e) => panic!("{q:?} parsed as {e}"),
                Err(e) => {
                    assert_eq!(e.column, col, "{q:?}: {}", e.message);
                    assert!(e.message.contains(msg), "{q:?}: {}", e.message);
                }
            }
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let q = "(".repeat(10_000) + "a" + &")".repeat(10_000);
        assert!(parse(&q).is_err());
        let q = "NOT ".repeat(10_000) + "a";
        assert!(parse(&q).is_err());
    }
}
