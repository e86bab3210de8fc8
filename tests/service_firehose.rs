//! The firehose action end to end: rule files -> rulewire (a subprocess) -> Mosquitto -> a
//! moto server's Firehose, which writes each PutRecordBatch into a moto S3 bucket as one
//! object, read back through `rulewire_actions::testing`. A missing `moto_server` FAILS these
//! tests.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use rulewire_actions::testing::Moto;

const T: Duration = Duration::from_secs(30);

fn rule(stream: &str) -> String {
    meter_rule(&format!(
        "type = \"firehose\"\nconnection = \"moto\"\ndelivery_stream_name = \"{stream}\"\n\
         separator = \"\\n\""
    ))
}

/// Two rules on the same messages: one puts them into an existing Firehose stream (every
/// output arrives in the bucket followed by the separator, several per request), the other
/// into a stream that does not exist (each message ends in that rule's error action as a
/// FirehoseAction failure naming the stream).
#[tokio::test(flavor = "multi_thread")]
async fn rule_files_to_firehose_and_to_the_error_action() {
    let broker = Mosquitto::start();
    let moto = Moto::start().await;
    moto.firehose_into_bucket("meters", "meters-bucket").await;
    let rules = rules_dir(&[("to_hose", &rule("meters")), ("to_missing", &rule("nope"))]);
    let aws = moto.aws_toml("moto");
    let (rw, mut errors) = start_meter_readings("firehose", &broker, &aws, rules.path(), 60).await;
    wait_until("60 firehose deliveries", T, async || {
        rw.metric("rulewire_action_success_total{action=\"firehose\",rule=\"to_hose\"}")
            .await
            == 60.0
    })
    .await;
    let objects = moto.objects("meters-bucket").await;
    let text: String = objects
        .iter()
        .map(|o| String::from_utf8(o.clone()).unwrap())
        .collect();
    assert!(text.ends_with('\n'), "every record ends with the separator");
    let records: Vec<&str> = text.split_terminator('\n').collect();
    assert_eq!(records.len(), 60, "each record written once: {text}");
    let expected: BTreeSet<String> = (0..60u64)
        .map(|s| format!("{{\"seq\":{s},\"device\":\"m{}\"}}", s % 3))
        .collect();
    assert_eq!(
        records
            .into_iter()
            .map(str::to_owned)
            .collect::<BTreeSet<_>>(),
        expected
    );
    let requests = rw
        .metric("rulewire_action_request_records_count{action=\"firehose\",rule=\"to_hose\"}")
        .await;
    assert_eq!(
        requests,
        objects.len() as f64,
        "moto writes one object per request"
    );

    expect_error_payloads(&mut errors, 60, "to_missing", "FirehoseAction", "nope").await;
}
