//! `FirehoseConfig`: the `type = "firehose"` table of a rule header (AWS's FirehoseAction:
//! `deliveryStreamName`, `separator`, `batchMode`; `roleArn` as `role_arn`).

use serde::Deserialize;

use crate::{DeliveryConfig, aws::AwsAccess};

/// Put the rule's output into a Firehose stream (Amazon Data Firehose, formerly Kinesis Data
/// Firehose).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirehoseConfig {
    /// `connection` (an `[aws.connections.<name>]`, default `"default"`) and `role_arn`.
    #[serde(flatten)]
    pub access: AwsAccess,
    /// The Firehose stream's name (a template, as AWS allows through its API).
    pub delivery_stream_name: String,
    /// Appended to each record: `"\n"`, `"\t"`, `"\r\n"` or `","` (AWS's valid values). Default:
    /// none.
    #[serde(default)]
    pub separator: Option<String>,
    /// AWS's `batchMode`: when the output is a JSON array, each element is one record (at most
    /// 500). Default false: the whole output is one record.
    #[serde(default)]
    pub batch_mode: bool,
    /// `timeout_ms` (per PutRecordBatch request, default 10000), `retry` (per record),
    /// `max_in_flight`.
    #[serde(flatten)]
    pub delivery: DeliveryConfig,
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_fields_with_defaults() {
        let f: super::FirehoseConfig = toml::from_str("delivery_stream_name = \"s\"").unwrap();
        assert_eq!(
            (f.access.connection.as_str(), f.separator, f.batch_mode),
            ("default", None, false)
        );
        let f: super::FirehoseConfig = toml::from_str(
            "connection = \"aws\"\ndelivery_stream_name = \"s-${topic(1)}\"\nseparator = \"\\r\\n\"\nbatch_mode = true\ntimeout_ms = 100",
        )
        .unwrap();
        assert_eq!((f.separator.as_deref(), f.batch_mode), (Some("\r\n"), true));
        assert_eq!(f.delivery.timeout_ms, Some(100));
        let e = toml::from_str::<super::FirehoseConfig>(
            "delivery_stream_name = \"s\"\nbatchMode = true",
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown field `batchMode`"), "{e}");
    }
}
