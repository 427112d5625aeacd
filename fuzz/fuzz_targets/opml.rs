//! Fuzz the OPML reader (`feeds import`): no input may panic, and every outline it accepts
//! has a URL that is not empty.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(opml) = feedwatch::config::opml::parse(data) {
        for o in &opml.feeds {
            assert!(!o.url.trim().is_empty(), "empty outline URL accepted");
        }
    }
});
