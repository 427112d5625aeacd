//! The `feedwatch` binary: parses the command line, sets up logging, runs the command.

use std::process::ExitCode;

use clap::Parser;
use feedwatch::cli::{self, Cli, LogFormat};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("feedwatch: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(cli::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("feedwatch: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Human-readable logs on stderr by default, JSON with `--log-format json`. The level comes
/// from `FEEDWATCH_LOG` (or `RUST_LOG`), default `info`.
fn init_logging(format: LogFormat) {
    let filter = std::env::var("FEEDWATCH_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .and_then(|s| EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_target(false).init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
