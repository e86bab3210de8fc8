//! The `kinesis` action: put the rule's output into a Kinesis data stream, one record per
//! fired message, grouped into PutRecords requests (aws-sdk-kinesis).
//!
//! - `connection`: named connections from `rulewire.toml` (`[kinesis.connections.<name>]`)
//!   and their SDK clients; rule files only name one.
//! - `config`: the rule-header table (`type = "kinesis"`, `stream_name`, `partition_key`,
//!   `max_records`, `linger_ms`).
//! - `batch`: per-stream queues, request grouping, per-record retries, ordering per key.
//! - `transport`: one PutRecords request over the SDK.
//!
//! Limits (AWS's): at most 500 records and 5 MiB per request, 1 MiB of data plus partition
//! key per record (a larger one fails at once, permanently), partition keys of 1 to 256
//! characters. Failures end as `failedAction = "KinesisAction"`, `failedResource` = the stream.

mod batch;
mod config;
mod connection;
#[cfg(test)]
mod tests;
mod transport;

use std::{sync::Arc, time::Duration};

use rulewire_engine::SqlVersion;

pub use config::KinesisConfig;
pub use connection::{
    KinesisConfigError, KinesisConnectionConfig, KinesisConnections, KinesisSettings,
};

use crate::{Action, ActionContext, BuildError, batching::Queued, delivery::Delivery, templates};

/// Most records in one PutRecords request.
pub const MAX_RECORDS_PER_REQUEST: usize = 500;
/// Most bytes (data and partition keys) in one PutRecords request: 5 MiB.
pub const MAX_REQUEST_BYTES: usize = 5 * 1024 * 1024;
/// Most bytes (data and partition key) in one record: 1 MiB.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
/// Default per-request timeout: 10 s.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;

/// Builds a kinesis action; templates, limits and the connection name are checked now.
pub fn build(
    cfg: &KinesisConfig,
    version: SqlVersion,
    ctx: &ActionContext,
) -> Result<Arc<dyn Action>, BuildError> {
    build_with(cfg, version, ctx, None)
}

/// Puts another transport in front of the real one (tests inject faults with it).
pub(crate) type WrapTransport =
    dyn Fn(Arc<dyn transport::Transport>) -> Arc<dyn transport::Transport>;

/// `build`, optionally with another transport (tests put a fault injector in front of moto).
pub(crate) fn build_with(
    cfg: &KinesisConfig,
    version: SqlVersion,
    ctx: &ActionContext,
    wrap: Option<&WrapTransport>,
) -> Result<Arc<dyn Action>, BuildError> {
    if !ctx.kinesis.knows(&cfg.connection) {
        let names = ctx.kinesis.names();
        return Err(BuildError::unknown_connection(
            "kinesis",
            &cfg.connection,
            &names,
        ));
    }
    if !(1..=MAX_RECORDS_PER_REQUEST).contains(&cfg.max_records) {
        return Err(BuildError::invalid(
            "max_records",
            format!("must be 1 to {MAX_RECORDS_PER_REQUEST}"),
        ));
    }
    let transport: Result<Arc<dyn transport::Transport>, String> =
        match ctx.kinesis.get(&cfg.connection) {
            Some(conn) => Ok(Arc::new(transport::SdkTransport(conn))),
            None => Err(format!(
                "no Kinesis connection named {:?} is configured",
                cfg.connection
            )),
        };
    let transport = match wrap {
        Some(wrap) => transport.map(wrap),
        None => transport,
    };
    let inner = batch::Inner {
        transport,
        stream: templates::field("stream_name", &cfg.stream_name, version)?,
        partition_key: templates::field("partition_key", &cfg.partition_key, version)?,
        max_records: cfg.max_records,
        linger: Duration::from_millis(cfg.linger_ms),
        delivery: Delivery::resolve(&cfg.delivery, DEFAULT_TIMEOUT_MS, "kinesis", ctx)?,
        queues: Default::default(),
    };
    Ok(Queued::action(inner))
}
