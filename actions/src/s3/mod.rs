//! The `s3` action: write the rule's output to S3, an S3-compatible server, a local
//! directory or memory, through object_store 0.13.
//!
//! - `connection`: named connections from `rulewire.toml` (`[s3.connections.<name>]`); rule
//!   files only name one, so endpoints and secrets stay out of them.
//! - `config`: the rule-header table (`type = "s3"`, `bucket`, `key`, optional `batch`).
//! - `sink`: per-message mode, AWS's: one object per fired message, via `Delivered`.
//! - `batch` + `encode`: batched mode: JSON Lines or Parquet objects of many rows, each
//!   message acknowledged only once its object is written.
//! - `upload`: one PUT, multipart above 8 MiB, and which errors are worth retrying.
//!
//! Failures (no such bucket, endpoint unreachable, timeout) are retried with the action's
//! policy, then reported as `failedAction = "S3Action"`, `failedResource` = the bucket.

mod batch;
mod config;
mod connection;
mod encode;
mod sink;
#[cfg(test)]
mod tests;
mod upload;

use std::sync::Arc;

use bytes::Bytes;
use rulewire_engine::{Message, SqlVersion, Template};

pub use config::{BatchFormat, S3BatchConfig, S3Config};
pub use connection::{
    DEFAULT_CONNECTION, DEFAULT_URL, S3ConfigError, S3ConnectionConfig, S3Connections, S3Settings,
};
pub use upload::{MULTIPART_THRESHOLD, PART_SIZE};

use crate::{
    Action, ActionContext, BuildError,
    delivery::{Delivered, Delivery, Rejected},
    templates,
};

/// Default per-attempt timeout of one upload: 30 s (objects may be large).
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

/// Builds an s3 action; templates, the connection name and batch settings are checked now.
pub fn build(
    cfg: &S3Config,
    version: SqlVersion,
    ctx: &ActionContext,
) -> Result<Arc<dyn Action>, BuildError> {
    if !ctx.s3.knows(&cfg.connection) {
        let names = ctx.s3.names();
        return Err(BuildError::unknown_connection(
            "s3",
            &cfg.connection,
            &names,
        ));
    }
    if cfg.bucket.is_empty() {
        return Err(BuildError::invalid("bucket", "must not be empty"));
    }
    let target = Arc::new(Target {
        connections: ctx.s3.clone(),
        connection: cfg.connection.clone(),
        bucket: templates::field("bucket", &cfg.bucket, version)?,
        content_type: cfg.content_type.clone(),
    });
    let delivery = Delivery::resolve(&cfg.delivery, DEFAULT_TIMEOUT_MS, KIND, ctx)?;
    match &cfg.batch {
        None => {
            let key = cfg.key.as_deref().ok_or_else(|| {
                BuildError::invalid("key", "missing: the object key template is required")
            })?;
            let sink = sink::PerMessage {
                target,
                key: templates::field("key", key, version)?,
            };
            Ok(Delivered::action(sink, delivery))
        }
        Some(b) => {
            let key = b.key.as_deref().or(cfg.key.as_deref());
            let key = key.ok_or_else(|| {
                BuildError::invalid("batch.key", "missing: set batch.key (or key)")
            })?;
            batch::build(b, key, target, delivery, version)
        }
    }
}

/// Where an action writes: connection, bucket template and content type.
/// The action type name (metrics, `rulewire check`).
pub(crate) const KIND: &str = "s3";

pub(crate) struct Target {
    connections: Arc<S3Connections>,
    connection: String,
    pub bucket: Template,
    pub content_type: Option<String>,
}

impl Target {
    /// The upload of `body` to `key` in the bucket rendered against `msg`.
    pub(crate) fn upload(
        &self,
        msg: &Message,
        key: String,
        body: Bytes,
        content_type: String,
    ) -> Result<upload::Upload, Rejected> {
        self.upload_to(self.bucket.render(msg), key, body, content_type)
    }

    /// The upload of `body` to `key` in `bucket_name`; a bad bucket or key is permanent.
    pub(crate) fn upload_to(
        &self,
        bucket_name: String,
        key: String,
        body: Bytes,
        content_type: String,
    ) -> Result<upload::Upload, Rejected> {
        let rejected = |message: String| Rejected {
            resource: bucket_name.clone(),
            message,
        };
        let bucket = self
            .connections
            .bucket(&self.connection, &bucket_name)
            .map_err(rejected)?;
        let path = bucket
            .path(&key)
            .map_err(|m| rejected(format!("{m} (bucket {bucket_name:?})")))?;
        Ok(upload::Upload {
            bucket_name,
            key,
            bucket,
            path,
            body,
            content_type,
        })
    }
}
