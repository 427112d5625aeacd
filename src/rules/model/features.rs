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

/// Raw term frequencies of one item: `(bucket, count)` sorted by bucket. `title` and `body`
/// are already normalised (the matcher's own buffers, or [`normalize_pair`]), each with the
/// number of its tokens to read (see [`tokens_within_cap`]).
pub fn counts(title: (&Normalized, usize), body: (&Normalized, usize)) -> Vec<(u32, u32)> {
    let mut buckets = Vec::with_capacity(3 * (title.0.stream.len() + body.0.stream.len()));
    for ((norm, read), times) in [(title, TITLE_WEIGHT), (body, 1)] {
        for i in 0..read.min(norm.tokens.len()) {
            for_each_ngram(norm.token_text(i), |g| {
                let b = bucket(g);
                buckets.extend(std::iter::repeat_n(b, times as usize));
            });
        }
    }
    buckets.sort_unstable();
    let mut out: Vec<(u32, u32)> = Vec::new();
    for b in buckets {
        match out.last_mut() {
            Some((last, c)) if *last == b => *c += 1,
            _ => out.push((b, 1)),
        }
    }
    out
}

/// Normalise a title and body as the model reads them (capped to [`MAX_CHARS`] each).
pub fn normalize_pair(title: &str, body: &str) -> (Normalized, Normalized) {
    let (mut t, mut b) = (Normalized::default(), Normalized::default());
    normalize_into(capped(title), &mut t);
    normalize_into(capped(body), &mut b);
    (t, b)
}

/// The TF-IDF vector of `counts` over a vocabulary: `idf(bucket)` is `None` for a bucket the
/// model does not know (dropped, as an unseen word is). Sublinear TF, L2-normalised.
pub fn tfidf(counts: &[(u32, u32)], idf: impl Fn(u32) -> Option<f32>) -> Vec<(u32, f32)> {
    let mut v: Vec<(u32, f32)> = counts
        .iter()
        .filter_map(|&(b, c)| idf(b).map(|w| (b, (1.0 + (c as f32).ln()) * w)))
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
