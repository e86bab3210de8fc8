//! A real HTTP server for webhook actions in tests: it can be taken down (answering an error
//! status), and keeps the `seq` of every message it accepted.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;

/// A webhook that answers `status_when_down` while down and 200 otherwise, and keeps the
/// `seq` of every message it accepted.
#[derive(Clone)]
pub struct Hook {
    pub down: Arc<AtomicBool>,
    pub status_when_down: StatusCode,
    pub requests: Arc<AtomicUsize>,
    pub seqs: Arc<Mutex<Vec<u64>>>,
    pub port: u16,
}

impl Hook {
    pub async fn start(status_when_down: StatusCode) -> Hook {
        async fn hook(State(h): State<Hook>, body: String) -> StatusCode {
            h.requests.fetch_add(1, Ordering::SeqCst);
            if h.down.load(Ordering::SeqCst) {
                return h.status_when_down;
            }
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            h.seqs.lock().unwrap().push(v["seq"].as_u64().unwrap());
            StatusCode::OK
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let h = Hook {
            down: Arc::new(AtomicBool::new(false)),
            status_when_down,
            requests: Arc::new(AtomicUsize::new(0)),
            seqs: Arc::new(Mutex::new(Vec::new())),
            port: listener.local_addr().unwrap().port(),
        };
        let app = Router::new()
            .route("/hook", post(hook))
            .with_state(h.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        h
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    pub fn unique(&self) -> BTreeSet<u64> {
        self.seqs.lock().unwrap().iter().copied().collect()
    }

    pub fn received(&self) -> usize {
        self.seqs.lock().unwrap().len()
    }
}
