//! Which database the binary-driven suites run on (issue #15: "the integration suites pass
//! on both backends"). By default an [`Instance`](super::Instance) stores in a SQLite file in
//! its folder; with `FEEDWATCH_TEST_BACKEND=postgres` it stores in a fresh schema of the
//! server `FEEDWATCH_TEST_POSTGRES` names (dropped when the instance is), so the same test
//! bodies run unchanged on PostgreSQL. `.ci/run` runs the suites both ways.
//!
//! A test that reads the SQLite file itself asks [`Backend::current`] and says what it
//! leaves out on PostgreSQL; nothing else in a suite changes.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The backend a suite runs on, from `FEEDWATCH_TEST_BACKEND` (unset or `sqlite`, or
/// `postgres`); any other value stops the test rather than silently testing SQLite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn current() -> Backend {
        match std::env::var("FEEDWATCH_TEST_BACKEND").as_deref() {
            Err(_) | Ok("" | "sqlite") => Backend::Sqlite,
            Ok("postgres") => Backend::Postgres,
            Ok(other) => panic!("FEEDWATCH_TEST_BACKEND={other:?}: use `sqlite` or `postgres`"),
        }
    }

    /// Prints that `what` is left out on this backend; true when it is (for an early return).
    pub fn skips(what: &str) -> bool {
        let pg = Backend::current() == Backend::Postgres;
        if pg {
            println!("skipped on PostgreSQL: {what}");
        }
        pg
    }
}

/// A schema of its own on the test server, for one instance; dropped with it.
pub struct Schema {
    url: String,
    name: String,
}

impl Schema {
    /// A fresh, empty schema on `FEEDWATCH_TEST_POSTGRES` (required when the backend is
    /// PostgreSQL: a suite must not pass by testing nothing).
    pub fn create() -> Schema {
        static N: AtomicUsize = AtomicUsize::new(0);
        let url = std::env::var("FEEDWATCH_TEST_POSTGRES").expect(
            "FEEDWATCH_TEST_BACKEND=postgres needs FEEDWATCH_TEST_POSTGRES \
             (eval \"$(scripts/pg-throwaway.sh start DIR)\" sets it)",
        );
        let name = format!(
            "fwsuite_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let schema = Schema { url, name };
        schema.admin(&format!(
            "DROP SCHEMA IF EXISTS {0} CASCADE; CREATE SCHEMA {0}",
            schema.name
        ));
        schema
    }

    /// The server's URL with this schema first on the search path, for the binary's config.
    pub fn url(&self) -> String {
        let sep = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-c%20search_path%3D{}", self.url, self.name)
    }

    /// Runs `sql` in this schema.
    pub fn exec(&self, sql: &str) {
        self.admin(&format!("SET search_path = {}; {sql}", self.name));
    }

    /// Runs `sql` on the server, on a thread with its own runtime (callers may be sync or
    /// inside a runtime, where blocking on one is not allowed).
    fn admin(&self, sql: &str) {
        let (url, sql) = (self.url.clone(), sql.to_string());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let settings =
                    feedwatch::config::PgSettings::from_url(&url, std::path::Path::new("/"))
                        .expect("FEEDWATCH_TEST_POSTGRES");
                let store = feedwatch::store::pg::connect(&settings).expect("pool");
                let c = store.client().await.expect("connect to the test server");
                c.batch_execute(&sql).await.expect(&sql);
            });
        })
        .join()
        .expect("schema thread");
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.admin(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}
