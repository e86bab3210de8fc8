//! The rules' feed: every message a client publishes to the embedded broker, once its
//! policies allow it, goes to rulewire's rules in-process (no MQTT client, no loopback TCP,
//! no second encode and decode), with the publisher's client id for `clientid()`.
//!
//! Delivery: the hook runs in the publisher's connection before rmqtt sends the PUBACK and
//! forwards the message to subscribers, and admits the message to the rules right there
//! ([`Admission::admit`]: in-flight permit, ticket, routing), without a hop through the
//! ingest loop. For QoS 1 it waits until every rule is done with the message (its actions
//! succeeded, wrote to their disk buffers, or handed the failure to the error action): a
//! PUBACK means the message is safe, through kill -9 too, and a publisher cut off before its
//! PUBACK sends the message again. The cost: each connection has one QoS 1 message with the
//! rules at a time. QoS 0 messages are handed over and not waited for. When rulewire has
//! `limits.max_in_flight` messages in flight the hand-over waits, which stops reading that
//! connection: backpressure reaches the publisher's TCP window.
//!
//! rulewire's own republishes do not pass through a connection: `publisher` routes them in
//! the broker and hands them over without waiting ([`RulesFeed::hand_over_republish`]).
//! Last wills do not pass the publish check either: they are taken from rmqtt's
//! `MessagePublish` hook ([`RulesFeed::hand_over_will`]) and reach the rules, not the shadow
//! service.
//!
//! A QoS 0 message the rules read is forwarded to its subscribers by the hook too, through a
//! route cache ([`FeedHooks`]), instead of rmqtt's routing after it.
//!
//! Basic Ingest (`$aws/rules/<rule>/...`) goes to the rule and to no subscriber, as on AWS:
//! after the rules the message is not forwarded (MQTT 5 publishers get PUBACK Success, as
//! AWS IoT Core's, which has no "no matching subscribers" code).

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use rmqtt::codec::v5::PublishAckReason;
use rmqtt::hook::{Handler, HookResult, Parameter, ReturnType};
use rmqtt::types::{FromType, Publish, PublishAclResult, PublishResult, QoS};
use rulewire_actions::{BoxFuture, FiredMessage};
use rulewire_engine::MqttProperties;
use tokio::sync::{mpsc, oneshot};

use super::forward::Forwarder;
use crate::ingest::{Admission, Incoming, Offer};
use crate::mqtt::inbound::{
    InboundEvent, LocalPublish, PublishHead, Received, RejectReason, Rejected, SessionEpoch,
};
use crate::ops::stop::CancelFlag;

/// The admission the publish hook admits its clients' messages through, with the service's
/// stop flag; set once the rules are loaded (until then the ingest loop's queue takes them).
pub type DirectAdmission = Arc<OnceLock<(Arc<Admission>, CancelFlag)>>;

#[derive(Clone)]
pub struct RulesFeed {
    pub events: mpsc::Sender<InboundEvent>,
    pub max_payload_bytes: usize,
    pub admission: DirectAdmission,
}

fn qos_number(qos: QoS) -> u8 {
    match qos {
        QoS::AtMostOnce => 0,
        QoS::AtLeastOnce => 1,
        QoS::ExactlyOnce => 2,
    }
}

/// rmqtt's PUBLISH from `client_id` as its rules see it (rule name, output and trace id
/// still to come): MQTT 5 publishers' properties included, the arrival time the broker's.
fn fired(p: &Publish, client_id: &str) -> Box<FiredMessage> {
    let mut msg = Box::new(FiredMessage {
        topic: String::from(&*p.topic),
        client_id: client_id.to_owned(),
        original_payload: p.payload.clone(),
        timestamp_ms: p.create_time.unwrap_or_else(crate::pipeline::epoch_millis),
        ..Default::default()
    });
    if let Some(props) = &p.properties {
        msg.user_properties = props
            .user_properties
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        msg.mqtt_properties = MqttProperties {
            content_type: props.content_type.as_ref().map(|t| t.to_string()),
            response_topic: props.response_topic.as_ref().map(|t| t.to_string()),
            correlation_data: props.correlation_data.as_ref().map(|d| d.to_vec()),
            // MQTT 5: an absent indicator means unspecified bytes (0).
            payload_format_indicator: Some(u8::from(props.is_utf8_payload)),
        };
    }
    msg
}

/// What [`RulesFeed::offer`] did with a client's message.
enum Offered<'a> {
    /// Admitted; for QoS 1, the signal that its rules are done.
    Now(Option<oneshot::Receiver<()>>),
    /// Counted: no rule and no shadow reads it.
    Unread,
    /// Not taken: rulewire is shutting down.
    Refused,
    /// To be admitted by waiting (for in-flight room, or the ingest loop's queue): this
    /// future does it, and yields false if the message was not taken.
    Later(BoxFuture<'a, bool>),
}

/// Waits for `admitted`, then (QoS 1) for the rules to be done with the message.
async fn acknowledged(
    admitted: impl Future<Output = bool>,
    done: Option<oneshot::Receiver<()>>,
) -> bool {
    if !admitted.await {
        return false;
    }
    if let Some(done) = done {
        // The ticket signals when dropped, so an error here also means "done".
        let _ = done.await;
    }
    true
}

impl RulesFeed {
    /// Hands rulewire's own republish to the rules (AWS runs rules on republished messages
    /// too) without waiting, neither for in-flight room nor for those rules: in-flight
    /// messages finish their republish actions through here, so waiting for room would wait
    /// on itself.
    pub fn hand_over_republish(&self, client_id: &str, publish: &Publish) {
        if let Some((admission, _)) = self.admission.get()
            && admission.skip_unread(&publish.topic, false)
        {
            return;
        }
        let event = InboundEvent::Local(LocalPublish {
            msg: fired(publish, client_id),
            done: None,
            will: false,
        });
        self.send_now(event);
    }

    /// Hands a client's last will to the rules (AWS runs rules on wills), without waiting:
    /// the broker publishes it from the connection's teardown, where nobody acknowledges it.
    pub fn hand_over_will(&self, client_id: &str, publish: &Publish) {
        let event = InboundEvent::Local(LocalPublish {
            msg: fired(publish, client_id),
            done: None,
            will: true,
        });
        self.send_now(event);
    }

    /// Queues `event`, or (the queue full) sends it from a task of its own.
    fn send_now(&self, event: InboundEvent) {
        if let Err(mpsc::error::TrySendError::Full(event)) = self.events.try_send(event) {
            let events = self.events.clone();
            tokio::spawn(async move { events.send(event).await });
        }
    }

    /// Admits one client's message to the rules, right here when it can (the common case:
    /// no await, so the hook's future stays small), or returns the future that waits to.
    /// Until the rules are loaded, messages go through the ingest loop's queue.
    fn offer<'a>(&'a self, client_id: &'a str, publish: &'a Publish) -> Offered<'a> {
        if publish.payload.len() > self.max_payload_bytes {
            return Offered::Later(Box::pin(self.reject_too_large(client_id, publish)));
        }
        let (done, wait) = match publish.qos {
            QoS::AtMostOnce => (None, None),
            _ => {
                let (tx, rx) = oneshot::channel();
                (Some(tx), Some(rx))
            }
        };
        let local = move || LocalPublish {
            msg: fired(publish, client_id),
            done,
            will: false,
        };
        let Some((admission, stop)) = self.admission.get() else {
            let queued = self.events.send(InboundEvent::Local(local()));
            return Offered::Later(Box::pin(acknowledged(async { queued.await.is_ok() }, wait)));
        };
        match admission.offer(&publish.topic, || Incoming::from(local()), stop) {
            Offer::Taken => Offered::Now(wait),
            Offer::Unread => Offered::Unread,
            Offer::Stopping => Offered::Refused,
            Offer::Full(incoming) => Offered::Later(Box::pin(acknowledged(
                admission.admit(incoming, stop),
                wait,
            ))),
        }
    }

    /// Reports a payload over `limits.max_payload_bytes` (counted and logged by the ingest
    /// loop, not processed); false if rulewire is shutting down.
    async fn reject_too_large(&self, client_id: &str, publish: &Publish) -> bool {
        let rejected = Rejected {
            head: PublishHead {
                topic: publish.topic.to_string(),
                qos: qos_number(publish.qos),
                pkid: None,
                packet_len: publish.payload.len() + publish.topic.len(),
            },
            reason: RejectReason::TooLarge,
            detail: format!(
                "{} bytes over limits.max_payload_bytes ({}) from {client_id}",
                publish.payload.len(),
                self.max_payload_bytes
            ),
        };
        let event = InboundEvent::Rejected(Received {
            message: rejected,
            session: SessionEpoch::LOCAL,
        });
        self.events.send(event).await.is_ok()
    }
}

/// The feed's broker hooks: a client's publish (before its PUBACK and its forwarding) and
/// last wills.
///
/// A QoS 0 message, not retained, that the rules read and took at once is also forwarded to
/// its subscribers here, through a route cache of its own ([`Forwarder`]), and rmqtt is told
/// not to route it again: telemetry that only rules read (the common case: nobody subscribes
/// to it) costs a cache lookup instead of rmqtt's retain-store check, router match and locks.
/// Deliveries are the same (each receiver's `iot:Receive` check included) and in the same
/// order, from the same task. Not for QoS 1: the only way to stop rmqtt's routing is a result
/// that is not Success, which would reach MQTT 5 publishers in their PUBACK. Topics no rule
/// reads are left to rmqtt as they are.
#[derive(Clone)]
pub struct FeedHooks {
    feed: RulesFeed,
    forwarder: Arc<Forwarder>,
}

impl FeedHooks {
    pub fn new(feed: RulesFeed, forwarder: Forwarder) -> FeedHooks {
        FeedHooks {
            feed,
            forwarder: Arc::new(forwarder),
        }
    }
}

/// The hook's answer for a message rmqtt must not route (Basic Ingest, or forwarded here):
/// NoMatchingSubscribers; the vendored rmqtt neither routes nor reports as dropped a message
/// answered so, and acknowledges it with Success (`vendor/README.md`).
fn not_routed_by_rmqtt() -> ReturnType {
    let result = PublishResult::reason_code(PublishAckReason::NoMatchingSubscribers, None, false);
    (
        false,
        Some(HookResult::PublishAclResult(PublishAclResult(result))),
    )
}

#[async_trait]
impl Handler for FeedHooks {
    async fn hook(&self, param: &Parameter, acc: Option<HookResult>) -> ReturnType {
        // Wills do not pass the publish check: they are taken where the broker publishes them.
        if let Parameter::MessagePublish(_, from, publish) = param {
            if matches!(from.typ(), FromType::LastWill) {
                self.feed.hand_over_will(&from.id.client_id, publish);
            }
            return (true, acc);
        }
        let Parameter::MessagePublishCheckAcl(s, publish) = param else {
            return (true, acc);
        };
        // Admitted to the rules (for QoS 1: and done there) before the PUBACK and the
        // forwarding to subscribers. False if rulewire is shutting down (the publisher is
        // disconnected unacknowledged and sends the message again to the next run).
        let (admitted, read_now) = match self.feed.offer(&s.id.client_id, publish) {
            Offered::Now(done) => (acknowledged(std::future::ready(true), done).await, true),
            Offered::Unread => (true, false),
            Offered::Refused => (false, false),
            Offered::Later(admitting) => (admitting.await, false),
        };
        if !admitted {
            let shutting_down = PublishAclResult::rejected(true, Some("shutting down".into()));
            return (false, Some(HookResult::PublishAclResult(shutting_down)));
        }
        if publish.topic.starts_with("$aws/rules/") {
            // To the rules only.
            return not_routed_by_rmqtt();
        }
        if read_now && matches!(publish.qos, QoS::AtMostOnce) && !publish.retain {
            let from = rmqtt::types::From::from_custom(s.id.clone());
            if let Err(e) = self.forwarder.forward(from, publish).await {
                // rmqtt ends the connection when its own forwarding fails.
                tracing::warn!(client_id = %s.id.client_id, topic = %publish.topic, error = %e,
                    "embedded broker could not route a message; disconnecting its publisher");
                let failed = PublishAclResult::rejected(true, Some("routing failed".into()));
                return (false, Some(HookResult::PublishAclResult(failed)));
            }
            // QoS 0: no PUBACK carries the answer.
            return not_routed_by_rmqtt();
        }
        (true, acc)
    }
}
