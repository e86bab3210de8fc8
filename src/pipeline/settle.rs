//! Settling one fired message of one rule: its actions run concurrently, then the error
//! action with AWS's error payload if any failed (or the payload was malformed JSON); the
//! message's ticket is released at the end. Also the trace events of evaluations and actions.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use futures_util::future::{FutureExt, join_all};
use rulewire_actions::{Action, ActionFailure, FiredMessage};
use rulewire_engine::Evaluation;

use super::{GroupRuntime, RuleRuntime, Ticket};
use crate::ops::trace::shown;

/// The trace event of one evaluation (when the rule is traced).
pub(super) fn trace_evaluation(rule: &RuleRuntime, msg: &FiredMessage, eval: &Evaluation) {
    rule.tracer.emit(&rule.name, || {
        serde_json::json!({
            "kind": "evaluation",
            "trace_id": msg.trace_id.as_str(),
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
            "trace_id": msg.trace_id.as_str(),
            "action": action,
            "ok": result.is_ok(),
            "latency_ms": started.elapsed().as_secs_f64() * 1000.0,
            "error": result.as_ref().err().map(|f| f.to_string()),
            "payload": (action == "error_action").then(|| shown(&msg.output)),
        })
    });
}

/// One message of a batch that has actions (or the error action) to run.
pub(super) struct Settle {
    /// The rule's index in its group.
    pub(super) rule: usize,
    msg: Box<FiredMessage>,
    /// The rule fired: its actions run. Otherwise only the error action runs (for `failures`).
    pub(super) fired: bool,
    pub(super) failures: Vec<ActionFailure>,
    ticket: Arc<Ticket>,
}

impl Settle {
    /// Rule `rule` of `group` on `msg`: its output, or a ParseError for the error action.
    pub(super) fn new(
        group: &GroupRuntime,
        rule: usize,
        eval: Evaluation,
        mut msg: Box<FiredMessage>,
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
pub(super) async fn settle(rule: Arc<RuleRuntime>, settle: Settle) {
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
        // Most rules have one action: it runs without `join_all`'s allocation.
        match rule.actions.as_slice() {
            [action] => failures.extend(run_action(rule, msg, action).await.err()),
            actions => {
                let results = join_all(actions.iter().map(|a| run_action(rule, msg, a))).await;
                failures.extend(results.into_iter().filter_map(Result::err));
            }
        }
    }
    if !failures.is_empty() {
        // Boxed: the error action's message and future would make every message's settle
        // future (built and moved per message) several times larger.
        Box::pin(report_failures(&rule, &msg, &failures)).await;
    }
    drop(ticket);
}

/// Logs the failures of a message's actions and runs the rule's error action on them.
async fn report_failures(rule: &RuleRuntime, msg: &FiredMessage, failures: &[ActionFailure]) {
    for f in failures {
        tracing::warn!(rule = %rule.name, topic = %msg.topic, failure = %f, "action failed");
    }
    match &rule.error_action {
        Some(error_action) => {
            let error_msg = msg.for_error_action(failures);
            let started = Instant::now();
            let result = error_action.execute(&error_msg).await;
            trace_action(rule, &error_msg, "error_action", started, &result);
            if let Err(e) = result {
                tracing::error!(rule = %rule.name, topic = %msg.topic, error = %e,
                    "error action failed too; the message is acked anyway (as AWS drops it)");
            }
        }
        None => tracing::error!(rule = %rule.name, topic = %msg.topic,
            "no error_action configured; the failed message is acked and dropped"),
    }
}

/// Runs one action on `msg` (a panic becomes its failure) and traces the run (when a trace
/// was on as it started: untraced, the clock is not read).
async fn run_action(
    rule: &RuleRuntime,
    msg: &FiredMessage,
    action: &Arc<dyn Action>,
) -> Result<(), ActionFailure> {
    let started = rule.tracer.any_traced().then(Instant::now);
    let result = match AssertUnwindSafe(action.execute(msg)).catch_unwind().await {
        Ok(result) => result,
        Err(_) => Err(action_panicked(action.kind())),
    };
    if let Some(started) = started {
        trace_action(rule, msg, action.kind(), started, &result);
    }
    result
}

/// The failure reported for an action that panicked (a bug): the error action still runs.
fn action_panicked(kind: &str) -> ActionFailure {
    ActionFailure {
        failed_action: "Unknown".into(),
        failed_resource: String::new(),
        error_message: format!("the {kind} action panicked (a rulewire bug; see the log)"),
    }
}
