//! moto helpers for the batching AWS actions' tests: S3 objects (listed over plain HTTP, read
//! with a signed object_store client, since moto refuses anonymous GETs of private objects),
//! Firehose streams that deliver into a bucket (moto writes one object per PutRecordBatch),
//! CloudWatch Logs groups and their events.

use object_store::{ObjectStoreExt, aws::AmazonS3Builder, path::Path};

use super::Moto;

impl Moto {
    /// Every key in `bucket`, sorted (ListObjectsV2, one page is enough here).
    pub async fn keys(&self, bucket: &str) -> Vec<String> {
        let (status, xml) = self.request("GET", &format!("{bucket}?list-type=2")).await;
        assert_eq!(status, 200, "listing {bucket}: {xml}");
        let mut keys: Vec<String> = xml
            .split("<Key>")
            .skip(1)
            .map(|s| s.split("</Key>").next().unwrap().to_owned())
            .collect();
        keys.sort();
        keys
    }

    /// The body of every object in `bucket`, in key order.
    pub async fn objects(&self, bucket: &str) -> Vec<Vec<u8>> {
        let store = AmazonS3Builder::new()
            .with_endpoint(self.endpoint())
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_bucket_name(bucket)
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .build()
            .expect("an S3 client for moto");
        let mut out = Vec::new();
        for key in self.keys(bucket).await {
            let got = store
                .get(&Path::from(key.as_str()))
                .await
                .unwrap_or_else(|e| panic!("GET {bucket}/{key}: {e}"));
            out.push(got.bytes().await.unwrap().to_vec());
        }
        out
    }

    /// A Firehose client for this server (through the action's own connection code).
    pub async fn firehose_client(&self) -> aws_sdk_firehose::Client {
        let conns = crate::Connections::open(&self.aws_settings("moto")).expect("moto connection");
        let conn = conns.get("moto").expect("configured");
        aws_sdk_firehose::Client::new(conn.sdk_config().await)
    }

    /// Creates bucket `bucket` and a Firehose stream `stream` that delivers into it (moto
    /// writes each PutRecordBatch as one object, its records concatenated).
    pub async fn firehose_into_bucket(&self, stream: &str, bucket: &str) {
        use aws_sdk_firehose::types::{DeliveryStreamType, ExtendedS3DestinationConfiguration};
        self.create_bucket(bucket).await;
        let destination = ExtendedS3DestinationConfiguration::builder()
            .role_arn("arn:aws:iam::123456789012:role/firehose")
            .bucket_arn(format!("arn:aws:s3:::{bucket}"))
            .build()
            .expect("S3 destination");
        self.firehose_client()
            .await
            .create_delivery_stream()
            .delivery_stream_name(stream)
            .delivery_stream_type(DeliveryStreamType::DirectPut)
            .extended_s3_destination_configuration(destination)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateDeliveryStream {stream}: {e:?}"));
    }

    /// A CloudWatch Logs client for this server (through the action's own connection code).
    pub async fn logs_client(&self) -> aws_sdk_cloudwatchlogs::Client {
        let conns = crate::Connections::open(&self.aws_settings("moto")).expect("moto connection");
        let conn = conns.get("moto").expect("configured");
        aws_sdk_cloudwatchlogs::Client::new(conn.sdk_config().await)
    }

    /// Creates log group `group`.
    pub async fn create_log_group(&self, group: &str) {
        self.logs_client()
            .await
            .create_log_group()
            .log_group_name(group)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateLogGroup {group}: {e:?}"));
    }

    /// Every event of log stream `stream` in `group`, in the stream's (time) order:
    /// (timestamp, message).
    pub async fn log_events(&self, group: &str, stream: &str) -> Vec<(i64, String)> {
        let got = self
            .logs_client()
            .await
            .get_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .start_from_head(true)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetLogEvents {group}/{stream}: {e:?}"));
        got.events()
            .iter()
            .map(|e| {
                let message = e.message().unwrap_or_default().to_owned();
                (e.timestamp().unwrap_or_default(), message)
            })
            .collect()
    }

    /// The names of the log streams of `group`.
    pub async fn log_streams(&self, group: &str) -> Vec<String> {
        let got = self
            .logs_client()
            .await
            .describe_log_streams()
            .log_group_name(group)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeLogStreams {group}: {e:?}"));
        got.log_streams()
            .iter()
            .filter_map(|s| s.log_stream_name().map(str::to_owned))
            .collect()
    }
}
