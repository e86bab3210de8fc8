//! `ConnectionNames`: which named connections `rulewire.toml` configures, per section
//! (`s3`, `kafka`, `aws`). Checking an action needs only these names, not the clients, so
//! `rulewire check --config rulewire.toml` reports a rule naming a connection that does not
//! exist without connecting anywhere.

use std::collections::BTreeMap;

use crate::{AwsSettings, BuildError, KafkaSettings, OpenSearchSettings, S3Settings};

/// The configured connection names by section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionNames {
    sections: BTreeMap<&'static str, Vec<String>>,
}

impl ConnectionNames {
    /// The names the connection sections of `rulewire.toml` define, with the implicit
    /// `default`s (s3: a local directory; aws: the standard AWS SDK environment; opensearch:
    /// SigV4 for AWS hosts with the AWS `default`).
    pub fn from_settings(
        s3: &S3Settings,
        kafka: &KafkaSettings,
        aws: &AwsSettings,
        opensearch: &OpenSearchSettings,
    ) -> ConnectionNames {
        ConnectionNames::default()
            .with("s3", s3.names())
            .with("kafka", kafka.names())
            .with("aws", aws.names())
            .with("opensearch", opensearch.names())
    }

    /// These names plus `names` in `section`.
    pub fn with(
        mut self,
        section: &'static str,
        names: impl IntoIterator<Item = String>,
    ) -> ConnectionNames {
        let list = self.sections.entry(section).or_default();
        list.extend(names);
        list.sort();
        list.dedup();
        self
    }

    /// `Ok` if `[<section>.connections.<name>]` is configured; else an error for the action's
    /// `connection` field that lists the configured ones.
    pub fn require(&self, section: &str, name: &str) -> Result<(), BuildError> {
        let names = self.sections.get(section).map_or(&[][..], Vec::as_slice);
        if names.iter().any(|n| n == name) {
            return Ok(());
        }
        let configured = if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        };
        Err(BuildError::invalid(
            "connection",
            format!(
                "no [{section}.connections.{name}] in rulewire.toml (configured: {configured})"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_sections_and_s3_always_has_default() {
        let kafka: KafkaSettings =
            toml::from_str("[connections.events]\nbootstrap_servers = \"k:9092\"").unwrap();
        let names = ConnectionNames::from_settings(
            &S3Settings::default(),
            &kafka,
            &Default::default(),
            &Default::default(),
        );
        assert_eq!(names.require("kafka", "events"), Ok(()));
        assert_eq!(names.require("s3", "default"), Ok(()));
        let e = names.require("kafka", "other").unwrap_err().to_string();
        assert_eq!(
            e,
            "field `connection`: no [kafka.connections.other] in rulewire.toml (configured: events)"
        );
        assert_eq!(names.require("aws", "default"), Ok(()));
        let e = names.require("aws", "other").unwrap_err().to_string();
        assert!(e.ends_with("(configured: default)"), "{e}");
        let e = ConnectionNames::default()
            .require("aws", "x")
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("(configured: none)"), "{e}");
    }
}
