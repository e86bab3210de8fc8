//! The `opensearch` action (AWS's `OpenSearchAction`): index the rule's output as a document,
//! `PUT <endpoint>/<index>/<document_type>/<id>` with the output as the JSON body, one request
//! per fired message.
//!
//! As AWS: `endpoint`, `index`, `document_type` (AWS's `type`) and `id` are templates; a
//! document with the same id is replaced, so a retried request is idempotent. The output must
//! be a JSON object (a document); other output fails permanently to the error action.
//! 2xx is success; 429, 5xx and network errors are retried with the action's policy; any
//! other status (a bad index name, a refused mapping, 403) fails at once. `failedResource` is
//! the index.
//!
//! Authentication comes from a named connection (`connection.rs`, `[opensearch.connections]`):
//! SigV4 with an AWS connection for AWS domains, HTTP basic auth for other clusters (`sign.rs`).
//! `http://` endpoints are allowed (AWS requires https; local clusters and tests don't).

mod config;
mod connection;
mod sign;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use bytes::Bytes;
use reqwest::{StatusCode, Url, header::CONTENT_TYPE};
use rulewire_engine::Template;

pub use config::OpenSearchConfig;
pub use connection::{
    AuthMode, OpenSearchConnection, OpenSearchConnectionConfig, OpenSearchSettings,
    check_aws_references,
};

use crate::{
    Action, ActionContext, AwsConnection, BuildError, DeliveryConfig, FiredMessage,
    delivery::{AttemptError, Delivered, Delivery, Rejected, Sink},
    registry::{ActionType, CheckContext},
    templates,
};

/// Default per-attempt timeout: 10 s.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// How much of an error response's body goes into the error message.
const ERROR_BODY_BYTES: usize = 512;

/// The opensearch action type.
pub struct OpenSearchAction;

/// A checked opensearch action: templates compiled, a static endpoint checked.
pub struct CheckedOpenSearch {
    connection: String,
    endpoint: Template,
    /// The endpoint, when it has no templates.
    static_endpoint: Option<Url>,
    index: Template,
    document_type: Template,
    id: Template,
    delivery: DeliveryConfig,
}

impl ActionType for OpenSearchAction {
    const NAME: &'static str = OpenSearch::KIND;
    type Config = OpenSearchConfig;
    type Checked = CheckedOpenSearch;

    fn check(cfg: OpenSearchConfig, ctx: &CheckContext) -> Result<CheckedOpenSearch, BuildError> {
        ctx.connections.require("opensearch", &cfg.connection)?;
        let version = ctx.version;
        let endpoint = templates::field("endpoint", &cfg.endpoint, version)?;
        let static_endpoint = if endpoint.is_static() {
            let url = parse_endpoint(&cfg.endpoint);
            Some(url.map_err(|m| BuildError::invalid("endpoint", m))?)
        } else {
            None
        };
        let index = templates::field("index", &cfg.index, version)?;
        let document_type = templates::field("document_type", &cfg.document_type, version)?;
        let id = templates::field("id", &cfg.id, version)?;
        for (field, text) in [
            ("index", &cfg.index),
            ("document_type", &cfg.document_type),
            ("id", &cfg.id),
        ] {
            if text.is_empty() {
                return Err(BuildError::invalid(field, "must not be empty"));
            }
        }
        cfg.delivery.check()?;
        Ok(CheckedOpenSearch {
            connection: cfg.connection,
            endpoint,
            static_endpoint,
            index,
            document_type,
            id,
            delivery: cfg.delivery,
        })
    }

    fn bind(c: CheckedOpenSearch, ctx: &ActionContext) -> Result<Arc<dyn Action>, BuildError> {
        let kind = OpenSearch::KIND;
        let delivery = Delivery::resolve(&c.delivery, DEFAULT_TIMEOUT_MS, kind, ctx)?;
        let connection = ctx.opensearch.get(&c.connection)?;
        // The AWS connection that signs: required when requests are signed, looked up when
        // that depends on the rendered endpoint, not needed otherwise.
        let aws = match sign::uses_aws(&connection, c.static_endpoint.as_ref()) {
            Some(true) => Some(ctx.aws.get(&connection.aws)?),
            Some(false) => None,
            None => ctx.aws.get(&connection.aws).ok(),
        };
        let sink = OpenSearch {
            client: ctx.http.clone(),
            connection,
            aws,
            endpoint: c.endpoint,
            index: c.index,
            document_type: c.document_type,
            id: c.id,
        };
        Ok(Delivered::action(sink, delivery))
    }
}

/// Parses a rendered endpoint: an `http` or `https` URL with a host, no query or fragment.
fn parse_endpoint(text: &str) -> Result<Url, String> {
    let expected = "expected https://<domain endpoint>, e.g. https://search-my-domain-abc123.us-east-1.es.amazonaws.com";
    let url = Url::parse(text).map_err(|e| format!("{expected}; {text:?}: {e}"))?;
    let web = matches!(url.scheme(), "http" | "https");
    if !web || url.host_str().is_none() || url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{expected}; got {text:?}"));
    }
    Ok(url)
}

struct OpenSearch {
    /// The service's shared HTTP client.
    client: reqwest::Client,
    connection: Arc<OpenSearchConnection>,
    /// The AWS connection that signs, when SigV4 may be used.
    aws: Option<Arc<AwsConnection>>,
    endpoint: Template,
    index: Template,
    document_type: Template,
    id: Template,
}

/// One rendered document request.
struct Request {
    index: String,
    url: Url,
    signer: sign::Signer,
    body: Bytes,
}

impl Sink for OpenSearch {
    type Request = Request;
    const KIND: &'static str = "opensearch";
    const AWS_NAME: &'static str = "OpenSearchAction";
    const RETRY_ON_TIMEOUT: bool = true;

    fn prepare(&self, msg: &FiredMessage) -> Result<Request, Rejected> {
        let original = msg.as_engine_message();
        let index = self.index.render(&original);
        let rejected = |message: String| Rejected {
            resource: index.clone(),
            message,
        };
        let mut url = parse_endpoint(&self.endpoint.render(&original)).map_err(rejected)?;
        let document_type = self.document_type.render(&original);
        let id = self.id.render(&original);
        for (field, value) in [
            ("index", &index),
            ("document_type", &document_type),
            ("id", &id),
        ] {
            if value.is_empty() {
                return Err(rejected(format!("{field} rendered empty")));
            }
        }
        url.path_segments_mut()
            .map_err(|()| rejected("the endpoint cannot take a path".to_owned()))?
            .pop_if_empty()
            .extend([index.as_str(), document_type.as_str(), id.as_str()]);
        let is_object =
            serde_json::from_slice::<serde_json::Value>(&msg.output).is_ok_and(|v| v.is_object());
        if !is_object {
            return Err(rejected(
                "the output is not a JSON object, which an OpenSearch document must be".to_owned(),
            ));
        }
        let signer = sign::signer(&self.connection, self.aws.as_ref(), &url).map_err(rejected)?;
        Ok(Request {
            url,
            signer,
            body: Bytes::from(msg.output.clone()),
            index,
        })
    }

    fn resource<'a>(&'a self, req: &'a Request) -> &'a str {
        &req.index
    }

    async fn send(&self, _msg: &FiredMessage, req: &Request) -> Result<(), AttemptError> {
        let auth = req.signer.headers(&req.url, &req.body).await?;
        let mut request = self
            .client
            .put(req.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(req.body.clone());
        for (name, value) in auth {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| {
            // Connection failures and timeouts: PUT with an id is safe to repeat.
            let cause = std::error::Error::source(&e).map(|s| format!(": {s}"));
            AttemptError::retryable(format!("{e}{}", cause.unwrap_or_default()))
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.bytes().await.unwrap_or_default();
        let shown = &body[..body.len().min(ERROR_BODY_BYTES)];
        let message = format!(
            "HTTP status {status}: {}",
            String::from_utf8_lossy(shown).trim()
        );
        let retryable = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
        Err(AttemptError { message, retryable })
    }
}
