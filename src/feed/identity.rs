//! Stable identity of feed items, the basis of dedup ("one story, one alert").
//!
//! Pipeline position: computed right after parse, before anything is fetched or matched, so an
//! item seen before costs nothing downstream. `store` keeps the [`ItemKey`]s it has seen.
//!
//! # The rule
//! 1. **GUID, when trustworthy.** A GUID that is a URL is canonicalised and is *global*: the same
//!    article in several feeds is one item. Any other GUID is *scoped by the feed URL*, because
//!    `"1234"` in one feed says nothing about `"1234"` in another.
//!    A GUID is not trusted when it is empty, absurdly long (> 1024 bytes), or looks like a random
//!    token (a version-4 UUID, or 16+ characters of bare hex/base64 with no separators) **and** the
//!    item has a link. Random-looking GUIDs are what CMSs that regenerate ids on every render emit;
//!    when there is a link it is the safer identity. A random-looking GUID with no link is still
//!    used (nothing better exists).
//! 2. **Canonical link** ([`canonical_url`]): global.
//! 3. **Title + date** (or summary when there is no title), scoped by the feed URL.
//!
//! The trade-off of the random-GUID rule: a feed with stable UUID GUIDs whose links change
//! (slug edited with the title) gets a new key; a feed that regenerates GUIDs every poll does
//! not. The second is the failure analysts notice (repeated alerts), so it wins.
//!
//! An edited title keeps the key in cases 1 and 2. The key is the first 64 bits of SHA-256 of
//! the identity string: collisions are negligible at feed-reader scale (2^-64 per pair) and an
//! `i64` fits an SQLite INTEGER column.

use sha2::{Digest, Sha256};

use super::FeedItem;

/// 64-bit identity of an item (see the module docs for what it is derived from).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ItemKey(pub i64);

/// Query parameters that only track the click, never select content. Matched case-insensitively;
/// `utm_*` is matched by prefix.
const TRACKING_PARAMS: &[&str] = &[
    "fbclid",
    "gclid",
    "gclsrc",
    "dclid",
    "msclkid",
    "yclid",
    "twclid",
    "igshid",
    "mc_cid",
    "mc_eid",
    "ref_src",
    "ref_url",
    "_hsenc",
    "_hsmi",
    "mkt_tok",
    "oly_anon_id",
    "oly_enc_id",
    "vero_id",
    "vero_conv",
    "__s",
    "_ga",
    "_gl",
    "wt_mc",
    "wt.mc_id",
    "cmpid",
    "ocid",
    "smid",
    "sr_share",
];

fn is_tracking(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.starts_with("utm_") || TRACKING_PARAMS.contains(&k.as_str())
}

/// Canonical form of an http(s) URL, for dedup: lower-case scheme and host, no default port,
/// no fragment, tracking parameters removed, remaining parameters **kept in their order**
/// (some CMSs route on parameter order, and sorting would merge nothing in practice), and no
/// trailing `?`. Returns `None` for anything that is not an absolute http(s) URL.
pub fn canonical_url(url: &str) -> Option<String> {
    canonical_of(url::Url::parse(url.trim()).ok()?)
}

/// [`canonical_url`] of an already parsed URL (the feed stage parses each link once and
/// passes both forms on).
pub fn canonical_of(mut u: url::Url) -> Option<String> {
    if !matches!(u.scheme(), "http" | "https") || u.host().is_none() {
        return None;
    }
    u.set_fragment(None);
    if let Some(query) = u.query() {
        // Filter the raw `&`-separated parts, so that the kept ones stay byte-for-byte as the
        // publisher wrote them (re-encoding would turn `?a` into `?a=` and `%20` into `+`).
        let kept: Vec<&str> = query
            .split('&')
            .filter(|part| {
                let key = part.split('=').next().unwrap_or_default();
                !part.is_empty() && !is_tracking(key)
            })
            .collect();
        let kept = kept.join("&");
        u.set_query((!kept.is_empty()).then_some(kept.as_str()));
    }
    Some(u.to_string())
}

/// Stable identity of an item; see the module docs for the rule.
pub fn item_key(item: &FeedItem, feed_url: &str) -> ItemKey {
    let link = item.link.as_deref().and_then(canonical_url);
    identity(item, link.as_deref(), &scope(feed_url))
}

/// Every key an item is known by: its identity first, then, when that came from its GUID, its
/// link's (so an item re-published under a new GUID is still known), with the canonical link.
///
/// The same keys as [`item_key`] on the item and on its link alone, computed with one parse of
/// each URL: `scope` is [`scope`] of the feed URL, computed once per feed.
pub fn item_keys(item: &FeedItem, scope: &str) -> (Vec<ItemKey>, Option<String>) {
    let link = item
        .link_canonical
        .clone()
        .or_else(|| item.link.as_deref().and_then(canonical_url));
    let primary = identity(item, link.as_deref(), scope);
    let mut keys = vec![primary];
    if let (Some(_), Some(l)) = (&item.guid, &link) {
        let by_link = digest(&format!("url\n{l}"));
        if by_link != primary {
            keys.push(by_link);
        }
    }
    (keys, link)
}

/// The identity of `item` whose link canonicalises to `link`, in a feed of scope `scope`.
fn identity(item: &FeedItem, link: Option<&str>, scope: &str) -> ItemKey {
    let id = match item
        .guid
        .as_deref()
        .map(str::trim)
        .filter(|g| trusted_guid(g, link.is_some()))
    {
        // A GUID that is not a web address (`urn:…`, `1234`) needs no URL parse.
        Some(g) => match is_web_url(g).then(|| canonical_url(g)).flatten() {
            Some(u) => format!("url\n{u}"),
            None => format!("guid\n{scope}\n{g}"),
        },
        None => match link {
            Some(u) => format!("url\n{u}"),
            None => {
                let text = if item.title.trim().is_empty() {
                    &item.summary
                } else {
                    &item.title
                };
                let text = text
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_lowercase();
                let date = item.published.map(|d| d.to_rfc3339()).unwrap_or_default();
                format!("text\n{scope}\n{text}\n{date}")
            }
        },
    };
    digest(&id)
}

/// Whether `s` starts like an http(s) URL (the only kind [`canonical_url`] accepts).
fn is_web_url(s: &str) -> bool {
    // As `url` does: leading spaces and C0 controls are not part of the URL.
    let s = s.trim_start_matches(|c: char| c <= ' ').as_bytes();
    let starts = |p: &[u8]| s.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p));
    starts(b"http:") || starts(b"https:")
}

fn digest(id: &str) -> ItemKey {
    let digest = Sha256::digest(id.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&digest[..8]);
    ItemKey(i64::from_be_bytes(b))
}

/// The feed URL as a scope: canonical when it is one, as given otherwise (a local path).
pub fn scope(feed_url: &str) -> String {
    canonical_url(feed_url).unwrap_or_else(|| feed_url.trim().to_string())
}

fn trusted_guid(guid: &str, has_link: bool) -> bool {
    !guid.is_empty() && guid.len() <= 1024 && !(has_link && looks_random(guid))
}

/// A version-4 UUID, or a long separator-free run of hex/base64 characters.
fn looks_random(guid: &str) -> bool {
    let g = guid.strip_prefix("urn:uuid:").unwrap_or(guid);
    let b = g.as_bytes();
    let uuid_v4 = b.len() == 36
        && [8, 13, 18, 23].iter().all(|&i| b[i] == b'-')
        && b[14] == b'4'
        && g.chars().all(|c| c == '-' || c.is_ascii_hexdigit());
    let token = g.len() >= 16
        && g.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '=' || c == '_')
        && g.chars().any(|c| c.is_ascii_digit())
        && g.chars().any(|c| c.is_ascii_alphabetic());
    uuid_v4 || token
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_url_table() {
        let cases = [
            (
                "HTTPS://Example.COM:443/a/b?x=1#frag",
                Some("https://example.com/a/b?x=1"),
            ),
            ("http://example.com:80/", Some("http://example.com/")),
            ("http://example.com:8080/", Some("http://example.com:8080/")),
            (
                "https://e.com/a?utm_source=rss&utm_medium=feed",
                Some("https://e.com/a"),
            ),
            (
                "https://e.com/a?id=7&fbclid=XYZ&b=2&UTM_Campaign=c",
                Some("https://e.com/a?id=7&b=2"),
            ),
            (
                "https://e.com/a?gclid=1&mc_cid=2&mc_eid=3&igshid=4&ref_src=5",
                Some("https://e.com/a"),
            ),
            ("https://e.com/a?", Some("https://e.com/a")),
            ("https://e.com/a?z=1&a=2", Some("https://e.com/a?z=1&a=2")),
            (
                "https://e.com/a?flag&q=a%20b&utm_term=x",
                Some("https://e.com/a?flag&q=a%20b"),
            ),
            ("https://e.com/a?&&id=3&", Some("https://e.com/a?id=3")),
            ("  https://e.com/a  ", Some("https://e.com/a")),
            (
                "https://bücher.example/x",
                Some("https://xn--bcher-kva.example/x"),
            ),
            ("/relative/path", None),
            ("urn:uuid:1234", None),
            ("mailto:a@b.c", None),
            ("ftp://e.com/x", None),
            ("", None),
        ];
        for (input, want) in cases {
            assert_eq!(canonical_url(input).as_deref(), want, "{input}");
        }
    }

    fn item(guid: Option<&str>, link: Option<&str>, title: &str) -> FeedItem {
        FeedItem {
            guid: guid.map(String::from),
            link: link.map(String::from),
            title: title.into(),
            summary: String::new(),
            content: None,
            published: None,
            author: None,
            link_canonical: None,
        }
    }

    #[test]
    fn item_keys_are_the_item_and_link_keys() {
        let feed = "HTTPS://A.example:443/feed#x";
        let cases = [
            item(Some("42"), Some("https://x.example/a?utm_source=t"), "t"),
            item(
                Some("https://x.example/a"),
                Some("https://x.example/a"),
                "t",
            ),
            item(
                Some("  HTTP://X.example/b "),
                Some("https://x.example/a"),
                "t",
            ),
            item(Some("urn:uuid:1"), None, "t"),
            item(None, Some("https://x.example/a"), "t"),
            item(None, None, "Some title"),
            item(
                Some("\u{1}http://x.example/c"),
                Some("https://x.example/a"),
                "t",
            ),
        ];
        for it in cases {
            let (keys, link) = item_keys(&it, &scope(feed));
            let mut want = vec![item_key(&it, feed)];
            if it.guid.is_some() && it.link.is_some() {
                let k = item_key(&item(None, it.link.as_deref(), ""), feed);
                if k != want[0] {
                    want.push(k);
                }
            }
            assert_eq!(keys, want, "{it:?}");
            assert_eq!(link, it.link.as_deref().and_then(canonical_url));
        }
    }

    #[test]
    fn identity_rules() {
        let a = "https://a.example/feed";
        let b = "https://b.example/rss";
        // Non-URL GUIDs are scoped by feed; an edited title keeps the key.
        assert_eq!(
            item_key(&item(Some("42"), None, "x"), a),
            item_key(&item(Some("42"), None, "y"), a)
        );
        assert_ne!(
            item_key(&item(Some("42"), None, "x"), a),
            item_key(&item(Some("42"), None, "x"), b)
        );
        // URL GUIDs and links are global and canonical.
        let g1 = item(Some("https://news.example/s/1?utm_source=a"), None, "x");
        let g2 = item(None, Some("https://NEWS.example/s/1#top"), "y");
        assert_eq!(item_key(&g1, a), item_key(&g2, b));
        // A random-looking GUID with a link falls back to the link.
        let r1 = item(
            Some("3f2b8c1e-9a4d-4c2e-8f1a-2b3c4d5e6f70"),
            Some("https://n.example/1"),
            "t",
        );
        let r2 = item(
            Some("9d8e7f6a-1b2c-4d3e-9f4a-5b6c7d8e9f01"),
            Some("https://n.example/1"),
            "t",
        );
        assert_eq!(item_key(&r1, a), item_key(&r2, a));
        // ...but is used when there is nothing else.
        let r3 = item(Some("3f2b8c1e-9a4d-4c2e-8f1a-2b3c4d5e6f70"), None, "t");
        assert_ne!(item_key(&r3, a), item_key(&item(None, None, "t"), a));
        // Title fallback is scoped and whitespace/case-insensitive.
        assert_eq!(
            item_key(&item(None, None, "Big  News"), a),
            item_key(&item(None, None, "big news"), a)
        );
        assert_ne!(
            item_key(&item(None, None, "Big News"), a),
            item_key(&item(None, None, "Big News"), b)
        );
        // Ordinary GUIDs are trusted.
        assert!(trusted_guid("tag:example.org,2025:post-17", true));
        assert!(trusted_guid("https://e.org/?p=123", true));
        assert!(!trusted_guid("", false));
        assert!(!trusted_guid("a8F3kQ9zLm2Xw7Rt", true));
    }
}
