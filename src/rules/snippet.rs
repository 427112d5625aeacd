//! Snippets: a short, readable excerpt around the densest cluster of hits.
//!
//! An analyst reading an alert should see *why* it fired without opening the article, so the
//! snippet is cut around the region with the most hits, at whitespace (never inside a word, so
//! Arabic and other right-to-left text keeps its letters joined), with the hits marked `«…»`,
//! whitespace collapsed and `…` where text was cut.

use unicode_normalization::char::is_combining_mark;

/// Target snippet length in characters (markers and ellipses excluded).
pub const SNIPPET_CHARS: usize = 200;

/// How far (in characters) a cut may move to reach whitespace before it gives up and cuts
/// between characters (text without spaces, e.g. Chinese).
const MAX_WORD_CHARS: usize = 40;

/// Build a snippet of `text` around `spans` (byte ranges of hits in `text`, any order).
///
/// Works on byte offsets and walks only the characters it needs, so its cost is proportional to
/// the distance to the hits, not to the length of the article.
pub fn snippet(text: &str, spans: &[(usize, usize)]) -> String {
    let mut hits: Vec<(usize, usize)> = spans
        .iter()
        .copied()
        .filter(|&(s, e)| s < e && text.is_char_boundary(s) && text.is_char_boundary(e))
        .collect();
    hits.sort_unstable();
    // Merge overlapping hits ("green zone" and "zone") so markers never nest, and hits separated
    // only by a space ("rocket" "attacks") so the reader sees «rocket attacks».
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(hits.len());
    for h in hits {
        match merged.last_mut() {
            Some(last)
                if h.0 <= last.1
                    || text
                        .get(last.1..h.0)
                        .is_some_and(|g| g.len() <= 2 && g.chars().all(char::is_whitespace)) =>
            {
                last.1 = last.1.max(h.1)
            }
            _ => merged.push(h),
        }
    }
    if merged.is_empty() {
        return String::new();
    }
    // Character positions of the hits, counted incrementally.
    let mut pos = Vec::with_capacity(merged.len());
    let (mut byte, mut chars) = (0, 0);
    for &(s, e) in &merged {
        let start = if s >= byte {
            chars + text.get(byte..s).map_or(0, |t| t.chars().count())
        } else {
            chars - text.get(s..byte).map_or(0, |t| t.chars().count())
        };
        let end = start + text.get(s..e).map_or(0, |t| t.chars().count());
        pos.push((start, end));
        (byte, chars) = (e, end);
    }
    // Densest cluster: the run of hits spanning at most SNIPPET_CHARS with the most hits.
    let (mut best_i, mut best_j) = (0, 0);
    let mut j = 0;
    for i in 0..pos.len() {
        j = j.max(i);
        while j + 1 < pos.len() && pos[j + 1].1 - pos[i].0 <= SNIPPET_CHARS {
            j += 1;
        }
        if j - i > best_j - best_i {
            (best_i, best_j) = (i, j);
        }
    }
    let (cs, ce) = (merged[best_i].0, merged[best_j].1);
    let slack = SNIPPET_CHARS.saturating_sub(pos[best_j].1 - pos[best_i].0);
    let left = slack / 2;
    let (mut ws, got_left) = back(text, cs, left);
    let (mut we, got_right) = fwd(text, ce, slack - got_left);
    if got_right < slack - left {
        ws = back(text, ws, slack - left - got_right).0;
    }
    // Cut at whitespace: inwards to a word boundary, or outwards if the cluster is in the way.
    if ws > 0 && !prev_char(text, ws).is_some_and(char::is_whitespace) {
        ws = match text.get(ws..cs).and_then(|t| t.find(char::is_whitespace)) {
            Some(k) => after_char(text, ws + k),
            None => word_start(text, ws),
        };
    }
    if we < text.len()
        && !text
            .get(we..)
            .and_then(|t| t.chars().next())
            .is_some_and(char::is_whitespace)
    {
        we = match text.get(ce..we).and_then(|t| t.rfind(char::is_whitespace)) {
            Some(k) => ce + k,
            None => word_end(text, we),
        };
    }
    render(text, ws, we, &merged)
}

/// Walk back up to `n` chars from byte `from`; returns the byte offset and chars walked.
fn back(text: &str, from: usize, n: usize) -> (usize, usize) {
    let mut b = from;
    let mut k = 0;
    for (i, _) in text.get(..from).unwrap_or("").char_indices().rev().take(n) {
        b = i;
        k += 1;
    }
    (b, k)
}

/// Walk forward up to `n` chars from byte `from`; returns the byte offset and chars walked.
fn fwd(text: &str, from: usize, n: usize) -> (usize, usize) {
    let mut b = from;
    let mut k = 0;
    for (i, c) in text.get(from..).unwrap_or("").char_indices().take(n) {
        b = from + i + c.len_utf8();
        k += 1;
    }
    (b, k)
}

fn prev_char(text: &str, at: usize) -> Option<char> {
    text.get(..at).and_then(|t| t.chars().next_back())
}

fn after_char(text: &str, at: usize) -> usize {
    at + text
        .get(at..)
        .and_then(|t| t.chars().next())
        .map_or(0, char::len_utf8)
}

/// Start of the word containing byte `at` (or a nearby non-mark char if the "word" is huge).
fn word_start(text: &str, at: usize) -> usize {
    let before = text.get(..at).unwrap_or("");
    for (i, c) in before.char_indices().rev().take(MAX_WORD_CHARS) {
        if c.is_whitespace() {
            return i + c.len_utf8();
        }
        if i == 0 {
            return 0;
        }
    }
    // No space in reach: cut between characters, but not before a combining mark.
    let mut b = at;
    while b > 0
        && text
            .get(b..)
            .and_then(|t| t.chars().next())
            .is_some_and(is_combining_mark)
    {
        b = back(text, b, 1).0;
    }
    b
}

/// End of the word containing byte `at` (or a nearby non-mark boundary if the "word" is huge).
fn word_end(text: &str, at: usize) -> usize {
    let after = text.get(at..).unwrap_or("");
    for (i, c) in after.char_indices().take(MAX_WORD_CHARS) {
        if c.is_whitespace() {
            return at + i;
        }
    }
    if after.chars().count() <= MAX_WORD_CHARS {
        return text.len();
    }
    let mut b = at;
    while b < text.len()
        && text
            .get(b..)
            .and_then(|t| t.chars().next())
            .is_some_and(is_combining_mark)
    {
        b = fwd(text, b, 1).0;
    }
    b
}

/// The window `[ws, we)` with hits marked, whitespace collapsed and `…` at cut ends.
fn render(text: &str, ws: usize, we: usize, hits: &[(usize, usize)]) -> String {
    let window = text.get(ws..we).unwrap_or("");
    let mut out = String::with_capacity(window.len() + 16);
    if ws > 0 {
        out.push('…');
    }
    let mut marks = hits.iter().filter(|&&(s, e)| s >= ws && e <= we).peekable();
    let mut open: Option<usize> = None;
    let mut last_space = true;
    for (i, c) in window.char_indices() {
        let b = ws + i;
        if open.is_none() && marks.peek().is_some_and(|&&(s, _)| s == b) {
            if let Some(&(_, e)) = marks.next() {
                out.push('«');
                open = Some(e);
                last_space = false;
            }
        }
        if c.is_whitespace() {
            if !last_space {
                out.push(' ');
                last_space = true;
            }
        } else {
            out.push(c);
            last_space = false;
        }
        if open == Some(b + c.len_utf8()) {
            if out.ends_with(' ') {
                out.pop();
            }
            out.push('»');
            open = None;
        }
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    if we < text.len() {
        out.push('…');
    }
    out
}

/// Incremental byte → char offset conversion (hits arrive sorted per field).
#[derive(Default)]
pub(super) struct CharCounter {
    field: usize,
    byte: usize,
    chars: usize,
}

impl CharCounter {
    pub(super) fn chars_to(&mut self, field: usize, text: &str, byte: usize) -> usize {
        if field != self.field || byte < self.byte {
            *self = CharCounter {
                field,
                ..CharCounter::default()
            };
        }
        self.chars += text.get(self.byte..byte).map_or(0, |s| s.chars().count());
        self.byte = byte;
        self.chars
    }
}

/// `s` cut to at most `max` characters, with `…` when cut.
pub(super) fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(text: &str, needle: &str) -> (usize, usize) {
        let s = text.find(needle).unwrap_or(0);
        (s, s + needle.len())
    }

    #[test]
    fn short_text_is_whole_and_marked() {
        let t = "Rockets hit the  Green Zone\nlast night.";
        let s = snippet(t, &[span(t, "Green Zone"), span(t, "Rockets")]);
        assert_eq!(s, "«Rockets» hit the «Green Zone» last night.");
        let s = snippet(
            t,
            &[span(t, "Green"), span(t, "Zone"), span(t, "Green Zone")],
        );
        assert_eq!(s, "Rockets hit the «Green Zone» last night.");
    }

    #[test]
    fn long_text_is_cut_at_words_around_densest_cluster() {
        let filler = "lorem ipsum dolor sit amet ".repeat(40);
        let t = format!("embassy {filler} rocket attack on the embassy compound {filler}");
        let mut spans = vec![(0, 7)];
        let k = t.find("rocket").unwrap_or(0);
        spans.push((k, k + 6));
        spans.push((k + 7, k + 13));
        let e = t[k..].find("embassy").map_or(0, |x| x + k);
        spans.push((e, e + 7));
        let s = snippet(&t, &spans);
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(
            s.contains("«rocket attack» on the «embassy» compound"),
            "{s}"
        );
        let body = s.trim_matches('…');
        assert!(
            body.chars().count() <= SNIPPET_CHARS + 12,
            "{}",
            body.chars().count()
        );
        for w in body.replace(['«', '»'], "").split(' ') {
            assert!(
                [
                    "lorem", "ipsum", "dolor", "sit", "amet", "rocket", "attack", "on", "the",
                    "embassy", "compound"
                ]
                .contains(&w),
                "cut word {w:?}"
            );
        }
    }

    #[test]
    fn arabic_words_stay_whole() {
        let word = "الخضراء ";
        let t = format!(
            "{}صواريخ على المنطقة الخضراء {}",
            word.repeat(60),
            word.repeat(60)
        );
        let s = snippet(&t, &[span(&t, "المنطقة الخضراء")]);
        assert!(s.contains("«المنطقة الخضراء»"), "{s}");
        for w in s.trim_matches('…').replace(['«', '»'], "").split(' ') {
            assert!(
                ["الخضراء", "صواريخ", "على", "المنطقة"].contains(&w),
                "cut word {w:?}"
            );
        }
    }
}
