//! A webhook receiver on loopback for the sink suites: it records every request, accepts
//! (204) unless told to be down (503), and can leave the first request hanging (a delivery
//! in flight when its sender dies).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

/// What a receiver saw.
#[derive(Default)]
pub struct Seen {
    /// Every request, accepted or not.
    pub requests: usize,
    /// When each request came.
    pub at: Vec<Instant>,
    /// Accepted payloads, parsed, in arrival order.
    pub accepted: Vec<Value>,
    /// The id of the request left hanging (see [`Hook::hang_first`]).
    pub hung: Option<i64>,
}

/// The receiver's state: what it saw, whether it is down (503), how long it takes.
#[derive(Clone, Default)]
pub struct Hook {
    pub seen: Arc<Mutex<Seen>>,
    pub down: Arc<AtomicBool>,
    pub delay: Duration,
    /// Leave the first request unanswered for a minute (a delivery in flight).
    pub hang_first: Arc<AtomicBool>,
}

impl Hook {
    pub fn accepted_ids(&self) -> Vec<i64> {
        let s = self.seen.lock().expect("lock");
        s.accepted.iter().filter_map(|v| v["id"].as_i64()).collect()
    }
}

async fn receive(State(hook): State<Hook>, headers: HeaderMap, body: Bytes) -> StatusCode {
    {
        let mut s = hook.seen.lock().expect("lock");
        s.requests += 1;
        s.at.push(Instant::now());
    }
    if hook.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if hook.hang_first.swap(false, Ordering::SeqCst) {
        hook.seen.lock().expect("lock").hung = v["id"].as_i64();
        tokio::time::sleep(Duration::from_secs(60)).await;
        return StatusCode::GATEWAY_TIMEOUT;
    }
    tokio::time::sleep(hook.delay).await;
    let header = headers
        .get("x-feedwatch-alert-id")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<i64>().ok());
    assert_eq!(header, v["id"].as_i64(), "header and body ids agree");
    hook.seen.lock().expect("lock").accepted.push(v);
    StatusCode::NO_CONTENT
}

/// Serves the receiver on loopback; the URL of its `/hook`.
pub async fn serve_hook(hook: Hook) -> String {
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(hook);
    format!("http://{}/hook", super::serve(app).await)
}

/// A `[[sinks]]` table named `ops` posting to `url` within `timeout` (a claimed delivery is
/// leased for twice that and a second), retried quickly.
pub fn sink_config(url: &str, timeout: &str) -> String {
    format!(
        "[[sinks]]\nname = \"ops\"\ntype = \"webhook\"\nurl = \"{url}\"\ntimeout = \"{timeout}\"\n\
         retry_initial = \"200ms\"\nretry_max = \"400ms\"\n"
    )
}
