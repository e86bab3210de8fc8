//! MQTT topic filters (stub; being written).

/// True when `topic` matches the MQTT topic `filter` (`+`, `#`).
pub fn matches(_filter: &str, _topic: &str) -> bool {
    false
}
