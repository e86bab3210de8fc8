//! The `sqs` action (AWS's `SqsAction`): send the rule's output to an Amazon SQS queue, one
//! message per fired message, grouped into SendMessageBatch requests (up to 10 entries and
//! 256 KiB) through `crate::record_queue`, over an AWS connection (`crate::aws`). Each fired
//! message is acknowledged by its own entry's result: entries SQS reports in `Failed` are
//! retried alone when the fault is SQS's (`SenderFault = false`, or a throttling code), and
//! fail for good otherwise.
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

use std::{sync::Arc, time::Duration};

use aws_sdk_sqs::{Client, types::SendMessageBatchRequestEntry};
use base64::Engine;
use rulewire_engine::Template;

pub use config::SqsConfig;

use crate::{
    Action, ActionContext, BuildError, DeliveryConfig, FiredMessage,
    aws::{AwsAccess, LazyClient, attempt_error, record_error},
    delivery::{AttemptError, Delivery, Rejected},
    record_queue::{Limits, RecordQueue, RecordResult, RecordService},
    registry::{ActionType, CheckContext},
    templates,
};

/// Default per-attempt timeout: 10 s.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// SendMessageBatch requests to one standard queue in flight at once.
pub const MAX_REQUESTS_IN_FLIGHT: usize = 8;
/// SQS's largest message body: 256 KiB.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Most entries in one SendMessageBatch request.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// Most bytes of bodies in one SendMessageBatch request: 256 KiB.
pub const MAX_BATCH_BYTES: usize = 256 * 1024;

/// The sqs action type.
pub struct SqsAction;

/// A checked sqs action: queue URL valid, group id template compiled.
pub struct CheckedSqs {
    access: AwsAccess,
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
        cfg.access.check(ctx)?;
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
            access: cfg.access,
            queue_url: cfg.queue_url,
            use_base64: cfg.use_base64,
            message_group_id,
            delivery: cfg.delivery,
        })
    }

    fn bind(c: CheckedSqs, ctx: &ActionContext) -> Result<Arc<dyn Action>, BuildError> {
        let delivery = Delivery::resolve(&c.delivery, DEFAULT_TIMEOUT_MS, Sqs::KIND, ctx)?;
        let sink = Sqs {
            client: LazyClient::new(c.access.open(ctx)?, Client::new),
            queue_url: c.queue_url,
            use_base64: c.use_base64,
            message_group_id: c.message_group_id,
        };
        Ok(RecordQueue::action(sink, Duration::ZERO, delivery))
    }
}

struct Sqs {
    client: LazyClient<Client>,
    queue_url: String,
    use_base64: bool,
    message_group_id: Option<Template>,
}

/// One message rendered as a SendMessageBatch entry.
struct Entry {
    body: String,
    /// FIFO queues: (group id, deduplication id).
    fifo: Option<(String, String)>,
}

impl RecordService for Sqs {
    const KIND: &'static str = "sqs";
    const AWS_NAME: &'static str = "SqsAction";
    const REQUEST: &'static str = "SendMessageBatch";
    /// One queue per action (`queue_url` takes no templates).
    type Destination = ();
    type Record = Entry;

    fn limits(&self) -> Limits {
        Limits {
            max_records: MAX_BATCH_ENTRIES,
            max_bytes: MAX_BATCH_BYTES,
        }
    }

    /// Standard queues take several batches at once (one batch carries only 10 messages);
    /// a FIFO queue gets one at a time, so its groups stay in order.
    fn max_requests_in_flight(&self) -> usize {
        if self.message_group_id.is_some() {
            1
        } else {
            MAX_REQUESTS_IN_FLIGHT
        }
    }

    fn size(&self, entry: &Entry) -> usize {
        entry.body.len()
    }

    fn records(&self, msg: &FiredMessage) -> Result<((), Vec<Entry>), Rejected> {
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
                Some((group, msg.trace_id.to_string()))
            }
            None => None,
        };
        Ok(((), vec![Entry { body, fifo }]))
    }

    /// Entry ids are the entries' positions in the request ("0".."9").
    async fn send(&self, _: &(), entries: &[&Entry]) -> Result<Vec<RecordResult>, AttemptError> {
        let request = entries
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let (group, dedup) = match &e.fifo {
                    Some((g, d)) => (Some(g.clone()), Some(d.clone())),
                    None => (None, None),
                };
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(&e.body)
                    .set_message_group_id(group)
                    .set_message_deduplication_id(dedup)
                    .build()
                    .map_err(|e| AttemptError::permanent(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let client = self.client.get().await;
        let out = client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(request))
            .send()
            .await
            .map_err(|e| attempt_error(&e))?;
        let mut results: Vec<RecordResult> = vec![
            Err(AttemptError::permanent(
                "SendMessageBatch reported neither success nor failure for this entry"
            ));
            entries.len()
        ];
        let slot = |id: &str| id.parse::<usize>().ok().filter(|i| *i < entries.len());
        for ok in out.successful() {
            if let Some(i) = slot(ok.id()) {
                results[i] = Ok(());
            }
        }
        for failed in out.failed() {
            if let Some(i) = slot(failed.id()) {
                let mut error = record_error(failed.code(), failed.message().unwrap_or_default());
                // SenderFault = false: SQS's side failed, the entry may go through later.
                error.retryable |= !failed.sender_fault();
                results[i] = Err(error);
            }
        }
        Ok(results)
    }

    fn resource(&self, _: &()) -> String {
        self.queue_url.clone()
    }
}

/// Characters SQS accepts in a body: #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD |
/// #x10000 to #x10FFFF.
fn allowed_in_body(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}
