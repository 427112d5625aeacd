//! Builds a running sink from its `[[sinks]]` spec ([`SinkSpec`], plain data in `config`):
//! the webhook's HTTP client (timeout, no redirects) and its signing secret, read now.

use std::fmt;
use std::path::Path;

use super::SinkError;
use crate::config::sink::{SinkKind, SinkSpec};

/// A signing secret. Debug never shows it.
#[derive(Clone)]
pub(crate) struct Secret(pub(crate) Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Reads the sink's secret, if it has one. Read at start-up and reload only, never kept in
/// the config, never logged.
pub(crate) fn read_secret(s: &SinkSpec) -> Result<Option<Secret>, SinkError> {
    let raw = if let Some(path) = &s.secret_file {
        let text = std::fs::read(path).map_err(|source| SinkError::ReadSecret {
            sink: s.name.clone(),
            path: path.clone(),
            source,
        })?;
        warn_if_readable_by_others(&s.name, path);
        text
    } else if let Some(var) = &s.secret_env {
        std::env::var_os(var)
            .map(|v| v.into_encoded_bytes())
            .ok_or_else(|| SinkError::Config {
                sink: s.name.clone(),
                message: format!("environment variable {var} (secret_env) is not set"),
            })?
    } else {
        return Ok(None);
    };
    let end = raw
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |p| p + 1);
    if end == 0 {
        return Err(SinkError::Config {
            sink: s.name.clone(),
            message: "the signing secret is empty".into(),
        });
    }
    Ok(Some(Secret(raw[..end].to_vec())))
}

#[cfg(unix)]
fn warn_if_readable_by_others(sink: &str, path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(path) {
        if m.permissions().mode() & 0o007 != 0 {
            tracing::warn!(sink, path = %path.display(), "the sink's secret file is readable by other users; chmod o-rwx it");
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_sink: &str, _path: &Path) {}

/// Where a built sink sends alerts.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Webhook {
        client: reqwest::Client,
        url: String,
        secret: Option<Secret>,
    },
    Exec {
        argv: Vec<String>,
        /// Environment variables removed from the child: other sinks' `secret_env`.
        hide_env: Vec<String>,
    },
}

/// A sink ready to deliver: the spec plus what was built from it.
#[derive(Debug, Clone)]
pub struct Sink {
    pub(crate) spec: SinkSpec,
    pub(crate) target: Target,
}

impl Sink {
    /// Builds one sink: the HTTP client for a webhook (timeout, no redirects), the secret
    /// read now. `hide_env` lists environment variables an exec child must not inherit.
    ///
    /// # Errors
    /// When the spec is incomplete, the secret cannot be read, or the client cannot be built.
    pub fn build(spec: &SinkSpec, hide_env: &[String]) -> Result<Sink, SinkError> {
        let cfg_err = |message: &str| SinkError::Config {
            sink: spec.name.clone(),
            message: message.to_string(),
        };
        let target = match spec.kind {
            SinkKind::Webhook => {
                let url = spec.url.clone().ok_or_else(|| cfg_err("needs `url`"))?;
                let client = reqwest::Client::builder()
                    .timeout(spec.timeout())
                    .redirect(reqwest::redirect::Policy::none())
                    .user_agent(concat!("feedwatch/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|source| SinkError::BuildClient {
                        sink: spec.name.clone(),
                        source,
                    })?;
                Target::Webhook {
                    client,
                    url,
                    secret: read_secret(spec)?,
                }
            }
            SinkKind::Exec => {
                let argv = spec
                    .command
                    .clone()
                    .filter(|c| c.first().is_some_and(|p| !p.is_empty()))
                    .ok_or_else(|| cfg_err("needs `command`"))?;
                Target::Exec {
                    argv,
                    hide_env: hide_env.to_vec(),
                }
            }
        };
        Ok(Sink {
            spec: spec.clone(),
            target,
        })
    }

    /// The sink's configured name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(toml_text: &str) -> SinkSpec {
        toml::from_str(toml_text).expect("spec parses")
    }

    #[test]
    fn secret_file_is_trimmed_and_never_printed() {
        let d = tempfile::tempdir().expect("tmp");
        let f = d.path().join("s");
        std::fs::write(&f, "hunter2\n").expect("write");
        let mut s = spec("name = \"w\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:1/\"\n");
        s.secret_file = Some(f);
        let secret = read_secret(&s).expect("read").expect("some");
        assert_eq!(secret.0, b"hunter2");
        let built = Sink::build(&s, &[]).expect("build");
        assert!(!format!("{built:?}").contains("hunter2"));
    }
}
