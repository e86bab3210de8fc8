//! `TimestreamConfig`: the `type = "timestream"` table of a rule header (AWS's
//! TimestreamAction: `databaseName`, `tableName`, `dimensions: [{name, value}]`,
//! `timestamp: {value, unit}`; `roleArn` as `role_arn`).

use serde::Deserialize;

use crate::{DeliveryConfig, aws::AwsAccess};

/// Write each top-level attribute of the rule's output as a Timestream record.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimestreamConfig {
    /// `connection` (an `[aws.connections.<name>]`, default `"default"`) and `role_arn`.
    #[serde(flatten)]
    pub access: AwsAccess,
    /// The database (takes templates, as on AWS).
    pub database_name: String,
    /// The table (takes templates, as on AWS).
    pub table_name: String,
    /// The dimensions of every record: 1 to 128 `{ name = "...", value = "${...}" }`; names
    /// are literal, values take templates.
    pub dimensions: Vec<DimensionConfig>,
    /// The records' time; default: the message's arrival time in milliseconds.
    #[serde(default)]
    pub timestamp: Option<TimestampConfig>,
    /// `timeout_ms` (per WriteRecords, default 10000), `retry`, `max_in_flight`.
    #[serde(flatten)]
    pub delivery: DeliveryConfig,
}

/// One dimension: a column of every record this action writes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DimensionConfig {
    pub name: String,
    pub value: String,
}

/// AWS's `timestamp`: an expression giving an epoch time, and its unit.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimestampConfig {
    /// A template rendering to a whole number, e.g. `"${time_to_epoch(ts, 'yyyy-MM-dd')}"`.
    pub value: String,
    /// The value's unit; default MILLISECONDS.
    #[serde(default)]
    pub unit: TimestampUnit,
}

/// AWS's timestamp units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TimestampUnit {
    Seconds,
    #[default]
    Milliseconds,
    Microseconds,
    Nanoseconds,
}
