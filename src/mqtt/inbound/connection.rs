//! The ingest connection's task: connect (CONNECT/CONNACK, persistent session unless
//! configured otherwise), then turn the broker's packets into [`InboundEvent`]s through the
//! [`FrameReader`], write queued acks and (un)subscriptions in batches, keep the connection
//! alive with PINGREQ, and reconnect with backoff when it drops.

use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};

use super::frame::{self, Frame, FrameLimits, FrameReader, PUBLISH, PublishHead};
use super::{InboundEvent, InboundSpec, Received, RejectReason, Rejected, Request, SessionEpoch};
use crate::config::{BrokerConfig, Protocol};
use crate::mqtt::IncomingPublish;
use crate::mqtt::transport::{Stream, Transport};
use crate::mqtt::wire::{self, ConnectParams, Incoming};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Room for a PUBLISH's topic (up to 65,535 bytes) and MQTT 5 properties beyond the payload
/// limit before it is skipped rather than read whole.
const HEADER_ALLOWANCE: usize = 128 * 1024;
/// CONNACK, SUBACK, UNSUBACK, PUBACK, PINGRESP, DISCONNECT and AUTH are far smaller.
const MAX_OTHER_PACKET: usize = 256 * 1024;
/// Requests (mostly acks) written per batch.
const REQUEST_BATCH: usize = 1024;

/// Where and how to connect, resolved once at startup.
pub(super) struct Target {
    transport: Transport,
    protocol: Protocol,
    spec: InboundSpec,
    username: String,
    password: String,
    keep_alive: Duration,
    session_expiry_secs: u32,
}

impl Target {
    pub(super) fn new(broker: &BrokerConfig, spec: InboundSpec) -> anyhow::Result<Target> {
        Ok(Target {
            transport: Transport::new(broker, &spec.url)?,
            protocol: broker.protocol,
            username: broker.username.clone(),
            password: broker.password.clone(),
            keep_alive: Duration::from_secs(broker.keep_alive_secs.clamp(5, u16::MAX as u64)),
            session_expiry_secs: broker.session_expiry_secs,
            spec,
        })
    }

    fn limits(&self) -> FrameLimits {
        FrameLimits {
            max_publish: self.spec.max_payload_bytes.saturating_add(HEADER_ALLOWANCE),
            max_other: MAX_OTHER_PACKET,
        }
    }

    /// Opens the socket and completes CONNECT/CONNACK; returns the stream and whether the
    /// broker kept our session. Bytes read past the CONNACK stay in `reader`.
    async fn connect(&self, reader: &mut FrameReader) -> anyhow::Result<(Box<dyn Stream>, bool)> {
        let mut stream = self.transport.open().await?;
        let persistent = !self.spec.clean_session;
        let params = ConnectParams {
            client_id: &self.spec.client_id,
            keep_alive_secs: self.keep_alive.as_secs() as u16,
            username: &self.username,
            password: &self.password,
            clean_session: self.spec.clean_session,
            session_expiry_secs: persistent.then_some(self.session_expiry_secs),
            receive_maximum: Some(self.spec.receive_maximum.max(1)),
        };
        let mut out = BytesMut::new();
        wire::connect(self.protocol, &params, &mut out).map_err(anyhow::Error::msg)?;
        stream.write_all(&out).await?;
        stream.flush().await?;
        loop {
            if stream.read_buf(reader.buffer()).await? == 0 {
                bail!("the broker closed the connection before its CONNACK");
            }
            let Some(frame) = reader.next_frame().map_err(|e| anyhow!(e))? else {
                continue;
            };
            let Frame::Packet(mut packet) = frame else {
                bail!("expected CONNACK, got a PUBLISH");
            };
            match wire::read(self.protocol, &mut packet, usize::MAX).map_err(anyhow::Error::msg)? {
                Some(Incoming::ConnAck {
                    result,
                    session_present,
                    ..
                }) => {
                    result.map_err(anyhow::Error::msg)?;
                    return Ok((stream, session_present));
                }
                other => bail!("expected CONNACK, got {other:?}"),
            }
        }
    }
}

/// The broker session as the task tracks it across connections.
struct Session {
    epoch: u64,
    last_pkid: u16,
}

impl Session {
    fn next_pkid(&mut self) -> u16 {
        self.last_pkid = self.last_pkid.wrapping_add(1).max(1);
        self.last_pkid
    }
}

/// Connects, serves and reconnects until a disconnect is requested or the ingest loop is gone.
pub(super) async fn run(
    target: Target,
    mut requests: mpsc::UnboundedReceiver<Request>,
    events: mpsc::Sender<InboundEvent>,
) {
    let mut reader = FrameReader::new(target.limits());
    let mut session = Session {
        epoch: 0,
        last_pkid: 0,
    };
    // Requests that arrived while disconnected, written once connected.
    let mut waiting: Vec<Request> = Vec::new();
    let mut backoff = target.spec.reconnect_min;
    loop {
        reader.reset();
        let connected = tokio::time::timeout(CONNECT_TIMEOUT, target.connect(&mut reader)).await;
        let (error, was_connected) = match connected {
            Ok(Ok((stream, session_present))) => {
                backoff = target.spec.reconnect_min;
                if !session_present {
                    session.epoch += 1;
                }
                if events
                    .send(InboundEvent::Connected { session_present })
                    .await
                    .is_err()
                {
                    return;
                }
                let mut conn = Connection {
                    target: &target,
                    reader: &mut reader,
                    events: &events,
                    session: &mut session,
                    blocked: None,
                    awaiting_ping: false,
                    blocked_since_ping: false,
                };
                match conn.serve(stream, &mut requests, &mut waiting).await {
                    Ok(()) => return,
                    Err(e) => (format!("{e:#}"), true),
                }
            }
            Ok(Err(e)) => (format!("{e:#}"), false),
            Err(_) => (format!("no CONNACK within {CONNECT_TIMEOUT:?}"), false),
        };
        let lost = InboundEvent::Lost {
            error: crate::mqtt::describe_error(&error),
            was_connected,
            retry_in: backoff,
        };
        if events.send(lost).await.is_err() {
            return;
        }
        let sleep = tokio::time::sleep(backoff);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => break,
                request = requests.recv() => match request {
                    None => return,
                    Some(Request::Disconnect(done)) => {
                        let _ = done.send(());
                        return;
                    }
                    Some(other) => waiting.push(other),
                },
            }
        }
        backoff = (backoff * 2).min(target.spec.reconnect_max);
    }
}

/// One live connection.
struct Connection<'a> {
    target: &'a Target,
    reader: &'a mut FrameReader,
    events: &'a mpsc::Sender<InboundEvent>,
    session: &'a mut Session,
    /// An event waiting for room in the ingest loop's queue; reading stops meanwhile.
    blocked: Option<InboundEvent>,
    awaiting_ping: bool,
    /// Reading stopped at some point since the last PINGREQ (its PINGRESP may be unread).
    blocked_since_ping: bool,
}

impl Connection<'_> {
    /// `Ok` once a disconnect was requested (DISCONNECT sent) or every client handle is gone.
    async fn serve(
        &mut self,
        stream: Box<dyn Stream>,
        requests: &mut mpsc::UnboundedReceiver<Request>,
        waiting: &mut Vec<Request>,
    ) -> anyhow::Result<()> {
        let protocol = self.target.protocol;
        let (mut rd, mut wr) = tokio::io::split(stream);
        let mut out = BytesMut::with_capacity(16 * 1024);
        let mut batch = Vec::with_capacity(REQUEST_BATCH);
        let mut keep_alive = tokio::time::interval(self.target.keep_alive);
        keep_alive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        keep_alive.reset();
        batch.append(waiting);
        // Frames that arrived with the CONNACK.
        self.deliver()?;
        loop {
            if !batch.is_empty() {
                let stop = self.encode(&mut batch, &mut out);
                if !out.is_empty() {
                    wr.write_all(&out).await.context("write")?;
                    wr.flush().await.context("write")?;
                    out.clear();
                }
                if let Some(done) = stop {
                    wire::disconnect(protocol, &mut out);
                    let _ = wr.write_all(&out).await;
                    let _ = wr.shutdown().await;
                    let _ = done.send(());
                    return Ok(());
                }
            }
            tokio::select! {
                biased;
                taken = requests.recv_many(&mut batch, REQUEST_BATCH) => {
                    if taken == 0 {
                        return Ok(());
                    }
                }
                // Before reading: a busy QoS 0 stream sends nothing back, and the broker
                // drops a client it hears nothing from for 1.5 keep-alive intervals.
                _ = keep_alive.tick() => {
                    if self.awaiting_ping && !self.blocked_since_ping {
                        bail!("no PINGRESP within the keep-alive interval");
                    }
                    wire::ping(protocol, &mut out);
                    wr.write_all(&out).await.context("write")?;
                    wr.flush().await.context("write")?;
                    out.clear();
                    self.awaiting_ping = true;
                    self.blocked_since_ping = self.blocked.is_some();
                }
                permit = self.events.reserve(), if self.blocked.is_some() => {
                    let permit = permit.map_err(|_| anyhow!("the ingest loop stopped"))?;
                    permit.send(self.blocked.take().expect("guarded by the branch condition"));
                    self.deliver()?;
                }
                read = rd.read_buf(self.reader.buffer()), if self.blocked.is_none() => {
                    if read.context("read")? == 0 {
                        bail!("the broker closed the connection");
                    }
                    self.deliver()?;
                }
            }
        }
    }

    /// Encodes the requests; returns the waiter of a disconnect request, if one came.
    fn encode(
        &mut self,
        batch: &mut Vec<Request>,
        out: &mut BytesMut,
    ) -> Option<oneshot::Sender<()>> {
        let protocol = self.target.protocol;
        let mut stop = None;
        for request in batch.drain(..) {
            match request {
                Request::Ack(pkid, SessionEpoch(epoch)) if epoch == self.session.epoch => {
                    wire::puback(protocol, pkid, out)
                }
                Request::Ack(..) => {} // from a session the broker no longer has
                Request::Subscribe(filter, qos) => {
                    let pkid = self.session.next_pkid();
                    wire::subscribe(protocol, pkid, &filter, qos, out);
                }
                Request::Unsubscribe(filter) => {
                    let pkid = self.session.next_pkid();
                    wire::unsubscribe(protocol, pkid, &filter, out);
                }
                Request::Disconnect(done) => stop = Some(done),
            }
        }
        stop
    }

    /// Turns buffered frames into events until the buffer is empty or the queue is full.
    fn deliver(&mut self) -> anyhow::Result<()> {
        while self.blocked.is_none() {
            let Some(frame) = self.reader.next_frame().map_err(|e| anyhow!(e))? else {
                return Ok(());
            };
            let Some(event) = self.decode(frame)? else {
                continue;
            };
            match self.events.try_send(event) {
                Ok(()) => {}
                Err(TrySendError::Full(event)) => {
                    self.blocked = Some(event);
                    self.blocked_since_ping = true;
                }
                Err(TrySendError::Closed(_)) => bail!("the ingest loop stopped"),
            }
        }
        Ok(())
    }

    fn decode(&mut self, frame: Frame) -> anyhow::Result<Option<InboundEvent>> {
        let session = SessionEpoch(self.session.epoch);
        let max_payload = self.target.spec.max_payload_bytes;
        let packet = match frame {
            Frame::Skipped(head) => {
                let detail = format!(
                    "a {}-byte packet, over limits.max_payload_bytes ({max_payload}) + {HEADER_ALLOWANCE} for topic and properties",
                    head.packet_len
                );
                return Ok(Some(rejected(
                    head,
                    RejectReason::TooLarge,
                    detail,
                    session,
                )));
            }
            Frame::Packet(packet) => packet,
        };
        if packet.first().is_some_and(|b| b >> 4 == PUBLISH) {
            let packet = packet.freeze();
            return Ok(Some(
                match wire::read_publish(self.target.protocol, packet.clone()) {
                    Ok(publish) if publish.payload_len() > max_payload => {
                        let detail = format!(
                            "a {}-byte payload, over limits.max_payload_bytes ({max_payload})",
                            publish.payload_len()
                        );
                        rejected(
                            head_of(&publish, packet.len()),
                            RejectReason::TooLarge,
                            detail,
                            session,
                        )
                    }
                    Ok(publish) => InboundEvent::Publish(Received {
                        message: publish,
                        session,
                    }),
                    Err(e) => rejected(
                        frame::head_of_packet(&packet),
                        RejectReason::Malformed,
                        e,
                        session,
                    ),
                },
            ));
        }
        let mut packet = packet;
        let incoming = wire::read(self.target.protocol, &mut packet, usize::MAX)
            .map_err(anyhow::Error::msg)?;
        Ok(match incoming {
            Some(Incoming::PingResp) => {
                self.awaiting_ping = false;
                None
            }
            Some(Incoming::SubAck {
                refused: Some(detail),
            }) => Some(InboundEvent::SubscribeRefused(detail)),
            Some(Incoming::Disconnect(reason)) => bail!("the broker sent DISCONNECT ({reason})"),
            Some(_) => None,
            None => bail!("a packet from the broker did not decode as one whole packet"),
        })
    }
}

fn rejected(
    head: PublishHead,
    reason: RejectReason,
    detail: String,
    session: SessionEpoch,
) -> InboundEvent {
    InboundEvent::Rejected(Received {
        message: Rejected {
            head,
            reason,
            detail,
        },
        session,
    })
}

fn head_of(publish: &IncomingPublish, packet_len: usize) -> PublishHead {
    PublishHead {
        topic: publish.topic(),
        qos: publish.qos(),
        pkid: publish.pkid(),
        packet_len,
    }
}
