//! The timestream action against moto's Timestream Write (records read back from moto's
//! `/moto-api/data.json`: one record per measure with dimensions, time and type, a timestamp
//! template, a missing table) and against a real HTTP server standing in for Timestream
//! (requests of at most 100 records and no endpoint discovery when an endpoint is set;
//! throttling retried; rejected records not retried).

use std::sync::Arc;

use bytes::Bytes;
use rulewire_engine::SqlVersion;
use serde_json::{Value, json};

use crate::{
    Action, ActionContext, FiredMessage,
    test_util::{
        Moto, assert_failure, aws_json_server, build_action, build_error, endpoint_context, fired,
        moto_context, table, targets,
    },
};

/// Dimensions from the topic and the original payload (`{"temp":31,"site":"north"}`).
const DIMENSIONS: &str = "dimensions = [\n  { name = \"device\", value = \"${topic(2)}\" },\n  \
    { name = \"site\", value = \"${site}\" },\n]\n";

fn action(ctx: &ActionContext, fields: &str) -> Arc<dyn Action> {
    let text = format!(
        "type = \"timestream\"\nconnection = \"moto\"\ndatabase_name = \"iot\"\n{DIMENSIONS}{fields}"
    );
    build_action(&table(&text), SqlVersion::default(), ctx).unwrap()
}

fn reading(output: &[u8]) -> FiredMessage {
    fired("ts_rule", "plant/p1/data", output)
}

/// A record as moto keeps it: the WriteRecords JSON of one record.
fn record(name: &str, value: &str, value_type: &str, time: &str, unit: &str) -> Value {
    json!({
        "Dimensions": [{"Name": "device", "Value": "p1"}, {"Name": "site", "Value": "north"}],
        "MeasureName": name,
        "MeasureValue": value,
        "MeasureValueType": value_type,
        "Time": time,
        "TimeUnit": unit,
    })
}

/// One record per non-null top-level attribute, typed from its JSON value, each with the
/// rendered dimensions and the message's time in milliseconds.
#[tokio::test]
async fn each_attribute_is_a_record_with_the_dimensions_and_time() {
    let moto = Moto::start().await;
    moto.create_timestream_table("iot", "readings").await;
    let (ctx, metrics) = moto_context(&moto);
    let ts = action(&ctx, "table_name = \"readings\"");
    let output = br#"{"temp":21.5,"count":3,"ok":true,"label":"x","pos":{"a":[1,2]},"none":null}"#;
    ts.execute(&reading(output)).await.unwrap();
    let at =
        |name, value, value_type| record(name, value, value_type, "1700000000000", "MILLISECONDS");
    assert_eq!(
        moto.timestream_records("iot", "readings").await,
        vec![
            at("temp", "21.5", "DOUBLE"),
            at("count", "3", "BIGINT"),
            at("ok", "true", "BOOLEAN"),
            at("label", "x", "VARCHAR"),
            at("pos", r#"{"a":[1,2]}"#, "VARCHAR"),
        ]
    );
    assert_eq!(metrics.get("success:timestream"), 1);
}

/// `timestamp` renders a template (against the original message) with its unit; a value that
/// is not a whole number fails that message at once.
#[tokio::test]
async fn the_timestamp_template_sets_time_and_unit() {
    let moto = Moto::start().await;
    moto.create_timestream_table("iot", "readings").await;
    let (ctx, metrics) = moto_context(&moto);
    let ts = action(
        &ctx,
        "table_name = \"readings\"\ntimestamp = { value = \"${ts}\", unit = \"SECONDS\" }",
    );
    let mut msg = reading(br#"{"v":1}"#);
    msg.original_payload = Bytes::from_static(br#"{"site":"north","ts":1700000123}"#);
    ts.execute(&msg).await.unwrap();
    assert_eq!(
        moto.timestream_records("iot", "readings").await,
        vec![record("v", "1", "BIGINT", "1700000123", "SECONDS")]
    );

    msg.original_payload = Bytes::from_static(br#"{"site":"north","ts":"soon"}"#);
    let e = ts.execute(&msg).await.unwrap_err();
    let message = "timestamp.value: \"soon\" is not a whole epoch number";
    assert_failure(&e, "TimestreamAction", "readings", message);
    // A valid time, but an output that is not an object.
    msg.original_payload = Bytes::from_static(br#"{"site":"north","ts":1700000123}"#);
    msg.output = b"[1,2]".to_vec();
    let e = ts.execute(&msg).await.unwrap_err();
    assert!(e.error_message.contains("not a JSON object"), "{e:?}");
    assert_eq!(metrics.get("retry:timestream"), 0);
}

#[tokio::test]
async fn a_missing_table_fails_at_once_as_timestream_action() {
    let moto = Moto::start().await;
    moto.create_timestream_table("iot", "readings").await;
    let (ctx, metrics) = moto_context(&moto);
    let missing = action(&ctx, "table_name = \"nope\"");
    let e = missing.execute(&reading(br#"{"v":1}"#)).await.unwrap_err();
    assert_failure(&e, "TimestreamAction", "nope", "ResourceNotFound");
    assert_eq!(metrics.retries_and_failures("timestream"), (0, 1));
}

/// With an endpoint configured, the action never calls DescribeEndpoints (moto's and a VPC
/// endpoint's would send it elsewhere), and an output of 150 measures is written in requests
/// of 100 and 50 records.
#[tokio::test]
async fn no_endpoint_discovery_and_at_most_100_records_per_request() {
    let ingested = r#"{"RecordsIngested":{"Total":100,"MemoryStore":100,"MagneticStore":0}}"#;
    let (addr, requests) = aws_json_server(200, ingested).await;
    let (ctx, _) = endpoint_context(addr);
    let fields: Vec<String> = (0..150).map(|i| format!("\"m{i}\":{i}")).collect();
    let output = format!("{{{}}}", fields.join(","));
    action(&ctx, "table_name = \"readings\"")
        .execute(&reading(output.as_bytes()))
        .await
        .unwrap();
    assert_eq!(
        targets(&requests),
        vec!["Timestream_20181101.WriteRecords"; 2]
    );
    let sizes: Vec<usize> = requests
        .lock()
        .unwrap()
        .iter()
        .map(|(_, body)| {
            let body: Value = serde_json::from_str(body).unwrap();
            body["Records"].as_array().unwrap().len()
        })
        .collect();
    assert_eq!(sizes, [100, 50]);
}

/// Throttling is retried with backoff, then the message fails with the service's message.
#[tokio::test]
async fn throttling_is_retried_then_fails() {
    let body = r#"{"__type":"com.amazonaws.timestream.v20181101#ThrottlingException","message":"slow down"}"#;
    let (addr, requests) = aws_json_server(400, body).await;
    let (ctx, metrics) = endpoint_context(addr);
    let e = action(&ctx, "table_name = \"readings\"")
        .execute(&reading(br#"{"v":1}"#))
        .await
        .unwrap_err();
    assert_failure(&e, "TimestreamAction", "readings", "slow down");
    let three_attempts = vec!["Timestream_20181101.WriteRecords"; 3];
    assert_eq!(targets(&requests), three_attempts, "no DescribeEndpoints");
    assert_eq!(metrics.retries_and_failures("timestream"), (2, 1));
}

/// Records Timestream rejects are not retried (they must be fixed first); the error message
/// names each rejected measure and its reason.
#[tokio::test]
async fn rejected_records_fail_at_once_with_their_reasons() {
    let body = r#"{"__type":"com.amazonaws.timestream.v20181101#RejectedRecordsException","message":"One or more records have been rejected.","RejectedRecords":[{"RecordIndex":1,"Reason":"The record timestamp is outside the time range of the memory store."}]}"#;
    let (addr, requests) = aws_json_server(400, body).await;
    let (ctx, metrics) = endpoint_context(addr);
    let e = action(&ctx, "table_name = \"readings\"")
        .execute(&reading(br#"{"a":1,"b":2}"#))
        .await
        .unwrap_err();
    assert_eq!(
        e.error_message,
        "Timestream rejected records: record 1 (measure \"b\"): The record timestamp is \
         outside the time range of the memory store."
    );
    assert_eq!(requests.lock().unwrap().len(), 1);
    assert_eq!(metrics.get("retry:timestream"), 0);
}

#[test]
fn bad_tables_are_clear_errors() {
    let err = |fields: &str| {
        build_error(&format!(
            "type = \"timestream\"\nconnection = \"moto\"\ndatabase_name = \"iot\"\n\
             table_name = \"t\"\n{fields}"
        ))
    };
    let dim = |name: &str| format!("dimensions = [{{ name = \"{name}\", value = \"v\" }}]");
    assert_eq!(
        err("dimensions = []"),
        "field `dimensions`: 0 given; Timestream records need 1 to 128"
    );
    assert!(err(&dim("time")).contains("reserved"));
    assert!(err(&dim("ts_x")).contains("cannot start with ts_"));
    assert!(err(&dim("measure_value_x")).contains("cannot start with"));
    assert!(err(&dim("a:b")).starts_with("field `dimensions[0].name`"));
    assert!(
        err("dimensions = [{ name = \"d\", value = \"a\" }, { name = \"d\", value = \"b\" }]")
            .contains("given twice")
    );
    let with_dim = |extra: &str| err(&format!("{}\n{extra}", dim("d")));
    assert_eq!(
        with_dim("timestamp = { value = \"12.5\" }"),
        "field `timestamp.value`: \"12.5\" is not a whole epoch number"
    );
    assert!(with_dim("timestamp = { value = \"1\", unit = \"DAYS\" }").contains("unknown variant"));
    assert!(with_dim("databaseName = \"x\"").contains("unknown field `databaseName`"));
    assert!(
        err("dimensions = [{ name = \"d\", value = \"${topic(\" }]")
            .starts_with("field `dimensions[0].value`: bad template")
    );
}
