//! Kinesis as a `RecordService` (`crate::record_queue` does the queueing, per-record retries
//! and acks): each fired message becomes one record (partition key rendered against the
//! ORIGINAL message, data = the rule's output) in its stream's queue, sent in PutRecords
//! requests of up to `max_records` (<= 500) records and 5 MiB.
//!
//! Order per partition key: a record is never sent in a later request than a record of the
//! same key that was queued after it (retries go first, one request at a time per stream).
//! Within one request Kinesis itself does not guarantee order, and when one record of a
//! request fails and a later one with the same key succeeds, the retry lands after it; rules
//! that need strict per-key order must not rely on PutRecords (AWS says the same of its API).

use std::sync::Arc;

use bytes::Bytes;
use rulewire_engine::Template;

use super::{MAX_RECORD_BYTES, MAX_REQUEST_BYTES, transport::Transport};
use crate::{
    FiredMessage,
    aws::record_error,
    delivery::{AttemptError, Rejected},
    record_queue::{Limits, RecordResult, RecordService},
};

/// Longest partition key Kinesis accepts, in Unicode characters.
const MAX_KEY_CHARS: usize = 256;

/// One kinesis action: its transport, templates and request size.
pub(crate) struct Kinesis {
    pub transport: Arc<dyn Transport>,
    pub stream: Template,
    pub partition_key: Template,
    pub max_records: usize,
}

/// One record: (partition key, data).
pub(crate) type KinesisRecord = (String, Bytes);

impl RecordService for Kinesis {
    const KIND: &'static str = "kinesis";
    const AWS_NAME: &'static str = "KinesisAction";
    const REQUEST: &'static str = "PutRecords";
    /// The stream name.
    type Destination = String;
    type Record = KinesisRecord;

    fn limits(&self) -> Limits {
        Limits {
            max_records: self.max_records,
            max_bytes: MAX_REQUEST_BYTES,
        }
    }

    fn size(&self, (key, data): &KinesisRecord) -> usize {
        key.len() + data.len()
    }

    fn records(&self, msg: &FiredMessage) -> Result<(String, Vec<KinesisRecord>), Rejected> {
        let original = msg.as_engine_message();
        let stream = self.stream.render(&original);
        let key = self.partition_key.render(&original);
        let rejected = |message: String| Rejected {
            resource: stream.clone(),
            message,
        };
        if stream.is_empty() {
            return Err(rejected("the stream name rendered empty".into()));
        }
        let chars = key.chars().count();
        if chars == 0 || chars > MAX_KEY_CHARS {
            return Err(rejected(format!(
                "the partition key must have 1 to {MAX_KEY_CHARS} characters, it rendered {chars}"
            )));
        }
        let size = key.len() + msg.output.len();
        if size > MAX_RECORD_BYTES {
            return Err(rejected(format!(
                "record too large for Kinesis: {size} bytes of data and partition key, the limit is {MAX_RECORD_BYTES} (1 MiB)"
            )));
        }
        let record = (key, Bytes::from(msg.output.clone()));
        Ok((stream, vec![record]))
    }

    async fn send(
        &self,
        stream: &String,
        records: &[&KinesisRecord],
    ) -> Result<Vec<RecordResult>, AttemptError> {
        let records = records.iter().map(|r| (*r).clone()).collect();
        let results = self.transport.put_records(stream, records).await?;
        Ok(results
            .into_iter()
            .map(|r| match r {
                None => Ok(()),
                Some(e) => Err(record_error(&e.code, &e.message)),
            })
            .collect())
    }

    fn resource(&self, stream: &String) -> String {
        stream.clone()
    }

    fn error_message(&self, stream: &String, topic: &str, error: &str) -> String {
        format!(
            "Failed to put the Kinesis record. The error received was {error}. Message arrived on: {topic}, Action: kinesis, Stream: {stream}"
        )
    }
}

/// One record's failure inside a PutRecords answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordError {
    pub code: String,
    pub message: String,
}
