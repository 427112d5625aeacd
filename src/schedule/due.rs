//! When feeds are due: the due queue ordered by time, and the rules that set a feed's place
//! in it at start and on reload (stored next-poll time, new feeds at once, the ceiling).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::{rows_by_url, Runtime};
use crate::store::StoreError;

/// When each idle feed is next due, ordered by time.
///
/// The loop comes round once per finished poll; at 10,000 feeds a scan of every feed on each
/// turn (what a plain map needs to find the due ones) made a cycle quadratic. Here the due
/// feeds are taken from the front of an ordered set. A feed in flight is not in the queue:
/// it comes back with its next time when its poll is committed.
#[derive(Default)]
pub(super) struct DueQueue {
    at: HashMap<Arc<str>, i64>,
    order: std::collections::BTreeSet<(i64, Arc<str>)>,
}

impl DueQueue {
    /// Sets (or moves) a feed's due time.
    pub(super) fn set(&mut self, url: Arc<str>, at: i64) {
        if let Some(old) = self.at.insert(url.clone(), at) {
            self.order.remove(&(old, url.clone()));
        }
        self.order.insert((at, url));
    }

    /// The feed's due time, if it is waiting.
    pub(super) fn get(&self, url: &str) -> Option<i64> {
        self.at.get(url).copied()
    }

    /// Removes and returns the earliest feed due at or before `now`.
    pub(super) fn pop_due(&mut self, now: i64) -> Option<Arc<str>> {
        if self.order.first().is_none_or(|(at, _)| *at > now) {
            return None;
        }
        let (_, url) = self.order.pop_first()?;
        self.at.remove(&url);
        Some(url)
    }

    /// The earliest due time, if any feed is waiting.
    pub(super) fn next_at(&self) -> Option<i64> {
        self.order.first().map(|(at, _)| *at)
    }

    /// How long the loop may sleep before the next feed falls due (at least a second, at
    /// most an hour: the loop comes round anyway), and whether one is due already.
    pub(super) fn wait(&self, now: i64) -> (Duration, bool) {
        let next = self.next_at().unwrap_or(now + 3600);
        let wait = Duration::from_secs(next.saturating_sub(now).clamp(1, 3600) as u64);
        (wait, next <= now)
    }

    /// Drops the feeds for which `keep` is false.
    pub(super) fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.order.retain(|(_, u)| keep(u));
        self.at.retain(|u, _| keep(u));
    }
}

/// The runtime's feeds by URL, so a due URL finds its config without a scan.
pub(super) fn index_feeds(rt: &Runtime) -> HashMap<Arc<str>, usize> {
    rt.feeds
        .iter()
        .enumerate()
        .map(|(i, f)| (Arc::from(f.url.as_str()), i))
        .collect()
}

/// Brings the due queue in line with the runtime's feeds: known feeds keep their time, new
/// ones take the stored next-poll time (or now), removed ones are dropped, and no feed waits
/// longer than [`due_ceiling`] allows. Feeds in flight are left to the loop, which schedules
/// them when their poll is committed.
pub(super) fn schedule_feeds(
    rt: &Runtime,
    by_url: &HashMap<Arc<str>, usize>,
    busy: &std::collections::HashSet<Arc<str>>,
    due: &mut DueQueue,
) -> Result<(), StoreError> {
    let rows = rows_by_url(&rt.pipeline.reader)?;
    let now = chrono::Utc::now().timestamp();
    due.retain(|u| by_url.contains_key(u));
    for (url, &i) in by_url {
        if busy.contains(url) {
            continue;
        }
        let row = rows.get(&**url);
        let known = due.get(url);
        let at = known
            .or_else(|| row.and_then(|r| r.next_poll_at))
            .unwrap_or(now);
        let interval = rt
            .feeds
            .get(i)
            .and_then(|f| f.interval)
            .unwrap_or(rt.pipeline.poll.interval);
        let last_poll = row.and_then(|r| r.last_poll_at);
        let ceiling = due_ceiling(last_poll, now, interval, rt.pipeline.poll.max_interval);
        if at > ceiling && !crate::store::is_stopped(at) {
            tracing::warn!(feed = %url, "next poll was set for {}, further away than [poll] max_interval allows; polling at {} instead",
                crate::text::time::rfc3339(at), crate::text::time::rfc3339(ceiling));
            due.set(url.clone(), ceiling);
        } else if known.is_none() {
            due.set(url.clone(), at);
        }
    }
    Ok(())
}

/// The latest a feed may be due: its last poll (now if never polled) plus the longer of
/// `[poll] max_interval` and its own interval, plus the 10% jitter polls are spread by.
/// Stored times beyond it come from an older version, which honoured any wait a server asked
/// for (a `<ttl>` that set a feed's next poll in 2217), or from a reload that shortened
/// `max_interval`: they are pulled in at start and on every reload.
fn due_ceiling(last_poll: Option<i64>, now: i64, interval: Duration, max: Duration) -> i64 {
    let longest = i64::try_from(interval.max(max).as_secs()).unwrap_or(i64::MAX / 16);
    last_poll.unwrap_or(now).min(now) + longest + longest / 10
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::pipeline::next_poll::failed_msg;
    use crate::store::{PollRecord, Store};

    /// Unix seconds at which the tests' clock starts.
    const T0: i64 = 1_700_000_000;

    /// The loop's timing on the queue alone: sleep as long as [`DueQueue::wait`] says, look
    /// for a due feed, again. The first feed handed out, and after how many seconds.
    async fn first_due(due: &mut DueQueue, clock: Clock) -> (Arc<str>, u64) {
        let start = tokio::time::Instant::now();
        loop {
            if let Some(url) = due.pop_due(clock.now()) {
                return (url, start.elapsed().as_secs());
            }
            tokio::time::sleep(due.wait(clock.now()).0).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_feed_is_handed_out_when_it_is_due_and_not_before() {
        let clock = Clock::tokio(T0);
        let mut due = DueQueue::default();
        due.set(Arc::from("a"), T0 + 300);
        due.set(Arc::from("b"), T0 + 900);
        due.set(Arc::from("c"), T0 + 900 + 7200);
        tokio::time::advance(Duration::from_secs(299)).await;
        assert_eq!(due.pop_due(clock.now()), None, "a is due at 300 s, not 299");
        assert_eq!(due.wait(clock.now()), (Duration::from_secs(1), false));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(due.pop_due(clock.now()).as_deref(), Some("a"));
        assert_eq!(due.pop_due(clock.now()), None, "b is not due yet");
        // Left to the loop's own sleeps, each comes out exactly when due, even a feed more
        // than the hour-long longest sleep away.
        assert_eq!(first_due(&mut due, clock).await, (Arc::from("b"), 600));
        assert_eq!(first_due(&mut due, clock).await, (Arc::from("c"), 7200));
    }

    #[tokio::test(start_paused = true)]
    async fn a_feed_in_error_backoff_is_not_polled_before_the_backoff_ends() {
        let clock = Clock::tokio(T0);
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(&dir.path().join("fw.db")).expect("open");
        let url = "http://down.test/rss";
        store.sync_feeds([(url, None)], T0).expect("sync");
        let mut row = store.feed(url).expect("read").expect("row");
        row.consecutive_failures = 2;
        let interval = Duration::from_secs(600);
        let cap = Duration::from_secs(6 * 3600);
        let rec = PollRecord::new(row.id, clock.now());
        let rec = failed_msg(rec, &row, interval, cap, "HTTP 500", Some(500));
        // The third failure in a row waits four intervals, give or take 10% jitter.
        let backoff = rec.next_poll_at - T0;
        assert!((2160..=2640).contains(&backoff), "backoff {backoff} s");

        let mut due = DueQueue::default();
        due.set(Arc::from(url), rec.next_poll_at);
        tokio::time::advance(interval).await;
        assert_eq!(due.pop_due(clock.now()), None, "not at the usual interval");
        let left = u64::try_from(backoff).expect("positive") - interval.as_secs();
        tokio::time::advance(Duration::from_secs(left - 1)).await;
        assert_eq!(
            due.pop_due(clock.now()),
            None,
            "not a second before it ends"
        );
        assert_eq!(first_due(&mut due, clock).await, (Arc::from(url), 1));
    }

    #[test]
    fn due_queue_hands_out_due_feeds_earliest_first() {
        let mut q = DueQueue::default();
        q.set(Arc::from("b"), 20);
        q.set(Arc::from("a"), 10);
        q.set(Arc::from("c"), 30);
        // Moving a feed replaces its old time instead of adding a second entry.
        q.set(Arc::from("c"), 5);
        assert_eq!(q.next_at(), Some(5));
        assert_eq!(q.pop_due(15).as_deref(), Some("c"));
        assert_eq!(q.pop_due(15).as_deref(), Some("a"));
        assert_eq!(q.pop_due(15), None, "b is not due before 20");
        assert!(q.get("b") == Some(20) && q.get("a").is_none());
        q.retain(|u| u != "b");
        assert_eq!(q.next_at(), None);
        assert_eq!(q.pop_due(i64::MAX), None);
    }

    #[test]
    fn due_ceiling_is_the_last_poll_plus_the_longest_interval_and_jitter() {
        let h = Duration::from_secs(3600);
        let six = Duration::from_secs(6 * 3600);
        assert_eq!(due_ceiling(Some(1000), 5000, h, six), 1000 + 6 * 3960);
        // A configured interval longer than max_interval is the operator's choice.
        assert_eq!(
            due_ceiling(Some(1000), 5000, 2 * six, six),
            1000 + 12 * 3960
        );
        // Never polled, or a last poll in the future (clock stepped back): from now.
        assert_eq!(due_ceiling(None, 5000, h, six), 5000 + 6 * 3960);
        assert_eq!(due_ceiling(Some(9000), 5000, h, six), 5000 + 6 * 3960);
    }
}
