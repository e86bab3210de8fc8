//! The action table: AWS's camelCase and CloudFormation's PascalCase fields in, rulewire's
//! snake_case fields out, and each special case.

use serde_json::{Value, json};

use super::*;
use crate::cli::import::header::inline;
use crate::cli::import::problem::Severity;

/// Converts `action`; the rulewire table as inline TOML (or `None`) and the problems.
fn run(action: Value) -> (Option<String>, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut kafka = KafkaConnections::default();
    let mut ctx = ActionCtx {
        problems: &mut problems,
        kafka: &mut kafka,
    };
    let out = convert(&action, "$.actions[0]", &mut ctx).map(|f| inline(&Out::Table(f)));
    (out, problems)
}

fn ok(action: Value) -> String {
    let (out, problems) = run(action);
    assert!(
        problems.iter().all(|p| p.severity == Severity::Note),
        "{problems:?}"
    );
    out.unwrap()
}

#[test]
fn fields_are_snake_case_in_both_casings() {
    let expected = r#"{ type = "sqs", queue_url = "https://sqs.eu-west-1.amazonaws.com/1/q", role_arn = "arn:aws:iam::1:role/r", use_base64 = true }"#;
    assert_eq!(
        ok(
            json!({"sqs": {"queueUrl": "https://sqs.eu-west-1.amazonaws.com/1/q", "roleArn": "arn:aws:iam::1:role/r", "useBase64": true}})
        ),
        expected
    );
    assert_eq!(
        ok(
            json!({"Sqs": {"QueueUrl": "https://sqs.eu-west-1.amazonaws.com/1/q", "RoleArn": "arn:aws:iam::1:role/r", "UseBase64": "true"}})
        ),
        expected
    );
    assert_eq!(
        ok(json!({"DynamoDBv2": {"PutItem": {"TableName": "readings"}, "RoleArn": "r"}})),
        r#"{ type = "dynamodb_v2", put_item = { table_name = "readings" }, role_arn = "r" }"#
    );
    assert_eq!(
        ok(
            json!({"timestream": {"databaseName": "iot", "tableName": "t", "dimensions": [{"name": "device", "value": "${clientid()}"}], "timestamp": {"value": "${timestamp()}", "unit": "MILLISECONDS"}}})
        ),
        r#"{ type = "timestream", database_name = "iot", dimensions = [{ name = "device", value = "${clientid()}" }], table_name = "t", timestamp = { unit = "MILLISECONDS", value = "${timestamp()}" } }"#
    );
    assert_eq!(
        ok(
            json!({"CloudwatchMetric": {"MetricNamespace": "Iot", "MetricName": "temp", "MetricValue": 1.5, "MetricUnit": "None"}})
        ),
        r#"{ type = "cloudwatch_metric", metric_name = "temp", metric_namespace = "Iot", metric_unit = "None", metric_value = "1.5" }"#
    );
}

#[test]
fn republish_headers_flatten_and_its_role_is_dropped() {
    let (out, problems) = run(json!({"republish": {
        "topic": "alerts/${topic(2)}", "qos": "1", "roleArn": "arn:aws:iam::1:role/r",
        "headers": {"contentType": "application/json", "userProperties": [{"key": "k", "value": "${clientid()}"}]}
    }}));
    assert_eq!(
        out.unwrap(),
        r#"{ type = "republish", content_type = "application/json", user_properties = [{ key = "k", value = "${clientid()}" }], qos = 1, topic = "alerts/${topic(2)}" }"#
    );
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].path, "$.actions[0].republish.roleArn");
}

#[test]
fn s3_bucket_is_renamed_and_its_acl_and_connection_noted() {
    let (out, problems) = run(
        json!({"s3": {"bucketName": "lake", "key": "${topic()}/${timestamp()}", "cannedAcl": "private", "roleArn": "r"}}),
    );
    assert_eq!(
        out.unwrap(),
        r#"{ type = "s3", bucket = "lake", key = "${topic()}/${timestamp()}", role_arn = "r" }"#
    );
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["$.actions[0].s3", "$.actions[0].s3.cannedAcl"]);
}

#[test]
fn kinesis_gets_a_partition_key_when_aws_had_none() {
    let (out, problems) = run(json!({"kinesis": {"streamName": "s", "roleArn": "r"}}));
    assert_eq!(
        out.unwrap(),
        r#"{ type = "kinesis", role_arn = "r", stream_name = "s", partition_key = "${newuuid()}" }"#
    );
    assert!(problems[0].message.contains("random"), "{problems:?}");
}

#[test]
fn kafka_gets_a_connection_and_a_numeric_partition() {
    let out = ok(json!({"kafka": {
        "destinationArn": "arn:aws:iot:us-east-1:1:ruledestination/vpc/x",
        "topic": "telemetry", "key": "${clientid()}", "partition": "2",
        "clientProperties": {"bootstrap.servers": "k:9092", "acks": "all"},
        "headers": [{"key": "src", "value": "${topic()}"}]
    }}));
    assert_eq!(
        out,
        r#"{ type = "kafka", connection = "kafka", headers = [{ key = "src", value = "${topic()}" }], key = "${clientid()}", partition = 2, topic = "telemetry" }"#
    );
}

#[test]
fn http_keeps_url_and_headers_and_refuses_sigv4_and_batching() {
    assert_eq!(
        ok(
            json!({"http": {"url": "https://h.example.com/in", "confirmationUrl": "https://h.example.com", "headers": [{"key": "x-api-key", "value": "k"}]}})
        ),
        r#"{ type = "http", headers = [{ key = "x-api-key", value = "k" }], url = "https://h.example.com/in" }"#
    );
    let (out, problems) = run(
        json!({"http": {"url": "https://x", "auth": {"sigv4": {"signingRegion": "us-east-1", "serviceName": "execute-api", "roleArn": "r"}}, "enableBatching": true}}),
    );
    assert_eq!(out, None);
    let errors: Vec<&str> = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .map(|p| p.path.as_str())
        .collect();
    assert_eq!(
        errors,
        ["$.actions[0].http.auth", "$.actions[0].http.enableBatching"]
    );
}

#[test]
fn aws_only_actions_get_the_check_advice_and_odd_shapes_fail() {
    let (out, problems) = run(json!({"IotAnalytics": {"ChannelName": "c", "RoleArn": "r"}}));
    assert_eq!(out, None);
    assert_eq!(problems[0].path, "$.actions[0].IotAnalytics");
    let advice = rulewire_actions::unsupported_advice("iot_analytics").unwrap();
    assert_eq!(
        problems[0].message,
        format!("iotAnalytics has no rulewire counterpart: {advice}")
    );
    for kind in [
        "iotEvents",
        "iotSiteWise",
        "location",
        "salesforce",
        "elasticsearch",
    ] {
        let action: serde_json::Map<String, Value> =
            [(kind.to_owned(), json!({}))].into_iter().collect();
        let (out, problems) = run(Value::Object(action));
        assert_eq!(out, None);
        assert!(
            problems[0].message.contains("no rulewire counterpart: "),
            "{problems:?}"
        );
        assert!(problems[0].message.contains("use `"), "{problems:?}");
    }
    assert!(
        run(json!({"sqs": {}, "sns": {}})).1[0]
            .message
            .contains("exactly one key")
    );
    assert!(
        run(json!({"carrierPigeon": {}})).1[0]
            .message
            .contains("unknown AWS action kind")
    );
    assert!(
        run(json!({"republish": {"topic": "t", "qos": "high"}})).1[0]
            .message
            .contains("integer")
    );
}

#[test]
fn every_aws_only_action_has_advice_in_the_actions_registry() {
    for (aws, name) in AWS_ONLY {
        assert!(
            rulewire_actions::unsupported_advice(name).is_some(),
            "{aws}"
        );
    }
}

#[test]
fn names() {
    assert_eq!(snake_case("queueUrl"), "queue_url");
    assert_eq!(snake_case("useBase64"), "use_base64");
    assert_eq!(
        snake_case(&camel("ExecutionNamePrefix")),
        "execution_name_prefix"
    );
    assert_eq!(camel("DynamoDBv2"), "dynamoDBv2");
}
