//! `S3Config`: the `type = "s3"` table of a rule header, and its optional `batch` table.

use serde::Deserialize;

use crate::DeliveryConfig;

/// Write the rule's output to S3 (AWS's `s3` action), one object per message or batched.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// A `[s3.connections.<name>]` of `rulewire.toml`; default `"default"`.
    #[serde(default = "crate::connections::default_connection")]
    pub connection: String,
    /// AWS's `roleArn`: for an `s3://` connection, a role assumed through STS with its AWS
    /// connection's credentials (see `crate::aws::AwsAccess`).
    #[serde(default)]
    pub role_arn: Option<String>,
    /// Bucket name template (AWS allows templates here through its API).
    pub bucket: String,
    /// Object key template, rendered against the ORIGINAL message, e.g.
    /// `${topic()}/${timestamp()}.json`. Required unless `batch.key` is set.
    #[serde(default)]
    pub key: Option<String>,
    /// Content type of the objects. Default: per message, `application/json` for JSON output
    /// and `application/octet-stream` otherwise; batched, by format.
    #[serde(default)]
    pub content_type: Option<String>,
    /// Present: rows accumulate into one object per batch instead of one object per message.
    #[serde(default)]
    pub batch: Option<S3BatchConfig>,
    /// `timeout_ms` (per upload attempt, default 30000), `retry`, `max_in_flight`.
    #[serde(flatten)]
    pub delivery: DeliveryConfig,
}

/// The object format of batched mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BatchFormat {
    /// JSON Lines: one row (the rule's JSON output) per line.
    #[default]
    Jsonl,
    /// Apache Parquet, schema inferred from the rows of each object (rows must be objects).
    Parquet,
}

impl BatchFormat {
    /// The default content type of an object of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            BatchFormat::Jsonl => "application/x-ndjson",
            BatchFormat::Parquet => "application/vnd.apache.parquet",
        }
    }
}

/// `batch = { ... }`: accumulate rows, flush one object when any threshold is reached.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3BatchConfig {
    #[serde(default)]
    pub format: BatchFormat,
    /// Rows per object at most (also capped by the action's in-flight bound: a message is
    /// acknowledged only once its object is written, so a batch can't outgrow that window).
    #[serde(default = "default_max_rows")]
    pub max_rows: usize,
    /// Bytes of row data (JSON text) per object at most.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: usize,
    /// Age of a batch's first row after which the batch is written anyway.
    #[serde(default = "default_max_age_ms")]
    pub max_age_ms: u64,
    /// Key template of the batch objects (default: the action's `key`). Everything before
    /// its last `/` is rendered per message and groups rows (one open batch per bucket and
    /// directory); the file name after it is rendered once per object, against its first message.
    #[serde(default)]
    pub key: Option<String>,
}

fn default_max_rows() -> usize {
    10_000
}

fn default_max_bytes() -> usize {
    8 * 1024 * 1024
}

fn default_max_age_ms() -> u64 {
    60_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_per_message_and_batched() {
        let s: S3Config =
            toml::from_str("bucket = \"b\"\nkey = \"${topic()}/${timestamp()}.json\"").unwrap();
        assert_eq!(
            (s.connection.as_str(), s.key.as_deref(), s.batch),
            ("default", Some("${topic()}/${timestamp()}.json"), None)
        );

        let text = r#"
connection = "lake"
bucket = "lake-${topic(1)}"
content_type = "text/plain"
timeout_ms = 5000
batch = { format = "parquet", max_rows = 500, key = "${topic(1)}/dt=${parse_time('yyyy-MM-dd', timestamp())}/${newuuid()}.parquet" }
"#;
        let s: S3Config = toml::from_str(text).unwrap();
        assert_eq!(s.connection, "lake");
        assert_eq!(s.delivery.timeout_ms, Some(5000));
        let b = s.batch.unwrap();
        assert_eq!(
            (b.format, b.max_rows, b.max_bytes, b.max_age_ms),
            (BatchFormat::Parquet, 500, 8 << 20, 60_000)
        );
        assert!(b.key.unwrap().ends_with("${newuuid()}.parquet"));
    }

    #[test]
    fn unknown_fields_are_errors() {
        let e = toml::from_str::<S3Config>("bucket = \"b\"\nkey = \"k\"\nbuckets = 1").unwrap_err();
        assert!(e.to_string().contains("unknown field `buckets`"), "{e}");
        let e =
            toml::from_str::<S3Config>("bucket = \"b\"\nbatch = { format = \"csv\" }").unwrap_err();
        assert!(e.to_string().contains("unknown variant `csv`"), "{e}");
        let e = toml::from_str::<S3Config>("bucket = \"b\"\nbatch = { max_row = 1 }").unwrap_err();
        assert!(e.to_string().contains("unknown field `max_row`"), "{e}");
    }
}
