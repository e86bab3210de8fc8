//! The load: N publisher connections, each a rumqttc client whose eventloop is polled
//! continuously in its own task, and a publishing task that renders the topic and payload
//! templates and paces itself with a token bucket (`--rate` split evenly; at rate 0 it
//! publishes as fast as the bounded request channel accepts).
//!
//! Sequence numbers come from one shared counter, so `{seq}` is unique across connections;
//! during the warmup they come from a second counter starting at [`WARMUP_SEQ_BASE`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, QoS};
use tokio::task::JoinHandle;

use super::args::Plan;
use super::receiver::{no_delay, now_ns, wait_connack};
use super::template::{Rng, Template, Vars, WARMUP_SEQ_BASE};

/// Requests queued between a publishing task and its eventloop. Small: the queue adds to
/// the measured latency, and a bounded queue is what paces a max-rate publisher.
const REQUEST_CHANNEL: usize = 64;

/// State shared by the publishing tasks and the coordinator.
#[derive(Default)]
pub struct Shared {
    /// Next measured seq.
    pub next_seq: AtomicU64,
    /// Next warmup seq (offset by WARMUP_SEQ_BASE).
    pub next_warm_seq: AtomicU64,
    /// True while warming up.
    pub warming: AtomicBool,
    /// Set by the coordinator: stop publishing.
    pub stop: AtomicBool,
    /// Measured messages handed to the client.
    pub sent: AtomicU64,
    /// Warmup messages handed to the client.
    pub sent_warmup: AtomicU64,
}

/// One connected publisher: its client and the task polling its eventloop.
pub struct Connection {
    pub index: usize,
    client: AsyncClient,
    pub eventloop: JoinHandle<anyhow::Result<()>>,
}

/// Connects publisher `index` and waits for its CONNACK.
pub async fn connect(plan: &Plan, index: usize) -> anyhow::Result<Connection> {
    let id = format!("rulewire-bench-{}-pub-{index}", std::process::id());
    let mut options = MqttOptions::new(id, &plan.host, plan.port);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_clean_session(true);
    options.set_max_packet_size(4 << 20, 4 << 20);
    options.set_inflight(1000);
    let (client, mut eventloop) = AsyncClient::new(options, REQUEST_CHANNEL);
    eventloop.set_network_options(no_delay());
    wait_connack(&mut eventloop, &format!("publisher {index}")).await?;
    let eventloop = tokio::spawn(drive(eventloop, index));
    Ok(Connection {
        index,
        client,
        eventloop,
    })
}

/// Polls the eventloop until our DISCONNECT has been written (everything queued before it
/// has then been flushed to the socket). A connection error ends the bench.
async fn drive(mut eventloop: EventLoop, index: usize) -> anyhow::Result<()> {
    loop {
        match eventloop.poll().await {
            Ok(Event::Outgoing(Outgoing::Disconnect)) => return Ok(()),
            Ok(_) => {}
            Err(e) => anyhow::bail!("publisher {index}: connection lost: {e}"),
        }
    }
}

/// Everything a publishing task needs, cloned per connection.
pub struct Load {
    pub topic: Template,
    pub payload: Template,
    pub qos: QoS,
    /// Messages/s for this connection; 0 = unpaced.
    pub rate: f64,
    /// Measured messages to send over all connections.
    pub count: Option<u64>,
    pub shared: Arc<Shared>,
}

/// Publishes until `shared.stop`, or until the measured count is reached; then sends
/// DISCONNECT (after the queued publishes) and returns.
pub async fn publish(conn: &Connection, load: Load) -> anyhow::Result<()> {
    let shared = &load.shared;
    let mut rng = Rng::new(0x5EED ^ ((conn.index as u64 + 1) * 0x1_0000_0001) ^ now_ns());
    let mut pacer = (load.rate > 0.0).then(|| Pacer::new(load.rate));
    let mut topic = String::new();
    let mut payload = String::new();
    while !shared.stop.load(Ordering::Relaxed) {
        if let Some(pacer) = pacer.as_mut() {
            pacer.wait().await;
        }
        let warming = shared.warming.load(Ordering::Relaxed);
        let seq = if warming {
            WARMUP_SEQ_BASE + shared.next_warm_seq.fetch_add(1, Ordering::Relaxed)
        } else {
            let seq = shared.next_seq.fetch_add(1, Ordering::Relaxed);
            if load.count.is_some_and(|count| seq >= count) {
                break;
            }
            seq
        };
        let ts_ns = if load.payload.uses_ts() || load.topic.uses_ts() {
            now_ns()
        } else {
            0
        };
        let mut vars = Vars {
            seq,
            conn: conn.index,
            ts_ns,
            rng: &mut rng,
        };
        load.topic.render(&mut vars, &mut topic);
        load.payload.render(&mut vars, &mut payload);
        conn.client
            .publish(topic.as_str(), load.qos, false, payload.as_bytes().to_vec())
            .await
            .map_err(|e| anyhow::anyhow!("publisher {}: {e}", conn.index))?;
        if warming {
            shared.sent_warmup.fetch_add(1, Ordering::Relaxed);
        } else {
            shared.sent.fetch_add(1, Ordering::Relaxed);
        }
    }
    conn.client
        .disconnect()
        .await
        .map_err(|e| anyhow::anyhow!("publisher {}: {e}", conn.index))?;
    Ok(())
}

/// A token bucket: one token per message at `rate`/s, at most [`Pacer::BURST`] worth
/// banked. Sleeping costs at least a timer tick (~1 ms), so the bucket lets the tokens that
/// accrued meanwhile go out back to back, which keeps the average exact at high rates.
struct Pacer {
    interval: Duration,
    next: Instant,
}

impl Pacer {
    const BURST: Duration = Duration::from_millis(20);

    fn new(rate: f64) -> Pacer {
        Pacer {
            interval: Duration::from_secs_f64(1.0 / rate),
            next: Instant::now(),
        }
    }

    async fn wait(&mut self) {
        let now = Instant::now();
        if self.next > now {
            tokio::time::sleep_until(self.next.into()).await;
        } else if now - self.next > Self::BURST {
            // Fell behind (the client could not keep up): drop the excess tokens.
            self.next = now - Self::BURST;
        }
        self.next += self.interval;
    }
}
