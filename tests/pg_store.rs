//! The PostgreSQL backend's foundation against a real server (issue #15): migrations, and the
//! coordination of instances (membership, feed leases claimed with SKIP LOCKED).
//!
//! The server comes from `FEEDWATCH_TEST_POSTGRES` (a URL; `scripts/pg-throwaway.sh start DIR`
//! starts one and prints it, and CI sets it). Unset, each test that needs the server prints
//! "skipped" and passes. Each test works in its own schema (named after the test and the
//! process), so the tests run in parallel on one server and leave nothing behind.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test panics on a broken fixture

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use feedwatch::config::{PgSettings, SslMode};
use feedwatch::store::pg::{self, Instance, PgError, PgStore, LATEST_VERSION};

/// One test's schema, dropped when the test ends.
struct TestDb {
    url: String,
    schema: String,
    admin: PgStore,
}

impl TestDb {
    /// A fresh schema named after `test`, or `None` (with a message) when no server is set.
    async fn new(test: &str) -> Option<TestDb> {
        let Ok(url) = std::env::var("FEEDWATCH_TEST_POSTGRES") else {
            println!(
                "skipped: FEEDWATCH_TEST_POSTGRES is unset (eval \"$(scripts/pg-throwaway.sh start DIR)\" sets it)"
            );
            return None;
        };
        let schema = format!("fwtest_{test}_{}", std::process::id());
        let admin = pg::connect(&settings_for(&url, None)).expect("admin pool");
        let c = admin.client().await.expect("admin connection");
        c.batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
        ))
        .await
        .expect("create schema");
        Some(TestDb { url, schema, admin })
    }

    /// A new pool (as another instance would have) whose tables live in this test's schema.
    fn settings(&self) -> PgSettings {
        settings_for(&self.url, Some(&self.schema))
    }

    fn store(&self) -> PgStore {
        pg::connect(&self.settings()).expect("pool")
    }

    async fn migrated_store(&self) -> PgStore {
        let s = self.store();
        pg::migrate(&s).await.expect("migrate");
        s
    }

    async fn drop_schema(self) {
        let c = self.admin.client().await.expect("admin connection");
        c.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.schema))
            .await
            .expect("drop schema");
    }
}

fn settings_for(url: &str, schema: Option<&str>) -> PgSettings {
    let mut s = PgSettings::from_url(url, Path::new("/")).expect("FEEDWATCH_TEST_POSTGRES");
    if let Some(schema) = schema {
        s.params.options(format!("-c search_path={schema}"));
    }
    s.pool_size = 4;
    s
}

/// `n` feeds due at `due`, plus one not yet due and one removed from the config.
async fn add_feeds(store: &PgStore, n: i64, due: i64) {
    let c = store.client().await.expect("client");
    c.execute(
        "INSERT INTO feeds (url, created_at, next_poll_at)
         SELECT 'http://feed.example/' || i, 0, $2::bigint - (i % 7) FROM generate_series(1::bigint, $1::bigint) AS i",
        &[&n, &due],
    )
    .await
    .expect("insert due feeds");
    c.batch_execute(
        "INSERT INTO feeds (url, created_at, next_poll_at) VALUES ('http://later.example/', 0, 9000000000);
         INSERT INTO feeds (url, created_at, next_poll_at, removed_at) VALUES ('http://gone.example/', 0, 0, 1);",
    )
    .await
    .expect("insert other feeds");
}

async fn register(store: &PgStore, id: &str, now: i64) {
    let mut i = Instance::this_process(now);
    i.id = id.to_string();
    store.register_instance(&i).await.expect("register");
}

fn ids(claims: &[pg::Claim]) -> Vec<i64> {
    claims.iter().map(|c| c.feed_id).collect()
}

#[tokio::test]
async fn migrations_apply_are_idempotent_and_refuse_a_newer_schema() {
    let Some(db) = TestDb::new("migrate").await else {
        return;
    };
    let store = db.store();
    assert_eq!(pg::migrate(&store).await.expect("first run"), 0);
    let c = store.client().await.expect("client");
    let tables: i64 = c
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1",
            &[&db.schema],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(tables, 12, "11 tables and feedwatch_schema");
    assert_eq!(
        pg::migrate(&store).await.expect("second run"),
        LATEST_VERSION
    );
    let recorded: i64 = c
        .query_one("SELECT count(*) FROM feedwatch_schema", &[])
        .await
        .expect("versions")
        .get(0);
    assert_eq!(recorded, i64::from(LATEST_VERSION), "each version once");

    c.execute("INSERT INTO feedwatch_schema (version) VALUES (99)", &[])
        .await
        .expect("bump");
    let e = pg::migrate(&store).await.expect_err("newer schema");
    assert!(
        matches!(e, PgError::NewerSchema { found: 99, supported } if supported == LATEST_VERSION),
        "{e:?}"
    );
    assert!(e.to_string().contains("upgrade feedwatch"), "{e}");
    drop(c);
    db.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_together_migrate_once() {
    let Some(db) = TestDb::new("migrate_race").await else {
        return;
    };
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let s = db.store();
            tokio::spawn(async move { pg::migrate(&s).await })
        })
        .collect();
    let mut before = Vec::new();
    for r in runs {
        before.push(r.await.expect("task").expect("migrate"));
    }
    before.sort_unstable();
    assert_eq!(
        before,
        vec![0, LATEST_VERSION, LATEST_VERSION, LATEST_VERSION]
    );
    db.drop_schema().await;
}

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
                    .claim_due_feeds(&me, 1000, 300, 7)
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
        .claim_due_feeds("a", 1000, 60, 100)
        .await
        .expect("a claims");
    assert_eq!(first.len(), 2);
    assert!(first.iter().all(|c| c.lease_expires == 1060));
    assert!(
        b.claim_due_feeds("b", 1059, 60, 100)
            .await
            .expect("b")
            .is_empty(),
        "live lease"
    );
    // At expiry the lease is over: b takes both, and is told whose they were.
    let taken = b
        .claim_due_feeds("b", 1060, 60, 100)
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
        .claim_due_feeds("a", 4999, 60, 100)
        .await
        .expect("a")
        .iter()
        .all(|c| c.feed_id != first[0].feed_id));
    let again = a.claim_due_feeds("a", 5000, 60, 100).await.expect("a");
    assert_eq!(ids(&again), vec![first[0].feed_id]);
    assert_eq!(
        again[0].taken_over_from, None,
        "a released lease is not a takeover"
    );
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
    let held = ids(&a.claim_due_feeds("a", 1000, 60, 2).await.expect("claim"));
    assert_eq!(held.len(), 2);
    // Renewed at 1050 to 1110: at 1080 (past the first expiry) b gets only the third feed.
    assert_eq!(
        a.renew_leases("a", &held, 1050, 60).await.expect("renew"),
        held
    );
    let other = b.claim_due_feeds("b", 1080, 60, 100).await.expect("b");
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
        .claim_due_feeds("b", 1139, 60, 100)
        .await
        .expect("b")
        .is_empty());
    assert_eq!(a.release_all("a").await.expect("release all"), 2);
    let freed = b.claim_due_feeds("b", 1139, 60, 100).await.expect("b");
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
        s.claim_due_feeds("host-b:2", 100, 600, 3)
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
        s.claim_due_feeds("host-a:1", 170, 600, 10)
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
        .claim_due_feeds("ghost", 100, 60, 10)
        .await
        .expect_err("foreign key");
    assert!(matches!(e, PgError::Sql(_)), "{e:?}");
    db.drop_schema().await;
}

#[tokio::test]
async fn a_statement_past_statement_timeout_is_cancelled_by_the_server() {
    let Some(db) = TestDb::new("stmt_timeout").await else {
        return;
    };
    let mut settings = db.settings();
    settings.statement_timeout = Duration::from_secs(1);
    let s = pg::connect(&settings).expect("pool");
    let c = s.client().await.expect("client");
    let started = Instant::now();
    let e = c
        .execute("SELECT pg_sleep(5)", &[])
        .await
        .expect_err("cancelled");
    assert_eq!(
        e.code(),
        Some(&tokio_postgres::error::SqlState::QUERY_CANCELED),
        "{e}"
    );
    assert!(started.elapsed() < Duration::from_secs(4));
    db.drop_schema().await;
}

#[tokio::test]
async fn tls_modes_follow_sslmode_against_a_server_without_tls() {
    let Some(db) = TestDb::new("tls").await else {
        return;
    };
    // The throwaway server has no certificate: prefer falls back to plain, require refuses.
    let mut settings = db.settings();
    settings.sslmode = SslMode::Prefer;
    let s = pg::connect(&settings).expect("pool");
    let c = s.client().await.expect("prefer connects without TLS");
    c.execute("SELECT 1", &[]).await.expect("and works");
    drop(c);
    settings.sslmode = SslMode::Require;
    let s = pg::connect(&settings).expect("pool");
    let e = s.client().await.expect_err("require needs TLS");
    assert!(matches!(e, PgError::Connect(_)), "{e:?}");
    assert!(e.to_string().contains("TLS"), "the cause is kept: {e}");
    db.drop_schema().await;
}

/// Needs no server: nothing listens on the port, and the error comes back within the bound.
#[tokio::test]
async fn an_unreachable_server_is_an_error_within_the_connect_timeout() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let url = format!("postgresql://fw:hunter2@127.0.0.1:{port}/fw?sslmode=disable");
    let mut settings = PgSettings::from_url(&url, Path::new("/")).expect("url");
    settings.connect_timeout = Duration::from_secs(2);
    let s = pg::connect(&settings).expect("pool");
    let started = Instant::now();
    let e = s.client().await.expect_err("nobody listens");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(e, PgError::Connect(_)), "{e:?}");
    println!("{e}");
    assert!(
        !format!("{e} {e:?} {settings:?}").contains("hunter2"),
        "{e}"
    );
}

fn unix_now() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(d.as_secs()).expect("seconds")
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
        .claim_due_feeds("a", unix_now(), 3, 1)
        .await
        .expect("claim"));
    let rival = tokio::spawn({
        let b = b.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(3600)).await;
            b.claim_due_feeds("b", unix_now(), 3, 10).await.expect("b")
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
        .claim_due_feeds("a", unix_now() + 10, 3, 1)
        .await
        .expect("claim"));
    assert_eq!(second.len(), 1);
    let over = b
        .claim_due_feeds("b", unix_now() + 100, 3, 10)
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

/// A role with a password, reached over TCP: the password comes from `password_file`, a
/// wrong one is refused by the server, and neither is ever echoed. Against a server that
/// trusts every connection (an older throwaway cluster) the refusal cannot be seen: skipped.
#[tokio::test]
async fn a_password_file_authenticates_and_a_wrong_password_is_refused_unechoed() {
    use tokio_postgres::config::Host;
    let Some(db) = TestDb::new("password").await else {
        return;
    };
    let role = format!("fwtest_pw_{}", std::process::id());
    let c = db.admin.client().await.expect("admin");
    c.batch_execute(&format!(
        "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN PASSWORD 'right-{role}'"
    ))
    .await
    .expect("create role");
    let admin = db.settings();
    let Some(Host::Tcp(host)) = admin.params.get_hosts().first() else {
        println!("skipped: FEEDWATCH_TEST_POSTGRES is not a TCP URL");
        return;
    };
    let port = admin.params.get_ports().first().copied().unwrap_or(5432);
    let url = format!("postgresql://{role}@{host}:{port}/postgres?sslmode=disable");
    let dir = tempfile::tempdir().expect("tmp");
    let connect_with = |password: &str| {
        let file = dir.path().join(format!("pw-{password}"));
        std::fs::write(&file, format!("{password}\n")).expect("write");
        let mut s = PgSettings::from_url(&url, Path::new("/")).expect("url");
        s.password_file = Some(file);
        pg::connect(&s).expect("pool")
    };
    let wrong = connect_with("wrong-horse").client().await;
    match wrong {
        Ok(_) => println!("skipped: the server does not check passwords (trust)"),
        Err(e) => {
            let shown = format!("{e} {e:?}");
            assert!(shown.contains("password authentication failed"), "{shown}");
            assert!(!shown.contains("wrong-horse"), "{shown}");
        }
    }
    let right = connect_with(&format!("right-{role}"));
    let who: String = right
        .client()
        .await
        .expect("the right password")
        .query_one("SELECT current_user::text", &[])
        .await
        .expect("query")
        .get(0);
    assert_eq!(who, role);
    drop(right);
    c.batch_execute(&format!("DROP ROLE {role}"))
        .await
        .expect("drop role");
    drop(c);
    db.drop_schema().await;
}
