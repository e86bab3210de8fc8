//! The sqs action against moto's SQS (bodies, base64, FIFO group and deduplication ids, a
//! missing queue, messages sharing SendMessageBatch requests) and against a real HTTP server
//! that throttles (retries, then the failure) or fails single entries.

use std::{
    collections::BTreeSet,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use aws_sdk_sqs::Client;
use axum::{Router, http::StatusCode, response::IntoResponse, routing::post};
use base64::Engine;
use rulewire_engine::SqlVersion;

use crate::{
    Action, ActionContext, AwsSettings, Connections, FiredMessage, TraceId,
    test_util::{
        FakeAws, Moto, NoPublisher, build_action, context, fired, moto_context, run_all, table,
    },
    testing::{create_queue, sqs_drain},
};

async fn client(ctx: &ActionContext) -> Client {
    Client::new(ctx.aws.get("moto").unwrap().sdk_config().await)
}

fn action(ctx: &ActionContext, fields: &str) -> Arc<dyn Action> {
    let text = format!("type = \"sqs\"\nconnection = \"moto\"\n{fields}");
    build_action(&table(&text), SqlVersion::default(), ctx).unwrap()
}

fn numbered(n: u32) -> FiredMessage {
    let mut msg = fired(
        "queue_rule",
        &format!("plant/p{}/data", n % 2),
        format!("{{\"n\":{n}}}").as_bytes(),
    );
    msg.trace_id = TraceId::try_from(format!("trace-{n}").as_str()).unwrap();
    msg
}

#[tokio::test]
async fn outputs_arrive_as_bodies_or_base64() {
    let moto = Moto::start().await;
    let (ctx, metrics) = moto_context(&moto);
    let client = client(&ctx).await;
    let url = create_queue(&client, "telemetry", false).await;
    let plain = action(&ctx, &format!("queue_url = \"{url}\""));
    let results = run_all(&plain, (0..20).map(numbered).collect()).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let bodies: BTreeSet<String> = sqs_drain(&client, &url)
        .await
        .into_iter()
        .map(|(b, _)| b)
        .collect();
    let expected: BTreeSet<String> = (0..20).map(|n| format!("{{\"n\":{n}}}")).collect();
    assert_eq!(bodies, expected);
    assert_eq!(metrics.get("success:sqs"), 20);

    let encoded = action(&ctx, &format!("queue_url = \"{url}\"\nuse_base64 = true"));
    let binary = fired("queue_rule", "plant/p1/data", &[0xff, 0x00, 0x7f]);
    encoded.execute(&binary).await.unwrap();
    let got = sqs_drain(&client, &url).await;
    assert_eq!(got.len(), 1);
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&got[0].0)
        .unwrap();
    assert_eq!(decoded, [0xff, 0x00, 0x7f]);
    // Without use_base64 the same binary output cannot be a body: permanent, no retry.
    let e = plain.execute(&binary).await.unwrap_err();
    assert_eq!(
        (e.failed_action.as_str(), e.failed_resource.as_str()),
        ("SqsAction", url.as_str())
    );
    assert!(e.error_message.contains("use_base64 = true"), "{e:?}");
    assert_eq!(metrics.get("retry:sqs"), 0);
}

#[tokio::test]
async fn concurrent_messages_share_send_message_batch_requests() {
    let moto = Moto::start().await;
    let (ctx, metrics) = moto_context(&moto);
    let client = client(&ctx).await;
    let url = create_queue(&client, "grouped", false).await;
    let sqs = action(&ctx, &format!("queue_url = \"{url}\""));
    let results = run_all(&sqs, (0..25).map(numbered).collect()).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(sqs_drain(&client, &url).await.len(), 25);
    assert_eq!(metrics.get("batch_records:sqs"), 25);
    let requests = metrics.get("batch:sqs");
    assert!(
        (3..=5).contains(&requests),
        "25 concurrent messages take 3 SendMessageBatch requests of at most 10 (a few more if \
         the sender starts before all are queued), took {requests}"
    );
}

/// SQS answers each entry of a SendMessageBatch: an entry that failed through SQS's fault
/// (`SenderFault: false`) is sent again alone; one that failed through the sender's fault is
/// not, and fails its message with SQS's code.
#[tokio::test]
async fn failed_entries_are_answered_one_by_one() {
    let server = FakeAws::start(|_, body| {
        let entries = body["Entries"].as_array().cloned().unwrap_or_default();
        let (mut successful, mut failed) = (Vec::new(), Vec::new());
        for e in &entries {
            let id = e["Id"].clone();
            match e["MessageBody"].as_str().unwrap_or_default() {
                "{\"n\":1}" if entries.len() > 1 => failed.push(serde_json::json!({
                    "Id": id, "SenderFault": false, "Code": "InternalError", "Message": "try again"
                })),
                "{\"n\":2}" => failed.push(serde_json::json!({
                    "Id": id, "SenderFault": true, "Code": "InvalidParameterValue", "Message": "no"
                })),
                _ => successful.push(serde_json::json!({
                    "Id": id, "MessageId": "m", "MD5OfMessageBody": "x"
                })),
            }
        }
        let out = serde_json::json!({"Successful": successful, "Failed": failed});
        (200, out.to_string())
    })
    .await;
    let (ctx, metrics) = server.context();
    let url = format!("http://{}/123456789012/q", server.addr);
    let sqs = action(&ctx, &format!("queue_url = \"{url}\""));
    let results = run_all(&sqs, (0..3).map(numbered).collect()).await;
    assert!(results[0].is_ok() && results[1].is_ok(), "{results:?}");
    let e = results[2].as_ref().unwrap_err();
    assert_eq!(
        (e.failed_action.as_str(), e.failed_resource.as_str()),
        ("SqsAction", url.as_str())
    );
    assert!(
        e.error_message.contains("InvalidParameterValue: no"),
        "{e:?}"
    );
    let sent: Vec<Vec<String>> = server
        .bodies("SendMessageBatch")
        .iter()
        .map(|b| {
            let entries = b["Entries"].as_array().unwrap();
            entries
                .iter()
                .map(|e| e["MessageBody"].as_str().unwrap().to_owned())
                .collect()
        })
        .collect();
    assert_eq!(
        sent,
        [
            vec!["{\"n\":0}", "{\"n\":1}", "{\"n\":2}"],
            vec!["{\"n\":1}"]
        ]
    );
    assert_eq!(
        (
            metrics.get("retry:sqs"),
            metrics.get("success:sqs"),
            metrics.get("failure:sqs")
        ),
        (1, 2, 1)
    );
}

/// FIFO queues (a rulewire extension): the group id is rendered per message, and a message
/// sent twice (as a retry would) is delivered once, deduplicated by its trace id.
#[tokio::test]
async fn fifo_queues_get_group_ids_and_retries_are_deduplicated() {
    let moto = Moto::start().await;
    let (ctx, _) = moto_context(&moto);
    let client = client(&ctx).await;
    let url = create_queue(&client, "orders.fifo", true).await;
    let fifo = action(
        &ctx,
        &format!("queue_url = \"{url}\"\nmessage_group_id = \"${{topic(2)}}\""),
    );
    for n in 0..4 {
        fifo.execute(&numbered(n)).await.unwrap();
    }
    fifo.execute(&numbered(1)).await.unwrap();
    let mut got = sqs_drain(&client, &url).await;
    got.sort();
    let expected: Vec<(String, Option<String>)> = (0..4)
        .map(|n| (format!("{{\"n\":{n}}}"), Some(format!("p{}", n % 2))))
        .collect();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn a_missing_queue_fails_at_once_as_sqs_action() {
    let moto = Moto::start().await;
    let (ctx, metrics) = moto_context(&moto);
    let url = format!("{}/123456789012/nope", moto.endpoint());
    let missing = action(&ctx, &format!("queue_url = \"{url}\""));
    let e = missing.execute(&numbered(1)).await.unwrap_err();
    assert_eq!(
        (e.failed_action.as_str(), e.failed_resource.as_str()),
        ("SqsAction", url.as_str())
    );
    assert!(
        e.error_message.contains("NonExistentQueue")
            || e.error_message.contains("QueueDoesNotExist"),
        "{e:?}"
    );
    assert_eq!(
        (metrics.get("retry:sqs"), metrics.get("failure:sqs")),
        (0, 1)
    );
}

/// An endpoint that throttles every SendMessage: each attempt is retried with backoff, then the
/// message fails with the service's message. The server is a real HTTP server answering as
/// SQS's JSON protocol does.
#[tokio::test]
async fn throttling_is_retried_then_fails() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let app = Router::new().route(
        "/",
        post(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async {
                let body =
                    r#"{"__type":"com.amazonaws.sqs#RequestThrottled","message":"slow down"}"#;
                (
                    StatusCode::BAD_REQUEST,
                    [("content-type", "application/x-amz-json-1.0")],
                    body,
                )
                    .into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let (mut ctx, metrics) = context(Arc::new(NoPublisher));
    let settings: AwsSettings = toml::from_str(&format!(
        "[connections.moto]\nregion = \"us-east-1\"\nendpoint = \"http://{addr}\"\naccess_key_id = \"k\"\nsecret_access_key = \"s\""
    ))
    .unwrap();
    ctx.aws = Arc::new(Connections::open(&settings).unwrap());
    let throttled = action(
        &ctx,
        &format!("queue_url = \"http://{addr}/123456789012/q\""),
    );
    let e = throttled.execute(&numbered(1)).await.unwrap_err();
    assert!(e.error_message.contains("slow down"), "{e:?}");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "3 attempts (the test context's policy)"
    );
    assert_eq!(
        (metrics.get("retry:sqs"), metrics.get("failure:sqs")),
        (2, 1)
    );
}

#[test]
fn bad_tables_are_clear_errors() {
    let (ctx, _) = context(Arc::new(NoPublisher));
    let settings: AwsSettings =
        toml::from_str("[connections.moto]\nregion = \"us-east-1\"").unwrap();
    let mut ctx = ctx;
    ctx.aws = Arc::new(Connections::open(&settings).unwrap());
    let err = |fields: &str| {
        let text = format!("type = \"sqs\"\nconnection = \"moto\"\n{fields}");
        build_action(&table(&text), SqlVersion::default(), &ctx)
            .err()
            .unwrap()
            .to_string()
    };
    assert!(err("queue_url = \"sqs/q\"").starts_with("field `queue_url`: expected https://"));
    assert!(
        err("queue_url = \"https://x/1/q.fifo\"").starts_with("field `message_group_id`: missing")
    );
    assert!(
        err("queue_url = \"https://x/1/q\"\nmessage_group_id = \"g\"").contains("only FIFO queues")
    );
    assert!(
        err("queue_url = \"https://x/1/q.fifo\"\nmessage_group_id = \"${topic(\"")
            .contains("bad template")
    );
    assert!(
        err("queue_url = \"https://x/1/q\"\nuseBase64 = true")
            .contains("unknown field `useBase64`")
    );
    let other = table("type = \"sqs\"\nconnection = \"other\"\nqueue_url = \"https://x/1/q\"");
    let e = build_action(&other, SqlVersion::default(), &ctx)
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        e,
        "field `connection`: no [aws.connections.other] in rulewire.toml (configured: default, moto)"
    );
}

/// A busy standard queue takes several SendMessageBatch requests at once (one carries only
/// 10 messages), at most `MAX_REQUESTS_IN_FLIGHT`; a FIFO queue one at a time, so that its
/// groups keep their order. The server answers each request 50 ms late.
#[tokio::test]
async fn standard_queues_take_several_batches_at_once_fifo_queues_one() {
    let succeed = |_: &str, body: &serde_json::Value| {
        let entries = body["Entries"].as_array().cloned().unwrap_or_default();
        let ok: Vec<_> = entries
            .iter()
            .map(|e| serde_json::json!({"Id": e["Id"], "MessageId": "m", "MD5OfMessageBody": "x"}))
            .collect();
        (
            200,
            serde_json::json!({"Successful": ok, "Failed": []}).to_string(),
        )
    };
    for (queue, group, expected) in [
        ("q", "", 2..=crate::sqs::MAX_REQUESTS_IN_FLIGHT),
        ("q.fifo", "message_group_id = \"${topic(2)}\"", 1..=1),
    ] {
        let server = FakeAws::start_slow(Duration::from_millis(50), succeed).await;
        let (ctx, _) = server.context();
        let url = format!("http://{}/123456789012/{queue}", server.addr);
        let sqs = action(&ctx, &format!("queue_url = \"{url}\"\n{group}"));
        let results = run_all(&sqs, (0..200).map(numbered).collect()).await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        let most = server.most_at_once.load(Ordering::SeqCst);
        assert!(expected.contains(&most), "{queue}: {most} requests at once");
    }
}
