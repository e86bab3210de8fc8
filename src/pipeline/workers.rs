//! The workers: a fixed set of tasks (one per core) that batch what is queued for them,
//! split it by rule group, evaluate each group's part with the engine and drive the actions
//! of what fired ([`super::settle`]). A group always goes to the same worker, so its messages
//! stay in order, also across reloads.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::stream::{FuturesUnordered, StreamExt};
use rulewire_engine::Evaluation;
use tokio::sync::mpsc;

use super::settle::{Settle, settle, trace_evaluation};
use super::{GroupRuntime, Item};
use crate::ops::metrics::Metrics;

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
                for s in run_batch(&group, items, &metrics) {
                    // `unconstrained`: with tokio's cooperative budget spent, an action's
                    // first poll could stop at an await that had room (a semaphore, a
                    // channel) and a later message's action would reach the sink first.
                    // Without the budget a first poll only waits where the sink is full, and
                    // those waits are FIFO.
                    let mut settle = Box::pin(tokio::task::unconstrained(settle(
                        group.rules[s.rule].clone(),
                        s,
                    )));
                    // The first poll, here and in arrival order: most settle on it (an
                    // in-process republish, a disk buffer's append), and only those that
                    // wait join the set, which polls a pushed future again with its own
                    // waker (so the first poll's no-op waker loses no wake-up).
                    if settle.as_mut().now_or_never().is_none() {
                        settling.push(settle);
                    }
                }
            }
        }
        while settling.next().await.is_some() {}
    });
    tx
}

/// Splits a batch by group, keeping arrival order within each group.
fn by_group(items: Vec<Item>) -> Vec<(Arc<GroupRuntime>, Vec<Item>)> {
    let Some(first) = items.first().map(|i| i.group.clone()) else {
        return Vec::new();
    };
    // Mostly one group: the batch is its part as it is, not moved item by item.
    if items.iter().all(|i| Arc::ptr_eq(&i.group, &first)) {
        return vec![(first, items)];
    }
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
    // Sized for what is queued now, so that a burst is not moved as the vector grows.
    let mut items = Vec::with_capacity((rx.len() + 1).min(bounds.max_messages.max(1)));
    items.push(first);
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
    if let Some(oldest) = items.iter().map(|i| i.ticket.admitted()).min() {
        metrics
            .queue_wait
            .observe(start.saturating_duration_since(oldest).as_secs_f64());
    }
    // Topic-routed messages go through the whole group at once (one decode each); Basic
    // Ingest messages through their one rule.
    let routed: Vec<_> = items
        .iter()
        .filter(|i| i.only.is_none())
        .map(|i| i.msg.as_engine_message())
        .collect();
    // TopicMatch: every routed message for each rule, a Basic Ingest one for its rule.
    let mut counts = vec![(routed.len() as u64, 0u64, 0u64); group.rules.len()];
    for rule in items.iter().filter_map(|i| i.only) {
        counts[rule].0 += 1;
    }
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
    // Mostly one fired rule per message.
    let mut settling = Vec::with_capacity(items.len());
    let mut results: Vec<(usize, Evaluation)> = Vec::with_capacity(group.rules.len());
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
    for s in &settling {
        counts[s.rule].1 += u64::from(s.fired);
        counts[s.rule].2 += u64::from(!s.failures.is_empty());
    }
    for (runtime, (matched, fired, parse_errors)) in group.rules.iter().zip(counts) {
        runtime.metrics.eval.observe(elapsed);
        runtime.metrics.topic_match.inc_by(matched);
        runtime.metrics.fired.inc_by(fired);
        runtime.metrics.parse_errors.inc_by(parse_errors);
    }
    settling
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use rulewire_actions::FiredMessage;
    use rulewire_engine::{Rule, SqlVersion};

    use super::run_batch;
    use crate::ops::metrics::{Metrics, RuleMetrics};
    use crate::pipeline::{AckQueue, Acknowledge, GroupRuntime, Item, RuleRuntime};

    /// A batch counts its messages' topic matches and records, once, how long its oldest
    /// message waited since admission; every message, once its rules are done, how long it
    /// took from admission.
    #[test]
    fn batches_record_topic_matches_and_queue_wait_and_messages_their_time() {
        let metrics = Arc::new(Metrics::new());
        let rule = Rule::compile("SELECT * FROM 'a/+'", SqlVersion::V2016_03_23).unwrap();
        let group = Arc::new(GroupRuntime::new(vec![Arc::new(RuleRuntime {
            name: "r".into(),
            rule: Arc::new(rule),
            actions: Vec::new(),
            error_action: None,
            metrics: RuleMetrics::new(&metrics, "r"),
            tracer: Default::default(),
        })]));
        let acks = AckQueue::local(&metrics);
        let item = || Item {
            group: group.clone(),
            msg: Box::new(FiredMessage {
                topic: "a/b".into(),
                original_payload: bytes::Bytes::from_static(b"{\"x\": 1}"),
                ..Default::default()
            }),
            ticket: acks.ticket(Acknowledge::Nothing, None),
            only: None,
        };
        let early = item();
        std::thread::sleep(Duration::from_millis(200));
        let settling = run_batch(&group, vec![early, item()], &metrics);
        let settling_too = run_batch(&group, vec![item()], &metrics);
        let basic_ingest = Item {
            only: Some(0),
            ..item()
        };
        let settling_three = run_batch(&group, vec![basic_ingest], &metrics);
        assert_eq!(
            metrics.topic_match.with_label_values(&["r"]).get(),
            4,
            "TopicMatch: three routed messages and one Basic Ingest one"
        );
        assert_eq!(
            metrics.queue_wait.get_sample_count(),
            3,
            "one sample per batch"
        );
        let waited = metrics.queue_wait.get_sample_sum();
        assert!(
            (0.2..0.5).contains(&waited),
            "the three batches' oldest waits (0.2 s, ~0 s, ~0 s) summed: {waited}"
        );
        assert_eq!(
            metrics.message_seconds.get_sample_count(),
            0,
            "nothing done yet"
        );
        drop((settling, settling_too, settling_three));
        assert_eq!(
            metrics.message_seconds.get_sample_count(),
            4,
            "one per message"
        );
        let took = metrics.message_seconds.get_sample_sum();
        assert!(
            (0.2..0.5).contains(&took),
            "one message took 0.2 s, three ~0 s: {took}"
        );
    }
}
