//! feedwatch: a news-monitoring daemon.
//!
//! Data flows one way through one module per stage:
//!
//! ```text
//! fetch ──▶ feed (parse) ──▶ extract ──▶ rules (match) ──▶ store ──▶ alert, sink
//! ```
//!
//! The pipeline stages, in the order data passes through them:
//! - [`fetch`] downloads feeds (conditional GET) and article pages (SSRF-guarded).
//! - [`feed`] turns feed documents of any format and charset into [`feed::FeedItem`]s with a
//!   stable identity.
//! - [`extract`] turns an article page into its body text and metadata.
//! - [`rules`] compiles the alert rules into one matcher and explains each match.
//! - [`story`] fingerprints article text so one story reported by several feeds alerts once.
//! - [`store`] is the only module with SQL: one transaction per poll, and full-text search.
//! - [`alert`] delivers committed alerts to the JSON-lines log and the journal, exactly once;
//!   [`sink`] delivers them to webhooks and commands too, durably and at least once.
//!
//! Running them:
//! - [`pipeline`] is one poll of one feed, top to bottom.
//! - [`schedule`] decides when feeds are polled and owns the single database writer.
//! - [`app`] assembles the service from a config and runs it until a shutdown token fires
//!   (the composition root; tests drive it in-process).
//!
//! The command line (`src/cli/`) belongs to the binary, not to this library: it turns
//! arguments into calls of these modules and signals into [`app`]'s shutdown and reload.
//!
//! Under and beside them:
//! - [`config`] reads TOML into plain data.
//! - [`text`] holds the text helpers every stage shares: charset decoding, HTML to text,
//!   safe output of strangers' text, RFC 3339 timestamps.
//! - [`digest`] builds a report of a window of alerts (stories, a chart, feed health) and
//!   renders it as self-contained HTML, text or JSON; a digest sink sends one per period.
//! - [`ops`] reports on the running service: health faults, metrics, systemd notifications.
//! - `clock` (crate-internal) is where units that store times read "now", so their tests
//!   can run on paused tokio time.
//!
//! A module imports only modules below it (`app` on top, `text` at the bottom);
//! `tests/architecture.rs` fails on an import cycle between these modules.

pub mod alert;
pub mod app;
mod clock;
pub mod config;
pub mod digest;
pub mod extract;
pub mod feed;
pub mod fetch;
pub mod ops;
pub mod pipeline;
pub mod rules;
pub mod schedule;
pub mod sink;
pub mod store;
pub mod story;
pub mod text;
