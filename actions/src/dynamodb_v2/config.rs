//! `DynamoDbV2Config`: the `type = "dynamodb_v2"` table of a rule header (AWS's
//! DynamoDBv2Action: `putItem: {tableName}`, written `put_item = { table_name = "..." }`;
//! `roleArn` as `role_arn`).

use serde::Deserialize;

use crate::{DeliveryConfig, aws::AwsAccess};

/// Write the rule's output as one DynamoDB item, one column per top-level key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamoDbV2Config {
    /// `connection` (an `[aws.connections.<name>]`, default `"default"`) and `role_arn`.
    #[serde(flatten)]
    pub access: AwsAccess,
    /// AWS's `putItem`: the table to write to.
    pub put_item: PutItemInput,
    /// `timeout_ms` (per PutItem, default 10000), `retry`, `max_in_flight`.
    #[serde(flatten)]
    pub delivery: DeliveryConfig,
}

/// AWS's `PutItemInput`: `{ table_name = "..." }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutItemInput {
    /// The table's name (or ARN); takes substitution templates, as on AWS.
    pub table_name: String,
}
