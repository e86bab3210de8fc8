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
mod credentials;
mod encode;
mod sink;
#[cfg(test)]
mod tests;
mod upload;

use std::sync::Arc;

use bytes::Bytes;
use rulewire_engine::{Message, Template};

pub use config::{BatchFormat, S3BatchConfig, S3Config};
pub use connection::{
    DEFAULT_URL, S3Connection, S3ConnectionConfig, S3Settings, check_aws_references,
};
pub use upload::{MULTIPART_THRESHOLD, PART_SIZE};

use crate::{
    Action, ActionContext, AwsConnection, BuildError, DeliveryConfig,
    delivery::{Delivered, Delivery, Rejected},
    registry::{ActionType, CheckContext},
    templates,
};

/// Default per-attempt timeout of one upload: 30 s (objects may be large).
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

/// The s3 action type (AWS's `S3Action`).
pub struct S3Action;

/// A checked s3 action: templates compiled, connection known, batch limits valid.
pub struct CheckedS3 {
    connection: String,
    role_arn: Option<String>,
    bucket: Template,
    content_type: Option<String>,
    mode: Mode,
    delivery: DeliveryConfig,
}

/// One object per message (AWS's), or batched objects.
enum Mode {
    PerMessage { key: Template },
    Batched(batch::CheckedBatch),
}

impl ActionType for S3Action {
    const NAME: &'static str = KIND;
    type Config = S3Config;
    type Checked = CheckedS3;

    fn check(cfg: S3Config, ctx: &CheckContext) -> Result<CheckedS3, BuildError> {
        let version = ctx.version;
        ctx.connections.require("s3", &cfg.connection)?;
        crate::aws::check_role_arn(cfg.role_arn.as_deref())?;
        if cfg.bucket.is_empty() {
            return Err(BuildError::invalid("bucket", "must not be empty"));
        }
        cfg.delivery.check()?;
        let mode = match &cfg.batch {
            None => {
                let key = cfg.key.as_deref().ok_or_else(|| {
                    BuildError::invalid("key", "missing: the object key template is required")
                })?;
                Mode::PerMessage {
                    key: templates::field("key", key, version)?,
                }
            }
            Some(b) => {
                let key = b.key.as_deref().or(cfg.key.as_deref());
                let key = key.ok_or_else(|| {
                    BuildError::invalid("batch.key", "missing: set batch.key (or key)")
                })?;
                Mode::Batched(batch::check(b, key, version)?)
            }
        };
        Ok(CheckedS3 {
            bucket: templates::field("bucket", &cfg.bucket, version)?,
            connection: cfg.connection,
            role_arn: cfg.role_arn,
            content_type: cfg.content_type,
            mode,
            delivery: cfg.delivery,
        })
    }

    fn bind(c: CheckedS3, ctx: &ActionContext) -> Result<Arc<dyn Action>, BuildError> {
        let mut delivery = c.delivery;
        if let Mode::Batched(batch) = &c.mode {
            delivery
                .max_in_flight
                .get_or_insert(batch.default_in_flight(ctx));
        }
        let delivery = Delivery::resolve(&delivery, DEFAULT_TIMEOUT_MS, KIND, ctx)?;
        let mut connection = ctx.s3.get(&c.connection)?;
        let mut aws = match connection.aws_name() {
            Some(name) => Some(ctx.aws.get(name).map_err(|_| {
                let message = format!(
                    "[s3.connections.{}] names aws = {name:?}, but there is no [aws.connections.{name}]",
                    c.connection
                );
                BuildError::invalid("connection", message)
            })?),
            None => None,
        };
        if let Some(role) = &c.role_arn {
            let Some(base) = aws else {
                let message = format!(
                    "[s3.connections.{}] is not s3://; only S3 itself takes a role",
                    c.connection
                );
                return Err(BuildError::invalid("role_arn", message));
            };
            // The role's own credentials, so its own clients: not shared with the connection.
            aws = Some(Arc::new(base.assuming(role)));
            connection = Arc::new(connection.with_own_clients());
        }
        let target = Arc::new(Target {
            connection,
            aws,
            bucket: c.bucket,
            content_type: c.content_type,
        });
        Ok(match c.mode {
            Mode::PerMessage { key } => {
                Delivered::action(sink::PerMessage { target, key }, delivery)
            }
            Mode::Batched(b) => batch::bind(b, target, delivery),
        })
    }
}

/// The action type name (metrics, `rulewire check`).
pub(crate) const KIND: &str = "s3";

/// Where an action writes: connection, bucket template and content type.
pub(crate) struct Target {
    connection: Arc<S3Connection>,
    /// For `s3://` connections: the AWS connection they sign with.
    aws: Option<Arc<AwsConnection>>,
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
            .connection
            .bucket(&bucket_name, self.aws.as_ref())
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
