//! Per-message mode (AWS's): one object per fired message, body = the rule's output, bucket
//! and key rendered against the ORIGINAL message. A `Sink`, so `Delivered` adds the in-flight
//! bound, per-attempt timeout, retries, metrics and the `S3Action` failure.

use std::sync::Arc;

use bytes::Bytes;
use rulewire_engine::Template;

use super::{Target, upload::Upload};
use crate::{
    FiredMessage,
    delivery::{AttemptError, Rejected, Sink},
};

pub(crate) struct PerMessage {
    pub target: Arc<Target>,
    pub key: Template,
}

impl Sink for PerMessage {
    type Request = Upload;
    const KIND: &'static str = "s3";
    const AWS_NAME: &'static str = "S3Action";
    const RETRY_ON_TIMEOUT: bool = true;

    fn prepare(&self, msg: &FiredMessage) -> Result<Upload, Rejected> {
        let original = msg.as_engine_message();
        let key = self.key.render(&original);
        let content_type = self
            .target
            .content_type
            .clone()
            .unwrap_or_else(|| msg.output_content_type().to_owned());
        self.target.upload(
            &original,
            key,
            Bytes::from(msg.output.clone()),
            content_type,
        )
    }

    fn resource<'a>(&'a self, req: &'a Upload) -> &'a str {
        &req.bucket_name
    }

    async fn send(&self, msg: &FiredMessage, req: &Upload) -> Result<(), AttemptError> {
        req.send(&msg.topic).await
    }
}
