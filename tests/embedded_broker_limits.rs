//! AWS IoT Core's limits on the embedded broker (`engine/src/topic_limits.rs`): topics and
//! filters of at most 256 bytes and 7 slashes (the Basic Ingest prefix not counted), client
//! ids of at most 128 bytes; and Basic Ingest topics, which clients may publish to but not
//! subscribe to. What is over them is refused as AWS refuses it, and the rules never see it;
//! what is within them works.

mod common;

use std::time::Duration;

use common::brokers::TestBroker;
use common::*;
use rumqttc::{ConnectReturnCode, Event, LastWill, MqttOptions, Packet, QoS, SubscribeReasonCode};
use serde_json::json;

const T: Duration = Duration::from_secs(10);
const QUIET: Duration = Duration::from_secs(1);

/// Republishes every message on `dev/#` to `out`, with the topic it came on.
const ECHO: &str = "-- [[action]]
-- type = \"republish\"
-- topic = \"out\"
SELECT n, topic() AS t FROM 'dev/#'
";

/// An embedded broker, and rulewire with the echo rule on it (as client `name`), with the
/// rules' directory.
async fn echo_on_embedded_broker(name: &str) -> (TestBroker, (Rulewire, tempfile::TempDir)) {
    let broker = TestBroker::embedded();
    let rules = rules_dir(&[("echo", ECHO)]);
    let rw = Rulewire::start(&broker.config(name), rules.path()).await;
    (broker, (rw, rules))
}

/// Nine levels: one slash over AWS's limit.
const NINE_LEVELS: &str = "dev/b/c/d/e/f/g/h/i";

#[tokio::test(flavor = "multi_thread")]
async fn topics_over_aws_limits_are_refused_and_never_reach_the_rules() {
    let (broker, _rw) = echo_on_embedded_broker("rw-limits").await;
    let port = broker.port();
    let mut out = TestClient::connect(port, "limits-out", &["out"]).await;

    let longest = format!("dev/{}", "x".repeat(252));
    let too_long = format!("dev/{}", "x".repeat(253));
    let ingested = format!("dev/{}", "y".repeat(252));
    let ingest = format!("$aws/rules/echo/{ingested}");
    let eight_levels = "dev/b/c/d/e/f/g/h";
    let topics = [
        longest.as_str(),
        too_long.as_str(),
        eight_levels,
        NINE_LEVELS,
        ingest.as_str(),
    ];
    let reasons = mqtt5_puback_reasons(port, "limits-v5", &topics).await;
    assert_eq!(
        reasons,
        [
            "Success",
            "TopicNameInvalid",
            "Success",
            "TopicNameInvalid",
            "Success"
        ]
    );
    // The connection stayed up through the refusals (the later PUBACKs came), and only the
    // three within the limits reached the rules.
    let mut read: Vec<String> = out
        .drain(QUIET)
        .await
        .into_iter()
        .map(|(_, payload)| {
            let json: serde_json::Value = serde_json::from_slice(&payload).unwrap();
            assert_eq!(json["n"], json!(1));
            json["t"].as_str().unwrap().to_owned()
        })
        .collect();
    read.sort();
    let mut expected = vec![eight_levels.to_owned(), longest, ingested];
    expected.sort();
    assert_eq!(read, expected);
}

/// MQTT 3.1.1 has no PUBACK code to refuse with: the device is disconnected, as for a publish
/// its policy denies.
#[tokio::test(flavor = "multi_thread")]
async fn an_mqtt311_device_over_the_limits_is_disconnected() {
    let (broker, _rw) = echo_on_embedded_broker("rw-limits-311").await;
    let mut opts = MqttOptions::new("limits-311", "127.0.0.1", broker.port());
    opts.set_keep_alive(Duration::from_secs(10));
    let (device, mut events) = rumqttc::AsyncClient::new(opts, 10);
    loop {
        let event = tokio::time::timeout(T, events.poll())
            .await
            .expect("CONNACK");
        if let Ok(Event::Incoming(Packet::ConnAck(_))) = event {
            break;
        }
    }
    device
        .publish(NINE_LEVELS, QoS::AtLeastOnce, false, "{}")
        .await
        .unwrap();
    let ended = tokio::time::timeout(T, async {
        loop {
            match events.poll().await {
                Err(e) => return e.to_string(),
                Ok(Event::Incoming(Packet::PubAck(_))) => panic!("acknowledged"),
                Ok(_) => {}
            }
        }
    })
    .await
    .expect("disconnected within 10 s");
    assert!(!ended.is_empty());
}

/// The SUBACK return codes for `filters`, subscribed one SUBSCRIBE each by a new MQTT 3.1.1
/// client, in order.
async fn suback_codes(port: u16, id: &str, filters: &[&str]) -> Vec<SubscribeReasonCode> {
    let mut opts = MqttOptions::new(id, "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(10));
    let (client, mut events) = rumqttc::AsyncClient::new(opts, 10);
    let mut codes = Vec::new();
    for filter in filters {
        client.subscribe(*filter, QoS::AtLeastOnce).await.unwrap();
        let ack = tokio::time::timeout(T, async {
            loop {
                if let Event::Incoming(Packet::SubAck(ack)) = events.poll().await.unwrap() {
                    return ack;
                }
            }
        })
        .await
        .expect("a SUBACK");
        codes.extend(ack.return_codes);
    }
    codes
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_and_client_ids_over_aws_limits_are_refused() {
    let (broker, rw) = echo_on_embedded_broker("rw-limits-sub").await;
    let port = broker.port();

    // A filter over the limits is refused; one within them, shared or not, is granted. Basic
    // Ingest filters are refused too: AWS lets clients publish to those topics, not subscribe.
    let filters = [
        "a/b/c/d/e/f/g/h/#",
        "a/b/c/d/e/f/g/#",
        "$share/g/a/b/c/d/e/f/g/#",
        "$aws/rules/echo/#",
        "$share/g/$aws/rules/#",
    ];
    let granted = SubscribeReasonCode::Success(QoS::AtLeastOnce);
    let failed = SubscribeReasonCode::Failure;
    assert_eq!(
        suback_codes(port, "limits-sub", &filters).await,
        [failed, granted, granted, failed, failed],
        "for {filters:?}"
    );
    let logs = rw.0.logs();
    assert!(
        logs.contains("a/b/c/d/e/f/g/h/#") && logs.contains("over AWS IoT Core's limit of 7"),
        "the refusal is logged: {logs}"
    );

    // Client ids: 128 bytes connect, 129 are refused.
    TestClient::connect(port, &"c".repeat(128), &[]).await;
    let refused = connect_refused(MqttOptions::new("c".repeat(129), "127.0.0.1", port)).await;
    assert_eq!(refused, ConnectReturnCode::BadClientId);

    // A last will over the limits is refused with its CONNECT (the broker publishes wills
    // without the publish check).
    let mut opts = MqttOptions::new("limits-will", "127.0.0.1", port);
    opts.set_last_will(LastWill::new(NINE_LEVELS, "{}", QoS::AtMostOnce, false));
    assert_eq!(
        connect_refused(opts).await,
        ConnectReturnCode::NotAuthorized
    );
}
