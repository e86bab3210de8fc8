//! Where rulewire's republishes go on the embedded broker while subscribers come and go. The
//! in-process publisher keeps the broker's routes per output topic
//! (`src/embedded/route_cache.rs`): every subscribe and unsubscribe must still reach the
//! very next message, and shared-subscription groups still share.

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
