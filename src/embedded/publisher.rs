//! The republish action's publisher on the embedded broker: messages are routed inside the
//! broker (to subscribers, and stored when retained) and handed to the rules, with no MQTT
//! connection in between. A QoS 1 publish is done once the broker has routed it to its
//! subscribers' queues. Deliveries still pass each receiver's `iot:Receive` check. Which
//! subscribers a topic goes to comes from the [`Forwarder`]'s route cache while the broker's
//! routes are unchanged: a republish to a known topic takes neither the router's lock nor
//! its match.

use rmqtt::codec::v5::PublishProperties as CodecProperties;
use rmqtt::context::ServerContext;
use rmqtt::types::{CodecPublish, From, Id, Publish, QoS};
use rulewire_actions::{BoxFuture, MqttPublisher, PublishProperties};

use super::feed::RulesFeed;
use super::forward::Forwarder;

pub struct InProcessPublisher {
    /// The identity its messages come from (`clientid()` of rules they trigger).
    id: Id,
    feed: RulesFeed,
    /// Its own route cache: the republishes' output topics.
    forwarder: Forwarder,
}

impl InProcessPublisher {
    /// A publisher into `scx`'s broker as `id`, handing its messages to `feed`'s rules.
    pub async fn new(scx: ServerContext, id: Id, feed: RulesFeed) -> InProcessPublisher {
        InProcessPublisher {
            id,
            feed,
            forwarder: Forwarder::new(scx).await,
        }
    }
}

fn codec_properties(p: PublishProperties) -> Option<CodecProperties> {
    if p == PublishProperties::default() {
        return None;
    }
    Some(CodecProperties {
        topic_alias: None,
        correlation_data: p.correlation_data.map(Into::into),
        message_expiry_interval: p.message_expiry.and_then(std::num::NonZeroU32::new),
        content_type: p.content_type.map(Into::into),
        user_properties: p
            .user_properties
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect(),
        is_utf8_payload: p.payload_format_indicator == Some(1),
        response_topic: p.response_topic.map(Into::into),
        subscription_ids: Vec::new(),
    })
}

impl MqttPublisher for InProcessPublisher {
    fn publish(
        &self,
        topic: String,
        qos: u8,
        retain: bool,
        payload: Vec<u8>,
        properties: PublishProperties,
    ) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let codec = CodecPublish {
                dup: false,
                retain,
                qos: if qos == 0 {
                    QoS::AtMostOnce
                } else {
                    QoS::AtLeastOnce
                },
                topic: topic.into(),
                packet_id: None,
                payload: payload.into(),
                properties: codec_properties(properties),
            };
            let publish = Publish::new(
                Box::new(codec),
                None,
                None,
                Some(rmqtt::utils::timestamp_millis()),
            );
            self.feed.hand_over_republish(&self.id.client_id, &publish);
            self.forwarder
                .forward(From::from_system(self.id.clone()), &publish)
                .await
                .map_err(|e| format!("embedded broker: {e}"))
        })
    }
}
