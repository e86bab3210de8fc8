//! Device Shadows over real MQTT clients, on Mosquitto and on the embedded broker: AWS's
//! documented request/response sequence (compared as text, so key order counts), named
//! shadows, rules that read `/update/accepted` and call `get_thing_shadow()`, the admin API,
//! and shadows that survive kill -9.

mod common;

use std::time::Duration;

use common::brokers::TestBroker;
use common::*;

const T: Duration = Duration::from_secs(10);

/// Every answer topic of `prefix` (a shadow's topic prefix).
fn answer_filters(prefix: &str) -> Vec<String> {
    [
        "get/accepted",
        "get/rejected",
        "update/accepted",
        "update/rejected",
        "update/delta",
        "update/documents",
        "delete/accepted",
        "delete/rejected",
    ]
    .iter()
    .map(|s| format!("{prefix}/{s}"))
    .collect()
}

/// `"timestamp":<digits>` → `"timestamp":T`, so that answers compare as text.
fn without_times(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("\"timestamp\":") {
        let (head, tail) = rest.split_at(i + "\"timestamp\":".len());
        out.push_str(head);
        out.push('T');
        rest = tail.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

/// A device: publishes requests and reads its shadows' answers.
struct Device {
    client: TestClient,
}

impl Device {
    async fn connect(port: u16, id: &str, prefixes: &[&str]) -> Device {
        let filters: Vec<String> = prefixes.iter().flat_map(|p| answer_filters(p)).collect();
        let filters: Vec<&str> = filters.iter().map(String::as_str).collect();
        Device {
            client: TestClient::connect(port, id, &filters).await,
        }
    }

    /// Publishes `payload` to `topic` and returns the next `n` answers as (topic, text
    /// without timestamps).
    async fn request(&mut self, topic: &str, payload: &str, n: usize) -> Vec<(String, String)> {
        self.client.publish(topic, payload).await;
        let mut answers = Vec::new();
        for _ in 0..n {
            let (topic, payload) = self
                .client
                .next(T)
                .await
                .unwrap_or_else(|| panic!("answer {} of {n} to {topic}", answers.len() + 1));
            answers.push((topic, without_times(&String::from_utf8(payload).unwrap())));
        }
        answers
    }
}

fn answer(topic: &str, text: &str) -> (String, String) {
    (topic.to_owned(), text.to_owned())
}

const ACCEPTED_COLOR: &str = "-- [[action]]
-- type = \"republish\"
-- topic = \"out/accepted/${topic(3)}\"
SELECT state.reported.color AS color, version FROM '$aws/things/+/shadow/update/accepted'
";

const ASK_SHADOW: &str = "-- [[action]]
-- type = \"republish\"
-- topic = \"out/asked\"
SELECT get_thing_shadow(topic(2), 'arn:aws:iam::123456789012:role/ShadowRead').state.desired.color AS desired,
       get_thing_shadow(topic(2), 'config', 'arn:aws:iam::123456789012:role/ShadowRead').state.reported AS config
FROM 'ask/+'
";

async fn documented_sequence(broker: TestBroker, name: &str) {
    let rules = rules_dir(&[("accepted_color", ACCEPTED_COLOR), ("ask", ASK_SHADOW)]);
    let rw = Rulewire::start(&broker.config(&format!("rw-{name}")), rules.path()).await;
    let p = "$aws/things/lamp/shadow";
    let named = "$aws/things/lamp/shadow/name/config";
    let mut lamp = Device::connect(broker.port(), &format!("{name}-lamp"), &[p, named]).await;
    let mut out = TestClient::connect(broker.port(), &format!("{name}-out"), &["out/#"]).await;

    assert_eq!(
        lamp.request(&format!("{p}/get"), r#"{"clientToken":"c0"}"#, 1)
            .await,
        [answer(
            &format!("{p}/get/rejected"),
            r#"{"code":404,"message":"No shadow exists with name: 'lamp'","clientToken":"c0"}"#
        )]
    );
    assert_eq!(
        lamp.request(
            &format!("{p}/update"),
            r#"{"state":{"reported":{"color":"green","on":true}},"clientToken":"c1"}"#,
            2
        )
        .await,
        [
            answer(
                &format!("{p}/update/documents"),
                r#"{"previous":null,"current":{"state":{"reported":{"color":"green","on":true}},"metadata":{"reported":{"color":{"timestamp":T},"on":{"timestamp":T}}},"version":1},"timestamp":T,"clientToken":"c1"}"#
            ),
            answer(
                &format!("{p}/update/accepted"),
                r#"{"state":{"reported":{"color":"green","on":true}},"metadata":{"reported":{"color":{"timestamp":T},"on":{"timestamp":T}}},"version":1,"timestamp":T,"clientToken":"c1"}"#
            ),
        ]
    );
    // A rule reads /update/accepted, as on AWS.
    let (topic, json) = out.next_json(T).await;
    assert_eq!(topic, "out/accepted/lamp");
    assert_eq!(json, serde_json::json!({"color": "green", "version": 1}));

    let answers = lamp
        .request(
            &format!("{p}/update"),
            r#"{"state":{"desired":{"color":"red"}},"version":1}"#,
            3,
        )
        .await;
    assert_eq!(
        answers[0],
        answer(
            &format!("{p}/update/delta"),
            r#"{"version":2,"timestamp":T,"state":{"color":"red"},"metadata":{"color":{"timestamp":T}}}"#
        )
    );
    assert_eq!(answers[2].0, format!("{p}/update/accepted"));
    assert_eq!(
        lamp.request(
            &format!("{p}/update"),
            r#"{"state":{"desired":{"color":"blue"}},"version":1,"clientToken":"stale"}"#,
            1
        )
        .await,
        [answer(
            &format!("{p}/update/rejected"),
            r#"{"code":409,"message":"Version conflict","clientToken":"stale"}"#
        )]
    );
    assert_eq!(
        lamp.request(&format!("{p}/get"), "", 1).await,
        [answer(
            &format!("{p}/get/accepted"),
            r#"{"state":{"desired":{"color":"red"},"reported":{"color":"green","on":true},"delta":{"color":"red"}},"metadata":{"desired":{"color":{"timestamp":T}},"reported":{"color":{"timestamp":T},"on":{"timestamp":T}}},"version":2,"timestamp":T}"#
        )]
    );
    assert_eq!(
        lamp.request(&format!("{p}/update"), r#"{"state":{"reported":"x"}}"#, 1)
            .await,
        [answer(
            &format!("{p}/update/rejected"),
            r#"{"code":400,"message":"Reported node must be an object"}"#
        )]
    );
    // A named shadow is a shadow of its own.
    let answers = lamp
        .request(
            &format!("{named}/update"),
            r#"{"state":{"reported":{"mode":"eco"}}}"#,
            2,
        )
        .await;
    assert!(answers[1].1.contains(r#""version":1"#), "{answers:?}");
    out.drain(Duration::from_millis(300)).await;

    // Rules read both shadows with get_thing_shadow().
    let asker = TestClient::connect(broker.port(), &format!("{name}-asker"), &[]).await;
    asker.publish("ask/lamp", "{}").await;
    let (topic, json) = out.next_json(T).await;
    assert_eq!(topic, "out/asked");
    assert_eq!(
        json,
        serde_json::json!({"desired": "red", "config": {"mode": "eco"}})
    );

    // Operators read them over HTTP.
    let (code, body) = rw.get("/shadows/lamp/config").await.unwrap();
    assert_eq!(code, 200);
    assert!(
        without_times(&body).starts_with(r#"{"state":{"reported":{"mode":"eco"}},"metadata":"#),
        "{body}"
    );
    assert_eq!(rw.get("/shadows/nobody").await.unwrap().0, 404);

    assert_eq!(
        lamp.request(&format!("{p}/delete"), r#"{"clientToken":"bye"}"#, 1)
            .await,
        [answer(
            &format!("{p}/delete/accepted"),
            r#"{"version":2,"timestamp":T,"clientToken":"bye"}"#
        )]
    );
    assert_eq!(
        lamp.request(&format!("{p}/get"), "", 1).await[0].0,
        format!("{p}/get/rejected")
    );
    assert_eq!(rw.get("/shadows/lamp").await.unwrap().0, 404);
    // The version carries on after the delete.
    let answers = lamp
        .request(
            &format!("{p}/update"),
            r#"{"state":{"reported":{"on":false}}}"#,
            2,
        )
        .await;
    assert!(answers[1].1.contains(r#""version":3"#), "{answers:?}");
    assert_eq!(
        rw.metric("rulewire_shadow_requests_total{operation=\"update\",result=\"409\"}")
            .await,
        1.0
    );
    assert_eq!(rw.metric("rulewire_shadows").await, 2.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn awss_documented_sequence_on_mosquitto() {
    documented_sequence(TestBroker::mosquitto(), "shm").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn awss_documented_sequence_on_the_embedded_broker() {
    documented_sequence(TestBroker::embedded(), "she").await;
}

/// Every update answered "accepted" is on disk: kill -9 right after the last one, and the
/// restarted service (and its rules) have it.
#[tokio::test(flavor = "multi_thread")]
async fn accepted_updates_survive_kill_9() {
    let broker = TestBroker::embedded();
    let data = tempfile::tempdir().unwrap();
    // 40 updates as fast as they are answered: over AWS's 20 a second, so no limit here.
    let config = format!(
        "{}[shadows]\nrequests_per_second_per_thing = 0\n[storage]\ndata_dir = {:?}\n",
        broker.config("rw-shk"),
        data.path().display().to_string()
    );
    let rules = rules_dir(&[("ask", ASK_SHADOW)]);
    let mut rw = Rulewire::start(&config, rules.path()).await;
    let p = "$aws/things/pump/shadow";
    let mut pump = Device::connect(broker.port(), "shk-pump", &[p]).await;
    const N: u64 = 40;
    for n in 1..=N {
        let answers = pump
            .request(
                &format!("{p}/update"),
                &format!(
                    r#"{{"state":{{"desired":{{"color":"c{n}"}}}},"version":{}}}"#,
                    n - 1
                ),
                3,
            )
            .await;
        assert!(
            answers[2].1.contains(&format!(r#""version":{n},"#)),
            "{answers:?}"
        );
    }
    rw.sigkill();
    drop(pump);
    let rw = Rulewire::start(&config, rules.path()).await;
    let mut pump = Device::connect(broker.port(), "shk-pump2", &[p]).await;
    let got = pump.request(&format!("{p}/get"), "", 1).await;
    assert!(
        got[0].1.starts_with(&format!(
            r#"{{"state":{{"desired":{{"color":"c{N}"}},"delta":{{"color":"c{N}"}}}}"#
        )),
        "{got:?}"
    );
    assert!(got[0].1.contains(&format!(r#""version":{N},"#)), "{got:?}");
    let mut out = TestClient::connect(broker.port(), "shk-out", &["out/#"]).await;
    let asker = TestClient::connect(broker.port(), "shk-asker", &[]).await;
    asker.publish("ask/pump", "{}").await;
    let (_, json) = out.next_json(T).await;
    assert_eq!(json, serde_json::json!({"desired": format!("c{N}")}));
    drop(rw);
}

/// AWS's shadow policy: a thing may use its own shadow's topics and no other's.
const SHADOW_POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": "iot:Connect",
     "Resource": "arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"},
    {"Effect": "Allow", "Action": "iot:Publish",
     "Resource": "arn:aws:iot:us-east-1:123456789012:topic/$aws/things/${iot:Connection.Thing.ThingName}/shadow/*"},
    {"Effect": "Allow", "Action": "iot:Subscribe",
     "Resource": "arn:aws:iot:us-east-1:123456789012:topicfilter/$aws/things/${iot:Connection.Thing.ThingName}/shadow/*"},
    {"Effect": "Allow", "Action": "iot:Receive",
     "Resource": "arn:aws:iot:us-east-1:123456789012:topic/$aws/things/${iot:Connection.Thing.ThingName}/shadow/*"}
  ]
}"#;

/// A device logging in as `thing` (password "secret"), with a last will on `will` if given:
/// its events, in order.
fn login(
    port: u16,
    thing: &str,
    will: Option<&str>,
) -> (
    rumqttc::AsyncClient,
    tokio::sync::mpsc::UnboundedReceiver<Result<rumqttc::Packet, String>>,
) {
    let mut opts = rumqttc::MqttOptions::new(thing, "127.0.0.1", port);
    opts.set_credentials(thing, "secret");
    if let Some(topic) = will {
        opts.set_last_will(rumqttc::LastWill::new(
            topic,
            r#"{"state":{"desired":{"on":true}}}"#,
            rumqttc::QoS::AtLeastOnce,
            false,
        ));
    }
    let (client, mut eventloop) = rumqttc::AsyncClient::new(opts, 100);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let event = match eventloop.poll().await {
                Ok(rumqttc::Event::Incoming(p)) => Ok(p),
                Ok(rumqttc::Event::Outgoing(_)) => continue,
                Err(e) => Err(e.to_string()),
            };
            let failed = event.is_err();
            if tx.send(event).is_err() || failed {
                return;
            }
        }
    });
    (client, rx)
}

/// On the embedded broker a device reaches only its own shadow: another thing's update is
/// refused before the shadow service sees it, and its answers are not delivered.
#[tokio::test(flavor = "multi_thread")]
async fn device_policies_keep_each_thing_to_its_own_shadow() {
    use rumqttc::{Packet, QoS, SubscribeReasonCode};
    let devices = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(devices.path().join("policies")).unwrap();
    std::fs::write(
        devices.path().join("policies/ShadowPolicy.json"),
        SHADOW_POLICY,
    )
    .unwrap();
    // sha256("secret")
    let secret = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";
    let mut registry = String::new();
    for thing in ["lamp", "intruder"] {
        registry.push_str(&format!(
            "[[thing]]\nname = \"{thing}\"\n[[login]]\nusername = \"{thing}\"\n\
             password_sha256 = \"{secret}\"\nthing = \"{thing}\"\npolicies = [\"ShadowPolicy\"]\n"
        ));
    }
    std::fs::write(devices.path().join("devices.toml"), registry).unwrap();
    let port = free_port();
    let config = format!(
        "[broker]\nclient_id = \"rw-shp\"\n[embedded_broker]\nlisten = \"127.0.0.1:{port}\"\n\
         devices_dir = {:?}\n",
        devices.path().display().to_string()
    );
    let rules = rules_dir(&[]);
    let rw = Rulewire::start(&config, rules.path()).await;

    let (lamp, mut lamp_events) = login(port, "lamp", None);
    let (intruder, mut intruder_events) = login(port, "intruder", None);
    for events in [&mut lamp_events, &mut intruder_events] {
        match tokio::time::timeout(T, events.recv()).await.unwrap() {
            Some(Ok(Packet::ConnAck(_))) => {}
            other => panic!("expected a CONNACK, got {other:?}"),
        }
    }
    // Subscribing to another thing's answers is refused.
    intruder
        .subscribe("$aws/things/lamp/shadow/update/accepted", QoS::AtLeastOnce)
        .await
        .unwrap();
    match tokio::time::timeout(T, intruder_events.recv())
        .await
        .unwrap()
    {
        Some(Ok(Packet::SubAck(a))) => {
            assert_eq!(a.return_codes, [SubscribeReasonCode::Failure])
        }
        other => panic!("expected a SUBACK, got {other:?}"),
    }
    // Updating another thing's shadow costs the (MQTT 3.1.1) connection, as on AWS.
    intruder
        .publish(
            "$aws/things/lamp/shadow/update",
            QoS::AtLeastOnce,
            false,
            r#"{"state":{"desired":{"on":false}}}"#,
        )
        .await
        .unwrap();
    loop {
        match tokio::time::timeout(T, intruder_events.recv())
            .await
            .unwrap()
        {
            Some(Err(_)) | None => break,
            Some(Ok(Packet::PubAck(_))) => panic!("the broker accepted the intruder's update"),
            Some(Ok(_)) => {}
        }
    }
    assert_eq!(rw.get("/shadows/lamp").await.unwrap().0, 404);
    // Nor through a last will (the broker publishes wills without the publish check): a
    // CONNECT whose will the device may not publish is refused.
    let (_sneaky, mut sneaky_events) =
        login(port, "intruder", Some("$aws/things/lamp/shadow/update"));
    match tokio::time::timeout(T, sneaky_events.recv()).await.unwrap() {
        Some(Ok(Packet::ConnAck(a))) => {
            assert_ne!(a.code, rumqttc::ConnectReturnCode::Success)
        }
        Some(Err(e)) => assert!(e.contains("NotAuthorized") || e.contains("refused"), "{e}"),
        other => panic!("expected a refused CONNECT, got {other:?}"),
    }

    // The lamp uses its own shadow.
    lamp.subscribe("$aws/things/lamp/shadow/update/accepted", QoS::AtLeastOnce)
        .await
        .unwrap();
    lamp.publish(
        "$aws/things/lamp/shadow/update",
        QoS::AtLeastOnce,
        false,
        r#"{"state":{"reported":{"on":true}}}"#,
    )
    .await
    .unwrap();
    let accepted = loop {
        match tokio::time::timeout(T, lamp_events.recv()).await.unwrap() {
            Some(Ok(Packet::Publish(p))) => break p,
            Some(Ok(_)) => {}
            other => panic!("lamp: {other:?}"),
        }
    };
    assert_eq!(accepted.topic, "$aws/things/lamp/shadow/update/accepted");
    let (code, body) = rw.get("/shadows/lamp").await.unwrap();
    assert_eq!(code, 200);
    assert!(body.contains(r#""reported":{"on":true}"#), "{body}");
    assert!(
        rw.metric("rulewire_embedded_broker_denied_total{action=\"iot:Publish\"}")
            .await
            >= 1.0
    );
}

/// AWS's limit of 20 requests a second per thing: a burst of 40 updates gets 429 answers for
/// what is over it (Mosquitto: the limit per connection needs the client id, which an
/// external broker does not pass on).
#[tokio::test(flavor = "multi_thread")]
async fn a_burst_over_20_requests_a_second_per_thing_gets_429() {
    let broker = TestBroker::mosquitto();
    let rules = rules_dir(&[]);
    let rw = Rulewire::start(&broker.config("rw-sh429"), rules.path()).await;
    let p = "$aws/things/chatty/shadow";
    let mut device = Device::connect(broker.port(), "sh429-chatty", &[p]).await;
    for n in 0..40 {
        device
            .client
            .publish(
                &format!("{p}/update"),
                format!(r#"{{"state":{{"reported":{{"n":{n}}}}},"clientToken":"t{n}"}}"#),
            )
            .await;
    }
    let answers = device.client.drain(Duration::from_secs(2)).await;
    let accepted = answers
        .iter()
        .filter(|(t, _)| t.ends_with("/update/accepted"))
        .count();
    let throttled: Vec<String> = answers
        .iter()
        .filter(|(t, _)| t.ends_with("/update/rejected"))
        .map(|(_, p)| String::from_utf8(p.clone()).unwrap())
        .collect();
    assert_eq!(accepted + throttled.len(), 40, "{answers:?}");
    assert!((20..40).contains(&accepted), "{accepted} accepted");
    assert!(
        throttled
            .iter()
            .all(|t| t.starts_with(r#"{"code":429,"message":"Too Many Requests","clientToken":"t"#)),
        "{throttled:?}"
    );
    assert_eq!(
        rw.metric("rulewire_shadow_requests_total{operation=\"update\",result=\"429\"}")
            .await as usize,
        throttled.len()
    );
}

/// A request over `limits.max_payload_bytes` is not read, and still gets AWS's 413 answer.
#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_request_gets_413() {
    for broker in [TestBroker::embedded(), TestBroker::mosquitto()] {
        let config = format!(
            "{}[limits]\nmax_payload_bytes = 1000\n",
            broker.config("rw-sh413")
        );
        let rules = rules_dir(&[]);
        let _rw = Rulewire::start(&config, rules.path()).await;
        let p = "$aws/things/big/shadow";
        let mut device = Device::connect(broker.port(), "sh413-big", &[p]).await;
        let huge = format!(
            r#"{{"state":{{"reported":{{"x":"{}"}}}}}}"#,
            "y".repeat(2000)
        );
        assert_eq!(
            device.request(&format!("{p}/update"), &huge, 1).await,
            [answer(
                &format!("{p}/update/rejected"),
                r#"{"code":413,"message":"The payload exceeds the maximum size allowed"}"#
            )]
        );
    }
}

/// A last will reaches the rules on the embedded broker (AWS runs rules on wills), and the
/// shadow service ignores it (as AWS's does): a will sent to a shadow's update topic changes
/// nothing.
#[tokio::test(flavor = "multi_thread")]
async fn wills_reach_the_rules_and_not_the_shadow_service() {
    let broker = TestBroker::embedded();
    let seen = "-- [[action]]\n-- type = \"republish\"\n-- topic = \"out/will\"\n\
                SELECT *, clientid() AS c FROM '$aws/things/+/shadow/update'\n";
    let rules = rules_dir(&[("seen", seen)]);
    let rw = Rulewire::start(&broker.config("rw-shwill"), rules.path()).await;
    let mut out = TestClient::connect(broker.port(), "shwill-out", &["out/#"]).await;

    let mut opts = rumqttc::MqttOptions::new("ghost-device", "127.0.0.1", broker.port());
    opts.set_last_will(rumqttc::LastWill::new(
        "$aws/things/ghost/shadow/update",
        r#"{"state":{"reported":{"online":false}}}"#,
        rumqttc::QoS::AtLeastOnce,
        false,
    ));
    let (_client, mut eventloop) = rumqttc::AsyncClient::new(opts, 10);
    let connection = tokio::spawn(async move {
        loop {
            if eventloop.poll().await.is_err() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Gone without a DISCONNECT: the broker publishes the will.
    connection.abort();
    let (topic, json) = out.next_json(T).await;
    assert_eq!(topic, "out/will");
    assert_eq!(
        json,
        serde_json::json!({"state": {"reported": {"online": false}}, "c": "ghost-device"})
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rw.get("/shadows/ghost").await.unwrap().0, 404);
}
