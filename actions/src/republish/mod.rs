//! The `republish` action: publish the rule's output to an MQTT topic.
//!
//! The topic and the MQTT 5 headers ([`headers`]: user properties, content type, correlation
//! data, message expiry, payload format indicator, response topic) are templates rendered
//! against the ORIGINAL message. A leading `$$` in the topic is AWS's escape for reserved topics: `$$aws/things/x`
//! publishes to `$aws/things/x`. A topic that renders empty, with a wildcard (`+`, `#`) or a
//! NUL, or over AWS IoT Core's limits (256 bytes, 7 slashes) is a permanent failure, reported
//! for the error action; publish errors are retried.

mod config;
mod headers;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use rulewire_engine::topic_limits::topic_over_limits;
use rulewire_engine::{SqlVersion, Template};

pub use config::RepublishConfig;

use crate::{
    Action, ActionContext, BuildError, DeliveryConfig, FiredMessage, MqttPublisher,
    PublishProperties,
    delivery::{AttemptError, Delivered, Delivery, Rejected, Sink},
    registry::{ActionType, CheckContext},
    templates,
};
use headers::Headers;

/// Default per-attempt timeout: until the broker's PUBACK for QoS 1.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;

/// The republish action type (AWS's `RepublishAction`).
pub struct RepublishAction;

/// A checked republish action: templates compiled, waiting for the service's publisher.
pub struct CheckedRepublish {
    topic: TopicTemplate,
    qos: u8,
    retain: bool,
    headers: Headers,
    delivery: DeliveryConfig,
}

impl ActionType for RepublishAction {
    const NAME: &'static str = Republish::KIND;
    type Config = RepublishConfig;
    type Checked = CheckedRepublish;

    fn check(cfg: RepublishConfig, ctx: &CheckContext) -> Result<CheckedRepublish, BuildError> {
        check_publish(cfg, ctx)
    }

    fn bind(c: CheckedRepublish, ctx: &ActionContext) -> Result<Arc<dyn Action>, BuildError> {
        let delivery = Delivery::resolve(&c.delivery, DEFAULT_TIMEOUT_MS, Republish::KIND, ctx)?;
        Ok(Delivered::action(
            c.publisher(ctx.publisher.clone()),
            delivery,
        ))
    }
}

/// Checks a republish table (also the `mqtt` action's publish settings).
pub(crate) fn check_publish(
    cfg: RepublishConfig,
    ctx: &CheckContext,
) -> Result<CheckedRepublish, BuildError> {
    if cfg.qos > 1 {
        return Err(BuildError::invalid(
            "qos",
            format!("must be 0 or 1, not {}", cfg.qos),
        ));
    }
    cfg.delivery.check()?;
    Ok(CheckedRepublish {
        topic: TopicTemplate::parse(&cfg.topic, ctx.version)?,
        qos: cfg.qos,
        retain: cfg.retain,
        headers: Headers::compile(&cfg, ctx.version)?,
        delivery: cfg.delivery,
    })
}

impl CheckedRepublish {
    /// The delivery settings (the `mqtt` action changes its default in-flight bound).
    pub(crate) fn delivery_mut(&mut self) -> &mut DeliveryConfig {
        &mut self.delivery
    }

    pub(crate) fn delivery(&self) -> &DeliveryConfig {
        &self.delivery
    }

    /// The sink publishing through `publisher`.
    pub(crate) fn publisher(self, publisher: Arc<dyn MqttPublisher>) -> Republish {
        Republish {
            topic: self.topic,
            qos: self.qos,
            retain: self.retain,
            headers: self.headers,
            publisher,
        }
    }
}

/// A topic template with AWS's `$$` escape for reserved topics.
#[derive(Debug, Clone)]
struct TopicTemplate {
    /// The text started with `$$`: the rendered topic gets a leading `$`.
    reserved: bool,
    template: Template,
}

impl TopicTemplate {
    fn parse(text: &str, version: SqlVersion) -> Result<TopicTemplate, BuildError> {
        let (reserved, rest) = match text.strip_prefix("$$") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let template = templates::field("topic", rest, version)?;
        let parsed = TopicTemplate { reserved, template };
        if !templates::is_templated(rest) {
            // A literal topic can be checked now rather than on every message.
            check_topic(&parsed.assemble(rest.to_owned()))
                .map_err(|m| BuildError::invalid("topic", m))?;
        }
        Ok(parsed)
    }

    fn render(&self, msg: &FiredMessage) -> String {
        self.assemble(self.template.render(&msg.as_engine_message()))
    }

    fn assemble(&self, rendered: String) -> String {
        if self.reserved {
            format!("${rendered}")
        } else {
            rendered
        }
    }
}

/// Why `topic` can't be published to, if it can't: MQTT's rules (non-empty, no wildcards, no
/// NUL) and AWS IoT Core's limits (256 bytes, 7 slashes), which AWS's broker applies to a
/// republish too.
fn check_topic(topic: &str) -> Result<(), String> {
    if topic.is_empty() {
        Err("the topic rendered empty".to_owned())
    } else if let Some(why) = topic_over_limits(topic) {
        Err(format!("the topic has {why}"))
    } else if topic.contains(['+', '#']) {
        Err(format!("the topic {topic:?} contains a wildcard (+ or #)"))
    } else if topic.contains('\0') {
        Err(format!("the topic {topic:?} contains a NUL character"))
    } else {
        Ok(())
    }
}

/// Publishes rendered messages through one MQTT connection.
pub(crate) struct Republish {
    topic: TopicTemplate,
    qos: u8,
    retain: bool,
    headers: Headers,
    publisher: Arc<dyn MqttPublisher>,
}

/// One rendered publish.
pub(crate) struct Request {
    topic: String,
    properties: PublishProperties,
}

impl Sink for Republish {
    type Request = Request;
    const KIND: &'static str = "republish";
    const AWS_NAME: &'static str = "RepublishAction";
    const RETRY_ON_TIMEOUT: bool = true;

    fn prepare(&self, msg: &FiredMessage) -> Result<Request, Rejected> {
        let topic = self.topic.render(msg);
        if let Err(message) = check_topic(&topic) {
            return Err(Rejected {
                resource: topic,
                message,
            });
        }
        let properties = self
            .headers
            .render(&msg.as_engine_message())
            .map_err(|message| Rejected {
                resource: topic.clone(),
                message,
            })?;
        Ok(Request { topic, properties })
    }

    fn resource<'a>(&'a self, req: &'a Request) -> &'a str {
        &req.topic
    }

    async fn send(&self, msg: &FiredMessage, req: &Request) -> Result<(), AttemptError> {
        let publish = self.publisher.publish(
            req.topic.clone(),
            self.qos,
            self.retain,
            msg.output.clone(),
            req.properties.clone(),
        );
        publish
            .await
            .map_err(|e| AttemptError::retryable(format!("publish to {:?} failed: {e}", req.topic)))
    }
}
