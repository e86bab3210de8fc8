//! The republish action's publisher on the embedded broker: messages are routed inside the
//! broker (to subscribers, and stored when retained) and handed to the rules, with no MQTT
//! connection in between. A QoS 1 publish is done once the broker has routed it to its
//! subscribers' queues. Deliveries still pass each receiver's `iot:Receive` check. Which
//! subscribers a topic goes to comes from the [`RouteCache`] while the broker's routes are
//! unchanged: a republish to a known topic takes neither the router's lock nor its match.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rmqtt::codec::v5::PublishProperties as CodecProperties;
use rmqtt::context::ServerContext;
use rmqtt::session::SessionState;
use rmqtt::types::{CodecPublish, From, Id, Publish, QoS, SubRelations, TopicName};
use rulewire_actions::{BoxFuture, MqttPublisher, PublishProperties};

use super::feed::RulesFeed;
use super::route_cache::RouteCache;

pub struct InProcessPublisher {
    scx: ServerContext,
    /// The identity its messages come from (`clientid()` of rules they trigger).
    id: Id,
    feed: RulesFeed,
    routes: RouteCache,
    /// The router's generation counter (`vendor/README.md`); `None`: a router that keeps
    /// none, whose answers are never cached.
    generation: Option<Arc<AtomicU64>>,
}

impl InProcessPublisher {
    /// A publisher into `scx`'s broker as `id`, handing its messages to `feed`'s rules.
    pub async fn new(scx: ServerContext, id: Id, feed: RulesFeed) -> InProcessPublisher {
        let generation = scx.extends.router().await.generation();
        InProcessPublisher {
            scx,
            id,
            feed,
            routes: RouteCache::default(),
            generation,
        }
    }

    /// Routes `publish` to its subscribers as rmqtt's `SessionState::forwards` does (the
    /// same hooks for a topic nobody reads and for deliveries dropped), with the subscribers
    /// from the route cache. Retained messages (stored too) and routers that keep no
    /// generation go through `SessionState::forwards` itself.
    async fn forward(&self, from: From, publish: Publish) -> rmqtt::Result<()> {
        let scx = &self.scx;
        let routes = match publish.retain {
            false => self.routes_of(&from, &publish.topic).await?,
            true => None,
        };
        let Some(relations) = routes else {
            return SessionState::forwards(scx, from, publish, false, None).await;
        };
        let hooks = scx.extends.hook_mgr();
        if relations.is_empty() {
            hooks.message_nonsubscribed(from).await;
            return Ok(());
        }
        let shared = scx.extends.shared().await;
        if let Err((_, dropped)) = shared.forwards_to(from, &publish, relations, None).await {
            for (to, from, publish, reason) in dropped {
                hooks.message_dropped(Some(to), from, publish, reason).await;
            }
        }
        Ok(())
    }

    /// The subscribers on this node that `topic` goes to: cached per router generation, or
    /// matched now (and cached unless a shared group's member was picked for this message);
    /// `None` where the router keeps no generation.
    async fn routes_of(
        &self,
        from: &From,
        topic: &TopicName,
    ) -> rmqtt::Result<Option<SubRelations>> {
        let Some(generation) = &self.generation else {
            return Ok(None);
        };
        let generation = generation.load(Ordering::Acquire);
        if let Some(relations) = self.routes.get(topic, generation) {
            return Ok(Some(relations));
        }
        let router = self.scx.extends.router().await;
        // A single node: rmqtt's `forwards` only warns about other nodes' relations too.
        let mut by_node = router.matches(from.id.clone(), topic).await?;
        let relations = by_node.remove(&self.scx.node.id()).unwrap_or_default();
        self.routes.put(topic, generation, &relations);
        Ok(Some(relations))
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
            self.forward(From::from_system(self.id.clone()), publish)
                .await
                .map_err(|e| format!("embedded broker: {e}"))
        })
    }
}
