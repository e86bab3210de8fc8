//! The dynamodb_v2 action against moto's DynamoDB (one column per top-level key with its
//! DynamoDB type, a templated table name, output that is not an object, a missing table) and
//! against a real HTTP server that throttles (retries, then the failure).

use std::{collections::HashMap, sync::Arc};

use aws_sdk_dynamodb::types::AttributeValue;
use rulewire_engine::SqlVersion;

use crate::{
    Action, ActionContext,
    test_util::{
        Moto, assert_failure, aws_json_server, build_action, build_error, endpoint_context, fired,
        moto_context, table, targets,
    },
    testing::{create_table, scan_items},
};

fn action(ctx: &ActionContext, table_name: &str) -> Arc<dyn Action> {
    let text = format!(
        "type = \"dynamodb_v2\"\nconnection = \"moto\"\nput_item = {{ table_name = \"{table_name}\" }}"
    );
    build_action(&table(&text), SqlVersion::default(), ctx).unwrap()
}

fn n(text: &str) -> AttributeValue {
    AttributeValue::N(text.to_owned())
}

fn s(text: &str) -> AttributeValue {
    AttributeValue::S(text.to_owned())
}

/// Every top-level key of the output is a column, typed as AWS types JSON: numbers N with
/// their exact text, strings S, booleans BOOL, null NULL, objects M, arrays L.
#[tokio::test]
async fn each_top_level_key_is_a_typed_column() {
    let moto = Moto::start().await;
    let (ctx, metrics) = moto_context(&moto);
    let client = moto.dynamodb_client().await;
    create_table(&client, "readings", ("device", "S"), Some(("seq", "N"))).await;
    let v2 = action(&ctx, "readings");
    let output = br#"{"device":"p1","seq":12345678901234567890,"t":-0.000001,"ok":false,"none":null,"pos":{"xy":[1.5,"n"]}}"#;
    v2.execute(&fired("v2_rule", "plant/p1/data", output))
        .await
        .unwrap();

    let pos = HashMap::from([("xy".to_owned(), AttributeValue::L(vec![n("1.5"), s("n")]))]);
    let expected = HashMap::from([
        ("device".to_owned(), s("p1")),
        ("seq".to_owned(), n("12345678901234567890")),
        ("t".to_owned(), n("-0.000001")),
        ("ok".to_owned(), AttributeValue::Bool(false)),
        ("none".to_owned(), AttributeValue::Null(true)),
        ("pos".to_owned(), AttributeValue::M(pos)),
    ]);
    assert_eq!(scan_items(&client, "readings").await, vec![expected]);
    assert_eq!(metrics.get("success:dynamodb_v2"), 1);
}

/// The table name is a template rendered against the original message
/// (`{"temp":31,"site":"north"}`), and is the failedResource.
#[tokio::test]
async fn the_table_name_is_rendered_per_message() {
    let moto = Moto::start().await;
    let (ctx, _) = moto_context(&moto);
    let client = moto.dynamodb_client().await;
    create_table(&client, "north_readings", ("device", "S"), None).await;
    let v2 = action(&ctx, "${site}_readings");
    v2.execute(&fired("v2_rule", "plant/p1/data", br#"{"device":"d1"}"#))
        .await
        .unwrap();
    let items = scan_items(&client, "north_readings").await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["device"], s("d1"));
}

/// Output that is not a JSON object, and a table that does not exist, fail at once as
/// DynamoDBv2Action failures naming the table.
#[tokio::test]
async fn non_objects_and_missing_tables_fail_at_once() {
    let moto = Moto::start().await;
    let (ctx, metrics) = moto_context(&moto);
    let client = moto.dynamodb_client().await;
    create_table(&client, "readings", ("device", "S"), None).await;
    let v2 = action(&ctx, "readings");
    for output in [&b"[1,2]"[..], b"42", b"\xff\x00"] {
        let e = v2
            .execute(&fired("v2_rule", "plant/p1/data", output))
            .await
            .unwrap_err();
        let message = "DynamoDBv2 writes one column per top-level key";
        assert_failure(&e, "DynamoDBv2Action", "readings", message);
    }
    let missing = action(&ctx, "nope");
    let e = missing
        .execute(&fired("v2_rule", "plant/p1/data", br#"{"device":"d"}"#))
        .await
        .unwrap_err();
    assert_failure(&e, "DynamoDBv2Action", "nope", "ResourceNotFoundException");
    assert_eq!(metrics.retries_and_failures("dynamodb_v2"), (0, 4));
    assert!(scan_items(&client, "readings").await.is_empty());
}

/// An endpoint that throttles every PutItem: retried with backoff, then the failure.
#[tokio::test]
async fn throttling_is_retried_then_fails() {
    let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"slow down"}"#;
    let (addr, requests) = aws_json_server(400, body).await;
    let (ctx, metrics) = endpoint_context(addr);
    let e = action(&ctx, "readings")
        .execute(&fired("v2_rule", "plant/p1/data", br#"{"device":"d"}"#))
        .await
        .unwrap_err();
    assert_failure(&e, "DynamoDBv2Action", "readings", "slow down");
    let three_attempts = vec!["DynamoDB_20120810.PutItem"; 3];
    assert_eq!(
        targets(&requests),
        three_attempts,
        "the test context's policy"
    );
    assert_eq!(metrics.retries_and_failures("dynamodb_v2"), (2, 1));
}

#[test]
fn bad_tables_are_clear_errors() {
    let err = |fields: &str| {
        build_error(&format!(
            "type = \"dynamodb_v2\"\nconnection = \"moto\"\n{fields}"
        ))
    };
    assert!(err("").contains("missing field `put_item`"));
    assert!(err("put_item = { tableName = \"t_1\" }").contains("unknown field `tableName`"));
    let flat = err("put_item = { table_name = \"t_1\" }\ntable_name = \"t_1\"");
    assert!(flat.contains("unknown field `table_name`"), "{flat}");
    assert!(
        err("put_item = { table_name = \"a\" }")
            .starts_with("field `put_item.table_name`: \"a\" is not a DynamoDB table name")
    );
    assert!(err("put_item = { table_name = \"${topic(\" }").contains("bad template"));
}
