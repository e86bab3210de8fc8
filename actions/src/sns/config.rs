//! `SnsConfig`: the `type = "sns"` table of a rule header (AWS's SnsAction: `targetArn`,
//! `messageFormat`, `roleArn`).

use serde::Deserialize;

use crate::{DeliveryConfig, aws::AwsAccess};

/// Publish the rule's output to an SNS topic.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnsConfig {
    /// `connection` (an `[aws.connections.<name>]`, default `"default"`) and `role_arn`.
    #[serde(flatten)]
    pub access: AwsAccess,
    /// The topic's ARN (AWS: no templates).
    pub target_arn: String,
    /// `"RAW"` (default) or `"JSON"` (AWS's `messageFormat`).
    #[serde(default)]
    pub message_format: MessageFormat,
    /// `timeout_ms` (per Publish, default 10000), `retry`, `max_in_flight`.
    #[serde(flatten)]
    pub delivery: DeliveryConfig,
}

/// AWS's `messageFormat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum MessageFormat {
    /// The output is the message.
    #[default]
    Raw,
    /// The output is a JSON object of per-protocol messages (`MessageStructure=json`).
    Json,
}
