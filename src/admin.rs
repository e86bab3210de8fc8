//! The admin HTTP server (axum): `/metrics` (Prometheus text), `/healthz` (the process is
//! up), `/readyz` (connected to the broker and rules loaded; 503 otherwise) and `GET /rules`
//! (JSON: name, file, topic filter, enabled, actions, last load error).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::ingest::Status;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::stop::CancelFlag;

#[derive(Clone)]
struct AppState {
    metrics: Arc<Metrics>,
    status: Arc<Status>,
    registry: Arc<Registry>,
}

/// Binds `listen` (fails now if it can't) and serves until `stop` is set.
pub async fn serve(
    listen: &str,
    metrics: Arc<Metrics>,
    status: Arc<Status>,
    registry: Arc<Registry>,
    stop: CancelFlag,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        anyhow::anyhow!("admin HTTP server cannot listen on {listen} (http.listen): {e}")
    })?;
    tracing::info!(addr = %listener.local_addr()?, "admin HTTP server listening (/metrics /healthz /readyz /rules)");
    let app = Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/rules", get(rules))
        .with_state(AppState {
            metrics,
            status,
            registry,
        });
    Ok(tokio::spawn(async move {
        let shutdown = async move { stop.wait().await };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "admin HTTP server failed");
        }
    }))
}

async fn metrics_handler(State(s): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
        .into_response()
}

async fn ready(State(s): State<AppState>) -> Response {
    let connected = s.status.connected.load(Ordering::SeqCst);
    let loaded = s.status.rules_loaded.load(Ordering::SeqCst);
    let mut body = format!(
        "broker_connected={connected} rules_loaded={loaded} broker_reconnects={}\n",
        s.metrics.broker_reconnects.get()
    );
    if let Some(error) = s.status.last_error.lock().expect("not poisoned").as_ref() {
        body.push_str(&format!("last_broker_error: {error}\n"));
    }
    if connected && loaded {
        (StatusCode::OK, body)
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, body)
    }
    .into_response()
}

async fn rules(State(s): State<AppState>) -> Response {
    axum::Json(s.registry.statuses()).into_response()
}
