//! Text normalisation and tokenisation shared by queries and documents.
//!
//! Queries and documents go through the *same* function, so whatever a user types in a rule
//! (`GREEN-ZONE`, `Ambassade`, `#GreenZone`, `أمن`) meets the article text in the same form.
//!
//! Steps, per word:
//! 1. Split the original text into words on whitespace, punctuation and hyphens; drop the `'s` of
//!    possessives (`embassy's`, `embassy’s`); split camel case (`GreenZone`, `#GreenZone`) on the
//!    original letters, before any case is lost.
//! 2. NFKC, then full case folding (`ß` → `ss`, final sigma → sigma).
//! 3. Latin letters lose their diacritics (`é` → `e`, `ü` → `u`).
//! 4. Arabic loses harakat (U+064B–U+065F, U+0670) and tatweel (U+0640); alef forms
//!    (`أ إ آ ٱ`) become `ا`, taa marbuta `ة` becomes `ه`, alif maqsura `ى` becomes `ي`.
//!
//! The output is one string of normalised tokens, each preceded and followed by a single space
//! (`" green zone rocket "`), which is what the matcher's automaton walks from each token start:
//! a pattern ending in a space is a whole-word match, one without a trailing space a prefix.
//! Each token remembers its byte range in the original text so hits map back to what the reader
//! sees.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// One normalised token: its place in the normalised stream and in the original text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// Byte offset of the token's first byte in [`Normalized::stream`] (after the leading space).
    pub norm_start: u32,
    /// Byte offset just past the token in [`Normalized::stream`].
    pub norm_end: u32,
    /// Byte range of the word in the original text.
    pub orig_start: u32,
    /// Byte offset just past the word in the original text.
    pub orig_end: u32,
}

/// A normalised field: the space-delimited token stream and the token table.
#[derive(Debug, Default, Clone)]
pub struct Normalized {
    /// `" tok1 tok2 … "`: every token is surrounded by single spaces; empty text gives `" "`.
    pub stream: String,
    /// One entry per token, in order.
    pub tokens: Vec<Token>,
}

impl Normalized {
    /// The normalised text of token `i`.
    pub fn token_text(&self, i: usize) -> &str {
        self.tokens
            .get(i)
            .and_then(|t| self.stream.get(t.norm_start as usize..t.norm_end as usize))
            .unwrap_or("")
    }
}

/// Normalise `text` into a fresh [`Normalized`].
pub fn normalize(text: &str) -> Normalized {
    let mut out = Normalized::default();
    normalize_into(text, &mut out);
    out
}

/// The normalised tokens of `text` as plain strings (used for query literals and tests).
pub fn tokens(text: &str) -> Vec<String> {
    let n = normalize(text);
    (0..n.tokens.len())
        .map(|i| n.token_text(i).to_string())
        .collect()
}

/// Normalise `text` into `out`, reusing its buffers (the matcher calls this per field).
pub fn normalize_into(text: &str, out: &mut Normalized) {
    out.stream.clear();
    out.tokens.clear();
    out.stream.reserve(text.len() + 2);
    out.tokens.reserve(text.len() / 6);
    out.stream.push(' ');
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut word_start: Option<usize> = None;
    let mut scratch = String::new();
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_alphanumeric() {
            // The common case, in a tight loop: a run of ASCII letters and digits.
            let (run, ws) = (i, *word_start.get_or_insert(i));
            i += 1;
            let mut capitals = false;
            while let Some(c) = bytes.get(i).filter(|c| c.is_ascii_alphanumeric()) {
                capitals |= c.is_ascii_uppercase();
                i += 1;
            }
            // A whole word of them (an ASCII byte or the end follows) with no capital after
            // its first letter has no camel case to split: it is one token, as written but
            // for that letter's case. Nine words in ten of English news, emitted here
            // without the passes `emit_word` and `emit_part` make over every word.
            if ws == run && !capitals && bytes.get(i).is_none_or(u8::is_ascii) {
                word_start = None;
                let ns = out.stream.len();
                out.stream.push(char::from(b.to_ascii_lowercase()));
                out.stream.push_str(text.get(ws + 1..i).unwrap_or(""));
                push_token(out, ns, ws, i);
            }
            continue;
        }
        let (c, len) = if b < 0x80 {
            (b as char, 1)
        } else {
            match text.get(i..).and_then(|s| s.chars().next()) {
                Some(c) => (c, c.len_utf8()),
                None => break,
            }
        };
        if is_word_char(c) {
            if word_start.is_none() {
                word_start = Some(i);
            }
            i += len;
            continue;
        }
        if let Some(ws) = word_start.take() {
            emit_word(text, ws, i, out, &mut scratch);
        }
        i += len;
        // Possessive: a word, an apostrophe, a lone `s`, then a non-word char (or the end).
        if (c == '\'' || c == '\u{2019}') && i > len && prev_is_word(text, i - len) {
            let rest = &bytes[i..];
            if matches!(rest.first(), Some(b's') | Some(b'S'))
                && text
                    .get(i + 1..)
                    .and_then(|s| s.chars().next())
                    .is_none_or(|c| !is_word_char(c))
            {
                i += 1;
            }
        }
    }
    if let Some(ws) = word_start {
        emit_word(text, ws, bytes.len(), out, &mut scratch);
    }
}

fn prev_is_word(text: &str, end: usize) -> bool {
    text.get(..end)
        .and_then(|s| s.chars().next_back())
        .is_some_and(is_word_char)
}

/// Letters, digits, combining marks (so `é` typed as `e` + U+0301 stays one word) and tatweel.
fn is_word_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric();
    }
    c.is_alphanumeric() || is_combining_mark(c) || c == '\u{200C}' || c == '\u{200D}'
}

/// Split a raw word `[start, end)` on camel-case boundaries and emit each part.
fn emit_word(text: &str, start: usize, end: usize, out: &mut Normalized, scratch: &mut String) {
    let Some(word) = text.get(start..end) else {
        return;
    };
    if word.is_ascii() {
        // Fast path for the common case: byte-wise camel-case split, no Unicode tables.
        let b = word.as_bytes();
        let mut part_start = 0;
        for i in 1..b.len() {
            let (p, c) = (b[i - 1], b[i]);
            let boundary = c.is_ascii_uppercase()
                && (p.is_ascii_lowercase()
                    || (p.is_ascii_uppercase()
                        && b.get(i + 1).is_some_and(u8::is_ascii_lowercase)));
            if boundary {
                emit_part(text, start + part_start, start + i, out, scratch);
                part_start = i;
            }
        }
        emit_part(text, start + part_start, end, out, scratch);
        return;
    }
    // Camel-case boundaries, found on the original letters.
    let mut part_start = 0;
    let mut prev: Option<char> = None;
    let mut iter = word.char_indices().peekable();
    while let Some((idx, c)) = iter.next() {
        if let Some(p) = prev {
            let next = iter.peek().map(|&(_, n)| n);
            let boundary = (p.is_lowercase() && has_lower(c))
                || (has_lower(p) && has_lower(c) && next.is_some_and(|n| n.is_lowercase()));
            if boundary && idx > part_start {
                emit_part(text, start + part_start, start + idx, out, scratch);
                part_start = idx;
            }
        }
        if !is_combining_mark(c) {
            prev = Some(c);
        }
    }
    emit_part(text, start + part_start, end, out, scratch);
}

/// An upper-case letter with a lower-case form: only those start a camel-case part, so that
/// normalising twice gives the same tokens (symbols like `🅐` count as upper case but never fold).
fn has_lower(c: char) -> bool {
    c.is_uppercase() && c.to_lowercase().ne(std::iter::once(c))
}

/// Normalise one word part and append it (it may become several tokens after NFKC, or none).
fn emit_part(text: &str, start: usize, end: usize, out: &mut Normalized, scratch: &mut String) {
    let Some(part) = text.get(start..end) else {
        return;
    };
    if part.is_ascii() {
        let ns = out.stream.len();
        out.stream.push_str(part);
        if let Some(tail) = out.stream.get_mut(ns..) {
            tail.make_ascii_lowercase();
        }
        push_token(out, ns, start, end);
        return;
    }
    scratch.clear();
    fold_into(part, scratch);
    // NFKC can produce separators (ligatures of several words, `①`); split on them.
    let mut cur: Option<usize> = None;
    for c in scratch.chars() {
        if is_word_char(c) {
            if cur.is_none() {
                cur = Some(out.stream.len());
            }
            out.stream.push(c);
        } else if let Some(ns) = cur.take() {
            push_token(out, ns, start, end);
        }
    }
    if let Some(ns) = cur {
        push_token(out, ns, start, end);
    }
}

fn push_token(out: &mut Normalized, ns: usize, start: usize, end: usize) {
    if out.stream.len() == ns {
        return;
    }
    let ne = out.stream.len();
    out.stream.push(' ');
    out.tokens.push(Token {
        norm_start: ns as u32,
        norm_end: ne as u32,
        orig_start: start as u32,
        orig_end: end as u32,
    });
}

/// NFKC + case folding + diacritic/Arabic rules for one non-ASCII word part.
fn fold_into(part: &str, out: &mut String) {
    let mut folded = String::with_capacity(part.len());
    for c in part.nfkc() {
        match c {
            'ß' | 'ẞ' => folded.push_str("ss"),
            'ς' => folded.push('σ'),
            _ => folded.extend(c.to_lowercase()),
        }
    }
    // Decompose and drop combining marks that sit on Latin letters; Arabic gets its own rules
    // because NFD would turn `ؤ`/`ئ` into a bare letter plus hamza and lose the letter's identity.
    let mut last_base_latin = false;
    for c in folded.chars() {
        if is_arabic(c) {
            match c {
                // Dropped marks leave the base they sat on unchanged, so a later mark is judged
                // against the same letter on a second pass (normalisation is idempotent).
                '\u{064B}'..='\u{065F}' | '\u{0670}' | '\u{0640}' => continue,
                _ => last_base_latin = false,
            }
            match c {
                'أ' | 'إ' | 'آ' | 'ٱ' => out.push('ا'),
                'ة' => out.push('ه'),
                'ى' => out.push('ي'),
                _ => out.push(c),
            }
            continue;
        }
        if c.is_ascii() {
            last_base_latin = true;
            out.push(c);
            continue;
        }
        for d in std::iter::once(c).nfd() {
            if is_combining_mark(d) {
                if !last_base_latin {
                    out.push(d);
                }
            } else {
                last_base_latin = is_latin(d);
                out.push(d);
            }
        }
    }
    // Re-compose what was kept (non-Latin marks), so the output is stable under NFC.
    if !out.is_ascii() {
        let recomposed: String = out.nfc().collect();
        *out = recomposed;
    }
}

fn is_arabic(c: char) -> bool {
    matches!(c, '\u{0600}'..='\u{06FF}' | '\u{0750}'..='\u{077F}' | '\u{08A0}'..='\u{08FF}')
}

fn is_latin(c: char) -> bool {
    matches!(c, 'a'..='z' | 'A'..='Z' | '\u{00C0}'..='\u{024F}' | '\u{1E00}'..='\u{1EFF}' | '\u{2C60}'..='\u{2C7F}' | '\u{A720}'..='\u{A7FF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: &[(&str, &[&str])] = &[
            ("GREEN ZONE", &["green", "zone"]),
            ("Green-Zone", &["green", "zone"]),
            ("#GreenZone", &["green", "zone"]),
            ("USEmbassy", &["us", "embassy"]),
            ("embassy's", &["embassy"]),
            ("embassy’s staff", &["embassy", "staff"]),
            ("l'ambassade", &["l", "ambassade"]),
            ("it's", &["it"]),
            ("Ambassade", &["ambassade"]),
            ("Sécurité", &["securite"]),
            ("Straße", &["strasse"]),
            ("Grüne Zone", &["grune", "zone"]),
            ("ΟΔΟΣ", &["οδοσ"]),
            ("οδός", &["οδόσ"]),
            ("ﬁre", &["fire"]),
            ("e\u{301}te\u{301}", &["ete"]),
            ("المنطقة الخضراء", &["المنطقه", "الخضراء"]),
            ("المِنْطَقَة", &["المنطقه"]),
            ("أمن إيران آمن", &["امن", "ايران", "امن"]),
            ("مصطفى", &["مصطفي"]),
            ("الســفارة", &["السفاره"]),
            ("مسؤول", &["مسؤول"]),
            ("3,000 rockets!", &["3", "000", "rockets"]),
            ("", &[]),
            ("  ...  ", &[]),
            ("'s", &["s"]),
        ];
        for (input, want) in cases {
            assert_eq!(tokens(input), *want, "input {input:?}");
        }
    }

    #[test]
    fn offsets_point_at_original_words() {
        let text = "Rockets hit Baghdad's #GreenZone, é";
        let n = normalize(text);
        let words: Vec<&str> = n
            .tokens
            .iter()
            .map(|t| &text[t.orig_start as usize..t.orig_end as usize])
            .collect();
        assert_eq!(words, ["Rockets", "hit", "Baghdad", "Green", "Zone", "é"]);
        assert_eq!(n.stream, " rockets hit baghdad green zone e ");
    }
}
