//! Fuzz `feedwatch search`'s query translation to FTS5: no input may panic, and an error's
//! caret column lies within the query (plus one, for "expected more at the end").
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(q) = std::str::from_utf8(data) else {
        return;
    };
    match feedwatch::store::fts::translate(q) {
        Ok(fts) => assert!(!fts.is_empty(), "empty FTS5 expression for {q:?}"),
        Err(e) => {
            assert!(e.column >= 1 && e.column <= q.chars().count() + 1, "column {} for {q:?}", e.column);
            let _ = e.render(q);
        }
    }
});
