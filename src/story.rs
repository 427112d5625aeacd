//! Story: telling when two articles are the same story.
//!
//! Wire copy is republished by many outlets under different URLs and headlines, with a
//! dateline added, a sentence trimmed or a paragraph cut. An analyst wants one alert per
//! story, so every kept article carries a MinHash signature of its text's 3-word shingles,
//! and two articles are one story when their estimated Jaccard similarity is at least
//! [`MIN_SIMILARITY`].
//!
//! Why MinHash rather than SimHash: news articles are short (a few hundred words), and on
//! short texts a 64-bit SimHash moves by 5–10 bits when one sentence of five is cut, which
//! overlaps with what separates related stories. MinHash estimates the shingle overlap
//! itself (standard error about 0.06 with [`SIGNATURE_LEN`] hashes): a copy with a new
//! dateline scores about 0.95, a copy missing its last paragraph 0.7–0.8, and a different
//! story on the same topic below 0.1. Texts under [`MIN_WORDS`] words have too few shingles
//! for a stable estimate and only group when nearly identical ([`SHORT_SIMILARITY`]).

/// Hashes in a signature.
pub const SIGNATURE_LEN: usize = 64;
/// Estimated Jaccard similarity at or above which two articles are one story.
pub const MIN_SIMILARITY: f64 = 0.5;
/// Below this many words, texts group only at [`SHORT_SIMILARITY`].
pub const MIN_WORDS: usize = 40;
/// Similarity required when either text is short.
pub const SHORT_SIMILARITY: f64 = 0.9;
/// How far back (seconds) a new article is compared with kept ones.
pub const WINDOW_SECS: i64 = 7 * 86_400;

/// A text's MinHash signature and its length in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// MinHash values of the text's shingles.
    pub signature: Vec<u32>,
    /// Words in the text; short texts are never grouped.
    pub words: usize,
}

impl Fingerprint {
    /// The signature as stored (little-endian u32s).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.signature
            .iter()
            .flat_map(|h| h.to_le_bytes())
            .collect()
    }

    /// Reads a stored signature; `None` when it is not one.
    pub fn from_bytes(b: &[u8], words: usize) -> Option<Fingerprint> {
        if b.len() != SIGNATURE_LEN * 4 {
            return None;
        }
        let signature = b
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Some(Fingerprint { signature, words })
    }

    /// Estimated Jaccard similarity of the two texts' shingle sets.
    pub fn similarity(&self, other: &Fingerprint) -> f64 {
        let same = self
            .signature
            .iter()
            .zip(&other.signature)
            .filter(|(a, b)| a == b)
            .count();
        same as f64 / SIGNATURE_LEN as f64
    }
}

/// Fingerprints a text: lower-cased alphanumeric words, 3-word shingles, MinHash.
pub fn fingerprint(text: &str) -> Fingerprint {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let mut signature = vec![u32::MAX; SIGNATURE_LEN];
    let mut add = |h: u64| {
        for (i, slot) in signature.iter_mut().enumerate() {
            // One cheap, independent-enough permutation per slot.
            let v = mix(h ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)) as u32;
            if v < *slot {
                *slot = v;
            }
        }
    };
    if words.len() < 3 {
        for w in &words {
            add(fnv1a(FNV_OFFSET, w.as_bytes()));
        }
    } else {
        for s in words.windows(3) {
            let mut h = FNV_OFFSET;
            for w in s {
                h = fnv1a(h, w.as_bytes());
                h = fnv1a(h, b" ");
            }
            add(h);
        }
    }
    Fingerprint {
        signature,
        words: words.len(),
    }
}

/// Fewest words of headline and distinctive text an article needs to be grouped with
/// others: below it, sharing a few words proves nothing, and each article alerts on its own.
pub const MIN_STORY_WORDS: usize = 8;

/// The story fingerprint of an article: its headline and its distinctive text (the caller
/// leaves out text the feed repeats on every item, "Read the full story on our website.").
///
/// Text alone was used before, and three unrelated items whose summaries were all the same
/// boilerplate became one story with one alert. The headline tells such items apart, and a
/// syndicated copy with a different headline still groups: over a wire story of a hundred
/// words the headlines move the estimate by about 0.1. With fewer than [`MIN_STORY_WORDS`]
/// words the fingerprint has `words = 0`, which [`same_story`] never groups.
pub fn article_fingerprint(title: &str, text: &str) -> Fingerprint {
    let f = fingerprint(&format!("{title}\n\n{text}"));
    if f.words < MIN_STORY_WORDS {
        Fingerprint { words: 0, ..f }
    } else {
        f
    }
}

/// Rows (hashes) per band of the locality-sensitive index. With 2 rows and
/// [`SIGNATURE_LEN`]` / 2` = 32 bands, two texts of similarity 0.5 share at least one band
/// with probability 1 − (1 − 0.5²)³² ≈ 0.9999, unrelated ones (similarity ≈ 0.02) with about
/// 1 %: candidates are then checked with [`same_story`].
pub const BAND_ROWS: usize = 2;

impl Fingerprint {
    /// The signature's band keys, one per band (band number mixed in), for the index.
    pub fn bands(&self) -> Vec<i64> {
        self.signature
            .chunks(BAND_ROWS)
            .enumerate()
            .map(|(i, rows)| {
                let mut h = FNV_OFFSET;
                h = fnv1a(h, &(i as u32).to_le_bytes());
                for r in rows {
                    h = fnv1a(h, &r.to_le_bytes());
                }
                mix(h) as i64
            })
            .collect()
    }
}

/// Whether two fingerprints are one story.
pub fn same_story(a: &Fingerprint, b: &Fingerprint) -> bool {
    if a.words == 0 || b.words == 0 {
        return false;
    }
    let need = if a.words < MIN_WORDS || b.words < MIN_WORDS {
        SHORT_SIMILARITY
    } else {
        MIN_SIMILARITY
    };
    a.similarity(b) >= need
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a: stable across builds and versions (signatures are stored).
fn fnv1a(mut h: u64, b: &[u8]) -> u64 {
    for &x in b {
        h ^= u64::from(x);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A 64-bit finaliser (splitmix64) so every output bit depends on every input bit.
fn mix(mut h: u64) -> u64 {
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WIRE: &str = "Two rockets struck inside Baghdad's heavily fortified Green Zone late on Sunday, \
        landing near the US embassy compound, Iraqi security sources said. The embassy's air defence \
        system was activated and sirens sounded across the district, which houses government buildings \
        and foreign missions. No group claimed responsibility for the attack, the latest in a series of \
        rocket attacks targeting the diplomatic area and US forces in Iraq. Officials said there were no \
        casualties, but a car parked near the compound was damaged. Washington has repeatedly blamed \
        Iran-backed militias for such attacks and has threatened to close its embassy if they continue.";

    const OTHER: &str = "Iraq's parliament approved a new budget on Monday after months of wrangling \
        over oil revenue sharing with the Kurdistan region, clearing the way for delayed salary payments. \
        The vote came after the prime minister met leaders of the main blocs in the Green Zone, where \
        parliament sits, and promised to fund reconstruction in provinces retaken from the Islamic State \
        group. Lawmakers said the budget assumes an oil price of 70 dollars a barrel and exports of 3.4 \
        million barrels a day, and economists warned that a fall in prices would widen the deficit.";

    #[test]
    fn syndicated_copies_are_one_story() {
        let a = fingerprint(WIRE);
        let dateline = fingerprint(&format!("BAGHDAD (AP) — {WIRE}"));
        let trimmed = fingerprint(
            WIRE.rsplit_once(". Washington")
                .map_or(WIRE, |(head, _)| head),
        );
        let retitled = fingerprint(&format!("Rockets hit Green Zone near US embassy\n\n{WIRE}"));
        for (name, b) in [
            ("dateline", dateline),
            ("trimmed", trimmed),
            ("retitled", retitled),
        ] {
            let sim = a.similarity(&b);
            assert!(same_story(&a, &b), "{name}: similarity {sim}");
        }
    }

    #[test]
    fn different_stories_are_not() {
        let a = fingerprint(WIRE);
        let b = fingerprint(OTHER);
        let sim = a.similarity(&b);
        assert!(!same_story(&a, &b), "similarity {sim}");
        assert!(sim < 0.2, "unrelated stories are far apart: {sim}");
    }

    #[test]
    fn short_texts_group_only_when_identical() {
        let a = fingerprint("Rockets hit Baghdad's Green Zone");
        assert!(same_story(
            &a,
            &fingerprint("rockets hit baghdad's green zone")
        ));
        assert!(!same_story(
            &a,
            &fingerprint("Rockets hit Baghdad's airport")
        ));
        assert!(!same_story(&fingerprint(""), &fingerprint("")));
    }

    #[test]
    fn headlines_tell_boilerplate_items_apart() {
        // The caller leaves shared boilerplate out; headlines alone never group.
        let a = article_fingerprint("Rockets strike Baghdad's Green Zone overnight", "");
        let b = article_fingerprint("Drone downed near the US embassy in the Green Zone", "");
        assert!(!same_story(&a, &b));
        // Boilerplate the caller could not spot (one item per feed) does not merge them either.
        let teaser = "Read the full story on our website.";
        let a = article_fingerprint("Rockets strike Baghdad's Green Zone overnight", teaser);
        let b = article_fingerprint("Drone downed near the US embassy in the Green Zone", teaser);
        assert!(!same_story(&a, &b), "similarity {}", a.similarity(&b));
    }

    #[test]
    fn too_little_text_is_never_grouped() {
        let a = article_fingerprint("Live updates", "");
        assert_eq!(a.words, 0);
        assert!(!same_story(&a, &article_fingerprint("Live updates", "")));
    }

    #[test]
    fn syndicated_copies_with_other_headlines_are_one_story() {
        let a = article_fingerprint("Rockets hit Baghdad's Green Zone", WIRE);
        let b = article_fingerprint(
            "Rocket attack near US embassy in Baghdad",
            &format!("BAGHDAD (Reuters) - {WIRE}"),
        );
        assert!(same_story(&a, &b), "similarity {}", a.similarity(&b));
        let c = article_fingerprint("Budget passes", OTHER);
        assert!(!same_story(&a, &c));
    }

    #[test]
    fn fingerprints_are_stable() {
        // Stored in the database: a change here must come with a migration.
        assert_eq!(fingerprint("one two three four").words, 4);
        assert_eq!(fingerprint("a b c"), fingerprint("A, B; C!"));
        let f = fingerprint(WIRE);
        assert_eq!(
            Fingerprint::from_bytes(&f.to_bytes(), f.words),
            Some(f.clone())
        );
        assert_eq!(f.signature[0], fingerprint(WIRE).signature[0]);
    }
}
