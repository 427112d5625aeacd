//! HTML to plain text: the one place that decides how markup becomes readable text.
//!
//! Feeds carry HTML in titles, summaries and content (`feed` stage), and the `extract` stage
//! renders the chosen article subtree; both go through the same `TextBuilder` so that the
//! text the `rules` stage matches against has one shape everywhere: paragraphs separated by a
//! blank line, list items and `<br>` on their own lines, runs of whitespace collapsed.
//! Getting the breaks right matters for matching: two paragraphs glued together
//! (`"end.Next"`) would hide both words from a rule.

mod depth;
mod render;
mod simple;

pub use depth::cap_depth;
pub(crate) use render::{break_level, is_invisible, render, text_of, TextBuilder, Walk};
use simple::simple_fragment_to_text;

use scraper::Html;

/// Turns an HTML fragment (a feed title, summary or content) into clean text.
///
/// Block elements become paragraph breaks (`"\n\n"`), `<br>` a newline, list items own lines;
/// entities are decoded; script/style/noscript/iframe are dropped; runs of spaces collapse;
/// the result is trimmed. Input without any `<` is treated as plain text: its line structure
/// is kept (blank lines stay paragraph breaks), only spaces are collapsed and entities decoded.
pub fn fragment_to_text(html: &str) -> String {
    fragment_to_text_capped(html, DEFAULT_MAX_DEPTH)
}

/// Default for `[poll] max_html_depth`: how deeply HTML may nest before deeper tags are
/// dropped (their text is kept). Real pages and feed content nest a few dozen levels; at 256
/// levels html5ever parses a 5 MB page of nested markup in well under a second.
pub const DEFAULT_MAX_DEPTH: usize = 256;

/// [`fragment_to_text`] with nesting deeper than `max_depth` flattened first ([`cap_depth`]),
/// so that hostile markup costs linear time.
pub fn fragment_to_text_capped(html: &str, max_depth: usize) -> String {
    if !html.contains('<') {
        return plain_to_text(html);
    }
    let html = &*cap_depth(html, max_depth);
    if let Some(text) = simple_fragment_to_text(html) {
        return text;
    }
    let doc = Html::parse_fragment(html);
    let mut tb = TextBuilder::with_capacity(html.len());
    render(doc.tree.root(), &mut tb, &|_| false);
    tb.finish()
}

/// `s` with runs of whitespace collapsed to single spaces and trimmed (titles, names).
pub(crate) fn collapse_whitespace(s: &str) -> String {
    let mut tb = TextBuilder::with_capacity(s.len());
    tb.text(s);
    tb.finish()
}

/// Plain text keeps its paragraphs: feeds often put text with blank lines in `<description>`.
fn plain_to_text(text: &str) -> String {
    let mut tb = TextBuilder::with_capacity(text.len());
    let mut blank = false;
    for line in text.lines() {
        if line.trim().is_empty() {
            blank = true;
            continue;
        }
        tb.brk(if blank { 2 } else { 1 });
        blank = false;
        if line.contains('&') {
            // Entities only: parse the line as a fragment with no markup in it.
            let doc = Html::parse_fragment(line);
            render(doc.tree.root(), &mut tb, &|_| false);
        } else {
            tb.text(line);
        }
    }
    tb.finish()
}

#[cfg(test)]
mod tests {
    use super::fragment_to_text;

    #[test]
    fn blocks_become_paragraphs() {
        let t = fragment_to_text("<p>One <b>bold</b> word.</p><p>Two&amp;three</p>");
        assert_eq!(t, "One bold word.\n\nTwo&three");
    }

    #[test]
    fn inline_math_is_text() {
        let t = fragment_to_text(
            r#"<p>A rise of <math alttext="x^2"><mi>x</mi><msup><mn>2</mn></msup></math> per year, or <math><semantics><mi>y</mi><mo>=</mo><mn>3</mn><annotation encoding="application/x-tex">y=3</annotation></semantics></math> here.</p>"#,
        );
        assert_eq!(t, "A rise of x^2 per year, or y=3 here.");
    }

    #[test]
    fn br_and_list_items_are_lines() {
        let t = fragment_to_text("a<br>b<ul><li>x</li><li>y</li></ul>after");
        assert_eq!(t, "a\nb\n\nx\ny\n\nafter");
        assert_eq!(
            fragment_to_text("one<br><br>two<br/>three"),
            "one\n\ntwo\nthree"
        );
    }

    #[test]
    fn scripts_dropped_spaces_collapsed() {
        let t = fragment_to_text(
            "  <script>var x=1;</script>hello \n\t  <style>p{}</style> world <iframe>f</iframe> ",
        );
        assert_eq!(t, "hello world");
    }

    #[test]
    fn inline_tags_do_not_split_words() {
        assert_eq!(
            fragment_to_text("<b>Ba</b>ghdad <i>air</i>port"),
            "Baghdad airport"
        );
    }

    #[test]
    fn plain_text_passes_through() {
        assert_eq!(
            fragment_to_text("Rockets hit   the Green Zone"),
            "Rockets hit the Green Zone"
        );
        assert_eq!(
            fragment_to_text("One.\n\n\nTwo &amp; three"),
            "One.\n\nTwo & three"
        );
        assert_eq!(fragment_to_text(""), "");
    }

    #[test]
    fn ascii_runs_collapse_like_unicode_whitespace() {
        for s in [
            "a b c",
            "  a  b\tc\n d ",
            "one\x0btwo\x0cthree\rfour",
            "x",
            "   ",
            "a b  c d e\n\nf g",
            " Ünï  \u{a0}x\u{2003}y ",
        ] {
            assert_eq!(
                super::collapse_whitespace(s),
                s.split_whitespace().collect::<Vec<_>>().join(" "),
                "{s:?}"
            );
        }
    }

    /// The html5ever rendering, bypassing the simple path.
    fn full_path(html: &str) -> String {
        let doc = scraper::Html::parse_fragment(html);
        let mut tb = super::TextBuilder::default();
        super::render(doc.tree.root(), &mut tb, &|_| false);
        tb.finish()
    }

    #[test]
    fn simple_path_takes_feed_markup() {
        for html in [
            "<p>One <b>bold</b> word.</p><p>Two&amp;three &#x41;&#66; &nbsp;x</p>",
            "a<br>b<br/><br>c<ul><li>x</li><li>y</li></ul><hr>after <img src=\"a>b\">z",
            "<P CLASS='x'>Up<A HREF=\"u\">per</A></P>",
            "<p>line<br>line<br/></p><ul><li><p>in</p><div>item</div></li></ul>",
        ] {
            let fast = super::simple_fragment_to_text(html);
            assert_eq!(fast.as_deref(), Some(full_path(html).as_str()), "{html}");
        }
        for html in [
            "<b>unclosed",
            "<b><i>x</b></i>",
            "<!-- c -->x",
            "<script>x</script>",
            "a &copy b",
            "<td>x</td>",
            "x</br>",
            "&#150;",
            "<p>a<div>b</div></p>",
            "<li>a<li>b</li></li>",
        ] {
            assert_eq!(super::simple_fragment_to_text(html), None, "{html}");
        }
    }

    /// Well-nested fragments of the tags and entities feeds use, with a few things the simple
    /// path must refuse mixed in.
    fn fragment() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        const TEXT: [&str; 16] = [
            "word",
            " ",
            "\n",
            "\t",
            "Ünï",
            "x\u{a0}y",
            "&amp;",
            "&lt;",
            "&#39;",
            "&#x41;",
            "&nbsp;",
            "&#150;",
            "&foo;",
            ">",
            "a b",
            "<!-- c -->",
        ];
        const TAGS: [&str; 14] = [
            "p",
            "b",
            "a href=\"u\"",
            "div",
            "ul",
            "li",
            "h2",
            "blockquote",
            "span",
            "em",
            "P",
            "td",
            "i",
            "strong",
        ];
        const VOID: [&str; 6] = ["<br>", "<br/>", "<img src='x>y'>", "<hr>", "<wbr>", "</br>"];
        let leaf = prop_oneof![
            (0..TEXT.len()).prop_map(|i| TEXT[i].to_string()),
            (0..VOID.len()).prop_map(|i| VOID[i].to_string()),
        ];
        leaf.prop_recursive(4, 64, 6, |inner| {
            (0..TAGS.len(), proptest::collection::vec(inner, 0..6)).prop_map(|(t, kids)| {
                let tag = TAGS[t];
                let name = tag.split(' ').next().unwrap_or(tag);
                format!("<{tag}>{}</{name}>", kids.concat())
            })
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        /// Whatever the simple path accepts, it renders exactly as html5ever does.
        #[test]
        fn simple_path_agrees_with_html5ever(parts in proptest::collection::vec(fragment(), 1..4)) {
            let html = parts.concat();
            if let Some(fast) = super::simple_fragment_to_text(&html) {
                proptest::prop_assert_eq!(fast, full_path(&html), "{:?}", html);
            }
        }
    }

    /// Every HTML summary, content and title of the 197 real feeds in `../shared`: where the
    /// simple path answers, it answers as html5ever does. Skipped without the corpus (unless
    /// `FEEDWATCH_REQUIRE_SHARED=1`, as in CI).
    #[test]
    fn simple_path_agrees_on_real_feeds() {
        let dir = std::env::var_os("FEEDWATCH_SHARED_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"))
            .join("corpora/feeds");
        let Ok(manifest) = std::fs::read_to_string(dir.join("MANIFEST.tsv")) else {
            assert!(
                std::env::var("FEEDWATCH_REQUIRE_SHARED").as_deref() != Ok("1"),
                "shared corpus not found and FEEDWATCH_REQUIRE_SHARED=1"
            );
            eprintln!("skipped: no feed corpus at {}", dir.display());
            return;
        };
        let (mut fragments, mut simple) = (0, 0);
        for file in manifest
            .lines()
            .skip(1)
            .filter_map(|l| l.split('\t').next())
        {
            let Ok(bytes) = std::fs::read(dir.join(file)) else {
                continue;
            };
            // feed-rs panics on a few of these files (the `feed` stage guards and repairs).
            let parsed = std::panic::catch_unwind(|| feed_rs::parser::parse(bytes.as_slice()));
            let Ok(Ok(feed)) = parsed else {
                continue;
            };
            for e in &feed.entries {
                let texts = [
                    e.summary.as_ref().map(|t| t.content.as_str()),
                    e.content.as_ref().and_then(|c| c.body.as_deref()),
                    e.title.as_ref().map(|t| t.content.as_str()),
                ];
                for html in texts.into_iter().flatten().filter(|h| h.contains('<')) {
                    fragments += 1;
                    if let Some(fast) = super::simple_fragment_to_text(html) {
                        simple += 1;
                        assert_eq!(fast, full_path(html), "{file}: {html}");
                    }
                }
            }
        }
        eprintln!("{simple} of {fragments} fragments took the simple path");
        assert!(fragments > 1000 && simple > 0, "{simple} of {fragments}");
    }

    #[test]
    fn broken_markup_does_not_panic() {
        for s in [
            "<",
            "<p",
            "</div></p>text",
            "<a href='x",
            "&#xFFFFFFFF; <b>",
        ] {
            let _ = fragment_to_text(s);
        }
    }
}
