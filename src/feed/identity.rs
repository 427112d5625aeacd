//! TEMPORARY stand-in.
use sha2::Digest;
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ItemKey(pub i64);
pub fn canonical_url(url: &str) -> Option<String> {
    url::Url::parse(url).ok().map(|u| u.to_string())
}
pub fn item_key(item: &super::FeedItem, feed_url: &str) -> ItemKey {
    let s = match (&item.guid, &item.link) {
        (Some(g), _) => format!("{feed_url}\n{g}"),
        (None, Some(l)) => l.clone(),
        _ => item.title.clone(),
    };
    let d = sha2::Sha256::digest(s.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    ItemKey(i64::from_be_bytes(b))
}
