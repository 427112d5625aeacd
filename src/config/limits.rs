//! The floor and ceiling of every number in the config, in one table.
//!
//! A floor stops a slip of the keyboard from hammering a publisher (`interval = "0s"` made
//! 167 requests in 10 s) or from disabling a guard (`timeout = "0s"`, a cap of 0); a ceiling
//! stops one from muting a feed for years or letting one document take all the memory the
//! service unit allows. Values outside are refused at load with file, line and key, like any
//! other config error, so `config check`, start-up and reload all refuse them.
//!
//! A setting added to the config gets its row here and in the README's config table.

use std::time::Duration;

use super::sink::{DEFAULT_RETRY_INITIAL, DEFAULT_RETRY_MAX};
use super::{
    DEFAULT_CONCURRENCY, DEFAULT_DELIVERY_RETENTION, DEFAULT_EXTRACT_TIMEOUT, DEFAULT_INTERVAL,
    DEFAULT_MAINTENANCE_INTERVAL, DEFAULT_MAX_FEED_BYTES, DEFAULT_MAX_HTML_DEPTH,
    DEFAULT_MAX_INTERVAL, DEFAULT_MAX_ITEMS, DEFAULT_MAX_PAGE_BYTES, DEFAULT_MIN_INTERVAL,
    DEFAULT_PER_HOST, DEFAULT_RECENT_RETENTION, DEFAULT_SEEN_RETENTION, DEFAULT_TIMEOUT,
};

const MIB: u64 = 1024 * 1024;
const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(86_400);

/// A value a bound can hold: shown in messages in the unit it is written in.
pub trait Quantity: Copy + PartialOrd {
    /// The value as the config would write it (`"90s"`, `1048576`).
    fn show(self) -> String;
}

impl Quantity for Duration {
    fn show(self) -> String {
        if self.is_zero() {
            "0s".into()
        } else {
            humantime::format_duration(self).to_string()
        }
    }
}

impl Quantity for u64 {
    fn show(self) -> String {
        if self >= MIB && self.is_multiple_of(MIB) {
            format!("{self} ({} MiB)", self / MIB)
        } else {
            self.to_string()
        }
    }
}

/// The allowed range of one setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound<T> {
    /// The key as written in the config; `feeds.interval` and `sinks.timeout` stand for the
    /// key in every `[[feeds]]` / `[[sinks]]` entry.
    pub key: &'static str,
    /// The value when the key is absent (`None`: it has no single default).
    pub default: Option<T>,
    /// Smallest allowed value.
    pub floor: T,
    /// Largest allowed value.
    pub ceiling: T,
}

impl<T: Quantity> Bound<T> {
    /// Whether `v` is within the bound; the message says the allowed range.
    ///
    /// # Errors
    /// When `v` is below the floor or above the ceiling.
    pub fn check(&self, v: T) -> Result<(), String> {
        if v < self.floor || v > self.ceiling {
            Err(format!(
                "{} is out of bounds: `{}` must be between {} and {}",
                v.show(),
                self.key,
                self.floor.show(),
                self.ceiling.show()
            ))
        } else {
            Ok(())
        }
    }
}

impl Bound<u64> {
    /// As [`Bound::check`] for a count held in a `usize`.
    ///
    /// # Errors
    /// When `v` is out of bounds.
    pub fn check_usize(&self, v: usize) -> Result<(), String> {
        self.check(u64::try_from(v).unwrap_or(u64::MAX))
    }
}

/// `[fetch] timeout`: below 1 s even a healthy server on another continent fails; above
/// 5 min a hung server holds a polling slot (and a `poll --once` run) far too long.
pub const FETCH_TIMEOUT: Bound<Duration> = Bound {
    key: "fetch.timeout",
    default: Some(DEFAULT_TIMEOUT),
    floor: Duration::from_secs(1),
    ceiling: Duration::from_secs(300),
};
/// `[fetch] max_feed_bytes`: no real feed is under 1 KiB with items in it; a parsed
/// document costs many times its size in memory, and the unit allows 512 MiB.
pub const MAX_FEED_BYTES: Bound<u64> = Bound {
    key: "fetch.max_feed_bytes",
    default: Some(DEFAULT_MAX_FEED_BYTES),
    floor: 1024,
    ceiling: 64 * MIB,
};
/// `[fetch] max_page_bytes`: as `max_feed_bytes`, for article pages.
pub const MAX_PAGE_BYTES: Bound<u64> = Bound {
    key: "fetch.max_page_bytes",
    default: Some(DEFAULT_MAX_PAGE_BYTES),
    floor: 1024,
    ceiling: 64 * MIB,
};
/// `[fetch] per_host_concurrency`: 0 would stall every feed of the host; more than 16 at
/// once is no longer polite to one publisher.
pub const PER_HOST_CONCURRENCY: Bound<u64> = Bound {
    key: "fetch.per_host_concurrency",
    default: Some(DEFAULT_PER_HOST as u64),
    floor: 1,
    ceiling: 16,
};
/// `[poll] interval`: more often than once a minute is hammering a publisher; less often
/// than weekly is not monitoring.
pub const POLL_INTERVAL: Bound<Duration> = Bound {
    key: "poll.interval",
    default: Some(DEFAULT_INTERVAL),
    floor: MINUTE,
    ceiling: Duration::from_secs(7 * 86_400),
};
/// `[poll] min_interval`: the adaptive schedule's floor, with `poll.interval`'s bounds.
pub const MIN_INTERVAL: Bound<Duration> = Bound {
    key: "poll.min_interval",
    default: Some(DEFAULT_MIN_INTERVAL),
    ..POLL_INTERVAL
};
/// `[poll] max_interval`: the adaptive schedule's and the error backoff's ceiling.
pub const MAX_INTERVAL: Bound<Duration> = Bound {
    key: "poll.max_interval",
    default: Some(DEFAULT_MAX_INTERVAL),
    ..POLL_INTERVAL
};
/// `[[feeds]] interval`: a fixed per-feed interval, with `poll.interval`'s bounds; also
/// applied to `feedwatch:interval` in imported OPML and to `feeds add --interval`.
pub const FEED_INTERVAL: Bound<Duration> = Bound {
    key: "feeds.interval",
    default: None,
    ..POLL_INTERVAL
};
/// `[poll] concurrency`: 0 polls nothing; each poll in flight may hold a feed of up to
/// `max_feed_bytes`, so 256 at once is already far beyond the unit's memory at the largest
/// caps.
pub const CONCURRENCY: Bound<u64> = Bound {
    key: "poll.concurrency",
    default: Some(DEFAULT_CONCURRENCY as u64),
    floor: 1,
    ceiling: 256,
};
/// `[poll] max_items`: 0 would read nothing; real feeds carry tens to hundreds of items.
pub const MAX_ITEMS: Bound<u64> = Bound {
    key: "poll.max_items",
    default: Some(DEFAULT_MAX_ITEMS as u64),
    floor: 1,
    ceiling: 10_000,
};
/// `[poll] max_html_depth`: real pages nest a few dozen levels (56 at most on the 121
/// corpus pages); html5ever's cost grows with depth times tag count, so past 1,024 one page
/// can take seconds again.
pub const MAX_HTML_DEPTH: Bound<u64> = Bound {
    key: "poll.max_html_depth",
    default: Some(DEFAULT_MAX_HTML_DEPTH as u64),
    floor: 16,
    ceiling: 1024,
};
/// `[poll] extract_timeout`: one page's extraction budget; 0 would never extract, and past
/// two minutes one hostile page holds a blocking thread that long on every poll.
pub const EXTRACT_TIMEOUT: Bound<Duration> = Bound {
    key: "poll.extract_timeout",
    default: Some(DEFAULT_EXTRACT_TIMEOUT),
    floor: Duration::from_millis(10),
    ceiling: Duration::from_secs(120),
};
/// `[storage] recent_text_retention`: `"0s"` keeps none; past a year the kept texts only
/// grow the database.
pub const RECENT_TEXT_RETENTION: Bound<Duration> = Bound {
    key: "storage.recent_text_retention",
    default: Some(DEFAULT_RECENT_RETENTION),
    floor: Duration::ZERO,
    ceiling: Duration::from_secs(366 * 86_400),
};
/// `[storage] seen_retention`: an item key outlives the item's last presence in a feed
/// document by this much. Below two weeks it would come close to the longest poll interval
/// (7 days) plus the day-grained presence record, so keys of items still in their feeds
/// could be forgotten; past ten years the keys only grow the memory of the daemon.
pub const SEEN_RETENTION: Bound<Duration> = Bound {
    key: "storage.seen_retention",
    default: Some(DEFAULT_SEEN_RETENTION),
    floor: Duration::from_secs(14 * 86_400),
    ceiling: Duration::from_secs(3653 * 86_400),
};
/// `[storage] maintenance_interval`: how often the writer gives free pages back and resets
/// the WAL. Under a minute the passes would only cost; past a day the WAL and the free pages
/// of a busy day wait too long.
pub const MAINTENANCE_INTERVAL: Bound<Duration> = Bound {
    key: "storage.maintenance_interval",
    default: Some(DEFAULT_MAINTENANCE_INTERVAL),
    floor: MINUTE,
    ceiling: DAY,
};
/// `[storage] article_retention` (or `"forever"`, the default): below two weeks an article
/// could go while its story is still being grouped (`story::WINDOW_SECS`, 7 days), and a
/// syndicated copy would alert again.
pub const ARTICLE_RETENTION: Bound<Duration> = Bound {
    key: "storage.article_retention",
    default: None,
    floor: Duration::from_secs(14 * 86_400),
    ceiling: Duration::from_secs(3653 * 86_400),
};
/// `[storage] alert_retention` (or `"forever"`, the default): the same floor, since a story's
/// alert is what stops its copies alerting again within the grouping window.
pub const ALERT_RETENTION: Bound<Duration> = Bound {
    key: "storage.alert_retention",
    ..ARTICLE_RETENTION
};
/// `[storage] delivery_retention`: finished sink deliveries; under a day `status` could not
/// show yesterday's failures, past ten years they only grow the database.
pub const DELIVERY_RETENTION: Bound<Duration> = Bound {
    key: "storage.delivery_retention",
    default: Some(DEFAULT_DELIVERY_RETENTION),
    floor: DAY,
    ceiling: Duration::from_secs(3653 * 86_400),
};
/// `[storage] connect_timeout` (PostgreSQL): under a second a TLS handshake to a remote
/// server can fail on a good day; past five minutes a dead server holds an instance too long.
pub const CONNECT_TIMEOUT: Bound<Duration> = Bound {
    key: "storage.connect_timeout",
    default: Some(super::database::DEFAULT_CONNECT_TIMEOUT),
    floor: Duration::from_secs(1),
    ceiling: Duration::from_secs(300),
};
/// `[storage] statement_timeout` (PostgreSQL): under a second a poll's commit of a big
/// document could be cut; past an hour a stuck statement would hold its locks that long.
pub const STATEMENT_TIMEOUT: Bound<Duration> = Bound {
    key: "storage.statement_timeout",
    default: Some(super::database::DEFAULT_STATEMENT_TIMEOUT),
    floor: Duration::from_secs(1),
    ceiling: Duration::from_secs(3600),
};
/// `[storage] lease` (PostgreSQL): how long a feed stays leased to an instance that stopped
/// renewing, so how long a dead instance's feeds and unlogged alerts wait for the others.
/// Renewed and heartbeaten every third of it, so under 6 s a busy database's slow statement
/// could cost a live instance its leases; past an hour a dead one's feeds go unpolled that long.
pub const LEASE: Bound<Duration> = Bound {
    key: "storage.lease",
    default: Some(super::database::DEFAULT_LEASE),
    floor: Duration::from_secs(6),
    ceiling: Duration::from_secs(3600),
};
/// `[[sinks]] timeout`: 0 would fail every delivery; 10 min is longer than any mail relay
/// or chat API should take, and a sink's queue waits behind it.
pub const SINK_TIMEOUT: Bound<Duration> = Bound {
    key: "sinks.timeout",
    default: None,
    floor: Duration::from_secs(1),
    ceiling: Duration::from_secs(600),
};
/// `[[sinks]] retry_initial`: the first retry's delay; it doubles per failure.
pub const SINK_RETRY_INITIAL: Bound<Duration> = Bound {
    key: "sinks.retry_initial",
    default: Some(DEFAULT_RETRY_INITIAL),
    floor: Duration::from_millis(100),
    ceiling: Duration::from_secs(3600),
};
/// `[[sinks]] retry_max`: the longest delay between retries; past a day a fixed receiver
/// would wait too long for its alerts.
pub const SINK_RETRY_MAX: Bound<Duration> = Bound {
    key: "sinks.retry_max",
    default: Some(DEFAULT_RETRY_MAX),
    floor: Duration::from_millis(100),
    ceiling: DAY,
};

/// `[storage] pool_size` (PostgreSQL): connections one instance keeps. One is enough for
/// correctness; past 64 a few instances would use up a default server's 100 connections.
pub const POOL_SIZE: Bound<u64> = Bound {
    key: "storage.pool_size",
    default: Some(super::database::DEFAULT_POOL_SIZE),
    floor: 1,
    ceiling: 64,
};

/// Every duration bound, for the README table and the consistency test.
pub const DURATIONS: [&Bound<Duration>; 18] = [
    &FETCH_TIMEOUT,
    &EXTRACT_TIMEOUT,
    &POLL_INTERVAL,
    &MIN_INTERVAL,
    &MAX_INTERVAL,
    &FEED_INTERVAL,
    &RECENT_TEXT_RETENTION,
    &SEEN_RETENTION,
    &MAINTENANCE_INTERVAL,
    &ARTICLE_RETENTION,
    &ALERT_RETENTION,
    &DELIVERY_RETENTION,
    &SINK_TIMEOUT,
    &SINK_RETRY_INITIAL,
    &SINK_RETRY_MAX,
    &CONNECT_TIMEOUT,
    &STATEMENT_TIMEOUT,
    &LEASE,
];
/// Every count and size bound.
pub const COUNTS: [&Bound<u64>; 7] = [
    &MAX_HTML_DEPTH,
    &MAX_FEED_BYTES,
    &MAX_PAGE_BYTES,
    &PER_HOST_CONCURRENCY,
    &CONCURRENCY,
    &MAX_ITEMS,
    &POOL_SIZE,
];

/// Longest `[fetch] user_agent`, in bytes: it is sent with every request.
pub const MAX_USER_AGENT_BYTES: usize = 512;

/// Largest config or rule file read, in bytes. The shipped config with 10,000 feeds is
/// about 1 MiB; the bound keeps a wrong path (a log, a disk image) from being read whole.
pub const MAX_CONFIG_BYTES: u64 = 64 * MIB;

#[cfg(test)]
mod tests {
    use super::*;

    fn consistent<T: Quantity + std::fmt::Debug>(b: &Bound<T>, eps: impl Fn(T, bool) -> T) {
        assert!(b.floor < b.ceiling, "{b:?}");
        if let Some(d) = b.default {
            assert!(b.floor <= d && d <= b.ceiling, "default inside: {b:?}");
            assert!(b.check(d).is_ok());
        }
        assert!(b.check(b.floor).is_ok(), "{b:?}");
        assert!(b.check(b.ceiling).is_ok(), "{b:?}");
        let over = b
            .check(eps(b.ceiling, true))
            .expect_err("above the ceiling");
        assert!(over.contains(b.key), "{over}");
        assert!(over.contains(&b.ceiling.show()), "{over}");
        if b.floor > eps(b.floor, false) {
            let under = b.check(eps(b.floor, false)).expect_err("below the floor");
            assert!(under.contains(&b.floor.show()), "{under}");
        }
    }

    #[test]
    fn every_bound_is_consistent_and_enforced() {
        for b in DURATIONS {
            consistent(b, |d, up| {
                if up {
                    d + Duration::from_millis(1)
                } else {
                    d.saturating_sub(Duration::from_millis(1))
                }
            });
        }
        for b in COUNTS {
            consistent(b, |n, up| if up { n + 1 } else { n.saturating_sub(1) });
        }
    }

    #[test]
    fn zero_is_refused_wherever_it_would_disable_something() {
        for b in DURATIONS
            .iter()
            .filter(|b| b.key != RECENT_TEXT_RETENTION.key)
        {
            assert!(b.check(Duration::ZERO).is_err(), "{}", b.key);
        }
        for b in COUNTS {
            assert!(b.check(0).is_err(), "{}", b.key);
        }
        assert!(
            RECENT_TEXT_RETENTION.check(Duration::ZERO).is_ok(),
            "0s: keep none"
        );
        // The sink timeout's default depends on the sink's type; both are inside.
        for d in [
            crate::config::sink::DEFAULT_WEBHOOK_TIMEOUT,
            crate::config::sink::DEFAULT_EXEC_TIMEOUT,
        ] {
            assert!(SINK_TIMEOUT.check(d).is_ok());
        }
    }

    #[test]
    fn keys_are_unique_and_messages_readable() {
        let mut keys: Vec<&str> = DURATIONS.iter().map(|b| b.key).collect();
        keys.extend(COUNTS.iter().map(|b| b.key));
        let n = keys.len();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), n);
        assert_eq!(
            FEED_INTERVAL.check(Duration::ZERO).expect_err("0s"),
            "0s is out of bounds: `feeds.interval` must be between 1m and 7days"
        );
        assert_eq!(
            MAX_FEED_BYTES.check(0).expect_err("0"),
            "0 is out of bounds: `fetch.max_feed_bytes` must be between 1024 and 67108864 (64 MiB)"
        );
        assert!(CONCURRENCY.check_usize(usize::MAX).is_err());
    }
}
