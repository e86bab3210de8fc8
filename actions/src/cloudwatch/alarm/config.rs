//! `CloudwatchAlarmConfig`: the `type = "cloudwatch_alarm"` table of a rule header (AWS's
//! CloudwatchAlarmAction: `alarmName`, `stateReason`, `stateValue`, `roleArn`).

use serde::Deserialize;

use crate::{DeliveryConfig, aws::AwsAccess};

/// Set a CloudWatch alarm's state once per fired message. Every field but `connection` and
/// `role_arn` may be a substitution template, as on AWS.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudwatchAlarmConfig {
    /// `connection` (an `[aws.connections.<name>]`, default `"default"`) and `role_arn`.
    #[serde(flatten)]
    pub access: AwsAccess,
    /// The alarm's name.
    pub alarm_name: String,
    /// Why the state changes (at most 1023 characters).
    pub state_reason: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state_value: String,
    /// `timeout_ms` (per SetAlarmState, default 10000), `retry`, `max_in_flight`.
    #[serde(flatten)]
    pub delivery: DeliveryConfig,
}
