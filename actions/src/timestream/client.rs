//! The Timestream Write client of one action, built on first use.
//!
//! Timestream Write requires endpoint discovery on AWS: the SDK client must be made with
//! `with_endpoint_discovery_enabled()`, which calls DescribeEndpoints once (and then in a
//! background task whenever the cached endpoint nears expiry). When an endpoint is
//! configured (the connection's `endpoint`, `AWS_ENDPOINT_URL_TIMESTREAM_WRITE` or
//! `AWS_ENDPOINT_URL`: moto, a VPC endpoint) discovery is skipped and every call goes to that
//! endpoint: moto's DescribeEndpoints answers with real AWS addresses.
//!
//! A failed discovery is a retryable attempt error, and the next attempt tries again.

use std::sync::Arc;

use aws_sdk_timestreamwrite::Client;
use aws_smithy_types::error::display::DisplayErrorContext;
use tokio::sync::OnceCell;

use crate::{AwsConnection, delivery::AttemptError};

/// The SDK's name for the service in `AWS_ENDPOINT_URL_<SERVICE>`.
const ENDPOINT_ENV_SERVICE: &str = "TIMESTREAM_WRITE";

pub(crate) struct TimestreamClient {
    connection: Arc<AwsConnection>,
    client: OnceCell<Client>,
}

impl TimestreamClient {
    pub(crate) fn new(connection: Arc<AwsConnection>) -> TimestreamClient {
        TimestreamClient {
            connection,
            client: OnceCell::new(),
        }
    }

    /// The client; discovers the endpoint the first time unless one is configured.
    pub(crate) async fn get(&self) -> Result<&Client, AttemptError> {
        self.client.get_or_try_init(|| self.build()).await
    }

    async fn build(&self) -> Result<Client, AttemptError> {
        let client = Client::new(self.connection.sdk_config().await);
        if self.uses_configured_endpoint() {
            return Ok(client);
        }
        let (client, reloader) = client
            .with_endpoint_discovery_enabled()
            .await
            .map_err(|e| {
                AttemptError::retryable(format!(
                    "Timestream endpoint discovery (DescribeEndpoints) failed: {}",
                    DisplayErrorContext(e.as_ref())
                ))
            })?;
        // Ends when the client is dropped.
        tokio::spawn(reloader.reload_task());
        Ok(client)
    }

    /// Whether calls go to a configured endpoint instead of a discovered one.
    pub(crate) fn uses_configured_endpoint(&self) -> bool {
        self.connection.endpoint_now(ENDPOINT_ENV_SERVICE).is_some()
    }
}
