//! The message a rule is evaluated against, and the result of one evaluation.

/// One incoming message and its context, as the engine sees it.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// The topic the message arrived on (for Basic Ingest: without `$aws/rules/<rule>/`).
    pub topic: &'a str,
    pub payload: &'a [u8],
    /// MQTT client id of the publisher; `clientid()` returns "n/a" when empty.
    pub client_id: &'a str,
    /// Arrival time in epoch milliseconds (`timestamp()`).
    pub timestamp_ms: i64,
    /// `principal()`; empty when unknown.
    pub principal: &'a str,
    /// `traceid()`: a UUID per message.
    pub trace_id: &'a str,
    /// `accountid()`.
    pub account_id: &'a str,
    /// `sourceip()`; empty when unknown.
    pub source_ip: &'a str,
    /// MQTT 5 user properties, for `get_user_properties()`.
    pub user_properties: &'a [(String, String)],
    /// The other MQTT 5 publish properties, for `get_mqtt_property()`.
    pub mqtt_properties: &'a MqttProperties,
}

/// The MQTT 5 publish properties rules can read with `get_mqtt_property(name)`. All `None`
/// for an MQTT 3.1.1 message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MqttProperties {
    /// `content_type`.
    pub content_type: Option<String>,
    /// `response_topic`.
    pub response_topic: Option<String>,
    /// `correlation_data` (rules see it as base64 text).
    pub correlation_data: Option<Vec<u8>>,
    /// `format_indicator`: 0 `UNSPECIFIED_BYTES`, 1 `UTF8_DATA`. MQTT 5 reads an absent
    /// indicator as 0, so every MQTT 5 message has one.
    pub payload_format_indicator: Option<u8>,
}

/// No properties (MQTT 3.1.1, tests, the CLI without `--mqtt-property`).
pub static NO_MQTT_PROPERTIES: MqttProperties = MqttProperties {
    content_type: None,
    response_topic: None,
    correlation_data: None,
    payload_format_indicator: None,
};

impl<'a> Message<'a> {
    /// A message with empty context, for tests and the CLI.
    pub fn new(topic: &'a str, payload: &'a [u8]) -> Message<'a> {
        Message {
            topic,
            payload,
            client_id: "",
            timestamp_ms: 0,
            principal: "",
            trace_id: "",
            account_id: "",
            source_ip: "",
            user_properties: &[],
            mqtt_properties: &NO_MQTT_PROPERTIES,
        }
    }
}

/// The result of running a rule on one message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Evaluation {
    /// The outgoing payload when the rule fired (WHERE true); `None` when it did not.
    pub output: Option<Vec<u8>>,
    /// The payload looked like JSON (`{`/`[`) but did not parse: AWS's ParseError.
    pub parse_error: bool,
}
