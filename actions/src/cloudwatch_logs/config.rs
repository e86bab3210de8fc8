//! `CloudwatchLogsConfig`: the `type = "cloudwatch_logs"` table of a rule header (AWS's
//! CloudwatchLogsAction: `logGroupName`, `batchMode`; the connection replaces AWS's
//! `roleArn`; `log_stream_name` is rulewire's, since AWS does not say which stream it uses).

use serde::Deserialize;

use crate::{DeliveryConfig, aws::AwsAccess};

/// Send the rule's output to a CloudWatch Logs log group as log events.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudwatchLogsConfig {
    /// `connection` (an `[aws.connections.<name>]`, default `"default"`) and `role_arn`.
    #[serde(flatten)]
    pub access: AwsAccess,
    /// The log group (a template, as AWS allows through its API). It must exist.
    pub log_group_name: String,
    /// The log stream in the group (a template; rulewire creates it on first use). Default
    /// `"rulewire"`.
    #[serde(default = "default_log_stream_name")]
    pub log_stream_name: String,
    /// AWS's `batchMode`: the output is a JSON array of `{"timestamp": <ms>, "message": ...}`,
    /// one log event each. Default false: the output is one event, timestamped with the
    /// message's arrival time.
    #[serde(default)]
    pub batch_mode: bool,
    /// `timeout_ms` (per PutLogEvents request, default 10000), `retry` (per event),
    /// `max_in_flight`.
    #[serde(flatten)]
    pub delivery: DeliveryConfig,
}

fn default_log_stream_name() -> String {
    "rulewire".to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_fields_with_defaults() {
        let c: super::CloudwatchLogsConfig = toml::from_str("log_group_name = \"g\"").unwrap();
        assert_eq!(
            (
                c.access.connection.as_str(),
                c.log_stream_name.as_str(),
                c.batch_mode
            ),
            ("default", "rulewire", false)
        );
        let c: super::CloudwatchLogsConfig = toml::from_str(
            "log_group_name = \"g\"\nlog_stream_name = \"${clientid()}\"\nbatch_mode = true",
        )
        .unwrap();
        assert_eq!(
            (c.log_stream_name.as_str(), c.batch_mode),
            ("${clientid()}", true)
        );
        let e = toml::from_str::<super::CloudwatchLogsConfig>(
            "log_group_name = \"g\"\nlogGroupName = \"g\"",
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("unknown field `logGroupName`"),
            "{e}"
        );
    }
}
