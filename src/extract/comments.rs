//! Reader comment sections, found by structure and wording rather than by one site's class
//! names, so they are set aside in every extraction pass (not only the strict one).
//!
//! For an alerting tool this is the dangerous kind of furniture: a reader's comment that says
//! "Green Zone" must never raise an alert about a story that does not. Readability's
//! "unlikely candidate" words catch `class="comments"` in the strict pass only; when that pass
//! finds too little text (a short post under a long thread) the laxer passes used to pick the
//! thread itself. Evidence used here, any one enough:
//! - microdata: `itemtype=".../Comment"` or `".../UserComment"`, `itemprop="comment"`;
//! - a block whose children repeat a "Reply" control (in English, French, German, Arabic):
//!   a thread, whatever its class names;
//! - a block named like a comment area (`comments`, `reply`, `discussion`, `disqus`...) that
//!   also shows a thread's signs: a reply control, a comment form (`<textarea>`), two or more
//!   timestamps, or a heading that announces comments;
//! - a `<form>` with a `<textarea>` (the "Leave a reply" box);
//! - a heading that announces comments ("12 comments", "Leave a comment", "Kommentare",
//!   "تعليقات"...): it and everything after it in its container.
//!
//! Live blogs also repeat time + author per entry, so time and author alone never decide.

use ego_tree::iter::Edge;
use ego_tree::NodeId;

use super::dom::{attr, tag, text_chars, IdMap, NRef};
use crate::text::html::Walk;

/// How many descendants a check looks at below one element: comment markup is shallow, and
/// the bound keeps hostile pages from making the per-element checks quadratic.
const SCAN: usize = 400;

/// Most nodes a label or heading holds (text, `<a>`, `<span>`, an icon).
const LABEL_NODES: usize = 24;

/// Headings that announce a comment section, lower-cased, digits and punctuation removed
/// ("12 Comments" → "comments", "Comments (3)" → "comments"). Singulars ("Comment",
/// "Kommentar") are left out: news sites use them as the label of an opinion piece.
#[rustfmt::skip]
const HEADINGS: &[&str] = &[
    // en
    "comments", "leave a comment", "leave a reply", "post a comment", "add a comment",
    "reader comments", "readers comments", "join the discussion", "join the conversation",
    "responses", "thoughts on", "comments are closed", "show comments", "view comments",
    "write a comment", "tell us what you think", "what do you think", "have your say",
    // fr
    "commentaires", "laisser un commentaire", "laissez un commentaire",
    "ajouter un commentaire", "écrire un commentaire", "laisser une réponse", "réponses",
    "vos commentaires", "les commentaires sont fermés", "donnez votre avis", "réagissez",
    // de
    "kommentare", "kommentar schreiben", "kommentieren", "leserkommentare",
    "schreiben sie einen kommentar", "antwort hinterlassen", "hinterlasse einen kommentar",
    "einen kommentar hinterlassen", "kommentare anzeigen", "diskutieren sie mit",
    "ihre meinung ist gefragt",
    // ar
    "تعليقات", "التعليقات", "اترك تعليقا", "أضف تعليقا", "اضف تعليقا", "اضف تعليق",
    "أضف تعليق", "اكتب تعليقا", "تعليقات القراء", "شاركنا رأيك", "ما رأيك",
];

/// Labels of the per-comment reply control.
#[rustfmt::skip]
const REPLY: &[&str] = &[
    "reply", "reply to this comment", "répondre", "repondre", "antworten",
    "رد", "الرد", "ردّ",
];

/// Lower-cased letters and spaces of `s`, digits and punctuation dropped, spaces collapsed:
/// the form [`HEADINGS`] and [`REPLY`] are written in.
fn letters(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for w in s.split(|c: char| !c.is_alphabetic() && c != '\'' && c != '\u{2019}') {
        let w = w.trim_matches(|c| c == '\'' || c == '\u{2019}');
        if w.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(w.chars().flat_map(char::to_lowercase));
    }
    out
}

/// True when `line` announces a comment section or is a reply control: furniture wherever it
/// stands (the text filter drops such lines too).
pub(crate) fn is_comment_line(line: &str) -> bool {
    if line.chars().count() > 60 {
        return false;
    }
    let l = letters(line);
    // "3 thoughts on “Title”": the title after "thoughts on" varies.
    HEADINGS.contains(&l.as_str()) || REPLY.contains(&l.as_str()) || l.starts_with("thoughts on ")
}

/// A class name that names a comment area: `comments`, `comment-list`, `commentlist`,
/// `disqus_thread`, `reply`, `discussion`... but not `commentary` (an opinion column).
fn names_comments(class: &str) -> bool {
    class
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .any(|w| {
            (w.starts_with("comment") && !w.starts_with("commentar") && !w.starts_with("commentat"))
                || w.starts_with("kommentar")
                || w.starts_with("commentaire")
                || w.starts_with("disqus")
                || w == "reply"
                || w == "replies"
                || w == "respond"
                || w == "discussion"
                || w == "talkback"
        })
}

/// Class names of content containers: an element that also carries one of these is the
/// article with a state flag (`post has-comments`), never the thread.
const CONTENT: &[&str] = &[
    "article", "content", "body", "main", "post", "entry", "story",
];

/// True when the element's class/id names a comment area and none of its other class names
/// name a content container.
fn named(n: NRef<'_>) -> bool {
    let mut hit = false;
    for a in ["class", "id"] {
        for c in attr(n, a).unwrap_or("").split_whitespace() {
            // Lower-cased copies only when needed: this runs for every element of a page.
            let lower;
            let c = if c.bytes().any(|b| b.is_ascii_uppercase()) {
                lower = c.to_ascii_lowercase();
                lower.as_str()
            } else {
                c
            };
            if names_comments(c) {
                hit = true;
            } else if CONTENT.iter().any(|w| c.contains(w)) {
                return false;
            }
        }
    }
    hit
}

/// Microdata of a comment.
fn microdata(n: NRef<'_>) -> bool {
    attr(n, "itemtype").is_some_and(|t| t.ends_with("/Comment") || t.ends_with("/UserComment"))
        || attr(n, "itemprop").is_some_and(|p| p.split_whitespace().any(|p| p == "comment"))
}

/// Own text of `n`, whitespace-collapsed, when it is short (a label, a heading); None when
/// longer than `max` chars.
fn short_text(n: NRef<'_>, max: u32) -> Option<String> {
    let mut s = String::new();
    let mut chars = 0;
    // A label or heading is a handful of nodes; more than this and it is not one.
    let mut nodes = n.descendants().take(LABEL_NODES + 1);
    if nodes.by_ref().count() > LABEL_NODES {
        return None;
    }
    for d in n.descendants() {
        if let Some(t) = d.value().as_text() {
            chars += text_chars(t);
            if chars > max {
                return None;
            }
            s.push_str(t);
            s.push(' ');
        }
    }
    Some(s)
}

/// True when the subtree has at most `max` chars of text (counting stops past it).
fn few_chars(n: NRef<'_>, max: u32) -> bool {
    let mut chars = 0;
    for d in n.descendants() {
        if let Some(t) = d.value().as_text() {
            chars += text_chars(t);
            if chars > max {
                return false;
            }
        }
    }
    true
}

/// A reply control: a link, button or small box labelled "Reply" (or classed `reply`).
fn is_reply_control(n: NRef<'_>) -> bool {
    if !matches!(tag(n), "a" | "button" | "span" | "div" | "p" | "li") {
        return false;
    }
    let classed = attr(n, "class").is_some_and(|c| {
        c.split_whitespace()
            .any(|c| c.contains("reply") && !c.contains("replies"))
    });
    classed || label(n).is_some_and(is_reply_label)
}

/// The one text run of a small element (a link, a button), trimmed of what is not a letter;
/// None when the element is larger or holds several runs. Runs for every link of a page, so
/// it neither allocates nor looks further than [`LABEL_NODES`] nodes.
fn label(n: NRef<'_>) -> Option<&str> {
    let mut found = None;
    for (i, d) in n.descendants().enumerate() {
        if i > LABEL_NODES {
            return None;
        }
        if let Some(t) = d.value().as_text() {
            let t = t.trim_matches(|c: char| !c.is_alphabetic());
            if !t.is_empty() {
                if found.is_some() {
                    return None;
                }
                found = Some(t);
            }
        }
    }
    found
}

/// True when `t` (letters at both ends) is a reply label, compared case-insensitively
/// without allocating.
fn is_reply_label(t: &str) -> bool {
    t.len() <= 40
        && REPLY
            .iter()
            .any(|r| t.chars().flat_map(char::to_lowercase).eq(r.chars()))
}

/// Signs of a thread inside `n` (bounded scan): reply controls, textareas, timestamps,
/// and whether a heading announces comments.
#[derive(Default)]
struct Signs {
    replies: u32,
    textarea: bool,
    times: u32,
    heading: bool,
    /// An element inside is marked as the article body: `n` wraps the story, not a thread.
    holds_article: bool,
}

fn signs(n: NRef<'_>) -> Signs {
    let mut s = Signs::default();
    for d in n.descendants().skip(1).take(SCAN) {
        match tag(d) {
            "" => continue,
            "textarea" => s.textarea = true,
            "time" => s.times += 1,
            "h2" | "h3" | "h4" | "h5" | "h6" | "legend" => {
                s.heading |= short_text(d, 60).is_some_and(|t| is_comment_line(&t));
            }
            // A story element, unless it is one comment of the thread (an unnamed
            // `<article>` per comment, with its own reply control).
            "article" | "main"
                if !named(d)
                    && !microdata(d)
                    && !d.descendants().take(SCAN).any(is_reply_control) =>
            {
                s.holds_article = true
            }
            _ => {}
        }
        if attr(d, "itemprop").is_some_and(|p| p.contains("articleBody")) {
            s.holds_article = true;
        }
        if is_reply_control(d) {
            s.replies += 1;
        }
    }
    s
}

/// Where reply controls sit, found in one walk before pruning: for each element, how many of
/// its children hold a reply control. Counting per element instead would rescan each subtree
/// once per ancestor.
#[derive(Default)]
pub(crate) struct Threads {
    /// Element → (children holding a reply control, capped at 2; the last such child).
    reply_children: IdMap<(u8, NodeId)>,
}

/// How many levels above a reply control still count it: the reply link sits a few levels
/// below its comment, which is a child of the thread.
const UP: usize = 8;

impl Threads {
    /// One walk over the page.
    pub(crate) fn scan(root: NRef<'_>) -> Threads {
        let mut th = Threads::default();
        let mut walk = Walk::new(root);
        while let Some(edge) = walk.next() {
            let Edge::Open(n) = edge else { continue };
            if !n.value().is_element() || !is_reply_control(n) {
                continue;
            }
            // Document order keeps the controls under one child together, so comparing with
            // the last child seen is enough to count distinct children.
            let mut child = n.id();
            for a in n.ancestors().take(UP) {
                let e = th.reply_children.entry(a.id()).or_insert((0, child));
                if e.0 == 0 || (e.1 != child && e.0 < 2) {
                    e.0 += 1;
                }
                e.1 = child;
                child = a.id();
            }
            walk.skip_subtree(n);
        }
        th
    }

    /// True when two or more children of `n` hold a reply control: a thread, whatever its
    /// class names say.
    fn repeated_replies(&self, n: NRef<'_>) -> bool {
        self.reply_children.get(&n.id()).is_some_and(|e| e.0 >= 2)
    }

    /// True when `n` is a comment section or one comment, to be left out of the article in
    /// every pass.
    pub(crate) fn is_comment_section(&self, n: NRef<'_>) -> bool {
        let t = tag(n);
        if matches!(t, "html" | "body" | "main") {
            return false;
        }
        if microdata(n) {
            return true;
        }
        if t == "form" {
            // The reply box; a form wrapping the whole page (ASP.NET) holds far more text.
            return n.descendants().take(SCAN).any(|d| tag(d) == "textarea") && few_chars(n, 1500);
        }
        if named(n) {
            let s = signs(n);
            return !s.holds_article && (s.replies > 0 || s.textarea || s.times >= 2 || s.heading);
        }
        matches!(t, "ul" | "ol" | "div" | "section")
            && self.repeated_replies(n)
            && !signs(n).holds_article
    }
}

/// True when `n` is a heading announcing comments ("12 Comments", "Leave a reply"): the caller
/// drops it, and the siblings after it when they show a thread ([`thread_follows`]).
pub(crate) fn is_comment_heading(n: NRef<'_>) -> bool {
    matches!(tag(n), "h2" | "h3" | "h4" | "h5" | "h6")
        && short_text(n, 60).is_some_and(|t| is_comment_line(&t))
}

/// True when the siblings after `heading` show a thread (a reply control, a comment form,
/// comment microdata or a comment-named block), so they are the thread it announces.
pub(crate) fn thread_follows(heading: NRef<'_>) -> bool {
    heading
        .next_siblings()
        .flat_map(|s| s.descendants())
        .take(SCAN)
        .any(|d| tag(d) == "textarea" || microdata(d) || named(d) || is_reply_control(d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use scraper::Html;

    /// The page-level check, with the reply controls of the whole tree scanned first.
    fn is_comment_section(n: NRef<'_>) -> bool {
        let root = n.ancestors().last().unwrap_or(n);
        Threads::scan(root).is_comment_section(n)
    }

    fn first<'a>(doc: &'a Html, t: &str) -> NRef<'a> {
        doc.tree
            .root()
            .descendants()
            .find(|n| tag(*n) == t)
            .expect("element in test page")
    }

    #[test]
    fn comment_lines_in_four_languages() {
        for l in [
            "12 Comments",
            "Comments (3)",
            "Leave a Reply",
            "Leave a comment",
            "Reply",
            "3 thoughts on “Rockets hit the Green Zone”",
            "Répondre",
            "5 commentaires",
            "Laisser un commentaire",
            "Antworten",
            "Kommentare",
            "Schreiben Sie einen Kommentar",
            "رد",
            "التعليقات",
            "اترك تعليقا",
            "Tell us what YOU think...",
            "Diskutieren Sie mit!",
        ] {
            assert!(is_comment_line(l), "{l}");
        }
        for l in [
            "Commentary",
            "Reactions from Baghdad",
            "The minister did not reply to questions about the embassy.",
            "Kommentar: Die Lage in Bagdad",
        ] {
            assert!(!is_comment_line(l), "{l}");
        }
    }

    #[test]
    fn class_names() {
        for c in [
            "comments",
            "comment-list",
            "commentlist",
            "disqus_thread",
            "reply",
            "kommentare",
        ] {
            assert!(names_comments(c), "{c}");
        }
        for c in ["commentary", "commentator-box", "article-body", "replyall"] {
            assert!(!names_comments(c), "{c}");
        }
    }

    #[test]
    fn thread_by_structure_without_class_names() {
        let doc = Html::parse_document(
            r##"<body><div id="x"><div><b>Sam</b> <p>First reader note.</p><a href="#r">Reply</a></div>
            <div><b>Kim</b> <p>Second reader note.</p><a href="#r">Reply</a></div></div></body>"##,
        );
        assert!(is_comment_section(super::super::dom::by_id(&doc, "x")));
    }

    #[test]
    fn named_area_needs_a_sign() {
        let with_form = Html::parse_document(
            r#"<body><section id="comments"><h3>Leave a reply</h3><form><textarea></textarea></form></section></body>"#,
        );
        assert!(is_comment_section(first(&with_form, "section")));
        // A content wrapper flagged "has-comments" is the article.
        let flagged = Html::parse_document(
            r#"<body><section class="post-content has-comments"><p>Story text.</p><time>Mon</time><time>Tue</time></section></body>"#,
        );
        assert!(!is_comment_section(first(&flagged, "section")));
        // A comment-named box without any sign of a thread stays (it may be a pull quote).
        let bare = Html::parse_document(
            r#"<body><div class="comment"><p>Analysts said the move was expected.</p></div></body>"#,
        );
        assert!(!is_comment_section(first(&bare, "div")));
    }

    #[test]
    fn microdata_and_forms() {
        let doc = Html::parse_document(
            r#"<body><article itemtype="https://schema.org/Comment"><p>Reader</p></article></body>"#,
        );
        assert!(is_comment_section(first(&doc, "article")));
        let page_form = format!(
            "<body><form id=aspnetForm><p>{}</p><textarea></textarea></form></body>",
            "Long story text. ".repeat(200)
        );
        let doc = Html::parse_document(&page_form);
        assert!(!is_comment_section(first(&doc, "form")));
    }

    #[test]
    fn heading_announces_the_thread_after_it() {
        let doc = Html::parse_document(
            r##"<body><div><p>Story.</p><h3>12 Kommentare</h3><div><p>Leser A.</p><a href="#">Antworten</a></div></div>
            <div><h2>Comments</h2><p>The minister's comments came late.</p></div></body>"##,
        );
        let heads: Vec<NRef<'_>> = doc
            .tree
            .root()
            .descendants()
            .filter(|n| is_comment_heading(*n))
            .collect();
        assert_eq!(heads.len(), 2);
        assert!(thread_follows(heads[0]));
        // A heading that happens to read "Comments" over prose: the prose stays.
        assert!(!thread_follows(heads[1]));
    }

    #[test]
    fn thread_of_unnamed_articles_is_a_thread() {
        let doc = Html::parse_document(
            r##"<body><div id="x"><article><p>Reader one.</p><a href="#">Reply</a></article>
            <article><p>Reader two.</p><a href="#">Reply</a></article></div></body>"##,
        );
        assert!(is_comment_section(super::super::dom::by_id(&doc, "x")));
    }

    #[test]
    fn live_blog_entries_are_not_comments() {
        let doc = Html::parse_document(
            r#"<body><div class="live"><div class="entry"><time>10:02</time><b>Staff</b><p>Sirens sounded.</p></div>
            <div class="entry"><time>10:15</time><b>Staff</b><p>Officials confirmed the strike.</p></div></div></body>"#,
        );
        assert!(!is_comment_section(first(&doc, "div")));
    }
}
