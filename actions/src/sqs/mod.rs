//! The `sqs` action (AWS's `SqsAction`): send the rule's output to an Amazon SQS queue, one
//! SendMessage per fired message, through an AWS connection (`crate::aws`).
//!
//! As AWS: `queue_url` is fixed (no templates), `use_base64` base64-encodes the body. SQS
//! bodies must be text: binary output without `use_base64` fails permanently to the error
//! action, as does a body over 256 KiB or with characters SQS refuses. Throttling, 5xx and
//! network errors are retried with the action's policy; a queue that does not exist is not.
//!
//! FIFO queues (AWS's action refuses them; a rulewire extension): a queue URL ending in
//! `.fifo` needs `message_group_id` (a template), and each message's deduplication id is its
//! trace id, so a retried send is not delivered twice.

mod config;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use aws_sdk_sqs::Client;
use base64::Engine;
use rulewire_engine::Template;

pub use config::SqsConfig;

use crate::{
    Action, ActionContext, BuildError, DeliveryConfig, FiredMessage,
    aws::{LazyClient, attempt_error},
    delivery::{AttemptError, Delivered, Delivery, Rejected, Sink},
    registry::{ActionType, CheckContext},
    templates,
};

/// Default per-attempt timeout: 10 s.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// SQS's largest message body: 256 KiB.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The sqs action type.
pub struct SqsAction;

/// A checked sqs action: queue URL valid, group id template compiled.
pub struct CheckedSqs {
    connection: String,
    queue_url: String,
    use_base64: bool,
    message_group_id: Option<Template>,
    delivery: DeliveryConfig,
}

impl ActionType for SqsAction {
    const NAME: &'static str = Sqs::KIND;
    type Config = SqsConfig;
    type Checked = CheckedSqs;

    fn check(cfg: SqsConfig, ctx: &CheckContext) -> Result<CheckedSqs, BuildError> {
        ctx.connections.require("aws", &cfg.connection)?;
        let url = &cfg.queue_url;
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(BuildError::invalid(
                "queue_url",
                format!(
                    "expected https://sqs.<region>.amazonaws.com/<account>/<queue>, got {url:?}"
                ),
            ));
        }
        let fifo = url.ends_with(".fifo");
        let message_group_id = match (&cfg.message_group_id, fifo) {
            (Some(t), true) => Some(templates::field("message_group_id", t, ctx.version)?),
            (None, true) => {
                return Err(BuildError::invalid(
                    "message_group_id",
                    "missing: a FIFO queue (.fifo) needs a message group id, e.g. \"${topic(2)}\"",
                ));
            }
            (Some(_), false) => {
                return Err(BuildError::invalid(
                    "message_group_id",
                    "only FIFO queues (URL ending in .fifo) take a message group id",
                ));
            }
            (None, false) => None,
        };
        cfg.delivery.check()?;
        Ok(CheckedSqs {
            connection: cfg.connection,
            queue_url: cfg.queue_url,
            use_base64: cfg.use_base64,
            message_group_id,
            delivery: cfg.delivery,
        })
    }

    fn bind(c: CheckedSqs, ctx: &ActionContext) -> Result<Arc<dyn Action>, BuildError> {
        let delivery = Delivery::resolve(&c.delivery, DEFAULT_TIMEOUT_MS, Sqs::KIND, ctx)?;
        let sink = Sqs {
            client: LazyClient::new(ctx.aws.get(&c.connection)?, Client::new),
            queue_url: c.queue_url,
            use_base64: c.use_base64,
            message_group_id: c.message_group_id,
        };
        Ok(Delivered::action(sink, delivery))
    }
}

struct Sqs {
    client: LazyClient<Client>,
    queue_url: String,
    use_base64: bool,
    message_group_id: Option<Template>,
}

/// One message rendered for SendMessage.
struct Request {
    body: String,
    /// FIFO queues: (group id, deduplication id).
    fifo: Option<(String, String)>,
}

impl Sink for Sqs {
    type Request = Request;
    const KIND: &'static str = "sqs";
    const AWS_NAME: &'static str = "SqsAction";
    const RETRY_ON_TIMEOUT: bool = true;

    fn prepare(&self, msg: &FiredMessage) -> Result<Request, Rejected> {
        let rejected = |message: String| Rejected {
            resource: self.queue_url.clone(),
            message,
        };
        let body = if self.use_base64 {
            base64::engine::general_purpose::STANDARD.encode(&msg.output)
        } else {
            String::from_utf8(msg.output.clone()).map_err(|_| {
                rejected(
                    "the output is not UTF-8 text, which SQS bodies must be; set use_base64 = true"
                        .to_owned(),
                )
            })?
        };
        if body.len() > MAX_BODY_BYTES {
            return Err(rejected(format!(
                "the message body is {} bytes; SQS allows {MAX_BODY_BYTES} (256 KiB)",
                body.len()
            )));
        }
        if let Some(c) = body.chars().find(|c| !allowed_in_body(*c)) {
            return Err(rejected(format!(
                "the message body contains U+{:04X}, which SQS does not accept; set use_base64 = true",
                u32::from(c)
            )));
        }
        let fifo = match &self.message_group_id {
            Some(group) => {
                let group = group.render(&msg.as_engine_message());
                if group.is_empty() || group.len() > 128 {
                    return Err(rejected(format!(
                        "the message group id rendered to {} characters; SQS needs 1 to 128",
                        group.len()
                    )));
                }
                Some((group, msg.trace_id.clone()))
            }
            None => None,
        };
        Ok(Request { body, fifo })
    }

    fn resource<'a>(&'a self, _req: &'a Request) -> &'a str {
        &self.queue_url
    }

    async fn send(&self, _msg: &FiredMessage, req: &Request) -> Result<(), AttemptError> {
        let client = self.client.get().await;
        let (group, dedup) = match &req.fifo {
            Some((g, d)) => (Some(g.clone()), Some(d.clone())),
            None => (None, None),
        };
        client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(&req.body)
            .set_message_group_id(group)
            .set_message_deduplication_id(dedup)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| attempt_error(&e))
    }
}

/// Characters SQS accepts in a body: #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD |
/// #x10000 to #x10FFFF.
fn allowed_in_body(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}
