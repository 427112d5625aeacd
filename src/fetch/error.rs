//! What can go wrong in a download, and how reqwest's errors are told apart.

use std::time::Duration;

use super::policy::Blocked;
use super::MAX_REDIRECTS;

/// Why a download failed. Each message names the URL and says what happened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    #[error("{url}: invalid URL: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("{url}: refused: {reason}")]
    Refused { url: String, reason: String },
    #[error("{url}: timed out after {secs}s")]
    Timeout { url: String, secs: u64 },
    #[error("{url}: cannot connect: {reason}")]
    Connect { url: String, reason: String },
    #[error("{url}: HTTP {status}")]
    Status {
        url: String,
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("{url}: the host asked for a pause (Retry-After); {secs}s left, not contacting it")]
    HostPaused { url: String, secs: u64 },
    #[error("{url}: larger than the {limit}-byte limit")]
    TooLarge { url: String, limit: u64 },
    #[error("{url}: more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects { url: String },
    #[error("{url}: not an HTML page (Content-Type {content_type})")]
    NotHtml { url: String, content_type: String },
    #[error("{url}: reading the response failed: {reason}")]
    ReadBody { url: String, reason: String },
    #[error("{path}: cannot read feed file: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl FetchError {
    /// The HTTP status, when the failure was an HTTP error response.
    pub fn status(&self) -> Option<u16> {
        match self {
            FetchError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether trying again later may succeed (network trouble, overload), as opposed to a
    /// refusal or a permanent answer.
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Timeout { .. }
            | FetchError::Connect { .. }
            | FetchError::ReadBody { .. } => true,
            FetchError::Status { status, .. } => *status == 429 || *status >= 500,
            FetchError::HostPaused { .. } => true,
            _ => false,
        }
    }

    /// A short, stable name of the failure kind (for logs and metrics).
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::InvalidUrl { .. } => "invalid_url",
            FetchError::Refused { .. } => "refused",
            FetchError::Timeout { .. } => "timeout",
            FetchError::Connect { .. } => "connect",
            FetchError::Status { .. } => "http_status",
            FetchError::TooLarge { .. } => "too_large",
            FetchError::HostPaused { .. } => "host_paused",
            FetchError::TooManyRedirects { .. } => "redirects",
            FetchError::NotHtml { .. } => "not_html",
            FetchError::ReadBody { .. } => "read_body",
            FetchError::File { .. } => "file",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("too many redirects")]
pub(super) struct RedirectLimit;

/// Turns a reqwest error into a [`FetchError`], recognising our own refusals in its chain.
pub(super) fn classify(url: &str, e: &reqwest::Error, timeout: Duration) -> FetchError {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        if let Some(b) = s.downcast_ref::<Blocked>() {
            return FetchError::Refused {
                url: url.to_string(),
                reason: b.0.clone(),
            };
        }
        if s.downcast_ref::<RedirectLimit>().is_some() {
            return FetchError::TooManyRedirects {
                url: url.to_string(),
            };
        }
        src = s.source();
    }
    if e.is_timeout() {
        return FetchError::Timeout {
            url: url.to_string(),
            secs: timeout.as_secs(),
        };
    }
    if e.is_connect() {
        return FetchError::Connect {
            url: url.to_string(),
            reason: root_cause(e),
        };
    }
    if e.is_body() || e.is_decode() {
        return FetchError::ReadBody {
            url: url.to_string(),
            reason: root_cause(e),
        };
    }
    FetchError::Connect {
        url: url.to_string(),
        reason: root_cause(e),
    }
}

/// The innermost error message: "Connection refused (os error 111)" says more than
/// "error sending request".
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        last = s.to_string();
        src = s.source();
    }
    last
}
