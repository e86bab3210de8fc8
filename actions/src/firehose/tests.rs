//! The firehose action against moto's Firehose, which writes each PutRecordBatch into its S3
//! as one object (records concatenated): records and separators read back from the bucket,
//! batch mode, a missing stream; and against a real HTTP server answering as Firehose does
//! (throttling; per-record `ServiceUnavailableException`, which moto never returns).

use std::sync::Arc;

use base64::Engine;
use rulewire_engine::SqlVersion;

use crate::{
    Action, ActionContext, FiredMessage,
    test_util::{
        FakeAws, Moto, build_action, fired, moto_context, offline_aws_context, run_all, table,
        throttled,
    },
};

fn action(ctx: &ActionContext, fields: &str) -> Arc<dyn Action> {
    let text = format!("type = \"firehose\"\nconnection = \"moto\"\n{fields}");
    build_action(&table(&text), SqlVersion::default(), ctx).unwrap()
}

fn numbered(n: u32) -> FiredMessage {
    fired(
        "hose_rule",
        &format!("plant/p{}/data", n % 2),
        format!("{{\"n\":{n}}}").as_bytes(),
    )
}

/// Everything moto stored in `bucket`, as text (objects in key order).
async fn stored(moto: &Moto, bucket: &str) -> (usize, String) {
    let objects = moto.objects(bucket).await;
    let text = objects
        .iter()
        .map(|o| String::from_utf8(o.clone()).unwrap())
        .collect();
    (objects.len(), text)
}

#[tokio::test]
async fn records_arrive_with_their_separator_and_share_requests() {
    let moto = Moto::start().await;
    let (ctx, metrics) = moto_context(&moto);
    moto.firehose_into_bucket("telemetry-p0", "hose-p0").await;
    moto.firehose_into_bucket("telemetry-p1", "hose-p1").await;
    // The stream name is a template: even numbers go to p0, odd ones to p1.
    let hose = action(
        &ctx,
        "delivery_stream_name = \"telemetry-${topic(2)}\"\nseparator = \"\\n\"",
    );
    let results = run_all(&hose, (0..40).map(numbered).collect()).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(metrics.get("success:firehose"), 40);
    let mut requests = 0;
    for (p, bucket) in ["hose-p0", "hose-p1"].iter().enumerate() {
        let (objects, text) = stored(&moto, bucket).await;
        requests += objects;
        let mut lines: Vec<&str> = text.split_terminator('\n').collect();
        lines.sort();
        let mut expected: Vec<String> = (0..40)
            .filter(|n| n % 2 == p as u32)
            .map(|n| format!("{{\"n\":{n}}}"))
            .collect();
        expected.sort();
        assert_eq!(lines, expected, "records of {bucket}");
        assert!(text.ends_with('\n'), "each record ends with the separator");
    }
    assert_eq!(requests as u64, metrics.get("batch:firehose"));
    assert!(
        requests <= 4,
        "40 concurrent messages to 2 streams should share requests, took {requests}"
    );
}

#[tokio::test]
async fn batch_mode_makes_one_record_per_array_element() {
    let moto = Moto::start().await;
    let (ctx, metrics) = moto_context(&moto);
    moto.firehose_into_bucket("readings", "readings-bucket")
        .await;
    let hose = action(
        &ctx,
        "delivery_stream_name = \"readings\"\nseparator = \",\"\nbatch_mode = true",
    );
    let array = fired(
        "hose_rule",
        "plant/p1/data",
        br#"[{"t":1.50E3,"s":"a,b"}, "x" ,[2,3]]"#,
    );
    hose.execute(&array).await.unwrap();
    let (objects, text) = stored(&moto, "readings-bucket").await;
    assert_eq!(objects, 1, "the three records in one request");
    assert_eq!(text, r#"{"t":1.50E3,"s":"a,b"},"x",[2,3],"#);
    assert_eq!(metrics.get("batch_records:firehose"), 3);

    // Output that is not an array is one record, as without batch_mode.
    hose.execute(&numbered(7)).await.unwrap();
    let (_, text) = stored(&moto, "readings-bucket").await;
    assert!(text.contains(r#"{"n":7},"#), "{text}");

    // More than 500 elements: refused at once, nothing sent.
    let big = format!("[{}]", ["1"; 501].join(","));
    let e = hose
        .execute(&fired("hose_rule", "t", big.as_bytes()))
        .await
        .unwrap_err();
    assert!(e.error_message.contains("501 elements"), "{e:?}");
    assert_eq!(metrics.get("batch:firehose"), 2);
}

#[tokio::test]
async fn a_missing_stream_fails_at_once_as_firehose_action() {
    let moto = Moto::start().await;
    let (ctx, metrics) = moto_context(&moto);
    let hose = action(&ctx, "delivery_stream_name = \"nope\"");
    let e = hose.execute(&numbered(1)).await.unwrap_err();
    assert_eq!(
        (e.failed_action.as_str(), e.failed_resource.as_str()),
        ("FirehoseAction", "nope")
    );
    assert!(e.error_message.contains("ResourceNotFound"), "{e:?}");
    assert_eq!(
        (
            metrics.get("retry:firehose"),
            metrics.get("failure:firehose")
        ),
        (0, 1)
    );
}

#[tokio::test]
async fn throttling_is_retried_then_fails() {
    let server = FakeAws::start(|_, _| throttled()).await;
    let (ctx, metrics) = server.context();
    let hose = action(&ctx, "delivery_stream_name = \"busy\"");
    let e = hose.execute(&numbered(1)).await.unwrap_err();
    assert!(e.error_message.contains("Rate exceeded"), "{e:?}");
    assert_eq!(e.failed_resource, "busy");
    assert_eq!(
        server.bodies("PutRecordBatch").len(),
        3,
        "3 attempts (the test context's policy)"
    );
    assert_eq!(
        (
            metrics.get("retry:firehose"),
            metrics.get("failure:firehose")
        ),
        (2, 1)
    );
}

/// Firehose answers each record of a request: records it could not take now
/// (`ServiceUnavailableException`) are sent again alone; the others are not repeated.
#[tokio::test]
async fn only_failed_records_are_sent_again() {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let flaky = b64("{\"n\":1}");
    // Fails record {"n":1} the first time it is sent, accepts everything else.
    let server = FakeAws::start(move |_, body| {
        let records = body["Records"].as_array().cloned().unwrap_or_default();
        let mut failed = 0;
        let responses: Vec<serde_json::Value> = records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                if r["Data"] == flaky.as_str() && records.len() > 1 {
                    failed += 1;
                    serde_json::json!({"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "slow down"})
                } else {
                    serde_json::json!({"RecordId": format!("r{i}")})
                }
            })
            .collect();
        let out = serde_json::json!({"FailedPutCount": failed, "RequestResponses": responses});
        (200, out.to_string())
    })
    .await;
    let (ctx, metrics) = server.context();
    let hose = action(&ctx, "delivery_stream_name = \"s\"");
    let results = run_all(&hose, (0..3).map(numbered).collect()).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let sent: Vec<Vec<String>> = server
        .bodies("PutRecordBatch")
        .iter()
        .map(|b| {
            let records = b["Records"].as_array().unwrap();
            records
                .iter()
                .map(|r| r["Data"].as_str().unwrap().to_owned())
                .collect()
        })
        .collect();
    let all: Vec<String> = ["{\"n\":0}", "{\"n\":1}", "{\"n\":2}"]
        .iter()
        .map(|s| b64(s))
        .collect();
    assert_eq!(sent, [all, vec![b64("{\"n\":1}")]]);
    assert_eq!(
        (
            metrics.get("retry:firehose"),
            metrics.get("success:firehose")
        ),
        (1, 3)
    );
}

#[test]
fn bad_tables_are_clear_errors() {
    let ctx = offline_aws_context();
    let err = |fields: &str| {
        let text = format!("type = \"firehose\"\nconnection = \"moto\"\n{fields}");
        build_action(&table(&text), SqlVersion::default(), &ctx)
            .err()
            .unwrap()
            .to_string()
    };
    assert!(
        err("delivery_stream_name = \"s\"\nseparator = \";\"")
            .starts_with("field `separator`: must be")
    );
    assert!(
        err("delivery_stream_name = \"s\"\nseparator = '\\n'").starts_with("field `separator`")
    );
    assert!(err("delivery_stream_name = \"${topic(\"").contains("bad template"));
    assert!(err("separator = \"\\n\"").contains("delivery_stream_name"));
}
