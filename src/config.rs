//! Service configuration: `rulewire.toml` parsed with serde + toml, every key defaulted, and
//! every key overridable by an environment variable `RULEWIRE_<SECTION>_<KEY>` (upper case),
//! e.g. `RULEWIRE_BROKER_URL=mqtt://broker:1883` or `RULEWIRE_BATCH_MAX_MESSAGES=500`.
//!
//! The example `rulewire.toml` at the repository root documents every key; keep it in sync.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// The whole `rulewire.toml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub broker: BrokerConfig,
    pub embedded_broker: EmbeddedBrokerConfig,
    pub rules: RulesConfig,
    pub batch: BatchConfig,
    pub limits: LimitsConfig,
    pub http: HttpConfig,
    pub actions: ActionsConfig,
    pub shutdown: ShutdownConfig,
    pub storage: StorageConfig,
    pub shadows: ShadowsConfig,
    /// `[s3.connections.<name>]`: named S3 connections for the s3 action (owned by actions).
    pub s3: rulewire_actions::S3Settings,
    /// `[kafka.connections.<name>]`: named Kafka connections for the kafka action.
    pub kafka: rulewire_actions::KafkaSettings,
    /// `[aws.connections.<name>]`: named AWS connections for the AWS SDK actions (kinesis).
    pub aws: rulewire_actions::AwsSettings,
    /// `[opensearch.connections.<name>]`: how the opensearch action authenticates.
    pub opensearch: rulewire_actions::OpenSearchSettings,
    /// `[mqtt.connections.<name>]`: remote brokers for the mqtt action.
    pub mqtt: crate::mqtt::publisher::uplink::UplinkSettings,
}

/// MQTT protocol version spoken to the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// MQTT 3.1.1.
    #[default]
    V4,
    /// MQTT 5.
    V5,
}

/// `[broker]`: the MQTT broker rulewire reads from (and republishes to).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerConfig {
    /// `mqtt://host:port` or `mqtts://host:port`; empty = start the embedded broker.
    pub url: String,
    /// Fixed client id: the broker keeps the persistent session (unacked messages) under it.
    pub client_id: String,
    pub username: String,
    pub password: String,
    /// PEM CA bundle for `mqtts://`; empty = the platform's native roots.
    pub ca_file: String,
    /// PEM client certificate and key for X.509 client authentication (both or neither).
    pub client_cert: String,
    pub client_key: String,
    pub protocol: Protocol,
    /// When set, subscriptions become `$share/<group>/<filter>` so instances split the load.
    pub shared_group: String,
    pub keep_alive_secs: u64,
    /// Keep false for at-least-once: the broker keeps unacked messages across restarts.
    pub clean_session: bool,
    /// MQTT 5 session expiry interval (seconds) when clean_session is false.
    pub session_expiry_secs: u32,
    /// Subscribe to `$aws/rules/#` for Basic Ingest.
    pub basic_ingest: bool,
    pub reconnect_min_ms: u64,
    pub reconnect_max_ms: u64,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            url: String::new(),
            client_id: "rulewire".into(),
            username: String::new(),
            password: String::new(),
            ca_file: String::new(),
            client_cert: String::new(),
            client_key: String::new(),
            protocol: Protocol::V4,
            shared_group: String::new(),
            keep_alive_secs: 30,
            clean_session: false,
            session_expiry_secs: 86_400,
            basic_ingest: true,
            reconnect_min_ms: 200,
            reconnect_max_ms: 30_000,
        }
    }
}

/// `[embedded_broker]`: the in-process broker (rmqtt), used when `broker.url` is empty.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddedBrokerConfig {
    /// The listener (MQTT 3.1, 3.1.1 and 5 on one port); rulewire's own clients use it.
    pub listen: String,
    /// A second listener, also serving every MQTT version; empty = none. (Until rulewire 0.1
    /// used rumqttd this was the MQTT 5 listener; configurations that set it keep working.)
    pub listen_v5: String,
    pub max_connections: usize,
    /// Messages the broker queues per client beyond those in flight; more are dropped and
    /// counted (`rulewire_embedded_broker_dropped_total{reason="queue_full"}`).
    pub max_queued_messages: usize,
    /// Topics with a retained message, at most; a retained message for one more topic is
    /// delivered but not kept, and counted (`...dropped_total{reason="retained_limit"}`).
    pub max_retained_messages: usize,
    /// How long a persistent session (`clean_session = false`) outlives its client's
    /// connection, and the most an MQTT 5 client may ask for: AWS IoT's persistent session
    /// expiry period (1 hour unless raised, at most 7 days).
    pub session_expiry_secs: u64,
    /// Sessions the broker holds at most, connected or persistent and offline: a client id
    /// with no session is refused (CONNACK "server unavailable") once there are this many,
    /// so a device connecting under ever new client ids cannot fill memory and disk. 0: no
    /// bound.
    pub max_sessions: usize,
    /// The device registry directory (`devices.toml`, `policies/*.json`); empty = none.
    pub devices_dir: String,
    /// Accept clients without a certificate or login from other hosts (with full access).
    /// Off by default: such clients are accepted only from loopback, and a listener on a
    /// non-loopback address needs devices with logins, or this, to start.
    pub allow_anonymous: bool,
    /// The TLS listener for devices with certificates (e.g. "0.0.0.0:8883"); empty = none.
    pub tls_listen: String,
    /// The server certificate chain and key (PEM) of the TLS listener.
    pub tls_cert: String,
    pub tls_key: String,
}

impl Default for EmbeddedBrokerConfig {
    fn default() -> Self {
        EmbeddedBrokerConfig {
            listen: "127.0.0.1:1883".into(),
            listen_v5: String::new(),
            max_connections: 10_000,
            max_queued_messages: 100_000,
            max_retained_messages: 100_000,
            session_expiry_secs: 3_600,
            max_sessions: 100_000,
            devices_dir: String::new(),
            allow_anonymous: false,
            tls_listen: String::new(),
            tls_cert: String::new(),
            tls_key: String::new(),
        }
    }
}

/// `[rules]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulesConfig {
    /// Directory of `<rule_name>.sql` files.
    pub dir: PathBuf,
    /// Reload when files change (SIGHUP always reloads).
    pub watch: bool,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            dir: PathBuf::from("rules"),
            watch: true,
        }
    }
}

/// `[batch]`: micro-batching before evaluation (per worker, then split by rule group).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatchConfig {
    pub max_messages: usize,
    /// How long a batch waits for more messages. 0 (the default) evaluates whatever is
    /// queued at once: batches still grow under load, without a latency floor when idle.
    pub max_delay_ms: u64,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_messages: 256,
            max_delay_ms: 0,
        }
    }
}

/// `[limits]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Messages read from the broker and not yet acked; at the bound rulewire stops reading.
    pub max_in_flight: usize,
    /// Larger payloads are rejected (logged, counted, acked). AWS's limit is 128 KiB.
    pub max_payload_bytes: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_in_flight: 1024,
            max_payload_bytes: 128 * 1024,
        }
    }
}

/// `[http]`: the admin server (/metrics, /healthz, /readyz, /rules).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Empty = no admin server.
    pub listen: String,
    /// Access to everything but `/healthz` and `/readyz`: `bearer:<token>` or
    /// `basic:<user>:<password>`; empty = none (keep the listener on loopback then).
    pub auth: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "127.0.0.1:9464".into(),
            auth: String::new(),
        }
    }
}

/// `[actions]`: the retry defaults of every action (per-attempt timeouts are per action type:
/// http 3 s like AWS, republish 10 s; a rule's action sets `timeout_ms` to change them).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActionsConfig {
    /// Total tries including the first (AWS's HTTP action: 1 try + 2 retries).
    pub attempts: u32,
    /// Backoff ceiling before the first retry; doubles per retry, full jitter.
    pub base_delay_ms: u64,
    /// Largest backoff ceiling.
    pub max_delay_ms: u64,
}

impl Default for ActionsConfig {
    fn default() -> Self {
        ActionsConfig {
            attempts: 3,
            base_delay_ms: 100,
            max_delay_ms: 2000,
        }
    }
}

/// `[shutdown]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShutdownConfig {
    /// How long SIGTERM/SIGINT waits for in-flight messages before exiting anyway.
    pub timeout_ms: u64,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig { timeout_ms: 10_000 }
    }
}

/// `[storage]`: everything rulewire keeps on disk (disk buffers under `<data_dir>/buffers`,
/// `shadows.redb`, the embedded broker's `retained.redb`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Relative paths are relative to the working directory. `/var/lib/rulewire` in the image.
    pub data_dir: PathBuf,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from("data"),
        }
    }
}

/// `[shadows]`: the Device Shadow service (stored in `<data_dir>/shadows.redb`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShadowsConfig {
    /// Serve shadow requests. Unset: on, unless `broker.shared_group` is set (shadows are
    /// local state: with several instances, turn them on in exactly one).
    pub enabled: Option<bool>,
    /// Limit on a shadow's `desired` + `reported` JSON after an update (AWS: 8192 bytes,
    /// raised per account on request).
    pub max_document_bytes: usize,
    /// Requests per second per thing (AWS: 20); more are answered 429. 0: no limit.
    pub requests_per_second_per_thing: usize,
    /// Requests one device connection may have waiting at once (AWS: 10); more are answered
    /// 429. Known on the embedded broker only. 0: no limit.
    pub max_in_flight_per_connection: usize,
}

impl Default for ShadowsConfig {
    fn default() -> Self {
        ShadowsConfig {
            enabled: None,
            max_document_bytes: 8192,
            requests_per_second_per_thing: 20,
            max_in_flight_per_connection: 10,
        }
    }
}

impl Config {
    /// Whether this instance serves Device Shadows (see [`ShadowsConfig::enabled`]).
    pub fn shadows_enabled(&self) -> bool {
        self.shadows
            .enabled
            .unwrap_or(self.broker.shared_group.is_empty())
    }

    /// Loads `path` (a missing file is an error only when `required`), then applies env overrides.
    pub fn load(path: &Path, required: bool) -> anyhow::Result<Config> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => String::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Config::from_toml_and_env(&text, |k| std::env::var(k).ok())
            .with_context(|| format!("in {}", path.display()))
    }

    /// Parses TOML text, then overrides each key from `env(RULEWIRE_<SECTION>_<KEY>)`.
    pub fn from_toml_and_env(
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Config> {
        let mut table: toml::Table = toml::from_str(text)?;
        let s3_connections = table
            .get("s3")
            .and_then(|s| s.get("connections"))
            .and_then(|c| c.as_table());
        for (name, conn) in s3_connections.into_iter().flatten() {
            let moved = [
                "region",
                "endpoint",
                "endpoint_url",
                "access_key_id",
                "secret_access_key",
                "session_token",
                "allow_http",
            ];
            if let Some(key) = moved.iter().find(|k| conn.get(**k).is_some()) {
                bail!(
                    "[s3.connections.{name}] {key}: AWS settings now live in [aws.connections.<aws>], \
                     shared by every AWS action; name it with aws = \"<aws>\" (default: \"default\")"
                );
            }
        }
        if table.contains_key("kinesis") {
            bail!(
                "[kinesis.connections.*] is now [aws.connections.*]: one AWS connection block \
                 shared by every AWS action (same keys; `endpoint_url` is still accepted)"
            );
        }
        let defaults = toml::Table::try_from(Config::default())?;
        for (section, keys) in &defaults {
            let Some(keys) = keys.as_table() else {
                continue;
            };
            for key in keys.keys() {
                let var = format!("RULEWIRE_{}_{}", section, key).to_uppercase();
                let Some(raw) = env(&var) else { continue };
                let value = parse_env_value(&raw);
                let entry = table
                    .entry(section.clone())
                    .or_insert_with(|| toml::Value::Table(Default::default()));
                let Some(entry) = entry.as_table_mut() else {
                    bail!("[{section}] is not a table")
                };
                entry.insert(key.clone(), value);
            }
        }
        let config: Config = toml::Value::Table(table).try_into()?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        let url = &self.broker.url;
        if !url.is_empty() && !url.starts_with("mqtt://") && !url.starts_with("mqtts://") {
            bail!("broker.url must start with mqtt:// or mqtts://, got {url:?}");
        }
        if self.broker.client_cert.is_empty() != self.broker.client_key.is_empty() {
            bail!("broker.client_cert and broker.client_key must be set together");
        }
        if self.batch.max_messages == 0 || self.limits.max_in_flight == 0 {
            bail!("batch.max_messages and limits.max_in_flight must be at least 1");
        }
        if self.embedded_broker.session_expiry_secs == 0 {
            bail!(
                "embedded_broker.session_expiry_secs must be at least 1 (AWS IoT's default is 3600; for no persistent sessions, let clients connect with clean_session = true)"
            );
        }
        Ok(())
    }

    /// True when rulewire must start its own broker.
    pub fn uses_embedded_broker(&self) -> bool {
        self.broker.url.is_empty()
    }
}

/// An env value is read as a TOML value when it parses as one (numbers, booleans, quoted
/// strings), otherwise as a bare string (`mqtt://x:1883`).
fn parse_env_value(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match toml::from_str::<toml::Table>(&doc) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.into())),
        Err(_) => toml::Value::String(raw.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example at the repository root is what `rulewire run` (and the README's first
    /// command) reads; it must load, and document the embedded broker with its defaults.
    #[test]
    fn the_example_rulewire_toml_loads_with_the_defaults() {
        let c = Config::from_toml_and_env(include_str!("../rulewire.toml"), |_| None).unwrap();
        let d = Config::default();
        let (e, de) = (&c.embedded_broker, &d.embedded_broker);
        assert_eq!(
            (
                e.listen.as_str(),
                e.max_queued_messages,
                e.max_retained_messages,
                e.allow_anonymous
            ),
            (
                de.listen.as_str(),
                de.max_queued_messages,
                de.max_retained_messages,
                de.allow_anonymous
            )
        );
        assert_eq!(
            (
                e.devices_dir.as_str(),
                e.tls_listen.as_str(),
                e.session_expiry_secs
            ),
            (
                de.devices_dir.as_str(),
                de.tls_listen.as_str(),
                de.session_expiry_secs
            )
        );
    }

    #[test]
    fn a_zero_session_expiry_is_refused() {
        let e = Config::from_toml_and_env("[embedded_broker]\nsession_expiry_secs = 0\n", |_| None)
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("session_expiry_secs must be at least 1"),
            "{e}"
        );
    }

    #[test]
    fn defaults_and_env_overrides() {
        let c = Config::from_toml_and_env("[batch]\nmax_messages = 7\n", |k| match k {
            "RULEWIRE_BROKER_URL" => Some("mqtt://h:1".into()),
            "RULEWIRE_BATCH_MAX_DELAY_MS" => Some("9".into()),
            "RULEWIRE_EMBEDDED_BROKER_LISTEN" => Some("0.0.0.0:1".into()),
            "RULEWIRE_BROKER_PROTOCOL" => Some("v5".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.broker.url, "mqtt://h:1");
        assert_eq!(c.batch.max_messages, 7);
        assert_eq!(c.batch.max_delay_ms, 9);
        assert_eq!(c.embedded_broker.listen, "0.0.0.0:1");
        assert_eq!(c.broker.protocol, Protocol::V5);
        assert_eq!(c.limits.max_payload_bytes, 131072);
    }

    /// S3 connections name an AWS connection; the AWS keys they used to hold are refused
    /// with a pointer to the new place.
    #[test]
    fn s3_connections_point_old_aws_keys_to_the_aws_block() {
        let c = Config::from_toml_and_env(
            "[s3.connections.lake]\nurl = \"s3://\"\naws = \"prod\"\n",
            |_| None,
        )
        .unwrap();
        assert_eq!(c.s3.connections["lake"].aws, "prod");
        let e = Config::from_toml_and_env(
            "[s3.connections.lake]\nurl = \"s3://\"\nendpoint = \"http://minio:9000\"\n",
            |_| None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with(
                "[s3.connections.lake] endpoint: AWS settings now live in [aws.connections"
            ),
            "{e}"
        );
    }

    /// One AWS connection block: `[aws.connections.*]` parses (with `endpoint_url` as an alias
    /// of `endpoint`), and the section it replaced is refused with a pointer to it.
    #[test]
    fn aws_connections_replace_the_kinesis_section() {
        let c = Config::from_toml_and_env(
            "[aws.connections.moto]\nregion = \"us-east-1\"\nendpoint_url = \"http://127.0.0.1:5000\"\n",
            |_| None,
        )
        .unwrap();
        assert_eq!(c.aws.connections["moto"].endpoint, "http://127.0.0.1:5000");
        let e = Config::from_toml_and_env("[kinesis.connections.a]\nregion = \"x\"\n", |_| None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is now [aws.connections.*]"), "{e}");
    }

    #[test]
    fn unknown_keys_are_errors() {
        assert!(Config::from_toml_and_env("[broker]\nurll = 1\n", |_| None).is_err());
        assert!(Config::from_toml_and_env("[broker]\nurl = \"http://x\"\n", |_| None).is_err());
    }
}
