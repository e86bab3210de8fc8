//! `KinesisConfig`: the `type = "kinesis"` table of a rule header (AWS's Kinesis action:
//! stream name and partition key; `roleArn` as `role_arn`), plus how records
//! are grouped into PutRecords requests.

use serde::Deserialize;

use crate::{DeliveryConfig, aws::AwsAccess};

/// Put the rule's output into a Kinesis data stream, one record per fired message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KinesisConfig {
    /// `connection` (an `[aws.connections.<name>]`, default `"default"`) and `role_arn`.
    #[serde(flatten)]
    pub access: AwsAccess,
    /// Stream name template.
    pub stream_name: String,
    /// Partition key template (AWS: required; 1 to 256 characters once rendered).
    pub partition_key: String,
    /// Records per PutRecords request at most (1..=500). Default 500.
    #[serde(default = "default_max_records")]
    pub max_records: usize,
    /// How long a request waits for more records before it is sent. Default 0: a request is
    /// sent as soon as the previous one to the stream has returned; records arriving
    /// meanwhile form the next one.
    #[serde(default)]
    pub linger_ms: u64,
    /// `timeout_ms` (per PutRecords request, default 10000), `retry` (per record), `max_in_flight`.
    #[serde(flatten)]
    pub delivery: DeliveryConfig,
}

fn default_max_records() -> usize {
    super::MAX_RECORDS_PER_REQUEST
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_fields_with_defaults() {
        let k: super::KinesisConfig =
            toml::from_str("stream_name = \"s-${topic(1)}\"\npartition_key = \"${clientid()}\"")
                .unwrap();
        assert_eq!(
            (k.access.connection.as_str(), k.max_records, k.linger_ms),
            ("default", 500, 0)
        );
        let k: super::KinesisConfig = toml::from_str(
            "connection = \"aws\"\nstream_name = \"s\"\npartition_key = \"k\"\nmax_records = 50\nlinger_ms = 20\ntimeout_ms = 100\nretry = { attempts = 5 }",
        )
        .unwrap();
        assert_eq!((k.max_records, k.linger_ms), (50, 20));
        assert_eq!(k.delivery.timeout_ms, Some(100));
        let e = toml::from_str::<super::KinesisConfig>(
            "stream_name = \"s\"\npartition_key = \"k\"\nlinger = 5",
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown field `linger`"), "{e}");
    }
}
