//! The PostgreSQL backend (issue #15), so far: connecting ([`connect`]), the schema
//! ([`migrate()`]), the coordination of several instances on one database ([`coord`]:
//! membership and feed leases), and committing a poll ([`PgStore::commit_poll`]: one
//! transaction, fenced on the feed's lease, with item, article, story and alert identity
//! enforced by the database; see `poll`, `seen` and `articles`), with readers for feeds,
//! alerts, sinks and leases ([`PgStore::feeds`], [`PgStore::alerts`], `read`), following
//! alerts in commit order ([`PgStore::follow_alerts`], `follow`), and full-text search
//! ([`PgStore::search`] with [`tsquery`]: the same query language, refusals and results as
//! the SQLite store's search). The commands `alerts`, `status` and `search` reach these
//! through the backend-neutral [`crate::store::reader::Reader`].
//!
//! `run` and `poll --once` reach the rest (`daemon`: feed sync, one feed's state, the
//! seen-key and page-attempt lookups, the created alerts read back and marked delivered)
//! through `schedule::shared` and the same `Reader`.
//!
//! The sink outbox (`outbox`): deliveries queued by the commit that created the alerts and
//! claimed with `SKIP LOCKED`, for the delivery loop of `sink`.
//!
//! Next: retention (the seen-key sweep has its table, `seen_sweep`, not its code yet), digest
//! sinks, the other commands, and the multi-instance farm and failover tests.
//!
//! Why this shape:
//! - **Async, with a pool.** tokio-postgres is async; the daemon already runs on tokio. A
//!   pool (deadpool-postgres) lets the poll workers, the sink workers and the lease renewer
//!   each take a connection for one transaction instead of queueing behind one. The SQLite
//!   store stays sync (rusqlite behind `spawn_blocking`); [`crate::store::reader`] is the
//!   backend-neutral boundary above both (see the README's "PostgreSQL").
//! - **Every wait is bounded.** Connecting is bounded by `[storage] connect_timeout`, each
//!   statement by `statement_timeout` (set on the session, so the server enforces it even
//!   when the client hangs), and waiting for a pooled connection by the connect timeout too.
//! - **Errors are typed** ([`PgError`]): what the caller does differs between "the server is
//!   away" (back off and reconnect), "the schema is newer" (refuse to run) and a bad config.

mod articles;
mod cached;
pub mod coord;
mod daemon;
mod digest_outbox;
mod follow;
pub mod migrate;
mod orphans;
mod outbox;
mod pgpass;
mod poll;
mod read;
mod renew;
mod retention;
mod search;
mod seen;
mod tls;
pub mod tsquery;

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};

use crate::config::{PgSettings, SslMode};

pub use articles::MAX_BAND_LOCKED_ARTICLES;
pub use coord::{distinct_lists, live_lists, Claim, Instance, Listed};
pub use follow::FollowCursor;
pub use migrate::{migrate, LATEST_VERSION};
pub use poll::Committed;
pub use renew::Held;
pub use retention::{PRUNE_LOCK, PRUNE_LOCK_SQL};

/// Errors from the PostgreSQL boundary.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgError {
    /// The TLS settings could not be turned into a client configuration (e.g. an unreadable
    /// `sslrootcert`, or no system roots for `verify-full`).
    #[error("PostgreSQL TLS setup failed: {0}")]
    Tls(String),
    /// `password_file` could not be read.
    #[error("cannot read the PostgreSQL password file {path}: {source}")]
    PasswordFile {
        /// The file named by `[storage] password_file`.
        path: std::path::PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// The pool could not be built (a bug in the settings passed, not a server problem).
    #[error("cannot build the PostgreSQL connection pool: {0}")]
    Pool(String),
    /// No connection could be had from the pool within the bound: the server is down,
    /// unreachable, refuses us, or every pooled connection is busy.
    #[error("cannot get a PostgreSQL connection: {0}")]
    Connect(String),
    /// The database holds a schema newer than this binary knows.
    #[error(
        "cannot migrate the PostgreSQL database: its schema is version {found}, newer than this \
         feedwatch supports ({supported}); upgrade feedwatch, or point it at another database"
    )]
    NewerSchema {
        /// The version the database records.
        found: i32,
        /// The newest version this binary has migrations for.
        supported: i32,
    },
    /// Another live process registered under this instance id (a configured
    /// `[storage] instance_id` given to two instances): sharing it would share its leases.
    #[error(
        "instance id {id:?} is in use by a live instance (pid {pid} on {hostname}, heartbeat \
         {age_secs}s ago): give each instance its own `[storage] instance_id`, or stop the other"
    )]
    InstanceIdInUse {
        /// The id.
        id: String,
        /// Where the other process runs.
        hostname: String,
        /// Its process id there.
        pid: i32,
        /// Seconds since its last heartbeat.
        age_secs: i64,
    },
    /// A poll's commit was refused because the instance no longer holds the feed's lease
    /// under the claim's token: the lease expired and another instance claimed the feed
    /// (which now polls it), or the record is not the claimed feed's. Nothing was written;
    /// the poll's results are dropped, not retried.
    #[error(
        "feed {feed_id}: the lease (token {token}) is no longer held by instance {instance}; \
         another instance took the feed over, so this poll was not committed"
    )]
    LeaseLost {
        /// The feed of the poll.
        feed_id: i64,
        /// The instance that tried to commit.
        instance: String,
        /// The token of the claim it polled under.
        token: i64,
    },
    /// A statement failed (including a statement timeout or a lost connection).
    #[error("PostgreSQL error: {}", describe(.0))]
    Sql(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for PgError {
    fn from(e: tokio_postgres::Error) -> Self {
        PgError::Sql(e)
    }
}

/// What went wrong, in the server's words. tokio-postgres displays a server's error as "db
/// error" alone and keeps the message in its source, where a log line (`error = %e`) never
/// looks: the message, its SQLSTATE and detail are what an operator needs ("canceling
/// statement due to statement timeout (57014)"). Other errors (I/O, a closed connection)
/// get their cause chain, as pool errors do.
fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut m = format!("{} ({})", db.message(), db.code().code());
        if let Some(detail) = db.detail() {
            m.push_str(": ");
            m.push_str(detail);
        }
        return m;
    }
    crate::text::error_chain(e)
}

impl PgError {
    /// Whether the error ended the connection it happened on (the server shut the session
    /// down, the socket broke): such a connection must not go back into the pool. A
    /// statement error (a constraint, a statement timeout, a deadlock) leaves it usable.
    pub fn connection_lost(&self) -> bool {
        match self {
            PgError::Sql(e) => {
                // No SQLSTATE: an I/O error or a closed connection. 08: connection
                // exception; 57P: the server or an operator ended the session.
                e.is_closed()
                    || e.code().is_none_or(|c| {
                        let c = c.code();
                        c.starts_with("08") || c.starts_with("57P")
                    })
            }
            _ => false,
        }
    }
}

impl From<deadpool_postgres::PoolError> for PgError {
    /// Every pool error is a failure to get a connection (connecting, authenticating, TLS,
    /// or a timeout), whatever layer it came from; the message keeps the whole cause chain,
    /// since tokio-postgres puts the server's words ("password authentication failed") in
    /// the source, not in its own message.
    fn from(e: deadpool_postgres::PoolError) -> Self {
        PgError::Connect(crate::text::error_chain(&e))
    }
}

/// A pool of connections to one PostgreSQL database. Cheap to clone (shared pool).
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("status", &self.pool.status())
            .finish()
    }
}

/// Builds the pool for `settings`. No connection is made yet: the first use connects, so a
/// server that is down at start is reported by that use (bounded by `connect_timeout`).
/// Call [`migrate()`] before anything else.
///
/// # Errors
/// An unreadable password file, a TLS setup that fails, or pool settings refused.
pub fn connect(settings: &PgSettings) -> Result<PgStore, PgError> {
    let mut params = settings.params.clone();
    if params.get_password().is_none() {
        if let Some(pw) = password(settings)? {
            params.password(pw);
        }
    }
    params.connect_timeout(settings.connect_timeout);
    params.options(session_options(
        params.get_options(),
        settings.statement_timeout,
    ));
    if params.get_application_name().is_none() {
        params.application_name("feedwatch");
    }
    let mgr_config = ManagerConfig {
        // Fast: a broken connection shows at its next statement, and every caller is ready
        // for a statement to fail (the server may restart at any time anyway).
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = match settings.sslmode {
        SslMode::Disable => {
            params.ssl_mode(tokio_postgres::config::SslMode::Disable);
            Manager::from_config(params, tokio_postgres::NoTls, mgr_config)
        }
        mode => {
            params.ssl_mode(match mode {
                SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
                _ => tokio_postgres::config::SslMode::Require,
            });
            let tls = tls::connector(mode, settings.sslrootcert.as_deref())?;
            Manager::from_config(params, tls, mgr_config)
        }
    };
    let wait = Some(settings.connect_timeout);
    let pool = Pool::builder(manager)
        .max_size(settings.pool_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(wait)
        .create_timeout(wait)
        .recycle_timeout(wait)
        .build()
        .map_err(|e| PgError::Pool(e.to_string()))?;
    Ok(PgStore { pool })
}

impl PgStore {
    /// One pooled connection, for one unit of work.
    ///
    /// # Errors
    /// [`PgError::Connect`] when none is had within the connect timeout.
    pub async fn client(&self) -> Result<deadpool_postgres::Object, PgError> {
        Ok(self.pool.get().await?)
    }
}

/// The password when the URL has none: `password_file`, else `$PGPASSWORD`, else the
/// password file (`$PGPASSFILE` or `~/.pgpass`) as libpq reads it, for the first host.
fn password(settings: &PgSettings) -> Result<Option<Vec<u8>>, PgError> {
    if let Some(path) = &settings.password_file {
        // Bounded: a password file is one line; anything larger is not one.
        let text = read_small(path).map_err(|source| PgError::PasswordFile {
            path: path.clone(),
            source,
        })?;
        let pw = text.strip_suffix(b"\n").unwrap_or(&text);
        let pw = pw.strip_suffix(b"\r").unwrap_or(pw);
        return Ok(Some(pw.to_vec()));
    }
    if let Some(p) = std::env::var_os("PGPASSWORD").filter(|p| !p.is_empty()) {
        return Ok(Some(p.into_encoded_bytes()));
    }
    Ok(pgpass::path().and_then(|file| from_pgpass(&file, &settings.params)))
}

/// The `~/.pgpass` entry for the first host of `params`; a unix socket counts as
/// `localhost`, and missing parts take libpq's defaults.
fn from_pgpass(file: &std::path::Path, params: &tokio_postgres::Config) -> Option<Vec<u8>> {
    use tokio_postgres::config::Host;
    let host = match params.get_hosts().first() {
        Some(Host::Tcp(h)) => h.as_str(),
        _ => "localhost",
    };
    let user = params.get_user().unwrap_or("");
    let target = pgpass::Target {
        host,
        port: params.get_ports().first().copied().unwrap_or(5432),
        dbname: params.get_dbname().unwrap_or(user),
        user,
    };
    pgpass::lookup(file, &target).map(String::into_bytes)
}

/// Largest password file read.
const MAX_PASSWORD_FILE_BYTES: u64 = 4096;

/// Reads a file of at most [`MAX_PASSWORD_FILE_BYTES`].
fn read_small(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_PASSWORD_FILE_BYTES + 1)
        .read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_PASSWORD_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {MAX_PASSWORD_FILE_BYTES} bytes; a password file holds one line"
        )));
    }
    Ok(buf)
}

/// The session's `options`: the URL's own, then the server-side bounds. The idle-in-
/// transaction bound frees the row locks of a client that hung mid-transaction.
fn session_options(own: Option<&str>, statement_timeout: Duration) -> String {
    let ms = statement_timeout.as_millis();
    let ours = format!(
        "-c statement_timeout={ms} -c lock_timeout={ms} -c idle_in_transaction_session_timeout={ms}"
    );
    match own {
        Some(o) if !o.trim().is_empty() => format!("{o} {ours}"),
        _ => ours,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_options_keep_the_urls_own() {
        let d = Duration::from_secs(30);
        assert_eq!(
            session_options(None, d),
            "-c statement_timeout=30000 -c lock_timeout=30000 -c idle_in_transaction_session_timeout=30000"
        );
        assert!(session_options(Some("-c search_path=t1"), d).starts_with("-c search_path=t1 -c "));
    }

    #[test]
    fn password_file_is_read_without_its_newline_and_bounded() {
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("pw");
        std::fs::write(&p, "s3cret\r\n").expect("write");
        let mut s = pg_settings("postgresql://u@h/db");
        s.password_file = Some(p.clone());
        assert_eq!(password(&s).expect("read"), Some(b"s3cret".to_vec()));
        std::fs::write(&p, vec![b'x'; 5000]).expect("write");
        assert!(matches!(password(&s), Err(PgError::PasswordFile { .. })));
    }

    #[test]
    fn newer_schema_message_says_what_to_do() {
        let e = PgError::NewerSchema {
            found: 9,
            supported: 2,
        };
        let s = e.to_string();
        assert!(
            s.contains("version 9") && s.contains("(2)") && s.contains("upgrade"),
            "{s}"
        );
    }

    pub(super) fn pg_settings(url: &str) -> PgSettings {
        match PgSettings::from_url(url, std::path::Path::new("/")) {
            Ok(s) => s,
            Err(e) => panic!("{url}: {e}"),
        }
    }
}
