//! The dynamodb action against moto's DynamoDB (keys and the payload column as JSON map or
//! binary, UPDATE and DELETE, templated fields, a missing table) and against a real HTTP
//! server that throttles (retries, then the failure).

use std::{collections::HashMap, sync::Arc};

use aws_sdk_dynamodb::{Client, primitives::Blob, types::AttributeValue};
use bytes::Bytes;
use rulewire_engine::SqlVersion;

use crate::{
    Action, ActionContext, FiredMessage,
    test_util::{
        Moto, assert_failure, aws_json_server, build_action, build_error, endpoint_context, fired,
        moto_context, table, targets,
    },
    testing::{create_table, scan_items},
};

type Item = HashMap<String, AttributeValue>;

fn action(ctx: &ActionContext, fields: &str) -> Arc<dyn Action> {
    let text = format!("type = \"dynamodb\"\nconnection = \"moto\"\n{fields}");
    build_action(&table(&text), SqlVersion::default(), ctx).unwrap()
}

/// Keys from the topic and the original payload; the output is the payload column.
const KEYED: &str = "table_name = \"readings\"\nhash_key_field = \"device\"\n\
    hash_key_value = \"${topic(2)}\"\nrange_key_field = \"seq\"\n\
    range_key_value = \"${seq}\"\nrange_key_type = \"NUMBER\"\n";

/// Message `seq` from device `dev`: original payload `{"seq":<seq>,"op":"<op>"}`.
fn reading(dev: &str, seq: u32, op: &str, output: &[u8]) -> FiredMessage {
    let mut msg = fired("ddb_rule", &format!("plant/{dev}/data"), output);
    msg.original_payload = Bytes::from(format!("{{\"seq\":{seq},\"op\":\"{op}\"}}"));
    msg
}

fn s(text: &str) -> AttributeValue {
    AttributeValue::S(text.to_owned())
}

fn n(text: &str) -> AttributeValue {
    AttributeValue::N(text.to_owned())
}

fn item(pairs: &[(&str, AttributeValue)]) -> Item {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

async fn readings_table(moto: &Moto) -> Client {
    let client = moto.dynamodb_client().await;
    create_table(&client, "readings", ("device", "S"), Some(("seq", "N"))).await;
    client
}

async fn sorted_items(client: &Client) -> Vec<Item> {
    let mut items = scan_items(client, "readings").await;
    items.sort_by_key(|i| format!("{:?}{:?}", i.get("device"), i.get("seq")));
    items
}

/// INSERT (the default): PutItem of the rendered keys plus the output under `payload`, a
/// JSON object as a map with exact numbers; non-JSON output as binary; `payload_field`
/// names another column.
#[tokio::test]
async fn items_get_keys_and_the_output_in_the_payload_column() {
    let moto = Moto::start().await;
    let (ctx, metrics) = moto_context(&moto);
    let client = readings_table(&moto).await;
    let insert = action(&ctx, KEYED);
    let json = br#"{"t":21.50,"big":12345678901234567890,"tags":["a",null],"ok":true}"#;
    insert.execute(&reading("p1", 1, "", json)).await.unwrap();
    insert
        .execute(&reading("p2", 2, "", &[0xff, 0x00]))
        .await
        .unwrap();
    let named = action(&ctx, &format!("{KEYED}payload_field = \"data\""));
    named.execute(&reading("p3", 3, "", b"7")).await.unwrap();

    let map = AttributeValue::M(item(&[
        ("t", n("21.5")),
        ("big", n("12345678901234567890")),
        (
            "tags",
            AttributeValue::L(vec![s("a"), AttributeValue::Null(true)]),
        ),
        ("ok", AttributeValue::Bool(true)),
    ]));
    let expected = vec![
        item(&[("device", s("p1")), ("seq", n("1")), ("payload", map)]),
        item(&[
            ("device", s("p2")),
            ("seq", n("2")),
            ("payload", AttributeValue::B(Blob::new(vec![0xff, 0x00]))),
        ]),
        item(&[("device", s("p3")), ("seq", n("3")), ("data", n("7"))]),
    ];
    assert_eq!(sorted_items(&client).await, expected);
    assert_eq!(metrics.get("success:dynamodb"), 3);
}

/// `operation` is a template: UPDATE sets the payload column and keeps the item's other
/// attributes, INSERT replaces the whole item, DELETE removes it.
#[tokio::test]
async fn update_keeps_other_attributes_insert_replaces_delete_removes() {
    let moto = Moto::start().await;
    let (ctx, _) = moto_context(&moto);
    let client = readings_table(&moto).await;
    let existing = item(&[("device", s("p1")), ("seq", n("5")), ("note", s("keep"))]);
    client
        .put_item()
        .table_name("readings")
        .set_item(Some(existing))
        .send()
        .await
        .unwrap();
    let by_op = action(&ctx, &format!("{KEYED}operation = \"${{op}}\""));

    by_op
        .execute(&reading("p1", 5, "UPDATE", br#"{"v":1}"#))
        .await
        .unwrap();
    let payload = AttributeValue::M(item(&[("v", n("1"))]));
    let updated = item(&[
        ("device", s("p1")),
        ("seq", n("5")),
        ("note", s("keep")),
        ("payload", payload.clone()),
    ]);
    assert_eq!(sorted_items(&client).await, vec![updated]);

    by_op
        .execute(&reading("p1", 5, "INSERT", br#"{"v":1}"#))
        .await
        .unwrap();
    let inserted = item(&[("device", s("p1")), ("seq", n("5")), ("payload", payload)]);
    assert_eq!(sorted_items(&client).await, vec![inserted]);

    by_op
        .execute(&reading("p1", 5, "DELETE", b"{}"))
        .await
        .unwrap();
    assert_eq!(sorted_items(&client).await, Vec::<Item>::new());

    let e = by_op
        .execute(&reading("p1", 5, "MERGE", b"{}"))
        .await
        .unwrap_err();
    assert_eq!(
        e.error_message,
        "operation: expected INSERT, UPDATE or DELETE, got \"MERGE\""
    );
}

/// A templated table name is rendered per message (and is the failedResource); a rendered
/// value that can never work fails that message at once, without a request.
#[tokio::test]
async fn templated_fields_are_rendered_and_checked_per_message() {
    let moto = Moto::start().await;
    let (ctx, metrics) = moto_context(&moto);
    let client = readings_table(&moto).await;
    let templated = action(
        &ctx,
        "table_name = \"${op}\"\nhash_key_field = \"device\"\nhash_key_value = \"${topic(2)}\"\n\
         range_key_field = \"seq\"\nrange_key_value = \"${seq}\"\nrange_key_type = \"NUMBER\"",
    );
    templated
        .execute(&reading("p9", 9, "readings", b"{}"))
        .await
        .unwrap();
    assert_eq!(scan_items(&client, "readings").await.len(), 1);

    let e = templated
        .execute(&reading("p9", 9, "x y", b"{}"))
        .await
        .unwrap_err();
    let message = "table_name: \"x y\" is not a DynamoDB table name";
    assert_failure(&e, "DynamoDBAction", "x y", message);

    let mut not_a_number = reading("p9", 0, "readings", b"{}");
    not_a_number.original_payload = Bytes::from_static(br#"{"seq":"ten","op":"readings"}"#);
    let e = templated.execute(&not_a_number).await.unwrap_err();
    assert_eq!(
        e.error_message,
        "range_key_value: \"ten\" is not a number (the key type is NUMBER)"
    );
    assert_eq!(e.failed_resource, "readings");
    assert_eq!(metrics.get("retry:dynamodb"), 0);
}

#[tokio::test]
async fn a_missing_table_fails_at_once_as_dynamodb_action() {
    let moto = Moto::start().await;
    let (ctx, metrics) = moto_context(&moto);
    let missing = action(
        &ctx,
        "table_name = \"nope\"\nhash_key_field = \"device\"\nhash_key_value = \"${topic(2)}\"",
    );
    let e = missing
        .execute(&reading("p1", 1, "", b"{}"))
        .await
        .unwrap_err();
    assert_failure(&e, "DynamoDBAction", "nope", "ResourceNotFoundException");
    assert_eq!(metrics.retries_and_failures("dynamodb"), (0, 1));
}

/// An endpoint that throttles every PutItem: each attempt is retried with backoff, then the
/// message fails with the service's message.
#[tokio::test]
async fn throttling_is_retried_then_fails() {
    let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"slow down"}"#;
    let (addr, requests) = aws_json_server(400, body).await;
    let (ctx, metrics) = endpoint_context(addr);
    let throttled = action(
        &ctx,
        "table_name = \"readings\"\nhash_key_field = \"device\"\nhash_key_value = \"d\"",
    );
    let e = throttled
        .execute(&reading("p1", 1, "", b"{}"))
        .await
        .unwrap_err();
    assert_failure(&e, "DynamoDBAction", "readings", "slow down");
    let three_attempts = vec!["DynamoDB_20120810.PutItem"; 3];
    assert_eq!(
        targets(&requests),
        three_attempts,
        "the test context's policy"
    );
    assert_eq!(metrics.retries_and_failures("dynamodb"), (2, 1));
}

#[test]
fn bad_tables_are_clear_errors() {
    let err = |fields: &str| {
        build_error(&format!(
            "type = \"dynamodb\"\nconnection = \"moto\"\nhash_key_field = \"k\"\n{fields}"
        ))
    };
    let base = "table_name = \"t_1\"\nhash_key_value = \"${topic()}\"\n";
    assert!(err("table_name = \"t\"\nhash_key_value = \"v\"").starts_with("field `table_name`:"));
    assert_eq!(
        err(&format!("{base}hash_key_type = \"INT\"")),
        "field `hash_key_type`: expected STRING or NUMBER, got \"INT\""
    );
    assert_eq!(
        err("table_name = \"t_1\"\nhash_key_value = \"abc\"\nhash_key_type = \"NUMBER\""),
        "field `hash_key_value`: \"abc\" is not a number (the key type is NUMBER)"
    );
    assert!(err("table_name = \"t_1\"\nhash_key_value = \"\"").contains("must not be empty"));
    assert_eq!(
        err(&format!("{base}range_key_field = \"r\"")),
        "field `range_key_value`: missing: range_key_field needs a value"
    );
    assert!(
        err(&format!("{base}range_key_type = \"NUMBER\"")).starts_with("field `range_key_type`")
    );
    assert_eq!(
        err(&format!("{base}operation = \"UPSERT\"")),
        "field `operation`: expected INSERT, UPDATE or DELETE, got \"UPSERT\""
    );
    assert_eq!(
        err(&format!("{base}payload_field = \"k\"")),
        "field `payload_field`: \"k\" is also a key field"
    );
    assert!(err(&format!("{base}operation = \"${{op(\"")).contains("bad template"));
    assert!(err(&format!("{base}tableName = \"t\"")).contains("unknown field `tableName`"));
}
