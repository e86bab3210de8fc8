//! `OpenSearchConfig`: the `type = "opensearch"` table of a rule header (AWS's
//! OpenSearchAction: `endpoint`, `index`, `type`, `id`; AWS's `type` is `document_type` here,
//! since `type` names the action type; the connection replaces AWS's `roleArn`).

use serde::Deserialize;

use crate::DeliveryConfig;

/// Index the rule's output as a document of an OpenSearch index.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenSearchConfig {
    /// An `[opensearch.connections.<name>]` of `rulewire.toml` (how requests authenticate);
    /// default `"default"`.
    #[serde(default = "crate::connections::default_connection")]
    pub connection: String,
    /// The domain's endpoint (a template), e.g.
    /// `https://search-my-domain-abc123.us-east-1.es.amazonaws.com`.
    pub endpoint: String,
    /// The index (a template).
    pub index: String,
    /// The document type (a template; AWS's `type`). Default `_doc`, the only type
    /// OpenSearch 2 has.
    #[serde(default = "default_document_type")]
    pub document_type: String,
    /// The document id (a template), e.g. `${newuuid()}`.
    pub id: String,
    /// `timeout_ms` (per request, default 10000), `retry`, `max_in_flight`.
    #[serde(flatten)]
    pub delivery: DeliveryConfig,
}

fn default_document_type() -> String {
    "_doc".to_owned()
}
