//! `CloudwatchMetricConfig`: the `type = "cloudwatch_metric"` table of a rule header (AWS's
//! CloudwatchMetricAction: `metricNamespace`, `metricName`, `metricValue`, `metricUnit`,
//! `metricTimestamp`, `roleArn`).

use serde::Deserialize;

use crate::{DeliveryConfig, aws::AwsAccess};

/// Put one data point per fired message into a CloudWatch metric. Every field but
/// `connection` and `role_arn` may be a substitution template, as on AWS.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudwatchMetricConfig {
    /// `connection` (an `[aws.connections.<name>]`, default `"default"`) and `role_arn`.
    #[serde(flatten)]
    pub access: AwsAccess,
    /// The metric's namespace, e.g. `"Plant/Sensors"` (not `AWS/...`).
    pub metric_namespace: String,
    /// The metric's name.
    pub metric_name: String,
    /// The data point's value: a number as text, e.g. `"${temperature}"`.
    pub metric_value: String,
    /// One of CloudWatch's units (`Count`, `Percent`, `Seconds`, ..., `None`).
    pub metric_unit: String,
    /// Seconds since the epoch; default: the message's arrival time.
    #[serde(default)]
    pub metric_timestamp: Option<String>,
    /// `timeout_ms` (per PutMetricData, default 10000), `retry`, `max_in_flight`.
    #[serde(flatten)]
    pub delivery: DeliveryConfig,
}
