//! Which prefix literals and stem heads a token begins with: one hash probe per token.
//!
//! A prefix literal (`secur*`) is filed in the lexicon under its text, and a stem literal
//! (`~embassy`) under the heads its stems share with every inflected form (`embass`); see
//! [`lexicon`](super::lexicon). Each token must then find every such *head* that it begins
//! with and is longer than (a head as long as the token is found by the token's own lookup).
//!
//! The heads are grouped by their first four or five bytes ([`GROUP`]), and a group lists its
//! heads by length, each as the integers it is compared by: a token looks up its own first
//! bytes once and compares a few integers per head of its group. Heads shorter than that are
//! few (a prefix needs two letters, a stem head is shorter only for stems of five letters or
//! fewer) and are probed by length in a small table of their own, behind a Bloom filter.
//!
//! This replaced a probe of the lexicon at every head length the rule set has, each behind a
//! Bloom filter of (length, first bytes): a pack with stems has heads of a dozen lengths, and
//! with 1,000 stem rules of `benches/rules.rs` those probes were about a quarter of the scan.
//! The gain measured smaller than that share (2026-12-03, a scratch driver of the bench's
//! corpus and rules, alternating runs on the loaded shared machine): 1,000 stem rules about 5%
//! faster, inside the noise, and 10,000 unchanged, because the time is cache misses (this
//! group's heads, the lexicon, the stem memo) more than probes. It is kept because it is
//! exact, with no false positives to probe, and because it says which heads hold only stems,
//! whose entries a token need not read when the memo knows it.

use rustc_hash::FxHashMap;

/// Leading bytes a head group is keyed by: four, or five when four leave groups crowded.
///
/// With the 10,000 rules of `benches/rules.rs` that use stems, groups of four bytes held a
/// median 13 heads (6.5 million head comparisons a pass over the corpus), groups of five a
/// median 2 (3.4 million), and that row ran 3% and 8% faster in two sets of five alternating
/// runs (2026-12-04). But five makes every head of four bytes a short one, probed behind the
/// Bloom filter for each token: with 10 and 100 rules that cost 5–13% (a full table's
/// alternating runs). So a rule set keys its groups by five bytes only when a head's group
/// would hold more than [`CROWDED`] heads on average.
const GROUP: [usize; 2] = [4, 5];

/// Mean heads in a head's group, over the heads, above which groups are keyed by five bytes.
const CROWDED: usize = 8;

/// Where a literal's or head's entries are in the lexicon: `entries[at..at + len]`, or, when
/// `len` is 1, the entry itself in `at` (see `Lexicon::entries`). A head group's slot is
/// where its heads are in [`Heads`]' list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Slot {
    pub(super) at: u32,
    pub(super) len: u32,
}

/// A head as the lexicon files it: where its entries are, and which kinds they are, so that a
/// token whose stem hits are remembered need not read the entries of a head of stems only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Filed {
    pub(super) slot: Slot,
    /// Some entry is a prefix literal.
    pub(super) prefix: bool,
    /// Some entry is a stem literal.
    pub(super) stem: bool,
}

/// A head of at least [`Heads::group`] bytes (or any head, compared on its own).
#[derive(Debug)]
pub(super) struct Head {
    /// Its length in bytes.
    len: usize,
    /// Its first 16 bytes as two little-endian integers, zero-padded.
    words: [u64; 2],
    /// The bytes past the 16th, for the rare longer head.
    tail: Box<[u8]>,
    filed: Filed,
}

impl Head {
    pub(super) fn new(b: &[u8], filed: Filed) -> Head {
        Head {
            len: b.len(),
            words: words(b),
            tail: b.get(16..).unwrap_or(&[]).into(),
            filed,
        }
    }

    /// Whether the token `stream[from..from + len]` begins with this head and is longer.
    pub(super) fn begun_by(&self, stream: &[u8], from: usize, len: usize) -> bool {
        let token = stream.get(from..from + len).unwrap_or(&[]);
        self.len < token.len() && self.begins(words(stream.get(from..).unwrap_or(&[])), token)
    }

    /// Whether the token whose first 16 bytes are `words`, and whose bytes are `token`,
    /// begins with this head (the caller knows the token is longer).
    fn begins(&self, words: [u64; 2], token: &[u8]) -> bool {
        let n = self.len.min(16);
        let masked = [words[0] & mask(n), words[1] & mask(n.saturating_sub(8))];
        masked == self.words && (self.len <= 16 || token.get(16..self.len) == Some(&self.tail[..]))
    }
}

/// The low `n` bytes (at most 8) of a word.
fn mask(n: usize) -> u64 {
    match n {
        0 => 0,
        1..=7 => (1u64 << (8 * n)) - 1,
        _ => u64::MAX,
    }
}

/// The first 16 bytes of `b` (zero-padded) as two little-endian integers. A token is read in
/// place from its field's stream, past its end where the stream allows (the caller masks what
/// lies beyond): copying a short token into a buffer first stalled the load that followed.
fn words(b: &[u8]) -> [u64; 2] {
    let word = |at: usize| match b.get(at..at + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()) {
        Some(w) => u64::from_le_bytes(w),
        None => {
            let mut w = [0u8; 8];
            let rest = b.get(at..).unwrap_or(&[]);
            let n = rest.len().min(8);
            w[..n].copy_from_slice(&rest[..n]);
            u64::from_le_bytes(w)
        }
    };
    [word(0), word(8)]
}

/// A short head's key: its (at most seven) bytes, and its length in the top byte.
fn short_key(b: &[u8]) -> u64 {
    short_key_of(words(b)[0], b.len())
}

/// The key of the first `n` (at most seven) bytes of a token whose first eight are `first`.
/// Masked out of the word the token was already read as: building it bytewise in a buffer (a
/// `memcpy` of `n` bytes, then a 4-byte load of what it stored) stalled on store forwarding.
/// With the short heads of 10,000 stem rules of `benches/rules.rs`, `perf annotate` put a
/// fifth of the scan's samples on that load; reading the key from the word made that row
/// about 4% faster, and no other row slower (alternating runs, 2026-12-04).
fn short_key_of(first: u64, n: usize) -> u64 {
    let n = n.min(7);
    (first & mask(n)) | (n as u64) << 56
}

/// The heads of a rule set, by their first bytes.
#[derive(Debug, Default)]
pub(super) struct Heads {
    /// How many leading bytes key a group (see [`GROUP`]).
    group: usize,
    /// First `group` bytes (little-endian) → `long[at..at + len]`, shortest head first.
    groups: FxHashMap<u64, Slot>,
    long: Vec<Head>,
    /// Heads shorter than `group` bytes (see [`short_key`]).
    short: FxHashMap<u64, Filed>,
    /// Bit `n` set when some short head has `n` bytes.
    short_lens: u8,
    /// A one-hash Bloom filter (8 KiB) of the short heads' keys: the first two to four bytes
    /// of most tokens are no head, and with 10,000 rules of `benches/rules.rs` probing
    /// `short` for each of them was half the time spent finding heads.
    short_bloom: Vec<u64>,
}

/// Whether, with groups keyed by `group` bytes, a head's group would hold more than
/// [`CROWDED`] heads on average over the heads (the groups' squared sizes summed, over the
/// heads grouped).
fn crowded(heads: &[(String, Filed)], group: usize) -> bool {
    let mut sizes: FxHashMap<&[u8], usize> = FxHashMap::default();
    for (text, _) in heads {
        if let Some(key) = text.as_bytes().get(..group) {
            *sizes.entry(key).or_default() += 1;
        }
    }
    let grouped: usize = sizes.values().sum();
    sizes.values().map(|s| s * s).sum::<usize>() > CROWDED * grouped
}

/// Bit of [`Heads::short_bloom`] for a short head's key.
fn short_bit(key: u64) -> usize {
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 48) as usize
}

impl Heads {
    /// The heads from `(text, slot)` pairs, in any order.
    pub(super) fn new(mut heads: Vec<(String, Filed)>) -> Heads {
        let group = if crowded(&heads, GROUP[0]) {
            GROUP[1]
        } else {
            GROUP[0]
        };
        let mut h = Heads {
            group,
            ..Heads::default()
        };
        heads.sort_unstable_by(|a, b| {
            let group = |t: &str| t.as_bytes().get(..group).map(words);
            (group(&a.0), a.0.len()).cmp(&(group(&b.0), b.0.len()))
        });
        for (text, filed) in heads {
            let b = text.as_bytes();
            if b.len() < group {
                let key = short_key(b);
                if h.short_bloom.is_empty() {
                    h.short_bloom = vec![0; (1 << 16) / 64];
                }
                h.short_bloom[short_bit(key) / 64] |= 1 << (short_bit(key) % 64);
                h.short.insert(key, filed);
                h.short_lens |= 1 << b.len();
                continue;
            }
            let key = words(b)[0] & mask(group);
            let at = h.long.len() as u32;
            h.groups.entry(key).or_insert(Slot { at, len: 0 }).len += 1;
            h.long.push(Head::new(b, filed));
        }
        h
    }

    /// How many heads.
    pub(super) fn len(&self) -> usize {
        self.long.len() + self.short.len()
    }

    /// Each head that the token `stream[from..from + len]` begins with and is longer than,
    /// shortest first.
    pub(super) fn each<'a>(
        &'a self,
        stream: &[u8],
        from: usize,
        len: usize,
        mut f: impl FnMut(&'a Filed),
    ) {
        let Some(token) = stream.get(from..from + len) else {
            return;
        };
        if self.short_lens == 0 && (len <= self.group || self.long.is_empty()) {
            return;
        }
        let w = words(stream.get(from..).unwrap_or(&[]));
        if self.short_lens != 0 {
            for n in 1..self.group.min(len) {
                if self.short_lens & (1 << n) == 0 {
                    continue;
                }
                let key = short_key_of(w[0], n);
                let bit = short_bit(key);
                let filed = self
                    .short_bloom
                    .get(bit / 64)
                    .is_some_and(|w| w & (1 << (bit % 64)) != 0);
                if let Some(h) = filed.then(|| self.short.get(&key)).flatten() {
                    f(h);
                }
            }
        }
        if len <= self.group {
            return;
        }
        let Some(&g) = self.groups.get(&(w[0] & mask(self.group))) else {
            return;
        };
        for head in self
            .long
            .get(g.at as usize..(g.at + g.len) as usize)
            .unwrap_or(&[])
        {
            if head.len >= len {
                break;
            }
            if head.begins(w, token) {
                f(&head.filed);
            }
        }
    }
}

/// The heads of the lazy prefix literals one item needs (see `Lexicon::scan_lazy`), built for
/// that item: a handful, where [`Heads`] holds every head of a rule set.
///
/// A token tests one bit of a small Bloom filter of the heads' first four bytes (it stays in
/// L1), and only a token that passes looks for those bytes among the sorted heads. Building a
/// [`Heads`] per item instead would cost a hash map and its hashing for every item; searching
/// the rule set's heads of every lazy prefix, as the scan did for more than eight, cost every
/// token of the item a second probe of a table in L2: with 10,000 plain rules of
/// `benches/rules.rs` that was 13% of the row's time.
#[derive(Debug, Default)]
pub(super) struct ItemHeads<'a> {
    /// A one-hash Bloom filter of `keyed`'s first four bytes.
    bloom: Vec<u64>,
    /// `64 - log2(bits of bloom)`: the filter's bit is the top bits of a multiplied key.
    shift: u32,
    /// Heads of four bytes or more, by their first four bytes (little-endian), with their
    /// pattern.
    keyed: Vec<(u32, u32, &'a Head)>,
    /// Shorter heads, with their pattern, compared with every token (a prefix literal of two
    /// or three bytes is rare).
    short: Vec<(u32, &'a Head)>,
}

/// Bits of [`ItemHeads::bloom`] per keyed head: one token in sixteen or fewer that begins with
/// none of them gets past the filter.
const ITEM_BITS_PER_HEAD: usize = 16;

impl<'a> ItemHeads<'a> {
    /// The heads `(pattern, head)`.
    pub(super) fn new(heads: impl IntoIterator<Item = (u32, &'a Head)>) -> ItemHeads<'a> {
        let mut h = ItemHeads::default();
        for (pat, head) in heads {
            match head.len {
                4.. => h.keyed.push((head.words[0] as u32, pat, head)),
                _ => h.short.push((pat, head)),
            }
        }
        h.keyed.sort_unstable_by_key(|&(key, pat, _)| (key, pat));
        let bits = (h.keyed.len() * ITEM_BITS_PER_HEAD)
            .next_power_of_two()
            .max(512);
        h.shift = 64 - bits.trailing_zeros();
        h.bloom = vec![0; bits / 64];
        for &(key, _, _) in &h.keyed {
            let b = h.bit(key);
            h.bloom[b / 64] |= 1 << (b % 64);
        }
        h
    }

    fn bit(&self, key: u32) -> usize {
        (u64::from(key).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    /// The pattern of each head that the token `stream[from..from + len]` begins with and is
    /// longer than.
    pub(super) fn each(&self, stream: &[u8], from: usize, len: usize, mut f: impl FnMut(u32)) {
        for &(pat, head) in &self.short {
            if head.begun_by(stream, from, len) {
                f(pat);
            }
        }
        if len <= 4 || self.keyed.is_empty() {
            return;
        }
        // The token's first four bytes alone until the filter lets it by: most tokens stop
        // there.
        let Some(key) = (stream.get(from..from + 4)).and_then(|b| b.try_into().ok()) else {
            return;
        };
        let key = u32::from_le_bytes(key);
        let b = self.bit(key);
        if self
            .bloom
            .get(b / 64)
            .is_none_or(|v| v & (1 << (b % 64)) == 0)
        {
            return;
        }
        let Some(token) = stream.get(from..from + len) else {
            return;
        };
        let w = words(stream.get(from..).unwrap_or(&[]));
        let at = self.keyed.partition_point(|&(k, _, _)| k < key);
        for &(k, pat, head) in self.keyed.get(at..).unwrap_or(&[]) {
            if k != key {
                break;
            }
            if head.len < len && head.begins(w, token) {
                f(pat);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Finds each token's heads among `texts`, checks them against a plain `starts_with`
    /// scan, and returns the group width the heads chose.
    fn check(texts: &[String], tokens: &[&str]) -> usize {
        let heads = Heads::new(
            texts
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let slot = Slot {
                        at: i as u32,
                        len: 1,
                    };
                    let filed = Filed {
                        slot,
                        prefix: true,
                        stem: false,
                    };
                    (t.clone(), filed)
                })
                .collect(),
        );
        let owned: Vec<Head> = (texts.iter())
            .map(|t| Head::new(t.as_bytes(), Filed::default()))
            .collect();
        let few = ItemHeads::new((owned.iter().enumerate()).map(|(i, h)| (i as u32, h)));
        for token in tokens {
            let mut got = Vec::new();
            // Also as a token inside a stream, with text after it.
            let stream = format!(" {token} abcdefghijklmnopqrstuvwxyz");
            heads.each(stream.as_bytes(), 1, token.len(), |h| {
                got.push(texts[h.slot.at as usize].as_str())
            });
            let mut want: Vec<&str> = texts
                .iter()
                .map(String::as_str)
                .filter(|t| t.len() < token.len() && token.starts_with(t))
                .collect();
            want.sort_by_key(|t| t.len());
            assert_eq!(got, want, "{token}");
            // The same heads as one item's.
            let mut found = Vec::new();
            few.each(stream.as_bytes(), 1, token.len(), |p| {
                found.push(texts[p as usize].as_str())
            });
            found.sort_by_key(|t| t.len());
            assert_eq!(found, want, "{token}, as an item's heads");
        }
        heads.group
    }

    const TEXTS: [&str; 15] = [
        "ab",
        "abc",
        "abcd",
        "abcde",
        "abcdefgh",
        "abcdefghi",
        "abcdefghijklmnop",
        "abcdefghijklmnopq",
        "abcdefghijklmnopqrs",
        "abcx",
        "abd",
        "b",
        "é",
        "éc",
        "ابن",
    ];

    const TOKENS: [&str; 16] = [
        "abcdefghijklmnopqrstu",
        "abcdefghijklmnopqrs",
        "abcdefghijklmnopqz",
        "abcdefgh",
        "abcdx",
        "abcdxyz",
        "abcdakq",
        "abcdjtz",
        "abcxy",
        "abd",
        "ab",
        "b",
        "bb",
        "éco",
        "ابناء",
        "zzzzzzz",
    ];

    #[test]
    fn finds_every_shorter_head_and_only_those() {
        let texts: Vec<String> = TEXTS.iter().map(|t| t.to_string()).collect();
        assert_eq!(check(&texts, &TOKENS), GROUP[0]);
    }

    #[test]
    fn crowded_groups_are_keyed_by_five_bytes_and_find_the_same() {
        // 100 heads behind "abcd": groups of four bytes would hold about 100 heads each.
        let mut texts: Vec<String> = TEXTS.iter().map(|t| t.to_string()).collect();
        for a in 'a'..='j' {
            for b in 'k'..='t' {
                texts.push(format!("abcd{a}{b}"));
            }
        }
        assert_eq!(check(&texts, &TOKENS), GROUP[1]);
    }

    #[test]
    fn short_keys_tell_lengths_apart() {
        assert_ne!(short_key(b"a"), short_key(b"a\0"));
        assert_ne!(short_key(b"ab"), short_key(b"ba"));
        assert_eq!(short_key(b"abc"), short_key(b"abc"));
    }
}
