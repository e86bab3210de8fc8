//! `ActionContext`: what the service hands every action it builds.
//!
//! The MQTT connection (behind `MqttPublisher`, which the service implements over rumqttc),
//! one shared `reqwest::Client`, the default retry policy and in-flight bound, the metrics
//! hooks, the named S3, Kafka, AWS and OpenSearch connections, and the disk buffers' store.
//! Cheap to clone; the service clones it per rule (other metrics) and per action
//! ([`ActionBinding`]: where the action's disk buffer lives, the rule's error action).

use std::{collections::BTreeMap, future::Future, pin::Pin, sync::Arc};

use crate::{
    Action, ActionMetricsFactory, AwsConnection, BufferStore, ConnectionNames, Connections,
    KafkaConnection, NoopMetrics, OpenSearchConnection, RetryPolicy, S3Connection,
};

/// A boxed, `Send` future (what the object-safe traits of this crate return).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// MQTT 5 properties of one publish (AWS's republish `headers`). MQTT 3.1.1 carries none of
/// them; the publisher drops them there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishProperties {
    pub user_properties: Vec<(String, String)>,
    pub content_type: Option<String>,
    pub correlation_data: Option<Vec<u8>>,
    /// Seconds.
    pub message_expiry: Option<u32>,
    /// 0: unspecified bytes, 1: UTF-8 data.
    pub payload_format_indicator: Option<u8>,
    pub response_topic: Option<String>,
}

/// Publishes to the MQTT broker the service is connected to.
pub trait MqttPublisher: Send + Sync {
    /// Publishes one message. For QoS 1 the future should resolve once the broker's PUBACK
    /// has arrived (at-least-once depends on it); for QoS 0 once the packet is handed over.
    /// `Err` carries a readable cause; the republish action retries it.
    fn publish(
        &self,
        topic: String,
        qos: u8,
        retain: bool,
        payload: Vec<u8>,
        properties: PublishProperties,
    ) -> BoxFuture<'_, Result<(), String>>;
}

/// Everything actions need from the service.
#[derive(Clone)]
pub struct ActionContext {
    pub publisher: Arc<dyn MqttPublisher>,
    /// Shared HTTP client (connection pool). Its own timeouts, if any, add to the action's.
    pub http: reqwest::Client,
    /// Default retry policy; each action may override parts of it.
    pub retry: RetryPolicy,
    /// Default bound on messages one action works on at once (retries included); each action
    /// may override it with `max_in_flight`. Callers beyond it wait (backpressure).
    pub max_in_flight: usize,
    /// Hands each action built with this context its metric series.
    pub metrics: Arc<dyn ActionMetricsFactory>,
    /// Named S3 connections (`[s3.connections.*]`).
    pub s3: Arc<Connections<S3Connection>>,
    /// Named Kafka connections and their producers (`[kafka.connections.*]`).
    pub kafka: Arc<Connections<KafkaConnection>>,
    /// Named AWS connections (`[aws.connections.*]`), shared by the AWS SDK actions.
    pub aws: Arc<Connections<AwsConnection>>,
    /// Named OpenSearch connections (`[opensearch.connections.*]`): how requests authenticate.
    pub opensearch: Arc<Connections<OpenSearchConnection>>,
    /// Remote brokers (`[mqtt.connections.*]`) the mqtt action publishes to, by name.
    pub mqtt: Arc<BTreeMap<String, Arc<dyn MqttPublisher>>>,
    /// Where disk buffers live and which are open; `None`: `buffer = { type = "disk" }` fails
    /// to bind.
    pub buffers: Option<Arc<BufferStore>>,
    /// The action being bound: its place in its rule, and the rule's error action.
    pub binding: ActionBinding,
    /// Bound behind a disk buffer: retryable failures are retried until they succeed (unless
    /// the action sets `retry.attempts`) and an open circuit breaker waits instead of failing.
    pub(crate) buffered: bool,
}

/// Which action of which rule is being bound; the service sets it per action.
#[derive(Clone, Default)]
pub struct ActionBinding {
    /// The rule's name.
    pub rule: String,
    /// The action's place in the rule, stable across restarts: `"0-http"` (the first action,
    /// of type http), `"error-republish"`. Names its disk buffer's directory.
    pub slot: String,
    /// The rule's error action (bound first), which a disk buffer's drain runs for messages
    /// that finally fail.
    pub error_action: Option<Arc<dyn Action>>,
}

/// Default `ActionContext::max_in_flight`.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;

impl ActionContext {
    /// A context with the default retry policy and in-flight bound, no-op metrics and no
    /// connections.
    pub fn new(publisher: Arc<dyn MqttPublisher>, http: reqwest::Client) -> ActionContext {
        ActionContext {
            publisher,
            http,
            retry: RetryPolicy::default(),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            metrics: Arc::new(NoopMetrics),
            s3: Arc::new(Connections::none("s3")),
            kafka: Arc::new(Connections::none("kafka")),
            aws: Arc::new(Connections::none("aws")),
            opensearch: Arc::new(Connections::none("opensearch")),
            mqtt: Arc::new(BTreeMap::new()),
            buffers: None,
            binding: ActionBinding::default(),
            buffered: false,
        }
    }

    /// The names of the connections this context has, for checking actions against them.
    pub fn connection_names(&self) -> ConnectionNames {
        ConnectionNames::default()
            .with("s3", self.s3.names())
            .with("kafka", self.kafka.names())
            .with("aws", self.aws.names())
            .with("opensearch", self.opensearch.names())
            .with("mqtt", self.mqtt.keys().cloned())
    }

    /// The same context binding the action `binding` describes.
    pub fn for_action(&self, binding: ActionBinding) -> ActionContext {
        ActionContext {
            binding,
            ..self.clone()
        }
    }

    /// The same context for an action bound behind a disk buffer.
    pub(crate) fn buffered(&self) -> ActionContext {
        ActionContext {
            buffered: true,
            ..self.clone()
        }
    }

    /// The same context binding other metrics (one rule's, or its error action's).
    pub fn with_metrics(&self, metrics: Arc<dyn ActionMetricsFactory>) -> ActionContext {
        ActionContext {
            metrics,
            ..self.clone()
        }
    }
}
