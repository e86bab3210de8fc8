//! The sns action end to end: rule files -> rulewire (a subprocess) -> Mosquitto -> a moto
//! server's SNS topic -> an SQS queue subscribed to it, read back with ReceiveMessage
//! (`rulewire_actions::testing`). A missing `moto_server` FAILS these tests.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use rulewire_actions::testing::{Moto, sqs_drain};

const T: Duration = Duration::from_secs(30);

fn rule(target_arn: &str) -> String {
    meter_rule(&format!(
        "type = \"sns\"\nconnection = \"moto\"\ntarget_arn = \"{target_arn}\""
    ))
}

/// Two rules on the same messages: one publishes them to a topic whose subscribed queue
/// receives every output, the other to a topic that does not exist (each message ends in
/// that rule's error action as an SnsAction failure naming the topic ARN).
#[tokio::test(flavor = "multi_thread")]
async fn rule_files_to_sns_and_to_the_error_action() {
    let broker = Mosquitto::start();
    let moto = Moto::start().await;
    let (arn, url) = moto.sns_topic_into_queue("meters").await;
    let missing = "arn:aws:sns:us-east-1:123456789012:nope";
    let rules = rules_dir(&[("to_topic", &rule(&arn)), ("to_missing", &rule(missing))]);
    let aws = moto.aws_toml("moto");
    let (rw, mut errors) = start_meter_readings("sns", &broker, &aws, rules.path(), 30).await;
    wait_until("30 sns deliveries", T, async || {
        rw.metric("rulewire_action_success_total{action=\"sns\",rule=\"to_topic\"}")
            .await
            == 30.0
    })
    .await;
    let sqs = moto.sqs_client().await;
    let bodies: BTreeSet<String> = sqs_drain(&sqs, &url)
        .await
        .into_iter()
        .map(|(body, _)| body)
        .collect();
    let expected: BTreeSet<String> = (0..30u64)
        .map(|s| format!("{{\"seq\":{s},\"device\":\"m{}\"}}", s % 3))
        .collect();
    assert_eq!(bodies, expected);

    expect_error_payloads(&mut errors, 30, "to_missing", "SnsAction", missing).await;
}
