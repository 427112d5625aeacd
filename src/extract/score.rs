//! The heuristic body finder, in the spirit of Mozilla's Readability: let [`super::prune`]
//! set aside what cannot be article, score paragraphs into their ancestors, pick the
//! best-scoring container, merge sibling blocks that belong to the same story, then let
//! [`super::clean`] remove furniture inside it.
//!
//! Scores come from the text itself (length, commas, link density) plus class/id hints, so
//! they carry over to sites we have never seen. When a pass yields a very short text, it is
//! retried with the riskier rules (unlikely-candidate pruning, class weights, conditional
//! cleaning) switched off one by one, as Readability does; a laxer pass replaces the result
//! only when it finds clearly more text.

use ego_tree::iter::Edge;
use ego_tree::NodeId;
use scraper::{Html, Node};

use super::clean;
use super::dom::{
    attr, class_id, class_weight, is_comma, stats, tag, text_chars, Flags, IdMap, IdSet, NRef,
    Stats, MAX_WALK,
};
use crate::text::html::{render, text_of, TextBuilder, Walk};

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

/// Finds the article body. Passes never modify the tree (pruned subtrees are skipped by id),
/// so a retry costs no re-parse.
pub(crate) fn extract_body(doc: &Html, title: Option<&str>) -> Body {
    let mut best: Option<(usize, Body)> = None;
    // Where reply controls sit does not depend on the pass: found once per page.
    let threads = super::comments::Threads::scan(doc.tree.root());
    for flags in PASSES {
        let body = grab(doc, flags, title, &threads);
        let n = body.text.chars().count();
        // Readability keeps the longest attempt; here a laxer pass must find clearly more
        // (twice as much), since on a genuinely short news brief it mostly adds back the
        // furniture the stricter pass removed.
        if best.as_ref().is_none_or(|(m, _)| n > 2 * *m) {
            best = Some((n, body));
        }
        if best.as_ref().is_some_and(|(m, _)| *m >= CHAR_THRESHOLD) {
            break;
        }
    }
    best.map(|(_, b)| b).unwrap_or_default()
}

/// Children that make a `<div>` a container rather than a paragraph.
#[rustfmt::skip]
const DIV_TO_P: &[&str] = &[
    "blockquote", "dl", "div", "img", "ol", "p", "pre", "table", "ul", "section", "article",
    "figure", "h1", "h2", "h3", "h4", "h5", "h6",
];

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
    scores: IdMap<f32>,
    order: Vec<NodeId>,
    flags: Flags,
    stats: &'s IdMap<Stats>,
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
                let div = match level {
                    0 => 1.0,
                    1 => 2.0,
                    l => l as f32 * 3.0,
                };
                let flags = self.flags;
                let order = &mut self.order;
                *self.scores.entry(id).or_insert_with(|| {
                    order.push(id);
                    base_score(tag(a)) + class_weight(a, flags)
                }) += score / div;
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
pub(crate) fn grab(
    doc: &Html,
    flags: Flags,
    title: Option<&str>,
    threads: &super::comments::Threads,
) -> Body {
    let pruned = super::prune::prune(doc.tree.root(), flags, threads);
    let Some(body) = doc.tree.root().descendants().find(|n| tag(*n) == "body") else {
        return Body::default();
    };
    let st = stats(body, &pruned);
    let mut sc = Scorer {
        scores: IdMap::default(),
        order: Vec::new(),
        flags,
        stats: &st,
    };
    score_paragraphs(body, &mut sc, &pruned);

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
        Some(top) => choose_top(top, &cands, &sc, doc, body.id(), &pruned),
        None => body,
    };
    if tracing::enabled!(tracing::Level::TRACE) {
        // Why a page came out wrong is a question about these choices; cheap when off.
        for (id, score) in &cands {
            if let Some(n) = doc.tree.get(*id) {
                tracing::trace!(score, path = %path(n), "extract candidate");
            }
        }
        tracing::trace!(?flags, path = %path(top), "extract top candidate");
    }

    let parts = story_parts(top, body.id(), &sc, &pruned);
    let removed = clean::prep(&parts, &st, flags, title, &pruned);
    let mut tb = TextBuilder::default();
    let (mut chars, mut link) = (0u32, 0f32);
    for p in &parts {
        tb.brk(2);
        render(*p, &mut tb, &|n| {
            pruned.contains(&n.id()) || removed.contains(&n.id())
        });
        let s = sc.stat(p.id());
        chars += s.chars;
        link += s.link_chars;
    }
    // Take away what cleaning removed (outermost removals only: their counts include the rest).
    for n in removed.iter().filter_map(|id| doc.tree.get(*id)) {
        if !n
            .ancestors()
            .take(MAX_WALK)
            .any(|a| removed.contains(&a.id()))
        {
            let s = sc.stat(n.id());
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

/// Scores every paragraph-like element (Readability's `p`, `pre`, `td`, `h2`-`h6`, and
/// `div`s that hold no blocks, or the loose text of those that do) into its ancestors.
fn score_paragraphs(body: NRef<'_>, sc: &mut Scorer<'_>, pruned: &IdSet) {
    let live = |n: &NRef<'_>| !pruned.contains(&n.id());
    let mut walk = Walk::new(body);
    while let Some(edge) = walk.next() {
        let Edge::Open(n) = edge else { continue };
        if !live(&n) {
            walk.skip_subtree(n);
            continue;
        }
        match tag(n) {
            "p" | "pre" | "td" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                let s = sc.stat(n.id());
                if let Some(p) = n.parent() {
                    sc.add(p, s.chars, s.commas);
                }
            }
            "div" if !has_block_child(n, pruned) => {
                let s = sc.stat(n.id());
                if let Some(p) = n.parent() {
                    sc.add(p, s.chars, s.commas);
                }
            }
            "div" => {
                // Loose text beside blocks: Readability wraps it in a <p> inside the div.
                let (mut chars, mut commas) = (0u32, 0u32);
                for c in n.children().filter(live) {
                    match c.value() {
                        Node::Text(tx) => {
                            chars += text_chars(tx);
                            commas += tx.chars().filter(|&c| is_comma(c)).count() as u32;
                        }
                        Node::Element(e) if crate::text::html::break_level(e.name()) == 0 => {
                            let s = sc.stat(c.id());
                            chars += s.chars;
                            commas += s.commas;
                        }
                        _ => {}
                    }
                }
                sc.add(n, chars, commas);
            }
            _ => {}
        }
    }
}

/// True when `n` holds a block child (so it is a container, not a paragraph).
fn has_block_child(n: NRef<'_>, pruned: &IdSet) -> bool {
    n.children()
        .any(|c| !pruned.contains(&c.id()) && DIV_TO_P.contains(&tag(c)))
}

/// The top candidate and the siblings that belong to the same story (Readability's sibling
/// merge, extended to unscored wrappers that continue the story).
fn story_parts<'a>(top: NRef<'a>, body: NodeId, sc: &Scorer<'_>, pruned: &IdSet) -> Vec<NRef<'a>> {
    let Some(parent) = top.parent().filter(|_| top.id() != body) else {
        return vec![top];
    };
    let top_score = sc.scores.get(&top.id()).copied().unwrap_or(0.0);
    let threshold = (top_score * 0.2).max(10.0);
    let top_class = attr(top, "class").unwrap_or("");
    let mut sibs = Vec::new();
    for sib in parent
        .children()
        .filter(|c| c.value().is_element() && !pruned.contains(&c.id()))
    {
        if sib.id() == top.id() {
            sibs.push((sib, true));
            continue;
        }
        let same_class = !top_class.is_empty() && attr(sib, "class") == Some(top_class);
        let bonus = if same_class { top_score * 0.2 } else { 0.0 };
        let para_like = tag(sib) == "p"
            || (matches!(tag(sib), "div" | "section") && !has_block_child(sib, pruned));
        let s = sc.stat(sib.id());
        let ld = s.link_density();
        let keep = match sc.scores.get(&sib.id()) {
            Some(score) if score + bonus >= threshold => true,
            // A paragraph (or a div that reads as one: Readability turns those into <p>)
            // beside the story: a standfirst, a closing line.
            _ if para_like => {
                if s.chars > 80 {
                    ld < 0.25
                } else if s.chars > 0 && ld == 0.0 {
                    let txt = text_of(sib, &|n| pruned.contains(&n.id()));
                    txt.contains(". ") || txt.ends_with('.')
                } else {
                    false
                }
            }
            // Unscored blocks deeper than the five scored ancestor levels: a story continued
            // in a sibling wrapper with the top's own class, or several paragraphs of prose.
            None => ld < 0.25 && ((same_class && s.chars > 80) || (s.p >= 2 && s.chars > 500)),
            _ => false,
        };
        tracing::trace!(keep, path = %path(sib), "extract sibling");
        sibs.push((sib, keep));
    }
    super::sections::merge_adjacent(&mut sibs, sc.stats, sc.flags);
    sibs.into_iter().filter(|s| s.1).map(|s| s.0).collect()
}

/// `tag.class#id` chain of a node, for trace logs.
fn path(n: NRef<'_>) -> String {
    let mut v: Vec<String> = n
        .ancestors()
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .chain(std::iter::once(n))
        .filter(|a| a.value().is_element())
        .map(|a| format!("{}.{}", tag(a), class_id(a).replace(' ', ".")))
        .collect();
    v.dedup();
    v.join(" > ")
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
    pruned: &IdSet,
) -> NRef<'a> {
    let mut top = top;
    let top_score = cands.first().map(|c| c.1).unwrap_or(0.0);
    let alternatives: Vec<IdSet> = cands
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
            || pn
                .children()
                .filter(|c| c.value().is_element() && !pruned.contains(&c.id()))
                .count()
                != 1
        {
            break;
        }
        top = pn;
    }
    top
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(html: &str) -> String {
        extract_body(&Html::parse_document(html), Some("The headline")).text
    }

    const PARA: &str =
        "This paragraph is long enough, with commas, clauses, and words, to be scored as prose.";

    #[test]
    fn furniture_inside_the_article_is_dropped() {
        let html = format!(
            r#"<body><article><h1>The headline</h1>
            <div class="byline">By A. Writer</div>
            <div class="story-body">
              <p>{PARA} One.</p>
              <figure><img src="a.jpg"><figcaption>A caption [Getty]</figcaption></figure>
              <div class="photo-box"><img src="b.jpg"><p>Another caption</p></div>
              <p>{PARA} Two.</p>
              <ul><li><a href="/a">Other story one</a></li><li><a href="/b">Other story two</a></li></ul>
              <p>Read more: <a href="/c">A related story about something else entirely</a></p>
              <div class="tags"><a rel="tag" href="/t/x">x</a>, <a rel="tag" href="/t/y">y</a></div>
              <p hidden>Hidden text that is not shown.</p>
              <p>{PARA} Three.</p>
            </div></article></body>"#
        );
        let t = body(&html);
        let paras: Vec<&str> = t.split("\n\n").collect();
        assert_eq!(paras.len(), 3, "{t}");
        assert!(paras.iter().all(|p| p.starts_with("This paragraph")), "{t}");
    }

    #[test]
    fn standfirst_sibling_is_merged() {
        let html = format!(
            r#"<body><div class="main"><div class="summary">A standfirst that sums up the story in one sentence for readers.</div>
            <div class="text"><p>{PARA}</p><p>{PARA}</p><p>{PARA}</p></div>
            <div class="promo"><a href="/x">Subscribe now</a></div></div></body>"#
        );
        let t = body(&html);
        assert!(t.starts_with("A standfirst"), "{t}");
        assert!(!t.contains("Subscribe"), "{t}");
    }

    #[test]
    fn heading_left_without_its_list_is_dropped() {
        let html = format!(
            r#"<body><div class="text"><p>{PARA}</p><p>{PARA}</p><p>{PARA}</p>
            <h3>More from us</h3><ul><li><a href="/a">Another story that is a teaser</a></li><li><a href="/b">One more teaser story</a></li></ul></div></body>"#
        );
        let t = body(&html);
        assert!(t.ends_with("prose."), "{t}");
    }

    #[test]
    fn retry_without_unlikely_pruning_finds_odd_markup() {
        // The only prose sits in a box whose class looks like a sidebar: the first pass prunes
        // it, the retry without pruning finds it.
        let html = format!(r#"<body><div class="sidebar"><p>{PARA}</p><p>{PARA}</p></div></body>"#);
        assert!(body(&html).starts_with("This paragraph"));
    }
}
