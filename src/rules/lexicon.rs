//! The lexicon: every literal of a rule set as an automaton over an item's tokens.
//!
//! [`Lexicon::scan`] walks a field's normalised tokens once and reports every occurrence of a
//! term, phrase, prefix or stem literal as a [`Hit`]; the matcher then evaluates only the rules
//! those hits wake (see `matcher.rs`). Stem literals (`~storm`) are filed here like prefixes,
//! under the head their stems share with every inflected form, and a token is stemmed only
//! when it begins with one (see [`stem`](super::stem)).

use std::collections::HashMap;

use rustc_hash::FxHashMap;

use super::heads::{Filed, Head, Heads, ItemHeads, Slot};
use super::normalize::{Normalized, Token};
use super::stem::{self, LazyLang, Stems};
use super::stem_memo::{ItemMemo, MemoKey, SharedMemo, StemMemo, WordHit, LEXICON};
use super::Field;

/// One literal occurrence: pattern, field index and token range `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Hit {
    pub(super) pat: u32,
    pub(super) field: u8,
    pub(super) start: u32,
    pub(super) end: u32,
}

/// The literals as an automaton over tokens, anchored at each token: the first step is a hash
/// lookup of the whole token (or of its leading bytes, for prefixes), the following steps
/// compare the next tokens of a phrase.
///
/// It replaced a byte-level Aho-Corasick automaton (the `aho-corasick` crate's contiguous NFA,
/// walked anchored from each token start; its DFA measured slower still with many rules). On
/// `benches/rules.rs` the switch kept 10 rules at the same speed and cut the time with 10,000
/// (23,000 literals) by a fifth at once, and to 1.85× the 10-rule time once the tables were
/// made small: a token costs a few hash probes into tables that stay in the L2 cache, where
/// the automaton cost one dependent, cache-missing state load per byte.
#[derive(Debug, Default)]
pub(super) struct Lexicon {
    /// Tokens of up to 8 bytes, as one integer (see [`key_at`]); nearly every word is that
    /// short. An integer key is hashed and compared in place, with no pointer to follow, and
    /// with the 8-byte [`Slot`] beside it a bucket is 16 bytes: the tables of 10,000 rules
    /// stay in a core's L2 cache, which is what keeps large rule sets nearly as fast as small.
    short: FxHashMap<u64, Slot>,
    /// Tokens of 9 to 16 bytes, as two integers.
    medium: FxHashMap<(u64, u64), Slot>,
    /// Longer tokens.
    long: FxHashMap<Box<str>, Slot>,
    /// Every slot's entries, slot after slot: a pattern id or phrase index tagged with its
    /// kind (see [`TERM`], [`PHRASE`], [`PREFIX`]).
    entries: Vec<u32>,
    phrases: Vec<Phrase>,
    /// Where the prefix literals and stem heads are, by their first bytes: what a token
    /// begins with. Only the prefix literals that wake a rule, and every stem head.
    heads: Heads,
    /// Bit `p` set when pattern `p` is a *lazy* prefix literal: one that wakes no rule, found
    /// only for an item that some rule reading it was woken for (see [`Lexicon::scan_lazy`]).
    lazy: Vec<u64>,
    /// Each lazy prefix literal's head, by pattern.
    lazy_head: FxHashMap<u32, Head>,
    /// The stem literals; Latin ones are also filed as [`STEM`] entries under their heads.
    stems: Stems,
    /// What words of past items stemmed to, or their whole answers (see [`Lexicon::whole`]).
    memo: SharedMemo,
    /// The memo keeps each word's whole answer: what the lexicon files under the word and
    /// under the heads it begins with, and the stem literals it matches.
    ///
    /// Without it a word costs a probe of the lexicon and a search of the heads, and a word
    /// that begins with a stem's head a probe of the memo too: with thousands of heads these
    /// tables outgrow the caches, and each is a cache miss. The memo's one probe then costs
    /// less. With few heads the lexicon and heads stay in the L1 cache and the memo's probe,
    /// into a table of every word seen, would cost more, so it is kept for rule sets of at
    /// least [`WHOLE_FROM_HEADS`] heads.
    whole: bool,
}

/// Heads from which a rule set's memo keeps whole answers (see [`Lexicon::whole`]).
///
/// Measured on `benches/rules.rs` (2026-12-05, alternating runs, whole answers for every rule
/// set against none): 10 stem rules (7 heads) 5% slower, 100 (70 heads) 5% faster, 1,000 (692
/// heads) 37% and 10,000 (6,776 heads) 54% faster; the plain sets have no eager heads (their
/// prefixes are lazy) and 10,000 of them ran 9% slower with whole answers.
const WHOLE_FROM_HEADS: usize = 256;

/// Entry kinds, in the top two bits of a [`Lexicon::entries`] value: a single-term literal
/// equal to the token, a phrase (index into [`Lexicon::phrases`]) beginning with it, a
/// single-token prefix literal equal to it (`secur*` in the slot of `secur`), a stem literal
/// whose stems begin with it (`~embassy` in the slot of `embass`; index into the stems).
const TERM: u32 = 0;
pub(super) const PHRASE: u32 = 1 << 30;
const PREFIX: u32 = 2 << 30;
const STEM: u32 = 3 << 30;
const KIND: u32 = 3 << 30;

/// A literal of several tokens: the tokens that must follow its first.
#[derive(Debug)]
struct Phrase {
    pat: u32,
    rest: Box<[Box<str>]>,
    /// The last token of `rest` is a prefix (`"green zon*"`).
    prefix: bool,
}

/// A token of a field being scanned: its index, and where its bytes are in the stream.
struct At<'n> {
    norm: &'n Normalized,
    ti: usize,
    from: usize,
    len: usize,
    field: u8,
}

impl<'n> At<'n> {
    /// Token `ti` of `norm`, which is `tok`, as a hit of `field` would place it.
    fn new(norm: &'n Normalized, ti: usize, tok: &Token, field: Field) -> At<'n> {
        At {
            norm,
            ti,
            from: tok.norm_start as usize,
            len: (tok.norm_end - tok.norm_start) as usize,
            field: field.index() as u8,
        }
    }

    fn token(&self) -> &str {
        self.norm.token_text(self.ti)
    }

    /// The token as the memo keys it.
    fn key(&self) -> MemoKey {
        memo_key(&self.norm.stream, self.from, self.len)
    }

    /// A hit of pattern `pat` over this token and the `tokens - 1` after it.
    fn hit(&self, pat: u32, tokens: u32) -> Hit {
        let start = self.ti as u32;
        Hit {
            pat,
            field: self.field,
            start,
            end: start + tokens,
        }
    }
}

/// How many tokens ahead a scan with whole answers prefetches the memo's slot for a token
/// (see [`word_table`](super::word_table)): a lookup's cache miss then overlaps the work on
/// the tokens between. On `benches/rules.rs` with 10,000 stem rules, 4, 8 and 16 ran alike
/// (114–117 MB/s, against 100–103 without, 2026-12-05).
const PREFETCH_TOKENS: usize = 8;

/// The token `stream[from..from + len]` as the memo keys it.
fn memo_key(stream: &str, from: usize, len: usize) -> MemoKey {
    match key_at(stream, from, len) {
        Some(Key::Short(k)) => Some((k, 0)),
        Some(Key::Medium(a, b)) => Some((a, b)),
        _ => None,
    }
}

/// The lexicon while rules are compiled: literals grouped by first token.
#[derive(Debug, Default)]
pub(super) struct LexiconBuilder {
    slots: HashMap<String, (Vec<u32>, Vec<Phrase>)>,
    stems: Stems,
}

/// The key of a token (or head of a token) of `len` bytes at `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key<'a> {
    Short(u64),
    Medium(u64, u64),
    Long(&'a str),
}

/// `buf[start..start + len]` as a [`Key`]: up to 16 bytes become integers, zero-padded, which
/// is unambiguous because normalised tokens never contain a NUL (not a word character). Read
/// by whole-word loads and masks where the buffer allows (a byte copy into a temporary would
/// stall on store forwarding).
///
/// Always inlined: once the prefetch of [`Lexicon::scan_whole`] called it too, the compiler
/// made it a call of its own, and every token of every rule set paid it (`perf`: 3.7% of the
/// 10-rule row, which ran 4–6% slower, 2026-12-05).
#[inline(always)]
fn key_at(buf: &str, start: usize, len: usize) -> Option<Key<'_>> {
    let bytes = buf.as_bytes();
    let word = |at: usize, n: usize| -> Option<u64> {
        let v = match bytes
            .get(at..at + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
        {
            Some(b) => u64::from_le_bytes(b),
            None => {
                let mut k = [0u8; 8];
                k.get_mut(..n)?.copy_from_slice(bytes.get(at..at + n)?);
                u64::from_le_bytes(k)
            }
        };
        Some(v & u64::MAX.checked_shr(64 - 8 * n as u32).unwrap_or(0))
    };
    Some(match len {
        0..=8 => Key::Short(word(start, len)?),
        9..=16 => Key::Medium(word(start, 8)?, word(start + 8, len - 8)?),
        _ => Key::Long(buf.get(start..start + len)?),
    })
}

/// Bit `p` of a bit set.
fn bit(set: &[u64], p: u32) -> bool {
    let p = p as usize;
    set.get(p / 64).is_some_and(|w| w & (1 << (p % 64)) != 0)
}

impl LexiconBuilder {
    /// File the stem literal `pat` (`~word`, `token` normalised).
    pub(super) fn insert_stem(&mut self, pat: u32, token: &str) {
        let (idx, heads) = self.stems.add(pat, token);
        for head in heads {
            let slot = self.slots.entry(head).or_default();
            if !slot.0.contains(&(STEM | idx)) {
                slot.0.push(STEM | idx);
            }
        }
    }

    pub(super) fn insert(&mut self, pat: u32, tokens: &[String], prefix: bool) {
        let Some((first, rest)) = tokens.split_first() else {
            return;
        };
        let slot = self.slots.entry(first.clone()).or_default();
        match (rest.is_empty(), prefix) {
            (true, false) => slot.0.push(TERM | pat),
            (true, true) => slot.0.push(PREFIX | pat),
            (false, _) => slot.1.push(Phrase {
                pat,
                rest: rest.iter().map(|t| t.as_str().into()).collect(),
                prefix,
            }),
        }
    }

    /// The single-token prefix literals (`secur*`).
    pub(super) fn prefixes(&self) -> impl Iterator<Item = u32> + '_ {
        let entries = self.slots.values().flat_map(|(entries, _)| entries);
        entries.filter(|&&e| e & KIND == PREFIX).map(|&e| e & !KIND)
    }

    /// The lexicon, with the prefix literals `p` for which `lazy[p]` holds made lazy (see
    /// [`Lexicon::scan_lazy`]).
    pub(super) fn build(self, lazy: &[bool]) -> Lexicon {
        let mut lex = Lexicon {
            stems: self.stems,
            ..Lexicon::default()
        };
        // As a bit set: the scan tests it for every prefix head a token finds.
        let lazy: Vec<u64> = (lazy.chunks(64))
            .map(|c| (c.iter().enumerate()).fold(0, |w, (i, &l)| w | u64::from(l) << i))
            .collect();
        let has = |entries: &[u32], kind| entries.iter().any(|e| e & KIND == kind);
        let prefixes = |entries: &[u32], want: bool| {
            (entries.iter()).any(|&e| e & KIND == PREFIX && bit(&lazy, e & !KIND) == want)
        };
        let mut heads = Vec::new();
        for (text, (mut entries, phrases)) in self.slots {
            entries.extend((0..phrases.len()).map(|i| PHRASE | (lex.phrases.len() + i) as u32));
            lex.phrases.extend(phrases);
            // A slot of one entry holds it in place of an index (see [`Lexicon::entries`]).
            let slot = match entries[..] {
                [e] => Slot { at: e, len: 1 },
                _ => Slot {
                    at: lex.entries.len() as u32,
                    len: entries.len() as u32,
                },
            };
            let filed = Filed {
                slot,
                prefix: prefixes(&entries, false),
                stem: has(&entries, STEM),
            };
            for &e in &entries {
                if e & KIND == PREFIX && bit(&lazy, e & !KIND) {
                    let head = Head::new(text.as_bytes(), Filed::default());
                    lex.lazy_head.insert(e & !KIND, head);
                }
            }
            if slot.len != 1 {
                lex.entries.extend(entries);
            }
            match key_at(&text, 0, text.len()) {
                Some(Key::Short(k)) => lex.short.insert(k, slot),
                Some(Key::Medium(a, b)) => lex.medium.insert((a, b), slot),
                Some(Key::Long(k)) => lex.long.insert(k.into(), slot),
                None => None,
            };
            if filed.prefix || filed.stem {
                heads.push((text, filed));
            }
        }
        lex.heads = Heads::new(heads);
        lex.whole = lex.heads.len() >= WHOLE_FROM_HEADS;
        lex.lazy = lazy;
        lex
    }
}

impl Lexicon {
    /// Whether pattern `pat` is a lazy prefix literal: one that wakes no rule, whose hits
    /// [`Lexicon::scan`] leaves to [`Lexicon::scan_lazy`].
    pub(super) fn is_lazy(&self, pat: u32) -> bool {
        bit(&self.lazy, pat)
    }

    /// Every lazy prefix literal.
    pub(super) fn lazy_pats(&self) -> Vec<u32> {
        let mut pats: Vec<u32> = self.lazy_head.keys().copied().collect();
        pats.sort_unstable();
        pats
    }

    /// Whether the memo keeps whole answers (see [`Lexicon::whole`]).
    #[cfg(test)]
    pub(super) fn keeps_whole_answers(&self) -> bool {
        self.whole
    }

    /// The stem memo for one item's scan.
    pub(super) fn memo(&self) -> ItemMemo<'_> {
        self.memo.take()
    }

    /// The entries of the `len` bytes of `stream` from `start` (a token or a token's head).
    fn get(&self, stream: &str, start: usize, len: usize) -> &[u32] {
        let slot = match key_at(stream, start, len) {
            Some(Key::Short(k)) => self.short.get(&k),
            Some(Key::Medium(a, b)) => self.medium.get(&(a, b)),
            Some(Key::Long(k)) => self.long.get(k),
            None => None,
        };
        slot.map_or(&[], |s| self.entries(s))
    }

    /// The entries of a slot. Most slots have one, which the slot holds itself: a token that
    /// is a literal then costs no load from [`Lexicon::entries`], a cache miss of its own with
    /// thousands of rules.
    fn entries<'a>(&'a self, s: &'a Slot) -> &'a [u32] {
        if s.len == 1 {
            return std::slice::from_ref(&s.at);
        }
        self.entries
            .get(s.at as usize..(s.at + s.len) as usize)
            .unwrap_or(&[])
    }

    /// Every literal occurrence in `norm`, as hits of `field`.
    ///
    /// `lang` is the item's language, detected only if a stem hit needs it; `memo` remembers
    /// what words stemmed to (see [`stem_memo`](super::stem_memo)), or, for a rule set of
    /// many heads, each word's whole answer (see [`Lexicon::whole`]).
    pub(super) fn scan(
        &self,
        norm: &Normalized,
        field: Field,
        hits: &mut Vec<Hit>,
        lang: &mut LazyLang,
        memo: &mut ItemMemo,
    ) {
        // An item's own memo starts empty: whole answers would be computed for every word.
        if self.whole && memo.is_shared() {
            return self.scan_whole(norm, field, hits, lang, memo);
        }
        let mut stem_heads: Vec<&Slot> = Vec::new();
        for (ti, tok) in norm.tokens.iter().enumerate() {
            let at = At::new(norm, ti, tok, field);
            memo.candidates.clear();
            let entry = |e| {
                if let Some(h) = self.entry_hit(&at, e) {
                    hits.push(h);
                }
            };
            self.look_up(&at, entry, &mut memo.candidates, &mut stem_heads);
            let arabic = self.stems.has_arabic() && stem::is_arabic(at.token());
            if memo.candidates.is_empty() && stem_heads.is_empty() && !arabic {
                continue;
            }
            // The token's stem hits depend on nothing else (its candidates are those its
            // heads find), which is what lets the memo keep them; a head of stems only is
            // read only if the memo does not know the token.
            let mut candidates = std::mem::take(&mut memo.candidates);
            for &h in memo.get_or_compute(at.key(), |out| {
                self.stem_hits(&at, &mut candidates, &stem_heads, out)
            }) {
                if self.stems.counts(h, lang) {
                    hits.push(at.hit(h.pat, 1));
                }
            }
            memo.candidates = candidates;
        }
    }

    /// [`Lexicon::scan`] with whole answers: each token's from the memo, whose slot for the
    /// token [`PREFETCH_TOKENS`] ahead it starts loading first.
    fn scan_whole(
        &self,
        norm: &Normalized,
        field: Field,
        hits: &mut Vec<Hit>,
        lang: &mut LazyLang,
        memo: &mut StemMemo,
    ) {
        let mut stem_heads: Vec<&Slot> = Vec::new();
        for (ti, tok) in norm.tokens.iter().enumerate() {
            if let Some(ahead) = norm.tokens.get(ti + PREFETCH_TOKENS) {
                let (from, to) = (ahead.norm_start as usize, ahead.norm_end as usize);
                memo.prefetch(memo_key(&norm.stream, from, to - from));
            }
            let at = At::new(norm, ti, tok, field);
            self.whole_answer(&at, hits, lang, memo, &mut stem_heads);
        }
    }

    /// The hits of the token `at` from its whole answer, remembered or computed (see
    /// [`Lexicon::whole`]).
    fn whole_answer<'a>(
        &'a self,
        at: &At,
        hits: &mut Vec<Hit>,
        lang: &mut LazyLang,
        memo: &mut StemMemo,
        stem_heads: &mut Vec<&'a Slot>,
    ) {
        let mut candidates = std::mem::take(&mut memo.candidates);
        candidates.clear();
        for &h in memo.get_or_compute(at.key(), |out| {
            let entry = |e| {
                out.push(WordHit {
                    pat: e,
                    langs: LEXICON,
                })
            };
            self.look_up(at, entry, &mut candidates, stem_heads);
            self.stem_hits(at, &mut candidates, stem_heads, out);
        }) {
            let found = match h.langs {
                LEXICON => self.entry_hit(at, h.pat),
                _ => self.stems.counts(h, lang).then(|| at.hit(h.pat, 1)),
            };
            if let Some(h) = found {
                hits.push(h);
            }
        }
        memo.candidates = candidates;
    }

    /// What the lexicon files under the token `at` and under the heads it begins with: each
    /// entry but stem literals to `entry`; the stem literals filed under the token itself to
    /// `candidates`, and the heads holding stem literals to `stem_heads` (both read by
    /// [`Lexicon::stem_hits`]).
    fn look_up<'a>(
        &'a self,
        at: &At,
        mut entry: impl FnMut(u32),
        candidates: &mut Vec<u32>,
        stem_heads: &mut Vec<&'a Slot>,
    ) {
        for &e in self.get(&at.norm.stream, at.from, at.len) {
            match e & KIND {
                STEM => candidates.push(e & !KIND),
                _ => entry(e),
            }
        }
        stem_heads.clear();
        let stream = at.norm.stream.as_bytes();
        self.heads.each(stream, at.from, at.len, |h| {
            if h.prefix {
                for &e in self.entries(&h.slot) {
                    if e & KIND == PREFIX && !self.is_lazy(e & !KIND) {
                        entry(e);
                    }
                }
            }
            if h.stem {
                stem_heads.push(&h.slot);
            }
        });
    }

    /// The stem literals the token `at` matches, in the languages it matches them in, from
    /// those filed under it (`candidates`) and under the heads it begins with (`stem_heads`),
    /// appended to `out`.
    fn stem_hits(
        &self,
        at: &At,
        candidates: &mut Vec<u32>,
        stem_heads: &[&Slot],
        out: &mut Vec<WordHit>,
    ) {
        for &s in stem_heads {
            let stems = self.entries(s).iter().filter(|&&e| e & KIND == STEM);
            candidates.extend(stems.map(|e| e & !KIND));
        }
        let token = at.token();
        self.stems.latin_hits(token, candidates, out);
        if self.stems.has_arabic() && stem::is_arabic(token) {
            self.stems.arabic_matches(token, |pat| {
                out.push(WordHit {
                    pat,
                    langs: stem::ANY_LANG,
                })
            });
        }
    }

    /// The hit at token `at` of the lexicon entry `e` (not a stem literal): a term or prefix
    /// literal, or a phrase if the tokens after `at` continue it.
    fn entry_hit(&self, at: &At, e: u32) -> Option<Hit> {
        if e & KIND != PHRASE {
            return Some(at.hit(e & !KIND, 1));
        }
        let p = self.phrases.get((e & !KIND) as usize)?;
        Self::follows(at.norm, at.ti + 1, p).then(|| at.hit(p.pat, 1 + p.rest.len() as u32))
    }

    /// The heads of the lazy prefix literals `pats`, for [`Lexicon::scan_lazy`].
    pub(super) fn item_heads(&self, pats: &[u32]) -> ItemHeads<'_> {
        ItemHeads::new(
            pats.iter()
                .filter_map(|&p| Some((p, self.lazy_head.get(&p)?))),
        )
    }

    /// The hits in `norm` of the lazy prefix literals whose heads are `heads` (see
    /// [`Lexicon::item_heads`]), as hits of `field`, where the token is longer than the
    /// prefix (a token equal to one is found by [`Lexicon::scan`]'s lookup of the token
    /// itself).
    ///
    /// A prefix literal that wakes no rule (`secur*` in `secur* AND (rocket OR mortar)`,
    /// which the rarer words wake) is read only by rules that something else woke, and an
    /// item wakes few of those: its tokens look for those few prefixes in a table built for
    /// the item, where a search of every prefix's head for every token found hits that
    /// nothing read. With the 10,000 plain rules of `benches/rules.rs`, 39% of the corpus's
    /// tokens begin with such a prefix, and the row ran 18% faster lazy (106 → 125 MB/s,
    /// three alternating full tables, 2026-12-05); 1,000 plain rules 14%.
    pub(super) fn scan_lazy(
        &self,
        norm: &Normalized,
        field: Field,
        heads: &ItemHeads,
        hits: &mut Vec<Hit>,
    ) {
        let field = field.index() as u8;
        let stream = norm.stream.as_bytes();
        for (ti, tok) in norm.tokens.iter().enumerate() {
            let (from, len) = (
                tok.norm_start as usize,
                (tok.norm_end - tok.norm_start) as usize,
            );
            heads.each(stream, from, len, |pat| {
                hits.push(Hit {
                    pat,
                    field,
                    start: ti as u32,
                    end: ti as u32 + 1,
                })
            });
        }
    }

    /// Whether the tokens from `next` on continue the phrase `e`.
    fn follows(norm: &Normalized, next: usize, e: &Phrase) -> bool {
        if next + e.rest.len() > norm.tokens.len() {
            return false;
        }
        let last = e.rest.len() - 1;
        e.rest.iter().enumerate().all(|(k, want)| {
            let got = norm.token_text(next + k);
            if e.prefix && k == last {
                got.starts_with(&**want)
            } else {
                got == &**want
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn slots_of_one_entry_and_of_several_give_their_entries() {
        let mut b = LexiconBuilder::default();
        b.insert(0, &toks("alone"), false);
        b.insert(1, &toks("shared"), false);
        b.insert(2, &toks("shared"), true);
        b.insert(3, &toks("shared zone"), false);
        b.insert(4, &toks("abcdefghijk"), false);
        b.insert(5, &toks("abcdefghijklmnopqrstu"), false);
        let lex = b.build(&[]);
        let get = |t: &str| {
            let stream = format!(" {t} ");
            lex.get(&stream, 1, t.len()).to_vec()
        };
        assert_eq!(get("alone"), [TERM]);
        assert_eq!(get("shared"), [TERM | 1, PREFIX | 2, PHRASE]);
        assert_eq!(get("abcdefghijk"), [TERM | 4]);
        assert_eq!(get("abcdefghijklmnopqrstu"), [TERM | 5]);
        assert!(get("zone").is_empty());
        // Only the slot of several entries is stored apart.
        assert_eq!(lex.entries.len(), 3);
    }
}
