//! `ActionConfig`: one `[[action]]` (or `[error_action]`) table of a rule header, by `type`.
//!
//! Each action's own fields live in its folder (`republish/config.rs`, `http/config.rs`);
//! unknown keys are rejected so a typo fails the rule load instead of being ignored.

use serde::Deserialize;

use crate::{HttpConfig, KafkaConfig, KinesisConfig, RepublishConfig, S3Config};

/// The configuration of one action, tagged by `type = "republish" | "http" | "s3" | "kafka" |
/// "kinesis"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ActionConfig {
    Republish(RepublishConfig),
    Http(HttpConfig),
    S3(S3Config),
    Kafka(KafkaConfig),
    Kinesis(KinesisConfig),
}

impl ActionConfig {
    /// The action type, as written after `type =` and used in metric labels.
    pub fn kind(&self) -> &'static str {
        match self {
            ActionConfig::Republish(_) => "republish",
            ActionConfig::Http(_) => "http",
            ActionConfig::S3(_) => "s3",
            ActionConfig::Kafka(_) => "kafka",
            ActionConfig::Kinesis(_) => "kinesis",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeyValue, RetryOverride};

    fn parse(text: &str) -> Result<ActionConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn parses_republish_with_defaults_and_all_fields() {
        let c = parse(
            r#"type = "republish"
topic = "alerts/${topic(2)}""#,
        )
        .unwrap();
        let ActionConfig::Republish(r) = c else {
            panic!()
        };
        assert_eq!((r.qos, r.retain, r.user_properties.len()), (0, false, 0));

        let c = parse(
            r#"
type = "republish"
topic = "alerts/${topic(2)}"
qos = 1
retain = true
user_properties = [{key = "k", value = "${clientid()}"}]
timeout_ms = 500
max_in_flight = 8
retry = { attempts = 5, base_delay_ms = 10 }
"#,
        )
        .unwrap();
        let ActionConfig::Republish(r) = c else {
            panic!()
        };
        assert_eq!(r.topic, "alerts/${topic(2)}");
        assert_eq!((r.qos, r.retain), (1, true));
        assert_eq!(
            r.user_properties,
            vec![KeyValue {
                key: "k".into(),
                value: "${clientid()}".into()
            }]
        );
        assert_eq!(r.delivery.timeout_ms, Some(500));
        assert_eq!(r.delivery.max_in_flight, Some(8));
        let retry = RetryOverride {
            attempts: Some(5),
            base_delay_ms: Some(10),
            max_delay_ms: None,
        };
        assert_eq!(r.delivery.retry, Some(retry));
    }

    #[test]
    fn parses_http() {
        let c = parse(
            r#"
type = "http"
url = "https://example.com/${topic()}"
headers = [{key = "x-device", value = "${clientid()}"}]
timeout_ms = 1000
"#,
        )
        .unwrap();
        assert_eq!(c.kind(), "http");
        let ActionConfig::Http(h) = c else { panic!() };
        assert_eq!(h.url, "https://example.com/${topic()}");
        assert_eq!(h.headers.len(), 1);
        assert_eq!(h.delivery.timeout_ms, Some(1000));
    }

    #[test]
    fn unknown_keys_and_types_are_clear_errors() {
        let e = parse("type = \"republish\"\ntopic = \"a\"\nqso = 1").unwrap_err();
        assert!(e.contains("unknown field `qso`"), "{e}");
        let e = parse("type = \"http\"\nurl = \"http://x\"\nheader = []").unwrap_err();
        assert!(e.contains("unknown field `header`"), "{e}");
        let e = parse("type = \"http\"\nurl = \"http://x\"\nretry = { attempt = 2 }").unwrap_err();
        assert!(e.contains("unknown field `attempt`"), "{e}");
        let e = parse("type = \"lambda\"\nfunction_arn = \"x\"").unwrap_err();
        assert!(e.contains("unknown variant `lambda`"), "{e}");
        let e = parse("type = \"republish\"").unwrap_err();
        assert!(e.contains("missing field `topic`"), "{e}");
    }
}
