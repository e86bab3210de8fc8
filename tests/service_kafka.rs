//! The kafka action end to end: rule files -> rulewire (a subprocess) -> Mosquitto -> tansu,
//! read back with rdkafka's consumer (`rulewire_actions::testing`). A missing tansu binary
//! FAILS these tests (scripts/test.sh installs it and exports RULEWIRE_TANSU).

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use rulewire_actions::testing::{Headers, Message, Moto, OwnedMessage, Tansu, consume, value};

const T: Duration = Duration::from_secs(30);

const KAFKA_RULE: &str = r#"-- [[action]]
-- type = "kafka"
-- connection = "events"
-- topic = "plant"
-- key = "${topic(2)}"
-- headers = [{ key = "source", value = "${topic()}" }]
--
-- [error_action]
-- type = "republish"
-- topic = "errors/kafka"
-- qos = 1
SELECT seq, topic(2) AS device FROM 'plant/+/telemetry'
"#;

fn config(broker: &Mosquitto, client_id: &str, kafka: &str) -> String {
    format!(
        "[broker]\nurl = \"{}\"\nclient_id = \"{client_id}\"\n[batch]\nmax_delay_ms = 2\n{kafka}",
        broker.url()
    )
}

fn seq(m: &OwnedMessage) -> u64 {
    let v: serde_json::Value = serde_json::from_str(&value(m)).unwrap();
    v["seq"].as_u64().unwrap()
}

const SUCCESS: &str = "rulewire_action_success_total{action=\"kafka\",rule=\"to_kafka\"}";

/// 500 QoS 1 messages with sequence numbers through a rule file. tansu keeps its data in
/// moto (S3 storage), so its restart loses nothing on the broker's side. It is killed
/// (SIGKILL) once 200 messages are delivered, while messages keep coming, and restarted 3 s
/// later. Proves end to end: while Kafka is down no message counts as delivered (the MQTT ack
/// waits for the delivery report), and after the restart every sequence number is in Kafka
/// with the right key; duplicates are allowed and counted.
#[tokio::test(flavor = "multi_thread")]
async fn rule_file_to_kafka_survives_a_broker_kill() {
    let broker = Mosquitto::start();
    let moto = Moto::start().await;
    let mut tansu = Tansu::start_on_s3(&moto).await;
    tansu.create_topic("plant", 2);
    let rules = rules_dir(&[("to_kafka", KAFKA_RULE)]);
    // Idempotence off: see broker_killed_mid_stream_loses_nothing in the actions crate (tansu
    // can acknowledge a retried idempotent batch after a SIGKILL without serving it).
    let kafka = tansu.connection_toml("events", &[("enable.idempotence", "false")]);
    let rw = Rulewire::start(&config(&broker, "rw-kafka", &kafka), rules.path()).await;
    let mut errors = TestClient::connect(broker.port, "kafka-errors", &["errors/#"]).await;
    let producer = TestClient::connect(broker.port, "kafka-producer", &[]).await;

    let mut killed_at = None;
    for s in 0..500u64 {
        let payload = format!("{{\"seq\": {s}}}");
        producer
            .publish(&format!("plant/dev{}/telemetry", s % 5), payload)
            .await;
        if killed_at.is_none() && rw.metric(SUCCESS).await >= 200.0 {
            tansu.kill();
            killed_at = Some(s);
        }
        if s % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await; // a steady stream, not one burst
        }
    }
    if killed_at.is_none() {
        wait_until("200 kafka deliveries", T, async || {
            rw.metric(SUCCESS).await >= 200.0
        })
        .await;
        tansu.kill();
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // reports already on their way
    let during = rw.metric(SUCCESS).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        rw.metric(SUCCESS).await,
        during,
        "nothing delivered while Kafka is down"
    );
    assert!(during < 500.0, "the kill came mid-stream");
    tansu.restart().await;
    wait_until(
        "all 500 kafka deliveries",
        Duration::from_secs(90),
        async || rw.metric(SUCCESS).await >= 500.0,
    )
    .await;

    let records = consume(
        &tansu.bootstrap(),
        "plant",
        2,
        usize::MAX,
        Duration::from_secs(10),
    )
    .await;
    let all: Vec<u64> = records.iter().map(seq).collect();
    let unique: BTreeSet<u64> = all.iter().copied().collect();
    let missing: Vec<u64> = (0..500).filter(|s| !unique.contains(s)).collect();
    assert!(missing.is_empty(), "lost: {missing:?}");
    for m in &records {
        let key = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&value(m)).unwrap();
        assert_eq!(v["device"], key.as_str(), "key = topic(2)");
        assert_eq!(
            v["seq"].as_u64().unwrap() % 5,
            key[3..].parse::<u64>().unwrap()
        );
        let source = m.headers().and_then(|h| h.iter().next()).unwrap();
        assert_eq!(source.key, "source");
        assert_eq!(
            source.value.unwrap(),
            format!("plant/{key}/telemetry").as_bytes()
        );
    }
    eprintln!(
        "killed after publishing {killed_at:?} ({during} delivered); {} records, {} duplicates",
        all.len(),
        all.len() - unique.len()
    );
    assert!(
        errors.next(Duration::from_millis(200)).await.is_none(),
        "no error action"
    );
}

/// A topic that does not exist: librdkafka gives up after `message.timeout.ms`, the rule's
/// error action gets AWS's error payload naming the KafkaAction, and the metrics count it.
#[tokio::test(flavor = "multi_thread")]
async fn undeliverable_records_end_in_the_error_action() {
    let broker = Mosquitto::start();
    let tansu = Tansu::start().await;
    let rules = rules_dir(&[("to_kafka", KAFKA_RULE)]);
    let kafka = tansu.connection_toml(
        "events",
        &[
            ("message.timeout.ms", "2000"),
            ("topic.metadata.propagation.max.ms", "500"),
        ],
    );
    let rw = Rulewire::start(&config(&broker, "rw-kafka-err", &kafka), rules.path()).await;
    let mut errors = TestClient::connect(broker.port, "kafka-err-sub", &["errors/#"]).await;
    errors
        .publish("plant/dev1/telemetry", r#"{"seq": 1}"#)
        .await;
    let (topic, json) = errors.next_json(T).await;
    assert_eq!(topic, "errors/kafka");
    assert_eq!(json["ruleName"], "to_kafka");
    assert_eq!(json["failures"][0]["failedAction"], "KafkaAction");
    assert_eq!(json["failures"][0]["failedResource"], "plant");
    wait_until("failure metrics", T, async || {
        rw.metric("rulewire_action_failure_total{action=\"kafka\",rule=\"to_kafka\"}")
            .await
            == 1.0
            && rw
                .metric(
                    "rulewire_error_action_success_total{action=\"republish\",rule=\"to_kafka\"}",
                )
                .await
                == 1.0
    })
    .await;
    assert_eq!(rw.metric(SUCCESS).await, 0.0);
}
