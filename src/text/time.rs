//! Timestamps as text: the one RFC 3339 form every output uses (alert log, `status`, the
//! lock file's faults, log messages about the next poll).

/// Unix seconds as RFC 3339 UTC.
pub fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}
