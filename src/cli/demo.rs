//! `rulewire run --demo`: a newcomer's first minute. Publishes sample telemetry
//! (`sensors/<room>/data` with temperature and humidity, every 500 ms) and prints, on
//! stdout, what the example rules in `rules/` republish under `alerts/#` and
//! `rulewire/errors`, so rules are seen firing without installing anything else. A listen
//! address that is taken (an MQTT broker on 1883, another rulewire on 9464) is moved to a
//! free port, and the demo says so: the README's first command works on any machine.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use crate::config::{BrokerConfig, Config};
use crate::mqtt::{self, ConnectSpec, IncomingPublish, NetEvent};
use crate::ops::stop::CancelFlag;

const ROOMS: [&str; 3] = ["kitchen", "office", "server_room"];

fn spec(url: &str, id: &str) -> ConnectSpec {
    ConnectSpec {
        url: url.to_owned(),
        client_id: id.to_owned(),
        manual_acks: false,
        clean_session: true,
        max_incoming_packet: 1024 * 1024,
        receive_maximum: 100,
    }
}

/// Moves the embedded broker's and the admin server's listen addresses to free ports on the
/// same host when something else holds them.
pub fn move_taken_listeners(config: &mut Config) {
    if config.uses_embedded_broker() {
        let listen = &mut config.embedded_broker.listen;
        move_if_taken(listen, "the embedded MQTT broker", "embedded_broker.listen");
    }
    if !config.http.listen.is_empty() {
        move_if_taken(
            &mut config.http.listen,
            "the admin HTTP server",
            "http.listen",
        );
    }
}

fn move_if_taken(listen: &mut String, what: &str, key: &str) {
    // An address that does not parse is reported by the normal startup path.
    let Ok(addr) = listen.parse::<SocketAddr>() else {
        return;
    };
    if TcpListener::bind(addr).is_ok() {
        return;
    }
    let Ok(free) = TcpListener::bind((addr.ip(), 0)).and_then(|l| l.local_addr()) else {
        return;
    };
    println!(
        "[demo] {addr} is taken (another MQTT broker or rulewire?): {what} listens on {free} instead ({key})"
    );
    *listen = free.to_string();
}

/// Starts the sample publisher and the printer.
pub fn spawn(broker: &BrokerConfig, url: &str, stop: CancelFlag) -> anyhow::Result<()> {
    let (watch, mut watch_loop) = mqtt::connect(broker, &spec(url, "rulewire-demo-watch"), 64)?;
    let (sensors, mut sensors_loop) =
        mqtt::connect(broker, &spec(url, "rulewire-demo-sensors"), 64)?;
    println!(
        "[demo] publishing sample telemetry to sensors/<room>/data; the rules' output appears below"
    );
    let s = stop.clone();
    tokio::spawn(async move {
        while !s.is_set() {
            match watch_loop.poll().await {
                Ok(NetEvent::Connected { .. }) => {
                    let _ = watch.subscribe("alerts/#", 1).await;
                    let _ = watch.subscribe("rulewire/errors", 1).await;
                }
                Ok(NetEvent::Publish(p)) => print_message(&p),
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    });
    tokio::spawn(async move {
        loop {
            if sensors_loop.poll().await.is_err() {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    });
    tokio::spawn(async move {
        let mut tick = 0u64;
        while !stop.is_set() {
            tokio::time::sleep(Duration::from_millis(500)).await;
            tick += 1;
            let room = ROOMS[(tick % 3) as usize];
            // A slow sine-ish sweep so every room crosses the alert thresholds now and then.
            let phase = (tick as f64 / 6.0).sin();
            let temperature = (25.0 + 8.0 * phase + rand::random::<f64>() * 2.0).round();
            let humidity = (55.0 + 25.0 * (tick as f64 / 9.0).cos()).round();
            let payload = format!(
                r#"{{"temperature": {temperature}, "humidity": {humidity}, "device": "{room}-1"}}"#
            );
            let _ = sensors
                .publish(
                    &format!("sensors/{room}/data"),
                    1,
                    false,
                    payload.into_bytes(),
                    Vec::new(),
                )
                .await;
        }
    });
    Ok(())
}

fn print_message(p: &IncomingPublish) {
    let payload = match p {
        IncomingPublish::V4(p) => String::from_utf8_lossy(&p.payload).into_owned(),
        IncomingPublish::V5(p) => String::from_utf8_lossy(&p.payload).into_owned(),
    };
    println!("[demo] {} <- {}", p.topic(), payload);
}
