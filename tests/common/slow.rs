//! Feeds answered after a pause, each request counted: polls that overlap for real (two
//! instances at once, a kill or a database restart mid-poll), and how often each feed was
//! fetched.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;

/// RSS bodies by path, answered after `delay`; requests counted by path.
#[derive(Default)]
pub struct SlowFeeds {
    pub bodies: HashMap<String, String>,
    pub delay: Duration,
    pub hits: Mutex<HashMap<String, usize>>,
}

impl SlowFeeds {
    /// Serves `self` on 127.0.0.1; the base URL and the shared state (for the counts).
    pub async fn serve(self) -> (String, Arc<SlowFeeds>) {
        let feeds = Arc::new(self);
        let app = axum::Router::new().fallback(slow).with_state(feeds.clone());
        let addr = super::serve(app).await;
        (format!("http://{addr}"), feeds)
    }

    /// Requests for each path so far.
    pub fn hits(&self) -> HashMap<String, usize> {
        self.hits.lock().expect("lock").clone()
    }
}

async fn slow(State(s): State<Arc<SlowFeeds>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    *s.hits
        .lock()
        .expect("lock")
        .entry(path.clone())
        .or_default() += 1;
    tokio::time::sleep(s.delay).await;
    let (status, body) = match s.bodies.get(&path) {
        Some(b) => (200, b.clone()),
        None => (404, String::new()),
    };
    Response::builder()
        .status(status)
        .header("content-type", "application/rss+xml")
        .body(Body::from(body))
        .expect("response")
}
