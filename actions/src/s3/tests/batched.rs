//! Batched mode against moto and the local filesystem: thresholds, grouping by key directory,
//! acks only after the write, Parquet read-back, and a failed flush failing every message.

use std::{collections::BTreeSet, time::Duration};

use arrow_array::{Array, Decimal128Array, Int64Array, RecordBatch, StringArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::{Moto, action, message, s3_context, settings};
use crate::AwsSettings;
use crate::{FiredMessage, test_util::run_all};

fn numbered(topic: &str, n: u32) -> FiredMessage {
    message(
        topic,
        format!(r#"{{"seq":{n},"topic":"{topic}"}}"#).as_bytes(),
    )
}

#[tokio::test]
async fn jsonl_batches_group_by_key_directory_and_flush_on_rows_and_age() {
    let moto = Moto::start().await;
    moto.create_bucket("lake").await;
    let (ctx, metrics) = s3_context(&moto.settings(), &moto.aws_settings("moto"));
    let table = "connection = \"moto\"\nbucket = \"lake\"\nbatch = { max_rows = 3, max_age_ms = 300, key = \"${topic(1)}/${newuuid()}.jsonl\" }";
    let s3 = action(&ctx, table).unwrap();
    let msgs: Vec<FiredMessage> = (0..4)
        .map(|n| numbered("north/t", n))
        .chain((10..12).map(|n| numbered("south/t", n)))
        .collect();
    let results = run_all(&s3, msgs).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");

    let keys = moto.keys("lake").await;
    assert_eq!(
        keys.len(),
        3,
        "north: 3 rows (max_rows) + 1 (age); south: 2 (age): {keys:?}"
    );
    let mut rows_per_object = Vec::new();
    let mut seen = BTreeSet::new();
    for key in &keys {
        let (body, ct) = moto.get("lake", key).await;
        assert_eq!(ct, "application/x-ndjson");
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(text.ends_with('\n'));
        let prefix = key.split('/').next().unwrap();
        rows_per_object.push((prefix.to_owned(), text.lines().count()));
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(
                v["topic"].as_str().unwrap().starts_with(prefix),
                "row {line} in {key}"
            );
            assert!(
                seen.insert(v["seq"].as_u64().unwrap()),
                "row {line} written twice"
            );
        }
    }
    rows_per_object.sort();
    assert_eq!(
        rows_per_object,
        [
            ("north".into(), 1),
            ("north".into(), 3),
            ("south".into(), 2)
        ]
    );
    assert_eq!(seen, [0, 1, 2, 3, 10, 11].into());
    assert_eq!(
        (metrics.get("success:s3"), metrics.get("failure:s3")),
        (6, 0)
    );
}

#[tokio::test]
async fn a_batched_message_completes_only_after_its_object_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let local = format!(
        "[connections.default]\nurl = \"file://{}\"",
        dir.path().display()
    );
    let (ctx, _) = s3_context(&settings(&local), &AwsSettings::default());
    let s3 = action(
        &ctx,
        "bucket = \"b\"\nbatch = { max_age_ms = 400, key = \"out/${clientid()}.jsonl\" }",
    )
    .unwrap();
    let pending = {
        let s3 = s3.clone();
        tokio::spawn(async move { s3.execute(&numbered("a/b", 1)).await })
    };
    let file = dir.path().join("b/out/dev-7.jsonl");
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(!pending.is_finished(), "acked before the batch was written");
    assert!(!file.exists());
    pending.await.unwrap().unwrap();
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "{\"seq\":1,\"topic\":\"a/b\"}\n"
    );
}

#[tokio::test]
async fn parquet_batches_read_back_to_the_same_rows() {
    let moto = Moto::start().await;
    moto.create_bucket("pq-lake").await;
    let (ctx, _) = s3_context(&moto.settings(), &moto.aws_settings("moto"));
    let key = "${topic(1)}/dt=${parse_time('yyyy-MM-dd', timestamp())}/${newuuid()}.parquet";
    let table = format!(
        "connection = \"moto\"\nbucket = \"pq-lake\"\nbatch = {{ format = \"parquet\", max_rows = 5, key = \"{key}\" }}"
    );
    let s3 = action(&ctx, &table).unwrap();
    let msgs: Vec<FiredMessage> = (0..5)
        .map(|n| {
            message(
                "plant/line1",
                format!(
                    r#"{{"id":{n},"temp":{}.5,"site":"s{n}","ok":null}}"#,
                    20 + n
                )
                .as_bytes(),
            )
        })
        .collect();
    let results = run_all(&s3, msgs).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");

    let keys = moto.keys("pq-lake").await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(
        keys[0].starts_with("plant/dt=2023-11-14/") && keys[0].ends_with(".parquet"),
        "{keys:?}"
    );
    let (body, ct) = moto.get("pq-lake", &keys[0]).await;
    assert_eq!(ct, "application/vnd.apache.parquet");
    let batches: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(body)
        .unwrap()
        .build()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows, 5);
    let b = &batches[0];
    let col = |name: &str| {
        b.column_by_name(name)
            .unwrap_or_else(|| panic!("column {name}"))
            .clone()
    };
    let ids = col("id");
    let temps = col("temp");
    let sites = col("site");
    let ids = ids.as_any().downcast_ref::<Int64Array>().unwrap();
    // Decimals are exact: Decimal128 at the object's largest scale.
    let temps = temps.as_any().downcast_ref::<Decimal128Array>().unwrap();
    let sites = sites.as_any().downcast_ref::<StringArray>().unwrap();
    // Rows arrive in any order (concurrent callers); compare as a set of tuples.
    let mut got: Vec<(i64, String, String)> = (0..b.num_rows())
        .map(|i| {
            let temp = temps.value_as_string(i);
            (ids.value(i), temp, sites.value(i).to_owned())
        })
        .collect();
    got.sort_by_key(|r| r.0);
    let expected: Vec<(i64, String, String)> = (0..5)
        .map(|n| (n, format!("{}.5", 20 + n), format!("s{n}")))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(
        col("ok").logical_null_count(),
        5,
        "an all-null field reads back as nulls"
    );
}

#[tokio::test]
async fn a_failed_flush_fails_every_message_in_it_and_bad_rows_fail_alone() {
    let moto = Moto::start().await;
    let (ctx, metrics) = s3_context(&moto.settings(), &moto.aws_settings("moto"));
    let table = "connection = \"moto\"\nbucket = \"missing-bucket\"\nbatch = { format = \"parquet\", max_rows = 3, key = \"x/${newuuid()}.parquet\" }";
    let s3 = action(&ctx, table).unwrap();
    let results = run_all(&s3, (0..3).map(|n| numbered("a/b", n)).collect()).await;
    for r in &results {
        let f = r.as_ref().unwrap_err();
        assert_eq!(
            (f.failed_action.as_str(), f.failed_resource.as_str()),
            ("S3Action", "missing-bucket")
        );
        assert!(f.error_message.contains("NoSuchBucket"), "{f}");
    }
    assert_eq!(metrics.get("retry:s3"), 2, "one flush, retried twice");
    assert_eq!(metrics.get("failure:s3"), 3);

    // A row that can't be a Parquet row fails its own message at once.
    let f = s3.execute(&message("a/b", b"42")).await.unwrap_err();
    assert!(f.error_message.contains("must be a JSON object"), "{f}");
}

/// Unbuffered, a batch holds at most the action's in-flight bound of rows (each row is a
/// message waiting for its ack). Behind a disk buffer the messages are acked once on disk,
/// and the drain hands the action `max_rows` at once: with `max_rows = 1_000_000`, the 20,000
/// messages buffered before `max_age_ms` make one object, with the service's bound at 1,024
/// and no in-flight setting.
#[tokio::test]
async fn behind_a_disk_buffer_batches_are_not_capped_by_the_in_flight_bound() {
    const ROWS: u32 = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let local = format!(
        "[connections.default]\nurl = \"file://{}\"",
        dir.path().join("s3").display()
    );
    let (mut ctx, metrics) = s3_context(&settings(&local), &AwsSettings::default());
    assert_eq!(ctx.max_in_flight, crate::DEFAULT_MAX_IN_FLIGHT);
    ctx.buffers = Some(std::sync::Arc::new(crate::BufferStore::new(
        dir.path().join("buffers"),
    )));
    let ctx = ctx.for_action(crate::ActionBinding {
        rule: "lake_rule".into(),
        slot: "0-s3".into(),
        error_action: None,
    });
    let s3 = action(
        &ctx,
        "bucket = \"b\"\nbatch = { max_rows = 1_000_000, max_age_ms = 3000, key = \"out/${newuuid()}.jsonl\" }\n\
         buffer = { type = \"disk\" }",
    )
    .unwrap();
    // All at once, so that appends share their fsyncs (group commit).
    let messages: Vec<_> = (0..ROWS).map(|n| numbered("a/b", n)).collect();
    for taken in futures_util::future::join_all(messages.iter().map(|m| s3.execute(m))).await {
        taken.unwrap();
    }
    let out = dir.path().join("s3/b/out");
    for _ in 0..500 {
        if metrics.get("success:s3") == u64::from(ROWS) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let objects: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
    assert_eq!(objects.len(), 1, "one object of {ROWS} rows");
    let text = std::fs::read_to_string(objects[0].as_ref().unwrap().path()).unwrap();
    assert_eq!(text.lines().count(), ROWS as usize);
}
