//! kill -9 three times during 100,000 QoS 1 messages into a disk-buffered Kafka action (tansu)
//! and into a disk-buffered, batched S3 action (moto): every sequence number arrives, and the
//! duplicates (at least once) are counted. The HTTP action's run is in `service_buffer.rs`.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::kill::publish_killing_three_times;
use common::*;
use rulewire_actions::testing::{Moto, Tansu, consume, value};

const N: u64 = 100_000;

/// Runs the rule `rule` (named `name`, its one action of type `action` buffered on disk) with
/// the connection tables `sinks`: N messages with three kills, then waits until the last
/// instance has drained its buffer and acknowledged everything.
async fn run_with_three_kills(name: &str, action: &str, rule: &str, sinks: &str) {
    let broker = Mosquitto::start();
    let data = tempfile::tempdir().unwrap();
    let rules = rules_dir(&[(name, rule)]);
    let config = format!(
        "[broker]\nurl = \"{}\"\nclient_id = \"rw-{name}\"\n[storage]\ndata_dir = {:?}\n{sinks}",
        broker.url(),
        data.path().display().to_string()
    );
    let rw = Rulewire::start(&config, rules.path()).await;
    let producer = TestClient::connect(broker.port, &format!("{name}-producer"), &[]).await;
    // Progress is what the current instance delivered from the buffer.
    let drained = format!("rulewire_buffer_drained_total{{action=\"{action}\",rule=\"{name}\"}}");
    let rw = publish_killing_three_times(rw, &config, rules.path(), &producer, N, async |rw| {
        rw.metric(&drained).await as u64
    })
    .await;
    let records = format!("rulewire_buffer_records{{action=\"{action}\",rule=\"{name}\"}}");
    wait_until("the buffer drained", Duration::from_secs(180), async || {
        rw.metric(&records).await == 0.0 && rw.metric("rulewire_in_flight_messages").await == 0.0
    })
    .await;
    assert!(!rw.logs().contains("panicked"), "{}", rw.logs());
}

/// What arrived: all sequence numbers are there; returns (deliveries, duplicates).
fn check_every_seq(seqs: &[u64]) -> (usize, usize) {
    let unique: BTreeSet<u64> = seqs.iter().copied().collect();
    let missing: Vec<u64> = (0..N).filter(|s| !unique.contains(s)).take(20).collect();
    assert!(missing.is_empty(), "lost (first 20): {missing:?}");
    assert_eq!(unique.len() as u64, N, "nothing but 0..N");
    (seqs.len(), seqs.len() - unique.len())
}

fn seq_of(json: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["seq"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_three_times_loses_nothing_buffered_for_kafka() {
    let tansu = Tansu::start().await;
    tansu.create_topic("load", 2);
    let rule = "-- [[action]]\n-- type = \"kafka\"\n-- connection = \"events\"\n-- topic = \"load\"\n\
                -- key = \"${topic(2)}\"\n-- buffer = { type = \"disk\" }\nSELECT seq FROM 'load/+'\n";
    let kafka = tansu.connection_toml("events", &[]);
    run_with_three_kills("to_kafka", "kafka", rule, &kafka).await;
    let records = consume(
        &tansu.bootstrap(),
        "load",
        2,
        usize::MAX,
        Duration::from_secs(15),
    )
    .await;
    let seqs: Vec<u64> = records.iter().map(|m| seq_of(&value(m))).collect();
    let (delivered, duplicates) = check_every_seq(&seqs);
    eprintln!("kafka: {N} messages, 3 kills: {delivered} records, {duplicates} duplicates");
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_three_times_loses_nothing_buffered_for_batched_s3() {
    let moto = Moto::start().await;
    moto.create_bucket("lake").await;
    // Objects of up to 10,000 rows (over limits.max_in_flight: the buffer lifts that cap).
    let rule = "-- [[action]]\n-- type = \"s3\"\n-- connection = \"moto\"\n-- bucket = \"lake\"\n\
                -- batch = { max_rows = 10000, max_age_ms = 300, key = \"load/${newuuid()}.jsonl\" }\n\
                -- buffer = { type = \"disk\" }\nSELECT seq FROM 'load/+'\n";
    let sinks = format!(
        "{}[s3.connections.moto]\nurl = \"s3://\"\naws = \"moto\"\n",
        moto.aws_toml("moto")
    );
    run_with_three_kills("to_s3", "s3", rule, &sinks).await;
    let objects = moto.objects("lake").await;
    let largest = objects
        .iter()
        .map(|o| o.iter().filter(|&&b| b == b'\n').count())
        .max()
        .unwrap();
    let seqs: Vec<u64> = objects
        .iter()
        .flat_map(|o| {
            String::from_utf8(o.clone())
                .unwrap()
                .lines()
                .map(seq_of)
                .collect::<Vec<_>>()
        })
        .collect();
    let (delivered, duplicates) = check_every_seq(&seqs);
    eprintln!(
        "s3: {N} messages, 3 kills: {} objects (largest {largest} rows), {delivered} rows, {duplicates} duplicates",
        objects.len()
    );
    assert!(
        largest > 1024,
        "a batch can exceed limits.max_in_flight behind a buffer"
    );
}
