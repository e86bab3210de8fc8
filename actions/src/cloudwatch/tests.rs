//! What both CloudWatch actions' tests use: building an action from its header fields, and a
//! server that throttles every call as CloudWatch does over the AWS Query protocol (an XML
//! `ErrorResponse` with code `Throttling`, HTTP 400).

use std::sync::Arc;

use rulewire_engine::SqlVersion;

use crate::{
    Action, ActionContext,
    test_util::{aws_server, build_action, build_error, endpoint_context, fired, table},
};

/// The action of type `kind` on connection `moto` with these header lines.
pub(super) fn action(ctx: &ActionContext, kind: &str, fields: &str) -> Arc<dyn Action> {
    let text = format!("type = \"{kind}\"\nconnection = \"moto\"\n{fields}");
    build_action(&table(&text), SqlVersion::default(), ctx).unwrap_or_else(|e| panic!("{e}"))
}

/// The check error of a `kind` table with these header lines, as text.
pub(super) fn check_error(kind: &str, fields: &str) -> String {
    build_error(&format!(
        "type = \"{kind}\"\nconnection = \"moto\"\n{fields}"
    ))
}

/// CloudWatch's throttling error in the AWS Query protocol.
const THROTTLED: &str = "<ErrorResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\">\
    <Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>\
    <RequestId>r-1</RequestId></ErrorResponse>";

/// A `kind` action with these fields against a CloudWatch that throttles every call (a real
/// HTTP server): every attempt is made (3, the test context's policy), then the message fails
/// as `failed_action` with the service's message.
pub(super) async fn expect_throttling_retried(kind: &str, fields: &str, failed_action: &str) {
    let (addr, requests) = aws_server(400, "text/xml", THROTTLED).await;
    let (ctx, metrics) = endpoint_context(addr);
    let throttled = action(&ctx, kind, fields);
    let e = throttled
        .execute(&fired("cw_rule", "plant/p1/data", b"{}"))
        .await
        .unwrap_err();
    assert_eq!(e.failed_action, failed_action);
    assert!(e.error_message.contains("Rate exceeded"), "{e:?}");
    let calls = requests.lock().unwrap().len();
    assert_eq!(calls, 3, "3 attempts");
    assert_eq!(metrics.retries_and_failures(kind), (2, 1));
}
