//! `KafkaConfig`: the `type = "kafka"` table of a rule header (AWS's Kafka action fields:
//! topic, key, partition, headers; the connection replaces AWS's destination ARN and
//! `clientProperties`, which live in `rulewire.toml`).

use serde::{Deserialize, Serialize};

use crate::{KeyValue, RetryOverride};

/// Send the rule's output as one Kafka record per fired message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// A `[kafka.connections.<name>]` of `rulewire.toml`; default `"default"`.
    #[serde(default = "crate::connections::default_connection")]
    pub connection: String,
    /// Topic template, e.g. `telemetry-${topic(2)}`.
    pub topic: String,
    /// Record key template; absent (or rendered empty): no key.
    #[serde(default)]
    pub key: Option<String>,
    /// Partition: a number or a template rendering to one; absent: librdkafka's partitioner
    /// (by key hash).
    #[serde(default)]
    pub partition: Option<Partition>,
    /// Record headers; keys and values are templates.
    #[serde(default)]
    pub headers: Vec<KeyValue>,
    /// `compression.type` of the records; default: the connection's (librdkafka: none).
    #[serde(default)]
    pub compression: Option<Compression>,
    /// Bound on this action's messages awaiting their delivery report.
    #[serde(default)]
    pub max_in_flight: Option<usize>,
    /// Not supported: librdkafka's `message.timeout.ms` (connection property) bounds delivery.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Not supported: librdkafka retries (see `timeout_ms`).
    #[serde(default)]
    pub retry: Option<RetryOverride>,
}

/// `partition = 3` or `partition = "${...}"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Partition {
    Number(i32),
    Template(String),
}

/// `compression = "none" | "gzip" | "snappy" | "lz4" | "zstd"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    /// librdkafka's `compression.type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_fields_and_rejects_unknown_ones() {
        let text = r#"
connection = "events"
topic = "telemetry-${topic(2)}"
key = "${clientid()}"
partition = "${get(topic(), 1)}"
headers = [{ key = "source", value = "${topic()}" }]
compression = "lz4"
max_in_flight = 64
"#;
        let k: KafkaConfig = toml::from_str(text).unwrap();
        assert_eq!(k.connection, "events");
        assert_eq!(k.key.as_deref(), Some("${clientid()}"));
        assert_eq!(
            k.partition,
            Some(Partition::Template("${get(topic(), 1)}".into()))
        );
        assert_eq!(k.headers.len(), 1);
        assert_eq!(
            (k.compression, k.max_in_flight),
            (Some(Compression::Lz4), Some(64))
        );

        let k: KafkaConfig = toml::from_str("topic = \"t\"\npartition = 2").unwrap();
        assert_eq!(
            (k.connection.as_str(), k.partition),
            ("default", Some(Partition::Number(2)))
        );
        let e = toml::from_str::<KafkaConfig>("topic = \"t\"\nkeys = \"k\"").unwrap_err();
        assert!(e.to_string().contains("unknown field `keys`"), "{e}");
        let e =
            toml::from_str::<KafkaConfig>("topic = \"t\"\ncompression = \"brotli\"").unwrap_err();
        assert!(e.to_string().contains("unknown variant `brotli`"), "{e}");
    }
}
