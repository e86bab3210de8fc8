//! The cloudwatch_alarm action against moto's CloudWatch (states and reasons read back with
//! DescribeAlarms, a missing alarm, a state that does not fit), a throttling server, and the
//! check-time refusals.

use bytes::Bytes;

use crate::{
    FiredMessage,
    cloudwatch::{
        testing::{alarm_state, create_alarm},
        tests::{action, check_error, expect_throttling_retried},
    },
    test_util::{Moto, fired, moto_context},
};

const KIND: &str = "cloudwatch_alarm";

/// A message on `topic` whose original payload (what templates see) is `payload`.
fn message(topic: &str, payload: &str) -> FiredMessage {
    let mut msg = fired("alarm_rule", topic, b"{}");
    msg.original_payload = Bytes::from(payload.to_owned());
    msg
}

const FIELDS: &str = "alarm_name = \"boiler-${topic(2)}\"\nstate_value = \"${state}\"\n\
                      state_reason = \"temperature ${temp} on ${topic()}\"";

#[tokio::test]
async fn alarm_states_and_reasons_are_set() {
    let moto = Moto::start().await;
    let (ctx, metrics) = moto_context(&moto);
    let client = moto.cloudwatch_client().await;
    create_alarm(&client, "boiler-p1").await;
    create_alarm(&client, "boiler-p2").await;
    assert_eq!(alarm_state(&client, "boiler-p1").await.0, "OK");
    let alarm = action(&ctx, KIND, FIELDS);
    let hot = message("plant/p1/data", r#"{"state":"ALARM","temp":91.5}"#);
    alarm.execute(&hot).await.unwrap();
    let unknown = message("plant/p2/data", r#"{"state":"INSUFFICIENT_DATA"}"#);
    alarm.execute(&unknown).await.unwrap();
    assert_eq!(
        alarm_state(&client, "boiler-p1").await,
        (
            "ALARM".to_owned(),
            "temperature 91.5 on plant/p1/data".to_owned()
        )
    );
    assert_eq!(
        alarm_state(&client, "boiler-p2").await,
        (
            "INSUFFICIENT_DATA".to_owned(),
            "temperature  on plant/p2/data".to_owned()
        )
    );
    let cool = message("plant/p1/data", r#"{"state":"OK","temp":40}"#);
    alarm.execute(&cool).await.unwrap();
    assert_eq!(
        alarm_state(&client, "boiler-p1").await,
        (
            "OK".to_owned(),
            "temperature 40 on plant/p1/data".to_owned()
        )
    );
    assert_eq!(metrics.get("success:cloudwatch_alarm"), 3);
}

#[tokio::test]
async fn a_missing_alarm_fails_at_once_as_cloudwatch_alarm_action() {
    let moto = Moto::start().await;
    let (ctx, metrics) = moto_context(&moto);
    let alarm = action(&ctx, KIND, FIELDS);
    let hot = message("plant/p9/data", r#"{"state":"ALARM","temp":91.5}"#);
    let e = alarm.execute(&hot).await.unwrap_err();
    assert_eq!(
        (e.failed_action.as_str(), e.failed_resource.as_str()),
        ("CloudwatchAlarmAction", "boiler-p9")
    );
    assert!(e.error_message.contains("ResourceNotFound"), "{e:?}");
    assert_eq!(
        (
            metrics.get("retry:cloudwatch_alarm"),
            metrics.get("failure:cloudwatch_alarm")
        ),
        (0, 1)
    );
}

/// A state that renders to something other than OK, ALARM or INSUFFICIENT_DATA fails before
/// anything is sent: the alarm keeps its state.
#[tokio::test]
async fn a_rendered_state_that_does_not_fit_fails_before_sending() {
    let moto = Moto::start().await;
    let (ctx, metrics) = moto_context(&moto);
    let client = moto.cloudwatch_client().await;
    create_alarm(&client, "boiler-p1").await;
    let alarm = action(&ctx, KIND, FIELDS);
    let e = alarm
        .execute(&message(
            "plant/p1/data",
            r#"{"state":"alarm","temp":91.5}"#,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (e.failed_action.as_str(), e.failed_resource.as_str()),
        ("CloudwatchAlarmAction", "boiler-p1")
    );
    assert_eq!(
        e.error_message,
        "state_value rendered to \"alarm\", which is not a state (OK, ALARM or INSUFFICIENT_DATA)"
    );
    assert_eq!(alarm_state(&client, "boiler-p1").await.0, "OK");
    assert_eq!(metrics.get("retry:cloudwatch_alarm"), 0);
}

#[tokio::test]
async fn throttling_is_retried_then_fails() {
    expect_throttling_retried(
        KIND,
        "alarm_name = \"boiler\"\nstate_value = \"ALARM\"\nstate_reason = \"hot\"",
        "CloudwatchAlarmAction",
    )
    .await;
}

#[test]
fn literals_that_can_never_work_refuse_the_rule() {
    let fields = |name: &str, value: &str, reason: &str| {
        format!("alarm_name = \"{name}\"\nstate_value = \"{value}\"\nstate_reason = \"{reason}\"")
    };
    let err = |text: String| check_error(KIND, &text);
    assert_eq!(
        err(fields("boiler", "ok", "cool")),
        "field `state_value`: \"ok\" is not a state (OK, ALARM or INSUFFICIENT_DATA)"
    );
    let e = err(fields("", "OK", "cool"));
    assert!(e.starts_with("field `alarm_name`: \"\" is empty"), "{e}");
    let e = err(fields("boiler", "OK", &"r".repeat(1024)));
    assert!(
        e.starts_with("field `state_reason`:")
            && e.ends_with("is 1024 characters long (SetAlarmState allows 1023)"),
        "{e}"
    );
    let e = err(fields("boiler-${topic(", "OK", "cool"));
    assert!(e.starts_with("field `alarm_name`: bad template"), "{e}");
    let e = err(fields("boiler", "OK", "cool") + "\nalarmName = \"b\"");
    assert!(e.contains("unknown field `alarmName`"), "{e}");
    let e = err("alarm_name = \"boiler\"\nstate_value = \"OK\"".to_owned());
    assert!(e.contains("missing field `state_reason`"), "{e}");
}
