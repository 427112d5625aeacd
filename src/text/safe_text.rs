//! Output safety: text written by strangers (feed titles, summaries, page text, server error
//! messages) on its way to a terminal or to the alert log.
//!
//! A title can carry `ESC [2J` (clear the screen), `ESC ]52;…` (write the reader's clipboard)
//! or a right-to-left override that makes a line read differently from what it holds. JSON
//! escaping does not help: a reader decodes `\u001b` back into ESC and prints it. So every
//! place that prints stored or fetched text, and the alert log's text fields, goes through
//! [`printable`], the one sanitiser; over-long fields go through [`clip`].

use std::borrow::Cow;

/// Appended where a field was cut at its limit.
pub const TRUNCATED: &str = "…[truncated]";

/// Whether `c` must not reach a terminal: C0 controls (tab and newline only where lines are
/// kept), DEL, C1 controls (U+0080–U+009F: `U+009B` is a one-character CSI on some
/// terminals), and the bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069).
fn unsafe_char(c: char, keep_lines: bool) -> bool {
    match c {
        '\n' | '\t' => !keep_lines,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => true,
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => true,
        _ => false,
    }
}

/// `s` without control characters. With `keep_lines` (multi-line text such as an extracted
/// article) newlines and tabs stay; without it (a title, a name, an error) tabs, newlines
/// and carriage returns become spaces, so words stay apart and a field stays on its line
/// (with it, carriage returns are dropped: `\r\n` is a newline).
/// Borrowed when nothing had to change, which is almost always.
pub fn printable(s: &str, keep_lines: bool) -> Cow<'_, str> {
    if !s.chars().any(|c| unsafe_char(c, keep_lines)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if !unsafe_char(c, keep_lines) {
            out.push(c);
        } else if !keep_lines && matches!(c, '\n' | '\t' | '\r') {
            out.push(' ');
        }
    }
    Cow::Owned(out)
}

/// `s` cut to at most `max_chars` characters (marker included), ending in [`TRUNCATED`] when
/// it was cut; borrowed when it fits.
pub fn clip(s: &str, max_chars: usize) -> Cow<'_, str> {
    let keep = max_chars.saturating_sub(TRUNCATED.chars().count());
    match s.char_indices().nth(max_chars) {
        None => Cow::Borrowed(s),
        Some(_) => {
            let end = s.char_indices().nth(keep).map_or(s.len(), |(i, _)| i);
            Cow::Owned(format!("{}{TRUNCATED}", &s[..end]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_clipboard_writes_and_overrides_are_removed() {
        let hostile = "\u{1b}]52;c;SGk=\u{7}Rockets\u{1b}[2J hit\u{9b}31m the\u{202e}zone\u{7f}";
        let clean = printable(hostile, false);
        assert_eq!(clean, "]52;c;SGk=Rockets[2J hit31m thezone");
        assert!(!clean.chars().any(|c| c.is_control()));
    }

    #[test]
    fn line_breaks_become_spaces_or_stay() {
        assert_eq!(printable("a\nb\tc\r\nd", false), "a b c  d");
        assert_eq!(printable("a\nb\tc\r\nd", true), "a\nb\tc\nd");
        assert!(matches!(
            printable("plain «text» ü", false),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn clip_cuts_on_characters_with_a_marker() {
        assert_eq!(clip("short", 20), "short");
        let long = "é".repeat(100);
        let c = clip(&long, 30);
        assert_eq!(c.chars().count(), 30);
        assert!(c.ends_with(TRUNCATED) && c.starts_with("éé"));
        assert_eq!(
            clip(&"x".repeat(30), 30),
            "x".repeat(30),
            "exactly the limit fits"
        );
    }
}
