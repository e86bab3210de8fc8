//! The router: which rules a message goes to. A Device Shadow request also goes to the
//! shadow service (see [`super::Ingest`]); here, `$aws/rules/<rule>/<rest>` (Basic Ingest)
//! goes to that rule alone with topic `<rest>` (an unknown or disabled rule counts
//! RuleNotFound), and any other topic goes, once, to every rule group whose FROM filter
//! matches (TopicMatch counts each of its rules). [`Routes`] is the table the router reads;
//! the registry replaces it whole on reload.

use std::sync::Arc;

use rulewire_engine::topic::TopicTrie;
use tokio::sync::mpsc::UnboundedSender;

use crate::mqtt::IncomingPublish;
use crate::ops::metrics::Metrics;
use crate::pipeline::{GroupRuntime, Item, Ticket};

/// One routable (enabled and loaded) rule.
pub struct Route {
    pub name: String,
    pub filter: Option<String>,
    /// Its group, in [`Routes::groups`], and its index among the group's rules.
    pub group: usize,
    pub member: usize,
    /// This rule's `rulewire_topic_match_total` series (resolved once, not per message).
    pub topic_match: prometheus::IntCounter,
}

/// A group of rules as the router sees it: the group and its worker's queue.
pub struct GroupRoute {
    pub group: Arc<GroupRuntime>,
    pub tx: UnboundedSender<Item>,
    /// Its rules, as indices into [`Routes::rules`].
    pub rules: Vec<usize>,
}

/// The rules the router sends messages to; replaced whole on reload. A topic-filter trie
/// indexes their groups, so a message costs only the groups whose filter can match its topic.
#[derive(Default)]
pub struct Routes {
    pub rules: Vec<Route>,
    pub groups: Vec<GroupRoute>,
    trie: TopicTrie<usize>,
}

impl Routes {
    pub fn new(rules: Vec<Route>, groups: Vec<GroupRoute>) -> Routes {
        let mut trie = TopicTrie::new();
        for (i, g) in groups.iter().enumerate() {
            if let Some(f) = g.rules.first().and_then(|&r| rules[r].filter.as_ref()) {
                trie.insert(f, i);
            }
        }
        Routes {
            rules,
            groups,
            trie,
        }
    }

    pub fn by_name(&self, name: &str) -> Option<&Route> {
        self.rules.iter().find(|r| r.name == name)
    }

    /// Whether `topic` goes to any rule: Basic Ingest (to a rule or, unknown, counted as
    /// RuleNotFound) or a group whose FROM filter matches.
    pub fn wants(&self, topic: &str) -> bool {
        if topic.starts_with("$aws/rules/") {
            return true;
        }
        let mut any = false;
        self.trie.for_each_match(topic, |_| any = true);
        any
    }

    /// Sends one message to its rules, each holding a clone of its `ticket`. `client_id` is
    /// the publisher's (empty when the broker does not tell); every rule sees the same
    /// `now_ms` and `trace_id`. The last group a message goes to (mostly its only one) takes
    /// the topic, client id and trace id; the others get copies.
    pub fn dispatch(
        &self,
        publish: &IncomingPublish,
        client_id: String,
        now_ms: i64,
        trace_id: String,
        ticket: Arc<Ticket>,
        metrics: &Metrics,
    ) {
        let topic = publish.topic();
        if let Some(rest) = topic.strip_prefix("$aws/rules/") {
            let (name, rest) = rest.split_once('/').unwrap_or((rest, ""));
            match self.by_name(name) {
                Some(route) => {
                    route.topic_match.inc();
                    let mut msg = publish.to_fired(rest.to_owned(), now_ms, trace_id);
                    msg.client_id = client_id;
                    let group = &self.groups[route.group];
                    let _ = group.tx.send(Item {
                        group: group.group.clone(),
                        msg,
                        ticket,
                        only: Some(route.member),
                    });
                }
                None => {
                    metrics.rule_not_found.with_label_values(&[name]).inc();
                    tracing::warn!(rule = %name, %topic, "Basic Ingest to an unknown or disabled rule (RuleNotFound)");
                }
            }
            return;
        }
        let send = |group: usize, topic, trace_id, client_id, ticket| {
            let group = &self.groups[group];
            for &rule in &group.rules {
                self.rules[rule].topic_match.inc();
            }
            let mut msg = publish.to_fired(topic, now_ms, trace_id);
            msg.client_id = client_id;
            let _ = group.tx.send(Item {
                group: group.group.clone(),
                msg,
                ticket,
                only: None,
            });
        };
        // Each match sends the one before it copies; the last, sent after the loop, takes
        // the originals.
        let mut previous = None;
        self.trie.for_each_match(&topic, |&group| {
            if let Some(previous) = previous.replace(group) {
                let (topic, trace_id) = (topic.clone(), trace_id.clone());
                send(previous, topic, trace_id, client_id.clone(), ticket.clone());
            }
        });
        if let Some(last) = previous {
            send(last, topic, trace_id, client_id, ticket);
        }
    }
}
