//! Features of the learned second stage: hashed character n-grams of the normalised words.
//!
//! Why character n-grams: the rules miss stories whose words they do not list (inflections,
//! clitics, compounds in four languages); the 3–5 letter pieces of a word are shared by its
//! forms (`ambassade`, `ambassades`; `السفارة`, `والسفارة`; `Botschaftsgelände`), so a linear
//! model over them generalises from the labelled cases to forms nobody wrote down.
//!
//! The recipe mirrors scikit-learn's `char_wb` analyser, which the offline experiment used:
//! - each field is normalised with the rules' own normaliser ([`normalize`]: case folded,
//!   Latin accents dropped, Arabic letter variants unified), so the model sees words exactly
//!   as the matcher does, and every n-gram maps back to a word of the original text;
//! - each word is padded with one space on each side and cut into every run of 3, 4 and 5
//!   characters (a padded word shorter than `n` gives itself once, as `char_wb` does);
//! - each n-gram is hashed with 64-bit FNV-1a into 2^20 buckets; the title counts twice;
//! - a bucket's value is `(1 + ln tf) × idf`, and the vector is L2-normalised over the buckets
//!   the model knows (its vocabulary), as a fitted `TfidfVectorizer` does.

use super::super::normalize::{normalize_into, Normalized};

/// Number of hash buckets (2^20): few collisions among the ~10^5 n-grams of the training set.
pub const BUCKET_BITS: u32 = 20;
/// The shortest n-gram.
pub const MIN_N: usize = 3;
/// The longest n-gram.
pub const MAX_N: usize = 5;
/// How many times the title's n-grams count: headlines say what the story is about.
pub const TITLE_WEIGHT: u32 = 2;
/// Characters of each field (title, body) the model reads. Items are already bounded upstream
/// (`fetch.max_page_bytes`), but a 60 MiB page would still cost ~1 s here; the first 20,000
/// characters (3,000 words, longer than nearly every news story) are what decides relevance,
/// and they bound this stage's cost per item.
pub const MAX_CHARS: usize = 20_000;

/// 64-bit FNV-1a of `bytes`. Written out rather than `std`'s `DefaultHasher` because a model
/// file stores bucket numbers: the hash must give the same bucket on every build, and
/// `DefaultHasher`'s algorithm is explicitly not stable across Rust releases.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The bucket of one n-gram.
pub fn bucket(ngram: &str) -> u32 {
    (fnv1a(ngram.as_bytes()) & ((1 << BUCKET_BITS) - 1)) as u32
}

/// Calls `f(ngram)` for each character n-gram of `word` padded with one space each side.
pub fn for_each_ngram(word: &str, mut f: impl FnMut(&str)) {
    let padded = format!(" {word} ");
    // Byte offsets of each character, and the end.
    let cuts: Vec<usize> = padded
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(padded.len()))
        .collect();
    let chars = cuts.len() - 1;
    for n in MIN_N..=MAX_N {
        if chars <= n {
            f(&padded);
            break;
        }
        for i in 0..=chars - n {
            f(&padded[cuts[i]..cuts[i + n]]);
        }
    }
}

/// The part of `text` the model reads: at most [`MAX_CHARS`] characters, cut on a char
/// boundary.
pub fn capped(text: &str) -> &str {
    // A character is at least one byte: a text no longer than the cap in bytes is whole.
    if text.len() <= MAX_CHARS {
        return text;
    }
    match text.char_indices().nth(MAX_CHARS) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

/// How many of `norm`'s tokens (the normalised `text`) lie within the first [`MAX_CHARS`]
/// characters: the model reads those only, even when the matcher normalised the whole field.
pub fn tokens_within_cap(text: &str, norm: &Normalized) -> usize {
    let cap = capped(text).len();
    norm.tokens.partition_point(|t| t.orig_end as usize <= cap)
}

/// Reused buffers of [`counts`], one set per thread: an item's n-gram count allocates only
/// its result.
#[derive(Default)]
struct Scratch {
    /// The word padded with a space on each side.
    padded: Vec<u8>,
    /// Byte offset of each character of `padded`, and its length.
    cuts: Vec<usize>,
    /// The bucket of every n-gram of the item (the title's twice), then sorted.
    buckets: Vec<u32>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

/// Calls `f(bucket)` for each n-gram [`for_each_ngram`] gives (the same multiset, in another
/// order), without building the n-grams: from each character of the padded word, one FNV-1a
/// state runs over the next five characters and yields its bucket after the 3rd, 4th and 5th,
/// so each byte is hashed at most 5 times instead of 12 and nothing is allocated.
fn for_each_bucket(word: &str, s: &mut Scratch, mut f: impl FnMut(u32)) {
    const MASK: u64 = (1 << BUCKET_BITS) - 1;
    s.padded.clear();
    s.padded.push(b' ');
    s.padded.extend_from_slice(word.as_bytes());
    s.padded.push(b' ');
    s.cuts.clear();
    // A UTF-8 character starts at every byte that is not a continuation byte (10xxxxxx).
    s.cuts
        .extend((0..s.padded.len()).filter(|&i| s.padded[i] & 0xc0 != 0x80));
    s.cuts.push(s.padded.len());
    let chars = s.cuts.len() - 1;
    if chars < MIN_N {
        f((fnv1a(&s.padded) & MASK) as u32);
        return;
    }
    for i in 0..=chars - MIN_N {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for n in 1..=MAX_N.min(chars - i) {
            for &b in &s.padded[s.cuts[i + n - 1]..s.cuts[i + n]] {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
            if n >= MIN_N {
                f((h & MASK) as u32);
            }
        }
    }
}

/// Raw term frequencies of one item: `(bucket, count)` sorted by bucket. `title` and `body`
/// are already normalised (the matcher's own buffers, or [`normalize_pair`]), each with the
/// number of its tokens to read (see [`tokens_within_cap`]).
pub fn counts(title: (&Normalized, usize), body: (&Normalized, usize)) -> Vec<(u32, u32)> {
    SCRATCH.with(|s| {
        let s = &mut *s.borrow_mut();
        let mut buckets = std::mem::take(&mut s.buckets);
        buckets.clear();
        for ((norm, read), times) in [(title, TITLE_WEIGHT), (body, 1)] {
            for i in 0..read.min(norm.tokens.len()) {
                for_each_bucket(norm.token_text(i), s, |b| {
                    buckets.extend(std::iter::repeat_n(b, times as usize));
                });
            }
        }
        buckets.sort_unstable();
        let mut out: Vec<(u32, u32)> = Vec::with_capacity(buckets.len());
        for &b in &buckets {
            match out.last_mut() {
                Some((last, c)) if *last == b => *c += 1,
                _ => out.push((b, 1)),
            }
        }
        s.buckets = buckets;
        out
    })
}

/// Normalise a title and body as the model reads them (capped to [`MAX_CHARS`] each).
pub fn normalize_pair(title: &str, body: &str) -> (Normalized, Normalized) {
    let (mut t, mut b) = (Normalized::default(), Normalized::default());
    normalize_into(capped(title), &mut t);
    normalize_into(capped(body), &mut b);
    (t, b)
}

/// The sublinear term frequency of a count: `1 + ln tf`, in `f32` as the model is.
pub fn sublinear(count: u32) -> f32 {
    1.0 + (count as f32).ln()
}

/// The TF-IDF vector of `counts` over a vocabulary: `idf(bucket)` is `None` for a bucket the
/// model does not know (dropped, as an unseen word is). Sublinear TF, L2-normalised.
pub fn tfidf(counts: &[(u32, u32)], idf: impl Fn(u32) -> Option<f32>) -> Vec<(u32, f32)> {
    let mut v: Vec<(u32, f32)> = counts
        .iter()
        .filter_map(|&(b, c)| idf(b).map(|w| (b, sublinear(c) * w)))
        .collect();
    let norm = v
        .iter()
        .map(|(_, x)| f64::from(*x).powi(2))
        .sum::<f64>()
        .sqrt();
    if norm > 0.0 {
        for (_, x) in &mut v {
            *x = (f64::from(*x) / norm) as f32;
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::super::super::normalize::normalize;
    use super::*;

    fn grams(word: &str) -> Vec<String> {
        let mut v = Vec::new();
        for_each_ngram(word, |g| v.push(g.to_string()));
        v
    }

    #[test]
    fn ngrams_of_a_word_are_char_wb_padded() {
        assert_eq!(
            grams("zone"),
            [" zo", "zon", "one", "ne ", " zon", "zone", "one ", " zone", "zone "]
        );
        // A padded word of at most n characters gives itself once.
        assert_eq!(grams("a"), [" a "]);
        assert_eq!(grams("ab"), [" ab", "ab ", " ab "]);
    }

    #[test]
    fn arabic_words_are_cut_by_characters_after_normalisation() {
        let n = normalize("السفارة");
        assert_eq!(n.token_text(0), "السفاره");
        let g = grams(n.token_text(0));
        assert_eq!(&g[..3], [" ال", "الس", "لسف"]);
        assert_eq!(g.len(), 7 + 6 + 5);
    }

    /// The rolling hash gives the buckets of exactly the n-grams `for_each_ngram` cuts.
    #[test]
    fn buckets_are_those_of_the_ngrams() {
        let mut s = Scratch::default();
        for word in [
            "",
            "a",
            "ab",
            "abc",
            "zone",
            "ambassades",
            "السفاره",
            "éa",
            "x😀yé",
        ] {
            let mut want = Vec::new();
            for_each_ngram(word, |g| want.push(bucket(g)));
            let mut got = Vec::new();
            for_each_bucket(word, &mut s, |b| got.push(b));
            want.sort_unstable();
            got.sort_unstable();
            assert_eq!(got, want, "{word}");
        }
    }

    #[test]
    fn fnv1a_and_buckets_are_stable() {
        // Published FNV-1a 64 test vectors: these must never change, or models break.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(bucket(" zo"), (fnv1a(" zo".as_bytes()) & 0xf_ffff) as u32);
        assert_eq!(bucket("فار"), (fnv1a("فار".as_bytes()) & 0xf_ffff) as u32);
    }

    #[test]
    fn title_counts_twice_and_vector_is_unit_length() {
        let (t, b) = normalize_pair("Zone", "zone");
        let c = counts((&t, 1), (&b, 1));
        assert!(c.iter().all(|&(_, n)| n == 3), "{c:?}");
        assert_eq!(c.len(), 9);
        let v = tfidf(&c, |_| Some(2.0));
        let len: f32 = v.iter().map(|(_, x)| x * x).sum();
        assert!((len - 1.0).abs() < 1e-5);
        assert!(tfidf(&c, |_| None).is_empty());
    }

    #[test]
    fn capped_cuts_on_a_char_boundary() {
        let long = "é".repeat(MAX_CHARS + 10);
        assert_eq!(capped(&long).chars().count(), MAX_CHARS);
        assert_eq!(capped("short"), "short");
    }
}
