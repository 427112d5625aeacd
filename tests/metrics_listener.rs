//! The metrics and health listener under hostile clients (issue 11, row 13): idle, slow and
//! surplus connections cannot hold the process's file handles, and `/healthz` answers
//! through it all. Driven through `feedwatch::ops::metrics::serve` on a loopback port.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test panics on a broken fixture

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use feedwatch::ops::metrics::{bind, serve, HEADER_TIMEOUT, MAX_CONNECTIONS};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

async fn listener() -> (SocketAddr, CancellationToken) {
    let l = bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move { serve(l, token).await });
    (addr, stop)
}

/// Whether the server closed the connection within `within` (EOF or reset); false when
/// it is still open then.
async fn closed_within(sock: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, sock.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            // A response (e.g. 408) before the close: keep reading.
            Ok(Ok(_)) => {}
        }
    }
}

async fn healthz(addr: SocketAddr) -> Option<String> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .ok()?;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut out))
        .await
        .ok()?
        .ok()?;
    Some(String::from_utf8_lossy(&out).into_owned())
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn surplus_idle_and_slow_connections_are_dropped() {
    let (addr, stop) = listener().await;
    let ok = healthz(addr).await.unwrap_or_default();
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    let before = open_fds();

    // 100 connections more than the cap, none of which sends anything.
    let surplus = 100;
    let mut idle = Vec::new();
    for _ in 0..MAX_CONNECTIONS + surplus {
        idle.push(TcpStream::connect(addr).await.expect("connect"));
    }
    // One that trickles a request's headers, a byte a second: never idle, never done.
    let mut slow = TcpStream::connect(addr).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
        .await
        .expect("write");
    let started = Instant::now();

    // The oldest are closed at once to make room, so only MAX_CONNECTIONS are held.
    let quick = futures_util::future::join_all(
        idle.iter_mut()
            .map(|s| closed_within(s, Duration::from_millis(1500))),
    )
    .await;
    let closed = quick.iter().filter(|c| **c).count();
    assert!(
        closed >= surplus,
        "{closed} of {} connections closed at once; the cap is {MAX_CONNECTIONS}",
        idle.len()
    );
    // Our own ends of all of them, plus at most the cap on the server's side.
    let during = open_fds();
    assert!(
        during <= before + idle.len() + 1 + MAX_CONNECTIONS + 8,
        "{during} fds open (before: {before})"
    );
    // A health probe still gets its answer while they are held.
    let ok = healthz(addr).await.unwrap_or_default();
    assert!(ok.starts_with("HTTP/1.1 200"), "during the flood: {ok}");

    // Within the header timeout (plus margin) the held ones are dropped too, the
    // trickling one included, and /healthz answers again.
    let trickle = async {
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if slow.write_all(b"a").await.is_err() {
                break;
            }
        }
    };
    let margin = HEADER_TIMEOUT + Duration::from_secs(3);
    let held = futures_util::future::join_all(
        idle.iter_mut()
            .zip(&quick)
            .filter(|(_, c)| !**c)
            .map(|(s, _)| closed_within(s, margin)),
    );
    let (held, ()) = tokio::join!(held, trickle);
    assert!(
        held.iter().all(|c| *c),
        "idle connections outlived the timeout"
    );
    assert!(
        closed_within(&mut slow, Duration::from_millis(100)).await,
        "the trickling connection outlived the header timeout"
    );
    assert!(
        started.elapsed() < HEADER_TIMEOUT * 4,
        "{:?}",
        started.elapsed()
    );
    let ok = healthz(addr).await.unwrap_or_default();
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed() {
    let (addr, stop) = listener().await;
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).await.expect("response");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // Kept alive, then idle: closed after the header timeout, not kept forever.
    let started = Instant::now();
    assert!(closed_within(&mut s, HEADER_TIMEOUT + Duration::from_secs(3)).await);
    assert!(started.elapsed() >= HEADER_TIMEOUT - Duration::from_millis(500));
    stop.cancel();
}
