//! HTML to plain text: the one place that decides how markup becomes readable text.
//!
//! Feeds carry HTML in titles, summaries and content (`feed` stage), and the `extract` stage
//! renders the chosen article subtree; both go through the same `TextBuilder` so that the
//! text the `rules` stage matches against has one shape everywhere: paragraphs separated by a
//! blank line, list items and `<br>` on their own lines, runs of whitespace collapsed.
//! Getting the breaks right matters for matching: two paragraphs glued together
//! (`"end.Next"`) would hide both words from a rule.

mod depth;

pub use depth::cap_depth;

use ego_tree::iter::{Edge, Traverse};
use ego_tree::{NodeId, NodeRef};
use scraper::{Html, Node};

/// Turns an HTML fragment (a feed title, summary or content) into clean text.
///
/// Block elements become paragraph breaks (`"\n\n"`), `<br>` a newline, list items own lines;
/// entities are decoded; script/style/noscript/iframe are dropped; runs of spaces collapse;
/// the result is trimmed. Input without any `<` is treated as plain text: its line structure
/// is kept (blank lines stay paragraph breaks), only spaces are collapsed and entities decoded.
pub fn fragment_to_text(html: &str) -> String {
    fragment_to_text_capped(html, DEFAULT_MAX_DEPTH)
}

/// Default for `[poll] max_html_depth`: how deeply HTML may nest before deeper tags are
/// dropped (their text is kept). Real pages and feed content nest a few dozen levels; at 256
/// levels html5ever parses a 5 MB page of nested markup in well under a second.
pub const DEFAULT_MAX_DEPTH: usize = 256;

/// [`fragment_to_text`] with nesting deeper than `max_depth` flattened first ([`cap_depth`]),
/// so that hostile markup costs linear time.
pub fn fragment_to_text_capped(html: &str, max_depth: usize) -> String {
    if !html.contains('<') {
        return plain_to_text(html);
    }
    let html = &*cap_depth(html, max_depth);
    if let Some(text) = simple_fragment_to_text(html) {
        return text;
    }
    let doc = Html::parse_fragment(html);
    let mut tb = TextBuilder::with_capacity(html.len());
    render(doc.tree.root(), &mut tb, &|_| false);
    tb.finish()
}

/// The markup of most feed summaries (`<p>`, `<a>`, `<br>`, `<b>`, a few entities), rendered
/// without building a DOM: the same text as the html5ever path, at a fraction of the cost (a
/// cold poll spends more time parsing summaries than parsing the feeds' XML). `None` as soon as
/// anything could make the two differ (an unlisted tag, a comment, a misnested or unclosed
/// element, an entity outside a small set), and the caller takes the full parser.
fn simple_fragment_to_text(html: &str) -> Option<String> {
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

/// `s` with runs of whitespace collapsed to single spaces and trimmed (titles, names).
pub(crate) fn collapse_whitespace(s: &str) -> String {
    let mut tb = TextBuilder::with_capacity(s.len());
    tb.text(s);
    tb.finish()
}

/// Plain text keeps its paragraphs: feeds often put text with blank lines in `<description>`.
fn plain_to_text(text: &str) -> String {
    let mut tb = TextBuilder::with_capacity(text.len());
    let mut blank = false;
    for line in text.lines() {
        if line.trim().is_empty() {
            blank = true;
            continue;
        }
        tb.brk(if blank { 2 } else { 1 });
        blank = false;
        if line.contains('&') {
            // Entities only: parse the line as a fragment with no markup in it.
            let doc = Html::parse_fragment(line);
            render(doc.tree.root(), &mut tb, &|_| false);
        } else {
            tb.text(line);
        }
    }
    tb.finish()
}

/// Elements whose content is never readable text.
pub(crate) fn is_invisible(tag: &str) -> bool {
    matches!(
        tag,
        "script"
            | "style"
            | "noscript"
            | "iframe"
            | "template"
            | "svg"
            | "annotation"
            | "annotation-xml"
            | "head"
            | "select"
            | "textarea"
            | "object"
            | "embed"
            | "canvas"
            | "video"
            | "audio"
            | "button"
    )
}

/// The `alttext` of a `<math>` element, when it has one.
fn math_alt_text<'a>(tag: &str, e: &'a scraper::node::Element) -> Option<&'a str> {
    if tag != "math" {
        return None;
    }
    e.attr("alttext").filter(|a| !a.trim().is_empty())
}

/// How much of a break an element forces around itself: 2 = paragraph, 1 = line, 0 = none.
pub(crate) fn break_level(tag: &str) -> u8 {
    match tag {
        "p" | "div" | "section" | "article" | "main" | "header" | "footer" | "nav" | "aside"
        | "blockquote" | "pre" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "hgroup" | "ul"
        | "ol" | "dl" | "table" | "figure" | "figcaption" | "form" | "fieldset" | "address"
        | "details" | "summary" | "hr" | "center" | "caption" | "legend" | "dialog" | "menu" => 2,
        "li" | "dt" | "dd" | "tr" | "br" | "option" => 1,
        _ => 0,
    }
}

/// Accumulates text with collapsed whitespace and pending breaks.
///
/// Breaks are only written between two pieces of text, so leading/trailing breaks and runs
/// of empty blocks never produce stray blank lines.
#[derive(Default)]
pub(crate) struct TextBuilder {
    out: String,
    /// Strongest break requested since the last word (0, 1 = newline, 2 = blank line).
    pending_break: u8,
    /// Whitespace was seen since the last word (inline elements keep words apart only then).
    pending_space: bool,
}

impl TextBuilder {
    /// A builder whose output buffer starts at `bytes` (the text is rarely longer than its
    /// markup).
    pub(crate) fn with_capacity(bytes: usize) -> TextBuilder {
        TextBuilder {
            out: String::with_capacity(bytes),
            ..TextBuilder::default()
        }
    }

    /// Requests a break before the next word.
    pub(crate) fn brk(&mut self, level: u8) {
        self.pending_break = self.pending_break.max(level);
    }

    /// A `<br>`: a newline, and a paragraph break when two come in a row (`<br><br>` is
    /// how many feeds and old pages separate paragraphs).
    pub(crate) fn line_break(&mut self) {
        self.pending_break = if self.pending_break >= 1 { 2 } else { 1 };
    }

    /// Requests a word separator before the next word (table cells, inline blocks).
    pub(crate) fn space(&mut self) {
        self.pending_space = true;
    }

    /// Appends a run of text, collapsing whitespace.
    pub(crate) fn text(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        if s.starts_with(char::is_whitespace) {
            self.pending_space = true;
        }
        let ascii = s.is_ascii();
        if ascii && !s.bytes().any(|b| matches!(b, 0x09..=0x0D)) && !s.contains("  ") {
            // Already collapsed (the usual paragraph of a feed): one run, no per-byte work.
            let run = s.trim_matches(' ');
            if !run.is_empty() {
                self.word(run);
            }
        } else if ascii {
            // Most text is ASCII, where whitespace is six bytes: no UTF-8 decoding per char.
            let b = s.as_bytes();
            let is_space =
                |i: usize| matches!(b.get(i), Some(b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | b' '));
            // Words separated by single spaces are already collapsed: they go out as one run.
            let mut i = 0;
            let mut run: Option<(usize, usize)> = None;
            while i < b.len() {
                while is_space(i) {
                    i += 1;
                }
                let start = i;
                while i < b.len() && !is_space(i) {
                    i += 1;
                }
                if start == i {
                    break;
                }
                run = match run {
                    Some((rs, re)) if start == re + 1 && b.get(re) == Some(&b' ') => Some((rs, i)),
                    Some((rs, re)) => {
                        self.word(s.get(rs..re).unwrap_or_default());
                        Some((start, i))
                    }
                    None => Some((start, i)),
                };
            }
            if let Some((rs, re)) = run {
                self.word(s.get(rs..re).unwrap_or_default());
            }
        } else {
            for word in s.split_whitespace() {
                self.word(word);
            }
        }
        self.pending_space = s.ends_with(char::is_whitespace);
    }

    fn word(&mut self, word: &str) {
        if !self.out.is_empty() {
            match self.pending_break {
                2 => self.out.push_str("\n\n"),
                1 => self.out.push('\n'),
                _ if self.pending_space => self.out.push(' '),
                _ => {}
            }
        }
        self.out.push_str(word);
        self.pending_break = 0;
        self.pending_space = true;
    }

    /// The text so far, trimmed.
    pub(crate) fn finish(self) -> String {
        self.out
    }
}

/// A depth-first walk over a subtree, as open and close edges, that can leave out the subtree
/// just opened. Every pass over a page needs "ignore this element and all inside it"; doing it
/// on the edge stream keeps arbitrarily deep markup from overflowing the stack.
pub(crate) struct Walk<'a> {
    edges: Traverse<'a, Node>,
    skipping: Option<NodeId>,
}

impl<'a> Walk<'a> {
    pub(crate) fn new(root: NodeRef<'a, Node>) -> Self {
        Walk {
            edges: root.traverse(),
            skipping: None,
        }
    }

    /// Leaves out the subtree of `n`, the node just opened (its close edge included).
    pub(crate) fn skip_subtree(&mut self, n: NodeRef<'a, Node>) {
        self.skipping = Some(n.id());
    }
}

impl<'a> Iterator for Walk<'a> {
    type Item = Edge<'a, Node>;

    fn next(&mut self) -> Option<Self::Item> {
        for edge in self.edges.by_ref() {
            match (self.skipping, &edge) {
                (None, _) => return Some(edge),
                (Some(id), Edge::Close(n)) if n.id() == id => self.skipping = None,
                _ => {}
            }
        }
        None
    }
}

/// Renders the text under `root` into `tb`, leaving out invisible elements and every subtree
/// (below `root`) for which `skip` returns true.
pub(crate) fn render(
    root: NodeRef<'_, Node>,
    tb: &mut TextBuilder,
    skip: &dyn Fn(NodeRef<'_, Node>) -> bool,
) {
    let mut walk = Walk::new(root);
    while let Some(edge) = walk.next() {
        match edge {
            Edge::Open(n) => match n.value() {
                Node::Text(t) => tb.text(t),
                Node::Element(e) => {
                    let tag = e.name();
                    if is_invisible(tag) || (n.id() != root.id() && skip(n)) {
                        walk.skip_subtree(n);
                        continue;
                    }
                    if let Some(alt) = math_alt_text(tag, e) {
                        // Inline math is part of the sentence ("a rise of <math>…</math> per
                        // cent"); its alt text reads as the author meant, else the MathML
                        // tokens below give the text content (annotations are invisible).
                        tb.text(alt);
                        walk.skip_subtree(n);
                        continue;
                    }
                    match break_level(tag) {
                        0 if matches!(tag, "td" | "th" | "img") => tb.space(),
                        0 => {}
                        _ if tag == "br" => tb.line_break(),
                        l => tb.brk(l),
                    }
                }
                _ => {}
            },
            Edge::Close(n) => {
                if let Node::Element(e) = n.value() {
                    let tag = e.name();
                    if matches!(tag, "td" | "th") {
                        tb.space();
                    } else if tag != "br" {
                        tb.brk(break_level(tag));
                    }
                }
            }
        }
    }
}

/// The rendered text of one subtree, leaving out what `skip` says.
pub(crate) fn text_of(root: NodeRef<'_, Node>, skip: &dyn Fn(NodeRef<'_, Node>) -> bool) -> String {
    let mut tb = TextBuilder::default();
    render(root, &mut tb, skip);
    tb.finish()
}

#[cfg(test)]
mod tests {
    use super::fragment_to_text;

    #[test]
    fn blocks_become_paragraphs() {
        let t = fragment_to_text("<p>One <b>bold</b> word.</p><p>Two&amp;three</p>");
        assert_eq!(t, "One bold word.\n\nTwo&three");
    }

    #[test]
    fn inline_math_is_text() {
        let t = fragment_to_text(
            r#"<p>A rise of <math alttext="x^2"><mi>x</mi><msup><mn>2</mn></msup></math> per year, or <math><semantics><mi>y</mi><mo>=</mo><mn>3</mn><annotation encoding="application/x-tex">y=3</annotation></semantics></math> here.</p>"#,
        );
        assert_eq!(t, "A rise of x^2 per year, or y=3 here.");
    }

    #[test]
    fn br_and_list_items_are_lines() {
        let t = fragment_to_text("a<br>b<ul><li>x</li><li>y</li></ul>after");
        assert_eq!(t, "a\nb\n\nx\ny\n\nafter");
        assert_eq!(
            fragment_to_text("one<br><br>two<br/>three"),
            "one\n\ntwo\nthree"
        );
    }

    #[test]
    fn scripts_dropped_spaces_collapsed() {
        let t = fragment_to_text(
            "  <script>var x=1;</script>hello \n\t  <style>p{}</style> world <iframe>f</iframe> ",
        );
        assert_eq!(t, "hello world");
    }

    #[test]
    fn inline_tags_do_not_split_words() {
        assert_eq!(
            fragment_to_text("<b>Ba</b>ghdad <i>air</i>port"),
            "Baghdad airport"
        );
    }

    #[test]
    fn plain_text_passes_through() {
        assert_eq!(
            fragment_to_text("Rockets hit   the Green Zone"),
            "Rockets hit the Green Zone"
        );
        assert_eq!(
            fragment_to_text("One.\n\n\nTwo &amp; three"),
            "One.\n\nTwo & three"
        );
        assert_eq!(fragment_to_text(""), "");
    }

    #[test]
    fn ascii_runs_collapse_like_unicode_whitespace() {
        for s in [
            "a b c",
            "  a  b\tc\n d ",
            "one\x0btwo\x0cthree\rfour",
            "x",
            "   ",
            "a b  c d e\n\nf g",
            " Ünï  \u{a0}x\u{2003}y ",
        ] {
            assert_eq!(
                super::collapse_whitespace(s),
                s.split_whitespace().collect::<Vec<_>>().join(" "),
                "{s:?}"
            );
        }
    }

    /// The html5ever rendering, bypassing the simple path.
    fn full_path(html: &str) -> String {
        let doc = scraper::Html::parse_fragment(html);
        let mut tb = super::TextBuilder::default();
        super::render(doc.tree.root(), &mut tb, &|_| false);
        tb.finish()
    }

    #[test]
    fn simple_path_takes_feed_markup() {
        for html in [
            "<p>One <b>bold</b> word.</p><p>Two&amp;three &#x41;&#66; &nbsp;x</p>",
            "a<br>b<br/><br>c<ul><li>x</li><li>y</li></ul><hr>after <img src=\"a>b\">z",
            "<P CLASS='x'>Up<A HREF=\"u\">per</A></P>",
            "<p>line<br>line<br/></p><ul><li><p>in</p><div>item</div></li></ul>",
        ] {
            let fast = super::simple_fragment_to_text(html);
            assert_eq!(fast.as_deref(), Some(full_path(html).as_str()), "{html}");
        }
        for html in [
            "<b>unclosed",
            "<b><i>x</b></i>",
            "<!-- c -->x",
            "<script>x</script>",
            "a &copy b",
            "<td>x</td>",
            "x</br>",
            "&#150;",
            "<p>a<div>b</div></p>",
            "<li>a<li>b</li></li>",
        ] {
            assert_eq!(super::simple_fragment_to_text(html), None, "{html}");
        }
    }

    /// Well-nested fragments of the tags and entities feeds use, with a few things the simple
    /// path must refuse mixed in.
    fn fragment() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        const TEXT: [&str; 16] = [
            "word",
            " ",
            "\n",
            "\t",
            "Ünï",
            "x\u{a0}y",
            "&amp;",
            "&lt;",
            "&#39;",
            "&#x41;",
            "&nbsp;",
            "&#150;",
            "&foo;",
            ">",
            "a b",
            "<!-- c -->",
        ];
        const TAGS: [&str; 14] = [
            "p",
            "b",
            "a href=\"u\"",
            "div",
            "ul",
            "li",
            "h2",
            "blockquote",
            "span",
            "em",
            "P",
            "td",
            "i",
            "strong",
        ];
        const VOID: [&str; 6] = ["<br>", "<br/>", "<img src='x>y'>", "<hr>", "<wbr>", "</br>"];
        let leaf = prop_oneof![
            (0..TEXT.len()).prop_map(|i| TEXT[i].to_string()),
            (0..VOID.len()).prop_map(|i| VOID[i].to_string()),
        ];
        leaf.prop_recursive(4, 64, 6, |inner| {
            (0..TAGS.len(), proptest::collection::vec(inner, 0..6)).prop_map(|(t, kids)| {
                let tag = TAGS[t];
                let name = tag.split(' ').next().unwrap_or(tag);
                format!("<{tag}>{}</{name}>", kids.concat())
            })
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        /// Whatever the simple path accepts, it renders exactly as html5ever does.
        #[test]
        fn simple_path_agrees_with_html5ever(parts in proptest::collection::vec(fragment(), 1..4)) {
            let html = parts.concat();
            if let Some(fast) = super::simple_fragment_to_text(&html) {
                proptest::prop_assert_eq!(fast, full_path(&html), "{:?}", html);
            }
        }
    }

    /// Every HTML summary, content and title of the 197 real feeds in `../shared`: where the
    /// simple path answers, it answers as html5ever does. Skipped without the corpus (unless
    /// `FEEDWATCH_REQUIRE_SHARED=1`, as in CI).
    #[test]
    fn simple_path_agrees_on_real_feeds() {
        let dir = std::env::var_os("FEEDWATCH_SHARED_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"))
            .join("corpora/feeds");
        let Ok(manifest) = std::fs::read_to_string(dir.join("MANIFEST.tsv")) else {
            assert!(
                std::env::var("FEEDWATCH_REQUIRE_SHARED").as_deref() != Ok("1"),
                "shared corpus not found and FEEDWATCH_REQUIRE_SHARED=1"
            );
            eprintln!("skipped: no feed corpus at {}", dir.display());
            return;
        };
        let (mut fragments, mut simple) = (0, 0);
        for file in manifest
            .lines()
            .skip(1)
            .filter_map(|l| l.split('\t').next())
        {
            let Ok(bytes) = std::fs::read(dir.join(file)) else {
                continue;
            };
            // feed-rs panics on a few of these files (the `feed` stage guards and repairs).
            let parsed = std::panic::catch_unwind(|| feed_rs::parser::parse(bytes.as_slice()));
            let Ok(Ok(feed)) = parsed else {
                continue;
            };
            for e in &feed.entries {
                let texts = [
                    e.summary.as_ref().map(|t| t.content.as_str()),
                    e.content.as_ref().and_then(|c| c.body.as_deref()),
                    e.title.as_ref().map(|t| t.content.as_str()),
                ];
                for html in texts.into_iter().flatten().filter(|h| h.contains('<')) {
                    fragments += 1;
                    if let Some(fast) = super::simple_fragment_to_text(html) {
                        simple += 1;
                        assert_eq!(fast, full_path(html), "{file}: {html}");
                    }
                }
            }
        }
        eprintln!("{simple} of {fragments} fragments took the simple path");
        assert!(fragments > 1000 && simple > 0, "{simple} of {fragments}");
    }

    #[test]
    fn broken_markup_does_not_panic() {
        for s in [
            "<",
            "<p",
            "</div></p>text",
            "<a href='x",
            "&#xFFFFFFFF; <b>",
        ] {
            let _ = fragment_to_text(s);
        }
    }
}
