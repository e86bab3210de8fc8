//! Republish tests against the real Mosquitto at 127.0.0.1:1883, through a small rumqttc
//! (MQTT 5) `MqttPublisher` and a rumqttc subscriber; plus unit tests of topic handling.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use rulewire_engine::SqlVersion;
use rumqttc::v5::{
    AsyncClient, Event, MqttOptions,
    mqttbytes::{
        QoS,
        v5::{Packet, Publish, PublishProperties},
    },
};
use tokio::sync::mpsc;

use super::{TopicTemplate, check_topic};
use crate::{
    BoxFuture, FiredMessage, MqttPublisher,
    test_util::{build_action, context, table},
};

const BROKER: (&str, u16) = ("127.0.0.1", 1883);

/// A unique topic prefix per test, so parallel tests and runs don't see each other.
fn prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("rulewire-test/{test}-{}-{nanos}", std::process::id())
}

/// An `MqttPublisher` over a rumqttc MQTT 5 client; resolves once the request is queued
/// (the service's publisher also waits for the PUBACK).
struct RumqttcPublisher(AsyncClient);

impl RumqttcPublisher {
    fn connect(id: &str) -> RumqttcPublisher {
        let (client, mut eventloop) =
            AsyncClient::new(MqttOptions::new(id, BROKER.0, BROKER.1), 64);
        tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
        RumqttcPublisher(client)
    }
}

impl MqttPublisher for RumqttcPublisher {
    fn publish(
        &self,
        topic: String,
        qos: u8,
        retain: bool,
        payload: Vec<u8>,
        headers: crate::PublishProperties,
    ) -> BoxFuture<'_, Result<(), String>> {
        let qos = if qos == 1 {
            QoS::AtLeastOnce
        } else {
            QoS::AtMostOnce
        };
        let properties = PublishProperties {
            user_properties: headers.user_properties,
            content_type: headers.content_type,
            correlation_data: headers.correlation_data.map(Into::into),
            message_expiry_interval: headers.message_expiry,
            payload_format_indicator: headers.payload_format_indicator,
            response_topic: headers.response_topic,
            ..Default::default()
        };
        Box::pin(async move {
            self.0
                .publish_with_properties(topic, qos, retain, payload, properties)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

/// Subscribes to `filter` at QoS 1 and returns the publishes it receives, once subscribed.
async fn subscribe(id: &str, filter: &str) -> mpsc::UnboundedReceiver<Publish> {
    let (client, mut eventloop) = AsyncClient::new(MqttOptions::new(id, BROKER.0, BROKER.1), 64);
    client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let (subscribed_tx, subscribed_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let _client = client; // keep the request channel open
        let mut subscribed = Some(subscribed_tx);
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    subscribed.take().map(|s| s.send(()));
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if tx.send(p).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => panic!("subscriber connection to Mosquitto failed: {e}"),
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(5), subscribed_rx)
        .await
        .expect("SUBACK from Mosquitto")
        .unwrap();
    rx
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Publish>) -> Publish {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a message within 5 s")
        .unwrap()
}

fn message(output: &[u8]) -> FiredMessage {
    FiredMessage {
        rule_name: "republish_rule".into(),
        topic: "sensors/room1".into(),
        client_id: "dev-9".into(),
        original_payload: Bytes::from_static(br#"{"temp":31,"site":"north","wild":"a/+"}"#),
        output: output.to_vec(),
        trace_id: crate::TraceId::try_from("trace-9").unwrap(),
        ..Default::default()
    }
}

fn config(toml_text: &str) -> toml::Table {
    table(&format!("type = \"republish\"\n{toml_text}"))
}

#[tokio::test]
async fn publishes_output_to_the_rendered_topic_with_qos1_and_user_properties() {
    let prefix = prefix("render");
    let mut rx = subscribe(&format!("{prefix}-sub"), &format!("{prefix}/#")).await;
    let (ctx, metrics) = context(Arc::new(RumqttcPublisher::connect(&format!(
        "{prefix}-pub"
    ))));
    let cfg = config(&format!(
        r#"topic = "{prefix}/${{topic(2)}}/${{site}}"
qos = 1
user_properties = [{{key = "from", value = "${{clientid()}}"}}, {{key = "${{topic(1)}}", value = "k"}}]"#
    ));
    let action = build_action(&cfg, SqlVersion::default(), &ctx).unwrap();
    assert_eq!(action.kind(), "republish");

    // Binary output, and no `site` in it: the topic is rendered from the ORIGINAL payload.
    let output = b"\x00\xffraw output";
    action.execute(&message(output)).await.unwrap();

    let got = next(&mut rx).await;
    assert_eq!(got.topic, Bytes::from(format!("{prefix}/room1/north")));
    assert_eq!(got.payload, Bytes::from_static(output));
    assert_eq!(got.qos, QoS::AtLeastOnce);
    assert!(!got.retain);
    let props = got.properties.expect("MQTT 5 properties").user_properties;
    assert_eq!(
        props,
        [
            ("from".to_string(), "dev-9".to_string()),
            ("sensors".to_string(), "k".to_string())
        ]
    );
    assert_eq!(metrics.get("success:republish"), 1);
}

/// AWS's republish `headers`: every MQTT 5 property, rendered from templates, reaches a real
/// subscriber through Mosquitto.
#[tokio::test]
async fn mqtt5_headers_are_rendered_and_published() {
    let prefix = prefix("headers");
    let mut rx = subscribe(&format!("{prefix}-sub"), &format!("{prefix}/#")).await;
    let (ctx, _) = context(Arc::new(RumqttcPublisher::connect(&format!(
        "{prefix}-pub"
    ))));
    let cfg = config(&format!(
        r#"topic = "{prefix}/out"
qos = 1
content_type = "application/${{site}}"
correlation_data = "${{encode(topic(), 'base64')}}"
message_expiry = "${{temp * 2}}"
payload_format_indicator = "UTF8_DATA"
response_topic = "reply/${{clientid()}}"
user_properties = [{{key = "k", value = "v"}}]"#
    ));
    let action = build_action(&cfg, SqlVersion::default(), &ctx).unwrap();
    action.execute(&message(b"{}")).await.unwrap();
    let props = next(&mut rx).await.properties.expect("MQTT 5 properties");
    assert_eq!(props.content_type.as_deref(), Some("application/north"));
    assert_eq!(
        props.correlation_data.as_deref(),
        Some(&b"sensors/room1"[..])
    );
    assert_eq!(props.message_expiry_interval, Some(62));
    assert_eq!(props.payload_format_indicator, Some(1));
    assert_eq!(props.response_topic.as_deref(), Some("reply/dev-9"));
    assert_eq!(props.user_properties, [("k".to_string(), "v".to_string())]);

    // Values that render invalid fail the message for the error action, not the service.
    for (field, value, why) in [
        ("correlation_data", "not base64!", "base64"),
        ("message_expiry", "${site}", "seconds"),
        ("payload_format_indicator", "TEXT", "UTF8_DATA"),
        ("response_topic", "r/${wild}", "wildcard"),
    ] {
        let cfg = config(&format!("topic = \"{prefix}/out\"\n{field} = {value:?}"));
        let action = build_action(&cfg, SqlVersion::default(), &ctx).unwrap();
        let failure = action.execute(&message(b"{}")).await.unwrap_err();
        assert!(
            failure.error_message.contains(why),
            "{field}: {}",
            failure.error_message
        );
    }
}

#[tokio::test]
async fn dollar_dollar_publishes_to_a_reserved_topic() {
    let prefix = prefix("reserved");
    let reserved = format!("${prefix}");
    let mut rx = subscribe(&format!("{prefix}-sub"), &reserved).await;
    let (ctx, _) = context(Arc::new(RumqttcPublisher::connect(&format!(
        "{prefix}-pub"
    ))));
    let action = build_action(
        &config(&format!("topic = \"$${prefix}\"\nqos = 1")),
        SqlVersion::default(),
        &ctx,
    )
    .unwrap();
    action.execute(&message(b"{}")).await.unwrap();
    let got = next(&mut rx).await;
    assert_eq!(got.topic, Bytes::from(reserved));
}

#[tokio::test]
async fn bad_rendered_topics_fail_for_the_error_action() {
    let (ctx, metrics) = context(Arc::new(RumqttcPublisher::connect(&prefix("bad"))));
    let build = |topic: &str| {
        build_action(
            &config(&format!("topic = {topic:?}")),
            SqlVersion::default(),
            &ctx,
        )
        .unwrap()
    };

    // Each fails for the error action, naming the topic it rendered and why.
    let fails = async |topic: &str, rendered: &str, why: &str| {
        let failure = build(topic).execute(&message(b"{}")).await.unwrap_err();
        assert_eq!(failure.failed_action, "RepublishAction");
        assert_eq!(failure.failed_resource, rendered);
        assert!(
            failure.error_message.contains(why),
            "{}",
            failure.error_message
        );
    };
    fails("out/${wild}", "out/a/+", "wildcard").await;
    // AWS IoT Core's limits: 7 slashes at most.
    fails(
        "out/${topic()}/c/d/e/f/g/h",
        "out/sensors/room1/c/d/e/f/g/h",
        "8 slashes",
    )
    .await;
    fails("${missing}", "", "empty").await;
    assert_eq!(
        (
            metrics.get("failure:republish"),
            metrics.get("retry:republish")
        ),
        (3, 0)
    );
}

/// Fails its first `failures` publishes, then succeeds: the retry path of the trait boundary.
struct Flaky {
    failures: u32,
    calls: AtomicU32,
}

impl MqttPublisher for Flaky {
    fn publish(
        &self,
        _: String,
        _: u8,
        _: bool,
        _: Vec<u8>,
        _: crate::PublishProperties,
    ) -> BoxFuture<'_, Result<(), String>> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let failures = self.failures;
        Box::pin(async move {
            if n < failures {
                Err("not connected".to_owned())
            } else {
                Ok(())
            }
        })
    }
}

#[tokio::test]
async fn publish_errors_are_retried_then_reported() {
    let flaky = Arc::new(Flaky {
        failures: 2,
        calls: AtomicU32::new(0),
    });
    let (ctx, metrics) = context(flaky.clone());
    let action = build_action(&config("topic = \"t\""), SqlVersion::default(), &ctx).unwrap();
    action.execute(&message(b"{}")).await.unwrap();
    assert_eq!(
        (
            flaky.calls.load(Ordering::SeqCst),
            metrics.get("retry:republish")
        ),
        (3, 2)
    );

    let down = Arc::new(Flaky {
        failures: u32::MAX,
        calls: AtomicU32::new(0),
    });
    let (ctx, _) = context(down.clone());
    let action = build_action(&config("topic = \"t\""), SqlVersion::default(), &ctx).unwrap();
    let failure = action.execute(&message(b"{}")).await.unwrap_err();
    assert_eq!(down.calls.load(Ordering::SeqCst), 3);
    assert_eq!(failure.failed_resource, "t");
    assert!(
        failure.error_message.contains("not connected"),
        "{}",
        failure.error_message
    );
}

#[test]
fn topic_templates_and_checks() {
    let render = |text: &str| {
        TopicTemplate::parse(text, SqlVersion::default())
            .unwrap()
            .render(&message(b"{}"))
    };
    assert_eq!(render("$$rulewire/test"), "$rulewire/test");
    assert_eq!(
        render("$$aws/things/${clientid()}/shadow/update"),
        "$aws/things/dev-9/shadow/update"
    );
    assert_eq!(render("alerts/${topic(2)}"), "alerts/room1");
    assert_eq!(render("${topic()}/republish"), "sensors/room1/republish");

    assert!(check_topic("a/b").is_ok());
    assert!(check_topic("").is_err());
    assert!(check_topic("a/#").is_err());
    assert!(check_topic("a\0b").is_err());
    assert!(check_topic(&"x".repeat(256)).is_ok());
    assert!(check_topic(&"x".repeat(257)).is_err());
    assert!(check_topic("a/b/c/d/e/f/g/h").is_ok());
    assert!(check_topic("a/b/c/d/e/f/g/h/i").is_err());
}

#[test]
fn bad_configs_fail_at_build_naming_the_field() {
    let (ctx, _) = context(Arc::new(Flaky {
        failures: 0,
        calls: AtomicU32::new(0),
    }));
    let build = |text: &str| {
        build_action(&config(text), SqlVersion::default(), &ctx)
            .err()
            .unwrap()
            .to_string()
    };
    assert!(build("topic = \"t\"\nqos = 2").contains("field `qos`"));
    assert!(build("topic = \"a/#\"").contains("field `topic`"));
    assert!(build("topic = \"\"").contains("field `topic`"));
    assert!(build("topic = \"a/${topic(\"").contains("field `topic`: bad template"));
    let e = build("topic = \"t\"\nuser_properties = [{key = \"k\", value = \"${}\"}]");
    assert!(e.contains("field `user_properties[0].value`"), "{e}");
    assert!(build("topic = \"t\"\nmax_in_flight = 0").contains("field `max_in_flight`"));
}
