//! The DOM renderer: walks a parsed tree and writes its text through [`TextBuilder`], which
//! decides where words, line breaks and paragraph breaks go. Which elements are invisible and
//! how strong a break each element forces live here too.

use ego_tree::iter::{Edge, Traverse};
use ego_tree::{NodeId, NodeRef};
use scraper::Node;

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
