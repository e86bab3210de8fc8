//! Acknowledgement: every message read from the broker gets one [`Ticket`] (holding an
//! in-flight permit); each rule that fires on it (or has a failure to report) holds a clone.
//! When the last clone drops the ticket completes, and the [`AckQueue`] acks messages strictly
//! in the order they arrived (or, from the embedded broker, tells the publisher's connection).

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};

use crate::mqtt::inbound::{InboundClient, SessionEpoch};
use crate::ops::metrics::Metrics;

/// Completion of one incoming message; completes when the last clone is dropped.
pub struct Ticket {
    /// Tells the ack task (or the embedded broker's connection) that this QoS 1 message may
    /// be acked; `None` for QoS 0, which has no ack.
    done: Option<oneshot::Sender<()>>,
    /// Whether dropping the ticket ends the message's time in flight (QoS 0, and the embedded
    /// broker's messages); false where the ack task does it once the PUBACK is queued.
    settles_in_flight: bool,
    _permit: Option<OwnedSemaphorePermit>,
    /// The one shared handle a ticket holds: the in-flight count is its gauge
    /// (`rulewire_in_flight_messages`), so a message costs one shared reference and one
    /// count, which both sides of the pipeline touch from different threads.
    metrics: Arc<Metrics>,
    /// When the message was admitted (for `rulewire_queue_wait_seconds` and
    /// `rulewire_message_seconds`).
    admitted: Instant,
}

impl Ticket {
    /// When the message was admitted.
    pub fn admitted(&self) -> Instant {
        self.admitted
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.metrics
            .message_seconds
            .observe(self.admitted.elapsed().as_secs_f64());
        if let Some(tx) = self.done.take() {
            let _ = tx.send(());
        }
        if self.settles_in_flight {
            self.metrics.in_flight.dec();
        }
    }
}

/// How a message is acknowledged once its ticket completes.
#[derive(Debug)]
pub enum Acknowledge {
    /// QoS 0: nothing to acknowledge.
    Nothing,
    /// A PUBACK to the broker, for this packet id of this session, in receive order.
    Broker(u16, SessionEpoch),
    /// A message from the embedded broker's publisher, waiting in its connection for this
    /// signal before the broker sends the PUBACK (each connection waits for its own message,
    /// so the order per publisher is kept).
    Notify(oneshot::Sender<()>),
}

/// Acks in receive order: each QoS 1 entry waits for its ticket, then queues its PUBACK.
/// Counts the messages read and not yet settled (QoS 0) or acked (QoS 1) in
/// `rulewire_in_flight_messages`, which shutdown drains.
#[derive(Clone)]
pub struct AckQueue {
    tx: mpsc::UnboundedSender<(oneshot::Receiver<()>, u16, SessionEpoch)>,
    metrics: Arc<Metrics>,
}

impl AckQueue {
    /// An ack queue with no broker connection to acknowledge to: every ticket is
    /// `Acknowledge::Nothing` or `Acknowledge::Notify` (the embedded broker's own feed).
    pub fn local(metrics: &Arc<Metrics>) -> AckQueue {
        let (tx, _) = mpsc::unbounded_channel();
        AckQueue {
            tx,
            metrics: metrics.clone(),
        }
    }

    /// Starts the ack task for `client`.
    pub fn start(client: InboundClient, metrics: &Arc<Metrics>) -> AckQueue {
        let (tx, mut rx) = mpsc::unbounded_channel::<(oneshot::Receiver<()>, u16, SessionEpoch)>();
        let in_flight = metrics.in_flight.clone();
        tokio::spawn(async move {
            while let Some((done, pkid, session)) = rx.recv().await {
                let _ = done.await;
                client.ack(pkid, session);
                in_flight.dec();
            }
        });
        AckQueue {
            tx,
            metrics: metrics.clone(),
        }
    }

    /// Registers a message in arrival order and returns its ticket.
    pub fn ticket(&self, ack: Acknowledge, permit: Option<OwnedSemaphorePermit>) -> Arc<Ticket> {
        self.metrics.in_flight.inc();
        let mut ticket = Ticket {
            done: None,
            settles_in_flight: true,
            _permit: permit,
            metrics: self.metrics.clone(),
            admitted: Instant::now(),
        };
        match ack {
            Acknowledge::Broker(pkid, session) => {
                let (done, wait) = oneshot::channel();
                if self.tx.send((wait, pkid, session)).is_ok() {
                    ticket.done = Some(done);
                    ticket.settles_in_flight = false;
                }
            }
            Acknowledge::Nothing => {}
            Acknowledge::Notify(done) => ticket.done = Some(done),
        }
        Arc::new(ticket)
    }

    /// Messages not yet settled (QoS 0) or acked (QoS 1).
    pub fn pending(&self) -> usize {
        self.metrics.in_flight.get().max(0) as usize
    }
}
