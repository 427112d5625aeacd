//! Compiling rule queries into trees over pattern ids: literals interned in the lexicon,
//! concepts expanded, scopes pushed down to the literals, and the trigger literals that wake a
//! rule chosen (see [`triggers`]).

use std::collections::HashMap;
use std::sync::Arc;

use super::concepts::Concepts;
use super::lexicon::LexiconBuilder;
use super::query::{Expr, Literal};
use super::Field;

/// Unscoped literals match in these fields.
pub(super) const DEFAULT_FIELDS: u8 =
    (1 << Field::Title as u8) | (1 << Field::Summary as u8) | (1 << Field::Body as u8);

/// A rule tree with literals resolved to pattern ids and scopes pushed down to the literals.
#[derive(Debug, Clone)]
pub(super) enum Node {
    Lit {
        pat: u32,
        fields: u8,
        raw: String,
        /// What a hit reports besides the word, when the literal is a stem or comes from a
        /// concept: `~storm in @attack`.
        via: Option<Arc<str>>,
    },
    /// `@name`, expanded: an OR of the concept's terms.
    Concept {
        name: String,
        terms: Vec<Node>,
        /// Every literal under it, sorted by pattern, as NEAR sides are: a concept holds only
        /// literals and concepts, so it holds exactly when one of these occurs, which
        /// [`any_side_hit`] finds by walking the document's few hits rather than looking up
        /// hundreds of literals.
        lits: Vec<Side>,
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
pub(super) struct Side {
    pub(super) pat: u32,
    pub(super) fields: u8,
    pub(super) via: Option<Arc<str>>,
}

pub(super) struct Builder<'c> {
    pub(super) lexicon: LexiconBuilder,
    pub(super) pat_len: Vec<u32>,
    /// Guessed relative frequency of each pattern, to pick which literals wake a rule.
    pub(super) pat_cost: Vec<f32>,
    pub(super) index: HashMap<String, u32>,
    pub(super) concepts: &'c Concepts,
    /// The concepts being expanded, outermost first, for [`Node::Lit::via`].
    pub(super) path: Vec<&'c str>,
}

impl<'c> Builder<'c> {
    pub(super) fn pattern(&mut self, lit: &Literal) -> u32 {
        // One id per distinct literal: tokens joined, `*` marking a prefix, `~` a stem.
        let mut p = lit.tokens.join(" ");
        if lit.prefix {
            p.push('*');
        }
        if lit.stem {
            p.insert(0, '~');
        }
        if let Some(&id) = self.index.get(&p) {
            return id;
        }
        let id = self.pat_len.len() as u32;
        self.index.insert(p, id);
        match (lit.stem, lit.tokens.first()) {
            (true, Some(t)) => self.lexicon.insert_stem(id, t),
            _ => self.lexicon.insert(id, &lit.tokens, lit.prefix),
        }
        self.pat_len.push(lit.tokens.len() as u32);
        let short = lit.tokens.iter().map(|t| t.chars().count()).sum::<usize>() <= 3;
        self.pat_cost
            .push(match (lit.prefix || lit.stem, lit.tokens.len()) {
                (true, _) => 4.0,
                (false, 1) if short => 2.0,
                (false, 1) => 1.0,
                (false, _) => 0.3,
            });
        id
    }

    /// `~storm in @attack`, or `None` for a plain literal written in the rule itself.
    pub(super) fn via(&self, lit: &Literal) -> Option<Arc<str>> {
        let concept = self.path.last();
        if !lit.stem && concept.is_none() {
            return None;
        }
        let mut v = lit.raw.clone();
        if let Some(c) = concept {
            v.push_str(" in @");
            v.push_str(c);
        }
        Some(v.into())
    }

    pub(super) fn node(&mut self, e: &Expr, fields: u8) -> Node {
        match e {
            Expr::Lit(l) => Node::Lit {
                pat: self.pattern(l),
                fields,
                raw: l.raw.clone(),
                via: self.via(l),
            },
            Expr::Concept(c) => {
                // Undefined names were reported before building; an empty OR never holds.
                let Some((name, terms)) = self.concepts.entry(&c.name) else {
                    return Node::Or(Vec::new());
                };
                self.path.push(name);
                let terms = terms.iter().map(|t| self.node(&t.expr(), fields)).collect();
                self.path.pop();
                let mut lits = Vec::new();
                self.sides(e, fields, &mut lits);
                lits.sort_by_key(|s| s.pat);
                Node::Concept {
                    name: c.name.clone(),
                    terms,
                    lits,
                }
            }
            Expr::And(v) => Node::And(v.iter().map(|e| self.node(e, fields)).collect()),
            Expr::Or(v) => Node::Or(v.iter().map(|e| self.node(e, fields)).collect()),
            Expr::Not(e, _) => Node::Not(Box::new(self.node(e, fields))),
            Expr::Scope(f, e, _) => self.node(e, f.bit()),
            Expr::Near {
                left,
                right,
                distance,
                ordered,
                ..
            } => {
                let mut l = Vec::new();
                let mut r = Vec::new();
                self.sides(left, fields, &mut l);
                self.sides(right, fields, &mut r);
                // Sorted by pattern for `side_hits`.
                l.sort_by_key(|s| s.pat);
                r.sort_by_key(|s| s.pat);
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

    pub(super) fn sides(&mut self, e: &Expr, fields: u8, out: &mut Vec<Side>) {
        match e {
            Expr::Lit(l) => out.push(Side {
                pat: self.pattern(l),
                fields,
                via: self.via(l),
            }),
            Expr::Concept(c) => {
                let Some((name, terms)) = self.concepts.entry(&c.name) else {
                    return;
                };
                self.path.push(name);
                for t in terms {
                    self.sides(&t.expr(), fields, out);
                }
                self.path.pop();
            }
            Expr::Or(v) => v.iter().for_each(|e| self.sides(e, fields, out)),
            Expr::Scope(f, e, _) => self.sides(e, f.bit(), out),
            // The parser only lets positional expressions reach a NEAR.
            _ => {}
        }
    }
}

/// Literals of which at least one must occur for `n` to hold; `None` when `n` can hold with no
/// literal at all (`NOT x`). Of an AND's conjuncts only the cheapest set is kept, so a rule like
/// `rocket* AND baghdad` is woken by `baghdad` alone and costs nothing on documents without it.
pub(super) fn triggers(n: &Node, cost: &[f32]) -> Option<(f32, Vec<u32>)> {
    let of = |pats: Vec<u32>| {
        let c = pats
            .iter()
            .map(|&p| cost.get(p as usize).copied().unwrap_or(1.0))
            .sum();
        (c, pats)
    };
    match n {
        Node::Lit { pat, .. } => Some(of(vec![*pat])),
        Node::Or(v) | Node::Concept { terms: v, .. } => {
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

pub(super) fn collect_pats(n: &Node, out: &mut Vec<u32>, used: &mut u8) {
    match n {
        Node::Lit { pat, fields, .. } => {
            out.push(*pat);
            *used |= fields;
        }
        Node::And(v) | Node::Or(v) | Node::Concept { terms: v, .. } => {
            v.iter().for_each(|n| collect_pats(n, out, used))
        }
        Node::Not(n) => collect_pats(n, out, used),
        Node::Near { left, right, .. } => {
            for s in left.iter().chain(right) {
                out.push(s.pat);
                *used |= s.fields;
            }
        }
    }
}
