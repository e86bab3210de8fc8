//! The admin HTTP server (axum): `/metrics` (Prometheus text), `/healthz` (the process is
//! up), `/readyz` (connected to the broker and rules loaded; 503 otherwise) and `GET /rules`
//! (JSON: name, file, topic filter, enabled, actions, last load error), and
//! `GET /shadows/{thing}` and `/shadows/{thing}/{shadow}` (a Device Shadow as GET returns it to
//! devices; 404 when there is none or shadows are off).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::ingest::Status;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::shadow::{ShadowName, ShadowStore};
use crate::stop::CancelFlag;

#[derive(Clone)]
struct AppState {
    metrics: Arc<Metrics>,
    status: Arc<Status>,
    registry: Arc<Registry>,
    shadows: Option<Arc<ShadowStore>>,
}

/// Binds `listen` (fails now if it can't) and serves until `stop` is set.
pub async fn serve(
    listen: &str,
    metrics: Arc<Metrics>,
    status: Arc<Status>,
    registry: Arc<Registry>,
    shadows: Option<Arc<ShadowStore>>,
    stop: CancelFlag,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        anyhow::anyhow!("admin HTTP server cannot listen on {listen} (http.listen): {e}")
    })?;
    tracing::info!(addr = %listener.local_addr()?, "admin HTTP server listening (/metrics /healthz /readyz /rules /shadows)");
    let app = Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/rules", get(rules))
        .route("/shadows/{thing}", get(classic_shadow))
        .route("/shadows/{thing}/{shadow}", get(named_shadow))
        .with_state(AppState {
            metrics,
            status,
            registry,
            shadows,
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

async fn classic_shadow(State(s): State<AppState>, Path(thing): Path<String>) -> Response {
    shadow(
        &s,
        ShadowName {
            thing,
            shadow: None,
        },
    )
}

async fn named_shadow(
    State(s): State<AppState>,
    Path((thing, shadow)): Path<(String, String)>,
) -> Response {
    let name = ShadowName {
        thing,
        shadow: Some(shadow),
    };
    self::shadow(&s, name)
}

fn shadow(s: &AppState, name: ShadowName) -> Response {
    let Some(store) = &s.shadows else {
        return (
            StatusCode::NOT_FOUND,
            "Device Shadows are off on this instance (shadows.enabled)\n",
        )
            .into_response();
    };
    match store.document_json(&name) {
        Some(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            format!("No shadow exists with name: '{}'\n", name.key()),
        )
            .into_response(),
    }
}
