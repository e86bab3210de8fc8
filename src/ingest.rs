//! The ingest connection: drives the rumqttc event loop, applies backpressure, routes each
//! incoming message to its rules, and drains on shutdown.
//!
//! Backpressure: a semaphore of `limits.max_in_flight` permits; one permit is taken before
//! the next PUBLISH is read and released when the message's ticket completes. With every
//! permit taken the loop stops polling, the broker's window fills, and the broker holds
//! the rest (nothing is dropped).
//!
//! Routing: `$aws/rules/<rule>/<rest>` (Basic Ingest) goes to that rule alone with topic
//! `<rest>` (an unknown or disabled rule counts RuleNotFound); any other topic goes, once, to
//! every rule group whose FROM filter matches (TopicMatch counts each of its rules). Payloads over
//! `limits.max_payload_bytes` are rejected: logged, counted, and acked so they are not
//! redelivered forever.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::metrics::Metrics;
use crate::mqtt::{IncomingPublish, MqttClient, MqttEventLoop, NetEvent};
use crate::pipeline::{AckQueue, Item, new_trace_id};
use crate::registry::{Registry, Subscriptions};
use crate::stop::CancelFlag;

/// Shared state the admin server reads.
#[derive(Default)]
pub struct Status {
    pub connected: AtomicBool,
    pub rules_loaded: AtomicBool,
}

/// Everything the ingest loop needs.
pub struct Ingest {
    pub client: MqttClient,
    pub eventloop: MqttEventLoop,
    pub registry: Arc<Registry>,
    pub subscriptions: Arc<Subscriptions>,
    pub acks: AckQueue,
    pub metrics: Arc<Metrics>,
    pub status: Arc<Status>,
    pub max_in_flight: usize,
    pub max_payload_bytes: usize,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
}

impl Ingest {
    /// Reads and routes until `stop` is set, then drains: keeps the connection up (new
    /// messages are left unacked for redelivery) until every in-flight message is acked or
    /// `drain_timeout` passes, and disconnects.
    pub async fn run(mut self, stop: CancelFlag, drain_timeout: Duration) {
        let permits = Arc::new(Semaphore::new(self.max_in_flight));
        let mut backoff = self.reconnect_min;
        'read: loop {
            let permit = tokio::select! {
                p = permits.clone().acquire_owned() => p.expect("semaphore never closes"),
                _ = stop.wait() => break 'read,
            };
            let mut permit = Some(permit);
            while permit.is_some() {
                let event = tokio::select! {
                    e = self.eventloop.poll() => e,
                    _ = stop.wait() => break 'read,
                };
                match event {
                    Ok(NetEvent::Publish(p)) => self.route(p, permit.take()),
                    Ok(event) => {
                        if matches!(event, NetEvent::Connected { .. }) {
                            backoff = self.reconnect_min;
                        }
                        self.on_event(event)
                    }
                    Err(e) => {
                        self.on_error(&e, backoff);
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(self.reconnect_max);
                    }
                }
            }
        }
        self.drain(drain_timeout).await;
    }

    fn on_event(&self, event: NetEvent) {
        match event {
            NetEvent::Connected { session_present } => {
                tracing::info!(session_present, "connected to the MQTT broker");
                self.status.connected.store(true, Ordering::SeqCst);
                let subs = self.subscriptions.clone();
                tokio::spawn(async move { subs.on_connect(session_present).await });
            }
            NetEvent::SubscribeRefused(detail) => {
                tracing::error!(%detail, "the broker refused a subscription (check its ACLs)");
            }
            _ => {}
        }
    }

    fn on_error(&self, e: &str, backoff: Duration) {
        let was = self.status.connected.swap(false, Ordering::SeqCst);
        if was {
            tracing::warn!(error = %e, "MQTT connection lost; reconnecting");
        } else {
            tracing::error!(error = %e, retry_in = ?backoff, "cannot connect to the MQTT broker");
        }
    }

    /// Sends one message to its rules; its ticket completes once they are all done.
    fn route(&self, publish: IncomingPublish, permit: Option<OwnedSemaphorePermit>) {
        self.metrics.messages_received.inc();
        let ticket = self.acks.ticket(&publish, permit, &self.metrics);
        let topic = publish.topic();
        if publish.payload_len() > self.max_payload_bytes {
            self.metrics.payload_rejected.inc();
            tracing::warn!(%topic, bytes = publish.payload_len(), limit = self.max_payload_bytes,
                "payload over limits.max_payload_bytes rejected (acked, not processed)");
            return;
        }
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        // One trace id per message: every rule sees the same `traceid()`.
        let trace_id = new_trace_id();
        let routes = self.registry.routes();
        if let Some(rest) = topic.strip_prefix("$aws/rules/") {
            let (name, rest) = rest.split_once('/').unwrap_or((rest, ""));
            match routes.by_name(name) {
                Some(route) => {
                    route.topic_match.inc();
                    let msg = publish.to_fired(rest.to_owned(), now_ms, trace_id);
                    let group = &routes.groups[route.group];
                    let _ = group.tx.send(Item {
                        group: group.group.clone(),
                        msg,
                        ticket,
                        only: Some(route.member),
                    });
                }
                None => {
                    self.metrics.rule_not_found.with_label_values(&[name]).inc();
                    tracing::warn!(rule = %name, %topic, "Basic Ingest to an unknown or disabled rule (RuleNotFound)");
                }
            }
            return;
        }
        routes.for_each_match(&topic, |group| {
            for &rule in &group.rules {
                routes.rules[rule].topic_match.inc();
            }
            let msg = publish.to_fired(topic.clone(), now_ms, trace_id.clone());
            let _ = group.tx.send(Item {
                group: group.group.clone(),
                msg,
                ticket: ticket.clone(),
                only: None,
            });
        });
    }

    async fn drain(mut self, timeout: Duration) {
        let pending = self.acks.pending();
        tracing::info!(pending, "shutting down: draining in-flight messages");
        let deadline = tokio::time::Instant::now() + timeout;
        while self.acks.pending() > 0 && tokio::time::Instant::now() < deadline {
            // Keep polling so queued PUBACKs go out; newly arriving messages stay unacked
            // and the broker redelivers them to the next session.
            if let Ok(Err(_)) =
                tokio::time::timeout(Duration::from_millis(50), self.eventloop.poll()).await
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        if self.acks.pending() > 0 {
            tracing::warn!(
                pending = self.acks.pending(),
                "shutdown timeout: exiting with unacked messages (the broker redelivers them)"
            );
        }
        let _ = self.client.disconnect().await;
        let flush = async {
            loop {
                if self.eventloop.poll().await.is_err() {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), flush).await;
        self.status.connected.store(false, Ordering::SeqCst);
    }
}
