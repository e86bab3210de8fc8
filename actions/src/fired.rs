//! `FiredMessage`: one rule firing on one message, as every action receives it.
//!
//! It owns both sides AWS keeps apart: the ORIGINAL message (topic, payload, client id, ...)
//! that substitution templates are rendered against, and the SELECT `output` that actions
//! deliver. The error action reuses the same message with its output swapped for the AWS
//! error payload (`FiredMessage::for_error_action`).

use std::sync::Arc;

use bytes::Bytes;
use rulewire_engine::{Message, MqttProperties};

use crate::{ActionFailure, TraceId, error_payload::error_payload};

/// A rule that fired on one incoming message. Owned, `Clone` and `Send`, so it can cross tasks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FiredMessage {
    /// The rule's name (its file stem), shared with the rule: no copy per message.
    pub rule_name: Arc<str>,
    /// The topic as rules see it (for Basic Ingest: without `$aws/rules/<rule>/`).
    pub topic: String,
    /// MQTT client id of the publisher.
    pub client_id: String,
    /// The payload as it arrived; templates and `base64OriginalPayload` use it.
    pub original_payload: Bytes,
    /// What the actions deliver: the SELECT result (or the error payload, for the error action).
    pub output: Vec<u8>,
    /// Arrival time, epoch milliseconds.
    pub timestamp_ms: i64,
    /// `traceid()`, also the error payload's `cloudwatchTraceId`.
    pub trace_id: TraceId,
    /// `principal()`; empty when unknown.
    pub principal: String,
    /// `accountid()`; empty when not configured.
    pub account_id: String,
    /// `sourceip()`; empty when unknown.
    pub source_ip: String,
    /// MQTT 5 user properties of the incoming message.
    pub user_properties: Vec<(String, String)>,
    /// Its other MQTT 5 publish properties (`get_mqtt_property()`).
    pub mqtt_properties: MqttProperties,
}

impl FiredMessage {
    /// The ORIGINAL message as the engine sees it: what templates are rendered against.
    /// The SELECT output is deliberately not part of it (AWS: templates can't see AS aliases).
    pub fn as_engine_message(&self) -> Message<'_> {
        Message {
            topic: &self.topic,
            payload: &self.original_payload,
            client_id: &self.client_id,
            timestamp_ms: self.timestamp_ms,
            principal: &self.principal,
            trace_id: self.trace_id.as_str(),
            account_id: &self.account_id,
            source_ip: &self.source_ip,
            user_properties: &self.user_properties,
            mqtt_properties: &self.mqtt_properties,
        }
    }

    /// The output's default MIME type: `application/json` when it is JSON, otherwise
    /// `application/octet-stream` (AWS's rule for the HTTP action; the S3 action uses it too).
    pub fn output_content_type(&self) -> &'static str {
        match serde_json::from_slice::<serde::de::IgnoredAny>(&self.output) {
            Ok(_) => "application/json",
            Err(_) => "application/octet-stream",
        }
    }

    /// The same message with another output (templates still see the original message).
    pub fn with_output(&self, output: Vec<u8>) -> FiredMessage {
        FiredMessage {
            output,
            ..self.clone()
        }
    }

    /// The message the error action executes: output = AWS's error payload for `failures`.
    pub fn for_error_action(&self, failures: &[ActionFailure]) -> FiredMessage {
        self.with_output(error_payload(self, failures))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_message_is_the_original_not_the_output() {
        let msg = FiredMessage {
            topic: "sensors/room1".into(),
            original_payload: Bytes::from_static(br#"{"t":31}"#),
            output: br#"{"alias":31}"#.to_vec(),
            client_id: "dev-1".into(),
            timestamp_ms: 42,
            user_properties: vec![("k".into(), "v".into())],
            ..Default::default()
        };
        let m = msg.as_engine_message();
        assert_eq!(m.payload, br#"{"t":31}"#);
        assert_eq!(m.topic, "sensors/room1");
        assert_eq!(m.client_id, "dev-1");
        assert_eq!(m.timestamp_ms, 42);
        assert_eq!(m.user_properties, &[("k".to_string(), "v".to_string())]);

        let swapped = msg.with_output(b"x".to_vec());
        assert_eq!(swapped.output, b"x");
        assert_eq!(swapped.original_payload, msg.original_payload);
    }
}
