//! End-to-end service tests against a private Mosquitto (or the embedded broker): republish
//! with templates, Basic Ingest, the embedded broker with an external client, hot reload
//! including a broken file, and the admin endpoints.

mod common;

use std::time::Duration;

use common::brokers::TestBroker;
use common::*;

const T: Duration = Duration::from_secs(10);

const HOT: &str = "-- description = \"hot rooms\"
-- [[action]]
-- type = \"republish\"
-- topic = \"out/${topic(2)}/hot\"
-- qos = 1
SELECT temperature, topic(2) AS room FROM 'sensors/+/data' WHERE temperature > 30
";

#[tokio::test(flavor = "multi_thread")]
async fn republish_with_templates_end_to_end() {
    let broker = Mosquitto::start();
    let rules = rules_dir(&[("hot", HOT)]);
    let rw = Rulewire::start(
        &format!(
            "[broker]\nurl = \"{}\"\nclient_id = \"rw-e2e\"",
            broker.url()
        ),
        rules.path(),
    )
    .await;
    let mut c = TestClient::connect(broker.port, "e2e-client", &["out/#"]).await;
    c.publish("sensors/kitchen/data", r#"{"temperature": 20}"#)
        .await;
    c.publish(
        "sensors/attic/data",
        r#"{"temperature": 35.5, "humidity": 10}"#,
    )
    .await;
    let (topic, json) = c.next_json(T).await;
    assert_eq!(topic, "out/attic/hot");
    assert_eq!(
        json,
        serde_json::json!({"temperature": 35.5, "room": "attic"})
    );
    assert!(
        c.next(Duration::from_millis(500)).await.is_none(),
        "the cool room must not fire"
    );

    assert_eq!(
        rw.metric("rulewire_topic_match_total{rule=\"hot\"}").await,
        2.0
    );
    assert_eq!(
        rw.metric("rulewire_action_success_total{action=\"republish\",rule=\"hot\"}")
            .await,
        1.0
    );
    let (code, body) = rw.get("/rules").await.unwrap();
    assert_eq!(code, 200);
    let rules: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(rules[0]["name"], "hot");
    assert_eq!(rules[0]["topic_filter"], "sensors/+/data");
    assert_eq!(rules[0]["actions"][0], "republish");
    assert_eq!(rw.get("/healthz").await.unwrap().0, 200);
}

/// Basic Ingest on either broker: the embedded one serves `$aws/rules/...` as Mosquitto does.
async fn basic_ingest_goes_to_the_named_rule_only(broker: TestBroker) {
    let ingest = "-- [[action]]
-- type = \"republish\"
-- topic = \"out/ingest/${topic()}\"
SELECT * FROM 'factory/#'
";
    let rules = rules_dir(&[("ingest_rule", ingest), ("hot", HOT)]);
    let rw = Rulewire::start(&broker.config("rw-bi"), rules.path()).await;
    let mut c = TestClient::connect(broker.port(), "bi-client", &["out/#"]).await;
    // Matches the FROM of `hot` too, but Basic Ingest picks the rule by name only.
    c.publish(
        "$aws/rules/ingest_rule/sensors/x/data",
        r#"{"temperature": 99}"#,
    )
    .await;
    let (topic, json) = c.next_json(T).await;
    assert_eq!(
        topic, "out/ingest/sensors/x/data",
        "topic() must not see the $aws/rules/<rule> prefix"
    );
    assert_eq!(json["temperature"], 99);
    assert!(
        c.next(Duration::from_millis(500)).await.is_none(),
        "no other rule may see a Basic Ingest message"
    );

    c.publish("$aws/rules/no_such_rule/a", "{}").await;
    wait_until("RuleNotFound", T, async || {
        rw.metric("rulewire_rule_not_found_total{rule=\"no_such_rule\"}")
            .await
            == 1.0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_ingest_goes_to_the_named_rule_only_on_mosquitto() {
    basic_ingest_goes_to_the_named_rule_only(TestBroker::mosquitto()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_ingest_goes_to_the_named_rule_only_on_the_embedded_broker() {
    basic_ingest_goes_to_the_named_rule_only(TestBroker::embedded()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn embedded_broker_serves_external_clients() {
    let port = free_port();
    let rules = rules_dir(&[("hot", HOT)]);
    let _rw = Rulewire::start(
        &format!("[embedded_broker]\nlisten = \"127.0.0.1:{port}\""),
        rules.path(),
    )
    .await;
    let mut watcher = TestClient::connect(port, "embedded-watch", &["out/#"]).await;
    let device = TestClient::connect(port, "embedded-device", &[]).await;
    device
        .publish("sensors/lab/data", r#"{"temperature": 31}"#)
        .await;
    let (topic, json) = watcher.next_json(T).await;
    assert_eq!(topic, "out/lab/hot");
    assert_eq!(json["room"], "lab");
}

/// A rules directory that cannot be listed (deleted, unmounted) is a reload error, not an
/// empty directory: every rule keeps running.
#[tokio::test(flavor = "multi_thread")]
async fn a_rules_directory_that_vanishes_keeps_every_rule() {
    let broker = Mosquitto::start();
    let rule =
        "-- [[action]]\n-- type = \"republish\"\n-- topic = \"out/kept\"\nSELECT * FROM 'in/a'\n";
    let rules = rules_dir(&[("r", rule)]);
    let config = format!(
        "[broker]\nurl = \"{}\"\nclient_id = \"rw-vanished\"",
        broker.url()
    );
    let rw = Rulewire::start(&config, rules.path()).await;
    let mut c = TestClient::connect(broker.port, "vanished-client", &["out/#"]).await;
    c.publish("in/a", "{\"n\":1}").await;
    assert_eq!(c.next(T).await.unwrap().0, "out/kept");

    std::fs::remove_dir_all(rules.path()).unwrap();
    wait_until("the reload's error", T, async || {
        rw.logs().contains("cannot list rules directory")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await; // an UNSUBSCRIBE, if one went out
    c.publish("in/a", "{\"n\":2}").await;
    let (topic, payload) = c.next(T).await.expect("the rule still runs");
    assert_eq!(
        (topic.as_str(), payload.as_slice()),
        ("out/kept", &b"{\"n\":2}"[..])
    );
    assert!(
        rw.logs().contains("every rule keeps its current version"),
        "{}",
        rw.logs()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hot_reload_keeps_the_previous_version_of_a_broken_rule() {
    let broker = Mosquitto::start();
    let v1 =
        "-- [[action]]\n-- type = \"republish\"\n-- topic = \"out/v1\"\nSELECT * FROM 'in/a'\n";
    let rules = rules_dir(&[("r", v1)]);
    let rw = Rulewire::start(
        &format!(
            "[broker]\nurl = \"{}\"\nclient_id = \"rw-reload\"",
            broker.url()
        ),
        rules.path(),
    )
    .await;
    let mut c = TestClient::connect(broker.port, "reload-client", &["out/#"]).await;
    c.publish("in/a", "{\"n\":1}").await;
    assert_eq!(c.next(T).await.unwrap().0, "out/v1");

    // A new version with a new topic filter: subscriptions follow.
    let v2 =
        "-- [[action]]\n-- type = \"republish\"\n-- topic = \"out/v2\"\nSELECT * FROM 'in/b'\n";
    write_rule(rules.path(), "r", v2);
    wait_until("reload to v2", T, async || {
        rw.get("/rules")
            .await
            .is_some_and(|(_, b)| b.contains("\"topic_filter\":\"in/b\""))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await; // SUBACK
    c.publish("in/a", "{\"n\":2}").await;
    c.publish("in/b", "{\"n\":3}").await;
    let (topic, payload) = c.next(T).await.unwrap();
    assert_eq!(
        (topic.as_str(), payload.as_slice()),
        ("out/v2", &b"{\"n\":3}"[..])
    );
    assert!(
        c.next(Duration::from_millis(500)).await.is_none(),
        "in/a is no longer subscribed"
    );

    // A broken version: reported with file:line:col, v2 keeps running.
    let broken = "-- description = \"broken\"\n-- [[action]]\n-- type = \"republish\"\n-- topic = \"out/v3\"\nSELECT FROM WHERE 'in/b'\n";
    write_rule(rules.path(), "r", broken);
    wait_until("the load error", T, async || {
        rw.get("/rules")
            .await
            .is_some_and(|(_, b)| b.contains("r.sql:5:"))
    })
    .await;
    c.publish("in/b", "{\"n\":4}").await;
    assert_eq!(
        c.next(T).await.unwrap().0,
        "out/v2",
        "the previous version keeps running"
    );
    assert!(
        rw.logs().contains("r.sql:5:"),
        "the error is logged with file:line:col"
    );

    // A hostile version nested 5,000 levels deep (it once overflowed the stack and took the
    // process down): a positioned error, and v2 keeps running.
    let deep = format!(
        "-- [[action]]\n-- type = \"republish\"\n-- topic = \"out/v4\"\nSELECT {}1{} AS x FROM 'in/b'\n",
        "(".repeat(5000),
        ")".repeat(5000)
    );
    write_rule(rules.path(), "r", &deep);
    wait_until("the depth error", T, async || {
        rw.get("/rules")
            .await
            .is_some_and(|(_, b)| b.contains("r.sql:4:") && b.contains("levels deep"))
    })
    .await;
    c.publish("in/b", "{\"n\":5}").await;
    assert_eq!(
        c.next(T).await.unwrap().0,
        "out/v2",
        "still the previous version"
    );

    // A header error points at its line too; a new broken rule is listed, not running.
    write_rule(
        rules.path(),
        "other",
        "-- enabled = maybe\nSELECT * FROM 'x'\n",
    );
    wait_until("header error", T, async || {
        rw.get("/rules")
            .await
            .is_some_and(|(_, b)| b.contains("other.sql:1:14"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_payloads_are_rejected_acked_and_counted() {
    let broker = Mosquitto::start();
    let rules = rules_dir(&[("hot", HOT)]);
    let rw = Rulewire::start(
        &format!(
            "[broker]\nurl = \"{}\"\nclient_id = \"rw-big\"\n[limits]\nmax_payload_bytes = 1000",
            broker.url()
        ),
        rules.path(),
    )
    .await;
    let mut c = TestClient::connect(broker.port, "big-client", &["out/#"]).await;
    let big = format!(r#"{{"temperature": 40, "pad": "{}"}}"#, "x".repeat(2000));
    c.publish("sensors/big/data", big).await;
    c.publish("sensors/small/data", r#"{"temperature": 40}"#)
        .await;
    let (topic, _) = c.next_json(T).await;
    assert_eq!(
        topic, "out/small/hot",
        "the oversized message is skipped, the next one flows"
    );
    assert_eq!(
        rw.metric("rulewire_payload_rejected_total{reason=\"too_large\"}")
            .await,
        1.0
    );
    assert!(rw.logs().contains("limits.max_payload_bytes"));
}

/// A republish rule on the plant telemetry filter; all of these form one group.
fn plant_rule(out: &str, select_where: &str) -> String {
    format!(
        "-- [[action]]\n-- type = \"republish\"\n-- topic = \"out/{out}\"\n-- qos = 1\nSELECT {select_where}\n"
    )
    .replace("FROM_PLANT", "FROM 'plant/+/telemetry'")
}

#[tokio::test(flavor = "multi_thread")]
async fn rules_with_one_filter_form_a_group_that_routes_each_rule_its_results() {
    let broker = Mosquitto::start();
    // Two rules on the vectorised path (they share one decode) and two on the row path.
    let all = plant_rule("all", "*, topic(2) AS line FROM_PLANT");
    let pressure = plant_rule("pressure", "VALUE pressure FROM_PLANT WHERE pressure > 0");
    let hot = plant_rule(
        "hot",
        "temperature, traceid() AS trace FROM_PLANT WHERE temperature > 50",
    );
    let audit = plant_rule("audit", "traceid() AS trace, topic() AS t FROM_PLANT");
    let rules = rules_dir(&[
        ("all", &all),
        ("pressure", &pressure),
        ("hot", &hot),
        ("audit", &audit),
    ]);
    let rw = Rulewire::start(
        &format!(
            "[broker]\nurl = \"{}\"\nclient_id = \"rw-group\"",
            broker.url()
        ),
        rules.path(),
    )
    .await;
    let mut c = TestClient::connect(broker.port, "group-client", &["out/#"]).await;
    c.publish(
        "plant/l1/telemetry",
        r#"{"temperature": 60, "pressure": 2}"#,
    )
    .await;
    c.publish(
        "plant/l2/telemetry",
        r#"{"temperature": 20, "pressure": 0}"#,
    )
    .await;
    c.publish("plant/l3/telemetry", r#"{"temperature":"#).await;
    let got = c.drain(Duration::from_secs(2)).await;
    let json = |topic: &str| -> Vec<serde_json::Value> {
        got.iter()
            .filter(|(t, _)| t == topic)
            .map(|(_, p)| serde_json::from_slice(p).unwrap())
            .collect()
    };
    let mut all_out = json("out/all");
    all_out.sort_by_key(|v| v["line"].as_str().unwrap().to_owned());
    assert_eq!(
        all_out,
        [
            serde_json::json!({"temperature": 60, "pressure": 2, "line": "l1"}),
            serde_json::json!({"temperature": 20, "pressure": 0, "line": "l2"}),
            // Malformed JSON: ParseError, and the rule sees no payload fields.
            serde_json::json!({"line": "l3"}),
        ]
    );
    assert_eq!(json("out/pressure"), [serde_json::json!(2)]);
    let hot_out = json("out/hot");
    assert_eq!(hot_out.len(), 1);
    assert_eq!(hot_out[0]["temperature"], 60);
    // Every rule sees the same traceid() for one message.
    let audit_out = json("out/audit");
    assert_eq!(audit_out.len(), 3);
    let l1 = audit_out
        .iter()
        .find(|v| v["t"] == "plant/l1/telemetry")
        .unwrap();
    assert_eq!(l1["trace"], hot_out[0]["trace"]);
    assert_ne!(audit_out[0]["trace"], audit_out[1]["trace"]);
    for rule in ["all", "pressure", "hot", "audit"] {
        let m = |name: &str| format!("rulewire_{name}_total{{rule=\"{rule}\"}}");
        assert_eq!(rw.metric(&m("topic_match")).await, 3.0, "{rule}");
        assert_eq!(rw.metric(&m("parse_errors")).await, 1.0, "{rule}");
    }
    assert_eq!(
        rw.metric("rulewire_rule_fired_total{rule=\"pressure\"}")
            .await,
        1.0
    );

    // Basic Ingest reaches one rule of the group.
    c.publish(
        "$aws/rules/pressure/plant/l4/telemetry",
        r#"{"pressure": 7}"#,
    )
    .await;
    let got = c.drain(Duration::from_secs(1)).await;
    assert_eq!(got, [("out/pressure".to_owned(), b"7".to_vec())]);

    // Changing one rule of the group: the others keep firing, the change applies.
    write_rule(
        rules.path(),
        "pressure",
        &plant_rule(
            "pressure",
            "VALUE pressure * 10 FROM_PLANT WHERE pressure > 0",
        ),
    );
    wait_until("reload", T, async || rw.logs().contains(r#"["pressure"]"#)).await;
    c.publish("plant/l5/telemetry", r#"{"temperature": 1, "pressure": 3}"#)
        .await;
    let mut got = c.drain(Duration::from_secs(1)).await;
    got.sort();
    let topics: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(topics, ["out/all", "out/audit", "out/pressure"]);
    assert_eq!(got[2].1, b"30");
}

/// Each rule's republishes leave in the order the messages arrived, under bursts and while
/// its group is rebuilt by reloads. (Before `unconstrained` in the worker, tokio's
/// cooperative budget made some actions wait on their first poll, and later messages
/// overtook them: runs of up to 60 reversed messages in about half the runs.)
#[tokio::test(flavor = "multi_thread")]
async fn republishes_keep_arrival_order_under_bursts_and_reloads() {
    let broker = Mosquitto::start();
    let republish = |qos: u8| {
        format!(
            "-- [[action]]\n-- type = \"republish\"\n-- topic = \"out/q{qos}\"\n-- qos = {qos}\nSELECT seq FROM 'feed/+'\n"
        )
    };
    let other = |n: i32| {
        format!(
            "-- [[action]]\n-- type = \"republish\"\n-- topic = \"out/other\"\nSELECT seq FROM 'feed/+' WHERE seq < {n}\n"
        )
    };
    let rules = rules_dir(&[
        ("q0", &republish(0)),
        ("q1", &republish(1)),
        ("other", &other(0)),
    ]);
    let _rw = Rulewire::start(
        &format!(
            "[broker]\nurl = \"{}\"\nclient_id = \"rw-order\"",
            broker.url()
        ),
        rules.path(),
    )
    .await;
    let mut c = TestClient::connect(broker.port, "order-client", &["out/#", "feed/#"]).await;
    // Rebuild the group (a changed member) again and again while messages stream through.
    let dir = rules.path().to_owned();
    let reloads = tokio::spawn(async move {
        for n in 1..=8 {
            tokio::time::sleep(Duration::from_millis(60)).await;
            write_rule(&dir, "other", &other(-n));
        }
    });
    const N: u64 = 600;
    for i in 0..N {
        c.publish("feed/a", format!("{{\"seq\": {i}}}")).await;
        if i % 20 == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    reloads.await.unwrap();
    let all = c.drain(Duration::from_secs(2)).await;
    let seqs = |topic: &str| -> Vec<u64> {
        all.iter()
            .filter(|(t, _)| t == topic)
            .map(|(_, p)| {
                let v: serde_json::Value = serde_json::from_slice(p).unwrap();
                v["seq"].as_u64().unwrap()
            })
            .collect()
    };
    let want: Vec<u64> = (0..N).collect();
    assert_eq!(
        seqs("feed/a"),
        want,
        "the broker delivers the input in order"
    );
    assert_eq!(seqs("out/q0"), want, "QoS 0 republishes in arrival order");
    assert_eq!(seqs("out/q1"), want, "QoS 1 republishes in arrival order");
    assert!(seqs("out/other").is_empty());
}

/// MQTT 5 publish properties reach rules through a real broker, or from the embedded
/// broker's clients: `get_mqtt_property()` and `get_user_properties()` in SELECT, and in the
/// republish topic template.
async fn mqtt5_properties_reach_rules(broker: TestBroker) {
    use rumqttc::v5::mqttbytes::v5::PublishProperties;
    let rule = "-- [[action]]\n-- type = \"republish\"\n-- topic = \"out/${get_mqtt_property('response_topic')}\"\n\
                SELECT get_mqtt_property('content_type') AS ct, get_mqtt_property('correlation_data') AS cd, \
                get_mqtt_property('format_indicator') AS fi, get_user_properties('k') AS k FROM 'in/#'";
    let rules = rules_dir(&[("props", rule)]);
    let config =
        broker
            .config("rw-props")
            .replacen("[broker]\n", "[broker]\nprotocol = \"v5\"\n", 1);
    let _rw = Rulewire::start(&config, rules.path()).await;
    let port = broker.port();
    let mut out = TestClient::connect(port, "props-out", &["out/#"]).await;
    let mut opts = rumqttc::v5::MqttOptions::new("props-dev", "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(10));
    let (dev, mut eventloop) = rumqttc::v5::AsyncClient::new(opts, 10);
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    let properties = PublishProperties {
        content_type: Some("application/json".into()),
        response_topic: Some("reply".into()),
        correlation_data: Some(vec![1u8, 2, 3].into()),
        payload_format_indicator: Some(1),
        user_properties: vec![("k".into(), "v".into())],
        ..Default::default()
    };
    let qos = rumqttc::v5::mqttbytes::QoS::AtLeastOnce;
    dev.publish_with_properties("in/a", qos, false, b"{}".to_vec(), properties)
        .await
        .unwrap();
    let (topic, json) = out.next_json(T).await;
    assert_eq!(topic, "out/reply");
    assert_eq!(
        json,
        serde_json::json!({"ct": "application/json", "cd": "AQID", "fi": "UTF8_DATA", "k": ["v"]})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mqtt5_properties_reach_rules_over_mosquitto() {
    mqtt5_properties_reach_rules(TestBroker::mosquitto()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mqtt5_properties_reach_rules_from_the_embedded_broker() {
    mqtt5_properties_reach_rules(TestBroker::embedded()).await;
}

/// The republish action's MQTT 5 headers, rendered from templates, leave the service's own
/// publisher (over Mosquitto) or the embedded broker's in-process one, and reach a real
/// MQTT 5 subscriber.
async fn republish_sends_mqtt5_headers(broker: TestBroker) {
    use rumqttc::v5::{Event, mqttbytes::v5::Packet};
    let rule = "-- [[action]]\n-- type = \"republish\"\n-- topic = \"hdr/out\"\n-- qos = 1\n\
                -- content_type = \"application/json\"\n\
                -- correlation_data = \"${encode(topic(), 'base64')}\"\n\
                -- message_expiry = \"${ttl}\"\n\
                -- payload_format_indicator = \"UTF8_DATA\"\n\
                -- response_topic = \"reply/${topic(2)}\"\n\
                -- user_properties = [{key = \"room\", value = \"${topic(2)}\"}]\n\
                SELECT t FROM 'hdr/+'";
    let rules = rules_dir(&[("headers", rule)]);
    let config =
        broker
            .config("rw-headers")
            .replacen("[broker]\n", "[broker]\nprotocol = \"v5\"\n", 1);
    let _rw = Rulewire::start(&config, rules.path()).await;
    let mut opts = rumqttc::v5::MqttOptions::new("hdr-sub", "127.0.0.1", broker.port());
    opts.set_keep_alive(Duration::from_secs(10));
    let (sub, mut events) = rumqttc::v5::AsyncClient::new(opts, 10);
    let qos = rumqttc::v5::mqttbytes::QoS::AtLeastOnce;
    sub.subscribe("hdr/out", qos).await.unwrap();
    let received = tokio::spawn(async move {
        loop {
            if let Ok(Event::Incoming(Packet::Publish(p))) = events.poll().await {
                return p;
            }
        }
    });
    let device = TestClient::connect(broker.port(), "hdr-dev", &[]).await;
    // Give the subscription a moment before the device publishes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    device
        .publish("hdr/kitchen", &br#"{"t": 21.5, "ttl": 90}"#[..])
        .await;
    let publish = tokio::time::timeout(T, received)
        .await
        .expect("a republish")
        .unwrap();
    assert_eq!(&publish.payload[..], br#"{"t":21.5}"#);
    let props = publish.properties.expect("MQTT 5 properties");
    assert_eq!(props.content_type.as_deref(), Some("application/json"));
    assert_eq!(props.correlation_data.as_deref(), Some(&b"hdr/kitchen"[..]));
    // The broker forwards what is left of the 90 s (rmqtt rounds the elapsed part up).
    let expiry = props.message_expiry_interval.expect("message expiry");
    assert!((89..=90).contains(&expiry), "{expiry}");
    assert_eq!(props.payload_format_indicator, Some(1));
    assert_eq!(props.response_topic.as_deref(), Some("reply/kitchen"));
    assert_eq!(
        props.user_properties,
        [("room".to_string(), "kitchen".to_string())]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn republish_sends_mqtt5_headers_over_mosquitto() {
    republish_sends_mqtt5_headers(TestBroker::mosquitto()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn republish_sends_mqtt5_headers_from_the_embedded_broker() {
    republish_sends_mqtt5_headers(TestBroker::embedded()).await;
}
