//! The TLS listener for devices (AWS IoT Core's port 8883): rulewire terminates TLS, checks
//! the device certificate against the device registry *as it is now* (registered CAs, or the
//! certificate registered itself), and relays the MQTT bytes to an internal rmqtt listener on
//! loopback. The certificate of each relayed connection is kept by its loopback address, so
//! `access` finds it at CONNECT. Handshakes run in their own tasks: a slow one stalls no one.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::embedded::devices::Registry;
use crate::embedded::devices::watch::Devices;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The device of each relayed connection (its certificate, and its own address, which
/// `aws:SourceIp` gives), by the relay's loopback address.
#[derive(Default)]
pub struct TlsPeers(Mutex<HashMap<SocketAddr, (Vec<u8>, SocketAddr)>>);

impl TlsPeers {
    pub fn device(&self, relay: SocketAddr) -> Option<(Vec<u8>, SocketAddr)> {
        self.0.lock().expect("peers lock").get(&relay).cloned()
    }
}

/// A registry, and the verifier of the CAs it registers (None: it registers none).
type CaVerifier = (Arc<Registry>, Option<Arc<dyn ClientCertVerifier>>);

/// Accepts a certificate registered in the registry, or one a registered CA signed. Status
/// (active, revoked) is checked at CONNECT, against the registry of that moment.
#[derive(Debug)]
struct RegistryVerifier {
    devices: Arc<Devices>,
    provider: Arc<CryptoProvider>,
    /// The CA verifier, and the registry it was built from.
    by_ca: Mutex<Option<CaVerifier>>,
}

impl RegistryVerifier {
    fn ca_verifier(&self, registry: &Arc<Registry>) -> Option<Arc<dyn ClientCertVerifier>> {
        let mut cached = self.by_ca.lock().expect("verifier lock");
        if let Some((built_from, verifier)) = &*cached
            && Arc::ptr_eq(built_from, registry)
        {
            return verifier.clone();
        }
        let mut roots = RootCertStore::empty();
        for ca in registry.ca_certificates() {
            if let Err(e) = roots.add(ca.clone()) {
                tracing::warn!(error = %e, "a registered CA certificate is not a usable trust anchor");
            }
        }
        let verifier = if roots.is_empty() {
            None
        } else {
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| tracing::warn!(error = %e, "cannot verify device certificates by CA"))
                .ok()
        };
        *cached = Some((registry.clone(), verifier.clone()));
        verifier
    }
}

impl ClientCertVerifier for RegistryVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let registry = self.devices.current();
        if registry.is_registered(end_entity) {
            return Ok(ClientCertVerified::assertion());
        }
        match self.ca_verifier(&registry) {
            Some(v) => v.verify_client_cert(end_entity, intermediates, now),
            None => Err(rustls::Error::General(
                "device certificate not registered, and no CA is registered".into(),
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn server_config(
    cert: &Path,
    key: &Path,
    devices: Arc<Devices>,
) -> anyhow::Result<rustls::ServerConfig> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|c| c.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("embedded_broker.tls_cert {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("embedded_broker.tls_key {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(RegistryVerifier {
        devices,
        provider: provider.clone(),
        by_ca: Mutex::new(None),
    });
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .context("embedded_broker.tls_cert and tls_key do not match")
}

/// Binds `listen` and relays every verified device to the internal listener `inner`.
pub async fn start(
    listen: SocketAddr,
    cert: &Path,
    key: &Path,
    devices: Arc<Devices>,
    inner: SocketAddr,
    peers: Arc<TlsPeers>,
) -> anyhow::Result<()> {
    let acceptor = TlsAcceptor::from(Arc::new(server_config(cert, key, devices)?));
    let listener = TcpListener::bind(listen).await.with_context(|| {
        format!("embedded broker cannot listen on {listen} (embedded_broker.tls_listen)")
    })?;
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((tcp, remote)) => {
                    tokio::spawn(relay(acceptor.clone(), tcp, remote, inner, peers.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "TLS listener accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    Ok(())
}

async fn relay(
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    remote: SocketAddr,
    inner: SocketAddr,
    peers: Arc<TlsPeers>,
) {
    let _ = tcp.set_nodelay(true);
    let mut tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::info!(%remote, error = %e, "device TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::info!(%remote, "device TLS handshake timed out");
            return;
        }
    };
    let Some(leaf) = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
    else {
        return;
    };
    let mut upstream = match TcpStream::connect(inner).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot reach the broker's internal listener");
            return;
        }
    };
    let _ = upstream.set_nodelay(true);
    let Ok(relay_addr) = upstream.local_addr() else {
        return;
    };
    peers
        .0
        .lock()
        .expect("peers lock")
        .insert(relay_addr, (leaf, remote));
    let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
    peers.0.lock().expect("peers lock").remove(&relay_addr);
}
