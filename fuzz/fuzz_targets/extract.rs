//! Fuzz article extraction on arbitrary HTML, in the daemon's bounds (depth cap, a deadline):
//! no input may panic. The bytes go through the same charset detection as fetched pages.
#![no_main]

use std::time::{Duration, Instant};

use feedwatch::extract::Extractor;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(ex) = Extractor::new(&[]) else {
        return;
    };
    let (html, _) = feedwatch::text::charset::decode_html(data, None);
    let url = url::Url::parse("https://news.example/2026/a.html").ok();
    let deadline = Instant::now() + Duration::from_secs(5);
    let out = ex.extract_within(&html, url.as_ref(), 256, deadline);
    let _ = out.failure_reason();
});
