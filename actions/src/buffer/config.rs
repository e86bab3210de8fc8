//! The `buffer` table of an action: `buffer = { type = "disk", max_bytes = 1073741824,
//! when_full = "block", max_in_flight = 256 }`. `type = "memory"` (the default) is what
//! every action does without the table: it holds the message, unacknowledged, until it settles.

use serde::Deserialize;

use crate::BuildError;

/// Default `max_bytes`: 1 GiB.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;
/// The smallest `max_bytes` accepted (Vector's minimum for disk buffers is 256 MiB; rulewire
/// allows small buffers for the edge, but not ones smaller than a few large messages).
pub const MIN_MAX_BYTES: u64 = 1 << 20;

/// What a full disk buffer does with a new message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Wait for room: the message stays unacknowledged, and ingestion slows down exactly as
    /// for an unbuffered action at its in-flight bound.
    #[default]
    Block,
    /// Drop the message for this action (counted in `rulewire_buffer_dropped_total`, logged).
    DropNewest,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    #[serde(rename = "type")]
    kind: String,
    max_bytes: Option<u64>,
    when_full: Option<WhenFull>,
    max_in_flight: Option<usize>,
}

/// A checked `buffer` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferConfig {
    Memory,
    Disk {
        /// Bytes on disk (records and their headers) not yet delivered, at most.
        max_bytes: u64,
        when_full: WhenFull,
        /// Messages the drain works on at once; default: the action's own `max_in_flight`.
        max_in_flight: Option<usize>,
    },
}

impl BufferConfig {
    /// Parses and checks the `buffer` value of an action table.
    pub fn parse(value: &toml::Value) -> Result<BufferConfig, BuildError> {
        let table: Table = value
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| BuildError::invalid("buffer", e.message().to_owned()))?;
        match table.kind.as_str() {
            "memory" => {
                if table.max_bytes.is_some()
                    || table.when_full.is_some()
                    || table.max_in_flight.is_some()
                {
                    return Err(BuildError::invalid(
                        "buffer",
                        "max_bytes, when_full and max_in_flight apply to type = \"disk\" only",
                    ));
                }
                Ok(BufferConfig::Memory)
            }
            "disk" => {
                let max_bytes = table.max_bytes.unwrap_or(DEFAULT_MAX_BYTES);
                if max_bytes < MIN_MAX_BYTES {
                    return Err(BuildError::invalid(
                        "buffer.max_bytes",
                        format!("must be at least {MIN_MAX_BYTES} (1 MiB)"),
                    ));
                }
                if table.max_in_flight == Some(0) {
                    return Err(BuildError::invalid(
                        "buffer.max_in_flight",
                        "must be at least 1",
                    ));
                }
                Ok(BufferConfig::Disk {
                    max_bytes,
                    when_full: table.when_full.unwrap_or_default(),
                    max_in_flight: table.max_in_flight,
                })
            }
            other => Err(BuildError::invalid(
                "buffer.type",
                format!("unknown buffer type {other:?}: expected \"memory\" or \"disk\""),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<BufferConfig, String> {
        let table: toml::Table = toml::from_str(&format!("buffer = {text}")).unwrap();
        BufferConfig::parse(&table["buffer"]).map_err(|e| e.to_string())
    }

    #[test]
    fn disk_and_memory_buffers_parse_with_defaults_and_bad_values_are_named() {
        assert_eq!(
            parse(r#"{ type = "disk" }"#),
            Ok(BufferConfig::Disk {
                max_bytes: DEFAULT_MAX_BYTES,
                when_full: WhenFull::Block,
                max_in_flight: None
            })
        );
        assert_eq!(
            parse(
                r#"{ type = "disk", max_bytes = 2097152, when_full = "drop_newest", max_in_flight = 8 }"#
            ),
            Ok(BufferConfig::Disk {
                max_bytes: 2 << 20,
                when_full: WhenFull::DropNewest,
                max_in_flight: Some(8)
            })
        );
        assert_eq!(parse(r#"{ type = "memory" }"#), Ok(BufferConfig::Memory));
        let e = parse(r#"{ type = "tape" }"#).unwrap_err();
        assert!(e.contains("unknown buffer type \"tape\""), "{e}");
        let e = parse(r#"{ type = "disk", max_bytes = 10 }"#).unwrap_err();
        assert!(
            e.starts_with("field `buffer.max_bytes`: must be at least"),
            "{e}"
        );
        let e = parse(r#"{ type = "disk", when_full = "drop_oldest" }"#).unwrap_err();
        assert!(e.contains("drop_oldest"), "{e}");
        let e = parse(r#"{ type = "disk", maxbytes = 1 }"#).unwrap_err();
        assert!(e.contains("maxbytes"), "{e}");
        let e = parse(r#"{ type = "memory", max_bytes = 2097152 }"#).unwrap_err();
        assert!(e.contains("type = \"disk\" only"), "{e}");
        assert!(parse(r#"{ max_bytes = 2097152 }"#).is_err());
    }
}
