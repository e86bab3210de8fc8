//! Hostile and broken devices against a running rulewire: huge, empty, non-UTF-8, deeply
//! nested and key-bloated payloads, a 200-level topic and MQTT 5 properties of the largest
//! size a packet can carry, published between normal messages. Every normal message must be
//! processed, in order, with no reconnect, and the service must stay ready; oversized messages
//! are counted and acknowledged (never redelivered), on MQTT 3.1.1 and 5, through Mosquitto
//! and through the embedded broker.

mod common;

use std::time::Duration;

use common::{Mosquitto, Rulewire, TestClient, free_port, rules_dir};
use rumqttc::v5::mqttbytes::v5::PublishProperties;

const RULE: &str = "\
-- [[action]]
-- type = \"republish\"
-- topic = \"out/seq\"
-- qos = 1
SELECT seq FROM 'dev/#' WHERE seq >= 0";

/// A publisher that may send packets up to 32 MiB (MQTT 3.1.1).
async fn big_publisher(port: u16) -> rumqttc::AsyncClient {
    let mut opts = rumqttc::MqttOptions::new("hostile-v4", "127.0.0.1", port);
    opts.set_max_packet_size(32 << 20, 32 << 20);
    let (client, mut eventloop) = rumqttc::AsyncClient::new(opts, 100);
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    client
}

/// An MQTT 5 publisher, for properties.
async fn v5_publisher(port: u16) -> rumqttc::v5::AsyncClient {
    let mut opts = rumqttc::v5::MqttOptions::new("hostile-v5", "127.0.0.1", port);
    opts.set_max_packet_size(Some(32 << 20));
    let (client, mut eventloop) = rumqttc::v5::AsyncClient::new(opts, 100);
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    client
}

/// The hostile payloads, each on a topic the rule reads.
fn hostile_payloads() -> Vec<(&'static str, String, Vec<u8>)> {
    let deep_arrays = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_objects = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    let many_keys = format!(
        "{{{}}}",
        (0..20_000)
            .map(|i| format!("\"k{i}\":{i}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let long_topic = format!("dev/{}", vec!["level"; 199].join("/"));
    vec![
        ("empty", "dev/a".into(), Vec::new()),
        ("4 MiB", "dev/a".into(), vec![b'x'; 4 << 20]),
        ("16 MiB", "dev/a".into(), vec![b'{'; 16 << 20]),
        (
            "invalid UTF-8",
            "dev/a".into(),
            b"\xff\xfe{\"seq\": \xc0".to_vec(),
        ),
        ("deep arrays", "dev/a".into(), deep_arrays.into_bytes()),
        ("deep objects", "dev/a".into(), deep_objects.into_bytes()),
        ("20,000 keys", "dev/a".into(), many_keys.into_bytes()),
        ("200 levels", long_topic, b"{\"x\":1}".to_vec()),
    ]
}

/// Publishes seq 0, hostile 1, seq 1, hostile 2, ... and returns the last seq.
async fn publish_between_normal_messages(port: u16) -> usize {
    let publisher = big_publisher(port).await;
    let v5 = v5_publisher(port).await;
    let qos = rumqttc::QoS::AtLeastOnce;
    let normal = |seq: usize| format!("{{\"seq\": {seq}}}").into_bytes();
    let mut seq = 0;
    publisher
        .publish("dev/a", qos, false, normal(seq))
        .await
        .unwrap();
    for (_, topic, payload) in hostile_payloads() {
        publisher.publish(topic, qos, false, payload).await.unwrap();
        seq += 1;
        publisher
            .publish("dev/a", qos, false, normal(seq))
            .await
            .unwrap();
    }
    // MQTT 5 properties as large as MQTT strings go (65,535 bytes), about 800 KiB of them,
    // with a small payload.
    let mut properties = PublishProperties {
        user_properties: vec![("big".into(), "v".repeat(65_535))],
        content_type: Some("c".repeat(65_535)),
        response_topic: Some("r".repeat(65_535)),
        correlation_data: Some(vec![7u8; 65_535].into()),
        ..Default::default()
    };
    for i in 0..16 {
        properties
            .user_properties
            .push((format!("k{i}"), "p".repeat(32 * 1024)));
    }
    let v5qos = rumqttc::v5::mqttbytes::QoS::AtLeastOnce;
    v5.publish_with_properties("dev/a", v5qos, false, b"{\"p\":1}".to_vec(), properties)
        .await
        .unwrap();
    seq += 1;
    publisher
        .publish("dev/a", qos, false, normal(seq))
        .await
        .unwrap();
    seq
}

/// Collects `out/seq` until `last` arrives (or 60 s pass) and checks 0..=last in order.
async fn expect_every_normal_message_in_order(out: &mut TestClient, last: usize) {
    let mut got = Vec::new();
    while got.last() != Some(&(last as i64)) {
        let Some((_, payload)) = out.next(Duration::from_secs(60)).await else {
            panic!("stalled: no output for 60 s after {got:?}");
        };
        let json: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        got.push(json["seq"].as_i64().unwrap());
    }
    let want: Vec<i64> = (0..=last as i64).collect();
    assert_eq!(got, want, "every normal message, in order");
}

async fn hostile_devices_do_not_stop_rulewire(protocol: &str) {
    let broker = Mosquitto::start();
    let rules = rules_dir(&[("seq", RULE)]);
    let config = format!(
        "[broker]\nurl = \"{}\"\nclient_id = \"rw-hostile-{protocol}\"\nprotocol = \"{protocol}\"\n\
         [limits]\nmax_payload_bytes = 1048576\n",
        broker.url()
    );
    let rw = Rulewire::start(&config, rules.path()).await;
    let mut out = TestClient::connect(broker.port, "hostile-out", &["out/#"]).await;

    let last = publish_between_normal_messages(broker.port).await;
    expect_every_normal_message_in_order(&mut out, last).await;

    let (code, body) = rw.get("/readyz").await.unwrap();
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        rw.metric("rulewire_broker_reconnects_total").await,
        0.0,
        "{}",
        rw.logs()
    );
    // 4 MiB and 16 MiB; everything else (with the limit at 1 MiB, so that 20,000 keys and
    // 800 KiB of MQTT 5 properties reach the rules) is processed.
    assert_eq!(
        rw.metric("rulewire_payload_rejected_total{reason=\"too_large\"}")
            .await,
        2.0,
        "{}",
        rw.logs()
    );
    assert!(rw.logs().contains("limits.max_payload_bytes"));
    // Acknowledged: after a clean stop (which writes every queued ack), nothing comes back
    // on the same persistent session, the rejected messages included.
    let mut rw = rw;
    assert!(rw.sigterm(Duration::from_secs(15)).success());
    let rw = Rulewire::start(&config, rules.path()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        rw.metric("rulewire_messages_received_total").await,
        0.0,
        "{}",
        rw.logs()
    );
    assert!(out.drain(Duration::from_millis(500)).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_devices_do_not_stop_rulewire_mqtt311() {
    hostile_devices_do_not_stop_rulewire("v4").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_devices_do_not_stop_rulewire_mqtt5() {
    hostile_devices_do_not_stop_rulewire("v5").await;
}

/// The embedded broker takes packets up to `max_payload_bytes` + 1 MiB; a message between
/// rulewire's limit and the broker's reaches rulewire, which rejects and acknowledges it.
/// rulewire reads over MQTT 3.1.1 or 5 (one listener serves both).
async fn oversized_messages_through_the_embedded_broker(protocol: &str) {
    let port = free_port();
    let rules = rules_dir(&[("seq", RULE)]);
    let config = format!(
        "[broker]\nprotocol = \"{protocol}\"\n\
         [embedded_broker]\nlisten = \"127.0.0.1:{port}\"\n\
         [limits]\nmax_payload_bytes = 1000\n"
    );
    let rw = Rulewire::start(&config, rules.path()).await;
    let mut out = TestClient::connect(port, "embedded-out", &["out/#"]).await;
    let publisher = big_publisher(port).await;
    let qos = rumqttc::QoS::AtLeastOnce;
    for seq in 0..4 {
        let normal = format!("{{\"seq\": {seq}}}");
        publisher
            .publish("dev/a", qos, false, normal)
            .await
            .unwrap();
        // Over rulewire's limit (1000 bytes), and over its frame allowance (1000 + 128 KiB)
        // for the odd ones, under the broker's (1000 + 1 MiB).
        let size = if seq % 2 == 0 { 5_000 } else { 900_000 };
        publisher
            .publish("dev/a", qos, false, vec![b'x'; size])
            .await
            .unwrap();
    }
    publisher
        .publish("dev/a", qos, false, "{\"seq\": 4}")
        .await
        .unwrap();
    expect_every_normal_message_in_order(&mut out, 4).await;
    assert_eq!(
        rw.metric("rulewire_payload_rejected_total{reason=\"too_large\"}")
            .await,
        4.0
    );
    assert_eq!(rw.metric("rulewire_broker_reconnects_total").await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_messages_through_the_embedded_broker_mqtt311() {
    oversized_messages_through_the_embedded_broker("v4").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_messages_through_the_embedded_broker_mqtt5() {
    oversized_messages_through_the_embedded_broker("v5").await;
}

/// A reconnect loop of any cause shows: the count in `/metrics`, the last error in `/readyz`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_loop_is_visible_in_metrics_and_readyz() {
    let port = free_port();
    let rules = rules_dir(&[("seq", RULE)]);
    let config = format!(
        "[broker]\nurl = \"mqtt://127.0.0.1:{port}\"\nclient_id = \"rw-loop\"\nreconnect_min_ms = 50\nreconnect_max_ms = 200\n"
    );
    let rw = Rulewire::spawn(&config, rules.path());
    common::wait_until("three reconnects", Duration::from_secs(20), async || {
        rw.metric("rulewire_broker_reconnects_total").await >= 3.0
    })
    .await;
    let (code, body) = rw.get("/readyz").await.unwrap();
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains("last_broker_error: cannot reach 127.0.0.1"),
        "{body}"
    );
    // The broker comes up: ready again, on its own.
    let _broker = Mosquitto::start_with("", Some(port));
    rw.wait_ready().await;
}
