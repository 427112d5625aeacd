//! Fetch: the first pipeline stage. URLs in, bytes out.
//!
//! Two kinds of download happen here, with different trust:
//! - **feeds** the operator configured: conditional GET (ETag / Last-Modified, a 304 costs
//!   nothing downstream), a size cap, timeouts. `file://` feeds are read from disk.
//! - **article pages** whose links strangers wrote into their feeds: an SSRF surface. Only
//!   http/https, only HTML.
//!
//! One address policy covers every request the daemon makes. A host the operator wrote into
//! the config is trusted, private or not (a feed on the intranet is a legitimate choice).
//! Every other host is not: article links, and every feed redirect hop that leaves the
//! configured host, must resolve to public addresses (loopback, private, link-local,
//! multicast, unspecified and other reserved ranges are refused, see [`is_public`]) unless
//! `[fetch] allow_private_addresses = true`. The check is made on the addresses the
//! connection is actually made to (a resolver that drops refused addresses), so a name
//! pointing at 127.0.0.1, or one that changes its answer between two lookups, cannot get
//! round it; literal IP hosts and `localhost` names are refused before any connection. A
//! refused hop fails the whole fetch, so a permanent redirect into private space never
//! becomes a feed's stored address. Webhook sinks are operator-configured too: their URL is
//! trusted as written and they follow no redirects at all (`sink::deliver`), so a receiver
//! cannot send an alert anywhere the operator did not name.
//!
//! Both caps are enforced while streaming, on the decompressed bytes, so a gzip bomb stops at
//! the cap. A per-host semaphore keeps one slow host from hogging the pool.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{redirect, StatusCode};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use url::Url;

use crate::config::FetchConfig;

mod error;
mod policy;

pub use error::FetchError;
use error::{classify, RedirectLimit};
pub use policy::{is_public, AddressPolicy};
use policy::{literal_ip_refusal, Blocked, GuardedResolver, StaticHosts};

/// Redirects followed before giving up.
pub const MAX_REDIRECTS: usize = 5;

/// HTTP validators remembered from the last successful poll.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditional {
    /// Sent as If-None-Match.
    pub etag: Option<String>,
    /// Sent as If-Modified-Since.
    pub last_modified: Option<String>,
}

/// A downloaded document.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Where the body came from after redirects.
    pub url: Url,
    /// The final response's HTTP status.
    pub status: u16,
    /// The response's Content-Type, when sent.
    pub content_type: Option<String>,
    /// Validators to send next time.
    pub validators: Conditional,
    /// `Cache-Control: max-age` / `Expires`, as a minimum wait before the next poll.
    pub max_age: Option<Duration>,
    /// Whether a permanent redirect (301/308) led here.
    pub moved_permanently: bool,
    /// The body, decompressed, at most the size limit.
    pub body: Vec<u8>,
}

/// Result of a conditional feed fetch.
#[derive(Debug, Clone)]
pub enum FeedResponse {
    /// 304, or a file whose modification time has not changed.
    NotModified {
        /// 304, or 200 for a file that did not change.
        status: u16,
    },
    /// A fresh document.
    Fetched(Box<Fetched>),
}

/// The downloader, built once from `[fetch]` and shared by all polls.
#[derive(Clone)]
pub struct Fetcher {
    /// Feed requests to the host the operator configured: no address check.
    feeds: reqwest::Client,
    /// Feed requests after a redirect to another host: under the address policy.
    feeds_elsewhere: reqwest::Client,
    pages: reqwest::Client,
    cfg: FetchConfig,
    /// Which addresses hosts the operator did not configure may have (see [`AddressPolicy`]).
    policy: AddressPolicy,
    hosts: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
    /// Hosts that answered 429/503 with Retry-After, and until when: the pause applies to
    /// every feed and page on that host, not only the one that was refused. Tokio's
    /// instant, like the waits elsewhere, so tests can run a pause out on paused time.
    paused: Arc<Mutex<HashMap<String, tokio::time::Instant>>>,
    /// The longest pause a host may ask for: the daemon sets `[poll] max_interval`, so no
    /// server's header keeps its feeds quiet for longer than the schedule itself would.
    max_pause: Duration,
}

/// The longest host pause when nothing else is set: `[poll] max_interval`'s default.
pub const DEFAULT_MAX_PAUSE: Duration = crate::config::DEFAULT_MAX_INTERVAL;

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher").field("cfg", &self.cfg).finish()
    }
}

impl Fetcher {
    /// Builds the HTTP clients.
    ///
    /// # Errors
    /// When the TLS backend cannot be initialised.
    pub fn new(cfg: &FetchConfig) -> Result<Fetcher, reqwest::Error> {
        Fetcher::with_address_policy(cfg, is_public)
    }

    /// Like [`Fetcher::new`], with `policy` instead of [`is_public`] deciding which resolved
    /// and literal addresses article pages may come from (when `allow_private_addresses` is
    /// false). For tests: production code uses [`Fetcher::new`].
    ///
    /// # Errors
    /// When the TLS backend cannot be initialised.
    #[doc(hidden)]
    pub fn with_address_policy(
        cfg: &FetchConfig,
        policy: AddressPolicy,
    ) -> Result<Fetcher, reqwest::Error> {
        Fetcher::with_test_hosts(cfg, policy, &[])
    }

    /// Like [`Fetcher::with_address_policy`], with `hosts` answered without DNS: a test can
    /// give a made-up name a loopback address and see the policy applied to it exactly as
    /// to a name the system resolver answers. For tests only.
    ///
    /// # Errors
    /// When the TLS backend cannot be initialised.
    #[doc(hidden)]
    pub fn with_test_hosts(
        cfg: &FetchConfig,
        policy: AddressPolicy,
        hosts: &[(&str, IpAddr)],
    ) -> Result<Fetcher, reqwest::Error> {
        let mut table: HashMap<String, Vec<IpAddr>> = HashMap::new();
        for (name, ip) in hosts {
            table
                .entry(name.to_ascii_lowercase())
                .or_default()
                .push(*ip);
        }
        let hosts: StaticHosts = Arc::new(table);
        let guard = (!cfg.allow_private_addresses).then_some(policy);
        Ok(Fetcher {
            feeds: build_client(cfg, None, &hosts, false)?,
            feeds_elsewhere: build_client(cfg, guard, &hosts, false)?,
            pages: build_client(cfg, guard, &hosts, true)?,
            policy,
            cfg: cfg.clone(),
            hosts: Arc::default(),
            paused: Arc::default(),
            max_pause: DEFAULT_MAX_PAUSE,
        })
    }

    /// Fetches a feed the operator configured at `url`, conditionally. `file://` URLs are
    /// read from disk, with the file's modification time standing in for Last-Modified.
    ///
    /// # Errors
    /// Any [`FetchError`]; HTTP errors carry the status and `Retry-After`.
    pub async fn feed(&self, url: &str, cond: &Conditional) -> Result<FeedResponse, FetchError> {
        self.feed_from(url, url, cond).await
    }

    /// Fetches `url` for the feed configured as `configured` (they differ once the feed has
    /// moved permanently). Only the configured host is trusted: the address a permanent
    /// redirect once led to is checked like any other host, on every poll, since the name
    /// may point elsewhere by now.
    ///
    /// # Errors
    /// Any [`FetchError`]; HTTP errors carry the status and `Retry-After`.
    pub async fn feed_from(
        &self,
        configured: &str,
        url: &str,
        cond: &Conditional,
    ) -> Result<FeedResponse, FetchError> {
        let parsed = Url::parse(url).map_err(|e| FetchError::InvalidUrl {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        if parsed.scheme() == "file" {
            return self.file(&parsed, cond).await;
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static(
                "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5",
            ),
        );
        if let Some(v) = cond
            .etag
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            headers.insert(header::IF_NONE_MATCH, v);
        }
        if let Some(v) = cond
            .last_modified
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            headers.insert(header::IF_MODIFIED_SINCE, v);
        }
        self.check_paused(url, &parsed)?;
        let _permit = self.host_permit(&parsed).await;
        // Redirects are followed by hand for feeds, so a chain made only of permanent
        // redirects (301/308) can update the stored URL, and so each hop is sent with the
        // client its host deserves: trusted only on the configured host.
        let trusted_host = Url::parse(configured)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase));
        let mut current = parsed;
        let mut permanent = true;
        for hop in 0..=MAX_REDIRECTS {
            let elsewhere = !self.cfg.allow_private_addresses
                && current.host_str().map(str::to_ascii_lowercase) != trusted_host;
            if elsewhere {
                if let Some(reason) = literal_ip_refusal(&current, self.policy) {
                    return Err(refused_hop(url, &current, hop, reason));
                }
            }
            let client = if elsewhere {
                &self.feeds_elsewhere
            } else {
                &self.feeds
            };
            let resp = match client
                .get(current.clone())
                .headers(headers.clone())
                .send()
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    return Err(match classify(url, &e, self.cfg.timeout) {
                        FetchError::Refused { reason, .. } => {
                            refused_hop(url, &current, hop, reason)
                        }
                        other => other,
                    })
                }
            };
            let status = resp.status();
            if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                let next = resp
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|loc| current.join(loc).ok());
                let Some(next) = next else {
                    return Err(FetchError::Status {
                        url: url.to_string(),
                        status: status.as_u16(),
                        retry_after: None,
                    });
                };
                if !matches!(next.scheme(), "http" | "https") {
                    return Err(FetchError::Refused {
                        url: url.to_string(),
                        reason: format!("redirect to scheme `{}`", next.scheme()),
                    });
                }
                if hop == MAX_REDIRECTS {
                    break;
                }
                permanent &= matches!(status.as_u16(), 301 | 308);
                current = next;
                continue;
            }
            if status == StatusCode::NOT_MODIFIED {
                return Ok(FeedResponse::NotModified { status: 304 });
            }
            let mut fetched = self.read(url, resp, self.cfg.max_feed_bytes).await?;
            fetched.moved_permanently = hop > 0 && permanent;
            return Ok(FeedResponse::Fetched(Box::new(fetched)));
        }
        Err(FetchError::TooManyRedirects {
            url: url.to_string(),
        })
    }

    /// Fetches an article page a feed linked to, with the SSRF guard and HTML-only check.
    ///
    /// # Errors
    /// Any [`FetchError`]; refusals are [`FetchError::Refused`].
    pub async fn page(&self, url: &str) -> Result<Fetched, FetchError> {
        let parsed = Url::parse(url).map_err(|e| FetchError::InvalidUrl {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(FetchError::Refused {
                url: url.to_string(),
                reason: format!("scheme `{}` is not http or https", parsed.scheme()),
            });
        }
        if !self.cfg.allow_private_addresses {
            if let Some(reason) = literal_ip_refusal(&parsed, self.policy) {
                return Err(FetchError::Refused {
                    url: url.to_string(),
                    reason,
                });
            }
        }
        self.check_paused(url, &parsed)?;
        let _permit = self.host_permit(&parsed).await;
        let resp = self
            .pages
            .get(parsed)
            .header(
                header::ACCEPT,
                "text/html, application/xhtml+xml;q=0.9, */*;q=0.1",
            )
            .send()
            .await
            .map_err(|e| classify(url, &e, self.cfg.timeout))?;
        // A redirect the client did not follow (its Location is not an http(s) URI, e.g.
        // `file:///etc/passwd`) is a refusal to report as such, not an HTTP error.
        if resp.status().is_redirection() {
            let next = resp
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|loc| resp.url().join(loc).ok());
            if let Some(next) = next.filter(|n| !matches!(n.scheme(), "http" | "https")) {
                return Err(FetchError::Refused {
                    url: url.to_string(),
                    reason: format!("redirect to scheme `{}`", next.scheme()),
                });
            }
        }
        if let Some(ct) = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
        {
            let mime = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if !mime.is_empty() && mime != "text/html" && mime != "application/xhtml+xml" {
                return Err(FetchError::NotHtml {
                    url: url.to_string(),
                    content_type: ct.to_string(),
                });
            }
        }
        self.read(url, resp, self.cfg.max_page_bytes).await
    }

    /// Refuses to contact a host that asked for a pause.
    fn check_paused(&self, url: &str, parsed: &Url) -> Result<(), FetchError> {
        let Some(host) = authority(parsed) else {
            return Ok(());
        };
        let mut map = self.paused.lock().unwrap_or_else(|p| p.into_inner());
        let now = tokio::time::Instant::now();
        match map.get(&host) {
            Some(until) if *until > now => Err(FetchError::HostPaused {
                url: url.to_string(),
                secs: (*until - now).as_secs().max(1),
            }),
            Some(_) => {
                map.remove(&host);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Caps the pause a host may ask for (429/503 with Retry-After) at `max`, which the daemon
    /// sets to `[poll] max_interval`.
    #[must_use]
    pub fn with_max_pause(mut self, max: Duration) -> Fetcher {
        self.max_pause = max;
        self
    }

    /// Remembers a host's request for a pause (429/503 with Retry-After), capped at
    /// `max_pause`.
    fn pause_host(&self, url: &Url, wait: Duration) {
        if let Some(host) = authority(url) {
            let wait = wait.min(self.max_pause);
            let mut map = self.paused.lock().unwrap_or_else(|p| p.into_inner());
            map.insert(host, tokio::time::Instant::now() + wait);
        }
    }

    /// Waits for a slot for this host: at most `per_host_concurrency` requests at once.
    async fn host_permit(&self, url: &Url) -> Option<OwnedSemaphorePermit> {
        let host = url.host_str()?.to_ascii_lowercase();
        let sem = {
            let mut map = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(host)
                .or_insert_with(|| Arc::new(Semaphore::new(self.cfg.per_host_concurrency.max(1))))
                .clone()
        };
        sem.acquire_owned().await.ok()
    }

    async fn read(
        &self,
        url: &str,
        mut resp: reqwest::Response,
        limit: u64,
    ) -> Result<Fetched, FetchError> {
        let status = resp.status();
        let headers = resp.headers().clone();
        if !status.is_success() {
            let retry_after = retry_after(&headers);
            if let (429 | 503, Some(wait)) = (status.as_u16(), retry_after) {
                self.pause_host(resp.url(), wait);
            }
            return Err(FetchError::Status {
                url: url.to_string(),
                status: status.as_u16(),
                retry_after,
            });
        }
        let final_url = resp.url().clone();
        let too_large = || FetchError::TooLarge {
            url: url.to_string(),
            limit,
        };
        if resp.content_length().is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        let mut body =
            // Unknown length (a compressed body is decoded on the fly): room for a typical feed,
            // so that the buffer is not regrown and copied four times.
            Vec::with_capacity(resp.content_length().unwrap_or(128 * 1024).min(limit) as usize);
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if (body.len() + chunk.len()) as u64 > limit {
                        return Err(too_large());
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(classify(url, &e, self.cfg.timeout)),
            }
        }
        let text = |h: header::HeaderName| {
            headers
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        Ok(Fetched {
            url: final_url,
            status: status.as_u16(),
            content_type: text(header::CONTENT_TYPE),
            validators: Conditional {
                etag: text(header::ETAG),
                last_modified: text(header::LAST_MODIFIED),
            },
            max_age: max_age(&headers),
            moved_permanently: false,
            body,
        })
    }

    async fn file(&self, url: &Url, cond: &Conditional) -> Result<FeedResponse, FetchError> {
        let path = url.to_file_path().map_err(|()| FetchError::InvalidUrl {
            url: url.to_string(),
            reason: "not a local file path".into(),
        })?;
        let err = |source| FetchError::File {
            path: path.display().to_string(),
            source,
        };
        let meta = tokio::fs::metadata(&path).await.map_err(err)?;
        let stamp = meta
            .modified()
            .ok()
            .map(|t| chrono::DateTime::<chrono::Utc>::from(t).to_rfc2822());
        if stamp.is_some() && stamp == cond.last_modified {
            return Ok(FeedResponse::NotModified { status: 304 });
        }
        if meta.len() > self.cfg.max_feed_bytes {
            return Err(FetchError::TooLarge {
                url: url.to_string(),
                limit: self.cfg.max_feed_bytes,
            });
        }
        let body = tokio::fs::read(&path).await.map_err(err)?;
        Ok(FeedResponse::Fetched(Box::new(Fetched {
            url: url.clone(),
            status: 200,
            content_type: None,
            validators: Conditional {
                etag: None,
                last_modified: stamp,
            },
            max_age: None,
            moved_permanently: false,
            body,
        })))
    }
}

/// A feed request refused by the address policy. Hop 0 is the feed's own (moved) address;
/// a later hop is named as the redirect it was.
fn refused_hop(url: &str, at: &Url, hop: usize, reason: String) -> FetchError {
    let reason = if hop == 0 {
        reason
    } else {
        format!("redirect to {at}: {reason}")
    };
    FetchError::Refused {
        url: url.to_string(),
        reason,
    }
}

/// The server a URL talks to, `host:port` lower-cased: the unit a Retry-After pause applies to.
fn authority(url: &Url) -> Option<String> {
    let host = url.host_str()?.to_ascii_lowercase();
    Some(match url.port_or_known_default() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    })
}

/// One private function builds every client, so timeouts, compression and the redirect
/// policy are the same everywhere.
fn build_client(
    cfg: &FetchConfig,
    guard: Option<AddressPolicy>,
    hosts: &StaticHosts,
    follow: bool,
) -> Result<reqwest::Client, reqwest::Error> {
    let policy = if !follow {
        redirect::Policy::none()
    } else {
        redirect::Policy::custom(move |attempt| {
            // `previous()` already holds the URL that answered with this redirect, so the
            // first redirect sees one entry: more than MAX_REDIRECTS means one too many.
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(RedirectLimit);
            }
            let url = attempt.url();
            if !matches!(url.scheme(), "http" | "https") {
                let reason = format!("redirect to scheme `{}`", url.scheme());
                return attempt.error(Blocked(reason));
            }
            if let Some(policy) = guard {
                if let Some(reason) = literal_ip_refusal(url, policy) {
                    return attempt.error(Blocked(format!("redirect: {reason}")));
                }
            }
            attempt.follow()
        })
    };
    let mut b = reqwest::Client::builder()
        .user_agent(cfg.user_agent.clone())
        .timeout(cfg.timeout)
        .connect_timeout(cfg.timeout.min(Duration::from_secs(10)))
        .read_timeout(cfg.timeout)
        .redirect(policy)
        .gzip(true)
        .brotli(true)
        .deflate(true)
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(4);
    if guard.is_some() || !hosts.is_empty() {
        b = b.dns_resolver(Arc::new(GuardedResolver {
            policy: guard,
            hosts: hosts.clone(),
        }));
    }
    if guard.is_some() {
        // A proxy would resolve the name itself, out of the guard's sight.
        b = b.no_proxy();
    }
    b.build()
}

/// `Retry-After` as seconds or an HTTP date.
pub fn retry_after(h: &HeaderMap) -> Option<Duration> {
    let v = h.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let secs = when.timestamp() - chrono::Utc::now().timestamp();
    Some(Duration::from_secs(secs.max(0) as u64))
}

/// `Cache-Control: max-age` (or `s-maxage`), else `Expires`, as a duration from now.
fn max_age(h: &HeaderMap) -> Option<Duration> {
    if let Some(cc) = h.get(header::CACHE_CONTROL).and_then(|v| v.to_str().ok()) {
        for part in cc.split(',') {
            let part = part.trim();
            if let Some(v) = part
                .strip_prefix("max-age=")
                .or_else(|| part.strip_prefix("s-maxage="))
            {
                if let Ok(s) = v.trim_matches('"').parse::<u64>() {
                    return Some(Duration::from_secs(s));
                }
            }
        }
    }
    let exp = h.get(header::EXPIRES)?.to_str().ok()?;
    let when = chrono::DateTime::parse_from_rfc2822(exp).ok()?;
    let secs = when.timestamp() - chrono::Utc::now().timestamp();
    (secs > 0).then(|| Duration::from_secs(secs as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_headers() {
        let mut h = HeaderMap::new();
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("120"));
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        );
        assert_eq!(retry_after(&h), Some(Duration::from_secs(120)));
        assert_eq!(max_age(&h), Some(Duration::from_secs(300)));
    }

    /// How long `check_paused` refuses `url`'s host: the seconds it reports, or None once
    /// the host may be contacted.
    fn paused_for(f: &Fetcher, url: &str) -> Option<u64> {
        let parsed = Url::parse(url).expect("url");
        match f.check_paused(url, &parsed) {
            Ok(()) => None,
            Err(FetchError::HostPaused { secs, .. }) => Some(secs),
            Err(e) => panic!("unexpected {e}"),
        }
    }

    /// A 503 answered from `url` with `Retry-After: {secs}`, read as a fetch reads it.
    async fn refused(f: &Fetcher, url: &str, secs: u64) -> FetchError {
        use reqwest::ResponseBuilderExt;
        let resp = http::Response::builder()
            .status(503)
            .header(header::RETRY_AFTER, secs.to_string())
            .url(Url::parse(url).expect("url"))
            .body("busy")
            .expect("response");
        match f.read(url, reqwest::Response::from(resp), 1024).await {
            Err(e) => e,
            Ok(_) => panic!("a 503 is an error"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_pauses_the_whole_host_until_it_has_passed() {
        let f = Fetcher::new(&FetchConfig::default()).expect("client");
        let e = refused(&f, "http://busy.test/feed", 120).await;
        assert!(
            matches!(e, FetchError::Status { status: 503, retry_after: Some(d), .. } if d.as_secs() == 120)
        );
        // Another feed on the same host waits too; another host does not.
        assert_eq!(paused_for(&f, "http://busy.test/other"), Some(120));
        assert_eq!(paused_for(&f, "http://calm.test/feed"), None);
        tokio::time::advance(Duration::from_secs(119)).await;
        assert_eq!(paused_for(&f, "http://busy.test/other"), Some(1));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(paused_for(&f, "http://busy.test/other"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_host_pause_is_capped_at_max_pause() {
        let f = Fetcher::new(&FetchConfig::default())
            .expect("client")
            .with_max_pause(Duration::from_secs(60));
        refused(&f, "http://busy.test/feed", 86_400).await;
        assert_eq!(paused_for(&f, "http://busy.test/feed"), Some(60));
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(paused_for(&f, "http://busy.test/feed"), None);
    }
}
