//! Records as they arrive in tansu: topic, key, partition and headers rendered from the
//! original message, value = the rule's output; plus build-time errors.

use std::{collections::BTreeMap, time::Duration};

use rdkafka::{
    Message,
    message::{Headers, OwnedMessage},
};

use super::{Tansu, action, consume, kafka_context, settings, value};
use crate::{FiredMessage, test_util::fired};

/// Message `seq` from device `dev` on `plant/<dev>/data`.
fn numbered(dev: &str, seq: u32) -> FiredMessage {
    fired(
        "plant_rule",
        &format!("plant/{dev}/data"),
        format!(r#"{{"dev":"{dev}","seq":{seq}}}"#).as_bytes(),
    )
}

fn headers(m: &OwnedMessage) -> Vec<(String, String)> {
    m.headers()
        .map(|h| {
            h.iter()
                .map(|h| {
                    let v = String::from_utf8(h.value.unwrap_or_default().to_vec()).unwrap();
                    (h.key.to_owned(), v)
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn records_arrive_with_key_headers_content_and_per_key_order() {
    let tansu = Tansu::start().await;
    tansu.create_topic("plant", 3);
    let (ctx, metrics) = kafka_context(&settings(&tansu, &[]));
    let kafka = action(
        &ctx,
        r#"topic = "${topic(1)}"
key = "${topic(2)}"
headers = [{ key = "source", value = "${topic()}" }, { key = "client", value = "${clientid()}" }]"#,
    )
    .unwrap();
    for seq in 0..10 {
        for dev in ["a", "b", "c", "d"] {
            kafka.execute(&numbered(dev, seq)).await.unwrap();
        }
    }
    assert_eq!(metrics.get("success:kafka"), 40);

    let records = consume(&tansu.bootstrap(), "plant", 3, 40, Duration::from_secs(20)).await;
    assert_eq!(records.len(), 40);
    let mut by_key: BTreeMap<String, Vec<(i32, i64, u64)>> = BTreeMap::new();
    for r in &records {
        let key = String::from_utf8(r.key().unwrap().to_vec()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&value(r)).unwrap();
        assert_eq!(v["dev"], key.as_str(), "key of {v}");
        assert_eq!(
            headers(r),
            [
                ("source".to_owned(), format!("plant/{key}/data")),
                ("client".to_owned(), "dev-7".to_owned())
            ]
        );
        let ts = r.timestamp().to_millis();
        assert_eq!(
            ts,
            Some(1_700_000_000_000),
            "timestamp = the message's arrival"
        );
        by_key.entry(key).or_default().push((
            r.partition(),
            r.offset(),
            v["seq"].as_u64().unwrap(),
        ));
    }
    for (key, mut recs) in by_key {
        let partitions: std::collections::BTreeSet<i32> = recs.iter().map(|r| r.0).collect();
        assert_eq!(partitions.len(), 1, "key {key} in one partition: {recs:?}");
        recs.sort_by_key(|r| r.1);
        let seqs: Vec<u64> = recs.iter().map(|r| r.2).collect();
        assert_eq!(
            seqs,
            (0..10).collect::<Vec<u64>>(),
            "key {key} in offset order"
        );
    }
}

#[tokio::test]
async fn fixed_and_templated_partitions_compression_and_no_key() {
    let tansu = Tansu::start().await;
    tansu.create_topic("parts", 4);
    let (ctx, _) = kafka_context(&settings(&tansu, &[]));
    let fixed = action(
        &ctx,
        "topic = \"parts\"\npartition = 2\ncompression = \"lz4\"",
    )
    .unwrap();
    fixed
        .execute(&fired("r", "plant/1/x", b"{\"n\":1}"))
        .await
        .unwrap();
    // The partition from the topic's 2nd level; an empty key template sends no key.
    let templated = action(
        &ctx,
        "topic = \"parts\"\npartition = \"${topic(2)}\"\nkey = \"\"",
    )
    .unwrap();
    templated
        .execute(&fired("r", "plant/3/x", b"{\"n\":3}"))
        .await
        .unwrap();
    let e = templated
        .execute(&fired("r", "plant/a/x", b"{}"))
        .await
        .unwrap_err();
    assert!(e.error_message.contains("not a partition number"), "{e:?}");
    assert_eq!(
        (e.failed_action.as_str(), e.failed_resource.as_str()),
        ("KafkaAction", "parts")
    );

    let records = consume(&tansu.bootstrap(), "parts", 4, 2, Duration::from_secs(20)).await;
    let mut got: Vec<(i32, String, bool)> = records
        .iter()
        .map(|r| (r.partition(), value(r), r.key().is_none()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (2, "{\"n\":1}".to_owned(), true),
            (3, "{\"n\":3}".to_owned(), true)
        ],
        "an empty key template sends no key"
    );
}

#[tokio::test]
async fn build_errors_name_the_field() {
    let tansu = Tansu::start().await;
    let (ctx, _) = kafka_context(&settings(&tansu, &[]));
    let err = |table: &str| {
        action(&ctx, table)
            .err()
            .expect("should not build")
            .to_string()
    };
    assert!(
        err("topic = \"t\"\nretry = { attempts = 5 }").contains("field `retry`: not supported")
    );
    assert!(err("topic = \"t\"\ntimeout_ms = 10").contains("message.timeout.ms"));
    assert!(err("topic = \"\"").contains("field `topic`"));
    assert!(err("topic = \"${x(\"").starts_with("field `topic`: bad template"));
    assert!(err("topic = \"t\"\nkey = \"${\"").starts_with("field `key`: bad template"));
    assert!(err("topic = \"t\"\npartition = -1").contains("field `partition`"));
    assert!(
        err("topic = \"t\"\nheaders = [{ key = \"${\", value = \"v\" }]")
            .starts_with("field `headers[0].key`: bad template")
    );
    let cfg = crate::test_util::table("type = \"kafka\"\nconnection = \"nope\"\ntopic = \"t\"");
    let e = crate::test_util::build_action(&cfg, Default::default(), &ctx)
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        e,
        "field `connection`: no [kafka.connections.nope] in rulewire.toml (configured: tansu)"
    );
}
