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

/// librdkafka's default `message.timeout.ms`: how long it retries one record.
const LIBRDKAFKA_MESSAGE_TIMEOUT_MS: u64 = 300_000;

/// `[kafka]` of the service config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaSettings {
    /// `[kafka.connections.<name>]`.
    pub connections: BTreeMap<String, KafkaConnectionConfig>,
}

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

/// A connection table that can't be used; the message names the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[kafka.connections.{connection}] {message}")]
pub struct KafkaConfigError {
    pub connection: String,
    pub message: String,
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

/// A producer per (connection, compression).
type ProducerKey = (String, Option<Compression>);

/// All named connections and their producers (`ActionContext::kafka`). The default has none.
#[derive(Default)]
pub struct KafkaConnections {
    configs: HashMap<String, ClientConfig>,
    producers: Mutex<HashMap<ProducerKey, Arc<SharedProducer>>>,
}

impl fmt::Debug for KafkaConnections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaConnections")
            .field("names", &self.names())
            .finish()
    }
}

impl KafkaConnections {
    /// Resolves `${env:NAME}` references and creates one producer per connection.
    pub fn from_settings(settings: &KafkaSettings) -> Result<KafkaConnections, KafkaConfigError> {
        Self::from_settings_with_env(settings, |name| std::env::var(name).ok())
    }

    /// `from_settings` with the environment given as a function (for tests).
    pub fn from_settings_with_env(
        settings: &KafkaSettings,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<KafkaConnections, KafkaConfigError> {
        let mut conns = KafkaConnections::default();
        for (name, cfg) in &settings.connections {
            let err = |message: String| KafkaConfigError {
                connection: name.clone(),
                message,
            };
            let config = client_config(cfg, &env).map_err(err)?;
            conns.configs.insert(name.clone(), config);
            conns.producer(name, None).map_err(err)?;
        }
        Ok(conns)
    }

    /// The names of the configured connections, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.configs.keys().cloned().collect();
        names.sort();
        names
    }

    /// The shared producer of connection `name` with `compression` (created on first use).
    pub(crate) fn producer(
        &self,
        name: &str,
        compression: Option<Compression>,
    ) -> Result<Arc<SharedProducer>, String> {
        let key = (name.to_owned(), compression);
        let mut producers = self.producers.lock().expect("producers lock");
        if let Some(p) = producers.get(&key) {
            return Ok(p.clone());
        }
        let mut config = self
            .configs
            .get(name)
            .ok_or_else(|| format!("no Kafka connection named {name:?} is configured"))?
            .clone();
        if let Some(c) = compression {
            config.set("compression.type", c.as_str());
        }
        let producer = Arc::new(SharedProducer::create(config)?);
        producers.insert(key, producer.clone());
        Ok(producer)
    }
}

/// librdkafka's configuration for one connection: defaults, then the table's properties.
fn client_config(
    cfg: &KafkaConnectionConfig,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<ClientConfig, String> {
    let servers = crate::env::substitute("bootstrap_servers", &cfg.bootstrap_servers, env)?;
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
        let value = crate::env::substitute(&format!("properties.{key:?}"), value, env)?;
        config.set(key, value);
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let c = client_config(&s.connections["events"], &env).unwrap();
        assert_eq!(c.get("bootstrap.servers"), Some("127.0.0.1:9092"));
        assert_eq!(c.get("sasl.password"), Some("hunter2"));
        assert_eq!(c.get("acks"), Some("1"), "properties override the defaults");
        assert_eq!(c.get("enable.idempotence"), Some("false"));
        assert_eq!(
            c.get("client.id"),
            Some("rulewire"),
            "defaults stay where not overridden"
        );

        let conns = KafkaConnections::from_settings_with_env(&s, env).unwrap();
        assert_eq!(conns.names(), ["events"]);
        let p = conns.producer("events", Some(Compression::Lz4)).unwrap();
        assert_eq!(p.message_timeout, Duration::from_millis(5000));
        assert!(Arc::ptr_eq(
            &p,
            &conns.producer("events", Some(Compression::Lz4)).unwrap()
        ));

        let e = KafkaConnections::from_settings_with_env(&s, |_| None).unwrap_err();
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
            let e = KafkaConnections::from_settings_with_env(&settings(text), |_| None)
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
        KafkaConnections::from_settings_with_env(&tls, |_| None).expect("TLS + SCRAM supported");
        // This build has no cyrus-sasl: GSSAPI (Kerberos) is refused at startup, loudly.
        check(
            "[connections.a]\nbootstrap_servers = \"h:1\"\nproperties = { \"security.protocol\" = \"SASL_PLAINTEXT\", \"sasl.mechanisms\" = \"GSSAPI\" }",
            "GSSAPI",
        );
        assert!(toml::from_str::<KafkaSettings>("[connections.a]\nbootstrap = \"x\"").is_err());
    }
}
