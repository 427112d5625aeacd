//! TEMPORARY stand-in.
pub mod identity;
use std::fmt;
#[derive(Debug, Clone, serde::Serialize)]
pub struct FeedItem {
    pub guid: Option<String>,
    pub link: Option<String>,
    pub title: String,
    pub summary: String,
    pub content: Option<String>,
    pub published: Option<chrono::DateTime<chrono::Utc>>,
    pub author: Option<String>,
}
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub enum FeedFormat {
    Rss2,
    Atom,
    Json,
}
impl fmt::Display for FeedFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FeedFormat::Rss2 => "rss2.0",
            FeedFormat::Atom => "atom",
            FeedFormat::Json => "json",
        })
    }
}
#[derive(Debug, Clone, serde::Serialize)]
pub struct ParsedFeed {
    pub title: Option<String>,
    pub format: FeedFormat,
    pub items: Vec<FeedItem>,
    pub ttl: Option<std::time::Duration>,
    pub truncated_from: Option<usize>,
}
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    #[error("empty document")]
    Empty,
    #[error("{what}, not a feed")]
    NotAFeed { what: String },
    #[error("malformed feed: {detail}")]
    Malformed { detail: String },
}
pub fn parse(
    bytes: &[u8],
    _ct: Option<&str>,
    _base: Option<&url::Url>,
    max_items: usize,
) -> Result<ParsedFeed, ParseError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ParseError::Empty);
    }
    let f = feed_rs::parser::parse(bytes).map_err(|e| ParseError::Malformed {
        detail: e.to_string(),
    })?;
    let items = f
        .entries
        .into_iter()
        .take(max_items)
        .map(|e| FeedItem {
            guid: Some(e.id),
            link: e.links.first().map(|l| l.href.clone()),
            title: e
                .title
                .map(|t| crate::html::fragment_to_text(&t.content))
                .unwrap_or_default(),
            summary: e
                .summary
                .map(|t| crate::html::fragment_to_text(&t.content))
                .unwrap_or_default(),
            content: None,
            published: e.published.or(e.updated),
            author: None,
        })
        .collect();
    Ok(ParsedFeed {
        title: f.title.map(|t| t.content),
        format: FeedFormat::Rss2,
        items,
        ttl: None,
        truncated_from: None,
    })
}
