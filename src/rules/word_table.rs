//! The stem memo's table of words: open addressing that can be asked, a few words ahead,
//! to start loading where a word will be looked up.
//!
//! `hashbrown` (through `FxHashMap`) held the memo before. With 10,000 stem rules of
//! `benches/rules.rs` the memo holds 134,000 words, 6.3 MB, and each token of the corpus is
//! one lookup in it: most land outside the core's 2 MB L2 cache, and the scan waited on them.
//! Looking a field's words up before using their answers did not help (2026-12-05): the CPU
//! already overlaps what its window allows. A prefetch instruction issued eight tokens ahead
//! does help, but needs the address of a word's slot, which `hashbrown` does not expose. So
//! the table is our own: the same table without the prefetch ran as fast as `hashbrown`'s
//! (100 against 99–101 MB/s), and with it at 114–121 (alternating runs, 2026-12-05). A plain
//! load in place of the prefetch made it slower (84–89): a load that misses holds up the
//! instructions behind it, and a prefetch does not.
//!
//! Linear probing, at most three quarters full: a word and its answer take 24 bytes, so the
//! slot a word hashes to and the few after it that a lookup reads are mostly one cache line,
//! the one the prefetch loaded.

/// A word's key (its first 16 bytes as two integers, see `MemoKey`) and where its answer is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Entry {
    /// Never 0 for a word: its first byte is not NUL. 0 marks an empty slot.
    k0: u64,
    k1: u64,
    at: u32,
    len: u32,
}

/// Word → `(at, len)`, where the memo keeps the word's answer.
#[derive(Default)]
pub(super) struct WordTable {
    /// A power of two long, or empty.
    slots: Vec<Entry>,
    len: usize,
}

impl std::fmt::Debug for WordTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WordTable")
            .field("len", &self.len)
            .field("slots", &self.slots.len())
            .finish()
    }
}

/// Fewest slots a table grows to, so a small memo does not double over and over.
const MIN_SLOTS: usize = 1024;

impl WordTable {
    /// Words held.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Slots held (for the memo's bound on memory).
    #[cfg(test)]
    pub(super) fn slots(&self) -> usize {
        self.slots.len()
    }

    /// The slot a key hashes to: the high bits of a multiplicative hash of both integers.
    fn home(&self, (k0, k1): (u64, u64)) -> usize {
        let h = (k0.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ k1).wrapping_mul(0xF135_7AEA_2E62_A9C5);
        match self.slots.len().trailing_zeros() {
            0 => 0,
            bits => (h >> (64 - bits)) as usize,
        }
    }

    /// Where `key` is kept, if it is.
    pub(super) fn get(&self, key: (u64, u64)) -> Option<(u32, u32)> {
        if self.slots.is_empty() || key.0 == 0 {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        loop {
            let e = self.slots.get(i)?;
            if e.k0 == key.0 && e.k1 == key.1 {
                return Some((e.at, e.len));
            }
            if e.k0 == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    /// Keeps `key` → `(at, len)`. The caller inserts a key once (after `get` missed it); a key
    /// whose first integer is 0 is not a word and is not kept.
    pub(super) fn insert(&mut self, key: (u64, u64), at: u32, len: u32) {
        if key.0 == 0 {
            return;
        }
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        while let Some(e) = self.slots.get_mut(i) {
            if e.k0 == 0 {
                *e = Entry {
                    k0: key.0,
                    k1: key.1,
                    at,
                    len,
                };
                self.len += 1;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let old = std::mem::take(&mut self.slots);
        self.slots = vec![Entry::default(); (old.len() * 2).max(MIN_SLOTS)];
        self.len = 0;
        for e in old.into_iter().filter(|e| e.k0 != 0) {
            self.insert((e.k0, e.k1), e.at, e.len);
        }
    }

    /// Forgets every word, keeping the slots.
    pub(super) fn clear(&mut self) {
        self.slots.fill(Entry::default());
        self.len = 0;
    }

    /// Starts loading the cache line of `key`'s slot, for a lookup a few words later.
    #[inline]
    pub(super) fn prefetch(&self, key: (u64, u64)) {
        if !self.slots.is_empty() {
            prefetch(self.slots.as_ptr().wrapping_add(self.home(key)));
        }
    }
}

/// Asks the CPU to bring the cache line of `p` closer, and does nothing else.
///
/// The crate's one `unsafe` block (`unsafe_code` is denied everywhere else, see `Cargo.toml`):
/// there is no stable safe prefetch in `std` (`core::hint::prefetch_read` is unstable), and
/// the crates that wrap one are unmaintained or need nightly.
#[inline]
#[allow(unsafe_code)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is a hint. It reads no memory into the program and never faults,
    // whatever the address; `p` here is in or one past the table's slots anyway.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u64) -> (u64, u64) {
        // Words' keys are their bytes: many share the first integer, differ in the second.
        (0x6162_6364 + (i % 7), i / 7)
    }

    #[test]
    fn keeps_every_word_through_growth_and_forgets_on_clear() {
        let mut t = WordTable::default();
        assert_eq!(t.get(key(1)), None);
        t.prefetch(key(1));
        for i in 0..10_000u64 {
            assert_eq!(t.get(key(i)), None, "{i}");
            t.insert(key(i), i as u32, (i % 3) as u32);
            assert!(t.len() * 4 <= t.slots() * 3);
            t.prefetch(key(i + 1));
        }
        assert_eq!(t.len(), 10_000);
        for i in 0..10_000u64 {
            assert_eq!(t.get(key(i)), Some((i as u32, (i % 3) as u32)), "{i}");
        }
        assert_eq!(t.get(key(10_000)), None);
        let slots = t.slots();
        t.clear();
        assert_eq!((t.len(), t.slots()), (0, slots));
        assert!((0..10_000).all(|i| t.get(key(i)).is_none()));
        t.insert(key(5), 1, 2);
        assert_eq!(t.get(key(5)), Some((1, 2)));
    }

    #[test]
    fn a_key_of_zero_is_not_kept() {
        let mut t = WordTable::default();
        t.insert((0, 5), 1, 1);
        assert_eq!((t.len(), t.get((0, 5))), (0, None));
        t.insert((9, 0), 1, 1);
        assert_eq!(t.get((0, 0)), None);
        assert_eq!(t.get((9, 0)), Some((1, 1)));
    }

    #[test]
    fn a_full_table_holds_three_quarters_of_its_slots() {
        let mut t = WordTable::default();
        let n = 3 * (1 << 14) / 4;
        for i in 0..n {
            t.insert(key(i as u64), 0, 0);
        }
        assert_eq!(t.slots(), 1 << 14);
        t.insert(key(n as u64), 0, 0);
        assert_eq!(t.slots(), 1 << 15);
    }
}
