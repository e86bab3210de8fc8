//! The disk-buffered form of an action, and the drain that delivers from its queue.
//!
//! [`Buffered`] is what the rule runs: it writes the message to the action's
//! [`SegmentLog`] and returns once the record is fsync'd, so the message can be acknowledged.
//! The drain task reads records in order and runs the real action on them, up to
//! `max_in_flight` at once; the real action was bound in buffered mode (retryable errors are
//! retried until they succeed, at the pace of its circuit breaker), so what comes back as a
//! failure is permanent and goes to the rule's error action, as AWS's does. Finished records
//! move the log's cursor (every [`COMMIT_EVERY`]); a crash delivers at most the records that
//! were in flight again.

use std::{
    collections::VecDeque,
    sync::{Arc, RwLock},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::mpsc;

use super::{
    BufferConfig, WhenFull, codec,
    segment_log::{Position, RECORD_HEADER, Record, SegmentLog, Usage},
};
use crate::{
    Action, ActionContext, ActionFailure, ActionMetrics, BoxFuture, BuildError, FiredMessage,
};

/// How often the drain moves the cursor and reports the buffer's gauges.
const COMMIT_EVERY: Duration = Duration::from_millis(100);
/// Records the reader thread hands the drain at once (one wake-up for all of them), and
/// batches it reads ahead.
const READ_BATCH: usize = 256;
const READ_AHEAD_BATCHES: usize = 4;
/// The largest segment file; smaller buffers get segments of an eighth of `max_bytes`.
const MAX_SEGMENT_BYTES: u64 = 64 << 20;

/// What the drain delivers to: the action and the rule's error action, replaced when the rule
/// is reloaded while the buffer drains.
struct Target {
    action: Arc<dyn Action>,
    error_action: Option<Arc<dyn Action>>,
    /// Records delivered at once: the action's in-flight bound.
    concurrency: usize,
}

/// An open buffer: its log and its drain task, shared by every loaded version of the rule.
pub(crate) struct BufferHandle {
    log: Arc<SegmentLog>,
    target: Arc<RwLock<Arc<Target>>>,
    drain: tokio::task::AbortHandle,
}

impl Drop for BufferHandle {
    /// The rule (or this action of it) is gone: stop draining. What is left stays on disk for
    /// the next start of an action in the same place.
    fn drop(&mut self) {
        self.drain.abort();
        self.log.close();
    }
}

/// Binds the action `bind_inner` makes in buffered mode, behind the disk buffer `cfg`
/// describes (`BufferConfig::Disk`); the buffer's place and the rule's error action come
/// from `ctx.binding`.
pub(crate) fn bind_buffered(
    kind: &'static str,
    cfg: BufferConfig,
    ctx: &ActionContext,
    bind_inner: impl FnOnce(&ActionContext) -> Result<Arc<dyn Action>, BuildError>,
) -> Result<Arc<dyn Action>, BuildError> {
    let BufferConfig::Disk {
        max_bytes,
        when_full,
        max_in_flight,
    } = cfg
    else {
        return bind_inner(ctx);
    };
    let store = ctx.buffers.as_ref().ok_or_else(|| {
        BuildError::invalid(
            "buffer",
            "disk buffers need a data directory ([storage] data_dir in rulewire.toml)",
        )
    })?;
    // `buffer.max_in_flight` is the default of the action's own bound, and the drain hands
    // the action as many messages as that bound (a batched s3 action's is its max_rows, so
    // its objects are no longer capped by `limits.max_in_flight`).
    let mut inner_ctx = ctx.buffered();
    inner_ctx.max_in_flight = max_in_flight.unwrap_or(ctx.max_in_flight).max(1);
    let action = bind_inner(&inner_ctx)?;
    let concurrency = action
        .max_in_flight()
        .unwrap_or(inner_ctx.max_in_flight)
        .max(1);
    let target = Arc::new(Target {
        action,
        error_action: ctx.binding.error_action.clone(),
        concurrency,
    });
    let metrics = ctx.metrics.action(kind);
    let segment_bytes = (max_bytes / 8).clamp(64 << 10, MAX_SEGMENT_BYTES);
    let dir = store.dir(&ctx.binding.rule, &ctx.binding.slot);
    let handle = store
        .get_or_open(&dir, || {
            let log = Arc::new(SegmentLog::open(&dir, segment_bytes)?);
            let target = Arc::new(RwLock::new(target.clone()));
            let drain =
                tokio::spawn(drain(log.clone(), target.clone(), metrics.clone())).abort_handle();
            tracing::info!(dir = %dir.display(), records = log.usage().records,
                bytes = log.usage().bytes, "disk buffer opened");
            Ok(Arc::new(BufferHandle { log, target, drain }))
        })
        .map_err(|e| {
            BuildError::invalid(
                "buffer",
                format!("opening the disk buffer {}: {e}", dir.display()),
            )
        })?;
    *handle.target.write().unwrap() = target.clone();
    Ok(Arc::new(Buffered {
        kind,
        aws_name: target.action.aws_name(),
        handle,
        max_bytes,
        when_full,
        metrics,
        last_drop_log: std::sync::Mutex::new(None),
    }))
}

/// The action a rule runs for a disk-buffered action: append, then return.
struct Buffered {
    kind: &'static str,
    aws_name: &'static str,
    handle: Arc<BufferHandle>,
    max_bytes: u64,
    when_full: WhenFull,
    metrics: Arc<dyn ActionMetrics>,
    /// When a drop was last logged (drops are logged at most once a minute, and all counted).
    last_drop_log: std::sync::Mutex<Option<Instant>>,
}

impl Buffered {
    fn failure(&self, message: String) -> ActionFailure {
        ActionFailure {
            failed_action: self.aws_name.to_owned(),
            failed_resource: self.handle.log.dir().display().to_string(),
            error_message: message,
        }
    }

    fn dropped(&self, msg: &FiredMessage) {
        self.metrics.buffer_dropped();
        let mut last = self.last_drop_log.lock().unwrap();
        if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
            *last = Some(Instant::now());
            tracing::warn!(rule = %msg.rule_name, action = self.kind, max_bytes = self.max_bytes,
                dir = %self.handle.log.dir().display(),
                "disk buffer full: dropping new messages for this action (when_full = \"drop_newest\"; counted in rulewire_buffer_dropped_total)");
        }
    }
}

impl Action for Buffered {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn aws_name(&self) -> &'static str {
        self.aws_name
    }

    fn execute<'a>(&'a self, msg: &'a FiredMessage) -> BoxFuture<'a, Result<(), ActionFailure>> {
        Box::pin(async move {
            let record = codec::encode(msg, now_ms());
            let size = RECORD_HEADER + record.len() as u64;
            let log = &self.handle.log;
            if !log.try_reserve(self.max_bytes, size) {
                match self.when_full {
                    WhenFull::DropNewest => {
                        self.dropped(msg);
                        return Ok(());
                    }
                    WhenFull::Block => log.reserve(self.max_bytes, size).await,
                }
            }
            match log.append(record).await {
                Ok(_) => Ok(()),
                Err(e) => Err(self.failure(format!("writing to the disk buffer: {e}"))),
            }
        })
    }

    fn buffer_status(&self) -> Option<super::BufferStatus> {
        let usage = self.handle.log.usage();
        Some(super::BufferStatus {
            dir: self.handle.log.dir().display().to_string(),
            records: usage.records,
            bytes: usage.bytes,
            max_bytes: self.max_bytes,
        })
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A record the drain has taken and not yet finished.
struct Pending {
    seq: u64,
    next: Position,
    disk_bytes: u64,
    buffered_ms: i64,
    done: bool,
}

/// Delivers the log's records to the current target until the handle is dropped.
async fn drain(
    log: Arc<SegmentLog>,
    target: Arc<RwLock<Arc<Target>>>,
    metrics: Arc<dyn ActionMetrics>,
) {
    let (tx, mut batches) = mpsc::channel::<Vec<Record>>(READ_AHEAD_BATCHES);
    let mut reader = log.reader();
    let spawned = std::thread::Builder::new()
        .name("rulewire-buffer-reader".into())
        .spawn(move || {
            while let Some(batch) = reader.next_batch(READ_BATCH) {
                if tx.blocking_send(batch).is_err() {
                    break;
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(dir = %log.dir().display(), error = %e, "cannot start the buffer's reader thread; the buffer does not drain");
        return;
    }
    let mut pending: VecDeque<Pending> = VecDeque::new();
    // Read and not yet started.
    let mut ready: VecDeque<Record> = VecDeque::new();
    let mut reader_done = false;
    let mut running = FuturesUnordered::new();
    let mut tick = tokio::time::interval(COMMIT_EVERY);
    let mut corrupt_reported = 0;
    loop {
        if !ready.is_empty() {
            // A reloaded rule replaces the target (and maybe its bound): read it each time.
            let current = target.read().unwrap().clone();
            while running.len() < current.concurrency
                && let Some(record) = ready.pop_front()
            {
                if let Some(delivery) = start(&log, &metrics, &current, record, &mut pending) {
                    running.push(delivery);
                }
            }
        }
        if reader_done && ready.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            // First: under load the other branches are always ready and would starve it.
            _ = tick.tick() => {
                commit(&log, &mut pending);
                let corrupt = log.corrupt_records();
                if corrupt > corrupt_reported {
                    metrics.buffer_corrupt(corrupt - corrupt_reported);
                    corrupt_reported = corrupt;
                }
                let usage = log.usage();
                let oldest = pending.front().map_or(0.0, |p| (now_ms() - p.buffered_ms).max(0) as f64 / 1000.0);
                metrics.buffer_state(usage.records, usage.bytes, oldest);
            }
            Some(seq) = running.next(), if !running.is_empty() => {
                metrics.buffer_drained();
                mark_done(&mut pending, seq);
            }
            batch = batches.recv(), if ready.is_empty() && !reader_done => match batch {
                Some(batch) => ready.extend(batch),
                None => reader_done = true,
            },
        }
    }
    while let Some(seq) = running.next().await {
        mark_done(&mut pending, seq);
    }
    commit(&log, &mut pending);
}

/// Decodes `record` and returns the delivery to run, after noting it in `pending`; `None`
/// for a record that cannot be decoded (logged, counted, and finished at once).
fn start(
    log: &SegmentLog,
    metrics: &Arc<dyn ActionMetrics>,
    target: &Arc<Target>,
    record: Record,
    pending: &mut VecDeque<Pending>,
) -> Option<impl Future<Output = u64> + use<>> {
    let decoded = codec::decode(&record.bytes);
    let (buffered_ms, done) = match &decoded {
        Ok((_, buffered_ms)) => (*buffered_ms, false),
        Err(e) => {
            // The CRC matched, so this is a record from another version.
            tracing::error!(dir = %log.dir().display(), seq = record.seq, error = %e,
                "unreadable record in the disk buffer; skipping it");
            metrics.buffer_corrupt(1);
            (now_ms(), true)
        }
    };
    pending.push_back(Pending {
        seq: record.seq,
        next: record.next,
        disk_bytes: record.disk_bytes,
        buffered_ms,
        done,
    });
    let (msg, _) = decoded.ok()?;
    Some(deliver(target.clone(), msg, record.seq))
}

/// Runs the action on one record, then the error action if it failed; returns its seq.
async fn deliver(target: Arc<Target>, msg: FiredMessage, seq: u64) -> u64 {
    if let Err(failure) = target.action.execute(&msg).await {
        match &target.error_action {
            Some(error_action) => {
                let error_msg = msg.for_error_action(&[failure]);
                if let Err(e) = error_action.execute(&error_msg).await {
                    tracing::error!(rule = %msg.rule_name, topic = %msg.topic, error = %e,
                        "error action failed too; the buffered message is dropped (as AWS drops it)");
                }
            }
            None => tracing::error!(rule = %msg.rule_name, topic = %msg.topic, %failure,
                "buffered message failed and the rule has no error_action; it is dropped"),
        }
    }
    seq
}

fn mark_done(pending: &mut VecDeque<Pending>, seq: u64) {
    if let Ok(i) = pending.binary_search_by_key(&seq, |p| p.seq) {
        pending[i].done = true;
    }
}

/// Moves the cursor past the finished records at the front.
fn commit(log: &SegmentLog, pending: &mut VecDeque<Pending>) {
    let mut freed = Usage::default();
    let mut next = None;
    while pending.front().is_some_and(|p| p.done) {
        let p = pending.pop_front().expect("checked");
        freed.records += 1;
        freed.bytes += p.disk_bytes;
        next = Some(p.next);
    }
    if let Some(next) = next
        && let Err(e) = log.commit(next, freed)
    {
        tracing::warn!(dir = %log.dir().display(), error = %e,
            "could not move the disk buffer's cursor; finished records may be delivered again after a restart");
    }
}

#[cfg(test)]
#[path = "buffered_tests.rs"]
mod tests;
