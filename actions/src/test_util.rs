//! Helpers shared by this crate's tests: a context with fast retries and counting metrics,
//! a fired message; free ports, moto and `Recorder` (a real HTTP server standing in for a
//! service) come from `testing`.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;

use crate::{
    Action, ActionContext, ActionFailure, ActionMetrics, ActionMetricsFactory, BoxFuture,
    FiredMessage, MqttPublisher, RetryPolicy,
};

/// Installs rustls' ring provider once (reqwest is built with `rustls-no-provider`).
pub(crate) fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A publisher for tests that never publish.
pub(crate) struct NoPublisher;

impl MqttPublisher for NoPublisher {
    fn publish(
        &self,
        _: String,
        _: u8,
        _: bool,
        _: Vec<u8>,
        _: crate::PublishProperties,
    ) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Err("no MQTT in this test".to_owned()) })
    }
}

/// Metrics that count each call by `name:label`, over every action built with them.
#[derive(Default)]
pub(crate) struct CountingMetrics(Arc<Mutex<BTreeMap<String, u64>>>);

impl CountingMetrics {
    /// How often `key` (e.g. "success:http", "status:5xx") was reported.
    pub(crate) fn get(&self, key: &str) -> u64 {
        self.0.lock().unwrap().get(key).copied().unwrap_or(0)
    }

    /// (retries, failures) reported by actions of type `kind`.
    pub(crate) fn retries_and_failures(&self, kind: &str) -> (u64, u64) {
        (
            self.get(&format!("retry:{kind}")),
            self.get(&format!("failure:{kind}")),
        )
    }
}

impl ActionMetricsFactory for CountingMetrics {
    fn action(&self, kind: &'static str) -> Arc<dyn ActionMetrics> {
        Arc::new(KindCounter {
            kind,
            counts: self.0.clone(),
        })
    }
}

/// The `ActionMetrics` of one action: counts into its factory's map.
struct KindCounter {
    kind: &'static str,
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl KindCounter {
    fn bump(&self, key: String) {
        *self.counts.lock().unwrap().entry(key).or_default() += 1;
    }
}

impl ActionMetrics for KindCounter {
    fn success(&self) {
        self.bump(format!("success:{}", self.kind));
    }
    fn failure(&self) {
        self.bump(format!("failure:{}", self.kind));
    }
    fn retry(&self) {
        self.bump(format!("retry:{}", self.kind));
    }
    fn latency(&self, _: f64) {
        self.bump(format!("latency:{}", self.kind));
    }
    fn http_status(&self, class: &'static str) {
        self.bump(format!("status:{class}"));
    }
    fn http_error(&self, reason: &'static str) {
        self.bump(format!("error:{reason}"));
    }
    fn batch(&self, records: usize) {
        self.bump(format!("batch:{}", self.kind));
        for _ in 0..records {
            self.bump(format!("batch_records:{}", self.kind));
        }
    }
}

/// The action a rule-header table describes (`type = ...` included), checked against the
/// connections of `ctx` and bound to it, as the service does.
pub(crate) fn build_action(
    table: &toml::Table,
    version: rulewire_engine::SqlVersion,
    ctx: &ActionContext,
) -> Result<Arc<dyn Action>, crate::BuildError> {
    let names = ctx.connection_names();
    let check = crate::CheckContext {
        version,
        connections: &names,
    };
    crate::check_action(table, &check)?.bind(ctx)
}

/// Checks and binds the rule-header table `text` against `ctx`: `Err` is the error message.
pub(crate) fn try_build(ctx: &ActionContext, text: &str) -> Result<(), String> {
    let built = build_action(&table(text), rulewire_engine::SqlVersion::default(), ctx);
    built.map(|_| ()).map_err(|e| e.to_string())
}

/// A rule-header table from TOML text.
pub(crate) fn table(text: &str) -> toml::Table {
    toml::from_str(text).unwrap_or_else(|e| panic!("bad test table: {e}\n{text}"))
}

/// A context with `publisher`, a real reqwest client, 3 fast attempts and counting metrics.
pub(crate) fn context(publisher: Arc<dyn MqttPublisher>) -> (ActionContext, Arc<CountingMetrics>) {
    install_crypto();
    let http = reqwest::Client::builder().build().expect("reqwest client");
    let metrics = Arc::new(CountingMetrics::default());
    let mut ctx = ActionContext::new(publisher, http).with_metrics(metrics.clone());
    ctx.retry = RetryPolicy {
        attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    };
    (ctx, metrics)
}

/// `rule` fired on `topic`: client `dev-7`, original payload `{"temp":31,"site":"north"}`,
/// timestamp 1700000000000 (2023-11-14), trace id `trace-1`, and this `output`.
pub(crate) fn fired(rule: &str, topic: &str, output: &[u8]) -> FiredMessage {
    FiredMessage {
        rule_name: rule.into(),
        topic: topic.into(),
        client_id: "dev-7".into(),
        original_payload: Bytes::from_static(br#"{"temp":31,"site":"north"}"#),
        output: output.to_vec(),
        timestamp_ms: 1_700_000_000_000,
        trace_id: crate::TraceId::try_from("trace-1").unwrap(),
        ..Default::default()
    }
}

pub(crate) use crate::testing::{Moto, Recorded, Recorder, Reply, free_port, percent_decode};

/// A test context (fast retries, counting metrics) whose AWS connection `moto` is `moto`.
pub(crate) fn moto_context(moto: &Moto) -> (ActionContext, Arc<CountingMetrics>) {
    let (mut ctx, metrics) = context(Arc::new(NoPublisher));
    ctx.aws = Arc::new(crate::Connections::open(&moto.aws_settings("moto")).unwrap());
    (ctx, metrics)
}

/// A test context (fast retries, counting metrics) with one AWS connection `moto`, region
/// us-east-1, plus `fields` (more lines of its table).
fn aws_context(fields: &str) -> (ActionContext, Arc<CountingMetrics>) {
    let (mut ctx, metrics) = context(Arc::new(NoPublisher));
    let table = format!("[connections.moto]\nregion = \"us-east-1\"\n{fields}");
    let settings: crate::AwsSettings = toml::from_str(&table).unwrap();
    ctx.aws = Arc::new(crate::Connections::open(&settings).unwrap());
    (ctx, metrics)
}

/// A test context whose AWS connection `moto` no server answers (to check load errors).
pub(crate) fn offline_aws_context() -> ActionContext {
    aws_context("").0
}

/// A test context whose AWS connection `moto` goes to `endpoint` (a test server standing in
/// for an AWS service), region us-east-1, keys `test`/`test`.
pub(crate) fn endpoint_url_context(endpoint: &str) -> (ActionContext, Arc<CountingMetrics>) {
    aws_context(&format!(
        "endpoint = \"{endpoint}\"\naccess_key_id = \"test\"\nsecret_access_key = \"test\""
    ))
}

/// Runs every message through `action` concurrently (as the service does), in spawn order,
/// and returns the outcomes in the same order.
pub(crate) async fn run_all(
    action: &Arc<dyn Action>,
    msgs: Vec<FiredMessage>,
) -> Vec<Result<(), ActionFailure>> {
    let tasks: Vec<_> = msgs
        .into_iter()
        .map(|m| {
            let a = action.clone();
            tokio::spawn(async move { a.execute(&m).await })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// The requests an `aws_json_server` received: (`X-Amz-Target`, body), in order.
pub(crate) type AwsRequests = Arc<Mutex<Vec<(String, String)>>>;

/// A real HTTP server answering every request as an AWS JSON-protocol service does, with
/// `status` and `body` (an error such as throttling, or a success), and recording what it
/// received.
pub(crate) async fn aws_json_server(
    status: u16,
    body: &'static str,
) -> (std::net::SocketAddr, AwsRequests) {
    aws_server(status, "application/x-amz-json-1.0", body).await
}

/// A real HTTP server answering every request with `status`, `content_type` and `body` (AWS
/// Query services answer errors as `text/xml`), and recording what it received.
pub(crate) async fn aws_server(
    status: u16,
    content_type: &'static str,
    body: &'static str,
) -> (std::net::SocketAddr, AwsRequests) {
    use axum::{http::HeaderMap, response::IntoResponse};
    let requests = AwsRequests::default();
    let seen = requests.clone();
    let status = axum::http::StatusCode::from_u16(status).expect("an HTTP status");
    let app = axum::Router::new().fallback(move |headers: HeaderMap, request: String| {
        let target = headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        seen.lock().unwrap().push((target, request));
        async move { (status, [("content-type", content_type)], body).into_response() }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, requests)
}

/// The `X-Amz-Target`s of `requests`, in order.
pub(crate) fn targets(requests: &AwsRequests) -> Vec<String> {
    requests
        .lock()
        .unwrap()
        .iter()
        .map(|(t, _)| t.clone())
        .collect()
}

/// A test context (fast retries, counting metrics) whose AWS connection `moto` points at
/// `http://<addr>` (a test server standing in for an AWS service).
pub(crate) fn endpoint_context(
    addr: std::net::SocketAddr,
) -> (ActionContext, Arc<CountingMetrics>) {
    aws_context(&format!(
        "endpoint = \"http://{addr}\"\naccess_key_id = \"k\"\nsecret_access_key = \"s\""
    ))
}

/// Checks a failure: its `failedAction`, `failedResource`, and a part of its message.
pub(crate) fn assert_failure(e: &ActionFailure, action: &str, resource: &str, part: &str) {
    assert_eq!(
        (e.failed_action.as_str(), e.failed_resource.as_str()),
        (action, resource),
        "{e:?}"
    );
    assert!(e.error_message.contains(part), "{e:?} lacks {part:?}");
}

/// The error of checking and binding the rule-header table `text` with an AWS connection
/// `moto` (no server behind it), as a string.
pub(crate) fn build_error(text: &str) -> String {
    let ctx = offline_aws_context();
    match build_action(&table(text), rulewire_engine::SqlVersion::default(), &ctx) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// A real HTTP server that answers AWS JSON-protocol requests (awsJson 1.0/1.1: Firehose,
/// CloudWatch Logs, SQS) with `answer(target, request body)`, where `target` is the
/// operation from `X-Amz-Target` (`Firehose_20150804.PutRecordBatch`): throttling, partial
/// failures and other answers moto never gives. `requests` holds (target, body) of each
/// request received, in order.
pub(crate) struct FakeAws {
    pub addr: std::net::SocketAddr,
    pub requests: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
    /// The most requests that were being answered at once.
    pub most_at_once: Arc<std::sync::atomic::AtomicUsize>,
}

/// An answer of `FakeAws`: (HTTP status, JSON body).
pub(crate) type FakeAnswer = (u16, String);

/// The body AWS JSON services send when they throttle a caller (HTTP 400).
pub(crate) fn throttled() -> FakeAnswer {
    (
        400,
        r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.to_owned(),
    )
}

impl FakeAws {
    pub(crate) async fn start(
        answer: impl Fn(&str, &serde_json::Value) -> FakeAnswer + Send + Sync + 'static,
    ) -> FakeAws {
        FakeAws::start_slow(Duration::ZERO, answer).await
    }

    /// `start`, each answer sent `delay` after its request arrived (to see how many
    /// requests a client keeps in flight: `most_at_once`).
    pub(crate) async fn start_slow(
        delay: Duration,
        answer: impl Fn(&str, &serde_json::Value) -> FakeAnswer + Send + Sync + 'static,
    ) -> FakeAws {
        use axum::{body::Bytes, http::HeaderMap, response::IntoResponse};
        use std::sync::atomic::{AtomicUsize, Ordering};
        let at_once = Arc::new(AtomicUsize::new(0));
        let most_at_once = Arc::new(AtomicUsize::new(0));
        let most = Arc::clone(&most_at_once);
        let requests: Arc<Mutex<Vec<(String, serde_json::Value)>>> = Arc::default();
        let seen = requests.clone();
        let answer = Arc::new(answer);
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let target = headers
                .get("x-amz-target")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let json: serde_json::Value =
                serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
            let (status, body) = answer(&target, &json);
            seen.lock().unwrap().push((target, json));
            let now = at_once.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            let at_once = Arc::clone(&at_once);
            async move {
                tokio::time::sleep(delay).await;
                at_once.fetch_sub(1, Ordering::SeqCst);
                let status = axum::http::StatusCode::from_u16(status).unwrap();
                (
                    status,
                    [("content-type", "application/x-amz-json-1.1")],
                    body,
                )
                    .into_response()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeAws {
            addr,
            requests,
            most_at_once,
        }
    }

    /// A test context (fast retries, counting metrics) whose AWS connection `moto` is this
    /// server.
    pub(crate) fn context(&self) -> (ActionContext, Arc<CountingMetrics>) {
        endpoint_context(self.addr)
    }

    /// The requests received for operation `op` (the part of the target after the `.`).
    pub(crate) fn bodies(&self, op: &str) -> Vec<serde_json::Value> {
        let requests = self.requests.lock().unwrap();
        requests
            .iter()
            .filter(|(t, _)| t.rsplit('.').next() == Some(op))
            .map(|(_, b)| b.clone())
            .collect()
    }
}
