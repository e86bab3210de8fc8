//! From a routed message to its ack: per-rule micro-batching, evaluation, actions, error
//! action, and in-order acknowledgement.
//!
//! Every message read from the broker gets one [`Ticket`] (holding an in-flight permit);
//! each rule the message is routed to holds a clone. When the last clone drops — every
//! action of every matching rule succeeded, or the error action took the failure — the
//! ticket completes, and the [`AckQueue`] acks messages strictly in the order they arrived.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rulewire_actions::{Action, ActionFailure, FiredMessage};
use rulewire_engine::Rule;
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};

use crate::metrics::Metrics;
use crate::mqtt::{IncomingPublish, MqttClient};

/// Completion of one incoming message; completes when the last clone is dropped.
pub struct Ticket {
    done: Option<oneshot::Sender<()>>,
    _permit: Option<OwnedSemaphorePermit>,
    metrics: Arc<Metrics>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.metrics.in_flight.dec();
        if let Some(tx) = self.done.take() {
            let _ = tx.send(());
        }
    }
}

/// Acks in receive order: each entry waits for its ticket, then acks (QoS 1) on the client.
#[derive(Clone)]
pub struct AckQueue {
    tx: mpsc::UnboundedSender<(oneshot::Receiver<()>, Option<IncomingPublish>)>,
    /// Tickets issued and not yet acked (or skipped, for QoS 0).
    pending: Arc<AtomicUsize>,
}

impl AckQueue {
    /// Starts the ack task for `client`.
    pub fn start(client: MqttClient) -> AckQueue {
        let (tx, mut rx) =
            mpsc::unbounded_channel::<(oneshot::Receiver<()>, Option<IncomingPublish>)>();
        let pending = Arc::new(AtomicUsize::new(0));
        let p = pending.clone();
        tokio::spawn(async move {
            while let Some((done, publish)) = rx.recv().await {
                let _ = done.await;
                if let Some(publish) = publish
                    && let Err(e) = client.ack(&publish).await
                {
                    tracing::warn!(error = %e, "could not queue PUBACK; the broker will redeliver");
                }
                p.fetch_sub(1, Ordering::SeqCst);
            }
        });
        AckQueue { tx, pending }
    }

    /// Registers a message in arrival order and returns its ticket.
    pub fn ticket(
        &self,
        publish: &IncomingPublish,
        permit: Option<OwnedSemaphorePermit>,
        metrics: &Arc<Metrics>,
    ) -> Arc<Ticket> {
        let (done, wait) = oneshot::channel();
        self.pending.fetch_add(1, Ordering::SeqCst);
        metrics.in_flight.inc();
        let ack = publish.needs_ack().then(|| publish.clone());
        if self.tx.send((wait, ack)).is_err() {
            self.pending.fetch_sub(1, Ordering::SeqCst);
        }
        Arc::new(Ticket {
            done: Some(done),
            _permit: permit,
            metrics: metrics.clone(),
        })
    }

    /// Messages not yet acked.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }
}

/// One message routed to one rule.
pub struct Item {
    pub msg: FiredMessage,
    pub ticket: Arc<Ticket>,
}

/// A loaded rule as the pipeline runs it: compiled SQL and built actions.
pub struct RuleRuntime {
    pub name: String,
    pub rule: Arc<Rule>,
    pub actions: Vec<(String, Arc<dyn Action>)>,
    pub error_action: Option<Arc<dyn Action>>,
}

/// Batch flush bounds.
#[derive(Debug, Clone, Copy)]
pub struct BatchBounds {
    pub max_messages: usize,
    pub max_delay: Duration,
}

/// Spawns the worker of one rule; it runs until `tx` (returned) and all its clones drop,
/// then finishes the messages it holds — so replacing a rule never disturbs in-flight work.
pub fn spawn_rule_worker(
    rule: Arc<RuleRuntime>,
    bounds: BatchBounds,
    metrics: Arc<Metrics>,
) -> mpsc::UnboundedSender<Item> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Item>();
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut items = vec![first];
            let deadline = tokio::time::Instant::now() + bounds.max_delay;
            while items.len() < bounds.max_messages {
                match rx.try_recv() {
                    Ok(item) => items.push(item),
                    Err(_) => match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(item)) => items.push(item),
                        _ => break,
                    },
                }
            }
            run_batch(&rule, items, &metrics);
        }
    });
    tx
}

/// Evaluates one batch and starts the actions of every message the rule fired on.
fn run_batch(rule: &Arc<RuleRuntime>, items: Vec<Item>, metrics: &Arc<Metrics>) {
    metrics.batch_size.observe(items.len() as f64);
    let start = Instant::now();
    let evaluations = {
        let msgs: Vec<_> = items.iter().map(|i| i.msg.as_engine_message()).collect();
        rule.rule.evaluate_batch(&msgs)
    };
    metrics
        .rule_eval
        .with_label_values(&[&rule.name])
        .observe(start.elapsed().as_secs_f64());
    for (item, eval) in items.into_iter().zip(evaluations) {
        let mut failures = Vec::new();
        if eval.parse_error {
            metrics.parse_errors.with_label_values(&[&rule.name]).inc();
            tracing::warn!(rule = %rule.name, topic = %item.msg.topic, "payload is malformed JSON (ParseError)");
            failures.push(ActionFailure {
                failed_action: "ParseError".into(),
                failed_resource: item.msg.topic.clone(),
                error_message: "the payload looks like JSON but does not parse".into(),
            });
        }
        let Item { mut msg, ticket } = item;
        msg.rule_name = rule.name.clone();
        match eval.output {
            Some(output) => {
                metrics.rule_fired.with_label_values(&[&rule.name]).inc();
                msg.output = output;
                tokio::spawn(run_actions(rule.clone(), msg, true, failures, ticket));
            }
            None if !failures.is_empty() => {
                tokio::spawn(run_actions(rule.clone(), msg, false, failures, ticket));
            }
            None => drop(ticket),
        }
    }
}

/// Runs every action of the rule on `msg` (when it `fired`) concurrently, then the error action if any failed.
/// Dropping `ticket` at the end lets the message be acked.
async fn run_actions(
    rule: Arc<RuleRuntime>,
    msg: FiredMessage,
    fired: bool,
    mut failures: Vec<ActionFailure>,
    ticket: Arc<Ticket>,
) {
    let msg = Arc::new(msg);
    if fired {
        let tasks: Vec<_> = rule
            .actions
            .iter()
            .map(|(_, action)| {
                let (action, msg) = (action.clone(), msg.clone());
                tokio::spawn(async move { action.execute(&msg).await })
            })
            .collect();
        for task in tasks {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(failure)) => failures.push(failure),
                Err(e) => failures.push(ActionFailure {
                    failed_action: "Unknown".into(),
                    failed_resource: String::new(),
                    error_message: format!("action task failed: {e}"),
                }),
            }
        }
    }
    if !failures.is_empty() {
        for f in &failures {
            tracing::warn!(rule = %rule.name, topic = %msg.topic, failure = %f, "action failed");
        }
        match &rule.error_action {
            Some(error_action) => {
                let error_msg = msg.for_error_action(&failures);
                if let Err(e) = error_action.execute(&error_msg).await {
                    tracing::error!(rule = %rule.name, topic = %msg.topic, error = %e,
                        "error action failed too; the message is acked anyway (as AWS drops it)");
                }
            }
            None => tracing::error!(rule = %rule.name, topic = %msg.topic,
                "no error_action configured; the failed message is acked and dropped"),
        }
    }
    drop(ticket);
}

/// A random UUID v4 string, for `traceid()` / `cloudwatchTraceId`.
pub fn new_trace_id() -> String {
    let v: u128 = (rand::random::<u128>() & !(0xF000u128 << 64) & !(0xC000u128 << 48))
        | (0x4000u128 << 64)
        | (0x8000u128 << 48);
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn trace_ids_look_like_uuid_v4() {
        let id = super::new_trace_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4", "{id}");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
    }
}
