//! HTTP action tests against a real axum server on 127.0.0.1 started inside each test.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode, Uri},
    routing::any,
};
use bytes::Bytes;
use rulewire_engine::SqlVersion;

use crate::{
    Action, ActionContext, FiredMessage,
    test_util::{CountingMetrics, NoPublisher, build_action, context, fired, table},
};

/// One request the server saw.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Default)]
struct Script {
    /// Statuses to answer with, in order; 200 once exhausted.
    statuses: Mutex<VecDeque<u16>>,
    delay: Duration,
    seen: Mutex<Vec<Seen>>,
}

async fn handle(
    State(script): State<Arc<Script>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    script.seen.lock().unwrap().push(Seen {
        path: uri.path().to_owned(),
        headers,
        body,
    });
    tokio::time::sleep(script.delay).await;
    let status = script.statuses.lock().unwrap().pop_front().unwrap_or(200);
    (StatusCode::from_u16(status).unwrap(), "server says no")
}

/// Starts a server answering `statuses` in order (then 200), each after `delay`.
async fn serve(statuses: &[u16], delay: Duration) -> (SocketAddr, Arc<Script>) {
    let script = Arc::new(Script {
        statuses: Mutex::new(statuses.iter().copied().collect()),
        delay,
        ..Default::default()
    });
    let app = Router::new()
        .fallback(any(handle))
        .with_state(script.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, script)
}

fn message(output: &[u8]) -> FiredMessage {
    fired("hook_rule", "sensors/room1/data", output)
}

fn http_config(url: String, headers: &[(&str, &str)], extra: &str) -> toml::Table {
    let mut cfg = table(&format!("type = \"http\"\nurl = {url:?}\n{extra}"));
    let headers = headers.iter().map(|(k, v)| {
        let pair =
            toml::Table::from_iter([("key".into(), (*k).into()), ("value".into(), (*v).into())]);
        toml::Value::Table(pair)
    });
    cfg.insert("headers".into(), toml::Value::Array(headers.collect()));
    cfg
}

/// An http action posting to `http://{addr}/x` with default settings, and its metrics.
fn plain_action(addr: SocketAddr) -> (Arc<dyn Action>, Arc<CountingMetrics>) {
    let (ctx, metrics) = ctx();
    let cfg = http_config(format!("http://{addr}/x"), &[], "");
    let action = build_action(&cfg, SqlVersion::default(), &ctx).unwrap();
    (action, metrics)
}

fn ctx() -> (ActionContext, Arc<CountingMetrics>) {
    context(Arc::new(NoPublisher))
}

#[tokio::test]
async fn posts_output_with_rendered_url_headers_and_content_type() {
    let (addr, script) = serve(&[], Duration::ZERO).await;
    let (ctx, metrics) = ctx();
    let cfg = http_config(
        format!("http://{addr}/hook/${{topic(2)}}"),
        &[("x-device", "${clientid()}"), ("x-site", "${site}")],
        "",
    );
    let action = build_action(&cfg, SqlVersion::default(), &ctx).unwrap();
    assert_eq!(action.kind(), "http");

    // The output is JSON without `site`: templates must see the ORIGINAL payload.
    action.execute(&message(br#"{"t":31}"#)).await.unwrap();
    action.execute(&message(b"\x00\x01binary")).await.unwrap();

    let seen = script.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].path, "/hook/room1");
    assert_eq!(seen[0].headers["x-device"], "dev-7");
    assert_eq!(seen[0].headers["x-site"], "north");
    assert_eq!(seen[0].headers["content-type"], "application/json");
    assert_eq!(seen[0].body, Bytes::from_static(br#"{"t":31}"#));
    assert_eq!(seen[1].headers["content-type"], "application/octet-stream");
    assert_eq!(seen[1].body, Bytes::from_static(b"\x00\x01binary"));
    assert_eq!(
        (metrics.get("success:http"), metrics.get("status:2xx")),
        (2, 2)
    );
}

#[tokio::test]
async fn content_type_header_overrides_the_default_case_insensitively() {
    let (addr, script) = serve(&[], Duration::ZERO).await;
    let (ctx, _) = ctx();
    let cfg = http_config(
        format!("http://{addr}/"),
        &[("Content-Type", "text/plain")],
        "",
    );
    let action = build_action(&cfg, SqlVersion::default(), &ctx).unwrap();
    action.execute(&message(br#"{"t":1}"#)).await.unwrap();
    let seen = script.seen.lock().unwrap().clone();
    assert_eq!(
        seen[0]
            .headers
            .get_all("content-type")
            .iter()
            .collect::<Vec<_>>(),
        ["text/plain"]
    );
}

#[tokio::test]
async fn retries_503_twice_then_succeeds() {
    let (addr, script) = serve(&[503, 503], Duration::ZERO).await;
    let (action, metrics) = plain_action(addr);
    action.execute(&message(b"{}")).await.unwrap();
    assert_eq!(script.seen.lock().unwrap().len(), 3);
    assert_eq!(metrics.get("retry:http"), 2);
    assert_eq!(
        (metrics.get("status:5xx"), metrics.get("status:2xx")),
        (2, 1)
    );
    assert_eq!(
        (metrics.get("success:http"), metrics.get("failure:http")),
        (1, 0)
    );
}

#[tokio::test]
async fn retries_429_and_fails_after_the_last_attempt() {
    let (addr, script) = serve(&[429, 500, 502, 503], Duration::ZERO).await;
    let (ctx, metrics) = ctx();
    let url = format!("http://{addr}/busy");
    let action = build_action(
        &http_config(url.clone(), &[], ""),
        SqlVersion::default(),
        &ctx,
    )
    .unwrap();
    let failure = action.execute(&message(b"{}")).await.unwrap_err();
    assert_eq!(
        script.seen.lock().unwrap().len(),
        3,
        "default policy: 3 attempts"
    );
    assert_eq!(failure.failed_action, "HttpAction");
    assert_eq!(failure.failed_resource, url);
    assert!(
        failure.error_message.contains("502"),
        "{}",
        failure.error_message
    );
    assert!(
        failure.error_message.contains("server says no"),
        "{}",
        failure.error_message
    );
    assert_eq!(metrics.get("failure:http"), 1);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let (addr, script) = serve(&[400], Duration::ZERO).await;
    let (ctx, metrics) = ctx();
    let action = build_action(
        &http_config(format!("http://{addr}/"), &[], ""),
        SqlVersion::default(),
        &ctx,
    )
    .unwrap();
    let failure = action.execute(&message(b"{}")).await.unwrap_err();
    assert_eq!(script.seen.lock().unwrap().len(), 1);
    assert!(
        failure.error_message.contains("400"),
        "{}",
        failure.error_message
    );
    assert_eq!(
        (metrics.get("status:4xx"), metrics.get("retry:http")),
        (1, 0)
    );
}

#[tokio::test]
async fn connection_refused_fails_after_retries() {
    // Bind, then drop: nothing listens on this port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (ctx, metrics) = ctx();
    let action = build_action(
        &http_config(format!("http://127.0.0.1:{port}/"), &[], ""),
        SqlVersion::default(),
        &ctx,
    )
    .unwrap();
    let failure = action.execute(&message(b"{}")).await.unwrap_err();
    assert_eq!(metrics.get("retry:http"), 2);
    assert_eq!(metrics.get("error:unknown_host"), 3);
    assert!(
        failure.error_message.to_lowercase().contains("refused"),
        "{}",
        failure.error_message
    );
}

/// A server that reads the first request and closes the connection without an answer (as a
/// keep-alive connection closed under a request, or a server restarting), then answers 200.
#[tokio::test]
async fn a_connection_closed_before_the_answer_is_retried() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(Mutex::new(0));
    let seen = requests.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 64 << 10];
            let mut read = 0;
            // Up to the end of the small body ("{}") after the headers.
            while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") || !buf[..read].ends_with(b"{}")
            {
                match socket.read(&mut buf[read..]).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => read += n,
                }
            }
            let first = {
                let mut n = seen.lock().unwrap();
                *n += 1;
                *n == 1
            };
            if !first {
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
            // The first connection is dropped unanswered; the others after their answer.
        }
    });
    let (action, metrics) = plain_action(addr);
    action.execute(&message(b"{}")).await.unwrap();
    assert_eq!(*requests.lock().unwrap(), 2);
    assert_eq!(metrics.get("retry:http"), 1);
    assert_eq!(metrics.get("error:unknown_host"), 1);
}

#[tokio::test]
async fn a_slow_server_times_out_without_retry() {
    let (addr, script) = serve(&[], Duration::from_secs(5)).await;
    let (ctx, metrics) = ctx();
    let cfg = http_config(format!("http://{addr}/slow"), &[], "timeout_ms = 200");
    let action = build_action(&cfg, SqlVersion::default(), &ctx).unwrap();
    let start = Instant::now();
    let failure = action.execute(&message(b"{}")).await.unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(
        failure.error_message.contains("timed out after 200 ms"),
        "{}",
        failure.error_message
    );
    assert_eq!(
        script.seen.lock().unwrap().len(),
        1,
        "AWS does not retry a timed-out request"
    );
    assert_eq!(metrics.get("error:timeout"), 1);
}

#[tokio::test]
async fn retry_overrides_apply_per_action() {
    let (addr, script) = serve(&[500, 500, 500, 500], Duration::ZERO).await;
    let (ctx, _) = ctx();
    let cfg = http_config(
        format!("http://{addr}/"),
        &[],
        "retry = { attempts = 5, base_delay_ms = 1 }",
    );
    let action = build_action(&cfg, SqlVersion::default(), &ctx).unwrap();
    action.execute(&message(b"{}")).await.unwrap();
    assert_eq!(script.seen.lock().unwrap().len(), 5);
}

#[tokio::test]
async fn bad_rendered_urls_fail_without_a_request() {
    let (ctx, metrics) = ctx();
    // `${site}` renders "north": not a URL.
    let action = build_action(
        &http_config("${site}".into(), &[], ""),
        SqlVersion::default(),
        &ctx,
    )
    .unwrap();
    let failure = action.execute(&message(b"{}")).await.unwrap_err();
    assert_eq!(failure.failed_resource, "north");
    assert!(
        failure.error_message.contains("invalid URL"),
        "{}",
        failure.error_message
    );
    assert_eq!(metrics.get("error:invalid_url"), 1);
}

#[test]
fn bad_configs_fail_at_build_naming_the_field() {
    let (ctx, _) = ctx();
    let build = |cfg: toml::Table| {
        build_action(&cfg, SqlVersion::default(), &ctx)
            .err()
            .unwrap()
            .to_string()
    };
    assert!(build(http_config("ftp://x/".into(), &[], "")).contains("field `url`"));
    assert!(build(http_config("not a url".into(), &[], "")).contains("field `url`"));
    assert!(
        build(http_config("http://x/${".into(), &[], "")).contains("field `url`: bad template")
    );
    let e = build(http_config("http://x/".into(), &[("bad header", "v")], ""));
    assert!(e.contains("field `headers[0].key`"), "{e}");
    let e = build(http_config("http://x/".into(), &[("k", "${topic(}")], ""));
    assert!(e.contains("field `headers[0].value`: bad template"), "{e}");
    let e = build(http_config("http://x/".into(), &[], "timeout_ms = 0"));
    assert!(e.contains("field `timeout_ms`"), "{e}");
    let e = build(http_config(
        "http://x/".into(),
        &[],
        "retry = { attempts = 0 }",
    ));
    assert!(e.contains("field `retry.attempts`"), "{e}");
}

#[tokio::test]
async fn in_flight_is_bounded() {
    let (addr, script) = serve(&[], Duration::from_millis(200)).await;
    let (ctx, _) = ctx();
    let cfg = http_config(format!("http://{addr}/"), &[], "max_in_flight = 1");
    let action = build_action(&cfg, SqlVersion::default(), &ctx).unwrap();
    let msg = message(b"{}");
    let start = Instant::now();
    let (a, b) = tokio::join!(action.execute(&msg), action.execute(&msg));
    a.unwrap();
    b.unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(400),
        "ran concurrently: {:?}",
        start.elapsed()
    );
    assert_eq!(script.seen.lock().unwrap().len(), 2);
}
