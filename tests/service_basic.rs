//! End-to-end service tests against a private Mosquitto (or the embedded broker): republish
//! with templates, Basic Ingest, the embedded broker with an external client, hot reload
//! including a broken file, and the admin endpoints.

mod common;

use std::time::Duration;

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

#[tokio::test(flavor = "multi_thread")]
async fn basic_ingest_goes_to_the_named_rule_only() {
    let broker = Mosquitto::start();
    let ingest = "-- [[action]]
-- type = \"republish\"
-- topic = \"out/ingest/${topic()}\"
SELECT * FROM 'factory/#'
";
    let rules = rules_dir(&[("ingest_rule", ingest), ("hot", HOT)]);
    let rw = Rulewire::start(
        &format!(
            "[broker]\nurl = \"{}\"\nclient_id = \"rw-bi\"",
            broker.url()
        ),
        rules.path(),
    )
    .await;
    let mut c = TestClient::connect(broker.port, "bi-client", &["out/#"]).await;
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
    assert_eq!(rw.metric("rulewire_payload_rejected_total").await, 1.0);
    assert!(rw.logs().contains("max_payload_bytes"));
}
