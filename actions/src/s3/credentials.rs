//! S3 requests (object_store) signed with the credentials of an AWS connection: the same
//! chain the SDK actions use (static keys, profiles, `role_arn` through STS, web identity,
//! container and instance credentials), so S3 shares the `[aws.connections]` block.
//!
//! The connection caches the credentials (`AwsConnection::credentials`): one is reused until
//! five minutes before it expires.

use std::{fmt, sync::Arc};

use object_store::{CredentialProvider, aws::AwsCredential};

use crate::AwsConnection;

/// object_store's credential provider over an AWS connection.
pub(crate) struct SdkCredentials {
    connection: Arc<AwsConnection>,
}

impl SdkCredentials {
    pub(crate) fn new(connection: Arc<AwsConnection>) -> SdkCredentials {
        SdkCredentials { connection }
    }
}

impl fmt::Debug for SdkCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SdkCredentials")
    }
}

#[async_trait::async_trait]
impl CredentialProvider for SdkCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let got = self.connection.credentials().await.map_err(|message| {
            object_store::Error::Generic {
                store: "S3",
                source: message.into(),
            }
        })?;
        Ok(Arc::new(AwsCredential {
            key_id: got.access_key_id().to_owned(),
            secret_key: got.secret_access_key().to_owned(),
            token: got.session_token().map(str::to_owned),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AwsSettings, Connections, testing::Moto};

    /// A connection with `role_arn` signs S3 requests with the role's temporary credentials
    /// (moto's STS), fetched once and then reused.
    #[tokio::test]
    async fn role_credentials_reach_object_store_and_are_cached() {
        let moto = Moto::start().await;
        let settings: AwsSettings = toml::from_str(&format!(
            "[connections.role]\nregion = \"us-east-1\"\nendpoint = \"{}\"\naccess_key_id = \"AKIABASE\"\nsecret_access_key = \"base\"\nrole_arn = \"arn:aws:iam::123456789012:role/lake-writer\"",
            moto.endpoint()
        ))
        .unwrap();
        let conns = Connections::open(&settings).unwrap();
        let creds = SdkCredentials::new(conns.get("role").unwrap());
        let first = creds.get_credential().await.unwrap();
        assert_ne!(first.key_id, "AKIABASE", "the role's key, not the base key");
        assert!(first.token.is_some(), "temporary credentials carry a token");
        let second = creds.get_credential().await.unwrap();
        // moto's AssumeRole hands out a new key each time: the same key means the cache.
        assert_eq!(first.key_id, second.key_id, "cached until near expiry");
    }
}
