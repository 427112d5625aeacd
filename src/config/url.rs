//! The one feed-URL policy: what a feed URL may name, depending on who wrote it.
//!
//! The config loader, `feeds add`, `feeds remove` and OPML import all check and normalise
//! feed URLs here, so they cannot drift apart again (two copies once did: one kept the
//! fragment, and neither refused `javascript:` written without `//`, which became a local
//! path).
//!
//! Policy:
//! - a URL from a stranger (an OPML file) or typed on the command line (`feeds add`) must be
//!   `http` or `https`: a feed URL from an untrusted file must never become a local file read;
//! - the config file is the operator's own, so there a `file://` URL or a plain path (a feed
//!   dropped on disk, relative to the config's folder) is accepted too;
//! - every other scheme (`javascript:`, `data:`, `mailto:`, `ftp:`, …) is refused.
//!
//! A string counts as a URL when it starts with a scheme of two or more characters and a
//! colon (RFC 3986); anything else is a path. A local file whose name holds a colon is
//! written `./name:with:colons.xml`.

use std::path::Path;

use super::clip;

/// Longest feed URL accepted. Browsers and servers commonly stop near 8 KiB; real feed URLs
/// are under 200 bytes. The bound keeps a hostile OPML file from storing megabyte URLs.
pub const MAX_URL_BYTES: usize = 4096;

/// Who wrote a feed URL, which decides what it may name.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    /// The config file, written by the operator: `http(s)://`, `file://` or a path, relative
    /// to `base` (the config file's folder).
    ConfigFile {
        /// The config file's folder; relative paths are read from it.
        base: &'a Path,
    },
    /// The command line (`feeds add`) or an OPML file: `http` and `https` only.
    Remote,
}

/// Why a feed URL is refused. Every message names the input (clipped when long).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FeedUrlError {
    /// Nothing but whitespace.
    #[error("feed URL is empty")]
    Empty,
    /// Longer than [`MAX_URL_BYTES`].
    #[error("feed URL {url} is {len} bytes long; the limit is {MAX_URL_BYTES}")]
    TooLong {
        /// The URL, clipped for the message.
        url: String,
        /// Its length in bytes.
        len: usize,
    },
    /// Not parseable as a URL.
    #[error("invalid URL {url}: {reason}")]
    Invalid {
        /// The URL, clipped for the message.
        url: String,
        /// What the parser said.
        reason: String,
    },
    /// A scheme feedwatch never fetches.
    #[error("unsupported scheme `{scheme}` in {url}; use {allowed}")]
    Scheme {
        /// The URL, clipped for the message.
        url: String,
        /// The scheme found.
        scheme: String,
        /// The schemes this origin accepts.
        allowed: &'static str,
    },
    /// A local file named from the command line or an OPML file.
    #[error(
        "{url} names a local file; only http and https feeds can be added from the command \
         line or an OPML file (to watch a file on disk, write it in the config file)"
    )]
    Local {
        /// The URL, clipped for the message.
        url: String,
    },
    /// A `file://` URL or path that is not a usable local path.
    #[error("{url} is not a usable local path: {reason}")]
    BadPath {
        /// The URL, clipped for the message.
        url: String,
        /// Why it is unusable.
        reason: String,
    },
}

/// Checks a feed URL under `origin`'s policy and returns it as the config stores it: http(s)
/// URLs normalised by the `url` crate (scheme and host lower-cased, default port dropped),
/// paths made absolute `file://` URLs. The fragment is dropped: it never reaches the server,
/// so it cannot name a different feed.
///
/// # Errors
/// See [`FeedUrlError`].
pub fn check(raw: &str, origin: Origin<'_>) -> Result<String, FeedUrlError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(FeedUrlError::Empty);
    }
    if raw.len() > MAX_URL_BYTES {
        return Err(FeedUrlError::TooLong {
            url: shown(raw),
            len: raw.len(),
        });
    }
    let allowed = match origin {
        Origin::ConfigFile { .. } => "http, https, file or a local path",
        Origin::Remote => "http or https",
    };
    let Some(scheme) = scheme_of(raw) else {
        return match origin {
            Origin::ConfigFile { base } => from_path(raw, base),
            Origin::Remote => Err(FeedUrlError::Local { url: shown(raw) }),
        };
    };
    let scheme = scheme.to_ascii_lowercase();
    match (scheme.as_str(), origin) {
        ("http" | "https", _) => {
            let mut url = parse(raw)?;
            if url.host_str().is_none_or(str::is_empty) {
                return Err(FeedUrlError::Invalid {
                    url: shown(raw),
                    reason: "no host".into(),
                });
            }
            url.set_fragment(None);
            Ok(url.to_string())
        }
        ("file", Origin::ConfigFile { .. }) => {
            let mut url = parse(raw)?;
            url.to_file_path().map_err(|()| FeedUrlError::BadPath {
                url: shown(raw),
                reason: "a file URL must name a path on this machine (file:///path)".into(),
            })?;
            url.set_fragment(None);
            Ok(url.to_string())
        }
        ("file", Origin::Remote) => Err(FeedUrlError::Local { url: shown(raw) }),
        _ => Err(FeedUrlError::Scheme {
            url: shown(raw),
            scheme: clip(&scheme, 32).into_owned(),
            allowed,
        }),
    }
}

/// The input as it appears in messages: quoted, and clipped so a huge input is not echoed.
fn shown(raw: &str) -> String {
    format!("{:?}", clip(raw, 200))
}

fn parse(raw: &str) -> Result<url::Url, FeedUrlError> {
    url::Url::parse(raw).map_err(|e| FeedUrlError::Invalid {
        url: shown(raw),
        reason: e.to_string(),
    })
}

/// The scheme when `raw` starts like a URL (`ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"`).
/// One letter is not a scheme here: `c:` would be a drive, not a protocol.
fn scheme_of(raw: &str) -> Option<&str> {
    let (scheme, _) = raw.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (scheme.len() >= 2
        && first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

fn from_path(raw: &str, base: &Path) -> Result<String, FeedUrlError> {
    let bad = |reason: String| FeedUrlError::BadPath {
        url: shown(raw),
        reason,
    };
    let p = std::path::absolute(base.join(raw)).map_err(|e| bad(e.to_string()))?;
    url::Url::from_file_path(&p)
        .map(|u| u.to_string())
        .map_err(|()| bad(format!("cannot make a file URL of {}", p.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(raw: &str) -> Result<String, FeedUrlError> {
        check(
            raw,
            Origin::ConfigFile {
                base: Path::new("/etc/feedwatch"),
            },
        )
    }

    fn remote(raw: &str) -> Result<String, FeedUrlError> {
        check(raw, Origin::Remote)
    }

    #[test]
    fn http_is_normalised_the_same_from_every_origin() {
        for f in [config, remote] {
            assert_eq!(
                f(" HTTPS://Example.COM:443/a?x=1#frag ").as_deref(),
                Ok("https://example.com/a?x=1")
            );
            assert_eq!(
                f("http://example.com").as_deref(),
                Ok("http://example.com/")
            );
        }
    }

    #[test]
    fn dangerous_schemes_are_refused_everywhere() {
        for raw in [
            "javascript:alert(1)",
            "data:text/xml,<rss/>",
            "mailto:ops@example.com",
            "ftp://example.com/feed",
            "gopher://example.com/",
            "JavaScript:alert(1)",
        ] {
            for f in [config, remote] {
                let e = f(raw).expect_err(raw);
                assert!(matches!(e, FeedUrlError::Scheme { .. }), "{raw}: {e:?}");
                assert!(e.to_string().contains("unsupported scheme"), "{e}");
            }
        }
    }

    #[test]
    fn local_files_only_from_the_config_file() {
        assert_eq!(
            config("feeds/local.xml").as_deref(),
            Ok("file:///etc/feedwatch/feeds/local.xml")
        );
        assert_eq!(config("/etc/passwd").as_deref(), Ok("file:///etc/passwd"));
        assert_eq!(
            config("file:///var/feeds/x.xml").as_deref(),
            Ok("file:///var/feeds/x.xml")
        );
        assert_eq!(
            config("./odd:name.xml").as_deref(),
            Ok("file:///etc/feedwatch/odd:name.xml")
        );
        for raw in [
            "/etc/shadow",
            "file:///etc/passwd",
            "feeds/local.xml",
            "./x",
        ] {
            let e = remote(raw).expect_err(raw);
            assert!(matches!(e, FeedUrlError::Local { .. }), "{raw}: {e:?}");
            assert!(e.to_string().contains(raw), "names the input: {e}");
        }
        assert!(matches!(
            config("file://otherhost/x.xml"),
            Err(FeedUrlError::BadPath { .. })
        ));
    }

    #[test]
    fn empty_hostless_and_huge_inputs() {
        assert_eq!(config("   "), Err(FeedUrlError::Empty));
        assert!(remote("https://").is_err());
        let huge = format!("https://example.com/{}", "a".repeat(MAX_URL_BYTES));
        let e = remote(&huge).expect_err("too long");
        assert!(
            e.to_string().len() < 600,
            "clipped: {} bytes",
            e.to_string().len()
        );
        let long_scheme = format!("{}:x", "z".repeat(MAX_URL_BYTES - 10));
        let e = remote(&long_scheme).expect_err("bad scheme");
        assert!(matches!(e, FeedUrlError::Scheme { .. }), "{e:?}");
        assert!(e.to_string().len() < 600, "{e}");
    }
}
