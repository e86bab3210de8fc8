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
}

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
