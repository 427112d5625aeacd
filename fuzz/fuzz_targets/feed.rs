//! Fuzz feed reading (charset detection, the streaming item cut, repair and feed-rs) with the
//! bounds the daemon uses: no input may panic, and the item bound must hold.
//!
//! The first byte picks `max_items` (1..=64) and whether a Content-Type with a charset is
//! given; the rest is the document.
#![no_main]

use feedwatch::feed::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, doc)) = data.split_first() else {
        return;
    };
    let max_items = usize::from(first & 0x3f) + 1;
    let content_type = (first & 0x40 != 0).then_some("application/rss+xml; charset=windows-1252");
    let base = url::Url::parse("https://news.example/feed.xml").ok();
    if let Ok(feed) = parse(doc, content_type, base.as_ref(), max_items) {
        assert!(feed.items.len() <= max_items, "{} items > {max_items}", feed.items.len());
    }
});
