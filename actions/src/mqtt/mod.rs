//! The `mqtt` action (rulewire's own; AWS has none): publish the rule's output to a remote
//! MQTT broker, the connection `[mqtt.connections.<name>]` of `rulewire.toml` names (an edge
//! device's uplink to AWS IoT Core or another broker: mqtts with a client certificate).
//!
//! It takes the republish action's settings (topic template with `$$`, qos 0/1, retain, MQTT 5
//! headers) plus `connection`, and publishes on that connection instead of the local broker's.
//! One message at a time by default (`max_in_flight = 1`), so the remote broker receives a
//! rule's messages in order, also across reconnects and retries; behind a disk buffer
//! (`buffer = { type = "disk" }`) everything queued while the uplink was down is forwarded in
//! order once it is back. A higher `max_in_flight` trades that order for throughput.

use std::sync::Arc;

use serde::Deserialize;

use crate::{
    Action, ActionContext, BuildError, FiredMessage, RepublishConfig,
    delivery::{AttemptError, Delivered, Delivery, Rejected, Sink},
    registry::{ActionType, CheckContext},
    republish::{self, CheckedRepublish, Republish},
};

/// The `type = "mqtt"` table: `connection` plus every republish setting.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "toml::Table")]
pub struct MqttConfig {
    /// `[mqtt.connections.<connection>]` in `rulewire.toml`.
    pub connection: String,
    pub publish: RepublishConfig,
}

impl TryFrom<toml::Table> for MqttConfig {
    type Error = String;

    fn try_from(mut table: toml::Table) -> Result<MqttConfig, String> {
        let connection = match table.remove("connection") {
            Some(toml::Value::String(name)) => name,
            Some(_) => return Err("connection: must be a string".into()),
            None => return Err("missing field `connection`".into()),
        };
        let publish = RepublishConfig::deserialize(toml::Value::Table(table))
            .map_err(|e| e.message().to_owned())?;
        Ok(MqttConfig {
            connection,
            publish,
        })
    }
}

/// The mqtt action type.
pub struct MqttAction;

/// A checked mqtt action: the publish settings and the connection's name.
pub struct CheckedMqtt {
    connection: String,
    publish: CheckedRepublish,
}

impl ActionType for MqttAction {
    const NAME: &'static str = Uplink::KIND;
    type Config = MqttConfig;
    type Checked = CheckedMqtt;

    fn check(cfg: MqttConfig, ctx: &CheckContext) -> Result<CheckedMqtt, BuildError> {
        ctx.connections.require("mqtt", &cfg.connection)?;
        let mut publish = republish::check_publish(cfg.publish, ctx)?;
        // In order unless the rule asks for more at once.
        publish.delivery_mut().max_in_flight.get_or_insert(1);
        Ok(CheckedMqtt {
            connection: cfg.connection,
            publish,
        })
    }

    fn bind(c: CheckedMqtt, ctx: &ActionContext) -> Result<Arc<dyn Action>, BuildError> {
        let publisher = ctx.mqtt.get(&c.connection).cloned().ok_or_else(|| {
            BuildError::invalid(
                "connection",
                format!("no [mqtt.connections.{}] in rulewire.toml", c.connection),
            )
        })?;
        let delivery = Delivery::resolve(
            c.publish.delivery(),
            republish::DEFAULT_TIMEOUT_MS,
            Uplink::KIND,
            ctx,
        )?;
        Ok(Delivered::action(
            Uplink(c.publish.publisher(publisher)),
            delivery,
        ))
    }
}

/// A republish sink on a remote connection, under its own name.
struct Uplink(Republish);

impl Sink for Uplink {
    type Request = <Republish as Sink>::Request;
    const KIND: &'static str = "mqtt";
    const AWS_NAME: &'static str = "MqttAction";
    const RETRY_ON_TIMEOUT: bool = true;

    fn prepare(&self, msg: &FiredMessage) -> Result<Self::Request, Rejected> {
        self.0.prepare(msg)
    }

    fn resource<'a>(&'a self, req: &'a Self::Request) -> &'a str {
        self.0.resource(req)
    }

    async fn send(&self, msg: &FiredMessage, req: &Self::Request) -> Result<(), AttemptError> {
        self.0.send(msg, req).await
    }
}

#[cfg(test)]
mod tests;
