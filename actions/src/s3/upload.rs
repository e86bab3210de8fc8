//! One object upload, shared by per-message and batched mode: a single PUT up to
//! `MULTIPART_THRESHOLD`, a multipart upload above it (parts uploaded concurrently, the
//! upload aborted when a part or the completion fails), and the error classification that
//! decides whether the action's retry policy may try again.

use bytes::Bytes;
use object_store::{
    Attribute, Attributes, ObjectStore, PutMultipartOptions, PutOptions, path::Path,
};
use tokio::task::JoinSet;

use super::connection::Bucket;
use crate::delivery::AttemptError;

/// Objects larger than this are written with a multipart upload.
pub const MULTIPART_THRESHOLD: usize = 8 * 1024 * 1024;
/// Part size of multipart uploads (S3 wants at least 5 MiB for every part but the last).
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// What to write where, rendered once and sent on every attempt.
#[derive(Debug, Clone)]
pub(crate) struct Upload {
    pub bucket_name: String,
    pub key: String,
    pub bucket: Bucket,
    pub path: Path,
    pub body: Bytes,
    pub content_type: String,
}

impl Upload {
    /// One attempt; `topic` is only for the error message (AWS names it too).
    pub(crate) async fn send(&self, topic: &str) -> Result<(), AttemptError> {
        self.put().await.map_err(|e| {
            let message = format!(
                "Failed to put S3 object. The error received was {e}. Message arrived on: {topic}, Action: s3, Bucket: {}, Key: {:?}",
                self.bucket_name, self.key
            );
            AttemptError { message, retryable: retryable(&e) }
        })
    }

    async fn put(&self) -> object_store::Result<()> {
        let store = &self.bucket.store;
        let mut attributes = Attributes::new();
        if self.bucket.attributes {
            attributes.insert(Attribute::ContentType, self.content_type.clone().into());
        }
        if self.body.len() <= MULTIPART_THRESHOLD {
            let opts = PutOptions {
                attributes,
                ..Default::default()
            };
            return store
                .put_opts(&self.path, self.body.clone().into(), opts)
                .await
                .map(drop);
        }
        let opts = PutMultipartOptions {
            attributes,
            ..Default::default()
        };
        let mut upload = store.put_multipart_opts(&self.path, opts).await?;
        let mut parts = JoinSet::new();
        let mut rest = self.body.clone();
        while !rest.is_empty() {
            let part = rest.split_to(rest.len().min(PART_SIZE));
            parts.spawn(upload.put_part(part.into()));
        }
        let mut result = Ok(());
        while let Some(joined) = parts.join_next().await {
            let part = joined.unwrap_or_else(|e| Err(object_store::Error::JoinError { source: e }));
            if let Err(e) = part {
                result = Err(e);
                parts.abort_all();
                break;
            }
        }
        if result.is_ok() {
            result = upload.complete().await.map(drop);
        }
        if result.is_err() {
            let _ = upload.abort().await; // best effort: the error reported is the upload's
        }
        result
    }
}

/// Whether another attempt may help: not for errors of the request itself.
fn retryable(e: &object_store::Error) -> bool {
    use object_store::Error::*;
    !matches!(
        e,
        InvalidPath { .. }
            | NotSupported { .. }
            | NotImplemented { .. }
            | UnknownConfigurationKey { .. }
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use object_store::ObjectStoreExt;

    use super::*;
    use crate::{Connections, s3::connection::S3Settings};

    fn upload(body: Bytes) -> (Upload, Arc<dyn ObjectStore>) {
        let settings: S3Settings = toml::from_str("[connections.m]\nurl = \"memory://\"").unwrap();
        let conns = Connections::open(&settings).unwrap();
        let bucket = conns.get("m").unwrap().bucket("bkt", None).unwrap();
        let path = bucket.path("a/b.bin").unwrap();
        let store = bucket.store.clone();
        let up = Upload {
            bucket_name: "bkt".into(),
            key: "a/b.bin".into(),
            bucket,
            path,
            body,
            content_type: "x/y".into(),
        };
        (up, store)
    }

    #[tokio::test]
    async fn small_and_multipart_bodies_arrive_whole_with_content_type() {
        for len in [3, MULTIPART_THRESHOLD + PART_SIZE + 17] {
            let body: Bytes = (0..len)
                .map(|i| (i % 251) as u8)
                .collect::<Vec<u8>>()
                .into();
            let (up, store) = upload(body.clone());
            up.send("t").await.unwrap();
            let got = store.get(&Path::from("bkt/a/b.bin")).await.unwrap();
            assert_eq!(
                got.attributes
                    .get(&Attribute::ContentType)
                    .map(|v| v.as_ref()),
                Some("x/y")
            );
            assert_eq!(got.bytes().await.unwrap(), body, "len {len}");
        }
    }
}
