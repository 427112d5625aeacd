//! The binary under test, run one way everywhere: [`bin`] finds it, [`command`] gives it a
//! clean environment, and [`Daemon`] guards a long-running process (`run`, `alerts
//! --follow`, a `poll --once` to be killed) so that a failed assertion never leaves one
//! behind. [`wait_for`] waits for an event instead of sleeping a fixed time.

use std::ffi::{OsStr, OsString};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub use rustix::process::Signal;

use super::Instance;

/// The binary under test: `$FEEDWATCH_BIN_UNDER_TEST` when set (to run the suites against
/// another build), else the one cargo built with these tests.
pub fn bin() -> PathBuf {
    std::env::var_os("FEEDWATCH_BIN_UNDER_TEST").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_feedwatch")),
        PathBuf::from,
    )
}

/// Variables the binary (or a library it uses) reads, which a developer's shell, CI or a
/// systemd unit running the tests may have set. Every `FEEDWATCH_*` variable is removed too.
/// - `STATE_DIRECTORY`, `LOGS_DIRECTORY`: default paths of the database and the alert log.
/// - `NOTIFY_SOCKET`, `WATCHDOG_USEC`, `WATCHDOG_PID`: service-manager reports (sd-notify).
/// - `LISTEN_FDS`, `LISTEN_PID`, `LISTEN_FDNAMES`: socket activation.
/// - `JOURNAL_STREAM`: sends the log to the journal instead of stderr.
/// - `RUST_LOG`: the log filter when `FEEDWATCH_LOG` is unset.
/// - `*_PROXY`: the webhook sinks' HTTP client honours them (the feed fetcher does not).
pub const CLEARED_ENV: &[&str] = &[
    "STATE_DIRECTORY",
    "LOGS_DIRECTORY",
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
    "JOURNAL_STREAM",
    "RUST_LOG",
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// The binary with `args` and a clean environment (see [`CLEARED_ENV`]); add `.env(..)`
/// after this for what a test sets on purpose.
pub fn command<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> Command {
    let mut cmd = Command::new(bin());
    clean_env(&mut cmd);
    cmd.args(args);
    cmd
}

/// Removes [`CLEARED_ENV`] and every `FEEDWATCH_*` variable from what `cmd` inherits: for a
/// command that runs the binary through another program (a pseudo-terminal's `script`).
pub fn clean_env(cmd: &mut Command) {
    for k in CLEARED_ENV {
        cmd.env_remove(k);
    }
    let ours: Vec<OsString> = std::env::vars_os()
        .map(|(k, _)| k)
        .filter(|k| k.to_string_lossy().starts_with("FEEDWATCH_"))
        .collect();
    for k in ours {
        cmd.env_remove(k);
    }
}

/// Waits until `cond` holds, checking every 20 ms; fails the test naming `what` after
/// `timeout`.
pub async fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Processes spawned by this test binary, for unique output file names.
static SPAWNED: AtomicUsize = AtomicUsize::new(0);

/// A running `feedwatch` process with stdout and stderr in files of its instance's folder.
/// Dropping it kills (SIGKILL) and reaps the process, so a failed assertion leaves nothing
/// running.
pub struct Daemon {
    child: Child,
    /// Set once the process has been reaped.
    exited: Option<ExitStatus>,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Daemon {
    /// `feedwatch --config <inst> run <extra_args>`.
    pub fn start(inst: &Instance, extra_args: &[&str]) -> Daemon {
        let args: Vec<&str> = std::iter::once("run")
            .chain(extra_args.iter().copied())
            .collect();
        Daemon::spawn(inst, &args)
    }

    /// `feedwatch --config <inst> <args>`, for any subcommand that runs for a while.
    pub fn spawn(inst: &Instance, args: &[&str]) -> Daemon {
        Daemon::spawn_env(inst, args, &[])
    }

    /// As [`Daemon::spawn`], with `env` set on top of the clean environment.
    pub fn spawn_env(inst: &Instance, args: &[&str], env: &[(&str, &OsStr)]) -> Daemon {
        let mut cmd = command([OsStr::new("--config"), inst.config().as_os_str()]);
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Daemon::spawn_command(cmd, inst.dir.path())
    }

    /// Spawns `cmd` (from [`command`]) with its output in files in `dir`.
    pub fn spawn_command(mut cmd: Command, dir: &Path) -> Daemon {
        let n = SPAWNED.fetch_add(1, Ordering::Relaxed);
        let stdout = dir.join(format!("feedwatch-{n}.stdout"));
        let stderr = dir.join(format!("feedwatch-{n}.stderr"));
        let child = cmd
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).expect("stdout file"))
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin().display()));
        Daemon {
            child,
            exited: None,
            stdout,
            stderr,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `sig` (e.g. [`Signal::HUP`]); fails the test when it cannot be delivered.
    pub fn signal(&self, sig: Signal) {
        assert!(self.exited.is_none(), "signal {sig:?} to an exited process");
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).expect("pid");
        rustix::process::kill_process(pid, sig)
            .unwrap_or_else(|e| panic!("kill -{sig:?} {}: {e}", self.child.id()));
    }

    /// SIGKILL, then reaps: a crash at an arbitrary point.
    pub fn kill(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            self.exited = self.child.wait().ok();
        }
    }

    /// The exit status, if the process has exited (reaping it).
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().expect("try_wait");
        }
        self.exited
    }

    /// Waits for the process to exit; `None` when it still runs after `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(s) = self.try_wait() {
                return Some(s);
            }
            if start.elapsed() > timeout {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM; the process must exit 0 within 15 s (its log is shown when it does not).
    /// The log stays readable afterwards.
    pub async fn stop(&mut self) {
        self.signal(Signal::TERM);
        let status = self.wait_exit(Duration::from_secs(15)).await;
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(0),
            "clean exit on SIGTERM ({status:?}):\n{}",
            self.log()
        );
    }

    /// What the process wrote to stderr so far (its log).
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.stderr).unwrap_or_default()).into_owned()
    }

    /// What the process wrote to stdout so far.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.stdout).unwrap_or_default()).into_owned()
    }

    /// Waits until the log holds `needle` `times` times or more; the log.
    pub async fn wait_log(&self, needle: &str, times: usize, timeout: Duration) -> String {
        wait_for(&format!("{times}× {needle:?} in the log"), timeout, || {
            self.log().matches(needle).count() >= times
        })
        .await;
        self.log()
    }

    /// The address the metrics and health listener bound (`[http] listen` may give port 0),
    /// read from the daemon's log line announcing it.
    pub async fn http_addr(&mut self) -> SocketAddr {
        const UP: &str = "metrics and health listener up";
        let mut addr = None;
        let what = format!("{UP:?} in the log");
        wait_for(&what, Duration::from_secs(30), || {
            addr = self.log().lines().filter(|l| l.contains(UP)).find_map(|l| {
                l.split_once("addr=")?
                    .1
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            });
            addr.is_some() || self.try_wait().is_some()
        })
        .await;
        addr.unwrap_or_else(|| panic!("no listener address in the log:\n{}", self.log()))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// GET on the daemon's listener: (status, body); (0, "") when it does not answer.
pub async fn get(port: u16, path: &str) -> (u16, String) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .expect("client");
    match client
        .get(format!("http://127.0.0.1:{port}{path}"))
        .send()
        .await
    {
        Ok(r) => {
            let code = r.status().as_u16();
            (code, r.text().await.unwrap_or_default())
        }
        Err(_) => (0, String::new()),
    }
}

/// Waits until `/healthz` answers `code` with `needle` in its body; the last body.
pub async fn wait_health(port: u16, code: u16, needle: &str, timeout: Duration) -> String {
    let start = Instant::now();
    loop {
        let (c, body) = get(port, "/healthz").await;
        if c == code && body.contains(needle) {
            return body;
        }
        assert!(
            start.elapsed() < timeout,
            "/healthz never answered {code} with {needle:?}; last {c}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
