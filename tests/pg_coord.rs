//! Coordination of instances on PostgreSQL against a real server (issue #15): membership,
//! and feed leases claimed with SKIP LOCKED, renewed, taken over and released. Without
//! `FEEDWATCH_TEST_POSTGRES` the tests print "skipped" and pass (see `pg_common`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test panics on a broken fixture

mod pg_common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use feedwatch::store::pg::{self, PgError};
use pg_common::{add_feeds, ids, register, unix_now, TestDb};

/// Three instances (own pools, own tasks) claim 300 due feeds in small batches at once:
/// every due feed is leased exactly once, and nothing else is.
#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn three_concurrent_claimers_lease_each_due_feed_exactly_once() {
    let Some(db) = TestDb::new("claim3").await else {
        return;
    };
    let setup = db.migrated_store().await;
    add_feeds(&setup, 300, 1000).await;
    let start = Arc::new(tokio::sync::Barrier::new(3));
    let mut tasks = Vec::new();
    for n in 0..3 {
        let store = db.store();
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            let me = format!("inst-{n}");
            register(&store, &me, 1000).await;
            start.wait().await;
            let mut got = Vec::new();
            loop {
                let batch = store
                    .claim_due_feeds(&me, 1000, 300, 7, None)
                    .await
                    .expect("claim");
                if batch.is_empty() {
                    break;
                }
                assert!(batch.iter().all(|c| c.taken_over_from.is_none()));
                got.extend(ids(&batch));
                tokio::task::yield_now().await;
            }
            (me, got)
        }));
    }
    let mut owner_of: BTreeMap<i64, String> = BTreeMap::new();
    let mut shares = Vec::new();
    for t in tasks {
        let (me, got) = t.await.expect("task");
        shares.push(got.len());
        for id in got {
            assert!(
                owner_of.insert(id, me.clone()).is_none(),
                "feed {id} claimed twice"
            );
        }
    }
    println!("claims per instance: {shares:?}");
    assert_eq!(owner_of.len(), 300);
    let c = setup.client().await.expect("client");
    let rows = c
        .query(
            "SELECT id, url, lease_owner FROM feeds WHERE lease_owner IS NOT NULL",
            &[],
        )
        .await
        .expect("leases");
    let in_db: BTreeMap<i64, String> = rows.iter().map(|r| (r.get(0), r.get(2))).collect();
    assert_eq!(
        in_db, owner_of,
        "the database agrees with what each was told"
    );
    assert!(rows
        .iter()
        .all(|r| r.get::<_, String>(1).starts_with("http://feed.example/")));
    db.drop_schema().await;
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_and_a_live_one_is_not() {
    let Some(db) = TestDb::new("takeover").await else {
        return;
    };
    let (a, b) = (db.migrated_store().await, db.store());
    add_feeds(&a, 2, 1000).await;
    register(&a, "a", 1000).await;
    register(&b, "b", 1000).await;
    let first = a
        .claim_due_feeds("a", 1000, 60, 100, None)
        .await
        .expect("a claims");
    assert_eq!(first.len(), 2);
    assert!(first.iter().all(|c| c.lease_expires == 1060));
    assert!(
        b.claim_due_feeds("b", 1059, 60, 100, None)
            .await
            .expect("b")
            .is_empty(),
        "live lease"
    );
    // At expiry the lease is over: b takes both, and is told whose they were.
    let taken = b
        .claim_due_feeds("b", 1060, 60, 100, None)
        .await
        .expect("b takes over");
    assert_eq!(ids(&taken), ids(&first));
    assert!(taken
        .iter()
        .all(|c| c.taken_over_from.as_deref() == Some("a")));
    // a learns it lost them, and cannot end b's lease.
    assert!(a
        .renew_leases("a", &ids(&first), 1061, 60)
        .await
        .expect("renew")
        .is_empty());
    assert!(!a
        .release_lease("a", first[0].feed_id, 5000)
        .await
        .expect("release"));
    assert!(b
        .release_lease("b", first[0].feed_id, 5000)
        .await
        .expect("release"));
    // Released with its next poll time: not due again before then, for anyone.
    assert!(a
        .claim_due_feeds("a", 4999, 60, 100, None)
        .await
        .expect("a")
        .iter()
        .all(|c| c.feed_id != first[0].feed_id));
    let again = a
        .claim_due_feeds("a", 5000, 60, 100, None)
        .await
        .expect("a");
    assert_eq!(ids(&again), vec![first[0].feed_id]);
    assert_eq!(
        again[0].taken_over_from, None,
        "a released lease is not a takeover"
    );
    db.drop_schema().await;
}

/// `poll --once`'s claim (run started at 1000 s by the server's clock): every feed not
/// polled since, due or not, once (its own commits stamp what it polled); not one another
/// instance polled after the start; one another instance holds is reported as waited for
/// until its lease ends, and is no longer once it was polled.
#[tokio::test]
async fn poll_once_claims_every_feed_not_polled_since_it_started() {
    const STARTED: i64 = 1_000_000_000; // 1000 s, in microseconds
    let Some(db) = TestDb::new("once").await else {
        return;
    };
    let (a, b) = (db.migrated_store().await, db.store());
    // Feeds 1-3 due (3 the most overdue), 4 due only far ahead, 5 removed from the config.
    add_feeds(&a, 3, 1000).await;
    register(&a, "a", 1000).await;
    register(&b, "b", 1000).await;
    let held = b
        .claim_due_feeds("b", 1000, 60, 1, None)
        .await
        .expect("b claims");
    assert_eq!(ids(&held), vec![3]);
    // Feed 2 was polled by another instance after the run started, and is not due.
    let polled: Vec<i64> = db
        .column(
            "UPDATE feeds SET polled_at = to_timestamp(1001), next_poll_at = 5000 WHERE id = 2 RETURNING id",
        )
        .await;
    assert_eq!(polled, vec![2]);

    let first = a
        .claim_unpolled_feeds("a", 1002, 60, 100, None, STARTED)
        .await
        .expect("a claims");
    assert_eq!(
        ids(&first),
        vec![1, 4],
        "due or not, but not polled since the start"
    );
    let again = a
        .claim_unpolled_feeds("a", 1003, 60, 100, None, STARTED)
        .await
        .expect("a claims again");
    assert!(again.is_empty(), "not a feed it holds: {again:?}");
    // The run still waits for feed 3, which b holds until 1060.
    assert_eq!(
        a.leased_unpolled("a", 1003, STARTED).await.expect("held"),
        Some((1, 1060))
    );
    // b polls it and gives it back: nothing left to wait for or to claim.
    let _: Vec<i64> = db
        .column("UPDATE feeds SET polled_at = to_timestamp(1004) WHERE id = 3 RETURNING id")
        .await;
    assert!(b.release_lease("b", 3, 5000).await.expect("release"));
    assert_eq!(
        a.leased_unpolled("a", 1005, STARTED).await.expect("held"),
        None
    );
    // a's own polls commit (stamped after the start) and end their leases: even once every
    // lease is long over, the run has nothing left to claim.
    let _: Vec<i64> = db
        .column("UPDATE feeds SET polled_at = to_timestamp(1004) WHERE id IN (1, 4) RETURNING id")
        .await;
    assert!(a.release_lease("a", 1, 5000).await.expect("release"));
    assert!(a
        .release_lease("a", 4, 9_000_000_000)
        .await
        .expect("release"));
    assert!(a
        .claim_unpolled_feeds("a", 2000, 60, 100, None, STARTED)
        .await
        .expect("a")
        .is_empty());
    // `run`'s claim is unchanged: only what is due.
    assert!(a
        .claim_due_feeds("a", 1005, 60, 100, None)
        .await
        .expect("due")
        .is_empty());
    db.drop_schema().await;
}

#[tokio::test]
async fn renewal_keeps_a_lease_while_the_poll_runs() {
    let Some(db) = TestDb::new("renew").await else {
        return;
    };
    let (a, b) = (db.migrated_store().await, db.store());
    add_feeds(&a, 3, 1000).await;
    register(&a, "a", 1000).await;
    register(&b, "b", 1000).await;
    let held = ids(&a
        .claim_due_feeds("a", 1000, 60, 2, None)
        .await
        .expect("claim"));
    assert_eq!(held.len(), 2);
    // Renewed at 1050 to 1110: at 1080 (past the first expiry) b gets only the third feed.
    assert_eq!(
        a.renew_leases("a", &held, 1050, 60).await.expect("renew"),
        held
    );
    let other = b
        .claim_due_feeds("b", 1080, 60, 100, None)
        .await
        .expect("b");
    assert_eq!(other.len(), 1);
    assert!(!held.contains(&other[0].feed_id));
    // Renewal names only what the caller holds: b's feed is not renewed for a.
    let mixed = [held.clone(), ids(&other)].concat();
    assert_eq!(
        a.renew_leases("a", &mixed, 1090, 60).await.expect("renew"),
        held
    );
    // At 1139 a's leases (to 1150) and b's own (to 1140) are all live.
    assert!(b
        .claim_due_feeds("b", 1139, 60, 100, None)
        .await
        .expect("b")
        .is_empty());
    assert_eq!(a.release_all("a").await.expect("release all"), 2);
    let freed = b
        .claim_due_feeds("b", 1139, 60, 100, None)
        .await
        .expect("b");
    assert_eq!(
        ids(&freed),
        held,
        "a clean shutdown frees its feeds at once"
    );
    db.drop_schema().await;
}

#[tokio::test]
async fn heartbeats_list_instances_and_dead_ones_are_forgotten() {
    let Some(db) = TestDb::new("members").await else {
        return;
    };
    let s = db.migrated_store().await;
    add_feeds(&s, 4, 100).await;
    register(&s, "host-a:1", 100).await;
    register(&s, "host-b:2", 100).await;
    assert_eq!(
        s.claim_due_feeds("host-b:2", 100, 600, 3, None)
            .await
            .expect("claim")
            .len(),
        3
    );
    assert!(s.heartbeat("host-a:1", 150).await.expect("beat"));
    assert!(
        s.heartbeat("host-a:1", 140).await.expect("late beat"),
        "never moves back"
    );
    assert!(
        !s.heartbeat("nobody:0", 150).await.expect("beat"),
        "unknown id"
    );
    let list = s.instances(160).await.expect("list");
    let seen: Vec<(&str, i64, i64)> = list
        .iter()
        .map(|i| (i.id.as_str(), i.heartbeat_at, i.feeds_held))
        .collect();
    assert_eq!(seen, vec![("host-a:1", 150, 0), ("host-b:2", 100, 3)]);
    assert_eq!(list[0].version, env!("CARGO_PKG_VERSION"));
    assert_eq!(list[1].pid, std::process::id());
    // b stopped beating: forgetting it frees its leases for a.
    assert_eq!(
        s.forget_instances(120).await.expect("forget"),
        vec!["host-b:2".to_string()]
    );
    assert!(
        !s.heartbeat("host-b:2", 170).await.expect("beat"),
        "b must register again"
    );
    assert_eq!(
        s.claim_due_feeds("host-a:1", 170, 600, 10, None)
            .await
            .expect("claim")
            .len(),
        4
    );
    db.drop_schema().await;
}

#[tokio::test]
async fn an_unregistered_instance_cannot_hold_a_lease() {
    let Some(db) = TestDb::new("unreg").await else {
        return;
    };
    let s = db.migrated_store().await;
    add_feeds(&s, 1, 100).await;
    let e = s
        .claim_due_feeds("ghost", 100, 60, 10, None)
        .await
        .expect_err("foreign key");
    assert!(matches!(e, PgError::Sql(_)), "{e:?}");
    db.drop_schema().await;
}

/// Real time: a 3 s lease renewed every second outlives a 4.5 s poll, while another instance
/// tries to take the feed; a lease taken over meanwhile cancels the poll within a renewal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_is_kept_while_its_poll_runs_and_losing_it_cancels_the_poll() {
    let Some(db) = TestDb::new("hold").await else {
        return;
    };
    let (a, b) = (db.migrated_store().await, db.store());
    add_feeds(&a, 2, unix_now()).await;
    register(&a, "a", unix_now()).await;
    register(&b, "b", unix_now()).await;
    let first = ids(&a
        .claim_due_feeds("a", unix_now(), 3, 1, None)
        .await
        .expect("claim"));
    let rival = tokio::spawn({
        let b = b.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(3600)).await;
            b.claim_due_feeds("b", unix_now(), 3, 10, None)
                .await
                .expect("b")
        }
    });
    let poll = tokio::time::sleep(Duration::from_millis(4500));
    let held = a
        .while_holding("a", &first, 3, unix_now, async {
            poll.await;
            7
        })
        .await;
    assert_eq!(held, pg::Held::Done(7, first.clone()));
    let taken = ids(&rival.await.expect("rival"));
    assert!(
        !taken.contains(&first[0]),
        "renewed: b got only the other feed {taken:?}"
    );

    assert!(a
        .release_lease("a", first[0], unix_now() + 1000)
        .await
        .expect("release"));

    // b takes the other feed over (its clock says the lease is long gone): a's poll of it
    // stops at the next renewal, not when the poll would have ended.
    let second = ids(&a
        .claim_due_feeds("a", unix_now() + 10, 3, 1, None)
        .await
        .expect("claim"));
    assert_eq!(second.len(), 1);
    let over = b
        .claim_due_feeds("b", unix_now() + 100, 3, 10, None)
        .await
        .expect("takeover");
    assert!(ids(&over).contains(&second[0]));
    let started = Instant::now();
    let long_poll = tokio::time::sleep(Duration::from_secs(30));
    let held = a.while_holding("a", &second, 3, unix_now, long_poll).await;
    assert_eq!(held, pg::Held::Lost(second));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    db.drop_schema().await;
}

/// While configs differ (one instance reloaded with a feed, the other not yet), an instance
/// claims only the feeds its config lists: the feed is left to the one that lists it, which
/// claims it as soon as it is due, however the two interleave.
#[tokio::test]
async fn an_instance_claims_only_the_feeds_its_config_lists() {
    let Some(db) = TestDb::new("listed").await else {
        return;
    };
    let (a, b) = (db.migrated_store().await, db.store());
    add_feeds(&a, 3, 1000).await;
    register(&a, "a", 1000).await;
    register(&b, "b", 1000).await;
    let all: Vec<String> = (1..=3)
        .map(|i| format!("http://feed.example/{i}"))
        .collect();
    let old: Vec<String> = all[..2].to_vec();
    // b's config lacks feed 3: asking first, it takes only the two it lists.
    let got = b
        .claim_due_feeds("b", 1000, 60, 100, Some(&old))
        .await
        .expect("b claims");
    let mut urls: Vec<String> = got.iter().map(|c| c.url.clone()).collect();
    urls.sort();
    assert_eq!(urls, old);
    let left = a
        .claim_due_feeds("a", 1000, 60, 100, Some(&all))
        .await
        .expect("a claims");
    let urls: Vec<&str> = left.iter().map(|c| c.url.as_str()).collect();
    assert_eq!(urls, ["http://feed.example/3"]);
    // The same for `poll --once`'s claim.
    assert!(b
        .claim_unpolled_feeds("b", 2000, 60, 100, Some(&old[..1]), 4_000_000_000_000_000)
        .await
        .expect("b")
        .iter()
        .all(|c| c.url == old[0]));
    db.drop_schema().await;
}

/// Each instance records which feeds its config lists; the lists of the live instances are
/// compared (what `status` and the journal warn about), a dead instance's list no longer
/// counts, and registering anew forgets the old list until the instance records it again.
#[tokio::test]
async fn instances_record_their_feed_lists_and_differences_are_counted() {
    let Some(db) = TestDb::new("lists").await else {
        return;
    };
    let (a, b) = (db.migrated_store().await, db.store());
    register(&a, "a", 1000).await;
    register(&b, "b", 1000).await;
    let listed = |urls: &[&str]| pg::Listed::of(urls.iter().copied());
    let two = listed(&["http://feed.example/2", "http://feed.example/1"]);
    assert_eq!(
        two,
        listed(&["http://feed.example/1", "http://feed.example/2"]),
        "any order"
    );
    let three = listed(&[
        "http://feed.example/1",
        "http://feed.example/2",
        "http://x/3",
    ]);
    assert_eq!((two.feeds, three.feeds), (2, 3));
    assert_ne!(two.digest, three.digest);
    let all = a.instances(1000).await.expect("instances");
    assert!(all.iter().all(|i| i.listed.is_none()), "none said yet");
    assert_eq!(pg::distinct_lists(&all, 900), 0);

    a.set_listed("a", &three).await.expect("a");
    b.set_listed("b", &two).await.expect("b");
    let all = a.instances(1000).await.expect("instances");
    let of = |id: &str| {
        all.iter()
            .find(|i| i.id == id)
            .and_then(|i| i.listed.clone())
    };
    assert_eq!((of("a"), of("b")), (Some(three.clone()), Some(two.clone())));
    assert_eq!(pg::distinct_lists(&all, 900), 2, "the configs differ");
    // Heartbeats older than the live bound: a dead instance's list does not count.
    assert_eq!(
        pg::distinct_lists(&all, 1000),
        0,
        "neither is live after 1000"
    );
    b.set_listed("b", &three).await.expect("b reloaded");
    let all = a.instances(1000).await.expect("instances");
    assert_eq!(pg::distinct_lists(&all, 900), 1, "the same list");

    // A restart registers anew: the old list is forgotten until recorded again.
    register(&b, "b", 1100).await;
    let all = a.instances(1100).await.expect("instances");
    assert_eq!(
        all.iter().find(|i| i.id == "b").map(|i| i.listed.clone()),
        Some(None)
    );
    db.drop_schema().await;
}
