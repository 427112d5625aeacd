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
