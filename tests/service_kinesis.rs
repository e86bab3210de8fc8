//! The kinesis action end to end: rule files -> rulewire (a subprocess) -> Mosquitto -> a moto
//! server's Kinesis, read back with GetShardIterator/GetRecords (`rulewire_actions::testing`).
//! A missing `moto_server` FAILS these tests.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use rulewire_actions::testing::{Moto, create_stream, read_stream};

const T: Duration = Duration::from_secs(30);

fn rule(stream: &str) -> String {
    meter_rule(&format!(
        "type = \"kinesis\"\nconnection = \"moto\"\nstream_name = \"{stream}\"\n\
         partition_key = \"${{topic(2)}}\"\nlinger_ms = 20"
    ))
}

/// Two rules on the same messages: one puts them into an existing stream (every record
/// arrives with its partition key and data, in order per key), the other into a stream that
/// does not exist (each message ends in that rule's error action as a KinesisAction failure).
#[tokio::test(flavor = "multi_thread")]
async fn rule_files_to_kinesis_and_to_the_error_action() {
    let broker = Mosquitto::start();
    let moto = Moto::start().await;
    let client = moto.kinesis_client().await;
    create_stream(&client, "meters", 2).await;
    let rules = rules_dir(&[
        ("to_stream", &rule("meters")),
        ("to_missing", &rule("nope")),
    ]);
    let aws = moto.aws_toml("moto");
    let (rw, mut errors) = start_meter_readings("kinesis", &broker, &aws, rules.path(), 60).await;
    wait_until("60 kinesis deliveries", T, async || {
        rw.metric("rulewire_action_success_total{action=\"kinesis\",rule=\"to_stream\"}")
            .await
            == 60.0
    })
    .await;
    let mut per_key: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for shard in read_stream(&client, "meters").await {
        for (key, data) in shard {
            let v: serde_json::Value = serde_json::from_str(&data).unwrap();
            assert_eq!(v["device"], key.as_str());
            per_key
                .entry(key)
                .or_default()
                .push(v["seq"].as_u64().unwrap());
        }
    }
    assert_eq!(per_key.len(), 3);
    for (key, seqs) in &per_key {
        let n: u64 = key[1..].parse().unwrap();
        let expected: Vec<u64> = (0..60).filter(|s| s % 3 == n).collect();
        assert_eq!(seqs, &expected, "records of {key}, in shard order");
    }

    expect_error_payloads(&mut errors, 60, "to_missing", "KinesisAction", "nope").await;
    wait_until("failure metrics", T, async || {
        rw.metric("rulewire_action_failure_total{action=\"kinesis\",rule=\"to_missing\"}")
            .await
            == 60.0
    })
    .await;
    let requests = rw
        .metric("rulewire_action_request_records_count{action=\"kinesis\",rule=\"to_stream\"}")
        .await;
    assert!(
        (1.0..60.0).contains(&requests),
        "60 records in fewer PutRecords requests, got {requests}"
    );
}
