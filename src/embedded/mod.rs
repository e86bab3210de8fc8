//! The embedded MQTT broker (rmqtt, used as a library), started in-process when `broker.url`
//! is empty so devices can publish straight to rulewire at the edge. The rules get its
//! messages in-process (`feed`) and republish in-process (`publisher`); what either forwards
//! to subscribers is routed with matched subscribers kept between messages (`forward`,
//! `route_cache`); who may do what is decided in `access` (from the device registry in
//! [`devices`] and the AWS IoT policies in [`policy`]), with device TLS in `tls`; retained
//! messages and persistent sessions are kept on disk by `retained` and `sessions`.
//!
//! Every listener serves MQTT 3.1, 3.1.1 and 5 (the version is read from each CONNECT), as
//! AWS IoT Core's port 8883 does. `$`-topics follow the MQTT spec, so Basic Ingest
//! (`$aws/rules/...`) and `$aws/things/...` work here as on Mosquitto; `#` and `+` at the
//! start of a filter do not match them. Why rmqtt, and what it costs, is in the README
//! ("The embedded broker") and `docs/notes/embedded-broker-options.md`.

mod access;
pub mod devices;
mod extensions;
mod feed;
mod forward;
pub mod policy;
mod publisher;
mod retained;
mod route_cache;
mod sessions;
mod tls;

use std::net::SocketAddr;
use std::num::NonZeroU16;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use prometheus::IntCounterVec;
use rmqtt::context::ServerContext;
use rmqtt::hook::Type;
use rmqtt::net::Builder;
use rmqtt::server::MqttServer;

use crate::config::EmbeddedBrokerConfig;
use crate::embedded::devices::Registry;
use crate::embedded::devices::watch::{self, Devices};
use crate::ops::stop::CancelFlag;
use access::Access;
use extensions::{CountDrops, RoundRobinShares};
pub use feed::RulesFeed;
use retained::RetainedMessages;
use sessions::{NoQos0WhileAway, PersistentSessions, SessionHooks};
use tls::TlsPeers;

/// The rmqtt listener id of the internal listener behind the TLS front.
const TLS_RELAY_LISTENER: u16 = 100;

/// The broker's counters in rulewire's registry.
pub struct BrokerMetrics {
    /// `rulewire_embedded_broker_dropped_total{reason}`.
    pub dropped: IntCounterVec,
    /// `rulewire_embedded_broker_denied_total{action}`.
    pub denied: IntCounterVec,
}

/// What the broker's listeners accept, from `[embedded_broker]` and `[limits]`.
pub struct BrokerLimits {
    /// Largest MQTT packet a client may send (the payload bound plus room for the header).
    pub max_packet_bytes: usize,
    /// QoS 1 messages the broker sends a client before waiting for PUBACKs: rulewire's own
    /// ingest connection keeps up to `limits.max_in_flight` unacknowledged.
    pub max_inflight: usize,
}

fn parse_addr(s: &str, key: &str) -> anyhow::Result<SocketAddr> {
    s.parse()
        .with_context(|| format!("embedded_broker.{key} {s:?} is not host:port"))
}

fn listener(
    name: &str,
    addr: SocketAddr,
    key: &str,
    cfg: &EmbeddedBrokerConfig,
    limits: &BrokerLimits,
) -> anyhow::Result<rmqtt::net::Listener> {
    let max_inflight = NonZeroU16::new(limits.max_inflight.clamp(16, u16::MAX as usize) as u16)
        .expect("clamped above zero");
    Builder::new()
        .name(name)
        .laddr(addr)
        .nodelay(true)
        .reuseaddr(Some(true))
        .max_connections(cfg.max_connections)
        .max_clientid_len(rulewire_engine::topic_limits::MAX_CLIENT_ID_BYTES)
        .max_packet_size(limits.max_packet_bytes.min(u32::MAX as usize) as u32)
        .max_inflight(max_inflight)
        .max_mqueue_len(cfg.max_queued_messages)
        .session_expiry_interval(Duration::from_secs(cfg.session_expiry_secs))
        .max_session_expiry_interval(Duration::from_secs(cfg.session_expiry_secs))
        // Every CONNECT goes through `access`, which decides about anonymous clients.
        .allow_anonymous(false)
        // Queued messages never expire unless the publisher sets an MQTT 5 expiry.
        .message_expiry_interval(Duration::ZERO)
        .bind()
        .and_then(|l| l.tcp())
        .map_err(|e| {
            anyhow::anyhow!(
                "embedded broker cannot listen on {addr} (embedded_broker.{key}): {e}. Is another MQTT \
                 broker running there? Use it with RULEWIRE_BROKER_URL=mqtt://{addr}, or move the \
                 embedded one with RULEWIRE_EMBEDDED_BROKER_LISTEN=127.0.0.1:1884"
            )
        })
}

fn load_devices(cfg: &EmbeddedBrokerConfig) -> anyhow::Result<Registry> {
    if cfg.devices_dir.is_empty() {
        return Ok(Registry::empty());
    }
    Registry::load(std::path::Path::new(&cfg.devices_dir))
        .with_context(|| format!("embedded_broker.devices_dir {}", cfg.devices_dir))
}

/// The safe default: a plain listener other hosts can reach needs logins, or the
/// operator's explicit `allow_anonymous`.
fn check_exposure(
    addr: SocketAddr,
    key: &str,
    cfg: &EmbeddedBrokerConfig,
    registry: &Registry,
) -> anyhow::Result<()> {
    if addr.ip().is_loopback() || cfg.allow_anonymous || registry.has_logins() {
        return Ok(());
    }
    bail!(
        "embedded_broker.{key} = {addr} would let anyone on the network publish and subscribe to anything: \
         it has no TLS and no logins. Give devices certificates (embedded_broker.tls_listen with \
         tls_cert/tls_key and a devices_dir registering their CA), or logins in \
         <devices_dir>/devices.toml, or listen on 127.0.0.1; to accept anonymous clients from the \
         network anyway, set embedded_broker.allow_anonymous = true (RULEWIRE_EMBEDDED_BROKER_ALLOW_ANONYMOUS=true)"
    )
}

/// The running broker, as the rest of rulewire uses it.
pub struct Embedded {
    /// The `mqtt://` URL of its first listener (for the log and for `rulewire bench`).
    pub url: String,
    /// The republish action's publisher, in-process.
    pub publisher: Arc<dyn rulewire_actions::MqttPublisher>,
}

/// Starts the broker on the current tokio runtime and waits until it accepts connections.
/// `publisher_client_id` is the identity of rulewire's own republishes; retained messages
/// and persistent sessions are kept in `data_dir`.
pub async fn start(
    cfg: &EmbeddedBrokerConfig,
    data_dir: &std::path::Path,
    limits: BrokerLimits,
    metrics: BrokerMetrics,
    feed: RulesFeed,
    publisher_client_id: &str,
    stop: CancelFlag,
) -> anyhow::Result<Embedded> {
    let registry = load_devices(cfg)?;
    let listen = parse_addr(&cfg.listen, "listen")?;
    check_exposure(listen, "listen", cfg, &registry)?;
    let mut listeners = vec![(1, listener("mqtt", listen, "listen", cfg, &limits)?)];
    if !cfg.listen_v5.is_empty() {
        let addr = parse_addr(&cfg.listen_v5, "listen_v5")?;
        check_exposure(addr, "listen_v5", cfg, &registry)?;
        listeners.push((2, listener("mqtt-2", addr, "listen_v5", cfg, &limits)?));
    }
    let mut tls_front = None;
    if !cfg.tls_listen.is_empty() {
        let addr = parse_addr(&cfg.tls_listen, "tls_listen")?;
        if cfg.tls_cert.is_empty() || cfg.tls_key.is_empty() {
            bail!(
                "embedded_broker.tls_listen needs tls_cert and tls_key (the server's certificate chain and key, PEM)"
            );
        }
        if !registry.has_certificates() {
            tracing::warn!(
                "embedded_broker.tls_listen is set but the device registry has no CA and no certificate: no device can connect over TLS"
            );
        }
        let relay = listener(
            "tls-relay",
            "127.0.0.1:0".parse()?,
            "tls_listen",
            cfg,
            &limits,
        )?;
        let relay_addr = relay.local_addr()?;
        listeners.push((TLS_RELAY_LISTENER, relay));
        tls_front = Some((addr, relay_addr));
    }
    let devices = Devices::new(registry);
    watch::spawn(devices.clone(), stop)?;
    let peers = Arc::new(TlsPeers::default());
    let access = Access::new(
        devices.clone(),
        cfg.allow_anonymous,
        tls_front.map(|_| (TLS_RELAY_LISTENER, peers.clone())),
        metrics.denied,
    );
    let dropped = metrics.dropped;

    // rmqtt's busy check refuses CONNECTs while the machine is loaded, which rulewire's own
    // rule work would trigger.
    let scx = ServerContext::new()
        .busy_check_enable(false)
        .mqtt_max_sessions(cfg.max_sessions.min(isize::MAX as usize) as isize)
        .build()
        .await;
    let retained = RetainedMessages::open(
        &data_dir.join("retained.redb"),
        cfg.max_retained_messages,
        dropped.clone(),
    )
    .await?;
    *scx.extends.retain_mut().await = Box::new(retained);
    *scx.extends.shared_subscription_mut().await = Box::new(RoundRobinShares::default());
    let hooks = scx.extends.hook_mgr().register();
    hooks
        .add(Type::MessageDropped, Box::new(CountDrops::new(&dropped)))
        .await;
    let feed_hooks = feed::FeedHooks::new(feed.clone(), forward::Forwarder::new(scx.clone()).await);
    hooks
        .add(Type::MessagePublishCheckAcl, Box::new(feed_hooks.clone()))
        .await;
    hooks.add(Type::MessagePublish, Box::new(feed_hooks)).await;
    let sessions = PersistentSessions::open(&data_dir.join("sessions.redb"))?;
    for typ in sessions::HOOKS {
        hooks
            .add(typ, Box::new(SessionHooks(sessions.clone())))
            .await;
    }
    hooks
        .add(Type::MessageExpiryCheck, Box::new(NoQos0WhileAway))
        .await;
    hooks.start().await;
    access.install(&scx).await;

    let id = rmqtt::types::Id::new(
        scx.node.id(),
        0,
        None,
        None,
        publisher_client_id.into(),
        None,
    );
    let publisher = Arc::new(publisher::InProcessPublisher::new(scx.clone(), id, feed).await);
    let mut server = MqttServer::new(scx.clone());
    for (id, l) in listeners {
        server = server.listener_by_id(l, id);
    }
    let server = server.build();
    // Before the listeners run: a returning client must find its session.
    let restored = sessions.restore(&scx).await?;
    if restored > 0 {
        tracing::info!(count = restored, "persistent sessions restored");
    }
    tokio::spawn(async move {
        if let Err(e) = server.run().await {
            tracing::error!(error = %e, "embedded broker stopped");
        }
    });

    let deadline = Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect(loopback(listen))
        .await
        .is_err()
    {
        if Instant::now() > deadline {
            bail!("embedded broker did not start listening on {listen}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if let Some((addr, relay)) = tls_front {
        let (cert, key) = (
            std::path::Path::new(&cfg.tls_cert),
            std::path::Path::new(&cfg.tls_key),
        );
        tls::start(addr, cert, key, devices, relay, peers).await?;
    }
    tracing::info!(%listen, second = %cfg.listen_v5, tls = %cfg.tls_listen, "embedded MQTT broker (rmqtt) listening");
    let target = loopback(listen);
    Ok(Embedded {
        url: format!("mqtt://{}:{}", target.ip(), target.port()),
        publisher,
    })
}

/// Where to connect for a listen address (0.0.0.0 / :: become loopback).
fn loopback(listen: SocketAddr) -> SocketAddr {
    let mut a = listen;
    if a.ip().is_unspecified() {
        a.set_ip(if a.is_ipv4() {
            [127, 0, 0, 1].into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    a
}
