//! The MQTT connection the republish action publishes on (a second client id,
//! `<client_id>-pub`, so that pausing the ingest connection for backpressure never blocks
//! publishing). Implements the actions crate's `MqttPublisher`: a QoS 1 publish resolves
//! only when the broker's PUBACK for it has arrived.
//!
//! rumqttc does not say which packet id a publish got, so waiters are matched in order:
//! publishes are queued under a lock in the same order as their waiters, and the event
//! loop reports `PublishSent(pkid)` in queue order; a pkid seen again (a retransmission
//! after reconnecting) already has its waiter.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::stop::CancelFlag;
use rulewire_actions::{BoxFuture, MqttPublisher};
use tokio::sync::oneshot;

use crate::mqtt::{MqttClient, MqttEventLoop, NetEvent};

type Waiter = oneshot::Sender<Result<(), String>>;

#[derive(Default)]
struct Waiters {
    /// Queued publishes not yet handed to the socket: (qos, waiter).
    queued: VecDeque<(u8, Waiter)>,
    /// QoS 1 publishes sent and awaiting PUBACK, by packet id.
    sent: HashMap<u16, Waiter>,
}

/// A publisher over its own MQTT connection.
pub struct Publisher {
    client: MqttClient,
    waiters: Arc<Mutex<Waiters>>,
    order: tokio::sync::Mutex<()>,
}

/// How long a publish may wait for its PUBACK before failing (the action retries it).
const PUBACK_TIMEOUT: Duration = Duration::from_secs(30);

impl Publisher {
    /// Wraps a client and spawns the task that drives its event loop until `stop` is set.
    pub fn start(
        client: MqttClient,
        mut eventloop: MqttEventLoop,
        stop: CancelFlag,
    ) -> Arc<Publisher> {
        let waiters = Arc::new(Mutex::new(Waiters::default()));
        let w = waiters.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            while !stop.is_set() {
                let event = tokio::select! {
                    e = eventloop.poll() => e,
                    _ = stop.wait() => break,
                };
                match event {
                    Ok(NetEvent::Connected { .. }) => backoff = Duration::from_millis(100),
                    Ok(NetEvent::PublishSent(pkid)) => {
                        let mut w = w.lock().unwrap();
                        let fresh = pkid == 0 || !w.sent.contains_key(&pkid);
                        if fresh && let Some((qos, tx)) = w.queued.pop_front() {
                            if qos == 0 {
                                let _ = tx.send(Ok(()));
                            } else {
                                w.sent.insert(pkid, tx);
                            }
                        }
                    }
                    Ok(NetEvent::PubAck(pkid, result)) => {
                        if let Some(tx) = w.lock().unwrap().sent.remove(&pkid) {
                            let _ = tx.send(result);
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "publisher connection lost; reconnecting");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(10));
                    }
                }
            }
        });
        Arc::new(Publisher {
            client,
            waiters,
            order: tokio::sync::Mutex::new(()),
        })
    }

    pub fn client(&self) -> &MqttClient {
        &self.client
    }

    async fn publish_inner(
        &self,
        topic: String,
        qos: u8,
        retain: bool,
        payload: Vec<u8>,
        user_properties: Vec<(String, String)>,
    ) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        {
            let _order = self.order.lock().await;
            self.waiters.lock().unwrap().queued.push_back((qos, tx));
            if let Err(e) = self
                .client
                .publish(&topic, qos, retain, payload, user_properties)
                .await
            {
                self.waiters.lock().unwrap().queued.pop_back();
                return Err(format!("publish to {topic:?} failed: {e}"));
            }
        }
        match tokio::time::timeout(PUBACK_TIMEOUT, rx).await {
            Ok(Ok(result)) => {
                result.map_err(|e| format!("broker refused publish to {topic:?}: {e}"))
            }
            Ok(Err(_)) => Err("publisher shut down".to_owned()),
            Err(_) => Err(format!("no PUBACK for {topic:?} within {PUBACK_TIMEOUT:?}")),
        }
    }
}

impl MqttPublisher for Publisher {
    fn publish(
        &self,
        topic: String,
        qos: u8,
        retain: bool,
        payload: Vec<u8>,
        user_properties: Vec<(String, String)>,
    ) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(self.publish_inner(topic, qos, retain, payload, user_properties))
    }
}
