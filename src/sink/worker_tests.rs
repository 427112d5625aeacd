//! The sink loop's timing on paused tokio time, with a scripted receiver in place of the
//! network: retries, backoff and recovery are proved without waiting for real.

use std::sync::atomic::{AtomicU32, Ordering};

use tokio::sync::mpsc;

use super::*;
use crate::rules::Severity;
use crate::store::{NewAlert, NewArticle, PollRecord};

/// Unix seconds at which the tests' clock starts.
const T0: i64 = 1_700_000_000;

#[test]
fn backoff_doubles_with_jitter_and_caps() {
    let i = Duration::from_secs(10);
    let max = Duration::from_secs(3600);
    for (n, full) in [(1, 10), (2, 20), (3, 40), (10, 3600), (u32::MAX, 3600)] {
        let d = backoff(n, i, max);
        let full = Duration::from_secs(full);
        assert!(d >= full / 2 && d <= full, "{n}: {d:?}");
    }
}

/// A receiver that is down (503) for its first `down` attempts and takes every alert after
/// that. It reports the tokio time of each attempt.
struct Flaky {
    down: u32,
    attempts: AtomicU32,
    seen: mpsc::UnboundedSender<Instant>,
}

impl Deliver for Flaky {
    fn deliver(
        &self,
        _: &Sink,
        _: &AlertRecord,
        _: u32,
        _: Vec<u8>,
    ) -> impl Future<Output = Outcome> + Send {
        let n = self.attempts.fetch_add(1, Ordering::SeqCst) + 1;
        let _ = self.seen.send(Instant::now());
        std::future::ready(if n <= self.down {
            Outcome::Retry {
                error: "HTTP 503".into(),
                after: None,
            }
        } else {
            Outcome::Delivered
        })
    }
}

/// A database with the sink `hook` registered and one alert committed after it, at `T0`.
fn outbox(dir: &std::path::Path) -> Store {
    let mut store = Store::open(&dir.join("fw.db")).expect("open");
    store
        .sync_feeds([("http://feed.test/rss", Some("F"))], T0)
        .expect("sync");
    store.register_sinks(["hook"], T0).expect("register");
    let rec = PollRecord {
        status: Some(200),
        seen: vec![vec![1]],
        articles: vec![NewArticle {
            item_key: 1,
            url: Some("http://feed.test/1".into()),
            canonical_url: None,
            title: "article".into(),
            summary: String::new(),
            body: String::new(),
            body_source: "none",
            author: None,
            lang: None,
            published_at: None,
            link_canonical: None,
            fingerprint: crate::story::fingerprint("a1 b1 c1 d1"),
            alerts: vec![NewAlert {
                rule: "r1".into(),
                severity: Severity::High,
                hits: vec![],
                snippet: "…".into(),
            }],
        }],
        item_count: Some(1),
        ..PollRecord::new(1, T0)
    };
    store.commit_poll(&rec).expect("commit");
    store
}

fn hook_status(store: &Store) -> crate::store::SinkStatus {
    store
        .sink_status()
        .expect("status")
        .into_iter()
        .find(|s| s.name == "hook")
        .expect("registered")
}

#[tokio::test(start_paused = true)]
async fn a_failing_sink_backs_off_doubling_to_the_cap_then_delivers_when_the_receiver_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let check = outbox(dir.path());
    let spec: super::super::SinkSpec = toml::from_str(
        "name = \"hook\"\ntype = \"webhook\"\nurl = \"http://receiver.test/\"\n\
         retry_initial = \"10s\"\nretry_max = \"60s\"\n",
    )
    .expect("spec");
    let sink = Arc::new(Sink::build(&spec, &[]).expect("sink"));
    let (tx, mut attempts) = mpsc::unbounded_channel();
    let receiver = Flaky {
        down: 6,
        attempts: AtomicU32::new(0),
        seen: tx,
    };
    let stop = Stop {
        stop: CancellationToken::new(),
        drain: CancellationToken::new(),
    };
    let (_wake, wake) = watch::channel(0u64);
    let store = Store::open(&dir.path().join("fw.db")).expect("open");
    // A long tick: only the backoff may bring the sink round again.
    let opts = SinkOptions {
        tick: Duration::from_secs(3600),
        ..SinkOptions::default()
    };
    let worker = tokio::spawn({
        let stop = stop.clone();
        async move {
            run_with(
                sink,
                store.into(),
                wake,
                stop,
                opts,
                Clock::tokio(T0),
                &receiver,
            )
            .await;
        }
    });

    let start = Instant::now();
    let mut at = Vec::new();
    for _ in 0..7 {
        at.push(attempts.recv().await.expect("an attempt"));
    }
    assert_eq!(at[0], start, "the first attempt is made at once");
    // Each failure waits between half and all of 10 s doubled per failure, up to 60 s.
    for (i, (pair, full)) in at.windows(2).zip([10, 20, 40, 60, 60, 60]).enumerate() {
        let (gap, full) = (pair[1] - pair[0], Duration::from_secs(full));
        assert!(
            gap >= full / 2 && gap <= full,
            "wait after failure {}: {gap:?}, not within {:?}..={full:?}",
            i + 1,
            full / 2
        );
    }

    // The seventh attempt was taken: recorded as delivered, and never sent again.
    let mut st = hook_status(&check);
    for _ in 0..100 {
        if st.delivered == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        st = hook_status(&check);
    }
    assert_eq!((st.delivered, st.pending, st.failed), (1, 0, 0), "{st:?}");
    assert_eq!(st.consecutive_failures, 0);
    tokio::time::sleep(Duration::from_secs(4 * 3600)).await;
    assert!(
        attempts.try_recv().is_err(),
        "a delivered alert is not sent again"
    );

    stop.stop.cancel();
    worker.await.expect("worker");
}
