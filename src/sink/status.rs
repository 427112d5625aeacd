//! Sink state for `feedwatch status`: configured sinks joined with their outbox rows.

use std::fmt::Write as _;

use crate::config::sink::{SinkKind, SinkSpec};
use crate::store::SinkStatus;
use crate::text::time::rfc3339;

/// What `status` says about one sink: configured ones in config order, then removed ones
/// that still hold undelivered alerts (they resume if configured again).
fn rows<'a>(specs: &'a [SinkSpec], rows: &'a [SinkStatus]) -> Vec<Row<'a>> {
    let mut out: Vec<_> = specs
        .iter()
        .map(|s| Row {
            name: s.name.as_str(),
            kind: Some(s.kind),
            digest: s.digest.as_deref(),
            status: rows.iter().find(|r| r.name == s.name),
        })
        .collect();
    for r in rows {
        if !specs.iter().any(|s| s.name == r.name) && (r.pending > 0 || r.failed > 0) {
            out.push(Row {
                name: r.name.as_str(),
                kind: None,
                digest: None,
                status: Some(r),
            });
        }
    }
    out
}

/// One sink as `status` shows it.
struct Row<'a> {
    name: &'a str,
    /// `None` for a sink removed from the config.
    kind: Option<SinkKind>,
    /// The digest schedule as written, for a sink that sends digests instead of alerts.
    digest: Option<&'a str>,
    /// Its outbox, once it has registered.
    status: Option<&'a SinkStatus>,
}

/// What a sink sends: each alert, or a digest on its schedule.
fn sends(digest: Option<&str>) -> String {
    digest.map_or_else(|| "alerts".to_string(), |d| format!("digest {d}"))
}

fn kind_name(k: Option<SinkKind>) -> &'static str {
    match k {
        Some(SinkKind::Webhook) => "webhook",
        Some(SinkKind::Exec) => "exec",
        None => "removed",
    }
}

/// The sinks as an aligned table, one line each, with a header; empty when no sink is
/// configured or pending. A sink never started shows dashes.
pub fn format_status(specs: &[SinkSpec], status: &[SinkStatus]) -> String {
    let list = rows(specs, status);
    if list.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "{:<24} {:<8} {:<20} {:>7} {:>6} {:>5} {:<20} {:<20}  LAST ERROR\n",
        "SINK", "TYPE", "SENDS", "PENDING", "FAILED", "FAILS", "OLDEST PENDING", "LAST DELIVERY"
    );
    let when = |t: Option<i64>| t.map_or_else(|| "-".to_string(), rfc3339);
    for row in list {
        let name: String = row.name.chars().take(24).collect();
        let what: String = sends(row.digest).chars().take(20).collect();
        let (pending, failed, fails, oldest, last, err) = match row.status {
            Some(r) => (
                r.pending.to_string(),
                r.failed.to_string(),
                r.consecutive_failures.to_string(),
                when(r.oldest_pending_at),
                when(r.last_delivered_at),
                r.last_error
                    .as_deref()
                    .filter(|_| r.consecutive_failures > 0 || r.failed > 0)
                    .unwrap_or(""),
            ),
            None => (
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "never".into(),
                "",
            ),
        };
        let _ = writeln!(
            out,
            "{name:<24} {:<8} {what:<20} {pending:>7} {failed:>6} {fails:>5} {oldest:<20} {last:<20}  \
             {err}",
            kind_name(row.kind)
        );
    }
    out
}

/// `status --format json`: one sink and its queue. The counts and times are absent for a
/// sink that has not registered in the database yet. Keys are a stable interface, declared in
/// alphabetical order (the order they have always been written in).
#[derive(Debug, serde::Serialize)]
pub struct SinkStatusLine<'a> {
    /// Failed deliveries in a row.
    pub consecutive_failures: Option<u32>,
    /// Alerts delivered.
    pub delivered: Option<i64>,
    /// The digest schedule as written (`daily 07:00`); null for a sink that sends each alert.
    pub digest: Option<&'a str>,
    /// Alerts given up on.
    pub failed: Option<i64>,
    /// When it last delivered (RFC 3339).
    pub last_delivery: Option<String>,
    /// Why its last attempt failed.
    pub last_error: Option<&'a str>,
    /// When its last attempt failed (RFC 3339).
    pub last_error_at: Option<String>,
    /// When its oldest pending alert was queued (RFC 3339).
    pub oldest_pending: Option<String>,
    /// Alerts waiting.
    pub pending: Option<i64>,
    /// When it first registered (RFC 3339).
    pub registered: Option<String>,
    /// Its name.
    pub sink: &'a str,
    /// `webhook`, `exec`, or `removed`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// The sinks for `status --format json`, one line each.
pub fn status_json<'a>(specs: &'a [SinkSpec], status: &'a [SinkStatus]) -> Vec<SinkStatusLine<'a>> {
    rows(specs, status)
        .into_iter()
        .map(|row| (row.name, row.kind, row.digest, row.status))
        .map(|(name, kind, digest, r)| SinkStatusLine {
            consecutive_failures: r.map(|r| r.consecutive_failures),
            delivered: r.map(|r| r.delivered),
            digest,
            failed: r.map(|r| r.failed),
            last_delivery: r.and_then(|r| r.last_delivered_at).map(rfc3339),
            last_error: r.and_then(|r| r.last_error.as_deref()),
            last_error_at: r.and_then(|r| r.last_error_at).map(rfc3339),
            oldest_pending: r.and_then(|r| r.oldest_pending_at).map(rfc3339),
            pending: r.map(|r| r.pending),
            registered: r.map(|r| rfc3339(r.created_at)),
            sink: name,
            kind: kind_name(kind),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lists_configured_then_removed_with_backlog() {
        let specs: Vec<SinkSpec> = vec![
            toml::from_str("name = \"hook\"\ntype = \"webhook\"\nurl = \"http://x/\"\n")
                .expect("spec"),
            toml::from_str("name = \"new\"\ntype = \"exec\"\ncommand = [\"cat\"]\n").expect("spec"),
        ];
        let st = |name: &str, pending, fails| SinkStatus {
            name: name.into(),
            created_at: 0,
            pending,
            failed: 0,
            delivered: 3,
            oldest_pending_at: Some(1_700_000_000),
            consecutive_failures: fails,
            last_error: Some("HTTP 503".into()),
            last_error_at: Some(1_700_000_100),
            last_delivered_at: None,
        };
        let rows = vec![st("gone", 2, 0), st("hook", 5, 4), st("idle-gone", 0, 0)];
        let t = format_status(&specs, &rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4, "{t}");
        assert!(
            lines[1].starts_with("hook") && lines[1].contains("HTTP 503"),
            "{t}"
        );
        assert!(
            lines[2].starts_with("new") && lines[2].contains("never"),
            "{t}"
        );
        assert!(
            lines[3].starts_with("gone") && lines[3].contains("removed"),
            "{t}"
        );
        let j = status_json(&specs, &rows);
        assert_eq!(j[0].pending, Some(5));
        assert_eq!(j[1].pending, None);
        assert!(format_status(&[], &[]).is_empty());
    }

    /// A digest sink says what it sends and when, so an operator reading `status` knows why
    /// it is quiet between its due times.
    #[test]
    fn a_digest_sink_shows_its_schedule() {
        let specs: Vec<SinkSpec> = vec![
            toml::from_str("name = \"hook\"\ntype = \"webhook\"\nurl = \"http://x/\"\n")
                .expect("spec"),
            toml::from_str(
                "name = \"morning\"\ntype = \"webhook\"\nurl = \"http://x/\"\n\
                 digest = \"daily 07:00\"\n",
            )
            .expect("spec"),
        ];
        let t = format_status(&specs, &[]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].contains("SENDS"), "{t}");
        assert!(lines[1].contains(" alerts "), "{t}");
        assert!(lines[2].contains("digest daily 07:00"), "{t}");
        let j = status_json(&specs, &[]);
        assert_eq!(j[0].digest, None);
        assert_eq!(j[1].digest, Some("daily 07:00"));
    }
}
