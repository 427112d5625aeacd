//! The first pass of the heuristic: elements that cannot be article text, found before any
//! scoring so they neither score nor get merged back: invisible and hidden elements,
//! navigation, bylines and date lines, captions and image boxes, "Read more" teasers, tag
//! lists, reader comment sections ([`super::comments`]), galleries and profile boxes
//! ([`super::gallery`]), teaser lists ([`super::teasers`]), and (in the strict pass) Readability's "unlikely candidates" by
//! class/id words.
//!
//! Nothing is removed from the tree: the pass returns the ids of the subtrees to skip, so a
//! retry with laxer rules reuses the same parsed page.

use ego_tree::iter::Edge;
use scraper::Node;

use super::comments::{is_comment_heading, thread_follows, Threads};
use super::dom::{
    attr, class_id, contains_any, has_ancestor, tag, text_chars, Flags, IdSet, NRef, MAX_WALK,
};
use super::gallery::{is_gallery, is_profile_box};

use super::teasers::{is_teaser_heading, is_teaser_list, teasers_follow};
use crate::text::html::{is_invisible, Walk};

/// Class/id words of page furniture (Readability's `unlikelyCandidates`).
#[rustfmt::skip]
const UNLIKELY: &[&str] = &[
    "-ad-", "ai2html", "banner", "breadcrumb", "combx", "comment", "community", "cover-wrap",
    "disqus", "extra", "footer", "gdpr", "header", "legends", "menu", "related", "remark",
    "replies", "rss", "shoutbox", "sidebar", "skyscraper", "social", "sponsor", "supplemental",
    "ad-break", "agegate", "pagination", "pager", "popup", "yom-remote", "cookie", "newsletter",
    "subscribe", "share", "promo", "most-read", "mostread", "trending", "outbrain", "taboola",
    "recommend", "read-next", "up-next", "next-article", "more-from", "also-read",
];
/// Words that rescue an unlikely-looking element (`okMaybeItsACandidate`).
#[rustfmt::skip]
const MAYBE: &[&str] = &[
    "and", "article", "body", "column", "content", "main", "shadow",
];
#[rustfmt::skip]
const UNLIKELY_ROLES: &[&str] = &[
    "menu", "menubar", "complementary", "navigation", "alert", "alertdialog", "dialog",
];
/// Class/id words of bylines and date lines; such elements are removed when short.
#[rustfmt::skip]
const BYLINE: &[&str] = &[
    "byline", "author", "dateline", "writtenby", "p-author", "timestamp", "published",
    "reading-time", "readtime", "read-time", "article-meta", "post-meta", "entry-meta",
];

/// Class/id words containing "date" that are not dates: an "update" box is news.
const NOT_DATES: &[&str] = &["update", "candidate", "validate", "mandate", "accommodate"];

/// A class/id token naming a date (`date`, `post-date`, `pubdate`, `date-published`).
fn names_date(ci: &str) -> bool {
    ci.split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| w.contains("date") && !NOT_DATES.iter().any(|x| w.contains(x)))
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

/// True when the subtree has fewer than `limit` chars of text; stops counting at the limit,
/// so checks on big containers stay cheap.
fn short(n: NRef<'_>, limit: u32) -> bool {
    let mut total = 0;
    for d in n.descendants() {
        if let Some(t) = d.value().as_text() {
            total += text_chars(t);
            if total >= limit {
                return false;
            }
        }
    }
    true
}

/// First pass: elements that cannot be part of the article.
pub(crate) fn prune(root: NRef<'_>, flags: Flags, threads: &Threads) -> IdSet {
    let mut out = IdSet::default();
    let mut walk = Walk::new(root);
    while let Some(edge) = walk.next() {
        let Edge::Open(n) = edge else { continue };
        let Node::Element(e) = n.value() else {
            continue;
        };
        if out.contains(&n.id()) {
            // A sibling set aside with a comment heading before it.
            walk.skip_subtree(n);
            continue;
        }
        let comment_heading = is_comment_heading(n);
        if comment_heading || is_teaser_heading(n) {
            out.insert(n.id());
            let follows = if comment_heading {
                thread_follows(n)
            } else {
                teasers_follow(n)
            };
            if follows {
                out.extend(
                    n.next_siblings()
                        .filter(|s| s.value().is_element())
                        .map(|s| s.id()),
                );
            }
            walk.skip_subtree(n);
            continue;
        }
        let t = e.name();
        let ci = class_id(n);
        let remove = is_invisible(t)
            || matches!(t, "nav" | "figcaption" | "input" | "link")
            || is_hidden(n)
            || is_byline(n, &ci)
            || is_caption(n, &ci)
            || is_image_box(n, t, &ci)
            || is_teaser(n, &ci)
            || threads.is_comment_section(n)
            || is_gallery(n)
            || is_profile_box(n)
            || is_form_box(n)
            || is_teaser_list(n)
            || (flags.strip_unlikely && (is_unlikely(n, t, &ci) || is_author_box(n, &ci)));
        if remove {
            out.insert(n.id());
            walk.skip_subtree(n);
        } else if t == "a"
            && attr(n, "rel").is_some_and(|r| r.split_whitespace().any(|r| r == "tag"))
        {
            if let Some(list) = tag_list(n) {
                out.insert(list.id());
            }
        } else if t == "time" {
            // A date line: the nearest block around a <time> when it has few other words
            // ("2 min read", "Updated"). A <time> inside a sentence ("on <time>Monday</time>
            // the minister said...") stays.
            if let Some(block) = n
                .ancestors()
                .find(|a| crate::text::html::break_level(tag(*a)) > 0)
            {
                if !matches!(tag(block), "body" | "article" | "main")
                    && short(block, 100)
                    && words_outside(block, n) <= 6
                {
                    out.insert(block.id());
                }
            }
        }
    }
    out
}

/// Words of `block`'s text outside the `inner` subtree.
fn words_outside(block: NRef<'_>, inner: NRef<'_>) -> usize {
    block
        .descendants()
        .filter(|d| !d.ancestors().take(MAX_WALK).any(|a| a.id() == inner.id()))
        .filter_map(|d| d.value().as_text().map(|t| t.split_whitespace().count()))
        .sum()
}

/// Sign-up and search boxes: a `<form>` with fields, or a short block holding one ("Get our
/// newsletter" and the form), with little text. Inputs are pruned before statistics are
/// counted, so conditional cleaning cannot count them; this rule looks at the markup.
fn is_form_box(n: NRef<'_>) -> bool {
    if matches!(tag(n), "html" | "body" | "main" | "article") {
        return false;
    }
    (tag(n) == "form" || n.children().any(|c| tag(c) == "form"))
        && short(n, 200)
        && n.descendants()
            .take(200)
            .any(|d| matches!(tag(d), "input" | "select" | "textarea"))
}

/// Bylines and date lines (by class/id, `rel=author` or microdata), when short.
fn is_byline(n: NRef<'_>, ci: &str) -> bool {
    let marked = attr(n, "rel") == Some("author")
        || attr(n, "itemprop").is_some_and(|p| p.contains("author") || p.contains("date"));
    (marked || contains_any(ci, BYLINE) || names_date(ci)) && short(n, 100)
}

/// Author boxes ("About the author", a bio): longer than a byline, still not the story.
fn is_author_box(n: NRef<'_>, ci: &str) -> bool {
    ci.contains("author")
        && !matches!(tag(n), "body" | "html" | "article" | "main")
        && short(n, 1000)
}

/// Photo captions and credits: the reference bodies never include them, and feeds' images
/// are not what rules are about.
fn is_caption(n: NRef<'_>, ci: &str) -> bool {
    (ci.contains("caption") || ci.contains("credit")) && short(n, 300)
}

/// Image blocks: a `<figure>`, or a block whose class names an image/photo/media box, holding
/// a picture and little text (the caption and credit).
fn is_image_box(n: NRef<'_>, t: &str, ci: &str) -> bool {
    let boxy = t == "figure"
        || (matches!(t, "div" | "span" | "p" | "section")
            && [
                "image", "photo", "picture", "img", "figure", "media", "gallery",
            ]
            .iter()
            .any(|w| ci.contains(w)));
    boxy && short(n, 300)
        && n.descendants()
            .any(|d| matches!(tag(d), "img" | "picture" | "video"))
}

/// "Read more"/"Read also" teasers, including the `<a>` elements Readability would keep.
fn is_teaser(n: NRef<'_>, ci: &str) -> bool {
    [
        "read-more",
        "readmore",
        "read-also",
        "readalso",
        "see-also",
        "more-stories",
        "related",
    ]
    .iter()
    .any(|w| ci.contains(w))
        && short(n, 300)
}

/// Tag lists (`<a rel=tag>` links, as WordPress and most CMSs mark them): the element
/// around such a link when it holds little else ("Tags: x, y, z"). A tag link inside prose
/// is left alone, since dropping it would cut a word out of a sentence.
fn tag_list(a: NRef<'_>) -> Option<NRef<'_>> {
    let p = a
        .parent()
        .filter(|p| !matches!(tag(*p), "body" | "article" | "main"))?;
    let (mut other, mut tagged) = (0u32, 0u32);
    for d in p.descendants() {
        if let Some(t) = d.value().as_text() {
            let c = t.chars().filter(|c| c.is_alphanumeric()).count() as u32;
            let in_tag = d.ancestors().take(3).any(|x| {
                tag(x) == "a"
                    && attr(x, "rel").is_some_and(|r| r.split_whitespace().any(|r| r == "tag"))
            });
            if in_tag {
                tagged += c;
            } else {
                other += c;
            }
        }
    }
    (other < 30 || tagged > 2 * other).then_some(p)
}

fn is_unlikely(n: NRef<'_>, t: &str, ci: &str) -> bool {
    if matches!(t, "body" | "html" | "a" | "main" | "article") {
        return false;
    }
    if matches!(t, "aside" | "footer") {
        return true;
    }
    if attr(n, "role").is_some_and(|r| UNLIKELY_ROLES.contains(&r)) {
        return true;
    }
    !ci.is_empty()
        && contains_any(ci, UNLIKELY)
        && !contains_any(ci, MAYBE)
        && !has_ancestor(n, &["table", "code"])
}

#[cfg(test)]
mod tests {
    use super::*;
    use scraper::Html;

    const STRICT: Flags = Flags {
        strip_unlikely: true,
        weight_classes: true,
        clean_conditionally: true,
    };

    /// Text left after pruning, words only.
    fn kept(html: &str) -> String {
        let doc = Html::parse_document(html);
        let pruned = prune(doc.tree.root(), STRICT, &Threads::scan(doc.tree.root()));
        crate::text::html::text_of(doc.tree.root(), &|n| pruned.contains(&n.id()))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn date_words() {
        assert!(names_date("post-date"));
        assert!(names_date("article__pubdate x"));
        assert!(!names_date("live-update"));
        assert!(!names_date("candidate-profile"));
    }

    #[test]
    fn prunes_furniture_keeps_prose() {
        let cases = [
            (
                r#"<p>Story.</p><div style="display: none">Hidden</div>"#,
                "Story.",
            ),
            (
                r#"<p>Story.</p><p aria-hidden="true">Hidden</p><p hidden>Hidden</p>"#,
                "Story.",
            ),
            (
                r#"<div class="byline">By A. Writer</div><p>Story.</p>"#,
                "Story.",
            ),
            (
                r#"<p class="post-date">6 Oct 2020</p><p class="live-update">Update: more.</p>"#,
                "Update: more.",
            ),
            (
                r#"<div class="meta"><span>2 min read</span> <time datetime="2020-10-06">6 Oct</time></div><p>Story.</p>"#,
                "Story.",
            ),
            (
                r#"<p>On <time>Monday</time> the minister, who was in Baghdad, spoke at length to reporters there.</p>"#,
                "On Monday the minister, who was in Baghdad, spoke at length to reporters there.",
            ),
            (
                r#"<p>Story.</p><div class="tags">Tags: <a rel="tag" href="/t/a">a</a>, <a rel="tag" href="/t/b">b</a></div>"#,
                "Story.",
            ),
            (
                r#"<p>The <a rel="tag" href="/t/iraq">Iraq</a> story goes on for a good while longer than tags do.</p>"#,
                "The Iraq story goes on for a good while longer than tags do.",
            ),
            (
                r#"<p>Story.</p><a class="read-more" href="/x">Read more: other story</a>"#,
                "Story.",
            ),
            (
                r#"<figure><img src="a.jpg"><figcaption>Caption [Getty]</figcaption></figure><p>Story.</p>"#,
                "Story.",
            ),
            (
                r#"<div class="cookie-banner">We use cookies</div><nav>Home</nav><p>Story.</p>"#,
                "Story.",
            ),
            (
                r#"<div class="comments-area">Nice!</div><div class="article-content"><p>Story.</p></div>"#,
                "Story.",
            ),
            (
                r#"<div class="box"><p>Get our briefing.</p><form><input type="email"></form></div><p>Story.</p>"#,
                "Story.",
            ),
            (
                r##"<p>Story.</p><div><div><p>Reader one.</p><a href="#">Reply</a></div><div><p>Reader two.</p><a href="#">Reply</a></div></div>"##,
                "Story.",
            ),
            (
                r#"<p>Story.</p><div><div><img src="1.jpg"></div><div><img src="2.jpg"></div><div><img src="3.jpg"> A boat.</div></div>"#,
                "Story.",
            ),
        ];
        for (html, want) in cases {
            assert_eq!(kept(html), want, "{html}");
        }
    }
}
