//! The `http` action (AWS's HTTPS action, the "Lambda-style webhook"): POST the rule's output.
//!
//! The URL and header values are templates rendered against the ORIGINAL message. The
//! content type is `application/json` when the output is JSON, `application/octet-stream`
//! otherwise, unless a `content-type` header (any case) says otherwise. As AWS: 2xx is
//! success; 429, 5xx and connection errors are retried; any other status, an attempt that
//! timed out, or a connection dropped mid-request fails at once. `http://` is allowed too
//! (AWS requires https; local webhooks and tests don't).

mod config;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use bytes::Bytes;
use reqwest::{
    StatusCode, Url,
    header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue},
};
use rulewire_engine::Template;

pub use config::HttpConfig;

use crate::{
    Action, ActionContext, ActionMetrics, BuildError, DeliveryConfig, FiredMessage,
    delivery::{AttemptError, Delivered, Delivery, Rejected, Sink},
    registry::{ActionType, CheckContext},
    status_class, templates,
};

/// Default per-attempt timeout, AWS's: 3000 ms.
pub const DEFAULT_TIMEOUT_MS: u64 = 3000;

/// How much of an error response's body goes into the error message.
const ERROR_BODY_BYTES: usize = 512;

/// The http action type (AWS's `HttpAction`).
pub struct HttpAction;

/// A checked http action: URL and header templates compiled, header names valid.
pub struct CheckedHttp {
    url: Template,
    headers: Vec<(HeaderName, Template)>,
    delivery: DeliveryConfig,
}

impl ActionType for HttpAction {
    const NAME: &'static str = Http::KIND;
    type Config = HttpConfig;
    type Checked = CheckedHttp;

    fn check(cfg: HttpConfig, ctx: &CheckContext) -> Result<CheckedHttp, BuildError> {
        let version = ctx.version;
        let url = templates::field("url", &cfg.url, version)?;
        if !templates::is_templated(&cfg.url) {
            parse_url(&cfg.url).map_err(|m| BuildError::invalid("url", m))?;
        }
        let headers = cfg.headers.iter().enumerate().map(|(i, kv)| {
            let name = HeaderName::from_bytes(kv.key.as_bytes()).map_err(|_| {
                BuildError::invalid(
                    &format!("headers[{i}].key"),
                    format!("{:?} is not a valid header name", kv.key),
                )
            })?;
            let field = format!("headers[{i}].value");
            Ok((name, templates::field(&field, &kv.value, version)?))
        });
        let headers = headers.collect::<Result<_, BuildError>>()?;
        cfg.delivery.check()?;
        Ok(CheckedHttp {
            url,
            headers,
            delivery: cfg.delivery,
        })
    }

    fn bind(c: CheckedHttp, ctx: &ActionContext) -> Result<Arc<dyn Action>, BuildError> {
        let delivery = Delivery::resolve(&c.delivery, DEFAULT_TIMEOUT_MS, Http::KIND, ctx)?;
        let sink = Http {
            url: c.url,
            headers: c.headers,
            client: ctx.http.clone(),
            metrics: delivery.metrics.clone(),
        };
        Ok(Delivered::action(sink, delivery))
    }
}

/// Parses a rendered URL; only `http` and `https` are allowed.
fn parse_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("invalid URL {text:?}: {e}"))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(format!(
            "invalid URL {text:?}: scheme {other:?} is not http or https"
        )),
    }
}

struct Http {
    url: Template,
    headers: Vec<(HeaderName, Template)>,
    /// The service's shared client (connection pool).
    client: reqwest::Client,
    metrics: Arc<dyn ActionMetrics>,
}

/// One rendered POST.
struct Request {
    url_text: String,
    url: Url,
    headers: HeaderMap,
    body: Bytes,
}

impl Http {
    fn headers(&self, msg: &FiredMessage) -> Result<HeaderMap, String> {
        let original = msg.as_engine_message();
        let mut map = HeaderMap::with_capacity(self.headers.len() + 1);
        for (name, template) in &self.headers {
            let value = template.render(&original);
            let value = HeaderValue::from_str(&value).map_err(|_| {
                format!("header {name}: rendered value {value:?} is not a valid header value")
            })?;
            map.append(name.clone(), value);
        }
        if !map.contains_key(CONTENT_TYPE) {
            map.insert(
                CONTENT_TYPE,
                HeaderValue::from_static(msg.output_content_type()),
            );
        }
        Ok(map)
    }

    async fn failed_response(&self, mut response: reqwest::Response) -> AttemptError {
        let status = response.status();
        let mut body = Vec::new();
        while body.len() < ERROR_BODY_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                _ => break,
            }
        }
        body.truncate(ERROR_BODY_BYTES);
        let message = format!(
            "HTTP status {status}: {}",
            String::from_utf8_lossy(&body).trim()
        );
        let retryable = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
        AttemptError { message, retryable }
    }
}

/// `e` and its causes, `: `-separated (reqwest's own message hides the cause).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl Sink for Http {
    type Request = Request;
    const KIND: &'static str = "http";
    const AWS_NAME: &'static str = "HttpAction";
    const RETRY_ON_TIMEOUT: bool = false;

    fn prepare(&self, msg: &FiredMessage) -> Result<Request, Rejected> {
        let url_text = self.url.render(&msg.as_engine_message());
        let url = match parse_url(&url_text) {
            Ok(url) => url,
            Err(message) => {
                self.metrics.http_error("invalid_url");
                return Err(Rejected {
                    resource: url_text,
                    message,
                });
            }
        };
        match self.headers(msg) {
            Ok(headers) => Ok(Request {
                url_text,
                url,
                headers,
                body: Bytes::from(msg.output.clone()),
            }),
            Err(message) => Err(Rejected {
                resource: url_text,
                message,
            }),
        }
    }

    fn resource<'a>(&'a self, req: &'a Request) -> &'a str {
        &req.url_text
    }

    async fn send(&self, _msg: &FiredMessage, req: &Request) -> Result<(), AttemptError> {
        let sent = self
            .client
            .post(req.url.clone())
            .headers(req.headers.clone())
            .body(req.body.clone())
            .send()
            .await;
        let metrics = &self.metrics;
        match sent {
            Ok(response) => {
                metrics.http_status(status_class(response.status().as_u16()));
                if response.status().is_success() {
                    Ok(())
                } else {
                    Err(self.failed_response(response).await)
                }
            }
            Err(e) if e.is_connect() => {
                metrics.http_error("unknown_host");
                Err(AttemptError::retryable(error_chain(&e)))
            }
            Err(e) if e.is_timeout() => {
                metrics.http_error("timeout");
                Err(AttemptError::permanent(error_chain(&e)))
            }
            // The connection broke before an answer (a keep-alive connection the server
            // closed as the request went out, a server restarting): retried, since the
            // request may never have been seen (at-least-once, like a 5xx). Counted as
            // `unknown_host`, AWS's metric for a request that got no connection.
            Err(e) if e.is_request() => {
                metrics.http_error("unknown_host");
                Err(AttemptError::retryable(error_chain(&e)))
            }
            Err(e) => Err(AttemptError::permanent(error_chain(&e))),
        }
    }

    fn on_timeout(&self) {
        self.metrics.http_error("timeout");
    }
}
