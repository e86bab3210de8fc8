//! The publishing connection's task: connect (TCP or TLS, CONNECT/CONNACK), then write every
//! queued publish in batches, match PUBACKs to their waiters, keep the connection alive with
//! PINGREQ, and reconnect with backoff when it drops.
//!
//! With a persistent session ([`Session::Persistent`]) the QoS 1 publishes awaiting a PUBACK
//! outlive the connection: when the broker still holds the session after a reconnect, they
//! are sent again first, in their original order, with their packet ids and the DUP flag (as
//! MQTT requires), and their publishers keep waiting. With a clean session, or when the
//! broker lost the session, they fail and the action retries them.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use super::{MAX_IN_FLIGHT, Outgoing};
use crate::config::{BrokerConfig, Protocol};
use crate::mqtt::transport::{Stream, Transport};
use crate::mqtt::wire::{self, ConnectParams, Incoming, OutPublish};
use crate::ops::stop::CancelFlag;

/// Publishes taken from the queue per write.
const BATCH: usize = 512;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Whether the broker keeps the connection's session across reconnects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {
    Clean,
    /// Kept for `expiry_secs` after a disconnect (MQTT 5; MQTT 3.1.1 brokers decide).
    Persistent {
        expiry_secs: u32,
    },
}

/// Where and how to connect, resolved once at startup.
pub(super) struct Target {
    transport: Transport,
    protocol: Protocol,
    session: Session,
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
        session: Session,
        max_packet: usize,
    ) -> anyhow::Result<Target> {
        Ok(Target {
            transport: Transport::new(broker, url)?,
            protocol: broker.protocol,
            session,
            client_id,
            username: broker.username.clone(),
            password: broker.password.clone(),
            keep_alive: Duration::from_secs(broker.keep_alive_secs.clamp(5, u16::MAX as u64)),
            max_packet,
        })
    }

    /// Opens the socket (and TLS) and completes CONNECT/CONNACK.
    async fn connect(&self) -> anyhow::Result<Connected> {
        let mut stream = self.transport.open().await?;
        let mut buf = BytesMut::new();
        let (clean_session, session_expiry_secs) = match self.session {
            Session::Clean => (true, None),
            Session::Persistent { expiry_secs } => (false, Some(expiry_secs)),
        };
        let params = ConnectParams {
            client_id: &self.client_id,
            keep_alive_secs: self.keep_alive.as_secs() as u16,
            username: &self.username,
            password: &self.password,
            clean_session,
            session_expiry_secs,
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
                    session_present,
                }) => {
                    result.map_err(anyhow::Error::msg)?;
                    let max_in_flight =
                        receive_max.map_or(MAX_IN_FLIGHT, |m| (m as usize).clamp(1, MAX_IN_FLIGHT));
                    return Ok(Connected {
                        stream,
                        read_buf: buf,
                        max_in_flight,
                        session_present: session_present && self.session != Session::Clean,
                    });
                }
                Some(other) => bail!("expected CONNACK, got {other:?}"),
            }
        }
    }
}

/// A connection after its CONNACK.
struct Connected {
    stream: Box<dyn Stream>,
    /// Bytes read past the CONNACK.
    read_buf: BytesMut,
    max_in_flight: usize,
    /// The broker kept our persistent session.
    session_present: bool,
}

/// A QoS 1 publish awaiting its PUBACK.
struct Unacked {
    /// Its place in sending order, to send it again in order.
    sent: u64,
    /// The encoded PUBLISH, kept with a persistent session to send it again.
    packet: Option<Bytes>,
    acked: oneshot::Sender<Result<(), String>>,
}

/// The QoS 1 publishes awaiting a PUBACK, by packet id.
#[derive(Default)]
struct InFlight {
    by_pkid: HashMap<u16, Unacked>,
    sent: u64,
}

impl InFlight {
    /// Drops the publishes whose publisher stopped waiting (it timed out and the action
    /// retries it), then returns the others' packets in sending order, marked DUP.
    fn packets_to_resend(&mut self) -> Vec<Bytes> {
        self.by_pkid
            .retain(|_, u| !u.acked.is_closed() && u.packet.is_some());
        let ordered: BTreeMap<u64, &Bytes> = self
            .by_pkid
            .values()
            .filter_map(|u| Some((u.sent, u.packet.as_ref()?)))
            .collect();
        ordered.into_values().map(wire::with_dup).collect()
    }
}

/// Connects, serves, and reconnects until `stop` is set or every `Publisher` is dropped.
pub(super) async fn run(target: Target, mut queue: mpsc::Receiver<Outgoing>, stop: CancelFlag) {
    let mut backoff = BACKOFF_MIN;
    let mut in_flight = InFlight::default();
    while !stop.is_set() {
        let connected = tokio::select! {
            c = tokio::time::timeout(CONNECT_TIMEOUT, target.connect()) => c,
            _ = stop.wait() => break,
        };
        let error = match connected {
            Ok(Ok(connected)) => {
                tracing::debug!(client_id = %target.client_id,
                    session_present = connected.session_present, "publisher connected");
                backoff = BACKOFF_MIN;
                if !connected.session_present {
                    // Nothing to continue: the waiting publishes fail, and are retried.
                    in_flight = InFlight::default();
                }
                match serve(&target, connected, &mut in_flight, &mut queue, &stop).await {
                    Ok(()) => break,
                    Err(e) => {
                        if target.session == Session::Clean {
                            // Fail the waiting publishes now: the action retries them.
                            in_flight = InFlight::default();
                        }
                        format!("publisher connection lost: {e:#}; reconnecting")
                    }
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
/// `Err` when the connection failed. QoS 1 publishes still awaiting a PUBACK stay in
/// `in_flight` for the next connection: `run` fails them unless the session continues.
async fn serve(
    target: &Target,
    connected: Connected,
    in_flight: &mut InFlight,
    queue: &mut mpsc::Receiver<Outgoing>,
    stop: &CancelFlag,
) -> anyhow::Result<()> {
    let protocol = target.protocol;
    let keep_packets = target.session != Session::Clean;
    let Connected {
        stream,
        mut read_buf,
        max_in_flight,
        ..
    } = connected;
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut last_pkid: u16 = in_flight.by_pkid.keys().copied().max().unwrap_or(0);
    let mut batch = Vec::with_capacity(BATCH);
    let mut out = BytesMut::with_capacity(64 * 1024);
    for packet in in_flight.packets_to_resend() {
        out.extend_from_slice(&packet);
    }
    if !out.is_empty() {
        writer.write_all(&out).await.context("write")?;
        writer.flush().await.context("write")?;
        out.clear();
    }
    let mut keep_alive = tokio::time::interval(target.keep_alive);
    // After a stall, one late tick rather than a burst (a second tick right after a PINGREQ
    // would take the missing PINGRESP for a dead connection).
    keep_alive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    keep_alive.reset();
    let mut awaiting_ping = false;
    loop {
        let room = max_in_flight.saturating_sub(in_flight.by_pkid.len());
        tokio::select! {
            taken = queue.recv_many(&mut batch, room.min(BATCH)), if room > 0 => {
                if taken == 0 {
                    return Ok(());
                }
                for publish in batch.drain(..) {
                    let pkid = match publish.qos {
                        0 => 0,
                        _ => next_pkid(&mut last_pkid, &in_flight.by_pkid),
                    };
                    let start = out.len();
                    let encoded = wire::publish(protocol, OutPublish {
                        topic: &publish.topic,
                        qos: publish.qos,
                        retain: publish.retain,
                        pkid,
                        payload: Bytes::from(publish.payload),
                        properties: &publish.properties,
                    }, &mut out);
                    match (encoded, publish.acked) {
                        (Ok(()), Some(acked)) => {
                            let packet = keep_packets.then(|| Bytes::copy_from_slice(&out[start..]));
                            in_flight.sent += 1;
                            in_flight.by_pkid.insert(pkid, Unacked { sent: in_flight.sent, packet, acked });
                        }
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
                            if let Some(unacked) = in_flight.by_pkid.remove(&pkid) {
                                let _ = unacked.acked.send(result.map_err(|r| format!("the broker refused the publish: {r}")));
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
