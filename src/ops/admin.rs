//! The admin HTTP server (axum): `/metrics` (Prometheus text), `/healthz` (the process is
//! up), `/readyz` (connected to the broker and rules loaded; 503 otherwise) and `GET /rules`
//! (JSON: name, file, topic filter, enabled, actions, last load error), and
//! `GET /shadows/{thing}` and `/shadows/{thing}/{shadow}` (a Device Shadow as GET returns it to
//! devices; 404 when there is none or shadows are off). The web console and its APIs are in
//! [`crate::ops::console`]. With `http.auth` set, everything but `/healthz` and `/readyz` needs
//! the bearer token or the basic-auth user and password.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{FromRef, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;

use crate::config::HttpConfig;
use crate::ingest::Status;
use crate::ops::console;
use crate::ops::metrics::Metrics;
use crate::ops::stop::CancelFlag;
use crate::registry::Registry;
use crate::shadow::{ShadowName, ShadowStore};

/// What the admin server serves from.
#[derive(Clone)]
pub struct AppState {
    pub metrics: Arc<Metrics>,
    pub status: Arc<Status>,
    pub registry: Arc<Registry>,
    pub shadows: Option<Arc<ShadowStore>>,
}

impl FromRef<AppState> for Arc<Registry> {
    fn from_ref(s: &AppState) -> Arc<Registry> {
        s.registry.clone()
    }
}

/// The `Authorization` header `http.auth` asks for: `bearer:<token>` or
/// `basic:<user>:<password>`.
fn expected_authorization(auth: &str) -> anyhow::Result<Option<String>> {
    if auth.is_empty() {
        return Ok(None);
    }
    if let Some(token) = auth.strip_prefix("bearer:")
        && !token.is_empty()
    {
        return Ok(Some(format!("Bearer {token}")));
    }
    if let Some(user_password) = auth.strip_prefix("basic:")
        && user_password.contains(':')
    {
        let encoded = base64::engine::general_purpose::STANDARD.encode(user_password);
        return Ok(Some(format!("Basic {encoded}")));
    }
    anyhow::bail!("http.auth must be \"bearer:<token>\" or \"basic:<user>:<password>\"")
}

async fn authorize(State(expected): State<Arc<String>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path == "/healthz" || path == "/readyz" {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    // Digests are compared, so the time taken says nothing about how much of a guess matched.
    let digest = |b: &[u8]| ring::digest::digest(&ring::digest::SHA256, b);
    if digest(given).as_ref() == digest(expected.as_bytes()).as_ref() {
        return next.run(req).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Basic realm=\"rulewire\"")],
        "unauthorized: this admin listener needs http.auth's credentials\n",
    )
        .into_response()
}

/// On a loopback listener without `http.auth`: only requests addressed to a loopback name
/// (`Host: localhost`, `127.0.0.1`, `[::1]`), so that a web page the operator opens cannot
/// reach the console by DNS rebinding (its requests name the attacker's host).
async fn loopback_host(req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    if matches!(name, "localhost" | "127.0.0.1" | "::1") {
        return next.run(req).await;
    }
    (
        StatusCode::FORBIDDEN,
        "forbidden: this admin listener answers requests for localhost only (set http.auth to serve other names)\n",
    )
        .into_response()
}

/// Binds `http.listen` (fails now if it can't) and serves until `stop` is set.
pub async fn serve(
    http: &HttpConfig,
    state: AppState,
    stop: CancelFlag,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listen = &http.listen;
    let expected = expected_authorization(&http.auth)?;
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        anyhow::anyhow!("admin HTTP server cannot listen on {listen} (http.listen): {e}")
    })?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "admin HTTP server listening (console at /, /metrics /healthz /readyz /rules /shadows)");
    if expected.is_none() && !addr.ip().is_loopback() {
        tracing::warn!(%addr, "the admin listener (console, rule tester, traces, metrics) is reachable beyond this machine without http.auth");
    }
    let mut app = Router::new()
        .route("/", get(console::index))
        .route("/console/{file}", get(console::file))
        .route("/console/{dir}/{file}", get(console::page))
        .route("/api/test", post(console::test))
        .route(
            "/api/trace/{rule}",
            post(console::trace_on).delete(console::trace_off),
        )
        .route("/api/trace/{rule}/events", get(console::trace_events))
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/rules", get(rules))
        .route("/shadows/{thing}", get(classic_shadow))
        .route("/shadows/{thing}/{shadow}", get(named_shadow))
        .with_state(state);
    match expected {
        Some(expected) => {
            app = app.layer(middleware::from_fn_with_state(
                Arc::new(expected),
                authorize,
            ));
        }
        None if addr.ip().is_loopback() => app = app.layer(middleware::from_fn(loopback_host)),
        None => {}
    }
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
