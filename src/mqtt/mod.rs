//! MQTT over rumqttc, MQTT 3.1.1 and 5 behind one small API: connection options from
//! `[broker]` (mqtt:// / mqtts:// with CA file and X.509 client certificate, credentials,
//! persistent session, manual acks), a normalised event stream ([`NetEvent`]), and acks,
//! subscriptions and publishes on either protocol ([`MqttClient`]), used by the demo's
//! clients. rulewire's own connections are in [`transport`] (TCP/TLS, shared),
//! [`crate::mqtt::publisher`] (republish) and [`inbound`] (ingest).

pub mod inbound;
pub mod publisher;
pub mod transport;
pub mod wire;

use std::time::Duration;

use anyhow::{Context, bail};
use rulewire_actions::FiredMessage;
use rulewire_engine::MqttProperties;
use rumqttc::v5::mqttbytes::v5 as v5b;

use crate::config::{BrokerConfig, Protocol};

/// A client handle (cheap to clone) for either protocol.
#[derive(Clone)]
pub enum MqttClient {
    V4(rumqttc::AsyncClient),
    V5(rumqttc::v5::AsyncClient),
}

/// The event loop of either protocol; poll it to drive the connection. (One per
/// connection, so the size difference between the variants does not matter.)
#[allow(clippy::large_enum_variant)]
pub enum MqttEventLoop {
    V4(rumqttc::EventLoop),
    V5(rumqttc::v5::EventLoop),
}

/// An incoming PUBLISH, kept whole so it can be acked later.
#[derive(Debug, Clone)]
pub enum IncomingPublish {
    V4(rumqttc::Publish),
    V5(v5b::Publish),
}

/// What the service needs to know from the event loop.
#[derive(Debug)]
pub enum NetEvent {
    Connected {
        session_present: bool,
    },
    Publish(IncomingPublish),
    /// A SUBACK refused one of our filters.
    SubscribeRefused(String),
    Other,
}

/// Which listener to connect to and how, resolved from `[broker]` (or the embedded broker).
#[derive(Debug, Clone)]
pub struct ConnectSpec {
    pub url: String,
    pub client_id: String,
    pub manual_acks: bool,
    pub clean_session: bool,
    /// Largest packet accepted from the broker (bigger ones break the connection).
    pub max_incoming_packet: usize,
    /// Outstanding QoS 1 messages the broker may send us (MQTT 5 receive maximum).
    pub receive_maximum: u16,
}

/// Installs ring as rustls' process-wide crypto provider (once; later calls are no-ops).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn read_file(path: &str, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading broker.{what} {path:?}"))
}

/// PEM material for `mqtts://`: the CA bundle (`ca_file`, else the platform roots) and the
/// optional client certificate and key, checked to hold PEM.
pub struct TlsMaterial {
    pub ca: Vec<u8>,
    pub client_auth: Option<(Vec<u8>, Vec<u8>)>,
}

/// Reads `[broker]`'s TLS files (both connections use the same).
pub fn tls_material(cfg: &BrokerConfig) -> anyhow::Result<TlsMaterial> {
    install_crypto_provider();
    let client_auth = if cfg.client_cert.is_empty() {
        None
    } else {
        let cert = read_file(&cfg.client_cert, "client_cert")?;
        let key = read_file(&cfg.client_key, "client_key")?;
        if !String::from_utf8_lossy(&cert).contains("-----BEGIN CERTIFICATE-----") {
            bail!(
                "broker.client_cert {:?} holds no PEM certificate",
                cfg.client_cert
            );
        }
        if !String::from_utf8_lossy(&key).contains("PRIVATE KEY-----") {
            bail!(
                "broker.client_key {:?} holds no PEM private key",
                cfg.client_key
            );
        }
        Some((cert, key))
    };
    let ca = if cfg.ca_file.is_empty() {
        system_ca_bundle()?
    } else {
        read_file(&cfg.ca_file, "ca_file")?
    };
    Ok(TlsMaterial { ca, client_auth })
}

/// TLS transport for `mqtts://` on a rumqttc connection.
fn tls_transport(cfg: &BrokerConfig) -> anyhow::Result<rumqttc::Transport> {
    let TlsMaterial { ca, client_auth } = tls_material(cfg)?;
    Ok(rumqttc::Transport::tls_with_config(
        rumqttc::TlsConfiguration::Simple {
            ca,
            alpn: None,
            client_auth,
        },
    ))
}

/// The platform's trusted roots (PEM bundle at the usual Debian, RHEL or Alpine location).
fn system_ca_bundle() -> anyhow::Result<Vec<u8>> {
    for path in [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/cert.pem",
    ] {
        if let Ok(pem) = std::fs::read(path) {
            return Ok(pem);
        }
    }
    bail!(
        "mqtts:// without broker.ca_file needs a system CA bundle (/etc/ssl/certs/ca-certificates.crt)"
    )
}

/// `(host, port, tls)` from `mqtt://host:port` / `mqtts://host:port`.
pub fn parse_url(url: &str) -> anyhow::Result<(String, u16, bool)> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("mqtts://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("mqtt://") {
        (false, r)
    } else {
        bail!("broker url {url:?} must start with mqtt:// or mqtts://");
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .with_context(|| format!("bad port in {url:?}"))?,
        ),
        None => (rest, if tls { 8883 } else { 1883 }),
    };
    if host.is_empty() {
        bail!("no host in broker url {url:?}");
    }
    Ok((host.trim_matches(['[', ']']).to_owned(), port, tls))
}

/// Builds a client and its event loop; nothing connects until the loop is polled.
pub fn connect(
    cfg: &BrokerConfig,
    spec: &ConnectSpec,
    cap: usize,
) -> anyhow::Result<(MqttClient, MqttEventLoop)> {
    let (host, port, tls) = parse_url(&spec.url)?;
    let transport = if tls { Some(tls_transport(cfg)?) } else { None };
    let keep_alive = Duration::from_secs(cfg.keep_alive_secs.max(5));
    match cfg.protocol {
        Protocol::V4 => {
            let mut o = rumqttc::MqttOptions::new(&spec.client_id, host, port);
            o.set_keep_alive(keep_alive)
                .set_clean_session(spec.clean_session)
                .set_manual_acks(spec.manual_acks)
                .set_max_packet_size(spec.max_incoming_packet, spec.max_incoming_packet)
                .set_inflight(spec.receive_maximum.max(1));
            if !cfg.username.is_empty() {
                o.set_credentials(&cfg.username, &cfg.password);
            }
            if let Some(t) = transport {
                o.set_transport(t);
            }
            let (c, mut e) = rumqttc::AsyncClient::new(o, cap);
            e.set_network_options(no_delay());
            Ok((MqttClient::V4(c), MqttEventLoop::V4(e)))
        }
        Protocol::V5 => {
            let mut o = rumqttc::v5::MqttOptions::new(&spec.client_id, host, port);
            o.set_keep_alive(keep_alive)
                .set_clean_start(spec.clean_session)
                .set_manual_acks(spec.manual_acks)
                .set_max_packet_size(Some(spec.max_incoming_packet as u32))
                .set_receive_maximum(Some(spec.receive_maximum.max(1)));
            if !spec.clean_session {
                o.set_session_expiry_interval(Some(cfg.session_expiry_secs));
            }
            if !cfg.username.is_empty() {
                o.set_credentials(&cfg.username, &cfg.password);
            }
            if let Some(t) = transport {
                o.set_transport(t);
            }
            o.set_network_options(no_delay());
            let (c, e) = rumqttc::v5::AsyncClient::new(o, cap);
            Ok((MqttClient::V5(c), MqttEventLoop::V5(e)))
        }
    }
}

/// TCP_NODELAY on: rumqttc leaves Nagle's algorithm on, which holds small packets (PUBACKs,
/// republished messages) back for up to a delayed-ACK period, ~40 ms, per hop.
pub fn no_delay() -> rumqttc::NetworkOptions {
    let mut options = rumqttc::NetworkOptions::new();
    options.set_tcp_nodelay(true);
    options
}

fn qos(q: u8) -> rumqttc::QoS {
    match q {
        0 => rumqttc::QoS::AtMostOnce,
        1 => rumqttc::QoS::AtLeastOnce,
        _ => rumqttc::QoS::ExactlyOnce,
    }
}

fn v5qos(q: u8) -> rumqttc::v5::mqttbytes::QoS {
    match q {
        0 => rumqttc::v5::mqttbytes::QoS::AtMostOnce,
        1 => rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
        _ => rumqttc::v5::mqttbytes::QoS::ExactlyOnce,
    }
}

impl MqttClient {
    pub async fn ack(&self, p: &IncomingPublish) -> anyhow::Result<()> {
        match (self, p) {
            (MqttClient::V4(c), IncomingPublish::V4(p)) => c.ack(p).await?,
            (MqttClient::V5(c), IncomingPublish::V5(p)) => c.ack(p).await?,
            _ => bail!("ack on a client of the other protocol"),
        }
        Ok(())
    }

    pub async fn subscribe(&self, filter: &str, q: u8) -> anyhow::Result<()> {
        match self {
            MqttClient::V4(c) => c.subscribe(filter, qos(q)).await?,
            MqttClient::V5(c) => c.subscribe(filter, v5qos(q)).await?,
        }
        Ok(())
    }

    pub async fn unsubscribe(&self, filter: &str) -> anyhow::Result<()> {
        match self {
            MqttClient::V4(c) => c.unsubscribe(filter).await?,
            MqttClient::V5(c) => c.unsubscribe(filter).await?,
        }
        Ok(())
    }

    /// Queues a PUBLISH; MQTT 5 carries `user_properties` (MQTT 3.1.1 has none).
    pub async fn publish(
        &self,
        topic: &str,
        q: u8,
        retain: bool,
        payload: Vec<u8>,
        user_properties: Vec<(String, String)>,
    ) -> anyhow::Result<()> {
        match self {
            MqttClient::V4(c) => c.publish(topic, qos(q), retain, payload).await?,
            MqttClient::V5(c) => {
                let props = v5b::PublishProperties {
                    user_properties,
                    ..Default::default()
                };
                c.publish_with_properties(topic, v5qos(q), retain, payload, props)
                    .await?
            }
        }
        Ok(())
    }

    pub async fn disconnect(&self) -> anyhow::Result<()> {
        match self {
            MqttClient::V4(c) => c.disconnect().await?,
            MqttClient::V5(c) => c.disconnect().await?,
        }
        Ok(())
    }
}

impl MqttEventLoop {
    /// Next event; `Err` is a connection error (the next poll reconnects).
    pub async fn poll(&mut self) -> Result<NetEvent, String> {
        match self {
            MqttEventLoop::V4(e) => {
                use rumqttc::{Event, Packet};
                match e.poll().await.map_err(describe_v4_error)? {
                    Event::Incoming(Packet::ConnAck(a)) => Ok(NetEvent::Connected {
                        session_present: a.session_present,
                    }),
                    Event::Incoming(Packet::Publish(p)) => {
                        Ok(NetEvent::Publish(IncomingPublish::V4(p)))
                    }
                    Event::Incoming(Packet::SubAck(s)) => {
                        let refused = s
                            .return_codes
                            .iter()
                            .any(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure));
                        Ok(if refused {
                            NetEvent::SubscribeRefused(format!("SUBACK {:?}", s.return_codes))
                        } else {
                            NetEvent::Other
                        })
                    }
                    _ => Ok(NetEvent::Other),
                }
            }
            MqttEventLoop::V5(e) => {
                use rumqttc::v5::Event;
                use v5b::Packet;
                match e.poll().await.map_err(|e| describe_error(&e.to_string()))? {
                    Event::Incoming(Packet::ConnAck(a)) => Ok(NetEvent::Connected {
                        session_present: a.session_present,
                    }),
                    Event::Incoming(Packet::Publish(p)) => {
                        Ok(NetEvent::Publish(IncomingPublish::V5(p)))
                    }
                    Event::Incoming(Packet::SubAck(s)) => {
                        let refused = s
                            .return_codes
                            .iter()
                            .any(|c| !matches!(c, v5b::SubscribeReasonCode::Success(_)));
                        Ok(if refused {
                            NetEvent::SubscribeRefused(format!("SUBACK {:?}", s.return_codes))
                        } else {
                            NetEvent::Other
                        })
                    }
                    _ => Ok(NetEvent::Other),
                }
            }
        }
    }
}

fn describe_v4_error(e: rumqttc::ConnectionError) -> String {
    describe_error(&e.to_string())
}

/// Adds a hint to the connection errors operators meet most (TLS client certificates).
pub(crate) fn describe_error(e: &str) -> String {
    let lower = e.to_lowercase();
    if lower.contains("certificate")
        || lower.contains("handshake")
        || lower.contains("tls")
        || lower.contains("alert")
    {
        format!(
            "{e} (TLS: check broker.ca_file, broker.client_cert and broker.client_key; the broker may have refused the client certificate)"
        )
    } else {
        e.to_owned()
    }
}

/// MQTT 5 publish properties given as `NAME=VALUE` pairs (`rulewire eval --mqtt-property`,
/// rule unit tests) as the engine reads them: `content_type`, `response_topic`,
/// `correlation_data` (base64) and `format_indicator` (`UTF8_DATA` or `UNSPECIFIED_BYTES`).
/// Any property makes it an MQTT 5 message, whose indicator defaults to 0.
pub fn engine_properties(pairs: &[(String, String)]) -> Result<MqttProperties, String> {
    use base64::Engine as _;
    let mut p = MqttProperties::default();
    for (name, value) in pairs {
        match name.as_str() {
            "content_type" => p.content_type = Some(value.clone()),
            "response_topic" => p.response_topic = Some(value.clone()),
            "correlation_data" => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(value)
                    .map_err(|_| format!("correlation_data={value:?} is not base64"))?;
                p.correlation_data = Some(bytes);
            }
            "format_indicator" => {
                p.payload_format_indicator = Some(match value.as_str() {
                    "UTF8_DATA" => 1,
                    "UNSPECIFIED_BYTES" => 0,
                    other => {
                        return Err(format!(
                            "format_indicator={other:?}: use UTF8_DATA or UNSPECIFIED_BYTES"
                        ));
                    }
                })
            }
            other => {
                return Err(format!(
                    "{other:?}: use content_type, response_topic, correlation_data or format_indicator"
                ));
            }
        }
    }
    if !pairs.is_empty() {
        p.payload_format_indicator.get_or_insert(0);
    }
    Ok(p)
}

impl IncomingPublish {
    pub fn topic(&self) -> String {
        match self {
            IncomingPublish::V4(p) => p.topic.clone(),
            IncomingPublish::V5(p) => String::from_utf8_lossy(&p.topic).into_owned(),
        }
    }

    pub fn payload_len(&self) -> usize {
        match self {
            IncomingPublish::V4(p) => p.payload.len(),
            IncomingPublish::V5(p) => p.payload.len(),
        }
    }

    pub fn qos(&self) -> u8 {
        match self {
            IncomingPublish::V4(p) => p.qos as u8,
            IncomingPublish::V5(p) => p.qos as u8,
        }
    }

    /// The packet id to acknowledge (QoS 1 and 2).
    pub fn pkid(&self) -> Option<u16> {
        let pkid = match self {
            IncomingPublish::V4(p) => p.pkid,
            IncomingPublish::V5(p) => p.pkid,
        };
        (self.qos() > 0 && pkid != 0).then_some(pkid)
    }

    /// The message as its rules and actions see it (rule name, output and trace id still
    /// to come), from `client_id`, arrived at `timestamp_ms`: its topic, payload and MQTT 5
    /// properties moved, not copied. Boxed, as the pipeline moves it (a few hundred bytes)
    /// from stage to stage.
    pub fn into_fired(self, client_id: String, timestamp_ms: i64) -> Box<FiredMessage> {
        let (topic, original_payload, user_properties, mqtt_properties) = match self {
            IncomingPublish::V4(p) => (p.topic, p.payload, Vec::new(), MqttProperties::default()),
            IncomingPublish::V5(p) => {
                let topic = String::from_utf8_lossy(&p.topic).into_owned();
                let props = p.properties.unwrap_or_default();
                let mqtt = MqttProperties {
                    content_type: props.content_type,
                    response_topic: props.response_topic,
                    correlation_data: props.correlation_data.map(|d| d.to_vec()),
                    // MQTT 5: an absent indicator means unspecified bytes (0).
                    payload_format_indicator: Some(props.payload_format_indicator.unwrap_or(0)),
                };
                (topic, p.payload, props.user_properties, mqtt)
            }
        };
        Box::new(FiredMessage {
            topic,
            client_id,
            original_payload,
            timestamp_ms,
            user_properties,
            mqtt_properties,
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("mqtt://localhost:1884").unwrap(),
            ("localhost".into(), 1884, false)
        );
        assert_eq!(
            parse_url("mqtts://b.example").unwrap(),
            ("b.example".into(), 8883, true)
        );
        assert!(parse_url("tcp://x").is_err());
        assert!(parse_url("mqtt://:1").is_err());
    }
}
