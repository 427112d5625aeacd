//! Blocks that hold pictures rather than prose: photo galleries and "about me" profile boxes.
//! On a short post either can outscore the story (a gallery's captions add up, a profile box
//! is one tidy paragraph), so both are set aside in every pass, found by structure (many
//! pictures, little text per picture; a portrait beside a short bio) and by their headings.

use super::dom::{attr, tag, text_chars, NRef};

/// Descendants looked at per child when asking whether it holds a picture.
const SCAN: usize = 64;
/// At most this many chars of text per picture make a gallery: a caption and a credit.
const CHARS_PER_PICTURE: u32 = 120;

fn holds_picture(n: NRef<'_>) -> bool {
    n.descendants()
        .take(SCAN)
        .any(|d| matches!(tag(d), "img" | "picture" | "video"))
}

/// Chars of text under `n`, counting stops past `limit`.
fn chars_upto(n: NRef<'_>, limit: u32) -> u32 {
    let mut total = 0;
    for d in n.descendants() {
        if let Some(t) = d.value().as_text() {
            total += text_chars(t);
            if total > limit {
                break;
            }
        }
    }
    total
}

/// True when `n` is a gallery: three or more children that each hold a picture, most of its
/// children, with at most [`CHARS_PER_PICTURE`] chars of text per picture. Paragraphs are
/// never galleries (a line of emoji images is text).
pub(crate) fn is_gallery(n: NRef<'_>) -> bool {
    if !matches!(
        tag(n),
        "div" | "section" | "ul" | "ol" | "figure" | "aside" | "dl"
    ) {
        return false;
    }
    // Counting children first is cheap; looking into each for a picture is not.
    if n.children()
        .filter(|c| c.value().is_element())
        .nth(2)
        .is_none()
    {
        return false;
    }
    let (mut kids, mut pics) = (0u32, 0u32);
    for c in n.children().filter(|c| c.value().is_element()).take(500) {
        kids += 1;
        if holds_picture(c) {
            pics += 1;
        }
    }
    pics >= 3 && pics * 10 >= kids * 6 && {
        let limit = pics * CHARS_PER_PICTURE;
        chars_upto(n, limit) <= limit
    }
}

/// Headings of a profile box, lower-cased.
#[rustfmt::skip]
const ABOUT: &[&str] = &[
    "about me", "about the author", "about the writer", "about us", "who am i",
    "à propos", "a propos", "à propos de l'auteur", "à propos de moi", "qui suis-je",
    "über mich", "über den autor", "über die autorin", "über uns", "zur person",
    "عن الكاتب", "عن المؤلف", "نبذة عن الكاتب", "من أنا", "عني",
];

/// Class-name words of profile boxes.
const PROFILE_WORDS: &[&str] = &["about", "bio", "profile", "avatar", "aboutme", "authorbox"];

/// The text of the heading that opens `n` (its first element, or that element's first, up to
/// three levels down), lower-cased and trimmed of punctuation. Only an opening heading names
/// the block: a page wrapper whose sidebar comes first must not be taken for the sidebar.
fn opening_heading(n: NRef<'_>) -> Option<String> {
    let mut cur = n;
    for _ in 0..3 {
        cur = cur.children().find(|c| c.value().is_element())?;
        if matches!(tag(cur), "h1" | "h2" | "h3" | "h4" | "h5" | "h6") {
            let t: String = cur
                .descendants()
                .filter_map(|d| d.value().as_text().map(|t| t.to_string()))
                .collect();
            return Some(
                t.trim()
                    .trim_end_matches([':', '.', '!', '?'])
                    .trim()
                    .to_lowercase(),
            );
        }
    }
    None
}

/// True when `n` is an "about me" / author profile box: a short block with a portrait whose
/// class names a profile, or whose heading says "About me" (in our four languages).
pub(crate) fn is_profile_box(n: NRef<'_>) -> bool {
    if matches!(tag(n), "html" | "body" | "main" | "article" | "p") {
        return false;
    }
    let named = ["class", "id"].iter().any(|a| {
        attr(n, a).is_some_and(|v| {
            v.split(|c: char| !c.is_ascii_alphanumeric())
                .any(|w| PROFILE_WORDS.iter().any(|p| w.eq_ignore_ascii_case(p)))
        })
    });
    // Cheap tests first: counting text walks the subtree.
    if named && holds_picture(n) && chars_upto(n, 600) <= 600 {
        return true;
    }
    // An author box: named for the author, holding a link to the author's page (the
    // portrait may be a CSS background, so no picture is needed) and a short bio.
    let author_named = ["class", "id"].iter().any(|a| {
        attr(n, a).is_some_and(|v| {
            v.split(|c: char| !c.is_ascii_alphanumeric())
                .any(|w| w.eq_ignore_ascii_case("author"))
        })
    });
    if author_named
        && n.descendants()
            .take(SCAN)
            .any(|d| tag(d) == "a" && attr(d, "rel").is_some_and(|r| r.contains("author")))
        && chars_upto(n, 600) <= 600
    {
        return true;
    }
    !matches!(tag(n), "h1" | "h2" | "h3" | "h4" | "h5" | "h6")
        && opening_heading(n).is_some_and(|h| ABOUT.contains(&h.as_str()))
        && chars_upto(n, 1500) <= 1500
}

#[cfg(test)]
mod tests {
    use super::*;
    use scraper::Html;

    use super::super::dom::by_id;

    #[test]
    fn gallery_many_pictures_little_text() {
        let doc = Html::parse_document(
            r#"<body><div id="g">
            <figure><img src="1.jpg"><figcaption>Convoy at dusk</figcaption></figure>
            <figure><img src="2.jpg"><figcaption>A checkpoint</figcaption></figure>
            <figure><img src="3.jpg"><figcaption>The bridge</figcaption></figure>
            <figure><img src="4.jpg"><figcaption>Guards</figcaption></figure></div></body>"#,
        );
        assert!(is_gallery(by_id(&doc, "g")));
    }

    #[test]
    fn illustrated_article_is_not_a_gallery() {
        let para = "A paragraph of the story with enough words in it to be read as prose, \
                    which is what an article with pictures looks like between them. ";
        let html = format!(
            r#"<body><div id="a"><div><img src="1.jpg"><p>{para}{para}</p></div>
            <div><img src="2.jpg"><p>{para}{para}</p></div><div><img src="3.jpg"><p>{para}{para}</p></div></div></body>"#
        );
        let doc = Html::parse_document(&html);
        assert!(!is_gallery(by_id(&doc, "a")));
        // Emoji images inside a paragraph are text.
        let doc = Html::parse_document(
            r#"<body><p id="p">We won <img alt="x"><img alt="x"><img alt="x"></p></body>"#,
        );
        assert!(!is_gallery(by_id(&doc, "p")));
    }

    #[test]
    fn profile_boxes() {
        let doc = Html::parse_document(
            r#"<body><div id="w" class="widget widget_about"><img src="me.jpg"><p>I write about travel and food from my kitchen in Lyon.</p></div>
            <div id="h"><h3>Über mich</h3><p>Ich schreibe über Reisen und Essen.</p></div>
            <div id="a" class="post-author"><h5><a rel="author" href="/u/r">Regan</a></h5><p>Regan writes about hiking with children.</p></div>
            <div id="s" class="story"><h3>Rockets hit the zone</h3><img src="x.jpg"><p>Short story.</p></div></body>"#,
        );
        assert!(is_profile_box(by_id(&doc, "w")));
        assert!(is_profile_box(by_id(&doc, "h")));
        assert!(is_profile_box(by_id(&doc, "a")));
        assert!(!is_profile_box(by_id(&doc, "s")));
    }
}
