//! The embedded MQTT broker (rumqttd), started in-process when `broker.url` is empty so
//! devices can publish straight to rulewire at the edge. rulewire then connects its normal
//! ingest client to it over loopback: one code path for embedded and external brokers.
//!
//! rumqttd runs its router and listeners on their own threads. Its limits: it refuses
//! subscriptions to `$`-topics, so Basic Ingest (`$aws/rules/...`) needs an external broker.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};

use crate::config::{EmbeddedBrokerConfig, Protocol};

fn server(name: &str, listen: SocketAddr, max_payload: usize) -> ServerSettings {
    ServerSettings {
        name: name.to_owned(),
        listen,
        tls: None,
        next_connection_delay_ms: 1,
        connections: ConnectionSettings {
            connection_timeout_ms: 60_000,
            max_payload_size: max_payload,
            max_inflight_count: 500,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    }
}

fn parse_addr(s: &str, key: &str) -> anyhow::Result<SocketAddr> {
    s.parse()
        .with_context(|| format!("embedded_broker.{key} {s:?} is not host:port"))
}

/// Starts the broker and waits until its MQTT 3.1.1 listener accepts connections.
/// Returns the `mqtt://` URL rulewire's own clients connect to: the MQTT 5 listener when they
/// speak MQTT 5 (`broker.protocol = "v5"`, which then needs `embedded_broker.listen_v5`).
pub fn start(
    cfg: &EmbeddedBrokerConfig,
    protocol: Protocol,
    max_payload: usize,
) -> anyhow::Result<String> {
    if protocol == Protocol::V5 && cfg.listen_v5.is_empty() {
        bail!(
            "broker.protocol = \"v5\" with the embedded broker needs an MQTT 5 listener: set embedded_broker.listen_v5 (e.g. \"127.0.0.1:1884\")"
        );
    }
    let listen = parse_addr(&cfg.listen, "listen")?;
    // rumqttd only logs bind failures from its threads; check first for a clear error.
    TcpListener::bind(listen).with_context(|| {
        format!(
            "embedded broker cannot listen on {listen} (embedded_broker.listen). Is another MQTT broker running there? \
             Use it with RULEWIRE_BROKER_URL=mqtt://{listen}, or move the embedded one with \
             RULEWIRE_EMBEDDED_BROKER_LISTEN=127.0.0.1:1884"
        )
    })?;
    let mut v4 = HashMap::new();
    v4.insert("1".to_owned(), server("v4", listen, max_payload));
    let mut v5 = None;
    if !cfg.listen_v5.is_empty() {
        let addr = parse_addr(&cfg.listen_v5, "listen_v5")?;
        TcpListener::bind(addr).with_context(|| {
            format!("embedded broker cannot listen on {addr} (embedded_broker.listen_v5)")
        })?;
        v5 = Some(HashMap::from([(
            "1".to_owned(),
            server("v5", addr, max_payload),
        )]));
    }
    let config = Config {
        id: 0,
        router: RouterConfig {
            max_connections: cfg.max_connections,
            max_outgoing_packet_count: 200,
            max_segment_size: 16 * 1024 * 1024,
            max_segment_count: 10,
            ..Default::default()
        },
        v4: Some(v4),
        v5,
        ..Default::default()
    };
    let mut broker = Broker::new(config);
    std::thread::Builder::new()
        .name("rumqttd".into())
        .spawn(move || {
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "embedded broker stopped");
            }
        })?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect_timeout(&loopback(listen), Duration::from_millis(200)).is_err() {
        if Instant::now() > deadline {
            bail!("embedded broker did not start listening on {listen}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    tracing::info!(%listen, v5 = %cfg.listen_v5, "embedded MQTT broker (rumqttd) listening");
    let target = match protocol {
        Protocol::V4 => loopback(listen),
        Protocol::V5 => loopback(parse_addr(&cfg.listen_v5, "listen_v5")?),
    };
    Ok(format!("mqtt://{}:{}", target.ip(), target.port()))
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
