//! Command-line options of `rulewire bench` and their validation into a [`Plan`] (parsed
//! templates, broker address, stop condition, the topic filters to meter).

use std::time::Duration;

use super::template::Template;

/// Load a running rulewire (or a plain broker with --baseline) and meter what comes out.
///
/// Payload and topic placeholders: {seq} global sequence number, {conn} publisher index,
/// {rand:A..B} random integer in A..=B, {randf:A..B} random decimal, {ts_ns} send time in
/// ns since the epoch. The output payload must echo the input's seq and send time (e.g.
/// `SELECT *`): they give loss, duplicates and end-to-end latency.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Broker the publishers and the meter connect to: mqtt://host:port.
    #[arg(long, default_value = "mqtt://127.0.0.1:1883")]
    pub broker: String,
    /// Publisher connections (the rate is split evenly between them).
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Topic template for published messages.
    #[arg(long, default_value = "sensors/{conn}/data")]
    pub topic: String,
    /// Payload template.
    #[arg(
        long,
        default_value = r#"{"temperature": {rand:20..40}, "humidity": {randf:30..90}, "device": "bench-{conn}", "seq": {seq}, "ts": {ts_ns}}"#
    )]
    pub payload: String,
    /// Target rate in messages/s over all connections; 0 = as fast as the client allows.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// QoS of published messages and of the meter's subscriptions.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=1))]
    pub qos: u8,
    /// How long to publish (after the warmup), e.g. 10s, 500ms, 2m. Default 10s unless
    /// --count is given; with both, whichever ends first.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// How many measured messages to publish in total.
    #[arg(long)]
    pub count: Option<u64>,
    /// Output topic filter to meter (repeatable), e.g. 'alerts/#'.
    #[arg(long)]
    pub subscribe: Vec<String>,
    /// Also meter outputs POSTed over HTTP to this address (e.g. 127.0.0.1:18980): the body
    /// of every request, on any path, is an output (an http action's URL points here).
    #[arg(long)]
    pub http_listen: Option<std::net::SocketAddr>,
    /// Meter the broker alone: subscribe to the INPUT topic filter (the topic template with
    /// every templated level as +) instead of --subscribe.
    #[arg(long)]
    pub baseline: bool,
    /// The meter keeps a persistent session (clean_session = false), as a device that wants
    /// its QoS 1 messages kept while it is away; the session is ended after the run.
    #[arg(long)]
    pub persistent_meter: bool,
    /// Publish this long before measuring; warmup messages and their outputs are not counted.
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    pub warmup: Duration,
    /// After publishing stops, wait this long for late outputs.
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    pub drain: Duration,
    /// Expected outputs per input message (a filtering rule fires for a fraction; two
    /// republish actions give 2). Loss = sent * ratio - unique outputs.
    #[arg(long, default_value_t = 1.0)]
    pub expect_ratio: f64,
    /// JSON field of the output payload holding the echoed {seq}.
    #[arg(long, default_value = "seq")]
    pub seq_field: String,
    /// JSON field of the output payload holding the echoed {ts_ns}.
    #[arg(long, default_value = "ts")]
    pub ts_field: String,
    /// Print a machine-readable JSON summary on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// No live progress line on stderr.
    #[arg(long)]
    pub quiet: bool,
}

/// Validated options.
pub struct Plan {
    pub host: String,
    pub port: u16,
    pub connections: usize,
    pub topic: Template,
    pub payload: Template,
    pub rate: f64,
    pub qos: rumqttc::QoS,
    pub duration: Option<Duration>,
    pub count: Option<u64>,
    pub filters: Vec<String>,
    pub http_listen: Option<std::net::SocketAddr>,
    pub baseline: bool,
    pub persistent_meter: bool,
    pub warmup: Duration,
    pub drain: Duration,
    pub expect_ratio: f64,
    pub seq_field: String,
    pub ts_field: String,
    pub json: bool,
    pub quiet: bool,
    pub broker: String,
}

impl BenchArgs {
    pub fn plan(&self) -> anyhow::Result<Plan> {
        let (host, port) = parse_broker(&self.broker)?;
        anyhow::ensure!(self.connections >= 1, "--connections must be at least 1");
        anyhow::ensure!(
            self.rate >= 0.0 && self.rate.is_finite(),
            "--rate must be >= 0"
        );
        anyhow::ensure!(
            self.expect_ratio >= 0.0 && self.expect_ratio.is_finite(),
            "--expect-ratio must be >= 0"
        );
        let topic = Template::parse(&self.topic).map_err(|e| anyhow::anyhow!("--topic: {e}"))?;
        let payload =
            Template::parse(&self.payload).map_err(|e| anyhow::anyhow!("--payload: {e}"))?;
        let filters = if self.baseline {
            anyhow::ensure!(
                self.subscribe.is_empty(),
                "--baseline subscribes to the input topic; drop --subscribe"
            );
            vec![topic.topic_filter()]
        } else {
            anyhow::ensure!(
                !self.subscribe.is_empty() || self.http_listen.is_some(),
                "give the output topic(s) with --subscribe (or --http-listen), or use --baseline"
            );
            self.subscribe.clone()
        };
        let duration = match (self.duration, self.count) {
            (None, None) => Some(Duration::from_secs(10)),
            (d, _) => d,
        };
        Ok(Plan {
            host,
            port,
            connections: self.connections,
            topic,
            payload,
            rate: self.rate,
            qos: if self.qos == 1 {
                rumqttc::QoS::AtLeastOnce
            } else {
                rumqttc::QoS::AtMostOnce
            },
            duration,
            count: self.count,
            filters,
            http_listen: self.http_listen,
            baseline: self.baseline,
            persistent_meter: self.persistent_meter,
            warmup: self.warmup,
            drain: self.drain,
            expect_ratio: self.expect_ratio,
            seq_field: self.seq_field.clone(),
            ts_field: self.ts_field.clone(),
            json: self.json,
            quiet: self.quiet,
            broker: self.broker.clone(),
        })
    }
}

/// `mqtt://host:port` (or `host:port`; port defaults to 1883).
fn parse_broker(url: &str) -> anyhow::Result<(String, u16)> {
    let rest = if let Some(rest) = url.strip_prefix("mqtt://") {
        rest
    } else if url.contains("://") {
        anyhow::bail!("--broker {url:?}: only mqtt:// is supported by the bench");
    } else {
        url
    };
    let rest = rest.trim_end_matches('/');
    match rest.rsplit_once(':') {
        Some((host, port)) => Ok((
            host.to_string(),
            port.parse()
                .map_err(|_| anyhow::anyhow!("--broker {url:?}: bad port"))?,
        )),
        None => Ok((rest.to_string(), 1883)),
    }
}

/// `10s`, `500ms`, `2m`, `1.5s`, `250us`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("bad duration {text:?} (e.g. 10s, 500ms, 2m)"))?;
    let seconds = match unit.trim() {
        "" | "s" => number,
        "ms" => number / 1e3,
        "us" => number / 1e6,
        "m" | "min" => number * 60.0,
        "h" => number * 3600.0,
        _ => {
            return Err(format!(
                "bad duration unit in {text:?} (use us, ms, s, m or h)"
            ));
        }
    };
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn brokers() {
        assert_eq!(
            parse_broker("mqtt://127.0.0.1:1883").unwrap(),
            ("127.0.0.1".into(), 1883)
        );
        assert_eq!(
            parse_broker("localhost").unwrap(),
            ("localhost".into(), 1883)
        );
        assert!(parse_broker("mqtts://x:8883").is_err());
    }
}
