//! The lambda action against moto's Lambda (Invoke accepted without Docker; a missing function)
//! and against a real HTTP server serving Lambda's Invoke path (the request itself, since moto
//! does not record invocations; throttling and 5xx retried).

use std::sync::Arc;

use rulewire_engine::SqlVersion;

use crate::{
    Action, ActionContext, FiredMessage,
    test_util::{
        Moto, Recorder, Reply, build_action, endpoint_url_context, fired, moto_context,
        percent_decode, run_all, table, try_build,
    },
};

const FUNCTIONS: &str = "arn:aws:lambda:us-east-1:123456789012:function:";

fn action(ctx: &ActionContext, fields: &str) -> Arc<dyn Action> {
    let text = format!("type = \"lambda\"\nconnection = \"moto\"\n{fields}");
    build_action(&table(&text), SqlVersion::default(), ctx).unwrap()
}

fn reading(n: u32) -> FiredMessage {
    fired(
        "lambda_rule",
        &format!("plant/p{}/data", n % 2),
        format!("{{\"n\":{n}}}").as_bytes(),
    )
}

/// Lambda's answer to an asynchronous Invoke: 202, empty body.
fn accepted() -> Reply {
    (202, vec![], String::new())
}

/// A Lambda error as its REST-JSON protocol sends it.
fn lambda_error(status: u16, code: &str, message: &str) -> Reply {
    let body = format!(r#"{{"Type":"User","message":"{message}"}}"#);
    (status, vec![("x-amzn-errortype", code.to_owned())], body)
}

/// (function, invocation type, payload) of each Invoke the server received, sorted.
fn invocations(server: &Recorder) -> Vec<(String, String, String)> {
    let mut got: Vec<_> = server
        .requests()
        .iter()
        .map(|r| {
            assert_eq!(r.method, "POST");
            let function = r
                .path
                .strip_prefix("/2015-03-31/functions/")
                .and_then(|p| p.strip_suffix("/invocations"))
                .unwrap_or_else(|| panic!("not the Invoke path: {}", r.path));
            (
                percent_decode(function),
                r.header("x-amz-invocation-type").to_owned(),
                String::from_utf8(r.body.clone()).unwrap(),
            )
        })
        .collect();
    got.sort();
    got
}

/// moto (without Docker) accepts every asynchronous Invoke with 202 and runs nothing; its
/// request recorder shows what arrived (function, `Event`, payload). The test below checks
/// the same against a plain HTTP server on the Invoke path.
#[tokio::test]
async fn moto_accepts_the_asynchronous_invocations() {
    let moto = Moto::start().await;
    moto.lambda_without_docker().await;
    let (ctx, metrics) = moto_context(&moto);
    let lambda = action(&ctx, &format!("function_arn = \"{FUNCTIONS}meters\""));
    moto.start_recording().await;
    let results = run_all(&lambda, (0..10).map(reading).collect()).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(
        (metrics.get("success:lambda"), metrics.get("retry:lambda")),
        (10, 0)
    );
    // What moto received (its request recorder): ten Event invocations of the function,
    // each with one message's output as the payload.
    let mut bodies: Vec<String> = moto
        .recorded()
        .await
        .iter()
        .filter(|r| {
            let url = r["url"].as_str().unwrap_or_default();
            url.contains("/2015-03-31/functions/") && url.ends_with("/invocations")
        })
        .map(|r| {
            let url = r["url"].as_str().unwrap();
            assert!(url.contains("meters"), "{url}");
            assert_eq!(r["headers"]["X-Amz-Invocation-Type"], "Event", "{r}");
            r["body"].as_str().unwrap().to_owned()
        })
        .collect();
    bodies.sort();
    let mut expected: Vec<String> = (0..10).map(|n| format!("{{\"n\":{n}}}")).collect();
    expected.sort();
    assert_eq!(bodies, expected);
}

/// Each message is one Invoke of the rendered function with `X-Amz-Invocation-Type: Event`
/// and the output as the payload, byte for byte; output that is not JSON is never sent.
#[tokio::test]
async fn each_output_is_an_event_invocation_of_the_rendered_function() {
    let server = Recorder::start(|_, _| accepted()).await;
    let (ctx, metrics) = endpoint_url_context(&server.endpoint);
    let arn = format!("{FUNCTIONS}plant-${{topic(2)}}:live");
    let lambda = action(&ctx, &format!("function_arn = \"{arn}\""));
    let results = run_all(&lambda, (0..6).map(reading).collect()).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let mut expected: Vec<_> = (0..6)
        .map(|n| {
            let function = format!("{FUNCTIONS}plant-p{}:live", n % 2);
            (function, "Event".to_owned(), format!("{{\"n\":{n}}}"))
        })
        .collect();
    expected.sort();
    assert_eq!(invocations(&server), expected);
    assert_eq!(metrics.get("success:lambda"), 6);

    let binary = fired("lambda_rule", "plant/p1/data", &[0xff, 0x00]);
    let e = lambda.execute(&binary).await.unwrap_err();
    assert_eq!(
        (e.failed_action.as_str(), e.failed_resource.as_str()),
        ("LambdaAction", format!("{FUNCTIONS}plant-p1:live").as_str())
    );
    assert!(e.error_message.contains("encode(*, 'base64')"), "{e:?}");
    assert_eq!(
        server.requests().len(),
        6,
        "nothing sent for the binary output"
    );
}

#[tokio::test]
async fn a_missing_function_fails_at_once_as_lambda_action() {
    // moto in its default (Docker) mode looks the function up first and answers 404.
    let moto = Moto::start().await;
    let (ctx, metrics) = moto_context(&moto);
    let arn = format!("{FUNCTIONS}nope");
    let lambda = action(&ctx, &format!("function_arn = \"{arn}\""));
    let e = lambda.execute(&reading(1)).await.unwrap_err();
    assert_eq!(
        (e.failed_action.as_str(), e.failed_resource.as_str()),
        ("LambdaAction", arn.as_str())
    );
    assert!(e.error_message.contains("ResourceNotFound"), "{e:?}");
    assert_eq!(
        (metrics.get("retry:lambda"), metrics.get("failure:lambda")),
        (0, 1)
    );
}

/// Throttling (429 TooManyRequestsException) and 5xx are retried with backoff: a function
/// that throttles, then fails, then accepts gets its event; one that always throttles fails
/// after the policy's 3 attempts with Lambda's message.
#[tokio::test]
async fn throttling_and_server_errors_are_retried() {
    let server = Recorder::start(|index, request| {
        if request.path.contains("always") {
            return lambda_error(429, "TooManyRequestsException", "Rate exceeded");
        }
        match index {
            0 => lambda_error(429, "TooManyRequestsException", "Rate exceeded"),
            1 => lambda_error(500, "ServiceException", "internal"),
            _ => accepted(),
        }
    })
    .await;
    let (ctx, metrics) = endpoint_url_context(&server.endpoint);
    let flaky = action(&ctx, &format!("function_arn = \"{FUNCTIONS}flaky\""));
    flaky.execute(&reading(1)).await.unwrap();
    let got = invocations(&server);
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got.iter().all(|(_, _, payload)| payload == "{\"n\":1}"));
    assert_eq!(metrics.get("retry:lambda"), 2);

    let always = action(&ctx, &format!("function_arn = \"{FUNCTIONS}always\""));
    let e = always.execute(&reading(2)).await.unwrap_err();
    assert!(e.error_message.contains("Rate exceeded"), "{e:?}");
    assert_eq!(server.requests().len(), 6);
    assert_eq!(
        (metrics.get("retry:lambda"), metrics.get("failure:lambda")),
        (4, 1)
    );
}

#[test]
fn bad_tables_are_clear_errors() {
    let (ctx, _) = endpoint_url_context("http://127.0.0.1:1");
    let build = |fields: &str| {
        try_build(
            &ctx,
            &format!("type = \"lambda\"\nconnection = \"moto\"\n{fields}"),
        )
    };
    let err = |fields: &str| build(fields).unwrap_err();
    let e = err("function_arn = \"arn:aws:sqs:us-east-1:123456789012:q\"");
    assert!(
        e.starts_with("field `function_arn`: expected arn:aws:lambda:"),
        "{e}"
    );
    let e = err("function_arn = \"my function\"");
    assert!(e.starts_with("field `function_arn`: expected"), "{e}");
    let e = err("function_arn = \"${topic(\"");
    assert!(e.starts_with("field `function_arn`: bad template"), "{e}");
    let e = err("function_arn = \"f\"\nfunction = \"f\"");
    assert!(e.contains("unknown field `function`"), "{e}");
    assert_eq!(build("function_arn = \"my-function\""), Ok(()));
    let arn = "arn:aws:lambda:eu-west-1:123456789012:function";
    assert_eq!(build(&format!("function_arn = \"{arn}:f:7\"")), Ok(()));
    assert_eq!(
        build(&format!("function_arn = \"{arn}:${{topic(1)}}\"")),
        Ok(())
    );
}
