//! `[[sinks]]` config: plain data ([`SinkSpec`]) and its checks ([`check_specs`]).
//! `crate::sink` builds a running sink from a spec (HTTP client built, secret read).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::digest::{DigestFormat, DigestSchedule};
use super::limits;
use crate::rules::Severity;

/// Default limit for one webhook request (connect, headers, body).
pub const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// Default limit for one exec run: sending mail or a chat message can be slow.
pub const DEFAULT_EXEC_TIMEOUT: Duration = Duration::from_secs(30);
/// Default delay before the first retry; doubles with each consecutive failure.
pub const DEFAULT_RETRY_INITIAL: Duration = Duration::from_secs(10);
/// Default cap on the delay between retries.
pub const DEFAULT_RETRY_MAX: Duration = Duration::from_secs(3600);

/// How a sink delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    /// HTTP POST of the alert JSON.
    Webhook,
    /// Runs a command with the alert JSON on stdin.
    Exec,
}

/// One `[[sinks]]` table, as written. Checked by [`check_specs`]; built by
/// `crate::sink::Sink::build`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkSpec {
    /// Identity in the outbox and in `status`: renaming a sink makes a new one (which starts
    /// with alerts created from then on).
    pub name: String,
    /// `webhook` or `exec`.
    #[serde(rename = "type")]
    pub kind: SinkKind,
    /// Webhook: the http(s) URL alerts are POSTed to. Redirects are not followed.
    #[serde(default)]
    pub url: Option<String>,
    /// Exec: program and arguments (no shell); the alert JSON arrives on stdin.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// Limit for one delivery [default: 10s for webhook, 30s for exec]. An exec command still
    /// running then is killed.
    #[serde(default, deserialize_with = "opt_duration")]
    pub timeout: Option<Duration>,
    /// Only alerts of this severity or higher.
    #[serde(default)]
    pub min_severity: Option<Severity>,
    /// Only alerts of these rules; empty means every rule.
    #[serde(default)]
    pub rules: Vec<String>,
    /// Webhook: file holding the HMAC-SHA256 signing secret (trailing newline ignored).
    /// Relative paths are resolved against the config file's folder by [`check_specs`].
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// Webhook: environment variable holding the signing secret.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// Delay before the first retry; doubles per consecutive failure, with jitter.
    #[serde(default = "retry_initial", deserialize_with = "duration")]
    pub retry_initial: Duration,
    /// Cap on the delay between retries.
    #[serde(default = "retry_max", deserialize_with = "duration")]
    pub retry_max: Duration,
    /// A digest schedule (`"daily 07:00"`, `"hourly :15"`, `"weekly mon 07:00"`, UTC): the
    /// sink then sends one digest per period instead of each alert. Checked (parsed) by
    /// [`check_specs`]; read with [`SinkSpec::digest_schedule`].
    #[serde(default)]
    pub digest: Option<String>,
    /// The digest's format, as `feedwatch digest --format` [default: json].
    #[serde(default)]
    pub digest_format: Option<DigestFormat>,
}

fn retry_initial() -> Duration {
    DEFAULT_RETRY_INITIAL
}

fn retry_max() -> Duration {
    DEFAULT_RETRY_MAX
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    super::duration(d)
}

fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    super::opt_duration(d)
}

impl SinkSpec {
    /// The delivery time limit in force.
    pub fn timeout(&self) -> Duration {
        self.timeout.unwrap_or(match self.kind {
            SinkKind::Webhook => DEFAULT_WEBHOOK_TIMEOUT,
            SinkKind::Exec => DEFAULT_EXEC_TIMEOUT,
        })
    }

    /// The digest schedule, when the sink sends digests. A schedule that does not parse
    /// counts as none: [`check_specs`] refuses it before any sink is built.
    pub fn digest_schedule(&self) -> Option<DigestSchedule> {
        self.digest
            .as_deref()
            .and_then(|d| DigestSchedule::parse(d).ok())
    }

    /// Whether this sink wants an alert of `rule` at `severity`.
    pub fn accepts(&self, rule: &str, severity: Severity) -> bool {
        if !self.rules.is_empty() && !self.rules.iter().any(|r| r == rule) {
            return false;
        }
        self.min_severity.is_none_or(|min| severity >= min)
    }
}

/// One problem in `[[sinks]]`: which sink (its place in the list given), which field, and
/// what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecProblem {
    /// Index of the sink in the slice given to [`check_specs`].
    pub index: usize,
    /// The field the problem is about (`url`, `command`, …).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl SpecProblem {
    /// The dotted key, `sinks[1].url`.
    pub fn key(&self) -> String {
        format!("sinks[{}].{}", self.index, self.field)
    }
}

impl fmt::Display for SpecProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key `{}`: {}", self.key(), self.message)
    }
}

/// Checks every sink (and resolves relative `secret_file` paths against `base`, the config
/// file's folder), returning every problem found: names unique and simple, the fields of
/// the sink's type present and no others, known rule names, a secret file that exists (it
/// is read when the sinks start).
pub fn check_specs(specs: &mut [SinkSpec], base: &Path, rule_names: &[&str]) -> Vec<SpecProblem> {
    let mut out = Vec::new();
    for i in 0..specs.len() {
        if let Some(p) = specs[i].secret_file.as_mut().filter(|p| p.is_relative()) {
            *p = base.join(&*p);
        }
        let mut problem = |field: &str, message: String| {
            out.push(SpecProblem {
                index: i,
                field: field.to_string(),
                message,
            })
        };
        let (earlier, s) = (&specs[..i], &specs[i]);
        check_name(s, earlier, &mut problem);
        match s.kind {
            SinkKind::Webhook => check_webhook(s, &mut problem),
            SinkKind::Exec => check_exec(s, &mut problem),
        }
        for r in &s.rules {
            if !rule_names.contains(&r.as_str()) {
                problem("rules", format!("no rule named `{r}`"));
            }
        }
        check_timing(s, &mut problem);
        check_secret_file(s, &mut problem);
        check_digest(s, &mut problem);
    }
    out
}

/// Reports a problem with one field of the sink being checked.
type Report<'a> = dyn FnMut(&str, String) + 'a;

/// A name that is simple (it appears in metrics labels and `sinks retry NAME`) and unique.
fn check_name(s: &SinkSpec, earlier: &[SinkSpec], problem: &mut Report<'_>) {
    let name_ok = !s.name.is_empty()
        && s.name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !name_ok {
        problem(
            "name",
            format!(
                "sink name {:?} must be non-empty letters, digits, '-', '_' or '.'",
                s.name
            ),
        );
    }
    if earlier.iter().any(|o| o.name == s.name) {
        problem("name", format!("sink `{}` is defined twice", s.name));
    }
}

/// A webhook needs an http(s) URL, takes no command, and at most one secret source.
fn check_webhook(s: &SinkSpec, problem: &mut Report<'_>) {
    match s.url.as_deref().map(url::Url::parse) {
        None => problem("url", format!("webhook sink `{}` needs `url`", s.name)),
        Some(Err(e)) => problem("url", format!("invalid URL: {e}")),
        Some(Ok(u)) if !matches!(u.scheme(), "http" | "https") => problem(
            "url",
            format!("scheme `{}` is not http or https", u.scheme()),
        ),
        Some(Ok(_)) => {}
    }
    if s.command.is_some() {
        problem("command", "`command` is for exec sinks".into());
    }
    if s.secret_file.is_some() && s.secret_env.is_some() {
        problem(
            "secret_env",
            "give `secret_file` or `secret_env`, not both".into(),
        );
    }
}

/// An exec sink needs a runnable command and takes none of the webhook's fields.
fn check_exec(s: &SinkSpec, problem: &mut Report<'_>) {
    if let Some(why) = bad_command(s.command.as_deref()) {
        problem(
            "command",
            format!(
                "exec sink `{}` {why}; write `command = [\"/path/to/program\", ...]`",
                s.name
            ),
        );
    }
    for (field, set) in [
        ("url", s.url.is_some()),
        ("secret_file", s.secret_file.is_some()),
        ("secret_env", s.secret_env.is_some()),
    ] {
        if set {
            problem(field, format!("`{field}` is for webhook sinks"));
        }
    }
}

/// Timeout and retry waits within their bounds, the first retry no longer than the cap.
fn check_timing(s: &SinkSpec, problem: &mut Report<'_>) {
    for (field, bound, value) in [
        ("timeout", &limits::SINK_TIMEOUT, s.timeout),
        (
            "retry_initial",
            &limits::SINK_RETRY_INITIAL,
            Some(s.retry_initial),
        ),
        ("retry_max", &limits::SINK_RETRY_MAX, Some(s.retry_max)),
    ] {
        if let Some(Err(m)) = value.map(|v| bound.check(v)) {
            problem(field, m);
        }
    }
    if s.retry_max < s.retry_initial {
        problem(
            "retry_initial",
            "must not be longer than `retry_max`".into(),
        );
    }
}

/// A digest schedule that parses; a digest sink takes no alert filters (its digest covers
/// every alert of the window, as `feedwatch digest` does), and a format needs a schedule.
fn check_digest(s: &SinkSpec, problem: &mut Report<'_>) {
    let Some(text) = &s.digest else {
        if s.digest_format.is_some() {
            problem(
                "digest_format",
                "`digest_format` needs a `digest` schedule".into(),
            );
        }
        return;
    };
    if let Err(e) = DigestSchedule::parse(text) {
        problem("digest", e.to_string());
    }
    for (field, set) in [
        ("rules", !s.rules.is_empty()),
        ("min_severity", s.min_severity.is_some()),
    ] {
        if set {
            problem(
                field,
                format!(
                    "a digest sink sends every alert of its period; `{field}` is for alert sinks"
                ),
            );
        }
    }
}

/// Only what any user can see is checked here: `config check` and `status` run as people
/// who may not read the daemon's secret (mode 0600) nor have its environment. The secret
/// itself is read when the sinks start (`crate::sink::Sink::build`).
fn check_secret_file(s: &SinkSpec, problem: &mut Report<'_>) {
    let Some(p) = &s.secret_file else { return };
    match std::fs::metadata(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => problem(
            "secret_file",
            format!(
                "sink `{}`: secret file {} does not exist",
                s.name,
                p.display()
            ),
        ),
        Ok(m) if !m.is_file() => problem(
            "secret_file",
            format!("sink `{}`: {} is not a file", s.name, p.display()),
        ),
        _ => {}
    }
}

/// Why an exec sink's `command` cannot run, if it cannot: missing, empty, a blank program,
/// a NUL byte (no program can receive one), or an absolute program path that does not exist.
fn bad_command(command: Option<&[String]>) -> Option<String> {
    let Some(command) = command else {
        return Some("has no `command`".into());
    };
    let Some(program) = command.first() else {
        return Some("has an empty `command`".into());
    };
    if program.trim().is_empty() {
        return Some("has a blank program name".into());
    }
    if command.iter().any(|a| a.contains('\0')) {
        return Some("has a NUL byte in `command`".into());
    }
    let path = Path::new(program);
    if path.is_absolute() && !path.exists() {
        return Some(format!(
            "runs {}, which does not exist",
            super::clip(program, super::MAX_ECHO_CHARS)
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(toml_text: &str) -> SinkSpec {
        toml::from_str(toml_text).expect("spec parses")
    }

    #[test]
    fn filters_by_rule_and_severity() {
        let s = spec("name = \"a\"\ntype = \"exec\"\ncommand = [\"cat\"]\nmin_severity = \"high\"\nrules = [\"r1\"]\n");
        assert!(s.accepts("r1", Severity::High));
        assert!(s.accepts("r1", Severity::Critical));
        assert!(!s.accepts("r1", Severity::Medium));
        assert!(!s.accepts("r2", Severity::Critical));
        assert!(
            s.accepts("r1", Severity::from_stored("weird")),
            "unknown stored severities pass"
        );
        let all = spec("name = \"b\"\ntype = \"exec\"\ncommand = [\"cat\"]\n");
        assert!(all.accepts("anything", Severity::Info));
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let d = tempfile::tempdir().expect("tmp");
        let mut specs: Vec<SinkSpec> = vec![
            spec("name = \"w\"\ntype = \"webhook\"\nsecret_file = \"missing.secret\"\nrules = [\"nope\"]\n"),
            spec("name = \"w\"\ntype = \"exec\"\nurl = \"http://x/\"\ncommand = []\n"),
        ];
        let p = check_specs(&mut specs, d.path(), &["r1"]);
        let keys: Vec<String> = p.iter().map(SpecProblem::key).collect();
        assert_eq!(
            keys,
            [
                "sinks[0].url",
                "sinks[0].rules",
                "sinks[0].secret_file",
                "sinks[1].name",
                "sinks[1].command",
                "sinks[1].url"
            ],
            "{p:?}"
        );
        assert!(p[2].message.contains("sink `w`"), "{}", p[2]);
        assert_eq!(
            specs[0].secret_file.as_deref(),
            Some(d.path().join("missing.secret").as_path())
        );
    }

    #[test]
    fn commands_and_durations_are_held_to_their_bounds() {
        let d = tempfile::tempdir().expect("tmp");
        let mut specs: Vec<SinkSpec> = vec![
            spec("name = \"a\"\ntype = \"exec\"\ncommand = [\"  \"]\ntimeout = \"0s\"\n"),
            spec("name = \"b\"\ntype = \"exec\"\ncommand = [\"/no/such/program\"]\nretry_initial = \"1ms\"\nretry_max = \"30days\"\n"),
            spec("name = \"c\"\ntype = \"webhook\"\nurl = \"https://h/\"\ntimeout = \"1h\"\nretry_initial = \"2h\"\nretry_max = \"1h\"\n"),
            spec("name = \"ok\"\ntype = \"exec\"\ncommand = [\"cat\"]\ntimeout = \"1s\"\nretry_initial = \"100ms\"\nretry_max = \"100ms\"\n"),
        ];
        let p = check_specs(&mut specs, d.path(), &[]);
        let keys: Vec<String> = p.iter().map(SpecProblem::key).collect();
        assert_eq!(
            keys,
            [
                "sinks[0].command",
                "sinks[0].timeout",
                "sinks[1].command",
                "sinks[1].retry_initial",
                "sinks[1].retry_max",
                "sinks[2].timeout",
                "sinks[2].retry_initial",
                "sinks[2].retry_initial",
            ],
            "{p:?}"
        );
        assert!(p[0].message.contains("blank program"), "{}", p[0]);
        assert!(p[2].message.contains("does not exist"), "{}", p[2]);
        assert!(p[1].message.contains("between 1s and 10m"), "{}", p[1]);
    }

    #[test]
    fn unknown_keys_and_bad_durations_are_refused() {
        let e = toml::from_str::<SinkSpec>(
            "name = \"a\"\ntype = \"exec\"\ncommand = [\"x\"]\nsecret = \"s\"\n",
        );
        assert!(e.is_err());
        let e = toml::from_str::<SinkSpec>(
            "name = \"a\"\ntype = \"exec\"\ncommand = [\"x\"]\ntimeout = \"soon\"\n",
        )
        .expect_err("bad duration");
        assert!(e.to_string().contains("invalid duration"), "{e}");
    }
}
