//! How one opensearch request authenticates: the scheme a connection's `auth` picks for a
//! rendered endpoint, and SigV4 signing (aws-sigv4) with an AWS connection's credentials.
//!
//! SigV4 signs the method, the path (each segment encoded twice, as SigV4 wants for every
//! service but S3), the `host` and `content-type` headers and the body's SHA-256, which is also
//! sent as `x-amz-content-sha256` (OpenSearch Serverless requires it; OpenSearch Service
//! accepts it). Temporary credentials add `x-amz-security-token`.

use std::{sync::Arc, time::SystemTime};

use aws_sigv4::{
    http_request::{
        PayloadChecksumKind, SignableBody, SignableRequest, SigningParams, SigningSettings, sign,
    },
    sign::v4,
};
use aws_smithy_runtime_api::client::identity::Identity;
use reqwest::Url;

use super::connection::{AuthMode, OpenSearchConnection};
use crate::{AwsConnection, aws::FALLBACK_REGION, delivery::AttemptError};

/// What an AWS host name says about signing: `<domain>.<region>.<service>.amazonaws.com`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AwsHost {
    pub region: Option<String>,
    /// `es` or `aoss` when the host names one.
    pub service: Option<&'static str>,
}

/// `Some` when `host` is an AWS host (`*.amazonaws.com` or `*.amazonaws.com.cn`).
pub(crate) fn aws_host(host: &str) -> Option<AwsHost> {
    let host = host.to_ascii_lowercase();
    let rest = host
        .strip_suffix(".amazonaws.com")
        .or_else(|| host.strip_suffix(".amazonaws.com.cn"))?;
    let mut labels = rest.rsplit('.');
    let service = match labels.next() {
        Some("es") => Some("es"),
        Some("aoss") => Some("aoss"),
        _ => {
            return Some(AwsHost {
                region: None,
                service: None,
            });
        }
    };
    let region = labels.next().filter(|_| labels.next().is_some());
    Some(AwsHost {
        region: region.map(str::to_owned),
        service,
    })
}

/// Whether requests of `conn` to `endpoint` are signed with its AWS connection; `None` when
/// that depends on an endpoint not known yet (a template).
pub(crate) fn uses_aws(conn: &OpenSearchConnection, endpoint: Option<&Url>) -> Option<bool> {
    match conn.auth {
        AuthMode::Sigv4 => Some(true),
        AuthMode::Basic | AuthMode::None => Some(false),
        AuthMode::Auto => {
            endpoint.map(|url| aws_host(url.host_str().unwrap_or_default()).is_some())
        }
    }
}

/// How one request authenticates.
pub(crate) enum Signer {
    None,
    Basic {
        username: String,
        password: String,
    },
    SigV4 {
        aws: Arc<AwsConnection>,
        service: String,
        /// `None`: the AWS connection's region.
        region: Option<String>,
    },
}

/// The scheme `conn` picks for `url`; `aws` is the AWS connection it names, if configured.
pub(crate) fn signer(
    conn: &OpenSearchConnection,
    aws: Option<&Arc<AwsConnection>>,
    url: &Url,
) -> Result<Signer, String> {
    let host = aws_host(url.host_str().unwrap_or_default());
    let basic = || match &conn.basic {
        Some((username, password)) => Signer::Basic {
            username: username.clone(),
            password: password.clone(),
        },
        None => Signer::None,
    };
    let sigv4 = match conn.auth {
        AuthMode::None => return Ok(Signer::None),
        AuthMode::Basic => return Ok(basic()),
        AuthMode::Auto if host.is_none() => return Ok(basic()),
        AuthMode::Auto | AuthMode::Sigv4 => host.unwrap_or(AwsHost {
            region: None,
            service: None,
        }),
    };
    let Some(aws) = aws else {
        return Err(format!(
            "SigV4 needs [aws.connections.{}], which is not configured",
            conn.aws
        ));
    };
    Ok(Signer::SigV4 {
        aws: aws.clone(),
        service: (conn.service.as_deref())
            .or(sigv4.service)
            .unwrap_or("es")
            .to_owned(),
        region: conn.region.clone().or(sigv4.region),
    })
}

impl Signer {
    /// The headers that authenticate `PUT url` with `body` (sent with `content-type:
    /// application/json`).
    pub(crate) async fn headers(
        &self,
        url: &Url,
        body: &[u8],
    ) -> Result<Vec<(String, String)>, AttemptError> {
        match self {
            Signer::None => Ok(Vec::new()),
            Signer::Basic { username, password } => {
                use base64::Engine;
                let pair = format!("{username}:{password}");
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                Ok(vec![(
                    "authorization".to_owned(),
                    format!("Basic {encoded}"),
                )])
            }
            Signer::SigV4 {
                aws,
                service,
                region,
            } => {
                // A credential source that does not answer may answer the next attempt.
                let credentials = aws.credentials().await.map_err(AttemptError::retryable)?;
                let region = match region {
                    Some(r) => r.clone(),
                    None => aws
                        .sdk_config()
                        .await
                        .region()
                        .map_or_else(|| FALLBACK_REGION.to_owned(), |r| r.as_ref().to_owned()),
                };
                sigv4(&credentials.into(), service, &region, url, body)
                    .map_err(|e| AttemptError::permanent(format!("cannot sign the request: {e}")))
            }
        }
    }
}

/// The SigV4 headers for `PUT url` at `SystemTime::now()`.
fn sigv4(
    identity: &Identity,
    service: &str,
    region: &str,
    url: &Url,
    body: &[u8],
) -> Result<Vec<(String, String)>, Box<dyn std::error::Error + Send + Sync>> {
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let params: SigningParams<'_> = v4::SigningParams::builder()
        .identity(identity)
        .region(region)
        .name(service)
        .time(SystemTime::now())
        .settings(settings)
        .build()?
        .into();
    let headers = [("content-type", "application/json")];
    let request = SignableRequest::new(
        "PUT",
        url.as_str(),
        headers.into_iter(),
        SignableBody::Bytes(body),
    )?;
    let (instructions, _signature) = sign(request, &params)?.into_parts();
    Ok(instructions
        .headers()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_hosts_name_their_region_and_service() {
        let host = |h: &str| aws_host(h);
        assert_eq!(
            host("search-logs-abc123.eu-west-1.es.amazonaws.com"),
            Some(AwsHost {
                region: Some("eu-west-1".into()),
                service: Some("es")
            })
        );
        assert_eq!(
            host("abc123.us-east-1.aoss.amazonaws.com"),
            Some(AwsHost {
                region: Some("us-east-1".into()),
                service: Some("aoss")
            })
        );
        assert_eq!(
            host("search-d.cn-north-1.es.amazonaws.com.cn")
                .unwrap()
                .region,
            Some("cn-north-1".into())
        );
        assert_eq!(
            host("vpce-1.execute-api.amazonaws.com"),
            Some(AwsHost {
                region: None,
                service: None
            })
        );
        assert_eq!(host("opensearch.internal"), None);
        assert_eq!(host("amazonaws.com.evil.example"), None);
    }
}
