//! Teaser lists: "More from ...", "Related", "Lesen Sie auch" boxes of other stories, each a
//! linked headline with a line of summary. With summaries long enough, their link density
//! stays under the conditional-cleaning bar and the list was appended to the story (inside
//! the article's container, or as a sibling block). Found two ways, in every pass:
//! - a heading that announces other stories (in our four languages), with linked headlines
//!   after it: the heading and what follows it in its container;
//! - by structure alone: three or more sibling items of one shape (same tag and class), each
//!   opening with a linked headline to another page, each short.

use super::dom::{attr, tag, text_chars, NRef};

/// Nodes looked at per check; teaser items are small.
const SCAN: usize = 600;
/// A linked headline has at least this many chars (a "Read more" link is not a headline).
const HEADLINE_CHARS: u32 = 20;
/// A teaser item has at most this many chars (headline, summary, date).
const ITEM_CHARS: u32 = 400;

/// Headings that announce other stories, lower-cased, trailing punctuation removed.
#[rustfmt::skip]
const HEADINGS: &[&str] = &[
    "related", "related stories", "related articles", "related news", "related content",
    "read more", "read next", "more stories", "more news", "you may also like",
    "you might also like", "recommended", "recommended for you", "most read", "most popular",
    "trending", "popular", "latest", "latest news", "top stories", "editor's picks",
    "lire aussi", "à lire aussi", "a lire aussi", "sur le même sujet", "les plus lus",
    "dans la même rubrique", "à lire également", "voir aussi",
    "lesen sie auch", "mehr zum thema", "das könnte sie auch interessieren", "meistgelesen",
    "weitere artikel", "auch interessant", "empfohlen",
    "اقرأ أيضا", "اقرأ أيضاً", "إقرأ أيضا", "مواضيع ذات صلة", "أخبار ذات صلة", "الأكثر قراءة",
    "المزيد", "اخترنا لكم",
];

fn heading_text(n: NRef<'_>) -> Option<String> {
    let mut s = String::new();
    for d in n.descendants().take(24) {
        if let Some(t) = d.value().as_text() {
            s.push_str(t);
            if s.len() > 120 {
                return None;
            }
        }
    }
    let s = s
        .trim()
        .trim_end_matches([':', '.', '…', '!'])
        .trim()
        .to_lowercase();
    Some(s)
}

/// True when `n` is a heading announcing other stories ("More from X" counts: "more from"
/// followed by a name).
pub(crate) fn is_teaser_heading(n: NRef<'_>) -> bool {
    matches!(tag(n), "h2" | "h3" | "h4" | "h5" | "h6")
        && heading_text(n)
            .is_some_and(|t| HEADINGS.contains(&t.as_str()) || t.starts_with("more from "))
}

/// The headline link an item opens with: its first text sits in an `<a>` to another page,
/// with at least [`HEADLINE_CHARS`] chars.
fn opens_with_headline(item: NRef<'_>) -> bool {
    let Some(first) = item
        .descendants()
        .take(SCAN)
        .find(|d| d.value().as_text().is_some_and(|t| !t.trim().is_empty()))
    else {
        return false;
    };
    let Some(a) = first
        .ancestors()
        .take_while(|a| a.id() != item.id())
        .find(|a| tag(*a) == "a")
    else {
        return false;
    };
    let to_page = attr(a, "href").is_some_and(|h| !h.is_empty() && !h.starts_with('#'));
    let chars: u32 = a
        .descendants()
        .filter_map(|d| d.value().as_text().map(|t| text_chars(t)))
        .sum();
    to_page && chars >= HEADLINE_CHARS
}

/// A card: the item's headline sits in a heading, or the item shows a picture. A roundup
/// article's list items open with a linked (often bold) sentence too, but as prose.
fn is_card(item: NRef<'_>) -> bool {
    item.descendants()
        .take(SCAN)
        .any(|d| matches!(tag(d), "h2" | "h3" | "h4" | "h5" | "h6" | "img" | "picture"))
}

fn short(n: NRef<'_>, limit: u32) -> bool {
    let mut total = 0;
    for d in n.descendants() {
        if let Some(t) = d.value().as_text() {
            total += text_chars(t);
            if total > limit {
                return false;
            }
        }
    }
    true
}

/// True when the siblings after `heading` open with linked headlines: two or more items.
pub(crate) fn teasers_follow(heading: NRef<'_>) -> bool {
    let mut items = 0;
    for s in heading
        .next_siblings()
        .filter(|s| s.value().is_element())
        .take(50)
    {
        // The items may sit in one list after the heading, or be the siblings themselves.
        let in_list = if matches!(tag(s), "ul" | "ol" | "div" | "section") {
            s.children()
                .filter(|c| c.value().is_element() && opens_with_headline(*c))
                .count()
        } else {
            0
        };
        items += if in_list > 0 {
            in_list
        } else {
            usize::from(opens_with_headline(s))
        };
        if items >= 2 {
            return true;
        }
    }
    false
}

/// Same shape: tag and class attribute.
fn shape<'a>(n: NRef<'a>) -> (&'a str, &'a str) {
    (tag(n), attr(n, "class").unwrap_or(""))
}

/// True when `n` is a teaser list by structure: three or more children of one shape, all
/// short cards each opening with a linked headline, making up most of its children. An
/// ordered list is the article's own (a roundup, a ranking).
pub(crate) fn is_teaser_list(n: NRef<'_>) -> bool {
    // Counting children first is cheap; collecting them for every element is not.
    if !matches!(tag(n), "ul" | "div" | "section" | "aside")
        || n.children()
            .filter(|c| c.value().is_element())
            .nth(2)
            .is_none()
    {
        return false;
    }
    let kids: Vec<NRef<'_>> = n
        .children()
        .filter(|c| c.value().is_element())
        .take(100)
        .collect();
    let Some(first) = kids.first() else {
        return false;
    };
    let alike = kids.iter().filter(|k| shape(**k) == shape(*first)).count();
    alike >= 3
        && alike * 10 >= kids.len() * 8
        && kids
            .iter()
            .filter(|k| shape(**k) == shape(*first))
            .all(|k| short(*k, ITEM_CHARS) && opens_with_headline(*k) && is_card(*k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use scraper::Html;

    use super::super::dom::by_id;

    const ITEM: &str = r#"<div class="card"><h4><a href="/s">A headline about another story</a></h4><p>One line of summary, with a clause.</p></div>"#;

    #[test]
    fn teaser_list_by_structure() {
        let html = format!(r#"<body><div id="t">{ITEM}{ITEM}{ITEM}</div></body>"#);
        let doc = Html::parse_document(&html);
        assert!(is_teaser_list(by_id(&doc, "t")));
        // Two items are not a list yet; paragraphs that merely contain a link are prose.
        let html = format!(r#"<body><div id="t">{ITEM}{ITEM}<p>Prose.</p></div></body>"#);
        assert!(!is_teaser_list(by_id(&Html::parse_document(&html), "t")));
        // A roundup's items open with a linked sentence, not a carded headline.
        let roundup = r#"<li><strong><a href="/r">Officials confirmed the talks will go on</a>.</strong> More words.</li>"#;
        let html = format!(r#"<body><ul id="t">{roundup}{roundup}{roundup}</ul></body>"#);
        assert!(!is_teaser_list(by_id(&Html::parse_document(&html), "t")));
        let prose = r#"<p>The minister said <a href="/x">in a statement published on Monday</a> that talks would go on.</p>"#;
        let html = format!(r#"<body><div id="t">{prose}{prose}{prose}</div></body>"#);
        assert!(!is_teaser_list(by_id(&Html::parse_document(&html), "t")));
    }

    #[test]
    fn teaser_headings() {
        for h in [
            "Related",
            "More from Valley Times",
            "Lesen Sie auch:",
            "À lire aussi",
            "اقرأ أيضا",
        ] {
            let html = format!(
                r#"<body><h3 id="h">{h}</h3><ul><li>{ITEM}</li><li>{ITEM}</li></ul></body>"#
            );
            let doc = Html::parse_document(&html);
            let n = by_id(&doc, "h");
            assert!(is_teaser_heading(n), "{h}");
            assert!(teasers_follow(n), "{h}");
        }
        let doc = Html::parse_document(
            r#"<body><h3 id="h">Related</h3><p>Officials said the related talks would resume.</p></body>"#,
        );
        assert!(!teasers_follow(by_id(&doc, "h")));
    }
}
