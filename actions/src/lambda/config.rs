//! `LambdaConfig`: the `type = "lambda"` table of a rule header (AWS's LambdaAction:
//! `functionArn`; `roleArn` as `role_arn`).

use serde::Deserialize;

use crate::{DeliveryConfig, aws::AwsAccess};

/// Invoke a Lambda function asynchronously with the rule's output as the event.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LambdaConfig {
    /// `connection` (an `[aws.connections.<name>]`, default `"default"`) and `role_arn`.
    #[serde(flatten)]
    pub access: AwsAccess,
    /// The function's ARN (a template), optionally with `:alias` or `:version`; a plain
    /// function name works too, in the connection's region.
    pub function_arn: String,
    /// `timeout_ms` (per Invoke, default 10000), `retry`, `max_in_flight`.
    #[serde(flatten)]
    pub delivery: DeliveryConfig,
}
