//! The cloudwatch_logs action against moto's CloudWatch Logs (events read back with
//! GetLogEvents: messages, timestamps, time order, batch mode, the stream it creates, events
//! CloudWatch rejects, a missing group) and against a real HTTP server that throttles.

use std::{
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use rulewire_engine::SqlVersion;

use crate::{
    Action, ActionContext, FiredMessage,
    test_util::{
        FakeAws, Moto, build_action, fired, moto_context, offline_aws_context, run_all, table,
        throttled,
    },
};

fn action(ctx: &ActionContext, fields: &str) -> Arc<dyn Action> {
    let text = format!("type = \"cloudwatch_logs\"\nconnection = \"moto\"\n{fields}");
    build_action(&table(&text), SqlVersion::default(), ctx).unwrap()
}

fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

/// Message `n` from device `p<n % 2>`, arrived `n` ms after `base`.
fn numbered(n: u32, base: i64) -> FiredMessage {
    let mut msg = fired(
        "log_rule",
        &format!("plant/p{}/log", n % 2),
        format!("{{\"n\":{n}}}").as_bytes(),
    );
    msg.timestamp_ms = base + i64::from(n);
    msg
}

#[tokio::test]
async fn outputs_become_events_at_their_arrival_time() {
    let moto = Moto::start().await;
    let (ctx, metrics) = moto_context(&moto);
    moto.create_log_group("plant-logs").await;
    // Each device gets its own stream (created by the action).
    let logs = action(
        &ctx,
        "log_group_name = \"plant-logs\"\nlog_stream_name = \"dev-${topic(2)}\"",
    );
    let base = now_ms() - 60_000;
    // Queued newest first: each request must still be sent in time order (moto refuses a
    // request that is not).
    let msgs = (0..30).rev().map(|n| numbered(n, base)).collect();
    let results = run_all(&logs, msgs).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let mut streams = moto.log_streams("plant-logs").await;
    streams.sort();
    assert_eq!(streams, ["dev-p0", "dev-p1"]);
    for p in 0..2u32 {
        // (CloudWatch reads a stream in time order; moto in arrival order.)
        let mut got = moto.log_events("plant-logs", &format!("dev-p{p}")).await;
        got.sort();
        let expected: Vec<(i64, String)> = (0..30)
            .filter(|n| n % 2 == p)
            .map(|n| (base + i64::from(n), format!("{{\"n\":{n}}}")))
            .collect();
        assert_eq!(got, expected, "events of dev-p{p}");
    }
    assert_eq!(metrics.get("success:cloudwatch_logs"), 30);
    let requests = metrics.get("batch:cloudwatch_logs");
    assert!(
        requests <= 4,
        "30 concurrent messages to 2 streams should share requests, took {requests}"
    );
}

#[tokio::test]
async fn batch_mode_writes_each_element_with_its_timestamp() {
    let moto = Moto::start().await;
    let (ctx, metrics) = moto_context(&moto);
    moto.create_log_group("device-logs").await;
    let logs = action(&ctx, "log_group_name = \"device-logs\"\nbatch_mode = true");
    let t = now_ms() - 10_000;
    let batch = format!(
        r#"[{{"timestamp": {}, "message": "second"}}, {{"timestamp": {t}, "message": "first"}}, {{"timestamp": {}, "message": {{"level": "warn"}}}}]"#,
        t + 5,
        t + 9
    );
    logs.execute(&fired("log_rule", "d/1/log", batch.as_bytes()))
        .await
        .unwrap();
    assert_eq!(
        moto.log_events("device-logs", "rulewire").await,
        [
            (t, "first".to_owned()),
            (t + 5, "second".to_owned()),
            (t + 9, "{\"level\":\"warn\"}".to_owned())
        ]
    );
    assert_eq!(metrics.get("batch_records:cloudwatch_logs"), 3);

    // Not the documented shape: refused at once, nothing sent.
    let e = logs
        .execute(&fired("log_rule", "d/1/log", br#"{"message": "m"}"#))
        .await
        .unwrap_err();
    assert_eq!(
        (e.failed_action.as_str(), e.failed_resource.as_str()),
        ("CloudwatchLogsAction", "device-logs")
    );
    assert!(e.error_message.contains("JSON array"), "{e:?}");
    assert_eq!(metrics.get("batch:cloudwatch_logs"), 1);
}

/// CloudWatch Logs takes a request but rejects events more than 2 hours in the future: that
/// message fails for good (no retry), the other of the same request is stored. An event 20
/// days old cannot share a request with them (a request spans at most 24 h) and is rejected
/// in its own (older than 14 days).
#[tokio::test]
async fn events_cloudwatch_rejects_fail_alone() {
    let moto = Moto::start().await;
    let (ctx, metrics) = moto_context(&moto);
    moto.create_log_group("mixed").await;
    let logs = action(&ctx, "log_group_name = \"mixed\"");
    let now = now_ms();
    let fresh = numbered(1, now);
    let future = numbered(2, now + 3 * 3600 * 1000);
    let stale = numbered(3, now - 20 * 24 * 3600 * 1000);
    let results = run_all(&logs, vec![fresh, future, stale]).await;
    assert!(results[0].is_ok(), "{results:?}");
    let why = |i: usize| results[i].as_ref().unwrap_err().error_message.clone();
    assert!(
        why(1).contains("more than 2 hours in the future"),
        "{}",
        why(1)
    );
    assert!(why(2).contains("older than 14 days"), "{}", why(2));
    assert_eq!(
        moto.log_events("mixed", "rulewire").await,
        [(now + 1, "{\"n\":1}".to_owned())]
    );
    assert_eq!(
        (
            metrics.get("batch:cloudwatch_logs"),
            metrics.get("batch_records:cloudwatch_logs"),
            metrics.get("retry:cloudwatch_logs")
        ),
        (2, 3, 0)
    );
}

#[tokio::test]
async fn a_missing_group_fails_at_once_as_cloudwatch_logs_action() {
    let moto = Moto::start().await;
    let (ctx, metrics) = moto_context(&moto);
    let logs = action(&ctx, "log_group_name = \"nope\"");
    let e = logs.execute(&numbered(1, now_ms())).await.unwrap_err();
    assert_eq!(
        (e.failed_action.as_str(), e.failed_resource.as_str()),
        ("CloudwatchLogsAction", "nope")
    );
    assert!(e.error_message.contains("ResourceNotFound"), "{e:?}");
    assert_eq!(
        (
            metrics.get("retry:cloudwatch_logs"),
            metrics.get("failure:cloudwatch_logs")
        ),
        (0, 1)
    );
}

#[tokio::test]
async fn throttling_is_retried_then_fails() {
    let server = FakeAws::start(|target, _| {
        if target.ends_with("PutLogEvents") {
            throttled()
        } else {
            (200, "{}".to_owned())
        }
    })
    .await;
    let (ctx, metrics) = server.context();
    let logs = action(&ctx, "log_group_name = \"busy\"");
    let e = logs.execute(&numbered(1, now_ms())).await.unwrap_err();
    assert!(e.error_message.contains("Rate exceeded"), "{e:?}");
    assert_eq!(
        (
            server.bodies("CreateLogStream").len(),
            server.bodies("PutLogEvents").len()
        ),
        (1, 3),
        "the stream is created once; 3 attempts (the test context's policy)"
    );
    assert_eq!(
        (
            metrics.get("retry:cloudwatch_logs"),
            metrics.get("failure:cloudwatch_logs")
        ),
        (2, 1)
    );
}

#[test]
fn bad_tables_are_clear_errors() {
    let ctx = offline_aws_context();
    let err = |fields: &str| {
        let text = format!("type = \"cloudwatch_logs\"\nconnection = \"moto\"\n{fields}");
        build_action(&table(&text), SqlVersion::default(), &ctx)
            .err()
            .unwrap()
            .to_string()
    };
    assert!(err("log_group_name = \"${topic(\"").starts_with("field `log_group_name`"));
    assert!(
        err("log_group_name = \"g\"\nlog_stream_name = \"${x(\"")
            .starts_with("field `log_stream_name`")
    );
    assert!(err("batch_mode = true").contains("log_group_name"));
}
