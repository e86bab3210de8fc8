//! AWS connections: the `[aws.connections.<name>]` tables of `rulewire.toml`, shared by every
//! action that calls an AWS API through the SDK; `AwsAccess` (access.rs) is how an action names
//! one, with an optional `role_arn` of its own.
//!
//! A table gives a region, an endpoint (`endpoint`, or its alias `endpoint_url`: moto,
//! LocalStack, a VPC endpoint), optional static credentials (`${env:}` welcome), an optional
//! shared-config `profile`, and an optional `role_arn` assumed through STS on top of whatever
//! credentials the rest gives. Fields left empty fall back to the standard AWS SDK
//! environment exactly as the AWS CLI reads it: `AWS_REGION`, `AWS_ENDPOINT_URL` and
//! `AWS_ENDPOINT_URL_<SERVICE>`, `AWS_ACCESS_KEY_ID`..., `AWS_PROFILE`, the shared config and
//! credentials files, web identity, ECS/EKS container credentials, instance metadata. With no
//! table at all, `default` is exactly that environment.
//!
//! The SDK talks HTTPS through rustls with ring (no aws-lc C build), and its own retries are
//! off: each action's retry policy is the only one. The SDK configuration (which loads
//! credentials asynchronously) is built on first use and shared by the connection's clients.
//! So are, for what signs its own requests (S3, OpenSearch) or builds ARNs (Step Functions),
//! the connection's credentials (reused until five minutes before they expire) and the
//! account they belong to (STS GetCallerIdentity, looked up once).

use std::{
    fmt,
    sync::Arc,
    time::{Duration, SystemTime},
};

use aws_config::{BehaviorVersion, Region, SdkConfig, retry::RetryConfig, sts::AssumeRoleProvider};
use aws_credential_types::{Credentials, provider::ProvideCredentials};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, OnceCell};

use aws_smithy_runtime_api::client::{orchestrator::HttpResponse, result::SdkError};
use aws_smithy_types::error::{display::DisplayErrorContext, metadata::ProvideErrorMetadata};

use crate::{
    connections::{ConnectionConfig, ConnectionSection},
    delivery::AttemptError,
};

mod access;

pub use access::AwsAccess;
pub(crate) use access::check_role_arn;

/// `[aws]` of the service config.
pub type AwsSettings = ConnectionSection<AwsConnectionConfig>;

/// The region used when neither the table nor the environment names one.
pub const FALLBACK_REGION: &str = "us-east-1";

/// One `[aws.connections.<name>]` table. Empty strings mean "not set".
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AwsConnectionConfig {
    /// AWS region; default: `AWS_REGION` / the profile's, else `us-east-1`.
    pub region: String,
    /// Endpoint override for every service, e.g. `http://127.0.0.1:5000` (moto).
    #[serde(alias = "endpoint_url")]
    pub endpoint: String,
    /// Static credentials; both empty: the standard AWS credential chain.
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// A named profile of the shared config/credentials files.
    pub profile: String,
    /// A role to assume (STS AssumeRole) with the credentials above; AWS rule actions'
    /// `roleArn` lands here.
    pub role_arn: String,
    /// `ExternalId` for the AssumeRole call, when the role's trust policy asks for one.
    pub external_id: String,
}

impl fmt::Debug for AwsConnectionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |s: &str| if s.is_empty() { "" } else { "<redacted>" };
        f.debug_struct("AwsConnectionConfig")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &redact(&self.access_key_id))
            .field("secret_access_key", &redact(&self.secret_access_key))
            .field("session_token", &redact(&self.session_token))
            .field("profile", &self.profile)
            .field("role_arn", &self.role_arn)
            .field("external_id", &redact(&self.external_id))
            .finish()
    }
}

impl ConnectionConfig for AwsConnectionConfig {
    const SECTION: &'static str = "aws";
    type Connection = AwsConnection;

    /// `default`: the standard SDK environment, as the AWS CLI uses it.
    fn implicit_default() -> Option<Self> {
        Some(AwsConnectionConfig::default())
    }

    fn open(self) -> Result<AwsConnection, String> {
        if self.access_key_id.is_empty() != self.secret_access_key.is_empty() {
            return Err("access_key_id and secret_access_key must be set together".to_owned());
        }
        if !self.session_token.is_empty() && self.access_key_id.is_empty() {
            return Err("session_token needs access_key_id and secret_access_key".to_owned());
        }
        let url = &self.endpoint;
        if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!(
                "endpoint: expected http://host:port or https://..., got {url:?}"
            ));
        }
        if !(self.role_arn.is_empty() || self.role_arn.starts_with("arn:")) {
            return Err(format!(
                "role_arn: expected arn:aws:iam::<account>:role/<name>, got {:?}",
                self.role_arn
            ));
        }
        Ok(AwsConnection {
            cfg: self,
            action_role: None,
            sdk: OnceCell::new(),
            credentials: Mutex::new(None),
            identity: OnceCell::new(),
        })
    }
}

/// Checks that every connection of another section (`[s3|opensearch.connections.*]`) that
/// names an AWS connection (`aws = "..."`; empty: `default`, which always exists) names a
/// configured one, so a typo fails at startup and in `rulewire check`, not at rule load.
/// `references`: (connection name, its `aws` value).
pub(crate) fn check_aws_references<'a>(
    section: &'static str,
    references: impl IntoIterator<Item = (&'a String, &'a String)>,
    aws: &AwsSettings,
) -> Result<(), crate::ConnectionError> {
    let names = aws.names();
    for (name, named) in references {
        if !named.is_empty() && !names.contains(named) {
            return Err(crate::ConnectionError {
                section,
                connection: name.clone(),
                message: format!(
                    "aws: no [aws.connections.{named}] in rulewire.toml (configured: {})",
                    names.join(", ")
                ),
            });
        }
    }
    Ok(())
}

/// One open AWS connection: its settings and, once loaded, its SDK configuration.
pub struct AwsConnection {
    cfg: AwsConnectionConfig,
    /// An action's `role_arn`, assumed after everything `cfg` gives (see `AwsAccess`).
    action_role: Option<String>,
    sdk: OnceCell<SdkConfig>,
    /// The credentials last loaded (the SDK's providers do not cache; its clients do).
    credentials: Mutex<Option<Credentials>>,
    /// Who the credentials belong to, once STS has said.
    identity: OnceCell<CallerIdentity>,
}

/// How long before its expiry a credential is refreshed.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

/// The account and partition of a connection's credentials (STS GetCallerIdentity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CallerIdentity {
    /// The 12-digit account id.
    pub account: String,
    /// `aws`, `aws-cn`, `aws-us-gov`...: the partition of the caller's ARN.
    pub partition: String,
}

impl AwsConnection {
    /// The SDK configuration every client of this connection is built from (loaded on the
    /// first call: environment, profile files, AssumeRole).
    pub async fn sdk_config(&self) -> &SdkConfig {
        self.sdk
            .get_or_init(|| async {
                let sdk = load(&self.cfg).await;
                match &self.action_role {
                    Some(role) => assume_role(sdk, role, None).await,
                    None => sdk,
                }
            })
            .await
    }

    /// The same connection, assuming `role_arn` with its credentials (an action's role).
    pub(crate) fn assuming(&self, role_arn: &str) -> AwsConnection {
        AwsConnection {
            cfg: self.cfg.clone(),
            action_role: Some(role_arn.to_owned()),
            sdk: OnceCell::new(),
            credentials: Mutex::new(None),
            identity: OnceCell::new(),
        }
    }

    /// The connection's credentials, for requests signed outside the SDK clients; loaded on
    /// first use and reused until five minutes before they expire.
    pub(crate) async fn credentials(&self) -> Result<Credentials, String> {
        let mut cached = self.credentials.lock().await;
        if let Some(credentials) = cached.as_ref() {
            let fresh = credentials.expiry().is_none_or(|at| {
                at.duration_since(SystemTime::now())
                    .is_ok_and(|left| left > REFRESH_BEFORE_EXPIRY)
            });
            if fresh {
                return Ok(credentials.clone());
            }
        }
        let sdk = self.sdk_config().await;
        let provider = sdk
            .credentials_provider()
            .ok_or_else(|| "no AWS credentials are configured".to_owned())?;
        let loaded = provider
            .provide_credentials()
            .await
            .map_err(|e| format!("cannot load AWS credentials: {}", DisplayErrorContext(&e)))?;
        *cached = Some(loaded.clone());
        Ok(loaded)
    }

    /// The account and partition of this connection's credentials: STS GetCallerIdentity on
    /// first use, then cached for the connection's life. A failed lookup is not cached (the
    /// next call tries again); it is an attempt error like any SDK call's.
    pub(crate) async fn caller_identity(&self) -> Result<&CallerIdentity, AttemptError> {
        self.identity
            .get_or_try_init(|| async {
                let sts = aws_sdk_sts::Client::new(self.sdk_config().await);
                let who = sts
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(|e| attempt_error(&e))?;
                let account = who.account().unwrap_or_default().to_owned();
                if account.is_empty() {
                    return Err(AttemptError::permanent(
                        "STS GetCallerIdentity returned no account id",
                    ));
                }
                // arn:<partition>:sts::<account>:...
                let partition = who.arn().and_then(|arn| arn.split(':').nth(1));
                let partition = partition.filter(|p| !p.is_empty()).unwrap_or("aws");
                Ok(CallerIdentity {
                    account,
                    partition: partition.to_owned(),
                })
            })
            .await
    }

    /// Whether the table set an endpoint (services that discover endpoints must not).
    pub fn has_endpoint(&self) -> bool {
        !self.cfg.endpoint.is_empty()
    }

    /// The region for clients that need it before the SDK configuration loads (S3 through
    /// object_store): the table's, else `AWS_REGION` / `AWS_DEFAULT_REGION`, else us-east-1.
    /// (A profile's region is not read here.)
    pub(crate) fn region_now(&self) -> String {
        let env = || std::env::var("AWS_REGION").or_else(|_| std::env::var("AWS_DEFAULT_REGION"));
        match &self.cfg.region {
            r if !r.is_empty() => r.clone(),
            _ => env().unwrap_or_else(|_| FALLBACK_REGION.to_owned()),
        }
    }

    /// The endpoint for `service` (e.g. `S3`), as the SDK picks it: the table's, else
    /// `AWS_ENDPOINT_URL_<SERVICE>`, else `AWS_ENDPOINT_URL`; `None`: the service's own.
    pub(crate) fn endpoint_now(&self, service: &str) -> Option<String> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Some(self.cfg.endpoint.clone())
            .filter(|e| !e.is_empty())
            .or_else(|| env(&format!("AWS_ENDPOINT_URL_{service}")))
            .or_else(|| env("AWS_ENDPOINT_URL"))
    }
}

/// One service's client (Kinesis, SQS, ...) on an AWS connection, built on first use.
pub(crate) struct LazyClient<C> {
    connection: Arc<AwsConnection>,
    make: fn(&SdkConfig) -> C,
    client: OnceCell<C>,
}

impl<C> LazyClient<C> {
    /// A client of `connection` that `make` builds from its SDK configuration, e.g.
    /// `aws_sdk_kinesis::Client::new`.
    pub(crate) fn new(connection: Arc<AwsConnection>, make: fn(&SdkConfig) -> C) -> Self {
        LazyClient {
            connection,
            make,
            client: OnceCell::new(),
        }
    }

    pub(crate) async fn get(&self) -> &C {
        self.client
            .get_or_init(|| async { (self.make)(self.connection.sdk_config().await) })
            .await
    }
}

/// AWS error codes worth another attempt: throttling and transient service failures.
const RETRYABLE_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "KMSThrottlingException",
    "SlowDown",
    "InternalFailure",
    "InternalError",
    "ServiceUnavailable",
    // Firehose's per-record code for a record it could not take now.
    "ServiceUnavailableException",
];

/// Whether an AWS error code is throttling or a transient failure.
pub(crate) fn is_retryable_code(code: &str) -> bool {
    RETRYABLE_CODES.contains(&code)
}

/// One record's failure inside a batch answer (PutRecords, PutRecordBatch, SendMessageBatch)
/// as an attempt error: retryable when its code is throttling or transient.
pub(crate) fn record_error(code: &str, message: &str) -> AttemptError {
    AttemptError {
        message: format!("{code}: {message}"),
        retryable: is_retryable_code(code),
    }
}

/// One failed SDK call as an action attempt: retryable for throttling and transient codes,
/// 5xx, network errors and timeouts; permanent otherwise (no such queue, access denied, a
/// request the SDK could not build).
pub(crate) fn attempt_error<E>(e: &SdkError<E, HttpResponse>) -> AttemptError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let retryable = match e {
        SdkError::ServiceError(se) => {
            se.err().code().is_some_and(is_retryable_code) || se.raw().status().is_server_error()
        }
        SdkError::ConstructionFailure(_) => false,
        _ => true,
    };
    AttemptError {
        message: DisplayErrorContext(e).to_string(),
        retryable,
    }
}

async fn load(cfg: &AwsConnectionConfig) -> SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .retry_config(RetryConfig::disabled());
    if !cfg.region.is_empty() {
        loader = loader.region(Region::new(cfg.region.clone()));
    }
    if !cfg.endpoint.is_empty() {
        loader = loader.endpoint_url(cfg.endpoint.clone());
    }
    if !cfg.profile.is_empty() {
        loader = loader.profile_name(cfg.profile.clone());
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
    let mut sdk = loader.load().await;
    if sdk.region().is_none() {
        sdk = sdk
            .into_builder()
            .region(Region::new(FALLBACK_REGION))
            .build();
    }
    if cfg.role_arn.is_empty() {
        return sdk;
    }
    let external_id = Some(cfg.external_id.clone()).filter(|id| !id.is_empty());
    assume_role(sdk, &cfg.role_arn, external_id).await
}

/// `sdk` with credentials from assuming `role_arn` (STS AssumeRole, refreshed before they
/// expire) with `sdk`'s own.
async fn assume_role(sdk: SdkConfig, role_arn: &str, external_id: Option<String>) -> SdkConfig {
    let mut role = AssumeRoleProvider::builder(role_arn).session_name("rulewire");
    if let Some(id) = external_id {
        role = role.external_id(id);
    }
    let role = role.configure(&sdk).build().await;
    sdk.into_builder()
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(role))
        .build()
}

#[cfg(test)]
mod tests;
