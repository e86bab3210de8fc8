//! CloudWatch helpers for this crate's tests and the service's (feature `test-servers`): a
//! client for a moto server, an alarm to set, and reading back what the actions wrote
//! (DescribeAlarms, ListMetrics, GetMetricData, GetMetricStatistics), as plain values.

use aws_sdk_cloudwatch::{
    Client,
    primitives::DateTime,
    types::{ComparisonOperator, Metric, MetricDataQuery, MetricStat, StandardUnit, Statistic},
};

use crate::testing::Moto;

impl Moto {
    /// A CloudWatch client for this server (through the actions' own connection code).
    pub async fn cloudwatch_client(&self) -> Client {
        let conns = crate::Connections::open(&self.aws_settings("moto")).expect("moto connection");
        let conn = conns.get("moto").expect("configured");
        Client::new(conn.sdk_config().await)
    }
}

/// Creates metric alarm `name` (on an unrelated metric; moto starts it in state `OK`).
pub async fn create_alarm(client: &Client, name: &str) {
    client
        .put_metric_alarm()
        .alarm_name(name)
        .namespace("Rulewire/Test")
        .metric_name("unused")
        .statistic(Statistic::Average)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutMetricAlarm {name}: {e:?}"));
}

/// Alarm `name`'s (state value, state reason), from DescribeAlarms.
pub async fn alarm_state(client: &Client, name: &str) -> (String, String) {
    let got = client
        .describe_alarms()
        .alarm_names(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DescribeAlarms {name}: {e:?}"));
    let alarm = got.metric_alarms().first().expect("the alarm exists");
    let state = alarm.state_value().map(|s| s.as_str().to_owned());
    let reason = alarm.state_reason().unwrap_or_default().to_owned();
    (state.unwrap_or_default(), reason)
}

/// The metric names in `namespace`, sorted (ListMetrics).
pub async fn metric_names(client: &Client, namespace: &str) -> Vec<String> {
    let got = client
        .list_metrics()
        .namespace(namespace)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListMetrics {namespace}: {e:?}"));
    let mut names: Vec<String> = got
        .metrics()
        .iter()
        .filter_map(|m| m.metric_name().map(str::to_owned))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The per-`period` sums of one metric from `from` to `to` (epoch seconds), oldest first:
/// (period start in epoch seconds, sum) from GetMetricData.
pub async fn metric_sums(
    client: &Client,
    namespace: &str,
    name: &str,
    (from, to): (i64, i64),
    period: i32,
) -> Vec<(i64, f64)> {
    let metric = Metric::builder()
        .namespace(namespace)
        .metric_name(name)
        .build();
    let stat = MetricStat::builder()
        .metric(metric)
        .period(period)
        .stat("Sum")
        .build();
    let query = MetricDataQuery::builder().id("q").metric_stat(stat).build();
    let got = client
        .get_metric_data()
        .metric_data_queries(query)
        .start_time(DateTime::from_secs(from))
        .end_time(DateTime::from_secs(to))
        .scan_by(aws_sdk_cloudwatch::types::ScanBy::TimestampAscending)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetMetricData {namespace}/{name}: {e:?}"));
    let result = got.metric_data_results().first().expect("one result");
    let times = result.timestamps().iter().map(DateTime::secs);
    times.zip(result.values().iter().copied()).collect()
}

/// One metric's totals from `from` to `to` (epoch seconds) among the data points of `unit`
/// (GetMetricStatistics, one period over the whole span): (sample count, sum), or `None`
/// when there are none.
pub async fn metric_totals(
    client: &Client,
    namespace: &str,
    name: &str,
    unit: &str,
    (from, to): (i64, i64),
) -> Option<(f64, f64)> {
    let got = client
        .get_metric_statistics()
        .namespace(namespace)
        .metric_name(name)
        .start_time(DateTime::from_secs(from))
        .end_time(DateTime::from_secs(to))
        .period(i32::try_from(to - from).expect("a span that fits a period"))
        .statistics(Statistic::SampleCount)
        .statistics(Statistic::Sum)
        .unit(StandardUnit::from(unit))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetMetricStatistics {namespace}/{name}: {e:?}"));
    let points = got.datapoints();
    if points.is_empty() {
        return None;
    }
    let count = points.iter().filter_map(|p| p.sample_count()).sum();
    let sum = points.iter().filter_map(|p| p.sum()).sum();
    Some((count, sum))
}
