//! `DynamoDbConfig`: the `type = "dynamodb"` table of a rule header (AWS's DynamoDBAction:
//! `tableName`, `hashKeyField`, `hashKeyValue`, `hashKeyType`, `rangeKeyField`,
//! `rangeKeyValue`, `rangeKeyType`, `payloadField`, `operation`, `roleArn` as
//! `role_arn`). Every field but `connection` and `role_arn` takes substitution templates, as on
//! AWS.

use serde::Deserialize;

use crate::{DeliveryConfig, aws::AwsAccess};

/// Write the rule's output into one column of a DynamoDB item.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamoDbConfig {
    /// `connection` (an `[aws.connections.<name>]`, default `"default"`) and `role_arn`.
    #[serde(flatten)]
    pub access: AwsAccess,
    /// The table's name (or ARN).
    pub table_name: String,
    /// The partition key's attribute name.
    pub hash_key_field: String,
    /// The partition key's value, e.g. `"${topic(2)}"`.
    pub hash_key_value: String,
    /// `STRING` (default) or `NUMBER`.
    #[serde(default)]
    pub hash_key_type: Option<String>,
    /// The sort key's attribute name, for tables that have one.
    #[serde(default)]
    pub range_key_field: Option<String>,
    /// The sort key's value, e.g. `"${timestamp()}"`.
    #[serde(default)]
    pub range_key_value: Option<String>,
    /// `STRING` (default) or `NUMBER`.
    #[serde(default)]
    pub range_key_type: Option<String>,
    /// The column the output is written to; default `payload`.
    #[serde(default)]
    pub payload_field: Option<String>,
    /// `INSERT` (default), `UPDATE` or `DELETE`.
    #[serde(default)]
    pub operation: Option<String>,
    /// `timeout_ms` (per request, default 10000), `retry`, `max_in_flight`.
    #[serde(flatten)]
    pub delivery: DeliveryConfig,
}
