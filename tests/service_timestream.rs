//! The timestream action end to end: rule files -> rulewire (a subprocess) -> Mosquitto -> a
//! moto server's Timestream Write, records read back from moto's `/moto-api/data.json`
//! (`rulewire_actions::testing`; moto's timestream-query does not read written records).
//! A missing `moto_server` FAILS these tests.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use rulewire_actions::testing::Moto;

const T: Duration = Duration::from_secs(30);

fn rule(table: &str) -> String {
    meter_rule(&format!(
        "type = \"timestream\"\nconnection = \"moto\"\ndatabase_name = \"iot\"\n\
         table_name = \"{table}\"\n\
         dimensions = [{{ name = \"meter\", value = \"${{topic(2)}}\" }}]"
    ))
}

/// Two rules on the same messages: one writes a record per output attribute (`seq` as a
/// BIGINT, `device` as a VARCHAR) with the topic's meter as a dimension and the message
/// time, the other to a table that does not exist (each message ends in that rule's error
/// action as a TimestreamAction failure naming the table).
#[tokio::test(flavor = "multi_thread")]
async fn rule_files_to_timestream_and_to_the_error_action() {
    let broker = Mosquitto::start();
    let moto = Moto::start().await;
    moto.create_timestream_table("iot", "meters").await;
    let rules = rules_dir(&[("to_table", &rule("meters")), ("to_missing", &rule("nope"))]);
    let aws = moto.aws_toml("moto");
    let (rw, mut errors) =
        start_meter_readings("timestream", &broker, &aws, rules.path(), 30).await;
    wait_until("30 timestream writes", T, async || {
        rw.metric("rulewire_action_success_total{action=\"timestream\",rule=\"to_table\"}")
            .await
            == 30.0
    })
    .await;
    let records = moto.timestream_records("iot", "meters").await;
    assert_eq!(records.len(), 60, "two measures per message");
    let mut got = BTreeSet::new();
    for r in &records {
        assert_eq!(r["TimeUnit"], "MILLISECONDS");
        let time: i64 = r["Time"].as_str().unwrap().parse().unwrap();
        assert!(time > 0, "{r}");
        assert_eq!(r["Dimensions"][0]["Name"], "meter");
        got.insert(format!(
            "{} {}={} {}",
            r["Dimensions"][0]["Value"].as_str().unwrap(),
            r["MeasureName"].as_str().unwrap(),
            r["MeasureValue"].as_str().unwrap(),
            r["MeasureValueType"].as_str().unwrap(),
        ));
    }
    let mut expected = BTreeSet::new();
    for s in 0..30u64 {
        let meter = format!("m{}", s % 3);
        expected.insert(format!("{meter} seq={s} BIGINT"));
        expected.insert(format!("{meter} device={meter} VARCHAR"));
    }
    assert_eq!(got, expected);

    expect_error_payloads(&mut errors, 30, "to_missing", "TimestreamAction", "nope").await;
}
