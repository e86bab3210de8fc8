//! The mqtt action as an edge uplink: rulewire reads from its local Mosquitto and forwards to
//! a second ("cloud") Mosquitto over mqtts with a client certificate, through a disk buffer.
//! The cloud broker is stopped for 30 s in the middle of 10,000 messages: every message
//! arrives, in order, once it is back.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::tls::Pki;
use common::*;

const N: u64 = 10_000;

#[tokio::test(flavor = "multi_thread")]
async fn an_uplink_down_for_30_s_forwards_everything_in_order_once_back() {
    let pki = Pki::new();
    let tls_port = free_port();
    let mut cloud = Mosquitto::start_persistent(&pki.listener(tls_port));
    let local = Mosquitto::start();
    let data = tempfile::tempdir().unwrap();
    let rules = rules_dir(&[(
        "uplink",
        "-- [[action]]\n-- type = \"mqtt\"\n-- connection = \"cloud\"\n\
         -- topic = \"up/${topic(2)}\"\n-- qos = 1\n-- buffer = { type = \"disk\" }\n\
         SELECT seq FROM 'dev/+/seq'\n",
    )]);
    let config = format!(
        "[broker]\nurl = \"{}\"\nclient_id = \"rw-uplink\"\n[storage]\ndata_dir = {:?}\n\
         [mqtt.connections.cloud]\nurl = \"mqtts://localhost:{tls_port}\"\nclient_id = \"edge-1\"\n\
         ca_file = {:?}\nclient_cert = {:?}\nclient_key = {:?}\n",
        local.url(),
        data.path().display().to_string(),
        pki.path("ca.crt"),
        pki.path("client.crt"),
        pki.path("client.key"),
    );
    let rw = Rulewire::start(&config, rules.path()).await;
    // A persistent session on the cloud broker: it keeps the subscription across its restart.
    let mut cloud_sub = TestClient::connect_with(cloud.port, "cloud-app", &["up/#"], false).await;
    let producer = TestClient::connect(local.port, "uplink-device", &[]).await;

    let publish = async |range: std::ops::Range<u64>| {
        for seq in range {
            producer
                .publish("dev/d1/seq", format!("{{\"seq\": {seq}}}"))
                .await;
        }
    };
    let mut received = Vec::new();
    publish(0..N / 4).await;
    while received.len() < 500 {
        let (topic, json) = cloud_sub.next_json(Duration::from_secs(20)).await;
        assert_eq!(topic, "up/d1");
        received.push(json["seq"].as_u64().unwrap());
    }

    // The uplink goes down for 30 s while the rest is published.
    cloud.stop();
    let down = tokio::time::Instant::now();
    publish(N / 4..N).await;
    wait_until("everything buffered", Duration::from_secs(25), async || {
        rw.metric("rulewire_in_flight_messages").await == 0.0
            && rw.metric("rulewire_messages_received_total").await >= N as f64
    })
    .await;
    tokio::time::sleep_until(down + Duration::from_secs(30)).await;
    cloud.restart();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while received.iter().collect::<BTreeSet<_>>().len() < N as usize {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {N} arrived",
            received.iter().collect::<BTreeSet<_>>().len()
        );
        if let Some((_, payload)) = cloud_sub.next(Duration::from_secs(5)).await {
            let json: serde_json::Value = serde_json::from_slice(&payload).unwrap();
            received.push(json["seq"].as_u64().unwrap());
        }
    }
    // In order: dropping repeats (at-least-once), the sequence is 0, 1, 2, ...
    let mut seen = BTreeSet::new();
    let first_arrivals: Vec<u64> = received
        .iter()
        .copied()
        .filter(|s| seen.insert(*s))
        .collect();
    assert_eq!(first_arrivals, (0..N).collect::<Vec<_>>());
    eprintln!(
        "{N} messages forwarded across a 30 s outage: {} deliveries, {} duplicates",
        received.len(),
        received.len() as u64 - N
    );
}
