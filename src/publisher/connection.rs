//! The publishing connection's task: connect (TCP or TLS, CONNECT/CONNACK), then write every
//! queued publish in batches, match PUBACKs to their waiters, keep the connection alive with
//! PINGREQ, and reconnect with backoff when it drops.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use super::{MAX_IN_FLIGHT, Outgoing};
use crate::config::{BrokerConfig, Protocol};
use crate::mqtt::transport::{Stream, Transport};
use crate::mqtt::wire::{self, ConnectParams, Incoming, OutPublish};
use crate::stop::CancelFlag;

/// Publishes taken from the queue per write.
const BATCH: usize = 512;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Where and how to connect, resolved once at startup.
pub(super) struct Target {
    transport: Transport,
    protocol: Protocol,
    client_id: String,
    username: String,
    password: String,
    keep_alive: Duration,
    max_packet: usize,
}

impl Target {
    pub(super) fn new(
        broker: &BrokerConfig,
        url: &str,
        client_id: String,
        max_packet: usize,
    ) -> anyhow::Result<Target> {
        Ok(Target {
            transport: Transport::new(broker, url)?,
            protocol: broker.protocol,
            client_id,
            username: broker.username.clone(),
            password: broker.password.clone(),
            keep_alive: Duration::from_secs(broker.keep_alive_secs.clamp(5, u16::MAX as u64)),
            max_packet,
        })
    }

    /// Opens the socket (and TLS) and completes CONNECT/CONNACK; returns the stream, the
    /// bytes read past the CONNACK, and the in-flight bound.
    async fn connect(&self) -> anyhow::Result<(Box<dyn Stream>, BytesMut, usize)> {
        let mut stream = self.transport.open().await?;
        let mut buf = BytesMut::new();
        let params = ConnectParams {
            client_id: &self.client_id,
            keep_alive_secs: self.keep_alive.as_secs() as u16,
            username: &self.username,
            password: &self.password,
            clean_session: true,
            session_expiry_secs: None,
            receive_maximum: None,
        };
        wire::connect(self.protocol, &params, &mut buf).map_err(anyhow::Error::msg)?;
        stream.write_all(&buf).await?;
        stream.flush().await?;
        buf.clear();
        loop {
            if stream.read_buf(&mut buf).await? == 0 {
                bail!("the broker closed the connection before its CONNACK");
            }
            match wire::read(self.protocol, &mut buf, self.max_packet)
                .map_err(anyhow::Error::msg)?
            {
                None => continue,
                Some(Incoming::ConnAck {
                    result,
                    receive_max,
                    ..
                }) => {
                    result.map_err(anyhow::Error::msg)?;
                    let in_flight =
                        receive_max.map_or(MAX_IN_FLIGHT, |m| (m as usize).clamp(1, MAX_IN_FLIGHT));
                    return Ok((stream, buf, in_flight));
                }
                Some(other) => bail!("expected CONNACK, got {other:?}"),
            }
        }
    }
}

/// Connects, serves, and reconnects until `stop` is set or every `Publisher` is dropped.
pub(super) async fn run(target: Target, mut queue: mpsc::Receiver<Outgoing>, stop: CancelFlag) {
    let mut backoff = BACKOFF_MIN;
    while !stop.is_set() {
        let connected = tokio::select! {
            c = tokio::time::timeout(CONNECT_TIMEOUT, target.connect()) => c,
            _ = stop.wait() => break,
        };
        let error = match connected {
            Ok(Ok((stream, read_buf, in_flight))) => {
                tracing::debug!(client_id = %target.client_id, "publisher connected");
                backoff = BACKOFF_MIN;
                match serve(&target, stream, read_buf, in_flight, &mut queue, &stop).await {
                    Ok(()) => break,
                    Err(e) => format!("publisher connection lost: {e:#}; reconnecting"),
                }
            }
            Ok(Err(e)) => format!("publisher cannot connect: {e:#}"),
            Err(_) => format!("publisher cannot connect: no CONNACK within {CONNECT_TIMEOUT:?}"),
        };
        tracing::warn!(retry_in = ?backoff, "{error}");
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.wait() => break,
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Runs one connection. `Ok` when stopping (DISCONNECT sent) or when the queue closed;
/// `Err` when the connection failed. QoS 1 waiters still in flight are dropped with the
/// connection, which fails their publish (the action retries it).
async fn serve(
    target: &Target,
    stream: Box<dyn Stream>,
    mut read_buf: BytesMut,
    max_in_flight: usize,
    queue: &mut mpsc::Receiver<Outgoing>,
    stop: &CancelFlag,
) -> anyhow::Result<()> {
    let protocol = target.protocol;
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut in_flight: HashMap<u16, oneshot::Sender<Result<(), String>>> = HashMap::new();
    let mut last_pkid: u16 = 0;
    let mut batch = Vec::with_capacity(BATCH);
    let mut out = BytesMut::with_capacity(64 * 1024);
    let mut keep_alive = tokio::time::interval(target.keep_alive);
    // After a stall, one late tick rather than a burst (a second tick right after a PINGREQ
    // would take the missing PINGRESP for a dead connection).
    keep_alive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    keep_alive.reset();
    let mut awaiting_ping = false;
    loop {
        let room = max_in_flight.saturating_sub(in_flight.len());
        tokio::select! {
            taken = queue.recv_many(&mut batch, room.min(BATCH)), if room > 0 => {
                if taken == 0 {
                    return Ok(());
                }
                for publish in batch.drain(..) {
                    let pkid = match publish.qos {
                        0 => 0,
                        _ => next_pkid(&mut last_pkid, &in_flight),
                    };
                    let encoded = wire::publish(protocol, OutPublish {
                        topic: &publish.topic,
                        qos: publish.qos,
                        retain: publish.retain,
                        pkid,
                        payload: Bytes::from(publish.payload),
                        properties: &publish.properties,
                    }, &mut out);
                    match (encoded, publish.acked) {
                        (Ok(()), Some(acked)) => { in_flight.insert(pkid, acked); }
                        (Err(e), Some(acked)) => { let _ = acked.send(Err(e)); }
                        (Err(e), None) => tracing::warn!(error = %e, "QoS 0 republish dropped"),
                        (Ok(()), None) => {}
                    }
                }
                writer.write_all(&out).await.context("write")?;
                writer.flush().await.context("write")?;
                out.clear();
            }
            read = reader.read_buf(&mut read_buf) => {
                if read.context("read")? == 0 {
                    bail!("the broker closed the connection");
                }
                while let Some(packet) = wire::read(protocol, &mut read_buf, target.max_packet)
                    .map_err(anyhow::Error::msg)?
                {
                    match packet {
                        Incoming::PubAck { pkid, result } => {
                            if let Some(acked) = in_flight.remove(&pkid) {
                                let _ = acked.send(result.map_err(|r| format!("the broker refused the publish: {r}")));
                            }
                        }
                        Incoming::PingResp => awaiting_ping = false,
                        Incoming::Disconnect(reason) => bail!("the broker sent DISCONNECT ({reason})"),
                        Incoming::ConnAck { .. }
                        | Incoming::Publish(_)
                        | Incoming::SubAck { .. }
                        | Incoming::Other => {}
                    }
                }
            }
            _ = keep_alive.tick() => {
                if awaiting_ping {
                    bail!("no PINGRESP within the keep-alive interval");
                }
                wire::ping(protocol, &mut out);
                writer.write_all(&out).await.context("write")?;
                writer.flush().await.context("write")?;
                out.clear();
                awaiting_ping = true;
            }
            _ = stop.wait() => {
                wire::disconnect(protocol, &mut out);
                let _ = writer.write_all(&out).await;
                let _ = writer.shutdown().await;
                return Ok(());
            }
        }
    }
}

/// The next packet id (1..=65535) not awaiting a PUBACK; the in-flight bound keeps one free.
fn next_pkid<T>(last: &mut u16, in_flight: &HashMap<u16, T>) -> u16 {
    loop {
        *last = last.wrapping_add(1).max(1);
        if !in_flight.contains_key(last) {
            return *last;
        }
    }
}
