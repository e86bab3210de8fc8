//! The ingest connection: rulewire's own MQTT client for the messages rules read (persistent
//! session, manual acks, MQTT 3.1.1 and 5, TCP or TLS), built so that no message a device can
//! publish stops it.
//!
//! - A PUBLISH over `limits.max_payload_bytes` is never held whole: [`frame`] reads its head
//!   (topic, QoS, packet id) and skips the rest as it arrives, and the ingest loop gets a
//!   [`Rejected`] event to count and acknowledge. A general-purpose client fails the
//!   connection on such a packet instead, and with a persistent session the broker delivers
//!   the same message first on every reconnect: one device stops every rule.
//! - A PUBLISH the codec cannot decode is rejected the same way (its frame is known, so the
//!   stream stays in step). Only a stream that cannot be split into packets any more, or a
//!   broken non-PUBLISH packet, drops the connection.
//! - Acks, subscriptions and PINGREQs are written whenever they are queued, also while the
//!   ingest loop is not reading (backpressure): reading stops at a full event queue.
//!
//! The connection task ([`connection`]) reconnects with backoff and reports every failure as
//! an [`InboundEvent::Lost`] event.

mod connection;
pub mod frame;
#[cfg(test)]
mod tests;

use std::time::Duration;

use anyhow::Context;
use tokio::sync::{mpsc, oneshot};

pub use frame::PublishHead;

use super::IncomingPublish;
use crate::config::BrokerConfig;

/// Events queued for the ingest loop before the connection stops reading.
pub const EVENT_QUEUE: usize = 64;

/// What the ingest loop receives from the connection.
#[derive(Debug)]
pub enum InboundEvent {
    Connected {
        session_present: bool,
    },
    Publish(Received<IncomingPublish>),
    /// A message from the embedded broker itself (no ingest connection in between).
    Local(LocalPublish),
    /// A PUBLISH that is not processed; ack it (when it has a packet id) like any other.
    Rejected(Received<Rejected>),
    /// A SUBACK refused one of our filters.
    SubscribeRefused(String),
    /// The connection failed or could not be made; the task retries after `retry_in`.
    Lost {
        error: String,
        was_connected: bool,
        retry_in: Duration,
    },
}

/// An incoming message and the session it came in, which its ack must name.
#[derive(Debug)]
pub struct Received<T> {
    pub message: T,
    pub session: SessionEpoch,
}

/// A message the embedded broker hands to the rules in-process, with its publisher.
#[derive(Debug)]
pub struct LocalPublish {
    /// The message as its rules see it, with its publisher's client id and arrival time.
    pub msg: Box<rulewire_actions::FiredMessage>,
    /// Fired once its rules are done: the publisher's connection waits for it before the
    /// PUBACK. `None` when no one waits (QoS 0).
    pub done: Option<oneshot::Sender<()>>,
    /// A client's last will, published by the broker when it went away: rules see it, the
    /// shadow service does not (as on AWS).
    pub will: bool,
}

/// Counts the broker sessions: a new epoch starts at each CONNACK without a stored session.
/// An ack from an older epoch is dropped (its packet id may name another message now).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionEpoch(u64);

impl SessionEpoch {
    /// The epoch of messages the embedded broker hands over in-process (never acked to a
    /// broker session).
    pub const LOCAL: SessionEpoch = SessionEpoch(u64::MAX);
}

/// Why a PUBLISH was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// Payload over `limits.max_payload_bytes`.
    TooLarge,
    /// The packet does not decode (bad UTF-8 in the topic, bad properties, ...).
    Malformed,
}

impl RejectReason {
    /// The `reason` label of `rulewire_payload_rejected_total`.
    pub fn label(self) -> &'static str {
        match self {
            RejectReason::TooLarge => "too_large",
            RejectReason::Malformed => "malformed",
        }
    }
}

/// A PUBLISH that rulewire does not process.
#[derive(Debug, Clone)]
pub struct Rejected {
    pub head: PublishHead,
    pub reason: RejectReason,
    /// For the log: the limit exceeded or the decoder's error.
    pub detail: String,
}

/// Which broker to read from and how.
#[derive(Debug, Clone)]
pub struct InboundSpec {
    pub url: String,
    pub client_id: String,
    pub clean_session: bool,
    /// Payloads over this are rejected (and never buffered whole when much larger).
    pub max_payload_bytes: usize,
    /// MQTT 5 receive maximum: unacked QoS 1 messages the broker may send at once.
    pub receive_maximum: u16,
    /// Reconnect backoff, doubling from `min` up to `max`.
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
}

enum Request {
    Ack(u16, SessionEpoch),
    Subscribe(String, u8),
    Unsubscribe(String),
    Disconnect(oneshot::Sender<()>),
}

/// A handle to the connection (cheap to clone): acks, subscriptions, disconnect.
#[derive(Clone)]
pub struct InboundClient {
    requests: mpsc::UnboundedSender<Request>,
}

/// Starts the connection task; it connects at once and reconnects until [`InboundClient::
/// disconnect`]. Bad TLS files or a bad URL fail here.
pub fn start(
    broker: &BrokerConfig,
    spec: InboundSpec,
) -> anyhow::Result<(InboundClient, mpsc::Receiver<InboundEvent>)> {
    let target = connection::Target::new(broker, spec).context("ingest connection")?;
    let (requests, rx) = mpsc::unbounded_channel();
    let (events, events_rx) = mpsc::channel(EVENT_QUEUE);
    tokio::spawn(connection::run(target, rx, events));
    Ok((InboundClient { requests }, events_rx))
}

impl InboundClient {
    /// Queues the PUBACK of a QoS 1 message.
    pub fn ack(&self, pkid: u16, session: SessionEpoch) {
        let _ = self.requests.send(Request::Ack(pkid, session));
    }

    pub fn subscribe(&self, filter: &str, qos: u8) -> anyhow::Result<()> {
        self.requests
            .send(Request::Subscribe(filter.to_owned(), qos))
            .map_err(|_| anyhow::anyhow!("the ingest connection has stopped"))
    }

    pub fn unsubscribe(&self, filter: &str) -> anyhow::Result<()> {
        self.requests
            .send(Request::Unsubscribe(filter.to_owned()))
            .map_err(|_| anyhow::anyhow!("the ingest connection has stopped"))
    }

    /// Writes every queued ack, sends DISCONNECT and stops the task (waits at most `timeout`).
    pub async fn disconnect(&self, timeout: Duration) {
        let (done, wait) = oneshot::channel();
        if self.requests.send(Request::Disconnect(done)).is_ok() {
            let _ = tokio::time::timeout(timeout, wait).await;
        }
    }
}
