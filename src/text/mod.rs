//! Text in and out: bytes to UTF-8 ([`charset`]), markup to plain text ([`html`]), strangers'
//! text made safe to print ([`safe_text`]) and timestamps as text ([`time`]).
//!
//! The leaf of the crate: these helpers depend on nothing else in feedwatch, and every stage
//! that reads or writes text uses them, so the stages agree on one shape of text.

pub mod charset;
pub mod html;
pub mod safe_text;
pub mod table;
pub mod time;

/// An error and its sources in one line ("error sending request: connection refused"): what
/// a log line or a status row must say, where many libraries keep the cause (the server's or
/// the system's words) in the source and print only a summary. A source already contained
/// in the line is not repeated.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn error_chain_names_each_cause_once() {
        let e = Outer(std::io::Error::other("connection refused"));
        assert_eq!(super::error_chain(&e), "outer: connection refused");
        let plain = std::io::Error::other("outer");
        assert_eq!(super::error_chain(&plain), "outer");
    }
}
