//! Stems for `~word` literals: Snowball for English, French and German, and a light stemmer of
//! our own for Arabic.
//!
//! A `~storm` literal matches a word of the item whose stem equals the stem of `storm` in the
//! item's language ([`lang`](super::lang)): `stormed`, `storming`, `storms`. Stemming every
//! word of every item would cost more than the whole match (Snowball takes a few hundred
//! nanoseconds a word, the matcher about twenty), so stemming is lazy:
//!
//! - **Latin script.** A Snowball stem only ever changes the end of a word (`embassies` →
//!   `embassi`), so a word can only share the stem `s` if it begins with `s` minus its last
//!   character. Each stem literal files that head in the lexicon like a prefix literal, and a
//!   word is stemmed only when it begins with one. `tests/rules_query.rs` checks on generated
//!   inflections that this never loses a word with the literal's stem.
//! - **Arabic script.** Clitics come *first* (`والسفارة`, "and the embassy"), so no head can be
//!   filed. Instead an Arabic word is split into its few possible (clitics, core) readings and
//!   each core is looked up, after a bitmap of the stems' first two letters has ruled out nearly
//!   all of them. Only items with Arabic words pay, and only when the rules have Arabic stems.
//! - **Once per word.** A word is stemmed at most once per language, however many literals its
//!   heads reach, and what it matched is remembered per rule set across items
//!   ([`stem_memo`](super::stem_memo)): news repeats its words.
//!
//! Stems are taken from normalised tokens (lower case, no diacritics), as every other literal
//! is matched, so `~sécurité` and `securite` meet. Snowball's French and German rules were
//! written for accented text; unaccented, they still give one stem to the inflections that
//! matter here (`ambassade`/`ambassades`, `Botschaft`/`Botschaften`, `envahi`/`envahie`), which
//! `tests/rules_pack.rs` checks on the labelled set.

use std::borrow::Cow;

use rust_stemmers::{Algorithm, Stemmer};
use rustc_hash::FxHashMap;

use super::lang::{Lang, LangDetector};
use super::stem_memo::WordHit;

/// [`WordHit::langs`] of a word that has the literal's stem in all three Latin languages.
const ALL_LANGS: u8 = 0b111;
/// [`WordHit::langs`] of a hit that holds whatever the item's language (Arabic stems).
pub(super) const ANY_LANG: u8 = 0b1000;

/// Fewest letters the Arabic stemmer leaves: Arabic roots have three.
const AR_MIN: usize = 3;

/// Proclitics an Arabic word may begin with, in normalised spelling: conjunctions (و ف),
/// prepositions (ب ل ك), the article (ال) and their combinations. Longest first.
const AR_PROCLITICS: [&str; 23] = [
    "وبال", "وكال", "فبال", "فكال", "وال", "فال", "بال", "كال", "ولل", "فلل", "لل", "ال", "وب",
    "ول", "وك", "فب", "فل", "فك", "و", "ف", "ب", "ل", "ك",
];

/// Possessive pronoun suffixes (her, their, your, our…), longest first.
const AR_PRONOUNS: [&str; 8] = ["هما", "كما", "ها", "هم", "هن", "كم", "كن", "نا"];

/// Inflectional suffixes, longest first: feminine plural, masculine plural (nominative,
/// oblique), verbal plural, nisba with taa marbuta (`ية` → `يه`), taa marbuta (`ة` → `ه`),
/// nisba. The dual `ان` is left alone: it ends too many names (لبنان، ايران، عمان).
const AR_SUFFIXES: [&str; 7] = ["ات", "ون", "ين", "وا", "يه", "ه", "ي"];

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// `word` without `suffix` if at least [`AR_MIN`] letters remain.
fn strip_suffix<'a>(word: &'a str, suffix: &str) -> Option<&'a str> {
    word.strip_suffix(suffix).filter(|r| chars(r) >= AR_MIN)
}

/// The light stem of an Arabic word with its clitics already removed: one pronoun suffix
/// (then a `ت` that was a taa marbuta before it: `سفارتها` → `سفار`), or one inflectional
/// suffix (then the nisba `ي` of a plural: `عراقيين` → `عراق`, or the `ت` of a feminine dual:
/// `سفارتين` → `سفار`).
pub fn arabic_core_stem(word: &str) -> &str {
    if let Some(r) = AR_PRONOUNS.iter().find_map(|p| strip_suffix(word, p)) {
        return strip_suffix(r, "ت").unwrap_or(r);
    }
    match AR_SUFFIXES
        .iter()
        .find_map(|s| strip_suffix(word, s).map(|r| (s, r)))
    {
        Some((&"ين", r)) => strip_suffix(r, "ي")
            .or_else(|| strip_suffix(r, "ت"))
            .unwrap_or(r),
        Some((&("ون" | "ات"), r)) => strip_suffix(r, "ي").unwrap_or(r),
        Some((_, r)) => r,
        None => word,
    }
}

/// The light stem of an Arabic word as written in a rule: an article (`ال`, `وال`, …) is
/// removed, single-letter clitics are not (the rule's author writes the bare word, and `بغداد`
/// begins with a `ب` that is no preposition).
pub fn arabic_literal_stem(word: &str) -> &str {
    let core = ["وال", "بال", "كال", "فال", "لل", "ال"]
        .iter()
        .find_map(|p| word.strip_prefix(p).filter(|r| chars(r) >= AR_MIN))
        .unwrap_or(word);
    arabic_core_stem(core)
}

/// Every reading of an Arabic word of an article: the word itself and the word without each
/// proclitic it may begin with, each stemmed. A literal's stem matches if any reading equals
/// it, so `ببغداد` ("in Baghdad") matches `~بغداد` and so does `بغداد`.
pub fn arabic_readings(word: &str, mut f: impl FnMut(&str) -> bool) -> bool {
    if f(arabic_core_stem(word)) {
        return true;
    }
    AR_PROCLITICS.iter().any(|p| {
        word.strip_prefix(p)
            .filter(|r| chars(r) >= AR_MIN)
            .is_some_and(|r| f(arabic_core_stem(r)))
    })
}

/// Whether a normalised token is in Arabic script (its first letter decides).
pub fn is_arabic(token: &str) -> bool {
    // U+0600..U+06FF and U+0750..U+077F are encoded with lead bytes D8..DD.
    matches!(token.as_bytes().first(), Some(0xD8..=0xDD))
}

fn snowball(lang: Lang) -> Stemmer {
    Stemmer::create(match lang {
        Lang::Fr => Algorithm::French,
        Lang::De => Algorithm::German,
        Lang::En | Lang::Ar => Algorithm::English,
    })
}

/// The Snowball stem of a normalised (unaccented) token in `lang`, by `st` (its stemmer).
/// French feminine participles lose their meaning without the accent: Snowball reads `visee`
/// as a noun and keeps `vise`, while `viser` gives `vis`. So a French token ending in
/// `ee`/`ees` is stemmed as `ée`/`ées`, and any `é` left in the stem becomes `e` again,
/// keeping stems in the normalised alphabet the lexicon's heads are filed in.
fn latin_stem<'t>(st: &Stemmer, lang: Lang, token: &'t str) -> Cow<'t, str> {
    let participle = (lang == Lang::Fr)
        .then(|| {
            (token.strip_suffix("ees").map(|root| (root, "ées")))
                .or_else(|| token.strip_suffix("ee").map(|root| (root, "ée")))
        })
        .flatten()
        .filter(|(root, _)| !root.is_empty());
    match participle {
        Some((root, ending)) => Cow::Owned(st.stem(&format!("{root}{ending}")).replace('é', "e")),
        None => st.stem(token),
    }
}

/// Bit of [`Stems::ar_heads`] for the first two letters of an Arabic stem.
fn ar_head(s: &str) -> Option<usize> {
    let mut it = s.chars();
    let (a, b) = (it.next()?, it.next()?);
    Some(((a as usize & 0xFF) << 8) | (b as usize & 0xFF))
}

/// A Latin-script stem literal: its pattern and its stem in each of [`Lang::LATIN`].
#[derive(Debug)]
struct LatinStem {
    pat: u32,
    stems: [Box<str>; 3],
    /// Each stem without its last character: a word can only have that stem if it begins
    /// with this, so the other languages' stemmers are not even run on most candidates.
    heads: [Box<str>; 3],
}

/// The stem literals of a rule set.
pub(super) struct Stems {
    latin: Vec<LatinStem>,
    /// Arabic stem → patterns.
    arabic: FxHashMap<Box<str>, Vec<u32>>,
    /// Bitmap over the first two letters of the Arabic stems (low bytes of their code points).
    ar_heads: Vec<u64>,
    snowball: [Stemmer; 3],
    detector: LangDetector,
}

impl Default for Stems {
    fn default() -> Self {
        Stems {
            latin: Vec::new(),
            arabic: FxHashMap::default(),
            ar_heads: Vec::new(),
            snowball: Lang::LATIN.map(snowball),
            detector: LangDetector::default(),
        }
    }
}

impl std::fmt::Debug for Stems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // rust-stemmers' `Stemmer` has no `Debug`.
        f.debug_struct("Stems")
            .field("latin", &self.latin)
            .field("arabic", &self.arabic)
            .finish_non_exhaustive()
    }
}

impl Stems {
    /// Register the stem literal `pat` for the normalised word `token`. Returns the heads the
    /// lexicon must file it under (Latin script; none for Arabic), with its index.
    pub(super) fn add(&mut self, pat: u32, token: &str) -> (u32, Vec<String>) {
        if is_arabic(token) {
            let stem = arabic_literal_stem(token);
            if let Some(h) = ar_head(stem) {
                if self.ar_heads.is_empty() {
                    self.ar_heads = vec![0; (1 << 16) / 64];
                }
                self.ar_heads[h / 64] |= 1 << (h % 64);
            }
            let pats = self.arabic.entry(stem.into()).or_default();
            if !pats.contains(&pat) {
                pats.push(pat);
            }
            return (u32::MAX, Vec::new());
        }
        let stems = [0, 1, 2]
            .map(|i| Box::<str>::from(latin_stem(&self.snowball[i], Lang::LATIN[i], token)));
        let heads = stems.clone().map(|s| {
            let keep = s.char_indices().last().map_or(0, |(i, _)| i).max(1);
            Box::<str>::from(s.get(..keep).unwrap_or(&s))
        });
        let mut filed: Vec<String> = heads.iter().map(|h| h.to_string()).collect();
        filed.sort_unstable();
        filed.dedup();
        let idx = self.latin.len() as u32;
        self.latin.push(LatinStem { pat, stems, heads });
        (idx, filed)
    }

    pub(super) fn has_arabic(&self) -> bool {
        !self.arabic.is_empty()
    }

    /// The Latin stem literals among `candidates` (indices, possibly repeated) that `token`
    /// shares a stem with, each with the languages in which it does (see [`WordHit`]), appended
    /// to `out`. Each language's stemmer runs at most once for the token, and only if the
    /// token begins with some candidate's head in that language.
    pub(super) fn latin_hits(&self, token: &str, candidates: &[u32], out: &mut Vec<WordHit>) {
        let mut stems: [Option<Cow<'_, str>>; 3] = [None, None, None];
        let first = out.len();
        for &idx in candidates {
            let Some(lit) = self.latin.get(idx as usize) else {
                continue;
            };
            let mut langs = 0u8;
            for (i, stem) in stems.iter_mut().enumerate() {
                if token.starts_with(&*lit.heads[i])
                    && *stem
                        .get_or_insert_with(|| latin_stem(&self.snowball[i], Lang::LATIN[i], token))
                        == *lit.stems[i]
                {
                    langs |= 1 << i;
                }
            }
            // A token reaches one literal under each head it begins with: one answer.
            if langs != 0 && !out[first..].iter().any(|h| h.pat == lit.pat) {
                out.push(WordHit {
                    pat: lit.pat,
                    langs,
                });
            }
        }
    }

    /// Whether a stem hit counts in this item: when the three stemmers agree, the language
    /// cannot change the answer and is not detected (detection costs about 50 µs, a stem well
    /// under one); otherwise the item's language decides, and any of them when it is unknown.
    pub(super) fn counts(&self, hit: WordHit, lang: &mut LazyLang) -> bool {
        match hit.langs {
            0 => false,
            ALL_LANGS | ANY_LANG => true,
            langs => match lang.get(&self.detector) {
                Some(Lang::En) => langs & 1 != 0,
                Some(Lang::Fr) => langs & 2 != 0,
                Some(Lang::De) => langs & 4 != 0,
                Some(Lang::Ar) | None => true,
            },
        }
    }

    /// Patterns of the Arabic stem literals `token` matches, passed to `f`.
    pub(super) fn arabic_matches(&self, token: &str, mut f: impl FnMut(u32)) {
        let mut found = false;
        arabic_readings(token, |stem| {
            let Some(h) = ar_head(stem) else {
                return false;
            };
            if self
                .ar_heads
                .get(h / 64)
                .is_none_or(|w| w & (1 << (h % 64)) == 0)
            {
                return false;
            }
            if let Some(pats) = self.arabic.get(stem) {
                pats.iter().for_each(|&p| f(p));
                found = true;
            }
            // One reading is enough: the others could only repeat or contradict it.
            found
        });
    }
}

/// An item's language, detected on first use (see [`lang`](super::lang)).
pub(super) struct LazyLang<'d> {
    fields: [&'d str; 3],
    got: Option<Option<Lang>>,
}

impl<'d> LazyLang<'d> {
    pub(super) fn new(title: &'d str, summary: &'d str, body: &'d str) -> Self {
        LazyLang {
            fields: [title, summary, body],
            got: None,
        }
    }

    fn get(&mut self, d: &LangDetector) -> Option<Lang> {
        *self
            .got
            .get_or_insert_with(|| d.detect_fields(&self.fields))
    }

    /// The language if it was needed (for explanations).
    pub(super) fn known(&self) -> Option<Lang> {
        self.got.flatten()
    }
}

/// The stem `~word` literals are compared by, of a normalised word in `lang` (Snowball, with
/// French participles read with their accent; our light stemmer for Arabic).
pub fn stem_word(lang: Lang, token: &str) -> String {
    stem_of(lang, token).into_owned()
}

/// The stem of a normalised word in `lang`.
fn stem_of(lang: Lang, token: &str) -> std::borrow::Cow<'_, str> {
    match lang {
        Lang::Ar => std::borrow::Cow::Borrowed(arabic_literal_stem(token)),
        _ => latin_stem(&snowball(lang), lang, token),
    }
}

#[cfg(test)]
mod tests {
    use super::super::normalize::tokens;
    use super::*;

    fn norm(s: &str) -> String {
        tokens(s).join(" ")
    }

    #[test]
    fn arabic_light_stems() {
        let cases = [
            ("سفارة", "سفار"),
            ("سفارات", "سفار"),
            ("السفارة", "سفار"),
            ("سفارتها", "سفار"),
            ("متظاهرين", "متظاهر"),
            ("المتظاهرون", "متظاهر"),
            ("العراقية", "عراق"),
            ("عراقيين", "عراق"),
            ("بغداد", "بغداد"),
            ("لبنان", "لبنان"),
            ("امن", "امن"),
        ];
        for (word, want) in cases {
            assert_eq!(arabic_literal_stem(&norm(word)), norm(want), "{word}");
        }
    }

    #[test]
    fn arabic_readings_strip_clitics_but_keep_three_letters() {
        let reads = |w: &str, want: &str| arabic_readings(&norm(w), |s| s == norm(want));
        assert!(reads("والسفارات", "سفار"));
        assert!(reads("بالسفارة", "سفار"));
        assert!(reads("ببغداد", "بغداد"));
        assert!(reads("بغداد", "بغداد"));
        assert!(reads("وبغداد", "بغداد"));
        assert!(reads("للسفارة", "سفار"));
        assert!(!reads("بيت", "يت"), "no stem under three letters");
        assert!(!reads("سفر", "سفار"));
    }

    #[test]
    fn snowball_stems_of_normalised_words() {
        let cases = [
            (Lang::En, "stormed", "storm"),
            (Lang::En, "embassies", "embassi"),
            (Lang::En, "embassy", "embassi"),
            (Lang::Fr, "ambassades", "ambassad"),
            (Lang::Fr, "ambassade", "ambassad"),
            (Lang::De, "botschaften", "botschaft"),
            // Feminine participles, unaccented by normalisation, meet their verb's stem.
            (Lang::Fr, "viser", "vis"),
            (Lang::Fr, "visee", "vis"),
            (Lang::Fr, "visees", "vis"),
            (Lang::Fr, "securiser", "securis"),
            (Lang::Fr, "securisee", "securis"),
            (Lang::Fr, "attaquer", "attaqu"),
            (Lang::Fr, "attaquee", "attaqu"),
            (Lang::Fr, "evacuer", "evacu"),
            (Lang::Fr, "evacuees", "evacu"),
            (Lang::Fr, "ee", "ee"),
        ];
        for (lang, word, want) in cases {
            assert_eq!(stem_of(lang, word), want, "{word}");
        }
    }
}
