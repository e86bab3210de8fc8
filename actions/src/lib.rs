//! rulewire's rule actions: what happens to a message once a rule has fired on it.
//!
//! - `fired`: `FiredMessage`, the original message plus the SELECT output.
//! - `registry`: the action types by `type =` name; `check_action` (pure: templates, limits,
//!   connection names) and `CheckedAction::bind` (clients, metric series).
//! - `connection_names`: the connections `rulewire.toml` configures, for `check`.
//! - `delivery` + `retry`: the plumbing every action shares (bounded in-flight work, timeout,
//!   retries with exponential backoff and full jitter, metrics, `ActionFailure`).
//! - `buffer`: disk buffers (`buffer = { type = "disk" }`): the message is acknowledged once it
//!   is fsync'd to the action's own queue, which a drain delivers from.
//! - `pacing`: one circuit breaker and adaptive concurrency limit per action, shared by all
//!   its attempts.
//! - `batching`: the `Action` of sinks that group messages (s3 batched mode, kinesis).
//! - `record_queue`: per-destination record queues for batch APIs (kinesis, sqs, firehose,
//!   cloudwatch_logs), per-record retries, each message acked by its own records.
//! - `error_payload`: AWS's error-action payload.
//! - one folder per action: `republish/`, `http/`, `s3/`, `kafka/`, `kinesis/`, `sqs/`, `sns/`,
//!   `dynamodb/`, `dynamodb_v2/`, `timestream/`, `firehose/`, `cloudwatch_logs/`, `lambda/`,
//!   `step_functions/`, `opensearch/`, `mqtt/` (a remote broker); `cloudwatch/` holds `metric/` and `alarm/` and what the
//!   two share.
//! - `connections`: the named connections of `rulewire.toml`
//!   (`[s3|kafka|aws|opensearch.connections.*]`),
//!   one registry type for all; `env`: `${env:NAME}` in them; `aws`: the AWS connection
//!   block every AWS SDK action shares.
//!
//! The service checks and binds each action once per rule load (templates compile then, so a
//! bad one fails the rule load), and calls `Action::execute` per fired message.
//! On `Err(ActionFailure)` it collects the failures of all actions of that rule and runs the
//! rule's error action on `msg.for_error_action(&failures)`.

pub mod aws;
mod batching;
pub mod buffer;
pub mod cloudwatch;
pub mod cloudwatch_logs;
mod connection_names;
mod connections;
mod context;
mod delivery;
pub mod dynamodb;
pub mod dynamodb_v2;
mod env;
mod error_payload;
mod fired;
pub mod firehose;
pub mod http;
pub mod kafka;
pub mod kinesis;
pub mod lambda;
mod metrics;
pub mod mqtt;
pub mod opensearch;
mod pacing;
mod record_queue;
mod registry;
pub mod republish;
pub mod retry;
pub mod s3;
pub mod sns;
pub mod sqs;
pub mod step_functions;
mod templates;
pub mod timestream;
mod trace_id;

use rulewire_engine::CompileError;

pub use aws::{AwsConnection, AwsConnectionConfig, AwsSettings};
pub use buffer::{BufferConfig, BufferStatus, BufferStore, WhenFull};
pub use connection_names::ConnectionNames;
pub use connections::{
    ConnectionConfig, ConnectionError, ConnectionSection, Connections, DEFAULT_CONNECTION,
};
pub use context::{
    ActionBinding, ActionContext, BoxFuture, DEFAULT_MAX_IN_FLIGHT, MqttPublisher,
    PublishProperties,
};
pub use delivery::DeliveryConfig;
pub use error_payload::{ActionFailure, error_payload};
pub use fired::FiredMessage;
pub use http::HttpConfig;
pub use kafka::{KafkaConfig, KafkaConnection, KafkaSettings};
pub use kinesis::KinesisConfig;
pub use metrics::{ActionMetrics, ActionMetricsFactory, NoopMetrics, status_class};
pub use opensearch::{OpenSearchConnection, OpenSearchConnectionConfig, OpenSearchSettings};
pub use registry::{CheckContext, CheckedAction, action_types, check_action, unsupported_advice};
pub use republish::RepublishConfig;
pub use retry::{RetryOverride, RetryPolicy};
pub use s3::{S3Config, S3Connection, S3Settings};
pub use templates::KeyValue;
pub use trace_id::{TraceId, TraceIdTooLong};

/// One configured action of one rule. Object-safe: a rule holds `Vec<Arc<dyn Action>>`.
pub trait Action: Send + Sync {
    /// The action type for metric labels: `"republish"`, `"http"`, `"s3"`, `"kafka"`...
    fn kind(&self) -> &'static str;
    /// AWS's name for it in the error payload's `failedAction`: `"RepublishAction"`...
    fn aws_name(&self) -> &'static str;
    /// Delivers `msg.output`, with retries; `Err` once every attempt failed or a permanent
    /// error occurred. Waits for a slot first when the action's in-flight bound is reached.
    fn execute<'a>(&'a self, msg: &'a FiredMessage) -> BoxFuture<'a, Result<(), ActionFailure>>;
    /// A disk-buffered action's queue (for `GET /rules`); `None` for an unbuffered one.
    fn buffer_status(&self) -> Option<BufferStatus> {
        None
    }
    /// The messages this action works on at once, when it bounds them itself (its
    /// `max_in_flight`): a disk buffer's drain hands it that many.
    fn max_in_flight(&self) -> Option<usize> {
        None
    }
}

/// An action configuration that can't be checked or bound; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The table does not fit the action type's fields (serde's message: unknown or missing
    /// field, wrong type).
    #[error("{message}")]
    Config { message: String },
    /// A substitution template did not compile.
    #[error("field `{field}`: bad template: {error}")]
    Template { field: String, error: CompileError },
    /// A value is out of range or malformed.
    #[error("field `{field}`: {message}")]
    Invalid { field: String, message: String },
}

impl BuildError {
    pub(crate) fn invalid(field: &str, message: impl Into<String>) -> BuildError {
        BuildError::Invalid {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
pub(crate) mod test_util;
#[cfg(any(test, feature = "test-servers"))]
pub mod testing;
