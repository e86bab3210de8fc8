//! The cloudwatch_metric action against moto's CloudWatch (data points read back with
//! ListMetrics, GetMetricData and GetMetricStatistics; values that do not fit failing before
//! anything is sent), a throttling server, and the check-time refusals.

use bytes::Bytes;

use super::{parse_timestamp, parse_value};
use crate::{
    FiredMessage,
    cloudwatch::{
        testing::{metric_names, metric_sums, metric_totals},
        tests::{action, check_error, expect_throttling_retried},
    },
    test_util::{Moto, fired, moto_context, run_all},
};

const KIND: &str = "cloudwatch_metric";
/// 2023-11-14T22:13:20Z, the arrival time of `fired` messages.
const T0: i64 = 1_700_000_000;

/// A message on `topic` whose original payload (what templates see) is `payload`.
fn message(topic: &str, payload: &str) -> FiredMessage {
    let mut msg = fired("metric_rule", topic, b"{}");
    msg.original_payload = Bytes::from(payload.to_owned());
    msg
}

#[tokio::test]
async fn data_points_arrive_with_their_value_unit_and_timestamp() {
    let moto = Moto::start().await;
    let (ctx, metrics) = moto_context(&moto);
    let client = moto.cloudwatch_client().await;
    let metric = action(
        &ctx,
        KIND,
        "metric_namespace = \"Plant/${topic(2)}\"\nmetric_name = \"${site}-temperature\"\n\
         metric_value = \"${temp}\"\nmetric_unit = \"${unit}\"\nmetric_timestamp = \"${ts}\"",
    );
    let msgs = (0..5)
        .map(|n| {
            let payload = format!(
                r#"{{"temp":{},"site":"north","unit":"Percent","ts":{}}}"#,
                20.5 + f64::from(n),
                T0 + 60 * i64::from(n)
            );
            message("plant/p1/data", &payload)
        })
        .collect();
    let results = run_all(&metric, msgs).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(metrics.get("success:cloudwatch_metric"), 5);

    assert_eq!(
        metric_names(&client, "Plant/p1").await,
        ["north-temperature"]
    );
    let points = metric_sums(&client, "Plant/p1", "north-temperature", (T0, T0 + 300), 60).await;
    let expected: Vec<(i64, f64)> = (0..5).map(|n| (T0 + 60 * n, 20.5 + n as f64)).collect();
    assert_eq!(points, expected, "one point per message, at its timestamp");
    // The unit was sent: the points are found under Percent and not under Count.
    let span = (T0, T0 + 3600);
    let totals = metric_totals(&client, "Plant/p1", "north-temperature", "Percent", span).await;
    assert_eq!(totals, Some((5.0, 112.5)));
    let other = metric_totals(&client, "Plant/p1", "north-temperature", "Count", span).await;
    assert_eq!(other, None);
}

/// Without `metric_timestamp` the point is at the message's arrival time (2023 here, so a
/// point stamped "now" would not be found).
#[tokio::test]
async fn without_a_timestamp_the_point_is_at_the_arrival_time() {
    let moto = Moto::start().await;
    let (ctx, _) = moto_context(&moto);
    let client = moto.cloudwatch_client().await;
    let metric = action(
        &ctx,
        KIND,
        "metric_namespace = \"Plant\"\nmetric_name = \"temperature\"\n\
         metric_value = \"${temp}\"\nmetric_unit = \"None\"",
    );
    metric
        .execute(&fired("metric_rule", "plant/p1/data", b"{}"))
        .await
        .unwrap();
    let points = metric_sums(&client, "Plant", "temperature", (T0 - 60, T0 + 60), 60).await;
    assert_eq!(points, [(T0, 31.0)]);
}

/// A value, unit, timestamp or namespace that renders to something CloudWatch cannot take
/// fails that message at once (no retry, nothing sent) as CloudwatchMetricAction on
/// `<namespace>/<metric name>`; a good message through the same action still arrives.
#[tokio::test]
async fn rendered_values_that_do_not_fit_fail_at_once() {
    let moto = Moto::start().await;
    let (ctx, metrics) = moto_context(&moto);
    let client = moto.cloudwatch_client().await;
    let metric = action(
        &ctx,
        KIND,
        "metric_namespace = \"${ns}\"\nmetric_name = \"${topic(2)}\"\n\
         metric_value = \"${temp}\"\nmetric_unit = \"${unit}\"\nmetric_timestamp = \"${ts}\"",
    );
    let good = r#"{"ns":"Plant","temp":21,"unit":"Count","ts":1700000000}"#;
    let cases = [
        (
            good.replace("21", "\"warm\""),
            "Plant/p1",
            "metric_value rendered to \"warm\", which is not a number",
        ),
        (
            good.replace(r#""temp":21,"#, ""),
            "Plant/p1",
            "metric_value rendered to \"\", which is not a number",
        ),
        (
            good.replace("Count", "count"),
            "Plant/p1",
            "metric_unit rendered to \"count\", which is not a CloudWatch unit",
        ),
        (
            good.replace("1700000000", "1700000000000"),
            "Plant/p1",
            "(milliseconds? divide by 1000)",
        ),
        (
            good.replace("Plant", "AWS/EC2"),
            "AWS/EC2/p1",
            "starts with AWS/",
        ),
    ];
    for (payload, resource, expected) in &cases {
        let e = metric
            .execute(&message("plant/p1/data", payload))
            .await
            .unwrap_err();
        assert_eq!(
            (e.failed_action.as_str(), e.failed_resource.as_str()),
            ("CloudwatchMetricAction", *resource)
        );
        assert!(e.error_message.contains(expected), "{e:?}");
    }
    assert_eq!(metric_names(&client, "Plant").await, Vec::<String>::new());
    assert_eq!(
        (
            metrics.get("retry:cloudwatch_metric"),
            metrics.get("failure:cloudwatch_metric")
        ),
        (0, 5)
    );
    metric
        .execute(&message("plant/p1/data", good))
        .await
        .unwrap();
    assert_eq!(metric_names(&client, "Plant").await, ["p1"]);
}

#[tokio::test]
async fn throttling_is_retried_then_fails() {
    expect_throttling_retried(
        KIND,
        "metric_namespace = \"Plant\"\nmetric_name = \"t\"\nmetric_value = \"1\"\nmetric_unit = \"Count\"",
        "CloudwatchMetricAction",
    )
    .await;
}

#[test]
fn literals_that_can_never_work_refuse_the_rule() {
    let fields = |namespace: &str, name: &str, value: &str, unit: &str| {
        format!(
            "metric_namespace = \"{namespace}\"\nmetric_name = \"{name}\"\n\
             metric_value = \"{value}\"\nmetric_unit = \"{unit}\""
        )
    };
    let err = |text: String| check_error(KIND, &text);
    let e = err(fields("Plant", "t", "1", "count"));
    assert!(
        e.starts_with("field `metric_unit`: \"count\" is not a CloudWatch unit (one of: Bits,"),
        "{e}"
    );
    assert_eq!(
        err(fields("Plant", "t", "high", "Count")),
        "field `metric_value`: \"high\" is not a number"
    );
    assert_eq!(
        err(fields("Plant", "t", "NaN", "Count")),
        "field `metric_value`: \"NaN\" is not a finite number (CloudWatch refuses NaN and infinity)"
    );
    let e = err(fields("AWS/EC2", "t", "1", "Count"));
    assert!(
        e.starts_with("field `metric_namespace`: \"AWS/EC2\" starts with AWS/"),
        "{e}"
    );
    let e = err(fields(":x", "t", "1", "Count"));
    assert!(
        e.starts_with("field `metric_namespace`: \":x\" starts with ':'"),
        "{e}"
    );
    let e = err(fields("Plant", " ", "1", "Count"));
    assert!(e.starts_with("field `metric_name`: \" \" is empty"), "{e}");
    let long = "n".repeat(256);
    let e = err(fields("Plant", &long, "1", "Count"));
    assert!(
        e.ends_with("is 256 characters long (CloudWatch allows 255)"),
        "{e}"
    );
    let e = err(fields("Plant", "t", "1", "Count") + "\nmetric_timestamp = \"1700000000000\"");
    assert!(
        e.starts_with("field `metric_timestamp`: \"1700000000000\" is too large"),
        "{e}"
    );
    let e = err(fields("Plant", "t", "${temp", "Count"));
    assert!(e.starts_with("field `metric_value`: bad template"), "{e}");
    let e = err(fields("Plant", "t", "1", "Count") + "\nmetricUnit = \"Count\"");
    assert!(e.contains("unknown field `metricUnit`"), "{e}");
    let e = err("metric_namespace = \"P\"\nmetric_name = \"t\"\nmetric_value = \"1\"".into());
    assert!(e.contains("missing field `metric_unit`"), "{e}");
}

#[test]
fn values_and_timestamps_parse_as_numbers_of_their_range() {
    assert_eq!(parse_value(" 31 "), Ok(31.0));
    assert_eq!(parse_value("-2.5"), Ok(-2.5));
    assert_eq!(parse_value("1e3"), Ok(1000.0));
    assert!(parse_value("inf").is_err() && parse_value("").is_err());
    assert!(
        parse_value("1e108").is_ok() && parse_value("1e109").is_err(),
        "2^360 ~ 2.3e108"
    );
    let t = parse_timestamp("1700000000.25").unwrap();
    assert_eq!((t.secs(), t.subsec_nanos()), (T0, 250_000_000));
    assert!(parse_timestamp("-1").is_err() && parse_timestamp("soon").is_err());
}
