//! Named Kafka connections: the `[kafka.connections.<name>]` tables of `rulewire.toml`, and
//! the producers shared by every kafka action that names one.
//!
//! A connection is `bootstrap_servers` plus any librdkafka client property in `properties`
//! (TLS, SASL, `message.timeout.ms`, `linger.ms`...), passed through unchanged. Any value may
//! contain `${env:NAME}`, resolved when the service starts; property values are never logged
//! (`Debug` shows only their names). rulewire's defaults, which `properties` may override:
//! `acks=all`, `enable.idempotence=true`, `client.id=rulewire`.
//!
//! Producers are created when the service starts (one per connection; one more per distinct
//! `compression` a rule asks for, since librdkafka sets compression per producer), so a
//! property librdkafka rejects, or a feature this build lacks (`sasl.mechanisms=GSSAPI`),
//! fails at startup with librdkafka's own message. A producer that hits a fatal error
//! (idempotence state lost) is replaced by a fresh one for the next messages.

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    sync::{Arc, Mutex, RwLock},
    time::Duration,
};

use rdkafka::{ClientConfig, producer::FutureProducer, producer::Producer};
use serde::{Deserialize, Serialize};

use super::config::Compression;
use crate::connections::{ConnectionConfig, ConnectionSection};

/// librdkafka's default `message.timeout.ms`: how long it retries one record.
const LIBRDKAFKA_MESSAGE_TIMEOUT_MS: u64 = 300_000;

/// `[kafka]` of the service config.
pub type KafkaSettings = ConnectionSection<KafkaConnectionConfig>;

/// One `[kafka.connections.<name>]` table.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConnectionConfig {
    /// `host:port[,host:port...]` (librdkafka's `bootstrap.servers`).
    pub bootstrap_servers: String,
    /// librdkafka client properties, passed through (`"security.protocol" = "SASL_SSL"`).
    pub properties: BTreeMap<String, String>,
}

impl fmt::Debug for KafkaConnectionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&String> = self.properties.keys().collect();
        f.debug_struct("KafkaConnectionConfig")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("properties (values redacted)", &names)
            .finish()
    }
}

impl ConnectionConfig for KafkaConnectionConfig {
    const SECTION: &'static str = "kafka";
    type Connection = KafkaConnection;

    /// Builds librdkafka's configuration and creates the connection's first producer, so a
    /// property librdkafka rejects fails now.
    fn open(self) -> Result<KafkaConnection, String> {
        let connection = KafkaConnection {
            config: client_config(&self)?,
            producers: Mutex::default(),
        };
        connection.producer(None)?;
        Ok(connection)
    }
}

/// A producer that is replaced when librdkafka reports a fatal error on it.
pub(crate) struct SharedProducer {
    config: ClientConfig,
    current: RwLock<Arc<FutureProducer>>,
    /// How long librdkafka retries one record (`message.timeout.ms`).
    pub message_timeout: Duration,
}

impl SharedProducer {
    fn create(config: ClientConfig) -> Result<SharedProducer, String> {
        let producer: FutureProducer = config.create().map_err(|e| e.to_string())?;
        let timeout_ms = config
            .get("message.timeout.ms")
            .or_else(|| config.get("delivery.timeout.ms"))
            .map(|v| v.parse::<u64>())
            .transpose()
            .map_err(|e| format!("message.timeout.ms: {e}"))?
            .unwrap_or(LIBRDKAFKA_MESSAGE_TIMEOUT_MS);
        Ok(SharedProducer {
            config,
            current: RwLock::new(Arc::new(producer)),
            message_timeout: Duration::from_millis(timeout_ms),
        })
    }

    /// The producer to send with now.
    pub(crate) fn get(&self) -> Arc<FutureProducer> {
        self.current.read().expect("producer lock").clone()
    }

    /// After a failed send on `used`: if it is in a fatal state, replaces it (once).
    pub(crate) fn recover(&self, used: &Arc<FutureProducer>) {
        let Some((code, reason)) = used.client().fatal_error() else {
            return;
        };
        let mut current = self.current.write().expect("producer lock");
        if !Arc::ptr_eq(&current, used) {
            return; // another task replaced it already
        }
        match self.config.create::<FutureProducer>() {
            Ok(fresh) => {
                tracing::warn!(?code, %reason, "kafka producer hit a fatal error; replaced it");
                *current = Arc::new(fresh);
            }
            Err(e) => {
                tracing::error!(%e, "kafka producer hit a fatal error and can't be recreated")
            }
        }
    }
}

/// One open connection: librdkafka's configuration and its producers, one per compression.
pub struct KafkaConnection {
    config: ClientConfig,
    producers: Mutex<HashMap<Option<Compression>, Arc<SharedProducer>>>,
}

impl KafkaConnection {
    /// The shared producer with `compression` (created on first use).
    pub(crate) fn producer(
        &self,
        compression: Option<Compression>,
    ) -> Result<Arc<SharedProducer>, String> {
        let mut producers = self.producers.lock().expect("producers lock");
        if let Some(p) = producers.get(&compression) {
            return Ok(p.clone());
        }
        let mut config = self.config.clone();
        if let Some(c) = compression {
            config.set("compression.type", c.as_str());
        }
        let producer = Arc::new(SharedProducer::create(config)?);
        producers.insert(compression, producer.clone());
        Ok(producer)
    }
}

/// librdkafka's configuration for one connection: defaults, then the table's properties.
fn client_config(cfg: &KafkaConnectionConfig) -> Result<ClientConfig, String> {
    let servers = cfg.bootstrap_servers.clone();
    if servers.trim().is_empty() {
        return Err("bootstrap_servers: must not be empty".to_owned());
    }
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", servers)
        .set("client.id", "rulewire")
        .set("acks", "all")
        .set("enable.idempotence", "true");
    for (key, value) in &cfg.properties {
        if key == "bootstrap.servers" {
            return Err("properties: set bootstrap_servers, not \"bootstrap.servers\"".to_owned());
        }
        config.set(key, value);
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connections::Connections;

    fn settings(text: &str) -> KafkaSettings {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn parses_resolves_env_and_applies_defaults() {
        let s = settings(
            r#"
[connections.events]
bootstrap_servers = "${env:KAFKA_HOST}:9092"
properties = { "sasl.password" = "${env:KAFKA_PW}", "acks" = "1", "enable.idempotence" = "false", "message.timeout.ms" = "5000" }
"#,
        );
        let env = |n: &str| match n {
            "KAFKA_HOST" => Some("127.0.0.1".to_owned()),
            "KAFKA_PW" => Some("hunter2".to_owned()),
            _ => None,
        };
        let conns = Connections::open_with_env(&s, env).unwrap();
        let c = &conns.get("events").unwrap().config;
        assert_eq!(c.get("bootstrap.servers"), Some("127.0.0.1:9092"));
        assert_eq!(c.get("sasl.password"), Some("hunter2"));
        assert_eq!(c.get("acks"), Some("1"), "properties override the defaults");
        assert_eq!(c.get("enable.idempotence"), Some("false"));
        assert_eq!(
            c.get("client.id"),
            Some("rulewire"),
            "defaults stay where not overridden"
        );

        assert_eq!(conns.names(), ["events"]);
        let events = conns.get("events").unwrap();
        let p = events.producer(Some(Compression::Lz4)).unwrap();
        assert_eq!(p.message_timeout, Duration::from_millis(5000));
        assert!(Arc::ptr_eq(
            &p,
            &events.producer(Some(Compression::Lz4)).unwrap()
        ));

        let e = Connections::open_with_env(&s, |_| None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "[kafka.connections.events] bootstrap_servers: environment variable KAFKA_HOST is not set"
        );
    }

    #[test]
    fn debug_never_shows_property_values() {
        let s = settings(
            "[connections.a]\nbootstrap_servers = \"h:1\"\nproperties = { \"sasl.password\" = \"hunter2\" }",
        );
        let text = format!("{s:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("sasl.password"), "{text}");
    }

    #[test]
    fn bad_connections_fail_at_load_with_librdkafka_messages() {
        let check = |text: &str, expected: &str| {
            let e = Connections::open_with_env(&settings(text), |_| None)
                .unwrap_err()
                .to_string();
            assert!(e.contains(expected), "{e}");
        };
        check(
            "[connections.a]\nbootstrap_servers = \"\"",
            "must not be empty",
        );
        check(
            "[connections.a]\nbootstrap_servers = \"h:1\"\nproperties = { \"bootstrap.servers\" = \"x\" }",
            "set bootstrap_servers",
        );
        check(
            "[connections.a]\nbootstrap_servers = \"h:1\"\nproperties = { \"no.such.property\" = \"1\" }",
            "No such configuration property",
        );
        // TLS and SASL SCRAM are compiled in (librdkafka against OpenSSL): this loads.
        let tls: KafkaSettings = settings(
            "[connections.a]\nbootstrap_servers = \"h:9093\"\nproperties = { \"security.protocol\" = \"SASL_SSL\", \"sasl.mechanisms\" = \"SCRAM-SHA-512\", \"sasl.username\" = \"u\", \"sasl.password\" = \"p\" }",
        );
        Connections::open_with_env(&tls, |_| None).expect("TLS + SCRAM supported");
        // This build has no cyrus-sasl: GSSAPI (Kerberos) is refused at startup, loudly.
        check(
            "[connections.a]\nbootstrap_servers = \"h:1\"\nproperties = { \"security.protocol\" = \"SASL_PLAINTEXT\", \"sasl.mechanisms\" = \"GSSAPI\" }",
            "GSSAPI",
        );
        assert!(toml::from_str::<KafkaSettings>("[connections.a]\nbootstrap = \"x\"").is_err());
    }
}
