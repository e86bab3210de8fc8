//! The ingest loop: takes the ingest connection's events (or, with the embedded broker, the
//! republishes and last wills its hooks hand over, `InboundEvent::Local`), hands each
//! incoming message to [`admission`], and drains on shutdown. The embedded broker's clients'
//! own messages skip the loop: its publish hook admits them itself.
//!
//! Backpressure: [`Admission::admit`] waits for one of `limits.max_in_flight` permits,
//! released when the message's ticket completes. With every permit taken the loop stops
//! taking events, the connection stops reading once its small event queue is full, the
//! broker's window fills, and the broker holds the rest (nothing is dropped). Acks and
//! keep-alives still go out meanwhile.
//!
//! Routing: a Device Shadow request (`$aws/things/<thing>/shadow/.../{get,update,delete}`)
//! goes to the shadow service, and also to the rules whose filter matches it, as on AWS; the
//! [`router`] picks the rules. The [`subscriptions`] follow the rules on the broker.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::mqtt::inbound::{InboundClient, InboundEvent};
use crate::pipeline::Acknowledge;

pub mod admission;
pub mod router;
pub mod subscriptions;

use crate::ops::stop::CancelFlag;
pub use admission::{Admission, Incoming, Offer};
pub use router::Routes;
pub use subscriptions::Subscriptions;

/// Shared state the admin server reads.
#[derive(Default)]
pub struct Status {
    pub connected: AtomicBool,
    pub rules_loaded: AtomicBool,
    /// The last connection error (shown by `/readyz`), kept after a reconnect.
    pub last_error: Mutex<Option<String>>,
}

/// Everything the ingest loop needs.
pub struct Ingest {
    /// The ingest connection; `None` when the embedded broker feeds the rules in-process.
    pub client: Option<InboundClient>,
    pub events: mpsc::Receiver<InboundEvent>,
    pub admission: Arc<Admission>,
    pub subscriptions: Arc<Subscriptions>,
    pub status: Arc<Status>,
}

impl Ingest {
    /// Reads and routes until `stop` is set, then drains: keeps the connection up (new
    /// messages are left unacked for redelivery) until every in-flight message is acked or
    /// `drain_timeout` passes, and disconnects.
    pub async fn run(mut self, stop: CancelFlag, drain_timeout: Duration) {
        loop {
            let event = tokio::select! {
                e = self.events.recv() => e,
                _ = stop.wait() => break,
            };
            let incoming = match event {
                Some(InboundEvent::Publish(received)) => {
                    let publish = received.message;
                    let ack = match publish.pkid() {
                        Some(pkid) => Acknowledge::Broker(pkid, received.session),
                        None => Acknowledge::Nothing,
                    };
                    Incoming {
                        msg: publish.into_fired(String::new(), crate::pipeline::epoch_millis()),
                        ack,
                        will: false,
                    }
                }
                Some(InboundEvent::Local(local)) => Incoming::from(local),
                Some(InboundEvent::Rejected(received)) => {
                    self.admission.reject(received);
                    continue;
                }
                Some(event) => {
                    self.on_event(event);
                    continue;
                }
                None => break,
            };
            if !self.admission.admit(incoming, &stop).await {
                break;
            }
        }
        self.drain(drain_timeout).await;
    }

    fn on_event(&self, event: InboundEvent) {
        match event {
            InboundEvent::Connected { session_present } => {
                tracing::info!(session_present, "connected to the MQTT broker");
                self.status.connected.store(true, Ordering::SeqCst);
                let subs = self.subscriptions.clone();
                tokio::spawn(async move { subs.on_connect(session_present).await });
            }
            InboundEvent::SubscribeRefused(detail) => {
                tracing::error!(%detail, "the broker refused a subscription (check its ACLs)");
            }
            InboundEvent::Lost {
                error,
                was_connected,
                retry_in,
            } => {
                self.status.connected.store(false, Ordering::SeqCst);
                self.admission.metrics.broker_reconnects.inc();
                if was_connected {
                    tracing::warn!(%error, ?retry_in, "MQTT connection lost; reconnecting");
                } else {
                    tracing::error!(%error, ?retry_in, "cannot connect to the MQTT broker");
                }
                *self.status.last_error.lock().expect("not poisoned") = Some(error);
            }
            InboundEvent::Publish(_) | InboundEvent::Local(_) | InboundEvent::Rejected(_) => {}
        }
    }

    async fn drain(self, timeout: Duration) {
        let pending = self.admission.acks.pending();
        tracing::info!(pending, "shutting down: draining in-flight messages");
        // The connection keeps writing acks; newly arriving messages stay unacked and the
        // broker redelivers them to the next session.
        let deadline = tokio::time::Instant::now() + timeout;
        while self.admission.acks.pending() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if self.admission.acks.pending() > 0 {
            tracing::warn!(
                pending = self.admission.acks.pending(),
                "shutdown timeout: exiting with unacked messages (the broker redelivers them)"
            );
        }
        if let Some(client) = &self.client {
            client.disconnect(Duration::from_secs(2)).await;
        }
        self.status.connected.store(false, Ordering::SeqCst);
    }
}
