//! One Kafka record per fired message: topic, key, partition and headers rendered against the
//! ORIGINAL message, value = the rule's output, timestamp = the message's arrival time. `send`
//! resolves with the delivery report (after librdkafka's own retries), so the MQTT message is
//! acknowledged only once Kafka has the record (`acks=all` by default).

use std::sync::Arc;

use rdkafka::{
    error::{KafkaError, RDKafkaErrorCode},
    message::{Header, OwnedHeaders},
    producer::FutureRecord,
    util::Timeout,
};
use rulewire_engine::Template;

use super::connection::SharedProducer;
use crate::{
    FiredMessage,
    delivery::{AttemptError, Rejected, Sink},
    templates::Pairs,
};

pub(crate) enum PartitionSpec {
    Fixed(i32),
    Template(Template),
}

pub(crate) struct KafkaSink {
    pub producer: Arc<SharedProducer>,
    pub topic: Template,
    pub key: Option<Template>,
    pub partition: Option<PartitionSpec>,
    pub headers: Pairs,
}

/// A record rendered from one message.
pub(crate) struct Record {
    topic: String,
    key: Option<String>,
    partition: Option<i32>,
    headers: Vec<(String, String)>,
}

impl Sink for KafkaSink {
    type Request = Record;
    const KIND: &'static str = "kafka";
    const AWS_NAME: &'static str = "KafkaAction";
    const RETRY_ON_TIMEOUT: bool = false;

    fn prepare(&self, msg: &FiredMessage) -> Result<Record, Rejected> {
        let original = msg.as_engine_message();
        let topic = self.topic.render(&original);
        let rejected = |message: String| Rejected {
            resource: topic.clone(),
            message,
        };
        if topic.is_empty() {
            return Err(rejected("the topic rendered empty".to_owned()));
        }
        let partition = match &self.partition {
            None => None,
            Some(PartitionSpec::Fixed(n)) => Some(*n),
            Some(PartitionSpec::Template(t)) => {
                let text = t.render(&original);
                match text.trim().parse::<i32>() {
                    Ok(n) if n >= 0 => Some(n),
                    _ => {
                        return Err(rejected(format!(
                            "partition rendered {text:?}, not a partition number"
                        )));
                    }
                }
            }
        };
        let key = self
            .key
            .as_ref()
            .map(|k| k.render(&original))
            .filter(|k| !k.is_empty());
        Ok(Record {
            key,
            partition,
            headers: self.headers.render(&original),
            topic,
        })
    }

    fn resource<'a>(&'a self, req: &'a Record) -> &'a str {
        &req.topic
    }

    async fn send(&self, msg: &FiredMessage, req: &Record) -> Result<(), AttemptError> {
        let shared = &self.producer;
        let producer = shared.get();
        let mut record = FutureRecord::<[u8], [u8]>::to(&req.topic)
            .payload(&msg.output)
            .timestamp(msg.timestamp_ms);
        if let Some(key) = &req.key {
            record = record.key(key.as_bytes());
        }
        if let Some(p) = req.partition {
            record = record.partition(p);
        }
        if !req.headers.is_empty() {
            let headers = req.headers.iter().fold(
                OwnedHeaders::new_with_capacity(req.headers.len()),
                |h, (key, value)| {
                    h.insert(Header {
                        key,
                        value: Some(value.as_bytes()),
                    })
                },
            );
            record = record.headers(headers);
        }
        // A full local queue waits (backpressure); the action's timeout bounds the wait.
        match producer.send(record, Timeout::Never).await {
            Ok(_) => Ok(()),
            Err((e, _)) => {
                shared.recover(&producer);
                Err(AttemptError::permanent(describe(&e, msg, req)))
            }
        }
    }
}

/// The failure as the error action reports it.
fn describe(e: &KafkaError, msg: &FiredMessage, req: &Record) -> String {
    let hint = match e.rdkafka_error_code() {
        Some(RDKafkaErrorCode::MessageTimedOut) => {
            " (not delivered within message.timeout.ms: broker unreachable or topic missing?)"
        }
        Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic) => {
            " (the topic does not exist)"
        }
        Some(RDKafkaErrorCode::UnknownPartition) => " (no such partition)",
        _ => "",
    };
    format!(
        "Failed to send the record to Kafka: {e}{hint}. Message arrived on: {}, Action: kafka, Topic: {}",
        msg.topic, req.topic
    )
}
