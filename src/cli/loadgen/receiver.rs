//! The meter: one MQTT connection subscribed to the output topic filters (before anything is
//! published), and with `--http-listen` an HTTP server whose request bodies are outputs too
//! (for http actions). Every output is scanned for the echoed seq and send timestamp; the [`Meter`]
//! counts unique outputs per seq (duplicates beyond the expected copies), and records the
//! end-to-end latency (receive time - send time) in a histogram.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::args::Plan;
use super::histogram::Histogram;
use super::template::WARMUP_SEQ_BASE;

/// Seqs at or above this (and below the warmup base) are not ours: counted as foreign.
const MAX_SEQ: u64 = 1 << 32;

/// What the meter has seen so far. Shared with the progress line behind a mutex that only
/// the receiver task takes per message.
pub struct Meter {
    /// Every PUBLISH received on the metered filters.
    pub received: u64,
    /// Outputs of measured messages, first copies (up to the expected copies per seq).
    pub unique: u64,
    /// Outputs of measured messages beyond the expected copies per seq.
    pub duplicates: u64,
    /// Outputs of warmup messages.
    pub warmup: u64,
    /// Outputs without a readable seq field, or with a seq we never sent.
    pub foreign: u64,
    /// Measured outputs without a readable send timestamp (no latency recorded).
    pub no_timestamp: u64,
    /// End-to-end latency of measured outputs, in ns.
    pub latency: Histogram,
    /// When the last measured output arrived.
    pub last_measured: Option<Instant>,
    copies: Vec<u8>,
    copies_expected: u8,
    seq_key: Vec<u8>,
    ts_key: Vec<u8>,
}

impl Meter {
    pub fn new(plan: &Plan) -> Meter {
        Meter {
            received: 0,
            unique: 0,
            duplicates: 0,
            warmup: 0,
            foreign: 0,
            no_timestamp: 0,
            latency: Histogram::new(),
            last_measured: None,
            copies: Vec::new(),
            copies_expected: plan.expect_ratio.ceil().clamp(1.0, 255.0) as u8,
            seq_key: format!("\"{}\"", plan.seq_field).into_bytes(),
            ts_key: format!("\"{}\"", plan.ts_field).into_bytes(),
        }
    }

    /// Accounts one output payload received at `now_ns` (ns since the epoch).
    pub fn record(&mut self, payload: &[u8], now_ns: u64, now: Instant) {
        self.received += 1;
        let Some(seq) = find_number(payload, &self.seq_key).and_then(as_u64) else {
            self.foreign += 1;
            return;
        };
        if seq >= WARMUP_SEQ_BASE {
            self.warmup += 1;
            return;
        }
        if seq >= MAX_SEQ {
            self.foreign += 1;
            return;
        }
        let index = seq as usize;
        if index >= self.copies.len() {
            self.copies
                .resize((index + 1).max(self.copies.len() * 2), 0);
        }
        let copies = &mut self.copies[index];
        if *copies >= self.copies_expected {
            self.duplicates += 1;
        } else {
            self.unique += 1;
            match find_number(payload, &self.ts_key).and_then(as_u64) {
                Some(sent_ns) => self.latency.record(now_ns.saturating_sub(sent_ns)),
                None => self.no_timestamp += 1,
            }
        }
        *copies = copies.saturating_add(1);
        self.last_measured = Some(now);
    }
}

/// The numeric text after `"key"` and a colon, e.g. `123` or `1.7e18`; None when the key
/// is absent or its value is not a number. A cheap byte scan, not a JSON parse: the first
/// occurrence of the quoted key wins, at any depth.
pub fn find_number<'a>(payload: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let at = payload.windows(key.len()).position(|w| w == key)?;
    let mut rest = &payload[at + key.len()..];
    let skip_ws = |s: &'a [u8]| {
        let n = s.iter().take_while(|b| b.is_ascii_whitespace()).count();
        &s[n..]
    };
    rest = skip_ws(rest);
    rest = rest.strip_prefix(b":")?;
    rest = skip_ws(rest);
    let len = rest
        .iter()
        .take_while(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        .count();
    (len > 0).then(|| &rest[..len])
}

/// An integer, or a non-negative decimal rounded (rules may turn the echoed ints into floats).
fn as_u64(text: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(text).ok()?;
    if let Ok(n) = text.parse::<u64>() {
        return Some(n);
    }
    let f: f64 = text.parse().ok()?;
    (0.0..1.8e19).contains(&f).then(|| f.round() as u64)
}

pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The running meter connection.
pub struct Receiver {
    pub meter: Arc<Mutex<Meter>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<anyhow::Result<()>>,
    /// The HTTP meter, with `--http-listen`.
    http: Option<JoinHandle<anyhow::Result<()>>>,
    /// With `--persistent-meter`: the options to end its session with.
    persistent: Option<MqttOptions>,
}

impl Receiver {
    /// Connects, subscribes to every filter and waits for the SUBACKs, then meters in a task.
    pub async fn start(plan: &Plan) -> anyhow::Result<Receiver> {
        let mut options = MqttOptions::new(
            format!("rulewire-bench-{}-meter", std::process::id()),
            &plan.host,
            plan.port,
        );
        options.set_keep_alive(Duration::from_secs(30));
        options.set_clean_session(true);
        options.set_max_packet_size(4 << 20, 4 << 20);
        let persistent = plan.persistent_meter.then(|| options.clone());
        options.set_clean_session(!plan.persistent_meter);
        let (client, mut eventloop) = AsyncClient::new(options, 16);
        eventloop.set_network_options(no_delay());
        wait_connack(&mut eventloop, "meter").await?;
        for filter in &plan.filters {
            client.subscribe(filter.clone(), plan.qos).await?;
        }
        let mut acked = 0;
        while acked < plan.filters.len() {
            match tokio::time::timeout(Duration::from_secs(10), eventloop.poll()).await {
                Err(_) => anyhow::bail!("meter: no SUBACK within 10 s"),
                Ok(Err(e)) => anyhow::bail!("meter connection: {e}"),
                Ok(Ok(Event::Incoming(Packet::SubAck(ack)))) => {
                    if ack
                        .return_codes
                        .iter()
                        .any(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure))
                    {
                        anyhow::bail!(
                            "meter: the broker refused a subscription to {:?}",
                            plan.filters
                        );
                    }
                    acked += 1;
                }
                Ok(Ok(_)) => {}
            }
        }
        let meter = Arc::new(Mutex::new(Meter::new(plan)));
        let (stop, stop_rx) = watch::channel(false);
        let http = match plan.http_listen {
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| anyhow::anyhow!("--http-listen {addr}: {e}"))?;
                Some(tokio::spawn(serve_http(
                    listener,
                    meter.clone(),
                    stop_rx.clone(),
                )))
            }
            None => None,
        };
        let task = tokio::spawn(receive(client, eventloop, meter.clone(), stop_rx));
        Ok(Receiver {
            meter,
            stop,
            task,
            http,
            persistent,
        })
    }

    /// Stops metering and disconnects; a persistent meter's session is ended even when the
    /// meter failed.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        let http = match self.http {
            Some(http) => tokio::time::timeout(Duration::from_secs(5), http)
                .await
                .map_err(|_| anyhow::anyhow!("the HTTP meter did not stop within 5 s"))
                .and_then(|joined| joined?),
            None => Ok(()),
        };
        let meter = self.task.await.map_err(anyhow::Error::from).and_then(|r| r);
        if let Some(clean) = self.persistent {
            // A clean start with the meter's client id ends the session it kept.
            let (client, mut eventloop) = AsyncClient::new(clean, 16);
            wait_connack(&mut eventloop, "meter (ending its persistent session)").await?;
            let _ = client.try_disconnect();
            let _ = tokio::time::timeout(Duration::from_millis(200), eventloop.poll()).await;
        }
        http.and(meter)
    }

    /// True when a meter task ended by itself (a connection or server error).
    pub fn failed(&self) -> bool {
        self.task.is_finished() || self.http.as_ref().is_some_and(|h| h.is_finished())
    }
}

/// The HTTP meter: every request's body, on any path and method, is one output; it answers
/// 200 with no body. Stops (closing idle keep-alive connections) when `stop` changes.
async fn serve_http(
    listener: tokio::net::TcpListener,
    meter: Arc<Mutex<Meter>>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
        let meter = meter.clone();
        async move {
            meter
                .lock()
                .unwrap()
                .record(&body, now_ns(), Instant::now());
            axum::http::StatusCode::OK
        }
    });
    let shutdown = async move {
        let _ = stop.changed().await;
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| anyhow::anyhow!("HTTP meter: {e}"))
}

async fn receive(
    client: AsyncClient,
    mut eventloop: EventLoop,
    meter: Arc<Mutex<Meter>>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    loop {
        tokio::select! {
            event = eventloop.poll() => match event {
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    let now_ns = now_ns();
                    let now = Instant::now();
                    meter.lock().unwrap().record(&publish.payload, now_ns, now);
                }
                Ok(_) => {}
                Err(e) => anyhow::bail!("meter connection lost: {e}"),
            },
            _ = stop.changed() => break,
        }
    }
    let _ = client.try_disconnect();
    let _ = tokio::time::timeout(Duration::from_millis(200), eventloop.poll()).await;
    Ok(())
}

pub use crate::mqtt::no_delay;

/// Polls a fresh eventloop until its CONNACK (the first event), with a timeout.
pub async fn wait_connack(eventloop: &mut EventLoop, who: &str) -> anyhow::Result<()> {
    match tokio::time::timeout(Duration::from_secs(10), eventloop.poll()).await {
        Err(_) => anyhow::bail!("{who}: no CONNACK within 10 s"),
        Ok(Err(e)) => anyhow::bail!("{who}: cannot connect: {e}"),
        Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => Ok(()),
        Ok(Ok(other)) => anyhow::bail!("{who}: expected CONNACK, got {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_numbers_after_keys() {
        let p = br#"{"room": "a", "seq" : 17, "nested": {"ts":1700000000123456789}}"#;
        assert_eq!(find_number(p, br#""seq""#), Some(&b"17"[..]));
        assert_eq!(
            find_number(p, br#""ts""#).and_then(as_u64),
            Some(1_700_000_000_123_456_789)
        );
        assert_eq!(find_number(p, br#""room""#), None);
        assert_eq!(find_number(p, br#""missing""#), None);
        assert_eq!(
            find_number(br#"{"seq": 4.0}"#, br#""seq""#).and_then(as_u64),
            Some(4)
        );
        assert_eq!(
            find_number(br#"{"seq": -4}"#, br#""seq""#).and_then(as_u64),
            None
        );
    }
}
