//! What both CloudWatch actions' tests use: building an action from its header fields, and a
//! server that throttles every call as CloudWatch does over the AWS Query protocol (an XML
//! `ErrorResponse` with code `Throttling`, HTTP 400).

use std::sync::Arc;

use rulewire_engine::SqlVersion;

use crate::{
    Action, ActionContext, AwsSettings, Connections,
    test_util::{FailingAws, NoPublisher, build_action, context, fired, table},
};

/// The action of type `kind` on connection `moto` with these header lines.
pub(super) fn action(ctx: &ActionContext, kind: &str, fields: &str) -> Arc<dyn Action> {
    let text = format!("type = \"{kind}\"\nconnection = \"moto\"\n{fields}");
    build_action(&table(&text), SqlVersion::default(), ctx).unwrap_or_else(|e| panic!("{e}"))
}

/// The check error of a `kind` table with these header lines, as text.
pub(super) fn check_error(kind: &str, fields: &str) -> String {
    let (mut ctx, _) = context(Arc::new(NoPublisher));
    let settings: AwsSettings =
        toml::from_str("[connections.moto]\nregion = \"us-east-1\"").unwrap();
    ctx.aws = Arc::new(Connections::open(&settings).unwrap());
    let text = format!("type = \"{kind}\"\nconnection = \"moto\"\n{fields}");
    match build_action(&table(&text), SqlVersion::default(), &ctx) {
        Ok(_) => panic!("{kind} accepted {fields:?}"),
        Err(e) => e.to_string(),
    }
}

/// CloudWatch's throttling error in the AWS Query protocol.
const THROTTLED: &str = "<ErrorResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\">\
    <Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>\
    <RequestId>r-1</RequestId></ErrorResponse>";

/// A `kind` action with these fields against a CloudWatch that throttles every call (a real
/// HTTP server): every attempt is made (3, the test context's policy), then the message fails
/// as `failed_action` with the service's message.
pub(super) async fn expect_throttling_retried(kind: &str, fields: &str, failed_action: &str) {
    let server = FailingAws::start(400, "text/xml", THROTTLED).await;
    let throttled = action(&server.ctx, kind, fields);
    let e = throttled
        .execute(&fired("cw_rule", "plant/p1/data", b"{}"))
        .await
        .unwrap_err();
    assert_eq!(e.failed_action, failed_action);
    assert!(e.error_message.contains("Rate exceeded"), "{e:?}");
    assert_eq!(server.calls(), 3, "3 attempts");
    let metrics = &server.metrics;
    assert_eq!(
        (
            metrics.get(&format!("retry:{kind}")),
            metrics.get(&format!("failure:{kind}"))
        ),
        (2, 1)
    );
}
