//! `[mqtt.connections.<name>]`: the remote brokers the `mqtt` action publishes to (an edge
//! device's uplink to AWS IoT Core or another broker). Each gets its own [`Publisher`]
//! connection, with the same TLS, credentials and protocol settings as `[broker]`; `${env:}`
//! works in every value (for passwords), as in the other connection sections.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use rulewire_actions::{ConnectionConfig, ConnectionSection, Connections, MqttPublisher};
use serde::{Deserialize, Serialize};

use super::{Publisher, Session};
use crate::config::{BrokerConfig, Protocol};
use crate::ops::stop::CancelFlag;

/// One `[mqtt.connections.<name>]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UplinkConfig {
    /// `mqtt://host:port` or `mqtts://host:port`.
    pub url: String,
    /// Default `<broker.client_id>-<name>`. AWS IoT Core wants the thing name here.
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    /// PEM CA bundle for `mqtts://`; empty = the platform's native roots.
    #[serde(default)]
    pub ca_file: String,
    /// PEM client certificate and key (X.509 client authentication; both or neither).
    #[serde(default)]
    pub client_cert: String,
    #[serde(default)]
    pub client_key: String,
    #[serde(default)]
    pub protocol: Protocol,
    #[serde(default = "default_keep_alive")]
    pub keep_alive_secs: u64,
    /// False (the default): a persistent session, so QoS 1 publishes awaiting their PUBACK
    /// when the connection drops are sent again, in order, on reconnect.
    #[serde(default)]
    pub clean_session: bool,
    /// MQTT 5: how long the broker keeps the persistent session (AWS IoT Core: 1 hour by
    /// default, at most 7 days).
    #[serde(default = "default_session_expiry")]
    pub session_expiry_secs: u32,
}

fn default_keep_alive() -> u64 {
    30
}

fn default_session_expiry() -> u32 {
    3600
}

/// The `[mqtt]` section of `rulewire.toml`.
pub type UplinkSettings = ConnectionSection<UplinkConfig>;

impl ConnectionConfig for UplinkConfig {
    const SECTION: &'static str = "mqtt";
    type Connection = UplinkConfig;

    fn open(self) -> Result<UplinkConfig, String> {
        if !self.url.starts_with("mqtt://") && !self.url.starts_with("mqtts://") {
            return Err(format!(
                "url: must start with mqtt:// or mqtts://, got {:?}",
                self.url
            ));
        }
        if self.client_cert.is_empty() != self.client_key.is_empty() {
            return Err("client_cert and client_key must be set together".into());
        }
        Ok(self)
    }
}

/// Starts one publisher connection per configured uplink; `default_client_id` prefixes the
/// client ids not set. Bad TLS files or URLs fail here, naming the table.
pub fn start_uplinks(
    settings: &UplinkSettings,
    default_client_id: &str,
    max_packet: usize,
    stop: &CancelFlag,
) -> anyhow::Result<BTreeMap<String, Arc<dyn MqttPublisher>>> {
    let connections = Connections::open(settings)?;
    let mut publishers = BTreeMap::new();
    for name in connections.names() {
        let uplink = connections.get(&name)?;
        let client_id = if uplink.client_id.is_empty() {
            format!("{default_client_id}-{name}")
        } else {
            uplink.client_id.clone()
        };
        let broker = BrokerConfig {
            url: uplink.url.clone(),
            client_id: client_id.clone(),
            username: uplink.username.clone(),
            password: uplink.password.clone(),
            ca_file: uplink.ca_file.clone(),
            client_cert: uplink.client_cert.clone(),
            client_key: uplink.client_key.clone(),
            protocol: uplink.protocol,
            keep_alive_secs: uplink.keep_alive_secs,
            ..BrokerConfig::default()
        };
        let session = match uplink.clean_session {
            true => Session::Clean,
            false => Session::Persistent {
                expiry_secs: uplink.session_expiry_secs,
            },
        };
        let publisher = Publisher::start(
            &broker,
            &uplink.url,
            client_id,
            session,
            max_packet,
            stop.clone(),
        )
        .with_context(|| format!("[mqtt.connections.{name}]"))?;
        publishers.insert(name, publisher as Arc<dyn MqttPublisher>);
    }
    Ok(publishers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> UplinkConfig {
        let section: UplinkSettings = toml::from_str(text).unwrap();
        section.connections["cloud"].clone()
    }

    #[test]
    fn sessions_are_persistent_unless_asked_otherwise() {
        let default = parse("[connections.cloud]\nurl = \"mqtts://example:8883\"");
        assert!(!default.clean_session);
        assert_eq!(default.session_expiry_secs, 3600);
        assert_eq!(default.keep_alive_secs, 30);
        let clean = parse(
            "[connections.cloud]\nurl = \"mqtt://example:1883\"\nclean_session = true\nsession_expiry_secs = 60",
        );
        assert!(clean.clean_session);
        assert_eq!(clean.session_expiry_secs, 60);
        let refused: Result<UplinkSettings, _> =
            toml::from_str("[connections.cloud]\nurl = \"mqtt://x\"\nclean_sesion = true");
        assert!(refused.unwrap_err().to_string().contains("clean_sesion"));
    }
}
