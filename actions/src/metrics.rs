//! Metrics hooks the actions call; the service implements them with Prometheus.
//!
//! They mirror AWS IoT's rule-action metrics: `Success`/`Failure` per rule and action type,
//! the HTTP action's `HttpCode_4XX/5XX/Other` classes and its `HttpInvalidUrl` /
//! `HttpRequestTimeout` / `HttpUnknownHost` errors, plus retries and latency. For the
//! error action, build it with a context whose metrics count `ErrorActionSuccess/Failure`.

/// Callbacks from the actions. `rule` is the rule name, `kind` the action's `kind()`.
pub trait ActionMetrics: Send + Sync {
    /// One message delivered (after any retries).
    fn success(&self, rule: &str, kind: &'static str);
    /// One message given up on (retries spent or a permanent error).
    fn failure(&self, rule: &str, kind: &'static str);
    /// One retry (not counted for the first try).
    fn retry(&self, rule: &str, kind: &'static str);
    /// Time from the first try to the outcome, in seconds (retries and backoff included).
    fn latency(&self, rule: &str, kind: &'static str, secs: f64);
    /// One HTTP response, by class: `"2xx"`, `"4xx"`, `"5xx"` or `"other"`.
    fn http_status(&self, rule: &str, class: &'static str);
    /// One HTTP attempt that got no response: `"invalid_url"`, `"timeout"` or `"unknown_host"`
    /// (connection errors count as `"unknown_host"`, as AWS's `HttpUnknownHost`).
    fn http_error(&self, _rule: &str, _reason: &'static str) {}
    /// One request sent that carries `records` messages (batching actions: kinesis).
    fn batch(&self, _rule: &str, _kind: &'static str, _records: usize) {}
}

/// Metrics that go nowhere, for tests and tools.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopMetrics;

impl ActionMetrics for NoopMetrics {
    fn success(&self, _: &str, _: &'static str) {}
    fn failure(&self, _: &str, _: &'static str) {}
    fn retry(&self, _: &str, _: &'static str) {}
    fn latency(&self, _: &str, _: &'static str, _: f64) {}
    fn http_status(&self, _: &str, _: &'static str) {}
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
