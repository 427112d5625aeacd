//! Test support: a loopback HTTP server with mutable fixtures, and helpers to run the real
//! binary against a config in a temporary folder ([`daemon`]: one way to start it, with a
//! clean environment and a guard that kills it on drop). Nothing here touches the internet.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test panics on a broken fixture
#![allow(dead_code)]

pub mod backend;
pub mod daemon;
pub mod hook;
pub mod png;
pub mod seed;
pub mod slow;
pub mod stories;

#[allow(unused_imports)] // each test crate uses some of them
pub use daemon::{bin, command, get, wait_for, wait_health, Daemon, Signal};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use feedwatch::config::PgSettings;
use feedwatch::store::reader::Reader;

/// One canned response.
#[derive(Clone, Debug)]
pub struct Fixture {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    /// When set, the server answers `If-None-Match` with 304.
    pub etag: Option<String>,
    /// More response headers (Location, Retry-After, ...).
    pub headers: Vec<(String, String)>,
}

impl Fixture {
    pub fn ok(content_type: &str, body: impl Into<Vec<u8>>) -> Fixture {
        let body = body.into();
        let etag = format!(
            "\"{:x}\"",
            body.iter()
                .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(*b as u64))
        );
        Fixture {
            status: 200,
            content_type: content_type.into(),
            body,
            etag: Some(etag),
            headers: vec![],
        }
    }
    pub fn status(status: u16) -> Fixture {
        Fixture {
            status,
            content_type: "text/plain".into(),
            body: b"error".to_vec(),
            etag: None,
            headers: vec![],
        }
    }
    pub fn redirect(status: u16, location: &str) -> Fixture {
        Fixture {
            headers: vec![("Location".into(), location.into())],
            ..Fixture::status(status)
        }
    }
    pub fn with_header(mut self, k: &str, v: &str) -> Fixture {
        self.headers.push((k.into(), v.into()));
        self
    }
}

#[derive(Default)]
struct Shared {
    routes: HashMap<String, Fixture>,
    /// (path, status answered)
    log: Vec<(String, u16)>,
}

/// Serves `app` on an ephemeral loopback port, in the background; its address.
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// A loopback HTTP server on an ephemeral port.
#[derive(Clone)]
pub struct TestServer {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let app = axum::Router::new()
            .fallback(handler)
            .with_state(shared.clone());
        let addr = serve(app).await;
        TestServer { addr, shared }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn set(&self, path: &str, f: Fixture) {
        self.shared
            .lock()
            .expect("lock")
            .routes
            .insert(path.to_string(), f);
    }

    /// How many requests for `path` were answered with `status`.
    pub fn hits(&self, path: &str, status: u16) -> usize {
        self.shared
            .lock()
            .expect("lock")
            .log
            .iter()
            .filter(|(p, s)| p == path && *s == status)
            .count()
    }

    /// All requests for `path`.
    pub fn requests(&self, path: &str) -> usize {
        self.shared
            .lock()
            .expect("lock")
            .log
            .iter()
            .filter(|(p, _)| p == path)
            .count()
    }
}

async fn handler(State(shared): State<Arc<Mutex<Shared>>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let inm = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut s = shared.lock().expect("lock");
    let fx = s.routes.get(&path).cloned();
    let resp = match fx {
        None => Response::builder()
            .status(404)
            .body(Body::from("not found")),
        Some(f) if f.etag.is_some() && inm == f.etag => {
            Response::builder().status(304).body(Body::empty())
        }
        Some(f) => {
            let mut b = Response::builder()
                .status(StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
                .header(
                    header::CONTENT_TYPE,
                    HeaderValue::from_str(&f.content_type)
                        .unwrap_or(HeaderValue::from_static("text/plain")),
                );
            if let Some(e) = &f.etag {
                b = b.header(header::ETAG, e);
            }
            for (k, v) in &f.headers {
                b = b.header(k.as_str(), v.as_str());
            }
            b.body(Body::from(f.body))
        }
    }
    .expect("response");
    s.log.push((path, resp.status().as_u16()));
    resp
}

/// The project's fixtures folder.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn read_fixture(rel: &str) -> String {
    std::fs::read_to_string(fixtures().join(rel)).unwrap_or_else(|e| panic!("fixture {rel}: {e}"))
}

/// A folder holding a config for the binary, and the PostgreSQL schema it stores in when
/// the suites run on PostgreSQL ([`backend`]).
pub struct Instance {
    pub dir: tempfile::TempDir,
    schema: Option<backend::Schema>,
}

impl Instance {
    /// Writes `feedwatch.toml` with the shipped rule pack, private addresses allowed (the
    /// test server is on loopback) and `extra` appended (feeds). Storage is a SQLite file in
    /// the folder, or a fresh schema with `FEEDWATCH_TEST_BACKEND=postgres`.
    pub fn new(extra: &str) -> Instance {
        match backend::Backend::current() {
            backend::Backend::Sqlite => Instance::write(extra, "data/fw.db", None),
            backend::Backend::Postgres => {
                let schema = backend::Schema::create();
                Instance::write(extra, &schema.url(), Some(schema))
            }
        }
    }

    /// As [`Instance::new`], with `[storage] database` set to `database` (a URL), whatever
    /// backend the suite runs on.
    pub fn with_database(extra: &str, database: &str) -> Instance {
        Instance::write(extra, database, None)
    }

    fn write(extra: &str, database: &str, schema: Option<backend::Schema>) -> Instance {
        let dir = tempfile::tempdir().expect("tempdir");
        let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/rules.toml");
        let cfg = format!(
            "rule_files = [{rules:?}]\n\n[storage]\ndatabase = \"{database}\"\n\n[alerts]\nlog = \"data/alerts.jsonl\"\n\n[fetch]\ntimeout = \"5s\"\nallow_private_addresses = true\n\n[poll]\nconcurrency = 4\n\n{extra}\n"
        );
        std::fs::write(dir.path().join("feedwatch.toml"), cfg).expect("write config");
        Instance { dir, schema }
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("feedwatch.toml")
    }

    /// Adds `line` (a `key = value`) to the config's `[storage]` table.
    pub fn storage(&self, line: &str) {
        let cfg = std::fs::read_to_string(self.config()).expect("config");
        let cfg = cfg.replacen("[storage]\n", &format!("[storage]\n{line}\n"), 1);
        std::fs::write(self.config(), cfg).expect("write config");
    }

    /// The SQLite file; a test on PostgreSQL that reaches for it is a test bug.
    pub fn db(&self) -> PathBuf {
        assert!(
            self.schema.is_none(),
            "this test reads the SQLite file: check `Backend::skips` first"
        );
        self.dir.path().join("data/fw.db")
    }

    pub fn alert_log(&self) -> PathBuf {
        self.dir.path().join("data/alerts.jsonl")
    }

    /// The articles kept, in id order, read through the library's backend-neutral reader.
    pub async fn articles(&self) -> Vec<feedwatch::store::ArticleRow> {
        let reader = match &self.schema {
            None => {
                let db = self.db();
                Reader::open(feedwatch::config::Backend::Sqlite(&db)).await
            }
            Some(schema) => {
                let settings = PgSettings::from_url(&schema.url(), Path::new("/")).expect("url");
                Reader::open(feedwatch::config::Backend::Postgres(&settings)).await
            }
        };
        let reader = reader.expect("open the database");
        reader.backtest_texts(0).await.expect("articles").0
    }

    /// Runs `sql` (written to run on both) in this instance's database: what a test
    /// changes behind the daemon's back, a crash's leftovers say.
    pub fn sql(&self, sql: &str) {
        match &self.schema {
            None => {
                let conn = rusqlite::Connection::open(self.db()).expect("open db");
                conn.execute_batch(sql).expect(sql);
            }
            Some(schema) => schema.exec(sql),
        }
    }

    /// Runs the binary with `--config` and `args` to completion, off the async threads.
    pub async fn run(&self, args: &[&str]) -> Output {
        run_config(&self.config(), args).await
    }

    /// `alerts --format json`, parsed.
    pub async fn alerts(&self) -> Vec<serde_json::Value> {
        let out = self.run(&["alerts", "--format", "json"]).await;
        assert!(
            out.status.success(),
            "alerts failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        json_lines(&out.stdout)
    }

    /// `status --format json`, parsed: the feed and sink objects (the service object that
    /// comes first is left out; see `service`).
    pub async fn status(&self) -> Vec<serde_json::Value> {
        let out = self.run(&["status", "--format", "json"]).await;
        assert!(
            out.status.success(),
            "status failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        json_lines(&out.stdout)
            .into_iter()
            .filter(|v| v.get("service").is_none())
            .collect()
    }

    /// The service object of `status --format json` (holder, faults, database check) and
    /// the exit code.
    pub async fn service(&self) -> (serde_json::Value, Option<i32>) {
        let out = self.run(&["status", "--format", "json"]).await;
        let first = json_lines(&out.stdout).into_iter().next();
        (first.unwrap_or_default(), out.status.code())
    }

    /// Lines of the alert log, parsed.
    pub fn log_lines(&self) -> Vec<serde_json::Value> {
        std::fs::read(self.alert_log())
            .map(|b| json_lines(&b))
            .unwrap_or_default()
    }
}

/// The exposition without the `feedwatch_instance` label that every sample carries on
/// PostgreSQL, so one test reads both backends' metrics.
pub fn without_instance_label(body: &str) -> String {
    body.lines()
        .map(|l| match (l.find("{feedwatch_instance=\""), l.find('}')) {
            (Some(open), Some(close)) if open < close => {
                let labels = &l[open + 1..close];
                let rest = labels.split_once("\",").map_or("", |(_, r)| r);
                let labels = if rest.is_empty() {
                    String::new()
                } else {
                    format!("{{{rest}}}")
                };
                format!("{}{labels}{}\n", &l[..open], &l[close + 1..])
            }
            _ => format!("{l}\n"),
        })
        .collect()
}

/// Fails the test, with the process's stderr, unless it exited 0.
pub fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the binary on `config` with `args` (clean environment, see [`command`]) to
/// completion, off the async threads.
pub async fn run_config(config: &Path, args: &[&str]) -> Output {
    let mut cmd = command([std::ffi::OsStr::new("--config"), config.as_os_str()]);
    cmd.args(args);
    tokio::task::spawn_blocking(move || cmd.output().expect("run feedwatch"))
        .await
        .expect("join")
}

pub fn json_lines(b: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(b)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// An RSS 2.0 document with (title, link, description) items.
pub fn rss(title: &str, items: &[(&str, &str, Option<&str>)]) -> String {
    let mut s = format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\"><channel><title>{title}</title><link>http://example.com/</link><description>test</description>\n");
    for (t, l, d) in items {
        s.push_str(&format!(
            "<item><title>{}</title><link>{}</link><guid>{}</guid>",
            esc(t),
            esc(l),
            esc(l)
        ));
        if let Some(d) = d {
            s.push_str(&format!("<description>{}</description>", esc(d)));
        }
        s.push_str(&format!(
            "<pubDate>{}</pubDate></item>\n",
            item_date().to_rfc2822()
        ));
    }
    s.push_str("</channel></rss>\n");
    s
}

/// The date of [`rss`] items: an hour before the test process first asked, in whole
/// seconds. Recent, because an item published before `[storage] seen_retention` is never
/// new; and the same in every document of a test, so a fixture does not change by itself.
pub fn item_date() -> chrono::DateTime<chrono::Utc> {
    static DATE: std::sync::OnceLock<chrono::DateTime<chrono::Utc>> = std::sync::OnceLock::new();
    *DATE.get_or_init(|| {
        let t = chrono::Utc::now().timestamp() - 3600;
        chrono::DateTime::from_timestamp(t, 0).unwrap_or_default()
    })
}

/// [`item_date`] as feedwatch prints it (RFC 3339, seconds, `Z`).
pub fn item_date_rfc3339() -> String {
    item_date().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A plain article page around `paragraphs`.
pub fn page(title: &str, paragraphs: &[&str]) -> String {
    let body: String = paragraphs
        .iter()
        .map(|p| format!("<p>{}</p>\n", esc(p)))
        .collect();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title></head><body>\
         <nav><a href=\"/\">Home</a> <a href=\"/world\">World</a></nav>\
         <article><h1>{t}</h1>{body}</article>\
         <footer>Copyright Example News</footer></body></html>",
        t = esc(title)
    )
}
