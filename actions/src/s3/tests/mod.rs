//! S3 action tests against real servers: a moto server (`test_util::Moto`, started by each test
//! on a free loopback port; buckets created with a plain HTTP PUT) and the local filesystem.
//! Keys are listed over plain HTTP; objects are read back with a separate signed client.
//! A missing `moto_server` FAILS these tests (scripts/test.sh installs it).

mod batched;
mod per_message;

use std::sync::Arc;

use bytes::Bytes;
use object_store::{Attribute, ObjectStoreExt, path::Path};
use rulewire_engine::SqlVersion;

use crate::{
    Action, ActionContext, AwsSettings, BuildError, Connections, FiredMessage, S3Settings,
    test_util::{CountingMetrics, Moto, NoPublisher, build_action, context, fired},
};

impl Moto {
    /// One object's body and content type. moto refuses anonymous GETs of private objects,
    /// so this reads through a separate, signed object_store client.
    pub(super) async fn get(&self, bucket: &str, key: &str) -> (Bytes, String) {
        let conns = Connections::open(&self.settings()).unwrap();
        let aws = Connections::open(&self.aws_settings("moto")).unwrap();
        let aws = aws.get("moto").unwrap();
        let bucket_store = conns.get("moto").unwrap().bucket(bucket, Some(&aws));
        let store = bucket_store.unwrap().store;
        let got = store
            .get(&Path::from(key))
            .await
            .unwrap_or_else(|e| panic!("GET {bucket}/{key}: {e}"));
        let ct = got
            .attributes
            .get(&Attribute::ContentType)
            .map(|v| v.to_string())
            .unwrap_or_default();
        (got.bytes().await.unwrap(), ct)
    }

    /// The `[s3]` settings of a connection named `moto` to this server (through the AWS
    /// connection `moto` of `aws_settings`).
    pub(super) fn settings(&self) -> S3Settings {
        settings("[connections.moto]\nurl = \"s3://\"\naws = \"moto\"")
    }
}

pub(super) fn settings(text: &str) -> S3Settings {
    toml::from_str(text).unwrap()
}

/// A test context (fast retries, counting metrics) with these S3 connections and the AWS
/// connections they name.
pub(super) fn s3_context(
    settings: &S3Settings,
    aws: &AwsSettings,
) -> (ActionContext, Arc<CountingMetrics>) {
    let (mut ctx, metrics) = context(Arc::new(NoPublisher));
    ctx.s3 = Arc::new(Connections::open(settings).unwrap());
    ctx.aws = Arc::new(Connections::open(aws).unwrap());
    (ctx, metrics)
}

/// Builds the action of a rule-header table (`type = "s3"` is prepended).
pub(super) fn action(ctx: &ActionContext, table: &str) -> Result<Arc<dyn Action>, BuildError> {
    let cfg = crate::test_util::table(&format!("type = \"s3\"\n{table}"));
    build_action(&cfg, SqlVersion::default(), ctx)
}

/// A fired message of rule `lake_rule` on `topic` (the original payload has `site`).
pub(super) fn message(topic: &str, output: &[u8]) -> FiredMessage {
    fired("lake_rule", topic, output)
}

#[tokio::test]
async fn build_errors_name_the_field() {
    let (ctx, _) = s3_context(
        &settings("[connections.lake]\nurl = \"memory://\""),
        &AwsSettings::default(),
    );
    let err = |table: &str| {
        action(&ctx, table)
            .err()
            .expect("should not build")
            .to_string()
    };
    assert_eq!(
        err("connection = \"nope\"\nbucket = \"b\"\nkey = \"k\""),
        "field `connection`: no [s3.connections.nope] in rulewire.toml (configured: default, lake)"
    );
    assert!(err("bucket = \"b\"").contains("field `key`: missing"));
    assert!(err("bucket = \"b\"\nkey = \"${topic(\"").starts_with("field `key`: bad template"));
    assert!(err("bucket = \"${nope(}\"\nkey = \"k\"").starts_with("field `bucket`: bad template"));
    assert!(err("bucket = \"b\"\nbatch = { max_rows = 5 }").contains("field `batch.key`: missing"));
    assert!(
        err("bucket = \"b\"\nbatch = { key = \"dir/\" }").contains("must end with a file name")
    );
    assert!(
        err("bucket = \"b\"\nbatch = { key = \"k\", max_age_ms = 0 }").contains("batch.max_age_ms")
    );
    assert!(err("bucket = \"b\"\nkey = \"k\"\ntimeout_ms = 0").contains("timeout_ms"));
}
