//! `[storage] database`: a SQLite file path, or a `postgres://` / `postgresql://` URL that
//! selects the PostgreSQL backend (issue #15), with the keys that only PostgreSQL reads:
//! `password_file`, `connect_timeout`, `statement_timeout` and `pool_size`.
//!
//! The URL is parsed and checked here, at load, so a typo is a config error with file, line
//! and key like any other, not a failure at the first connection. `sslmode` and
//! `sslrootcert` are taken out of the URL before tokio-postgres reads the rest, because
//! tokio-postgres knows only disable/prefer/require and feedwatch adds `verify-full` (rustls
//! with the system's roots or the `sslrootcert` file).
//!
//! The password (in the URL, or the file named by `password_file`) never reaches a message,
//! a log line or `Debug` output: [`PgSettings`] shows the URL with the password masked.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// The backend `[storage] database` selects, as read from the config.
#[derive(Debug, Clone)]
pub enum Database {
    /// A SQLite database file (the default; no server needed).
    Sqlite(PathBuf),
    /// A PostgreSQL server, shared by any number of instances (boxed: the settings are
    /// large and the enum is passed around by value).
    Postgres(Box<PgSettings>),
}

/// [`Database`] borrowed from a loaded [`super::Config`] (see [`super::Config::backend`]).
#[derive(Debug, Clone, Copy)]
pub enum Backend<'a> {
    /// The SQLite database file.
    Sqlite(&'a Path),
    /// The PostgreSQL server and its settings.
    Postgres(&'a PgSettings),
}

/// `sslmode` of a PostgreSQL URL: libpq's names, the subset feedwatch supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Plain TCP (or a unix socket).
    Disable,
    /// TLS when the server offers it, without checking its certificate (libpq's default).
    #[default]
    Prefer,
    /// TLS or no connection; the certificate is not checked (as in libpq), so this protects
    /// against eavesdropping, not against an impostor server.
    Require,
    /// TLS with the certificate checked against the trusted roots (the system's, or
    /// `sslrootcert`) and the host name: the only mode that authenticates the server.
    VerifyFull,
}

impl SslMode {
    fn parse(s: &str) -> Option<SslMode> {
        Some(match s {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    /// The name as written in a URL.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Default of `[storage] connect_timeout`: a server that takes longer to accept is down.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of `[storage] statement_timeout`: bounds every statement the server runs for us,
/// so a lock held by a stuck peer cannot hang an instance.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default of `[storage] pool_size`: connections one instance keeps to the server.
pub const DEFAULT_POOL_SIZE: u64 = 8;
/// Default of `[storage] lease`: a dead instance's feeds and unlogged alerts pass to the
/// others within a minute.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// Everything needed to reach a PostgreSQL server. `Debug` masks the password.
#[derive(Clone)]
pub struct PgSettings {
    /// Host, port, user, database and other parameters of the URL (the URL's password, if
    /// any, included: tokio-postgres's own `Debug` masks it).
    pub params: tokio_postgres::Config,
    /// TLS mode, from the URL's `sslmode` (default `prefer`, as in libpq).
    pub sslmode: SslMode,
    /// PEM file of trusted roots for `verify-full`; `None`: the system's roots.
    pub sslrootcert: Option<PathBuf>,
    /// File holding the password (trailing newline ignored), read when connecting.
    pub password_file: Option<PathBuf>,
    /// Limit for establishing one connection (TCP, TLS and authentication).
    pub connect_timeout: Duration,
    /// Limit for one statement on the server (`statement_timeout`), and for a transaction
    /// left idle (`idle_in_transaction_session_timeout`), so a crashed peer's locks go.
    pub statement_timeout: Duration,
    /// Connections kept in the pool.
    pub pool_size: usize,
    /// How long a feed stays leased to an instance that stopped renewing (and how old a
    /// heartbeat makes an instance dead); renewals and heartbeats come every third of it.
    pub lease: Duration,
    /// This instance's id among those sharing the database; `None`: `hostname:pid`.
    pub instance_id: Option<String>,
}

impl PgSettings {
    /// [`PgSettings::lease`] in whole seconds, as the database stores lease ends (at least
    /// 1; the config keeps it between 6 s and an hour).
    pub fn lease_secs(&self) -> i64 {
        i64::try_from(self.lease.as_secs())
            .unwrap_or(i64::MAX)
            .max(1)
    }

    /// Reads a PostgreSQL URL with the default timeouts and pool size (tests and tools use
    /// this; the config reads its keys too). `base` resolves a relative `sslrootcert`.
    ///
    /// # Errors
    /// What is wrong with the URL, without echoing it (it may hold a password).
    pub fn from_url(url: &str, base: &Path) -> Result<PgSettings, String> {
        parse_url(url, base)
    }

    /// The URL as it can be shown: the password masked, `sslmode` spelled out.
    pub fn redacted(&self) -> String {
        use tokio_postgres::config::Host;
        let p = &self.params;
        let user = p.get_user().unwrap_or("");
        let pass = if p.get_password().is_some() {
            ":***"
        } else {
            ""
        };
        let at = if user.is_empty() && pass.is_empty() {
            ""
        } else {
            "@"
        };
        let ports = p.get_ports();
        let hosts: Vec<String> = p
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let host = match h {
                    Host::Tcp(name) => name.clone(),
                    Host::Unix(dir) => dir.display().to_string(),
                };
                match ports.get(i).or(ports.first()) {
                    Some(port) => format!("{host}:{port}"),
                    None => host,
                }
            })
            .collect();
        format!(
            "postgresql://{user}{pass}{at}{}/{}?sslmode={}",
            hosts.join(","),
            p.get_dbname().unwrap_or(""),
            self.sslmode.as_str()
        )
    }
}

impl fmt::Debug for PgSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgSettings")
            .field("url", &self.redacted())
            .field("sslrootcert", &self.sslrootcert)
            .field("password_file", &self.password_file)
            .field("connect_timeout", &self.connect_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("pool_size", &self.pool_size)
            .field("lease", &self.lease)
            .field("instance_id", &self.instance_id)
            .finish()
    }
}

/// Whether `value` names a PostgreSQL server rather than a file.
pub fn is_postgres_url(value: &str) -> bool {
    let lower = value
        .trim_start()
        .get(..13)
        .unwrap_or("")
        .to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql:/")
}

/// A problem with one key of `[storage]`: the key and the message.
pub(super) type KeyProblem = (&'static str, String);

/// Reads a PostgreSQL URL: `sslmode` and `sslrootcert` taken out (see the module doc), the
/// rest checked by tokio-postgres. `base` resolves a relative `sslrootcert`. Messages never
/// echo the URL (it may hold a password).
///
/// # Errors
/// The `storage.database` problems found.
pub(super) fn parse_url(url: &str, base: &Path) -> Result<PgSettings, String> {
    let (head, query) = url.split_once('?').unwrap_or((url, ""));
    let mut sslmode = SslMode::default();
    let mut sslrootcert = None;
    let mut rest = url::form_urlencoded::Serializer::new(String::new());
    // libpq and tokio-postgres only percent-decode a URL's query: a `+` in it is a plus, not
    // the space `application/x-www-form-urlencoded` makes of it, so it is read as `%2B`.
    let query = query.replace('+', "%2B");
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "sslmode" => {
                sslmode = SslMode::parse(&v).ok_or_else(|| {
                    format!(
                        "sslmode={:?} is not supported; use disable, prefer, require or verify-full",
                        super::clip(&v, 32)
                    )
                })?;
            }
            // libpq's spelling of "the system's roots", which is also the default.
            "sslrootcert" if v == "system" => sslrootcert = None,
            "sslrootcert" => sslrootcert = Some(base.join(v.as_ref())),
            _ => {
                rest.append_pair(&k, &v);
            }
        }
    }
    // form_urlencoded writes a space as `+`, which tokio-postgres (like libpq) does not read
    // back as a space: `options=-c%20search_path%3Dx` would reach the server as
    // `-c+search_path=x`. A `+` in its output is only ever a space (a literal one is `%2B`).
    let rest = rest.finish().replace('+', "%20");
    let rebuilt = if rest.is_empty() {
        head.to_string()
    } else {
        format!("{head}?{rest}")
    };
    let params = tokio_postgres::Config::from_str(&rebuilt).map_err(|e| {
        format!("not a valid PostgreSQL URL ({e}); write e.g. \"postgresql://feedwatch@db.example:5432/feedwatch?sslmode=verify-full\"")
    })?;
    if params.get_hosts().is_empty() {
        return Err("the PostgreSQL URL names no host; write e.g. \"postgresql://feedwatch@db.example:5432/feedwatch\"".into());
    }
    if sslrootcert.is_some() && sslmode != SslMode::VerifyFull {
        return Err("sslrootcert is only read with sslmode=verify-full (the other modes do not check the certificate)".into());
    }
    Ok(PgSettings {
        params,
        sslmode,
        sslrootcert,
        password_file: None,
        connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
        pool_size: usize::try_from(DEFAULT_POOL_SIZE).unwrap_or(8),
        lease: DEFAULT_LEASE,
        instance_id: None,
    })
}

/// The `[storage]` keys only PostgreSQL reads, as written.
#[derive(Debug, Default, Clone)]
pub(super) struct PgKeys {
    pub password_file: Option<PathBuf>,
    pub connect_timeout: Option<Duration>,
    pub statement_timeout: Option<Duration>,
    pub pool_size: Option<usize>,
    pub lease: Option<Duration>,
    pub instance_id: Option<String>,
}

impl PgKeys {
    fn any(&self) -> Option<&'static str> {
        [
            ("storage.password_file", self.password_file.is_some()),
            ("storage.connect_timeout", self.connect_timeout.is_some()),
            (
                "storage.statement_timeout",
                self.statement_timeout.is_some(),
            ),
            ("storage.pool_size", self.pool_size.is_some()),
            ("storage.lease", self.lease.is_some()),
            ("storage.instance_id", self.instance_id.is_some()),
        ]
        .into_iter()
        .find_map(|(k, set)| set.then_some(k))
    }
}

/// `[storage] database` and the PostgreSQL keys to a [`Database`]; `None` for `database`
/// means SQLite at `default_path`. Relative paths resolve against `base`.
///
/// # Errors
/// Every problem found, each with its key.
pub(super) fn select(
    database: Option<&str>,
    keys: PgKeys,
    base: &Path,
    default_path: PathBuf,
) -> Result<Database, Vec<KeyProblem>> {
    let url = match database {
        Some(d) if is_postgres_url(d) => d,
        other => {
            let path = other.map_or(default_path, |p| base.join(p));
            return match keys.any() {
                None => Ok(Database::Sqlite(path)),
                Some(k) => Err(vec![(
                    k,
                    "only read for a PostgreSQL database (`database = \"postgresql://…\"`); remove it".into(),
                )]),
            };
        }
    };
    let mut problems = Vec::new();
    let mut settings = match parse_url(url, base) {
        Ok(s) => Some(s),
        Err(m) => {
            problems.push(("storage.database", m));
            None
        }
    };
    if let Some(s) = settings.as_mut() {
        if let Some(root) = s.sslrootcert.as_ref().filter(|p| !p.is_file()) {
            let m = format!("sslrootcert {} is not a readable file", root.display());
            problems.push(("storage.database", m));
        }
        if let Some(pf) = &keys.password_file {
            let pf = base.join(pf);
            if s.params.get_password().is_some() {
                let m = "the URL already holds a password: give it in the URL or in `password_file`, not both".into();
                problems.push(("storage.password_file", m));
            } else if !pf.is_file() {
                problems.push((
                    "storage.password_file",
                    format!("password file {} does not exist", pf.display()),
                ));
            }
            s.password_file = Some(pf);
        }
        s.connect_timeout = keys.connect_timeout.unwrap_or(s.connect_timeout);
        s.statement_timeout = keys.statement_timeout.unwrap_or(s.statement_timeout);
        s.pool_size = keys.pool_size.unwrap_or(s.pool_size);
        s.lease = keys.lease.unwrap_or(s.lease);
        if let Some(id) = &keys.instance_id {
            match check_instance_id(id) {
                Ok(()) => s.instance_id = Some(id.clone()),
                Err(m) => problems.push(("storage.instance_id", m)),
            }
        }
    }
    match settings {
        Some(s) if problems.is_empty() => Ok(Database::Postgres(Box::new(s))),
        _ => Err(problems),
    }
}

/// Longest `[storage] instance_id`: it is shown in `status`, logs and metric labels.
const MAX_INSTANCE_ID: usize = 64;

/// A configured instance id: 1 to [`MAX_INSTANCE_ID`] ASCII letters, digits, `.`, `_`, `-`
/// or `:` (a host name, or `name:role`), so it reads the same in `status`, the journal and
/// a Prometheus label.
fn check_instance_id(id: &str) -> Result<(), String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':');
    if id.is_empty() || id.len() > MAX_INSTANCE_ID || !id.chars().all(ok) {
        return Err(format!(
            "must be 1 to {MAX_INSTANCE_ID} ASCII letters, digits, '.', '_', '-' or ':' (e.g. \"fw-east-1\")"
        ));
    }
    Ok(())
}

/// Reads `[storage] database` and its PostgreSQL keys into the config's two fields: the
/// SQLite file (`default_path` when the key is absent, or when PostgreSQL is chosen) and the
/// PostgreSQL settings. Problems are pushed with file, line and key; a PostgreSQL URL also
/// gets [`DB_NEEDS_SQLITE`] unless the command reading the config runs on
/// [`Backends::Both`].
pub(super) fn take_database(
    src: &super::source::Source<'_>,
    raw: &super::check::RawStorage,
    base: &Path,
    default_path: PathBuf,
    backends: Backends,
    problems: &mut Vec<super::ConfigProblem>,
) -> (PathBuf, Option<PgSettings>) {
    let keys = PgKeys {
        password_file: raw.password_file.clone(),
        connect_timeout: raw.connect_timeout,
        statement_timeout: raw.statement_timeout,
        pool_size: raw.pool_size.and_then(|n| usize::try_from(n).ok()),
        lease: raw.lease,
        instance_id: raw.instance_id.clone(),
    };
    let mut push = |key: &str, message: &str| {
        let line = super::source::key_line(src.text, key);
        problems.push(super::check::problem(src.path, line, key, message));
    };
    match select(raw.database.as_deref(), keys, base, default_path.clone()) {
        Ok(Database::Sqlite(path)) => (path, None),
        Ok(Database::Postgres(settings)) => {
            if backends == Backends::SqliteOnly {
                push("storage.database", DB_NEEDS_SQLITE);
            }
            (default_path, Some(*settings))
        }
        Err(found) => {
            for (key, message) in found {
                push(key, &message);
            }
            (default_path, None)
        }
    }
}

/// Which backends the command reading the config runs on. Every command runs on both but
/// `db`, which maintains a SQLite file: it reads the config with [`Backends::SqliteOnly`],
/// so a PostgreSQL URL is refused at load, with file, line and key, before anything
/// connects or a SQLite file is made in its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backends {
    /// SQLite only (`db`): a PostgreSQL URL is a config problem ([`DB_NEEDS_SQLITE`]).
    SqliteOnly,
    /// Either.
    Both,
}

/// Why `db` refuses a PostgreSQL database: its actions maintain a SQLite file, and on
/// PostgreSQL the server's own tools do each of them (every other command runs on both).
pub const DB_NEEDS_SQLITE: &str = "`db` (stats, prune, backup, check, vacuum) maintains a SQLite database file; on PostgreSQL the server does this work: back up with `pg_dump` (e.g. `pg_dump -Fc -f feedwatch.dump DBNAME`), look for damage with `amcheck`, and autovacuum gives space back; retention runs in every instance (`[storage] *_retention`); see the README's \"Running several instances\"";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_with_spaces_reach_tokio_postgres_intact() {
        let s = pg("postgresql://u@h/db?sslmode=disable&options=-c%20search_path%3Dt1%2Bx");
        assert_eq!(s.params.get_options(), Some("-c search_path=t1+x"));
    }

    #[test]
    fn a_literal_plus_in_the_query_stays_a_plus() {
        let s = pg("postgresql://u@h/db?application_name=feed+watch&options=-c%20x%3Da+b");
        assert_eq!(s.params.get_application_name(), Some("feed+watch"));
        assert_eq!(s.params.get_options(), Some("-c x=a+b"));
    }

    fn pg(url: &str) -> PgSettings {
        parse_url(url, Path::new("/etc/feedwatch")).expect("valid URL")
    }

    #[test]
    fn postgres_urls_are_told_from_paths() {
        for u in [
            "postgres://h/db",
            "postgresql://h/db",
            "PostgreSQL://h",
            "postgresql:///db",
        ] {
            assert!(is_postgres_url(u), "{u}");
        }
        for p in [
            "data/feedwatch.db",
            "/var/lib/x.db",
            "postgres.db",
            "pg://h",
            "",
        ] {
            assert!(!is_postgres_url(p), "{p}");
        }
    }

    #[test]
    fn sslmode_is_read_and_defaults_to_prefer() {
        assert_eq!(pg("postgresql://u@h/db").sslmode, SslMode::Prefer);
        for mode in [
            SslMode::Disable,
            SslMode::Prefer,
            SslMode::Require,
            SslMode::VerifyFull,
        ] {
            let s = pg(&format!(
                "postgres://u@h:5433/db?application_name=fw&sslmode={}",
                mode.as_str()
            ));
            assert_eq!(s.sslmode, mode);
            assert_eq!(s.params.get_ports(), &[5433]);
            assert_eq!(s.params.get_application_name(), Some("fw"));
        }
        let e = parse_url("postgresql://h/db?sslmode=verify-ca", Path::new("/")).expect_err("x");
        assert!(e.contains("verify-ca") && e.contains("verify-full"), "{e}");
    }

    #[test]
    fn sslrootcert_resolves_and_needs_verify_full() {
        let s = pg("postgresql://h/db?sslmode=verify-full&sslrootcert=ca.pem");
        assert_eq!(
            s.sslrootcert.as_deref(),
            Some(Path::new("/etc/feedwatch/ca.pem"))
        );
        let e = parse_url(
            "postgresql://h/db?sslmode=require&sslrootcert=/ca.pem",
            Path::new("/"),
        )
        .expect_err("root without verify-full");
        assert!(e.contains("verify-full"), "{e}");
    }

    #[test]
    fn the_password_is_never_shown() {
        let s = pg("postgresql://feed:s3cr%2Fet@db1:6432,db2/news?sslmode=require");
        assert_eq!(s.params.get_password(), Some(&b"s3cr/et"[..]));
        let shown = s.redacted();
        assert_eq!(
            shown,
            "postgresql://feed:***@db1:6432,db2:5432/news?sslmode=require"
        );
        let debug = format!("{s:?} {:?}", Database::Postgres(Box::new(s.clone())));
        assert!(!debug.contains("s3cr"), "{debug}");
        assert!(debug.contains("***"), "{debug}");
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_them() {
        for u in [
            "postgresql://u:hunter2@h:notaport/db",
            "postgresql://u:hunter2@h/db?bogus_key=1",
        ] {
            let e = parse_url(u, Path::new("/")).expect_err(u);
            assert!(e.contains("not a valid PostgreSQL URL"), "{e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn an_instance_id_is_checked_and_kept() {
        let keys = |id: &str| PgKeys {
            instance_id: Some(id.to_string()),
            ..PgKeys::default()
        };
        let ok = select(
            Some("postgresql://u@h/db"),
            keys("fw-east-1"),
            Path::new("/b"),
            PathBuf::new(),
        );
        assert!(
            matches!(ok, Ok(Database::Postgres(s)) if s.instance_id.as_deref() == Some("fw-east-1"))
        );
        for bad in ["", "a b", "é", &"x".repeat(65)] {
            let e = select(
                Some("postgresql://u@h/db"),
                keys(bad),
                Path::new("/b"),
                PathBuf::new(),
            )
            .expect_err(bad);
            assert_eq!(e[0].0, "storage.instance_id", "{bad:?}");
        }
    }

    #[test]
    fn postgres_keys_are_refused_for_sqlite() {
        let keys = PgKeys {
            pool_size: Some(4),
            ..PgKeys::default()
        };
        let e = select(Some("x.db"), keys, Path::new("/b"), PathBuf::from("/d"))
            .expect_err("pool_size with SQLite");
        assert_eq!(e[0].0, "storage.pool_size");
        let ok = select(
            None,
            PgKeys::default(),
            Path::new("/b"),
            PathBuf::from("/d/f.db"),
        );
        assert!(matches!(ok, Ok(Database::Sqlite(p)) if p == Path::new("/d/f.db")));
    }

    #[test]
    fn password_in_url_and_file_conflict_and_missing_file_is_named() {
        let d = tempfile::tempdir().expect("tmp");
        let keys = |f: &str| PgKeys {
            password_file: Some(PathBuf::from(f)),
            ..PgKeys::default()
        };
        let e = select(
            Some("postgresql://u:pw@h/db"),
            keys("pw.txt"),
            d.path(),
            PathBuf::new(),
        )
        .expect_err("both");
        assert_eq!(e[0].0, "storage.password_file");
        assert!(e[0].1.contains("not both"), "{}", e[0].1);
        let e = select(
            Some("postgresql://u@h/db"),
            keys("nope.txt"),
            d.path(),
            PathBuf::new(),
        )
        .expect_err("missing");
        assert!(e[0].1.contains("nope.txt"), "{}", e[0].1);
        std::fs::write(d.path().join("pw.txt"), "secret\n").expect("write");
        let Ok(Database::Postgres(s)) = select(
            Some("postgresql://u@h/db"),
            keys("pw.txt"),
            d.path(),
            PathBuf::new(),
        ) else {
            panic!("a password file beside the config is fine");
        };
        assert_eq!(s.password_file, Some(d.path().join("pw.txt")));
    }
}
