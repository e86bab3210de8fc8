//! The step_functions action against moto's Step Functions (executions and their inputs read
//! back with ListExecutions and DescribeExecution; the ARN built from the connection's region
//! and moto's account; a missing state machine), and against a real HTTP server standing in
//! for STS and Step Functions (the ARN from another account and partition, looked up once;
//! a retry after a 5xx that finds its own execution counts as delivered).

use std::{
    collections::BTreeSet,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use rulewire_engine::SqlVersion;

use crate::{
    Action, ActionContext, FiredMessage,
    test_util::{
        Moto, Recorder, Reply, build_action, endpoint_url_context, fired, moto_context, run_all,
        table, try_build,
    },
};

fn action(ctx: &ActionContext, fields: &str) -> Arc<dyn Action> {
    let text = format!("type = \"step_functions\"\nconnection = \"moto\"\n{fields}");
    build_action(&table(&text), SqlVersion::default(), ctx).unwrap()
}

fn reading(n: u32) -> FiredMessage {
    fired(
        "sfn_rule",
        &format!("plant/p{}/data", n % 2),
        format!("{{\"n\":{n}}}").as_bytes(),
    )
}

/// Whether `name` is `prefix` followed by a UUID.
fn is_prefixed_uuid(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .is_some_and(|id| id.len() == 36 && uuid::Uuid::parse_str(id).is_ok())
}

/// Both fields are templates: each message starts an execution of `plant-<site>` named
/// `<site>-<UUID>`, whose input is the output.
#[tokio::test]
async fn executions_start_with_the_output_as_input() {
    let moto = Moto::start().await;
    let (ctx, metrics) = moto_context(&moto);
    let p0 = moto.create_state_machine("plant-p0").await;
    let p1 = moto.create_state_machine("plant-p1").await;
    let sfn = action(
        &ctx,
        "state_machine_name = \"plant-${topic(2)}\"\nexecution_name_prefix = \"${topic(2)}-\"",
    );
    let results = run_all(&sfn, (0..6).map(reading).collect()).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(metrics.get("success:step_functions"), 6);
    for (arn, site) in [(p0, 0), (p1, 1)] {
        let executions = moto.executions(&arn).await;
        let inputs: BTreeSet<String> = executions.iter().map(|(_, i)| i.clone()).collect();
        let expected: BTreeSet<String> = (0..6)
            .filter(|n| n % 2 == site)
            .map(|n| format!("{{\"n\":{n}}}"))
            .collect();
        assert_eq!(inputs, expected, "{arn}");
        let prefix = format!("p{site}-");
        assert!(
            executions
                .iter()
                .all(|(name, _)| is_prefixed_uuid(name, &prefix)),
            "{executions:?}"
        );
    }
}

#[tokio::test]
async fn a_missing_state_machine_and_bad_inputs_fail_as_step_functions_action() {
    let moto = Moto::start().await;
    let (ctx, metrics) = moto_context(&moto);
    let sfn = action(&ctx, "state_machine_name = \"nope\"");
    let e = sfn.execute(&reading(1)).await.unwrap_err();
    assert_eq!(
        (e.failed_action.as_str(), e.failed_resource.as_str()),
        ("StepFunctionsAction", "nope")
    );
    assert!(
        e.error_message.contains("StateMachineDoesNotExist"),
        "{e:?}"
    );
    assert_eq!(
        (
            metrics.get("retry:step_functions"),
            metrics.get("failure:step_functions")
        ),
        (0, 1)
    );

    // Rendered names Step Functions would refuse, and output that is not JSON, fail before
    // any request.
    let arn = moto.create_state_machine("meters").await;
    let long = action(
        &ctx,
        "state_machine_name = \"meters\"\nexecution_name_prefix = \"${topic()}/\"",
    );
    let e = long.execute(&reading(1)).await.unwrap_err();
    assert!(e.error_message.contains("contains '/'"), "{e:?}");
    let meters = action(&ctx, "state_machine_name = \"meters\"");
    let e = meters
        .execute(&fired("sfn_rule", "plant/p1/data", b"\xff"))
        .await
        .unwrap_err();
    assert!(e.error_message.contains("not JSON"), "{e:?}");
    assert!(moto.executions(&arn).await.is_empty());
}

/// STS's answer to GetCallerIdentity: another account, in the aws-cn partition.
fn caller_identity() -> Reply {
    let body = "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
        <GetCallerIdentityResult><Arn>arn:aws-cn:iam::111122223333:user/rulewire</Arn>\
        <UserId>AIDAEXAMPLE</UserId><Account>111122223333</Account></GetCallerIdentityResult>\
        <ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>\
        </GetCallerIdentityResponse>";
    (
        200,
        vec![("content-type", "text/xml".to_owned())],
        body.to_owned(),
    )
}

/// A Step Functions answer in its JSON 1.0 protocol.
fn sfn_reply(status: u16, body: &str) -> Reply {
    let json = vec![("content-type", "application/x-amz-json-1.0".to_owned())];
    (status, json, body.to_owned())
}

/// The ARN comes from the connection's region and the account and partition STS names,
/// asked once per connection; a StartExecution that failed with a 5xx is retried with the
/// same execution name, and `ExecutionAlreadyExists` on that retry means the first attempt
/// got through: delivered, not failed.
#[tokio::test]
async fn the_arn_comes_from_sts_once_and_retries_are_idempotent() {
    let starts = Arc::new(AtomicUsize::new(0));
    let counter = starts.clone();
    let server = Recorder::start(move |_, request| {
        if String::from_utf8_lossy(&request.body).contains("Action=GetCallerIdentity") {
            return caller_identity();
        }
        match counter.fetch_add(1, Ordering::SeqCst) {
            0 => sfn_reply(503, r#"{"__type":"ServiceUnavailable","message":"busy"}"#),
            1 => sfn_reply(
                400,
                r#"{"__type":"ExecutionAlreadyExists","message":"Execution Already Exists"}"#,
            ),
            _ => sfn_reply(
                200,
                r#"{"executionArn":"arn:aws-cn:states:us-east-1:111122223333:execution:meters:x","startDate":1700000000}"#,
            ),
        }
    })
    .await;
    let (ctx, metrics) = endpoint_url_context(&server.endpoint);
    let sfn = action(
        &ctx,
        "state_machine_name = \"meters\"\nexecution_name_prefix = \"m-\"",
    );
    sfn.execute(&reading(1)).await.unwrap();
    sfn.execute(&reading(2)).await.unwrap();
    assert_eq!(
        (
            metrics.get("retry:step_functions"),
            metrics.get("success:step_functions")
        ),
        (1, 2)
    );

    let requests = server.requests();
    let sts = requests
        .iter()
        .filter(|r| String::from_utf8_lossy(&r.body).contains("GetCallerIdentity"))
        .count();
    assert_eq!(sts, 1, "the account is looked up once per connection");
    let starts: Vec<serde_json::Value> = requests
        .iter()
        .filter(|r| r.header("x-amz-target") == "AWSStepFunctions.StartExecution")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(starts.len(), 3);
    for start in &starts {
        assert_eq!(
            start["stateMachineArn"],
            "arn:aws-cn:states:us-east-1:111122223333:stateMachine:meters"
        );
    }
    assert_eq!(
        starts[0]["name"], starts[1]["name"],
        "a retry keeps its name"
    );
    assert_ne!(
        starts[1]["name"], starts[2]["name"],
        "each message has its own"
    );
    assert!(is_prefixed_uuid(starts[2]["name"].as_str().unwrap(), "m-"));
    assert_eq!(starts[0]["input"], "{\"n\":1}");
    assert_eq!(starts[2]["input"], "{\"n\":2}");
}

#[test]
fn bad_tables_are_clear_errors() {
    let (ctx, _) = endpoint_url_context("http://127.0.0.1:1");
    let build = |fields: &str| {
        let text = format!("type = \"step_functions\"\nconnection = \"moto\"\n{fields}");
        try_build(&ctx, &text)
    };
    let err = |fields: &str| build(fields).unwrap_err();
    let arn = "arn:aws:states:us-east-1:123456789012:stateMachine:m";
    let e = err(&format!("state_machine_name = \"{arn}\""));
    assert!(
        e.starts_with("field `state_machine_name`: the state machine name"),
        "{e}"
    );
    assert!(e.contains("the name, not the ARN"), "{e}");
    let e = err("state_machine_name = \"m\"\nexecution_name_prefix = \"a b\"");
    assert!(e.starts_with("field `execution_name_prefix`:"), "{e}");
    let long = "p".repeat(45);
    let e = err(&format!(
        "state_machine_name = \"m\"\nexecution_name_prefix = \"{long}\""
    ));
    assert!(e.contains("has 45 characters; at most 44"), "{e}");
    let e = err("state_machine_name = \"\"");
    assert!(e.contains("has 0 characters"), "{e}");
    let e = err("state_machine_name = \"m\"\nstate_machine_arn = \"m\"");
    assert!(e.contains("unknown field `state_machine_arn`"), "{e}");
    let prefix = "p".repeat(44);
    let fields = format!("state_machine_name = \"m\"\nexecution_name_prefix = \"{prefix}\"");
    assert_eq!(build(&fields), Ok(()));
}
