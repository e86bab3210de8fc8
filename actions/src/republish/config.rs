//! `RepublishConfig`: the `type = "republish"` table of a rule header.

use serde::Deserialize;

use crate::{DeliveryConfig, KeyValue};

/// Republish the rule's output to an MQTT topic (AWS's `republish` action).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepublishConfig {
    /// Topic template; a leading `$$` publishes to a reserved `$` topic (`$$aws/x` -> `$aws/x`).
    pub topic: String,
    /// 0 or 1 (AWS allows no QoS 2 here). Default 0.
    #[serde(default)]
    pub qos: u8,
    /// The MQTT retain flag. Default false.
    #[serde(default)]
    pub retain: bool,
    /// MQTT 5 user properties; keys and values are templates.
    #[serde(default)]
    pub user_properties: Vec<KeyValue>,
    /// MQTT 5 headers, as AWS's republish `headers` (templates, rendered per message):
    /// content type.
    #[serde(default)]
    pub content_type: Option<String>,
    /// Correlation data, base64-encoded (as AWS requires); sent decoded.
    #[serde(default)]
    pub correlation_data: Option<String>,
    /// Message expiry interval in seconds (0 ..= 4294967295).
    #[serde(default)]
    pub message_expiry: Option<String>,
    /// `UNSPECIFIED_BYTES` or `UTF8_DATA`.
    #[serde(default)]
    pub payload_format_indicator: Option<String>,
    /// Response topic.
    #[serde(default)]
    pub response_topic: Option<String>,
    /// `timeout_ms` (default 10000: publish until PUBACK), `retry`, `max_in_flight`.
    #[serde(flatten)]
    pub delivery: DeliveryConfig,
}
