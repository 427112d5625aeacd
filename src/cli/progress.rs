//! Progress bars for the long commands (`poll --once`, `backtest`, `feeds import`, `search`,
//! `db prune`, `db backup`, `db check`), drawn on stderr only when a person is watching it.
//!
//! Why a bar at all: `poll --once` over thousands of feeds or a backtest over a year of texts
//! runs for minutes, and a silent terminal looks like a hung one. Why only on a terminal: in a
//! pipe, a log file, the journal or with `--format json`, output is read by programs and must
//! stay exactly what it was, so there the bar is hidden and draws nothing.
//!
//! Log lines (tracing writes to stderr too) would tear a bar drawn in place, so the log writer
//! in `main.rs` goes through [`LogWriter`], which lifts the current bar, writes the line and
//! draws the bar again.

use std::io::{IsTerminal, Write};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Format;

/// The bar being drawn now, if any: the log writer suspends it around each line.
static ACTIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// One bar (or spinner) on stderr; hidden when stderr is not a terminal or the output is JSON.
/// Dropping it clears the line, so a command's own output starts on a clean line.
pub struct Bar {
    bar: ProgressBar,
}

/// Whether a bar would be seen: stderr is a terminal and the command prints text.
/// `FEEDWATCH_NO_PROGRESS` (any value) turns bars off, for people who dislike them.
pub fn wanted(format: Format) -> bool {
    format == Format::Text
        && std::env::var_os("FEEDWATCH_NO_PROGRESS").is_none()
        && std::io::stderr().is_terminal()
}

impl Bar {
    /// A bar over `total` steps of `unit` ("feeds", "texts", "rows"), with counts, rate and
    /// an estimate of the time left (a rate is left out: feeds a second says little to a person).
    pub fn counted(what: &str, total: u64, unit: &str, format: Format) -> Bar {
        let style = ProgressStyle::with_template(&format!(
            "{{msg}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} ({{eta}} left)"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        Bar::start(ProgressBar::new(total).with_style(style), what, format)
    }

    /// A spinner with the time spent, for work whose size is not known in advance (an
    /// integrity check, a full-text query).
    pub fn spinner(what: &str, format: Format) -> Bar {
        let style = ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bar = Bar::start(ProgressBar::new_spinner().with_style(style), what, format);
        bar.bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    fn start(bar: ProgressBar, what: &str, format: Format) -> Bar {
        let target = if wanted(format) {
            // 10 redraws a second at most: the bar must not cost the work it reports on.
            ProgressDrawTarget::stderr_with_hz(10)
        } else {
            ProgressDrawTarget::hidden()
        };
        // The message first, while nothing is drawn: a bar appears once it has something to say.
        bar.set_draw_target(ProgressDrawTarget::hidden());
        bar.set_message(what.to_string());
        bar.set_draw_target(target);
        *ACTIVE.lock().unwrap_or_else(PoisonError::into_inner) = Some(bar.clone());
        Bar { bar }
    }

    /// `n` more steps done.
    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
    }

    /// `done` of `total` steps (the total can change as the work learns its size).
    pub fn set(&self, done: u64, total: u64) {
        self.bar.set_length(total);
        self.bar.set_position(done);
    }

    /// Runs `f` (which writes to the terminal) with the bar lifted, then draws it again.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    /// A handle other threads can advance (the poll's tasks run on the runtime's threads).
    pub fn handle(&self) -> ProgressBar {
        self.bar.clone()
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
        let mut active = ACTIVE.lock().unwrap_or_else(PoisonError::into_inner);
        if active.as_ref().is_some_and(|b| b.is_finished()) {
            *active = None;
        }
    }
}

/// stderr for the log: each write lifts the bar being drawn, if any, so a log line never lands
/// in the middle of it. Used as tracing's `MakeWriter`.
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = ACTIVE
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match bar {
            Some(bar) if !bar.is_hidden() => bar.suspend(|| std::io::stderr().write(buf)),
            _ => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> LogWriter {
        LogWriter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test, not two: the bar being drawn is one per process, so tests running side by
    /// side would see each other's.
    #[test]
    fn a_hidden_bar_counts_and_is_forgotten_when_dropped() {
        assert!(!wanted(Format::Json));
        {
            let bar = Bar::counted("polling", 10, "feeds", Format::Json);
            assert!(bar.bar.is_hidden());
            bar.inc(3);
            assert_eq!(bar.bar.position(), 3);
            assert!(ACTIVE
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_some());
        }
        assert!(ACTIVE
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none());
    }
}
