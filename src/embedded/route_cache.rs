//! Which subscribers each topic goes to, kept between messages (for rulewire's republishes,
//! and for the devices' QoS 0 messages its rules read: [`super::forward`]).
//!
//! rmqtt matches every message's topic against its subscription tree anew: it parses the
//! topic, walks the tree and collects the relations into fresh maps. For rulewire's own
//! republishes, which go to a few output topics over and over, that was the largest part of
//! the in-process publish; for telemetry that only rules read, the match finds nobody, each
//! time. The cache keeps the router's answer per topic together with the
//! router's generation (a number the vendored rmqtt bumps after every subscribe and
//! unsubscribe, `vendor/README.md`): an answer is used only while the generation is the one
//! it was computed at, so a subscription made or dropped is seen by the next message, as
//! without the cache. Answers with shared-subscription groups are not kept (rmqtt picks a
//! group member per message).

use std::collections::HashMap;
use std::sync::Mutex;

use rmqtt::types::{SubRelation, SubRelations};

/// The memory the cache keeps at most, in bytes as [`cost`] counts them; past that it starts
/// over. Topics are the devices' (up to 65,535 bytes each in MQTT) and output topics can be
/// templated on a device id, so the bound is on bytes, not entries: a device that publishes
/// to ever new long topics costs misses (a router match each, as without the cache), never
/// memory. 16 MiB keeps ~150,000 short topics with one subscriber each.
const MAX_BYTES: usize = 16 << 20;

/// The router's answers per topic, each with the generation it holds for.
#[derive(Default)]
pub struct RouteCache {
    kept: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    /// Hashed with aHash (randomly keyed, as std's SipHash, and several times faster on
    /// short keys: the lookup is once per republish).
    topics: HashMap<String, (u64, SubRelations), ahash::RandomState>,
    /// The [`cost`] of everything in `topics`.
    bytes: usize,
}

/// What keeping `relations` for `topic` costs, in bytes: the entry, the topic, and each
/// relation with its topic filter and client id (counted as if owned, though rmqtt's may be
/// shared: the bound errs on the safe side).
fn cost(topic: &str, relations: &SubRelations) -> usize {
    let entry = std::mem::size_of::<(String, (u64, SubRelations))>() + topic.len();
    let each = |(filter, client, ..): &SubRelation| {
        std::mem::size_of::<SubRelation>() + filter.len() + client.len()
    };
    entry + relations.iter().map(each).sum::<usize>()
}

impl RouteCache {
    /// The subscribers of `topic` if they were matched at router generation `generation`.
    pub fn get(&self, topic: &str, generation: u64) -> Option<SubRelations> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        match kept.topics.get(topic) {
            Some((at, relations)) if *at == generation => Some(relations.clone()),
            _ => None,
        }
    }

    /// Keeps `relations`, matched for `topic` at `generation`, unless they hold a shared
    /// subscription group (whose member is picked per message) or alone exceed the bound.
    pub fn put(&self, topic: &str, generation: u64, relations: &SubRelations) {
        let size = cost(topic, relations);
        if size > MAX_BYTES || relations.iter().any(|(_, _, _, _, group)| group.is_some()) {
            return;
        }
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, old)) = kept.topics.remove(topic) {
            kept.bytes -= cost(topic, &old);
        }
        if kept.bytes + size > MAX_BYTES {
            kept.topics.clear();
            kept.bytes = 0;
        }
        kept.bytes += size;
        kept.topics
            .insert(topic.to_owned(), (generation, relations.clone()));
    }

    /// The bytes kept, as [`cost`] counts them.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.kept.lock().unwrap().bytes
    }
}

#[cfg(test)]
mod tests {
    use rmqtt::types::{SubRelation, SubscriptionOptions};

    use super::*;

    fn subscriber(client: &str, shared: bool) -> SubRelation {
        let group = shared.then(|| ("g".into(), true, vec![client.into()]));
        let opts = SubscriptionOptions::default();
        ("out/#".into(), client.into(), opts, None, group)
    }

    #[test]
    fn an_answer_holds_for_its_generation_only() {
        let cache = RouteCache::default();
        cache.put("out/a", 7, &vec![subscriber("c1", false)]);
        assert_eq!(cache.get("out/a", 7).map(|r| r.len()), Some(1));
        assert!(cache.get("out/a", 8).is_none(), "routes changed since");
        assert!(cache.get("out/b", 7).is_none());
        cache.put("out/nobody", 7, &Vec::new());
        assert_eq!(cache.get("out/nobody", 7).map(|r| r.len()), Some(0));
    }

    #[test]
    fn shared_groups_are_never_kept() {
        let cache = RouteCache::default();
        let relations = vec![subscriber("c1", false), subscriber("c2", true)];
        cache.put("out/a", 1, &relations);
        assert!(cache.get("out/a", 1).is_none());
    }

    #[test]
    fn the_cache_is_bounded_by_bytes() {
        let cache = RouteCache::default();
        let one = vec![subscriber("c", false)];
        let per_relation = cost("t", &one) - cost("t", &Vec::new());
        let many: SubRelations = (0..MAX_BYTES / 2 / per_relation)
            .map(|i| subscriber(&format!("c{i}"), false))
            .collect();
        cache.put("out/a", 1, &many);
        cache.put("out/a", 2, &many); // replacing an answer frees its room
        assert!(cache.get("out/a", 2).is_some());
        cache.put("out/b", 2, &many);
        assert!(cache.get("out/a", 2).is_none(), "full: started over");
        assert!(cache.get("out/b", 2).is_some());
        let too_many: SubRelations = (0..MAX_BYTES / per_relation + 1)
            .map(|i| subscriber(&format!("c{i}"), false))
            .collect();
        cache.put("out/d", 2, &too_many);
        assert!(
            cache.get("out/d", 2).is_none(),
            "one answer over the bound is not kept"
        );
        assert!(cache.get("out/b", 2).is_some(), "and evicts nothing");
    }

    /// A device that publishes to ever new topics of MQTT's maximum length, none of which
    /// anyone reads, costs the cache no more than its bound.
    #[test]
    fn long_topics_are_counted_by_their_bytes() {
        let cache = RouteCache::default();
        let nobody = SubRelations::new();
        for i in 0..2 * MAX_BYTES / u16::MAX as usize {
            let topic = format!("dev/{i}/{}", "x".repeat(u16::MAX as usize - 20));
            cache.put(&topic, 1, &nobody);
            assert!(cache.get(&topic, 1).is_some());
            assert!(cache.bytes() <= MAX_BYTES, "{} bytes kept", cache.bytes());
        }
        let kept = cache.kept.lock().unwrap();
        let topic_bytes: usize = kept.topics.keys().map(String::len).sum();
        assert!(topic_bytes <= MAX_BYTES, "{topic_bytes} bytes of topics");
    }
}
