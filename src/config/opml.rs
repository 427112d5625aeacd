//! OPML 2.0 in and out: the subscription-list format every feed reader imports and exports.
//!
//! `feedwatch feeds import` reads an OPML file into plain [`OpmlFeed`]s and `feeds export`
//! writes the configured feeds back out; neither touches the config file (that is
//! `feeds`' job, in `edit`). Export followed by import reproduces the feeds exactly: names go to
//! `text`/`title`, tags to `category`, and the two settings OPML has no word for
//! (`full_text`, `interval`) to attributes in feedwatch's own namespace, which other readers
//! ignore.
//!
//! OPML files come from other programs and from the internet, so the reader is strict about
//! size, nesting and entities: a hostile file gives an [`OpmlError`], never a panic or an
//! unbounded allocation. quick-xml never expands DTD entities, and only the five predefined
//! ones and character references are accepted in attribute values.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::Duration;

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

use super::FeedConfig;

/// Largest OPML file accepted. Real subscription lists are kilobytes; 16 MiB holds well over
/// 100 000 feeds and still bounds memory.
pub const MAX_OPML_BYTES: usize = 16 * 1024 * 1024;
/// Most `<outline>` elements read from one file.
pub const MAX_OUTLINES: usize = 100_000;
/// Deepest element nesting accepted (folders in folders); deeper input is refused.
pub const MAX_DEPTH: usize = 64;
/// Namespace of feedwatch's own outline attributes (`fullText`, `interval`).
pub const NAMESPACE: &str = "https://github.com/feedwatch/feedwatch/opml";
/// Prefix bound to [`NAMESPACE`] on export and recognised on import.
const PREFIX: &str = "feedwatch";

/// One feed outline, as read from or written to OPML.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpmlFeed {
    /// `xmlUrl`, as written in the file (not yet checked or normalised).
    pub url: String,
    /// `title`, else `text` (unless `text` only repeats the URL).
    pub name: Option<String>,
    /// Names of the enclosing folder outlines, then the `category` entries, without repeats.
    pub tags: Vec<String>,
    /// `feedwatch:fullText`.
    pub full_text: bool,
    /// `feedwatch:interval`.
    pub interval: Option<Duration>,
}

/// What an OPML file held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Opml {
    /// Feed outlines, in document order.
    pub feeds: Vec<OpmlFeed>,
    /// Feed outlines that could not be taken, with the reason (e.g. an empty `xmlUrl`).
    pub invalid: Vec<String>,
}

/// Why an OPML file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpmlError {
    /// The file is larger than [`MAX_OPML_BYTES`].
    #[error("OPML file is {size} bytes; the limit is {limit} bytes")]
    TooLarge {
        /// The file's size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The bytes are not UTF-8 and do not name an encoding we can decode.
    #[error("OPML is not UTF-8 and its XML declaration names no known encoding")]
    Encoding,
    /// The XML itself is malformed.
    #[error("OPML is not well-formed XML near byte {position}: {message}")]
    Xml {
        /// Byte offset near the error.
        position: u64,
        /// What the XML parser said.
        message: String,
    },
    /// The document has a DTD; OPML never needs one and entity tricks live there.
    #[error("OPML has a DOCTYPE declaration (near byte {position}); remove it: DTDs and custom entities are refused")]
    Doctype {
        /// Byte offset of the DOCTYPE.
        position: u64,
    },
    /// The root element is not `<opml>`.
    #[error("not an OPML document: the root element is <{0}>, expected <opml>")]
    NotOpml(String),
    /// No root element at all.
    #[error("not an OPML document: no <opml> element found")]
    Empty,
    /// More than [`MAX_OUTLINES`] outlines.
    #[error("OPML has more than {0} outlines; split the file")]
    TooManyOutlines(usize),
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("OPML elements are nested deeper than {0} levels")]
    TooDeep(usize),
}

/// Reads an OPML document.
///
/// # Errors
/// When the file is too large, not XML, not OPML, or exceeds the nesting/outline limits.
/// Outlines that are merely unusable are listed in [`Opml::invalid`] instead.
pub fn parse(bytes: &[u8]) -> Result<Opml, OpmlError> {
    if bytes.len() > MAX_OPML_BYTES {
        return Err(OpmlError::TooLarge {
            size: bytes.len(),
            limit: MAX_OPML_BYTES,
        });
    }
    let text = decode(bytes)?;
    let mut reader = Reader::from_str(&text);
    reader.config_mut().check_end_names = true;

    let mut out = Opml::default();
    // One entry per open element: for outlines, the folder name it gives its children.
    let mut stack: Vec<Option<String>> = Vec::new();
    let mut seen_root = false;
    let mut outlines = 0usize;
    loop {
        let ev = reader.read_event().map_err(|e| OpmlError::Xml {
            position: reader.error_position(),
            message: e.to_string(),
        })?;
        let position = reader.buffer_position();
        match ev {
            Event::DocType(_) => return Err(OpmlError::Doctype { position }),
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_empty = matches!(ev, Event::Empty(_));
                let name = e.local_name().as_ref().to_string();
                if !seen_root {
                    if name != "opml" {
                        return Err(OpmlError::NotOpml(name));
                    }
                    seen_root = true;
                }
                let mut folder = None;
                if name == "outline" {
                    outlines += 1;
                    if outlines > MAX_OUTLINES {
                        return Err(OpmlError::TooManyOutlines(MAX_OUTLINES));
                    }
                    let attrs = read_attributes(e, position)?;
                    if attrs.url.is_some() {
                        take_feed(&attrs, &stack, &mut out);
                    } else {
                        folder = attrs.text.or(attrs.title).filter(|t| !t.trim().is_empty());
                    }
                }
                if !is_empty {
                    stack.push(folder);
                    if stack.len() > MAX_DEPTH {
                        return Err(OpmlError::TooDeep(MAX_DEPTH));
                    }
                }
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !seen_root {
        return Err(OpmlError::Empty);
    }
    if !stack.is_empty() {
        return Err(OpmlError::Xml {
            position: reader.buffer_position(),
            message: "the document ends before its elements are closed".into(),
        });
    }
    Ok(out)
}

/// The attributes of an `<outline>` that feedwatch reads.
#[derive(Default)]
struct OutlineAttrs {
    text: Option<String>,
    title: Option<String>,
    url: Option<String>,
    category: Option<String>,
    full_text: Option<String>,
    interval: Option<String>,
}

fn read_attributes(e: &BytesStart<'_>, position: u64) -> Result<OutlineAttrs, OpmlError> {
    let mut a = OutlineAttrs::default();
    for attr in e.attributes() {
        let attr = attr.map_err(|err| OpmlError::Xml {
            position,
            message: err.to_string(),
        })?;
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|err| OpmlError::Xml {
                position,
                message: err.to_string(),
            })?
            .into_owned();
        let slot = match attr.key.as_ref() {
            "text" => &mut a.text,
            "title" => &mut a.title,
            "xmlUrl" => &mut a.url,
            "category" => &mut a.category,
            k if k == format!("{PREFIX}:fullText") => &mut a.full_text,
            k if k == format!("{PREFIX}:interval") => &mut a.interval,
            _ => continue,
        };
        *slot = Some(value);
    }
    Ok(a)
}

/// Turns a feed outline into an [`OpmlFeed`], or records why it cannot be one.
fn take_feed(a: &OutlineAttrs, folders: &[Option<String>], out: &mut Opml) {
    let url = a.url.as_deref().unwrap_or("").trim().to_string();
    let label = a.title.as_deref().or(a.text.as_deref()).unwrap_or("");
    if url.is_empty() {
        out.invalid
            .push(format!("outline {label:?}: empty xmlUrl attribute"));
        return;
    }
    let full_text = match a.full_text.as_deref().map(str::trim) {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(v) => {
            out.invalid.push(format!(
                "{url}: {PREFIX}:fullText={v:?} is not true or false"
            ));
            return;
        }
    };
    let interval = match a.interval.as_deref().map(str::trim) {
        None => None,
        Some(v) => match humantime::parse_duration(v) {
            Ok(d) => Some(d),
            Err(e) => {
                out.invalid.push(format!(
                    "{url}: {PREFIX}:interval={v:?} is not a duration ({e})"
                ));
                return;
            }
        },
    };
    // Many readers write the URL into `text` when a feed has no name; that is no name.
    let name = a
        .title
        .as_deref()
        .or(a.text.as_deref())
        .map(str::trim)
        .filter(|n| !n.is_empty() && *n != url)
        .map(str::to_string);
    let mut tags: Vec<String> = Vec::new();
    let categories = a
        .category
        .as_deref()
        .unwrap_or("")
        .split(',')
        // OPML categories may be slash-delimited paths ("/News/World"); keep the path, drop
        // the leading slash.
        .map(|c| c.trim().trim_start_matches('/').to_string());
    for tag in folders.iter().flatten().cloned().chain(categories) {
        let tag = tag.trim().to_string();
        if !tag.is_empty() && !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    out.feeds.push(OpmlFeed {
        url,
        name,
        tags,
        full_text,
        interval,
    });
}

/// UTF-8 (with or without BOM) as is; otherwise the encoding the XML declaration names.
fn decode(bytes: &[u8]) -> Result<Cow<'_, str>, OpmlError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Ok(Cow::Borrowed(s));
    }
    if let Some((enc, _)) = encoding_rs::Encoding::for_bom(bytes) {
        return Ok(Cow::Owned(enc.decode(bytes).0.into_owned()));
    }
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
    let label = head
        .strip_prefix("<?xml")
        .and_then(|h| h.split("?>").next())
        .and_then(|decl| decl.split("encoding").nth(1))
        .and_then(|rest| {
            let rest = rest.trim_start().strip_prefix('=')?.trim_start();
            let quote = rest.chars().next().filter(|q| *q == '"' || *q == '\'')?;
            rest[1..].split(quote).next().map(str::to_string)
        })
        .ok_or(OpmlError::Encoding)?;
    let enc = encoding_rs::Encoding::for_label(label.as_bytes()).ok_or(OpmlError::Encoding)?;
    let (text, _, _) = enc.decode(bytes);
    // The declaration still names the old encoding; quick-xml reads the text as it is.
    Ok(Cow::Owned(text.into_owned()))
}

/// Writes feeds as an OPML 2.0 document: one flat outline per feed, in config order.
///
/// The output is deterministic (no creation date), so an export can be diffed and committed.
pub fn export(feeds: &[FeedConfig]) -> String {
    let mut s = String::new();
    s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        s,
        "<opml version=\"2.0\" xmlns:{PREFIX}=\"{}\">",
        escape(NAMESPACE)
    );
    s.push_str("  <head>\n    <title>feedwatch feeds</title>\n  </head>\n  <body>\n");
    for f in feeds {
        s.push_str("    <outline type=\"rss\"");
        match &f.name {
            Some(n) => {
                let _ = write!(s, " text=\"{0}\" title=\"{0}\"", escape(n));
            }
            // `text` is required by OPML 2.0; the URL is what other readers would show.
            None => {
                let _ = write!(s, " text=\"{}\"", escape(&f.url));
            }
        }
        let _ = write!(s, " xmlUrl=\"{}\"", escape(&f.url));
        if !f.tags.is_empty() {
            let _ = write!(s, " category=\"{}\"", escape(&f.tags.join(",")));
        }
        if f.full_text {
            let _ = write!(s, " {PREFIX}:fullText=\"true\"");
        }
        if let Some(d) = f.interval {
            let _ = write!(
                s,
                " {PREFIX}:interval=\"{}\"",
                humantime::format_duration(d)
            );
        }
        s.push_str("/>\n");
    }
    s.push_str("  </body>\n</opml>\n");
    s
}

/// Escapes text for a double-quoted XML attribute. Tabs and line breaks become character
/// references so attribute-value normalisation on import gives them back unchanged;
/// characters XML 1.0 cannot carry at all become U+FFFD.
fn escape(s: &str) -> Cow<'_, str> {
    let plain =
        |c: char| !matches!(c, '&' | '<' | '>' | '"' | '\t' | '\n' | '\r') && !forbidden_in_xml(c);
    if s.chars().all(plain) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if forbidden_in_xml(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Characters outside XML 1.0's `Char` production.
fn forbidden_in_xml(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(url: &str, name: Option<&str>, tags: &[&str]) -> FeedConfig {
        FeedConfig {
            url: url.into(),
            name: name.map(str::to_string),
            full_text: false,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            interval: None,
        }
    }

    #[test]
    fn nested_outlines_become_tags_and_names() {
        let doc = br#"<?xml version="1.0"?>
<opml version="2.0"><head><title>subs</title></head><body>
  <outline text="News">
    <outline text="World">
      <outline type="rss" text="BBC" title="BBC World" xmlUrl="https://bbc.example/rss" category="/uk,en"/>
    </outline>
    <outline type="rss" text="https://plain.example/feed" xmlUrl="https://plain.example/feed"/>
  </outline>
  <outline type="rss" text="Broken" xmlUrl=""/>
  <outline type="rss" text="Odd" xmlUrl="https://odd.example/" feedwatch:interval="soon"/>
</body></opml>"#;
        let o = parse(doc).expect("parse");
        assert_eq!(o.feeds.len(), 2);
        assert_eq!(o.feeds[0].url, "https://bbc.example/rss");
        assert_eq!(o.feeds[0].name.as_deref(), Some("BBC World"));
        assert_eq!(o.feeds[0].tags, ["News", "World", "uk", "en"]);
        assert_eq!(o.feeds[1].name, None, "text equal to the URL is no name");
        assert_eq!(o.feeds[1].tags, ["News"]);
        assert_eq!(o.invalid.len(), 2, "{:?}", o.invalid);
    }

    #[test]
    fn export_then_parse_round_trips() {
        let mut odd = feed(
            "https://x.example/a?b=1&c=2",
            Some("Tom & \"Jerry\" <news>\tline\nnext"),
            &["a b", "é"],
        );
        odd.full_text = true;
        odd.interval = Some(Duration::from_secs(5400));
        let feeds = vec![odd, feed("https://y.example/", None, &[])];
        let xml = export(&feeds);
        let back = parse(xml.as_bytes()).expect("parse export");
        assert!(back.invalid.is_empty());
        let again: Vec<FeedConfig> = back
            .feeds
            .into_iter()
            .map(|f| FeedConfig {
                url: f.url,
                name: f.name,
                full_text: f.full_text,
                tags: f.tags,
                interval: f.interval,
            })
            .collect();
        assert_eq!(again, feeds);
        assert_eq!(export(&again), xml);
    }

    #[test]
    fn hostile_documents_are_errors_not_panics() {
        let bomb = br#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>
<opml version="2.0"><body><outline text="&lol2;" xmlUrl="http://a/"/></body></opml>"#;
        assert!(matches!(parse(bomb), Err(OpmlError::Doctype { .. })));
        let undefined = br#"<opml><body><outline text="&lol;" xmlUrl="http://a/"/></body></opml>"#;
        assert!(matches!(parse(undefined), Err(OpmlError::Xml { .. })));
        let deep = format!("<opml>{}", "<outline text=\"x\">".repeat(MAX_DEPTH + 5));
        assert!(matches!(parse(deep.as_bytes()), Err(OpmlError::TooDeep(_))));
        let unclosed = b"<opml><body><outline text=\"x\" xmlUrl=\"http://a/\"/>";
        assert!(matches!(parse(unclosed), Err(OpmlError::Xml { .. })));
        let mismatched = b"<opml><body></opml></body>";
        assert!(matches!(parse(mismatched), Err(OpmlError::Xml { .. })));
        assert!(matches!(parse(b"<rss/>"), Err(OpmlError::NotOpml(_))));
        assert!(matches!(parse(b""), Err(OpmlError::Empty)));
        let huge = vec![b' '; MAX_OPML_BYTES + 1];
        assert!(matches!(parse(&huge), Err(OpmlError::TooLarge { .. })));
        let many = format!(
            "<opml><body>{}</body></opml>",
            "<outline text=\"f\"/>".repeat(MAX_OUTLINES + 1)
        );
        assert!(matches!(
            parse(many.as_bytes()),
            Err(OpmlError::TooManyOutlines(_))
        ));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let seeds: [&[u8]; 6] = [
            b"<opml><body><outline xmlUrl=\"",
            b"<opml><body><outline xmlUrl=\"&#0;\"/></body></opml>",
            b"<opml><body><outline xmlUrl=\"&#xFFFFFFFF;\"/></body></opml>",
            b"\xff\xfe<\x00o\x00",
            b"<?xml version=\"1.0\" encoding=\"bogus\"?>\xff",
            b"<opml <<<>>> &&& ]]>",
        ];
        for s in seeds {
            let _ = parse(s);
        }
    }

    #[test]
    fn latin1_declared_encoding_is_decoded() {
        let doc = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><opml><body><outline text=\"Caf\xe9\" xmlUrl=\"http://a/\"/></body></opml>";
        let o = parse(doc).expect("parse");
        assert_eq!(o.feeds[0].name.as_deref(), Some("Café"));
    }
}
