//! The byte stream under rulewire's own MQTT connections (the republish connection and the
//! ingest connection): TCP with TCP_NODELAY, or TLS through rustls with `[broker]`'s CA
//! bundle and optional X.509 client certificate.

use std::sync::Arc;

use anyhow::Context;
use rumqttc::tokio_rustls::{TlsConnector, rustls};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::{TlsMaterial, parse_url, tls_material};
use crate::config::BrokerConfig;

/// A connected byte stream (plain TCP or TLS).
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// Where to connect and how, resolved once (TLS files are read here, so bad ones fail early).
pub struct Transport {
    pub host: String,
    pub port: u16,
    tls: Option<TlsConnector>,
}

impl Transport {
    /// From an `mqtt://` or `mqtts://` URL and `[broker]`'s TLS settings.
    pub fn new(broker: &BrokerConfig, url: &str) -> anyhow::Result<Transport> {
        let (host, port, tls) = parse_url(url)?;
        let tls = match tls {
            true => Some(TlsConnector::from(Arc::new(tls_config(tls_material(
                broker,
            )?)?))),
            false => None,
        };
        Ok(Transport { host, port, tls })
    }

    /// Opens the socket and, for `mqtts://`, completes the TLS handshake.
    pub async fn open(&self) -> anyhow::Result<Box<dyn Stream>> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .with_context(|| format!("cannot reach {}:{}", self.host, self.port))?;
        tcp.set_nodelay(true)?;
        Ok(match &self.tls {
            None => Box::new(tcp),
            Some(connector) => {
                let name = ServerName::try_from(self.host.clone())
                    .with_context(|| format!("{:?} is not a valid TLS server name", self.host))?;
                Box::new(
                    connector
                        .connect(name, tcp)
                        .await
                        .context("TLS handshake")?,
                )
            }
        })
    }
}

/// A rustls client configuration from `[broker]`'s PEM files.
fn tls_config(material: TlsMaterial) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&material.ca) {
        roots
            .add(cert.context("broker.ca_file: bad PEM certificate")?)
            .context("broker.ca_file: unusable CA certificate")?;
    }
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    Ok(match material.client_auth {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(&cert)
                .collect::<Result<Vec<_>, _>>()
                .context("broker.client_cert: bad PEM certificate")?;
            let key =
                PrivateKeyDer::from_pem_slice(&key).context("broker.client_key: bad PEM key")?;
            builder
                .with_client_auth_cert(chain, key)
                .context("broker.client_cert / client_key")?
        }
    })
}
