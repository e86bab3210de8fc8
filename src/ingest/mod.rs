//! The ingest loop: takes the ingest connection's events (or, with the embedded broker, the
//! messages its publish hook hands over in-process, `InboundEvent::Local`), applies
//! backpressure, routes each incoming message to its rules, and drains on shutdown.
//!
//! Backpressure: a semaphore of `limits.max_in_flight` permits; each PUBLISH takes one
//! before it is routed, released when the message's ticket completes. With every permit
//! taken the loop stops taking events, the connection stops reading once its small event
//! queue is full, the broker's window fills, and the broker holds the rest (nothing is
//! dropped). Acks and keep-alives still go out meanwhile.
//!
//! Routing: a Device Shadow request (`$aws/things/<thing>/shadow/.../{get,update,delete}`)
//! goes to the shadow service, and also to the rules whose filter matches it, as on AWS; the
//! [`router`] picks the rules. The [`subscriptions`] follow the rules on the broker.
//! Rejected messages (payload over `limits.max_payload_bytes`, or a PUBLISH that does not
//! decode) are logged, counted in `rulewire_payload_rejected_total{reason}` and acked in
//! their turn, so the broker does not deliver them again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::mqtt::IncomingPublish;
use crate::mqtt::inbound::{
    InboundClient, InboundEvent, LocalPublish, Received, RejectReason, Rejected,
};
use crate::ops::metrics::Metrics;
use crate::pipeline::{AckQueue, Acknowledge, new_trace_id};
use crate::registry::Registry;
use crate::shadow::{ShadowRequest, ShadowService};

pub mod router;
pub mod subscriptions;

use crate::ops::stop::CancelFlag;
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
    pub registry: Arc<Registry>,
    pub subscriptions: Arc<Subscriptions>,
    pub acks: AckQueue,
    pub metrics: Arc<Metrics>,
    pub status: Arc<Status>,
    pub max_in_flight: usize,
    /// The Device Shadow service, when `[shadows]` is on.
    pub shadows: Option<ShadowService>,
}

impl Ingest {
    /// Reads and routes until `stop` is set, then drains: keeps the connection up (new
    /// messages are left unacked for redelivery) until every in-flight message is acked or
    /// `drain_timeout` passes, and disconnects.
    pub async fn run(mut self, stop: CancelFlag, drain_timeout: Duration) {
        let permits = Arc::new(Semaphore::new(self.max_in_flight));
        loop {
            let event = tokio::select! {
                e = self.events.recv() => e,
                _ = stop.wait() => break,
            };
            // A message to route: (publish, how to acknowledge it, its publisher when known,
            // whether it is a last will).
            let message = match event {
                Some(InboundEvent::Publish(received)) => {
                    let publish = received.message;
                    let ack = match publish.pkid() {
                        Some(pkid) => Acknowledge::Broker(pkid, received.session),
                        None => Acknowledge::Nothing,
                    };
                    (publish, ack, None, false)
                }
                Some(InboundEvent::Local(LocalPublish {
                    publish,
                    client_id,
                    done,
                    will,
                })) => {
                    let ack = done.map_or(Acknowledge::Nothing, Acknowledge::Notify);
                    (publish, ack, Some(client_id), will)
                }
                Some(InboundEvent::Rejected(received)) => {
                    self.reject(received);
                    continue;
                }
                Some(event) => {
                    self.on_event(event);
                    continue;
                }
                None => break,
            };
            let (publish, ack, client_id, will) = message;
            // The route table this message is routed with (read once per message).
            let routes = self.registry.routes();
            // A message no rule reads and no ack waits for in order (the embedded broker's
            // own republishes, mostly) is only counted: no permit, ticket or trace id.
            if !matches!(ack, Acknowledge::Broker(..)) && !self.wanted(&routes, &publish, will) {
                self.metrics.messages_received.inc();
                continue;
            }
            let permit = tokio::select! {
                p = permits.clone().acquire_owned() => p.expect("semaphore never closes"),
                _ = stop.wait() => break,
            };
            self.route(&routes, publish, ack, client_id, will, permit);
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
                self.metrics.broker_reconnects.inc();
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

    /// Whether a message goes anywhere: to a rule, or (not a will) to the shadow service.
    fn wanted(&self, routes: &Routes, publish: &IncomingPublish, will: bool) -> bool {
        let topic = publish.topic_str();
        routes.wants(&topic)
            || (self.shadows.is_some() && !will && crate::shadow::parse_topic(&topic).is_some())
    }

    /// Counts and logs a message that is not processed; its ack waits for its turn.
    fn reject(&self, received: Received<Rejected>) {
        let Rejected {
            head,
            reason,
            detail,
        } = received.message;
        self.metrics.messages_received.inc();
        self.metrics
            .payload_rejected
            .with_label_values(&[reason.label()])
            .inc();
        tracing::warn!(topic = %head.topic, client_id = "n/a", qos = head.qos, reason = reason.label(),
            %detail, acked = head.pkid.is_some(),
            "message rejected (acked, not processed)");
        let ack = match head.pkid {
            Some(pkid) => Acknowledge::Broker(pkid, received.session),
            None => Acknowledge::Nothing,
        };
        let ticket = self.acks.ticket(ack, None, &self.metrics);
        // A shadow request too large to read still gets AWS's 413 answer.
        if let (Some(shadows), RejectReason::TooLarge) = (&self.shadows, reason)
            && let Some((name, operation)) = crate::shadow::parse_topic(&head.topic)
        {
            shadows.submit(ShadowRequest {
                name,
                operation,
                payload: bytes::Bytes::new(),
                client_id: String::new(),
                too_large: true,
                ticket,
            });
        }
    }

    /// Sends one message to its rules; its ticket completes once they are all done.
    /// `client_id` is the publisher's when known (the embedded broker knows it); a last
    /// `will` goes to rules only (AWS's shadow service ignores wills).
    fn route(
        &self,
        routes: &Routes,
        publish: IncomingPublish,
        ack: Acknowledge,
        client_id: Option<String>,
        will: bool,
        permit: OwnedSemaphorePermit,
    ) {
        self.metrics.messages_received.inc();
        let ticket = self.acks.ticket(ack, Some(permit), &self.metrics);
        let client_id = client_id.unwrap_or_default();
        let topic = publish.topic();
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        // One trace id per message: every rule sees the same `traceid()`.
        let trace_id = new_trace_id();
        if let Some(shadows) = &self.shadows
            && !will
            && let Some((name, operation)) = crate::shadow::parse_topic(&topic)
        {
            shadows.submit(ShadowRequest {
                name,
                operation,
                payload: publish.payload().clone(),
                client_id: client_id.clone(),
                too_large: false,
                ticket: ticket.clone(),
            });
        }
        routes.dispatch(
            &publish,
            &client_id,
            now_ms,
            trace_id,
            ticket,
            &self.metrics,
        );
    }

    async fn drain(self, timeout: Duration) {
        let pending = self.acks.pending();
        tracing::info!(pending, "shutting down: draining in-flight messages");
        // The connection keeps writing acks; newly arriving messages stay unacked and the
        // broker redelivers them to the next session.
        let deadline = tokio::time::Instant::now() + timeout;
        while self.acks.pending() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if self.acks.pending() > 0 {
            tracing::warn!(
                pending = self.acks.pending(),
                "shutdown timeout: exiting with unacked messages (the broker redelivers them)"
            );
        }
        if let Some(client) = &self.client {
            client.disconnect(Duration::from_secs(2)).await;
        }
        self.status.connected.store(false, Ordering::SeqCst);
    }
}
