//! The MQTT connections actions publish on: the republish action's (a second client id,
//! `<client_id>-pub`, so that pausing the ingest connection for backpressure never blocks
//! publishing), and one per remote broker of the mqtt action ([`uplink`]). Implements the
//! actions crate's `MqttPublisher`.
//!
//! Publishes go through a bounded queue to one connection task ([`connection`]), which
//! takes every publish waiting in the queue, encodes them into one buffer and writes it
//! with one syscall. (rumqttc, which the ingest connection uses, flushes the socket after
//! every packet: one `writev` per republished message was ~10 % of the service's CPU, and
//! as many reads for the broker.) The packets themselves are rumqttc's codecs
//! ([`crate::mqtt::wire`]).
//!
//! - QoS 0 resolves once the publish is queued: there is nothing to wait for, and a full
//!   queue makes the caller wait (backpressure).
//! - QoS 1 resolves when the broker's PUBACK for it arrives; a lost connection or no PUBACK
//!   within [`PUBACK_TIMEOUT`] is an error, which the action retries (at least once).
//! - In-flight QoS 1 publishes are bounded by the broker's receive maximum (MQTT 5) or
//!   [`MAX_IN_FLIGHT`].

mod connection;
pub mod uplink;

pub use connection::Session;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rulewire_actions::{BoxFuture, MqttPublisher, PublishProperties};
use tokio::sync::{mpsc, oneshot};

use crate::config::BrokerConfig;
use crate::ops::stop::CancelFlag;

/// How long a QoS 1 publish may wait for its PUBACK before failing (the action retries it).
pub const PUBACK_TIMEOUT: Duration = Duration::from_secs(30);
/// QoS 1 publishes awaiting PUBACK at once (fewer if the broker's receive maximum is lower).
pub const MAX_IN_FLIGHT: usize = 100;
/// Publishes queued for the connection task; beyond it `publish` waits.
const QUEUE: usize = 4096;

/// One publish handed to the connection task.
struct Outgoing {
    topic: String,
    qos: u8,
    retain: bool,
    payload: Vec<u8>,
    properties: PublishProperties,
    /// Resolved by the PUBACK (QoS 1 only).
    acked: Option<oneshot::Sender<Result<(), String>>>,
}

/// A publisher over its own MQTT connection.
pub struct Publisher {
    queue: mpsc::Sender<Outgoing>,
}

impl Publisher {
    /// Starts the connection task for `url` (`mqtt://` or `mqtts://`, with `[broker]`'s
    /// protocol, credentials and TLS files) under `client_id` and `session`; it runs until
    /// `stop` is set.
    /// Bad TLS files or a bad URL fail here.
    pub fn start(
        broker: &BrokerConfig,
        url: &str,
        client_id: String,
        session: Session,
        max_packet: usize,
        stop: CancelFlag,
    ) -> anyhow::Result<Arc<Publisher>> {
        let target = connection::Target::new(broker, url, client_id, session, max_packet)
            .context("publisher connection")?;
        let (queue, rx) = mpsc::channel(QUEUE);
        tokio::spawn(connection::run(target, rx, stop));
        Ok(Arc::new(Publisher { queue }))
    }

    async fn publish_inner(
        &self,
        topic: String,
        qos: u8,
        retain: bool,
        payload: Vec<u8>,
        properties: PublishProperties,
    ) -> Result<(), String> {
        let (acked, wait) = match qos {
            0 => (None, None),
            _ => {
                let (tx, rx) = oneshot::channel();
                (Some(tx), Some(rx))
            }
        };
        let outgoing = Outgoing {
            topic,
            qos,
            retain,
            payload,
            properties,
            acked,
        };
        if let Err(e) = self.queue.send(outgoing).await {
            return Err(format!(
                "publish to {:?} failed: publisher shut down",
                e.0.topic
            ));
        }
        let Some(wait) = wait else { return Ok(()) };
        match tokio::time::timeout(PUBACK_TIMEOUT, wait).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err("the connection to the broker was lost before the PUBACK".into()),
            Err(_) => Err(format!("no PUBACK within {PUBACK_TIMEOUT:?}")),
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
        properties: PublishProperties,
    ) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(self.publish_inner(topic, qos, retain, payload, properties))
    }
}
