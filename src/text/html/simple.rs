//! The fast path for the markup most feed summaries use: renders it straight from the bytes,
//! without building a DOM, and gives up (`None`) on anything the full parser could read
//! differently.

use super::{break_level, TextBuilder};

/// The markup of most feed summaries (`<p>`, `<a>`, `<br>`, `<b>`, a few entities), rendered
/// without building a DOM: the same text as the html5ever path, at a fraction of the cost (a
/// cold poll spends more time parsing summaries than parsing the feeds' XML). `None` as soon as
/// anything could make the two differ (an unlisted tag, a comment, a misnested or unclosed
/// element, an entity outside a small set), and the caller takes the full parser.
pub(super) fn simple_fragment_to_text(html: &str) -> Option<String> {
    let b = html.as_bytes();
    if b.contains(&0) {
        return None;
    }
    let mut tb = TextBuilder::with_capacity(html.len());
    let mut open: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        // Text runs go to the builder as they are: it joins consecutive pieces seamlessly.
        let next = b.get(i..)?.iter().position(|&c| c == b'<' || c == b'&');
        let end = next.map_or(b.len(), |n| i + n);
        tb.text(html.get(i..end)?);
        i = end;
        match b.get(i) {
            None => break,
            Some(b'&') => {
                let (c, len) = simple_entity(b.get(i..)?)?;
                tb.text(c.encode_utf8(&mut [0; 4]));
                i += len;
                continue;
            }
            _ => {}
        }
        let closing = b.get(i + 1) == Some(&b'/');
        let name_start = i + 1 + usize::from(closing);
        let name_len = b
            .get(name_start..)?
            .iter()
            .position(|c| !c.is_ascii_alphanumeric())?;
        if name_len == 0 || !b.get(name_start)?.is_ascii_alphabetic() {
            return None;
        }
        let name = html.get(name_start..name_start + name_len)?;
        // The end of the tag, skipping quoted attribute values.
        let mut j = name_start + name_len;
        let mut quote = None;
        loop {
            let c = *b.get(j)?;
            match (quote, c) {
                (None, b'>') => break,
                (None, b'"' | b'\'') => quote = Some(c),
                (None, b'<') => return None,
                (Some(q), _) if c == q => quote = None,
                _ => {}
            }
            j += 1;
        }
        i = j + 1;
        let tag = simple_tag(name)?;
        if closing {
            if tag.void || !open.pop()?.eq_ignore_ascii_case(name) {
                return None;
            }
            if tag.level > 0 {
                tb.brk(tag.level);
            }
            continue;
        }
        // Block starts that html5ever answers by closing an open element (a `p`, a heading
        // inside a heading, a list item inside a list item): the tree then differs from the
        // markup, so leave it to html5ever.
        let is_open = |names: &[&str]| {
            open.iter()
                .any(|o| names.iter().any(|n| o.eq_ignore_ascii_case(n)))
        };
        const HEADINGS: &[&str] = &["h1", "h2", "h3", "h4", "h5", "h6"];
        let closes = tag.level > 0
            && tag.name != "br"
            && (is_open(&["p"])
                || (HEADINGS.contains(&tag.name) && is_open(HEADINGS))
                || (tag.name == "li" && is_open(&["li"]))
                || (matches!(tag.name, "dt" | "dd") && is_open(&["dt", "dd"])));
        if closes {
            return None;
        }
        match tag.name {
            "br" => tb.line_break(),
            "img" => tb.space(),
            _ if tag.level > 0 => tb.brk(tag.level),
            _ => {}
        }
        if tag.void {
            if tag.name == "hr" {
                tb.brk(2);
            }
        } else {
            open.push(name);
        }
    }
    if !open.is_empty() {
        return None;
    }
    Some(tb.finish())
}

/// A tag the simple path renders, with its break level (see [`break_level`]).
struct SimpleTag {
    name: &'static str,
    level: u8,
    void: bool,
}

fn simple_tag(name: &str) -> Option<SimpleTag> {
    const INLINE: &[&str] = &[
        "a", "b", "i", "em", "strong", "span", "u", "small", "sup", "sub", "abbr", "cite", "code",
        "q", "s", "strike", "del", "ins", "mark", "font", "time", "big", "tt", "var", "kbd",
    ];
    const BLOCK: &[&str] = &[
        "p",
        "div",
        "ul",
        "ol",
        "li",
        "blockquote",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "figure",
        "figcaption",
        "section",
        "article",
        "header",
        "footer",
        "dl",
        "dt",
        "dd",
    ];
    const VOID: &[&str] = &["br", "img", "hr", "wbr"];
    let find = |list: &[&'static str]| list.iter().find(|t| t.eq_ignore_ascii_case(name)).copied();
    if let Some(n) = find(VOID) {
        return Some(SimpleTag {
            name: n,
            level: break_level(n),
            void: true,
        });
    }
    let n = find(INLINE).or_else(|| find(BLOCK))?;
    Some(SimpleTag {
        name: n,
        level: break_level(n),
        void: false,
    })
}

/// The character and length of the entity at the start of `b` (which begins with `&`), for the
/// few the simple path knows; `None` for anything else.
fn simple_entity(b: &[u8]) -> Option<(char, usize)> {
    const NAMED: &[(&[u8], char)] = &[
        (b"&amp;", '&'),
        (b"&lt;", '<'),
        (b"&gt;", '>'),
        (b"&quot;", '"'),
        (b"&apos;", '\''),
        (b"&nbsp;", '\u{a0}'),
    ];
    if let Some(&(e, c)) = NAMED.iter().find(|(e, _)| b.starts_with(e)) {
        return Some((c, e.len()));
    }
    let rest = b.strip_prefix(b"&#")?;
    let (hex, digits) = match rest.first() {
        Some(b'x' | b'X') => (true, rest.get(1..)?),
        _ => (false, rest),
    };
    let n = digits.iter().position(|c| {
        if hex {
            !c.is_ascii_hexdigit()
        } else {
            !c.is_ascii_digit()
        }
    })?;
    if n == 0 || n > 6 || digits.get(n) != Some(&b';') {
        return None;
    }
    let v = u32::from_str_radix(
        std::str::from_utf8(digits.get(..n)?).ok()?,
        if hex { 16 } else { 10 },
    )
    .ok()?;
    // Controls, C1 (which html5ever maps to windows-1252), surrogates: left to html5ever.
    if v < 0x20 || (0x7F..=0x9F).contains(&v) {
        return None;
    }
    let c = char::from_u32(v)?;
    Some((c, 2 + usize::from(hex) + n + 1))
}
