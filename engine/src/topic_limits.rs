//! AWS IoT Core's limits on topics: a topic name or filter has at most 256 bytes and 7
//! slashes (8 levels), not counting the Basic Ingest prefix `$aws/rules/<rule>/`, nor, for a
//! filter, the shared-subscription prefix `$share/<group>/` (AWS does not say; rulewire
//! counts the filter alone); a client id at most 128 bytes.
//!
//! The embedded broker refuses its clients' PUBLISH and SUBSCRIBE packets over them, as AWS
//! does, and the republish action fails a message whose topic is over them, as AWS's would
//! (its broker refuses the topic). Besides fidelity, the limits bound what one device can
//! make the broker and the rules keep per topic (MQTT alone allows 65,535 bytes).

use crate::topic::without_shared_group;

/// The most bytes of UTF-8 in a topic name or filter.
pub const MAX_TOPIC_BYTES: usize = 256;

/// The most `/` in a topic name or filter (8 levels).
pub const MAX_TOPIC_SLASHES: usize = 7;

/// The most bytes in a client id.
pub const MAX_CLIENT_ID_BYTES: usize = 128;

/// Why the topic name `topic` is over AWS IoT Core's limits, if it is.
pub fn topic_over_limits(topic: &str) -> Option<String> {
    over_limits(without_basic_ingest_prefix(topic))
}

/// Why the topic filter `filter` is over AWS IoT Core's limits, if it is.
pub fn filter_over_limits(filter: &str) -> Option<String> {
    over_limits(without_basic_ingest_prefix(without_shared_group(filter)))
}

/// `topic` without `$aws/rules/<rule>/`, which AWS does not count.
fn without_basic_ingest_prefix(topic: &str) -> &str {
    topic
        .strip_prefix("$aws/rules/")
        .and_then(|rest| rest.split_once('/'))
        .map_or(topic, |(_rule, rest)| rest)
}

fn over_limits(counted: &str) -> Option<String> {
    if counted.len() > MAX_TOPIC_BYTES {
        return Some(format!(
            "{} bytes, over AWS IoT Core's limit of {MAX_TOPIC_BYTES}",
            counted.len()
        ));
    }
    let slashes = counted.bytes().filter(|b| *b == b'/').count();
    if slashes > MAX_TOPIC_SLASHES {
        return Some(format!(
            "{slashes} slashes, over AWS IoT Core's limit of {MAX_TOPIC_SLASHES} (8 levels)"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_up_to_256_bytes_and_7_slashes_pass() {
        assert_eq!(topic_over_limits("a/b/c/d/e/f/g/h"), None);
        assert_eq!(topic_over_limits(&"x".repeat(256)), None);
        let why = topic_over_limits("a/b/c/d/e/f/g/h/i").unwrap();
        assert_eq!(why, "8 slashes, over AWS IoT Core's limit of 7 (8 levels)");
        let why = topic_over_limits(&"x".repeat(257)).unwrap();
        assert_eq!(why, "257 bytes, over AWS IoT Core's limit of 256");
        // Bytes of UTF-8, not characters: 129 two-byte characters.
        assert!(topic_over_limits(&"é".repeat(129)).is_some());
    }

    #[test]
    fn the_basic_ingest_prefix_does_not_count() {
        assert_eq!(topic_over_limits("$aws/rules/r/a/b/c/d/e/f/g/h"), None);
        assert!(topic_over_limits("$aws/rules/r/a/b/c/d/e/f/g/h/i").is_some());
        let long = format!("$aws/rules/{}/{}", "r".repeat(128), "x".repeat(256));
        assert_eq!(topic_over_limits(&long), None);
        // Elsewhere `$aws/...` counts whole.
        assert!(topic_over_limits("$aws/things/t/shadow/name/s/update/x/y").is_some());
    }

    #[test]
    fn filters_count_without_the_shared_group() {
        assert_eq!(filter_over_limits("$share/g/a/b/c/d/e/f/g/#"), None);
        assert!(filter_over_limits("$share/g/a/b/c/d/e/f/g/h/#").is_some());
        assert!(filter_over_limits("a/+/c/d/e/f/g/h/#").is_some());
        assert_eq!(filter_over_limits("$share/g"), None, "too short to strip");
    }
}
