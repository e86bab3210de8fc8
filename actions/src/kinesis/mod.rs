//! The `kinesis` action: put the rule's output into a Kinesis data stream, one record per
//! fired message, grouped into PutRecords requests (aws-sdk-kinesis).
//!
//! - the connection: an `[aws.connections.<name>]` of `rulewire.toml` (`crate::aws`); rule
//!   files only name one.
//! - `config`: the rule-header table (`type = "kinesis"`, `stream_name`, `partition_key`,
//!   `max_records`, `linger_ms`).
//! - `batch`: the kinesis `RecordService` (records, limits, ordering per key); the queues,
//!   request grouping and per-record retries are `crate::record_queue`'s.
//! - `transport`: one PutRecords request over the SDK.
//!
//! Limits (AWS's): at most 500 records and 5 MiB per request, 1 MiB of data plus partition
//! key per record (a larger one fails at once, permanently), partition keys of 1 to 256
//! characters. Failures end as `failedAction = "KinesisAction"`, `failedResource` = the stream.

mod batch;
mod config;
#[cfg(test)]
mod tests;
mod transport;

use std::{sync::Arc, time::Duration};

use rulewire_engine::Template;

pub use config::KinesisConfig;

use crate::{
    Action, ActionContext, BuildError, DeliveryConfig,
    aws::{AwsAccess, LazyClient},
    delivery::Delivery,
    record_queue::{RecordQueue, RecordService},
    registry::{ActionType, CheckContext},
    templates,
};

/// Most records in one PutRecords request.
pub const MAX_RECORDS_PER_REQUEST: usize = 500;
/// Most bytes (data and partition keys) in one PutRecords request: 5 MiB.
pub const MAX_REQUEST_BYTES: usize = 5 * 1024 * 1024;
/// Most bytes (data and partition key) in one record: 1 MiB.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
/// Default per-request timeout: 10 s.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;

/// The kinesis action type (AWS's `KinesisAction`).
pub struct KinesisAction;

/// A checked kinesis action: templates compiled, limits valid, connection known.
pub struct CheckedKinesis {
    access: AwsAccess,
    stream: Template,
    partition_key: Template,
    max_records: usize,
    linger: Duration,
    delivery: DeliveryConfig,
}

impl ActionType for KinesisAction {
    const NAME: &'static str = batch::Kinesis::KIND;
    type Config = KinesisConfig;
    type Checked = CheckedKinesis;

    fn check(cfg: KinesisConfig, ctx: &CheckContext) -> Result<CheckedKinesis, BuildError> {
        cfg.access.check(ctx)?;
        if !(1..=MAX_RECORDS_PER_REQUEST).contains(&cfg.max_records) {
            return Err(BuildError::invalid(
                "max_records",
                format!("must be 1 to {MAX_RECORDS_PER_REQUEST}"),
            ));
        }
        cfg.delivery.check()?;
        Ok(CheckedKinesis {
            stream: templates::field("stream_name", &cfg.stream_name, ctx.version)?,
            partition_key: templates::field("partition_key", &cfg.partition_key, ctx.version)?,
            access: cfg.access,
            max_records: cfg.max_records,
            linger: Duration::from_millis(cfg.linger_ms),
            delivery: cfg.delivery,
        })
    }

    fn bind(c: CheckedKinesis, ctx: &ActionContext) -> Result<Arc<dyn Action>, BuildError> {
        bind_with(c, ctx, None)
    }
}

/// Puts another transport in front of the real one (tests inject faults with it).
pub(crate) type WrapTransport =
    dyn Fn(Arc<dyn transport::Transport>) -> Arc<dyn transport::Transport>;

/// `bind`, optionally with another transport (tests put a fault injector in front of moto).
pub(crate) fn bind_with(
    c: CheckedKinesis,
    ctx: &ActionContext,
    wrap: Option<&WrapTransport>,
) -> Result<Arc<dyn Action>, BuildError> {
    let conn = c.access.open(ctx)?;
    let client = LazyClient::new(conn, aws_sdk_kinesis::Client::new);
    let transport: Arc<dyn transport::Transport> = Arc::new(transport::SdkTransport(client));
    let kinesis = batch::Kinesis {
        transport: match wrap {
            Some(wrap) => wrap(transport),
            None => transport,
        },
        stream: c.stream,
        partition_key: c.partition_key,
        max_records: c.max_records,
    };
    let delivery = Delivery::resolve(&c.delivery, DEFAULT_TIMEOUT_MS, batch::Kinesis::KIND, ctx)?;
    Ok(RecordQueue::action(kinesis, c.linger, delivery))
}
