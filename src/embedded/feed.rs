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
//! Basic Ingest (`$aws/rules/<rule>/...`) goes to the rule and to no subscriber, as on AWS:
//! after the rules the message is not forwarded (MQTT 5 publishers get PUBACK 0x10, "no
//! matching subscribers", a success code).

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use rmqtt::codec::v5::PublishAckReason;
use rmqtt::hook::{Handler, HookResult, Parameter, ReturnType};
use rmqtt::types::{FromType, Publish, PublishAclResult, PublishResult, QoS};
use rumqttc::v5::mqttbytes::v5 as v5b;
use tokio::sync::{mpsc, oneshot};

use crate::ingest::{Admission, Incoming};
use crate::mqtt::IncomingPublish;
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

/// rmqtt's PUBLISH as rulewire's ingest reads it: MQTT 5 publishers with their properties,
/// MQTT 3.1.1 ones without.
fn incoming(p: &Publish) -> IncomingPublish {
    let pkid = p.packet_id.map_or(0, |id| id.get());
    let Some(props) = &p.properties else {
        let qos = rumqttc::qos(qos_number(p.qos)).unwrap_or(rumqttc::QoS::AtLeastOnce);
        // `from_bytes`: `new` would copy the payload into a fresh vector.
        let mut v4 = rumqttc::Publish::from_bytes(String::from(&*p.topic), qos, p.payload.clone());
        v4.retain = p.retain;
        v4.pkid = pkid;
        return IncomingPublish::V4(v4);
    };
    let properties = v5b::PublishProperties {
        payload_format_indicator: props.is_utf8_payload.then_some(1),
        message_expiry_interval: props.message_expiry_interval.map(|i| i.get()),
        topic_alias: None,
        response_topic: props.response_topic.as_ref().map(|t| t.to_string()),
        correlation_data: props.correlation_data.clone(),
        user_properties: props
            .user_properties
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        subscription_identifiers: Vec::new(),
        content_type: props.content_type.as_ref().map(|t| t.to_string()),
    };
    IncomingPublish::V5(v5b::Publish {
        dup: p.dup,
        qos: rumqttc::v5::mqttbytes::qos(qos_number(p.qos))
            .unwrap_or(rumqttc::v5::mqttbytes::QoS::AtLeastOnce),
        retain: p.retain,
        topic: p.topic.as_bytes().to_vec().into(),
        pkid,
        payload: p.payload.clone(),
        properties: Some(properties),
    })
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
            publish: incoming(publish),
            client_id: client_id.to_owned(),
            done: None,
            will: false,
        });
        self.send_now(event);
    }

    /// Hands a client's last will to the rules (AWS runs rules on wills), without waiting:
    /// the broker publishes it from the connection's teardown, where nobody acknowledges it.
    pub fn hand_over_will(&self, client_id: &str, publish: &Publish) {
        let event = InboundEvent::Local(LocalPublish {
            publish: incoming(publish),
            client_id: client_id.to_owned(),
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

    /// Admits one message to the rules (through the ingest loop's queue until the rules are
    /// loaded); for QoS 1, waits until its rules are done.
    /// False if rulewire is shutting down (the publisher is disconnected unacknowledged and
    /// sends the message again to the next run).
    async fn hand_over(&self, client_id: &str, publish: &Publish) -> bool {
        if publish.payload.len() > self.max_payload_bytes {
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
            return self.events.send(event).await.is_ok();
        }
        let (done, wait) = match publish.qos {
            QoS::AtMostOnce => (None, None),
            _ => {
                let (tx, rx) = oneshot::channel();
                (Some(tx), Some(rx))
            }
        };
        let local = move || LocalPublish {
            publish: incoming(publish),
            client_id: client_id.to_owned(),
            done,
            will: false,
        };
        let taken = match self.admission.get() {
            Some((admission, stop)) => {
                admission
                    .admit_local(&publish.topic, || Incoming::from(local()), stop)
                    .await
            }
            None => self.events.send(InboundEvent::Local(local())).await.is_ok(),
        };
        if !taken {
            return false;
        }
        if let Some(wait) = wait {
            // The ticket signals when dropped, so an error here also means "done".
            let _ = wait.await;
        }
        true
    }
}

#[async_trait]
impl Handler for RulesFeed {
    async fn hook(&self, param: &Parameter, acc: Option<HookResult>) -> ReturnType {
        // Wills do not pass the publish check: they are taken where the broker publishes them.
        if let Parameter::MessagePublish(_, from, publish) = param {
            if matches!(from.typ(), FromType::LastWill) {
                self.hand_over_will(&from.id.client_id, publish);
            }
            return (true, acc);
        }
        let Parameter::MessagePublishCheckAcl(s, publish) = param else {
            return (true, acc);
        };
        if !self.hand_over(&s.id.client_id, publish).await {
            let shutting_down = PublishAclResult::rejected(true, Some("shutting down".into()));
            return (false, Some(HookResult::PublishAclResult(shutting_down)));
        }
        if publish.topic.starts_with("$aws/rules/") {
            let to_rules_only =
                PublishResult::reason_code(PublishAckReason::NoMatchingSubscribers, None, false);
            return (
                false,
                Some(HookResult::PublishAclResult(PublishAclResult(
                    to_rules_only,
                ))),
            );
        }
        (true, acc)
    }
}
