//! Named OpenSearch connections: the `[opensearch.connections.<name>]` tables of
//! `rulewire.toml`, which say how the opensearch action authenticates, so rule files name a
//! connection and never hold a secret.
//!
//! ```toml
//! [opensearch.connections.logs]     # a self-managed cluster
//! username = "rulewire"
//! password = "${env:OPENSEARCH_PASSWORD}"
//!
//! [opensearch.connections.domain]   # an AWS domain, signed with an AWS connection
//! aws = "prod"                      # [aws.connections.prod]; default "default"
//! ```
//!
//! `auth` picks the scheme: `auto` (the default) signs requests to AWS hosts
//! (`*.amazonaws.com`, `*.amazonaws.com.cn`) with SigV4, sends HTTP basic auth elsewhere when a
//! `username` is set, and nothing otherwise; `sigv4`, `basic` and `none` force one (SigV4
//! through a VPC endpoint or a proxy, say). SigV4 signs for service `es`, or `aoss` for
//! OpenSearch Serverless hosts (`*.aoss.amazonaws.com`), in the region the host names; `service`
//! and `region` override both. Without a configured `default`, `default` is `auto` with the AWS
//! connection `default`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{
    AwsSettings, ConnectionError,
    connections::{ConnectionConfig, ConnectionSection},
};

/// `[opensearch]` of the service config.
pub type OpenSearchSettings = ConnectionSection<OpenSearchConnectionConfig>;

/// How requests of a connection authenticate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// SigV4 for AWS hosts, basic auth when a username is set, else none.
    #[default]
    Auto,
    /// Always SigV4 with the AWS connection's credentials.
    Sigv4,
    /// Always HTTP basic auth.
    Basic,
    /// No authentication.
    None,
}

/// One `[opensearch.connections.<name>]` table. Empty strings mean "not set".
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenSearchConnectionConfig {
    /// `auto` (default), `sigv4`, `basic` or `none`.
    pub auth: AuthMode,
    /// SigV4: the `[aws.connections.<name>]` whose credentials sign; default `default`.
    pub aws: String,
    /// SigV4: the signing service, `es` or `aoss`; default from the host (`aoss` for
    /// `*.aoss.amazonaws.com`, else `es`).
    pub service: String,
    /// SigV4: the signing region; default the host's, else the AWS connection's.
    pub region: String,
    /// Basic auth.
    pub username: String,
    pub password: String,
}

impl fmt::Debug for OpenSearchConnectionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let password = if self.password.is_empty() {
            ""
        } else {
            "<redacted>"
        };
        f.debug_struct("OpenSearchConnectionConfig")
            .field("auth", &self.auth)
            .field("aws", &self.aws)
            .field("service", &self.service)
            .field("region", &self.region)
            .field("username", &self.username)
            .field("password", &password)
            .finish()
    }
}

/// One open OpenSearch connection: its checked settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSearchConnection {
    pub(crate) auth: AuthMode,
    /// The AWS connection that signs (SigV4).
    pub(crate) aws: String,
    /// `None`: from the host.
    pub(crate) service: Option<String>,
    /// `None`: from the host, else the AWS connection's.
    pub(crate) region: Option<String>,
    /// Basic auth: (username, password).
    pub(crate) basic: Option<(String, String)>,
}

impl ConnectionConfig for OpenSearchConnectionConfig {
    const SECTION: &'static str = "opensearch";
    type Connection = OpenSearchConnection;

    /// `default`: `auto` with the AWS connection `default`.
    fn implicit_default() -> Option<Self> {
        Some(OpenSearchConnectionConfig::default())
    }

    fn open(self) -> Result<OpenSearchConnection, String> {
        let has_basic = !self.username.is_empty() || !self.password.is_empty();
        if has_basic && self.username.is_empty() {
            return Err("password needs a username".to_owned());
        }
        let sigv4_only = [
            ("aws", &self.aws),
            ("service", &self.service),
            ("region", &self.region),
        ];
        let conflict = match self.auth {
            AuthMode::Basic if !has_basic => Some("auth = \"basic\" needs username and password"),
            AuthMode::Sigv4 if has_basic => {
                Some("username and password are for basic auth, not auth = \"sigv4\"")
            }
            AuthMode::None if has_basic => {
                Some("username and password are for basic auth, not auth = \"none\"")
            }
            _ => None,
        };
        if let Some(message) = conflict {
            return Err(message.to_owned());
        }
        let unsigned = match self.auth {
            AuthMode::Basic => Some("basic"),
            AuthMode::None => Some("none"),
            AuthMode::Auto | AuthMode::Sigv4 => None,
        };
        if let Some(mode) = unsigned
            && let Some((field, _)) = sigv4_only.iter().find(|(_, v)| !v.is_empty())
        {
            return Err(format!(
                "{field} is for SigV4, which auth = \"{mode}\" does not use"
            ));
        }
        if !matches!(self.service.as_str(), "" | "es" | "aoss") {
            return Err(format!(
                "service: expected \"es\" (OpenSearch Service) or \"aoss\" (Serverless), got {:?}",
                self.service
            ));
        }
        let some = |s: String| Some(s).filter(|s| !s.is_empty());
        let aws = some(self.aws).unwrap_or_else(crate::connections::default_connection);
        Ok(OpenSearchConnection {
            auth: self.auth,
            aws,
            service: some(self.service),
            region: some(self.region),
            basic: has_basic.then_some((self.username, self.password)),
        })
    }
}

/// Checks that every OpenSearch connection's `aws` names a configured AWS connection
/// (`default` always exists), so a typo fails at startup and in `rulewire check`.
pub fn check_aws_references(
    opensearch: &OpenSearchSettings,
    aws: &AwsSettings,
) -> Result<(), ConnectionError> {
    let references = opensearch
        .connections
        .iter()
        .map(|(name, t)| (name, &t.aws));
    crate::aws::check_aws_references("opensearch", references, aws)
}
