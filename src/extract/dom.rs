//! Small DOM helpers shared by the scoring, pruning and cleaning passes: element names,
//! class/id hints and their weight, the pass [`Flags`], and per-node text statistics computed
//! in one walk. The passes import this module and not each other.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use ego_tree::iter::Edge;
use ego_tree::{NodeId, NodeRef};
use scraper::Node;

use crate::text::html::{is_invisible, Walk};

/// Which of the riskier rules a pass uses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flags {
    pub(crate) strip_unlikely: bool,
    pub(crate) weight_classes: bool,
    pub(crate) clean_conditionally: bool,
}

pub(crate) type NRef<'a> = NodeRef<'a, Node>;

/// Hasher for [`NodeId`] keys: they are small integers from the tree, never attacker-chosen
/// strings, so one multiply replaces SipHash (the maps are hit for every node of every page).
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Map keyed by node.
pub(crate) type IdMap<V> = HashMap<NodeId, V, BuildHasherDefault<IdHasher>>;
/// Set of nodes.
pub(crate) type IdSet = HashSet<NodeId, BuildHasherDefault<IdHasher>>;

/// The element's tag name, or "" for non-elements.
pub(crate) fn tag<'a>(n: NRef<'a>) -> &'a str {
    match n.value() {
        Node::Element(e) => e.name(),
        _ => "",
    }
}

/// The element with this `id` in a test page.
#[cfg(test)]
pub(crate) fn by_id<'a>(doc: &'a scraper::Html, id: &str) -> NRef<'a> {
    doc.tree
        .root()
        .descendants()
        .find(|n| attr(*n, "id") == Some(id))
        .expect("element in test page")
}

pub(crate) fn attr<'a>(n: NRef<'a>, name: &str) -> Option<&'a str> {
    match n.value() {
        Node::Element(e) => e.attr(name),
        _ => None,
    }
}

/// `class` and `id` lower-cased and joined: what the class/id hint word lists look at.
pub(crate) fn class_id(n: NRef<'_>) -> String {
    let mut s = String::new();
    if let Node::Element(e) = n.value() {
        if let Some(c) = e.attr("class") {
            s.push_str(c);
        }
        if let Some(i) = e.attr("id") {
            s.push(' ');
            s.push_str(i);
        }
    }
    s.make_ascii_lowercase();
    s
}

pub(crate) fn contains_any(hay: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| hay.contains(n))
}

/// Commas of the scripts the corpus and our feeds use (Latin, Arabic, CJK full-width...).
pub(crate) fn is_comma(c: char) -> bool {
    matches!(
        c,
        ',' | '\u{060C}'
            | '\u{FE50}'
            | '\u{FE10}'
            | '\u{FE11}'
            | '\u{2E41}'
            | '\u{2E34}'
            | '\u{2E32}'
            | '\u{FF0C}'
            | '\u{3001}'
    )
}

/// Text statistics of one subtree. Counts are in chars of whitespace-collapsed text.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Stats {
    pub(crate) chars: u32,
    /// Chars inside `<a>`; in-page links (`href="#..."`) count 30%, as in Readability, since
    /// footnote and table-of-contents anchors are part of articles.
    pub(crate) link_chars: f32,
    pub(crate) commas: u32,
    pub(crate) p: u32,
    pub(crate) img: u32,
    pub(crate) li: u32,
    pub(crate) input: u32,
    pub(crate) embed: u32,
    pub(crate) heading_chars: u32,
}

impl Stats {
    /// Adds a child's counts.
    fn add(&mut self, o: &Stats) {
        self.chars += o.chars;
        self.link_chars += o.link_chars;
        self.commas += o.commas;
        self.p += o.p;
        self.img += o.img;
        self.li += o.li;
        self.input += o.input;
        self.embed += o.embed;
        self.heading_chars += o.heading_chars;
    }

    /// Takes away a removed descendant's counts.
    pub(crate) fn sub(&mut self, o: &Stats) {
        self.chars = self.chars.saturating_sub(o.chars);
        self.link_chars = (self.link_chars - o.link_chars).max(0.0);
        self.commas = self.commas.saturating_sub(o.commas);
        self.p = self.p.saturating_sub(o.p);
        self.img = self.img.saturating_sub(o.img);
        self.li = self.li.saturating_sub(o.li);
        self.input = self.input.saturating_sub(o.input);
        self.embed = self.embed.saturating_sub(o.embed);
        self.heading_chars = self.heading_chars.saturating_sub(o.heading_chars);
    }

    pub(crate) fn link_density(&self) -> f32 {
        if self.chars == 0 {
            0.0
        } else {
            (self.link_chars / self.chars as f32).min(1.0)
        }
    }
}

/// Whitespace-collapsed char count of a text node (a separator counted for leading space).
pub(crate) fn text_chars(t: &str) -> u32 {
    let mut n = 0u32;
    let mut in_space = true;
    for c in t.chars() {
        if c.is_whitespace() {
            if !in_space {
                n += 1;
                in_space = true;
            }
        } else {
            n += 1;
            in_space = false;
        }
    }
    n
}

/// Computes [`Stats`] for every element under `root` (inclusive) in one post-order walk,
/// leaving out invisible elements and the `pruned` subtrees.
pub(crate) fn stats(root: NRef<'_>, pruned: &IdSet) -> IdMap<Stats> {
    let mut map: IdMap<Stats> = IdMap::with_capacity_and_hasher(1024, Default::default());
    let mut stack: Vec<Stats> = vec![Stats::default()];
    // Depth of enclosing <a>, with the weight of the innermost one.
    let mut links: Vec<f32> = Vec::new();
    let mut walk = Walk::new(root);
    while let Some(edge) = walk.next() {
        match edge {
            Edge::Open(n) => match n.value() {
                Node::Text(t) => {
                    let c = text_chars(t);
                    if let Some(top) = stack.last_mut() {
                        top.chars += c;
                        top.commas += t.chars().filter(|&c| is_comma(c)).count() as u32;
                        if let Some(w) = links.last() {
                            top.link_chars += c as f32 * w;
                        }
                    }
                }
                Node::Element(e) => {
                    if is_invisible(e.name()) || pruned.contains(&n.id()) {
                        if matches!(e.name(), "object" | "embed" | "iframe" | "video") {
                            if let Some(top) = stack.last_mut() {
                                top.embed += 1;
                            }
                        }
                        walk.skip_subtree(n);
                        continue;
                    }
                    if e.name() == "a" {
                        let w = if e.attr("href").is_some_and(|h| h.starts_with('#')) {
                            0.3
                        } else {
                            1.0
                        };
                        links.push(w);
                    }
                    stack.push(Stats::default());
                }
                _ => {}
            },
            Edge::Close(n) => {
                let Node::Element(e) = n.value() else {
                    continue;
                };
                let Some(mut s) = stack.pop() else { continue };
                match e.name() {
                    "a" => {
                        links.pop();
                    }
                    "p" => s.p += 1,
                    "img" => s.img += 1,
                    "li" => s.li += 1,
                    "input" => s.input += 1,
                    "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => s.heading_chars = s.chars,
                    _ => {}
                }
                map.insert(n.id(), s);
                if let Some(parent) = stack.last_mut() {
                    parent.add(&s);
                }
            }
        }
    }
    map
}

/// How far up ancestor checks look. Real pages nest a few dozen levels; the bound keeps
/// hostile, deeply nested markup from making per-node ancestor walks quadratic.
pub(crate) const MAX_WALK: usize = 64;

/// True when some ancestor (not `n` itself, at most [`MAX_WALK`] up) is one of `tags`.
pub(crate) fn has_ancestor(n: NRef<'_>, tags: &[&str]) -> bool {
    n.ancestors().take(MAX_WALK).any(|a| tags.contains(&tag(a)))
}

/// Class/id words of content containers (Readability's `positive`).
#[rustfmt::skip]
pub(crate) const POSITIVE: &[&str] = &[
    "article", "body", "content", "entry", "hentry", "h-entry", "main", "page", "pagination",
    "post", "text", "blog", "story",
];
/// Class/id words of furniture (Readability's `negative`, plus captions, bylines, newsletters).
#[rustfmt::skip]
pub(crate) const NEGATIVE: &[&str] = &[
    "-ad-", "hidden", "banner", "combx", "comment", "com-", "contact", "foot", "footer",
    "footnote", "gdpr", "masthead", "media", "meta", "outbrain", "promo", "related", "scroll",
    "share", "shoutbox", "sidebar", "skyscraper", "sponsor", "shopping", "tags", "tool", "widget",
    "caption", "credit", "byline", "newsletter",
];

/// Class/id weight: ±25 per attribute for positive/negative words.
pub(crate) fn class_weight(n: NRef<'_>, flags: Flags) -> f32 {
    if !flags.weight_classes {
        return 0.0;
    }
    let mut w = 0.0;
    for a in ["class", "id"] {
        if let Some(v) = attr(n, a) {
            let v = v.to_ascii_lowercase();
            if contains_any(&v, NEGATIVE) || v.split_whitespace().any(|t| t == "hid") {
                w -= 25.0;
            }
            if contains_any(&v, POSITIVE) {
                w += 25.0;
            }
        }
    }
    w
}
