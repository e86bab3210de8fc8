//! Persistent sessions on the embedded broker outlive rulewire (kill -9 and a restart with
//! the same data directory), as they outlive anything on AWS IoT Core: the client's
//! subscriptions, the QoS 1 messages queued while it was away, and those it had received
//! but not acknowledged; a clean start, or the session's expiry, ends them.

mod common;

use std::time::Duration;

use common::*;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, Publish, QoS};

const T: Duration = Duration::from_secs(10);

/// rulewire with its embedded broker on a free port and a data directory of its own, which
/// `start` starts again after a kill.
struct Edge {
    port: u16,
    config: String,
    rules: tempfile::TempDir,
    data: tempfile::TempDir,
}

impl Edge {
    fn new(embedded_extra: &str) -> Edge {
        let data = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = format!(
            "[broker]\nclient_id = \"rw-sessions\"\n[embedded_broker]\nlisten = \"127.0.0.1:{port}\"\n\
             {embedded_extra}[storage]\ndata_dir = {:?}\n",
            data.path().display().to_string()
        );
        Edge {
            port,
            config,
            rules: rules_dir(&[]),
            data,
        }
    }

    async fn start(&self) -> Rulewire {
        Rulewire::start(&self.config, self.rules.path()).await
    }
}

/// A device's own MQTT connection, polled by the test: what CONNACK said, and the
/// PUBLISHes it gets (acknowledged by the test when `manual_acks`).
struct Device {
    client: AsyncClient,
    events: EventLoop,
}

impl Device {
    /// Connects with `clean_session` and returns the CONNACK's `session present`.
    async fn connect(
        port: u16,
        id: &str,
        clean_session: bool,
        manual_acks: bool,
    ) -> (Device, bool) {
        let mut opts = MqttOptions::new(id, "127.0.0.1", port);
        opts.set_keep_alive(Duration::from_secs(30))
            .set_clean_session(clean_session)
            .set_manual_acks(manual_acks);
        let (client, mut events) = AsyncClient::new(opts, 100);
        let present = tokio::time::timeout(T, async {
            loop {
                if let Event::Incoming(Packet::ConnAck(ack)) = events.poll().await.expect("connect")
                {
                    return ack.session_present;
                }
            }
        })
        .await
        .expect("CONNACK");
        (Device { client, events }, present)
    }

    async fn subscribe(&mut self, filter: &str) {
        self.client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .unwrap();
        tokio::time::timeout(T, async {
            while !matches!(
                self.events.poll().await.unwrap(),
                Event::Incoming(Packet::SubAck(_))
            ) {}
        })
        .await
        .expect("SUBACK");
    }

    /// A new persistent session subscribed to `filter`, whose client then goes away without
    /// a DISCONNECT.
    async fn subscribe_and_vanish(port: u16, id: &str, filter: &str) {
        let (mut device, present) = Device::connect(port, id, false, false).await;
        assert!(!present, "a new session");
        device.subscribe(filter).await;
    }

    /// The PUBLISHes that arrive until `quiet` passes without one.
    async fn receive(&mut self, quiet: Duration) -> Vec<Publish> {
        let mut got = Vec::new();
        while let Ok(event) = tokio::time::timeout(quiet, self.events.poll()).await {
            if let Event::Incoming(Packet::Publish(p)) = event.expect("connection") {
                got.push(p);
            }
        }
        got
    }

    /// Keeps the connection served (PINGs, the acks the test queued) in the background.
    fn keep_polling(mut self) -> AsyncClient {
        tokio::spawn(async move { while self.events.poll().await.is_ok() {} });
        self.client
    }
}

fn payloads(got: &[Publish]) -> Vec<String> {
    got.iter()
        .map(|p| String::from_utf8_lossy(&p.payload).into_owned())
        .collect()
}

async fn publish_all(port: u16, topic: &str, payloads: &[&str]) {
    let device = TestClient::connect(port, &format!("pub-{}", payloads[0]), &[]).await;
    for p in payloads {
        device.publish(topic, *p).await;
    }
    // Give the broker (and its disk writer) time to take them.
    tokio::time::sleep(Duration::from_millis(500)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_persistent_session_keeps_its_subscriptions_and_queued_messages_through_kill_9() {
    let edge = Edge::new("");
    let port = edge.port;
    let mut rw = edge.start().await;
    Device::subscribe_and_vanish(port, "sleeper", "cmd/#").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    publish_all(port, "cmd/lamp", &["q1", "q2", "q3"]).await;
    rw.sigkill();

    let mut rw = edge.start().await;
    assert!(
        rw.logs().contains("persistent sessions restored"),
        "{}",
        rw.logs()
    );
    // The subscription routes before the client is back.
    publish_all(port, "cmd/lamp", &["q4"]).await;
    let (mut sleeper, present) = Device::connect(port, "sleeper", false, false).await;
    assert!(present, "CONNACK says the session is there");
    let got = sleeper.receive(Duration::from_millis(700)).await;
    assert_eq!(payloads(&got), ["q1", "q2", "q3", "q4"], "in order, once");
    // Received and acknowledged: gone for good.
    drop(sleeper);
    tokio::time::sleep(Duration::from_millis(300)).await;
    rw.sigkill();

    let mut rw = edge.start().await;
    let (mut sleeper, present) = Device::connect(port, "sleeper", false, false).await;
    assert!(present);
    assert!(sleeper.receive(Duration::from_millis(500)).await.is_empty());
    publish_all(port, "cmd/lamp", &["q5"]).await;
    assert_eq!(
        payloads(&sleeper.receive(Duration::from_millis(500)).await),
        ["q5"]
    );

    // A clean start ends the session, on disk too.
    drop(sleeper);
    let (clean, present) = Device::connect(port, "sleeper", true, false).await;
    assert!(!present);
    drop(clean);
    tokio::time::sleep(Duration::from_millis(300)).await;
    rw.sigkill();
    let _rw = edge.start().await;
    let (_sleeper, present) = Device::connect(port, "sleeper", false, false).await;
    assert!(!present, "the clean start's ending outlived the restart");
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_a_client_had_not_acknowledged_come_again_after_kill_9() {
    let edge = Edge::new("");
    let port = edge.port;
    let mut rw = edge.start().await;
    let (mut lamp, _) = Device::connect(port, "lamp", false, true).await;
    lamp.subscribe("cmd/lamp").await;
    publish_all(port, "cmd/lamp", &["a1", "a2", "a3", "a4"]).await;
    let got = lamp.receive(Duration::from_millis(500)).await;
    assert_eq!(payloads(&got), ["a1", "a2", "a3", "a4"]);
    // Acknowledges the first two only, stays connected, and rulewire dies.
    for p in &got[..2] {
        lamp.client.ack(p).await.unwrap();
    }
    let _connected = lamp.keep_polling();
    tokio::time::sleep(Duration::from_millis(500)).await;
    rw.sigkill();

    let _rw = edge.start().await;
    let (mut lamp, present) = Device::connect(port, "lamp", false, false).await;
    assert!(present);
    let again = lamp.receive(Duration::from_millis(700)).await;
    assert_eq!(
        payloads(&again),
        ["a3", "a4"],
        "the unacknowledged ones, once each"
    );
    let sent: Vec<u16> = got[2..].iter().map(|p| p.pkid).collect();
    let resent: Vec<u16> = again.iter().map(|p| p.pkid).collect();
    assert_eq!(resent, sent, "with the packet ids they had");
    assert!(again.iter().all(|p| p.dup), "marked DUP");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_that_expires_while_rulewire_is_down_is_gone() {
    let edge = Edge::new("session_expiry_secs = 1\n");
    let port = edge.port;
    let mut rw = edge.start().await;
    Device::subscribe_and_vanish(port, "short", "cmd/#").await;
    publish_all(port, "cmd/x", &["e1"]).await;
    rw.sigkill();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let _rw = edge.start().await;
    let (mut sleeper, present) = Device::connect(port, "short", false, false).await;
    assert!(!present, "expired: a new session");
    assert!(sleeper.receive(Duration::from_millis(500)).await.is_empty());
}

/// A device that connects under ever new client ids with persistent sessions would fill
/// memory and disk: past `max_sessions`, a new client id is refused, while the sessions
/// there go on.
#[tokio::test(flavor = "multi_thread")]
async fn new_client_ids_are_refused_past_max_sessions() {
    let edge = Edge::new("max_sessions = 3\n");
    let port = edge.port;
    let _rw = edge.start().await;
    for id in ["churn-1", "churn-2", "churn-3"] {
        Device::subscribe_and_vanish(port, id, "cmd/#").await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let opts = MqttOptions::new("churn-4", "127.0.0.1", port);
    assert_eq!(
        connect_refused(opts).await,
        rumqttc::ConnectReturnCode::ServiceUnavailable
    );
    let (_back, present) = Device::connect(port, "churn-2", false, false).await;
    assert!(present, "a client id with a session still gets in");
}

/// A record that does not read (a disk error, a file from another version) is logged,
/// skipped and deleted: the broker starts, and the other sessions are restored.
#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_session_record_is_skipped_at_start() {
    let edge = Edge::new("");
    let port = edge.port;
    let mut rw = edge.start().await;
    Device::subscribe_and_vanish(port, "intact", "cmd/#").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    rw.sigkill();
    {
        let db = redb::Database::create(edge.data.path().join("sessions.redb")).unwrap();
        let write = db.begin_write().unwrap();
        {
            let table: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("sessions");
            let mut table = write.open_table(table).unwrap();
            table.insert("garbled", b"{not json".as_slice()).unwrap();
        }
        write.commit().unwrap();
    }
    let mut rw = edge.start().await;
    assert!(
        rw.logs()
            .contains("skipping (and deleting) an unreadable persistent session"),
        "{}",
        rw.logs()
    );
    let (intact, present) = Device::connect(port, "intact", false, false).await;
    assert!(present);
    // Deleted: the next start has nothing to warn about.
    drop(intact);
    tokio::time::sleep(Duration::from_millis(300)).await;
    rw.sigkill();
    let rw = edge.start().await;
    assert!(!rw.logs().contains("unreadable"), "{}", rw.logs());
}

/// AWS IoT keeps QoS 1 messages for a client that is away, not QoS 0 ones (MQTT lets a
/// broker keep both; rmqtt does): the returning client gets only the QoS 1 message.
#[tokio::test(flavor = "multi_thread")]
async fn only_qos_1_messages_wait_for_a_client_that_is_away() {
    let edge = Edge::new("");
    let port = edge.port;
    let _rw = edge.start().await;
    Device::subscribe_and_vanish(port, "away", "cmd/#").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let device = TestClient::connect(port, "commander", &[]).await;
    device
        .client
        .publish("cmd/a", QoS::AtMostOnce, false, "qos0")
        .await
        .unwrap();
    device.publish("cmd/a", "qos1").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut away, present) = Device::connect(port, "away", false, false).await;
    assert!(present);
    assert_eq!(
        payloads(&away.receive(Duration::from_millis(700)).await),
        ["qos1"]
    );
    // Once back, its QoS 0 messages reach it.
    device
        .client
        .publish("cmd/a", QoS::AtMostOnce, false, "live")
        .await
        .unwrap();
    assert_eq!(
        payloads(&away.receive(Duration::from_millis(500)).await),
        ["live"]
    );
}
