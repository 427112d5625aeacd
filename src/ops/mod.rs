//! Operations: how the running service reports on itself, beside (not in) the pipeline.
//!
//! - [`health`]: the named service faults (store, alert log, database) that `status`,
//!   `/healthz`, metrics and exit codes report.
//! - [`metrics`]: the Prometheus registry and the `/metrics` and `/healthz` listener.
//! - [`notify`]: systemd readiness, status and watchdog messages.
//!
//! Stages call these with a function call (process-wide state); nothing here calls a stage.

pub mod health;
pub mod metrics;
pub mod notify;
