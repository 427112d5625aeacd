//! The article-page fetcher's refusals (issue 4, "Safe fetching of pages that feeds point
//! at"), driven through `feedwatch::fetch::Fetcher` against loopback servers.
//!
//! The address guard is exercised with a policy that allows 127.0.0.1 and nothing else, so
//! 127.0.0.2 and ::1 (loopback, bind-able, never leaving the machine) stand in for private
//! addresses. No test contacts anything outside 127.0.0.0/8 and ::1.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test panics on a broken fixture

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use feedwatch::config::FetchConfig;
use feedwatch::fetch::{FetchError, Fetcher};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const ALLOWED: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const REFUSED: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

fn only_127_0_0_1(ip: IpAddr) -> bool {
    ip == IpAddr::V4(ALLOWED)
}

fn cfg() -> FetchConfig {
    FetchConfig {
        timeout: Duration::from_secs(4),
        ..FetchConfig::default()
    }
}

fn fetcher(cfg: &FetchConfig) -> Fetcher {
    Fetcher::with_address_policy(cfg, only_127_0_0_1).expect("client")
}

/// What the test server answers for a request path: the raw response bytes, written in
/// pieces with a flush between them (so a body can arrive chunk by chunk).
type Handler = Arc<dyn Fn(&str) -> Vec<Vec<u8>> + Send + Sync>;

async fn read_path(sock: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    let line = String::from_utf8_lossy(&buf).lines().next()?.to_string();
    line.split_whitespace().nth(1).map(str::to_string)
}

/// A one-request-per-connection HTTP/1.1 server on `ip`.
async fn serve(ip: Ipv4Addr, handler: Handler) -> SocketAddr {
    let listener = TcpListener::bind((ip, 0)).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let handler = handler.clone();
            tokio::spawn(async move {
                let Some(path) = read_path(&mut sock).await else {
                    return;
                };
                for piece in handler(&path) {
                    if sock.write_all(&piece).await.is_err() {
                        return;
                    }
                    let _ = sock.flush().await;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                let _ = sock.shutdown().await;
            });
        }
    });
    addr
}

/// A listener on a refused address that records any connection: the guard must stop the
/// fetcher before it ever connects.
async fn trap() -> (SocketAddr, Arc<AtomicBool>) {
    let listener = TcpListener::bind((REFUSED, 0))
        .await
        .expect("bind 127.0.0.2");
    let addr = listener.local_addr().expect("addr");
    let hit = Arc::new(AtomicBool::new(false));
    let flag = hit.clone();
    tokio::spawn(async move {
        while let Ok((_sock, _)) = listener.accept().await {
            flag.store(true, Ordering::SeqCst);
        }
    });
    (addr, hit)
}

fn response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut r = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut r = r.into_bytes();
    r.extend_from_slice(body);
    r
}

fn html() -> Vec<Vec<u8>> {
    vec![response(
        "200 OK",
        &[("Content-Type", "text/html; charset=utf-8")],
        b"<html><body><p>ok</p></body></html>",
    )]
}

fn redirect_to(location: String) -> Handler {
    Arc::new(move |_| vec![response("302 Found", &[("Location", &location)], b"")])
}

fn assert_refused(err: &FetchError, url: &str, why: &str) {
    let msg = err.to_string();
    assert!(matches!(err, FetchError::Refused { .. }), "{err:?}");
    assert!(msg.contains(url), "message names the URL: {msg}");
    assert!(msg.contains(why), "message says why ({why}): {msg}");
}

#[tokio::test]
async fn allowed_address_is_fetched() {
    // The control: the refusals below are not the policy refusing everything.
    let addr = serve(ALLOWED, Arc::new(|_| html())).await;
    let page = fetcher(&cfg())
        .page(&format!("http://{addr}/a"))
        .await
        .expect("allowed");
    assert_eq!(page.status, 200);
    assert!(page.body.starts_with(b"<html>"));
}

#[tokio::test]
async fn refused_literal_addresses() {
    let (trap, hit) = trap().await;
    let f = fetcher(&cfg());
    for url in [
        format!("http://{trap}/"),
        format!("http://[::1]:{}/", trap.port()),
        format!("http://0.0.0.0:{}/", trap.port()),
    ] {
        let err = f.page(&url).await.expect_err(&url);
        assert_refused(&err, &url, "allow_private_addresses = true");
    }
    // The default policy refuses the whole loopback range, 127.0.0.1 included.
    let allowed = serve(ALLOWED, Arc::new(|_| html())).await;
    let url = format!("http://{allowed}/");
    let err = Fetcher::new(&cfg())
        .expect("client")
        .page(&url)
        .await
        .expect_err("default refuses loopback");
    assert_refused(&err, &url, "private or reserved address");
    assert!(
        !hit.load(Ordering::SeqCst),
        "connected to a refused address"
    );
}

#[tokio::test]
async fn loopback_name_is_refused() {
    let url = "http://localhost:9/";
    let err = fetcher(&cfg()).page(url).await.expect_err("localhost");
    assert_refused(&err, url, "loopback name");
}

#[tokio::test]
async fn allow_private_addresses_lifts_the_guard() {
    let addr = serve(REFUSED, Arc::new(|_| html())).await;
    let cfg = FetchConfig {
        allow_private_addresses: true,
        ..cfg()
    };
    let page = fetcher(&cfg).page(&format!("http://{addr}/")).await;
    assert!(page.is_ok(), "{page:?}");
}

#[tokio::test]
async fn redirect_to_refused_literal_address() {
    let (trap, hit) = trap().await;
    let from = serve(ALLOWED, redirect_to(format!("http://{trap}/admin"))).await;
    let url = format!("http://{from}/story");
    let err = fetcher(&cfg()).page(&url).await.expect_err("redirect");
    assert_refused(&err, &url, &format!("redirect: {}", trap.ip()));
    assert!(
        !hit.load(Ordering::SeqCst),
        "connected to a refused address"
    );
}

#[tokio::test]
async fn redirect_to_refused_ipv6_literal() {
    let from = serve(ALLOWED, redirect_to("http://[::1]:9/".to_string())).await;
    let url = format!("http://{from}/story");
    let err = fetcher(&cfg()).page(&url).await.expect_err("redirect");
    assert_refused(&err, &url, "::1");
}

#[tokio::test]
async fn redirect_to_refused_hostname() {
    let (trap, hit) = trap().await;
    let from = serve(
        ALLOWED,
        redirect_to(format!("http://localhost:{}/", trap.port())),
    )
    .await;
    let url = format!("http://{from}/story");
    let err = fetcher(&cfg()).page(&url).await.expect_err("redirect");
    assert_refused(&err, &url, "localhost");
    assert!(!hit.load(Ordering::SeqCst));
}

#[tokio::test]
async fn schemes_other_than_http_are_refused() {
    let f = fetcher(&cfg());
    for url in [
        "ftp://127.0.0.1/file",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "data:text/html,<p>hi</p>",
    ] {
        let err = f.page(url).await.expect_err(url);
        assert_refused(&err, url, "is not http or https");
    }
}

#[tokio::test]
async fn redirect_to_file_scheme_is_refused() {
    let from = serve(ALLOWED, redirect_to("file:///etc/passwd".to_string())).await;
    let url = format!("http://{from}/story");
    let err = fetcher(&cfg()).page(&url).await.expect_err("redirect");
    assert_refused(&err, &url, "scheme `file`");
}

#[tokio::test]
async fn at_most_five_redirects() {
    // /hop/N redirects to /hop/N-1; /hop/0 is the page.
    let addr = serve(
        ALLOWED,
        Arc::new(|path: &str| {
            let n: usize = path
                .strip_prefix("/hop/")
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            if n == 0 {
                html()
            } else {
                let next = format!("/hop/{}", n - 1);
                vec![response("302 Found", &[("Location", &next)], b"")]
            }
        }),
    )
    .await;
    let f = fetcher(&cfg());
    let five = f.page(&format!("http://{addr}/hop/5")).await;
    assert!(five.is_ok(), "five redirects are followed: {five:?}");
    let url = format!("http://{addr}/hop/6");
    let err = f.page(&url).await.expect_err("six redirects");
    assert!(
        matches!(err, FetchError::TooManyRedirects { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains(&url), "{err}");
}

fn small_cap() -> FetchConfig {
    FetchConfig {
        max_page_bytes: 1000,
        ..cfg()
    }
}

fn assert_too_large(err: &FetchError, url: &str) {
    assert!(
        matches!(err, FetchError::TooLarge { limit: 1000, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(url) && msg.contains("1000"), "{msg}");
}

#[tokio::test]
async fn body_over_cap_with_content_length() {
    let addr = serve(
        ALLOWED,
        Arc::new(|_| {
            vec![response(
                "200 OK",
                &[("Content-Type", "text/html")],
                &[b'a'; 2000],
            )]
        }),
    )
    .await;
    let url = format!("http://{addr}/big");
    let err = fetcher(&small_cap()).page(&url).await.expect_err("big");
    assert_too_large(&err, &url);
}

#[tokio::test]
async fn chunked_body_over_cap_is_stopped_while_streaming() {
    let sent = Arc::new(AtomicUsize::new(0));
    let count = sent.clone();
    let addr = serve(
        ALLOWED,
        Arc::new(move |_| {
            let mut pieces = vec![b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec()];
            // 400 chunks of 600 bytes: 240 kB offered, the cap is 1000 bytes.
            for _ in 0..400 {
                let mut c = format!("{:x}\r\n", 600).into_bytes();
                c.extend_from_slice(&[b'a'; 600]);
                c.extend_from_slice(b"\r\n");
                pieces.push(c);
            }
            pieces.push(b"0\r\n\r\n".to_vec());
            count.fetch_add(1, Ordering::SeqCst);
            pieces
        }),
    )
    .await;
    let url = format!("http://{addr}/chunked");
    let started = Instant::now();
    let err = fetcher(&small_cap()).page(&url).await.expect_err("chunked");
    assert_too_large(&err, &url);
    // 400 pieces at 5 ms each would take 2 s; stopping at the cap is much faster.
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert_eq!(sent.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn gzip_bomb_is_stopped_at_the_decompressed_cap() {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![b' '; 10 * 1024 * 1024]).expect("gzip");
    let bomb = gz.finish().expect("gzip");
    let cfg = FetchConfig {
        max_page_bytes: 100_000,
        ..cfg()
    };
    assert!((bomb.len() as u64) < cfg.max_page_bytes, "compressed fits");
    let addr = serve(
        ALLOWED,
        Arc::new(move |_| {
            vec![response(
                "200 OK",
                &[("Content-Type", "text/html"), ("Content-Encoding", "gzip")],
                &bomb,
            )]
        }),
    )
    .await;
    let url = format!("http://{addr}/bomb");
    let err = fetcher(&cfg).page(&url).await.expect_err("bomb");
    assert!(
        matches!(err, FetchError::TooLarge { limit: 100_000, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn non_html_content_types_are_skipped_with_a_reason() {
    let addr = serve(
        ALLOWED,
        Arc::new(|path: &str| {
            let ct = if path == "/doc.pdf" {
                "application/pdf"
            } else {
                "image/jpeg"
            };
            vec![response("200 OK", &[("Content-Type", ct)], b"%PDF-1.4")]
        }),
    )
    .await;
    let f = fetcher(&cfg());
    for (path, ct) in [("/doc.pdf", "application/pdf"), ("/a.jpg", "image/jpeg")] {
        let url = format!("http://{addr}{path}");
        let err = f.page(&url).await.expect_err(ct);
        assert!(matches!(err, FetchError::NotHtml { .. }), "{err:?}");
        assert_eq!(err.kind(), "not_html");
        let msg = err.to_string();
        assert!(msg.contains(&url) && msg.contains(ct), "{msg}");
    }
    // XHTML is an HTML page.
    let x = serve(
        ALLOWED,
        Arc::new(|_| {
            vec![response(
                "200 OK",
                &[("Content-Type", "application/xhtml+xml")],
                b"<html/>",
            )]
        }),
    )
    .await;
    assert!(f.page(&format!("http://{x}/")).await.is_ok());
}

/// A server that holds each request for `hold` and records the most requests in flight.
async fn counting(ip: Ipv4Addr, hold: Duration) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind((ip, 0)).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let now = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let seen = peak.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let (now, peak) = (now.clone(), peak.clone());
            tokio::spawn(async move {
                if read_path(&mut sock).await.is_none() {
                    return;
                }
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(n, Ordering::SeqCst);
                tokio::time::sleep(hold).await;
                now.fetch_sub(1, Ordering::SeqCst);
                let _ = sock.write_all(&html()[0]).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn at_most_two_requests_per_host() {
    let cfg = FetchConfig {
        per_host_concurrency: 2,
        ..cfg()
    };
    let f = fetcher(&cfg);
    let (addr, peak) = counting(ALLOWED, Duration::from_millis(150)).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let f = f.clone();
        tasks.spawn(async move { f.page(&format!("http://{addr}/{i}")).await });
    }
    while let Some(r) = tasks.join_next().await {
        assert!(r.expect("task").is_ok());
    }
    assert_eq!(peak.load(Ordering::SeqCst), 2, "peak concurrency per host");
}

#[tokio::test]
async fn a_busy_host_does_not_block_another() {
    let cfg = FetchConfig {
        per_host_concurrency: 2,
        allow_private_addresses: true,
        ..cfg()
    };
    let f = fetcher(&cfg);
    let (slow, slow_peak) = counting(ALLOWED, Duration::from_secs(3)).await;
    let (fast, _) = counting(REFUSED, Duration::from_millis(10)).await;
    let mut busy = tokio::task::JoinSet::new();
    for i in 0..4 {
        let f = f.clone();
        busy.spawn(async move { f.page(&format!("http://{slow}/{i}")).await });
    }
    common::wait_for(
        "the busy host's two slots taken",
        Duration::from_secs(5),
        || slow_peak.load(Ordering::SeqCst) >= 2,
    )
    .await;
    let started = Instant::now();
    let other = f.page(&format!("http://{fast}/")).await;
    assert!(other.is_ok(), "{other:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "second host waited {:?}",
        started.elapsed()
    );
    busy.abort_all();
}

// ---- Feed redirects under the one address policy (issue 11, row 3) ----
//
// A feed the operator configured may live on a private address; a redirect that leaves its
// host may not lead there. The redirect target is a made-up name given a loopback address
// through `Fetcher::with_test_hosts`, so the resolver path (not the literal-IP check) is
// what refuses it.

/// A listener on `ip` that records any connection (see [`trap`]).
async fn trap_on(ip: Ipv4Addr) -> (SocketAddr, Arc<AtomicBool>) {
    let listener = TcpListener::bind((ip, 0)).await.expect("bind trap");
    let addr = listener.local_addr().expect("addr");
    let hit = Arc::new(AtomicBool::new(false));
    let flag = hit.clone();
    tokio::spawn(async move {
        while let Ok((_sock, _)) = listener.accept().await {
            flag.store(true, Ordering::SeqCst);
        }
    });
    (addr, hit)
}

fn rss_doc() -> Vec<Vec<u8>> {
    vec![response(
        "200 OK",
        &[("Content-Type", "application/rss+xml")],
        b"<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Inside</title>\
          <item><title>Internal note</title><link>http://news.invalid/internal/1</link></item>\
          </channel></rss>",
    )]
}

fn redirect_with(status: &'static str, location: String) -> Handler {
    Arc::new(move |_| vec![response(status, &[("Location", &location)], b"")])
}

#[tokio::test]
async fn feed_redirect_to_a_name_of_a_private_address_is_refused() {
    // The case: the configured feed (loopback, trusted because the operator wrote
    // it) redirects to `internal.example`, which resolves to 127.0.0.1. The default policy
    // refuses it, for a temporary and for a permanent redirect alike.
    for status in ["302 Found", "301 Moved Permanently"] {
        let (inner, hit) = trap_on(ALLOWED).await;
        let target = format!("http://internal.example:{}/feed", inner.port());
        let from = serve(ALLOWED, redirect_with(status, target.clone())).await;
        let f = Fetcher::with_test_hosts(
            &cfg(),
            feedwatch::fetch::is_public,
            &[("internal.example", IpAddr::V4(ALLOWED))],
        )
        .expect("client");
        let url = format!("http://{from}/feed");
        let err = f.feed(&url, &Default::default()).await.expect_err(status);
        assert_refused(&err, &url, &format!("redirect to {target}"));
        assert_refused(&err, &url, "internal.example resolves to a private");
        assert!(!hit.load(Ordering::SeqCst), "{status}: connected to it");
    }
}

#[tokio::test]
async fn feed_redirect_elsewhere_is_followed_when_the_address_is_allowed() {
    // The control for the test above: the same redirect to a name with an allowed address
    // is followed, and a permanent one is reported as a move.
    let inner = serve(ALLOWED, Arc::new(|_| rss_doc())).await;
    let target = format!("http://elsewhere.example:{}/feed", inner.port());
    let from = serve(
        ALLOWED,
        redirect_with("301 Moved Permanently", target.clone()),
    )
    .await;
    let f = Fetcher::with_test_hosts(
        &cfg(),
        only_127_0_0_1,
        &[("elsewhere.example", IpAddr::V4(ALLOWED))],
    )
    .expect("client");
    let got = f
        .feed(&format!("http://{from}/feed"), &Default::default())
        .await
        .expect("followed");
    let feedwatch::fetch::FeedResponse::Fetched(doc) = got else {
        panic!("not modified?");
    };
    assert_eq!(doc.url.as_str(), target);
    assert!(doc.moved_permanently);
}

#[tokio::test]
async fn feed_redirect_within_the_configured_host_stays_trusted() {
    // A private feed host the operator configured keeps working across its own redirects,
    // under the strictest policy.
    let addr = serve(
        REFUSED,
        Arc::new(|path: &str| {
            if path == "/old" {
                vec![response(
                    "301 Moved Permanently",
                    &[("Location", "/new")],
                    b"",
                )]
            } else {
                rss_doc()
            }
        }),
    )
    .await;
    let got = Fetcher::new(&cfg())
        .expect("client")
        .feed(&format!("http://{addr}/old"), &Default::default())
        .await
        .expect("configured host");
    assert!(matches!(got, feedwatch::fetch::FeedResponse::Fetched(d) if d.moved_permanently));
}

#[tokio::test]
async fn a_moved_feed_is_checked_on_every_poll() {
    // A feed moved to another host earlier: that host is not the configured one, so when
    // its name points into private space now, the poll is refused before connecting.
    let (inner, hit) = trap_on(REFUSED).await;
    let configured = "http://127.0.0.1:9/old";
    let moved = format!("http://moved.example:{}/feed", inner.port());
    let f = Fetcher::with_test_hosts(
        &cfg(),
        only_127_0_0_1,
        &[("moved.example", IpAddr::V4(REFUSED))],
    )
    .expect("client");
    let err = f
        .feed_from(configured, &moved, &Default::default())
        .await
        .expect_err("refused");
    assert_refused(&err, &moved, "moved.example resolves to a private");
    assert!(!hit.load(Ordering::SeqCst));
}

/// Polls the feed at `url` once through the pipeline and commits the result, as the daemon
/// does; returns the stored row.
async fn poll_and_store(f: Fetcher, url: &str) -> feedwatch::store::FeedRow {
    use feedwatch::store::Store;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(&dir.path().join("fw.db")).expect("store");
    store.sync_feeds([(url, None)], 0).expect("sync");
    let row = store.feed(url).expect("read").expect("row");
    let reader = Store::open(&dir.path().join("fw.db")).expect("reader");
    let p = feedwatch::pipeline::Pipeline {
        fetcher: f,
        rules: Arc::new(feedwatch::rules::RuleSet::compile(&[]).expect("rules")),
        extractor: Arc::new(feedwatch::extract::Extractor::new(&[]).expect("extractor")),
        reader: feedwatch::store::reader::Reader::from_store(reader),
        seen: Arc::default(),
        poll: Default::default(),
        pages: Default::default(),
        recent_retention: None,
    };
    let feed = feedwatch::config::FeedConfig {
        url: url.to_string(),
        name: None,
        full_text: false,
        tags: vec![],
        interval: None,
    };
    let rec = feedwatch::pipeline::poll_feed(&p, &feed, &row).await;
    store.commit_poll(&rec).expect("commit");
    store.feed(url).expect("read").expect("row")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_permanent_redirect_never_becomes_the_stored_address() {
    let (inner, hit) = trap_on(REFUSED).await;
    let target = format!("http://internal.example:{}/feed", inner.port());
    let from = serve(ALLOWED, redirect_with("301 Moved Permanently", target)).await;
    let url = format!("http://{from}/feed");
    let hosts = [("internal.example", IpAddr::V4(REFUSED))];
    let f = Fetcher::with_test_hosts(&cfg(), only_127_0_0_1, &hosts).expect("client");
    let row = poll_and_store(f, &url).await;
    assert_eq!(row.moved_to, None, "the refused address was stored");
    assert_eq!(
        row.items_seen, 0,
        "an item behind the refused address was stored"
    );
    let error = row.last_error.unwrap_or_default();
    assert!(error.contains("internal.example"), "{error}");
    assert!(!hit.load(Ordering::SeqCst));

    // The control: with the name allowed, the same poll stores the move and the item.
    let inner = serve(ALLOWED, Arc::new(|_| rss_doc())).await;
    let target = format!("http://internal.example:{}/feed", inner.port());
    let from = serve(
        ALLOWED,
        redirect_with("301 Moved Permanently", target.clone()),
    )
    .await;
    let url = format!("http://{from}/feed");
    let hosts = [("internal.example", IpAddr::V4(ALLOWED))];
    let f = Fetcher::with_test_hosts(&cfg(), only_127_0_0_1, &hosts).expect("client");
    let row = poll_and_store(f, &url).await;
    assert_eq!(row.moved_to.as_deref(), Some(target.as_str()));
    assert_eq!(row.items_seen, 1);
}
