//! Evaluating compiled rule trees against one document's literal occurrences: whether a
//! rule holds, which hits to report, and the explanation of each branch.

use std::sync::Arc;

use super::compile::{Node, Side};
use super::explain::ExplainNode;
use super::lang::Lang;
use super::lexicon::Hit;
use super::normalize::Normalized;
use super::snippet::shorten;
use super::Field;

/// A document's normalised fields and sorted literal occurrences.
#[derive(Default)]
pub(super) struct DocHits<'d> {
    pub(super) texts: [&'d str; 5],
    pub(super) norms: [Normalized; 5],
    pub(super) hits: Vec<Hit>,
    /// The hits' sort keys: a buffer kept with the others for the next item.
    pub(super) keys: Vec<u64>,
    /// The item's language, when a stem literal needed it.
    pub(super) lang: Option<Lang>,
}

impl DocHits<'_> {
    pub(super) fn of(&self, pat: u32) -> &[Hit] {
        let lo = self.hits.partition_point(|h| h.pat < pat);
        let hi = self.hits.partition_point(|h| h.pat <= pat);
        self.hits.get(lo..hi).unwrap_or(&[])
    }

    pub(super) fn lit<'a>(&'a self, pat: u32, fields: u8) -> impl Iterator<Item = &'a Hit> + 'a {
        self.of(pat)
            .iter()
            .filter(move |h| fields & (1 << h.field) != 0)
    }
}

pub(super) fn eval(n: &Node, dh: &DocHits) -> bool {
    match n {
        Node::Lit { pat, fields, .. } => dh.lit(*pat, *fields).next().is_some(),
        Node::And(v) => v.iter().all(|n| eval(n, dh)),
        Node::Or(v) => v.iter().any(|n| eval(n, dh)),
        Node::Concept { lits, .. } => any_side_hit(lits, dh),
        Node::Not(n) => !eval(n, dh),
        Node::Near {
            left,
            right,
            distance,
            ordered,
            ..
        } => {
            let l = side_hits(left, dh);
            if l.is_empty() {
                return false;
            }
            let r = side_hits(right, dh);
            l.iter().any(|a| {
                r.iter()
                    .any(|b| a.field == b.field && near(a, b, *distance, *ordered))
            })
        }
    }
}

/// Whether `a` and `b` (same field) are within `distance` words, `a` first if `ordered`.
pub(super) fn near(a: &Hit, b: &Hit, distance: u32, ordered: bool) -> bool {
    if (a.start, a.end) == (b.start, b.end) {
        false
    } else if a.end <= b.start {
        b.start - a.end <= distance
    } else if b.end <= a.start {
        !ordered && a.start - b.end <= distance
    } else {
        // Overlapping spans (`"green zone" NEAR/3 zone`): adjacent, in no order.
        !ordered
    }
}

/// Whether any literal of `sides` (sorted by pattern) occurs, without gathering the hits.
pub(super) fn any_side_hit(sides: &[Side], dh: &DocHits) -> bool {
    if dh.hits.len() < sides.len() {
        dh.hits.iter().any(|h| side_has(sides, h))
    } else {
        sides
            .iter()
            .any(|s| dh.lit(s.pat, s.fields).next().is_some())
    }
}

/// Whether a literal of `sides` (sorted by pattern) found `h` in a field it may match in.
pub(super) fn side_has(sides: &[Side], h: &Hit) -> bool {
    let from = sides.partition_point(|s| s.pat < h.pat);
    sides
        .get(from..)
        .unwrap_or(&[])
        .iter()
        .take_while(|s| s.pat == h.pat)
        .any(|s| s.fields & (1 << h.field) != 0)
}

/// The hits of a NEAR side, in text order. `sides` is sorted by pattern. A side made of
/// concepts has hundreds of literals and a document a few dozen hits: then the hits are walked
/// and each looked up among the sides, rather than each side looked up among the hits.
pub(super) fn side_hits(sides: &[Side], dh: &DocHits) -> Vec<Hit> {
    let mut v: Vec<Hit> = if dh.hits.len() < sides.len() {
        dh.hits
            .iter()
            .filter(|h| side_has(sides, h))
            .copied()
            .collect()
    } else {
        sides
            .iter()
            .flat_map(|s| dh.lit(s.pat, s.fields).copied())
            .collect()
    };
    v.sort_unstable_by_key(|h| (h.field, h.start, h.end));
    v.dedup();
    v
}

/// Hits taking part in a satisfied NEAR (for terms, snippets and explanations).
pub(super) fn near_pairs(n: &Node, dh: &DocHits) -> Vec<Hit> {
    let Node::Near {
        left,
        right,
        distance,
        ordered,
        ..
    } = n
    else {
        return Vec::new();
    };
    let l = side_hits(left, dh);
    if l.is_empty() {
        return Vec::new();
    }
    let r = side_hits(right, dh);
    let max_len = r.iter().map(|h| h.end - h.start).max().unwrap_or(0);
    let mut out = Vec::new();
    for a in &l {
        // Right hits in the same field whose start could be within reach of `a`.
        let lo_start = a.start.saturating_sub(distance + max_len + 1);
        let hi_start = a.end.saturating_add(*distance);
        let from = r.partition_point(|h| (h.field, h.start) < (a.field, lo_start));
        for b in r.get(from..).unwrap_or(&[]) {
            if b.field != a.field || b.start > hi_start {
                break;
            }
            if near(a, b, *distance, *ordered) {
                out.push(*a);
                out.push(*b);
            }
        }
    }
    out
}

/// Hits of the positive literals under branches that held, for `Match::terms` and snippets.
/// Each with the stem or concept it was found through (see [`Node::Lit::via`]).
pub(super) fn collect<'n>(n: &'n Node, dh: &DocHits, out: &mut Vec<(Hit, Option<&'n Arc<str>>)>) {
    match n {
        Node::Lit {
            pat, fields, via, ..
        } => out.extend(dh.lit(*pat, *fields).map(|h| (*h, via.as_ref()))),
        Node::And(v) | Node::Or(v) | Node::Concept { terms: v, .. } => {
            for c in v {
                if eval(c, dh) {
                    collect(c, dh, out);
                }
            }
        }
        Node::Not(_) => {}
        Node::Near { left, right, .. } => {
            for h in near_pairs(n, dh) {
                out.push((h, side_via(left, right, &h)));
            }
        }
    }
}

/// The `via` of the NEAR side that found `h`.
pub(super) fn side_via<'n>(left: &'n [Side], right: &'n [Side], h: &Hit) -> Option<&'n Arc<str>> {
    left.iter()
        .chain(right)
        .find(|s| s.pat == h.pat && s.fields & (1 << h.field) != 0)
        .and_then(|s| s.via.as_ref())
}

pub(super) fn explain_node(n: &Node, dh: &DocHits) -> ExplainNode {
    let held = eval(n, dh);
    let node = |label: String, hits: Vec<String>, children: Vec<ExplainNode>| ExplainNode {
        label,
        held,
        hits,
        children,
    };
    match n {
        Node::Lit {
            pat, fields, raw, ..
        } => {
            let hits: Vec<Hit> = dh.lit(*pat, *fields).copied().collect();
            node(raw.clone(), describe(&hits, dh), Vec::new())
        }
        // A long OR of plain literals is shown as one line plus the literals that were found:
        // listing forty missing synonyms hides the one branch the reader is looking for.
        Node::Or(v) if v.len() > 3 && v.iter().all(|c| matches!(c, Node::Lit { .. })) => {
            let found = found_only(v, dh);
            let label = format!("OR of {} terms ({} found)", v.len(), found.len());
            node(label, Vec::new(), found)
        }
        // A concept is shown as its name and the terms that were found, for the same reason.
        Node::Concept { name, terms, .. } => {
            let found = found_only(terms, dh);
            let label = format!("@{name} ({} of {} terms found)", found.len(), terms.len());
            node(label, Vec::new(), found)
        }
        Node::And(v) | Node::Or(v) => {
            let label = if matches!(n, Node::And(_)) {
                "AND"
            } else {
                "OR"
            };
            let children = v.iter().map(|c| explain_node(c, dh)).collect();
            node(label.into(), Vec::new(), children)
        }
        Node::Not(c) => node("NOT".into(), Vec::new(), vec![explain_node(c, dh)]),
        Node::Near {
            label, left, right, ..
        } => {
            let mut pairs = near_pairs(n, dh);
            pairs.sort_unstable_by_key(|h| (h.field, h.start, h.end));
            pairs.dedup();
            let hits = describe(&pairs, dh)
                .into_iter()
                .zip(&pairs)
                .map(|(d, h)| match side_via(left, right, h) {
                    Some(via) => format!("{d} via {via}"),
                    None => d,
                })
                .collect();
            node(shorten(label, 100), hits, Vec::new())
        }
    }
}

/// The explanations of the children that held.
fn found_only(children: &[Node], dh: &DocHits) -> Vec<ExplainNode> {
    children
        .iter()
        .map(|c| explain_node(c, dh))
        .filter(|c| c.held)
        .collect()
}

/// Each hit as the reader finds it in the item: field, character offset, and the words as
/// written (not as normalised).
pub(super) fn describe(hits: &[Hit], dh: &DocHits) -> Vec<String> {
    hits.iter()
        .map(|h| {
            let f = Field::ALL[h.field as usize];
            let norm = &dh.norms[h.field as usize];
            let text = dh.texts[h.field as usize];
            let bs = norm
                .tokens
                .get(h.start as usize)
                .map_or(0, |t| t.orig_start as usize);
            let be = norm
                .tokens
                .get((h.end as usize).saturating_sub(1))
                .map_or(0, |t| t.orig_end as usize);
            let chars = text.get(..bs).map_or(0, |s| s.chars().count());
            format!("{f}@{chars} {:?}", text.get(bs..be).unwrap_or(""))
        })
        .collect()
}
