//! Topic and payload templates for `rulewire bench`: literal text with placeholders, parsed
//! once and rendered per message into a reused buffer.
//!
//! Placeholders (the same set in topics and payloads):
//! - `{seq}`: the global sequence number of the message (0, 1, 2, ... across all
//!   connections; warmup messages count from [`WARMUP_SEQ_BASE`]);
//! - `{conn}`: the index of the publisher connection (0..N);
//! - `{rand:A..B}`: a random integer in A..=B (A and B integers, may be negative);
//! - `{randf:A..B}`: a random decimal in [A, B) printed with two decimals;
//! - `{ts_ns}`: the send time, nanoseconds since the UNIX epoch (the meter reads it back
//!   from the output payload to compute end-to-end latency);
//!
//! A `{` followed by a lowercase letter starts a placeholder, and an unknown one is an error
//! (a typo does not silently become literal text). Every other character is literal, so JSON
//! needs no escaping: `{"a": {"b": 1}}` is plain text.

use std::fmt::Write as _;

/// Warmup messages take their `{seq}` from here up, so the meter tells them apart from
/// measured messages (which count from 0) without any coordination. Exact in an f64.
pub const WARMUP_SEQ_BASE: u64 = 1_000_000_000_000;

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Literal(String),
    Seq,
    Conn,
    Rand(i64, i64),
    RandF(f64, f64),
    TsNs,
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pieces: Vec<Piece>,
}

/// The values one message is rendered with.
pub struct Vars<'a> {
    pub seq: u64,
    pub conn: usize,
    pub ts_ns: u64,
    pub rng: &'a mut Rng,
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            if c == '{' && is_placeholder_start(&rest[1..]) {
                let end = rest
                    .find('}')
                    .ok_or_else(|| format!("unclosed placeholder in {text:?}"))?;
                let piece = parse_placeholder(&rest[1..end])?;
                if !literal.is_empty() {
                    pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                }
                pieces.push(piece);
                rest = &rest[end + 1..];
            } else {
                literal.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(Template { pieces })
    }

    /// Renders into `out` (cleared first).
    pub fn render(&self, vars: &mut Vars<'_>, out: &mut String) {
        out.clear();
        for piece in &self.pieces {
            match piece {
                Piece::Literal(s) => out.push_str(s),
                Piece::Seq => write!(out, "{}", vars.seq).unwrap(),
                Piece::Conn => write!(out, "{}", vars.conn).unwrap(),
                Piece::TsNs => write!(out, "{}", vars.ts_ns).unwrap(),
                Piece::Rand(lo, hi) => write!(out, "{}", vars.rng.int_in(*lo, *hi)).unwrap(),
                Piece::RandF(lo, hi) => {
                    write!(out, "{:.2}", lo + (hi - lo) * vars.rng.unit()).unwrap()
                }
            }
        }
    }

    /// True when rendering depends on the send time (the caller then reads the clock).
    pub fn uses_ts(&self) -> bool {
        self.pieces.contains(&Piece::TsNs)
    }

    /// The MQTT topic filter that matches every topic this template can render: each level
    /// holding a placeholder becomes `+`. Used by `--baseline` to subscribe to the input.
    pub fn topic_filter(&self) -> String {
        let mut levels: Vec<String> = vec![String::new()];
        let mut wild = vec![false];
        for piece in &self.pieces {
            match piece {
                Piece::Literal(s) => {
                    let mut parts = s.split('/');
                    levels
                        .last_mut()
                        .unwrap()
                        .push_str(parts.next().unwrap_or(""));
                    for part in parts {
                        levels.push(part.to_string());
                        wild.push(false);
                    }
                }
                _ => *wild.last_mut().unwrap() = true,
            }
        }
        let out: Vec<&str> = levels
            .iter()
            .zip(&wild)
            .map(|(level, w)| if *w { "+" } else { level.as_str() })
            .collect();
        out.join("/")
    }
}

/// A placeholder starts with a lowercase letter (`{seq}`); `{"` or `{ ` is JSON.
fn is_placeholder_start(after_brace: &str) -> bool {
    after_brace
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase())
}

fn parse_placeholder(inner: &str) -> Result<Piece, String> {
    match inner {
        "seq" => return Ok(Piece::Seq),
        "conn" => return Ok(Piece::Conn),
        "ts_ns" => return Ok(Piece::TsNs),
        _ => {}
    }
    let bad = || {
        format!(
            "unknown placeholder {{{inner}}} (expected seq, conn, ts_ns, rand:A..B, randf:A..B)"
        )
    };
    let (kind, range) = inner.split_once(':').ok_or_else(bad)?;
    let (lo, hi) = range.split_once("..").ok_or_else(bad)?;
    match kind {
        "rand" => {
            let lo: i64 = lo.trim().parse().map_err(|_| bad())?;
            let hi: i64 = hi.trim().parse().map_err(|_| bad())?;
            if lo > hi {
                return Err(format!("empty range in {{{inner}}}"));
            }
            Ok(Piece::Rand(lo, hi))
        }
        "randf" => {
            let lo: f64 = lo.trim().parse().map_err(|_| bad())?;
            let hi: f64 = hi.trim().parse().map_err(|_| bad())?;
            if lo > hi || !lo.is_finite() || !hi.is_finite() {
                return Err(format!("bad range in {{{inner}}}"));
            }
            Ok(Piece::RandF(lo, hi))
        }
        _ => Err(bad()),
    }
}

/// xorshift64*: a tiny fast generator; benchmark payloads need variety, not quality.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in lo..=hi (modulo bias is irrelevant here).
    pub fn int_in(&mut self, lo: i64, hi: i64) -> i64 {
        let span = (hi as i128 - lo as i128 + 1) as u128;
        (lo as i128 + (self.next_u64() as u128 % span) as i128) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(t: &Template, seq: u64, conn: usize, ts_ns: u64) -> String {
        let mut rng = Rng::new(7);
        let mut out = String::new();
        t.render(
            &mut Vars {
                seq,
                conn,
                ts_ns,
                rng: &mut rng,
            },
            &mut out,
        );
        out
    }

    #[test]
    fn json_payload_with_counters() {
        let t = Template::parse(r#"{"seq": {seq}, "c": {conn}, "ts": {ts_ns}}"#).unwrap();
        assert_eq!(
            render(&t, 42, 3, 1_700_000_000_000_000_000),
            r#"{"seq": 42, "c": 3, "ts": 1700000000000000000}"#
        );
        assert!(t.uses_ts());
        let out: serde_json::Value = serde_json::from_str(&render(&t, 1, 0, 5)).unwrap();
        assert_eq!(out["seq"], 1);
    }

    #[test]
    fn random_fields_stay_in_range() {
        let t = Template::parse("{rand:-3..3}|{randf:20..40}").unwrap();
        let mut rng = Rng::new(1);
        let mut out = String::new();
        let (mut seen_lo, mut seen_hi) = (false, false);
        for _ in 0..2000 {
            t.render(
                &mut Vars {
                    seq: 0,
                    conn: 0,
                    ts_ns: 0,
                    rng: &mut rng,
                },
                &mut out,
            );
            let (i, f) = out.split_once('|').unwrap();
            let i: i64 = i.parse().unwrap();
            let f: f64 = f.parse().unwrap();
            assert!((-3..=3).contains(&i), "{i}");
            assert!((20.0..=40.0).contains(&f), "{f}");
            assert!(f.to_string().split('.').nth(1).map_or(0, str::len) <= 2);
            seen_lo |= i == -3;
            seen_hi |= i == 3;
        }
        assert!(
            seen_lo && seen_hi,
            "both ends of an integer range are reachable"
        );
        assert!(!t.uses_ts());
    }

    #[test]
    fn nested_json_and_errors() {
        let t = Template::parse(r#"{"a": {"b": {seq}}}"#).unwrap();
        assert_eq!(render(&t, 9, 0, 0), r#"{"a": {"b": 9}}"#);
        assert!(
            Template::parse("{sequence}")
                .unwrap_err()
                .contains("unknown placeholder")
        );
        assert!(Template::parse("{rand:5..1}").is_err());
        assert!(Template::parse("{rand:a..b}").is_err());
        assert!(Template::parse("x {seq").is_err());
        // a brace that is not followed by a lowercase letter is plain text
        assert_eq!(
            render(&Template::parse("{ \"a\": {}}").unwrap(), 0, 0, 0),
            "{ \"a\": {}}"
        );
    }

    #[test]
    fn topic_filter_replaces_templated_levels() {
        assert_eq!(
            Template::parse("sensors/{conn}/data")
                .unwrap()
                .topic_filter(),
            "sensors/+/data"
        );
        assert_eq!(
            Template::parse("a/dev-{conn}-{seq}/b/{seq}")
                .unwrap()
                .topic_filter(),
            "a/+/b/+"
        );
        assert_eq!(
            Template::parse("plain/topic").unwrap().topic_filter(),
            "plain/topic"
        );
        assert_eq!(
            render(&Template::parse("sensors/{conn}/data").unwrap(), 0, 2, 0),
            "sensors/2/data"
        );
    }
}
