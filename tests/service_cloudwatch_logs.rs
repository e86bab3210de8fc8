//! The cloudwatch_logs action end to end: rule files -> rulewire (a subprocess) -> Mosquitto
//! -> a moto server's CloudWatch Logs, read back with GetLogEvents through
//! `rulewire_actions::testing`. A missing `moto_server` FAILS these tests.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use rulewire_actions::testing::Moto;

const T: Duration = Duration::from_secs(30);

fn rule(group: &str) -> String {
    meter_rule(&format!(
        "type = \"cloudwatch_logs\"\nconnection = \"moto\"\nlog_group_name = \"{group}\""
    ))
}

/// Two rules on the same messages: one sends them to an existing log group (every output
/// arrives as an event of the stream rulewire creates, `rulewire`), the other to a group
/// that does not exist (each message ends in that rule's error action as a
/// CloudwatchLogsAction failure naming the group).
#[tokio::test(flavor = "multi_thread")]
async fn rule_files_to_cloudwatch_logs_and_to_the_error_action() {
    let broker = Mosquitto::start();
    let moto = Moto::start().await;
    moto.create_log_group("meters").await;
    let rules = rules_dir(&[("to_logs", &rule("meters")), ("to_missing", &rule("nope"))]);
    let aws = moto.aws_toml("moto");
    let (rw, mut errors) = start_meter_readings("logs", &broker, &aws, rules.path(), 30).await;
    wait_until("30 log events", T, async || {
        rw.metric("rulewire_action_success_total{action=\"cloudwatch_logs\",rule=\"to_logs\"}")
            .await
            == 30.0
    })
    .await;
    assert_eq!(moto.log_streams("meters").await, ["rulewire"]);
    let events = moto.log_events("meters", "rulewire").await;
    let messages: BTreeSet<String> = events.iter().map(|(_, m)| m.clone()).collect();
    let expected: BTreeSet<String> = (0..30u64)
        .map(|s| format!("{{\"seq\":{s},\"device\":\"m{}\"}}", s % 3))
        .collect();
    assert_eq!(messages, expected);
    assert_eq!(events.len(), 30, "each event written once");

    expect_error_payloads(
        &mut errors,
        30,
        "to_missing",
        "CloudwatchLogsAction",
        "nope",
    )
    .await;
}
