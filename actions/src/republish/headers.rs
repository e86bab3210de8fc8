//! The MQTT 5 headers of a republish (AWS's republish `headers`): content type, correlation
//! data, message expiry, payload format indicator, response topic and user properties. Each is
//! a template rendered against the original message; a value that renders invalid (correlation
//! data that is not base64, an expiry that is not a number of seconds, an unknown format
//! indicator, a response topic with a wildcard) fails the message for the error action.

use base64::Engine;
use rulewire_engine::{Message, SqlVersion, Template};

use super::{RepublishConfig, check_topic};
use crate::{
    BuildError, PublishProperties,
    templates::{self, Pairs},
};

pub(super) struct Headers {
    user_properties: Pairs,
    content_type: Option<Template>,
    correlation_data: Option<Template>,
    message_expiry: Option<Template>,
    payload_format_indicator: Option<Template>,
    response_topic: Option<Template>,
}

impl Headers {
    pub(super) fn compile(
        cfg: &RepublishConfig,
        version: SqlVersion,
    ) -> Result<Headers, BuildError> {
        let optional = |name: &str, text: &Option<String>| {
            text.as_deref()
                .map(|t| templates::field(name, t, version))
                .transpose()
        };
        Ok(Headers {
            user_properties: Pairs::compile("user_properties", &cfg.user_properties, version)?,
            content_type: optional("content_type", &cfg.content_type)?,
            correlation_data: optional("correlation_data", &cfg.correlation_data)?,
            message_expiry: optional("message_expiry", &cfg.message_expiry)?,
            payload_format_indicator: optional(
                "payload_format_indicator",
                &cfg.payload_format_indicator,
            )?,
            response_topic: optional("response_topic", &cfg.response_topic)?,
        })
    }

    /// The rendered properties, or why they cannot be sent.
    pub(super) fn render(&self, msg: &Message) -> Result<PublishProperties, String> {
        let render = |t: &Option<Template>| t.as_ref().map(|t| t.render(msg));
        let correlation_data = render(&self.correlation_data)
            .map(|text| {
                base64::engine::general_purpose::STANDARD
                    .decode(text.trim())
                    .map_err(|e| format!("correlation_data {text:?} is not base64: {e}"))
            })
            .transpose()?;
        let message_expiry = render(&self.message_expiry)
            .map(|text| {
                text.trim().parse::<u32>().map_err(|_| {
                    format!("message_expiry {text:?} is not a number of seconds (0 to 4294967295)")
                })
            })
            .transpose()?;
        let payload_format_indicator = render(&self.payload_format_indicator)
            .map(|text| match text.as_str() {
                "UNSPECIFIED_BYTES" => Ok(0),
                "UTF8_DATA" => Ok(1),
                _ => Err(format!(
                    "payload_format_indicator {text:?} is neither UNSPECIFIED_BYTES nor UTF8_DATA"
                )),
            })
            .transpose()?;
        let response_topic = render(&self.response_topic)
            .map(|topic| {
                check_topic(&topic)
                    .map(|()| topic)
                    .map_err(|e| format!("response_topic: {e}"))
            })
            .transpose()?;
        Ok(PublishProperties {
            user_properties: self.user_properties.render(msg),
            content_type: render(&self.content_type),
            correlation_data,
            message_expiry,
            payload_format_indicator,
            response_topic,
        })
    }
}
