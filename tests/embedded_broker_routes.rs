//! Where rulewire's republishes, and the devices' QoS 0 messages its rules read, go on the
//! embedded broker while subscribers come and go. Both are routed with the broker's routes
//! kept per topic (`src/embedded/forward.rs`, `route_cache.rs`): every subscribe and
//! unsubscribe must still reach the very next message, retained messages are still kept,
//! and shared-subscription groups still share.

mod common;

use std::time::Duration;

use common::brokers::TestBroker;
use common::*;
use rumqttc::QoS;
use serde_json::json;

const T: Duration = Duration::from_secs(10);
const QUIET: Duration = Duration::from_secs(1);

const ECHO: &str = "-- [[action]]
-- type = \"republish\"
-- topic = \"out/${topic(2)}\"
SELECT n FROM 'dev/#'
";

/// Waits until `client`'s earlier SUBSCRIBE / UNSUBSCRIBE packets are done: the broker
/// handles one connection's packets in order, so once a message on a fresh filter arrives,
/// everything sent before that filter's SUBSCRIBE has taken effect.
async fn settled(client: &mut TestClient, publisher: &TestClient, marker: &str) {
    client
        .client
        .subscribe(marker, QoS::AtLeastOnce)
        .await
        .unwrap();
    loop {
        publisher.publish(marker, "{}").await;
        match client.next(Duration::from_millis(200)).await {
            Some((topic, _)) if topic == marker => break,
            Some(other) => panic!("unexpected {other:?} while settling"),
            None => {}
        }
    }
    // Copies of the marker published while the SUBSCRIBE was on its way.
    while let Some((topic, _)) = client.next(Duration::from_millis(200)).await {
        assert_eq!(topic, marker);
    }
}

fn ns(got: Vec<(String, Vec<u8>)>) -> Vec<(String, serde_json::Value)> {
    got.into_iter()
        .map(|(t, p)| (t, serde_json::from_slice(&p).unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn republishes_follow_subscribers_as_they_come_and_go() {
    let broker = TestBroker::embedded();
    let rules = rules_dir(&[("echo", ECHO)]);
    let _rw = Rulewire::start(&broker.config("rw-routes"), rules.path()).await;
    let port = broker.port();
    let device = TestClient::connect(port, "routes-dev", &[]).await;
    let mut a = TestClient::connect(port, "routes-a", &["out/#"]).await;

    device.publish("dev/x", r#"{"n": 1}"#).await;
    assert_eq!(a.next_json(T).await, ("out/x".into(), json!({"n": 1})));

    // A second subscriber gets the next message on the same output topic.
    let mut b = TestClient::connect(port, "routes-b", &["out/x"]).await;
    device.publish("dev/x", r#"{"n": 2}"#).await;
    assert_eq!(a.next_json(T).await, ("out/x".into(), json!({"n": 2})));
    assert_eq!(b.next_json(T).await, ("out/x".into(), json!({"n": 2})));

    // One that unsubscribes does not.
    a.client.unsubscribe("out/#").await.unwrap();
    settled(&mut a, &device, "sync/a").await;
    device.publish("dev/x", r#"{"n": 3}"#).await;
    assert_eq!(b.next_json(T).await, ("out/x".into(), json!({"n": 3})));
    assert_eq!(ns(a.drain(QUIET).await), []);

    // A third one, on another filter that matches: both get the next message.
    let mut c = TestClient::connect(port, "routes-c", &["out/+"]).await;
    device.publish("dev/x", r#"{"n": 4}"#).await;
    assert_eq!(b.next_json(T).await, ("out/x".into(), json!({"n": 4})));
    assert_eq!(c.next_json(T).await, ("out/x".into(), json!({"n": 4})));
    assert_eq!(ns(a.drain(Duration::from_millis(100)).await), []);

    // A second subscription of the same client that matches the topic counts from the next
    // message: an MQTT 3.1.1 client gets one copy per matching subscription from rmqtt.
    c.client.subscribe("out/x", QoS::AtLeastOnce).await.unwrap();
    settled(&mut c, &device, "sync/c").await;
    device.publish("dev/x", r#"{"n": 5}"#).await;
    let copy = ("out/x".to_owned(), json!({"n": 5}));
    assert_eq!(ns(c.drain(QUIET).await), [copy.clone(), copy]);
}

#[tokio::test(flavor = "multi_thread")]
async fn shared_groups_share_republishes_and_see_new_members() {
    let broker = TestBroker::embedded();
    let rules = rules_dir(&[("echo", ECHO)]);
    let _rw = Rulewire::start(&broker.config("rw-routes-share"), rules.path()).await;
    let port = broker.port();
    let device = TestClient::connect(port, "share-dev", &[]).await;
    let mut a = TestClient::connect(port, "share-a", &["$share/g/out/#"]).await;
    for n in 0..5 {
        device.publish("dev/s", format!(r#"{{"n": {n}}}"#)).await;
    }
    assert_eq!(a.drain(QUIET).await.len(), 5, "the one member gets all");

    let mut b = TestClient::connect(port, "share-b", &["$share/g/out/#"]).await;
    for n in 0..20 {
        device.publish("dev/s", format!(r#"{{"n": {n}}}"#)).await;
    }
    let got_a = a.drain(QUIET).await.len();
    let got_b = b.drain(Duration::from_millis(200)).await.len();
    assert_eq!(got_a + got_b, 20, "each republish to exactly one member");
    assert!(
        got_a > 0 && got_b > 0,
        "both members served: {got_a} / {got_b}"
    );
}

/// A device's QoS 0 message on `topic`.
async fn publish_qos0(device: &TestClient, topic: &str, payload: String) {
    device
        .client
        .publish(topic, QoS::AtMostOnce, false, payload)
        .await
        .unwrap();
}

/// Rulewire and its rules' directory.
type Echo = (Rulewire, tempfile::TempDir);

/// Rulewire with the echo rule on the embedded broker `broker`, a device and a subscriber to
/// the rule's output (`out/#`), once the rules are loaded: a message has come out of them
/// (before that, the feed hands messages to rmqtt unrouted). What the rule put out is read.
/// The rules' directory lives as long as the returned `Echo`.
async fn echo_ready(broker: &TestBroker, name: &str) -> (Echo, TestClient, TestClient) {
    let rules = rules_dir(&[("echo", ECHO)]);
    let rw = Rulewire::start(&broker.config(&format!("rw-{name}")), rules.path()).await;
    let device = TestClient::connect(broker.port(), &format!("{name}-dev"), &[]).await;
    let mut out = TestClient::connect(broker.port(), &format!("{name}-out"), &["out/#"]).await;
    loop {
        publish_qos0(&device, "dev/ready", r#"{"n": 0}"#.into()).await;
        if out.next(Duration::from_millis(200)).await.is_some() {
            break;
        }
    }
    out.drain(QUIET).await;
    ((rw, rules), device, out)
}

/// The rules' feed forwards a device's QoS 0 messages that its rules read itself (not
/// rmqtt): they still reach exactly the subscribers of the moment, in order, also after
/// nobody subscribed for a while, while the rules get them too.
#[tokio::test(flavor = "multi_thread")]
async fn messages_rules_read_follow_subscribers_as_they_come_and_go() {
    let broker = TestBroker::embedded();
    let (_rw, device, mut out) = echo_ready(&broker, "qos0").await;
    let port = broker.port();
    let mut a = TestClient::connect(port, "qos0-a", &["dev/#"]).await;

    for n in 1..=50 {
        publish_qos0(&device, "dev/x", format!(r#"{{"n": {n}}}"#)).await;
    }
    let expected: Vec<_> = (1..=50)
        .map(|n| ("dev/x".to_owned(), json!({ "n": n })))
        .collect();
    assert_eq!(ns(a.drain(QUIET).await), expected, "all, in order");
    let republished: Vec<_> = (1..=50)
        .map(|n| ("out/x".to_owned(), json!({ "n": n })))
        .collect();
    assert_eq!(ns(out.drain(Duration::from_millis(200)).await), republished);

    // A second subscriber gets the next message.
    let mut b = TestClient::connect(port, "qos0-b", &["dev/x"]).await;
    publish_qos0(&device, "dev/x", r#"{"n": 51}"#.into()).await;
    assert_eq!(a.next_json(T).await, ("dev/x".into(), json!({"n": 51})));
    assert_eq!(b.next_json(T).await, ("dev/x".into(), json!({"n": 51})));

    // One that unsubscribes does not; with nobody left, the rules still get it.
    a.client.unsubscribe("dev/#").await.unwrap();
    settled(&mut a, &device, "sync/qos0-a").await;
    b.client.unsubscribe("dev/x").await.unwrap();
    settled(&mut b, &device, "sync/qos0-b").await;
    out.drain(Duration::from_millis(100)).await;
    publish_qos0(&device, "dev/x", r#"{"n": 52}"#.into()).await;
    assert_eq!(out.next_json(T).await, ("out/x".into(), json!({"n": 52})));
    assert_eq!(ns(a.drain(QUIET).await), []);
    assert_eq!(ns(b.drain(Duration::from_millis(100)).await), []);

    // A subscriber after a time without any is served from the next message.
    b.client.subscribe("dev/+", QoS::AtLeastOnce).await.unwrap();
    settled(&mut b, &device, "sync/qos0-b2").await;
    publish_qos0(&device, "dev/x", r#"{"n": 53}"#.into()).await;
    assert_eq!(b.next_json(T).await, ("dev/x".into(), json!({"n": 53})));
}

/// The same messages retained are kept for later subscribers, and shared groups share them.
#[tokio::test(flavor = "multi_thread")]
async fn messages_rules_read_are_retained_and_shared() {
    let broker = TestBroker::embedded();
    let (_rw, device, mut out) = echo_ready(&broker, "qos0s").await;
    let port = broker.port();
    let mut a = TestClient::connect(port, "qos0s-a", &["$share/g/dev/#"]).await;
    let mut b = TestClient::connect(port, "qos0s-b", &["$share/g/dev/#"]).await;
    for n in 0..20 {
        publish_qos0(&device, "dev/s", format!(r#"{{"n": {n}}}"#)).await;
    }
    let got_a = a.drain(QUIET).await.len();
    let got_b = b.drain(Duration::from_millis(200)).await.len();
    assert_eq!(got_a + got_b, 20, "each message to exactly one member");
    assert!(
        got_a > 0 && got_b > 0,
        "both members served: {got_a} / {got_b}"
    );

    out.drain(Duration::from_millis(200)).await;
    device
        .client
        .publish("dev/r", QoS::AtMostOnce, true, r#"{"n": 7}"#)
        .await
        .unwrap();
    let read = ("out/r".into(), json!({"n": 7}));
    assert_eq!(out.next_json(T).await, read, "the rules read it");
    // The rules had it before the broker stored it: wait until the device's connection has
    // handled a later packet.
    settled(&mut out, &device, "sync/qos0s-retained").await;
    let mut late = TestClient::connect(port, "qos0s-late", &["dev/r"]).await;
    assert_eq!(late.next_json(T).await, ("dev/r".into(), json!({"n": 7})));
}

/// AWS IoT Core acknowledges a QoS 1 message with Success (0x00) whether or not anyone
/// subscribes to its topic, Basic Ingest included: its MQTT 5 reason codes do not include
/// NoMatchingSubscribers (0x10). The embedded broker answers the same, also for the messages
/// the rules' feed takes without rmqtt routing them.
#[tokio::test(flavor = "multi_thread")]
async fn mqtt5_publishers_get_success_as_on_aws_whoever_subscribes() {
    let broker = TestBroker::embedded();
    let (_rw, _device, mut out) = echo_ready(&broker, "puback").await;
    let topics = [
        "$aws/rules/echo/dev/ingested",
        "dev/unsubscribed",
        "nobody/reads",
    ];
    let reasons = mqtt5_puback_reasons(broker.port(), "puback-v5", &topics).await;
    assert_eq!(reasons, ["Success", "Success", "Success"], "for {topics:?}");
    let mut republished = ns(out.drain(QUIET).await);
    republished.sort_by(|a, b| a.0.cmp(&b.0));
    let n = json!({"n": 1});
    assert_eq!(
        republished,
        [
            ("out/ingested".into(), n.clone()),
            ("out/unsubscribed".into(), n)
        ],
        "the rules read both"
    );
}
