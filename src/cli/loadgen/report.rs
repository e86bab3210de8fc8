//! What `rulewire bench` prints: the live progress line (stderr, once per second), and at
//! the end the summary, as a table or (`--json`) as one JSON object on stdout.

use std::io::{IsTerminal, Write};

use serde::Serialize;

use super::histogram::Histogram;

/// The end-of-run figures. Field names are the `--json` keys.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// "baseline" (the broker alone) or "rules" (outputs through rulewire).
    pub mode: &'static str,
    pub broker: String,
    pub subscribe: Vec<String>,
    /// The HTTP meter's address (`--http-listen`), when outputs are also POSTed to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_listen: Option<String>,
    pub connections: usize,
    pub qos: u8,
    /// Target rate, messages/s (0 = max).
    pub target_rate: f64,
    pub payload_bytes: usize,
    /// Measured publishing time, seconds (warmup excluded; up to the last flush).
    pub publish_secs: f64,
    /// Measured messages published.
    pub sent: u64,
    pub sent_per_sec: f64,
    pub expect_ratio: f64,
    /// sent * expect_ratio, rounded.
    pub expected: u64,
    /// Outputs of measured messages, counting each seq at most ceil(expect_ratio) times.
    pub received: u64,
    /// expected - received (negative when more arrived than expected).
    pub lost: i64,
    pub loss_pct: f64,
    pub duplicates: u64,
    /// Unique outputs per second, from the end of the warmup to the last output.
    pub delivered_per_sec: f64,
    /// Metered messages without our seq (other publishers, or a payload without the field).
    pub foreign: u64,
    pub warmup_sent: u64,
    pub warmup_received: u64,
    /// End-to-end latency of measured outputs; absent when none carried a timestamp.
    pub latency_ms: Option<Latency>,
}

#[derive(Debug, Serialize)]
pub struct Latency {
    pub count: u64,
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Latency {
    pub fn from_histogram(h: &Histogram) -> Option<Latency> {
        if h.count() == 0 {
            return None;
        }
        let ms = |ns: u64| ns as f64 / 1e6;
        Some(Latency {
            count: h.count(),
            min: ms(h.min()),
            mean: h.mean() / 1e6,
            p50: ms(h.percentile(50.0)),
            p90: ms(h.percentile(90.0)),
            p99: ms(h.percentile(99.0)),
            p999: ms(h.percentile(99.9)),
            max: ms(h.max()),
        })
    }
}

impl Summary {
    pub fn print_json(&self) {
        println!(
            "{}",
            serde_json::to_string_pretty(self).expect("summary serialises")
        );
    }

    pub fn print_table(&self) {
        let mut out = String::new();
        let mut row = |name: &str, value: String| out.push_str(&format!("  {name:<22} {value}\n"));
        row(
            "mode",
            format!(
                "{} ({} -> {})",
                self.mode,
                self.broker,
                self.subscribe
                    .iter()
                    .cloned()
                    .chain(self.http_listen.iter().map(|a| format!("http://{a}")))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        row(
            "load",
            format!(
                "{} connection(s), QoS {}, {} B payload, target {}",
                self.connections,
                self.qos,
                self.payload_bytes,
                if self.target_rate > 0.0 {
                    format!("{} msg/s", thousands(self.target_rate))
                } else {
                    "max rate".into()
                }
            ),
        );
        row(
            "published",
            format!(
                "{} in {:.2} s = {} msg/s",
                thousands(self.sent as f64),
                self.publish_secs,
                thousands(self.sent_per_sec)
            ),
        );
        row(
            "delivered",
            format!(
                "{} unique = {} msg/s",
                thousands(self.received as f64),
                thousands(self.delivered_per_sec)
            ),
        );
        row(
            "expected",
            format!(
                "{} (ratio {})",
                thousands(self.expected as f64),
                self.expect_ratio
            ),
        );
        row("lost", format!("{} ({:.3} %)", self.lost, self.loss_pct));
        row("duplicates", thousands(self.duplicates as f64));
        if self.foreign > 0 {
            row(
                "foreign",
                format!("{} (no or unknown seq)", thousands(self.foreign as f64)),
            );
        }
        if self.warmup_sent > 0 {
            row(
                "warmup",
                format!(
                    "{} sent, {} received (not counted)",
                    self.warmup_sent, self.warmup_received
                ),
            );
        }
        match &self.latency_ms {
            Some(l) => {
                row(
                    "latency p50/p90/p99",
                    format!("{:.3} / {:.3} / {:.3} ms", l.p50, l.p90, l.p99),
                );
                row(
                    "latency p99.9/max",
                    format!(
                        "{:.3} / {:.3} ms (mean {:.3}, min {:.3})",
                        l.p999, l.max, l.mean, l.min
                    ),
                );
            }
            None => row("latency", "n/a (no timestamp in the outputs)".into()),
        }
        print!("rulewire bench\n{out}");
    }
}

/// 1234567.8 -> "1,234,568".
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0.0 { format!("-{out}") } else { out }
}

/// The once-a-second line on stderr; rewritten in place on a terminal.
pub struct Progress {
    tty: bool,
    enabled: bool,
    printed: bool,
}

impl Progress {
    pub fn new(enabled: bool) -> Progress {
        Progress {
            tty: std::io::stderr().is_terminal(),
            enabled,
            printed: false,
        }
    }

    // One progress line's figures, each a plain number: a struct would only rename them.
    #[allow(clippy::too_many_arguments)]
    pub fn line(
        &mut self,
        elapsed_secs: f64,
        phase: &str,
        sent_rate: f64,
        recv_rate: f64,
        p99_ms: Option<f64>,
        sent: u64,
        received: u64,
    ) {
        if !self.enabled {
            return;
        }
        let p99 = p99_ms.map_or("-".to_string(), |v| format!("{v:.2} ms"));
        let text = format!(
            "[{elapsed_secs:5.1}s {phase:<7}] sent {:>9}/s  recv {:>9}/s  p99 {p99:>9}  total sent {} recv {}",
            thousands(sent_rate),
            thousands(recv_rate),
            thousands(sent as f64),
            thousands(received as f64),
        );
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{text}");
        } else {
            let _ = writeln!(err, "{text}");
        }
        let _ = err.flush();
        self.printed = true;
    }

    /// Ends the in-place line before the summary.
    pub fn finish(&mut self) {
        if self.enabled && self.tty && self.printed {
            eprintln!();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1234567.8), "1,234,568");
    }
}
