//! The `cloudwatch_logs` action (AWS's `CloudwatchLogsAction`): send the rule's output to a
//! CloudWatch Logs log group as log events, grouped into PutLogEvents requests through
//! `crate::record_queue`, over an AWS connection (`crate::aws`).
//!
//! - `config`: the rule-header table (`log_group_name`, `log_stream_name`, `batch_mode`).
//! - `events`: a message's events (the output at its arrival time, or AWS's `batchMode`
//!   array of `{timestamp, message}`).
//!
//! The log stream: AWS's action needs `logs:CreateLogStream` and `logs:DescribeLogStreams`,
//! so it writes to a stream it creates itself, but AWS does not document the stream's name.
//! rulewire writes to `log_stream_name` (a template, default `rulewire`) and creates it with
//! CreateLogStream before its first PutLogEvents (an existing stream is fine). The group must
//! exist (AWS's action cannot create groups either): a missing group fails at once.
//!
//! Limits (CloudWatch Logs'): 10,000 events and 1 MiB (messages plus 26 bytes per event) per
//! request, events in time order (each request is sorted), a request spanning at most 24 h
//! (records more than 12 h from a request's first event wait for the next request). Events
//! CloudWatch rejects (older than 14 days or the group's retention, more than 2 h in the
//! future) fail their message for good; a message is acknowledged when all its events are in.
//! Failures end as `failedAction = "CloudwatchLogsAction"`, `failedResource` = the group.

mod config;
mod events;
#[cfg(test)]
mod tests;

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use aws_sdk_cloudwatchlogs::{Client, types::InputLogEvent};
use rulewire_engine::Template;

pub use config::CloudwatchLogsConfig;
use events::{EVENT_OVERHEAD, LogEvent, MAX_REQUEST_BYTES};

use crate::{
    Action, ActionContext, BuildError, DeliveryConfig, FiredMessage,
    aws::{AwsAccess, LazyClient, attempt_error},
    delivery::{AttemptError, Delivery, Rejected},
    record_queue::{Limits, RecordQueue, RecordResult, RecordService},
    registry::{ActionType, CheckContext},
    templates,
};

/// Most events in one PutLogEvents request.
pub const MAX_EVENTS_PER_REQUEST: usize = 10_000;
/// Default per-request timeout: 10 s.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Events of one request lie within this of its first event (so the request spans <= 24 h).
const MAX_DISTANCE_MS: i64 = 12 * 3600 * 1000;
/// Log streams remembered as existing, at most (the set is cleared when it is full).
const MAX_KNOWN_STREAMS: usize = 10_000;

/// The cloudwatch_logs action type.
pub struct CloudwatchLogsAction;

/// A checked cloudwatch_logs action: templates compiled.
pub struct CheckedCloudwatchLogs {
    access: AwsAccess,
    group: Template,
    stream: Template,
    batch_mode: bool,
    delivery: DeliveryConfig,
}

impl ActionType for CloudwatchLogsAction {
    const NAME: &'static str = CloudwatchLogs::KIND;
    type Config = CloudwatchLogsConfig;
    type Checked = CheckedCloudwatchLogs;

    fn check(
        cfg: CloudwatchLogsConfig,
        ctx: &CheckContext,
    ) -> Result<CheckedCloudwatchLogs, BuildError> {
        cfg.access.check(ctx)?;
        cfg.delivery.check()?;
        Ok(CheckedCloudwatchLogs {
            group: templates::field("log_group_name", &cfg.log_group_name, ctx.version)?,
            stream: templates::field("log_stream_name", &cfg.log_stream_name, ctx.version)?,
            access: cfg.access,
            batch_mode: cfg.batch_mode,
            delivery: cfg.delivery,
        })
    }

    fn bind(c: CheckedCloudwatchLogs, ctx: &ActionContext) -> Result<Arc<dyn Action>, BuildError> {
        let delivery =
            Delivery::resolve(&c.delivery, DEFAULT_TIMEOUT_MS, CloudwatchLogs::KIND, ctx)?;
        let logs = CloudwatchLogs {
            client: LazyClient::new(c.access.open(ctx)?, Client::new),
            group: c.group,
            stream: c.stream,
            batch_mode: c.batch_mode,
            known_streams: Mutex::default(),
        };
        Ok(RecordQueue::action(logs, Duration::ZERO, delivery))
    }
}

struct CloudwatchLogs {
    client: LazyClient<Client>,
    group: Template,
    stream: Template,
    batch_mode: bool,
    /// (group, stream) pairs created or found existing.
    known_streams: Mutex<HashSet<(String, String)>>,
}

impl CloudwatchLogs {
    /// Creates the log stream unless it is known to exist.
    async fn ensure_stream(
        &self,
        client: &Client,
        group: &str,
        stream: &str,
    ) -> Result<(), AttemptError> {
        let key = (group.to_owned(), stream.to_owned());
        if self.known().contains(&key) {
            return Ok(());
        }
        let created = client
            .create_log_stream()
            .log_group_name(group)
            .log_stream_name(stream)
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_resource_already_exists_exception()) => {}
            Err(e) => return Err(attempt_error(&e)),
        }
        let mut known = self.known();
        if known.len() >= MAX_KNOWN_STREAMS {
            known.clear();
        }
        known.insert(key);
        Ok(())
    }

    fn known(&self) -> std::sync::MutexGuard<'_, HashSet<(String, String)>> {
        self.known_streams.lock().expect("known streams lock")
    }
}

/// Why CloudWatch Logs rejected the event at `position` of a request, if it did.
fn rejection(
    info: &aws_sdk_cloudwatchlogs::types::RejectedLogEventsInfo,
    position: i32,
) -> Option<&'static str> {
    if info
        .too_new_log_event_start_index()
        .is_some_and(|s| position >= s)
    {
        Some("more than 2 hours in the future")
    } else if info
        .too_old_log_event_end_index()
        .is_some_and(|e| position <= e)
    {
        Some("older than 14 days")
    } else if info
        .expired_log_event_end_index()
        .is_some_and(|e| position <= e)
    {
        Some("older than the log group's retention period")
    } else {
        None
    }
}

impl RecordService for CloudwatchLogs {
    const KIND: &'static str = "cloudwatch_logs";
    const AWS_NAME: &'static str = "CloudwatchLogsAction";
    const REQUEST: &'static str = "PutLogEvents";
    /// (log group, log stream).
    type Destination = (String, String);
    type Record = LogEvent;

    fn limits(&self) -> Limits {
        Limits {
            max_records: MAX_EVENTS_PER_REQUEST,
            max_bytes: MAX_REQUEST_BYTES,
        }
    }

    fn size(&self, event: &LogEvent) -> usize {
        event.message.len() + EVENT_OVERHEAD
    }

    fn fits_with(&self, first: &LogEvent, event: &LogEvent) -> bool {
        (event.timestamp - first.timestamp).abs() <= MAX_DISTANCE_MS
    }

    fn records(&self, msg: &FiredMessage) -> Result<((String, String), Vec<LogEvent>), Rejected> {
        let original = msg.as_engine_message();
        let group = self.group.render(&original);
        let stream = self.stream.render(&original);
        let rejected = |message: String| Rejected {
            resource: group.clone(),
            message,
        };
        if group.is_empty() || group.len() > 512 {
            return Err(rejected(format!(
                "the log group name rendered to {} characters; CloudWatch Logs needs 1 to 512",
                group.len()
            )));
        }
        if stream.is_empty() || stream.len() > 512 || stream.contains([':', '*']) {
            return Err(rejected(format!(
                "the log stream name rendered to {stream:?}; CloudWatch Logs needs 1 to 512 characters without ':' or '*'"
            )));
        }
        let events =
            events::events(&msg.output, msg.timestamp_ms, self.batch_mode).map_err(rejected)?;
        Ok(((group, stream), events))
    }

    async fn send(
        &self,
        (group, stream): &(String, String),
        events: &[&LogEvent],
    ) -> Result<Vec<RecordResult>, AttemptError> {
        let client = self.client.get().await;
        self.ensure_stream(client, group, stream).await?;
        // PutLogEvents takes events in time order; `order[k]` is the event sent k-th.
        let mut order: Vec<usize> = (0..events.len()).collect();
        order.sort_by_key(|&i| events[i].timestamp);
        let request = order
            .iter()
            .map(|&i| {
                InputLogEvent::builder()
                    .timestamp(events[i].timestamp)
                    .message(&events[i].message)
                    .build()
                    .map_err(|e| AttemptError::permanent(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let sent = client
            .put_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .set_log_events(Some(request))
            .send()
            .await;
        let out = match sent {
            Ok(out) => out,
            Err(e) => {
                let mut error = attempt_error(&e);
                if e.as_service_error()
                    .is_some_and(|se| se.is_resource_not_found_exception())
                {
                    // The stream (or the group) went away: create it again on the retry,
                    // which fails for good if the group is gone.
                    self.known().remove(&(group.clone(), stream.clone()));
                    error.retryable = true;
                }
                return Err(error);
            }
        };
        let mut results: Vec<RecordResult> = vec![Ok(()); events.len()];
        if let Some(info) = out.rejected_log_events_info() {
            for (position, &i) in order.iter().enumerate() {
                let position = i32::try_from(position).unwrap_or(i32::MAX);
                if let Some(why) = rejection(info, position) {
                    results[i] = Err(AttemptError::permanent(format!(
                        "CloudWatch Logs rejected the event: its timestamp {} is {why}",
                        events[i].timestamp
                    )));
                }
            }
        }
        Ok(results)
    }

    fn resource(&self, (group, _): &(String, String)) -> String {
        group.clone()
    }

    fn error_message(
        &self,
        (group, stream): &(String, String),
        topic: &str,
        error: &str,
    ) -> String {
        format!(
            "Failed to put the CloudWatch Logs event. The error received was {error}. Message arrived on: {topic}, Action: cloudwatchLogs, LogGroup: {group}, LogStream: {stream}"
        )
    }
}
