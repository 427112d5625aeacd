//! Furniture removal inside the chosen article container, and a last text-level filter.
//!
//! Scoring picks the container; news pages put much inside it that is not the story: share
//! bars, "Read also" boxes, captions, embedded widgets, newsletter boxes. The DOM pass
//! ([`prep`]) follows Readability's `prepArticle` (conditional cleaning by link density,
//! image/list/input counts and class weight), but works bottom-up with statistics updated after
//! each removal, so a link list inside a paragraph container cannot get the container removed.
//! The text pass ([`filter_text`]) drops short lines that are furniture by their wording
//! ("2 min read", "Read also: ...", "Follow us on ..."), which markup alone does not reveal.

use ego_tree::iter::Edge;

use super::dom::{
    attr, class_id, class_weight, has_ancestor, tag, Flags, IdMap, IdSet, NRef, Stats, MAX_WALK,
};

use crate::text::html::{text_of, Walk};

/// Elements never part of an article body, wherever they stand.
fn always_drop(t: &str) -> bool {
    matches!(
        t,
        "h1" | "object"
            | "embed"
            | "footer"
            | "link"
            | "aside"
            | "iframe"
            | "input"
            | "textarea"
            | "select"
            | "button"
            | "figcaption"
            | "nav"
    )
}

/// Share/social widgets: class or id made of words like `share`, `social`, `sharing`.
fn is_share(n: NRef<'_>) -> bool {
    class_id(n)
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| {
            w.starts_with("share")
                || w.starts_with("sharing")
                || w == "social"
                || w == "sharedaddy"
                || w == "addthis"
        })
}

fn norm(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Returns the ids of furniture elements inside `parts` (the chosen container and merged
/// siblings).
pub(crate) fn prep(
    parts: &[NRef<'_>],
    st: &IdMap<Stats>,
    flags: Flags,
    title: Option<&str>,
    pruned: &IdSet,
) -> IdSet {
    let title = title.map(norm).filter(|t| !t.is_empty());
    let mut removed = IdSet::default();
    let mut conditional: Vec<NRef<'_>> = Vec::new();
    for part in parts {
        let mut walk = Walk::new(*part);
        while let Some(edge) = walk.next() {
            let Edge::Open(n) = edge else { continue };
            if !n.value().is_element() {
                continue;
            }
            if pruned.contains(&n.id()) {
                walk.skip_subtree(n);
                continue;
            }
            let t = tag(n);
            let s = st.get(&n.id()).copied().unwrap_or_default();
            let drop = (always_drop(t) && n.id() != part.id())
                || (t == "h2" && class_weight(n, flags) < 0.0)
                || (is_share(n) && s.chars < 500)
                || (matches!(t, "h2" | "h3" | "h4")
                    && title
                        .as_deref()
                        .is_some_and(|ti| norm(&text_of(n, &|_| false)) == ti));
            if drop {
                tracing::trace!(tag = t, class = %class_id(n), "extract drops furniture");
                removed.insert(n.id());
                walk.skip_subtree(n);
                continue;
            }
            if flags.clean_conditionally
                && matches!(
                    t,
                    "form" | "fieldset" | "table" | "ul" | "ol" | "div" | "section" | "p"
                )
            {
                conditional.push(n);
            }
        }
    }
    if !flags.clean_conditionally {
        drop_trailing_headings(parts, &mut removed, pruned);
        return removed;
    }
    // Bottom-up: descendants (later in document order) before their ancestors, with each
    // removal subtracted from the ancestors' statistics.
    let mut adj: IdMap<Stats> = IdMap::default();
    for n in conditional.into_iter().rev() {
        // No ancestor can have been removed yet: ancestors come later in this order, and the
        // list holds nothing from inside the subtrees removed above.
        let s = adj
            .get(&n.id())
            .copied()
            .or_else(|| st.get(&n.id()).copied())
            .unwrap_or_default();
        if remove_conditionally(n, &s, flags) {
            tracing::trace!(tag = tag(n), class = %class_id(n), stats = ?s, "extract drops block");
            removed.insert(n.id());
            // Bounded walk: deeply nested junk must not make this quadratic.
            for a in n.ancestors().take(MAX_WALK) {
                let e = adj
                    .entry(a.id())
                    .or_insert_with(|| st.get(&a.id()).copied().unwrap_or_default());
                e.sub(&s);
                if parts.iter().any(|p| p.id() == a.id()) {
                    break;
                }
            }
        }
    }
    drop_trailing_headings(parts, &mut removed, pruned);
    removed
}

/// Headings left with nothing after them at the end of the article ("More from X" once its
/// teaser list is gone): a heading introduces what follows, so with nothing following it is
/// furniture. At most three, from the end.
fn drop_trailing_headings(parts: &[NRef<'_>], removed: &mut IdSet, pruned: &IdSet) {
    let Some(last_part) = parts.last() else {
        return;
    };
    for _ in 0..3 {
        let mut last_text = None;
        let mut walk = Walk::new(*last_part);
        while let Some(edge) = walk.next() {
            let Edge::Open(n) = edge else { continue };
            if n.value().is_element() {
                if n.id() != last_part.id()
                    && (removed.contains(&n.id())
                        || pruned.contains(&n.id())
                        || crate::text::html::is_invisible(tag(n)))
                {
                    walk.skip_subtree(n);
                }
            } else if n.value().as_text().is_some_and(|t| !t.trim().is_empty()) {
                last_text = Some(n);
            }
        }
        let heading = last_text.and_then(|t| {
            t.ancestors()
                .take(4)
                .take_while(|a| a.id() != last_part.id())
                .find(|a| matches!(tag(*a), "h2" | "h3" | "h4" | "h5" | "h6"))
        });
        match heading {
            Some(h) => {
                removed.insert(h.id());
            }
            None => return,
        }
    }
}

/// Readability's `_cleanConditionally` test for one element, plus link-only paragraphs.
fn remove_conditionally(n: NRef<'_>, s: &Stats, flags: Flags) -> bool {
    let t = tag(n);
    if has_ancestor(n, &["code", "pre"]) {
        return false;
    }
    let ld = s.link_density();
    if t == "p" {
        // "Read also: <a>Other story</a>", "More: <a>...</a>": a short paragraph that is mostly link.
        return ld > 0.6;
    }
    if t == "table" && is_data_table(n) {
        return false;
    }
    let weight = class_weight(n, flags);
    if weight < 0.0 {
        return true;
    }
    if s.commas >= 10 {
        return false;
    }
    let is_list = matches!(t, "ul" | "ol");
    if is_list && ld > 0.5 {
        // A list of links inside a story is "more stories", not content.
        return true;
    }
    let p = s.p as f32;
    let img = s.img as f32;
    let li = s.li as f32 - 100.0;
    let in_figure = has_ancestor(n, &["figure"]);
    let heading_density = if s.chars == 0 {
        0.0
    } else {
        s.heading_chars as f32 / s.chars as f32
    };
    (img > 1.0 && p / img < 0.5 && !in_figure)
        || (!is_list && li > p)
        || (s.input as f32 > (p / 3.0).floor())
        || (!is_list
            && heading_density < 0.9
            && s.chars < 25
            && (s.img == 0 || s.img > 2)
            && !in_figure)
        || (!is_list && weight < 25.0 && ld > 0.2)
        || (weight >= 25.0 && ld > 0.5)
        || ((s.embed == 1 && s.chars < 75) || s.embed > 1)
}

/// Tables with headers or a caption hold data, not layout.
fn is_data_table(n: NRef<'_>) -> bool {
    if attr(n, "role") == Some("presentation") {
        return false;
    }
    n.descendants()
        .any(|d| matches!(tag(d), "th" | "caption" | "thead" | "tfoot" | "colgroup"))
}

/// Line starts (lower-cased) of furniture that looks like text: related links, social calls,
/// reading-time badges, photo credits, ad labels.
#[rustfmt::skip]
const FURNITURE_PREFIXES: &[&str] = &[
    "read also", "read more", "also read", "see also", "related:", "related articles",
    "related stories", "related coverage", "recommended:", "more on this", "follow us",
    "share this", "share on", "sign up for", "subscribe to", "photo:", "image:", "photograph:",
    "credit:", "getty images", "(photo", "[photo", "click here", "copyright ©", "like this story",
    "share this story", "enjoyed this", "© copyright", "all rights reserved", "if you enjoyed this",
    "if you liked this", "related post", "reporting by", "(reporting by", "additional reporting by",
    "editing by", "(editing by", "writing by",
];
/// Whole lines (lower-cased, trailing punctuation ignored) that are furniture.
#[rustfmt::skip]
const FURNITURE_LINES: &[&str] = &[
    "advertisement", "advertising", "share", "tweet", "email", "print", "comments",
    "share this article", "ad", "story continues below advertisement", "don't miss", "tags",
    "related", "more stories", "most read", "most popular", "recommended", "you may also like",
    "you might also like", "trending", "latest news", "related posts", "related news", "more from",
    "continue reading", "scroll to continue with content", "more", "about the author",
];
/// Social networks named by "Follow ... on ..." footers.
const SOCIAL: &[&str] = &[
    "facebook",
    "twitter",
    "instagram",
    "youtube",
    "linkedin",
    "telegram",
    "tiktok",
];

fn is_furniture_line(line: &str, title: Option<&str>) -> bool {
    let l = line.trim().to_lowercase();
    let l = l.trim_end_matches([':', '.', '!', '…']);
    if l.is_empty() {
        return false;
    }
    if title.is_some_and(|t| t == l) {
        return true;
    }
    if FURNITURE_LINES.contains(&l) || super::comments::is_comment_line(l) {
        return true;
    }
    let len = l.chars().count();
    if len < 200 && FURNITURE_PREFIXES.iter().any(|p| l.starts_with(p)) {
        return true;
    }
    // "Follow Newsbeat on Instagram, Facebook...", "Follow him on Twitter @x".
    if len < 200 && l.starts_with("follow ") && SOCIAL.iter().any(|n| l.contains(n)) {
        return true;
    }
    // Agency credits and contact lines: "Jane Roe contributed to this report.",
    // "Write to Al Root at allen.root@dowjones.com", "Copyright 2019 The New Arab".
    if len < 150
        && (l.ends_with("contributed to this report")
            || l.contains("contributed reporting")
            || (l.starts_with("write to ") && l.contains('@'))
            || (l.starts_with("copyright") && l.chars().any(|c| c.is_ascii_digit())))
    {
        return true;
    }
    // "2 min read", "5 minute read", "Reading time: 3 min".
    len < 30
        && (l.ends_with("min read")
            || l.ends_with("minute read")
            || l.ends_with("minutes read")
            || l.starts_with("reading time"))
}

/// Drops furniture lines from rendered text and normalises the breaks left behind.
pub(crate) fn filter_text(text: &str, title: Option<&str>) -> String {
    let title = title.map(norm);
    let mut out = String::with_capacity(text.len());
    for para in text.split("\n\n") {
        let lines: Vec<&str> = para
            .lines()
            .filter(|l| !l.trim().is_empty() && !is_furniture_line(l, title.as_deref()))
            .collect();
        if lines.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\n\n");
        }
        out.push_str(&lines.join("\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn furniture_lines_dropped() {
        let t = "Lead.\n\n2 min read\n\nBody one.\n\nRead also: Iraq to establish special force\n\nBody two.\n\nFollow us on FacebookTwitter and Instagram to stay connected";
        assert_eq!(filter_text(t, None), "Lead.\n\nBody one.\n\nBody two.");
    }

    #[test]
    fn furniture_line_table() {
        for l in [
            "2 min read",
            "Advertisement",
            "Read more: Iraq to establish special force",
            "Follow Newsbeat on Instagram, Facebook, Twitter and YouTube.",
            "Follow us on FacebookTwitter and Instagram to stay connected",
            "Reporting by Rodrigo Campos; Editing by Nick Zieminski",
            "Keith Bradsher contributed reporting from Hong Kong.",
            "Fox News' Jessica Napoli contributed to this report.",
            "Write to Al Root at allen.root@dowjones.com",
            "Copyright @ 2019 The New Arab.",
            "About the Author",
            "Leave a Reply",
            "Répondre",
            "12 Kommentare",
            "التعليقات",
        ] {
            assert!(is_furniture_line(l, None), "{l}");
        }
        for l in [
            "Follow-up talks are planned for Monday, the ministry said.",
            "Copyright holders sued the platform, which denied wrongdoing in a statement.",
            "Reporters were kept out of the Green Zone.",
            "More than 40 rocket attacks have targeted the embassy since October.",
        ] {
            assert!(!is_furniture_line(l, None), "{l}");
        }
    }

    #[test]
    fn ordinary_lines_kept() {
        let t = "Readers who share this view said so.\nAdvertisers were absent.";
        assert_eq!(filter_text(t, Some("Title")), t);
        assert_eq!(filter_text("Title\n\nText", Some("title")), "Text");
    }
}
