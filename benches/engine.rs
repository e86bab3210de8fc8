//! Engine throughput: decode + evaluate + encode, per message, on batches of 1024 ~200-byte
//! JSON payloads (the shape of the issue's target), on one core.
//!
//! Also five rules on one topic filter, each alone against a `RuleGroup` (one shared decode).
//!
//! Run: `cargo bench -p rulewire-benches --bench engine`. Results and the machine go in BENCHMARKS.md.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rulewire_engine::{Message, Rule, RuleGroup, SqlVersion};
use std::hint::black_box;
use std::sync::Arc;

const BATCH: usize = 1024;

/// ~200-byte telemetry payloads; half of them have temperature > 30.
fn payloads() -> Vec<String> {
    (0..BATCH)
        .map(|i| {
            format!(
                r#"{{"device_id":"sensor-{:05}","temperature":{}.{},"humidity":{}.25,"pressure":1013.{},"battery":{},"status":"ok","firmware":"v2.4.{}","location":{{"site":"plant-3","zone":"z{}"}},"seq":{}}}"#,
                i,
                15 + (i % 32),
                i % 10,
                30 + (i % 40),
                i % 100,
                50 + (i % 50),
                i % 9,
                i % 12,
                i
            )
        })
        .collect()
}

/// The same payloads with two 20-digit integers (beyond 64 bits: exact Ints since 34-digit
/// numbers) and a 20-digit decimal.
fn wide_number_payloads() -> Vec<String> {
    payloads()
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let members = format!(
                r#","serial":123456789012345{:05},"counter":98765432109876{:06},"energy":1234567890.1234567{:03}}}"#,
                i, i, i
            );
            p.strip_suffix('}').expect("an object").to_owned() + &members
        })
        .collect()
}

/// Each payload on its topic, from one client.
fn messages<'a>(payloads: &'a [String], topics: &'a [String]) -> Vec<Message<'a>> {
    payloads
        .iter()
        .zip(topics)
        .map(|(p, t)| Message {
            client_id: "bench-client",
            timestamp_ms: 1_700_000_000_000,
            ..Message::new(t, p.as_bytes())
        })
        .collect()
}

fn bench_rule(c: &mut Criterion, name: &str, sql: &str) {
    bench_rule_on(c, name, sql, payloads());
}

fn bench_rule_on(c: &mut Criterion, name: &str, sql: &str, payloads: Vec<String>) {
    let rule = Rule::compile(sql, SqlVersion::V2016_03_23).expect("bench rule compiles");
    assert!(
        rule.is_vectorised(),
        "{name} should take the vectorised path"
    );
    let topics: Vec<String> = (0..BATCH)
        .map(|i| format!("sensors/room{}", i % 16))
        .collect();
    let msgs = messages(&payloads, &topics);
    let mean_len = payloads.iter().map(String::len).sum::<usize>() / BATCH;
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function(
        format!("{name} ({mean_len} B payloads, batch {BATCH})"),
        |b| {
            b.iter_batched(
                || (),
                |_| black_box(rule.evaluate_batch(black_box(&msgs))),
                BatchSize::SmallInput,
            )
        },
    );
    group.finish();
}

fn engine(c: &mut Criterion) {
    bench_rule(
        c,
        "filter",
        "SELECT temperature, humidity FROM 'sensors/+' WHERE temperature > 30",
    );
    bench_rule(
        c,
        "star_topic_clientid",
        "SELECT *, topic(2) AS room, clientid() AS id FROM 'sensors/+'",
    );
    // Decimal arithmetic (exact, 34 digits): the most common IoT rule.
    bench_rule(
        c,
        "fahrenheit",
        "SELECT temperature * 1.8 + 32 AS f, humidity FROM 'sensors/+' WHERE temperature > 30",
    );
    // `*` over payloads with 20-digit numbers, printed back exactly.
    bench_rule_on(
        c,
        "star_20_digit_numbers",
        "SELECT * FROM 'sensors/+'",
        wide_number_payloads(),
    );
    // A Java regular expression (fancy-regex behind the Java translation) in WHERE: row path.
    bench_any_path(
        c,
        "regexp_matches",
        "SELECT device_id, temperature FROM 'sensors/+' \
         WHERE regexp_matches(device_id, '^sensor-0+[1-9]\\d*7$')",
    );
    // Five functions: two context functions plus arithmetic work the vectorised path does, and
    // three pure functions, which make this rule take the row path (measured honestly).
    bench_any_path(
        c,
        "five_functions",
        "SELECT upper(status) AS s, round(temperature) AS t, concat(device_id, '-', topic(2)) AS d, \
         abs(pressure - 1013) AS p, timestamp() AS ts FROM 'sensors/+' WHERE temperature > 30",
    );
}

/// A rule that may take either path; the name says which.
fn bench_any_path(c: &mut Criterion, name: &str, sql: &str) {
    let rule = Rule::compile(sql, SqlVersion::V2016_03_23).unwrap();
    let payloads = payloads();
    let msgs: Vec<Message> = payloads
        .iter()
        .map(|p| Message::new("sensors/room1", p.as_bytes()))
        .collect();
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function(
        format!("{name} (row path: {})", !rule.is_vectorised()),
        |b| b.iter(|| black_box(rule.evaluate_batch(black_box(&msgs)))),
    );
    group.finish();
}

/// Five rules on one FROM filter (a rule group): each evaluating the batch on its own (one
/// decode per rule) against the group (one decode per message, shared).
fn rule_group(c: &mut Criterion) {
    let sqls = [
        "SELECT temperature, humidity FROM 'sensors/+' WHERE temperature > 30",
        "SELECT *, topic(2) AS room FROM 'sensors/+'",
        "SELECT VALUE battery FROM 'sensors/+' WHERE battery < 60",
        "SELECT device_id, location.zone AS zone FROM 'sensors/+' WHERE humidity > 60",
        "SELECT device_id, pressure - 1013 AS dp FROM 'sensors/+' WHERE status = 'ok'",
    ];
    let rules: Vec<Arc<Rule>> = sqls
        .iter()
        .map(|s| Arc::new(Rule::compile(s, SqlVersion::V2016_03_23).unwrap()))
        .collect();
    assert!(rules.iter().all(|r| r.is_vectorised()));
    let group_of_rules = RuleGroup::new(rules.clone());
    assert_eq!(group_of_rules.sharing(), rules.len());
    let payloads = payloads();
    let msgs: Vec<Message> = payloads
        .iter()
        .map(|p| Message::new("sensors/room1", p.as_bytes()))
        .collect();
    let mut group = c.benchmark_group("rule_group");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("5 rules, each alone", |b| {
        b.iter(|| {
            for rule in &rules {
                black_box(rule.evaluate_batch(black_box(&msgs)));
            }
        })
    });
    group.bench_function("5 rules, one shared decode", |b| {
        b.iter(|| black_box(group_of_rules.evaluate_batch(black_box(&msgs))))
    });
    group.finish();
}

/// Batches of one message, as each rule sees them when 1,000 rules split the traffic: the
/// vectorised path's per-batch cost against the row path on the same message.
fn single_message(c: &mut Criterion) {
    let payloads = payloads();
    let msg = Message::new("sensors/room1", payloads[20].as_bytes());
    let mut group = c.benchmark_group("batch_of_one");
    group.throughput(Throughput::Elements(1));
    for (name, sql) in [
        (
            "filter",
            "SELECT temperature, humidity FROM 'sensors/+' WHERE temperature > 30",
        ),
        ("star_topic", "SELECT *, topic(2) AS room FROM 'sensors/+'"),
    ] {
        let rule = Rule::compile(sql, SqlVersion::V2016_03_23).unwrap();
        assert_eq!(rule.evaluate_batch(&[msg]), [rule.evaluate(&msg)]);
        group.bench_function(format!("{name} vectorised"), |b| {
            b.iter(|| black_box(rule.evaluate_batch(black_box(&[msg]))))
        });
        group.bench_function(format!("{name} row path"), |b| {
            b.iter(|| black_box(rule.evaluate(black_box(&msg))))
        });
    }
    group.finish();
}

/// Issue 14's benchmark as its worker sees it: `bench-results/embedded.sh`'s rule over batches
/// of 16 (the mean batch at max rate) of that script's payloads, through a `RuleGroup`.
fn embedded_benchmark_batch(c: &mut Criterion) {
    const MESSAGES: usize = 16;
    let payloads: Vec<String> = (0..MESSAGES)
        .map(|i| {
            format!(
                r#"{{"temperature": {}, "humidity": {}.{:02}, "pressure": {}.{:02}, "battery": {}, "device": "bench-device-{}", "firmware": "1.4.2-build.5678", "location": {{"building": "hq", "floor": {}}}, "seq": {}, "ts": {}}}"#,
                20 + i % 21,
                30 + i * 3 % 60,
                i * 37 % 100,
                990 + i * 7 % 40,
                i * 53 % 100,
                i % 101,
                i % 4,
                1 + i % 9,
                1_000_000 + i,
                1_764_900_000_123_456_789u64 + i as u64 * 4_999
            )
        })
        .collect();
    let topics: Vec<String> = (0..MESSAGES)
        .map(|i| format!("sensors/{}/data", i % 4))
        .collect();
    let msgs = messages(&payloads, &topics);
    let rule = Rule::compile(
        "SELECT *, topic(2) AS room FROM 'sensors/+/data'",
        SqlVersion::V2016_03_23,
    )
    .unwrap();
    assert!(rule.is_vectorised());
    let rules = RuleGroup::new(vec![Arc::new(rule)]);
    let mean_len = payloads.iter().map(String::len).sum::<usize>() / MESSAGES;
    let mut group = c.benchmark_group("embedded_benchmark");
    group.throughput(Throughput::Elements(MESSAGES as u64));
    group.bench_function(
        format!("star_topic ({mean_len} B payloads, batch {MESSAGES})"),
        |b| b.iter(|| black_box(rules.evaluate_batch(black_box(&msgs)))),
    );
    group.finish();
}

criterion_group!(
    benches,
    engine,
    rule_group,
    single_message,
    embedded_benchmark_batch
);
criterion_main!(benches);
