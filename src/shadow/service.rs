//! The shadow service task: takes requests from admission, handles them in arrival
//! order, commits each group's changes in one durable transaction (group commit: one disk
//! sync for every request that arrived meanwhile), then publishes the answers and releases
//! the requests' tickets, so a QoS 1 request is acknowledged only once its change is on disk
//! and its answers are sent.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::future::join_all;
use rulewire_actions::{MqttPublisher, PublishProperties};
use tokio::sync::mpsc;

use super::request::{
    Entry, Limits, Operation, Outcome, Response, ShadowName, handle, lenient_token, refusal,
    rejection,
};
use super::store::ShadowStore;
use super::throttle::Throttle;
use crate::ops::metrics::Metrics;
use crate::pipeline::Ticket;

/// Requests handled (and committed) together at most.
const MAX_GROUP: usize = 256;

/// One request as admission hands it over.
pub struct ShadowRequest {
    pub name: ShadowName,
    pub operation: Operation,
    pub payload: bytes::Bytes,
    /// The publisher's client id when the broker tells it (the embedded broker), else empty.
    pub client_id: String,
    /// The payload was over `limits.max_payload_bytes` and not read: answered 413.
    pub too_large: bool,
    /// The request message's ticket: it completes (the message is acknowledged) when its
    /// last holder, this request or a rule, drops it.
    pub ticket: Arc<Ticket>,
}

/// The handle admission submits requests to.
#[derive(Clone)]
pub struct ShadowService {
    tx: mpsc::UnboundedSender<ShadowRequest>,
}

impl ShadowService {
    /// Starts the task. Answers go out through `publisher` at QoS 1.
    pub fn start(
        store: Arc<ShadowStore>,
        publisher: Arc<dyn MqttPublisher>,
        limits: Limits,
        metrics: Arc<Metrics>,
    ) -> ShadowService {
        let (tx, rx) = mpsc::unbounded_channel();
        metrics.shadows.set(store.live_count() as i64);
        tokio::spawn(run(rx, store, publisher, limits, metrics));
        ShadowService { tx }
    }

    /// Queues a request (bounded by the in-flight tickets it holds).
    pub fn submit(&self, request: ShadowRequest) {
        if let Err(mpsc::error::SendError(request)) = self.tx.send(request) {
            tracing::warn!(shadow = %request.name.key(), "shadow service stopped; request dropped unanswered");
        }
    }
}

async fn run(
    mut rx: mpsc::UnboundedReceiver<ShadowRequest>,
    store: Arc<ShadowStore>,
    publisher: Arc<dyn MqttPublisher>,
    limits: Limits,
    metrics: Arc<Metrics>,
) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    let mut throttle = Throttle::new(
        limits.requests_per_second_per_thing,
        limits.max_in_flight_per_connection,
    );
    while rx.recv_many(&mut group, MAX_GROUP).await > 0 {
        let handled = handle_group(&store, std::mem::take(&mut group), limits, &mut throttle).await;
        metrics.shadows.set(store.live_count() as i64);
        let mut answers = Vec::new();
        let mut tickets = Vec::with_capacity(handled.len());
        for (request, outcome) in handled {
            metrics
                .shadow_requests
                .with_label_values(&[request.operation.as_str(), outcome.result])
                .inc();
            answers.extend(outcome.responses);
            tickets.push(request.ticket);
        }
        // All answers of the group at once: `join_all` polls them first in order, so they
        // leave in order, and the group waits for one round of acknowledgements, not one per
        // answer.
        let published = join_all(answers.into_iter().map(|Response { topic, payload }| {
            let publisher = &publisher;
            async move {
                let result = publisher
                    .publish(
                        topic.clone(),
                        1,
                        false,
                        payload,
                        PublishProperties::default(),
                    )
                    .await;
                (topic, result)
            }
        }))
        .await;
        for (topic, result) in published {
            if let Err(e) = result {
                metrics.shadow_publish_failures.inc();
                tracing::warn!(%topic, error = %e, "shadow answer not published");
            }
        }
        drop(tickets);
    }
}

/// Handles a group in order (each request sees the changes of those before it), then commits
/// the changes; if the commit fails, every request about a shadow the group changed is
/// answered 500.
/// Requests over AWS's limits are answered 429 (the group is what waits at once).
async fn handle_group(
    store: &Arc<ShadowStore>,
    group: Vec<ShadowRequest>,
    limits: Limits,
    throttle: &mut Throttle,
) -> Vec<(ShadowRequest, Outcome)> {
    let now = super::now_secs();
    let instant = std::time::Instant::now();
    let mut changes: HashMap<String, Entry> = HashMap::new();
    let mut handled = Vec::with_capacity(group.len());
    let mut waiting: HashMap<String, usize> = HashMap::new();
    for request in group {
        let ahead = if request.client_id.is_empty() {
            0
        } else {
            let n = waiting.entry(request.client_id.clone()).or_default();
            *n += 1;
            *n - 1
        };
        if request.too_large {
            let outcome = rejection(
                &request.name,
                request.operation,
                refusal(413, "The payload exceeds the maximum size allowed"),
                None,
            );
            handled.push((request, outcome));
            continue;
        }
        // Names are checked first (the request is answered 400 below, unthrottled), so the
        // throttle only ever keys valid thing names.
        let valid = request.name.check().is_ok();
        if valid
            && (throttle.connection_full(ahead)
                || !throttle.admit_thing(&request.name.thing, instant))
        {
            let token = lenient_token(&request.payload);
            let outcome = rejection(
                &request.name,
                request.operation,
                refusal(429, "Too Many Requests"),
                token.as_deref(),
            );
            handled.push((request, outcome));
            continue;
        }
        let key = request.name.key();
        let stored = store.get(&key);
        let current = changes.get(&key).or(stored.as_deref());
        let mut outcome = handle(
            &request.name,
            request.operation,
            &request.payload,
            current,
            now,
            limits,
        );
        if let Some(entry) = outcome.write.take() {
            changes.insert(key, entry);
        }
        handled.push((request, outcome));
    }
    if changes.is_empty() {
        return handled;
    }
    let changed: std::collections::HashSet<String> = changes.keys().cloned().collect();
    let committing = store.clone();
    let committed =
        tokio::task::spawn_blocking(move || committing.commit(changes.into_iter().collect()))
            .await
            .map_err(|e| anyhow::anyhow!("shadow commit task failed: {e}"))
            .and_then(|r| r);
    if let Err(e) = committed {
        // Requests of the group that read a shadow changed in it saw changes that are not
        // stored: they are all answered 500, not only the writes.
        tracing::error!(error = %e, "shadow changes not stored; answering 500");
        for (request, outcome) in handled.iter_mut() {
            if changed.contains(&request.name.key()) {
                *outcome = handle_failure(request);
            }
        }
    }
    handled
}

/// AWS's answer when the service cannot do its job.
fn handle_failure(request: &ShadowRequest) -> Outcome {
    let token = lenient_token(&request.payload);
    rejection(
        &request.name,
        request.operation,
        refusal(500, "Internal service failure"),
        token.as_deref(),
    )
}
