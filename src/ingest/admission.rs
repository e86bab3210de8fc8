//! Admission: what happens to one incoming message before its rules run. It waits for an
//! in-flight permit (backpressure), gets its [`Ticket`](crate::pipeline::Ticket), and goes
//! to the shadow service and to the rules the [`router`](super::router) picks.
//!
//! Shared by the ingest loop (messages from the ingest connection, and the embedded broker's
//! republishes and wills) and, with the embedded broker, its publish hook, which admits its
//! clients' messages in the publishing connection's own task: no hand-over to the ingest
//! loop and back per message.
//!
//! Rejected messages (payload over `limits.max_payload_bytes`, or a PUBLISH that does not
//! decode) are logged, counted in `rulewire_payload_rejected_total{reason}` and acked in
//! their turn, so the broker does not deliver them again.

use std::sync::Arc;

use rulewire_actions::FiredMessage;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::Routes;
use super::router::{Admitted, Destination};
use crate::mqtt::inbound::{LocalPublish, Received, RejectReason, Rejected};
use crate::ops::metrics::Metrics;
use crate::ops::stop::CancelFlag;
use crate::pipeline::{AckQueue, Acknowledge, new_trace_id};
use crate::registry::Registry;
use crate::shadow::{ShadowRequest, ShadowService};

/// Everything admitting a message needs; one per service.
pub struct Admission {
    pub registry: Arc<Registry>,
    pub acks: AckQueue,
    pub metrics: Arc<Metrics>,
    /// The Device Shadow service, when `[shadows]` is on.
    pub shadows: Option<ShadowService>,
    /// `limits.max_in_flight` permits; each routed message holds one until its ticket
    /// completes.
    permits: Arc<Semaphore>,
}

/// One message to admit.
pub struct Incoming {
    /// The message as its rules see it: topic, payload, properties, the publisher's client
    /// id (empty when the broker does not tell; the embedded one does) and arrival time.
    /// Built once where the message arrives; admission adds its trace id.
    pub msg: Box<FiredMessage>,
    pub ack: Acknowledge,
    /// A last will: goes to rules only (AWS's shadow service ignores wills).
    pub will: bool,
}

impl From<LocalPublish> for Incoming {
    /// A message the embedded broker hands over: its ack is the publisher's connection's.
    fn from(local: LocalPublish) -> Incoming {
        Incoming {
            msg: local.msg,
            ack: local.done.map_or(Acknowledge::Nothing, Acknowledge::Notify),
            will: local.will,
        }
    }
}

/// What [`Admission::offer`] did with a message.
pub enum Offer {
    /// Routed to its rules (or the shadow service).
    Taken,
    /// Counted and dropped: nothing reads it.
    Unread,
    /// rulewire is shutting down: not taken.
    Stopping,
    /// Every in-flight permit is taken: [`Admission::admit`] waits for one.
    Full(Incoming),
}

impl Admission {
    pub fn new(
        registry: Arc<Registry>,
        acks: AckQueue,
        metrics: Arc<Metrics>,
        shadows: Option<ShadowService>,
        max_in_flight: usize,
    ) -> Admission {
        Admission {
            registry,
            acks,
            metrics,
            shadows,
            permits: Arc::new(Semaphore::new(max_in_flight)),
        }
    }

    /// Waits for in-flight room, then sends the message to the shadow service and its
    /// rules; its ticket completes once they are all done. A message no rule reads and no
    /// ack waits for in order (the embedded broker's own republishes, mostly) is only
    /// counted: no permit, ticket or trace id. False, and the message is dropped unrouted
    /// (its ack not sent, so it comes again), once `stop` is set.
    pub async fn admit(&self, incoming: Incoming, stop: &CancelFlag) -> bool {
        if stop.is_set() {
            return false;
        }
        // The route table this message is routed with (read once per message).
        let routes = self.registry.routes();
        let to = routes.destination(&incoming.msg.topic);
        if !matches!(incoming.ack, Acknowledge::Broker(..))
            && self.count_if_unread(&to, &incoming.msg.topic, incoming.will)
        {
            return true;
        }
        self.admit_wanted(&routes, to, incoming, stop).await
    }

    /// [`Admission::admit`] without waiting, for a message the embedded broker hands over
    /// from a client's connection (not a will; its ack is not the broker's): `make` builds
    /// it only when a rule or the shadow service reads `topic`, so the messages nothing
    /// reads (most of a broker's traffic, often) cost one route lookup and no copy. With
    /// every in-flight permit taken the message comes back built, for `admit` to wait with.
    /// Not async, so that the publish hook's own future stays small (it is built, boxed and
    /// moved per message).
    pub fn offer(&self, topic: &str, make: impl FnOnce() -> Incoming, stop: &CancelFlag) -> Offer {
        if stop.is_set() {
            return Offer::Stopping;
        }
        let routes = self.registry.routes();
        let to = routes.destination(topic);
        if self.count_if_unread(&to, topic, false) {
            return Offer::Unread;
        }
        // As in `admit_wanted`: a free permit does not jump the queue of waiters.
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => {
                self.route(&routes, to, make(), permit);
                Offer::Taken
            }
            Err(_) => Offer::Full(make()),
        }
    }

    /// Waits for in-flight room and routes a message that something reads.
    async fn admit_wanted(
        &self,
        routes: &Routes,
        to: Destination,
        incoming: Incoming,
        stop: &CancelFlag,
    ) -> bool {
        // A free permit is taken without building the stop flag's wait (most messages): the
        // semaphore hands released permits to queued waiters first, so this does not jump
        // the queue.
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => tokio::select! {
                p = self.permits.clone().acquire_owned() => p.expect("the semaphore never closes"),
                _ = stop.wait() => return false,
            },
        };
        self.route(routes, to, incoming, permit);
        true
    }

    /// Counts a message on `topic` that nothing reads and returns true (the caller drops
    /// it); false if a rule or the shadow service wants it. Lets the embedded broker drop
    /// rulewire's own republishes without handing them to the ingest loop.
    pub fn skip_unread(&self, topic: &str, will: bool) -> bool {
        let to = self.registry.routes().destination(topic);
        self.count_if_unread(&to, topic, will)
    }

    /// True (and counted as received) if nothing reads a message on `topic`, going `to` the
    /// rules: no rule, and (not a will) not the shadow service.
    fn count_if_unread(&self, to: &Destination, topic: &str, will: bool) -> bool {
        // The shadow check only when no rule reads it (it parses the topic).
        let wanted = to.any()
            || (self.shadows.is_some() && !will && crate::shadow::parse_topic(topic).is_some());
        let unread = !wanted;
        if unread {
            self.metrics.messages_received.inc();
        }
        unread
    }

    /// Counts and logs a message that is not processed; its ack waits for its turn.
    pub fn reject(&self, received: Received<Rejected>) {
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
        let ticket = self.acks.ticket(ack, None);
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

    /// Sends one message to the shadow service (a Device Shadow request, not a will) and to
    /// its rules, each holding a clone of its ticket.
    fn route(
        &self,
        routes: &Routes,
        to: Destination,
        incoming: Incoming,
        permit: OwnedSemaphorePermit,
    ) {
        let Incoming { mut msg, ack, will } = incoming;
        self.metrics.messages_received.inc();
        let ticket = self.acks.ticket(ack, Some(permit));
        // One trace id per message: every rule sees the same `traceid()`.
        msg.trace_id = new_trace_id();
        if let Some(shadows) = &self.shadows
            && !will
            && let Some((name, operation)) = crate::shadow::parse_topic(&msg.topic)
        {
            shadows.submit(ShadowRequest {
                name,
                operation,
                payload: msg.original_payload.clone(),
                client_id: msg.client_id.clone(),
                too_large: false,
                ticket: ticket.clone(),
            });
        }
        routes.dispatch(to, Admitted { msg, ticket }, &self.metrics);
    }
}
