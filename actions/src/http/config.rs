//! `HttpConfig`: the `type = "http"` table of a rule header.

use serde::Deserialize;

use crate::{DeliveryConfig, KeyValue};

/// POST the rule's output to a URL (AWS's `http` action, the "Lambda-style webhook").
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// URL template; after rendering it must be an `http://` or `https://` URL.
    pub url: String,
    /// Extra request headers; keys are literal, values are templates. A `content-type`
    /// header (any case) replaces the default (`application/json` for JSON output,
    /// `application/octet-stream` otherwise).
    #[serde(default)]
    pub headers: Vec<KeyValue>,
    /// `timeout_ms` (default 3000, AWS's), `retry` (default: the service's, 3 attempts),
    /// `max_in_flight`.
    #[serde(flatten)]
    pub delivery: DeliveryConfig,
}
