//! The sqs action end to end: rule files -> rulewire (a subprocess) -> Mosquitto -> a moto
//! server's SQS (SendMessageBatch), read back with ReceiveMessage
//! (`rulewire_actions::testing`). A missing `moto_server` FAILS these tests.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use rulewire_actions::testing::{Moto, create_queue, sqs_drain};

const T: Duration = Duration::from_secs(30);

fn rule(queue_url: &str) -> String {
    meter_rule(&format!(
        "type = \"sqs\"\nconnection = \"moto\"\nqueue_url = \"{queue_url}\""
    ))
}

/// Two rules on the same messages: one sends them to an existing queue (every output arrives
/// as a body), the other to a queue that does not exist (each message ends in that rule's
/// error action as an SqsAction failure naming the queue URL).
#[tokio::test(flavor = "multi_thread")]
async fn rule_files_to_sqs_and_to_the_error_action() {
    let broker = Mosquitto::start();
    let moto = Moto::start().await;
    let client = moto.sqs_client().await;
    let url = create_queue(&client, "meters", false).await;
    let missing = format!("{}/123456789012/nope", moto.endpoint());
    let rules = rules_dir(&[("to_queue", &rule(&url)), ("to_missing", &rule(&missing))]);
    let aws = moto.aws_toml("moto");
    let (rw, mut errors) = start_meter_readings("sqs", &broker, &aws, rules.path(), 30).await;
    wait_until("30 sqs deliveries", T, async || {
        rw.metric("rulewire_action_success_total{action=\"sqs\",rule=\"to_queue\"}")
            .await
            == 30.0
    })
    .await;
    let bodies: BTreeSet<String> = sqs_drain(&client, &url)
        .await
        .into_iter()
        .map(|(body, _)| body)
        .collect();
    let expected: BTreeSet<String> = (0..30u64)
        .map(|s| format!("{{\"seq\":{s},\"device\":\"m{}\"}}", s % 3))
        .collect();
    assert_eq!(bodies, expected);
    let requests = rw
        .metric("rulewire_action_request_records_count{action=\"sqs\",rule=\"to_queue\"}")
        .await;
    assert!(
        (3.0..30.0).contains(&requests),
        "30 messages in SendMessageBatch requests of up to 10, got {requests} requests"
    );

    expect_error_payloads(&mut errors, 30, "to_missing", "SqsAction", &missing).await;
}
