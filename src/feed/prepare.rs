//! Turns a decoded document into something feed-rs parses, and says what it is.
//!
//! feed-rs is strict in places where real feeds are not: it decodes by the XML declaration
//! (we have already decoded, so the declaration must go), it only accepts `<rss>` with
//! version 2.0/0.91/0.92 (0.93, 0.94 and a missing version are common), it refuses JSON Feeds
//! whose version is not exactly `https://jsonfeed.org/version/1*`, and it gives up on a
//! truncated document. Each of those is fixed here on the text, before feed-rs sees it.

use super::FeedFormat;

/// What the first element of the document says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kind {
    Xml { format: FeedFormat, root: String },
    Json,
    Html,
    Other(String),
}

/// Strips everything feed-rs must not see before the root element (BOM, whitespace, the XML
/// declaration), normalises the RSS version and classifies the document.
pub(super) fn prepare(text: &str) -> (String, Kind) {
    let body = text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    if body.starts_with('{') {
        return (fix_json(body), Kind::Json);
    }
    if body.starts_with('[') {
        return (String::new(), Kind::Other("a JSON array".into()));
    }
    let mut body = strip_declaration(body);
    let Some((root_start, root)) = root_element(&body) else {
        return (
            body,
            Kind::Other("a document with no XML root element".into()),
        );
    };
    let local = root
        .rsplit(':')
        .next()
        .unwrap_or(&root)
        .to_ascii_lowercase();
    let kind = match local.as_str() {
        "html" | "head" | "body" => Kind::Html,
        "feed" | "entry" => {
            if body.contains(ATOM03_NS) {
                body = atom03_to_10(&body);
            }
            Kind::Xml {
                format: FeedFormat::Atom,
                root,
            }
        }
        "rdf" => {
            let v090 = body.contains(RSS090_MARK);
            let format = if v090 {
                FeedFormat::Rss09x
            } else {
                FeedFormat::Rss10
            };
            if v090 {
                // RSS 0.90 is RSS 1.0's ancestor with the same elements; feed-rs only knows
                // 1.0's namespace, and 0.90 documents use several spellings of their own.
                body = set_default_ns(&body, root_start, RSS10_NS);
            }
            Kind::Xml { format, root }
        }
        "rss" => {
            let (fixed, format) = fix_rss_root(&body, root_start);
            body = fixed;
            Kind::Xml { format, root }
        }
        _ => Kind::Other(format!("an XML document with root <{root}>")),
    };
    (body, kind)
}

/// Replaces the value of the root element's default `xmlns` with `ns`.
fn set_default_ns(body: &str, root_start: usize, ns: &str) -> String {
    let tag_end = body[root_start..]
        .find('>')
        .map_or(body.len(), |e| root_start + e);
    match attr_span(&body[root_start..tag_end], "xmlns") {
        Some((s, e)) => format!("{}{ns}{}", &body[..root_start + s], &body[root_start + e..]),
        None => body.to_string(),
    }
}

/// Escapes `&` that does not start an entity or character reference (`&bar=2` in a link is
/// the most common well-formedness error in real feeds). CDATA sections and comments are
/// copied untouched, since `&` is literal there.
pub(super) fn escape_bare_ampersands(body: &str) -> Option<String> {
    let mut out = String::with_capacity(body.len() + 64);
    let mut rest = body;
    let mut changed = false;
    loop {
        let next_amp = rest.find('&');
        let next_cdata = rest.find("<![CDATA[");
        let next_comment = rest.find("<!--");
        let skip = [
            next_cdata.map(|p| (p, "]]>")),
            next_comment.map(|p| (p, "-->")),
        ]
        .into_iter()
        .flatten()
        .min_by_key(|(p, _)| *p);
        match (next_amp, skip) {
            (None, _) => break,
            (Some(a), Some((p, end))) if p < a => {
                let stop = rest[p..]
                    .find(end)
                    .map_or(rest.len(), |e| p + e + end.len());
                out.push_str(&rest[..stop]);
                rest = &rest[stop..];
            }
            (Some(a), _) => {
                out.push_str(&rest[..a]);
                let after = &rest[a + 1..];
                if !starts_reference(after) {
                    out.push_str("&amp;");
                    changed = true;
                } else {
                    out.push('&');
                }
                rest = after;
            }
        }
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// Whether the text after `&` is `name;`, `#digits;` or `#xhex;`.
fn starts_reference(after: &str) -> bool {
    let Some(end) = after.find(';').filter(|&e| e > 0 && e <= 40) else {
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

/// Drops a leading `<?xml ...?>` declaration: the text is UTF-8 now, whatever it declared.
fn strip_declaration(body: &str) -> String {
    if body.starts_with("<?xml") {
        if let Some(end) = body.find("?>") {
            return body[end + 2..].to_string();
        }
    }
    body.to_string()
}

/// Byte offset and qualified name of the first element, skipping comments, processing
/// instructions and the DOCTYPE.
fn root_element(body: &str) -> Option<(usize, String)> {
    let mut i = 0;
    while let Some(off) = body[i..].find('<') {
        let at = i + off;
        let rest = &body[at..];
        if rest.starts_with("<!--") {
            i = at + rest.find("-->").map_or(rest.len(), |e| e + 3);
        } else if rest.starts_with("<?") {
            i = at + rest.find("?>").map_or(rest.len(), |e| e + 2);
        } else if rest.starts_with("<!") {
            i = at + doctype_len(rest);
        } else {
            let name: String = rest[1..]
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/')
                .collect();
            return (!name.is_empty()).then_some((at, name));
        }
    }
    None
}

/// Length of a `<!DOCTYPE ...>` including an internal subset in `[...]`.
fn doctype_len(rest: &str) -> usize {
    let mut depth = 0usize;
    for (i, c) in rest.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            '>' if depth == 0 => return i + 1,
            _ => {}
        }
    }
    rest.len()
}

/// Part of every RSS 0.90 namespace URI seen (`my.netscape.com`, `channel.netscape.com`).
const RSS090_MARK: &str = "netscape.com/rdf/simple/0.9";
const RSS10_NS: &str = "http://purl.org/rss/1.0/";
const ATOM03_NS: &str = "http://purl.org/atom/ns#";

/// Atom 0.3 is close enough to 1.0 for feed-rs once the namespace and the two renamed date
/// elements (`issued` → `published`, `modified` → `updated`) are mapped.
fn atom03_to_10(body: &str) -> String {
    body.replace(ATOM03_NS, "http://www.w3.org/2005/Atom")
        .replace("<issued>", "<published>")
        .replace("</issued>", "</published>")
        .replace("<modified>", "<updated>")
        .replace("</modified>", "</updated>")
}

/// feed-rs dispatches `<rss>` on its version attribute and refuses anything but "2.0", "0.91"
/// and "0.92". RSS 0.93/0.94 and versionless `<rss>` are read by its RSS 2.0 parser (a superset).
/// A default namespace on `<rss>` (e.g. `http://backend.userland.com/rss2`) hides every element
/// from feed-rs, and RSS has no namespace, so it is dropped.
fn fix_rss_root(body: &str, root_start: usize) -> (String, FeedFormat) {
    let tag_end = body[root_start..]
        .find('>')
        .map_or(body.len(), |e| root_start + e);
    let tag = &body[root_start..tag_end];
    let version = attr(tag, "version");
    let format = match version.as_deref() {
        Some(v) if v.trim().starts_with("0.9") => FeedFormat::Rss09x,
        _ => FeedFormat::Rss20,
    };
    let ok = matches!(version.as_deref(), Some("2.0" | "0.91" | "0.92"));
    let has_default_ns = attr_span(tag, "xmlns").is_some();
    if ok && !has_default_ns {
        return (body.to_string(), format);
    }
    let mut new_tag = match version {
        Some(_) if !ok => replace_attr(tag, "version", "2.0"),
        Some(_) => tag.to_string(),
        None => format!("<rss version=\"2.0\"{}", tag.get(4..).unwrap_or("")),
    };
    if let Some((s, e)) = attr_span(&new_tag, "xmlns") {
        // Remove `xmlns="..."`: the name, the `=` and the quotes.
        let name_start = new_tag[..s].rfind("xmlns").unwrap_or(s);
        new_tag = format!(
            "{}{}",
            &new_tag[..name_start],
            new_tag.get(e + 1..).unwrap_or("")
        );
    }
    let mut out = String::with_capacity(body.len() + 16);
    out.push_str(&body[..root_start]);
    out.push_str(&new_tag);
    out.push_str(&body[tag_end..]);
    (out, format)
}

/// Value of attribute `name` in a start tag (quoted with " or ').
fn attr(tag: &str, name: &str) -> Option<String> {
    let (start, end) = attr_span(tag, name)?;
    Some(tag[start..end].to_string())
}

fn attr_span(tag: &str, name: &str) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(p) = tag[from..].find(name).map(|p| p + from) {
        from = p + name.len();
        let before_ok = tag[..p].ends_with(char::is_whitespace);
        let rest = tag[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let rest2 = rest[1..].trim_start();
        let q = rest2.chars().next()?;
        if q != '"' && q != '\'' {
            return None;
        }
        let vstart = tag.len() - rest2.len() + 1;
        let vend = tag[vstart..].find(q).map(|e| vstart + e)?;
        return Some((vstart, vend));
    }
    None
}

fn replace_attr(tag: &str, name: &str, value: &str) -> String {
    match attr_span(tag, name) {
        Some((s, e)) => format!("{}{}{}", &tag[..s], value, &tag[e..]),
        None => tag.to_string(),
    }
}

/// feed-rs refuses a JSON Feed whose `version` is not `https://jsonfeed.org/version/1*`
/// (`"1.1"`, `http://` URLs, missing). Anything with an `items` array is given the standard
/// version; other JSON is left alone and fails as it should.
fn fix_json(body: &str) -> String {
    let Ok(mut v) = serde_json::from_str::<serde_json::Value>(body) else {
        return body.to_string();
    };
    let Some(obj) = v.as_object_mut() else {
        return body.to_string();
    };
    if !obj.get("items").is_some_and(|i| i.is_array()) {
        return body.to_string();
    }
    let standard = obj
        .get("version")
        .and_then(|v| v.as_str())
        .is_some_and(|s| s.starts_with("https://jsonfeed.org/version/1"));
    if standard {
        return body.to_string();
    }
    obj.insert("version".into(), "https://jsonfeed.org/version/1.1".into());
    serde_json::to_string(&v).unwrap_or_else(|_| body.to_string())
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
    fn classifies_documents() {
        let cases = [
            ("<?xml version='1.0'?><rss version='2.0'><channel/></rss>", "rss2.0"),
            ("  \n<rss version=\"0.94\"><channel/></rss>", "rss0.9x"),
            ("<rss><channel/></rss>", "rss2.0"),
            ("<!-- hi --><!DOCTYPE feed [<!ENTITY a 'b'>]><feed xmlns='http://www.w3.org/2005/Atom'/>", "atom"),
            ("<rdf:RDF xmlns:rdf='x' xmlns='http://purl.org/rss/1.0/'/>", "rss1.0"),
            ("<!DOCTYPE html><html><body>moved</body></html>", "html"),
            ("{\"version\":\"1.1\",\"items\":[]}", "json"),
            ("<foo/>", "other"),
            ("plain text", "other"),
        ];
        for (doc, want) in cases {
            let (_, kind) = prepare(doc);
            let got = match kind {
                Kind::Xml { format, .. } => format.to_string(),
                Kind::Json => "json".into(),
                Kind::Html => "html".into(),
                Kind::Other(_) => "other".into(),
            };
            assert_eq!(got, want, "{doc}");
        }
    }

    #[test]
    fn rss_version_is_normalised() {
        let (body, _) = prepare("<rss version=\"0.93\" xmlns:x='y'><channel/></rss>");
        assert!(
            body.starts_with("<rss version=\"2.0\" xmlns:x='y'>"),
            "{body}"
        );
        let (body, _) = prepare("<rss><channel/></rss>");
        assert!(body.starts_with("<rss version=\"2.0\">"), "{body}");
    }

    #[test]
    fn repairs_truncated_rss() {
        let doc = "<rss version=\"2.0\"><channel><item><title>a</title></item><item><title>b</ti";
        let (body, kind) = prepare(doc);
        let fixed = repair_truncated(&body, &kind);
        assert_eq!(
            fixed.as_deref(),
            Some("<rss version=\"2.0\"><channel><item><title>a</title></item></channel></rss>")
        );
    }
}
