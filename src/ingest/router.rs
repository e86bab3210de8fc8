//! The router: which rules a message goes to. A Device Shadow request also goes to the
//! shadow service (see [`super::Ingest`]); here, `$aws/rules/<rule>/<rest>` (Basic Ingest)
//! goes to that rule alone with topic `<rest>` (an unknown or disabled rule counts
//! RuleNotFound), and any other topic goes, once, to every rule group whose FROM filter
//! matches (the group's worker counts TopicMatch for its rules, per batch). [`Routes`] is the
//! table the router reads; the registry replaces it whole on reload.

use std::sync::Arc;

use rulewire_actions::FiredMessage;
use rulewire_engine::topic::TopicTrie;
use tokio::sync::mpsc::UnboundedSender;

use crate::ops::metrics::Metrics;
use crate::pipeline::{GroupRuntime, Item, Ticket};

/// One routable (enabled and loaded) rule.
pub struct Route {
    pub name: String,
    pub filter: Option<String>,
    /// Its group, in [`Routes::groups`], and its index among the group's rules.
    pub group: usize,
    pub member: usize,
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

    /// Where a message on `topic` goes: Basic Ingest, or the groups whose FROM filter
    /// matches (none: no rule reads it). Found once per message and handed to
    /// [`Routes::dispatch`], so a message walks the trie once.
    pub fn destination(&self, topic: &str) -> Destination {
        if topic.starts_with("$aws/rules/") {
            return Destination::BasicIngest;
        }
        let mut groups = Groups::default();
        self.trie.for_each_match(topic, |&group| groups.push(group));
        Destination::Groups(groups)
    }

    /// Sends `message` to its rules (`to`: its [`Routes::destination`] in this table), each
    /// holding a clone of its ticket. The last group it goes to (mostly its only one) takes
    /// the message; the others get copies.
    pub fn dispatch(&self, to: Destination, message: Admitted, metrics: &Metrics) {
        let groups = match to {
            Destination::Groups(groups) => groups,
            Destination::BasicIngest => return self.dispatch_basic_ingest(message, metrics),
        };
        // No group (a Broker-acked message no rule reads): nothing to send.
        let Some(last) = groups.last else { return };
        let Admitted { msg, ticket } = message;
        let send = |group: usize, msg, ticket| {
            let group = &self.groups[group];
            let _ = group.tx.send(Item {
                group: group.group.clone(),
                msg,
                ticket,
                only: None,
            });
        };
        for &group in &groups.earlier {
            send(group, msg.clone(), ticket.clone());
        }
        send(last, msg, ticket);
    }

    /// `$aws/rules/<rule>/<rest>`: to that rule alone, with topic `<rest>`; an unknown or
    /// disabled rule counts RuleNotFound.
    fn dispatch_basic_ingest(&self, message: Admitted, metrics: &Metrics) {
        let Admitted { mut msg, ticket } = message;
        // The prefix is there (the destination said so); no slicing that could panic.
        let rest = msg.topic.strip_prefix("$aws/rules/").unwrap_or(&msg.topic);
        let (name, rest) = rest.split_once('/').unwrap_or((rest, ""));
        let Some(route) = self.by_name(name) else {
            metrics.rule_not_found.with_label_values(&[name]).inc();
            tracing::warn!(rule = %name, topic = %msg.topic, "Basic Ingest to an unknown or disabled rule (RuleNotFound)");
            return;
        };
        msg.topic = rest.to_owned();
        let group = &self.groups[route.group];
        let _ = group.tx.send(Item {
            group: group.group.clone(),
            msg,
            ticket,
            only: Some(route.member),
        });
    }
}

/// One admitted message as each rule it goes to sees it (the same arrival time and trace id
/// for every rule), with its ticket.
pub struct Admitted {
    pub msg: Box<FiredMessage>,
    pub ticket: Arc<Ticket>,
}

/// Where one message goes ([`Routes::destination`]).
pub enum Destination {
    /// `$aws/rules/<rule>/...`: to that rule, or counted as RuleNotFound.
    BasicIngest,
    /// To these groups (none: no rule reads the message).
    Groups(Groups),
}

impl Destination {
    /// Whether a rule reads the message (Basic Ingest always counts: to its rule or as
    /// RuleNotFound).
    pub fn any(&self) -> bool {
        match self {
            Destination::BasicIngest => true,
            Destination::Groups(groups) => groups.last.is_some(),
        }
    }
}

/// The groups whose filter matches a topic: the last one found apart, so that the common
/// case of one group allocates nothing.
#[derive(Default)]
pub struct Groups {
    /// The last match (it takes the message's originals); `None`: no match.
    last: Option<usize>,
    /// The matches before it, in match order (they get copies).
    earlier: Vec<usize>,
}

impl Groups {
    fn push(&mut self, group: usize) {
        if let Some(previous) = self.last.replace(group) {
            self.earlier.push(previous);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rulewire_actions::TraceId;
    use rulewire_engine::{Rule, SqlVersion};
    use tokio::sync::mpsc;

    use super::*;
    use crate::ops::metrics::RuleMetrics;
    use crate::pipeline::{AckQueue, Acknowledge, GroupRuntime, RuleRuntime};

    /// One rule per group, `FROM` each filter; the receivers of the groups' queues.
    fn routes(filters: &[&str], metrics: &Metrics) -> (Routes, Vec<mpsc::UnboundedReceiver<Item>>) {
        let (mut rules, mut groups, mut queues) = (Vec::new(), Vec::new(), Vec::new());
        for (i, filter) in filters.iter().enumerate() {
            let name = format!("r{i}");
            let sql = format!("SELECT * FROM '{filter}'");
            let rule = Rule::compile(&sql, SqlVersion::V2016_03_23).unwrap();
            let group = Arc::new(GroupRuntime::new(vec![Arc::new(RuleRuntime {
                name: name.as_str().into(),
                rule: Arc::new(rule),
                actions: Vec::new(),
                error_action: None,
                metrics: RuleMetrics::new(metrics, &name),
                tracer: Default::default(),
            })]));
            let (tx, rx) = mpsc::unbounded_channel();
            rules.push(Route {
                name: name.clone(),
                filter: Some(filter.to_string()),
                group: i,
                member: 0,
            });
            groups.push(GroupRoute {
                group,
                tx,
                rules: vec![i],
            });
            queues.push(rx);
        }
        (Routes::new(rules, groups), queues)
    }

    fn message(topic: &str, acks: &AckQueue) -> Admitted {
        Admitted {
            msg: Box::new(FiredMessage {
                topic: topic.into(),
                client_id: "dev-1".into(),
                original_payload: bytes::Bytes::from_static(b"{}"),
                timestamp_ms: 7,
                trace_id: TraceId::try_from("trace-1").unwrap(),
                ..Default::default()
            }),
            ticket: acks.ticket(Acknowledge::Nothing, None),
        }
    }

    /// A message matched by several groups reaches each once, all with the same trace id,
    /// timestamp and client id; groups whose filter does not match get nothing.
    #[test]
    fn a_topic_goes_once_to_every_group_it_matches() {
        let metrics = Arc::new(Metrics::new());
        let acks = AckQueue::local(&metrics);
        let (routes, mut queues) = routes(&["a/+", "b/+", "a/#", "+/x"], &metrics);
        let to = routes.destination("a/x");
        assert!(to.any());
        routes.dispatch(to, message("a/x", &acks), &metrics);
        for (group, queue) in queues.iter_mut().enumerate() {
            let got: Vec<Item> = std::iter::from_fn(|| queue.try_recv().ok()).collect();
            if group == 1 {
                assert!(got.is_empty(), "b/+ does not match a/x");
                continue;
            }
            let [item] = &got[..] else {
                panic!("group {group}: {} items", got.len())
            };
            assert_eq!(
                (item.msg.topic.as_str(), item.msg.client_id.as_str()),
                ("a/x", "dev-1")
            );
            assert_eq!(
                (item.msg.trace_id.as_str(), item.msg.timestamp_ms),
                ("trace-1", 7)
            );
            assert_eq!(item.only, None);
        }
        assert!(!routes.destination("c/y").any(), "no filter matches c/y");
    }

    /// Basic Ingest goes to the named rule alone, without its prefix, however many filters
    /// the rest of the topic matches; an unknown rule counts RuleNotFound.
    #[test]
    fn basic_ingest_goes_to_its_rule_alone() {
        let metrics = Arc::new(Metrics::new());
        let acks = AckQueue::local(&metrics);
        let (routes, mut queues) = routes(&["a/+", "a/#"], &metrics);
        let to = routes.destination("$aws/rules/r1/a/x");
        assert!(matches!(to, Destination::BasicIngest));
        routes.dispatch(to, message("$aws/rules/r1/a/x", &acks), &metrics);
        assert!(queues[0].try_recv().is_err());
        let item = queues[1].try_recv().unwrap();
        assert_eq!((item.msg.topic.as_str(), item.only), ("a/x", Some(0)));

        let to = routes.destination("$aws/rules/nope/a/x");
        assert!(to.any(), "counted as RuleNotFound, so not unread");
        routes.dispatch(to, message("$aws/rules/nope/a/x", &acks), &metrics);
        assert!(queues.iter_mut().all(|q| q.try_recv().is_err()));
        assert_eq!(metrics.rule_not_found.with_label_values(&["nope"]).get(), 1);
    }
}
