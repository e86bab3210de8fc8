//! The dynamodb and dynamodb_v2 actions end to end: rule files -> rulewire (a subprocess) ->
//! Mosquitto -> a moto server's DynamoDB, read back with Scan (`rulewire_actions::testing`).
//! One binary for both DynamoDB actions (each test binary is a link of the whole service).
//! A missing `moto_server` FAILS these tests.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use rulewire_actions::testing::{Moto, create_table, item_text, scan_items};

const T: Duration = Duration::from_secs(30);

/// Two rules on the 30 meter readings, each with one action of type `kind` whose header
/// lines `action(table)` give: one to table `meters` (keys `device` S and `seq` N), one to a
/// table that does not exist. Checks that the items of `meters` are `expected(device, seq)`
/// for every reading (as `testing::item_text`), and that each message ends in the second
/// rule's error action as a `failed_action` failure naming the table.
async fn to_meters_and_to_a_missing_table(
    kind: &str,
    action: impl Fn(&str) -> String,
    expected: impl Fn(&str, u64) -> String,
    failed_action: &str,
) {
    let broker = Mosquitto::start();
    let moto = Moto::start().await;
    let client = moto.dynamodb_client().await;
    create_table(&client, "meters", ("device", "S"), Some(("seq", "N"))).await;
    let to_table = meter_rule(&action("meters"));
    let to_missing = meter_rule(&action("nope"));
    let rules = rules_dir(&[("to_table", &to_table), ("to_missing", &to_missing)]);
    let aws = moto.aws_toml("moto");
    let (rw, mut errors) = start_meter_readings(kind, &broker, &aws, rules.path(), 30).await;
    let series = format!("rulewire_action_success_total{{action=\"{kind}\",rule=\"to_table\"}}");
    wait_until(&format!("30 {kind} writes"), T, async || {
        rw.metric(&series).await == 30.0
    })
    .await;
    let items: BTreeSet<String> = scan_items(&client, "meters")
        .await
        .iter()
        .map(item_text)
        .collect();
    let want: BTreeSet<String> = (0..30u64)
        .map(|s| expected(&format!("m{}", s % 3), s))
        .collect();
    assert_eq!(items, want);

    expect_error_payloads(&mut errors, 30, "to_missing", failed_action, "nope").await;
}

/// dynamodb: each output is the `payload` column (a map) of the item keyed by the topic's
/// device and the payload's seq (a NUMBER sort key).
#[tokio::test(flavor = "multi_thread")]
async fn rule_files_to_dynamodb_and_to_the_error_action() {
    let action = |table: &str| {
        format!(
            "type = \"dynamodb\"\nconnection = \"moto\"\ntable_name = \"{table}\"\n\
             hash_key_field = \"device\"\nhash_key_value = \"${{topic(2)}}\"\n\
             range_key_field = \"seq\"\nrange_key_value = \"${{seq}}\"\n\
             range_key_type = \"NUMBER\""
        )
    };
    let expected =
        |d: &str, s: u64| format!("device=S({d}) payload=M(device=S({d}) seq=N({s})) seq=N({s})");
    to_meters_and_to_a_missing_table("dynamodb", action, expected, "DynamoDBAction").await;
}

/// dynamodb_v2: each output's top-level keys (`seq`, `device`) are the item's columns.
#[tokio::test(flavor = "multi_thread")]
async fn rule_files_to_dynamodb_v2_and_to_the_error_action() {
    let action = |table: &str| {
        format!(
            "type = \"dynamodb_v2\"\nconnection = \"moto\"\nput_item = {{ table_name = \"{table}\" }}"
        )
    };
    let expected = |d: &str, s: u64| format!("device=S({d}) seq=N({s})");
    to_meters_and_to_a_missing_table("dynamodb_v2", action, expected, "DynamoDBv2Action").await;
}
