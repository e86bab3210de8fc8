//! The cloudwatch_metric and cloudwatch_alarm actions end to end: rule files -> rulewire (a
//! subprocess) -> Mosquitto -> a moto server's CloudWatch, read back with GetMetricStatistics
//! and DescribeAlarms (`rulewire_actions::cloudwatch::testing`). A missing `moto_server`
//! FAILS these tests.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use rulewire_actions::cloudwatch::testing::{alarm_state, create_alarm, metric_totals};
use rulewire_actions::testing::Moto;

const T: Duration = Duration::from_secs(30);

/// Two rules on the same readings: one puts each `seq` as a Count data point into the metric
/// `Meters/<device>` (at the arrival time, the default), the other renders a value that is
/// not a number (each message ends in that rule's error action as a CloudwatchMetricAction
/// failure naming `Meters/bad`).
#[tokio::test(flavor = "multi_thread")]
async fn rule_files_put_metric_data_and_bad_values_go_to_the_error_action() {
    let broker = Mosquitto::start();
    let moto = Moto::start().await;
    let client = moto.cloudwatch_client().await;
    let metric = |name: &str, value: &str| {
        meter_rule(&format!(
            "type = \"cloudwatch_metric\"\nconnection = \"moto\"\nmetric_namespace = \"Meters\"\n\
             metric_name = \"{name}\"\nmetric_value = \"{value}\"\nmetric_unit = \"Count\""
        ))
    };
    let rules = rules_dir(&[
        ("to_metric", &metric("${topic(2)}", "${seq}")),
        ("to_bad_value", &metric("bad", "${topic(2)}")),
    ]);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let now = i64::try_from(now.as_secs()).unwrap();
    let aws = moto.aws_toml("moto");
    let (rw, mut errors) = start_meter_readings("cwmetric", &broker, &aws, rules.path(), 30).await;
    wait_until("30 data points", T, async || {
        rw.metric("rulewire_action_success_total{action=\"cloudwatch_metric\",rule=\"to_metric\"}")
            .await
            == 30.0
    })
    .await;
    // Readings s = 0..30 go to meter m<s % 3>: ten points each, summing to 135, 145, 155.
    let span = (now - 3600, now + 3600);
    for (device, sum) in [("m0", 135.0), ("m1", 145.0), ("m2", 155.0)] {
        let totals = metric_totals(&client, "Meters", device, "Count", span).await;
        assert_eq!(totals, Some((10.0, sum)), "{device}");
    }

    expect_error_payloads(
        &mut errors,
        30,
        "to_bad_value",
        "CloudwatchMetricAction",
        "Meters/bad",
    )
    .await;
}

/// Two rules on the same readings: one sets the alarm `meter-<device>` to ALARM with a reason
/// naming the topic, the other an alarm that does not exist (each message ends in that rule's
/// error action as a CloudwatchAlarmAction failure naming the alarm).
#[tokio::test(flavor = "multi_thread")]
async fn rule_files_set_alarm_states_and_a_missing_alarm_goes_to_the_error_action() {
    let broker = Mosquitto::start();
    let moto = Moto::start().await;
    let client = moto.cloudwatch_client().await;
    for device in ["m0", "m1", "m2"] {
        create_alarm(&client, &format!("meter-{device}")).await;
    }
    let alarm = |name: &str| {
        meter_rule(&format!(
            "type = \"cloudwatch_alarm\"\nconnection = \"moto\"\nalarm_name = \"{name}\"\n\
             state_value = \"ALARM\"\nstate_reason = \"reading on ${{topic()}}\""
        ))
    };
    let rules = rules_dir(&[
        ("to_alarm", &alarm("meter-${topic(2)}")),
        ("to_missing", &alarm("nope")),
    ]);
    let aws = moto.aws_toml("moto");
    let (rw, mut errors) = start_meter_readings("cwalarm", &broker, &aws, rules.path(), 30).await;
    wait_until("30 alarm state changes", T, async || {
        rw.metric("rulewire_action_success_total{action=\"cloudwatch_alarm\",rule=\"to_alarm\"}")
            .await
            == 30.0
    })
    .await;
    for device in ["m0", "m1", "m2"] {
        let expected = (
            "ALARM".to_owned(),
            format!("reading on meters/{device}/reading"),
        );
        assert_eq!(
            alarm_state(&client, &format!("meter-{device}")).await,
            expected
        );
    }

    expect_error_payloads(
        &mut errors,
        30,
        "to_missing",
        "CloudwatchAlarmAction",
        "nope",
    )
    .await;
}
