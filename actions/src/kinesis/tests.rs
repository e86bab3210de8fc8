//! Kinesis action tests against a real moto server (`test_util::Moto`, one per test): records
//! read back with GetShardIterator/GetRecords carry the right partition keys and data, records
//! really share PutRecords calls, failed records alone are retried (moto never fails single
//! records, so a fault-injecting `Transport` wraps the real one), and failures end as
//! `KinesisAction` failures (what the service hands to the rule's error action).

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use aws_sdk_kinesis::Client;
use bytes::Bytes;
use rulewire_engine::SqlVersion;

use super::{
    KinesisAction, KinesisConfig, WrapTransport,
    batch::RecordError,
    bind_with,
    transport::{RecordResults, Transport},
};
use crate::{
    Action, ActionContext, AwsSettings, BoxFuture, BuildError, CheckContext, Connections,
    FiredMessage,
    delivery::AttemptError,
    registry::ActionType,
    test_util::{Moto, NoPublisher, build_action, context, fired, moto_context, run_all, table},
    testing::{create_stream, read_stream},
};

async fn client(ctx: &ActionContext) -> Client {
    Client::new(ctx.aws.get("moto").unwrap().sdk_config().await)
}

fn config(table: &str) -> KinesisConfig {
    toml::from_str(&format!("connection = \"moto\"\n{table}")).unwrap()
}

/// Checks `cfg` against `ctx`'s connections and binds it, optionally behind `wrap`.
fn build_with(
    cfg: &KinesisConfig,
    version: SqlVersion,
    ctx: &ActionContext,
    wrap: Option<&WrapTransport>,
) -> Result<Arc<dyn Action>, BuildError> {
    let names = ctx.connection_names();
    let check = CheckContext {
        version,
        connections: &names,
    };
    bind_with(KinesisAction::check(cfg.clone(), &check)?, ctx, wrap)
}

/// Message `seq` from device `dev` (topic `devices/<dev>/data`).
fn numbered(dev: &str, seq: u32) -> FiredMessage {
    fired(
        "stream_rule",
        &format!("devices/{dev}/data"),
        format!(r#"{{"dev":"{dev}","seq":{seq}}}"#).as_bytes(),
    )
}

#[tokio::test]
async fn records_arrive_with_partition_keys_and_data_in_key_order() {
    let moto = Moto::start().await;
    let (ctx, metrics) = moto_context(&moto);
    let client = client(&ctx).await;
    create_stream(&client, "telemetry-devices", 2).await;
    let cfg = config("stream_name = \"telemetry-${topic(1)}\"\npartition_key = \"${topic(2)}\"");
    let action = build_with(&cfg, SqlVersion::default(), &ctx, None).unwrap();
    // Sequentially per device, so the expected order per key is the send order.
    for seq in 0..10 {
        for dev in ["a", "b", "c"] {
            action.execute(&numbered(dev, seq)).await.unwrap();
        }
    }
    assert_eq!(metrics.get("success:kinesis"), 30);
    let shards = read_stream(&client, "telemetry-devices").await;
    let mut per_key: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for shard in &shards {
        for (key, data) in shard {
            let v: serde_json::Value = serde_json::from_str(data).unwrap();
            assert_eq!(v["dev"].as_str().unwrap(), key, "partition key of {data}");
            per_key
                .entry(key.clone())
                .or_default()
                .push(v["seq"].as_u64().unwrap());
        }
    }
    let expected: Vec<u64> = (0..10).collect();
    assert_eq!(per_key.len(), 3, "{per_key:?}");
    for (key, seqs) in &per_key {
        assert_eq!(seqs, &expected, "records of key {key}, in shard order");
    }
}

#[tokio::test]
async fn concurrent_messages_share_put_records_calls() {
    let moto = Moto::start().await;
    let (ctx, metrics) = moto_context(&moto);
    let client = client(&ctx).await;
    create_stream(&client, "grouped", 1).await;
    let cfg = config(
        "stream_name = \"grouped\"\npartition_key = \"${topic(2)}\"\nmax_records = 50\nlinger_ms = 100",
    );
    let action = build_with(&cfg, SqlVersion::default(), &ctx, None).unwrap();
    let msgs: Vec<FiredMessage> = (0..120)
        .map(|n| numbered(&format!("d{}", n % 7), n))
        .collect();
    let results = run_all(&action, msgs).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(metrics.get("batch_records:kinesis"), 120);
    let calls = metrics.get("batch:kinesis");
    assert!(
        (3..=5).contains(&calls),
        "120 records at max_records = 50 should take 3 requests (a few more if the \
         spawned tasks straddle the 100 ms linger), took {calls}"
    );
    let stored: usize = read_stream(&client, "grouped")
        .await
        .iter()
        .map(Vec::len)
        .sum();
    assert_eq!(stored, 120);
}

/// Fails every record whose partition key is in `flaky` with a throughput error, `times`
/// times per key; sends all other records through the real transport.
struct Flaky {
    inner: Arc<dyn Transport>,
    failures_left: Mutex<HashMap<String, u32>>,
    code: &'static str,
}

impl Transport for Flaky {
    fn put_records<'a>(
        &'a self,
        stream: &'a str,
        records: Vec<(String, Bytes)>,
    ) -> BoxFuture<'a, Result<RecordResults, AttemptError>> {
        Box::pin(async move {
            let mut fail = Vec::new();
            {
                let mut left = self.failures_left.lock().unwrap();
                for (key, _) in &records {
                    let n = left.get_mut(key);
                    fail.push(match n {
                        Some(n) if *n > 0 => {
                            *n -= 1;
                            true
                        }
                        _ => false,
                    });
                }
            }
            let pass: Vec<(String, Bytes)> = records
                .iter()
                .zip(&fail)
                .filter(|(_, f)| !**f)
                .map(|(r, _)| r.clone())
                .collect();
            let mut passed = if pass.is_empty() {
                Vec::new()
            } else {
                self.inner.put_records(stream, pass).await?
            }
            .into_iter();
            Ok(fail
                .iter()
                .map(|f| {
                    if *f {
                        Some(RecordError {
                            code: self.code.to_owned(),
                            message: "injected".to_owned(),
                        })
                    } else {
                        passed.next().expect("one result per passed record")
                    }
                })
                .collect())
        })
    }
}

fn flaky(
    keys: &[(&str, u32)],
    code: &'static str,
) -> impl Fn(Arc<dyn Transport>) -> Arc<dyn Transport> {
    let left: HashMap<String, u32> = keys.iter().map(|(k, n)| (k.to_string(), *n)).collect();
    move |inner| {
        Arc::new(Flaky {
            inner,
            failures_left: Mutex::new(left.clone()),
            code,
        })
    }
}

#[tokio::test]
async fn only_failed_records_are_retried_and_keep_their_key_order() {
    let moto = Moto::start().await;
    let (ctx, metrics) = moto_context(&moto);
    let client = client(&ctx).await;
    create_stream(&client, "partial", 1).await;
    let cfg = config(
        "stream_name = \"partial\"\npartition_key = \"${topic(2)}\"\nlinger_ms = 20\nretry = { attempts = 4 }",
    );
    // The first 3 times records of device "flaky" are sent, they fail (throttled).
    let wrap = flaky(&[("flaky", 3)], "ProvisionedThroughputExceededException");
    let action = build_with(&cfg, SqlVersion::default(), &ctx, Some(&wrap)).unwrap();
    let mut msgs = Vec::new();
    for seq in 0..5 {
        msgs.push(numbered("steady", seq));
        msgs.push(numbered("flaky", seq));
    }
    // Sequential pairs would not batch; send all at once, in order.
    let results = run_all(&action, msgs).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(metrics.get("success:kinesis"), 10);
    assert_eq!(
        metrics.get("retry:kinesis"),
        3,
        "one retry per injected failure"
    );
    let records = &read_stream(&client, "partial").await[0];
    assert_eq!(
        records.len(),
        10,
        "each record written exactly once: {records:?}"
    );
    let seqs = |key: &str| -> Vec<u64> {
        records
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, d)| {
                serde_json::from_str::<serde_json::Value>(d).unwrap()["seq"]
                    .as_u64()
                    .unwrap()
            })
            .collect()
    };
    assert_eq!(seqs("steady"), [0, 1, 2, 3, 4]);
    let mut flaky_seqs = seqs("flaky");
    flaky_seqs.sort();
    assert_eq!(
        flaky_seqs,
        [0, 1, 2, 3, 4],
        "no flaky record lost or duplicated"
    );
}

/// Fails the first `n` requests as a whole (as a network error would), then passes through.
struct FailFirst {
    inner: Arc<dyn Transport>,
    left: Mutex<u32>,
}

impl Transport for FailFirst {
    fn put_records<'a>(
        &'a self,
        stream: &'a str,
        records: Vec<(String, Bytes)>,
    ) -> BoxFuture<'a, Result<RecordResults, AttemptError>> {
        let fail = {
            let mut left = self.left.lock().unwrap();
            let fail = *left > 0;
            *left = left.saturating_sub(1);
            fail
        };
        if fail {
            return Box::pin(async { Err(AttemptError::retryable("injected: connection reset")) });
        }
        self.inner.put_records(stream, records)
    }
}

/// A request that fails as a whole puts its records back at the HEAD of the queue: the next
/// request retries them before any later record of the same key (with `max_records = 2`,
/// appending them at the tail would store 2, 3, 4, 5, 0, 1).
#[tokio::test]
async fn retried_records_are_not_overtaken_by_later_ones() {
    let moto = Moto::start().await;
    let (ctx, metrics) = moto_context(&moto);
    let client = client(&ctx).await;
    create_stream(&client, "ordered", 1).await;
    let cfg = config("stream_name = \"ordered\"\npartition_key = \"${topic(2)}\"\nmax_records = 2");
    let wrap = |inner| -> Arc<dyn Transport> {
        Arc::new(FailFirst {
            inner,
            left: Mutex::new(1),
        })
    };
    let action = build_with(&cfg, SqlVersion::default(), &ctx, Some(&wrap)).unwrap();
    let msgs = (0..6).map(|seq| numbered("one", seq)).collect();
    let results = run_all(&action, msgs).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(
        metrics.get("retry:kinesis"),
        2,
        "the 2 records of the failed request"
    );
    assert_eq!(
        metrics.get("batch:kinesis"),
        4,
        "1 failed + 3 requests of 2"
    );
    let stored: Vec<u64> = read_stream(&client, "ordered").await[0]
        .iter()
        .map(|(_, d)| {
            serde_json::from_str::<serde_json::Value>(d).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(stored, [0, 1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn failures_end_as_kinesis_action_failures() {
    let moto = Moto::start().await;
    let (ctx, metrics) = moto_context(&moto);
    let client = client(&ctx).await;
    create_stream(&client, "exists", 1).await;

    // A stream that does not exist: permanent, no retries.
    let cfg = config("stream_name = \"missing\"\npartition_key = \"k\"");
    let action = build_with(&cfg, SqlVersion::default(), &ctx, None).unwrap();
    let e = action.execute(&numbered("a", 1)).await.unwrap_err();
    assert_eq!(
        (e.failed_action.as_str(), e.failed_resource.as_str()),
        ("KinesisAction", "missing")
    );
    assert!(e.error_message.contains("ResourceNotFound"), "{e:?}");
    assert_eq!(
        (metrics.get("failure:kinesis"), metrics.get("retry:kinesis")),
        (1, 0)
    );

    // A record over 1 MiB: refused at once, nothing sent.
    let cfg = config("stream_name = \"exists\"\npartition_key = \"k\"");
    let action = build_with(&cfg, SqlVersion::default(), &ctx, None).unwrap();
    let big = fired("stream_rule", "t", &vec![b'x'; super::MAX_RECORD_BYTES]);
    let e = action.execute(&big).await.unwrap_err();
    assert!(e.error_message.contains("record too large"), "{e:?}");
    assert_eq!(
        metrics.get("batch:kinesis"),
        1,
        "only the request to `missing`"
    );

    // A record that keeps failing with a retryable code: retried, then given up.
    let wrap = flaky(&[("k", 100)], "InternalFailure");
    let action = build_with(&cfg, SqlVersion::default(), &ctx, Some(&wrap)).unwrap();
    let e = action.execute(&numbered("a", 2)).await.unwrap_err();
    assert!(
        e.error_message.contains("InternalFailure: injected"),
        "{e:?}"
    );
    assert_eq!(
        metrics.get("retry:kinesis"),
        2,
        "3 attempts in the test policy"
    );

    // An endpoint nobody listens on: retried as a whole, then given up.
    drop(moto);
    let e = action.execute(&numbered("a", 3)).await.unwrap_err();
    assert_eq!(e.failed_resource, "exists");
    assert_eq!(metrics.get("retry:kinesis"), 4);
    assert_eq!(metrics.get("failure:kinesis"), 4);
}

#[test]
fn build_errors_name_the_field() {
    let (mut ctx, _) = context(Arc::new(NoPublisher));
    let settings: AwsSettings =
        toml::from_str("[connections.aws]\nregion = \"eu-west-1\"").unwrap();
    ctx.aws = Arc::new(Connections::open(&settings).unwrap());
    let err = |t: &str| -> String {
        build_action(
            &table(&format!("type = \"kinesis\"\n{t}")),
            SqlVersion::default(),
            &ctx,
        )
        .err()
        .map(|e: BuildError| e.to_string())
        .expect("should not build")
    };
    assert_eq!(
        err("connection = \"x\"\nstream_name = \"s\"\npartition_key = \"k\""),
        "field `connection`: no [aws.connections.x] in rulewire.toml (configured: aws, default)"
    );
    assert!(
        err("connection = \"aws\"\nstream_name = \"s\"\npartition_key = \"k\"\nmax_records = 501")
            .contains("max_records")
    );
    assert!(
        err("connection = \"aws\"\nstream_name = \"${x(\"\npartition_key = \"k\"")
            .starts_with("field `stream_name`: bad template")
    );
    assert!(
        err("connection = \"aws\"\nstream_name = \"s\"\npartition_key = \"${\"")
            .starts_with("field `partition_key`: bad template")
    );
}
