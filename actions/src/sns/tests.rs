//! The sns action against moto: messages published to a topic arrive in an SQS queue
//! subscribed to it (raw delivery), JSON message structures pick the per-protocol message,
//! and a missing topic fails at once as SnsAction.

use std::{collections::BTreeSet, sync::Arc};

use rulewire_engine::SqlVersion;

use crate::{
    Action, ActionContext,
    test_util::{Moto, NoPublisher, build_action, context, fired, moto_context, run_all, table},
    testing::{assumed_role, signing_key, sqs_drain},
};

fn action(ctx: &ActionContext, fields: &str) -> Arc<dyn Action> {
    let text = format!("type = \"sns\"\nconnection = \"moto\"\n{fields}");
    build_action(&table(&text), SqlVersion::default(), ctx).unwrap()
}

#[tokio::test]
async fn published_outputs_reach_a_subscribed_queue() {
    let moto = Moto::start().await;
    let (ctx, metrics) = moto_context(&moto);
    let (arn, url) = moto.sns_topic_into_queue("alerts").await;
    let sns = action(&ctx, &format!("target_arn = \"{arn}\""));
    let msgs = (0..10)
        .map(|n| {
            fired(
                "alert_rule",
                "plant/p1/data",
                format!("{{\"n\":{n}}}").as_bytes(),
            )
        })
        .collect();
    let results = run_all(&sns, msgs).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let sqs = moto.sqs_client().await;
    let bodies: BTreeSet<String> = sqs_drain(&sqs, &url)
        .await
        .into_iter()
        .map(|(b, _)| b)
        .collect();
    let expected: BTreeSet<String> = (0..10).map(|n| format!("{{\"n\":{n}}}")).collect();
    assert_eq!(bodies, expected);
    assert_eq!(metrics.get("success:sns"), 10);

    // JSON: per-protocol messages; the queue gets the "sqs" one.
    let json = action(
        &ctx,
        &format!("target_arn = \"{arn}\"\nmessage_format = \"JSON\""),
    );
    let out = br#"{"default":"fallback","sqs":"for queues"}"#;
    json.execute(&fired("alert_rule", "plant/p1/data", out))
        .await
        .unwrap();
    let got = sqs_drain(&sqs, &url).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "for queues");
    // Without a "default" key AWS would refuse the structure: permanent, before sending.
    let e = json
        .execute(&fired("alert_rule", "plant/p1/data", br#"{"sqs":"x"}"#))
        .await
        .unwrap_err();
    assert_eq!(
        (e.failed_action.as_str(), e.failed_resource.as_str()),
        ("SnsAction", arn.as_str())
    );
    assert!(e.error_message.contains("\"default\""), "{e:?}");
}

#[tokio::test]
async fn a_missing_topic_fails_at_once_as_sns_action() {
    let moto = Moto::start().await;
    let (ctx, metrics) = moto_context(&moto);
    let arn = "arn:aws:sns:us-east-1:123456789012:nope";
    let sns = action(&ctx, &format!("target_arn = \"{arn}\""));
    let e = sns
        .execute(&fired("alert_rule", "plant/p1/data", b"{}"))
        .await
        .unwrap_err();
    assert_eq!(
        (e.failed_action.as_str(), e.failed_resource.as_str()),
        ("SnsAction", arn)
    );
    assert!(e.error_message.contains("NotFound"), "{e:?}");
    assert_eq!(
        (metrics.get("retry:sns"), metrics.get("failure:sns")),
        (0, 1)
    );
}

#[test]
fn bad_tables_are_clear_errors() {
    let (mut ctx, _) = context(Arc::new(NoPublisher));
    let aws: crate::AwsSettings =
        toml::from_str("[connections.moto]\nregion = \"us-east-1\"").unwrap();
    ctx.aws = Arc::new(crate::Connections::open(&aws).unwrap());
    let err = |fields: &str| {
        let text = format!("type = \"sns\"\nconnection = \"moto\"\n{fields}");
        build_action(&table(&text), SqlVersion::default(), &ctx)
            .err()
            .unwrap()
            .to_string()
    };
    assert!(err("target_arn = \"alerts\"").starts_with("field `target_arn`: expected arn:"));
    let e = err("target_arn = \"arn:aws:sns:us-east-1:123456789012:t.fifo\"");
    assert!(e.contains("FIFO topics are not supported"), "{e}");
    let e = err("target_arn = \"arn:aws:sns:us-east-1:123456789012:t\"\nmessage_format = \"XML\"");
    assert!(e.contains("unknown variant `XML`"), "{e}");
}

/// `role_arn` (AWS's `roleArn`): Publish is signed with the role's credentials, assumed
/// through STS (moto's, recorded) with the connection's.
#[tokio::test]
async fn an_actions_role_signs_its_publishes() {
    let moto = Moto::start().await;
    let (ctx, _) = moto_context(&moto);
    let (arn, url) = moto.sns_topic_into_queue("alerts").await;
    let role = "arn:aws:iam::123456789012:role/iot-to-sns";
    let sns = action(
        &ctx,
        &format!("target_arn = \"{arn}\"\nrole_arn = \"{role}\""),
    );
    moto.start_recording().await;
    sns.execute(&fired("alert_rule", "plant/p1/data", b"{\"n\":1}"))
        .await
        .unwrap();
    let recorded = moto.recorded().await;
    assert!(assumed_role(&recorded, role), "no AssumeRole of {role}");
    let publish = recorded
        .iter()
        .find(|r| {
            r["body"]
                .as_str()
                .unwrap_or_default()
                .contains("Action=Publish")
        })
        .expect("the Publish request");
    assert_ne!(signing_key(publish).unwrap(), "test", "the role's key");
    let got = sqs_drain(&moto.sqs_client().await, &url).await;
    assert_eq!(got.len(), 1);
}
