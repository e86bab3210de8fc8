//! Batched mode (not in AWS): rows accumulate per action and are written as one JSON Lines or
//! Parquet object when a batch reaches `max_rows`, `max_bytes` or `max_age_ms`.
//!
//! At-least-once: `execute` for a message returns only once the object holding its row is
//! written (each caller awaits a oneshot that the flush answers), so the service acks the
//! MQTT message only then. A failed flush (after the action's retries) fails every message in
//! it, and each goes to its rule's error action. The action's in-flight bound caps the rows of
//! a batch, since every row is a message waiting for its ack.
//!
//! Grouping: the key template is split at its last `/` outside `${...}`. The directory part
//! (and the bucket) is rendered per message and names the batch the row joins, so
//! `${topic(1)}/dt=${parse_time('yyyy-MM-dd', timestamp())}/` partitions rows by device and
//! day; the file-name part is rendered once per object, against the batch's first message.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use rulewire_engine::{SqlVersion, Template};
use tokio::sync::oneshot;

use super::{
    Target,
    config::{BatchFormat, S3BatchConfig},
    encode,
};
use crate::{
    Action, ActionContext, ActionFailure, BuildError, FiredMessage,
    batching::{Enqueue, Outcome, Queued, Waiter},
    delivery::Delivery,
    templates,
};

/// The batched form of an s3 action, checked: key templates compiled, limits valid.
pub(crate) struct CheckedBatch {
    dir: Template,
    file: Template,
    format: BatchFormat,
    max_rows: usize,
    max_bytes: usize,
    max_age: Duration,
}

impl CheckedBatch {
    /// The in-flight bound the batch's delivery gets when none is set: behind a disk buffer,
    /// the drain may hand the action `max_rows` messages at once (unbuffered, each row is a
    /// message the broker waits on, so `limits.max_in_flight` stays the bound).
    pub(crate) fn default_in_flight(&self, ctx: &ActionContext) -> usize {
        if ctx.buffered {
            ctx.max_in_flight.max(self.max_rows)
        } else {
            ctx.max_in_flight
        }
    }
}

/// Checks the `batch` table of an s3 action whose object key template is `key`.
pub(crate) fn check(
    cfg: &S3BatchConfig,
    key: &str,
    version: SqlVersion,
) -> Result<CheckedBatch, BuildError> {
    let (dir, file) = split_key(key);
    let dir = templates::field("batch.key", dir, version)?;
    let file = templates::field("batch.key", file, version)?;
    if file.is_static()
        && file
            .render(&FiredMessage::default().as_engine_message())
            .is_empty()
    {
        return Err(BuildError::invalid(
            "batch.key",
            "must end with a file name after the last `/`",
        ));
    }
    for (field, value) in [
        ("batch.max_rows", cfg.max_rows as u64),
        ("batch.max_bytes", cfg.max_bytes as u64),
        ("batch.max_age_ms", cfg.max_age_ms),
    ] {
        if value == 0 {
            return Err(BuildError::invalid(field, "must be at least 1"));
        }
    }
    Ok(CheckedBatch {
        dir,
        file,
        format: cfg.format,
        max_rows: cfg.max_rows,
        max_bytes: cfg.max_bytes,
        max_age: Duration::from_millis(cfg.max_age_ms),
    })
}

/// The batched s3 action writing to `target`. A batch holds at most the action's in-flight
/// bound of rows, since each row is a message waiting for its ack.
pub(crate) fn bind(c: CheckedBatch, target: Arc<Target>, delivery: Delivery) -> Arc<dyn Action> {
    let max_rows = c.max_rows.min(delivery.max_in_flight());
    if max_rows < c.max_rows {
        tracing::info!(
            max_rows = c.max_rows,
            max_in_flight = max_rows,
            "s3 batch.max_rows is capped by the action's in-flight bound (limits.max_in_flight or the action's max_in_flight); behind a disk buffer it is not"
        );
    }
    let content_type = target
        .content_type
        .clone()
        .unwrap_or_else(|| c.format.content_type().to_owned());
    Queued::action(Inner {
        target,
        dir: c.dir,
        file: c.file,
        format: c.format,
        content_type,
        max_rows,
        max_bytes: c.max_bytes,
        max_age: c.max_age,
        delivery,
        open: Mutex::default(),
    })
}

/// `text` split at its last `/` outside `${...}`: (directory, file name), without the `/`.
fn split_key(text: &str) -> (&str, &str) {
    let (mut depth, mut quote, mut last) = (0usize, None, None);
    let bytes = text.as_bytes();
    for (i, &c) in bytes.iter().enumerate() {
        match (depth, quote, c) {
            (0, _, b'{') if i > 0 && bytes[i - 1] == b'$' => depth = 1,
            (0, _, b'/') => last = Some(i),
            (0, _, _) => {}
            (_, Some(q), c) if c == q => quote = None,
            (_, Some(_), _) => {}
            (_, None, b'\'' | b'"') => quote = Some(c),
            (_, None, b'{') => depth += 1,
            (_, None, b'}') => depth -= 1,
            _ => {}
        }
    }
    match last {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => ("", text),
    }
}

struct Inner {
    target: Arc<Target>,
    dir: Template,
    file: Template,
    format: BatchFormat,
    content_type: String,
    max_rows: usize,
    max_bytes: usize,
    max_age: Duration,
    delivery: Delivery,
    open: Mutex<Open>,
}

/// Open batches by (bucket, directory).
#[derive(Default)]
struct Open {
    batches: HashMap<(String, String), Batch>,
    next_id: u64,
}

struct Batch {
    id: u64,
    rows: Vec<Bytes>,
    bytes: usize,
    first: FiredMessage,
    waiters: Vec<Waiter>,
}

fn failure(failed_resource: String, error_message: String) -> ActionFailure {
    <Inner as Enqueue>::failure(failed_resource, error_message)
}

impl Enqueue for Inner {
    const KIND: &'static str = super::KIND;
    const AWS_NAME: &'static str = "S3Action";

    fn delivery(&self) -> &Delivery {
        &self.delivery
    }

    /// Adds `msg`'s row to its batch (flushing it when full); the receiver gets the outcome.
    fn enqueue(
        self: &Arc<Self>,
        msg: &FiredMessage,
    ) -> Result<oneshot::Receiver<Outcome>, ActionFailure> {
        self.add(msg)
    }
}

impl Inner {
    fn add(
        self: &Arc<Self>,
        msg: &FiredMessage,
    ) -> Result<oneshot::Receiver<Outcome>, ActionFailure> {
        let original = msg.as_engine_message();
        let bucket = self.target.bucket.render(&original);
        let row = encode::row(self.format, &msg.output).map_err(|e| failure(bucket.clone(), e))?;
        let group = (bucket, self.dir.render(&original));
        let (tx, rx) = oneshot::channel();
        let mut open = self.open.lock().expect("batch lock");
        if !open.batches.contains_key(&group) {
            let id = open.next_id;
            open.next_id += 1;
            let (this, timer_group) = (self.clone(), group.clone());
            tokio::spawn(async move {
                tokio::time::sleep(this.max_age).await;
                this.flush_if_open(&timer_group, id);
            });
            open.batches.insert(
                group.clone(),
                Batch {
                    id,
                    rows: Vec::new(),
                    bytes: 0,
                    first: msg.clone(),
                    waiters: Vec::new(),
                },
            );
        }
        let batch = open.batches.get_mut(&group).expect("just inserted");
        batch.bytes += row.len() + 1;
        batch.rows.push(row);
        batch.waiters.push(tx);
        if batch.rows.len() >= self.max_rows || batch.bytes >= self.max_bytes {
            let batch = open.batches.remove(&group).expect("present");
            drop(open);
            tokio::spawn(self.clone().flush(group, batch));
        }
        Ok(rx)
    }

    /// The age timer of batch `id`: flushes it unless a threshold already did.
    fn flush_if_open(self: &Arc<Self>, group: &(String, String), id: u64) {
        let mut open = self.open.lock().expect("batch lock");
        if open.batches.get(group).is_some_and(|b| b.id == id) {
            let batch = open.batches.remove(group).expect("present");
            drop(open);
            tokio::spawn(self.clone().flush(group.clone(), batch));
        }
    }

    /// Writes one batch and tells every message in it the outcome.
    async fn flush(self: Arc<Self>, (bucket, dir): (String, String), batch: Batch) {
        let result = self
            .write(bucket.clone(), &dir, &batch)
            .await
            .map_err(|e| failure(bucket, e));
        if let Err(e) = &result {
            tracing::warn!(rule = %batch.first.rule_name, rows = batch.rows.len(), failure = %e, "s3 batch not written");
        }
        for waiter in batch.waiters {
            let _ = waiter.send(result.clone()); // a caller that went away has nothing to ack
        }
    }

    async fn write(&self, bucket: String, dir: &str, batch: &Batch) -> Result<(), String> {
        let first = &batch.first;
        let file = self.file.render(&first.as_engine_message());
        let key = if dir.is_empty() {
            file
        } else {
            format!("{dir}/{file}")
        };
        let (format, rows) = (self.format, batch.rows.clone());
        let body = tokio::task::spawn_blocking(move || encode::body(format, &rows))
            .await
            .map_err(|e| format!("encoding task failed: {e}"))??;
        let upload = self
            .target
            .upload_to(bucket, key, body, self.content_type.clone())
            .map_err(|r| r.message)?;
        let attempt = || upload.send(&first.topic);
        let sent = self.delivery.run(true, || {}, attempt).await;
        sent.map_err(|e| e.message)
    }
}

#[cfg(test)]
mod tests {
    use super::split_key;

    #[test]
    fn key_splits_at_the_last_slash_outside_templates() {
        assert_eq!(split_key("a/b/c.json"), ("a/b", "c.json"));
        assert_eq!(
            split_key("${topic()}/${newuuid()}.jsonl"),
            ("${topic()}", "${newuuid()}.jsonl")
        );
        assert_eq!(
            split_key("x/${replace(topic(), '/', '-')}.json"),
            ("x", "${replace(topic(), '/', '-')}.json")
        );
        assert_eq!(
            split_key("${replace(topic(), '/', '-')}"),
            ("", "${replace(topic(), '/', '-')}")
        );
        assert_eq!(
            split_key(
                "${topic(1)}/dt=${parse_time('yyyy-MM-dd', timestamp())}/${newuuid()}.parquet"
            ),
            (
                "${topic(1)}/dt=${parse_time('yyyy-MM-dd', timestamp())}",
                "${newuuid()}.parquet"
            )
        );
        assert_eq!(split_key("file.json"), ("", "file.json"));
    }
}
