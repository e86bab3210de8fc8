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

//!
//! Files: [`ack`] (tickets and the ack queue), [`workers`] (batching, evaluation),
//! [`settle`] (actions and the error action of one fired message).

mod ack;
mod settle;
mod workers;

use std::sync::Arc;

use rulewire_actions::{Action, FiredMessage, TraceId};
use rulewire_engine::{Rule, RuleGroup};

pub use ack::{AckQueue, Acknowledge, Ticket};
pub use workers::{BatchBounds, Workers};

use crate::ops::metrics::RuleMetrics;
use crate::ops::trace::Tracer;

/// One message routed to a rule group.
pub struct Item {
    /// The group (the version of its rules current when the message was routed).
    pub group: Arc<GroupRuntime>,
    /// Boxed: an item is moved several times on its way (into and out of the worker's
    /// queue, into its batch, its settle future), and the message is a few hundred bytes.
    pub msg: Box<FiredMessage>,
    pub ticket: Arc<Ticket>,
    /// Basic Ingest: the one member rule (index in the group) the message is for. `None`: a
    /// message routed by topic, for every rule of the group.
    pub only: Option<usize>,
}

/// A loaded rule as the pipeline runs it: compiled SQL and built actions.
pub struct RuleRuntime {
    /// Shared with every message it fires on (`FiredMessage::rule_name`).
    pub name: Arc<str>,
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
    pub(crate) engine: RuleGroup,
}

impl GroupRuntime {
    pub fn new(rules: Vec<Arc<RuleRuntime>>) -> GroupRuntime {
        let engine = RuleGroup::new(rules.iter().map(|r| r.rule.clone()).collect());
        GroupRuntime { rules, engine }
    }
}

/// Now, in milliseconds since the Unix epoch: a message's arrival time, `timestamp()`.
pub fn epoch_millis() -> i64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A random UUID v4 string, for `traceid()` / `cloudwatchTraceId`. It runs once per routed
/// message, so its random bits come from a fast generator per thread (xoshiro256++, seeded
/// once from `ThreadRng`): unique as trace ids need, not unguessable (they are not secrets).
/// Written byte by byte into an inline id: `format!`, `ThreadRng` and the `String`'s allocation
/// per message were each visible in the profile.
pub fn new_trace_id() -> TraceId {
    use rand::{Rng, SeedableRng, rngs::SmallRng};
    use std::cell::RefCell;
    thread_local! {
        static RNG: RefCell<SmallRng> = RefCell::new(SmallRng::from_rng(&mut rand::rng()));
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let random: u128 = RNG.with_borrow_mut(|rng| rng.random());
    let v: u128 = (random & !(0xF000u128 << 64) & !(0xC000u128 << 48))
        | (0x4000u128 << 64)
        | (0x8000u128 << 48);
    // Two hex digits per byte, a dash before bytes 4, 6, 8 and 10 (8-4-4-4-12 digits).
    let mut id = [b'-'; 36];
    let mut at = 0;
    for (i, byte) in v.to_be_bytes().into_iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            at += 1;
        }
        id[at] = HEX[usize::from(byte >> 4)];
        id[at + 1] = HEX[usize::from(byte & 0xF)];
        at += 2;
    }
    let id = std::str::from_utf8(&id).expect("hex digits and dashes are ASCII");
    TraceId::try_from(id).expect("a UUID fits a trace id")
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
