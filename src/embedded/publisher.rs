//! The republish action's publisher on the embedded broker: messages are routed inside the
//! broker (to subscribers, and stored when retained) and handed to the rules, with no MQTT
//! connection in between. A QoS 1 publish is done once the broker has routed it to its
//! subscribers' queues. Deliveries still pass each receiver's `iot:Receive` check.

use rmqtt::codec::v5::PublishProperties as CodecProperties;
use rmqtt::context::ServerContext;
use rmqtt::session::SessionState;
use rmqtt::types::{CodecPublish, From, Id, Publish, QoS};
use rulewire_actions::{BoxFuture, MqttPublisher, PublishProperties};

use super::feed::RulesFeed;

pub struct InProcessPublisher {
    pub scx: ServerContext,
    /// The identity its messages come from (`clientid()` of rules they trigger).
    pub id: Id,
    pub feed: RulesFeed,
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
            SessionState::forwards(
                &self.scx,
                From::from_system(self.id.clone()),
                publish,
                false,
                None,
            )
            .await
            .map_err(|e| format!("embedded broker: {e}"))
        })
    }
}
