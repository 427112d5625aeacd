//! Bounds what feed-rs is given, before it sees the document.
//!
//! feed-rs builds its whole model (every item, category, link) before anything can be cut:
//! 1.5 million empty `<item/>` in a 10 MiB RSS document took 1.1 GB, and `max_items` only
//! applied afterwards. So the document is cut here, in one streaming pass that allocates
//! nothing per element beyond a stack as deep as [`MAX_XML_DEPTH`]: whole elements are removed
//! from the text, which keeps it well-formed, and what follows them (channel metadata after the
//! items) is kept. What is removed:
//! - items (RSS `item`, Atom `entry`; JSON Feed `items` members) after the first `max_items`;
//! - children of an item past [`MAX_ITEM_CHILDREN`] (100,000 `<category/>` in one item), and
//!   of any other element past [`MAX_CHILDREN`] (items do not count towards that);
//! - elements nested deeper than [`MAX_XML_DEPTH`], and elements with more than
//!   [`MAX_ATTRIBUTES`] attributes;
//! - in JSON, members of any array or object past [`MAX_CHILDREN`] (tags, attachments,
//!   authors), and everything nested deeper than [`MAX_JSON_DEPTH`].
//!
//! Every limit is well above what real feeds use (none of the 187 feeds of the shared corpus
//! that parse loses anything to them), so only hostile or broken documents are changed. The
//! pass costs about one quick-xml read of the document: a whole `poll --once` of a 10 MB
//! document of 1.45 million items takes 0.2 s of CPU and 73 MB in a release build (1.1 GB
//! before), see `benches/hostile.sh`.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// Children kept under one item (categories, links, enclosures, media elements...). The most
/// in the shared corpus is 154 (a GeoRSS sample with 20 media elements and many categories).
pub(super) const MAX_ITEM_CHILDREN: usize = 512;
/// Children kept under any other element or JSON container (items are counted separately).
pub(super) const MAX_CHILDREN: usize = 1024;
/// Deepest element kept (a feed needs about 8; Atom XHTML content a few more).
pub(super) const MAX_XML_DEPTH: usize = 64;
/// Elements with more attributes than this are removed.
pub(super) const MAX_ATTRIBUTES: usize = 64;
/// Deepest JSON container kept (serde_json refuses past 128).
pub(super) const MAX_JSON_DEPTH: usize = 64;

/// The document after the cut, and what was removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Limited {
    /// The cut document; `None` when nothing was removed.
    pub body: Option<String>,
    /// Items (entries) in the original document.
    pub items: usize,
    /// Other elements or JSON members removed by the limits above.
    pub dropped: usize,
}

impl Limited {
    /// The document feed-rs should parse.
    pub fn text<'a>(&'a self, original: &'a str) -> &'a str {
        self.body.as_deref().unwrap_or(original)
    }
}

/// Byte ranges to remove, in document order and not overlapping.
#[derive(Default)]
struct Cuts(Vec<(usize, usize)>);

impl Cuts {
    fn apply(self, body: &str) -> Option<String> {
        if self.0.is_empty() {
            return None;
        }
        let mut out = String::with_capacity(body.len());
        let mut at = 0;
        for (s, e) in self.0 {
            out.push_str(body.get(at..s).unwrap_or_default());
            at = e;
        }
        out.push_str(body.get(at..).unwrap_or_default());
        Some(out)
    }
}

/// One open element of the XML pass.
struct Open {
    is_item: bool,
    /// Children kept so far (items not counted).
    children: usize,
}

/// The state of the XML pass.
struct XmlPass<'a> {
    item_tag: &'a str,
    max_items: usize,
    stack: Vec<Open>,
    /// Depth of the element being removed, and where it starts.
    skipping: Option<(usize, usize)>,
    /// Depth below the kept stack, while skipping.
    depth: usize,
    /// Whether the open stack holds an item (an `item` inside an item is not another item).
    in_item: usize,
    items: usize,
    dropped: usize,
    cuts: Cuts,
}

impl XmlPass<'_> {
    /// Whether the element starting here is to be removed; counts it either way.
    fn remove(&mut self, e: &BytesStart<'_>) -> bool {
        let is_item = self.in_item == 0 && e.local_name().as_ref() == self.item_tag;
        if is_item {
            self.items += 1;
            return self.items > self.max_items;
        }
        let parent_cap = match self.stack.last() {
            Some(p) if p.is_item => MAX_ITEM_CHILDREN,
            _ => MAX_CHILDREN,
        };
        let over_children = self.stack.last().is_some_and(|p| p.children >= parent_cap);
        let over = over_children
            || self.stack.len() >= MAX_XML_DEPTH
            || e.attributes()
                .with_checks(false)
                .take(MAX_ATTRIBUTES + 1)
                .count()
                > MAX_ATTRIBUTES;
        if over {
            self.dropped += 1;
        }
        over
    }

    fn open(&mut self, e: &BytesStart<'_>, start: usize, end: usize, empty: bool) {
        if self.skipping.is_some() {
            if !empty {
                self.depth += 1;
            }
            return;
        }
        if self.remove(e) {
            if empty {
                self.cuts.0.push((start, end));
            } else {
                self.skipping = Some((self.depth, start));
                self.depth += 1;
            }
            return;
        }
        let is_item = self.in_item == 0 && e.local_name().as_ref() == self.item_tag;
        if let Some(p) = self.stack.last_mut().filter(|_| !is_item) {
            p.children += 1;
        }
        if !empty {
            self.in_item += usize::from(is_item);
            self.stack.push(Open {
                is_item,
                children: 0,
            });
        }
    }

    fn close(&mut self, end: usize) {
        if let Some((depth, start)) = self.skipping {
            self.depth -= 1;
            if self.depth == depth {
                self.cuts.0.push((start, end));
                self.skipping = None;
            }
            return;
        }
        if let Some(o) = self.stack.pop() {
            self.in_item -= usize::from(o.is_item);
        }
    }
}

/// Cuts an XML feed whose items are elements named `item_tag` (local name).
///
/// A document quick-xml cannot read to the end (unclosed markup) is cut where the error is:
/// feed-rs would refuse the same document, and the recovery ladder then keeps the complete
/// items before that point.
pub(super) fn xml(body: &str, item_tag: &str, max_items: usize) -> Limited {
    let mut r = Reader::from_str(body);
    let cfg = r.config_mut();
    cfg.check_end_names = false;
    cfg.allow_unmatched_ends = true;
    cfg.allow_dangling_amp = true;
    let mut p = XmlPass {
        item_tag,
        max_items,
        stack: Vec::new(),
        skipping: None,
        depth: 0,
        in_item: 0,
        items: 0,
        dropped: 0,
        cuts: Cuts::default(),
    };
    loop {
        let start = pos(r.buffer_position());
        match r.read_event() {
            Ok(Event::Start(e)) => p.open(&e, start, pos(r.buffer_position()), false),
            Ok(Event::Empty(e)) => p.open(&e, start, pos(r.buffer_position()), true),
            Ok(Event::End(_)) => p.close(pos(r.buffer_position())),
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(_) => {
                let at = pos(r.error_position()).min(body.len());
                let from = p.skipping.map_or(at, |(_, s)| s.min(at));
                if from < body.len() {
                    p.cuts.0.push((from, body.len()));
                }
                p.skipping = None;
                break;
            }
        }
    }
    if let Some((_, start)) = p.skipping {
        p.cuts.0.push((start, body.len()));
    }
    Limited {
        body: p.cuts.apply(body),
        items: p.items,
        dropped: p.dropped,
    }
}

fn pos(p: u64) -> usize {
    usize::try_from(p).unwrap_or(usize::MAX)
}

/// One open JSON container.
struct Container {
    /// Commas seen: members before the current one.
    commas: usize,
    /// Whether a member has started since the last comma.
    in_member: bool,
    /// Members kept.
    cap: usize,
    /// Where the removal of this container's contents starts (the `,` before the first
    /// removed member, or just inside the bracket).
    cut_from: Option<usize>,
    is_array: bool,
    /// The top-level array of `items`.
    is_items: bool,
    /// Removed for its depth (counted once, as one dropped member).
    too_deep: bool,
    /// Whether the next string is a key (objects only).
    expect_key: bool,
    /// The last key read was `"items"` (only tracked on the top-level object).
    items_key: bool,
}

impl Container {
    fn members(&self) -> usize {
        self.commas + usize::from(self.in_member)
    }
}

/// Cuts a JSON Feed: `items` after the first `max_items`, and members of any array or object
/// past [`MAX_CHILDREN`] or deeper than [`MAX_JSON_DEPTH`]. A byte scanner (strings and
/// escapes, brackets, commas), because building a `serde_json::Value` of a hostile document is
/// itself the cost to avoid. Invalid JSON is cut the same way and left for feed-rs to report.
pub(super) fn json(body: &str, max_items: usize) -> Limited {
    let b = body.as_bytes();
    let mut stack: Vec<Container> = Vec::new();
    let mut cuts = Cuts::default();
    let (mut items, mut dropped) = (0usize, 0usize);
    // While inside a removed region: the stack depth of the container being cut.
    let mut removing: Option<usize> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'"' => {
                let end = string_end(b, i);
                let top_level = stack.len() == 1;
                if let Some(top) = stack.last_mut() {
                    top.in_member = true;
                    if top_level && !top.is_array && top.expect_key {
                        top.items_key = b.get(i + 1..end) == Some(b"items".as_slice());
                    }
                }
                i = end + 1;
                continue;
            }
            b'{' | b'[' => {
                let is_items = c == b'['
                    && stack.len() == 1
                    && stack.last().is_some_and(|t| t.items_key && !t.expect_key);
                if let Some(top) = stack.last_mut() {
                    top.in_member = true;
                }
                let too_deep = stack.len() >= MAX_JSON_DEPTH;
                let cap = if is_items { max_items } else { MAX_CHILDREN };
                let empty_now = (too_deep || cap == 0) && removing.is_none();
                stack.push(Container {
                    commas: 0,
                    in_member: false,
                    cap,
                    cut_from: empty_now.then_some(i + 1),
                    is_array: c == b'[',
                    is_items,
                    too_deep: too_deep && empty_now,
                    expect_key: c == b'{',
                    items_key: false,
                });
                if empty_now {
                    removing = Some(stack.len());
                    dropped += usize::from(too_deep);
                }
            }
            b'}' | b']' => {
                let level = stack.len();
                if let Some(top) = stack.pop() {
                    if top.is_items {
                        items = top.members();
                    }
                    if let (Some(from), true) = (top.cut_from, removing == Some(level)) {
                        cuts.0.push((from, i));
                        removing = None;
                        if !top.is_items && !top.too_deep {
                            dropped += top.members().saturating_sub(top.cap);
                        }
                    }
                }
            }
            b',' => {
                let level = stack.len();
                if let Some(top) = stack.last_mut() {
                    top.commas += 1;
                    top.in_member = false;
                    top.expect_key = !top.is_array;
                    if top.commas == top.cap && removing.is_none() {
                        top.cut_from = Some(i);
                        removing = Some(level);
                    }
                }
            }
            b':' => {
                if let Some(top) = stack.last_mut() {
                    top.expect_key = false;
                }
            }
            _ if c.is_ascii_whitespace() => {}
            _ => {
                if let Some(top) = stack.last_mut() {
                    top.in_member = true;
                }
            }
        }
        i += 1;
    }
    // Unclosed at the end: the removal runs to the end of the text.
    if let Some(from) = removing
        .and_then(|l| stack.get(l - 1))
        .and_then(|c| c.cut_from)
    {
        cuts.0.push((from, b.len()));
    }
    Limited {
        body: cuts.apply(body),
        items,
        dropped,
    }
}

/// Index of the quote closing the string that starts at `start` (or the end of the input).
fn string_end(b: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i,
            _ => i += 1,
        }
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_items_past_the_cap_are_removed_and_the_rest_kept() {
        let doc = "<rss><channel><title>t</title><item><title>1</title></item><item/><item><title>3</title></item><ttl>5</ttl></channel></rss>";
        let l = xml(doc, "item", 1);
        assert_eq!(
            l.body.as_deref(),
            Some("<rss><channel><title>t</title><item><title>1</title></item><ttl>5</ttl></channel></rss>")
        );
        assert_eq!((l.items, l.dropped), (3, 0));
        let l = xml(doc, "item", 3);
        assert_eq!((l.body, l.items), (None, 3));
    }

    #[test]
    fn xml_amplifiers_are_bounded() {
        let cats = "<category>x</category>".repeat(MAX_ITEM_CHILDREN + 10);
        let doc = format!("<feed><entry><title>a</title>{cats}</entry></feed>");
        let l = xml(&doc, "entry", 10);
        let body = l.body.expect("cut");
        assert_eq!(body.matches("<category>").count(), MAX_ITEM_CHILDREN - 1);
        assert_eq!(l.dropped, 11);
        let deep = format!(
            "<feed><entry>{}x{}</entry></feed>",
            "<a>".repeat(100),
            "</a>".repeat(100)
        );
        let body = xml(&deep, "entry", 10).body.expect("cut");
        assert_eq!(body.matches("<a>").count(), MAX_XML_DEPTH - 2);
        assert!(body.ends_with("</entry></feed>"), "{body}");
        let attrs: String = (0..100).map(|i| format!(" a{i}=\"1\"")).collect();
        let doc =
            format!("<rss><channel><item><link{attrs}/><title>t</title></item></channel></rss>");
        assert_eq!(
            xml(&doc, "item", 10).body.as_deref(),
            Some("<rss><channel><item><title>t</title></item></channel></rss>")
        );
    }

    #[test]
    fn xml_nested_item_names_are_not_items() {
        let doc = "<rss><channel><item><x:item/><x:item/></item></channel></rss>";
        let l = xml(doc, "item", 1);
        assert_eq!((l.body, l.items), (None, 1));
    }

    #[test]
    fn xml_unreadable_tail_is_cut() {
        let doc = "<rss><channel><item/><item/><!-- never closed <item/>";
        let l = xml(doc, "item", 1);
        assert_eq!(l.body.as_deref(), Some("<rss><channel><item/>"));
    }

    #[test]
    fn json_items_past_the_cap_are_removed() {
        let doc = r#"{"title":"a,]","items":[{"id":"1","tags":["x"]}, {"id":"2"} ,{}],"x":[1,2]}"#;
        let l = json(doc, 1);
        assert_eq!(
            l.body.as_deref(),
            Some(r#"{"title":"a,]","items":[{"id":"1","tags":["x"]}],"x":[1,2]}"#)
        );
        assert_eq!((l.items, l.dropped), (3, 0));
        assert_eq!(json(doc, 3).body, None);
        assert_eq!(json(r#"{"items":[]}"#, 0).items, 0);
        let v: serde_json::Value = serde_json::from_str(l.text(doc)).expect("still valid JSON");
        assert_eq!(v["items"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn json_other_arrays_and_depth_are_bounded() {
        let tags = vec!["\"t\""; MAX_CHILDREN + 5].join(",");
        let doc = format!(r#"{{"items":[{{"tags":[{tags}],"a":"\"["}}]}}"#);
        let l = json(&doc, 10);
        let v: serde_json::Value = serde_json::from_str(l.text(&doc)).expect("valid");
        assert_eq!(
            v["items"][0]["tags"].as_array().map(Vec::len),
            Some(MAX_CHILDREN)
        );
        assert_eq!(v["items"][0]["a"], "\"[");
        assert_eq!(l.dropped, 5);
        let deep = format!("{{\"items\":[{}{}]}}", "[".repeat(200), "]".repeat(200));
        let l = json(&deep, 10);
        let v: serde_json::Value = serde_json::from_str(l.text(&deep)).expect("valid");
        assert!(v["items"].is_array());
    }

    #[test]
    fn many_items_are_cut_in_one_pass() {
        // tests/hostile.rs runs the full 10 MB documents through `feed::parse`.
        let rss = format!(
            "<rss><channel>{}</channel></rss>",
            "<item/>".repeat(150_000)
        );
        let l = xml(&rss, "item", 1000);
        assert_eq!(l.items, 150_000);
        assert_eq!(l.text(&rss).matches("<item/>").count(), 1000);
        let js = format!("{{\"items\":[{}{{}}]}}", "{},".repeat(300_000));
        let l = json(&js, 1000);
        assert_eq!(l.items, 300_001);
        assert_eq!(l.text(&js).matches("{}").count(), 1000);
    }
}
