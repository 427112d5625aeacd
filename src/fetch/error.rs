//! What can go wrong in a download, and how reqwest's errors are told apart.

use std::time::Duration;

use super::policy::Blocked;
use super::MAX_REDIRECTS;

/// Why a download failed. Each message names the URL and says what happened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The URL does not parse, or its scheme is not one we fetch.
    #[error("{url}: invalid URL: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The address policy refused the host (private address, or a redirect off-host).
    #[error("{url}: refused: {reason}")]
    Refused {
        /// The URL refused.
        url: String,
        /// Which rule refused it.
        reason: String,
    },
    /// No complete response within `[fetch] timeout`.
    #[error("{url}: timed out after {secs}s")]
    Timeout {
        /// The URL requested.
        url: String,
        /// The timeout that ran out.
        secs: u64,
    },
    /// DNS, TCP or TLS failed before a response.
    #[error("{url}: cannot connect: {reason}")]
    Connect {
        /// The URL requested.
        url: String,
        /// The underlying error, as text.
        reason: String,
    },
    /// The server answered with an error status.
    #[error("{url}: HTTP {status}")]
    Status {
        /// The URL requested.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The server's Retry-After, when it sent one.
        retry_after: Option<Duration>,
    },
    /// A Retry-After from this host is still running; no request was sent.
    #[error("{url}: the host asked for a pause (Retry-After); {secs}s left, not contacting it")]
    HostPaused {
        /// The URL not requested.
        url: String,
        /// Seconds left of the pause.
        secs: u64,
    },
    /// The body grew past its size limit; the download was stopped.
    #[error("{url}: larger than the {limit}-byte limit")]
    TooLarge {
        /// The URL requested.
        url: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// The redirect chain was longer than we follow.
    #[error("{url}: more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects {
        /// The URL first requested.
        url: String,
    },
    /// An article link answered with something other than HTML.
    #[error("{url}: not an HTML page (Content-Type {content_type})")]
    NotHtml {
        /// The URL requested.
        url: String,
        /// The Content-Type the server sent.
        content_type: String,
    },
    /// The connection broke while the body was read.
    #[error("{url}: reading the response failed: {reason}")]
    ReadBody {
        /// The URL requested.
        url: String,
        /// The underlying error, as text.
        reason: String,
    },
    /// A `file://` or path feed could not be read.
    #[error("{path}: cannot read feed file: {source}")]
    File {
        /// The file's path.
        path: String,
        /// What the file system said.
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
