//! Shared by the PostgreSQL suites (`pg_store`, `pg_coord`, `pg_poll`, `pg_search`,
//! `pg_read`): a schema per test on the server `FEEDWATCH_TEST_POSTGRES` names
//! (`scripts/pg-throwaway.sh start DIR` starts one and prints it; CI sets it). Unset,
//! [`TestDb::new`] prints "skipped" and the test passes.
//! Each test works in its own schema (named after the test and the process), so the tests run
//! in parallel on one server.

#![allow(dead_code)] // each suite uses part of it

use std::path::Path;

use feedwatch::config::PgSettings;
use feedwatch::store::pg::{self, Instance, PgStore};

/// One test's schema, dropped when the test ends.
pub struct TestDb {
    pub url: String,
    pub schema: String,
    pub admin: PgStore,
}

impl TestDb {
    /// A fresh schema named after `test`, or `None` (with a message) when no server is set.
    pub async fn new(test: &str) -> Option<TestDb> {
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
    pub fn settings(&self) -> PgSettings {
        settings_for(&self.url, Some(&self.schema))
    }

    pub fn store(&self) -> PgStore {
        pg::connect(&self.settings()).expect("pool")
    }

    pub async fn migrated_store(&self) -> PgStore {
        let s = self.store();
        pg::migrate(&s).await.expect("migrate");
        s
    }

    /// The server's URL with this test's schema first on the search path, for the binary.
    pub fn schema_url(&self) -> String {
        let sep = if self.url.contains('?') { '&' } else { '?' };
        format!(
            "{}{sep}options=-c%20search_path%3D{}",
            self.url, self.schema
        )
    }

    /// One value per row of `sql` run in the test's schema.
    pub async fn column<T>(&self, sql: &str) -> Vec<T>
    where
        T: for<'a> tokio_postgres::types::FromSql<'a>,
    {
        let c = self.admin.client().await.expect("client");
        c.batch_execute(&format!("SET search_path = {}", self.schema))
            .await
            .expect("search_path");
        let rows = c.query(sql, &[]).await.expect(sql);
        rows.iter().map(|r| r.get(0)).collect()
    }

    pub async fn drop_schema(self) {
        let c = self.admin.client().await.expect("admin connection");
        c.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.schema))
            .await
            .expect("drop schema");
    }
}

/// A pool on the server at `url`, in its default schema.
pub fn connect(url: &str) -> PgStore {
    pg::connect(&settings_for(url, None)).expect("pool")
}

pub fn settings_for(url: &str, schema: Option<&str>) -> PgSettings {
    let mut s = PgSettings::from_url(url, Path::new("/")).expect("FEEDWATCH_TEST_POSTGRES");
    if let Some(schema) = schema {
        s.params.options(format!("-c search_path={schema}"));
    }
    s.pool_size = 4;
    s
}

/// `n` feeds due at `due`, plus one not yet due and one removed from the config.
pub async fn add_feeds(store: &PgStore, n: i64, due: i64) {
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

pub async fn register(store: &PgStore, id: &str, now: i64) {
    let mut i = Instance::this_process(now);
    i.id = id.to_string();
    store
        .register_instance(&i, now - 60)
        .await
        .expect("register");
}

pub fn ids(claims: &[pg::Claim]) -> Vec<i64> {
    claims.iter().map(|c| c.feed_id).collect()
}

pub fn unix_now() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(d.as_secs()).expect("seconds")
}

/// Rows of `sql` on PostgreSQL, every value as text (simple query protocol) (NULL as "NULL").
pub async fn pg_rows(pg: &PgStore, sql: &str) -> Vec<Vec<String>> {
    let rows = pg
        .client()
        .await
        .expect("client")
        .simple_query(sql)
        .await
        .expect("query");
    rows.iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(
                (0..r.len())
                    .map(|i| r.get(i).unwrap_or("NULL").to_string())
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

/// Rows of `sql` on the SQLite file, every value as text (NULL as "NULL").
pub fn sqlite_rows(path: &std::path::Path, sql: &str) -> Vec<Vec<String>> {
    let c = rusqlite::Connection::open(path).expect("open");
    let mut st = c.prepare(sql).expect("prepare");
    let n = st.column_count();
    let rows = st
        .query_map([], |r| {
            (0..n)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => "NULL".to_string(),
                        rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                        rusqlite::types::ValueRef::Real(v) => v.to_string(),
                        rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                            String::from_utf8_lossy(t).into_owned()
                        }
                    })
                })
                .collect()
        })
        .expect("query");
    rows.collect::<Result<_, _>>().expect("rows")
}
