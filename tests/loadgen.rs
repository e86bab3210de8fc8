//! `rulewire bench` against a real Mosquitto (its own instance on a free port, with
//! `max_queued_messages 0`): the built binary in `--baseline` mode at a fixed rate, and
//! metering a running rulewire's http action with `--http-listen`, checked through its
//! `--json` summary.

mod common;

use std::process::Command;

use common::{Mosquitto, Rulewire, free_port, rules_dir};
use serde_json::Value;

fn bench(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_rulewire"))
        .arg("bench")
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed: {stderr}");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn baseline_at_a_fixed_rate_counts_every_message() {
    let broker = Mosquitto::start();
    let url = broker.url();
    let summary = bench(&[
        "--broker",
        &url,
        "--baseline",
        "--connections",
        "2",
        "--rate",
        "2000",
        "--count",
        "3000",
        "--drain",
        "3s",
        "--json",
    ]);
    assert_eq!(summary["mode"], "baseline");
    assert_eq!(summary["subscribe"][0], "sensors/+/data");
    assert_eq!(summary["sent"], 3000);
    assert_eq!(summary["expected"], 3000);
    assert_eq!(summary["received"], 3000, "{summary:#}");
    assert_eq!(summary["lost"], 0);
    assert_eq!(summary["duplicates"], 0);
    assert_eq!(summary["foreign"], 0);
    // paced: 3000 messages at 2000/s take about 1.5 s
    let secs = summary["publish_secs"].as_f64().unwrap();
    assert!((1.2..3.0).contains(&secs), "publish took {secs} s");
    let latency = &summary["latency_ms"];
    assert_eq!(latency["count"], 3000);
    let p = |k: &str| {
        latency[k]
            .as_f64()
            .unwrap_or_else(|| panic!("latency {k} missing: {latency}"))
    };
    assert!(p("min") >= 0.0);
    assert!(
        p("min") <= p("p50")
            && p("p50") <= p("p90")
            && p("p90") <= p("p99")
            && p("p99") <= p("max"),
        "{latency}"
    );
    assert!(
        p("p50") < 1000.0,
        "loopback latency under a second: {latency}"
    );
}

#[test]
fn warmup_and_duration_qos1() {
    let broker = Mosquitto::start();
    let url = broker.url();
    let summary = bench(&[
        "--broker",
        &url,
        "--baseline",
        "--qos",
        "1",
        "--connections",
        "3",
        "--rate",
        "1500",
        "--warmup",
        "500ms",
        "--duration",
        "1s",
        "--topic",
        "bench/{conn}/{seq}",
        "--payload",
        r#"{"n": {seq}, "t": {ts_ns}, "v": {randf:0..1}}"#,
        "--seq-field",
        "n",
        "--ts-field",
        "t",
        "--json",
    ]);
    assert_eq!(summary["subscribe"][0], "bench/+/+");
    let sent = summary["sent"].as_u64().unwrap();
    assert!(
        (1000..=2000).contains(&sent),
        "about 1500 measured messages, got {sent}"
    );
    assert!(
        summary["warmup_sent"].as_u64().unwrap() > 300,
        "{summary:#}"
    );
    assert_eq!(
        summary["warmup_received"], summary["warmup_sent"],
        "{summary:#}"
    );
    assert_eq!(summary["received"].as_u64().unwrap(), sent);
    assert_eq!(summary["lost"], 0);
    assert_eq!(summary["duplicates"], 0);
    assert_eq!(summary["latency_ms"]["count"].as_u64().unwrap(), sent);
}

/// The http action's outputs reach the bench's HTTP meter: every message is counted once,
/// with its latency, and the QoS 1 publishers' messages all went through the rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_outputs_are_metered() {
    let broker = Mosquitto::start();
    let meter = format!("127.0.0.1:{}", free_port());
    let rule = format!(
        "-- [[action]]\n-- type = \"http\"\n-- url = \"http://{meter}/ingest/${{topic(2)}}\"\n\
         SELECT seq, ts FROM 'sensors/+/data'\n"
    );
    let rules = rules_dir(&[("to_http", &rule)]);
    let config = format!(
        "[broker]\nurl = \"{}\"\nclient_id = \"rw-bench-http\"\n",
        broker.url()
    );
    let rw = Rulewire::start(&config, rules.path()).await;
    let url = broker.url();
    let summary = tokio::task::spawn_blocking(move || {
        bench(&[
            "--broker",
            &url,
            "--http-listen",
            &meter,
            "--qos",
            "1",
            "--connections",
            "2",
            "--rate",
            "1000",
            "--count",
            "1500",
            "--drain",
            "3s",
            "--json",
        ])
    })
    .await
    .unwrap();
    assert_eq!(summary["sent"], 1500, "{summary:#}");
    assert_eq!(summary["received"], 1500, "{summary:#}\n{}", rw.logs());
    assert_eq!(summary["lost"], 0, "{summary:#}");
    assert_eq!(summary["duplicates"], 0, "{summary:#}");
    assert_eq!(summary["foreign"], 0, "{summary:#}");
    assert_eq!(summary["latency_ms"]["count"], 1500, "{summary:#}");
}

#[test]
fn bad_options_are_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_rulewire"))
        .args(["bench", "--payload", "{sequence}", "--baseline"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown placeholder"));
    let out = Command::new(env!("CARGO_BIN_EXE_rulewire"))
        .args(["bench", "--count", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--subscribe"));
}

/// Whether the broker at `port` holds a session for `client_id` (a persistent CONNECT's
/// `session present`).
async fn session_present(port: u16, client_id: &str) -> bool {
    let mut opts = rumqttc::MqttOptions::new(client_id, "127.0.0.1", port);
    opts.set_clean_session(false);
    let (client, mut events) = rumqttc::AsyncClient::new(opts, 10);
    let present = loop {
        match events.poll().await.expect("connects") {
            rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(ack)) => break ack.session_present,
            _ => continue,
        }
    };
    let _ = client.try_disconnect();
    present
}

/// `--persistent-meter` meters through a persistent session (left behind when the bench is
/// killed mid-run) and ends it when the run finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persistent_meter_keeps_its_session_until_the_run_ends() {
    let broker = Mosquitto::start();
    let url = broker.url();
    let run = |duration: &str| {
        Command::new(env!("CARGO_BIN_EXE_rulewire"))
            .args(["bench", "--broker", &url, "--baseline", "--qos", "1"])
            .args([
                "--persistent-meter",
                "--rate",
                "500",
                "--duration",
                duration,
            ])
            .args(["--drain", "1s", "--json", "--quiet"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let finished = run("1s");
    let meter = format!("rulewire-bench-{}-meter", finished.id());
    let out = finished.wait_with_output().unwrap();
    assert!(out.status.success());
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["lost"], 0, "{summary:#}");
    assert!(
        !session_present(broker.port, &meter).await,
        "the session is ended after the run"
    );

    let mut killed = run("30s");
    let meter = format!("rulewire-bench-{}-meter", killed.id());
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    killed.kill().unwrap();
    killed.wait().unwrap();
    assert!(
        session_present(broker.port, &meter).await,
        "the meter's session was persistent"
    );
}
