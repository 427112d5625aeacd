//! One delivery attempt of one alert to one sink, and what its result means.
//!
//! *Whether* to retry ([`classify`]) is kept apart from the retry loop (`worker`), so the
//! policy reads in one place and is tested on its own.

use std::process::Stdio;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::build::{Secret, Sink, Target};
use crate::config::digest::DigestFormat;
use crate::rules::Severity;
use crate::text::time::rfc3339;

/// Header carrying the alert's stable id, so receivers can drop repeats without parsing.
pub const HEADER_ALERT_ID: &str = "X-Feedwatch-Alert-Id";
/// Header carrying `sha256=<hex HMAC-SHA256 of the body>` when the sink has a secret.
pub const HEADER_SIGNATURE: &str = "X-Feedwatch-Signature";
/// Header carrying a digest's stable id (`digest-<sink>-<period start, RFC 3339>`), the
/// same on every attempt, so receivers can drop a digest sent again after a crash.
pub const HEADER_DIGEST_ID: &str = "X-Feedwatch-Digest-Id";
/// Header carrying the attempt number (1 on the first try).
pub const HEADER_ATTEMPT: &str = "X-Feedwatch-Attempt";
/// How much of a failing response body or exec stderr is kept as the error text.
const ERROR_EXCERPT: usize = 300;

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver took the alert.
    Delivered,
    /// Worth trying again later (5xx, 408, 429, timeout, connection error, exec failure).
    /// `after` is the receiver's own `Retry-After`, when it gave one.
    Retry {
        /// What went wrong, for the outbox and the journal.
        error: String,
        /// The receiver's Retry-After, when given.
        after: Option<Duration>,
    },
    /// The receiver refused this alert for good (a 4xx other than 408/429, or a redirect):
    /// the same request would be refused again, so it is recorded, not retried.
    Reject {
        /// What the receiver answered, for the outbox and the journal.
        error: String,
    },
}

/// The meaning of an HTTP status for a webhook delivery.
///
/// 2xx delivered. 408 and 429 are the receiver asking to come back later, and 5xx is the
/// receiver's own trouble: both retried. Any other 4xx says this request is wrong (bad
/// signature, unknown path, payload refused): retrying the same bytes cannot help, so the
/// alert is rejected and shown in `status` until an operator retries it. Redirects are
/// not followed (a POST turned into a GET would lose the alert) and count as a rejection
/// that names the fix.
pub fn classify(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::Delivered,
        300..=399 => Outcome::Reject {
            error: format!(
                "HTTP {status}: redirects are not followed; set `url` to the final address"
            ),
        },
        408 | 429 => Outcome::Retry {
            error: format!("HTTP {status}"),
            after: None,
        },
        400..=499 => Outcome::Reject {
            error: format!("HTTP {status}"),
        },
        _ => Outcome::Retry {
            error: format!("HTTP {status}"),
            after: None,
        },
    }
}

/// `sha256=` and the lowercase hex HMAC-SHA256 of `body` under `secret`: what
/// [`HEADER_SIGNATURE`] carries. Receivers compute the same over the raw body and compare
/// in constant time.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for b in digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Sends `body` (the alert's JSON) to the sink once.
pub(crate) async fn deliver(
    sink: &Sink,
    alert_id: i64,
    attempt: u32,
    rule: &str,
    severity: Severity,
    body: Vec<u8>,
) -> Outcome {
    match &sink.target {
        Target::Webhook {
            client,
            url,
            secret,
        } => {
            let headers = [
                (HEADER_ALERT_ID, alert_id.to_string()),
                (HEADER_ATTEMPT, attempt.to_string()),
            ];
            post(
                client,
                url,
                secret.as_ref(),
                "application/json",
                &headers,
                body,
            )
            .await
        }
        Target::Exec { argv, hide_env } => {
            let mut body = body;
            body.push(b'\n');
            let env = [
                ("FEEDWATCH_SINK", sink.name().to_string()),
                ("FEEDWATCH_ALERT_ID", alert_id.to_string()),
                ("FEEDWATCH_ALERT_RULE", rule.to_string()),
                ("FEEDWATCH_ALERT_SEVERITY", severity.to_string()),
                ("FEEDWATCH_ATTEMPT", attempt.to_string()),
            ];
            exec(argv, hide_env, &env, sink.spec.timeout(), body).await
        }
    }
}

/// One period's digest, rendered, on its way to a sink.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DigestMessage<'a> {
    /// The stable id: `digest-<sink>-<period start, RFC 3339>`.
    pub(crate) id: &'a str,
    /// The window `[from, until)`, Unix seconds.
    pub(crate) from: i64,
    pub(crate) until: i64,
    /// What the body is.
    pub(crate) format: DigestFormat,
}

/// Sends one digest to the sink once: a webhook POST with the format's Content-Type and the
/// id in [`HEADER_DIGEST_ID`] (signed like an alert when there is a secret), or the command
/// with the body on stdin and the id in `FEEDWATCH_DIGEST_ID`. The body goes as rendered,
/// byte for byte what `feedwatch digest` prints.
pub(crate) async fn deliver_digest(
    sink: &Sink,
    msg: DigestMessage<'_>,
    attempt: u32,
    body: Vec<u8>,
) -> Outcome {
    match &sink.target {
        Target::Webhook {
            client,
            url,
            secret,
        } => {
            let headers = [
                (HEADER_DIGEST_ID, msg.id.to_string()),
                (HEADER_ATTEMPT, attempt.to_string()),
            ];
            let ct = msg.format.content_type();
            post(client, url, secret.as_ref(), ct, &headers, body).await
        }
        Target::Exec { argv, hide_env } => {
            let env = [
                ("FEEDWATCH_SINK", sink.name().to_string()),
                ("FEEDWATCH_DIGEST_ID", msg.id.to_string()),
                ("FEEDWATCH_DIGEST_FROM", rfc3339(msg.from)),
                ("FEEDWATCH_DIGEST_UNTIL", rfc3339(msg.until)),
                ("FEEDWATCH_DIGEST_FORMAT", msg.format.as_str().to_string()),
                ("FEEDWATCH_ATTEMPT", attempt.to_string()),
            ];
            exec(argv, hide_env, &env, sink.spec.timeout(), body).await
        }
    }
}

/// POSTs an alert or a digest to a webhook. The URL is the operator's, written in the config, so under
/// the address policy (see `fetch`) it is trusted as written, private or not: a receiver on
/// the same host or the intranet is the usual case. Redirects are never followed (the
/// client has `Policy::none()`, see [`classify`]), so a receiver cannot send the alert, or
/// the request, anywhere the operator did not name.
async fn post(
    client: &reqwest::Client,
    url: &str,
    secret: Option<&Secret>,
    content_type: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Outcome {
    let mut req = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, content_type);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    if let Some(s) = secret {
        req = req.header(HEADER_SIGNATURE, signature(&s.0, &body));
    }
    let resp = match req.body(body).send().await {
        Ok(r) => r,
        Err(e) => {
            return Outcome::Retry {
                error: crate::text::error_chain(&e),
                after: None,
            }
        }
    };
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let outcome = classify(status);
    if outcome == Outcome::Delivered {
        return outcome;
    }
    // The receiver's words help whoever reads `status`; keep a short excerpt.
    let text = resp.text().await.unwrap_or_default();
    let excerpt = excerpt(text.trim());
    let with_body = |error: String| {
        if excerpt.is_empty() {
            error
        } else {
            format!("{error}: {excerpt}")
        }
    };
    match outcome {
        Outcome::Retry { error, .. } => Outcome::Retry {
            error: with_body(error),
            after: retry_after,
        },
        Outcome::Reject { error } => Outcome::Reject {
            error: with_body(error),
        },
        Outcome::Delivered => Outcome::Delivered,
    }
}

/// At most [`ERROR_EXCERPT`] bytes, cut on a character boundary, on one line.
fn excerpt(s: &str) -> String {
    let mut end = s.len().min(ERROR_EXCERPT);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].replace(['\n', '\r'], " ")
}

/// An exec sink's process group, killed as a whole when this is dropped: on timeout, and
/// when the delivery is abandoned at shutdown. Killing only the direct child (what tokio's
/// `kill_on_drop` does) left its own children, a `sleep 300` under a shell, running under
/// init, against the unit's `TasksMax`.
struct ProcessGroup(Option<rustix::process::Pid>);

impl ProcessGroup {
    /// The command's own group: its pid is the group id (`process_group(0)` at spawn).
    fn of(child: &tokio::process::Child) -> ProcessGroup {
        let pid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .and_then(rustix::process::Pid::from_raw);
        ProcessGroup(pid)
    }

    /// The command finished on its own (exited, stdin and stderr closed): whatever it
    /// started in the background on purpose is its business, and once its group is empty the
    /// id may belong to someone else. (While any member lives, Linux keeps the id reserved,
    /// so the kill on timeout cannot hit a stranger.)
    fn release(&mut self) {
        self.0 = None;
    }

    fn kill(&mut self) {
        if let Some(pgid) = self.0.take() {
            // ESRCH: everyone is gone already.
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs the command with `body` (as given) on stdin; exit status 0 is delivered. Anything else is
/// retried: a mail relay or chat API behind the command is usually down for a while, not
/// refusing the alert for good. The command runs in its own process group, and on timeout
/// (or when the delivery is dropped at shutdown) the whole group is killed, so a hung
/// command cannot leave children behind.
async fn exec(
    argv: &[String],
    hide_env: &[String],
    env: &[(&str, String)],
    timeout: Duration,
    body: Vec<u8>,
) -> Outcome {
    let Some((program, args)) = argv.split_first() else {
        return Outcome::Reject {
            error: "empty command".into(),
        };
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    for k in hide_env {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Outcome::Retry {
                error: format!("cannot run {program}: {e}"),
                after: None,
            }
        }
    };
    let mut group = ProcessGroup::of(&child);
    let stdin = child.stdin.take();
    let stderr = child.stderr.take();
    let run = async {
        // Feed stdin and drain stderr while waiting, so a child that writes a lot before
        // reading (or never reads) cannot deadlock against us. A child that exits without
        // reading stdin is its own business: its exit status decides.
        let feed = async {
            if let Some(mut w) = stdin {
                let _ = w.write_all(&body).await;
                let _ = w.shutdown().await;
            }
        };
        let drain = async {
            let mut buf = Vec::new();
            if let Some(r) = stderr {
                let _ = r.take(64 * 1024).read_to_end(&mut buf).await;
            }
            buf
        };
        let ((), err, status) = tokio::join!(feed, drain, child.wait());
        (err, status)
    };
    let finished = tokio::time::timeout(timeout, run).await;
    if finished.is_ok() {
        group.release();
    }
    match finished {
        Ok((_, Ok(st))) if st.success() => Outcome::Delivered,
        Ok((err, Ok(st))) => {
            let err = excerpt(String::from_utf8_lossy(&err).trim());
            Outcome::Retry {
                error: if err.is_empty() {
                    format!("{program}: {st}")
                } else {
                    format!("{program}: {st}: {err}")
                },
                after: None,
            }
        }
        Ok((_, Err(e))) => Outcome::Retry {
            error: format!("{program}: {e}"),
            after: None,
        },
        Err(_) => {
            group.kill();
            // Reaps the child at once (it is already dying from the group kill).
            let _ = child.kill().await;
            Outcome::Retry {
                error: format!(
                    "{program}: timed out after {}",
                    humantime::format_duration(timeout)
                ),
                after: None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_policy() {
        assert_eq!(classify(200), Outcome::Delivered);
        assert_eq!(classify(204), Outcome::Delivered);
        for s in [408, 429, 500, 502, 503] {
            assert!(matches!(classify(s), Outcome::Retry { .. }), "{s}");
        }
        for s in [301, 400, 401, 403, 404, 410, 413, 422] {
            assert!(matches!(classify(s), Outcome::Reject { .. }), "{s}");
        }
    }

    /// RFC 4231 test case 2.
    #[test]
    fn signature_matches_rfc4231() {
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn excerpt_cuts_on_char_boundary() {
        let s = "é".repeat(400);
        let e = excerpt(&s);
        assert!(e.len() <= ERROR_EXCERPT);
        assert!(e.chars().all(|c| c == 'é'));
    }
}
