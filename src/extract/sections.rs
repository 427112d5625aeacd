//! Sibling sections of one story. Sites split long articles into sibling blocks (one per
//! sub-heading, or around an inline ad or sign-up box), each with its own wrapper and class.
//! Readability's sibling merge keeps a sibling when its own score reaches a share of the top
//! candidate's; a short closing section two wrappers deep scores far less than that and was
//! lost. Here a sibling is also kept when it reads as prose (paragraphs, sentences, almost no
//! links, no lists or pictures, no negative class) and it continues the story: between it and
//! a kept part there is nothing but quiet blocks (ads, spacers, set-aside boxes).

use super::dom::{class_weight, Flags, IdMap, NRef, Stats};

/// A block with less text than this between two sections does not break the story: an
/// "Advertisement" label, an empty ad slot.
const QUIET_CHARS: u32 = 40;
/// A prose section's link density stays below this (a link or two in a sentence).
const MAX_LINK_DENSITY: f32 = 0.15;

/// True when the sibling reads as story text by its statistics alone.
fn prose(n: NRef<'_>, s: &Stats, flags: Flags) -> bool {
    s.p >= 1
        && s.chars >= 40
        && s.link_density() < MAX_LINK_DENSITY
        && s.li == 0
        && s.img <= 1
        && s.input == 0
        && s.embed == 0
        // Mostly paragraphs: not a heading with a line under it, nor a list of one-liners.
        && s.heading_chars * 2 < s.chars
        && s.chars / s.p >= 40
        && class_weight(n, flags) >= 0.0
}

/// Marks as kept the prose siblings adjacent (through quiet blocks only) to a kept one, in
/// both directions, so a story split across sibling blocks comes out whole.
pub(crate) fn merge_adjacent(sibs: &mut [(NRef<'_>, bool)], stats: &IdMap<Stats>, flags: Flags) {
    let stat = |n: NRef<'_>| stats.get(&n.id()).copied().unwrap_or_default();
    let quiet: Vec<bool> = sibs
        .iter()
        .map(|(n, _)| stat(*n).chars < QUIET_CHARS)
        .collect();
    let prose: Vec<bool> = sibs
        .iter()
        .map(|(n, _)| prose(*n, &stat(*n), flags))
        .collect();
    // Forward: a kept part lets the next prose block in; then that one does, and so on.
    let mut open = false;
    for i in 0..sibs.len() {
        if sibs[i].1 {
            open = true;
        } else if open && prose[i] {
            sibs[i].1 = true;
            tracing::trace!("extract merges a following section");
        } else if !quiet[i] {
            open = false;
        }
    }
    let mut open = false;
    for i in (0..sibs.len()).rev() {
        if sibs[i].1 {
            open = true;
        } else if open && prose[i] {
            sibs[i].1 = true;
            tracing::trace!("extract merges a preceding section");
        } else if !quiet[i] {
            open = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use scraper::Html;

    const PARA: &str =
        "A paragraph of the story, long enough to score, with commas, clauses, and words.";

    fn body(html: &str) -> String {
        super::super::score::extract_body(&Html::parse_document(html), None).text
    }

    #[test]
    fn short_closing_section_is_merged_past_an_ad() {
        let html = format!(
            r#"<body><div class="wrap"><div class="a"><p>{PARA}</p><p>{PARA}</p><p>{PARA}</p><p>{PARA}</p><p>{PARA}</p><p>{PARA}</p></div>
            <div class="slot"><span>Advertisement</span></div>
            <section class="b"><div><div><p>The closing line of the same story, after the ad.</p></div></div></section>
            <div class="c"><ul><li><a href="/x">Another story entirely, a teaser</a></li><li><a href="/y">And one more teaser here</a></li></ul></div>
            <section class="d"><div><div><p>A box far below the teasers, with a sentence in it.</p></div></div></section></div></body>"#
        );
        let t = body(&html);
        assert!(
            t.ends_with("The closing line of the same story, after the ad."),
            "{t}"
        );
        assert!(!t.contains("teaser"), "{t}");
        assert!(!t.contains("far below"), "{t}");
    }
}
