//! Snippets: a short, readable excerpt around the densest cluster of hits.
//!
//! An analyst reading an alert should see *why* it fired without opening the article, so the
//! snippet is cut around the region with the most hits, at whitespace (never inside a word, so
//! Arabic and other right-to-left text keeps its letters joined), with the hits marked `«…»`,
//! whitespace collapsed and `…` where text was cut.

use unicode_normalization::char::is_combining_mark;

/// Target snippet length in characters (markers and ellipses excluded).
pub const SNIPPET_CHARS: usize = 200;

/// Build a snippet of `text` around `spans` (byte ranges of hits in `text`, any order).
pub fn snippet(text: &str, spans: &[(usize, usize)]) -> String {
    let byte_of: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
    let chars: Vec<char> = text.chars().collect();
    let len = chars.len();
    let to_char = |b: usize| byte_of.partition_point(|&x| x < b);
    let mut hits: Vec<(usize, usize)> = spans
        .iter()
        .filter(|(s, e)| s < e && *e <= text.len())
        .map(|&(s, e)| (to_char(s), to_char(e)))
        .collect();
    hits.sort_unstable();
    // Merge overlapping hits ("green zone" and "zone") so markers never nest.
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(hits.len());
    for h in hits {
        match merged.last_mut() {
            Some(last) if h.0 <= last.1 => last.1 = last.1.max(h.1),
            _ => merged.push(h),
        }
    }
    if merged.is_empty() || len == 0 {
        return String::new();
    }
    // Densest cluster: the window of SNIPPET_CHARS holding the most hits (earliest on ties).
    let (mut best_i, mut best_j) = (0, 0);
    let mut j = 0;
    for i in 0..merged.len() {
        j = j.max(i);
        while j + 1 < merged.len() && merged[j + 1].1 - merged[i].0 <= SNIPPET_CHARS {
            j += 1;
        }
        if j - i > best_j - best_i {
            (best_i, best_j) = (i, j);
        }
    }
    let (cs, ce) = (merged[best_i].0, merged[best_j].1);
    let span = ce - cs;
    let slack = SNIPPET_CHARS.saturating_sub(span);
    let mut ws = cs.saturating_sub(slack / 2);
    let mut we = (ws + span.max(SNIPPET_CHARS)).min(len);
    if we == len {
        ws = we.saturating_sub(span.max(SNIPPET_CHARS));
    }
    // Cut at whitespace: move inwards to a word boundary, or outwards if the cluster is in the way.
    if ws > 0 && !chars[ws - 1].is_whitespace() {
        match (ws..cs).find(|&k| chars[k].is_whitespace()) {
            Some(k) => ws = k + 1,
            None => {
                ws = (0..ws)
                    .rev()
                    .find(|&k| chars[k].is_whitespace())
                    .map_or(0, |k| k + 1)
            }
        }
    }
    if we < len && !chars[we].is_whitespace() {
        match (ce..we).rev().find(|&k| chars[k].is_whitespace()) {
            Some(k) => we = k,
            None => we = (we..len).find(|&k| chars[k].is_whitespace()).unwrap_or(len),
        }
    }
    // Never leave a combining mark orphaned at a cut (scripts without spaces).
    while ws > 0 && ws < len && is_combining_mark(chars[ws]) {
        ws -= 1;
    }
    while we < len && is_combining_mark(chars[we]) {
        we += 1;
    }
    let mut out = String::with_capacity((we - ws) * 2 + 8);
    if ws > 0 {
        out.push('…');
    }
    let mut marks = merged
        .iter()
        .filter(|(s, e)| *s >= ws && *e <= we)
        .peekable();
    let mut open: Option<usize> = None;
    let mut last_space = true;
    for (k, &c) in chars.iter().enumerate().take(we).skip(ws) {
        if open.is_none() {
            if let Some(&&(s, e)) = marks.peek() {
                if s == k {
                    out.push('«');
                    open = Some(e);
                    last_space = false;
                    marks.next();
                }
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
        if open == Some(k + 1) {
            if out.ends_with(' ') {
                out.pop();
            }
            out.push('»');
            open = None;
            last_space = false;
        }
    }
    let trimmed_len = out.trim_end().len();
    out.truncate(trimmed_len);
    if we < len {
        out.push('…');
    }
    out
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
            s.contains("«rocket» «attack» on the «embassy» compound"),
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
