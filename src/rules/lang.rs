//! The language of an item, which picks the stemmer for `~word` literals.
//!
//! Only the languages the stemmers cover are told apart: English, French, German (Snowball) and
//! Arabic (our light stemmer). Arabic needs no detection: a word in Arabic script is stemmed as
//! Arabic whatever the item's language. For Latin-script words the item's language decides;
//! when it is none of the three, or the detector is unsure, a word matches `~x` if it shares
//! the stem of `x` in any of them (a miss costs an alert, a rare cross-language stem collision
//! costs little).
//!
//! Detection uses `whatlang` (trigram profiles, no model files) restricted to the four
//! languages, on the first [`SAMPLE_BYTES`] of title, summary and body. Measured 2026-12-03 on
//! the labelled set's 397 items (`tests/fixtures/rules_labelled`, every split; release build,
//! 2 shared cores; scratch program, not in the repo), accuracy and time per item:
//!
//! | input | whatlang 0.18 | lingua 1.7 (4 languages) |
//! | --- | --- | --- |
//! | title alone | 0.894 (reliable on 62%, 2 wrong when reliable), 23 µs | 0.997, 309 µs |
//! | title + body, 200 bytes | 1.000 (reliable on 99.7%), 55 µs | 1.000, 328 µs |
//! | title + body, 400 bytes | 1.000, 75 µs | 1.000, 757 µs |
//!
//! Titles alone are too short for either to be sure, and 200 bytes are enough for both; at
//! that length whatlang is six times faster and far smaller (lingua's four models add several
//! megabytes to the binary), so it is the one used. An unsure answer counts as "unknown".
//! Detection runs lazily, once per item at most, and only when the three stemmers disagree on
//! whether a word of the item matches a stem literal (`attacked` has the English stem of
//! `~attack` but not the French one); items that no stem concerns pay nothing.

use whatlang::{Detector, Lang as WLang};

/// A language with a stemmer, or none of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    /// English.
    En,
    /// French.
    Fr,
    /// German.
    De,
    /// Arabic.
    Ar,
}

impl Lang {
    /// The languages of Latin-script stems, in the order stems are stored.
    pub const LATIN: [Lang; 3] = [Lang::En, Lang::Fr, Lang::De];

    /// ISO 639-1 code, as shown in explanations and stored.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
            Lang::De => "de",
            Lang::Ar => "ar",
        }
    }
}

/// Bytes of an item's text given to the detector: title, then summary, then body. Detection
/// time grows with the text; 200 bytes (a title and a sentence) already told every item of the
/// labelled set apart (see the module docs).
pub const SAMPLE_BYTES: usize = 200;

/// Detects an item's language; built once per rule set.
#[derive(Debug, Clone)]
pub struct LangDetector {
    inner: Detector,
}

impl Default for LangDetector {
    fn default() -> Self {
        LangDetector {
            inner: Detector::with_allowlist(vec![WLang::Eng, WLang::Fra, WLang::Deu, WLang::Ara]),
        }
    }
}

impl LangDetector {
    /// The language of `text` when the detector is confident, else `None`.
    pub fn detect(&self, text: &str) -> Option<Lang> {
        let info = self.inner.detect(text)?;
        if !info.is_reliable() {
            return None;
        }
        Some(match info.lang() {
            WLang::Eng => Lang::En,
            WLang::Fra => Lang::Fr,
            WLang::Deu => Lang::De,
            WLang::Ara => Lang::Ar,
            _ => return None,
        })
    }

    /// The language of an item from the first [`SAMPLE_BYTES`] of its fields, in order:
    /// function words first ([`by_function_words`]), `whatlang` when they do not decide.
    pub fn detect_fields(&self, fields: &[&str]) -> Option<Lang> {
        let mut sample = String::with_capacity(SAMPLE_BYTES + 8);
        for f in fields {
            if sample.len() >= SAMPLE_BYTES {
                break;
            }
            let room = SAMPLE_BYTES - sample.len();
            let mut cut = room.min(f.len());
            while !f.is_char_boundary(cut) {
                cut -= 1;
            }
            sample.push_str(&f[..cut]);
            sample.push('\n');
        }
        by_function_words(&sample).or_else(|| self.detect(&sample))
    }
}

/// The language whose most common function words (`the`, `les`, `der`…) dominate `text`, or
/// whose script does (Arabic); `None` when that is not clear. About a microsecond for 200 bytes
/// where `whatlang` takes about fifty. On the first 200 bytes of the labelled set's 397 items it
/// decides 396, all rightly, and `whatlang` settles the last (`tests/rules_pack.rs`,
/// `language_detection_on_the_labelled_set`), so `whatlang` is left for the texts it cannot
/// settle.
pub fn by_function_words(text: &str) -> Option<Lang> {
    let (mut votes, mut arabic, mut latin) = ([0u32; 3], 0u32, 0u32);
    for w in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if w.starts_with(|c: char| ('\u{0600}'..='\u{06FF}').contains(&c)) {
            arabic += 1;
            continue;
        }
        latin += 1;
        if let Some(i) = function_word(w) {
            votes[i] += 1;
        }
    }
    if arabic > 2 * latin {
        return Some(Lang::Ar);
    }
    let mut order = [0usize, 1, 2];
    order.sort_by_key(|&i| std::cmp::Reverse(votes[i]));
    let (best, second) = (votes[order[0]], votes[order[1]]);
    (best >= 2 && best >= 2 * second).then(|| Lang::LATIN[order[0]])
}

/// Index in [`Lang::LATIN`] of the language `w` is a common function word of (ASCII words of
/// at most five letters; words shared by two of the languages are left out).
fn function_word(w: &str) -> Option<usize> {
    if w.len() > 5 || !w.is_ascii() {
        return None;
    }
    let mut buf = [0u8; 5];
    let low = buf.get_mut(..w.len())?;
    low.copy_from_slice(w.as_bytes());
    low.make_ascii_lowercase();
    Some(match &*low {
        b"the" | b"and" | b"of" | b"to" | b"was" | b"were" | b"is" | b"for" | b"with" | b"said"
        | b"by" | b"from" | b"after" | b"has" | b"have" | b"that" | b"it" | b"on" | b"at" => 0,
        b"le" | b"la" | b"les" | b"des" | b"du" | b"et" | b"un" | b"une" | b"est" | b"au"
        | b"aux" | b"dans" | b"sur" | b"pour" | b"par" | b"qui" | b"ont" | b"avec" => 1,
        b"der" | b"die" | b"das" | b"den" | b"dem" | b"und" | b"ein" | b"eine" | b"ist" | b"im"
        | b"mit" | b"von" | b"zu" | b"auf" | b"nach" | b"sich" | b"wurde" | b"nicht" | b"bei" => 2,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_the_four_languages_apart() {
        let d = LangDetector::default();
        let cases = [
            (
                "Rockets were fired at the embassy in the capital overnight",
                Lang::En,
            ),
            (
                "Des roquettes ont été tirées sur l'ambassade pendant la nuit",
                Lang::Fr,
            ),
            (
                "In der Nacht wurden Raketen auf die Botschaft abgefeuert",
                Lang::De,
            ),
            (
                "سقطت صواريخ قرب السفارة في العاصمة الليلة الماضية",
                Lang::Ar,
            ),
        ];
        for (text, want) in cases {
            assert_eq!(d.detect(text), Some(want), "{text}");
        }
        assert_eq!(d.detect(""), None);
    }

    #[test]
    fn function_words_decide_when_they_can() {
        let cases = [
            (
                "The embassy was closed on Monday after the protest",
                Some(Lang::En),
            ),
            (
                "Les manifestants se sont rassemblés devant l'ambassade dans la nuit",
                Some(Lang::Fr),
            ),
            (
                "Die Botschaft wurde nach dem Angriff geschlossen und bewacht",
                Some(Lang::De),
            ),
            ("سقطت صواريخ قرب السفارة في العاصمة", Some(Lang::Ar)),
            ("Embassy closed", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(by_function_words(text), want, "{text}");
        }
    }

    #[test]
    fn sample_is_bounded_and_cut_on_characters() {
        let d = LangDetector::default();
        let long = "é".repeat(10_000);
        // Whatever it says, it must not panic on a cut inside a character.
        let _ = d.detect_fields(&["Botschaft", &long, "never read"]);
        assert_eq!(
            d.detect_fields(&["", "Les manifestants se sont rassemblés devant l'ambassade"]),
            Some(Lang::Fr)
        );
    }
}
