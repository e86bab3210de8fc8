//! The sqs action against moto's SQS (bodies, base64, FIFO group and deduplication ids, a
//! missing queue) and against a real HTTP server that throttles (retries, then the failure).

use std::{
    collections::BTreeSet,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use aws_sdk_sqs::Client;
use axum::{Router, http::StatusCode, response::IntoResponse, routing::post};
use base64::Engine;
use rulewire_engine::SqlVersion;

use crate::{
    Action, ActionContext, AwsSettings, Connections, FiredMessage,
    test_util::{Moto, NoPublisher, build_action, context, fired, moto_context, run_all, table},
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
    msg.trace_id = format!("trace-{n}");
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
