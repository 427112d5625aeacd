//! Which buckets a model knows, and where each one is in its vocabulary.
//!
//! Why not a hash map: scoring looks up every distinct n-gram bucket of an item in every
//! model, most of them unknown, and an `FxHashMap<u32, (f32, f32)>` of a shipped model's
//! ~57,000 buckets is a table of about 1 MiB, far from one cache line per lookup. A bitmap of
//! the 2^20 buckets (128 KiB) with a running count of set bits per 64-bit word (64 KiB)
//! answers "unknown" from one word and "known, at position i" with one popcount more, with no
//! hashing. Measured (`cargo bench --bench rules -- zzz`, alternate runs, 2026-12-04): with
//! the incremental n-gram hashing of the same commit, the model stage went from 41–45 to
//! 34–39 ms per MB; the bitmap's own share was not measured apart.

use super::features::BUCKET_BITS;

/// A rank bitmap over the buckets: `get(b)` is `b`'s position among the known buckets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BucketIndex {
    /// Bit `b % 64` of word `b / 64` is set when bucket `b` is known.
    words: Vec<u64>,
    /// Known buckets in the words before each word.
    ranks: Vec<u32>,
}

impl BucketIndex {
    /// The index of `buckets` (strictly ascending, each below 2^[`BUCKET_BITS`]).
    pub fn new(buckets: &[u32]) -> BucketIndex {
        let mut words = vec![0u64; 1 << (BUCKET_BITS - 6)];
        for &b in buckets {
            if let Some(w) = words.get_mut((b >> 6) as usize) {
                *w |= 1 << (b & 63);
            }
        }
        let mut ranks = Vec::with_capacity(words.len());
        let mut seen = 0u32;
        for w in &words {
            ranks.push(seen);
            seen += w.count_ones();
        }
        BucketIndex { words, ranks }
    }

    /// The position of bucket `b` among the known ones, or `None` when it is unknown.
    #[inline]
    pub fn get(&self, b: u32) -> Option<usize> {
        let at = (b >> 6) as usize;
        let word = *self.words.get(at)?;
        let below = word & ((1u64 << (b & 63)) - 1);
        (word >> (b & 63) & 1 == 1).then(|| self.ranks[at] as usize + below.count_ones() as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_ranks_among_the_known_buckets() {
        let known = [0u32, 1, 63, 64, 65, 1000, (1 << BUCKET_BITS) - 1];
        let ix = BucketIndex::new(&known);
        for (i, &b) in known.iter().enumerate() {
            assert_eq!(ix.get(b), Some(i), "{b}");
        }
        for b in [
            2u32,
            62,
            66,
            999,
            1001,
            (1 << BUCKET_BITS) - 2,
            1 << BUCKET_BITS,
        ] {
            assert_eq!(ix.get(b), None, "{b}");
        }
        assert_eq!(BucketIndex::new(&[]).get(5), None);
    }
}
