//! The embedded broker (rmqtt) as devices meet it: `$aws/...` topics, MQTT 3.1.1 and 5 on
//! one port, `$share/` groups, retained messages, and a client queue that overflows with a
//! count instead of in silence. Basic Ingest on it is in `service_basic.rs`.

mod common;

use std::time::Duration;

use common::brokers::TestBroker;
use common::*;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

const T: Duration = Duration::from_secs(10);

const ECHO: &str = "-- [[action]]
-- type = \"republish\"
-- topic = \"out/${topic()}\"
SELECT *, topic() AS t FROM 'dev/#'
";

#[tokio::test(flavor = "multi_thread")]
async fn aws_topics_are_served_and_leading_wildcards_do_not_match_them() {
    let broker = TestBroker::embedded();
    let rules = rules_dir(&[("echo", ECHO)]);
    let _rw = Rulewire::start(&broker.config("rw-aws"), rules.path()).await;
    let port = broker.port();
    let accepted = "$aws/things/lamp/shadow/update/accepted";
    let mut shadow = TestClient::connect(port, "shadow-sub", &[accepted]).await;
    let mut plus = TestClient::connect(port, "wild-sub", &["#", "+/things/#"]).await;
    let device = TestClient::connect(port, "lamp", &[]).await;

    device.publish(accepted, r#"{"state":{}}"#).await;
    let (topic, json) = shadow.next_json(T).await;
    assert_eq!(topic, accepted);
    assert_eq!(json, serde_json::json!({"state": {}}));
    // [MQTT-4.7.2-1]: `#` and `+/...` do not match topics that start with `$`; they still
    // get the device's ordinary messages (and rulewire's republish of one).
    device.publish("dev/lamp", r#"{"on": true}"#).await;
    let mut got = plus.drain(Duration::from_secs(1)).await;
    got.sort();
    let topics: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(topics, ["dev/lamp", "out/dev/lamp"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn mqtt5_and_mqtt311_clients_share_a_listener_and_the_second_one() {
    use rumqttc::v5::mqttbytes::v5::PublishProperties;
    let port = free_port();
    let second = free_port();
    let rules = rules_dir(&[("echo", ECHO)]);
    let config = format!(
        "[broker]\nclient_id = \"rw-v5\"\nprotocol = \"v5\"\n\
         [embedded_broker]\nlisten = \"127.0.0.1:{port}\"\nlisten_v5 = \"127.0.0.1:{second}\"\n"
    );
    let _rw = Rulewire::start(&config, rules.path()).await;
    let mut out = TestClient::connect(port, "v311-sub", &["out/#"]).await;

    for (listener, id) in [(port, "dev-v5-a"), (second, "dev-v5-b")] {
        let mut opts = rumqttc::v5::MqttOptions::new(id, "127.0.0.1", listener);
        opts.set_keep_alive(Duration::from_secs(10));
        let (dev, mut events) = rumqttc::v5::AsyncClient::new(opts, 10);
        tokio::spawn(async move { while events.poll().await.is_ok() {} });
        let props = PublishProperties {
            content_type: Some("application/json".into()),
            ..Default::default()
        };
        dev.publish_with_properties(
            format!("dev/{id}"),
            rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
            false,
            r#"{"n": 1}"#,
            props,
        )
        .await
        .unwrap();
        let (topic, json) = out.next_json(T).await;
        assert_eq!(topic, format!("out/dev/{id}"), "via port {listener}");
        assert_eq!(json, serde_json::json!({"n": 1, "t": format!("dev/{id}")}));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn shared_subscriptions_give_each_message_to_one_member() {
    let broker = TestBroker::embedded();
    let rules = rules_dir(&[("echo", ECHO)]);
    let _rw = Rulewire::start(&broker.config("rw-share"), rules.path()).await;
    let port = broker.port();
    let mut a = TestClient::connect(port, "member-a", &["$share/g/feed/#"]).await;
    let mut b = TestClient::connect(port, "member-b", &["$share/g/feed/#"]).await;
    let device = TestClient::connect(port, "feeder", &[]).await;
    for i in 0..20 {
        device.publish(&format!("feed/{i}"), "{}").await;
    }
    let got_a = a.drain(Duration::from_secs(1)).await.len();
    let got_b = b.drain(Duration::from_millis(200)).await.len();
    assert_eq!(got_a + got_b, 20, "each message to exactly one member");
    assert!(
        got_a > 0 && got_b > 0,
        "both members served: {got_a} / {got_b}"
    );
}

/// The patched rmqtt writes what is waiting for a subscriber with one flush, up to its
/// in-flight window (vendor/README.md): bursts of QoS 1 messages, many more than the window,
/// to two subscribers (one through a rule's republish, which forwards a worker's batch at
/// once) all arrive, each once and in order.
#[tokio::test(flavor = "multi_thread")]
async fn bursts_reach_subscribers_whole_and_in_order() {
    let broker = TestBroker::embedded();
    let rule = "-- [[action]]\n-- type = \"republish\"\n-- topic = \"copy/${topic(2)}\"\n\
                -- qos = 1\nSELECT seq FROM 'burst/+'\n";
    let rules = rules_dir(&[("copy", rule)]);
    let _rw = Rulewire::start(&broker.config("rw-burst"), rules.path()).await;
    let port = broker.port();
    let mut direct = TestClient::connect(port, "burst-direct", &["burst/#"]).await;
    let mut copied = TestClient::connect(port, "burst-copied", &["copy/#"]).await;
    let device = TestClient::connect(port, "burst-device", &[]).await;
    const N: u64 = 3000;
    for seq in 0..N {
        device
            .publish("burst/a", format!("{{\"seq\": {seq}}}"))
            .await;
    }
    for (name, client) in [("direct", &mut direct), ("copied", &mut copied)] {
        let mut seqs = Vec::new();
        while (seqs.len() as u64) < N {
            let Some((_, payload)) = client.next(T).await else {
                break;
            };
            let json: serde_json::Value = serde_json::from_slice(&payload).unwrap();
            seqs.push(json["seq"].as_u64().unwrap());
        }
        let expected: Vec<u64> = (0..N).collect();
        assert!(
            seqs == expected,
            "{name}: {} of {N} messages, first out of place: {:?}",
            seqs.len(),
            seqs.iter().zip(0..).find(|(s, i)| *s != i)
        );
        assert!(
            client.drain(Duration::from_millis(300)).await.is_empty(),
            "{name}: duplicates"
        );
    }
}

/// A QoS 0 subscriber to `flood/#` taking packets up to 1 MiB, subscribed (SUBACK seen); the
/// caller decides when it reads.
async fn flood_subscriber(port: u16, id: &str) -> (AsyncClient, rumqttc::EventLoop) {
    let mut opts = MqttOptions::new(id, "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(60))
        .set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut events) = AsyncClient::new(opts, 10);
    client.subscribe("flood/#", QoS::AtMostOnce).await.unwrap();
    loop {
        if let Event::Incoming(Packet::SubAck(_)) = events.poll().await.unwrap() {
            return (client, events);
        }
    }
}

/// A subscriber that stops reading while a burst is being written to it is disconnected
/// after rmqtt's send timeout (10 s), as published rmqtt does: the patched session's
/// buffered writes keep that timeout, so such a device cannot hold its session forever.
#[tokio::test(flavor = "multi_thread")]
async fn a_subscriber_that_stops_reading_is_disconnected() {
    let broker = TestBroker::embedded();
    let rules = rules_dir(&[]);
    let _rw = Rulewire::start(&broker.config("rw-stuck"), rules.path()).await;
    let port = broker.port();
    let (_client, mut events) = flood_subscriber(port, "stuck-reader").await;
    // From here on nobody reads the subscriber's socket: ~40 MB fill the loopback buffers.
    let device = TestClient::connect(port, "flooder", &[]).await;
    let payload = vec![b'x'; 100 * 1024];
    for _ in 0..400 {
        device.publish("flood/a", payload.clone()).await;
    }
    tokio::time::sleep(Duration::from_secs(12)).await;
    // Reading again: what the buffers hold, then the broker's close.
    let closed = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if events.poll().await.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the broker still serves a subscriber that stopped reading for 12 s"
    );
}

/// A connected subscriber that reads more slowly than its QoS 0 messages arrive keeps at
/// most `max_queued_messages` waiting in the broker (plus one deliver queue's worth): the rest
/// are dropped and counted as `queue_full`, every message is either delivered or counted, and
/// once it has caught up it gets new messages again. (Published rmqtt queued them without
/// bound in the session's channel while its writes waited for the slow socket.)
#[tokio::test(flavor = "multi_thread")]
async fn a_slow_connected_subscriber_has_a_bounded_queue() {
    let port = free_port();
    let config = format!(
        "[broker]\nclient_id = \"rw-slow-sub\"\n\
         [embedded_broker]\nlisten = \"127.0.0.1:{port}\"\nmax_queued_messages = 50\n"
    );
    let rules = rules_dir(&[]);
    let rw = Rulewire::start(&config, rules.path()).await;
    let (_client, mut events) = flood_subscriber(port, "slow-reader").await;
    // Nobody reads the subscriber's socket for 3 s (under the 10 s send timeout): 40 MB are
    // far more than the loopback buffers and 50 queued messages hold.
    const N: usize = 400;
    let device = TestClient::connect(port, "flooder", &[]).await;
    let payload = vec![b'x'; 100 * 1024];
    for _ in 0..N {
        device.publish("flood/a", payload.clone()).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let dropped = || rw.metric("rulewire_embedded_broker_dropped_total{reason=\"queue_full\"}");
    assert!(
        dropped().await > 0.0,
        "nothing dropped: the queue is not bounded"
    );
    // Reading again: what the buffers and the queue hold, then silence.
    let mut delivered = 0;
    while let Ok(Ok(event)) = tokio::time::timeout(Duration::from_secs(2), events.poll()).await {
        if let Event::Incoming(Packet::Publish(_)) = event {
            delivered += 1;
        }
    }
    let dropped = dropped().await as usize;
    assert_eq!(
        delivered + dropped,
        N,
        "each message delivered ({delivered}) or counted as dropped ({dropped})"
    );
    assert!(
        delivered < N / 2,
        "{delivered} of {N} delivered: the bound did not hold"
    );
    // Caught up: the bound is free again.
    device.publish("flood/after", "again").await;
    let next = tokio::time::timeout(T, async {
        loop {
            if let Event::Incoming(Packet::Publish(p)) = events.poll().await.unwrap() {
                return p.topic;
            }
        }
    })
    .await
    .expect("a message after catching up");
    assert_eq!(next, "flood/after");
}

#[tokio::test(flavor = "multi_thread")]
async fn retained_messages_reach_late_subscribers_until_cleared() {
    let broker = TestBroker::embedded();
    let rules = rules_dir(&[("echo", ECHO)]);
    let _rw = Rulewire::start(&broker.config("rw-retain"), rules.path()).await;
    let port = broker.port();
    let device = TestClient::connect(port, "retainer", &[]).await;
    device
        .client
        .publish("status/lamp", QoS::AtLeastOnce, true, "on")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut late = TestClient::connect(port, "late-sub", &["status/#"]).await;
    assert_eq!(
        late.next(T).await,
        Some(("status/lamp".to_owned(), b"on".to_vec()))
    );
    // An empty retained payload clears it.
    device
        .client
        .publish("status/lamp", QoS::AtLeastOnce, true, "")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut later = TestClient::connect(port, "later-sub", &["status/#"]).await;
    assert_eq!(later.next(Duration::from_millis(500)).await, None);
}

/// As on AWS IoT Core, retained messages outlive the broker: kill -9, start again with the
/// same data directory, and a new subscriber still gets them (and not the cleared one).
#[tokio::test(flavor = "multi_thread")]
async fn retained_messages_outlive_kill_9_and_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let rules = rules_dir(&[("echo", ECHO)]);
    let config = format!(
        "[broker]\nclient_id = \"rw-retain-disk\"\n[embedded_broker]\nlisten = \"127.0.0.1:{port}\"\n\
         [storage]\ndata_dir = {:?}\n",
        data.path().display().to_string()
    );
    let mut rw = Rulewire::start(&config, rules.path()).await;
    let device = TestClient::connect(port, "retainer", &[]).await;
    for (topic, payload) in [
        ("status/lamp", "on"),
        ("status/door", "open"),
        ("status/door", ""),
    ] {
        device
            .client
            .publish(topic, QoS::AtLeastOnce, true, payload)
            .await
            .unwrap();
    }
    // Seen by a new subscriber: the broker has stored it (on disk first).
    let mut probes = 0;
    wait_until("the retained messages are stored", T, async || {
        probes += 1;
        let id = format!("probe-{probes}");
        let mut probe = TestClient::connect(port, &id, &["status/#"]).await;
        probe.drain(Duration::from_millis(300)).await
            == [("status/lamp".to_owned(), b"on".to_vec())]
    })
    .await;
    drop(device);
    rw.sigkill();

    let _rw = Rulewire::start(&config, rules.path()).await;
    let mut late = TestClient::connect(port, "late-sub", &["status/#"]).await;
    assert_eq!(
        late.drain(Duration::from_millis(500)).await,
        [("status/lamp".to_owned(), b"on".to_vec())]
    );
    assert!(
        _rw.logs().contains("retained messages loaded"),
        "{}",
        _rw.logs()
    );
}

/// Subscribes with a persistent session, then goes away without a DISCONNECT.
async fn subscribe_and_vanish(port: u16, id: &str, filter: &str) {
    let mut opts = MqttOptions::new(id, "127.0.0.1", port);
    opts.set_clean_session(false);
    let (client, mut events) = AsyncClient::new(opts, 10);
    client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
    tokio::time::timeout(T, async {
        loop {
            if let Event::Incoming(Packet::SubAck(_)) = events.poll().await.unwrap() {
                return;
            }
        }
    })
    .await
    .expect("SUBACK");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_offline_clients_full_queue_drops_and_counts() {
    let port = free_port();
    let rules = rules_dir(&[("echo", ECHO)]);
    let config = format!(
        "[broker]\nclient_id = \"rw-queue\"\n\
         [embedded_broker]\nlisten = \"127.0.0.1:{port}\"\nmax_queued_messages = 5\n"
    );
    let rw = Rulewire::start(&config, rules.path()).await;
    subscribe_and_vanish(port, "sleeper", "alarm/#").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let device = TestClient::connect(port, "alarmist", &[]).await;
    for i in 0..20 {
        device.publish(&format!("alarm/{i}"), "{}").await;
    }
    wait_until("the drops counted", T, async || {
        rw.metric("rulewire_embedded_broker_dropped_total{reason=\"queue_full\"}")
            .await
            == 15.0
    })
    .await;
    let mut back = TestClient::connect_with(port, "sleeper", &[], false).await;
    let got = back.drain(Duration::from_secs(1)).await;
    assert_eq!(got.len(), 5, "the queue's 5: {got:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn rules_see_the_publishers_client_id() {
    let broker = TestBroker::embedded();
    let rule = "-- [[action]]\n-- type = \"republish\"\n-- topic = \"out/who\"\n\
                SELECT clientid() AS c, topic() AS t FROM 'dev/#'\n";
    let rules = rules_dir(&[("who", rule)]);
    let _rw = Rulewire::start(&broker.config("rw-who"), rules.path()).await;
    let mut out = TestClient::connect(broker.port(), "who-watch", &["out/#"]).await;
    let device = TestClient::connect(broker.port(), "sensor-42", &[]).await;
    device.publish("dev/x", "{}").await;
    let (_, json) = out.next_json(T).await;
    assert_eq!(json, serde_json::json!({"c": "sensor-42", "t": "dev/x"}));
}

/// A message whose topic matches several FROM filters goes to each of their groups: every
/// rule sees the same topic, client id and trace id (the router hands the last group the
/// originals and the others copies).
#[tokio::test(flavor = "multi_thread")]
async fn overlapping_filters_see_one_message_alike() {
    let broker = TestBroker::embedded();
    let rule = |name: &str, from: &str| {
        format!(
            "-- [[action]]\n-- type = \"republish\"\n-- topic = \"out/{name}\"\n\
             SELECT clientid() AS c, topic() AS t, traceid() AS id FROM '{from}'\n"
        )
    };
    let (a, b, c) = (
        rule("a", "multi/+/x"),
        rule("b", "multi/#"),
        rule("c", "multi/#"),
    );
    let rules = rules_dir(&[("a", a.as_str()), ("b", b.as_str()), ("c", c.as_str())]);
    let _rw = Rulewire::start(&broker.config("rw-multi"), rules.path()).await;
    let mut out = TestClient::connect(broker.port(), "multi-watch", &["out/#"]).await;
    let device = TestClient::connect(broker.port(), "sensor-7", &[]).await;
    device.publish("multi/1/x", "{}").await;
    let mut seen = std::collections::BTreeMap::new();
    for _ in 0..3 {
        let (topic, json) = out.next_json(T).await;
        assert_eq!(json["c"], "sensor-7", "{topic}: {json}");
        assert_eq!(json["t"], "multi/1/x", "{topic}: {json}");
        seen.insert(topic, json["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen.keys().collect::<Vec<_>>(), ["out/a", "out/b", "out/c"]);
    let ids: std::collections::BTreeSet<_> = seen.values().collect();
    assert_eq!(ids.len(), 1, "one trace id for every rule: {seen:?}");
    assert_eq!(ids.into_iter().next().unwrap().len(), 36);
}

/// Publishes `{"seq": n}` to `load/<n % 4>` for n in `0..n`, one at a time at QoS 1, each
/// until its PUBACK arrives: what a device SDK's offline queue does. A message whose PUBACK
/// did not come (the broker went away) is sent again on a new connection, since a broker
/// that restarted has no session to resume.
///
/// Every attempt after a failure has a client of its own, so a PUBACK can only be the
/// current message's. With one client, each publish queued while the broker was refusing
/// connections was sent after the reconnect, and the extra PUBACKs were taken for the next
/// messages', which counted messages as acknowledged that were never sent.
async fn publish_each_until_acked(port: u16, n: u64) {
    let connect = || {
        let mut opts = MqttOptions::new("kill-producer", "127.0.0.1", port);
        opts.set_keep_alive(Duration::from_secs(5));
        AsyncClient::new(opts, 10)
    };
    let (mut client, mut events) = connect();
    for seq in 0..n {
        loop {
            client
                .publish(
                    format!("load/{}", seq % 4),
                    QoS::AtLeastOnce,
                    false,
                    format!("{{\"seq\": {seq}}}"),
                )
                .await
                .unwrap();
            let acked = loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => break true,
                    Ok(_) => {}
                    Err(_) => break false,
                }
            };
            if acked {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            (client, events) = connect();
        }
    }
}

/// The embedded broker acknowledges a QoS 1 message only once its rules are done: with
/// rulewire killed three times (SIGKILL, then down for 0.4 s) during 10,000 messages whose
/// rule posts to a webhook (no disk buffer), every message the publisher saw acknowledged
/// reached the webhook.
#[tokio::test(flavor = "multi_thread")]
async fn kill_9_three_times_loses_nothing_acknowledged_by_the_embedded_broker() {
    use axum::http::StatusCode;
    use common::webhook::Hook;
    const N: u64 = 10_000;
    let hook = Hook::start(StatusCode::SERVICE_UNAVAILABLE).await;
    let rule = format!(
        "-- [[action]]\n-- type = \"http\"\n-- url = \"http://127.0.0.1:{}/hook\"\n\
         SELECT seq FROM 'load/+'\n",
        hook.port
    );
    let broker = TestBroker::embedded();
    let rules = rules_dir(&[("webhook", &rule)]);
    let config = broker.config("rw-kill");
    let mut rw = Rulewire::start(&config, rules.path()).await;
    let publisher = tokio::spawn(publish_each_until_acked(broker.port(), N));
    for kill in 1..=3 {
        wait_until(
            "progress before the kill",
            Duration::from_secs(60),
            async || hook.unique().len() as u64 >= kill * N / 4,
        )
        .await;
        rw.sigkill();
        // Down for a while, as after a crash: the publisher's reconnects are refused.
        tokio::time::sleep(Duration::from_millis(400)).await;
        rw = Rulewire::start(&config, rules.path()).await;
    }
    tokio::time::timeout(Duration::from_secs(120), publisher)
        .await
        .expect("every message acknowledged in time")
        .unwrap();
    let unique = hook.unique();
    let missing: Vec<u64> = (0..N).filter(|s| !unique.contains(s)).take(20).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but lost (first 20): {missing:?}"
    );
    let received = hook.received() as u64;
    eprintln!(
        "{N} messages, 3 kills: {received} deliveries, {} duplicates",
        received - N
    );
    assert!(!rw.logs().contains("panicked"), "{}", rw.logs());
}

/// Republishes re-enter the rules through the broker; at the in-flight bound that must not
/// wait on itself (each in-flight message finishes only once its republish was taken).
/// A burst far over `limits.max_in_flight`, republished at QoS 0 and 1, all comes out.
#[tokio::test(flavor = "multi_thread")]
async fn a_burst_over_the_in_flight_bound_with_republishes_does_not_stall() {
    let port = free_port();
    let republish = |qos: u8| {
        format!(
            "-- [[action]]\n-- type = \"republish\"\n-- topic = \"out/q{qos}\"\n-- qos = {qos}\n\
             SELECT seq FROM 'burst/+'\n"
        )
    };
    let rules = rules_dir(&[("q0", &republish(0)), ("q1", &republish(1))]);
    let config = format!(
        "[broker]\nclient_id = \"rw-burst\"\n[embedded_broker]\nlisten = \"127.0.0.1:{port}\"\n\
         [limits]\nmax_in_flight = 8\n"
    );
    let _rw = Rulewire::start(&config, rules.path()).await;
    let mut out = TestClient::connect(port, "burst-watch", &["out/#"]).await;
    let device = TestClient::connect(port, "burster", &[]).await;
    const N: usize = 2_000;
    for seq in 0..N {
        device
            .client
            .publish(
                format!("burst/{}", seq % 4),
                QoS::AtMostOnce,
                false,
                format!("{{\"seq\": {seq}}}"),
            )
            .await
            .unwrap();
    }
    let mut got = 0;
    while got < 2 * N {
        match out.next(Duration::from_secs(15)).await {
            Some(_) => got += 1,
            None => panic!("stalled after {got} of {} outputs", 2 * N),
        }
    }
}

/// A republish is routed inside the embedded broker and runs the rules that match it, as on
/// AWS; those rules see rulewire's own publisher as its client.
#[tokio::test(flavor = "multi_thread")]
async fn republished_messages_trigger_the_rules_that_match_them() {
    let broker = TestBroker::embedded();
    let first = "-- [[action]]\n-- type = \"republish\"\n-- topic = \"chain/${topic(2)}\"\n-- qos = 1\n\
                 SELECT n FROM 'dev/#'\n";
    let second = "-- [[action]]\n-- type = \"republish\"\n-- topic = \"out/chained\"\n\
                  SELECT n + 1 AS n, clientid() AS c, topic() AS t FROM 'chain/#'\n";
    let rules = rules_dir(&[("first", first), ("second", second)]);
    let _rw = Rulewire::start(&broker.config("rw-chain"), rules.path()).await;
    let mut out = TestClient::connect(broker.port(), "chain-watch", &["out/#", "chain/#"]).await;
    let device = TestClient::connect(broker.port(), "chain-dev", &[]).await;
    device.publish("dev/a", r#"{"n": 1}"#).await;
    let mut got = out.drain(Duration::from_secs(1)).await;
    got.sort();
    let got: Vec<(String, serde_json::Value)> = got
        .into_iter()
        .map(|(t, p)| (t, serde_json::from_slice(&p).unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            ("chain/a".to_owned(), serde_json::json!({"n": 1})),
            (
                "out/chained".to_owned(),
                serde_json::json!({"n": 2, "c": "rw-chain-pub", "t": "chain/a"})
            ),
        ]
    );
}

/// A packet over the broker's limit (`limits.max_payload_bytes` + 1 MiB) costs its sender the
/// connection, and nobody else anything.
#[tokio::test(flavor = "multi_thread")]
async fn a_packet_over_the_brokers_limit_disconnects_only_its_sender() {
    let port = free_port();
    let rules = rules_dir(&[("echo", ECHO)]);
    let config = format!(
        "[broker]\nclient_id = \"rw-huge\"\n[embedded_broker]\nlisten = \"127.0.0.1:{port}\"\n\
         [limits]\nmax_payload_bytes = 1000\n"
    );
    let rw = Rulewire::start(&config, rules.path()).await;
    let mut out = TestClient::connect(port, "huge-watch", &["out/#"]).await;
    let good = TestClient::connect(port, "good-device", &[]).await;

    let mut opts = MqttOptions::new("huge-device", "127.0.0.1", port);
    opts.set_max_packet_size(8 << 20, 8 << 20);
    let (huge, mut events) = AsyncClient::new(opts, 10);
    huge.publish("dev/huge", QoS::AtLeastOnce, false, vec![b'x'; 3 << 20])
        .await
        .unwrap();
    let lost = tokio::time::timeout(T, async {
        loop {
            if events.poll().await.is_err() {
                return;
            }
        }
    })
    .await;
    assert!(lost.is_ok(), "the oversized sender is disconnected");

    good.publish("dev/good", r#"{"ok": 1}"#).await;
    let (topic, json) = out.next_json(T).await;
    assert_eq!(topic, "out/dev/good");
    assert_eq!(json["ok"], 1);
    assert_eq!(rw.get("/readyz").await.unwrap().0, 200);
}

/// After SIGTERM the rules take no new message: one a device publishes at QoS 1 while
/// rulewire drains its in-flight messages is refused (the device is disconnected without a
/// PUBACK and sends it again to the next run), never acknowledged unprocessed.
#[tokio::test(flavor = "multi_thread")]
async fn a_qos1_message_published_during_the_shutdown_drain_is_not_acknowledged() {
    // An endpoint that takes connections and never answers keeps the first message in flight.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let rule = format!(
        "-- [[action]]\n-- type = \"http\"\n-- url = \"http://127.0.0.1:{port}/hang\"\n\
         -- timeout_ms = 30000\nSELECT seq FROM 'load/+'\n"
    );
    let broker = TestBroker::embedded();
    let rules = rules_dir(&[("hang", &rule)]);
    let config = format!(
        "{}[shutdown]\ntimeout_ms = 4000\n",
        broker.config("rw-drain")
    );
    let mut rw = Rulewire::start(&config, rules.path()).await;
    let first = TestClient::connect(broker.port(), "first", &[]).await;
    first.publish("load/1", r#"{"seq": 1}"#).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopping = tokio::task::spawn_blocking(move || {
        rw.sigterm(Duration::from_secs(20));
        rw
    });
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut opts = MqttOptions::new("late", "127.0.0.1", broker.port());
    opts.set_keep_alive(Duration::from_secs(5));
    let (client, mut events) = AsyncClient::new(opts, 10);
    client
        .publish("load/2", QoS::AtLeastOnce, false, r#"{"seq": 2}"#)
        .await
        .unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => return "acknowledged",
                Ok(_) => {}
                Err(_) => return "refused",
            }
        }
    })
    .await
    .unwrap_or("no answer");
    assert_eq!(
        outcome, "refused",
        "a message published during the drain must be refused at once, not taken"
    );
    let rw = stopping.await.unwrap();
    assert!(!rw.logs().contains("panicked"), "{}", rw.logs());
}

/// Polls `events` until the broker closes the connection (within `T`); the packets it sent
/// before that.
async fn packets_until_closed(events: &mut rumqttc::EventLoop) -> Vec<Packet> {
    let mut seen = Vec::new();
    let closed = tokio::time::timeout(T, async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(p)) => seen.push(p),
                Ok(_) => {}
                Err(e) => return e,
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the broker closes the connection; saw {seen:?}"
    );
    seen
}

/// AWS IoT Core has no QoS 2, and the embedded broker refuses it as AWS does: a QoS 2
/// PUBLISH costs the device its connection and goes nowhere (no PUBREC, no subscriber, no
/// rule), a QoS 2 SUBSCRIBE costs the connection too, and a CONNECT whose last will asks for
/// QoS 2 is refused; each is counted and logged. The same clients at QoS 1 carry on.
#[tokio::test(flavor = "multi_thread")]
async fn qos_2_is_refused_as_aws_iot_refuses_it() {
    use rumqttc::v5::mqttbytes::QoS as QoS5;
    let broker = TestBroker::embedded();
    let rules = rules_dir(&[("echo", ECHO)]);
    let rw = Rulewire::start(&broker.config("rw-qos2"), rules.path()).await;
    let port = broker.port();
    let mut watch = TestClient::connect(port, "qos2-watch", &["dev/#", "out/#"]).await;
    let opts = |id: &str| {
        let mut o = MqttOptions::new(id, "127.0.0.1", port);
        o.set_keep_alive(Duration::from_secs(10));
        o
    };

    // MQTT 3.1.1 PUBLISH at QoS 2.
    let (device, mut events) = AsyncClient::new(opts("qos2-publisher"), 10);
    device
        .publish("dev/qos2", QoS::ExactlyOnce, false, r#"{"n": 2}"#)
        .await
        .unwrap();
    let seen = packets_until_closed(&mut events).await;
    assert!(
        !seen
            .iter()
            .any(|p| matches!(p, Packet::PubRec(_) | Packet::PubAck(_))),
        "no acknowledgement of a QoS 2 message: {seen:?}"
    );

    // MQTT 5 PUBLISH at QoS 2.
    let mut v5 = rumqttc::v5::MqttOptions::new("qos2-publisher-v5", "127.0.0.1", port);
    v5.set_keep_alive(Duration::from_secs(10));
    let (device5, mut events5) = rumqttc::v5::AsyncClient::new(v5, 10);
    device5
        .publish("dev/qos2-v5", QoS5::ExactlyOnce, false, r#"{"n": 5}"#)
        .await
        .unwrap();
    let closed = tokio::time::timeout(T, async {
        loop {
            match events5.poll().await {
                Ok(rumqttc::v5::Event::Incoming(rumqttc::v5::mqttbytes::v5::Packet::PubRec(_))) => {
                    panic!("a QoS 2 message acknowledged")
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "an MQTT 5 QoS 2 publisher is disconnected too"
    );

    // SUBSCRIBE at QoS 2.
    let (subscriber, mut events) = AsyncClient::new(opts("qos2-subscriber"), 10);
    subscriber
        .subscribe("dev/#", QoS::ExactlyOnce)
        .await
        .unwrap();
    let seen = packets_until_closed(&mut events).await;
    for p in &seen {
        if let Packet::SubAck(ack) = p {
            assert_eq!(
                ack.return_codes,
                [rumqttc::SubscribeReasonCode::Failure],
                "never granted"
            );
        }
    }

    // A last will at QoS 2: refused at CONNECT.
    let mut with_will = opts("qos2-will");
    with_will.set_last_will(rumqttc::LastWill::new(
        "dev/will",
        "bye",
        QoS::ExactlyOnce,
        false,
    ));
    assert_eq!(
        connect_refused(with_will).await,
        rumqttc::ConnectReturnCode::NotAuthorized,
        "CONNECT with a QoS 2 will"
    );

    // Nothing of the above went anywhere; QoS 1 goes on working for the same client ids.
    let leaked = watch.drain(Duration::from_millis(500)).await;
    assert!(leaked.is_empty(), "QoS 2 messages went nowhere: {leaked:?}");
    let device = TestClient::connect(port, "qos2-publisher", &[]).await;
    device.publish("dev/qos1", r#"{"n": 1}"#).await;
    let mut got: Vec<String> = watch
        .drain(Duration::from_secs(1))
        .await
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    got.sort();
    assert_eq!(got, ["dev/qos1", "out/dev/qos1"]);
    let denied =
        |action: &str| format!("rulewire_embedded_broker_denied_total{{action=\"iot:{action}\"}}");
    assert_eq!(rw.metric(&denied("Publish")).await, 2.0);
    assert_eq!(rw.metric(&denied("Subscribe")).await, 1.0);
    assert_eq!(rw.metric(&denied("Connect")).await, 1.0);
    assert!(
        rw.logs().contains("AWS IoT Core does not support"),
        "logged"
    );
}
