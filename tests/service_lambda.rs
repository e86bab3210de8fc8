//! The lambda action end to end: rule files -> rulewire (a subprocess) -> Mosquitto -> Lambda's
//! Invoke API. moto accepts asynchronous Invokes without Docker but keeps no record of them,
//! so the events go to a real HTTP server on the Invoke path (`testing::Recorder`, through
//! the AWS connection's endpoint), which records each; a moto server answers 404 for a
//! function that does not exist. A missing `moto_server` FAILS these tests.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use rulewire_actions::testing::{Moto, Recorder, percent_decode};

const T: Duration = Duration::from_secs(30);

fn rule(connection: &str, function_arn: &str) -> String {
    meter_rule(&format!(
        "type = \"lambda\"\nconnection = \"{connection}\"\nfunction_arn = \"{function_arn}\""
    ))
}

/// Two rules on the same messages: one invokes a function (each output arrives as the
/// payload of an `Event` invocation of that function), the other a function moto does not
/// have (each message ends in that rule's error action as a LambdaAction failure naming the
/// function ARN).
#[tokio::test(flavor = "multi_thread")]
async fn rule_files_to_lambda_and_to_the_error_action() {
    let broker = Mosquitto::start();
    let moto = Moto::start().await;
    let lambda = Recorder::start(|_, _| (202, vec![], String::new())).await;
    let function = "arn:aws:lambda:us-east-1:123456789012:function:meters";
    let missing = "arn:aws:lambda:us-east-1:123456789012:function:nope";
    let rules = rules_dir(&[
        ("to_function", &rule("lambda", function)),
        ("to_missing", &rule("moto", missing)),
    ]);
    let aws = format!(
        "{}[aws.connections.lambda]\nregion = \"us-east-1\"\nendpoint = \"{}\"\n\
         access_key_id = \"test\"\nsecret_access_key = \"test\"\n",
        moto.aws_toml("moto"),
        lambda.endpoint
    );
    let (rw, mut errors) = start_meter_readings("lambda", &broker, &aws, rules.path(), 30).await;
    wait_until("30 lambda invocations", T, async || {
        rw.metric("rulewire_action_success_total{action=\"lambda\",rule=\"to_function\"}")
            .await
            == 30.0
    })
    .await;
    let invoke_path = format!("/2015-03-31/functions/{function}/invocations");
    let mut payloads = BTreeSet::new();
    for request in lambda.requests() {
        assert_eq!(
            (request.method.as_str(), percent_decode(&request.path)),
            ("POST", invoke_path.clone())
        );
        assert_eq!(request.header("x-amz-invocation-type"), "Event");
        payloads.insert(String::from_utf8(request.body).unwrap());
    }
    let expected: BTreeSet<String> = (0..30u64)
        .map(|s| format!("{{\"seq\":{s},\"device\":\"m{}\"}}", s % 3))
        .collect();
    assert_eq!(payloads, expected);

    expect_error_payloads(&mut errors, 30, "to_missing", "LambdaAction", missing).await;
}
