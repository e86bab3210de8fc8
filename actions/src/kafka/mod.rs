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

use rulewire_engine::Template;

pub use config::{Compression, KafkaConfig, Partition};
pub use connection::{KafkaConnection, KafkaConnectionConfig, KafkaSettings};

use crate::{
    Action, ActionContext, BuildError, DeliveryConfig, RetryOverride,
    delivery::{Delivered, Delivery, Sink},
    registry::{ActionType, CheckContext},
    templates::{self, Pairs},
};

/// How much longer than `message.timeout.ms` the action waits for a delivery report before
/// giving up itself (librdkafka should always answer first; this only guards against a hang).
const REPORT_GRACE: Duration = Duration::from_secs(30);

/// The kafka action type (AWS's `KafkaAction`).
pub struct KafkaAction;

/// A checked kafka action: templates compiled, connection known; the producer comes at bind.
pub struct CheckedKafka {
    connection: String,
    compression: Option<Compression>,
    topic: Template,
    key: Option<Template>,
    partition: Option<sink::PartitionSpec>,
    headers: Pairs,
    max_in_flight: Option<usize>,
}

impl ActionType for KafkaAction {
    const NAME: &'static str = sink::KafkaSink::KIND;
    type Config = KafkaConfig;
    type Checked = CheckedKafka;

    fn check(cfg: KafkaConfig, ctx: &CheckContext) -> Result<CheckedKafka, BuildError> {
        let version = ctx.version;
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
        if cfg.max_in_flight == Some(0) {
            return Err(BuildError::invalid("max_in_flight", "must be at least 1"));
        }
        ctx.connections.require("kafka", &cfg.connection)?;
        if cfg.topic.is_empty() {
            return Err(BuildError::invalid("topic", "must not be empty"));
        }
        let partition =
            match &cfg.partition {
                None => None,
                Some(Partition::Number(n)) if *n < 0 => {
                    return Err(BuildError::invalid("partition", "must be 0 or more"));
                }
                Some(Partition::Number(n)) => Some(sink::PartitionSpec::Fixed(*n)),
                Some(Partition::Template(t)) => Some(sink::PartitionSpec::Template(
                    templates::field("partition", t, version)?,
                )),
            };
        let key = cfg.key.as_deref();
        Ok(CheckedKafka {
            topic: templates::field("topic", &cfg.topic, version)?,
            key: key
                .map(|k| templates::field("key", k, version))
                .transpose()?,
            partition,
            headers: Pairs::compile("headers", &cfg.headers, version)?,
            connection: cfg.connection,
            compression: cfg.compression,
            max_in_flight: cfg.max_in_flight,
        })
    }

    /// Gets the connection's producer for the rule's `compression` (created now if new, so a
    /// librdkafka error fails the rule load).
    fn bind(c: CheckedKafka, ctx: &ActionContext) -> Result<Arc<dyn Action>, BuildError> {
        let producer = ctx
            .kafka
            .get(&c.connection)?
            .producer(c.compression)
            .map_err(|e| BuildError::invalid("connection", e))?;
        let delivery = DeliveryConfig {
            timeout_ms: Some((producer.message_timeout + REPORT_GRACE).as_millis() as u64),
            retry: Some(RetryOverride {
                attempts: Some(1),
                ..Default::default()
            }),
            max_in_flight: c.max_in_flight,
        };
        let sink = sink::KafkaSink {
            producer,
            topic: c.topic,
            key: c.key,
            partition: c.partition,
            headers: c.headers,
        };
        let delivery = Delivery::resolve(&delivery, 0, sink::KafkaSink::KIND, ctx)?;
        Ok(Delivered::action(sink, delivery))
    }
}
