//! The recovery ladder: what `feed::parse` tries, in order, when feed-rs rejects a document.
//!
//! Each step fixes one kind of damage seen in real feeds, on the text, and is only run after a
//! failure so that well-formed feeds are never rewritten: Atom `type` values feed-rs does not
//! know, bare `&` (the most common well-formedness error), and a body cut off in transit.
//! All steps are linear in the document size.

use super::prepare::{attr_span, Kind};
use super::FeedFormat;

/// Escapes `&` that does not start an entity or character reference (`&bar=2` in a link is
/// the most common well-formedness error in real feeds). CDATA sections and comments are
/// copied untouched, since `&` is literal there.
pub(super) fn escape_bare_ampersands(body: &str) -> Option<String> {
    let mut out = String::with_capacity(body.len() + 64);
    let mut copied = 0; // body[..copied] is already in `out`
    let mut i = 0;
    let mut changed = false;
    // One forward pass: every search starts where the last one ended, so this is linear.
    while let Some(off) = body[i..].find(['<', '&']) {
        let at = i + off;
        let here = &body[at..];
        if let Some(after) = here.strip_prefix('&') {
            if !starts_reference(after) {
                out.push_str(&body[copied..at]);
                out.push_str("&amp;");
                copied = at + 1;
                changed = true;
            }
            i = at + 1;
        } else if let Some((open, close)) = [("<![CDATA[", "]]>"), ("<!--", "-->")]
            .into_iter()
            .find(|(open, _)| here.starts_with(open))
        {
            let from = at + open.len();
            i = body[from..]
                .find(close)
                .map_or(body.len(), |e| from + e + close.len());
        } else {
            i = at + 1;
        }
    }
    out.push_str(&body[copied..]);
    changed.then_some(out)
}

/// Whether the text after `&` is `name;`, `#digits;` or `#xhex;`.
fn starts_reference(after: &str) -> bool {
    // Only the next 41 bytes are looked at: a scan to the end would make escaping quadratic.
    let Some(end) = after
        .bytes()
        .take(41)
        .position(|b| b == b';')
        .filter(|&e| e > 0)
    else {
        return false;
    };
    let r = &after[..end];
    if let Some(num) = r.strip_prefix('#') {
        match num.strip_prefix(['x', 'X']) {
            Some(hex) => !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()),
            None => !num.is_empty() && num.chars().all(|c| c.is_ascii_digit()),
        }
    } else {
        r.chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
            && r.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
    }
}

/// feed-rs rejects a whole Atom feed over one text construct whose `type` is not exactly
/// `text`, `html`, `text/html` or `xhtml` (`text/plain`, `TEXT`, `application/xhtml+xml` are
/// all seen in the wild), and over an empty `<content type="text/plain"/>`. This maps the
/// `type` of `title`, `subtitle`, `summary`, `rights` and `content` onto the three Atom
/// values; content with a real non-text media type is left alone. `None` when nothing changed.
pub(super) fn normalize_atom_types(body: &str) -> Option<String> {
    const TEXT_CONSTRUCTS: [&str; 5] = ["title", "subtitle", "summary", "rights", "content"];
    let mut out = String::with_capacity(body.len());
    let mut copied = 0;
    let mut i = 0;
    let mut changed = false;
    while let Some(off) = body[i..].find('<') {
        let at = i + off;
        let tag_end = body[at..].find('>').map_or(body.len(), |e| at + e);
        i = at + 1;
        let tag = &body[at..tag_end];
        let name: &str = tag[1..]
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or_default();
        let local = name.rsplit(':').next().unwrap_or(name);
        if !TEXT_CONSTRUCTS.contains(&local) {
            continue;
        }
        let Some((vs, ve)) = attr_span(tag, "type") else {
            continue;
        };
        if matches!(&tag[vs..ve], "text" | "html" | "xhtml") {
            continue;
        }
        let value = tag[vs..ve].trim().to_ascii_lowercase();
        let mapped = match value.as_str() {
            "text" | "text/plain" | "plain" => "text",
            "html" => "html",
            "xhtml" => "xhtml",
            "text/html" | "escaped" => "html",
            "application/xhtml+xml" => "xhtml",
            v if local == "content" && v.contains('/') && !v.starts_with("text/") => continue,
            _ => "text",
        };
        out.push_str(&body[copied..at + vs]);
        out.push_str(mapped);
        copied = at + ve;
        changed = true;
    }
    out.push_str(&body[copied..]);
    changed.then_some(out)
}

/// Best effort for a document cut off in transit: keep everything up to the last complete
/// item/entry and close the elements that enclose it. Returns `None` when there is no complete
/// item to keep.
pub(super) fn repair_truncated(body: &str, kind: &Kind) -> Option<String> {
    let Kind::Xml { format, root } = kind else {
        return None;
    };
    let (item_end, closers): (&str, String) = match format {
        FeedFormat::Atom => ("entry>", format!("</{root}>")),
        FeedFormat::Rss10 | FeedFormat::Rss09x if root.ends_with("RDF") => {
            ("item>", format!("</{root}>"))
        }
        _ => ("item>", "</channel></rss>".to_string()),
    };
    // The last closing tag of an item, with or without a namespace prefix.
    let mut search_end = body.len();
    while let Some(p) = body[..search_end].rfind(item_end) {
        let open = body[..p].rfind('<')?;
        let between = &body[open..p];
        if between.starts_with("</")
            && !between[2..].contains(|c: char| c.is_whitespace() || c == '>')
        {
            let cut = p + item_end.len();
            return Some(format!("{}{}", &body[..cut], closers));
        }
        search_end = p;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_bare_ampersands_outside_cdata() {
        let doc = "<a href=\"x?a=1&b=2\">AT&T &amp; &#38; &#x26; &nbsp;<![CDATA[a&b]]><!-- c&d --> & </a>";
        let want = "<a href=\"x?a=1&amp;b=2\">AT&amp;T &amp; &#38; &#x26; &nbsp;<![CDATA[a&b]]><!-- c&d --> &amp; </a>";
        assert_eq!(escape_bare_ampersands(doc).as_deref(), Some(want));
        assert_eq!(escape_bare_ampersands("<a>&amp;</a>"), None);
        // Linear: 200k bare ampersands in a 1 MB document.
        let big = "&x ".repeat(200_000);
        let start = std::time::Instant::now();
        assert!(escape_bare_ampersands(&big).is_some());
        // Generous for a loaded 2-core box (it shares it with other tests); a quadratic scan of
        // 200k references would take far longer.
        assert!(start.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn atom_types_are_normalised() {
        let doc = r#"<feed><title type="TEXT">a</title><entry><summary type='text/plain'>s</summary><content type="application/xhtml+xml"><div/></content><content type="audio/mpeg" src="x"/><a:title type="html">h</a:title></entry></feed>"#;
        let want = r#"<feed><title type="text">a</title><entry><summary type='text'>s</summary><content type="xhtml"><div/></content><content type="audio/mpeg" src="x"/><a:title type="html">h</a:title></entry></feed>"#;
        assert_eq!(normalize_atom_types(doc).as_deref(), Some(want));
        assert_eq!(
            normalize_atom_types("<feed><title type=\"html\">x</title></feed>"),
            None
        );
    }

    #[test]
    fn repairs_truncated_rss() {
        let doc = "<rss version=\"2.0\"><channel><item><title>a</title></item><item><title>b</ti";
        let (body, kind) = super::super::prepare::prepare(doc);
        let fixed = repair_truncated(&body, &kind);
        assert_eq!(
            fixed.as_deref(),
            Some("<rss version=\"2.0\"><channel><item><title>a</title></item></channel></rss>")
        );
    }
}
