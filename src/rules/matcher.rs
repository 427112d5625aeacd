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
//! literals at least one of which must occur for the query to hold (see
//! [`triggers`](super::compile::triggers)); rules
//! that can hold with no literal at all (`NOT x`) are evaluated on every document. A prefix
//! literal that wakes no rule is *lazy*: the pass leaves it out, and only the rules woken for
//! a document make their lazy prefixes be looked for (see
//! [`Lexicon::scan_lazy`](super::lexicon::Lexicon::scan_lazy)). The cost of a document is one
//! normalisation pass plus work proportional to the hits, whatever the number of rules.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::compile::{collect_pats, triggers, Builder, Node, DEFAULT_FIELDS};
use super::concepts::{undefined, ConceptSpec, Concepts};
use super::eval::{collect, eval, explain_node, DocHits};
use super::explain::Explanation;
use super::lang::Lang;
use super::lexicon::{Hit, Lexicon, LexiconBuilder, PHRASE};
use super::model_hits::{explain_model, model_hits, model_stage, overrides_exclude, MODEL_VIA};
use super::normalize::{normalize_into, Normalized};
use super::query::parse;
use super::snippet::{snippet, CharCounter};
use super::stem::LazyLang;
use super::{Document, Field, Match, RuleError, RuleModel, RuleSpec, Severity, TermHit};

#[derive(Debug)]
struct Rule {
    name: String,
    severity: Severity,
    /// Lower-cased feed names/tags; empty = any feed.
    feeds: Vec<String>,
    query: Node,
    exclude: Option<Node>,
    /// The learned second stage: the rule also fires when its score reaches the threshold.
    model: Option<RuleModel>,
    /// The lazy prefix literals its query and exclude read (see [`Lexicon::scan_lazy`]).
    lazy: Vec<u32>,
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
    /// The `via` of a hit found by a model (one allocation per rule set, not per item).
    model_via: Arc<str>,
    /// Buffers of past items' scans, reused (see [`Scratch`]).
    scratch: Mutex<Vec<Scratch>>,
}

/// The buffers one item's scan fills: its normalised fields, its hits and their sort keys.
/// Taken from [`Compiled::scratch`] and given back after the item, so that an item costs no
/// allocation of them; with a fresh set per item, `malloc` and `free` took about a tenth of
/// the time of `benches/rules.rs` (perf, 2026-12-03).
#[derive(Debug, Default)]
pub(super) struct Scratch {
    norms: [Normalized; 5],
    hits: Vec<Hit>,
    keys: Vec<u64>,
}

/// Most sets of buffers kept: one per thread matching at once is enough.
const MAX_SCRATCH: usize = 16;

impl Compiled {
    pub(super) fn new(
        specs: &[RuleSpec],
        concepts: &[ConceptSpec],
    ) -> Result<Compiled, Vec<RuleError>> {
        // Names defined even if broken: a rule using a broken concept is not told it is
        // undefined (the concept's own error says what is wrong).
        let names: std::collections::HashSet<&str> =
            concepts.iter().map(|c| c.name.as_str()).collect();
        let (concepts, mut errors) = match Concepts::new(concepts) {
            Ok(c) => (c, Vec::new()),
            Err(e) => (Concepts::default(), e),
        };
        let mut b = Builder {
            lexicon: LexiconBuilder::default(),
            pat_len: Vec::new(),
            pat_cost: Vec::new(),
            index: HashMap::new(),
            concepts: &concepts,
            path: Vec::new(),
        };
        let mut rules = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for spec in specs {
            if !seen.insert(spec.name.as_str()) {
                errors.push(rule_error(
                    spec,
                    "duplicate rule name".into(),
                    1,
                    &spec.query,
                    false,
                ));
            }
            let query = checked(spec, &spec.query, false, &names);
            let exclude = (spec.exclude.as_deref())
                .map(|x| checked(spec, x, true, &names))
                .transpose();
            match (query, exclude) {
                (Ok(q), Ok(x)) => rules.push(Rule {
                    name: spec.name.clone(),
                    severity: spec.severity,
                    feeds: spec.feeds.iter().map(|f| f.trim().to_lowercase()).collect(),
                    query: b.node(&q, DEFAULT_FIELDS),
                    exclude: x.map(|x| b.node(&x, DEFAULT_FIELDS)),
                    model: spec.model.clone(),
                    lazy: Vec::new(),
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
                concept: None,
            });
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let wake = Wake::index(&rules, &b.pat_cost);
        let lazy = lazy_prefixes(&mut rules, &wake, &b.lexicon, b.pat_len.len());
        let lexicon = b.lexicon.build(&lazy);
        let model_rules: Vec<u32> = (0..rules.len() as u32)
            .filter(|&i| rules.get(i as usize).is_some_and(|r| r.model.is_some()))
            .collect();
        // The models read the title and the body (or summary) as the matcher normalised them.
        let model_fields = if model_rules.is_empty() {
            0
        } else {
            Field::Title.bit() | Field::Summary.bit() | Field::Body.bit()
        };
        Ok(Compiled {
            lexicon,
            woken_at: std::iter::once(0)
                .chain(wake.by_pat.iter().scan(0u32, |n, v| {
                    *n += v.len() as u32;
                    Some(*n)
                }))
                .collect(),
            woken: wake.by_pat.concat(),
            pat_len: b.pat_len,
            rules,
            always: wake.always,
            used_fields: wake.used_fields | model_fields,
            model_via: Arc::from(MODEL_VIA),
            scratch: Mutex::default(),
        })
    }

    pub(super) fn len(&self) -> usize {
        self.rules.len()
    }

    /// The stem memo, held (for tests of what matching does while another thread holds it).
    #[cfg(test)]
    pub(super) fn lexicon_memo(&self) -> super::stem_memo::ItemMemo<'_> {
        self.lexicon.memo()
    }

    /// Whether the stem memo keeps whole answers (for tests).
    #[cfg(test)]
    pub(super) fn lexicon_keeps_whole_answers(&self) -> bool {
        self.lexicon.keeps_whole_answers()
    }

    pub(super) fn rule_names(&self) -> Vec<&str> {
        self.rules.iter().map(|r| r.name.as_str()).collect()
    }

    /// Buffers for one item's scan: a past item's, or new ones.
    fn take_scratch(&self) -> Scratch {
        let mut pool = self.scratch.lock().unwrap_or_else(PoisonError::into_inner);
        pool.pop().unwrap_or_default()
    }

    /// Gives an item's buffers back for the next item.
    fn recycle(&self, dh: DocHits) {
        let mut pool = self.scratch.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.len() < MAX_SCRATCH {
            pool.push(Scratch {
                norms: dh.norms,
                hits: dh.hits,
                keys: dh.keys,
            });
        }
    }

    /// Normalise the fields and collect every literal occurrence.
    fn scan<'d>(&self, doc: &Document<'d>) -> DocHits<'d> {
        let Scratch {
            mut norms,
            mut hits,
            keys,
        } = self.take_scratch();
        // A field that is not scanned must read as empty, as a fresh buffer does.
        for n in &mut norms {
            n.stream.clear();
            n.tokens.clear();
        }
        hits.clear();
        let mut dh = DocHits {
            texts: Field::ALL.map(|f| doc.field(f)),
            norms,
            hits,
            keys,
            lang: None,
        };
        if self.pat_len.is_empty() {
            return dh;
        }
        let mut lang = LazyLang::new(doc.title, doc.summary, doc.body);
        let mut memo = self.lexicon.memo();
        for f in Field::ALL {
            if self.used_fields & f.bit() == 0 || dh.texts[f.index()].is_empty() {
                continue;
            }
            let norm = &mut dh.norms[f.index()];
            normalize_into(dh.texts[f.index()], norm);
            dh.hits.reserve(norm.tokens.len() / 2);
            self.lexicon
                .scan(norm, f, &mut dh.hits, &mut lang, &mut memo);
        }
        dh.lang = lang.known();
        self.sort_hits(&mut dh);
        dh
    }

    /// Adds the hits of the lazy prefix literals `pats` (see [`Lexicon::scan_lazy`]) to a
    /// scan's.
    fn scan_lazy(&self, dh: &mut DocHits, pats: &[u32]) {
        if pats.is_empty() {
            return;
        }
        let heads = self.lexicon.item_heads(pats);
        for (f, norm) in Field::ALL.iter().zip(&dh.norms) {
            if !norm.tokens.is_empty() {
                self.lexicon.scan_lazy(norm, *f, &heads, &mut dh.hits);
            }
        }
        self.sort_hits(dh);
    }

    /// Sorts a scan's hits for [`DocHits::of`].
    fn sort_hits(&self, dh: &mut DocHits) {
        // Grouped by literal, then in text order (a literal's hits at one token are one hit:
        // its length is fixed, so the packed key loses nothing). Sorting plain integers is
        // about twice as fast as sorting the structs by key.
        if dh.hits.iter().any(|h| h.start > SORT_START_MAX) {
            // Half a billion words into a field: too far for the packed key.
            dh.hits.sort_unstable();
            return;
        }
        let mut keys = std::mem::take(&mut dh.keys);
        keys.clear();
        keys.extend(
            dh.hits
                .iter()
                .map(|h| u64::from(h.pat) << 32 | u64::from(h.field) << 29 | u64::from(h.start)),
        );
        keys.sort_unstable();
        for (h, &k) in dh.hits.iter_mut().zip(&keys) {
            let (pat, start) = ((k >> 32) as u32, (k as u32) & SORT_START_MAX);
            *h = Hit {
                pat,
                field: ((k >> 29) & 7) as u8,
                start,
                end: start + self.pat_len.get(pat as usize).copied().unwrap_or(1),
            };
        }
        dh.keys = keys;
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
        let mut dh = self.scan(doc);
        let candidates = self.candidates(&dh);
        let mut lazy = Vec::new();
        for &i in &candidates {
            lazy.extend(self.rules.get(i as usize).iter().flat_map(|r| &r.lazy));
        }
        lazy.sort_unstable();
        lazy.dedup();
        self.scan_lazy(&mut dh, &lazy);
        let stage = model_stage(&dh);
        let mut out = Vec::new();
        for i in candidates {
            let Some(rule) = self.rules.get(i as usize) else {
                continue;
            };
            if !Self::feed_allowed(rule, doc) {
                continue;
            }
            let by_query = eval(&rule.query, &dh);
            let by_model = !by_query
                && rule
                    .model
                    .as_ref()
                    .is_some_and(|m| stage.score(&m.model) >= m.threshold);
            if !(by_query || by_model)
                || (rule.exclude.as_ref().is_some_and(|x| eval(x, &dh))
                    && !overrides_exclude(&stage, rule.model.as_ref()))
            {
                continue;
            }
            let mut hits = Vec::new();
            match &rule.model {
                Some(m) if by_model => hits = model_hits(&stage, &m.model, &self.model_via),
                _ => collect(&rule.query, &dh, &mut hits),
            }
            out.push(self.build_match(rule, &dh, hits));
        }
        drop(stage);
        self.recycle(dh);
        out
    }

    fn build_match(
        &self,
        rule: &Rule,
        dh: &DocHits,
        mut hits: Vec<(Hit, Option<&Arc<str>>)>,
    ) -> Match {
        // Order by field then position; the same text span once, whichever literal found it
        // (one found through a stem or concept first, so the hit can say so).
        hits.sort_unstable_by_key(|(h, via)| (h.field, h.start, h.end, via.is_none()));
        hits.dedup_by_key(|(h, _)| (h.field, h.start, h.end));
        let mut terms = Vec::with_capacity(hits.len());
        let mut spans: [Vec<(usize, usize)>; 5] = Default::default();
        let mut counter = CharCounter::default();
        for (h, via) in &hits {
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
                via: via.map(|v| v.to_string()),
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
        let mut dh = self.scan(doc);
        let woken = self.candidates(&dh);
        self.scan_lazy(&mut dh, &self.lexicon.lazy_pats());
        let stage = model_stage(&dh);
        let explained = self
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let feed_ok = Self::feed_allowed(r, doc);
                let read = u32::try_from(i).is_ok_and(|i| woken.binary_search(&i).is_ok());
                let query = explain_node(&r.query, &dh);
                let exclude = r.exclude.as_ref().map(|x| explain_node(x, &dh));
                let model = r
                    .model
                    .as_ref()
                    .map(|m| explain_model(&stage, m, &dh, read));
                let excluded = exclude.as_ref().is_some_and(|x| x.held)
                    && !model.as_ref().is_some_and(|m| m.overrides_exclude);
                let by_model = model.as_ref().is_some_and(|m| m.fired);
                Explanation {
                    rule: r.name.clone(),
                    severity: r.severity,
                    fired: feed_ok && (query.held || by_model) && !excluded,
                    feed_allowed: feed_ok,
                    lang: dh.lang.map(Lang::code),
                    query,
                    exclude,
                    model,
                }
            })
            .collect();
        drop(stage);
        self.recycle(dh);
        explained
    }
}

/// Token positions up to this (half a billion words into one field) fit the packed sort key.
const SORT_START_MAX: u32 = (1 << 29) - 1;

/// A compile error in `spec`'s query (or its exclude, with `in_exclude`).
fn rule_error(
    spec: &RuleSpec,
    message: String,
    column: usize,
    query: &str,
    in_exclude: bool,
) -> RuleError {
    RuleError {
        rule: spec.name.clone(),
        message,
        column,
        query: query.to_string(),
        in_exclude,
        concept: None,
    }
}

/// Parses one of `spec`'s queries. A query that parses but names an undefined concept is
/// refused at the `@` (unless the concepts themselves are broken: their errors say why first,
/// and their names are in `names` all the same).
fn checked(
    spec: &RuleSpec,
    query: &str,
    in_exclude: bool,
    names: &std::collections::HashSet<&str>,
) -> Result<super::query::Expr, RuleError> {
    let e = parse(query).map_err(|e| rule_error(spec, e.message, e.column, query, in_exclude))?;
    let mut missing = Vec::new();
    undefined(&e, &|n| names.contains(n), &mut missing);
    match missing.first() {
        Some((name, col)) => Err(rule_error(
            spec,
            format!("no concept named `{name}` is defined (`[[concepts]]` in a rule file)"),
            *col,
            query,
            in_exclude,
        )),
        None => Ok(e),
    }
}

/// Which rules each pattern wakes: a rule is evaluated only when one of its trigger
/// patterns occurs (`always` holds the rules no pattern can trigger, e.g. pure `NOT`s).
struct Wake {
    by_pat: Vec<Vec<u32>>,
    always: Vec<u32>,
    used_fields: u8,
}

impl Wake {
    fn index(rules: &[Rule], pat_cost: &[f32]) -> Wake {
        let mut wake = Wake {
            by_pat: vec![Vec::new(); pat_cost.len()],
            always: Vec::new(),
            used_fields: 0,
        };
        for (i, r) in rules.iter().enumerate() {
            collect_pats(&r.query, &mut Vec::new(), &mut wake.used_fields);
            if let Some(x) = &r.exclude {
                collect_pats(x, &mut Vec::new(), &mut wake.used_fields);
            }
            match triggers(&r.query, pat_cost) {
                Some((_, mut pats)) => {
                    pats.sort_unstable();
                    pats.dedup();
                    for p in pats {
                        wake.by_pat[p as usize].push(i as u32);
                    }
                }
                None => wake.always.push(i as u32),
            }
        }
        wake
    }
}

/// Most lazy prefix literals one rule may read: a rule reading more keeps them eager.
///
/// An item that wakes the rule must then look for each of them in a second pass over its
/// tokens, where an eager prefix is found by the search of heads the first pass makes anyway.
/// The shipped packs' rules read dozens of prefixes past a NEAR or in an exclude, and nearly
/// every labelled article wakes them: with no limit, `benches/rules.rs` measured the surface
/// pack 20% slower (31.9 → 25.5 MB/s) and the concept pack 22% (9.4 → 7.2; three
/// alternating runs, 2026-12-05).
const LAZY_PER_RULE: usize = 4;

/// Which patterns are lazy prefix literals (by pattern id), filling each rule's
/// [`Rule::lazy`]: a single-token prefix that wakes no rule, read only by rules that read
/// at most [`LAZY_PER_RULE`] such prefixes.
fn lazy_prefixes(
    rules: &mut [Rule],
    wake: &Wake,
    lexicon: &LexiconBuilder,
    pats: usize,
) -> Vec<bool> {
    let mut lazy = vec![false; pats];
    for p in lexicon.prefixes() {
        if let (Some(l), Some(w)) = (lazy.get_mut(p as usize), wake.by_pat.get(p as usize)) {
            *l = w.is_empty();
        }
    }
    let mut eager = vec![false; pats];
    for r in rules.iter_mut() {
        let mut read = Vec::new();
        collect_pats(&r.query, &mut read, &mut 0);
        if let Some(x) = &r.exclude {
            collect_pats(x, &mut read, &mut 0);
        }
        read.retain(|&p| lazy.get(p as usize).copied().unwrap_or(false));
        read.sort_unstable();
        read.dedup();
        if read.len() > LAZY_PER_RULE {
            for &p in &read {
                if let Some(e) = eager.get_mut(p as usize) {
                    *e = true;
                }
            }
        }
        r.lazy = read;
    }
    lazy.iter_mut().zip(&eager).for_each(|(l, &e)| *l &= !e);
    for r in rules.iter_mut() {
        r.lazy
            .retain(|&p| lazy.get(p as usize).copied().unwrap_or(false));
    }
    lazy
}

#[cfg(test)]
#[path = "matcher_tests.rs"]
mod tests;
