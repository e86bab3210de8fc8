//! Forwarding a message to its subscribers inside the broker, as rmqtt's
//! `SessionState::forwards` does (the same hooks for a topic nobody reads and for deliveries
//! dropped), with the subscribers from a [`RouteCache`] while the broker's routes are
//! unchanged: a message to a known topic takes neither the router's lock nor its match.
//!
//! Used by rulewire's republishes (`publisher`) and by the rules' feed for the QoS 0
//! messages its rules read (`feed`), each with a cache of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rmqtt::context::ServerContext;
use rmqtt::session::SessionState;
use rmqtt::types::{From, Publish, SubRelations, TopicName};

use super::route_cache::RouteCache;

pub struct Forwarder {
    scx: ServerContext,
    routes: RouteCache,
    /// The router's generation counter (`vendor/README.md`); `None`: a router that keeps
    /// none, whose answers are never cached.
    generation: Option<Arc<AtomicU64>>,
}

impl Forwarder {
    /// A forwarder into `scx`'s broker, with an empty cache.
    pub async fn new(scx: ServerContext) -> Forwarder {
        let generation = scx.extends.router().await.generation();
        Forwarder {
            scx,
            routes: RouteCache::default(),
            generation,
        }
    }

    /// Routes `publish` to its subscribers. Retained messages (stored too) and routers that
    /// keep no generation go through `SessionState::forwards` itself (with a copy of it).
    pub async fn forward(&self, from: From, publish: &Publish) -> rmqtt::Result<()> {
        let scx = &self.scx;
        let routes = match publish.retain {
            false => self.routes_of(&from, &publish.topic).await?,
            true => None,
        };
        let Some(relations) = routes else {
            return SessionState::forwards(scx, from, publish.clone(), false, None).await;
        };
        let hooks = scx.extends.hook_mgr();
        if relations.is_empty() {
            hooks.message_nonsubscribed(from).await;
            return Ok(());
        }
        let shared = scx.extends.shared().await;
        if let Err((_, dropped)) = shared.forwards_to(from, publish, relations, None).await {
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
