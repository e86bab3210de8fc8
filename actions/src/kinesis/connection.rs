//! Named Kinesis connections: the `[kinesis.connections.<name>]` tables of `rulewire.toml`,
//! and one aws-sdk-kinesis client per connection, shared by every kinesis action.
//!
//! A connection is a region, an optional endpoint (moto, LocalStack, a VPC endpoint) and
//! optional static credentials; without them the standard AWS chain applies (environment,
//! shared profile files, web identity, ECS/EKS container credentials, instance metadata).
//! Any value may contain `${env:NAME}`, resolved when the service starts; secrets are
//! redacted from `Debug` and never logged.
//!
//! The SDK talks HTTPS through rustls with ring (no aws-lc C build), and its own retries are
//! off: the action's retry policy (only the failed records of a request) is the only one.
//! The client is built on first use, since the AWS credential chain loads asynchronously.

use std::{collections::BTreeMap, collections::HashMap, fmt, sync::Arc};

use aws_config::{BehaviorVersion, Region, retry::RetryConfig};
use aws_credential_types::Credentials;
use aws_sdk_kinesis::Client;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

/// `[kinesis]` of the service config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KinesisSettings {
    /// `[kinesis.connections.<name>]`.
    pub connections: BTreeMap<String, KinesisConnectionConfig>,
}

/// One `[kinesis.connections.<name>]` table. Empty strings mean "not set".
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KinesisConnectionConfig {
    /// AWS region; default: `AWS_REGION` / the profile's, else `us-east-1`.
    pub region: String,
    /// Endpoint override, e.g. `http://127.0.0.1:5000` (moto).
    pub endpoint_url: String,
    /// Static credentials; both empty: the standard AWS credential chain.
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
}

impl fmt::Debug for KinesisConnectionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |s: &str| if s.is_empty() { "" } else { "<redacted>" };
        f.debug_struct("KinesisConnectionConfig")
            .field("region", &self.region)
            .field("endpoint_url", &self.endpoint_url)
            .field("access_key_id", &redact(&self.access_key_id))
            .field("secret_access_key", &redact(&self.secret_access_key))
            .field("session_token", &redact(&self.session_token))
            .finish()
    }
}

/// A connection table that can't be used; the message names the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[kinesis.connections.{connection}] {message}")]
pub struct KinesisConfigError {
    pub connection: String,
    pub message: String,
}

/// One connection: its resolved settings and its client, built on first use.
pub(crate) struct Connection {
    cfg: KinesisConnectionConfig,
    client: OnceCell<Client>,
}

impl Connection {
    /// The connection's client.
    pub(crate) async fn client(&self) -> &Client {
        self.client.get_or_init(|| client(&self.cfg)).await
    }
}

/// All named connections (`ActionContext::kinesis`). The default has none.
#[derive(Default)]
pub struct KinesisConnections {
    connections: HashMap<String, Arc<Connection>>,
}

impl fmt::Debug for KinesisConnections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KinesisConnections")
            .field("names", &self.names())
            .finish()
    }
}

impl KinesisConnections {
    /// Resolves `${env:NAME}` references and validates every connection.
    pub fn from_settings(
        settings: &KinesisSettings,
    ) -> Result<KinesisConnections, KinesisConfigError> {
        Self::from_settings_with_env(settings, |name| std::env::var(name).ok())
    }

    /// `from_settings` with the environment given as a function (for tests).
    pub fn from_settings_with_env(
        settings: &KinesisSettings,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<KinesisConnections, KinesisConfigError> {
        let mut connections = HashMap::new();
        for (name, cfg) in &settings.connections {
            let err = |message: String| KinesisConfigError {
                connection: name.clone(),
                message,
            };
            let cfg = resolve(cfg, &env).map_err(err)?;
            let connection = Connection {
                cfg,
                client: OnceCell::new(),
            };
            connections.insert(name.clone(), Arc::new(connection));
        }
        Ok(KinesisConnections { connections })
    }

    /// The names of the configured connections, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.connections.keys().cloned().collect();
        names.sort();
        names
    }

    /// Connection `name`, if configured.
    pub(crate) fn get(&self, name: &str) -> Option<Arc<Connection>> {
        self.connections.get(name).cloned()
    }
}

/// Resolves `${env:}` and checks what can be checked before the first request.
fn resolve(
    cfg: &KinesisConnectionConfig,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<KinesisConnectionConfig, String> {
    let sub = |field: &str, text: &str| crate::env::substitute(field, text, env);
    let cfg = KinesisConnectionConfig {
        region: sub("region", &cfg.region)?,
        endpoint_url: sub("endpoint_url", &cfg.endpoint_url)?,
        access_key_id: sub("access_key_id", &cfg.access_key_id)?,
        secret_access_key: sub("secret_access_key", &cfg.secret_access_key)?,
        session_token: sub("session_token", &cfg.session_token)?,
    };
    if cfg.access_key_id.is_empty() != cfg.secret_access_key.is_empty() {
        return Err("access_key_id and secret_access_key must be set together".to_owned());
    }
    let url = &cfg.endpoint_url;
    if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!(
            "endpoint_url: expected http://host:port or https://..., got {url:?}"
        ));
    }
    Ok(cfg)
}

async fn client(cfg: &KinesisConnectionConfig) -> Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .retry_config(RetryConfig::disabled());
    if !cfg.region.is_empty() {
        loader = loader.region(Region::new(cfg.region.clone()));
    }
    if !cfg.endpoint_url.is_empty() {
        loader = loader.endpoint_url(cfg.endpoint_url.clone());
    }
    if !cfg.access_key_id.is_empty() {
        let token = Some(cfg.session_token.clone()).filter(|t| !t.is_empty());
        let creds = Credentials::new(
            cfg.access_key_id.clone(),
            cfg.secret_access_key.clone(),
            token,
            None,
            "rulewire.toml",
        );
        loader = loader.credentials_provider(creds);
    }
    let sdk = loader.load().await;
    let mut config = aws_sdk_kinesis::config::Builder::from(&sdk);
    if sdk.region().is_none() {
        config = config.region(Region::new("us-east-1"));
    }
    Client::from_conf(config.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> KinesisSettings {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn parses_resolves_env_and_redacts() {
        let s = settings(
            r#"
[connections.stream]
region = "eu-west-1"
endpoint_url = "http://127.0.0.1:5000"
access_key_id = "AKIAEXAMPLE"
secret_access_key = "${env:KINESIS_SECRET}"
"#,
        );
        let env = |n: &str| (n == "KINESIS_SECRET").then(|| "s3cr3t".to_owned());
        let conns = KinesisConnections::from_settings_with_env(&s, env).unwrap();
        assert_eq!(conns.names(), ["stream"]);
        let resolved = &conns.get("stream").unwrap().cfg;
        assert_eq!(resolved.secret_access_key, "s3cr3t");
        let text = format!("{resolved:?} {s:?}");
        assert!(
            !text.contains("s3cr3t") && !text.contains("AKIAEXAMPLE"),
            "{text}"
        );

        let e = KinesisConnections::from_settings_with_env(&s, |_| None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "[kinesis.connections.stream] secret_access_key: environment variable KINESIS_SECRET is not set"
        );
        let e =
            KinesisConnections::from_settings(&settings("[connections.a]\naccess_key_id = \"k\""))
                .unwrap_err();
        assert!(e.to_string().contains("must be set together"), "{e}");
        let e = KinesisConnections::from_settings(&settings(
            "[connections.a]\nendpoint_url = \"localhost:5000\"",
        ))
        .unwrap_err();
        assert!(e.to_string().contains("endpoint_url"), "{e}");
    }
}
