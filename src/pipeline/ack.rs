//! Acknowledgement: every message read from the broker gets one [`Ticket`] (holding an
//! in-flight permit); each rule that fires on it (or has a failure to report) holds a clone.
//! When the last clone drops the ticket completes, and the [`AckQueue`] acks messages strictly
//! in the order they arrived (or, from the embedded broker, tells the publisher's connection).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};

use crate::mqtt::inbound::{InboundClient, SessionEpoch};
use crate::ops::metrics::Metrics;

/// Completion of one incoming message; completes when the last clone is dropped.
pub struct Ticket {
    /// Tells the ack task (or the embedded broker's connection) that this QoS 1 message may
    /// be acked; `None` for QoS 0, which has no ack.
    done: Option<oneshot::Sender<()>>,
    /// The ack queue's count of unsettled messages, decremented here when no ack task does.
    unacked_qos0: Option<Arc<AtomicUsize>>,
    _permit: Option<OwnedSemaphorePermit>,
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
        self.metrics.in_flight.dec();
        self.metrics
            .message_seconds
            .observe(self.admitted.elapsed().as_secs_f64());
        if let Some(tx) = self.done.take() {
            let _ = tx.send(());
        }
        if let Some(pending) = self.unacked_qos0.take() {
            pending.fetch_sub(1, Ordering::SeqCst);
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
#[derive(Clone)]
pub struct AckQueue {
    tx: mpsc::UnboundedSender<(oneshot::Receiver<()>, u16, SessionEpoch)>,
    /// Tickets issued and not yet settled (QoS 0) or acked (QoS 1).
    pending: Arc<AtomicUsize>,
}

impl AckQueue {
    /// An ack queue with no broker connection to acknowledge to: every ticket is
    /// `Acknowledge::Nothing` or `Acknowledge::Notify` (the embedded broker's own feed).
    pub fn local() -> AckQueue {
        let (tx, _) = mpsc::unbounded_channel();
        AckQueue {
            tx,
            pending: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Starts the ack task for `client`.
    pub fn start(client: InboundClient) -> AckQueue {
        let (tx, mut rx) = mpsc::unbounded_channel::<(oneshot::Receiver<()>, u16, SessionEpoch)>();
        let pending = Arc::new(AtomicUsize::new(0));
        let p = pending.clone();
        tokio::spawn(async move {
            while let Some((done, pkid, session)) = rx.recv().await {
                let _ = done.await;
                client.ack(pkid, session);
                p.fetch_sub(1, Ordering::SeqCst);
            }
        });
        AckQueue { tx, pending }
    }

    /// Registers a message in arrival order and returns its ticket.
    pub fn ticket(
        &self,
        ack: Acknowledge,
        permit: Option<OwnedSemaphorePermit>,
        metrics: &Arc<Metrics>,
    ) -> Arc<Ticket> {
        self.pending.fetch_add(1, Ordering::SeqCst);
        metrics.in_flight.inc();
        let mut ticket = Ticket {
            done: None,
            unacked_qos0: None,
            _permit: permit,
            metrics: metrics.clone(),
            admitted: Instant::now(),
        };
        match ack {
            Acknowledge::Broker(pkid, session) => {
                let (done, wait) = oneshot::channel();
                if self.tx.send((wait, pkid, session)).is_ok() {
                    ticket.done = Some(done);
                } else {
                    self.pending.fetch_sub(1, Ordering::SeqCst);
                }
            }
            Acknowledge::Nothing => ticket.unacked_qos0 = Some(self.pending.clone()),
            Acknowledge::Notify(done) => {
                ticket.done = Some(done);
                ticket.unacked_qos0 = Some(self.pending.clone());
            }
        }
        Arc::new(ticket)
    }

    /// Messages not yet settled (QoS 0) or acked (QoS 1).
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }
}
