//! The web console on the admin listener: a small single-page app (`assets/`, built into the
//! binary: no Node toolchain) and the JSON APIs behind it.
//!
//! - `GET /` and `GET /console/{file}`: the page and its scripts; each console page is one
//!   file under `assets/pages/` and one line in `assets/app.js`.
//! - `POST /api/test`: runs a message through an existing rule or a SQL statement, with the
//!   service's engine: the output, or the error with line:col, and the rule's rendered
//!   action fields (secrets hidden).
//! - `POST /api/trace/{rule}?seconds=N`, `DELETE /api/trace/{rule}`: turn a rule's live trace
//!   on (bounded, see [`crate::ops::trace`]) or off; `GET /api/trace/{rule}/events`: its events as
//!   Server-Sent Events.
//!
//! The rules and counters pages read `GET /rules` and `GET /metrics`, as Prometheus does.
//! The tester runs an existing rule as loaded (reading shadows when they are on) and renders
//! its action fields without them (as `rulewire test` does).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::Stream;
use rulewire_engine::{Message, Rule, SqlVersion};
use serde::Deserialize;

use crate::ops::trace::MAX_TRACE;
use crate::registry::Registry;

/// A console file by name: (content type, text).
fn asset(name: &str) -> Option<(&'static str, &'static str)> {
    const JS: &str = "text/javascript; charset=utf-8";
    Some(match name {
        "index.html" => (
            "text/html; charset=utf-8",
            include_str!("assets/index.html"),
        ),
        "style.css" => ("text/css; charset=utf-8", include_str!("assets/style.css")),
        "app.js" => (JS, include_str!("assets/app.js")),
        "pages/rules.js" => (JS, include_str!("assets/pages/rules.js")),
        "pages/tester.js" => (JS, include_str!("assets/pages/tester.js")),
        "pages/trace.js" => (JS, include_str!("assets/pages/trace.js")),
        _ => return None,
    })
}

fn serve(name: &str) -> Response {
    match asset(name) {
        Some((kind, text)) => ([(header::CONTENT_TYPE, kind)], text).into_response(),
        None => (StatusCode::NOT_FOUND, "no such console file\n").into_response(),
    }
}

pub async fn index() -> Response {
    serve("index.html")
}

pub async fn file(Path(name): Path<String>) -> Response {
    serve(&name)
}

pub async fn page(Path((dir, name)): Path<(String, String)>) -> Response {
    serve(&format!("{dir}/{name}"))
}

/// `POST /api/test`.
#[derive(Deserialize)]
pub struct TestRequest {
    /// An existing rule's name, or:
    rule: Option<String>,
    /// a SQL statement.
    sql: Option<String>,
    #[serde(default)]
    sql_version: Option<String>,
    topic: String,
    #[serde(default)]
    payload: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    user_properties: Vec<(String, String)>,
}

fn json_error(status: StatusCode, message: String) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "message": message })),
    )
        .into_response()
}

pub async fn test(
    State(registry): State<Arc<Registry>>,
    body: axum::Json<TestRequest>,
) -> Response {
    let req = body.0;
    let (file, rule) = match (&req.rule, &req.sql) {
        (Some(name), None) => match registry.rule_file(name) {
            Some(f) => {
                let rule = f.rule.clone();
                (Some(f), rule)
            }
            None => {
                return json_error(
                    StatusCode::NOT_FOUND,
                    format!("no loaded rule named {name:?}"),
                );
            }
        },
        (None, Some(sql)) => match compile(&registry, sql, req.sql_version.as_deref()) {
            Ok(rule) => (None, rule),
            Err(response) => return *response,
        },
        _ => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "give either `rule` or `sql`".into(),
            );
        }
    };
    let now = crate::pipeline::epoch_millis();
    let topic_ok = rule
        .topic_filter()
        .is_none_or(|f| rulewire_engine::topic::matches(f, &req.topic));
    let msg = Message {
        client_id: &req.client_id,
        timestamp_ms: now,
        user_properties: &req.user_properties,
        ..Message::new(&req.topic, req.payload.as_bytes())
    };
    let result = rule.evaluate(&msg);
    let targets = match (&file, &result.output) {
        (Some(f), Some(_)) => crate::cli::ruletest::rendered_targets(f, &msg, None)
            .map(|t| {
                t.into_iter()
                    .map(|(k, v)| {
                        let shown = without_secrets(&k, v);
                        (k, shown)
                    })
                    .collect()
            })
            .unwrap_or_default(),
        _ => std::collections::BTreeMap::new(),
    };
    axum::Json(serde_json::json!({
        "topic_matches": topic_ok,
        "fired": result.output.is_some(),
        "parse_error": result.parse_error,
        "output": result.output.as_deref().map(|o| String::from_utf8_lossy(o).into_owned()),
        "targets": targets,
    }))
    .into_response()
}

/// A rendered action field as the console may show it: fields named like a secret are
/// hidden, and so is the password of a URL.
fn without_secrets(field: &str, value: String) -> String {
    let field = field.to_ascii_lowercase();
    if ["password", "secret", "token"]
        .iter()
        .any(|s| field.contains(s))
    {
        return "(hidden)".to_owned();
    }
    match reqwest::Url::parse(&value) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("hidden"));
            url.to_string()
        }
        _ => value,
    }
}

/// The tester's SQL as a rule reading the service's shadows; the answer for SQL that does not
/// compile (its line:col) or an unknown version.
fn compile(
    registry: &Registry,
    sql: &str,
    version: Option<&str>,
) -> Result<Arc<Rule>, Box<Response>> {
    let version = match version.map(SqlVersion::parse) {
        None => SqlVersion::default(),
        Some(Some(v)) => v,
        Some(None) => {
            return Err(Box::new(json_error(
                StatusCode::BAD_REQUEST,
                "sql_version: use 2016-03-23 or 2015-10-08".into(),
            )));
        }
    };
    match Rule::compile(sql, version) {
        Ok(rule) => Ok(Arc::new(match registry.lookups() {
            Some(l) => rule.with_lookups(l.clone()),
            None => rule,
        })),
        Err(e) => Err(Box::new(
            axum::Json(serde_json::json!({
                "error": { "line": e.line, "col": e.col, "message": e.message },
            }))
            .into_response(),
        )),
    }
}

#[derive(Deserialize)]
pub struct TraceParams {
    seconds: Option<u64>,
}

/// `POST /api/trace/{rule}`: on for `seconds` (default 60, at most 600). It must say
/// `content-type: application/json`, which a cross-site form cannot send without the
/// browser asking first (and rulewire answers no such question): no trace starts from
/// another site's page.
pub async fn trace_on(
    State(registry): State<Arc<Registry>>,
    Path(rule): Path<String>,
    Query(p): Query<TraceParams>,
    headers: axum::http::HeaderMap,
) -> Response {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send content-type: application/json".into(),
        );
    }
    if registry.rule_file(&rule).is_none() {
        return json_error(
            StatusCode::NOT_FOUND,
            format!("no loaded rule named {rule:?}"),
        );
    }
    let duration = Duration::from_secs(p.seconds.unwrap_or(60).max(1)).min(MAX_TRACE);
    registry.tracer().start(&rule, duration);
    tracing::info!(%rule, ?duration, "live trace on");
    axum::Json(serde_json::json!({ "rule": rule, "seconds": duration.as_secs() })).into_response()
}

/// `DELETE /api/trace/{rule}`.
pub async fn trace_off(
    State(registry): State<Arc<Registry>>,
    Path(rule): Path<String>,
) -> Response {
    registry.tracer().stop(&rule);
    StatusCode::NO_CONTENT.into_response()
}

/// `GET /api/trace/{rule}/events`: the trace's events until it ends.
pub async fn trace_events(
    State(registry): State<Arc<Registry>>,
    Path(rule): Path<String>,
) -> Response {
    let Some((rx, until)) = registry.tracer().watch(&rule) else {
        return json_error(
            StatusCode::NOT_FOUND,
            format!("rule {rule:?} is not traced (POST /api/trace/{rule} first)"),
        );
    };
    Sse::new(events(rx, until))
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn events(
    rx: tokio::sync::broadcast::Receiver<String>,
    until: std::time::Instant,
) -> impl Stream<Item = Result<Event, Infallible>> {
    use tokio::sync::broadcast::error::RecvError;
    let deadline = tokio::time::Instant::from_std(until);
    futures_util::stream::unfold(Some(rx), move |rx| async move {
        let mut rx = rx?;
        let event = match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(e)) => Event::default().data(e),
            Ok(Err(RecvError::Lagged(n))) => Event::default()
                .data(serde_json::json!({"kind": "missed", "events": n}).to_string()),
            // The trace ended (stopped, or its time is up).
            Ok(Err(RecvError::Closed)) | Err(_) => {
                let end = Event::default().data(r#"{"kind":"end"}"#);
                return Some((Ok(end), None));
            }
        };
        Some((Ok(event), Some(rx)))
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_are_hidden() {
        use super::without_secrets;
        assert_eq!(
            without_secrets("http.url", "https://a.example/x".into()),
            "https://a.example/x"
        );
        assert_eq!(
            without_secrets("http.url", "https://user:pw@a.example/x".into()),
            "https://user:hidden@a.example/x"
        );
        assert_eq!(without_secrets("mqtt.password", "pw".into()), "(hidden)");
        assert_eq!(without_secrets("republish.topic", "a/b".into()), "a/b");
    }
}
