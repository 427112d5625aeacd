//! Compiling rules into one matcher, and evaluating them against a document.
//!
//! Every distinct literal (term, phrase, prefix; from queries and excludes) goes into one
//! [`Lexicon`]: an automaton over the normalised *token* stream (see
//! [`normalize`](super::normalize)) whose first transition is a hash lookup of the token and
//! whose further transitions compare the following tokens. Literals only ever start at a token,
//! so no failure links are needed, and one pass per field yields every literal occurrence as a
//! token range.
//!
//! Rules are then evaluated only when one of their *trigger* literals occurred: a set of
//! literals at least one of which must occur for the query to hold (see [`triggers`]); rules
//! that can hold with no literal at all (`NOT x`) are evaluated on every document. The cost of a
//! document is one normalisation pass plus work proportional to the hits, whatever the number
//! of rules.

use std::collections::HashMap;

use rustc_hash::FxHashMap;

use super::explain::{ExplainNode, Explanation};
use super::normalize::{normalize_into, Normalized};
use super::query::{parse, Expr, Literal};
use super::snippet::snippet;
use super::{Document, Field, Match, RuleError, RuleSpec, Severity, TermHit};

/// Unscoped literals match in these fields.
const DEFAULT_FIELDS: u8 =
    (1 << Field::Title as u8) | (1 << Field::Summary as u8) | (1 << Field::Body as u8);

/// A rule tree with literals resolved to pattern ids and scopes pushed down to the literals.
#[derive(Debug, Clone)]
enum Node {
    Lit {
        pat: u32,
        fields: u8,
        raw: String,
    },
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Near {
        left: Vec<Side>,
        right: Vec<Side>,
        distance: u32,
        ordered: bool,
        label: String,
    },
}

/// One literal on one side of a NEAR.
#[derive(Debug, Clone)]
struct Side {
    pat: u32,
    fields: u8,
}

#[derive(Debug)]
struct Rule {
    name: String,
    severity: Severity,
    /// Lower-cased feed names/tags; empty = any feed.
    feeds: Vec<String>,
    query: Node,
    exclude: Option<Node>,
}

/// One literal occurrence: pattern, field index and token range `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Hit {
    pat: u32,
    field: u8,
    start: u32,
    end: u32,
}

/// The compiled rule set.
#[derive(Debug)]
pub(super) struct Compiled {
    /// Every literal of every rule, indexed by its first token.
    lexicon: Lexicon,
    /// Pattern `p` wakes rules `woken[woken_at[p]..woken_at[p + 1]]`: those for which it is a
    /// trigger literal (see [`triggers`]); excludes never wake a rule. One contiguous array
    /// rather than a heap block per pattern.
    woken: Vec<u32>,
    woken_at: Vec<u32>,
    /// Pattern id → number of tokens in the literal.
    pat_len: Vec<u32>,
    rules: Vec<Rule>,
    /// Rules whose query is true when no literal occurs at all.
    always: Vec<u32>,
    /// Fields that some literal is scoped to: no need to normalise the others.
    used_fields: u8,
}

struct Builder {
    lexicon: LexiconBuilder,
    pat_len: Vec<u32>,
    /// Guessed relative frequency of each pattern, to pick which literals wake a rule.
    pat_cost: Vec<f32>,
    index: HashMap<String, u32>,
}

impl Builder {
    fn pattern(&mut self, lit: &Literal) -> u32 {
        // One id per distinct literal: tokens joined, `*` marking a prefix.
        let mut p = lit.tokens.join(" ");
        if lit.prefix {
            p.push('*');
        }
        if let Some(&id) = self.index.get(&p) {
            return id;
        }
        let id = self.pat_len.len() as u32;
        self.index.insert(p, id);
        self.lexicon.insert(id, &lit.tokens, lit.prefix);
        self.pat_len.push(lit.tokens.len() as u32);
        let short = lit.tokens.iter().map(|t| t.chars().count()).sum::<usize>() <= 3;
        self.pat_cost.push(match (lit.prefix, lit.tokens.len()) {
            (true, _) => 4.0,
            (false, 1) if short => 2.0,
            (false, 1) => 1.0,
            (false, _) => 0.3,
        });
        id
    }

    fn node(&mut self, e: &Expr, fields: u8) -> Node {
        match e {
            Expr::Lit(l) => Node::Lit {
                pat: self.pattern(l),
                fields,
                raw: l.raw.clone(),
            },
            Expr::And(v) => Node::And(v.iter().map(|e| self.node(e, fields)).collect()),
            Expr::Or(v) => Node::Or(v.iter().map(|e| self.node(e, fields)).collect()),
            Expr::Not(e) => Node::Not(Box::new(self.node(e, fields))),
            Expr::Scope(f, e) => self.node(e, f.bit()),
            Expr::Near {
                left,
                right,
                distance,
                ordered,
            } => {
                let mut l = Vec::new();
                let mut r = Vec::new();
                self.sides(left, fields, &mut l);
                self.sides(right, fields, &mut r);
                Node::Near {
                    left: l,
                    right: r,
                    distance: *distance,
                    ordered: *ordered,
                    label: e.to_string(),
                }
            }
        }
    }

    fn sides(&mut self, e: &Expr, fields: u8, out: &mut Vec<Side>) {
        match e {
            Expr::Lit(l) => out.push(Side {
                pat: self.pattern(l),
                fields,
            }),
            Expr::Or(v) => v.iter().for_each(|e| self.sides(e, fields, out)),
            Expr::Scope(f, e) => self.sides(e, f.bit(), out),
            // The parser only lets positional expressions reach a NEAR.
            _ => {}
        }
    }
}

/// Literals of which at least one must occur for `n` to hold; `None` when `n` can hold with no
/// literal at all (`NOT x`). Of an AND's conjuncts only the cheapest set is kept, so a rule like
/// `rocket* AND baghdad` is woken by `baghdad` alone and costs nothing on documents without it.
fn triggers(n: &Node, cost: &[f32]) -> Option<(f32, Vec<u32>)> {
    let of = |pats: Vec<u32>| {
        let c = pats
            .iter()
            .map(|&p| cost.get(p as usize).copied().unwrap_or(1.0))
            .sum();
        (c, pats)
    };
    match n {
        Node::Lit { pat, .. } => Some(of(vec![*pat])),
        Node::Or(v) => {
            let mut all = (0.0, Vec::new());
            for c in v {
                let (cc, pats) = triggers(c, cost)?;
                all.0 += cc;
                all.1.extend(pats);
            }
            Some(all)
        }
        Node::And(v) => v
            .iter()
            .filter_map(|c| triggers(c, cost))
            .min_by(|a, b| a.0.total_cmp(&b.0)),
        Node::Not(_) => None,
        Node::Near { left, right, .. } => {
            let l = of(left.iter().map(|s| s.pat).collect());
            let r = of(right.iter().map(|s| s.pat).collect());
            Some(if r.0 < l.0 { r } else { l })
        }
    }
}

fn collect_pats(n: &Node, out: &mut Vec<u32>, used: &mut u8) {
    match n {
        Node::Lit { pat, fields, .. } => {
            out.push(*pat);
            *used |= fields;
        }
        Node::And(v) | Node::Or(v) => v.iter().for_each(|n| collect_pats(n, out, used)),
        Node::Not(n) => collect_pats(n, out, used),
        Node::Near { left, right, .. } => {
            for s in left.iter().chain(right) {
                out.push(s.pat);
                *used |= s.fields;
            }
        }
    }
}

impl Compiled {
    pub(super) fn new(specs: &[RuleSpec]) -> Result<Compiled, Vec<RuleError>> {
        let mut errors = Vec::new();
        let mut b = Builder {
            lexicon: LexiconBuilder::default(),
            pat_len: Vec::new(),
            pat_cost: Vec::new(),
            index: HashMap::new(),
        };
        let mut rules = Vec::new();
        let mut seen = HashMap::new();
        for spec in specs {
            let err = |message: String, column: usize, query: &str, in_exclude: bool| RuleError {
                rule: spec.name.clone(),
                message,
                column,
                query: query.to_string(),
                in_exclude,
            };
            if seen.insert(spec.name.as_str(), ()).is_some() {
                errors.push(err("duplicate rule name".into(), 1, &spec.query, false));
            }
            let query =
                parse(&spec.query).map_err(|e| err(e.message, e.column, &spec.query, false));
            let exclude = spec
                .exclude
                .as_deref()
                .map(|x| parse(x).map_err(|e| err(e.message, e.column, x, true)))
                .transpose();
            match (query, exclude) {
                (Ok(q), Ok(x)) => rules.push(Rule {
                    name: spec.name.clone(),
                    severity: spec.severity,
                    feeds: spec.feeds.iter().map(|f| f.trim().to_lowercase()).collect(),
                    query: b.node(&q, DEFAULT_FIELDS),
                    exclude: x.map(|x| b.node(&x, DEFAULT_FIELDS)),
                }),
                (q, x) => {
                    errors.extend(q.err());
                    errors.extend(x.err());
                }
            }
        }
        if b.pat_len.len() >= PHRASE as usize {
            errors.push(RuleError {
                rule: String::new(),
                message: format!("more than {} distinct terms and phrases", PHRASE - 1),
                column: 1,
                query: String::new(),
                in_exclude: false,
            });
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut pat_rules = vec![Vec::new(); b.pat_len.len()];
        let mut always = Vec::new();
        let mut used_fields = 0u8;
        for (i, r) in rules.iter().enumerate() {
            collect_pats(&r.query, &mut Vec::new(), &mut used_fields);
            if let Some(x) = &r.exclude {
                collect_pats(x, &mut Vec::new(), &mut used_fields);
            }
            match triggers(&r.query, &b.pat_cost) {
                Some((_, mut pats)) => {
                    pats.sort_unstable();
                    pats.dedup();
                    for p in pats {
                        pat_rules[p as usize].push(i as u32);
                    }
                }
                None => always.push(i as u32),
            }
        }
        Ok(Compiled {
            lexicon: b.lexicon.build(),
            woken_at: std::iter::once(0)
                .chain(pat_rules.iter().scan(0u32, |n, v| {
                    *n += v.len() as u32;
                    Some(*n)
                }))
                .collect(),
            woken: pat_rules.concat(),
            pat_len: b.pat_len,
            rules,
            always,
            used_fields,
        })
    }

    pub(super) fn len(&self) -> usize {
        self.rules.len()
    }

    pub(super) fn rule_names(&self) -> Vec<&str> {
        self.rules.iter().map(|r| r.name.as_str()).collect()
    }

    /// Normalise the fields and collect every literal occurrence.
    fn scan<'d>(&self, doc: &Document<'d>) -> DocHits<'d> {
        let mut dh = DocHits {
            texts: Field::ALL.map(|f| doc.field(f)),
            ..DocHits::default()
        };
        if self.pat_len.is_empty() {
            return dh;
        }
        for f in Field::ALL {
            if self.used_fields & f.bit() == 0 || dh.texts[f.index()].is_empty() {
                continue;
            }
            let norm = &mut dh.norms[f.index()];
            normalize_into(dh.texts[f.index()], norm);
            dh.hits.reserve(norm.tokens.len() / 2);
            self.lexicon.scan(norm, f, &mut dh.hits);
        }
        // Grouped by literal, then in text order (a literal's hits at one token are one hit:
        // its length is fixed, so the packed key loses nothing). Sorting plain integers is
        // about twice as fast as sorting the structs by key.
        if dh.hits.iter().any(|h| h.start > SORT_START_MAX) {
            // Half a billion words into a field: too far for the packed key.
            dh.hits.sort_unstable();
            return dh;
        }
        let mut keys: Vec<u64> = dh
            .hits
            .iter()
            .map(|h| u64::from(h.pat) << 32 | u64::from(h.field) << 29 | u64::from(h.start))
            .collect();
        keys.sort_unstable();
        for (h, k) in dh.hits.iter_mut().zip(keys) {
            let (pat, start) = ((k >> 32) as u32, (k as u32) & SORT_START_MAX);
            *h = Hit {
                pat,
                field: ((k >> 29) & 7) as u8,
                start,
                end: start + self.pat_len.get(pat as usize).copied().unwrap_or(1),
            };
        }
        dh
    }

    fn candidates(&self, dh: &DocHits) -> Vec<u32> {
        let mut c = self.always.clone();
        let mut last = u32::MAX;
        for h in &dh.hits {
            if h.pat != last {
                last = h.pat;
                let (lo, hi) = (
                    self.woken_at.get(h.pat as usize),
                    self.woken_at.get(h.pat as usize + 1),
                );
                if let Some(rs) = lo
                    .zip(hi)
                    .and_then(|(&lo, &hi)| self.woken.get(lo as usize..hi as usize))
                {
                    c.extend_from_slice(rs);
                }
            }
        }
        c.sort_unstable();
        c.dedup();
        c
    }

    fn feed_allowed(rule: &Rule, doc: &Document) -> bool {
        rule.feeds.is_empty()
            || std::iter::once(doc.feed)
                .chain(doc.feed_tags.iter().map(String::as_str))
                .any(|name| {
                    let name = name.trim().to_lowercase();
                    rule.feeds.contains(&name)
                })
    }

    pub(super) fn matches(&self, doc: &Document) -> Vec<Match> {
        let dh = self.scan(doc);

        let mut out = Vec::new();
        for i in self.candidates(&dh) {
            let Some(rule) = self.rules.get(i as usize) else {
                continue;
            };
            if !Self::feed_allowed(rule, doc) || !eval(&rule.query, &dh) {
                continue;
            }
            if rule.exclude.as_ref().is_some_and(|x| eval(x, &dh)) {
                continue;
            }
            let mut hits = Vec::new();
            collect(&rule.query, &dh, &mut hits);
            out.push(self.build_match(rule, &dh, hits));
        }
        out
    }

    fn build_match(&self, rule: &Rule, dh: &DocHits, mut hits: Vec<Hit>) -> Match {
        // Order by field then position; the same text span once, whichever literal found it.
        hits.sort_unstable_by_key(|h| (h.field, h.start, h.end));
        hits.dedup_by_key(|h| (h.field, h.start, h.end));
        let mut terms = Vec::with_capacity(hits.len());
        let mut spans: [Vec<(usize, usize)>; 5] = Default::default();
        let mut counter = CharCounter::default();
        for h in &hits {
            let f = h.field as usize;
            let (Some(text), Some(norm)) = (dh.texts.get(f), dh.norms.get(f)) else {
                continue;
            };
            let (Some(a), Some(b)) = (
                norm.tokens.get(h.start as usize),
                norm.tokens.get((h.end as usize).saturating_sub(1)),
            ) else {
                continue;
            };
            let (bs, be) = (a.orig_start as usize, b.orig_end as usize);
            let Some(term) = text.get(bs..be) else {
                continue;
            };
            spans[f].push((bs, be));
            let start = counter.chars_to(f, text, bs);
            let end = start + term.chars().count();
            terms.push(TermHit {
                term: term.to_string(),
                field: Field::ALL[f],
                start,
                end,
            });
        }
        terms.dedup_by(|a, b| a.field == b.field && a.start == b.start && a.term == b.term);
        let field = [Field::Body, Field::Summary, Field::Title]
            .into_iter()
            .find(|f| !spans[f.index()].is_empty());
        let snippet = field
            .map(|f| snippet(dh.texts[f.index()], &spans[f.index()]))
            .unwrap_or_default();
        Match {
            rule: rule.name.clone(),
            severity: rule.severity,
            terms,
            snippet,
        }
    }

    pub(super) fn explain(&self, doc: &Document) -> Vec<Explanation> {
        let dh = self.scan(doc);
        self.rules
            .iter()
            .map(|r| {
                let feed_ok = Self::feed_allowed(r, doc);
                let query = explain_node(&r.query, &dh);
                let exclude = r.exclude.as_ref().map(|x| explain_node(x, &dh));
                let excluded = exclude.as_ref().is_some_and(|x| x.held);
                Explanation {
                    rule: r.name.clone(),
                    severity: r.severity,
                    fired: feed_ok && query.held && !excluded,
                    feed_allowed: feed_ok,
                    query,
                    exclude,
                }
            })
            .collect()
    }
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
struct Lexicon {
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
    /// Distinct byte lengths of single-token prefix literals, ascending: a token is probed at
    /// each length shorter than itself (its full length is probed anyway).
    prefix_lens: Vec<usize>,
    /// A one-hash Bloom filter (8 KiB) of the prefix literals' first [`HEAD`] bytes (fewer
    /// when a prefix is shorter): a real rule pack has prefixes of a dozen lengths, and this
    /// spares most tokens all of those probes.
    prefix_heads: Vec<u64>,
    /// How many leading bytes `prefix_heads` is keyed on: the shortest prefix literal's length,
    /// at most [`HEAD`].
    head_len: usize,
}

/// Leading bytes of a token that [`Lexicon::prefix_heads`] looks at.
const HEAD: usize = 4;

/// Bit of [`Lexicon::prefix_heads`] for a token's first `n` bytes.
fn head_bit(b: &[u8], n: usize) -> Option<usize> {
    let h = b
        .get(..n)?
        .iter()
        .fold(0u32, |h, &c| (h << 8) | u32::from(c));
    Some((h.wrapping_mul(0x9E37_79B1) >> 16) as usize)
}

/// Entry kinds, in the top two bits of a [`Lexicon::entries`] value: a single-term literal
/// equal to the token, a phrase (index into [`Lexicon::phrases`]) beginning with it, a
/// single-token prefix literal equal to it (`secur*` in the slot of `secur`).
const TERM: u32 = 0;
const PHRASE: u32 = 1 << 30;
const PREFIX: u32 = 2 << 30;
const KIND: u32 = 3 << 30;

/// A token's entries: `entries[at..at + len]`.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    at: u32,
    len: u32,
}

/// A literal of several tokens: the tokens that must follow its first.
#[derive(Debug)]
struct Phrase {
    pat: u32,
    rest: Box<[Box<str>]>,
    /// The last token of `rest` is a prefix (`"green zon*"`).
    prefix: bool,
}

/// The lexicon while rules are compiled: literals grouped by first token.
#[derive(Debug, Default)]
struct LexiconBuilder {
    slots: HashMap<String, (Vec<u32>, Vec<Phrase>)>,
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

impl LexiconBuilder {
    fn insert(&mut self, pat: u32, tokens: &[String], prefix: bool) {
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

    fn build(self) -> Lexicon {
        let mut lex = Lexicon::default();
        let has_prefix = |entries: &[u32]| entries.iter().any(|e| e & KIND == PREFIX);
        for (text, (entries, _)) in &self.slots {
            if has_prefix(entries) && !lex.prefix_lens.contains(&text.len()) {
                lex.prefix_lens.push(text.len());
            }
        }
        lex.prefix_lens.sort_unstable();
        if let Some(&shortest) = lex.prefix_lens.first() {
            lex.head_len = shortest.min(HEAD);
            lex.prefix_heads = vec![0; (1 << 16) / 64];
        }
        for (text, (mut entries, phrases)) in self.slots {
            if has_prefix(&entries) {
                if let Some(h) = head_bit(text.as_bytes(), lex.head_len) {
                    lex.prefix_heads[h / 64] |= 1 << (h % 64);
                }
            }
            entries.extend((0..phrases.len()).map(|i| PHRASE | (lex.phrases.len() + i) as u32));
            lex.phrases.extend(phrases);
            let slot = Slot {
                at: lex.entries.len() as u32,
                len: entries.len() as u32,
            };
            lex.entries.extend(entries);
            match key_at(&text, 0, text.len()) {
                Some(Key::Short(k)) => lex.short.insert(k, slot),
                Some(Key::Medium(a, b)) => lex.medium.insert((a, b), slot),
                Some(Key::Long(k)) => lex.long.insert(k.into(), slot),
                None => None,
            };
        }
        lex
    }
}

impl Lexicon {
    /// The entries of the `len` bytes of `stream` from `start` (a token or a token's head).
    fn get(&self, stream: &str, start: usize, len: usize) -> &[u32] {
        let slot = match key_at(stream, start, len) {
            Some(Key::Short(k)) => self.short.get(&k),
            Some(Key::Medium(a, b)) => self.medium.get(&(a, b)),
            Some(Key::Long(k)) => self.long.get(k),
            None => None,
        };
        slot.and_then(|s| self.entries.get(s.at as usize..(s.at + s.len) as usize))
            .unwrap_or(&[])
    }

    /// Whether some prefix literal may begin `token` (false positives allowed).
    fn may_have_prefix(&self, token: Option<&[u8]>) -> bool {
        match token.and_then(|t| head_bit(t, self.head_len)) {
            Some(h) => self
                .prefix_heads
                .get(h / 64)
                .is_some_and(|w| w & (1 << (h % 64)) != 0),
            // Shorter than every prefix literal.
            None => false,
        }
    }

    /// Every literal occurrence in `norm`, as hits of `field`.
    fn scan(&self, norm: &Normalized, field: Field, hits: &mut Vec<Hit>) {
        let field = field.index() as u8;
        for (ti, tok) in norm.tokens.iter().enumerate() {
            let (from, len) = (
                tok.norm_start as usize,
                (tok.norm_end - tok.norm_start) as usize,
            );
            let start = ti as u32;
            for &e in self.get(&norm.stream, from, len) {
                let (pat, end) = match e & KIND {
                    PHRASE => match self.phrases.get((e & !KIND) as usize) {
                        Some(p) if Self::follows(norm, ti + 1, p) => {
                            (p.pat, start + 1 + p.rest.len() as u32)
                        }
                        _ => continue,
                    },
                    _ => (e & !KIND, start + 1),
                };
                hits.push(Hit {
                    pat,
                    field,
                    start,
                    end,
                });
            }
            if !self.may_have_prefix(norm.stream.as_bytes().get(from..from + len)) {
                continue;
            }
            for &plen in &self.prefix_lens {
                if plen >= len {
                    break;
                }
                // A head that ends inside a character is no prefix: literals are whole
                // characters, so it finds no entries.
                for &e in self.get(&norm.stream, from, plen) {
                    if e & KIND == PREFIX {
                        hits.push(Hit {
                            pat: e & !KIND,
                            field,
                            start,
                            end: start + 1,
                        });
                    }
                }
            }
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

/// Token positions up to this (half a billion words into one field) fit the packed sort key.
const SORT_START_MAX: u32 = (1 << 29) - 1;

/// Incremental byte → char offset conversion (hits arrive sorted per field).
#[derive(Default)]
struct CharCounter {
    field: usize,
    byte: usize,
    chars: usize,
}

impl CharCounter {
    fn chars_to(&mut self, field: usize, text: &str, byte: usize) -> usize {
        if field != self.field || byte < self.byte {
            *self = CharCounter {
                field,
                ..CharCounter::default()
            };
        }
        self.chars += text.get(self.byte..byte).map_or(0, |s| s.chars().count());
        self.byte = byte;
        self.chars
    }
}

/// A document's normalised fields and sorted literal occurrences.
#[derive(Default)]
struct DocHits<'d> {
    texts: [&'d str; 5],
    norms: [Normalized; 5],
    hits: Vec<Hit>,
}

impl DocHits<'_> {
    fn of(&self, pat: u32) -> &[Hit] {
        let lo = self.hits.partition_point(|h| h.pat < pat);
        let hi = self.hits.partition_point(|h| h.pat <= pat);
        self.hits.get(lo..hi).unwrap_or(&[])
    }

    fn lit<'a>(&'a self, pat: u32, fields: u8) -> impl Iterator<Item = &'a Hit> + 'a {
        self.of(pat)
            .iter()
            .filter(move |h| fields & (1 << h.field) != 0)
    }
}

fn eval(n: &Node, dh: &DocHits) -> bool {
    match n {
        Node::Lit { pat, fields, .. } => dh.lit(*pat, *fields).next().is_some(),
        Node::And(v) => v.iter().all(|n| eval(n, dh)),
        Node::Or(v) => v.iter().any(|n| eval(n, dh)),
        Node::Not(n) => !eval(n, dh),
        Node::Near {
            left,
            right,
            distance,
            ordered,
            ..
        } => left.iter().any(|l| {
            dh.lit(l.pat, l.fields).any(|a| {
                right.iter().any(|r| {
                    dh.lit(r.pat, r.fields)
                        .any(|b| a.field == b.field && near(a, b, *distance, *ordered))
                })
            })
        }),
    }
}

/// Whether `a` and `b` (same field) are within `distance` words, `a` first if `ordered`.
fn near(a: &Hit, b: &Hit, distance: u32, ordered: bool) -> bool {
    if (a.start, a.end) == (b.start, b.end) {
        false
    } else if a.end <= b.start {
        b.start - a.end <= distance
    } else if b.end <= a.start {
        !ordered && a.start - b.end <= distance
    } else {
        // Overlapping spans (`"green zone" NEAR/3 zone`): adjacent, in no order.
        !ordered
    }
}

fn side_hits(sides: &[Side], dh: &DocHits) -> Vec<Hit> {
    let mut v: Vec<Hit> = sides
        .iter()
        .flat_map(|s| dh.lit(s.pat, s.fields).copied())
        .collect();
    v.sort_unstable_by_key(|h| (h.field, h.start, h.end));
    v
}

/// Hits taking part in a satisfied NEAR (for terms, snippets and explanations).
fn near_pairs(n: &Node, dh: &DocHits) -> Vec<Hit> {
    let Node::Near {
        left,
        right,
        distance,
        ordered,
        ..
    } = n
    else {
        return Vec::new();
    };
    let l = side_hits(left, dh);
    if l.is_empty() {
        return Vec::new();
    }
    let r = side_hits(right, dh);
    let max_len = r.iter().map(|h| h.end - h.start).max().unwrap_or(0);
    let mut out = Vec::new();
    for a in &l {
        // Right hits in the same field whose start could be within reach of `a`.
        let lo_start = a.start.saturating_sub(distance + max_len + 1);
        let hi_start = a.end.saturating_add(*distance);
        let from = r.partition_point(|h| (h.field, h.start) < (a.field, lo_start));
        for b in r.get(from..).unwrap_or(&[]) {
            if b.field != a.field || b.start > hi_start {
                break;
            }
            if near(a, b, *distance, *ordered) {
                out.push(*a);
                out.push(*b);
            }
        }
    }
    out
}

/// Hits of the positive literals under branches that held, for `Match::terms` and snippets.
fn collect(n: &Node, dh: &DocHits, out: &mut Vec<Hit>) {
    match n {
        Node::Lit { pat, fields, .. } => out.extend(dh.lit(*pat, *fields).copied()),
        Node::And(v) | Node::Or(v) => {
            for c in v {
                if eval(c, dh) {
                    collect(c, dh, out);
                }
            }
        }
        Node::Not(_) => {}
        Node::Near { .. } => out.extend(near_pairs(n, dh)),
    }
}

fn explain_node(n: &Node, dh: &DocHits) -> ExplainNode {
    let held = eval(n, dh);
    let describe = |hits: &[Hit]| -> Vec<String> {
        hits.iter()
            .map(|h| {
                let f = Field::ALL[h.field as usize];
                let norm = &dh.norms[h.field as usize];
                let text = dh.texts[h.field as usize];
                let bs = norm
                    .tokens
                    .get(h.start as usize)
                    .map_or(0, |t| t.orig_start as usize);
                let be = norm
                    .tokens
                    .get((h.end as usize).saturating_sub(1))
                    .map_or(0, |t| t.orig_end as usize);
                let chars = text.get(..bs).map_or(0, |s| s.chars().count());
                format!("{f}@{chars} {:?}", text.get(bs..be).unwrap_or(""))
            })
            .collect()
    };
    match n {
        Node::Lit { pat, fields, raw } => {
            let hits: Vec<Hit> = dh.lit(*pat, *fields).copied().collect();
            ExplainNode {
                label: raw.clone(),
                held,
                hits: describe(&hits),
                children: Vec::new(),
            }
        }
        // A long OR of plain literals is shown as one line plus the literals that were found:
        // listing forty missing synonyms hides the one branch the reader is looking for.
        Node::Or(v) if v.len() > 3 && v.iter().all(|c| matches!(c, Node::Lit { .. })) => {
            let found: Vec<ExplainNode> = v
                .iter()
                .map(|c| explain_node(c, dh))
                .filter(|c| c.held)
                .collect();
            ExplainNode {
                label: format!("OR of {} terms ({} found)", v.len(), found.len()),
                held,
                hits: Vec::new(),
                children: found,
            }
        }
        Node::And(v) | Node::Or(v) => ExplainNode {
            label: if matches!(n, Node::And(_)) {
                "AND"
            } else {
                "OR"
            }
            .into(),
            held,
            hits: Vec::new(),
            children: v.iter().map(|c| explain_node(c, dh)).collect(),
        },
        Node::Not(c) => ExplainNode {
            label: "NOT".into(),
            held,
            hits: Vec::new(),
            children: vec![explain_node(c, dh)],
        },
        Node::Near { label, .. } => {
            let mut pairs = near_pairs(n, dh);
            pairs.sort_unstable_by_key(|h| (h.field, h.start, h.end));
            pairs.dedup();
            ExplainNode {
                label: shorten(label, 100),
                held,
                hits: describe(&pairs),
                children: Vec::new(),
            }
        }
    }
}

/// `s` cut to at most `max` characters, with `…` when cut.
fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::RuleSet;
    use super::*;

    fn spec(name: &str, query: &str) -> RuleSpec {
        RuleSpec {
            name: name.into(),
            query: query.into(),
            severity: Severity::High,
            feeds: Vec::new(),
            exclude: None,
        }
    }

    fn fires(query: &str, body: &str) -> bool {
        let rs = RuleSet::compile(&[spec("r", query)]).unwrap_or_else(|e| panic!("{query}: {e:?}"));
        !rs.matches(&Document {
            body,
            ..Document::default()
        })
        .is_empty()
    }

    #[test]
    fn table() {
        let cases = [
            ("embassy", "The Embassy was hit", true),
            ("embassy", "embassies were hit", false),
            ("embass*", "embassies were hit", true),
            ("\"green zone\"", "the GREEN-ZONE in Baghdad", true),
            ("\"green zone\"", "green and zone", false),
            ("#GreenZone", "Rockets hit the green zone", true),
            ("\"green zone\"", "#GreenZone trending", true),
            ("ambassade", "L'Ambassade de France", true),
            ("sécurité", "SECURITE renforcée", true),
            ("\"المنطقة الخضراء\"", "صواريخ على المِنطقةِ الخضراءِ", true),
            ("أمن", "امن البلاد", true),
            ("أمن", "قوات الامن", false),
            ("embassy", "the embassy's gate", true),
            ("a NOT b", "a c", true),
            ("a NOT b", "a b", false),
            ("NOT zzz", "anything at all", true),
            ("NOT zzz", "", true),
            ("x OR NOT y", "nothing", true),
            ("rocket NEAR/2 embassy", "rocket hit the embassy", true),
            ("rocket NEAR/1 embassy", "rocket hit the embassy", false),
            ("embassy NEAR/2 rocket", "rocket hit the embassy", true),
            ("embassy ONEAR/2 rocket", "rocket hit the embassy", false),
            ("rocket ONEAR/2 embassy", "rocket hit the embassy", true),
            (
                "\"green zone\" NEAR/3 (rocket* OR drone*)",
                "drones over the green zone",
                true,
            ),
            (
                "\"green zone\" NEAR/3 (rocket* OR drone*)",
                "drones over the old town of the green zone",
                false,
            ),
            ("rocket* NEAR/1 rocket*", "rockets and rockets", true),
            ("rocket* NEAR/1 rocket*", "one rocket only", false),
            ("title:embassy", "embassy", false),
            ("url:embassy", "embassy", false),
            ("and", "this and that", true),
            ("a b OR c", "c", true),
            ("a b OR c", "a", false),
            ("straße", "STRASSE", true),
            // Every key width of the lexicon (≤ 8, 9–16, > 16 bytes), at the end of the text
            // and before more text, whole and as prefixes.
            ("ab", "ab", true),
            ("abcdefgh", "abcdefghi", false),
            ("abcdefghi", "abcdefgh", false),
            ("abcdefghi", "x abcdefghi y", true),
            ("counterterrorism", "counterterrorism", true),
            ("counterterrorism", "counterterrorisms", false),
            (
                "internationalisation",
                "the Internationalisation effort",
                true,
            ),
            ("internationalisation", "internationalisations", false),
            ("internationalis*", "internationalisation", true),
            ("abcdefgh*", "abcdefghijklmnopqrstu", true),
            ("internationalisat*", "internationalisation", true),
            ("internationalisat*", "internationalisa", false),
            ("\"green zon*\"", "green zones", true),
            ("\"green zon*\"", "green", false),
            ("\"green zone\"", "green zon", false),
            ("المنط*", "المنطقة", true),
            ("المنط*", "المن", false),
        ];
        for (q, body, want) in cases {
            assert_eq!(fires(q, body), want, "{q} on {body:?}");
        }
    }

    #[test]
    fn fields_exclude_feeds() {
        let mut s = spec("r", "title:embassy OR url:\"green zone\" OR feed:iraqi");
        s.exclude = Some("suites".into());
        s.feeds = vec!["Iraq".into()];
        let rs = RuleSet::compile(&[s]).unwrap_or_else(|e| panic!("{e:?}"));
        let tags = vec!["IRAQ".to_string()];
        let doc = |title, url, feed, tags: &'static [String]| Document {
            title,
            url,
            feed,
            feed_tags: tags,
            ..Document::default()
        };
        let tags: &'static [String] = Box::leak(tags.into_boxed_slice());
        assert_eq!(rs.matches(&doc("Embassy hit", "", "x", tags)).len(), 1);
        assert_eq!(
            rs.matches(&doc("Embassy hit", "", "x", &[])).len(),
            0,
            "feed filter"
        );
        assert_eq!(
            rs.matches(&doc("Embassy Suites", "", "iraq", &[])).len(),
            0,
            "exclude"
        );
        assert_eq!(
            rs.matches(&doc("", "https://x.org/green-zone", "iraq", &[]))
                .len(),
            1
        );
        assert_eq!(rs.matches(&doc("", "", "Iraqi News", tags)).len(), 1);
    }

    #[test]
    fn terms_are_sorted_deduplicated_and_in_chars() {
        let rs = RuleSet::compile(&[spec("r", "embassy OR embass* OR \"المنطقة الخضراء\"")])
            .unwrap_or_else(|e| panic!("{e:?}"));
        let m = rs.matches(&Document {
            title: "é embassy",
            body: "في المنطقة الخضراء و embassy’s",
            ..Document::default()
        });
        let terms: Vec<(Field, &str, usize, usize)> = m[0]
            .terms
            .iter()
            .map(|t| (t.field, t.term.as_str(), t.start, t.end))
            .collect();
        assert_eq!(
            terms,
            [
                (Field::Title, "embassy", 2, 9),
                (Field::Body, "المنطقة الخضراء", 3, 18),
                (Field::Body, "embassy", 21, 28),
            ]
        );
    }

    #[test]
    fn large_rule_sets_keep_every_kind_of_hit() {
        let mut specs: Vec<RuleSpec> = (0..1_200)
            .map(|i| spec(&format!("w{i}"), &format!("word{i}")))
            .collect();
        specs.push(spec("prefix", "secur*"));
        specs.push(spec("phrase", "\"green zone\""));
        specs.push(spec("not", "NOT zzz"));
        specs.push(spec("near", "embassy NEAR/2 rocket*"));
        let rs = RuleSet::compile(&specs).unwrap_or_else(|e| panic!("{e:?}"));
        let doc = Document {
            body:
                "Word7 security GREEN-zone word1199 xword5 word55x rockets hit the embassy's gate",
            ..Document::default()
        };
        let fired: Vec<String> = rs.matches(&doc).into_iter().map(|m| m.rule).collect();
        assert_eq!(fired, ["w7", "w1199", "prefix", "phrase", "not", "near"]);
        let explained: Vec<String> = rs
            .explain(&doc)
            .into_iter()
            .filter(|e| e.fired)
            .map(|e| e.rule)
            .collect();
        assert_eq!(fired, explained);
    }

    #[test]
    fn errors_are_all_reported() {
        let mut bad = spec("b", "ok");
        bad.exclude = Some("(x".into());
        let errs =
            RuleSet::compile(&[spec("a", "x AND"), bad, spec("c", "fine"), spec("c", "dup")])
                .err()
                .unwrap_or_default();
        let got: Vec<(&str, bool)> = errs
            .iter()
            .map(|e| (e.rule.as_str(), e.in_exclude))
            .collect();
        assert_eq!(got, [("a", false), ("b", true), ("c", false)]);
    }
}
