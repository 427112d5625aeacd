//! Turns a decoded document into something feed-rs parses, and says what it is.
//!
//! Runs on every document, before feed-rs. It classifies the body (feed format, HTML page,
//! other JSON/XML, hostile DTD) and fixes, on the text, the places where feed-rs is stricter
//! than real feeds: it decodes by the XML declaration (we have already decoded, so the
//! declaration goes), it only accepts `<rss>` with version 2.0/0.91/0.92 and no default
//! namespace, it knows neither the RSS 0.90 nor the Atom 0.3 namespace, it refuses JSON Feeds
//! whose version is not exactly `https://jsonfeed.org/version/1*`, and it never expands DTD
//! entities. Repairs that are only tried after feed-rs fails live in `repair`.

use super::FeedFormat;

/// What the first element of the document says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kind {
    Xml {
        format: FeedFormat,
        root: String,
    },
    Json,
    Html,
    Other(String),
    /// A hostile document (entity expansion); the reason says what was refused.
    Refused(String),
}

/// Strips everything feed-rs must not see before the root element (BOM, whitespace, the XML
/// declaration), normalises the RSS version and classifies the document.
pub(super) fn prepare(text: &str) -> (String, Kind) {
    let body = text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    if body.starts_with('{') {
        return fix_json(body);
    }
    if body.starts_with('[') {
        return (String::new(), Kind::Other("a JSON array".into()));
    }
    let mut body = strip_declaration(body);
    let Some((root_start, root)) = root_element(&body) else {
        let what = if body.contains('<') {
            "a document with no root element"
        } else {
            "a plain-text document"
        };
        return (body, Kind::Other(what.into()));
    };
    let local = root
        .rsplit(':')
        .next()
        .unwrap_or(&root)
        .to_ascii_lowercase();
    let kind = match local.as_str() {
        // Pages and page fragments (error pages, login walls, "moved" notices).
        "html" | "head" | "body" | "meta" | "title" | "link" | "script" | "style" | "div" | "p"
        | "table" | "span" | "a" | "form" | "iframe" | "center" | "font" | "frameset" | "h1" => {
            Kind::Html
        }
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
    if matches!(kind, Kind::Xml { .. }) {
        match expand_internal_entities(&body) {
            Ok(Some(expanded)) => body = expanded,
            Ok(None) => {}
            Err(reason) => return (String::new(), Kind::Refused(reason)),
        }
    }
    (body, kind)
}

/// Most entities a DOCTYPE may define, and the longest value we accept.
const MAX_ENTITIES: usize = 64;
const MAX_ENTITY_VALUE: usize = 4096;
/// Expansion may add at most this many bytes in total.
pub(super) const MAX_EXPANSION: usize = 1 << 20;

/// Expands general entities declared in the internal DTD subset, or refuses the document.
///
/// feed-rs (quick-xml) never expands DTD entities: billion-laughs cannot hurt it, but the odd
/// legitimate feed that defines `<!ENTITY id "tag:example.com,">` would keep `&id;` in its text.
/// So plain-text entities are expanded here, non-recursively, and anything shaped like an
/// expansion attack is refused with a reason (an `Err`), so that the feed shows a clear error
/// instead of a page of `&lol9;`:
/// - an entity whose value refers to another entity (the billion-laughs construction),
/// - more than [`MAX_ENTITIES`] entities or a value over [`MAX_ENTITY_VALUE`] bytes,
/// - references that would add more than [`MAX_EXPANSION`] bytes (quadratic blow-up).
///
/// External (`SYSTEM`/`PUBLIC`) and parameter entities are never fetched or expanded.
fn expand_internal_entities(body: &str) -> Result<Option<String>, String> {
    let Some((root_start, _)) = root_element(body) else {
        return Ok(None);
    };
    let prolog = &body[..root_start];
    let Some(subset) = internal_subset(prolog) else {
        return Ok(None);
    };
    let mut entities: Vec<(String, String)> = Vec::new();
    for decl in subset.split("<!ENTITY").skip(1) {
        let decl = decl.trim_start();
        if decl.starts_with('%') {
            continue;
        }
        let name: String = decl.chars().take_while(|c| !c.is_whitespace()).collect();
        let rest = decl[name.len()..].trim_start();
        let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue; // SYSTEM / PUBLIC: external, never fetched
        };
        let Some(end) = rest[1..].find(q) else {
            continue;
        };
        let value = &rest[1..1 + end];
        if value.contains('&') {
            return Err(format!(
                "the DOCTYPE defines entity `{name}` in terms of other entities \
                 (an entity-expansion \"billion laughs\" attack)"
            ));
        }
        if entities.len() >= MAX_ENTITIES || value.len() > MAX_ENTITY_VALUE {
            return Err("the DOCTYPE defines too many or too large entities".into());
        }
        if !name.is_empty() && !value.contains('<') {
            entities.push((format!("&{name};"), value.to_string()));
        }
    }
    if entities.is_empty() {
        return Ok(None);
    }
    let mut out = String::with_capacity(body.len());
    out.push_str(prolog);
    let mut rest = &body[root_start..];
    let mut budget = MAX_EXPANSION;
    while let Some(p) = rest.find('&') {
        out.push_str(&rest[..p]);
        let here = &rest[p..];
        match entities.iter().find(|(r, _)| here.starts_with(r.as_str())) {
            Some((r, v)) => {
                budget = budget.checked_sub(v.len()).ok_or_else(|| {
                    format!("expanding the DOCTYPE's entities would add more than {MAX_EXPANSION} bytes")
                })?;
                out.push_str(v);
                rest = &here[r.len()..];
            }
            None => {
                out.push('&');
                rest = &here[1..];
            }
        }
    }
    out.push_str(rest);
    Ok(Some(out))
}

/// The internal subset (`[...]`) of the prolog's `<!DOCTYPE`, if any.
fn internal_subset(prolog: &str) -> Option<&str> {
    let dt = prolog.find("<!DOCTYPE")?;
    let subset_start = dt + prolog[dt..].find('[')? + 1;
    let subset_end = subset_start + prolog[subset_start..].rfind(']')?;
    Some(&prolog[subset_start..subset_end])
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

/// Drops the `<?xml ...?>` declaration: the text is UTF-8 now, whatever it declared. Later
/// declarations (not well-formed, but found by fuzzing) are dropped too, wherever they stand:
/// quick-xml 0.42 panics when one asks for an encoding after its first buffer, and a comment
/// or CDATA section around one does not protect it once a broken document is repaired or cut.
/// (Such text inside CDATA is lost; no news text needs it.)
fn strip_declaration(body: &str) -> String {
    let mut body = body;
    if body.starts_with("<?xml") {
        if let Some(end) = body.find("?>") {
            body = &body[end + 2..];
        }
    }
    if !body.contains("<?xml") && !body.contains("<?XML") {
        return body.to_string();
    }
    drop_late_declarations(body)
}

/// Copies `body` without `<?xml …?>` processing instructions.
fn drop_late_declarations(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(at) = rest.find('<') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if is_declaration(rest) {
            let end = rest[5..].find("?>").map_or(rest.len(), |e| 5 + e + 2);
            rest = &rest[end..];
        } else {
            out.push('<');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    out
}

/// Whether `s` starts with an XML declaration: `<?xml` then whitespace or `?`.
fn is_declaration(s: &str) -> bool {
    s.len() > 5
        && s.as_bytes()[..5].eq_ignore_ascii_case(b"<?xml")
        && matches!(s.as_bytes()[5], b' ' | b'\t' | b'\r' | b'\n' | b'?')
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

/// Byte range of the value of attribute `name` in a start tag's text.
pub(super) fn attr_span(tag: &str, name: &str) -> Option<(usize, usize)> {
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
/// version. Valid JSON without `items` is not a feed; invalid JSON goes on to feed-rs, whose
/// error message says where it broke.
fn fix_json(body: &str) -> (String, Kind) {
    let Ok(mut v) = serde_json::from_str::<serde_json::Value>(body) else {
        return (body.to_string(), Kind::Json);
    };
    let Some(obj) = v
        .as_object_mut()
        .filter(|o| o.get("items").is_some_and(|i| i.is_array()))
    else {
        return (
            String::new(),
            Kind::Other("a JSON document without \"items\"".into()),
        );
    };
    let standard = obj
        .get("version")
        .and_then(|v| v.as_str())
        .is_some_and(|s| s.starts_with("https://jsonfeed.org/version/1"));
    if standard {
        return (body.to_string(), Kind::Json);
    }
    obj.insert("version".into(), "https://jsonfeed.org/version/1.1".into());
    let fixed = serde_json::to_string(&v).unwrap_or_else(|_| body.to_string());
    (fixed, Kind::Json)
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn later_declarations_are_dropped_wherever_they_stand() {
        let doc = "<?xml version=\"1.0\"?><rss><channel><?xml version=\"1.0\" \
                   encoding=\"windows-1256\"?><item><title><![CDATA[a <?xml version=\"1.0\"?> b]]></title>\
                   </item><?XML?></channel></rss>";
        let out = strip_declaration(doc);
        assert_eq!(
            out,
            "<rss><channel><item><title><![CDATA[a  b]]></title></item></channel></rss>"
        );
        assert_eq!(
            strip_declaration("<rss><?xml-stylesheet href=\"a\"?>"),
            "<rss><?xml-stylesheet href=\"a\"?>"
        );
        assert_eq!(strip_declaration("a <?xml"), "a <?xml");
        assert_eq!(strip_declaration("a <?xml version='1.0'"), "a ");
    }

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
            ("{\"error\":\"not found\"}", "other"),
            ("{\"items\":[", "json"),
            ("<foo/>", "other"),
            ("<div class='error'>Forbidden</div>", "html"),
            ("<TITLE>Moved</TITLE>", "html"),
            ("plain text", "other"),
        ];
        for (doc, want) in cases {
            let (_, kind) = prepare(doc);
            let got = match kind {
                Kind::Xml { format, .. } => format.to_string(),
                Kind::Json => "json".into(),
                Kind::Html => "html".into(),
                Kind::Other(_) => "other".into(),
                Kind::Refused(_) => "refused".into(),
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
    fn expands_plain_internal_entities_only() {
        let doc = "<!DOCTYPE rss [<!ENTITY id \"tag:x,\"><!ENTITY % p \"x\"><!ENTITY ext SYSTEM \"file:///etc/passwd\">]><rss><channel><item><guid>&id;1 &ext; &amp;</guid></item></channel></rss>";
        let (body, _) = prepare(doc);
        assert!(body.contains("<guid>tag:x,1 &ext; &amp;</guid>"), "{body}");
    }

    #[test]
    fn refuses_entity_expansion_attacks() {
        let laughs = "<!DOCTYPE rss [<!ENTITY a \"lol\"><!ENTITY b \"&a;&a;\">]><rss><channel><title>&b;</title></channel></rss>";
        assert!(matches!(prepare(laughs).1, Kind::Refused(r) if r.contains("billion laughs")));
        let value = "x".repeat(1000);
        let refs = "&big;".repeat(5000);
        let quadratic = format!("<!DOCTYPE rss [<!ENTITY big \"{value}\">]><rss><channel><title>{refs}</title></channel></rss>");
        assert!(matches!(prepare(&quadratic).1, Kind::Refused(_)));
    }
}
