//! Records grouped into PutRecords requests, one queue and one sender task per stream.
//!
//! Each fired message becomes one record (partition key rendered against the ORIGINAL
//! message, data = the rule's output) in its stream's queue; `execute` resolves when that
//! record is accepted or given up on. The sender takes up to `max_records` (<= 500) records
//! and <= 5 MiB from the head of the queue, sends one request at a time per stream (records
//! arriving meanwhile form the next request), and resolves each record by its own result:
//! records that failed with a retryable code (throughput exceeded, internal failure) or in a
//! request that failed as a whole (network, timeout, 5xx) go back to the HEAD of the queue,
//! in their original order, and are retried after a backoff until their attempts are spent.
//!
//! Order per partition key: a record is never sent in a later request than a record of the
//! same key that was queued after it (retries go first, one request at a time). Within one
//! request Kinesis itself does not guarantee order, and when one record of a request fails
//! and a later one with the same key succeeds, the retry lands after it; rules that need
//! strict per-key order must not rely on PutRecords (AWS says the same of its API).

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use rulewire_engine::Template;
use tokio::sync::oneshot;

use super::{MAX_RECORD_BYTES, MAX_REQUEST_BYTES, transport::Transport};
use crate::{
    ActionFailure, FiredMessage,
    batching::{Enqueue, Outcome, Waiter},
    delivery::{AttemptError, Delivery},
};

/// Longest partition key Kinesis accepts, in Unicode characters.
const MAX_KEY_CHARS: usize = 256;

/// One kinesis action: its templates, limits and per-stream queues.
pub(crate) struct Inner {
    pub transport: Arc<dyn Transport>,
    pub stream: Template,
    pub partition_key: Template,
    pub max_records: usize,
    pub linger: Duration,
    pub delivery: Delivery,
    pub queues: Mutex<HashMap<String, VecDeque<Entry>>>,
}

/// A queued record and who waits for it.
pub(crate) struct Entry {
    key: String,
    data: Bytes,
    /// Attempts made so far.
    attempts: u32,
    topic: String,
    waiter: Waiter,
}

impl Entry {
    fn size(&self) -> usize {
        self.key.len() + self.data.len()
    }
}

impl Enqueue for Inner {
    const KIND: &'static str = "kinesis";
    const AWS_NAME: &'static str = "KinesisAction";

    fn delivery(&self) -> &Delivery {
        &self.delivery
    }

    fn enqueue(
        self: &Arc<Self>,
        msg: &FiredMessage,
    ) -> Result<oneshot::Receiver<Outcome>, ActionFailure> {
        let original = msg.as_engine_message();
        let stream = self.stream.render(&original);
        let key = self.partition_key.render(&original);
        let rejected = |message: String| Self::failure(stream.clone(), message);
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
        let (waiter, done) = oneshot::channel();
        let entry = Entry {
            key,
            data: Bytes::from(msg.output.clone()),
            attempts: 0,
            topic: msg.topic.clone(),
            waiter,
        };
        let mut queues = self.queues.lock().expect("kinesis queues lock");
        match queues.get_mut(&stream) {
            // A sender task is running for this stream (it removes the queue when it stops).
            Some(queue) => queue.push_back(entry),
            None => {
                queues.insert(stream.clone(), VecDeque::from([entry]));
                tokio::spawn(self.clone().send_loop(stream));
            }
        }
        Ok(done)
    }
}

impl Inner {
    /// Sends `stream`'s queue, one request at a time, until it is empty.
    async fn send_loop(self: Arc<Self>, stream: String) {
        let transport = self.transport.clone();
        loop {
            if !self.linger.is_zero() && self.queued(&stream) < self.max_records {
                tokio::time::sleep(self.linger).await;
            }
            let Some(batch) = self.next_batch(&stream) else {
                return;
            };
            let records: Vec<(String, Bytes)> = batch
                .iter()
                .map(|e| (e.key.clone(), e.data.clone()))
                .collect();
            let n = records.len();
            if n > 0 {
                self.delivery.metrics.batch(n);
            }
            let timeout = self.delivery.timeout;
            let result = match tokio::time::timeout(
                timeout,
                transport.put_records(&stream, records),
            )
            .await
            {
                Ok(r) => r,
                Err(_) => Err(AttemptError::retryable(format!(
                    "PutRecords timed out after {} ms",
                    timeout.as_millis()
                ))),
            };
            let retry = self.settle(&stream, batch, result);
            if let Some(next_attempt) = retry {
                tokio::time::sleep(self.delivery.retry.backoff(next_attempt)).await;
            }
        }
    }

    fn queued(&self, stream: &str) -> usize {
        let queues = self.queues.lock().expect("kinesis queues lock");
        queues.get(stream).map_or(0, VecDeque::len)
    }

    /// Takes the next request's records from the head of the queue; `None` (and the queue
    /// removed, so the next message starts a new sender) when it is empty.
    fn next_batch(&self, stream: &str) -> Option<Vec<Entry>> {
        let mut queues = self.queues.lock().expect("kinesis queues lock");
        let queue = queues.get_mut(stream)?;
        if queue.is_empty() {
            queues.remove(stream);
            return None;
        }
        let mut batch = Vec::new();
        let mut bytes = 0;
        while let Some(e) = queue.front() {
            if batch.len() == self.max_records || bytes + e.size() > MAX_REQUEST_BYTES {
                break;
            }
            bytes += e.size();
            batch.push(queue.pop_front().expect("front exists"));
        }
        Some(batch)
    }

    /// Answers the records of one request; those to retry go back to the head of the queue.
    /// Returns the attempt number the retried records will make next, if any.
    fn settle(
        &self,
        stream: &str,
        batch: Vec<Entry>,
        result: Result<Vec<Option<RecordError>>, AttemptError>,
    ) -> Option<u32> {
        let attempts = self.delivery.retry.attempts.max(1);
        let mut retry = Vec::new();
        let per_record: Vec<Result<(), (bool, String)>> = match result {
            Ok(per) if per.len() == batch.len() => per
                .into_iter()
                .map(|r| match r {
                    None => Ok(()),
                    Some(e) => Err((e.retryable(), format!("{}: {}", e.code, e.message))),
                })
                .collect(),
            Ok(per) => {
                let m = format!(
                    "PutRecords answered {} results for {} records",
                    per.len(),
                    batch.len()
                );
                vec![Err((false, m)); batch.len()]
            }
            Err(e) => vec![Err((e.retryable, e.message)); batch.len()],
        };
        for (mut entry, outcome) in batch.into_iter().zip(per_record) {
            entry.attempts += 1;
            match outcome {
                Ok(()) => {
                    let _ = entry.waiter.send(Ok(()));
                }
                Err((true, _)) if entry.attempts < attempts => retry.push(entry),
                Err((_, error)) => {
                    let message = format!(
                        "Failed to put the Kinesis record. The error received was {error}. Message arrived on: {}, Action: kinesis, Stream: {stream}",
                        entry.topic
                    );
                    let _ = entry
                        .waiter
                        .send(Err(Self::failure(stream.to_owned(), message)));
                }
            }
        }
        let next = retry.iter().map(|e| e.attempts + 1).max()?;
        for _ in &retry {
            self.delivery.metrics.retry();
        }
        let mut queues = self.queues.lock().expect("kinesis queues lock");
        let queue = queues.entry(stream.to_owned()).or_default();
        for e in retry.into_iter().rev() {
            queue.push_front(e);
        }
        Some(next)
    }
}

/// One record's failure inside a PutRecords answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordError {
    pub code: String,
    pub message: String,
}

impl RecordError {
    /// Whether the code is transient (throttling, internal failure): see `aws::is_retryable_code`.
    pub(crate) fn retryable(&self) -> bool {
        crate::aws::is_retryable_code(&self.code)
    }
}
