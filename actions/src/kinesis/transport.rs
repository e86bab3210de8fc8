//! How one PutRecords request is sent: `Transport`, implemented over aws-sdk-kinesis by
//! `SdkTransport`. The kinesis `RecordService` (`batch`) only sees per-record results, so
//! tests can put a fault-injecting layer in front of a real server (moto never fails single
//! records).

use aws_sdk_kinesis::{primitives::Blob, types::PutRecordsRequestEntry};
use bytes::Bytes;

use super::batch::RecordError;
use crate::{
    BoxFuture,
    aws::{LazyClient, attempt_error},
    delivery::AttemptError,
};

/// Per record of a request, in order: `None` = accepted, `Some` = failed.
pub(crate) type RecordResults = Vec<Option<RecordError>>;

/// Sends one PutRecords request of `(partition key, data)` records to `stream`.
pub(crate) trait Transport: Send + Sync + 'static {
    fn put_records<'a>(
        &'a self,
        stream: &'a str,
        records: Vec<(String, Bytes)>,
    ) -> BoxFuture<'a, Result<RecordResults, AttemptError>>;
}

/// PutRecords through an SDK client of the action's AWS connection.
pub(crate) struct SdkTransport(pub LazyClient<aws_sdk_kinesis::Client>);

impl Transport for SdkTransport {
    fn put_records<'a>(
        &'a self,
        stream: &'a str,
        records: Vec<(String, Bytes)>,
    ) -> BoxFuture<'a, Result<RecordResults, AttemptError>> {
        Box::pin(async move {
            let entries = records
                .into_iter()
                .map(|(key, data)| {
                    PutRecordsRequestEntry::builder()
                        .partition_key(key)
                        .data(Blob::new(data.to_vec()))
                        .build()
                        .map_err(|e| AttemptError::permanent(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let client = self.0.get().await;
            let sent = client
                .put_records()
                .stream_name(stream)
                .set_records(Some(entries))
                .send()
                .await;
            match sent {
                Ok(out) => Ok(out
                    .records()
                    .iter()
                    .map(|r| {
                        r.error_code().map(|code| RecordError {
                            code: code.to_owned(),
                            message: r.error_message().unwrap_or_default().to_owned(),
                        })
                    })
                    .collect()),
                Err(e) => Err(attempt_error(&e)),
            }
        })
    }
}
