//! rulewire's Decimal arithmetic against `java.math.BigDecimal` in `MathContext.DECIMAL128`, the
//! numbers of AWS IoT's (JVM) rules engine: parsing, `+ - * / %`, comparison, floor/ceil/round/
//! trunc and printing, on thousands of generated numbers (wide mantissas, far-apart exponents,
//! ties that HALF_EVEN decides, the edges of AWS's 1E-999 .. 9.999E999 range), and the
//! Fahrenheit rule end to end through both evaluation paths.
//!
//! Every case must agree exactly; there is no list of known differences. The agreement counts
//! are printed (`--no-capture`).

mod java_oracle;

use java_oracle::Oracle;
use rulewire_engine::decimal::{Dec, RoundTo};
use rulewire_engine::json_out::write_decimal;
use rulewire_engine::{Message, Rule, SqlVersion};

/// A small deterministic generator (xorshift), so a failure reproduces.
struct Gen(u64);

impl Gen {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn digits(&mut self, n: u64) -> String {
        let mut s = String::new();
        s.push(char::from(b'1' + self.below(9) as u8));
        for _ in 1..n {
            // Runs of 9s and 0s make carries and ties.
            s.push(match self.below(4) {
                0 => '9',
                1 => '0',
                _ => char::from(b'0' + self.below(10) as u8),
            });
        }
        s
    }

    /// A number's text: up to 40 significant digits, sometimes a fraction, sometimes an exponent
    /// (now and then near the range edges).
    fn number(&mut self) -> String {
        let mut s = String::new();
        if self.below(3) == 0 {
            s.push('-');
        }
        match self.below(10) {
            0 => s.push_str(
                ["0", "0.5", "2.5", "1", "0.1", "0.2", "1.8", "32"][self.below(8) as usize],
            ),
            1..=3 => {
                // A sensor reading: up to three integer digits, one or two decimals.
                s.push_str(&self.below(1000).to_string());
                s.push('.');
                s.push_str(&self.below(100).to_string());
            }
            _ => {
                let n = 1 + self.below(40);
                let digits = self.digits(n);
                let point = self.below(n + 1) as usize;
                if point == 0 || point as u64 == n {
                    s.push_str(&digits);
                } else {
                    s.push_str(&digits[..point]);
                    s.push('.');
                    s.push_str(&digits[point..]);
                }
                match self.below(6) {
                    0 => s.push_str(&format!("E{}", self.below(60) as i64 - 30)),
                    1 => s.push_str(&format!("E{}", self.below(2100) as i64 - 1050)),
                    _ => {}
                }
            }
        }
        s
    }
}

fn dec(text: &str) -> Option<Dec> {
    Dec::parse(text.as_bytes())
}

/// The oracle's canonical form of a result.
fn canonical(d: Option<Dec>) -> Result<String, ()> {
    let (c, e) = d.ok_or(())?.normalized();
    Ok(format!("{c} {e}"))
}

/// Runs `requests` through Java and compares with `ours`; panics listing the disagreements.
fn agree(
    oracle: &mut Oracle,
    what: &str,
    requests: Vec<Vec<String>>,
    ours: Vec<Result<String, ()>>,
) {
    let answers = oracle.call_many(&requests);
    let mut failures = Vec::new();
    for ((request, mine), java) in requests.iter().zip(&ours).zip(&answers) {
        let java = java.as_ref().map_err(|_| ());
        if java.map(String::as_str) != mine.as_ref().map(String::as_str).map_err(|_| ()) {
            failures.push(format!("{request:?}: rulewire {mine:?}, Java {java:?}"));
        }
    }
    println!(
        "{what}: {} of {} agree with BigDecimal",
        requests.len() - failures.len(),
        requests.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} {what} cases differ from Java:\n{}",
        failures.len(),
        requests.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn req(fields: &[&str]) -> Vec<String> {
    fields.iter().map(|s| s.to_string()).collect()
}

#[test]
fn parsing_agrees_with_bigdecimal() {
    let mut oracle = Oracle::start("NumberOracle");
    let mut g = Gen(0x5eed_0001);
    let texts: Vec<String> = (0..4000).map(|_| g.number()).collect();
    let requests = texts.iter().map(|t| req(&["parse", t])).collect();
    let ours = texts.iter().map(|t| canonical(dec(t))).collect();
    agree(&mut oracle, "parse", requests, ours);
}

#[test]
fn arithmetic_agrees_with_bigdecimal() {
    let mut oracle = Oracle::start("NumberOracle");
    let mut g = Gen(0x5eed_0002);
    let mut requests = Vec::new();
    let mut ours = Vec::new();
    for _ in 0..4000 {
        let (a, b) = (g.number(), g.number());
        let (Some(x), Some(y)) = (dec(&a), dec(&b)) else {
            continue; // out of range: the parse test covers it
        };
        for (op, result) in [
            ("add", x.checked_add(y)),
            ("sub", x.checked_sub(y)),
            ("mul", x.checked_mul(y)),
            ("div", x.checked_div(y)),
            ("rem", x.checked_rem(y)),
        ] {
            requests.push(req(&[op, &a, &b]));
            ours.push(canonical(result));
        }
        requests.push(req(&["cmp", &a, &b]));
        ours.push(Ok((x.cmp(&y) as i8).to_string()));
    }
    agree(&mut oracle, "arithmetic", requests, ours);
}

#[test]
fn rounding_agrees_with_bigdecimal() {
    let mut oracle = Oracle::start("NumberOracle");
    let mut g = Gen(0x5eed_0003);
    let mut requests = Vec::new();
    let mut ours = Vec::new();
    for _ in 0..3000 {
        let a = g.number();
        let Some(x) = dec(&a) else { continue };
        for (op, mode) in [
            ("floor", RoundTo::Floor),
            ("ceil", RoundTo::Ceil),
            ("round", RoundTo::HalfUp),
        ] {
            requests.push(req(&[op, &a]));
            ours.push(canonical(Some(x.to_integral(mode))));
        }
        let places = g.below(35) as u32;
        requests.push(req(&["trunc", &a, &places.to_string()]));
        ours.push(canonical(Some(x.trunc_places(places))));
    }
    agree(&mut oracle, "rounding", requests, ours);
}

#[test]
fn printed_decimals_spell_their_exact_value() {
    let mut oracle = Oracle::start("NumberOracle");
    let mut g = Gen(0x5eed_0004);
    let mut requests = Vec::new();
    for _ in 0..3000 {
        let a = g.number();
        let Some(x) = dec(&a) else { continue };
        for version in [SqlVersion::V2015_10_08, SqlVersion::V2016_03_23] {
            let mut printed = Vec::new();
            write_decimal(&mut printed, x, version);
            requests.push(req(&["spells", &a, &String::from_utf8(printed).unwrap()]));
        }
    }
    let ours = requests.iter().map(|_| Ok("true".to_owned())).collect();
    agree(&mut oracle, "printing", requests, ours);
}

/// `SELECT t * 1.8 + 32 AS f`, on the vectorised path and the row path, as Java computes it.
#[test]
fn the_fahrenheit_rule_agrees_with_bigdecimal() {
    let mut oracle = Oracle::start("NumberOracle");
    let mut g = Gen(0x5eed_0005);
    let rule = Rule::compile(
        "SELECT t * 1.8 + 32 AS f FROM 'sensors/+'",
        SqlVersion::V2016_03_23,
    )
    .unwrap();
    assert!(rule.is_vectorised());
    let readings: Vec<String> = (0..3000)
        .map(|i| match i % 3 {
            // One-decimal Celsius readings, the common case.
            0 => format!("{}.{}", g.below(1200) as i64 - 600, g.below(10)),
            _ => g.number(),
        })
        .filter(|t| dec(t).is_some())
        .collect();
    let payloads: Vec<String> = readings.iter().map(|t| format!("{{\"t\":{t}}}")).collect();
    let msgs: Vec<Message> = payloads
        .iter()
        .map(|p| Message::new("sensors/a", p.as_bytes()))
        .collect();
    let batch = rule.evaluate_batch(&msgs);
    let mut requests = Vec::new();
    let mut ours = Vec::new();
    for ((t, m), vectorised) in readings.iter().zip(&msgs).zip(&batch) {
        let row = rule.evaluate(m);
        assert_eq!(vectorised, &row, "paths differ for t = {t}");
        let printed = row
            .output
            .as_deref()
            .map(|o| String::from_utf8_lossy(o).into_owned());
        // `{"f":<number>}`, or `{}` when the result is Undefined.
        let number = printed
            .as_deref()
            .and_then(|p| p.strip_prefix("{\"f\":"))
            .and_then(|p| p.strip_suffix('}'))
            .map(str::to_owned);
        requests.push(req(&["fahrenheit", t]));
        ours.push(canonical(number.as_deref().and_then(dec)));
    }
    agree(&mut oracle, "fahrenheit", requests, ours);
}
