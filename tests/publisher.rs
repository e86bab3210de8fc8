//! The republish connection (`rulewire::publisher`) against a real Mosquitto, over MQTT 3.1.1
//! and 5: QoS 0 and 1 publishes arrive intact; a publish in flight when the broker dies fails
//! clearly instead of hanging; one made while the broker is down waits for the reconnect and
//! completes once the restarted broker acknowledges it; the connection comes back by itself.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use rulewire::config::{BrokerConfig, Protocol};
use rulewire::publisher::Publisher;
use rulewire::stop::stop_flag;
use rulewire_actions::MqttPublisher;

const T: Duration = Duration::from_secs(10);

async fn publish(p: &Arc<Publisher>, topic: &str, qos: u8, payload: &str) -> Result<(), String> {
    p.publish(topic.into(), qos, false, payload.into(), Default::default())
        .await
}

#[tokio::test]
async fn publishes_arrive_and_survive_a_broker_restart() {
    for protocol in [Protocol::V4, Protocol::V5] {
        let broker = Mosquitto::start();
        let port = broker.port;
        let config = BrokerConfig {
            protocol,
            keep_alive_secs: 5,
            ..BrokerConfig::default()
        };
        let (stop, flag) = stop_flag();
        let publisher =
            Publisher::start(&config, &broker.url(), "rw-pub-test".into(), 1 << 20, flag).unwrap();
        let mut sub = TestClient::connect(port, "pub-test-sub", &["out/#"]).await;

        // A burst of mixed QoS: all arrive, payloads intact (they go out in shared writes).
        for i in 0..200 {
            publish(
                &publisher,
                &format!("out/{i}"),
                (i % 2) as u8,
                &i.to_string(),
            )
            .await
            .unwrap();
        }
        let got: BTreeSet<u32> = sub
            .drain(Duration::from_millis(500))
            .await
            .into_iter()
            .map(|(topic, payload)| {
                let n: u32 = String::from_utf8(payload).unwrap().parse().unwrap();
                assert_eq!(topic, format!("out/{n}"));
                n
            })
            .collect();
        assert_eq!(got, (0..200).collect(), "{protocol:?}");

        // Broker killed: a QoS 1 publish sent as it dies resolves at once, either acked or
        // failed with a clear error that the action retries; it never hangs.
        drop(broker);
        match tokio::time::timeout(T, publish(&publisher, "out/at-kill", 1, "x")).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => assert!(e.contains("connection to the broker was lost"), "{e}"),
            Err(_) => panic!("a publish at the broker's death hung"),
        }
        // Once the loss is noticed, a QoS 1 publish waits while the task reconnects...
        tokio::time::sleep(Duration::from_millis(300)).await;
        let during = tokio::spawn({
            let publisher = publisher.clone();
            async move { publish(&publisher, "out/during", 1, "during").await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!during.is_finished(), "no broker, so no PUBACK yet");

        // ...and completes once the broker is back on the same port and acknowledges it.
        let _broker = Mosquitto::start_with("", Some(port));
        let result = tokio::time::timeout(T, during)
            .await
            .expect("PUBACK after restart");
        assert_eq!(result.unwrap(), Ok(()), "{protocol:?}");
        let mut sub = TestClient::connect(port, "pub-test-sub-2", &["out/#"]).await;
        publish(&publisher, "out/after", 1, "after").await.unwrap();
        let (topic, payload) = sub.next(T).await.expect("a publish after the restart");
        assert_eq!(
            (topic.as_str(), payload.as_slice()),
            ("out/after", &b"after"[..])
        );
        stop.set();
    }
}
