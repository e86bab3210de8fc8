//! The `kafka` action: one Kafka record per fired message, through rdkafka (bundled
//! librdkafka), acknowledged only once Kafka's delivery report says the record is written.
//!
//! - `connection`: named connections from `rulewire.toml` (`[kafka.connections.<name>]`) and
//!   the producers they share; rule files only name one.
//! - `config`: the rule-header table (`type = "kafka"`, `topic`, `key`, `partition`,
//!   `headers`, `compression`).
//! - `sink`: renders the templates and sends one record, via `Delivered` (in-flight bound,
//!   metrics, `KafkaAction` failure).
//!
//! Retries are librdkafka's, not the action's: a record is retried inside the producer until
//! `message.timeout.ms` (a connection property, default 300000) and only its final outcome is
//! reported. Retrying again on top would re-enqueue a record behind later ones of the same
//! key; with the idempotent producer (default) librdkafka's own retries keep per-partition
//! order. So the action makes one attempt, and `retry` / `timeout_ms` are refused in rules.

mod config;
mod connection;
mod sink;
#[cfg(test)]
mod tests;

use std::{sync::Arc, time::Duration};

use rulewire_engine::SqlVersion;

pub use config::{Compression, KafkaConfig, Partition};
pub use connection::{KafkaConfigError, KafkaConnectionConfig, KafkaConnections, KafkaSettings};

use crate::{
    Action, ActionContext, BuildError, DeliveryConfig, RetryOverride,
    delivery::{Delivered, Delivery, Sink},
    templates::{self, Pairs},
};

/// How much longer than `message.timeout.ms` the action waits for a delivery report before
/// giving up itself (librdkafka should always answer first; this only guards against a hang).
const REPORT_GRACE: Duration = Duration::from_secs(30);

/// Builds a kafka action; templates and the connection are checked now, and its producer
/// (for the rule's `compression`) is created now, so librdkafka errors fail the rule load.
pub fn build(
    cfg: &KafkaConfig,
    version: SqlVersion,
    ctx: &ActionContext,
) -> Result<Arc<dyn Action>, BuildError> {
    if cfg.timeout_ms.is_some() || cfg.retry.is_some() {
        let field = if cfg.retry.is_some() {
            "retry"
        } else {
            "timeout_ms"
        };
        return Err(BuildError::invalid(
            field,
            "not supported by the kafka action: librdkafka retries each record until the \
             connection's \"message.timeout.ms\" (default 300000) and the action reports its \
             final outcome; set that property in [kafka.connections.<name>.properties]",
        ));
    }
    if !ctx.kafka.knows(&cfg.connection) {
        let names = ctx.kafka.names();
        return Err(BuildError::unknown_connection(
            "kafka",
            &cfg.connection,
            &names,
        ));
    }
    if cfg.topic.is_empty() {
        return Err(BuildError::invalid("topic", "must not be empty"));
    }
    let producer = match ctx.kafka.producer(&cfg.connection, cfg.compression) {
        Ok(p) => Ok(p),
        // `rulewire check` (lenient, no connections): the rule builds, sends would fail.
        Err(e) if ctx.kafka.is_lenient() => Err(e),
        Err(e) => return Err(BuildError::invalid("connection", e)),
    };
    let message_timeout = producer
        .as_ref()
        .map_or(Duration::ZERO, |p| p.message_timeout);
    let partition = match &cfg.partition {
        None => None,
        Some(Partition::Number(n)) if *n < 0 => {
            return Err(BuildError::invalid("partition", "must be 0 or more"));
        }
        Some(Partition::Number(n)) => Some(sink::PartitionSpec::Fixed(*n)),
        Some(Partition::Template(t)) => Some(sink::PartitionSpec::Template(templates::field(
            "partition",
            t,
            version,
        )?)),
    };
    let sink = sink::KafkaSink {
        producer,
        topic: templates::field("topic", &cfg.topic, version)?,
        key: cfg
            .key
            .as_deref()
            .map(|k| templates::field("key", k, version))
            .transpose()?,
        partition,
        headers: Pairs::compile("headers", &cfg.headers, version)?,
    };
    let delivery = DeliveryConfig {
        timeout_ms: Some((message_timeout + REPORT_GRACE).as_millis() as u64),
        retry: Some(RetryOverride {
            attempts: Some(1),
            ..Default::default()
        }),
        max_in_flight: cfg.max_in_flight,
    };
    let delivery = Delivery::resolve(&delivery, 0, <sink::KafkaSink as Sink>::KIND, ctx)?;
    Ok(Delivered::action(sink, delivery))
}
