//! Per-site extraction rules from the config (`[[sites]]`): CSS selectors for the body and for
//! furniture to drop, for the few sites where the heuristic is not enough.
//!
//! Config types are plain data ([`SiteSpec`]); [`SiteRule`] is the compiled form, built once
//! by [`super::Extractor::new`] so a bad selector is a start-up error, never a per-page one.

use scraper::{ElementRef, Html, Selector};
use serde::Deserialize;

use super::ExtractError;
use crate::text::html::{render, TextBuilder};

/// One `[[sites]]` table: `host = "newarab.com"`, `body = "div.article-body"` (a string or a
/// list), `drop = [".related-box"]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSpec {
    /// Host the rule applies to; also matches its subdomains (`www.`, `english.`...).
    pub host: String,
    /// Selectors for the article body; the text of every match is taken, in document order.
    #[serde(deserialize_with = "one_or_many")]
    pub body: Vec<String>,
    /// Selectors for furniture inside the body (related boxes, captions) that must not count.
    #[serde(default, deserialize_with = "one_or_many")]
    pub drop: Vec<String>,
}

/// Accepts `"sel"` as well as `["a", "b"]`: one selector is the common case in config files.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// A [`SiteSpec`] with its selectors compiled.
#[derive(Debug)]
pub(crate) struct SiteRule {
    /// Lower-cased host without a leading `www.`, so `www.newarab.com` and `newarab.com` agree.
    pub(crate) host: String,
    body: Vec<Selector>,
    drop: Vec<Selector>,
}

impl SiteRule {
    pub(crate) fn new(spec: &SiteSpec) -> Result<SiteRule, ExtractError> {
        let compile = |list: &[String]| -> Result<Vec<Selector>, ExtractError> {
            list.iter()
                .map(|s| {
                    Selector::parse(s).map_err(|e| ExtractError::BadSelector {
                        host: spec.host.clone(),
                        selector: s.clone(),
                        reason: e.to_string(),
                    })
                })
                .collect()
        };
        let host = normalize_host(&spec.host);
        if host.is_empty() {
            return Err(ExtractError::EmptyHost);
        }
        if spec.body.is_empty() {
            return Err(ExtractError::NoBodySelector {
                host: spec.host.clone(),
            });
        }
        Ok(SiteRule {
            host,
            body: compile(&spec.body)?,
            drop: compile(&spec.drop)?,
        })
    }

    /// True when `host` is this rule's host or one of its subdomains.
    pub(crate) fn matches(&self, host: &str) -> bool {
        let host = normalize_host(host);
        host == self.host
            || host
                .strip_suffix(self.host.as_str())
                .is_some_and(|sub| sub.ends_with('.'))
    }

    /// The body text by the rule's selectors, or None when they match no text (the site has
    /// changed its markup: the caller falls back to the heuristic).
    pub(crate) fn apply(&self, doc: &Html) -> Option<String> {
        let mut drop_ids = std::collections::HashSet::new();
        for sel in &self.drop {
            drop_ids.extend(doc.select(sel).map(|e| e.id()));
        }
        let mut seen = std::collections::HashSet::new();
        let mut bodies: Vec<ElementRef<'_>> = Vec::new();
        for sel in &self.body {
            for el in doc.select(sel) {
                if seen.insert(el.id()) {
                    bodies.push(el);
                }
            }
        }
        // Nested matches would repeat text: keep only the outermost ones.
        let outer: Vec<_> = bodies
            .iter()
            .filter(|e| !e.ancestors().any(|a| seen.contains(&a.id())))
            .collect();
        let mut tb = TextBuilder::default();
        for el in outer {
            tb.brk(2);
            render(**el, &mut tb, &|n| drop_ids.contains(&n.id()));
        }
        let text = tb.finish();
        (!text.is_empty()).then_some(text)
    }
}

fn normalize_host(h: &str) -> String {
    let h = h.trim().trim_end_matches('.').to_ascii_lowercase();
    h.strip_prefix("www.").map(str::to_string).unwrap_or(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(toml_src: &str) -> SiteSpec {
        #[derive(Deserialize)]
        struct Cfg {
            sites: Vec<SiteSpec>,
        }
        let c: Cfg = toml::from_str(toml_src).expect("test config parses");
        c.sites.into_iter().next().expect("one site")
    }

    #[test]
    fn body_accepts_string_or_list() {
        let a = spec("[[sites]]\nhost = \"newarab.com\"\nbody = \"div.article-body\"\n");
        assert_eq!(a.body, vec!["div.article-body"]);
        assert!(a.drop.is_empty());
        let b =
            spec("[[sites]]\nhost = \"x.org\"\nbody = [\"main p\", \"div.b\"]\ndrop = [\".r\"]\n");
        assert_eq!(b.body.len(), 2);
        assert_eq!(b.drop, vec![".r"]);
    }

    #[test]
    fn unknown_keys_rejected() {
        #[derive(Deserialize)]
        struct Cfg {
            #[allow(dead_code)]
            sites: Vec<SiteSpec>,
        }
        let r: Result<Cfg, _> =
            toml::from_str("[[sites]]\nhost = \"a\"\nbody = \"p\"\nbogus = 1\n");
        assert!(r.is_err());
    }

    #[test]
    fn host_matches_subdomains_only() {
        let r = SiteRule::new(&SiteSpec {
            host: "newarab.com".into(),
            body: vec!["p".into()],
            drop: vec![],
        })
        .expect("valid rule");
        assert!(r.matches("newarab.com"));
        assert!(r.matches("www.newarab.com"));
        assert!(r.matches("english.NewArab.com"));
        assert!(!r.matches("notnewarab.com"));
        assert!(!r.matches("newarab.com.evil.org"));
    }

    #[test]
    fn bad_selector_names_host_and_selector() {
        let e = SiteRule::new(&SiteSpec {
            host: "a.org".into(),
            body: vec!["div[".into()],
            drop: vec![],
        })
        .expect_err("invalid selector");
        let msg = e.to_string();
        assert!(msg.contains("a.org") && msg.contains("div["), "{msg}");
    }

    #[test]
    fn apply_takes_body_minus_drop() {
        let r = SiteRule::new(&SiteSpec {
            host: "a.org".into(),
            body: vec!["div.body".into(), "div.body p".into()],
            drop: vec![".rel".into()],
        })
        .expect("valid rule");
        let doc = Html::parse_document(
            "<div class=nav>Home</div><div class=body><p>One.</p><div class=rel>Read also: x</div><p>Two.</p></div>",
        );
        assert_eq!(r.apply(&doc).as_deref(), Some("One.\n\nTwo."));
        let none = Html::parse_document("<p>nothing here</p>");
        assert_eq!(r.apply(&none), None);
    }
}
