//! What rmqtt leaves to its embedder and rulewire fills in: round-robin `$share/` groups
//! (rmqtt's default refuses them) and a count of every message the broker drops. Retained
//! messages (rmqtt's built-in store keeps nothing) are in `retained`.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use async_trait::async_trait;
use prometheus::{IntCounter, IntCounterVec};
use rmqtt::context::ServerContext;
use rmqtt::hook::{Handler, HookResult, Parameter, ReturnType};
use rmqtt::subscribe::SharedSubscription;
use rmqtt::types::{
    ClientId, Id, IsOnline, NodeId, Reason, SharedGroup, SubscriptionIdentifier,
    SubscriptionOptions, TopicName,
};

/// `$share/<group>/<filter>`: each message goes to one member of the group, round robin
/// over the members that are online (an offline member's persistent session gets it only
/// when no member is online).
#[derive(Default)]
pub struct RoundRobinShares {
    next: AtomicUsize,
}

type Member = (
    NodeId,
    ClientId,
    SubscriptionOptions,
    Option<Vec<SubscriptionIdentifier>>,
    Option<IsOnline>,
);

#[async_trait]
impl SharedSubscription for RoundRobinShares {
    fn is_supported(&self) -> bool {
        true
    }

    async fn choice(
        &self,
        _scx: &ServerContext,
        _group: &SharedGroup,
        _publisher: &Id,
        _topic: &TopicName,
        members: &[Member],
    ) -> Option<(usize, IsOnline)> {
        if members.is_empty() {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..members.len())
            .map(|i| (start + i) % members.len())
            .find(|&i| members[i].4 != Some(false))
            .map(|i| (i, true))
            .or(Some((start % members.len(), false)))
    }
}

/// Counts what the broker drops (`rulewire_embedded_broker_dropped_total{reason}`) and logs
/// the first drop and then every 10,000th, so a drop is never silent and never floods the log.
/// A subscriber slower than its publishers can drop 100,000 messages a second: each reason's
/// counter is looked up once, here, not per drop.
pub struct CountDrops {
    /// One counter per [`DROP_REASONS`] label, in that order.
    by_reason: Vec<IntCounter>,
    logged: AtomicU64,
}

/// The `reason` labels of the drop counter.
const DROP_REASONS: [&str; 4] = ["queue_full", "inflight_full", "expired", "other"];

impl CountDrops {
    pub fn new(dropped: &IntCounterVec) -> CountDrops {
        CountDrops {
            by_reason: DROP_REASONS
                .iter()
                .map(|label| dropped.with_label_values(&[label]))
                .collect(),
            logged: AtomicU64::new(0),
        }
    }
}

/// The index of `reason`'s label in [`DROP_REASONS`].
fn drop_reason(reason: &Reason) -> usize {
    match reason {
        Reason::MessageQueueFull => 0,
        Reason::InflightWindowFull => 1,
        Reason::MessageExpiration => 2,
        _ => 3,
    }
}

#[async_trait]
impl Handler for CountDrops {
    async fn hook(&self, param: &Parameter, acc: Option<HookResult>) -> ReturnType {
        if let Parameter::MessageDropped(to, _from, publish, reason) = param {
            let expires = publish
                .properties
                .as_ref()
                .is_some_and(|p| p.message_expiry_interval.is_some());
            if matches!(reason, Reason::MessageExpiration) && !expires
                || matches!(reason, Reason::PublishResult(_))
            {
                // Not drops: `access` refused a delivery (iot:Receive: an "expiry" when none
                // is set) or a publish (counted in rulewire_embedded_broker_denied_total).
                return (true, acc);
            }
            let reason = drop_reason(reason);
            self.by_reason[reason].inc();
            if self
                .logged
                .fetch_add(1, Ordering::Relaxed)
                .is_multiple_of(10_000)
            {
                tracing::warn!(
                    topic = %publish.topic,
                    to = ?to.as_ref().map(|t| t.client_id.to_string()),
                    reason = DROP_REASONS[reason],
                    "the embedded broker dropped a message (counted in rulewire_embedded_broker_dropped_total)"
                );
            }
        }
        (true, acc)
    }
}
