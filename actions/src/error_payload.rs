//! The AWS error-action payload and the failure record each action reports.
//!
//! Shape (rule-error-handling.html), keys in this order:
//! `{"ruleName","topic","cloudwatchTraceId","clientId","base64OriginalPayload","failures":[
//! {"failedAction","failedResource","errorMessage"}]}`. One payload per rule per message:
//! when several actions fail, `failures` lists them all.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use serde::Serialize;

use crate::FiredMessage;

/// One action that failed after its retries, as AWS reports it in the error payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionFailure {
    /// AWS's action name: `"RepublishAction"`, `"HttpAction"`, ...
    pub failed_action: String,
    /// What the action wrote to: the rendered topic, URL, bucket...
    pub failed_resource: String,
    /// Human-readable cause, including the last attempt's error.
    pub error_message: String,
}

impl std::fmt::Display for ActionFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} on {:?}: {}",
            self.failed_action, self.failed_resource, self.error_message
        )
    }
}

impl std::error::Error for ActionFailure {}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorPayload<'a> {
    rule_name: &'a str,
    topic: &'a str,
    cloudwatch_trace_id: &'a str,
    client_id: &'a str,
    base64_original_payload: String,
    failures: &'a [ActionFailure],
}

/// AWS's error-action payload (compact JSON) for `msg` and the actions that failed on it.
pub fn error_payload(msg: &FiredMessage, failures: &[ActionFailure]) -> Vec<u8> {
    let payload = ErrorPayload {
        rule_name: &msg.rule_name,
        topic: &msg.topic,
        cloudwatch_trace_id: msg.trace_id.as_str(),
        client_id: &msg.client_id,
        base64_original_payload: STANDARD.encode(&msg.original_payload),
        failures,
    };
    serde_json::to_vec(&payload).expect("the error payload is plain strings")
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    /// The example from AWS's rule-error-handling page, field for field.
    #[test]
    fn matches_the_aws_example() {
        let msg = FiredMessage {
            rule_name: "TestAction".into(),
            topic: "testme/action".into(),
            trace_id: crate::TraceId::try_from("7e146a2c-95b5-6caf-98b9-50e3969734c7").unwrap(),
            client_id: "iotconsole-1511213971966-0".into(),
            original_payload: Bytes::from_static(
                b"{\n  \"message\": \"Hello vrom AWS IoT console\"\n}",
            ),
            output: b"ignored".to_vec(),
            ..Default::default()
        };
        let failure = ActionFailure {
            failed_action: "S3Action".into(),
            failed_resource: "us-east-1-s3-verify-user".into(),
            error_message: "Failed to put S3 object. Key: \"aaa\".".into(),
        };
        let got = String::from_utf8(error_payload(&msg, &[failure])).unwrap();
        let expected = concat!(
            r#"{"ruleName":"TestAction","topic":"testme/action","#,
            r#""cloudwatchTraceId":"7e146a2c-95b5-6caf-98b9-50e3969734c7","#,
            r#""clientId":"iotconsole-1511213971966-0","#,
            r#""base64OriginalPayload":"ewogICJtZXNzYWdlIjogIkhlbGxvIHZyb20gQVdTIElvVCBjb25zb2xlIgp9","#,
            r#""failures":[{"failedAction":"S3Action","failedResource":"us-east-1-s3-verify-user","#,
            r#""errorMessage":"Failed to put S3 object. Key: \"aaa\"."}]}"#
        );
        assert_eq!(got, expected);
    }

    #[test]
    fn lists_every_failure_and_error_action_message_swaps_output() {
        let msg = FiredMessage {
            rule_name: "r".into(),
            ..Default::default()
        };
        let f = |a: &str| ActionFailure {
            failed_action: a.into(),
            failed_resource: "x".into(),
            error_message: "e".into(),
        };
        let err_msg = msg.for_error_action(&[f("HttpAction"), f("RepublishAction")]);
        let v: serde_json::Value = serde_json::from_slice(&err_msg.output).unwrap();
        assert_eq!(v["failures"].as_array().unwrap().len(), 2);
        assert_eq!(v["failures"][1]["failedAction"], "RepublishAction");
        assert_eq!(v["base64OriginalPayload"], "");
    }
}
