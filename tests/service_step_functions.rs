//! The step_functions action end to end: rule files -> rulewire (a subprocess) -> Mosquitto ->
//! a moto server's Step Functions, each execution's input read back with ListExecutions and
//! DescribeExecution (`rulewire_actions::testing`). The rules give the state machine's name;
//! the ARN is built from the connection's region and moto's account (STS). A missing
//! `moto_server` FAILS these tests.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use rulewire_actions::testing::Moto;

const T: Duration = Duration::from_secs(30);

fn rule(state_machine: &str) -> String {
    meter_rule(&format!(
        "type = \"step_functions\"\nconnection = \"moto\"\nstate_machine_name = \"{state_machine}\"\n\
         execution_name_prefix = \"${{topic(2)}}-\""
    ))
}

/// Two rules on the same messages: one starts an execution of an existing state machine per
/// message (named `<device>-<UUID>`, the output as its input), the other of a state machine
/// that does not exist (each message ends in that rule's error action as a
/// StepFunctionsAction failure naming the state machine).
#[tokio::test(flavor = "multi_thread")]
async fn rule_files_to_step_functions_and_to_the_error_action() {
    let broker = Mosquitto::start();
    let moto = Moto::start().await;
    let arn = moto.create_state_machine("meters").await;
    let rules = rules_dir(&[
        ("to_machine", &rule("meters")),
        ("to_missing", &rule("nope")),
    ]);
    let aws = moto.aws_toml("moto");
    let (rw, mut errors) = start_meter_readings("sfn", &broker, &aws, rules.path(), 30).await;
    wait_until("30 executions", T, async || {
        rw.metric("rulewire_action_success_total{action=\"step_functions\",rule=\"to_machine\"}")
            .await
            == 30.0
    })
    .await;
    let executions = moto.executions(&arn).await;
    let inputs: BTreeSet<String> = executions.iter().map(|(_, input)| input.clone()).collect();
    let expected: BTreeSet<String> = (0..30u64)
        .map(|s| format!("{{\"seq\":{s},\"device\":\"m{}\"}}", s % 3))
        .collect();
    assert_eq!(inputs, expected);
    for (name, input) in &executions {
        let device: serde_json::Value = serde_json::from_str(input).unwrap();
        let prefix = format!("{}-", device["device"].as_str().unwrap());
        assert!(
            name.starts_with(&prefix) && name.len() == prefix.len() + 36,
            "{name} for {input}"
        );
    }

    expect_error_payloads(&mut errors, 30, "to_missing", "StepFunctionsAction", "nope").await;
}
