//! Prometheus metrics: AWS IoT's CloudWatch rule metrics under `rulewire_*` names with a
//! `rule` label (TopicMatch, ParseError, RuleNotFound, RuleMessageThrottled, action
//! Success/Failure, ErrorActionSuccess/Failure, HTTP code classes), plus latencies, batch
//! sizes and in-flight depth, disk buffers and circuit breakers. [`Metrics`] owns the registry the admin server renders, and
//! binds the actions crate's `ActionMetrics` series per rule (actions and error action).
//!
//! Invariant (EMQX's): received = rejected + (per matched rule) fired/not-fired, and every
//! fired message ends as action success or failure; `rulewire_in_flight_messages` shows the rest.

use std::sync::{Arc, OnceLock};

use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use rulewire_actions::{ActionMetrics, ActionMetricsFactory};

/// Every metric rulewire exports.
pub struct Metrics {
    pub registry: Registry,
    pub messages_received: IntCounter,
    /// Messages not processed, by `reason`: `too_large` or `malformed`.
    pub payload_rejected: IntCounterVec,
    /// Ingest connections lost or attempts that failed (each is followed by a reconnect).
    pub broker_reconnects: IntCounter,
    pub topic_match: IntCounterVec,
    pub parse_errors: IntCounterVec,
    pub rule_not_found: IntCounterVec,
    pub throttled: IntCounterVec,
    pub rule_fired: IntCounterVec,
    pub action_success: IntCounterVec,
    pub action_failure: IntCounterVec,
    pub error_action_success: IntCounterVec,
    pub error_action_failure: IntCounterVec,
    pub action_retries: IntCounterVec,
    pub http_responses: IntCounterVec,
    pub http_errors: IntCounterVec,
    pub action_latency: HistogramVec,
    /// Messages per request of batching actions (kinesis PutRecords).
    pub action_request_records: HistogramVec,
    pub batch_size: Histogram,
    /// How long the oldest message of each evaluated batch waited between admission and its
    /// batch's evaluation: the rules' queueing delay.
    pub queue_wait: Histogram,
    /// Per message, from admission until every rule is done with it (QoS 1: until it may be
    /// acked).
    pub message_seconds: Histogram,
    pub rule_eval: HistogramVec,
    pub in_flight: IntGauge,
    /// `limits.max_in_flight`: in-flight at this bound means ingestion waits (alert on it).
    pub max_in_flight: IntGauge,
    pub rule_load_errors: IntCounter,
    /// Disk buffers and circuit breakers, per rule and action.
    pub buffer_records: IntGaugeVec,
    pub buffer_bytes: IntGaugeVec,
    pub buffer_oldest_age: GaugeVec,
    pub buffer_drained: IntCounterVec,
    pub buffer_dropped: IntCounterVec,
    pub buffer_corrupt: IntCounterVec,
    pub circuit_open: IntGaugeVec,
    pub circuit_trips: IntCounterVec,
    /// Messages the embedded broker dropped, by `reason` (queue_full, expired, ...).
    pub embedded_broker_dropped: IntCounterVec,
    /// Device requests the embedded broker refused, by `action` (iot:Connect, iot:Publish, ...).
    pub embedded_broker_denied: IntCounterVec,
    /// Shadow requests by `operation` and `result` (`accepted` or the error code).
    pub shadow_requests: IntCounterVec,
    /// Shadow answers that could not be published.
    pub shadow_publish_failures: IntCounter,
    /// Shadows that exist (deleted ones not counted).
    pub shadows: IntGauge,
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), &["rule", "action"]).expect("valid metric");
    registry
        .register(Box::new(g.clone()))
        .expect("unique metric");
    g
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(c.clone()))
        .expect("unique metric");
    c
}

/// A registered histogram without labels.
fn histogram(registry: &Registry, name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    let opts = HistogramOpts::new(name, help).buckets(buckets);
    registered(
        registry,
        Histogram::with_opts(opts).expect("valid histogram"),
    )
}

/// Registers one metric and returns it.
fn registered<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: M,
) -> M {
    registry
        .register(Box::new(metric.clone()))
        .expect("unique metric");
    metric
}

impl Metrics {
    pub fn new() -> Metrics {
        let r = Registry::new();
        let messages_received = IntCounter::new(
            "rulewire_messages_received_total",
            "MQTT messages read from the broker",
        )
        .unwrap();
        r.register(Box::new(messages_received.clone())).unwrap();
        let broker_reconnects = IntCounter::new(
            "rulewire_broker_reconnects_total",
            "Ingest connections to the broker lost or failed to open (each is retried)",
        )
        .unwrap();
        r.register(Box::new(broker_reconnects.clone())).unwrap();
        let rule_load_errors = IntCounter::new(
            "rulewire_rule_load_errors_total",
            "Rule files that failed to load",
        )
        .unwrap();
        r.register(Box::new(rule_load_errors.clone())).unwrap();
        let in_flight = IntGauge::new(
            "rulewire_in_flight_messages",
            "Messages read and not yet acked",
        )
        .unwrap();
        r.register(Box::new(in_flight.clone())).unwrap();
        let batch_size = histogram(
            &r,
            "rulewire_batch_size",
            "Messages per evaluated batch",
            vec![
                1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
            ],
        );
        let queue_wait = histogram(
            &r,
            "rulewire_queue_wait_seconds",
            "Time the oldest message of each evaluated batch waited from admission to evaluation",
            prometheus::exponential_buckets(0.00005, 2.0, 14).unwrap(),
        );
        let message_seconds = histogram(
            &r,
            "rulewire_message_seconds",
            "Time from a message's admission until every rule is done with it (actions succeeded or the error action took the failure)",
            prometheus::exponential_buckets(0.00005, 2.0, 16).unwrap(),
        );
        let action_latency = HistogramVec::new(
            HistogramOpts::new(
                "rulewire_action_latency_seconds",
                "Action time from first try to outcome",
            )
            .buckets(prometheus::exponential_buckets(0.0005, 2.0, 16).unwrap()),
            &["rule", "action"],
        )
        .unwrap();
        r.register(Box::new(action_latency.clone())).unwrap();
        let action_request_records = HistogramVec::new(
            HistogramOpts::new(
                "rulewire_action_request_records",
                "Records per request of batching actions (kinesis PutRecords, sqs SendMessageBatch, firehose PutRecordBatch, cloudwatch_logs PutLogEvents)",
            )
            .buckets(vec![1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0]),
            &["rule", "action"],
        )
        .unwrap();
        r.register(Box::new(action_request_records.clone()))
            .unwrap();
        let rule_eval = HistogramVec::new(
            HistogramOpts::new(
                "rulewire_rule_eval_seconds",
                "Time to evaluate one batch of the rule's FROM-filter group",
            )
            .buckets(prometheus::exponential_buckets(0.00001, 2.0, 16).unwrap()),
            &["rule"],
        )
        .unwrap();
        r.register(Box::new(rule_eval.clone())).unwrap();
        let buffer_oldest_age = GaugeVec::new(
            Opts::new(
                "rulewire_buffer_oldest_age_seconds",
                "Age of the oldest record a disk buffer is delivering (0 when empty)",
            ),
            &["rule", "action"],
        )
        .unwrap();
        r.register(Box::new(buffer_oldest_age.clone())).unwrap();
        let per_action = ["rule", "action"];
        Metrics {
            buffer_records: gauge(
                &r,
                "rulewire_buffer_records",
                "Records in a disk buffer not yet delivered",
            ),
            buffer_bytes: gauge(
                &r,
                "rulewire_buffer_bytes",
                "Bytes on disk of the records a disk buffer has not yet delivered",
            ),
            buffer_oldest_age,
            buffer_drained: counter(
                &r,
                "rulewire_buffer_drained_total",
                "Records a disk buffer finished (delivered, or handed to the error action)",
                &per_action,
            ),
            buffer_dropped: counter(
                &r,
                "rulewire_buffer_dropped_total",
                "Messages dropped because the disk buffer was full (when_full = \"drop_newest\")",
                &per_action,
            ),
            buffer_corrupt: counter(
                &r,
                "rulewire_buffer_corrupt_records_total",
                "Records found unreadable in a disk buffer and skipped",
                &per_action,
            ),
            circuit_open: gauge(
                &r,
                "rulewire_action_circuit_open",
                "1 while the action's circuit breaker is open (attempts held or failed fast)",
            ),
            circuit_trips: counter(
                &r,
                "rulewire_action_circuit_trips_total",
                "Times the action's circuit breaker opened (or re-opened after a failed probe)",
                &per_action,
            ),
            embedded_broker_dropped: counter(
                &r,
                "rulewire_embedded_broker_dropped_total",
                "Messages the embedded broker dropped, by reason (queue_full: a client's queue held embedded_broker.max_queued_messages)",
                &["reason"],
            ),
            embedded_broker_denied: counter(
                &r,
                "rulewire_embedded_broker_denied_total",
                "Device requests the embedded broker refused (by its policies or credentials, or asking for QoS 2, which AWS IoT does not support), by action (iot:Connect, iot:Publish, iot:Subscribe, iot:Receive, ...)",
                &["action"],
            ),
            shadow_requests: counter(
                &r,
                "rulewire_shadow_requests_total",
                "Device Shadow requests, by operation (get, update, delete) and result (accepted, or the error code sent on /rejected)",
                &["operation", "result"],
            ),
            shadow_publish_failures: registered(
                &r,
                IntCounter::new(
                    "rulewire_shadow_publish_failures_total",
                    "Device Shadow answers (accepted, rejected, delta, documents) that could not be published",
                )
                .expect("valid metric"),
            ),
            shadows: registered(
                &r,
                IntGauge::new("rulewire_shadows", "Device Shadows stored (classic and named)")
                    .expect("valid metric"),
            ),
            messages_received,
            broker_reconnects,
            payload_rejected: counter(
                &r,
                "rulewire_payload_rejected_total",
                "Messages acked and not processed: payload over limits.max_payload_bytes (too_large) or a PUBLISH that does not decode (malformed)",
                &["reason"],
            ),
            topic_match: counter(
                &r,
                "rulewire_topic_match_total",
                "Messages on a topic the rule listens on (TopicMatch)",
                &["rule"],
            ),
            parse_errors: counter(
                &r,
                "rulewire_parse_errors_total",
                "Malformed JSON payloads (ParseError)",
                &["rule"],
            ),
            rule_not_found: counter(
                &r,
                "rulewire_rule_not_found_total",
                "Basic Ingest to an unknown or disabled rule (RuleNotFound)",
                &["rule"],
            ),
            throttled: counter(
                &r,
                "rulewire_rule_message_throttled_total",
                "Messages throttled (RuleMessageThrottled)",
                &["rule"],
            ),
            rule_fired: counter(
                &r,
                "rulewire_rule_fired_total",
                "Messages for which the rule's WHERE held",
                &["rule"],
            ),
            action_success: counter(
                &r,
                "rulewire_action_success_total",
                "Action deliveries (Success)",
                &["rule", "action"],
            ),
            action_failure: counter(
                &r,
                "rulewire_action_failure_total",
                "Actions given up on (Failure)",
                &["rule", "action"],
            ),
            error_action_success: counter(
                &r,
                "rulewire_error_action_success_total",
                "ErrorActionSuccess",
                &["rule", "action"],
            ),
            error_action_failure: counter(
                &r,
                "rulewire_error_action_failure_total",
                "ErrorActionFailure",
                &["rule", "action"],
            ),
            action_retries: counter(
                &r,
                "rulewire_action_retries_total",
                "Action retries",
                &["rule", "action"],
            ),
            http_responses: counter(
                &r,
                "rulewire_http_action_responses_total",
                "HTTP action responses by class",
                &["rule", "code_class"],
            ),
            http_errors: counter(
                &r,
                "rulewire_http_action_errors_total",
                "HTTP action attempts without response",
                &["rule", "reason"],
            ),
            action_latency,
            action_request_records,
            batch_size,
            queue_wait,
            message_seconds,
            rule_eval,
            in_flight,
            max_in_flight: registered(
                &r,
                IntGauge::new(
                    "rulewire_max_in_flight_messages",
                    "limits.max_in_flight: when rulewire_in_flight_messages reaches it, rulewire stops reading new messages",
                )
                .expect("valid metric"),
            ),
            rule_load_errors,
            registry: r,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding");
        String::from_utf8(buf).expect("prometheus text is UTF-8")
    }
}

/// One rule's evaluation series, resolved once when the rule loads (not per batch).
pub struct RuleMetrics {
    /// Messages routed to the rule (AWS's TopicMatch), counted per batch by its worker.
    pub topic_match: IntCounter,
    pub fired: IntCounter,
    pub parse_errors: IntCounter,
    pub eval: Histogram,
}

impl RuleMetrics {
    pub fn new(metrics: &Metrics, rule: &str) -> RuleMetrics {
        RuleMetrics {
            topic_match: metrics.topic_match.with_label_values(&[rule]),
            fired: metrics.rule_fired.with_label_values(&[rule]),
            parse_errors: metrics.parse_errors.with_label_values(&[rule]),
            eval: metrics.rule_eval.with_label_values(&[rule]),
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Binds the series of one rule's actions (or, with `error_action`, of its error action) when
/// each action is built, so no label is looked up per message.
pub struct RuleActionHooks {
    metrics: Arc<Metrics>,
    error_action: bool,
    rule: String,
}

impl RuleActionHooks {
    pub fn new(metrics: Arc<Metrics>, error_action: bool, rule: &str) -> RuleActionHooks {
        RuleActionHooks {
            metrics,
            error_action,
            rule: rule.to_owned(),
        }
    }
}

impl ActionMetricsFactory for RuleActionHooks {
    fn action(&self, kind: &'static str) -> Arc<dyn ActionMetrics> {
        let m = &self.metrics;
        let labels = [self.rule.as_str(), kind];
        let (success, failure) = if self.error_action {
            (&m.error_action_success, &m.error_action_failure)
        } else {
            (&m.action_success, &m.action_failure)
        };
        Arc::new(ActionSeries {
            success: success.with_label_values(&labels),
            failure: failure.with_label_values(&labels),
            retries: m.action_retries.with_label_values(&labels),
            latency: m.action_latency.with_label_values(&labels),
            metrics: m.clone(),
            rule: self.rule.clone(),
            kind,
            http_status: Default::default(),
            http_errors: Default::default(),
            batch: OnceLock::new(),
            buffer: OnceLock::new(),
            circuit: OnceLock::new(),
        })
    }
}

/// HTTP status classes and errors, in the order of the `ActionSeries` arrays.
const HTTP_CLASSES: [&str; 4] = ["2xx", "4xx", "5xx", "other"];
const HTTP_ERRORS: [&str; 3] = ["invalid_url", "timeout", "unknown_host"];

/// One action's series. The ones only some actions report (HTTP classes and errors, request
/// sizes) are bound on first use, so an action never shows series it cannot move.
struct ActionSeries {
    success: IntCounter,
    failure: IntCounter,
    retries: IntCounter,
    latency: Histogram,
    metrics: Arc<Metrics>,
    rule: String,
    kind: &'static str,
    http_status: [OnceLock<IntCounter>; 4],
    http_errors: [OnceLock<IntCounter>; 3],
    batch: OnceLock<Histogram>,
    buffer: OnceLock<BufferSeries>,
    circuit: OnceLock<(IntGauge, IntCounter)>,
}

/// A disk-buffered action's series.
struct BufferSeries {
    records: IntGauge,
    bytes: IntGauge,
    oldest_age: Gauge,
    drained: IntCounter,
    dropped: IntCounter,
    corrupt: IntCounter,
}

impl ActionSeries {
    fn buffer(&self) -> &BufferSeries {
        self.buffer.get_or_init(|| {
            let m = &self.metrics;
            let labels = [self.rule.as_str(), self.kind];
            BufferSeries {
                records: m.buffer_records.with_label_values(&labels),
                bytes: m.buffer_bytes.with_label_values(&labels),
                oldest_age: m.buffer_oldest_age.with_label_values(&labels),
                drained: m.buffer_drained.with_label_values(&labels),
                dropped: m.buffer_dropped.with_label_values(&labels),
                corrupt: m.buffer_corrupt.with_label_values(&labels),
            }
        })
    }

    fn circuit(&self) -> &(IntGauge, IntCounter) {
        self.circuit.get_or_init(|| {
            let labels = [self.rule.as_str(), self.kind];
            (
                self.metrics.circuit_open.with_label_values(&labels),
                self.metrics.circuit_trips.with_label_values(&labels),
            )
        })
    }

    /// Counter `vec{rule, label}`, where `label` is `labels[i]`, bound once in `slots[i]`.
    fn counter<'a>(
        &self,
        slots: &'a [OnceLock<IntCounter>],
        labels: &[&str],
        vec: &IntCounterVec,
        label: &str,
    ) -> Option<&'a IntCounter> {
        let i = labels.iter().position(|l| *l == label)?;
        Some(slots[i].get_or_init(|| vec.with_label_values(&[self.rule.as_str(), label])))
    }
}

impl ActionMetrics for ActionSeries {
    fn success(&self) {
        self.success.inc();
    }
    fn failure(&self) {
        self.failure.inc();
    }
    fn retry(&self) {
        self.retries.inc();
    }
    fn latency(&self, secs: f64) {
        self.latency.observe(secs);
    }
    fn http_status(&self, class: &'static str) {
        let vec = &self.metrics.http_responses;
        if let Some(c) = self.counter(&self.http_status, &HTTP_CLASSES, vec, class) {
            c.inc();
        }
    }
    fn http_error(&self, reason: &'static str) {
        let vec = &self.metrics.http_errors;
        if let Some(c) = self.counter(&self.http_errors, &HTTP_ERRORS, vec, reason) {
            c.inc();
        }
    }
    fn batch(&self, records: usize) {
        let labels = [self.rule.as_str(), self.kind];
        self.batch
            .get_or_init(|| {
                self.metrics
                    .action_request_records
                    .with_label_values(&labels)
            })
            .observe(records as f64);
    }
    fn circuit_open(&self, open: bool) {
        self.circuit().0.set(i64::from(open));
    }
    fn circuit_tripped(&self) {
        self.circuit().1.inc();
    }
    fn buffer_state(&self, records: u64, bytes: u64, oldest_age_secs: f64) {
        let b = self.buffer();
        b.records.set(records as i64);
        b.bytes.set(bytes as i64);
        b.oldest_age.set(oldest_age_secs);
    }
    fn buffer_drained(&self) {
        self.buffer().drained.inc();
    }
    fn buffer_dropped(&self) {
        self.buffer().dropped.inc();
    }
    fn buffer_corrupt(&self, records: u64) {
        self.buffer().corrupt.inc_by(records);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each action's bound series count under its rule and kind, for both contexts, and the
    /// on-demand HTTP and batch series appear only once reported.
    #[test]
    fn bound_series_count_under_rule_and_kind() {
        let metrics = Arc::new(Metrics::new());
        let hooks = RuleActionHooks::new(metrics.clone(), false, "r1");
        let republish = hooks.action("republish");
        let http = hooks.action("http");
        republish.success();
        republish.success();
        http.failure();
        http.retry();
        http.latency(0.5);
        http.http_status("5xx");
        http.http_status("5xx");
        http.http_error("timeout");
        hooks.action("kinesis").batch(3);
        RuleActionHooks::new(metrics.clone(), false, "other")
            .action("republish")
            .success();
        RuleActionHooks::new(metrics.clone(), true, "r1")
            .action("republish")
            .success();
        let text = metrics.render();
        for line in [
            r#"rulewire_action_success_total{action="republish",rule="r1"} 2"#,
            r#"rulewire_action_failure_total{action="http",rule="r1"} 1"#,
            r#"rulewire_action_retries_total{action="http",rule="r1"} 1"#,
            r#"rulewire_action_latency_seconds_count{action="http",rule="r1"} 1"#,
            r#"rulewire_action_success_total{action="republish",rule="other"} 1"#,
            r#"rulewire_error_action_success_total{action="republish",rule="r1"} 1"#,
            r#"rulewire_http_action_responses_total{code_class="5xx",rule="r1"} 2"#,
            r#"rulewire_http_action_errors_total{reason="timeout",rule="r1"} 1"#,
            r#"rulewire_action_request_records_count{action="kinesis",rule="r1"} 1"#,
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        assert!(
            !text.contains(r#"code_class="2xx""#),
            "unreported class shown:\n{text}"
        );
    }
}
