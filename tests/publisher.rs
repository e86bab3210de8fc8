//! The republish connection (`rulewire::mqtt::publisher`) against a real Mosquitto, over MQTT 3.1.1
//! and 5: QoS 0 and 1 publishes arrive intact; a publish in flight when the broker dies fails
//! clearly instead of hanging; one made while the broker is down waits for the reconnect and
//! completes once the restarted broker acknowledges it; the connection comes back by itself.
//! With a persistent session, a publish whose PUBACK was lost with the connection is sent
//! again on reconnect and completes; with a clean session it fails (the action retries it).

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use rulewire::config::{BrokerConfig, Protocol};
use rulewire::mqtt::publisher::{Publisher, Session};
use rulewire::ops::stop::stop_flag;
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
        let publisher = Publisher::start(
            &config,
            &broker.url(),
            "rw-pub-test".into(),
            Session::Clean,
            1 << 20,
            flag,
        )
        .unwrap();
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

/// A TCP proxy in front of the broker that can lose what the broker sends (its PUBACKs) and
/// cut the connection: a network failure between a PUBLISH arriving and its PUBACK.
struct LossyProxy {
    port: u16,
    swallow_replies: Arc<std::sync::atomic::AtomicBool>,
    cut: Arc<tokio::sync::Notify>,
}

impl LossyProxy {
    async fn start(broker_port: u16) -> LossyProxy {
        use std::sync::atomic::{AtomicBool, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let swallow_replies = Arc::new(AtomicBool::new(false));
        let cut = Arc::new(tokio::sync::Notify::new());
        let (swallow, cut_rx) = (swallow_replies.clone(), cut.clone());
        tokio::spawn(async move {
            loop {
                let (client, _) = listener.accept().await.unwrap();
                let broker = tokio::net::TcpStream::connect(("127.0.0.1", broker_port))
                    .await
                    .unwrap();
                let (mut client_rx, mut client_tx) = client.into_split();
                let (mut broker_rx, mut broker_tx) = broker.into_split();
                let swallow = swallow.clone();
                let cut = cut_rx.clone();
                tokio::spawn(async move {
                    let upstream = tokio::io::copy(&mut client_rx, &mut broker_tx);
                    let downstream = async {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = broker_rx.read(&mut buf).await?;
                            if n == 0 {
                                return Ok::<_, std::io::Error>(());
                            }
                            if !swallow.load(Ordering::SeqCst) {
                                client_tx.write_all(&buf[..n]).await?;
                            }
                        }
                    };
                    // Whichever ends first (or a cut) closes both sides.
                    tokio::select! {
                        _ = upstream => {}
                        _ = downstream => {}
                        _ = cut.notified() => {}
                    }
                });
            }
        });
        LossyProxy {
            port,
            swallow_replies,
            cut,
        }
    }
}

/// The broker gets a QoS 1 publish, its PUBACK is lost, and the connection drops. With a
/// persistent session the publisher sends it again on reconnect (same packet id, DUP) and
/// the publish completes: the subscriber sees it twice (at least once). With a clean session
/// it fails, for the action to retry.
#[tokio::test]
async fn a_persistent_session_sends_an_unacknowledged_publish_again_after_a_reconnect() {
    use std::sync::atomic::Ordering;
    for (protocol, session) in [
        (Protocol::V4, Session::Persistent { expiry_secs: 600 }),
        (Protocol::V5, Session::Persistent { expiry_secs: 600 }),
        (Protocol::V4, Session::Clean),
    ] {
        let broker = Mosquitto::start();
        let proxy = LossyProxy::start(broker.port).await;
        let config = BrokerConfig {
            protocol,
            keep_alive_secs: 30,
            ..BrokerConfig::default()
        };
        let (stop, flag) = stop_flag();
        let url = format!("mqtt://127.0.0.1:{}", proxy.port);
        let publisher = Publisher::start(
            &config,
            &url,
            "rw-session-test".into(),
            session,
            1 << 20,
            flag,
        )
        .unwrap();
        let mut sub = TestClient::connect(broker.port, "session-test-sub", &["out/#"]).await;
        publish(&publisher, "out/first", 1, "first").await.unwrap();
        assert_eq!(sub.next(T).await.unwrap().0, "out/first");

        proxy.swallow_replies.store(true, Ordering::SeqCst);
        let lost_ack = tokio::spawn({
            let publisher = publisher.clone();
            async move { publish(&publisher, "out/lost-ack", 1, "m").await }
        });
        // The broker has it (the subscriber got it), but its PUBACK went nowhere.
        assert_eq!(sub.next(T).await.unwrap().0, "out/lost-ack");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!lost_ack.is_finished(), "no PUBACK reached the publisher");
        proxy.swallow_replies.store(false, Ordering::SeqCst);
        proxy.cut.notify_waiters();

        let result = tokio::time::timeout(T, lost_ack)
            .await
            .expect("settles")
            .unwrap();
        match session {
            Session::Persistent { .. } => {
                assert_eq!(
                    result,
                    Ok(()),
                    "{protocol:?}: completed after the reconnect"
                );
                let (topic, payload) = sub.next(T).await.expect("sent again");
                assert_eq!(
                    (topic.as_str(), payload.as_slice()),
                    ("out/lost-ack", &b"m"[..])
                );
            }
            Session::Clean => {
                let e = result.unwrap_err();
                assert!(e.contains("connection to the broker was lost"), "{e}");
            }
        }
        // The connection works after the reconnect.
        publish(&publisher, "out/after", 1, "after").await.unwrap();
        let rest: Vec<String> = sub
            .drain(Duration::from_millis(300))
            .await
            .into_iter()
            .map(|(topic, _)| topic)
            .collect();
        assert_eq!(
            rest,
            ["out/after"],
            "{protocol:?} {session:?}: nothing else arrives"
        );
        stop.set();
    }
}
