//! From a routed message to its ack: micro-batching per rule group, evaluation, actions,
//! error action, and in-order acknowledgement.
//!
//! A rule group is the enabled rules with one FROM topic filter: they see the same messages,
//! so they are batched together and the engine decodes each payload once for all of them
//! ([`RuleGroup`]). A fixed set of [`Workers`] (one per core) runs every group: a group
//! always goes to the same worker (by its key), which batches what is queued, splits it by
//! group and evaluates each group's part; with many groups, a burst of messages wakes one
//! task, not one per group. Every message read from the broker gets one [`Ticket`] (holding an
//! in-flight permit); each rule that fires on it (or has a failure to report) holds a clone.
//! When the last clone drops — every action of every matching rule succeeded, or the error
//! action took the failure — the ticket completes, and the [`AckQueue`] acks messages
//! strictly in the order they arrived.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::{FutureExt, join_all};
use futures_util::stream::{FuturesUnordered, StreamExt};
use rulewire_actions::{Action, ActionFailure, FiredMessage};
use rulewire_engine::{Evaluation, Rule, RuleGroup};
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};

use crate::metrics::{Metrics, RuleMetrics};
use crate::mqtt::inbound::{InboundClient, SessionEpoch};
use crate::trace::{Tracer, shown};

/// Completion of one incoming message; completes when the last clone is dropped.
pub struct Ticket {
    /// Tells the ack task (or the embedded broker's connection) that this QoS 1 message may
    /// be acked; `None` for QoS 0, which has no ack.
    done: Option<oneshot::Sender<()>>,
    /// The ack queue's count of unsettled messages, decremented here when no ack task does.
    unacked_qos0: Option<Arc<AtomicUsize>>,
    _permit: Option<OwnedSemaphorePermit>,
    metrics: Arc<Metrics>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.metrics.in_flight.dec();
        if let Some(tx) = self.done.take() {
            let _ = tx.send(());
        }
        if let Some(pending) = self.unacked_qos0.take() {
            pending.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// How a message is acknowledged once its ticket completes.
#[derive(Debug)]
pub enum Acknowledge {
    /// QoS 0: nothing to acknowledge.
    Nothing,
    /// A PUBACK to the broker, for this packet id of this session, in receive order.
    Broker(u16, SessionEpoch),
    /// A message from the embedded broker's publisher, waiting in its connection for this
    /// signal before the broker sends the PUBACK (each connection waits for its own message,
    /// so the order per publisher is kept).
    Notify(oneshot::Sender<()>),
}

/// Acks in receive order: each QoS 1 entry waits for its ticket, then queues its PUBACK.
#[derive(Clone)]
pub struct AckQueue {
    tx: mpsc::UnboundedSender<(oneshot::Receiver<()>, u16, SessionEpoch)>,
    /// Tickets issued and not yet settled (QoS 0) or acked (QoS 1).
    pending: Arc<AtomicUsize>,
}

impl AckQueue {
    /// An ack queue with no broker connection to acknowledge to: every ticket is
    /// `Acknowledge::Nothing` or `Acknowledge::Notify` (the embedded broker's own feed).
    pub fn local() -> AckQueue {
        let (tx, _) = mpsc::unbounded_channel();
        AckQueue {
            tx,
            pending: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Starts the ack task for `client`.
    pub fn start(client: InboundClient) -> AckQueue {
        let (tx, mut rx) = mpsc::unbounded_channel::<(oneshot::Receiver<()>, u16, SessionEpoch)>();
        let pending = Arc::new(AtomicUsize::new(0));
        let p = pending.clone();
        tokio::spawn(async move {
            while let Some((done, pkid, session)) = rx.recv().await {
                let _ = done.await;
                client.ack(pkid, session);
                p.fetch_sub(1, Ordering::SeqCst);
            }
        });
        AckQueue { tx, pending }
    }

    /// Registers a message in arrival order and returns its ticket.
    pub fn ticket(
        &self,
        ack: Acknowledge,
        permit: Option<OwnedSemaphorePermit>,
        metrics: &Arc<Metrics>,
    ) -> Arc<Ticket> {
        self.pending.fetch_add(1, Ordering::SeqCst);
        metrics.in_flight.inc();
        let mut ticket = Ticket {
            done: None,
            unacked_qos0: None,
            _permit: permit,
            metrics: metrics.clone(),
        };
        match ack {
            Acknowledge::Broker(pkid, session) => {
                let (done, wait) = oneshot::channel();
                if self.tx.send((wait, pkid, session)).is_ok() {
                    ticket.done = Some(done);
                } else {
                    self.pending.fetch_sub(1, Ordering::SeqCst);
                }
            }
            Acknowledge::Nothing => ticket.unacked_qos0 = Some(self.pending.clone()),
            Acknowledge::Notify(done) => {
                ticket.done = Some(done);
                ticket.unacked_qos0 = Some(self.pending.clone());
            }
        }
        Arc::new(ticket)
    }

    /// Messages not yet settled (QoS 0) or acked (QoS 1).
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }
}

/// One message routed to a rule group.
pub struct Item {
    /// The group (the version of its rules current when the message was routed).
    pub group: Arc<GroupRuntime>,
    pub msg: FiredMessage,
    pub ticket: Arc<Ticket>,
    /// Basic Ingest: the one member rule (index in the group) the message is for. `None`: a
    /// message routed by topic, for every rule of the group.
    pub only: Option<usize>,
}

/// A loaded rule as the pipeline runs it: compiled SQL and built actions.
pub struct RuleRuntime {
    pub name: String,
    pub rule: Arc<Rule>,
    pub actions: Vec<Arc<dyn Action>>,
    pub error_action: Option<Arc<dyn Action>>,
    pub metrics: RuleMetrics,
    /// Live traces (the console); sends events only while this rule is traced.
    pub tracer: Arc<Tracer>,
}

/// The rules of one group, and the engine's view of them (which shares the decode).
pub struct GroupRuntime {
    pub rules: Vec<Arc<RuleRuntime>>,
    engine: RuleGroup,
}

impl GroupRuntime {
    pub fn new(rules: Vec<Arc<RuleRuntime>>) -> GroupRuntime {
        let engine = RuleGroup::new(rules.iter().map(|r| r.rule.clone()).collect());
        GroupRuntime { rules, engine }
    }
}

/// Batch flush bounds.
#[derive(Debug, Clone, Copy)]
pub struct BatchBounds {
    pub max_messages: usize,
    pub max_delay: Duration,
}

/// The workers that evaluate rule groups and drive their actions.
pub struct Workers {
    shards: Vec<mpsc::UnboundedSender<Item>>,
}

impl Workers {
    /// Starts `count` workers (at least one).
    pub fn start(count: usize, bounds: BatchBounds, metrics: Arc<Metrics>) -> Workers {
        let shards = (0..count.max(1))
            .map(|_| spawn_worker(bounds, metrics.clone()))
            .collect();
        Workers { shards }
    }

    /// The queue of the worker for the group with this key: always the same one, so a
    /// group's messages stay in order, also across reloads.
    pub fn queue_for(&self, key: &impl std::hash::Hash) -> mpsc::UnboundedSender<Item> {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(key);
        self.shards[(hash % self.shards.len() as u64) as usize].clone()
    }
}

/// Spawns one worker; it runs until every sender of its queue drops, then finishes the
/// messages it holds.
///
/// The worker evaluates batches and also drives their actions, all in one task: a fired
/// message's actions are first polled in arrival order, so a sink that keeps order per key
/// (Kafka, Kinesis) receives a rule's messages in the order they arrived. The messages
/// settle concurrently, each acking as soon as it is done.
fn spawn_worker(bounds: BatchBounds, metrics: Arc<Metrics>) -> mpsc::UnboundedSender<Item> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Item>();
    tokio::spawn(async move {
        let mut settling = FuturesUnordered::new();
        loop {
            // Settle what is ready before taking new work: each `next()` yields one finished
            // message, and with a random pick between the branches finished messages could
            // wait behind new batches for their ack.
            let first = tokio::select! {
                biased;
                Some(()) = settling.next(), if !settling.is_empty() => continue,
                item = rx.recv() => item,
            };
            let Some(first) = first else { break };
            let items = collect_batch(first, &mut rx, bounds).await;
            for (group, items) in by_group(items) {
                // `unconstrained`: with tokio's cooperative budget spent, an action's first
                // poll could stop at an await that had room (a semaphore, a channel) and a
                // later message's action would reach the sink first. Without the budget a
                // first poll only waits where the sink is full, and those waits are FIFO.
                settling.extend(
                    run_batch(&group, items, &metrics).into_iter().map(|s| {
                        tokio::task::unconstrained(settle(group.rules[s.rule].clone(), s))
                    }),
                );
            }
        }
        while settling.next().await.is_some() {}
    });
    tx
}

/// Splits a batch by group, keeping arrival order within each group.
fn by_group(items: Vec<Item>) -> Vec<(Arc<GroupRuntime>, Vec<Item>)> {
    let mut groups: Vec<(Arc<GroupRuntime>, Vec<Item>)> = Vec::new();
    for item in items {
        match groups.iter_mut().find(|(g, _)| Arc::ptr_eq(g, &item.group)) {
            Some((_, items)) => items.push(item),
            None => groups.push((item.group.clone(), vec![item])),
        }
    }
    groups
}

/// `first` and what follows it, up to `bounds.max_messages`: what is queued now, or (with a
/// positive `max_delay`) what arrives within it. While it waits, the worker's actions are not
/// driven, which is why the default delay is 0.
async fn collect_batch(
    first: Item,
    rx: &mut mpsc::UnboundedReceiver<Item>,
    bounds: BatchBounds,
) -> Vec<Item> {
    let mut items = vec![first];
    let deadline = tokio::time::Instant::now() + bounds.max_delay;
    while items.len() < bounds.max_messages {
        match rx.try_recv() {
            Ok(item) => items.push(item),
            Err(_) if bounds.max_delay.is_zero() => break,
            Err(_) => match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(item)) => items.push(item),
                _ => break,
            },
        }
    }
    items
}

/// Evaluates one batch for every rule of the group; returns, in arrival order, each
/// (message, rule) that has actions (or the error action) to run.
fn run_batch(group: &GroupRuntime, items: Vec<Item>, metrics: &Metrics) -> Vec<Settle> {
    metrics.batch_size.observe(items.len() as f64);
    let start = Instant::now();
    // Topic-routed messages go through the whole group at once (one decode each); Basic
    // Ingest messages through their one rule.
    let routed: Vec<_> = items
        .iter()
        .filter(|i| i.only.is_none())
        .map(|i| i.msg.as_engine_message())
        .collect();
    let mut by_rule: Vec<_> = group
        .engine
        .evaluate_batch(&routed)
        .into_iter()
        .map(Vec::into_iter)
        .collect();
    drop(routed);
    let direct: Vec<Option<(usize, Evaluation)>> = items
        .iter()
        .map(|i| {
            let rule = i.only?;
            Some((
                rule,
                group.rules[rule].rule.evaluate(&i.msg.as_engine_message()),
            ))
        })
        .collect();
    // Rules sharing a decode share its cost: each records the group's evaluation time.
    let elapsed = start.elapsed().as_secs_f64();
    let mut settling = Vec::new();
    let mut results: Vec<(usize, Evaluation)> = Vec::new();
    for (item, direct) in items.into_iter().zip(direct) {
        match direct {
            Some(result) => results.push(result),
            None => results.extend(by_rule.iter_mut().enumerate().map(|(rule, evals)| {
                (
                    rule,
                    evals.next().expect("one evaluation per routed message"),
                )
            })),
        }
        for (rule, eval) in &results {
            trace_evaluation(&group.rules[*rule], &item.msg, eval);
        }
        results.retain(|(_, e)| e.output.is_some() || e.parse_error);
        let Item { msg, ticket, .. } = item;
        // The last rule takes the message; the others get a copy.
        let Some((last_rule, last_eval)) = results.pop() else {
            continue;
        };
        for (rule, eval) in results.drain(..) {
            settling.push(Settle::new(group, rule, eval, msg.clone(), ticket.clone()));
        }
        settling.push(Settle::new(group, last_rule, last_eval, msg, ticket));
    }
    let mut counts = vec![(0u64, 0u64); group.rules.len()];
    for s in &settling {
        counts[s.rule].0 += u64::from(s.fired);
        counts[s.rule].1 += u64::from(!s.failures.is_empty());
    }
    for (runtime, (fired, parse_errors)) in group.rules.iter().zip(counts) {
        runtime.metrics.eval.observe(elapsed);
        runtime.metrics.fired.inc_by(fired);
        runtime.metrics.parse_errors.inc_by(parse_errors);
    }
    settling
}

/// The trace event of one evaluation (when the rule is traced).
fn trace_evaluation(rule: &RuleRuntime, msg: &FiredMessage, eval: &Evaluation) {
    rule.tracer.emit(&rule.name, || {
        serde_json::json!({
            "kind": "evaluation",
            "trace_id": msg.trace_id,
            "topic": msg.topic,
            "client_id": msg.client_id,
            "payload": shown(&msg.original_payload),
            "fired": eval.output.is_some(),
            "parse_error": eval.parse_error,
            "output": eval.output.as_deref().map(shown),
        })
    });
}

/// The trace event of one action run (when the rule is traced).
fn trace_action(
    rule: &RuleRuntime,
    msg: &FiredMessage,
    action: &str,
    started: Instant,
    result: &Result<(), ActionFailure>,
) {
    rule.tracer.emit(&rule.name, || {
        serde_json::json!({
            "kind": "action",
            "trace_id": msg.trace_id,
            "action": action,
            "ok": result.is_ok(),
            "latency_ms": started.elapsed().as_secs_f64() * 1000.0,
            "error": result.as_ref().err().map(|f| f.to_string()),
            "payload": (action == "error_action").then(|| shown(&msg.output)),
        })
    });
}

/// One message of a batch that has actions (or the error action) to run.
struct Settle {
    /// The rule's index in its group.
    rule: usize,
    msg: FiredMessage,
    /// The rule fired: its actions run. Otherwise only the error action runs (for `failures`).
    fired: bool,
    failures: Vec<ActionFailure>,
    ticket: Arc<Ticket>,
}

impl Settle {
    /// Rule `rule` of `group` on `msg`: its output, or a ParseError for the error action.
    fn new(
        group: &GroupRuntime,
        rule: usize,
        eval: Evaluation,
        mut msg: FiredMessage,
        ticket: Arc<Ticket>,
    ) -> Settle {
        let runtime = &group.rules[rule];
        msg.rule_name = runtime.name.clone();
        let mut failures = Vec::new();
        if eval.parse_error {
            tracing::warn!(rule = %runtime.name, topic = %msg.topic, "payload is malformed JSON (ParseError)");
            failures.push(ActionFailure {
                failed_action: "ParseError".into(),
                failed_resource: msg.topic.clone(),
                error_message: "the payload looks like JSON but does not parse".into(),
            });
        }
        let fired = eval.output.is_some();
        if let Some(output) = eval.output {
            msg.output = output;
        }
        Settle {
            rule,
            msg,
            fired,
            failures,
            ticket,
        }
    }
}

/// Runs every action of the rule on the message (when it `fired`) concurrently, then the
/// error action if any failed. Dropping the ticket at the end lets the message be acked.
async fn settle(rule: Arc<RuleRuntime>, settle: Settle) {
    let Settle {
        msg,
        fired,
        rule: _,
        mut failures,
        ticket,
    } = settle;
    if fired {
        let msg = &msg;
        let rule = &rule;
        let runs = rule.actions.iter().map(|action| async move {
            let started = Instant::now();
            let result = match AssertUnwindSafe(action.execute(msg)).catch_unwind().await {
                Ok(result) => result,
                Err(_) => Err(action_panicked(action.kind())),
            };
            trace_action(rule, msg, action.kind(), started, &result);
            result
        });
        failures.extend(join_all(runs).await.into_iter().filter_map(Result::err));
    }
    if !failures.is_empty() {
        for f in &failures {
            tracing::warn!(rule = %rule.name, topic = %msg.topic, failure = %f, "action failed");
        }
        match &rule.error_action {
            Some(error_action) => {
                let error_msg = msg.for_error_action(&failures);
                let started = Instant::now();
                let result = error_action.execute(&error_msg).await;
                trace_action(&rule, &error_msg, "error_action", started, &result);
                if let Err(e) = result {
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

/// The failure reported for an action that panicked (a bug): the error action still runs.
fn action_panicked(kind: &str) -> ActionFailure {
    ActionFailure {
        failed_action: "Unknown".into(),
        failed_resource: String::new(),
        error_message: format!("the {kind} action panicked (a rulewire bug; see the log)"),
    }
}

/// A random UUID v4 string, for `traceid()` / `cloudwatchTraceId`. Written digit by digit:
/// it runs once per routed message, and `format!` made it a visible share of the profile.
pub fn new_trace_id() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let v: u128 = (rand::random::<u128>() & !(0xF000u128 << 64) & !(0xC000u128 << 48))
        | (0x4000u128 << 64)
        | (0x8000u128 << 48);
    let mut id = String::with_capacity(36);
    for i in 0..32 {
        if matches!(i, 8 | 12 | 16 | 20) {
            id.push('-');
        }
        let nibble = (v >> (124 - 4 * i)) & 0xF;
        id.push(char::from(HEX[nibble as usize]));
    }
    id
}

#[cfg(test)]
mod tests {
    #[test]
    fn trace_ids_look_like_uuid_v4() {
        let id = super::new_trace_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4", "{id}");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        let dashes: Vec<usize> = id.match_indices('-').map(|(i, _)| i).collect();
        assert_eq!(dashes, [8, 13, 18, 23], "{id}");
        assert!(
            id.chars()
                .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(id, super::new_trace_id());
    }
}
