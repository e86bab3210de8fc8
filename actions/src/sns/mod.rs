//! The `sns` action (AWS's `SnsAction`): publish the rule's output to an Amazon SNS topic, one
//! Publish per fired message, through an AWS connection (`crate::aws`).
//!
//! As AWS: `target_arn` is fixed (no templates); `message_format = "RAW"` (default) sends the
//! output as the message, `"JSON"` sends it with `MessageStructure=json`, so the output must be
//! a JSON object with a `default` key and optional per-protocol keys. FIFO topics are refused
//! at load, as AWS's action refuses them. Output that is not UTF-8 text or is over 256 KiB
//! fails permanently to the error action; throttling, 5xx and network errors are retried.

mod config;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use aws_sdk_sns::Client;

pub use config::{MessageFormat, SnsConfig};

use crate::{
    Action, ActionContext, BuildError, DeliveryConfig, FiredMessage,
    aws::{AwsAccess, LazyClient, attempt_error},
    delivery::{AttemptError, Delivered, Delivery, Rejected, Sink},
    registry::{ActionType, CheckContext},
};

/// Default per-attempt timeout: 10 s.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// SNS's largest message: 256 KiB.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// The sns action type.
pub struct SnsAction;

/// A checked sns action: a standard topic's ARN and the message format.
pub struct CheckedSns {
    access: AwsAccess,
    target_arn: String,
    format: MessageFormat,
    delivery: DeliveryConfig,
}

impl ActionType for SnsAction {
    const NAME: &'static str = Sns::KIND;
    type Config = SnsConfig;
    type Checked = CheckedSns;

    fn check(cfg: SnsConfig, ctx: &CheckContext) -> Result<CheckedSns, BuildError> {
        cfg.access.check(ctx)?;
        let arn = &cfg.target_arn;
        if !arn.starts_with("arn:") || arn.split(':').count() < 6 {
            return Err(BuildError::invalid(
                "target_arn",
                format!("expected arn:aws:sns:<region>:<account>:<topic>, got {arn:?}"),
            ));
        }
        if arn.ends_with(".fifo") {
            return Err(BuildError::invalid(
                "target_arn",
                "FIFO topics are not supported by the sns action (as on AWS)",
            ));
        }
        cfg.delivery.check()?;
        Ok(CheckedSns {
            access: cfg.access,
            target_arn: cfg.target_arn,
            format: cfg.message_format,
            delivery: cfg.delivery,
        })
    }

    fn bind(c: CheckedSns, ctx: &ActionContext) -> Result<Arc<dyn Action>, BuildError> {
        let delivery = Delivery::resolve(&c.delivery, DEFAULT_TIMEOUT_MS, Sns::KIND, ctx)?;
        let sink = Sns {
            client: LazyClient::new(c.access.open(ctx)?, Client::new),
            target_arn: c.target_arn,
            format: c.format,
        };
        Ok(Delivered::action(sink, delivery))
    }
}

struct Sns {
    client: LazyClient<Client>,
    target_arn: String,
    format: MessageFormat,
}

impl Sink for Sns {
    /// The message text.
    type Request = String;
    const KIND: &'static str = "sns";
    const AWS_NAME: &'static str = "SnsAction";
    const RETRY_ON_TIMEOUT: bool = true;

    fn prepare(&self, msg: &FiredMessage) -> Result<String, Rejected> {
        let rejected = |message: String| Rejected {
            resource: self.target_arn.clone(),
            message,
        };
        let text = String::from_utf8(msg.output.clone()).map_err(|_| {
            rejected("the output is not UTF-8 text, which SNS messages must be".to_owned())
        })?;
        if text.len() > MAX_MESSAGE_BYTES {
            return Err(rejected(format!(
                "the message is {} bytes; SNS allows {MAX_MESSAGE_BYTES} (256 KiB)",
                text.len()
            )));
        }
        if self.format == MessageFormat::Json {
            let value: serde_json::Value = serde_json::from_str(&text)
                .map_err(|_| rejected("message_format JSON needs a JSON object".to_owned()))?;
            if !value
                .get("default")
                .is_some_and(serde_json::Value::is_string)
            {
                return Err(rejected(
                    "message_format JSON needs a JSON object with a string \"default\" key"
                        .to_owned(),
                ));
            }
        }
        Ok(text)
    }

    fn resource<'a>(&'a self, _req: &'a String) -> &'a str {
        &self.target_arn
    }

    async fn send(&self, _msg: &FiredMessage, text: &String) -> Result<(), AttemptError> {
        let structure = (self.format == MessageFormat::Json).then(|| "json".to_owned());
        self.client
            .get()
            .await
            .publish()
            .topic_arn(&self.target_arn)
            .message(text)
            .set_message_structure(structure)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| attempt_error(&e))
    }
}
