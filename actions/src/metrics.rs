//! Metrics hooks the actions call; the service implements them with Prometheus.
//!
//! They mirror AWS IoT's rule-action metrics: `Success`/`Failure` per rule and action type,
//! the HTTP action's `HttpCode_4XX/5XX/Other` classes and its `HttpInvalidUrl` /
//! `HttpRequestTimeout` / `HttpUnknownHost` errors, plus retries and latency.
//!
//! Series are bound when an action is built: `ActionMetricsFactory::action` is called once per
//! action (the factory knows the rule, and whether it counts a rule's actions or its error
//! action), and the action keeps the `ActionMetrics` it returns, so nothing is looked up by
//! label per message.

use std::sync::Arc;

/// One action's metric series, bound when the action is built.
pub trait ActionMetrics: Send + Sync {
    /// One message delivered (after any retries).
    fn success(&self);
    /// One message given up on (retries spent or a permanent error).
    fn failure(&self);
    /// One retry (not counted for the first try).
    fn retry(&self);
    /// Time from the first try to the outcome, in seconds (retries and backoff included).
    fn latency(&self, secs: f64);
    /// One HTTP response, by class: `"2xx"`, `"4xx"`, `"5xx"` or `"other"`.
    fn http_status(&self, _class: &'static str) {}
    /// One HTTP attempt that got no response: `"invalid_url"`, `"timeout"` or `"unknown_host"`
    /// (connection errors count as `"unknown_host"`, as AWS's `HttpUnknownHost`).
    fn http_error(&self, _reason: &'static str) {}
    /// One request sent that carries `records` records (batching actions: kinesis, sqs,
    /// firehose, cloudwatch_logs).
    fn batch(&self, _records: usize) {}
    /// The action's circuit breaker opened (`true`) or closed again (`false`).
    fn circuit_open(&self, _open: bool) {}
    /// The breaker opened or re-opened after a failed probe.
    fn circuit_tripped(&self) {}
    /// A disk buffer's contents: records and bytes not yet delivered, and the age in seconds
    /// of the oldest record being delivered (0 when none is).
    fn buffer_state(&self, _records: u64, _bytes: u64, _oldest_age_secs: f64) {}
    /// One buffered record finished (delivered, or handed to the error action).
    fn buffer_drained(&self) {}
    /// One message dropped because the disk buffer was full (`when_full = "drop_newest"`).
    fn buffer_dropped(&self) {}
    /// Records found unreadable in the disk buffer and skipped (lost).
    fn buffer_corrupt(&self, _records: u64) {}
}

/// Hands each action its series when it is built. The service makes one per rule (and one
/// per rule's error action); `kind` is the action's type name (`"republish"`, `"s3"`...).
pub trait ActionMetricsFactory: Send + Sync {
    fn action(&self, kind: &'static str) -> Arc<dyn ActionMetrics>;
}

/// Metrics that go nowhere, for tests and tools.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopMetrics;

impl ActionMetrics for NoopMetrics {
    fn success(&self) {}
    fn failure(&self) {}
    fn retry(&self) {}
    fn latency(&self, _: f64) {}
}

impl ActionMetricsFactory for NoopMetrics {
    fn action(&self, _: &'static str) -> Arc<dyn ActionMetrics> {
        Arc::new(NoopMetrics)
    }
}

/// The class label for an HTTP status code.
pub fn status_class(status: u16) -> &'static str {
    match status {
        200..=299 => "2xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}
