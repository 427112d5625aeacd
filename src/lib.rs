//! feedwatch: a news-monitoring daemon.
//!
//! Data flows one way through one module per stage:
//!
//! ```text
//! fetch ──▶ feed (parse) ──▶ extract ──▶ rules (match) ──▶ store ──▶ alert
//! ```
//!
//! - [`fetch`] downloads feeds (conditional GET) and article pages (SSRF-guarded).
//! - [`feed`] turns feed documents of any format and charset into [`feed::FeedItem`]s with a
//!   stable identity.
//! - [`extract`] turns an article page into its body text and metadata.
//! - [`rules`] compiles the alert rules into one matcher and explains each match.
//! - [`store`] is the only module with SQL: one transaction per poll.
//! - [`alert`] delivers committed alerts to the JSON-lines log and the journal, exactly once;
//!   [`sink`] delivers them to webhooks and commands too, durably and at least once.
//! - [`pipeline`] is one poll of one feed, top to bottom; [`schedule`] decides when feeds are
//!   polled and owns the single writer.
//! - [`health`] holds the service-level faults (store, alert log, database) that `status`,
//!   `/healthz`, metrics and exit codes report; [`safe_text`] cleans strangers' text for output.
//! - [`config`] reads TOML into plain data; [`cli`] is the command line.

pub mod alert;
pub mod charset;
pub mod cli;
pub mod config;
pub mod extract;
pub mod feed;
pub mod feeds_cmd;
pub mod fetch;
pub mod fts_query;
pub mod health;
pub mod html;
pub mod metrics;
pub mod notify;
pub mod opml;
pub mod pipeline;
pub mod rules;
pub mod safe_text;
pub mod schedule;
pub mod search_cmd;
pub mod sink;
pub mod status_cmd;
pub mod store;
pub mod story;
