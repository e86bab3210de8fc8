//! MQTT topic filters: validation, matching, and the topic-filter trie used for routing.
//!
//! Matching follows AWS IoT, which differs from the MQTT spec in one place: `a/#` does **not**
//! match the parent topic `a` (AWS: "`sensor/#` receives `sensor/`, `sensor/temperature` ... but
//! not `sensor`"). As in MQTT, a filter starting with a wildcard does not match topics starting
//! with `$`. The trie makes a message cost only the filters it can match: each topic level walks
//! at most three children (`level`, `+`, `#`).

use std::collections::HashMap;

/// A subscription's topic filter without a shared group's `$share/<group>/` prefix (MQTT 5
/// and AWS IoT Core's shared subscriptions); other filters as they are.
pub fn without_shared_group(filter: &str) -> &str {
    filter
        .strip_prefix("$share/")
        .and_then(|rest| rest.split_once('/'))
        .map_or(filter, |(_group, filter)| filter)
}

/// Checks a topic filter: `+` and `#` must fill a whole level, `#` must be last; no empty filter.
pub fn validate_filter(filter: &str) -> Result<(), String> {
    if filter.is_empty() {
        return Err("the topic filter is empty".to_owned());
    }
    if filter.len() > 256 {
        return Err("the topic filter is longer than 256 bytes".to_owned());
    }
    let levels: Vec<&str> = filter.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        if level.contains('#') && (*level != "#" || i + 1 != levels.len()) {
            return Err(format!(
                "invalid topic filter '{filter}': `#` must be the whole last level"
            ));
        }
        if level.contains('+') && *level != "+" {
            return Err(format!(
                "invalid topic filter '{filter}': `+` must be a whole level"
            ));
        }
    }
    Ok(())
}

/// True when `topic` matches `filter` (see the module doc for the AWS `#` rule).
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), Some(_)) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Maps topic filters to values (rule ids); `lookup` returns every value whose filter matches.
#[derive(Debug, Default)]
pub struct TopicTrie<T> {
    root: Node<T>,
    len: usize,
}

#[derive(Debug)]
struct Node<T> {
    /// Children by literal level. The wildcard levels have their own fields, so matching a
    /// topic costs one map lookup per level (and none where a node has no literal children).
    /// foldhash, not SipHash: the keys are the operator's filters (a device's topic only
    /// looks up), so there is no table to flood, and SipHash was a visible share of routing.
    children: HashMap<String, Node<T>, foldhash::fast::RandomState>,
    plus: Option<Box<Node<T>>>,
    hash: Option<Box<Node<T>>>,
    /// Values whose filter ends at this node.
    here: Vec<T>,
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Node {
            children: HashMap::default(),
            plus: None,
            hash: None,
            here: Vec::new(),
        }
    }
}

impl<T> Node<T> {
    fn child_mut(&mut self, level: &str) -> Option<&mut Node<T>> {
        match level {
            "+" => self.plus.as_deref_mut(),
            "#" => self.hash.as_deref_mut(),
            _ => self.children.get_mut(level),
        }
    }

    fn child_or_insert(&mut self, level: &str) -> &mut Node<T> {
        match level {
            "+" => self.plus.get_or_insert_default(),
            "#" => self.hash.get_or_insert_default(),
            _ => self.children.entry(level.to_owned()).or_default(),
        }
    }
}

impl<T: Clone + PartialEq> TopicTrie<T> {
    pub fn new() -> Self {
        TopicTrie {
            root: Node::default(),
            len: 0,
        }
    }

    /// Number of (filter, value) entries.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds `value` under `filter` (which must be valid).
    pub fn insert(&mut self, filter: &str, value: T) {
        let mut node = &mut self.root;
        for level in filter.split('/') {
            node = node.child_or_insert(level);
        }
        node.here.push(value);
        self.len += 1;
    }

    /// Removes `value` from under `filter`; returns whether it was there.
    pub fn remove(&mut self, filter: &str, value: &T) -> bool {
        let mut node = &mut self.root;
        for level in filter.split('/') {
            match node.child_mut(level) {
                Some(n) => node = n,
                None => return false,
            }
        }
        let before = node.here.len();
        node.here.retain(|v| v != value);
        let removed = before != node.here.len();
        if removed {
            self.len -= 1;
        }
        removed
    }

    /// Calls `f` for every value whose filter matches `topic`.
    pub fn for_each_match(&self, topic: &str, mut f: impl FnMut(&T)) {
        let dollar = topic.starts_with('$');
        Self::walk(&self.root, topic.split('/'), true, dollar, &mut f);
    }

    /// The values whose filter matches `topic`.
    pub fn lookup(&self, topic: &str) -> Vec<T> {
        let mut out = Vec::new();
        self.for_each_match(topic, |v| out.push(v.clone()));
        out
    }

    /// Matches the remaining `levels` below `node` (`first`: `node` is the root).
    fn walk(
        node: &Node<T>,
        mut levels: std::str::Split<'_, char>,
        first: bool,
        dollar: bool,
        f: &mut impl FnMut(&T),
    ) {
        let Some(level) = levels.next() else {
            node.here.iter().for_each(&mut *f);
            return;
        };
        // AWS and MQTT: wildcards at the first level do not match `$` topics.
        if !(dollar && first) {
            if let Some(hash) = &node.hash {
                hash.here.iter().for_each(&mut *f);
            }
            if let Some(plus) = &node.plus {
                Self::walk(plus, levels.clone(), false, dollar, f);
            }
        }
        if level != "+"
            && level != "#"
            && !node.children.is_empty()
            && let Some(child) = node.children.get(level)
        {
            Self::walk(child, levels, false, dollar, f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_documented_matches() {
        assert!(matches("topic/#", "topic/subtopic"));
        assert!(matches("topic/#", "topic/subtopic-3/details"));
        assert!(!matches("topic/#", "topic-2/subtopic-x"));
        assert!(matches("topic/+", "topic/subtopic"));
        assert!(!matches("topic/+", "topic/subtopic-3/details"));
        assert!(matches("sensor/#", "sensor/"));
        assert!(!matches("sensor/#", "sensor"));
        assert!(matches("#", "a/b"));
        assert!(!matches("#", "$aws/things/x"));
        assert!(matches(
            "$aws/things/+/shadow/update/accepted",
            "$aws/things/t1/shadow/update/accepted"
        ));
        assert!(!matches("Sensors/+", "sensors/a"));
    }

    #[test]
    fn filter_validation() {
        assert!(validate_filter("a/+/b/#").is_ok());
        assert!(validate_filter("a/#/b").is_err());
        assert!(validate_filter("a/b+").is_err());
        assert!(validate_filter("").is_err());
    }

    #[test]
    fn trie_agrees_with_matches() {
        let filters = [
            "a/b", "a/+", "a/#", "#", "+/b", "+/+/c", "$sys/#", "a/b/c", "x",
        ];
        let topics = [
            "a/b", "a", "a/b/c", "x", "$sys/a", "q/b", "a/", "/b", "z/y/c",
        ];
        let mut trie = TopicTrie::new();
        for (i, f) in filters.iter().enumerate() {
            trie.insert(f, i);
        }
        for t in topics {
            let mut got = trie.lookup(t);
            got.sort();
            let want: Vec<usize> = (0..filters.len())
                .filter(|&i| matches(filters[i], t))
                .collect();
            assert_eq!(got, want, "topic {t}");
        }
        assert!(trie.remove("a/+", &1));
        assert!(!trie.lookup("a/z").contains(&1));
        assert_eq!(trie.len(), filters.len() - 1);
    }
}
