//! The `firehose` action (AWS's `FirehoseAction`): put the rule's output into an Amazon Data
//! Firehose stream, grouped into PutRecordBatch requests through `crate::record_queue`, over
//! an AWS connection (`crate::aws`).
//!
//! - `config`: the rule-header table (`delivery_stream_name`, `separator`, `batch_mode`).
//! - `records`: a message's records (the output, or the elements of a JSON array output).
//!
//! As AWS: `delivery_stream_name` is a template; `separator` (`\n`, `\t`, `\r\n` or `,`) is
//! appended to every record; with `batch_mode`, an output that is a JSON array becomes one
//! record per element (at most 500; any other output is one record, as without it).
//! Limits: 500 records and 4 MiB per request, 1,000 KiB per record (a larger record fails at
//! once). Records that PutRecordBatch reports failed (`FailedPutCount`, per-record
//! `ErrorCode` such as `ServiceUnavailableException`) are retried alone with the action's
//! policy; a message is acknowledged when all its records are in. Failures end as
//! `failedAction = "FirehoseAction"`, `failedResource` = the stream name.

mod config;
mod records;
#[cfg(test)]
mod tests;

use std::{sync::Arc, time::Duration};

use aws_sdk_firehose::{Client, primitives::Blob, types::Record};
use rulewire_engine::Template;

pub use config::FirehoseConfig;

use crate::{
    Action, ActionContext, BuildError, DeliveryConfig, FiredMessage,
    aws::{AwsAccess, LazyClient, attempt_error, record_error},
    delivery::{AttemptError, Delivery, Rejected},
    record_queue::{Limits, RecordQueue, RecordResult, RecordService},
    registry::{ActionType, CheckContext},
    templates,
};

/// Most records in one PutRecordBatch request (and in one `batch_mode` array).
pub const MAX_RECORDS_PER_REQUEST: usize = 500;
/// Most bytes in one PutRecordBatch request: 4 MiB.
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
/// Most bytes in one record (separator included): 1,000 KiB.
pub const MAX_RECORD_BYTES: usize = 1000 * 1024;
/// Default per-request timeout: 10 s.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// The separators AWS accepts.
const SEPARATORS: [&str; 4] = ["\n", "\t", "\r\n", ","];

/// The firehose action type.
pub struct FirehoseAction;

/// A checked firehose action: stream template compiled, separator valid.
pub struct CheckedFirehose {
    access: AwsAccess,
    stream: Template,
    separator: String,
    batch_mode: bool,
    delivery: DeliveryConfig,
}

impl ActionType for FirehoseAction {
    const NAME: &'static str = Firehose::KIND;
    type Config = FirehoseConfig;
    type Checked = CheckedFirehose;

    fn check(cfg: FirehoseConfig, ctx: &CheckContext) -> Result<CheckedFirehose, BuildError> {
        cfg.access.check(ctx)?;
        let separator = cfg.separator.unwrap_or_default();
        if !(separator.is_empty() || SEPARATORS.contains(&separator.as_str())) {
            return Err(BuildError::invalid(
                "separator",
                format!(
                    "must be \"\\n\", \"\\t\", \"\\r\\n\" or \",\" (as AWS allows), got {separator:?}"
                ),
            ));
        }
        cfg.delivery.check()?;
        Ok(CheckedFirehose {
            stream: templates::field(
                "delivery_stream_name",
                &cfg.delivery_stream_name,
                ctx.version,
            )?,
            access: cfg.access,
            separator,
            batch_mode: cfg.batch_mode,
            delivery: cfg.delivery,
        })
    }

    fn bind(c: CheckedFirehose, ctx: &ActionContext) -> Result<Arc<dyn Action>, BuildError> {
        let delivery = Delivery::resolve(&c.delivery, DEFAULT_TIMEOUT_MS, Firehose::KIND, ctx)?;
        let firehose = Firehose {
            client: LazyClient::new(c.access.open(ctx)?, Client::new),
            stream: c.stream,
            separator: c.separator,
            batch_mode: c.batch_mode,
        };
        Ok(RecordQueue::action(firehose, Duration::ZERO, delivery))
    }
}

struct Firehose {
    client: LazyClient<Client>,
    stream: Template,
    separator: String,
    batch_mode: bool,
}

impl Firehose {
    /// One record: `data` followed by the separator.
    fn record(&self, data: &[u8]) -> Vec<u8> {
        let mut record = Vec::with_capacity(data.len() + self.separator.len());
        record.extend_from_slice(data);
        record.extend_from_slice(self.separator.as_bytes());
        record
    }
}

impl RecordService for Firehose {
    const KIND: &'static str = "firehose";
    const AWS_NAME: &'static str = "FirehoseAction";
    const REQUEST: &'static str = "PutRecordBatch";
    /// The Firehose stream's name.
    type Destination = String;
    type Record = Vec<u8>;

    fn limits(&self) -> Limits {
        Limits {
            max_records: MAX_RECORDS_PER_REQUEST,
            max_bytes: MAX_REQUEST_BYTES,
        }
    }

    /// Firehose keeps no order between requests, so a busy stream takes several at once.
    fn max_requests_in_flight(&self) -> usize {
        4
    }

    fn size(&self, record: &Vec<u8>) -> usize {
        record.len()
    }

    fn records(&self, msg: &FiredMessage) -> Result<(String, Vec<Vec<u8>>), Rejected> {
        let stream = self.stream.render(&msg.as_engine_message());
        let rejected = |message: String| Rejected {
            resource: stream.clone(),
            message,
        };
        if stream.is_empty() {
            return Err(rejected("the delivery stream name rendered empty".into()));
        }
        let elements = if self.batch_mode {
            records::array_elements(&msg.output)
        } else {
            None
        };
        let records: Vec<Vec<u8>> = match elements {
            Some(elements) if elements.len() > MAX_RECORDS_PER_REQUEST => {
                return Err(rejected(format!(
                    "batch_mode: the output array has {} elements; AWS allows {MAX_RECORDS_PER_REQUEST}",
                    elements.len()
                )));
            }
            Some(elements) => elements.into_iter().map(|e| self.record(e)).collect(),
            None => vec![self.record(&msg.output)],
        };
        if let Some(big) = records.iter().find(|r| r.len() > MAX_RECORD_BYTES) {
            return Err(rejected(format!(
                "record too large for Firehose: {} bytes with the separator, the limit is {MAX_RECORD_BYTES} (1,000 KiB)",
                big.len()
            )));
        }
        Ok((stream, records))
    }

    async fn send(
        &self,
        stream: &String,
        records: &[&Vec<u8>],
    ) -> Result<Vec<RecordResult>, AttemptError> {
        let request = records
            .iter()
            .map(|r| {
                Record::builder()
                    .data(Blob::new(r.to_vec()))
                    .build()
                    .map_err(|e| AttemptError::permanent(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let client = self.client.get().await;
        let out = client
            .put_record_batch()
            .delivery_stream_name(stream)
            .set_records(Some(request))
            .send()
            .await
            .map_err(|e| attempt_error(&e))?;
        Ok(out
            .request_responses()
            .iter()
            .map(|r| match r.error_code() {
                None => Ok(()),
                Some(code) => Err(record_error(code, r.error_message().unwrap_or_default())),
            })
            .collect())
    }

    fn resource(&self, stream: &String) -> String {
        stream.clone()
    }

    fn error_message(&self, stream: &String, topic: &str, error: &str) -> String {
        format!(
            "Failed to put the Firehose record. The error received was {error}. Message arrived on: {topic}, Action: firehose, DeliveryStream: {stream}"
        )
    }
}
