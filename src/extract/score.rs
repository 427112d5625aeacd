//! The heuristic body finder, in the spirit of Mozilla's Readability: prune what cannot be
//! article, score paragraphs into their ancestors, pick the best-scoring container, merge
//! sibling blocks that belong to the same story, then let [`super::clean`] remove furniture
//! inside it.
//!
//! Scores come from the text itself (length, commas, link density) plus class/id hints, so
//! they carry over to sites we have never seen. When a pass yields a very short text, it is
//! retried with the riskier rules (unlikely-candidate pruning, class weights, conditional
//! cleaning) switched off one by one, and the longest result wins, as Readability does.

use std::collections::{HashMap, HashSet};

use ego_tree::iter::Edge;
use ego_tree::NodeId;
use scraper::{Html, Node};

use super::clean;
use super::dom::{
    attr, class_id, contains_any, has_ancestor, is_comma, stats, tag, text_chars, NRef, Stats,
};
use crate::html::{is_invisible, render, TextBuilder};

/// Which of the riskier rules a pass uses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flags {
    pub(crate) strip_unlikely: bool,
    pub(crate) weight_classes: bool,
    pub(crate) clean_conditionally: bool,
}

const PASSES: [Flags; 4] = [
    Flags {
        strip_unlikely: true,
        weight_classes: true,
        clean_conditionally: true,
    },
    Flags {
        strip_unlikely: false,
        weight_classes: true,
        clean_conditionally: true,
    },
    Flags {
        strip_unlikely: false,
        weight_classes: false,
        clean_conditionally: true,
    },
    Flags {
        strip_unlikely: false,
        weight_classes: false,
        clean_conditionally: false,
    },
];

/// Below this many chars a pass is considered to have missed the article (Readability's
/// `charThreshold`).
const CHAR_THRESHOLD: usize = 500;

/// The body found by the heuristic.
#[derive(Debug, Default)]
pub(crate) struct Body {
    pub(crate) text: String,
    pub(crate) link_density: f32,
}

/// Finds the article body. `doc` is the already parsed page (consumed by the first pass);
/// later passes re-parse `html` since passes prune the tree.
pub(crate) fn extract_body(doc: Html, html: &str, title: Option<&str>) -> Body {
    let mut best: Option<(usize, Body)> = None;
    let mut doc = Some(doc);
    for flags in PASSES {
        let mut d = doc.take().unwrap_or_else(|| Html::parse_document(html));
        let body = grab(&mut d, flags, title);
        let n = body.text.chars().count();
        if n >= CHAR_THRESHOLD {
            return body;
        }
        if best.as_ref().is_none_or(|(m, _)| n > *m) {
            best = Some((n, body));
        }
    }
    best.map(|(_, b)| b).unwrap_or_default()
}

/// Class/id words of page furniture (Readability's `unlikelyCandidates`).
const UNLIKELY: &[&str] = &[
    "-ad-",
    "ai2html",
    "banner",
    "breadcrumb",
    "combx",
    "comment",
    "community",
    "cover-wrap",
    "disqus",
    "extra",
    "footer",
    "gdpr",
    "header",
    "legends",
    "menu",
    "related",
    "remark",
    "replies",
    "rss",
    "shoutbox",
    "sidebar",
    "skyscraper",
    "social",
    "sponsor",
    "supplemental",
    "ad-break",
    "agegate",
    "pagination",
    "pager",
    "popup",
    "yom-remote",
    "cookie",
    "newsletter",
    "subscribe",
    "share",
    "promo",
    "most-read",
    "mostread",
    "trending",
    "outbrain",
    "taboola",
];
/// Words that rescue an unlikely-looking element (`okMaybeItsACandidate`).
const MAYBE: &[&str] = &[
    "and", "article", "body", "column", "content", "main", "shadow",
];
pub(crate) const POSITIVE: &[&str] = &[
    "article",
    "body",
    "content",
    "entry",
    "hentry",
    "h-entry",
    "main",
    "page",
    "pagination",
    "post",
    "text",
    "blog",
    "story",
];
pub(crate) const NEGATIVE: &[&str] = &[
    "-ad-",
    "hidden",
    "banner",
    "combx",
    "comment",
    "com-",
    "contact",
    "foot",
    "footer",
    "footnote",
    "gdpr",
    "masthead",
    "media",
    "meta",
    "outbrain",
    "promo",
    "related",
    "scroll",
    "share",
    "shoutbox",
    "sidebar",
    "skyscraper",
    "sponsor",
    "shopping",
    "tags",
    "tool",
    "widget",
    "caption",
    "credit",
    "byline",
    "newsletter",
];
const UNLIKELY_ROLES: &[&str] = &[
    "menu",
    "menubar",
    "complementary",
    "navigation",
    "alert",
    "alertdialog",
    "dialog",
];
/// Class/id words of bylines and date lines; such elements are removed when short.
const BYLINE: &[&str] = &[
    "byline",
    "author",
    "dateline",
    "writtenby",
    "p-author",
    "date",
    "timestamp",
    "published",
    "reading-time",
    "readtime",
    "read-time",
    "article-meta",
    "post-meta",
    "entry-meta",
];
/// Children that make a `<div>` a container rather than a paragraph.
const DIV_TO_P: &[&str] = &[
    "blockquote",
    "dl",
    "div",
    "img",
    "ol",
    "p",
    "pre",
    "table",
    "ul",
    "section",
    "article",
    "figure",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
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

fn is_hidden(n: NRef<'_>) -> bool {
    let Node::Element(e) = n.value() else {
        return false;
    };
    if e.attr("hidden").is_some() || e.attr("aria-hidden") == Some("true") {
        return true;
    }
    e.attr("style").is_some_and(|s| {
        let s: String = s
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        s.contains("display:none") || s.contains("visibility:hidden")
    })
}

/// Subtree text length, for the few checks that need it before stats exist.
fn subtree_chars(n: NRef<'_>) -> u32 {
    n.descendants()
        .filter_map(|d| d.value().as_text())
        .map(|t| text_chars(t))
        .sum()
}

/// First pass: elements that cannot be part of the article.
fn prune(root: NRef<'_>, flags: Flags) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut skipping: Option<NodeId> = None;
    for edge in root.traverse() {
        let n = match edge {
            Edge::Open(n) => n,
            Edge::Close(n) => {
                if skipping == Some(n.id()) {
                    skipping = None;
                }
                continue;
            }
        };
        if skipping.is_some() {
            continue;
        }
        let Node::Element(e) = n.value() else {
            continue;
        };
        let t = e.name();
        let remove = is_invisible(t)
            || matches!(t, "nav" | "figcaption" | "input" | "link")
            || is_hidden(n)
            || is_byline(n)
            || (flags.strip_unlikely && is_unlikely(n, t));
        if remove {
            out.push(n.id());
            skipping = Some(n.id());
        } else if t == "time" {
            // A date line: the nearest block around a <time> when that block is short. A
            // <time> inside a real paragraph ("on <time>Monday</time>") stays.
            if let Some(block) = n
                .ancestors()
                .find(|a| crate::html::break_level(tag(*a)) > 0)
            {
                if subtree_chars(block) < 100 && !matches!(tag(block), "body" | "article" | "main")
                {
                    out.push(block.id());
                }
            }
        }
    }
    out
}

fn is_byline(n: NRef<'_>) -> bool {
    let rel_author = attr(n, "rel") == Some("author")
        || attr(n, "itemprop").is_some_and(|p| p.contains("author"));
    (rel_author || contains_any(&class_id(n), BYLINE)) && subtree_chars(n) < 100
}

fn is_unlikely(n: NRef<'_>, t: &str) -> bool {
    if matches!(t, "body" | "html" | "a" | "main" | "article") {
        return false;
    }
    if matches!(t, "aside" | "footer") {
        return true;
    }
    if attr(n, "role").is_some_and(|r| UNLIKELY_ROLES.contains(&r)) {
        return true;
    }
    let ci = class_id(n);
    !ci.is_empty()
        && contains_any(&ci, UNLIKELY)
        && !contains_any(&ci, MAYBE)
        && !has_ancestor(n, &["table", "code"])
}

fn base_score(t: &str) -> f32 {
    match t {
        "div" => 5.0,
        "pre" | "td" | "blockquote" => 3.0,
        "address" | "ol" | "ul" | "dl" | "dd" | "dt" | "li" | "form" => -3.0,
        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "th" => -5.0,
        _ => 0.0,
    }
}

struct Scorer<'s> {
    scores: HashMap<NodeId, f32>,
    order: Vec<NodeId>,
    flags: Flags,
    stats: &'s HashMap<NodeId, Stats>,
}

impl Scorer<'_> {
    /// Adds a paragraph's score to up to five ancestors, starting at `first` (level 0).
    fn add(&mut self, first: NRef<'_>, chars: u32, commas: u32) {
        if chars < 25 {
            return;
        }
        let score = 1.0 + (commas + 1) as f32 + (chars / 100).min(3) as f32;
        let mut level = 0;
        let mut cur = Some(first);
        while let Some(a) = cur {
            if level >= 5 || a.parent().is_none_or(|p| !p.value().is_element()) {
                break;
            }
            if a.value().is_element() {
                let id = a.id();
                if !self.scores.contains_key(&id) {
                    self.scores
                        .insert(id, base_score(tag(a)) + class_weight(a, self.flags));
                    self.order.push(id);
                }
                let div = match level {
                    0 => 1.0,
                    1 => 2.0,
                    l => l as f32 * 3.0,
                };
                if let Some(s) = self.scores.get_mut(&id) {
                    *s += score / div;
                }
            }
            level += 1;
            cur = a.parent();
        }
    }

    fn stat(&self, id: NodeId) -> Stats {
        self.stats.get(&id).copied().unwrap_or_default()
    }
}

/// One extraction pass over `doc` with the given rules.
pub(crate) fn grab(doc: &mut Html, flags: Flags, title: Option<&str>) -> Body {
    let pruned = prune(doc.tree.root(), flags);
    for id in pruned {
        if let Some(mut n) = doc.tree.get_mut(id) {
            n.detach();
        }
    }
    let root = doc.tree.root();
    let Some(body) = root.descendants().find(|n| tag(*n) == "body") else {
        return Body::default();
    };
    let st = stats(body);
    let mut sc = Scorer {
        scores: HashMap::new(),
        order: Vec::new(),
        flags,
        stats: &st,
    };

    for n in body.descendants() {
        let t = tag(n);
        match t {
            "p" | "pre" | "td" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                let s = sc.stat(n.id());
                if let Some(p) = n.parent() {
                    sc.add(p, s.chars, s.commas);
                }
            }
            "div" => {
                let block_child = n.children().any(|c| DIV_TO_P.contains(&tag(c)));
                if !block_child {
                    let s = sc.stat(n.id());
                    if let Some(p) = n.parent() {
                        sc.add(p, s.chars, s.commas);
                    }
                } else {
                    // Loose text beside blocks: Readability wraps it in a <p> inside the div.
                    let (mut chars, mut commas) = (0u32, 0u32);
                    for c in n.children() {
                        match c.value() {
                            Node::Text(tx) => {
                                chars += text_chars(tx);
                                commas += tx.chars().filter(|&c| is_comma(c)).count() as u32;
                            }
                            Node::Element(e) if crate::html::break_level(e.name()) == 0 => {
                                let s = sc.stat(c.id());
                                chars += s.chars;
                                commas += s.commas;
                            }
                            _ => {}
                        }
                    }
                    sc.add(n, chars, commas);
                }
            }
            _ => {}
        }
    }

    // Link density scales every candidate's score.
    let mut cands: Vec<(NodeId, f32)> = sc
        .order
        .iter()
        .map(|id| {
            let s = sc.scores.get(id).copied().unwrap_or(0.0) * (1.0 - sc.stat(*id).link_density());
            (*id, s)
        })
        .collect();
    for (id, s) in &cands {
        sc.scores.insert(*id, *s);
    }
    cands.sort_by(|a, b| b.1.total_cmp(&a.1));
    cands.truncate(5);

    let top = match cands.first().and_then(|(id, _)| doc.tree.get(*id)) {
        Some(top) => choose_top(top, &cands, &sc, doc, body.id()),
        None => body,
    };
    let top_score = sc.scores.get(&top.id()).copied().unwrap_or(0.0);

    // Siblings that belong to the same story.
    let mut parts: Vec<NRef<'_>> = Vec::new();
    match top.parent() {
        Some(parent) if top.id() != body.id() => {
            let threshold = (top_score * 0.2).max(10.0);
            let top_class = attr(top, "class").unwrap_or("");
            for sib in parent.children().filter(|c| c.value().is_element()) {
                if sib.id() == top.id() {
                    parts.push(sib);
                    continue;
                }
                let bonus = if !top_class.is_empty() && attr(sib, "class") == Some(top_class) {
                    top_score * 0.2
                } else {
                    0.0
                };
                let keep = match sc.scores.get(&sib.id()) {
                    Some(s) if s + bonus >= threshold => true,
                    _ if tag(sib) == "p" => {
                        let s = sc.stat(sib.id());
                        let ld = s.link_density();
                        if s.chars > 80 {
                            ld < 0.25
                        } else if s.chars > 0 && ld == 0.0 {
                            let mut tb = TextBuilder::default();
                            render(sib, &mut tb, &|_| false);
                            let txt = tb.finish();
                            txt.contains(". ") || txt.ends_with('.')
                        } else {
                            false
                        }
                    }
                    _ => false,
                };
                if keep {
                    parts.push(sib);
                }
            }
        }
        _ => parts.push(top),
    }

    let removed = clean::prep(&parts, &st, flags, title);
    let mut tb = TextBuilder::default();
    let (mut chars, mut link) = (0u32, 0f32);
    for p in &parts {
        tb.brk(2);
        render(*p, &mut tb, &|n| removed.contains(&n.id()));
        let s = st.get(&p.id()).copied().unwrap_or_default();
        chars += s.chars;
        link += s.link_chars;
    }
    for id in &removed {
        if let Some(s) = st.get(id) {
            chars = chars.saturating_sub(s.chars);
            link -= s.link_chars;
        }
    }
    let text = clean::filter_text(&tb.finish(), title);
    let link_density = if chars == 0 {
        0.0
    } else {
        (link.max(0.0) / chars as f32).min(1.0)
    };
    Body { text, link_density }
}

/// Readability's refinements of the top candidate: promote to a common ancestor of several
/// near-best candidates (a story split into sibling blocks), climb to a parent that scores
/// higher, and climb through wrappers that have no other children.
fn choose_top<'a>(
    top: NRef<'a>,
    cands: &[(NodeId, f32)],
    sc: &Scorer<'_>,
    doc: &'a Html,
    body: NodeId,
) -> NRef<'a> {
    let mut top = top;
    let top_score = cands.first().map(|c| c.1).unwrap_or(0.0);
    let alternatives: Vec<HashSet<NodeId>> = cands
        .iter()
        .skip(1)
        .filter(|(_, s)| top_score > 0.0 && s / top_score >= 0.75)
        .filter_map(|(id, _)| doc.tree.get(*id))
        .map(|n| n.ancestors().map(|a| a.id()).collect())
        .collect();
    if alternatives.len() >= 3 {
        let mut p = top.parent();
        while let Some(pn) = p {
            if pn.id() == body || !pn.value().is_element() {
                break;
            }
            if alternatives.iter().filter(|a| a.contains(&pn.id())).count() >= 3 {
                top = pn;
                break;
            }
            p = pn.parent();
        }
    }
    let mut last = sc.scores.get(&top.id()).copied().unwrap_or(0.0);
    let threshold = last / 3.0;
    let mut p = top.parent();
    while let Some(pn) = p {
        if pn.id() == body || !pn.value().is_element() {
            break;
        }
        if let Some(&ps) = sc.scores.get(&pn.id()) {
            if ps < threshold {
                break;
            }
            if ps > last {
                top = pn;
                break;
            }
            last = ps;
        }
        p = pn.parent();
    }
    while let Some(pn) = top.parent() {
        if pn.id() == body
            || !pn.value().is_element()
            || pn.children().filter(|c| c.value().is_element()).count() != 1
        {
            break;
        }
        top = pn;
    }
    top
}
