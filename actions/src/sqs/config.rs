//! `SqsConfig`: the `type = "sqs"` table of a rule header (AWS's SqsAction: `queueUrl`,
//! `useBase64`; `roleArn` as `role_arn`).

use serde::Deserialize;

use crate::{DeliveryConfig, aws::AwsAccess};

/// Send the rule's output to an SQS queue.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqsConfig {
    /// `connection` (an `[aws.connections.<name>]`, default `"default"`) and `role_arn`.
    #[serde(flatten)]
    pub access: AwsAccess,
    /// The queue's URL (AWS: no templates).
    pub queue_url: String,
    /// Base64-encode the output into the body (AWS's `useBase64`). Default false.
    #[serde(default)]
    pub use_base64: bool,
    /// FIFO queues only: the message group id template (not in AWS's action).
    #[serde(default)]
    pub message_group_id: Option<String>,
    /// `timeout_ms` (per SendMessageBatch request, default 10000), `retry` (per message),
    /// `max_in_flight`.
    #[serde(flatten)]
    pub delivery: DeliveryConfig,
}
