//! Chaos suite: one poll cycle over a misbehaving loopback server (drip, resets, 429, 5xx,
//! redirect loops, a redirect into private space, a gzip bomb, 50 MB, billion laughs, HTML,
//! truncated XML, a wrong charset, an empty 200, GUIDs that change every poll) plus healthy
//! feeds. Healthy feeds' alerts all arrive, each bad feed has a clear error, memory stays
//! bounded and the cycle ends within its budget. Loopback only; bounded in time.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test panics on a broken fixture

mod common;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{rss, Daemon, Instance};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const KEYWORD_BODY: &str = "Rockets struck Baghdad's Green Zone overnight, landing near the US embassy, Iraqi security officials said.";

const CHURN_BODY: &str = "Mortar rounds fell near the Green Zone checkpoint in Baghdad before dawn, and the US embassy told staff to shelter in place.";

/// Distinct keyword stories, so story grouping keeps them apart.
const STORIES: [&str; 3] = [
    "Two rockets landed inside Baghdad's Green Zone on Monday night; sirens sounded at the US embassy and no casualties were reported.",
    "A drone carrying explosives was shot down over the Green Zone in Baghdad as it approached the American embassy compound, the army said.",
    "Protesters tried to storm the Green Zone gates in Baghdad on Friday and were pushed back by security forces near several embassies.",
];

/// A feed whose item carries the keyword text in its description (no page fetch needed).
fn healthy_feed(n: usize) -> String {
    let link = format!("http://news.invalid/healthy/{n}");
    rss(
        &format!("Healthy {n}"),
        &[(
            &format!("Rockets hit Baghdad's Green Zone ({n})"),
            &link,
            Some(STORIES[n % STORIES.len()]),
        )],
    )
}

fn billion_laughs() -> String {
    let mut s = String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n");
    s.push_str("<!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n");
    for i in 2..=9 {
        let prev = format!("&lol{};", i - 1);
        s.push_str(&format!("<!ENTITY lol{i} \"{}\">\n", prev.repeat(10)));
    }
    s.push_str("]>\n<rss version=\"2.0\"><channel><title>&lol9;</title><item><title>&lol9;</title><link>http://x.invalid/a</link></item></channel></rss>\n");
    s
}

fn gzip_bomb() -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![b' '; 1 << 20];
    for _ in 0..100 {
        enc.write_all(&zeros).expect("gzip");
    }
    enc.finish().expect("gzip")
}

struct Chaos {
    bomb: Vec<u8>,
    churn: AtomicUsize,
}

async fn respond(mut sock: TcpStream, chaos: Arc<Chaos>) {
    let mut buf = vec![0u8; 8192];
    let mut req = Vec::new();
    // Read the request head.
    loop {
        let n = match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        req.extend_from_slice(&buf[..n]);
        if req.windows(4).any(|w| w == b"\r\n\r\n") || req.len() > 65536 {
            break;
        }
    }
    let head = String::from_utf8_lossy(&req);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let simple = |status: &str, ctype: &str, body: &[u8], extra: &str| {
        let mut r = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body);
        r
    };
    let out: Vec<u8> = match path.as_str() {
        p if p.starts_with("/healthy/") => {
            let n: usize = p.trim_start_matches("/healthy/").parse().unwrap_or(0);
            simple("200 OK", "application/rss+xml", healthy_feed(n).as_bytes(), "")
        }
        "/drip" => {
            let _ = sock
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: 100000\r\n\r\n<")
                .await;
            for _ in 0..30 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if sock.write_all(b" ").await.is_err() {
                    return;
                }
            }
            return;
        }
        "/reset" => {
            let _ = sock
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: 100000\r\n\r\n<rss version=\"2.0\"><channel><title>cut")
                .await;
            let _ = sock.set_zero_linger();
            return; // dropped with linger 0: a TCP reset mid-body
        }
        "/429" => simple("429 Too Many Requests", "text/plain", b"slow down", "Retry-After: 120\r\n"),
        "/500" => simple("500 Internal Server Error", "text/plain", b"oops", ""),
        "/502" => simple("502 Bad Gateway", "text/plain", b"bad gateway", ""),
        "/503" => simple("503 Service Unavailable", "text/plain", b"later", "Retry-After: 60\r\n"),
        "/loop" => simple("302 Found", "text/plain", b"", "Location: /loop\r\n"),
        "/to-private" => simple("302 Found", "text/plain", b"", "Location: http://10.0.0.1/feed.xml\r\n"),
        "/bomb" => {
            let mut r = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                chaos.bomb.len()
            )
            .into_bytes();
            r.extend_from_slice(&chaos.bomb);
            r
        }
        "/huge" => {
            // 50 MB, chunked (no Content-Length to refuse up front): the cap must hold while streaming.
            if sock
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nTransfer-Encoding: chunked\r\n\r\n")
                .await
                .is_err()
            {
                return;
            }
            let chunk = vec![b'x'; 1 << 20];
            for _ in 0..50 {
                let mut c = format!("{:x}\r\n", chunk.len()).into_bytes();
                c.extend_from_slice(&chunk);
                c.extend_from_slice(b"\r\n");
                if sock.write_all(&c).await.is_err() {
                    return;
                }
            }
            let _ = sock.write_all(b"0\r\n\r\n").await;
            return;
        }
        "/laughs" => simple("200 OK", "application/rss+xml", billion_laughs().as_bytes(), ""),
        "/html" => simple(
            "200 OK",
            "text/html",
            b"<!doctype html><html><head><title>Home</title></head><body><p>Welcome</p></body></html>",
            "",
        ),
        "/truncated" => simple(
            "200 OK",
            "application/rss+xml",
            b"<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Cut</title><item><title>Half an it",
            "",
        ),
        "/wrong-charset" => {
            // Declared UTF-8, actually windows-1252 (0xE9 = e acute): must not break the cycle.
            let mut b = b"<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel><title>Caf".to_vec();
            b.push(0xE9);
            b.extend_from_slice(b"</title><item><title>Rockets hit Baghdad's Green Zone, caf");
            b.push(0xE9);
            b.extend_from_slice(b" closed</title><link>http://news.invalid/charset/1</link><description>");
            b.extend_from_slice(KEYWORD_BODY.as_bytes());
            b.extend_from_slice(b"</description></item></channel></rss>");
            simple("200 OK", "application/rss+xml; charset=utf-8", &b, "")
        }
        "/empty" => simple("200 OK", "application/rss+xml", b"", ""),
        "/churn" => {
            let n = chaos.churn.fetch_add(1, Ordering::SeqCst);
            let body = format!(
                "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Churn</title>\
                 <item><title>Rockets hit Baghdad's Green Zone</title><guid isPermaLink=\"false\">{n}-a</guid>\
                 <link>http://news.invalid/churn/a</link><description>{CHURN_BODY}</description></item>\
                 </channel></rss>"
            );
            simple("200 OK", "application/rss+xml", body.as_bytes(), "")
        }
        _ => simple("404 Not Found", "text/plain", b"no", ""),
    };
    let _ = sock.write_all(&out).await;
    let _ = sock.shutdown().await;
}

/// Peak resident memory of a process, from /proc (kB).
fn rss_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_cycle_over_hostile_feeds() {
    // One server (port) per misbehaviour, as on the internet each would be its own host: a
    // 429's Retry-After pauses only its own host, not the others.
    let chaos = Arc::new(Chaos {
        bomb: gzip_bomb(),
        churn: AtomicUsize::new(0),
    });
    let mut servers = Vec::new();
    for _ in 0..20 {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        servers.push(l.local_addr().expect("addr"));
        let chaos = chaos.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = l.accept().await {
                tokio::spawn(respond(sock, chaos.clone()));
            }
        });
    }
    let healthy_addr = servers[19];
    let bad = [
        "drip",
        "reset",
        "429",
        "500",
        "502",
        "503",
        "loop",
        "to-private",
        "bomb",
        "huge",
        "laughs",
        "html",
        "truncated",
        "empty",
    ];
    let mut feeds = String::new();
    for (i, b) in bad.iter().enumerate() {
        let addr = servers[i];
        feeds.push_str(&format!(
            "[[feeds]]\nurl = \"http://{addr}/{b}\"\nname = \"{b}\"\n\n"
        ));
    }
    for n in 0..3 {
        feeds.push_str(&format!(
            "[[feeds]]\nurl = \"http://{healthy_addr}/healthy/{n}\"\nname = \"healthy-{n}\"\n\n"
        ));
    }
    feeds.push_str(&format!(
        "[[feeds]]\nurl = \"http://{healthy_addr}/wrong-charset\"\nname = \"wrong-charset\"\n\n"
    ));
    feeds.push_str(&format!(
        "[[feeds]]\nurl = \"http://{healthy_addr}/churn\"\nname = \"churn\"\n\n"
    ));
    // Feeds only (no article pages), so private addresses stay refused: the redirect into
    // 10.0.0.0/8 must be stopped before any connection is attempted.
    let inst = Instance::new(&feeds);
    let cfg = std::fs::read_to_string(inst.config())
        .expect("read")
        .replace(
            "timeout = \"5s\"\nallow_private_addresses = true",
            "timeout = \"4s\"\nallow_private_addresses = false",
        )
        .replace("concurrency = 4", "concurrency = 8");
    std::fs::write(inst.config(), cfg).expect("write");

    for cycle in 0..2 {
        let start = Instant::now();
        // The guard kills the cycle if an assertion fails; its stderr goes to a file (a pipe
        // read only at the end could fill and stall it).
        let mut child = Daemon::spawn(&inst, &["poll", "--once"]);
        let pid = child.pid();
        let mut peak = 0;
        let status = loop {
            if let Some(kb) = rss_kb(pid) {
                peak = peak.max(kb);
            }
            if let Some(s) = child.try_wait() {
                break s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "cycle {cycle} exceeded its 30 s budget"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let stderr = child.log();
        assert!(status.success(), "cycle {cycle}: {stderr}");
        println!(
            "cycle {cycle}: {:.1} s, peak RSS {} MB",
            start.elapsed().as_secs_f64(),
            peak / 1024
        );
        assert!(
            peak < 150 * 1024,
            "memory must stay bounded: peak {} MB",
            peak / 1024
        );
    }

    // Healthy feeds (and the mis-declared charset, and the churning feed) alerted, once each.
    let alerts = inst.alerts().await;
    let mut urls: Vec<&str> = alerts.iter().filter_map(|a| a["url"].as_str()).collect();
    urls.sort_unstable();
    urls.dedup();
    for n in 0..3 {
        let u = format!("http://news.invalid/healthy/{n}");
        assert!(
            urls.contains(&u.as_str()),
            "healthy feed {n} did not alert: {alerts:#?} {:#?}",
            inst.status().await
        );
    }
    let charset_row = inst
        .status()
        .await
        .into_iter()
        .find(|r| r["name"] == "wrong-charset");
    assert!(
        urls.contains(&"http://news.invalid/charset/1"),
        "{urls:?} {charset_row:?}"
    );
    let churn = alerts
        .iter()
        .filter(|a| a["url"] == "http://news.invalid/churn/a")
        .count();
    let rules_on_churn: std::collections::HashSet<&str> = alerts
        .iter()
        .filter(|a| a["url"] == "http://news.invalid/churn/a")
        .filter_map(|a| a["rule"].as_str())
        .collect();
    assert_eq!(
        churn,
        rules_on_churn.len(),
        "a GUID that changes every poll must not re-alert"
    );
    assert!(churn > 0);

    // Each bad feed has its own clear error.
    let status = inst.status().await;
    for b in bad {
        let row = status
            .iter()
            .find(|r| r["name"] == b)
            .unwrap_or_else(|| panic!("no row for {b}"));
        let err = row["last_error"].as_str().unwrap_or("");
        assert!(!err.is_empty(), "{b}: no error recorded: {row}");
        assert!(
            err.contains(&format!("/{b}")),
            "{b}: error does not name the feed: {err}"
        );
        let want = match b {
            "drip" => "timed out",
            "reset" => "",
            "429" => "429",
            "500" => "500",
            "502" => "502",
            "503" => "503",
            "loop" => "redirects",
            "to-private" => "private",
            "bomb" | "huge" => "limit",
            "html" => "html",
            "empty" => "empty",
            _ => "",
        };
        assert!(
            err.to_lowercase().contains(want),
            "{b}: unexpected error {err:?}"
        );
    }
    let row429 = status.iter().find(|r| r["name"] == "429").expect("429 row");
    let next = row429["next_poll"].as_str().expect("next poll");
    let next = chrono::DateTime::parse_from_rfc3339(next).expect("rfc3339");
    assert!(
        next.timestamp() - chrono::Utc::now().timestamp() >= 100,
        "Retry-After is honoured"
    );
}
