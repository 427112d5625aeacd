//! What each word stemmed to, remembered across items: a bounded cache of a rule set's answers
//! to "which `~stem` literals does this word match, and in which languages".
//!
//! Stemming is the dear part of `~word` literals (three Snowball stemmers at a few hundred
//! nanoseconds each, where the rest of the matcher spends about twenty a word), and news text
//! is Zipfian: the same words come back item after item. On `benches/rules.rs` with 10,000
//! rules, nearly every word of the corpus begins like some stem literal, and without this memo
//! stemming took more than half the time. The answer depends only on the word and the rule
//! set, so it is kept per rule set (dropped with it on reload), keyed by the normalised word.
//!
//! With many heads (`Lexicon::whole`) the memo keeps each word's whole answer instead: the
//! lexicon entries filed under the word and its heads as well as its stem hits, so that a word
//! seen before costs one probe where it cost a probe of the lexicon, a search of the heads and
//! a probe of the memo, each a cache miss once those tables outgrow the caches.
//!
//! The memo is shared by the threads that match items: an item takes it for the whole of its
//! scan with `try_lock`, and when another thread holds it, the item uses a memo of its own
//! for that one item (same answers, only slower), so matching never waits on a lock.

use std::sync::{Mutex, MutexGuard, TryLockError};

use super::word_table::WordTable;

/// Most words the memo holds before it is emptied and starts again.
///
/// A word takes a 24-byte slot of its [`WordTable`] (its key, where its answer is), which
/// grows by doubling and stays at most three quarters full: 196,608 words fill 262,144 slots,
/// 6.3 MB, plus at most [`MAX_HITS`] answers of 8 bytes (1.6 MB once grown): about 7.9 MB per
/// rule set, reached only after that many distinct words.
///
/// The memo must hold the words an item stream keeps using, or it empties itself over and over
/// and answers little. On `benches/rules.rs` (200,000 Zipfian words, of which a pass meets
/// 134,000) with 10,000 stem rules: before whole answers (`Lexicon::whole`), 32,768 words
/// missed one lookup in four and ran at about 20 MB/s, 131,072 one in fifty at about 29; with
/// whole answers, 114,688 words ran at 69 MB/s, slower than without them (77), and 229,376 at
/// 124 (2026-12-05). News in four languages uses a vocabulary of that order. Emptying when
/// full, rather than evicting one word at a time, keeps a lookup one probe and costs nothing
/// to track; the frequent words are back after a few items.
pub(super) const MAX_WORDS: usize = 196_608;

/// A word as the memo keys it: its (at most 16) bytes as two little-endian integers,
/// zero-padded, which is unambiguous because normalised words hold no NUL; `None` for a longer
/// word, which is stemmed each time (few words are that long, and an integer key is hashed and
/// compared in place, with no allocation or pointer to follow).
pub(super) type MemoKey = Option<(u64, u64)>;

/// One stem literal a word matched: its pattern, and in which of [`Lang::LATIN`]'s stemmers
/// (bit `i` for language `i`; all three bits, or 0b1000 alone, when the language does not
/// matter, as for Arabic).
///
/// [`Lang::LATIN`]: super::lang::Lang::LATIN
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct WordHit {
    pub(super) pat: u32,
    pub(super) langs: u8,
}

/// [`WordHit::langs`] of a lexicon entry kept in a word's whole answer (see
/// `Lexicon::whole`): `pat` is then the entry as the lexicon files it, not a stem literal.
pub(super) const LEXICON: u8 = 0x80;

/// Word → the stem literals it matches (`hits[at..at + len]`).
#[derive(Debug, Default)]
pub(super) struct StemMemo {
    /// Keyed by the word's bytes as two integers, zero-padded (see [`MemoKey`]).
    words: WordTable,
    hits: Vec<WordHit>,
    /// The answer for a word too long to keep.
    long: Vec<WordHit>,
    /// Scratch for the caller: candidate literals of the word being scanned.
    pub(super) candidates: Vec<u32>,
}

/// Most answers ([`WordHit`]s) the memo holds: nearly every word matches no literal, and a
/// few one or two, so this is only reached by a pack with many literals of one stem.
const MAX_HITS: usize = MAX_WORDS;

impl StemMemo {
    /// The answer for `word`: remembered, or computed by `compute` (which appends it to the
    /// vector it is given) and remembered.
    pub(super) fn get_or_compute(
        &mut self,
        word: MemoKey,
        compute: impl FnOnce(&mut Vec<WordHit>),
    ) -> &[WordHit] {
        let Some(word) = word else {
            self.long.clear();
            compute(&mut self.long);
            return &self.long;
        };
        if let Some((at, len)) = self.words.get(word) {
            return self
                .hits
                .get(at as usize..(at + len) as usize)
                .unwrap_or(&[]);
        }
        if self.words.len() >= MAX_WORDS || self.hits.len() >= MAX_HITS {
            self.words.clear();
            self.hits.clear();
        }
        let at = self.hits.len();
        compute(&mut self.hits);
        let len = self.hits.len() - at;
        self.words.insert(word, at as u32, len as u32);
        self.hits.get(at..).unwrap_or(&[])
    }

    /// Starts loading where `word` is remembered, for its lookup a few words later (see
    /// [`WordTable`]).
    pub(super) fn prefetch(&self, word: MemoKey) {
        if let Some(w) = word {
            self.words.prefetch(w);
        }
    }

    /// Words remembered.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.words.len()
    }
}

/// A rule set's memo, shared by the threads that match items.
#[derive(Debug, Default)]
pub(super) struct SharedMemo(Mutex<StemMemo>);

/// The memo one item's scan uses: the shared one, or its own when another thread has that.
pub(super) enum ItemMemo<'a> {
    Shared(MutexGuard<'a, StemMemo>),
    Own(StemMemo),
}

impl SharedMemo {
    pub(super) fn take(&self) -> ItemMemo<'_> {
        match self.0.try_lock() {
            Ok(g) => ItemMemo::Shared(g),
            // A scan panicked while holding it: the answers it holds are still right (each
            // is filed whole, after it is computed), so it is used on.
            Err(TryLockError::Poisoned(p)) => ItemMemo::Shared(p.into_inner()),
            Err(TryLockError::WouldBlock) => ItemMemo::Own(StemMemo::default()),
        }
    }
}

impl ItemMemo<'_> {
    /// Whether this is the rule set's memo, not one of the item's own.
    pub(super) fn is_shared(&self) -> bool {
        matches!(self, ItemMemo::Shared(_))
    }
}

impl std::ops::Deref for ItemMemo<'_> {
    type Target = StemMemo;
    fn deref(&self) -> &StemMemo {
        match self {
            ItemMemo::Shared(g) => g,
            ItemMemo::Own(m) => m,
        }
    }
}

impl std::ops::DerefMut for ItemMemo<'_> {
    fn deref_mut(&mut self) -> &mut StemMemo {
        match self {
            ItemMemo::Shared(g) => g,
            ItemMemo::Own(m) => m,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Document, RuleSet, RuleSpec, Severity};
    use super::*;

    /// Items in four languages whose words repeat across items, as news does.
    const ITEMS: [(&str, &str); 6] = [
        (
            "Protesters stormed the embassy",
            "They were storming the gates; the storm passed.",
        ),
        (
            "Les manifestants envahissent l'ambassade",
            "Les ambassades ont été envahies hier.",
        ),
        (
            "Botschaften geschlossen",
            "Die Botschaft wurde nach dem Sturm auf die Botschaften geschlossen.",
        ),
        (
            "اقتحام السفارة",
            "اقتحم المتظاهرون السفارات والسفارة في بغداد",
        ),
        (
            "Storms and embassies",
            "stormed storming embassy embassies envahi botschaft",
        ),
        (
            "Nothing here",
            "A quiet day with the weather and sport results.",
        ),
    ];

    fn rules() -> Vec<RuleSpec> {
        [
            "~storm",
            "~embassy NEAR/5 ~storm",
            "~ambassade OR ~envahir",
            "~botschaft AND ~sturm",
            "~سفارة",
            "~اقتحام OR stor*",
            "\"the gates\" AND ~storm",
            "weather NOT \"quiet night\"",
        ]
        .iter()
        .enumerate()
        .map(|(i, q)| RuleSpec {
            name: format!("r{i}"),
            query: q.to_string(),
            severity: Severity::High,
            feeds: Vec::new(),
            exclude: None,
            model: None,
        })
        .collect()
    }

    fn doc(&(title, body): &(&'static str, &'static str)) -> Document<'static> {
        Document {
            title,
            body,
            ..Document::default()
        }
    }

    /// [`rules`], and enough stem rules of other words that the memo keeps whole answers.
    fn many_rules() -> Vec<RuleSpec> {
        let mut specs = rules();
        for i in 0..300u32 {
            let word: String = (0..3)
                .map(|k| char::from(b'a' + ((i / 26u32.pow(k)) % 26) as u8))
                .collect();
            let mut s = specs[0].clone();
            s.name = format!("many{i}");
            s.query = format!("~quiz{word}ing");
            specs.push(s);
        }
        specs
    }

    #[test]
    fn answers_are_the_same_with_a_warm_memo_a_cold_one_and_a_busy_one() {
        let whole = RuleSet::compile(&many_rules()).unwrap_or_else(|e| panic!("{e:?}"));
        assert!(whole.inner.lexicon_keeps_whole_answers());
        let few = RuleSet::compile(&rules()).unwrap_or_else(|e| panic!("{e:?}"));
        assert!(!few.inner.lexicon_keeps_whole_answers());
        check_memos(&rules());
        check_memos(&many_rules());
    }

    /// Every item's matches and explanations with the rule set's memo warm, with a fresh rule
    /// set, and with the memo held by another thread (the item's own memo, never whole
    /// answers) are the same.
    fn check_memos(specs: &[RuleSpec]) {
        let warm = RuleSet::compile(specs).unwrap_or_else(|e| panic!("{e:?}"));
        let busy = RuleSet::compile(specs).unwrap_or_else(|e| panic!("{e:?}"));
        // Held for the whole test: every item of `busy` uses a memo of its own.
        let _held = busy.inner.lexicon_memo();
        for round in 0..3 {
            for item in &ITEMS {
                let cold = RuleSet::compile(specs).unwrap_or_else(|e| panic!("{e:?}"));
                let want = format!("{:?}", cold.matches(&doc(item)));
                assert_eq!(format!("{:?}", warm.matches(&doc(item))), want, "{round}");
                assert_eq!(format!("{:?}", busy.matches(&doc(item))), want, "{round}");
                let explain = |s: &RuleSet| format!("{:?}", s.explain(&doc(item)));
                assert_eq!(explain(&warm), explain(&cold), "{round}");
            }
        }
        let fired: usize = ITEMS.iter().map(|i| warm.matches(&doc(i)).len()).sum();
        assert!(fired >= 8, "the items exercise the stems: {fired}");
    }

    fn key(i: usize) -> MemoKey {
        Some((i as u64 + 1, 0))
    }

    #[test]
    fn remembers_answers_and_stays_within_its_bound() {
        let mut memo = StemMemo::default();
        let mut computed = 0;
        let answer = |i: usize| WordHit {
            pat: i as u32,
            langs: 0b101,
        };
        for round in 0..2 {
            for i in 0..MAX_WORDS + 10 {
                let got = memo.get_or_compute(key(i), |out| {
                    computed += 1;
                    out.push(answer(i));
                });
                assert_eq!(got, [answer(i)], "word {i}, round {round}");
                assert!(memo.len() <= MAX_WORDS);
                assert!(memo.words.slots() <= 1 << 18, "at most 6.3 MB of slots");
                assert!(memo.hits.len() <= MAX_HITS);
            }
        }
        // Each round fills the memo and empties it once, so the second finds none of the
        // first round's words (the last ten were dropped when it emptied again).
        assert_eq!(memo.len(), 20);
        assert_eq!(computed, 2 * (MAX_WORDS + 10));
        // A word it holds is answered without computing.
        let got = memo.get_or_compute(key(MAX_WORDS + 9), |_| panic!("recomputed"));
        assert_eq!(got, [answer(MAX_WORDS + 9)]);
    }

    #[test]
    fn long_words_are_computed_each_time_and_not_kept() {
        let mut memo = StemMemo::default();
        for _ in 0..3 {
            let got = memo.get_or_compute(None, |out| out.push(WordHit { pat: 7, langs: 1 }));
            assert_eq!(got, [WordHit { pat: 7, langs: 1 }]);
        }
        assert_eq!(memo.len(), 0);
        let empty = memo.get_or_compute(key(1), |_| {});
        assert!(empty.is_empty());
        assert!(memo
            .get_or_compute(key(1), |_| panic!("recomputed"))
            .is_empty());
    }

    #[test]
    fn a_busy_memo_gives_the_item_its_own() {
        let shared = SharedMemo::default();
        let mut first = shared.take();
        first.get_or_compute(key(1), |out| out.push(WordHit { pat: 1, langs: 1 }));
        let mut second = shared.take();
        assert!(matches!(second, ItemMemo::Own(_)));
        assert!(second.get_or_compute(key(1), |_| {}).is_empty());
        drop((first, second));
        let mut again = shared.take();
        assert!(matches!(again, ItemMemo::Shared(_)));
        assert_eq!(
            again.get_or_compute(key(1), |_| panic!("recomputed")),
            [WordHit { pat: 1, langs: 1 }]
        );
    }
}
