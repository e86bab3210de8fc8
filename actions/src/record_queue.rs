//! Records grouped into batch requests, for services with a batch API (Kinesis PutRecords, SQS
//! SendMessageBatch, Firehose PutRecordBatch, CloudWatch Logs PutLogEvents), with each
//! message still acknowledged by its own records' outcome.
//!
//! A service implements `RecordService`: how a fired message becomes records for one
//! destination (a stream, a queue, a log stream), the request limits, the size of a record,
//! and one batch request that answers per record. `RecordQueue<S>` does the rest, the same
//! for every service:
//!
//! - one queue per destination and a sender task that takes up to `max_records` records and
//!   `max_bytes` from its head and sends one request at a time; records arriving meanwhile
//!   form the next request (after `linger`, if set). By default a destination has ONE sender
//!   (requests in order); a service whose destinations need no order between requests
//!   (`max_requests_in_flight`) gets more senders while a full request's worth waits;
//! - each record is resolved by its own result: records that failed with a retryable error,
//!   or in a request that failed as a whole (network, timeout, throttling, 5xx), go back to
//!   the HEAD of the queue in their original order and are retried after a backoff until the
//!   action's attempts are spent; other failures are final; requests go through the
//!   action's pacer (`pacing`: circuit breaker and concurrency limit), like every action's;
//! - a message's `execute` resolves when all its records are stored (`Ok`) or when one of
//!   them has failed for good (`Err`, the action's `ActionFailure`). Records of a message that
//!   has already failed are dropped from the queue instead of being sent.
//!
//! Order per destination: a record is never sent in a later request than a record queued
//! after it, except when some records of a request fail and later ones succeed (the retries
//! then land after them).

use std::{
    collections::{HashMap, VecDeque},
    future::Future,
    hash::Hash,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::oneshot;

use crate::{
    Action, ActionFailure, FiredMessage,
    batching::{Enqueue, Outcome, Queued, Waiter},
    delivery::{AttemptError, Delivery, Rejected},
};

/// What one request may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Records per request.
    pub max_records: usize,
    /// Bytes per request, as the service counts them (`RecordService::size`).
    pub max_bytes: usize,
}

/// One record's result inside a batch answer.
pub(crate) type RecordResult = Result<(), AttemptError>;

/// The service-specific part of a batching action.
pub(crate) trait RecordService: Send + Sync + 'static {
    /// `kind()` of the action, for metric labels.
    const KIND: &'static str;
    /// AWS's name in the error payload, e.g. "KinesisAction".
    const AWS_NAME: &'static str;
    /// The batch API's name, for error messages ("PutRecords").
    const REQUEST: &'static str;
    /// Where a request goes; records for different destinations never share a request.
    type Destination: Clone + Eq + Hash + Send + Sync + 'static;
    /// One record as the batch API takes it.
    type Record: Send + Sync + 'static;

    fn limits(&self) -> Limits;
    /// Requests to one destination in flight at once. 1 (the default) keeps requests in
    /// order, as kinesis and FIFO queues need; more lets a busy destination take several: a
    /// sender is added while a full request's worth of records waits.
    fn max_requests_in_flight(&self) -> usize {
        1
    }
    /// A record's share of `Limits::max_bytes`.
    fn size(&self, record: &Self::Record) -> usize;
    /// Whether `record` may join a request that starts with `first` (beyond the count and
    /// byte limits; CloudWatch Logs: the time span of a request).
    fn fits_with(&self, _first: &Self::Record, _record: &Self::Record) -> bool {
        true
    }
    /// Renders `msg` into its destination and records (none: nothing to send, delivered).
    /// Records that can never be accepted (too large, invalid) are rejected here, for good.
    fn records(
        &self,
        msg: &FiredMessage,
    ) -> Result<(Self::Destination, Vec<Self::Record>), Rejected>;
    /// One request: `Ok` with one result per record, in order, or `Err` when the request
    /// failed as a whole.
    fn send<'a>(
        &'a self,
        destination: &'a Self::Destination,
        records: &'a [&'a Self::Record],
    ) -> impl Future<Output = Result<Vec<RecordResult>, AttemptError>> + Send + 'a;
    /// `failedResource` for a record of `destination`.
    fn resource(&self, destination: &Self::Destination) -> String;
    /// The `errorMessage` for a record of `destination` given up on, from a message that
    /// arrived on `topic`.
    fn error_message(&self, _destination: &Self::Destination, _topic: &str, error: &str) -> String {
        error.to_owned()
    }
}

/// Each destination's waiting records and senders.
type Queues<S> =
    HashMap<<S as RecordService>::Destination, DestinationQueue<<S as RecordService>::Record>>;

/// One destination's waiting records, oldest first, and how many sender tasks send them
/// (the queue exists while one does).
struct DestinationQueue<R> {
    entries: VecDeque<Entry<R>>,
    senders: usize,
}

impl<R> Default for DestinationQueue<R> {
    fn default() -> Self {
        DestinationQueue {
            entries: VecDeque::new(),
            senders: 0,
        }
    }
}

/// A batching action: its service, per-destination queues and delivery settings.
pub(crate) struct RecordQueue<S: RecordService> {
    service: S,
    linger: Duration,
    delivery: Delivery,
    queues: Mutex<Queues<S>>,
}

impl<S: RecordService> RecordQueue<S> {
    /// The `Action` over `service`: requests wait `linger` for more records (zero: sent as
    /// soon as the previous request to the destination has returned).
    pub(crate) fn action(service: S, linger: Duration, delivery: Delivery) -> Arc<dyn Action> {
        Queued::action(RecordQueue {
            service,
            linger,
            delivery,
            queues: Mutex::default(),
        })
    }
}

/// A queued record and the message it belongs to.
struct Entry<R> {
    record: R,
    /// Attempts made so far.
    attempts: u32,
    message: Arc<MessageState>,
}

/// One message whose records are queued: who waits for it, and how many records are left.
struct MessageState {
    topic: String,
    pending: Mutex<Pending>,
}

struct Pending {
    records_left: usize,
    /// `None` once the message has been answered.
    waiter: Option<Waiter>,
}

impl MessageState {
    /// One record stored: the message succeeds with its last record.
    fn record_stored(&self) {
        let mut p = self.pending.lock().expect("message state lock");
        p.records_left = p.records_left.saturating_sub(1);
        if p.records_left == 0
            && let Some(w) = p.waiter.take()
        {
            let _ = w.send(Ok(()));
        }
    }

    /// One record given up on: the message fails (once).
    fn record_failed(&self, failure: ActionFailure) {
        let waiter = self
            .pending
            .lock()
            .expect("message state lock")
            .waiter
            .take();
        if let Some(w) = waiter {
            let _ = w.send(Err(failure));
        }
    }

    /// Whether the message was already answered with a failure.
    fn failed(&self) -> bool {
        let p = self.pending.lock().expect("message state lock");
        p.waiter.is_none() && p.records_left > 0
    }
}

impl<S: RecordService> Enqueue for RecordQueue<S> {
    const KIND: &'static str = S::KIND;
    const AWS_NAME: &'static str = S::AWS_NAME;

    fn delivery(&self) -> &Delivery {
        &self.delivery
    }

    fn enqueue(
        self: &Arc<Self>,
        msg: &FiredMessage,
    ) -> Result<oneshot::Receiver<Outcome>, ActionFailure> {
        let (destination, records) = self
            .service
            .records(msg)
            .map_err(|r| Self::failure(r.resource, r.message))?;
        let (waiter, done) = oneshot::channel();
        if records.is_empty() {
            let _ = waiter.send(Ok(()));
            return Ok(done);
        }
        let message = Arc::new(MessageState {
            topic: msg.topic.clone(),
            pending: Mutex::new(Pending {
                records_left: records.len(),
                waiter: Some(waiter),
            }),
        });
        let entries = records.into_iter().map(|record| Entry {
            record,
            attempts: 0,
            message: message.clone(),
        });
        let max_records = self.service.limits().max_records;
        let mut queues = self.queues.lock().expect("record queues lock");
        let queue = queues.entry(destination.clone()).or_default();
        queue.entries.extend(entries);
        let busy = queue.entries.len() >= max_records
            && queue.senders < self.service.max_requests_in_flight();
        if queue.senders == 0 || busy {
            queue.senders += 1;
            tokio::spawn(self.clone().send_loop(destination));
        }
        Ok(done)
    }
}

impl<S: RecordService> RecordQueue<S> {
    /// Sends `destination`'s queue, one request at a time, until it is empty.
    async fn send_loop(self: Arc<Self>, destination: S::Destination) {
        let max_records = self.service.limits().max_records;
        loop {
            if !self.linger.is_zero() && self.queued(&destination) < max_records {
                tokio::time::sleep(self.linger).await;
            }
            let Some(batch) = self.next_batch(&destination) else {
                return;
            };
            if batch.is_empty() {
                continue;
            }
            self.delivery.metrics.batch(batch.len());
            let records: Vec<&S::Record> = batch.iter().map(|e| &e.record).collect();
            let result = self.send(&destination, &records).await;
            if let Some(next_attempt) = self.settle(&destination, batch, result) {
                tokio::time::sleep(self.delivery.retry.backoff(next_attempt)).await;
            }
        }
    }

    /// One request under the action's timeout, admitted by the action's pacer (circuit
    /// breaker): a request that failed as a whole, or whose records all failed retryably,
    /// counts against the endpoint; one stored record counts for it.
    async fn send(
        &self,
        destination: &S::Destination,
        records: &[&S::Record],
    ) -> Result<Vec<RecordResult>, AttemptError> {
        let admission = self.delivery.admit().await?;
        let timeout = self.delivery.timeout;
        let result =
            match tokio::time::timeout(timeout, self.service.send(destination, records)).await {
                Ok(r) => r,
                Err(_) => Err(AttemptError::retryable(format!(
                    "{} timed out after {} ms",
                    S::REQUEST,
                    timeout.as_millis()
                ))),
            };
        match endpoint_failure(&result) {
            Some(e) => admission.failed(&e.message),
            None if result
                .as_ref()
                .is_ok_and(|per| per.iter().any(Result::is_ok)) =>
            {
                admission.succeeded()
            }
            None => drop(admission),
        }
        result
    }

    fn queued(&self, destination: &S::Destination) -> usize {
        let queues = self.queues.lock().expect("record queues lock");
        queues.get(destination).map_or(0, |q| q.entries.len())
    }

    /// Takes the next request's records from the head of the queue (skipping records of
    /// messages that already failed); `None` when it is empty: the calling sender stops (the
    /// last one removes the queue, so the next message starts a new sender).
    fn next_batch(&self, destination: &S::Destination) -> Option<Vec<Entry<S::Record>>> {
        let limits = self.service.limits();
        let mut queues = self.queues.lock().expect("record queues lock");
        let waiting = queues.get_mut(destination)?;
        if waiting.entries.is_empty() {
            waiting.senders -= 1;
            if waiting.senders == 0 {
                queues.remove(destination);
            }
            return None;
        }
        let queue = &mut waiting.entries;
        let mut batch = Vec::new();
        let mut bytes = 0;
        while let Some(e) = queue.front() {
            if e.message.failed() {
                queue.pop_front();
                continue;
            }
            let size = self.service.size(&e.record);
            let fits = batch
                .first()
                .is_none_or(|f: &Entry<S::Record>| self.service.fits_with(&f.record, &e.record));
            let full =
                batch.len() == limits.max_records || bytes + size > limits.max_bytes || !fits;
            // A record alone over the byte limit still goes (the service rejects it).
            if full && !batch.is_empty() {
                break;
            }
            bytes += size;
            batch.push(queue.pop_front().expect("front exists"));
        }
        Some(batch)
    }

    /// Answers the records of one request; those to retry go back to the head of the queue.
    /// Returns the attempt number the retried records will make next, if any.
    fn settle(
        &self,
        destination: &S::Destination,
        batch: Vec<Entry<S::Record>>,
        result: Result<Vec<RecordResult>, AttemptError>,
    ) -> Option<u32> {
        let attempts = self.delivery.retry.attempts.max(1);
        let per_record: Vec<RecordResult> = match result {
            Ok(per) if per.len() == batch.len() => per,
            Ok(per) => {
                let m = format!(
                    "{} answered {} results for {} records",
                    S::REQUEST,
                    per.len(),
                    batch.len()
                );
                vec![Err(AttemptError::permanent(m)); batch.len()]
            }
            Err(e) => vec![Err(e); batch.len()],
        };
        let mut retry = Vec::new();
        for (mut entry, outcome) in batch.into_iter().zip(per_record) {
            entry.attempts += 1;
            match outcome {
                Ok(()) => entry.message.record_stored(),
                Err(e) if e.retryable && entry.attempts < attempts => retry.push(entry),
                Err(e) => {
                    let message =
                        self.service
                            .error_message(destination, &entry.message.topic, &e.message);
                    let failure = Self::failure(self.service.resource(destination), message);
                    entry.message.record_failed(failure);
                }
            }
        }
        let next = retry.iter().map(|e| e.attempts + 1).max()?;
        for _ in &retry {
            self.delivery.metrics.retry();
        }
        let mut queues = self.queues.lock().expect("record queues lock");
        // This sender still runs, so the destination's queue exists.
        let queue = &mut queues.entry(destination.clone()).or_default().entries;
        for e in retry.into_iter().rev() {
            queue.push_front(e);
        }
        Some(next)
    }
}

/// What one request says against the endpoint (for the pacer): the error when the request
/// failed retryably or every one of its records did; `None` otherwise.
fn endpoint_failure(result: &Result<Vec<RecordResult>, AttemptError>) -> Option<&AttemptError> {
    match result {
        Err(e) => e.retryable.then_some(e),
        Ok(per) => {
            let mut errors = per.iter().map(|r| r.as_ref().err().filter(|e| e.retryable));
            let first = errors.next()??;
            errors.all(|e| e.is_some()).then_some(first)
        }
    }
}
