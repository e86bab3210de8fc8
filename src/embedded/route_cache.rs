//! Which subscribers each of rulewire's republish topics goes to, kept between messages.
//!
//! rmqtt matches every message's topic against its subscription tree anew: it parses the
//! topic, walks the tree and collects the relations into fresh maps. For rulewire's own
//! republishes, which go to a few output topics over and over, that was the largest part of
//! the in-process publish. The cache keeps the router's answer per topic together with the
//! router's generation (a number the vendored rmqtt bumps after every subscribe and
//! unsubscribe, `vendor/README.md`): an answer is used only while the generation is the one
//! it was computed at, so a subscription made or dropped is seen by the next message, as
//! without the cache. Answers with shared-subscription groups are not kept (rmqtt picks a
//! group member per message).

use std::collections::HashMap;
use std::sync::Mutex;

use rmqtt::types::SubRelations;

/// Topics kept at most; past that the cache starts over (output topics templated on a
/// device id can be many, and a miss only costs the router's own match).
const MAX_TOPICS: usize = 4096;

/// The router's answers per topic, each with the generation it holds for.
#[derive(Default)]
pub struct RouteCache {
    topics: Mutex<HashMap<String, (u64, SubRelations)>>,
}

impl RouteCache {
    /// The subscribers of `topic` if they were matched at router generation `generation`.
    pub fn get(&self, topic: &str, generation: u64) -> Option<SubRelations> {
        let topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
        match topics.get(topic) {
            Some((at, relations)) if *at == generation => Some(relations.clone()),
            _ => None,
        }
    }

    /// Keeps `relations`, matched for `topic` at `generation`, unless they hold a shared
    /// subscription group (whose member is picked per message).
    pub fn put(&self, topic: &str, generation: u64, relations: &SubRelations) {
        if relations.iter().any(|(_, _, _, _, group)| group.is_some()) {
            return;
        }
        let mut topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
        if topics.len() >= MAX_TOPICS && !topics.contains_key(topic) {
            topics.clear();
        }
        topics.insert(topic.to_owned(), (generation, relations.clone()));
    }
}
